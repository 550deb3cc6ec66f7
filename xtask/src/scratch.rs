//! Scratch databases the tool makes on a server (the rehearsal's copies), and
//! how a later run tells its own dead leftovers from everything else. Each one is
//! marked when it is made (`COMMENT ON DATABASE` with the tool's signature, the
//! run id and the key of an advisory lock) and its run holds that session-level
//! advisory lock for as long as the database lives. A database is dropped as a
//! leftover only when it carries the mark and nobody holds the lock (its run is
//! gone): never by its name alone. A database whose name matches but which has no
//! mark (made by someone else, or by a version of the tool before marks) is left
//! alone and named; so is the live scratch database of another run, such as
//! another service's deploy on a shared scratch server.

use sha2::Digest;

use crate::db::{admin, Target};
use crate::exit::Failure;
use crate::interrupt;
use crate::ui::Ui;

/// The start of every mark; what follows is parsed by [`SWEEP_SQL`].
const SIGNATURE: &str = "xtask rehearsal scratch database";

/// The session that proves this run alive: a psql session holding the run's
/// advisory lock. Dropping it ends the session, which frees the lock.
pub(crate) struct Liveness {
    /// Kept for its psql session; queried again only while a detached dropper
    /// takes the lock over ([`Scratch::drop_detached`]).
    session: Target,
    /// `COMMENT ON DATABASE` text for the databases this run makes.
    mark: String,
    /// The lock's key.
    key: i64,
}

/// The advisory lock key of a run: 64 bits of a hash of its id, so that runs of
/// different hosts and services never share one (nor the deploy lock's key).
fn key(run_id: &str) -> i64 {
    let h = sha2::Sha256::digest(format!("xtask-scratch/{run_id}").as_bytes());
    i64::from_be_bytes(h[..8].try_into().unwrap_or([0; 8]))
}

/// The mark: signature, run id, and where the lock lives as `pg_locks` shows it
/// (the lock's database oid, then the key's high and low halves).
fn mark(run_id: &str, database_oid: &str, key: i64) -> String {
    format!(
        "{SIGNATURE}: run {run_id}, alive while advisory lock {database_oid}/{}/{} is held",
        (key >> 32) as u32,
        (key & 0xffff_ffff) as u32
    )
}

/// Takes this run's lock on the scratch server, in a session of its own on the
/// server URL's own database. Not on the maintenance database `admin` uses for
/// CREATE DATABASE when that is `template1`: a session kept open there would make
/// every CREATE DATABASE on the server fail (the template would be in use).
pub(crate) fn hold(server: &Target, run_id: &str) -> Result<Liveness, Failure> {
    let key = key(run_id);
    let session = server.with_session(&[])?;
    let rows = session.query_n::<2>(
        &format!(
            "SELECT pg_try_advisory_lock({key})::text, (SELECT oid FROM pg_database WHERE datname = current_database())::text;"
        ),
        &[],
    )?;
    match rows.into_iter().next() {
        Some([Some(got), Some(oid)]) if got == "true" => {
            Ok(Liveness { session, mark: mark(run_id, &oid, key), key })
        }
        _ => Err(Failure::task(format!(
            "cannot take the advisory lock ({key}) that keeps this run's scratch database from other runs' clean-up: another session holds it; run again"
        ))),
    }
}

/// A scratch database this run made; dropped when this goes out of scope
/// (success, failure, interruption or panic alike), before the run's lock is freed,
/// unless its DROP was handed to a session of its own ([`Scratch::drop_detached`]).
pub(crate) struct Scratch<'a> {
    server: Target,
    name: String,
    ui: &'a Ui,
    /// Dropped after the database (fields drop after `drop` has run); `None`
    /// once a detached dropper holds the lock and drops the database.
    alive: Option<Liveness>,
}

/// The `application_name` of the detached dropper's session, as pg_stat_activity shows it.
pub(crate) const DROPPER_APP: &str = "xtask-scratch-drop";

/// How long the run waits for the detached dropper to queue for the run's lock
/// before it drops the database itself instead (the dropper is then stopped).
const HAND_OFF_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

