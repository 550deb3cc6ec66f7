//! The plan's read-only check of every target's `_prisma_migrations` (psql, no
//! Node), many targets per psql: one session per server (a few when a server has
//! many databases) reads a script on stdin that `\connect`s to each database in
//! turn and reads the ledger of each of its schemas over that one connection.
//! Starting a psql and a connection per target cost about 50 ms a target on a busy
//! machine (10 s for 200); a `\connect` inside a running psql costs a few.
//!
//! Every query of the script runs in a read-only transaction (`BEGIN READ ONLY`),
//! so the check cannot write; nothing is set for the session. Passwords travel in
//! the script (stdin), never in argv; psql prints the script's errors without its
//! text, and that output is not shown anyway. Each target's rows are framed by
//! marker lines, so one target's rows are never read as another's. A target whose
//! part of the script did not finish (a refused connection or a wrong password
//! ends a non-interactive psql; a query that failed) is checked again on its own
//! with [`check_one`], which names the cause; a target is "at head" only from rows
//! read on its own connection.
//!
//! Before psql, each connection is tried with the small client of [`super::wire`]:
//! a connection per database, several at once, the SCRAM key derived once per
//! role and server instead of once per connection (half of psql's time for a
//! fleet at the head). It reads the same rows with the same queries in the same
//! kind of transaction (`BEGIN READ ONLY`). A server it cannot serve (TLS,
//! another password method, a URL only libpq understands) goes to psql as above;
//! a connection that fails (refused, wrong password, no such database) is checked
//! alone with [`check_one`], whose message names the cause.
//! `XTASK_FLEET_CHECK=psql` turns the client off.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::inventory::FleetTarget;
use super::scram::KeyCache;
use super::wire::{self, Endpoint, Trouble};
use crate::db::psql::{self, Psql, Rows};
use crate::db::sql::{quote_ident, quote_literal};
use crate::db::Target as Db;
use crate::migrations::{self, Local, Row};

/// What the read-only check found on one target.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Check {
    /// Every migration on disk is applied: nothing to start.
    AtHead,
    /// This many migrations to deploy (a failed one included: the pipeline recovers it).
    Pending { pending: usize, failed: Vec<String> },
    /// The database and the migrations disagree (changed or missing files): a person decides.
    Drift(String),
    /// The check could not run (unreachable, refused): the target is not started.
    Error(String),
}

impl Check {
    pub(crate) fn describe(&self) -> String {
        match self {
            Check::AtHead => "at head".into(),
            Check::Pending { pending, failed } if failed.is_empty() => format!("{pending} pending"),
            Check::Pending { pending, failed } => format!("{pending} pending, failed: {}", failed.join(", ")),
            Check::Drift(why) => format!("drift: {why}"),
            Check::Error(why) => format!("not checked: {why}"),
        }
    }
}

/// A checked target: what it is, and the last migration applied to it.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub check: Check,
    pub last_applied: Option<String>,
}

fn error(message: String) -> Checked {
    Checked { check: Check::Error(message), last_applied: None }
}

/// Reads one target's `_prisma_migrations` on a read-only session of its own and
/// compares it with the files.
pub(crate) fn check_one(target: &FleetTarget, local: &[Local], schema_dir: Option<&Path>) -> Checked {
    let db = match Db::from_url("the target's URL", &target.url, schema_dir) {
        Ok(db) => db,
        Err(f) => return error(f.message),
    };
    let rows =
        db.with_read_only_session(&migrations::ledger_vars(&db)).and_then(|session| migrations::read_table(&session));
    match rows {
        Ok(rows) => judge(local, &rows.unwrap_or_default()),
        Err(f) => error(f.message),
    }
}

