//! Benchmark (issue 12): the evidence check against real migration histories.
//!
//!     cargo run --release -p xtask --example bench_evidence [EVERY_K] [CORPUS_DIR]
//!
//! `BENCH_OFFSET=n` samples another set of migrations; `BENCH_ONLY=a,b` samples just the
//! migrations whose folder names contain one of these; `BENCH_VERBOSE=1` prints every
//! verdict, and the evidence of each one that is not right.
//!
//! For each app in the corpus (default `../shared/corpus`, see its README) it applies the
//! history in byte order of folder names to a base database, each file as one simple
//! query (`psql -c`), as Prisma's schema engine sends it. Every EVERY_K-th migration
//! (default 6) is sampled: copies of the base database just before it are put in three
//! states, the way a failed deploy can leave them:
//!
//! - **N**: nothing of it ran;
//! - **A**: all of it ran (the file as one query);
//! - **P**: its first half of statements ran (only for files with two or more), or, for
//!   a file of several transactions (`BEGIN ... COMMIT` then more statements), its
//!   first transaction.
//!
//! On each state it takes the verdict of `evidence::assess` (what `diagnose` prints)
//! and the ground truth from running the file again on that copy, as one query (the
//! copy is thrown away afterwards, so this is the same as `BEGIN ... ROLLBACK`), and
//! compares the schema the re-run ends in with the A state's, and the data: a
//! fingerprint of every user table (an md5 over its rows as text, sorted, read through
//! `query_to_xml` so that nothing is created in the state's database) before and after
//! the re-run. Verdicts are classified:
//!
//! - *applied* is right on A and **dangerous** on N or P (resolving it as applied
//!   records changes that are not there);
//! - *not applied* is right on N; on A when the re-run succeeds and leaves schema and
//!   data as they were; on P when the re-run succeeds and ends in the A state's schema
//!   and the A state's data fingerprint. It is **dangerous** when the re-run succeeds
//!   but ends elsewhere (changes applied twice, or data that differs), and *wrong* when
//!   the re-run fails (the deploy just fails again). The data comparison is
//!   conservative: a file that writes volatile values (`now()`, random ids, a sequence's
//!   next value) gives other data on every run, and that counts as dangerous too;
//! - *partial* is right on P and *wrong* (but safe: nothing is resolved) on N or A;
//! - *unknown* is undecided.
//!
//! A verdict that would be dangerous on a P state that a Prisma deploy cannot leave
//! is counted apart ("cannot leave"). Prisma sends the file as one query, which the
//! server runs as one transaction, or, when the file has `BEGIN ... COMMIT` blocks, as
//! transactions that commit in order until one fails; the first half of its statements
//! run as one query leaves a state Prisma can leave only when what committed ends where
//! one of those transactions ends (the half ends with `COMMIT`, or after its last
//! `COMMIT` it opened a block that was never committed and rolled back). The
//! transactional rule of the evidence assumes exactly that. (Files with `ROLLBACK`,
//! `SAVEPOINT` or `CONCURRENTLY` count every P state as one Prisma can leave.)
//!
//! A P state whose schema and data fingerprints are the A state's (the half that did not
//! run changed nothing, such as an UPDATE of a table without rows) is the A state: an
//! *applied* verdict on it is right (nothing it records is missing), counted apart.
//!
//! Files with data statements (INSERT, UPDATE, DELETE, WITH, ...) are counted apart, and
//! so are the states the evidence's trial run (a rolled-back run of a data-only file)
//! was used on, with what it found.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pgcluster::{Cluster, ClusterOptions};
use xtask::testing::db::Target;
use xtask::testing::evidence::{self, lexer, Verdict};

const PASSWORD: &str = "bench-evidence-pw";

/// A data fingerprint: every user table's rows as text, sorted, one md5 per table. The
/// per-table query goes through `query_to_xml`, so that nothing is created in the database.
const DATA: &str = r#"
SELECT coalesce(string_agg(r, E'\n' ORDER BY r), '') FROM (
  SELECT format('%I.%I', n.nspname, c.relname) || ' ' || (xpath('/row/h/text()', query_to_xml(
    format('SELECT md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) AS h FROM %I.%I t', n.nspname, c.relname),
    false, true, '')))[1]::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
    AND n.nspname NOT LIKE 'pg\_temp\_%'
) s(r);
"#;

