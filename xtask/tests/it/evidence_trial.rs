//! The evidence's trial run against a real PostgreSQL 15: a data-only migration file
//! is run in a transaction that is rolled back, and the rows it changed decide. Every
//! test checks that the data is as it was afterwards (the rollback held), on success,
//! on an error, on a statement timeout and when psql is killed mid-trial.

use std::time::{Duration, Instant};

use xtask::testing::db::Target;
use xtask::testing::evidence::{self, Evidence, TrialBounds, TrialOutcome, Verdict};

/// A table with rows a backfill fills in, and a sequence.
const INIT: &str = r#"
CREATE TABLE "items" ("id" INTEGER PRIMARY KEY, "kind" TEXT);
INSERT INTO "items" VALUES (1, NULL), (2, 'book'), (3, NULL);
CREATE SEQUENCE "items_seq";
SELECT setval('"items_seq"', 7);
"#;

/// An idempotent, guarded backfill, as hand-written migrations do it.
const BACKFILL: &str = "-- Backfill\nUPDATE \"items\" SET \"kind\" = 'other' WHERE \"kind\" IS NULL;\n";

/// The evidence tests' cluster with database `app`, holding [`INIT`].
struct Db(crate::evidence::Db);

impl Db {
    fn start(label: &str) -> Db {
        let db = Db(crate::evidence::Db::start(label));
        db.run(INIT);
        db
    }

    fn run(&self, sql: &str) -> String {
        self.0.cluster.psql("app", sql).unwrap_or_else(|e| panic!("{e:#}\n{sql}"))
    }

    fn target(&self) -> Target {
        Target::from_url("DATABASE_URL", &self.0.cluster.url("app"), None).unwrap()
    }

    fn assess_with(&self, sql: &str, bounds: TrialBounds) -> Evidence {
        evidence::assess_with(&self.target(), sql, "public", Some(bounds)).unwrap_or_else(|f| panic!("{}", f.message))
    }

    fn assess(&self, sql: &str) -> Evidence {
        self.assess_with(sql, TrialBounds::default())
    }

    /// The table's rows and the sequence's value, as text.
    fn data(&self) -> String {
        self.run(
            "SELECT string_agg(id || '=' || coalesce(kind, 'NULL'), ',' ORDER BY id) || ' seq=' || \
             (SELECT last_value FROM \"items_seq\") FROM \"items\";",
        )
        .trim()
        .to_string()
    }

    /// Whether a session other than ours is still in a transaction on `app`.
    fn open_transactions(&self) -> usize {
        self.run(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'app' AND pid <> pg_backend_pid() \
             AND xact_start IS NOT NULL;",
        )
        .trim()
        .parse()
        .unwrap()
    }
}

const BEFORE: &str = "1=NULL,2=book,3=NULL seq=7";

#[test]
fn a_backfill_that_already_ran_is_not_applied_by_a_trial_run() {
    let db = Db::start("trial-ran");
    db.run(BACKFILL);
    let after = db.data();
    assert_eq!(after, "1=other,2=book,3=other seq=7");
    let ev = db.assess(BACKFILL);
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    assert_eq!(ev.trial, Some(TrialOutcome::Unchanged));
    assert!(
        ev.summary().contains("a trial run of its data statements, rolled back, changed no rows"),
        "{}",
        ev.summary()
    );
    let report = ev.report();
    assert!(
        report.starts_with("safe to run again (whether or not it ran): running it again changes nothing"),
        "{report}"
    );
    assert!(
        report.contains("  decided by a trial run: a trial run of its data statements in a transaction"),
        "{report}"
    );
    assert!(!report.contains("transactional rule"), "{report}");
    // ANALYZE writes planner statistics, which are not the application's rows.
    let ev = db.assess(&format!("ANALYZE \"items\";\n{BACKFILL}"));
    assert_eq!((ev.verdict, ev.trial), (Verdict::NotApplied, Some(TrialOutcome::Unchanged)));
    assert_eq!(db.data(), after);
    assert_eq!(db.open_transactions(), 0);
}