/// What a target's ledger rows say against the migrations on disk.
fn judge(local: &[Local], rows: &[Row]) -> Checked {
    let status = migrations::compare(local, rows);
    let last_applied = status.applied.last().cloned();
    let check = if !status.drift.is_empty() || !status.missing_on_disk.is_empty() {
        let mut why = Vec::new();
        if !status.drift.is_empty() {
            why.push(format!("changed after it was applied: {}", status.drift.join(", ")));
        }
        if !status.missing_on_disk.is_empty() {
            why.push(format!("applied but not on disk: {}", status.missing_on_disk.join(", ")));
        }
        Check::Drift(why.join("; "))
    } else if status.pending.is_empty() && status.failed.is_empty() {
        Check::AtHead
    } else {
        let failed: Vec<String> = status.failed.iter().map(|r| r.migration_name.clone()).collect();
        Check::Pending { pending: status.pending.len() + failed.len(), failed }
    };
    Checked { check, last_applied }
}

/// The targets sharing one connection (the same database, user and password):
/// the schemas of a schema-per-tenant database.
struct Conn {
    db: Db,
    /// (target index, schema)
    targets: Vec<(usize, String)>,
}

/// The fewest connections a session is given when a server's are split.
const MIN_SESSION: usize = 16;

/// One server's connections, and where each is in that list by (libpq URL, password).
type Server = (Vec<Conn>, HashMap<(String, Option<String>), usize>);

/// What [`check_all`] found, how many psql processes and native connections it took.
pub(crate) struct Found {
    pub checked: HashMap<usize, Checked>,
    pub psqls: usize,
    pub native: usize,
    /// SCRAM keys the native client derived (one per role and server, not per connection).
    pub keys: usize,
    /// Why psql checked a server's targets instead of the native client, if it did.
    pub psql_because: Option<String>,
}

impl Found {
    /// How the check ran, for the plan's line: `by P psql process(es) and N
    /// native connection(s)`, and why psql took over a server's targets.
    pub(crate) fn how(&self) -> String {
        let why = self.psql_because.as_deref().map(|w| format!(" (psql because {w})")).unwrap_or_default();
        let keys = if self.native > 0 { format!(", {} SCRAM key(s) derived", self.keys) } else { String::new() };
        format!("by {} psql process(es) and {} native connection(s){keys}{why}", self.psqls, self.native)
    }
}

/// The variable that turns the native client off (`psql`): every target through psql.
pub(crate) const CHECK_ENV: &str = "XTASK_FLEET_CHECK";

/// The application_name of the check's sessions, for whoever looks at pg_stat_activity.
const APP_NAME: &str = "xtask fleet check";

/// Checks `targets` (indexes into `all`) with up to `threads` jobs at once, each
/// covering the databases of one server (a share of them when a server has more
/// databases than a psql session should take on alone).
pub(crate) fn check_all(
    all: &[FleetTarget],
    targets: &[usize],
    local: &[Local],
    schema_dir: Option<&Path>,
    threads: usize,
) -> Found {
    let (cache, psql_because) = native_client();
    let mut found = Found { checked: HashMap::new(), psqls: 0, native: 0, keys: 0, psql_because };
    let threads = threads.clamp(1, 16);
    let jobs = jobs(all, targets, schema_dir, threads, &mut found.checked);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let jobs: Vec<std::sync::Mutex<Vec<Conn>>> = jobs.into_iter().map(std::sync::Mutex::new).collect();
    let found = std::sync::Mutex::new(found);
    std::thread::scope(|s| {
        for _ in 0..threads.min(jobs.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let conns = std::mem::take(&mut *job.lock().unwrap_or_else(|e| e.into_inner()));
                let job = match &cache {
                    Some(cache) => check_native(all, conns, local, schema_dir, cache),
                    None => {
                        let (checked, psqls) = check_server(all, conns, local, schema_dir);
                        Job { checked, psqls, native: 0, psql_because: None }
                    }
                };
                let mut found = found.lock().unwrap_or_else(|e| e.into_inner());
                found.psqls += job.psqls;
                found.native += job.native;
                if let Some(why) = job.psql_because {
                    found.psql_because.get_or_insert(why);
                }
                found.checked.extend(job.checked);
            });
        }
    });
    let mut found = found.into_inner().unwrap_or_else(|e| e.into_inner());
    found.keys = cache.as_ref().map_or(0, KeyCache::derived);
    found
}