/// A schema fingerprint: every user object's definition, one per line, sorted.
const SNAPSHOT: &str = r#"
SELECT string_agg(x, E'\n' ORDER BY x) FROM (
  SELECT 'rel ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND c.relkind IN ('r','p','v','m','S','c')
  UNION ALL
  SELECT 'col ' || n.nspname || '.' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
    || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND c.relkind IN ('r','p') AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'con ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(x.oid)
  FROM pg_constraint x JOIN pg_namespace n ON n.oid = x.connamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  UNION ALL
  SELECT 'idx ' || pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  UNION ALL
  SELECT 'enum ' || t.typname || ' ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
  FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.oid, t.typname
  UNION ALL
  SELECT 'fn ' || p.oid::regprocedure::text || ' ' || md5(pg_get_functiondef(p.oid))
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND p.prokind IN ('f', 'p')
    AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
  UNION ALL
  SELECT 'view ' || c.oid::regclass::text || ' ' || md5(pg_get_viewdef(c.oid))
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND c.relkind IN ('v', 'm')
  UNION ALL
  SELECT 'trg ' || pg_get_triggerdef(t.oid) FROM pg_trigger t WHERE NOT t.tgisinternal
  UNION ALL
  SELECT 'ext ' || extname FROM pg_extension
) s(x);
"#;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum State {
    N,
    A,
    P,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Outcome {
    Right,
    /// Wrong, but nothing unsafe follows (partial on N/A, not applied where the re-run fails).
    Wrong,
    Dangerous,
    /// Would be dangerous, on a P state a Prisma deploy cannot leave (the
    /// transactional rule assumes exactly that).
    Unreachable,
    Undecided,
}

struct Sample {
    app: String,
    migration: String,
    state: State,
    data: bool,
    /// A P state of this file is one a Prisma deploy cannot leave (see the top).
    p_unreachable: bool,
    /// A P state whose schema and data fingerprints are the A state's (the half that
    /// did not run changed nothing here, such as an UPDATE of an empty table).
    same_as_a: bool,
    verdict: Verdict,
    /// The verdict says "partial (run by hand?)".
    run_by_hand: bool,
    /// What the evidence's trial run found, when it ran one.
    trial: Option<evidence::TrialOutcome>,
    /// What decided beyond the catalogs' objects (`Evidence::decided_by`).
    decided_by: Option<&'static str>,
    outcome: Outcome,
    why: String,
}

struct Pg {
    cluster: Cluster,
}