impl Scratch<'_> {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database without waiting for it: PostgreSQL's DROP DATABASE
    /// requests a checkpoint and waits for it, then removes every file of the copy,
    /// seconds on a durable server with a large schema, which nothing after a passed
    /// rehearsal needs to wait for. A psql of its own, started to outlive this
    /// process (own process group, no parent-death signal), queues for this run's
    /// advisory lock, and once PostgreSQL shows it waiting, this run's lock session
    /// ends: the lock passes straight to the dropper (no moment where it is free, so
    /// another run's sweep never takes the copy for a dead run's), which runs the
    /// DROP and exits, freeing the lock. Should the dropper be stopped before the
    /// DROP is done, the copy keeps its mark and its lock is free: the next deploy's
    /// sweep drops it. If the hand-off cannot be made (psql does not start or
    /// does not queue), the DROP runs here as before.
    pub(crate) fn drop_detached(mut self) {
        if let Some(alive) = self.alive.take() {
            match hand_off(&self.server, &self.name, &alive) {
                // Ending the lock's session passes the lock to the dropper.
                Ok(()) => drop(alive),
                Err(why) => {
                    self.ui.event(&format!("rehearsal: dropping `{}` in this run ({why})", self.name));
                    self.alive = Some(alive);
                }
            }
        }
    }
}

/// Starts the detached dropper and waits until it queues for `alive`'s lock.
fn hand_off(server: &Target, name: &str, alive: &Liveness) -> Result<(), String> {
    use std::io::Write;
    let cmd = server
        .psql(&crate::db::psql::Psql {
            stop_on_error: true,
            vars: &[("db", name)],
            app_name: Some(DROPPER_APP),
            ..Default::default()
        })
        .map_err(|f| f.message)?;
    let mut child = crate::proc::spawn_detached(cmd).map_err(|f| f.message)?;
    // Session-level settings on purpose: this session is the dropper's own (it waits
    // for a session advisory lock, and DROP DATABASE cannot run in a transaction
    // block), on the scratch server, and it ends when the DROP is done.
    let script = format!(
        "SET statement_timeout = 0;\nSET lock_timeout = 0;\nSELECT pg_advisory_lock({});\nDROP DATABASE IF EXISTS :\"db\" WITH (FORCE);\n",
        alive.key
    );
    // psql reads the whole script from the pipe, also after this process is gone.
    let written = child.stdin.take().map(|mut stdin| stdin.write_all(script.as_bytes()));
    let waiting = format!(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND {};",
        crate::db::lock::key_filter(alive.key)
    );
    let started = std::time::Instant::now();
    let outcome = loop {
        if !matches!(written, Some(Ok(()))) {
            break Err("could not hand its script to psql".to_string());
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(format!("the dropper's psql ended early ({})", crate::proc::describe_status(&status)));
        }
        match alive.session.query_n::<1>(&waiting, &[]) {
            Ok(rows) if rows.first().and_then(|[n]| n.as_deref()).is_some_and(|n| n != "0") => return Ok(()),
            Ok(_) => {}
            Err(f) => break Err(f.message),
        }
        if started.elapsed() > HAND_OFF_LIMIT {
            break Err("the dropper's psql did not queue for the run's lock in time".to_string());
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    // Not handed off: this run drops the database itself, so the dropper (ours) is stopped.
    let _ = child.kill();
    let _ = child.wait();
    outcome
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        if self.alive.is_none() {
            return;
        }
        // Also after a Ctrl-C: this DROP is the clean-up, not a step to stop.
        let _cleanup = interrupt::cleaning_up();
        if let Err(f) = admin::drop_database(&self.server, &self.name) {
            self.ui.warn(&format!(
                "could not drop the scratch database `{}`: {}; the next deploy drops it (it carries this tool's mark), or DROP DATABASE it by hand",
                self.name, f.message
            ));
        }
    }
}

/// Creates database `name` on the server and marks it as this run's.
pub(crate) fn create<'a>(server: &Target, name: &str, alive: Liveness, ui: &'a Ui) -> Result<Scratch<'a>, Failure> {
    let made = admin::create_marked(server, name, &alive.mark);
    if let Err(f) = made {
        // Another's database of that name is not ours to drop; anything else may
        // have stopped after CREATE, so the guard below drops it if it exists.
        if f.message.contains("42P04") {
            return Err(f);
        }
        drop(Scratch { server: server.clone(), name: name.to_string(), ui, alive: Some(alive) });
        return Err(f);
    }
    Ok(Scratch { server: server.clone(), name: name.to_string(), ui, alive: Some(alive) })
}

/// A database whose name starts with the scratch prefix, as the sweep sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// Marked, and its run's lock is free: a leftover of a run that died.
    Dead { name: String, run: String },
    /// Marked, and its run's lock is held: another run at work.
    Alive { name: String, run: String },
    /// No mark of this tool: not ours to touch.
    Unmarked { name: String },
    /// Marked, its run gone, but owned by a role this one cannot drop it as
    /// (another service's role on a shared scratch server): its own next run drops it.
    NotOurs { name: String, run: String, owner: String },
}