/// The native client's key cache, unless the client is turned off or libpq's
/// environment could send psql elsewhere than the URL says (then why not).
fn native_client() -> (Option<KeyCache>, Option<String>) {
    match (std::env::var(CHECK_ENV).as_deref(), wire::libpq_env()) {
        (Ok("psql"), _) => (None, Some(format!("{CHECK_ENV}=psql"))),
        (_, Some(var)) => (None, Some(format!("{var} is set"))),
        _ => (Some(KeyCache::default()), None),
    }
}

/// The targets grouped into connections (one per database, user and password),
/// the connections into jobs of one server each; a target whose URL does not
/// parse goes to `errors`.
fn jobs(
    all: &[FleetTarget],
    targets: &[usize],
    schema_dir: Option<&Path>,
    threads: usize,
    errors: &mut HashMap<usize, Checked>,
) -> Vec<Vec<Conn>> {
    // server -> connection key -> the targets on it, in the plan's order.
    let mut servers: BTreeMap<&str, Server> = BTreeMap::new();
    for &t in targets {
        let db = match Db::from_url("the target's URL", &all[t].url, schema_dir) {
            Ok(db) => db,
            Err(f) => {
                errors.insert(t, error(f.message));
                continue;
            }
        };
        let (conns, by_key) = servers.entry(all[t].server.as_str()).or_default();
        let key = (db.url.libpq.clone(), db.url.password.clone());
        let schema = db.url.schema.clone();
        match by_key.get(&key) {
            Some(&k) => conns[k].targets.push((t, schema)),
            None => {
                by_key.insert(key, conns.len());
                conns.push(Conn { db, targets: vec![(t, schema)] });
            }
        }
    }
    let total: usize = servers.values().map(|(c, _)| c.len()).sum();
    // Sessions of at most this many connections: a server with many databases
    // is split so that the threads all have work (a session is worth its start
    // from a few connections on).
    let per_session = total.div_ceil(threads).max(MIN_SESSION);
    let mut jobs: Vec<Vec<Conn>> = Vec::new();
    for (conns, _) in servers.into_values() {
        let mut conns = conns.into_iter().peekable();
        while conns.peek().is_some() {
            jobs.push(conns.by_ref().take(per_session).collect());
        }
    }
    jobs
}

/// What one job of [`check_all`] found.
struct Job {
    checked: Vec<(usize, Checked)>,
    psqls: usize,
    native: usize,
    psql_because: Option<String>,
}

/// Checks the connections of one job (one server's, or a share of them) with the
/// native client, one after the other. A connection that fails is checked alone
/// (psql names the cause); after two failures in a row the rest go to psql's
/// sessions ([`check_server`]: a server that refuses everyone costs no more than
/// before), and so do they all when the client cannot serve this server.
fn check_native(
    all: &[FleetTarget],
    conns: Vec<Conn>,
    local: &[Local],
    schema_dir: Option<&Path>,
    cache: &KeyCache,
) -> Job {
    let mut job = Job { checked: Vec::new(), psqls: 0, native: 0, psql_because: None };
    let alone = |job: &mut Job, t: usize| {
        job.psqls += 1;
        job.checked.push((t, check_one(&all[t], local, schema_dir)));
    };
    let mut failed_in_row = 0;
    let mut conns = conns.into_iter();
    let mut to_psql = Vec::new();
    for c in conns.by_ref() {
        if crate::interrupt::received().is_some() {
            job.checked.extend(c.targets.iter().map(|(t, _)| (*t, error("the check was interrupted".into()))));
            continue;
        }
        if failed_in_row >= 2 {
            to_psql.push(c);
            continue;
        }
        let read = Endpoint::of(&c.db.url, APP_NAME).map_err(Trouble::Psql).and_then(|ep| read_native(&ep, &c, cache));
        match read {
            Ok(read) => {
                failed_in_row = 0;
                job.native += 1;
                for (t, rows) in read {
                    match rows {
                        Some(rows) => job.checked.push((t, judge(local, &rows))),
                        // This target's query failed on a connection that worked: its own check says why.
                        None => alone(&mut job, t),
                    }
                }
            }
            Err(Trouble::Failed) if crate::interrupt::received().is_some() => {
                job.checked.extend(c.targets.iter().map(|(t, _)| (*t, error("the check was interrupted".into()))));
            }
            Err(Trouble::Failed) => {
                failed_in_row += 1;
                for (t, _) in &c.targets {
                    alone(&mut job, *t);
                }
            }
            Err(Trouble::Psql(why)) => {
                job.psql_because = Some(why);
                to_psql.push(c);
                break;
            }
        }
    }
    to_psql.extend(conns);
    if !to_psql.is_empty() {
        let (checked, psqls) = check_server(all, to_psql, local, schema_dir);
        job.checked.extend(checked);
        job.psqls += psqls;
    }
    job
}