#[test]
fn a_backfill_that_has_not_run_stays_unknown_with_the_rows_it_would_change() {
    let db = Db::start("trial-due");
    // A file ending in a comment without a newline, and without a final semicolon.
    let sql = "UPDATE \"items\" SET \"kind\" = 'other' WHERE \"kind\" IS NULL -- fill in";
    let ev = db.assess(sql);
    assert_eq!(ev.verdict, Verdict::Unknown, "{}", ev.report());
    assert_eq!(ev.trial, Some(TrialOutcome::Changes { rows: 2 }));
    assert!(
        ev.summary().starts_with(
            "unknown: a trial run in a transaction that was rolled back changed 2 row(s): either it has not run, \
             or it changes them again each time it runs; decide by hand"
        ),
        "{}",
        ev.summary()
    );
    assert!(ev.details().contains("  trial run (in a transaction that was rolled back): it changed 2 row(s)\n"));
    assert_eq!(db.data(), BEFORE, "the trial's changes were rolled back");
    // Without a trial run, the catalogs alone cannot tell.
    let plain = evidence::assess_with(&db.target(), sql, "public", None).unwrap();
    assert_eq!((plain.verdict, plain.trial), (Verdict::Unknown, None));
}

#[test]
fn a_failing_data_file_stays_unknown_with_the_error_and_changes_nothing() {
    let db = Db::start("trial-fails");
    // The first statement succeeds, the second fails: the first must be undone too.
    let sql = "UPDATE \"items\" SET \"kind\" = 'x';\nINSERT INTO \"items\" VALUES (2, 'dup');\n";
    let ev = db.assess(sql);
    assert_eq!(ev.verdict, Verdict::Unknown, "{}", ev.report());
    let Some(TrialOutcome::Failed { error }) = &ev.trial else { panic!("{:?}", ev.trial) };
    assert!(error.starts_with("ERROR: 23505: duplicate key value violates unique constraint"), "{error}");
    assert!(ev.unknown[0].starts_with("a trial run in a transaction that was rolled back failed: ERROR: 23505"));
    assert_eq!(db.data(), BEFORE);
    assert_eq!(db.open_transactions(), 0);
}

#[test]
fn a_file_with_setval_gets_no_trial_run() {
    let db = Db::start("trial-setval");
    let sql = format!("{BACKFILL}SELECT setval('\"items_seq\"', 100);\n");
    assert!(evidence::trial_ineligible(&sql).is_some_and(|w| w.contains("setval")));
    let ev = db.assess(&sql);
    assert_eq!(ev.verdict, Verdict::Unknown, "{}", ev.report());
    assert_eq!(ev.trial, None);
    // setval is not undone by a rollback: had the file been tried, the sequence would be at 100.
    assert_eq!(db.data(), BEFORE);
}

#[test]
fn a_slow_statement_is_stopped_by_the_statement_timeout() {
    let db = Db::start("trial-slow");
    let sql = "UPDATE \"items\" SET \"kind\" = 'a';\n\
               UPDATE \"items\" SET \"kind\" = (SELECT 'b' FROM pg_sleep(20)) WHERE \"id\" = 1;\n";
    let bounds = TrialBounds { statement_timeout: Duration::from_millis(500), ..TrialBounds::default() };
    let t0 = Instant::now();
    let ev = db.assess_with(sql, bounds);
    assert!(t0.elapsed() < Duration::from_secs(15), "took {:?}", t0.elapsed());
    assert_eq!(ev.verdict, Verdict::Unknown);
    let Some(TrialOutcome::Failed { error }) = &ev.trial else { panic!("{:?}", ev.trial) };
    assert_eq!(error, "ERROR: 57014: canceling statement due to statement timeout");
    assert_eq!(db.data(), BEFORE);
    assert_eq!(db.open_transactions(), 0);
}