impl Pg {
    /// Runs `sql` as one simple query (`psql -c`), as Prisma's schema engine sends a
    /// migration file; the error text when it fails.
    fn one_query(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(format!("postgresql://postgres@127.0.0.1:{}/{db}?sslmode=disable", self.cluster.port()))
            .arg("-c")
            .arg(sql)
            .env("PGPASSWORD", PASSWORD)
            .env("PGOPTIONS", "-c client_min_messages=warning")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    fn admin(&self, sql: &str) -> anyhow::Result<()> {
        self.cluster.psql("postgres", sql)?;
        Ok(())
    }

    fn target(&self, db: &str) -> Target {
        Target::from_url("DATABASE_URL", &self.cluster.url(db), None).expect("a valid URL")
    }
}

/// The file's statements, as (start, end) byte ranges.
fn statements(sql: &str) -> Vec<(usize, usize)> {
    let toks = lexer::tokenize(sql);
    lexer::split_statements(&toks).iter().map(|s| (s[0].start, s[s.len() - 1].end)).collect()
}

fn first_word(sql: &str, range: (usize, usize)) -> String {
    let toks = lexer::tokenize(&sql[range.0..range.1]);
    match toks.first().map(|t| &t.tok) {
        Some(lexer::Tok::Word(w)) => w.to_ascii_lowercase(),
        _ => String::new(),
    }
}

/// Whether running the first `half` statements (first words `words`) as one query
/// commits part of one of the transactions Prisma runs the file in (see the top).
fn p_unreachable(words: &[String], half: usize, sql: &str) -> bool {
    let undo = ["rollback", "abort", "savepoint", "release", "prepare"];
    if words.iter().any(|w| undo.contains(&w.as_str())) || sql.to_ascii_lowercase().contains("concurrently") {
        return false;
    }
    let ends = |w: &String| w == "commit" || w == "end";
    let tail = &words[..half];
    let tail = match tail.iter().rposition(ends) {
        Some(i) => &tail[i + 1..],
        None => tail,
    };
    let rolled_back = tail.iter().any(|w| w == "begin" || w == "start");
    !tail.is_empty() && !rolled_back
}

fn main() -> anyhow::Result<()> {
    let every: usize = std::env::args().nth(1).and_then(|r| r.parse().ok()).unwrap_or(6).max(1);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let corpus = std::env::args().nth(2).map(PathBuf::from).unwrap_or_else(|| root.join("../shared/corpus"));
    anyhow::ensure!(corpus.is_dir(), "no corpus at {}", corpus.display());
    let verbose = std::env::var_os("BENCH_VERBOSE").is_some();
    // Another sample of the same histories: migrations i with (i + 1 + OFFSET) % EVERY_K == 0.
    // `BENCH_ONLY=a,b`: sample just the migrations whose folder name contains one of these.
    let only = std::env::var("BENCH_ONLY").ok().filter(|o| !o.is_empty());
    let offset: usize = std::env::var("BENCH_OFFSET").ok().and_then(|o| o.parse().ok()).unwrap_or(0);

    let base = std::env::temp_dir().join(format!("xtask-bench-evidence-{}", std::process::id()));
    let cluster = Cluster::start(&base, &ClusterOptions { tls: false, superuser_password: PASSWORD.into() })?;
    let pg = Pg { cluster };
    let t0 = std::time::Instant::now();

    let mut apps: Vec<PathBuf> = std::fs::read_dir(&corpus)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("migrations").is_dir())
        .collect();
    apps.sort();
    let mut samples = Vec::new();
    for app_dir in &apps {
        let app = app_dir.file_name().unwrap().to_string_lossy().to_string();
        let basedb = format!("base_{}", app.replace('-', "_"));
        pg.admin(&format!("CREATE DATABASE {basedb};"))?;
        // The Supabase-like layout some histories assume (see the corpus README).
        let text = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let mut names: Vec<String> = std::fs::read_dir(app_dir.join("migrations"))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("migration.sql").is_file())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        let all: String =
            names.iter().map(|n| text(&app_dir.join("migrations").join(n).join("migration.sql"))).collect();
        if all.contains("extensions.uuid_generate_v4") {
            pg.one_query(
                &basedb,
                &format!("CREATE SCHEMA extensions; CREATE EXTENSION \"uuid-ossp\" WITH SCHEMA extensions; ALTER DATABASE {basedb} SET search_path = \"$user\", public, extensions;"),
            )
            .map_err(anyhow::Error::msg)?;
        }
        for (i, name) in names.iter().enumerate() {
            let sql = text(&app_dir.join("migrations").join(name).join("migration.sql"));
            let chosen = match &only {
                Some(o) => o.split(',').any(|o| name.contains(o)),
                None => (i + 1 + offset).is_multiple_of(every),
            };
            if chosen {
                samples.extend(sample(&pg, &app, &basedb, name, &sql, verbose)?);
            }
            if let Err(e) = pg.one_query(&basedb, &sql) {
                eprintln!(
                    "{app}/{name}: does not apply on stock PostgreSQL, skipped: {}",
                    e.lines().next().unwrap_or("")
                );
            }
        }
        pg.admin(&format!("DROP DATABASE {basedb};"))?;
    }
    report(&samples, every, t0.elapsed());
    Ok(())
}