/// Each target of a connection with its ledger rows (`None` where its query failed).
type Ledgers = Vec<(usize, Option<Vec<Row>>)>;

/// The ledger rows of each target of `conn`, read on one native connection, as
/// the psql script reads them.
fn read_native(ep: &Endpoint, conn: &Conn, cache: &KeyCache) -> Result<Ledgers, Trouble> {
    let mut session = wire::Conn::open(ep, cache)?;
    // The schema names go into the queries as literals and identifiers.
    if !session.standard_strings {
        return Err(Trouble::Psql("standard_conforming_strings is off".into()));
    }
    let present: String = conn
        .targets
        .iter()
        .map(|(_, schema)| {
            format!("SELECT to_regclass(format('%I._prisma_migrations', {})) IS NOT NULL;", quote_literal(schema))
        })
        .collect();
    let present = read_only(&mut session, &present)?;
    let mut out = Vec::with_capacity(conn.targets.len());
    for (i, (t, schema)) in conn.targets.iter().enumerate() {
        let cell = match present.get(i) {
            Some(Ok(rows)) => rows.first().and_then(|r| r.first()).cloned().flatten(),
            _ => None,
        };
        let rows = match cell.as_deref() {
            Some("f") => Some(Vec::new()),
            Some("t") => {
                let sql = format!(
                    "SELECT {} FROM {}._prisma_migrations ORDER BY started_at, migration_name",
                    migrations::LEDGER_COLUMNS,
                    quote_ident(schema)
                );
                match read_only(&mut session, &sql)?.as_slice() {
                    [Ok(rows)] => rows
                        .iter()
                        .map(|r| psql::columns::<8>(r.clone()).ok().and_then(migrations::row_from))
                        .collect::<Option<Vec<Row>>>(),
                    _ => None,
                }
            }
            _ => None,
        };
        out.push((*t, rows));
    }
    Ok(out)
}

/// The statements of `sql` in a read-only transaction of their own (one round
/// trip): the check cannot write, and nothing is set for the session, which
/// behind a transaction-mode pooler would stay on the server connection for its
/// next client. One result per statement of `sql`, up to the first that failed.
fn read_only(session: &mut wire::Conn, sql: &str) -> Result<Vec<wire::Statement>, Trouble> {
    let mut done = session.query(&format!("BEGIN READ ONLY;{};COMMIT", sql.trim_end_matches([';', ' ', '\n'])))?;
    if done.iter().any(Result::is_err) {
        // The failed statement skipped the rest, COMMIT too: end the aborted transaction.
        session.query("ROLLBACK")?;
    } else {
        done.pop();
    }
    // BEGIN's result (when it failed, what is left is empty: a failed read).
    Ok(done.into_iter().skip(1).collect())
}