/// For the survey: every database on the server whose name starts with `:'p'`, as
/// a JSON array of `[name, "dead"|"alive"|"unmarked"|"not-ours", run, owner]`
/// ("not-ours": dead, but owned by a role this one may not drop it as).
pub(crate) const SWEEP_SQL: &str = "(SELECT coalesce(json_agg(json_build_array(d.datname, \
       CASE WHEN m.r IS NULL THEN 'unmarked' \
            WHEN EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.objsubid = 1 \
                         AND l.database = m.r[2]::oid AND l.classid = m.r[3]::oid AND l.objid = m.r[4]::oid) THEN 'alive' \
            WHEN NOT pg_has_role(d.datdba, 'MEMBER') THEN 'not-ours' \
            ELSE 'dead' END, m.r[1], pg_get_userbyid(d.datdba)) ORDER BY d.datname), '[]') \
     FROM pg_database d CROSS JOIN LATERAL (SELECT regexp_match(shobj_description(d.oid, 'pg_database'), \
       '^xtask rehearsal scratch database: run (\\S+), alive while advisory lock ([0-9]+)/([0-9]+)/([0-9]+) is held$') AS r) m \
     WHERE left(d.datname, length(:'p')) = :'p')::text";

/// Reads [`SWEEP_SQL`]'s column.
pub(crate) fn parse_found(json: Option<&str>) -> Result<Vec<Found>, Failure> {
    let rows: Vec<(String, String, Option<String>, Option<String>)> = serde_json::from_str(json.unwrap_or("[]"))
        .map_err(|e| Failure::task(format!("cannot read the list of scratch databases: {e}")))?;
    Ok(rows
        .into_iter()
        .map(|(name, state, run, owner)| {
            let run = run.unwrap_or_default();
            match state.as_str() {
                "dead" => Found::Dead { name, run },
                "alive" => Found::Alive { name, run },
                "not-ours" => Found::NotOurs { name, run, owner: owner.unwrap_or_default() },
                _ => Found::Unmarked { name },
            }
        })
        .collect())
}

/// Drops the dead leftovers among `found`, saying so, and names in one line each
/// what it leaves alone. A leftover that cannot be dropped is a warning: clearing
/// up after another run is housekeeping, not a reason to stop this one.
pub(crate) fn sweep(server: &Target, ui: &Ui, found: &[Found]) {
    for f in found {
        match f {
            Found::Dead { name, run } => {
                ui.event(&format!("rehearsal: dropping `{name}`, left behind by an interrupted run ({run})"));
                if let Err(f) = admin::drop_database(server, name) {
                    ui.warn(&format!("cannot drop the leftover scratch database `{name}`: {}", f.message));
                }
            }
            Found::NotOurs { name, run, owner } => ui.event(&format!(
                "rehearsal: leaving `{name}` alone: left behind by run {run} of role `{owner}`, which this role may not drop; a run as `{owner}` drops it"
            )),
            Found::Alive { name, run } => {
                ui.event(&format!("rehearsal: leaving `{name}` alone: run {run} is still using it"));
            }
            Found::Unmarked { name } => ui.event(&format!(
                "rehearsal: leaving `{name}` alone: its name looks like a scratch database's but it has no mark of this tool (drop it yourself if it is a leftover)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_per_run_and_marks_name_the_lock_as_pg_locks_shows_it() {
        assert_ne!(key("20260221T053404.123Z-4242"), key("20260221T053404.123Z-4243"));
        let k = 0x0102_0304_0506_0708_i64;
        assert_eq!(
            mark("20260221T053404.123Z-4242", "5", k),
            "xtask rehearsal scratch database: run 20260221T053404.123Z-4242, alive while advisory lock 5/16909060/84281096 is held"
        );
        let negative = mark("r", "5", -1);
        assert!(negative.ends_with("5/4294967295/4294967295 is held"), "{negative}");
        assert!(mark("r", "1", 0).starts_with(SIGNATURE));
    }

    #[test]
    fn the_sweeps_list_is_read_by_state() {
        let found = parse_found(Some(
            r#"[["a_rehearsal_x","dead","r1","app"],["a_rehearsal_y","alive","r2","app"],["a_rehearsal_keep","unmarked",null,"app"],["a_rehearsal_z","not-ours","r3","other"]]"#,
        ))
        .unwrap();
        assert_eq!(
            found,
            [
                Found::Dead { name: "a_rehearsal_x".into(), run: "r1".into() },
                Found::Alive { name: "a_rehearsal_y".into(), run: "r2".into() },
                Found::Unmarked { name: "a_rehearsal_keep".into() },
                Found::NotOurs { name: "a_rehearsal_z".into(), run: "r3".into(), owner: "other".into() },
            ]
        );
        assert!(parse_found(None).unwrap().is_empty());
    }
}