#[test]
fn a_lock_held_elsewhere_is_waited_for_only_up_to_the_lock_timeout() {
    let db = Db::start("trial-lock");
    // Another session holds the table's lock while the trial runs.
    let holder = {
        let url = db.0.cluster.url("app");
        std::process::Command::new("psql")
            .args(["-X", "-q", "-d", &url, "-c", "BEGIN; LOCK TABLE \"items\"; SELECT pg_sleep(20); COMMIT;"])
            .env("PGPASSWORD", db.0.cluster.password())
            .spawn()
            .unwrap()
    };
    let mut holder = holder;
    let deadline = Instant::now() + Duration::from_secs(10);
    while db.run("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'items' AND l.mode = 'AccessExclusiveLock' AND l.granted;").trim() != "1" {
        assert!(Instant::now() < deadline, "the holder never took its lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    let bounds = TrialBounds { lock_timeout: Duration::from_millis(300), ..TrialBounds::default() };
    let ev = db.assess_with(BACKFILL, bounds);
    let Some(TrialOutcome::Failed { error }) = &ev.trial else { panic!("{:?}", ev.trial) };
    assert!(error.contains("55P03: canceling statement due to lock timeout"), "{error}");
    let _ = holder.kill();
    let _ = holder.wait();
}

/// The pids of this process's children whose argv contains `needle`, from /proc.
fn children_with(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    let mut kids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
        if after.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) != Some(me) {
            continue;
        }
        let argv = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&argv).contains(needle) {
            kids.push(pid);
        }
    }
    kids
}

#[test]
fn killing_psql_mid_trial_changes_nothing() {
    let db = Db::start("trial-killed");
    let sql = "UPDATE \"items\" SET \"kind\" = 'a';\n\
               UPDATE \"items\" SET \"kind\" = (SELECT 'b' FROM pg_sleep(20)) WHERE \"id\" = 1;\n";
    let target = db.target();
    let bounds = TrialBounds { statement_timeout: Duration::from_secs(3), ..TrialBounds::default() };
    let trial = std::thread::spawn(move || evidence::assess_with(&target, sql, "public", Some(bounds)).unwrap());
    // The trial's psql (its argv has --csv and this cluster's port; the test's own psql has neither together).
    let needle = format!(":{}/app", db.0.cluster.port());
    let deadline = Instant::now() + Duration::from_secs(20);
    let pid = loop {
        let sleeping = db
            .run("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg\\_sleep(20)%' AND pid <> pg_backend_pid();")
            .trim()
            == "1";
        let trial_psql: Vec<u32> = children_with(&needle)
            .into_iter()
            .filter(|p| {
                std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|a| String::from_utf8_lossy(&a).contains("--csv"))
            })
            .collect();
        if sleeping && trial_psql.len() == 1 {
            break trial_psql[0];
        }
        assert!(Instant::now() < deadline, "the trial never reached its slow statement");
        std::thread::sleep(Duration::from_millis(50));
    };
    let killed = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    assert!(killed.success());
    let ev = trial.join().unwrap();
    assert_eq!(ev.verdict, Verdict::Unknown);
    assert!(matches!(ev.trial, Some(TrialOutcome::Failed { .. })), "{:?}", ev.trial);
    // The server notices the lost client at the latest when the statement timeout ends
    // the statement, and rolls the transaction back.
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.open_transactions() > 0 {
        assert!(Instant::now() < deadline, "the trial's transaction is still open");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(db.data(), BEFORE);
}

#[test]
fn the_trial_runs_in_the_schema_the_url_names() {
    let db = Db::start("trial-schema");
    // The same table in another schema, where the backfill already ran; in public it has not.
    db.run("CREATE SCHEMA tenant; CREATE TABLE tenant.\"items\" (\"id\" INTEGER PRIMARY KEY, \"kind\" TEXT);");
    db.run("INSERT INTO tenant.\"items\" VALUES (1, 'other');");
    let tenant = Target::from_url("DATABASE_URL", &format!("{}?schema=tenant", db.0.cluster.url("app")), None).unwrap();
    let ev = evidence::assess(&tenant, BACKFILL, &tenant.url.schema).unwrap();
    assert_eq!((ev.verdict, ev.trial), (Verdict::NotApplied, Some(TrialOutcome::Unchanged)));
    // Without `?schema=`, the search path is the database's own: public, where it has not run.
    let ev = db.assess(BACKFILL);
    assert_eq!(ev.trial, Some(TrialOutcome::Changes { rows: 2 }));
    assert_eq!(db.data(), BEFORE);
}

