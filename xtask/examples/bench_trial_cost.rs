//! Benchmark (issue 24 item 2): what `diagnose`'s trial run costs production, on each
//! of its paths: a data-only migration over a small table (tried), the same over a
//! table of 2,000,000 rows (skipped: over `trial_max_rows`), and that one with
//! `diagnose --trial` (tried, as every diagnose did before the limit).
//!
//!     cargo run -p xtask --example bench_trial_cost [ROWS]
//!
//! With `BASELINE_XTASK=/path/to/an/older/xtask` it adds the large table's path as
//! that binary runs it (before the limit: tried by every diagnose).
//!
//! Starts a throwaway cluster, builds `events` (ROWS rows, default 2,000,000, a primary
//! key and an index on the backfilled column) and `small_events` (5,000 rows), and
//! runs the dev binary's `diagnose` on each path twice: once alone, measuring the WAL
//! it wrote (`pg_current_wal_lsn()` before and after), the dead rows it left
//! (`pg_stat_user_tables.n_dead_tup`, autovacuum off for the two tables) and how much
//! the table and its indexes grew (`pg_total_relation_size`); once beside a writer that
//! updates one random row of the table and commits, every 10 ms, measuring the
//! writer's longest wait. Both tables are vacuumed between paths.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pgcluster::{Cluster, ClusterOptions};

const SMALL_ROWS: u64 = 5_000;

struct Bench {
    cluster: Cluster,
    xtask: std::path::PathBuf,
    /// The binary to run `diagnose` with for the current path.
    current: std::cell::RefCell<std::path::PathBuf>,
    project: std::path::PathBuf,
}

impl Bench {
    fn sql(&self, sql: &str) -> anyhow::Result<String> {
        Ok(self.cluster.psql("app", sql)?.trim().to_string())
    }

    fn number(&self, sql: &str) -> anyhow::Result<i64> {
        let text = self.sql(sql)?;
        text.parse().map_err(|_| anyhow::anyhow!("{sql}: {text}"))
    }