/// Checks the targets of `conns` (one server's) in as few psql sessions as their
/// failures allow: a session ends at the first connection that fails, which is
/// checked on its own, and the next session starts after it. Also says how many
/// psql processes that took.
fn check_server(
    all: &[FleetTarget],
    conns: Vec<Conn>,
    local: &[Local],
    schema_dir: Option<&Path>,
) -> (Vec<(usize, Checked)>, usize) {
    let mut out = Vec::new();
    let psqls = std::cell::Cell::new(0);
    let alone = |t: usize| {
        psqls.set(psqls.get() + 1);
        check_one(&all[t], local, schema_dir)
    };
    let mut rest: &[Conn] = &conns;
    // Sessions in a row that ended at their first connection: a server that
    // refuses every one (down, or every target's password wrong) would otherwise
    // cost a session and a check alone per target; after two, the rest are
    // checked alone (one psql each), which also names each one's cause.
    let mut failed_at_start = 0;
    while !rest.is_empty() {
        if crate::interrupt::received().is_some() {
            for c in rest {
                out.extend(c.targets.iter().map(|(t, _)| (*t, error("the check was interrupted".into()))));
            }
            break;
        }
        if failed_at_start >= 2 {
            for c in rest {
                out.extend(c.targets.iter().map(|(t, _)| (*t, alone(*t))));
            }
            break;
        }
        let (read, unfinished) = session(rest);
        failed_at_start = if unfinished == Some(0) { failed_at_start + 1 } else { 0 };
        psqls.set(psqls.get() + 1);
        for (k, c) in rest.iter().enumerate().take(unfinished.unwrap_or(rest.len())) {
            for (t, schema) in &c.targets {
                match read.get(&(k, schema.as_str())) {
                    Some(Some(rows)) => out.push((*t, judge(local, rows))),
                    // This target's query failed on a connection that worked: its own check says why.
                    _ => out.push((*t, alone(*t))),
                }
            }
        }
        let Some(stopped) = unfinished else { break };
        out.extend(rest[stopped].targets.iter().map(|(t, _)| (*t, alone(*t))));
        rest = &rest[stopped + 1..];
    }
    (out, psqls.get())
}

/// What one session read: the rows of each (connection, schema) it finished
/// (`None` where the query failed), and the first connection it did not finish
/// (psql ended there: a refused connection or a wrong password), if any.
type Read<'a> = (HashMap<(usize, &'a str), Option<Vec<Row>>>, Option<usize>);

/// One psql session over `conns`, connected to the first and `\connect`ing to the others.
fn session(conns: &[Conn]) -> Read<'_> {
    let marker =
        format!("xtask-check-{}-{}", std::process::id(), chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0));
    let script = script(conns, &marker);
    let cmd = conns[0].db.psql(&Psql {
        rows: Rows::Csv,
        verbose_errors: true,
        app_name: Some("xtask fleet check"),
        ..Psql::default()
    });
    // psql's stderr is not read: a failed part is checked again on its own, and
    // that check's message names the cause.
    let stdout = match cmd.and_then(|cmd| crate::proc::run_with_input(cmd, &script)) {
        Ok(out) => out.stdout,
        Err(_) => String::new(),
    };
    parse(conns, &stdout, &marker)
}

/// The script of one session. Per connection: `b K`, the ledger of each schema
/// framed by `s K I` and `ok K I` (or `none K I` without a table, `x K I` when a
/// query failed), then `e K`.
fn script(conns: &[Conn], marker: &str) -> String {
    let mut s = String::new();
    for (k, c) in conns.iter().enumerate() {
        s.push_str(&format!("\\echo {marker} b {k}\n"));
        if k > 0 {
            s.push_str(&format!("\\connect -reuse-previous=off {}\n", quote(&conninfo(&c.db))));
        }
        // Each schema's queries in a read-only transaction: the check cannot write, and
        // nothing is set for the session (behind a transaction-mode pooler, a
        // session's setting would stay on the server connection for the next client).
        // A failed query ends its transaction (`COMMIT` of an aborted one rolls back).
        for (i, (_, schema)) in c.targets.iter().enumerate() {
            s.push_str(&format!(
                "\\echo {marker} s {k} {i}\nBEGIN READ ONLY;\n\\if :ERROR\n\\echo {marker} x {k} {i}\n\\else\n\
                 \\unset present\n\\set schema {}\n\
                 SELECT to_regclass(format('%I._prisma_migrations', :'schema')) IS NOT NULL AS present \\gset\n\
                 \\if :{{?present}}\n\\if :present\n\
                 SELECT {} FROM :\"schema\"._prisma_migrations ORDER BY started_at, migration_name;\n\
                 \\if :ERROR\n\\echo {marker} x {k} {i}\n\\else\n\\echo {marker} ok {k} {i}\n\\endif\n\
                 \\else\n\\echo {marker} none {k} {i}\n\\endif\n\
                 \\else\n\\echo {marker} x {k} {i}\n\\endif\nCOMMIT;\n\\endif\n",
                quote(schema),
                migrations::LEDGER_COLUMNS
            ));
        }
        s.push_str(&format!("\\echo {marker} e {k}\n"));
    }
    s
}