/// A data fix through a temporary table of its own (`WITH ... SELECT ... INTO TEMP
/// TABLE`, read, dropped): tried like any data-only file. The rows its temporary table
/// holds are not counted; the rows it changes in `items` are.
#[test]
fn a_data_fix_through_a_temporary_table_is_tried() {
    let db = Db::start("trial-temp");
    let fix = r#"WITH todo AS (
  UPDATE "items" SET "kind" = 'other' WHERE "kind" IS NULL RETURNING "id"
)
SELECT * INTO TEMP TABLE fixed FROM todo;
UPDATE "items" SET "kind" = 'other2' WHERE "id" IN (SELECT "id" FROM fixed);
DROP TABLE fixed;"#;
    let ev = db.assess(fix);
    assert_eq!(ev.trial, Some(TrialOutcome::Changes { rows: 4 }), "{}", ev.report());
    assert_eq!(ev.verdict, Verdict::Unknown);
    assert_eq!(db.data(), BEFORE, "the trial's changes were rolled back");
    // Once it ran, a re-run finds nothing to fix: not applied (safe to run again).
    db.run(fix);
    let ev = db.assess(fix);
    assert_eq!(ev.trial, Some(TrialOutcome::Unchanged), "{}", ev.report());
    assert_eq!(ev.verdict, Verdict::NotApplied);
    assert_eq!(db.run("SELECT count(*) FROM pg_class WHERE relname = 'fixed'").trim(), "0");
}

/// On production a trial runs only over small tables (issue 24): the size limit counts
/// the tables the file names, the tables a delete can cascade into, and a table never
/// analysed by its live-row count. Skipped, nothing is tried (the data and the
/// sequence are as they were); asked for explicitly (`max_rows: None`), it runs.
#[test]
fn a_trial_over_a_table_above_the_limit_is_skipped_with_its_estimate() {
    let db = Db::start("trial-large");
    db.run(
        "CREATE TABLE \"item_logs\" (\"id\" SERIAL PRIMARY KEY, \
         \"item\" INTEGER REFERENCES \"items\" ON DELETE CASCADE); \
         INSERT INTO \"item_logs\" (\"item\") SELECT 3 FROM generate_series(1, 500); ANALYZE \"item_logs\";",
    );
    let small = TrialBounds { max_rows: Some(100), ..TrialBounds::default() };
    // The cascade reaches 500 rows of item_logs, which the file never names.
    let delete = "DELETE FROM \"items\" WHERE \"kind\" IS NULL;";
    let ev = db.assess_with(delete, small);
    let Some(TrialOutcome::Skipped { why }) = &ev.trial else { panic!("{:?}", ev.trial) };
    assert!(
        why.starts_with(
            "trial skipped: public.item_logs holds about 500 rows by the catalogs' estimate, over the 100 rows"
        ),
        "{why}"
    );
    assert_eq!(ev.verdict, Verdict::Unknown);
    assert!(ev.summary().starts_with("unknown: trial skipped: public.item_logs"), "{}", ev.summary());
    assert_eq!(db.data(), BEFORE);
    // The same file over small tables is tried.
    let ev = db.assess_with(delete, TrialBounds { max_rows: Some(1000), ..TrialBounds::default() });
    assert_eq!(ev.trial, Some(TrialOutcome::Changes { rows: 502 }), "{}", ev.report());
    // A table never analysed (reltuples -1) counts by its live rows.
    db.run("CREATE TABLE \"fresh\" (\"a\" INTEGER); INSERT INTO \"fresh\" SELECT generate_series(1, 300);");
    let deadline = Instant::now() + Duration::from_secs(10);
    while db.run("SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = 'fresh'").trim() != "300" {
        assert!(Instant::now() < deadline, "the statistics never counted the rows");
        std::thread::sleep(Duration::from_millis(100));
    }
    let ev = db.assess_with("UPDATE \"fresh\" SET \"a\" = 0 WHERE \"a\" < 0;", small);
    let Some(TrialOutcome::Skipped { why }) = &ev.trial else { panic!("{:?}", ev.trial) };
    assert!(
        why.contains("public.fresh holds about 300 rows by the statistics' count (it was never analysed)"),
        "{why}"
    );
    // Asked for explicitly: no size limit.
    let ev = db.assess_with("UPDATE \"fresh\" SET \"a\" = 0 WHERE \"a\" < 0;", TrialBounds::explicit());
    assert_eq!((ev.verdict, ev.trial), (Verdict::NotApplied, Some(TrialOutcome::Unchanged)));
}