/// Puts copies of `basedb` in the N, A and P states of `sql` and judges each.
fn sample(pg: &Pg, app: &str, basedb: &str, name: &str, sql: &str, verbose: bool) -> anyhow::Result<Vec<Sample>> {
    let stmts = statements(sql);
    let words: Vec<String> = stmts.iter().map(|r| first_word(sql, *r)).collect();
    let data = words
        .iter()
        .any(|w| ["insert", "update", "delete", "with", "merge", "copy", "truncate", "select"].contains(&w.as_str()));
    // P: the first half of the statements, or, in a file of several transactions (a
    // `BEGIN ... COMMIT` block with statements after it), its first transaction: the
    // state a failed deploy leaves when a later one fails.
    let first_unit = words.iter().position(|w| w == "commit" || w == "end").filter(|&i| i + 1 < words.len());
    let half = first_unit.map_or(stmts.len().div_ceil(2), |i| i + 1);
    let p_unreachable = p_unreachable(&words, half, sql);
    // The A state's schema, to compare re-runs with; a file that does not apply is not sampled.
    let adb = "bench_state";
    let fresh = |db: &str| -> anyhow::Result<()> {
        pg.admin(&format!("DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db} TEMPLATE {basedb};"))
    };
    fresh(adb)?;
    if pg.one_query(adb, sql).is_err() {
        pg.admin(&format!("DROP DATABASE {adb};"))?;
        return Ok(Vec::new());
    }
    let a_schema = pg.one_query(adb, SNAPSHOT).map_err(anyhow::Error::msg)?;
    let a_data = pg.one_query(adb, DATA).map_err(anyhow::Error::msg)?;
    let mut out = Vec::new();
    let mut states = vec![State::N, State::A];
    if stmts.len() >= 2 {
        states.push(State::P);
    }
    for state in states {
        fresh(adb)?;
        match state {
            State::N => {}
            State::A => {
                pg.one_query(adb, sql).map_err(anyhow::Error::msg)?;
            }
            State::P => {
                let prefix = &sql[..stmts[half - 1].1];
                if let Err(e) = pg.one_query(adb, prefix) {
                    eprintln!("{app}/{name}: its first {half} statements do not run alone, P skipped: {e}");
                    continue;
                }
            }
        }
        let target = pg.target(adb);
        let data_before = pg.one_query(adb, DATA).map_err(anyhow::Error::msg)?;
        let same_as_a = state == State::P
            && data_before == a_data
            && pg.one_query(adb, SNAPSHOT).map_err(anyhow::Error::msg)? == a_schema;
        let ev = evidence::assess(&target, sql, "public").map_err(|f| anyhow::anyhow!(f.message))?;
        let rerun = pg.one_query(adb, sql);
        let same_end = rerun.is_ok() && pg.one_query(adb, SNAPSHOT).map_err(anyhow::Error::msg)? == a_schema;
        // The data a re-run must end in: as it was on A (nothing changes again), A's on P.
        let data_after =
            if rerun.is_ok() { pg.one_query(adb, DATA).map_err(anyhow::Error::msg)? } else { String::new() };
        let same_data = rerun.is_ok()
            && match state {
                State::A => data_after == data_before,
                _ => data_after == a_data,
            };
        let (outcome, why) = match (ev.verdict, state) {
            (Verdict::Unknown, _) => {
                let first = ev.unknown.first().cloned().unwrap_or_default();
                let reason = first.rsplit_once(" (").map(|(_, r)| r.trim_end_matches(')').to_string()).unwrap_or(first);
                (Outcome::Undecided, reason)
            }
            (Verdict::Applied, State::A) => (Outcome::Right, String::new()),
            // Nothing of the file is missing from this P state: no evidence can tell it
            // from A, and resolving it as applied records nothing that is not there.
            (Verdict::Applied, State::P) if same_as_a => (Outcome::Right, "P state identical to A".into()),
            (Verdict::Applied, _) => (Outcome::Dangerous, "applied, but it is not".into()),
            (Verdict::NotApplied, State::N) => (Outcome::Right, String::new()),
            (Verdict::NotApplied, _) if rerun.is_err() => (
                Outcome::Wrong,
                format!(
                    "not applied, but a re-run fails: {}",
                    rerun.as_ref().unwrap_err().lines().next().unwrap_or("")
                ),
            ),
            (Verdict::NotApplied, _) if !same_end => {
                (Outcome::Dangerous, "not applied, and a re-run ends in another schema".into())
            }
            (Verdict::NotApplied, _) if !same_data => {
                (Outcome::Dangerous, "not applied, and a re-run ends with other data".into())
            }
            (Verdict::NotApplied, _) => (Outcome::Right, String::new()),
            (Verdict::Partial, State::P) => (Outcome::Right, String::new()),
            (Verdict::Partial, _) => (Outcome::Wrong, "partial".into()),
        };
        let outcome = if outcome == Outcome::Dangerous && state == State::P && p_unreachable {
            Outcome::Unreachable
        } else {
            outcome
        };
        if verbose || matches!(outcome, Outcome::Dangerous | Outcome::Unreachable) {
            println!("{app}/{name} {state:?}: {} {why}", ev.summary());
            if verbose && outcome != Outcome::Right {
                print!("{}", ev.details());
            }
        }
        out.push(Sample {
            app: app.to_string(),
            migration: name.to_string(),
            state,
            data,
            p_unreachable,
            same_as_a,
            verdict: ev.verdict,
            run_by_hand: ev.run_by_hand.is_some(),
            trial: ev.trial.clone(),
            decided_by: ev.decided_by(),
            outcome,
            why,
        });
    }
    pg.admin(&format!("DROP DATABASE {adb};"))?;
    Ok(out)
}