    /// Waits until no other session is on `app`, so that their statistics are flushed.
    fn quiet(&self) -> anyhow::Result<()> {
        for _ in 0..200 {
            let others =
                self.number("SELECT count(*) FROM pg_stat_activity WHERE datname = 'app' AND pid <> pg_backend_pid()")?;
            if others == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    fn diagnose(&self, args: &[&str]) -> anyhow::Result<(f64, String)> {
        let t0 = Instant::now();
        let out = Command::new(&*self.current.borrow())
            .arg("diagnose")
            .args(args)
            .current_dir(&self.project)
            .env("DATABASE_URL", self.cluster.url("app"))
            .env("CI", "true")
            .output()?;
        let secs = t0.elapsed().as_secs_f64();
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        let verdict = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("verdict:"))
            .map(|v| v.trim().chars().take(90).collect::<String>())
            .ok_or_else(|| anyhow::anyhow!("no verdict:\n{text}"))?;
        Ok((secs, verdict))
    }

    /// WAL bytes, dead rows left and growth of `table` (with its indexes) for one diagnose.
    fn cost(&self, table: &str, args: &[&str]) -> anyhow::Result<(i64, i64, i64, f64, String)> {
        self.sql(&format!("VACUUM {table}"))?;
        self.sql("CHECKPOINT")?;
        self.quiet()?;
        let dead = || self.number(&format!("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = '{table}'"));
        let size = || self.number(&format!("SELECT pg_total_relation_size('{table}')"));
        let wal = || self.number("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint");
        let (d0, s0, w0) = (dead()?, size()?, wal()?);
        let (secs, verdict) = self.diagnose(args)?;
        let w1 = wal()?;
        self.quiet()?;
        Ok((w1 - w0, dead()? - d0, size()? - s0, secs, verdict))
    }

    /// The longest a writer updating one random row of `table` at a time waited, while
    /// the diagnose ran.
    fn writer_wait(&self, table: &str, rows: u64, args: &[&str]) -> anyhow::Result<f64> {
        self.sql(&format!("VACUUM {table}"))?;
        self.sql("TRUNCATE bench_stop")?;
        let script = format!(
            "DO $$ DECLARE t0 timestamptz; worst interval := '0'; BEGIN \
               LOOP \
                 EXIT WHEN EXISTS (SELECT 1 FROM bench_stop); \
                 t0 := clock_timestamp(); \
                 UPDATE {table} SET n = n + 1 WHERE id = 1 + floor(random() * {rows})::int; \
                 COMMIT; \
                 worst := greatest(worst, clock_timestamp() - t0); \
                 PERFORM pg_sleep(0.01); \
               END LOOP; \
               RAISE NOTICE 'worst=%', extract(epoch FROM worst); END $$;"
        );
        let writer = Command::new("psql")
            .args(["-X", "-q", "-d", &self.cluster.url("app"), "-c", &script])
            .env("PGPASSWORD", self.cluster.password())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        std::thread::sleep(Duration::from_millis(500));
        if args.is_empty() {
            // The noise floor: the writer alone, for as long as a quick diagnose takes.
            std::thread::sleep(Duration::from_millis(500));
        } else {
            self.diagnose(args)?;
        }
        std::thread::sleep(Duration::from_millis(500));
        self.sql("INSERT INTO bench_stop VALUES (1)")?;
        let out = writer.wait_with_output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        let worst = err
            .split("worst=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or_else(|| anyhow::anyhow!("the writer said: {err}"))?;
        Ok(worst)
    }
}

/// One path: its label, the table, its rows, diagnose's arguments, another binary.
type Case<'a> = (&'a str, &'a str, u64, &'a [&'a str], Option<std::path::PathBuf>);

fn main() -> anyhow::Result<()> {
    let rows: u64 = std::env::args().nth(1).and_then(|r| r.parse().ok()).unwrap_or(2_000_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let built = Command::new("cargo").args(["build", "-q", "-p", "xtask"]).current_dir(&root).status()?;
    anyhow::ensure!(built.success(), "cargo build failed");
    let base = std::env::temp_dir().join(format!("xtask-bench-trial-{}", std::process::id()));
    let project = base.join("project");
    std::fs::create_dir_all(&project)?;
    std::fs::write(
        project.join("tasks.toml"),
        "[database]\nurl_env = \"DATABASE_URL\"\n\n[prisma]\nmigrations = \"migrations\"\n\n\
         [tasks.diagnose]\nuses = \"diagnose\"\n",
    )?;
    for (name, table) in [("20990101000000_backfill_small", "small_events"), ("20990101000001_backfill", "events")] {
        let dir = project.join("migrations").join(name);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("migration.sql"), format!("UPDATE {table} SET kind = 'other' WHERE kind IS NULL;\n"))?;
    }
    let cluster =
        Cluster::start(&base.join("pg"), &ClusterOptions { tls: false, superuser_password: "bench-pw".into() })?;
    cluster.create_database("app")?;
    let xtask = root.join("target/debug/xtask");
    let bench = Bench { cluster, current: std::cell::RefCell::new(xtask.clone()), xtask, project };
    let t0 = Instant::now();
    for (table, n) in [("events", rows), ("small_events", SMALL_ROWS)] {
        bench.sql(&format!(
            "CREATE TABLE {table} (id int PRIMARY KEY, kind text, n int NOT NULL DEFAULT 0) \
               WITH (autovacuum_enabled = off); \
             INSERT INTO {table} (id) SELECT generate_series(1, {n}); \
             CREATE INDEX ON {table} (kind);"
        ))?;
        bench.sql(&format!("VACUUM ANALYZE {table}"))?;
    }
    bench.sql("CREATE TABLE bench_stop (x int)")?;
    println!("built events ({rows} rows) and small_events ({SMALL_ROWS} rows) in {:.1} s", t0.elapsed().as_secs_f64());
    println!(
        "{:<42} {:>11} {:>10} {:>11} {:>9} {:>12}",
        "path", "WAL", "dead rows", "growth", "diagnose", "writer wait"
    );
    let baseline = std::env::var_os("BASELINE_XTASK").map(std::path::PathBuf::from);
    let mut paths: Vec<Case> = vec![
        ("small table (5,000 rows): tried", "small_events", SMALL_ROWS, &["20990101000000_backfill_small"], None),
        ("large table: trial skipped", "events", rows, &["20990101000001_backfill"], None),
        ("large table, diagnose --trial", "events", rows, &["20990101000001_backfill", "--trial"], None),
    ];
    if let Some(b) = baseline {
        paths.push(("large table, BASELINE_XTASK (no limit)", "events", rows, &["20990101000001_backfill"], Some(b)));
    }
    let floor = bench.writer_wait("events", rows, &[])?;
    println!(
        "{:<42} {:>11} {:>10} {:>11} {:>9} {:>9.1} ms",
        "no diagnose (the writer alone)",
        "-",
        "-",
        "-",
        "-",
        floor * 1000.0
    );
    for (label, table, n, args, bin) in paths {
        *bench.current.borrow_mut() = bin.unwrap_or_else(|| bench.xtask.clone());
        let (wal, dead, growth, secs, verdict) = bench.cost(table, args)?;
        let wait = bench.writer_wait(table, n, args)?;
        println!(
            "{label:<42} {:>8.0} kB {dead:>10} {:>8.0} kB {secs:>7.2} s {:>9.1} ms",
            wal as f64 / 1e3,
            growth as f64 / 1e3,
            wait * 1000.0
        );
        println!("    verdict: {verdict}");
    }
    drop(bench);
    let _ = std::fs::remove_dir_all(&base);
    Ok(())
}