/// Issue 25 item 1: a file of constant rows under a unique key is decided by looking
/// the keys up, read-only, in every state (no trial runs, and the data stays as it was).
#[test]
fn keyed_inserts_are_decided_by_their_keys() {
    let db = Db::start("keyed");
    let seed = "-- Seed\nINSERT INTO \"items\" (\"id\", \"kind\") VALUES (10, 'tier'), (11, 'tier');\n";
    // Nothing ran: not applied.
    let ev = db.assess(seed);
    assert_eq!((ev.verdict, ev.trial.clone()), (Verdict::NotApplied, None), "{}", ev.report());
    assert!(
        ev.report().contains("decided by key lookups: none of the 2 row(s) it inserts is there"),
        "{}",
        ev.report()
    );
    assert_eq!(db.data(), BEFORE);
    // All of it ran: applied, naming the rows.
    db.run(seed);
    let ev = db.assess(seed);
    assert_eq!(ev.verdict, Verdict::Applied, "{}", ev.report());
    assert!(ev.summary().contains("\"public\".\"items\" (id)=(10) (line 2)"), "{}", ev.summary());
    // Half of it, by hand: partial, with the row a re-run fails on.
    db.run("DELETE FROM \"items\" WHERE \"id\" = 11");
    let ev = db.assess(seed);
    assert_eq!(ev.verdict, Verdict::Partial, "{}", ev.report());
    let blocker = ev.rerun_blocker.clone().unwrap();
    assert!(blocker.contains("(id)=(10)") && blocker.contains("run by hand"), "{blocker}");
    // ON CONFLICT DO NOTHING: running it again is safe whatever is there.
    let guarded = "INSERT INTO \"items\" (\"id\", \"kind\") VALUES (10, 'tier'), (11, 'tier') ON CONFLICT DO NOTHING;";
    let ev = db.assess(guarded);
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    // A row whose key the file does not give is left to the trial run.
    let ev = db.assess("INSERT INTO \"items\" (\"kind\") VALUES ('x');");
    assert!(matches!(ev.trial, Some(TrialOutcome::Failed { .. })), "{:?}", ev.trial);
    assert_eq!(ev.keys, None);
    assert_eq!(db.data(), "1=NULL,2=book,3=NULL,10=tier seq=7");
}

/// Issue 25 item 3: a file Prisma runs as one transaction, half run by hand (its
/// CREATE TABLE pasted into psql, its seed rows not): the transactional rule alone would
/// say "applied"; the seed rows' keys show it is not, and the verdict says "partial
/// (run by hand?)". Run whole, it stays applied; not run, not applied.
#[test]
fn a_half_file_run_by_hand_is_partial_by_its_seed_rows() {
    let db = Db::start("hand-run");
    let create = "CREATE TABLE \"tiers\" (\"id\" TEXT PRIMARY KEY, \"seats\" INTEGER NOT NULL);\n";
    let seed = "INSERT INTO \"tiers\" (\"id\", \"seats\") VALUES ('free', 1), ('team', 10);\n";
    let file = format!("{create}{seed}");
    let ev = db.assess(&file);
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    db.run(create);
    let ev = db.assess(&file);
    assert_eq!(ev.verdict, Verdict::Partial, "{}", ev.report());
    assert!(ev.summary().starts_with("partial (run by hand?)"), "{}", ev.summary());
    assert!(
        ev.rerun_blocker.as_deref().unwrap().contains("\"public\".\"tiers\" (id)=('free') (line 2)"),
        "{:?}",
        ev.rerun_blocker
    );
    assert_eq!(ev.decided_by(), Some("key lookups"));
    db.run(seed);
    let ev = db.assess(&file);
    assert_eq!(ev.verdict, Verdict::Applied, "{}", ev.report());
    assert_eq!(ev.decided_by(), Some("the transactional rule"));
}