fn report(samples: &[Sample], every: usize, took: std::time::Duration) {
    let migrations: std::collections::BTreeSet<(&str, &str)> =
        samples.iter().map(|s| (s.app.as_str(), s.migration.as_str())).collect();
    println!(
        "\nevidence on the corpus: every {every}th migration, {} migrations, {} states, {:.0} s",
        migrations.len(),
        samples.len(),
        took.as_secs_f64()
    );
    let table = |title: &str, rows: &[&Sample]| {
        println!("\n{title} ({} states)", rows.len());
        println!("  state | applied | not applied | partial | unknown");
        for st in [State::N, State::A, State::P] {
            let c = |v: Verdict| rows.iter().filter(|s| s.state == st && s.verdict == v).count();
            println!(
                "  {:<5} | {:>7} | {:>11} | {:>7} | {:>7}",
                format!("{st:?}"),
                c(Verdict::Applied),
                c(Verdict::NotApplied),
                c(Verdict::Partial),
                c(Verdict::Unknown)
            );
        }
        let n = |o: Outcome| rows.iter().filter(|s| s.outcome == o).count();
        let decided = rows.len() - n(Outcome::Undecided);
        println!(
            "  decided {decided}/{} ({:.1}%), right {}, wrong but safe {}, dangerous {}, \
             dangerous only on P states a Prisma deploy cannot leave {}",
            rows.len(),
            100.0 * decided as f64 / rows.len().max(1) as f64,
            n(Outcome::Right),
            n(Outcome::Wrong),
            n(Outcome::Dangerous),
            n(Outcome::Unreachable)
        );
    };
    let all: Vec<&Sample> = samples.iter().collect();
    table("all states", &all);
    let schema_only: Vec<&Sample> = samples.iter().filter(|s| !s.data).collect();
    table("files without data statements", &schema_only);
    let data: Vec<&Sample> = samples.iter().filter(|s| s.data).collect();
    table("files with data statements", &data);
    let tried: Vec<&Sample> = samples.iter().filter(|s| s.trial.is_some()).collect();
    table("states given a trial run (data-only files)", &tried);
    let found =
        |f: fn(&evidence::TrialOutcome) -> bool| tried.iter().filter(|s| s.trial.as_ref().is_some_and(f)).count();
    println!(
        "  trial runs: no rows changed (not applied) {}, rows changed (unknown) {}, failed (unknown) {}",
        found(|t| matches!(t, evidence::TrialOutcome::Unchanged)),
        found(|t| matches!(t, evidence::TrialOutcome::Changes { .. })),
        found(|t| matches!(t, evidence::TrialOutcome::Failed { .. }))
    );
    let keyed: Vec<&Sample> = samples.iter().filter(|s| s.decided_by == Some("key lookups")).collect();
    table("states decided by key lookups (constant-row inserts)", &keyed);
    let ruled: Vec<&Sample> = samples.iter().filter(|s| s.decided_by == Some("the transactional rule")).collect();
    table("states decided by the transactional rule (or a re-run rule)", &ruled);
    // A P state of one transaction cut in the middle: what running part of the file by
    // hand (pasted into psql) leaves; Prisma cannot.
    let hand: Vec<&Sample> = samples.iter().filter(|s| s.state == State::P && s.p_unreachable).collect();
    table("hand-run partial states (P of one transaction, which only a person can leave)", &hand);
    let applied = |same: bool| hand.iter().filter(|s| s.verdict == Verdict::Applied && s.same_as_a == same).count();
    println!(
        "  hand-run P states read applied: {} where the state differs from A (wrong), {} identical to A by schema and \
         data fingerprints (nothing missing: right); partial {}, of which say \"run by hand?\" {}",
        applied(false),
        applied(true),
        hand.iter().filter(|s| s.verdict == Verdict::Partial).count(),
        hand.iter().filter(|s| s.run_by_hand).count()
    );
    let rows: Vec<&Sample> = samples.iter().filter(|s| s.decided_by == Some("row checks")).collect();
    table("states decided by row checks (data statements of an applied file)", &rows);
    let impossible = hand.len();
    println!("\nP states a Prisma deploy cannot leave (half of one of its transactions committed): {impossible}");
    let mut by_reason: BTreeMap<&str, usize> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.outcome == Outcome::Wrong) {
        *by_reason.entry(s.why.split(':').next().unwrap_or("")).or_default() += 1;
    }
    for (why, n) in by_reason {
        println!("wrong but safe: {n} x {why}");
    }
    let mut unknown: BTreeMap<&str, usize> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.outcome == Outcome::Undecided) {
        *unknown.entry(s.why.as_str()).or_default() += 1;
    }
    for (why, n) in unknown {
        println!("unknown: {n} x {why}");
    }
    let dangerous = samples.iter().filter(|s| s.outcome == Outcome::Dangerous).count();
    let unreachable = samples.iter().filter(|s| s.outcome == Outcome::Unreachable).count();
    println!("\ndangerous verdicts: {dangerous}");
    println!("dangerous verdicts on P states a Prisma deploy cannot leave (transactional rule): {unreachable}");
}