/// Reads a session's output back, by its marker lines.
fn parse<'a>(conns: &'a [Conn], stdout: &str, marker: &str) -> Read<'a> {
    let mut read = HashMap::new();
    let mut ended = vec![false; conns.len()];
    let mut rows = String::new();
    for line in stdout.split_inclusive('\n') {
        let Some(rest) = line.trim_end_matches(['\n', '\r']).strip_prefix(marker) else {
            rows.push_str(line);
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| words.get(i).and_then(|w| w.parse::<usize>().ok());
        let schema = |k: usize, i: usize| conns.get(k)?.targets.get(i).map(|(_, s)| s.as_str());
        match (words.first().copied(), num(1), num(2)) {
            (Some("e"), Some(k), _) if k < ended.len() => ended[k] = true,
            (Some("ok"), Some(k), Some(i)) => {
                let parsed: Option<Vec<Row>> = psql::parse_csv(&rows)
                    .into_iter()
                    .map(|r| psql::columns::<8>(r).ok().and_then(migrations::row_from))
                    .collect();
                if let Some(s) = schema(k, i) {
                    read.insert((k, s), parsed);
                }
            }
            (Some("none"), Some(k), Some(i)) => {
                if let Some(s) = schema(k, i) {
                    read.insert((k, s), Some(Vec::new()));
                }
            }
            (Some("x"), Some(k), Some(i)) => {
                if let Some(s) = schema(k, i) {
                    read.insert((k, s), None);
                }
            }
            _ => {}
        }
        rows.clear();
    }
    (read, ended.iter().position(|e| !e))
}

/// libpq's URL of `db` with its password as a parameter: for `\connect` on
/// stdin, never argv.
fn conninfo(db: &Db) -> String {
    let url = &db.url.libpq;
    let sep = if url.contains('?') { '&' } else { '?' };
    // No password of its own: an empty one, so none comes from the session's first
    // target either (PGPASSWORD), as when its check runs alone (then libpq's passfile).
    let password = db.url.password.as_deref().map(crate::db::url::encode).unwrap_or_default();
    format!("{url}{sep}password={password}")
}

/// A psql meta-command argument in single quotes (psql reads `\` escapes there).
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'").replace('\n', "\\n").replace('\r', "\\r"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_command_arguments_are_quoted() {
        assert_eq!(quote("a'b\\c\nd"), "'a\\'b\\\\c\\nd'");
    }

    #[test]
    fn output_is_read_by_its_markers() {
        let db = Db::from_url("U", "postgresql://u:pw@h/d", None).unwrap();
        let conns = vec![
            Conn { db: db.clone(), targets: vec![(0, "a".into()), (1, "b".into()), (2, "c".into())] },
            Conn { db, targets: vec![(3, "public".into())] },
        ];
        let m = "M";
        let out = "M b 0\nM s 0 0\nid1,c1,m1,2026-01-01T00:00:00.000Z,2026-01-01T00:00:01.000Z,,\"multi\nline\",1\nM ok 0 0\n\
                   M s 0 1\nM none 0 1\nM s 0 2\nM x 0 2\nM e 0\nM b 1\n";
        let (read, unfinished) = parse(&conns, out, m);
        let a = read[&(0, "a")].as_ref().unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].logs.as_deref(), Some("multi\nline"));
        assert_eq!(read[&(0, "b")], Some(Vec::new()));
        assert_eq!(read[&(0, "c")], None);
        assert!(!read.contains_key(&(1, "public")));
        assert_eq!(unfinished, Some(1));
    }
}