/// Issue 25 item 3: a file Prisma runs as one transaction whose DDL was pasted into psql
/// and whose data statements were not (an UPDATE backfilling the new column, an
/// INSERT ... SELECT filling the new table). The catalogs show all of its DDL, so the
/// transactional rule alone said "applied"; the rows the UPDATE would still change, and
/// the rows the SELECT would add, show that the data half did not run: "partial (run by
/// hand?)". Checked read-only: the data is as it was. Run whole, it is applied, and the
/// checks say its data statements would change no row now.
#[test]
fn a_half_file_run_by_hand_is_partial_by_the_rows_its_data_statements_would_change() {
    let db = Db::start("hand-run-rows");
    let ddl = "CREATE TABLE \"kinds\" (\"name\" TEXT PRIMARY KEY);\nALTER TABLE \"items\" ADD COLUMN \"label\" TEXT;\n";
    let data = "UPDATE \"items\" SET \"label\" = coalesce(upper(\"kind\"), 'NONE') WHERE \"id\" > 0;\n\
                INSERT INTO \"kinds\" (\"name\") SELECT DISTINCT \"kind\" FROM \"items\" WHERE \"kind\" IS NOT NULL;\n";
    let file = format!("{ddl}{data}");
    let ev = db.assess(&file);
    assert_eq!(ev.verdict, Verdict::NotApplied, "{}", ev.report());
    db.run(ddl);
    let ev = db.assess(&file);
    assert_eq!(ev.verdict, Verdict::Partial, "{}", ev.report());
    assert!(ev.summary().starts_with("partial (run by hand?)"), "{}", ev.summary());
    assert_eq!(ev.decided_by(), Some("row checks"));
    let rows = ev.rows.clone().unwrap();
    assert_eq!(rows.not_done.len(), 2, "{rows:?}");
    assert!(rows.not_done[0].starts_with("line 3: UPDATE \"items\""), "{rows:?}");
    assert!(rows.not_done[1].starts_with("line 4: INSERT INTO \"kinds\""), "{rows:?}");
    assert!(ev.rerun_blocker.as_deref().unwrap().contains("line 3: UPDATE"), "{:?}", ev.rerun_blocker);
    assert!(ev.report().contains("  checked against the rows: not done:\n    line 3: UPDATE"), "{}", ev.report());
    assert_eq!(ev.trial, None);
    // A deploy after the paste fails on "already exists" for the table: not counting it
    // (it predates that attempt) leaves the column, which would read applied; the rows
    // still say otherwise.
    let mut discounted = ev.clone();
    assert!(discounted.discount("kinds"));
    assert_eq!(discounted.verdict, Verdict::Partial, "{}", discounted.report());
    assert!(discounted.summary().starts_with("partial (run by hand?)"), "{}", discounted.summary());
    assert_eq!(db.run("SELECT count(*) FROM \"items\" WHERE \"label\" IS NOT NULL").trim(), "0");
    assert_eq!(db.run("SELECT count(*) FROM \"kinds\"").trim(), "0");
    // Half of the data half: the UPDATE ran, the INSERT did not.
    db.run("UPDATE \"items\" SET \"label\" = coalesce(upper(\"kind\"), 'NONE') WHERE \"id\" > 0;");
    let ev = db.assess(&file);
    assert_eq!(ev.verdict, Verdict::Partial, "{}", ev.report());
    let rows = ev.rows.clone().unwrap();
    assert_eq!((rows.done.len(), rows.not_done.len()), (1, 1), "{rows:?}");
    // All of it: applied, and nothing left to the rule.
    db.run("INSERT INTO \"kinds\" (\"name\") SELECT DISTINCT \"kind\" FROM \"items\" WHERE \"kind\" IS NOT NULL;");
    let ev = db.assess(&file);
    assert_eq!(ev.verdict, Verdict::Applied, "{}", ev.report());
    assert_eq!(ev.rows.as_ref().map(|r| r.done.len()), Some(2), "{}", ev.report());
    assert!(ev.relies_on_rule.is_empty(), "{:?}", ev.relies_on_rule);
    assert!(ev.summary().contains("checked against the rows, would change no row now"), "{}", ev.summary());
}

/// Issue 25 item 3: where the rows cannot show a data statement (an UPDATE that reads
/// the column it sets changes the rows again every time), an applied verdict says, in
/// its summary (which the JSON reports carry) and in its JSON, that it relies on the
/// transactional rule. A check that cannot get its lock in time is "not checked", never
/// "done".
#[test]
fn an_applied_verdict_says_what_relies_on_the_transactional_rule() {
    let db = Db::start("hand-run-rule");
    let file = "ALTER TABLE \"items\" ADD COLUMN \"n\" INTEGER NOT NULL DEFAULT 1;\n\
                UPDATE \"items\" SET \"n\" = \"n\" * 60;\n";
    db.run("ALTER TABLE \"items\" ADD COLUMN \"n\" INTEGER NOT NULL DEFAULT 1;");
    let ev = db.assess(file);
    assert_eq!(ev.verdict, Verdict::Applied, "{}", ev.report());
    assert!(ev.summary().contains("rely on the transactional rule"), "{}", ev.summary());
    assert!(ev.summary().contains("line 2: UPDATE \"items\" SET \"n\" = \"n\" * 60"), "{}", ev.summary());
    assert!(ev.summary().contains("from the columns it sets"), "{}", ev.summary());
    let json = serde_json::to_value(&ev).unwrap();
    assert!(json["relies_on_rule"][0].as_str().unwrap().contains("line 2: UPDATE"), "{json}");
    assert!(
        ev.report().contains("  relies on the transactional rule (not checked against the rows):\n"),
        "{}",
        ev.report()
    );

    // A checkable UPDATE whose table another session holds locked: the check gives up
    // after its lock timeout, and the verdict relies on the rule for it.
    let file = "ALTER TABLE \"items\" ADD COLUMN \"m\" TEXT;\nUPDATE \"items\" SET \"m\" = 'x';\n";
    db.run("ALTER TABLE \"items\" ADD COLUMN \"m\" TEXT;");
    let ev = std::thread::scope(|scope| {
        let holder = scope.spawn(|| {
            db.run("BEGIN; LOCK TABLE \"items\" IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT;");
        });
        let locked =
            "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = '\"items\"'::regclass";
        while db.run(locked).trim() != "1" {
            std::thread::sleep(Duration::from_millis(50));
        }
        let ev = db.assess(file);
        holder.join().unwrap();
        ev
    });
    assert_eq!(ev.verdict, Verdict::Applied, "{}", ev.report());
    assert_eq!(ev.rows.as_ref().map(|r| r.done.len()), Some(0), "{}", ev.report());
    assert!(ev.relies_on_rule[0].contains("the check could not run"), "{:?}", ev.relies_on_rule);
    assert!(ev.summary().contains("rely on the transactional rule"), "{}", ev.summary());
}

/// Issue 25 item 3: the catalogs show a statement of a one-transaction file missing
/// (its CREATE TABLE is there, its CREATE INDEX and ADD COLUMN are not: a person pasted
/// the first statement): "partial (run by hand?)", naming the first missing statement.
#[test]
fn a_statement_the_catalogs_show_missing_reads_run_by_hand() {
    let db = Db::start("hand-run-ddl");
    let create = "CREATE TABLE \"tags\" (\"id\" INTEGER NOT NULL, CONSTRAINT \"tags_pkey\" PRIMARY KEY (\"id\"));\n";
    let file = format!(
        "{create}CREATE INDEX \"items_kind_idx\" ON \"items\"(\"kind\");\nALTER TABLE \"items\" ADD COLUMN \"tag\" INTEGER;\n"
    );
    db.run(create);
    let ev = db.assess(&file);
    assert_eq!(ev.verdict, Verdict::Partial, "{}", ev.report());
    let summary = ev.summary();
    assert!(summary.starts_with("partial (run by hand?): "), "{summary}");
    assert!(
        summary.contains(
            "line 2 is not (CREATE INDEX \"items_kind_idx\" ON \"items\"(\"kind\"): index \"public\".\"items_kind_idx\" does not exist)"
        ),
        "{summary}"
    );
    assert!(serde_json::to_value(&ev).unwrap()["run_by_hand"].as_str().is_some());
}
