//! Benchmark (issue 11): the preflight of `deploy` (schema, migration folders, the
//! app's Prisma CLI and its version from package.json, `pg_dump --version`, one psql
//! query) on the example app, as `deploy --dry-run` runs it.
//!
//!     cargo run --release -p xtask --example bench_preflight [REPS]
//!
//! Starts a throwaway cluster, then runs `xtask deploy --dry-run` REPS times (default
//! 30) with the root tasks.toml and prints the median of the preflight's own figure
//! (from its `preflight ok (N s)` line) and of the whole dry run. Needs
//! Backend/node_modules (`npm ci` in Backend).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use pgcluster::{Cluster, ClusterOptions};

fn main() -> anyhow::Result<()> {
    let reps: usize = std::env::args().nth(1).and_then(|r| r.parse().ok()).unwrap_or(30);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    anyhow::ensure!(root.join("Backend/node_modules/prisma").is_dir(), "run `npm ci` in Backend first");
    let xtask = root.join("target/release/xtask");
    let built = Command::new("cargo").args(["build", "--release", "-q", "-p", "xtask"]).current_dir(&root).status()?;
    anyhow::ensure!(built.success(), "cargo build --release failed");

    let base = std::env::temp_dir().join(format!("xtask-bench-preflight-{}", std::process::id()));
    let cluster = Cluster::start(&base, &ClusterOptions { tls: false, superuser_password: "bench-pw".into() })?;
    cluster.create_database("school")?;
    let url = format!("{}?schema=public&connection_limit=5", cluster.url("school"));

    let (mut own, mut whole) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let t0 = Instant::now();
        let out = Command::new(&xtask)
            .args(["deploy", "--dry-run"])
            .current_dir(&root)
            .env("DATABASE_URL", &url)
            .env("CI", "true")
            .output()?;
        whole.push(t0.elapsed().as_secs_f64() * 1000.0);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().find(|l| l.starts_with("preflight ok (")).ok_or_else(|| {
            anyhow::anyhow!("no `preflight ok` line:\n{stdout}{}", String::from_utf8_lossy(&out.stderr))
        })?;
        let secs: f64 = line["preflight ok (".len()..].split('s').next().unwrap_or("").parse()?;
        own.push(secs * 1000.0);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|x, y| x.total_cmp(y));
        v[v.len() / 2]
    };
    println!("preflight of `deploy` on the example app, {reps} runs of `xtask deploy --dry-run`");
    println!("  preflight (its own figure)  median {:7.1} ms, max {:7.1} ms", median(&mut own), own[own.len() - 1]);
    println!("  whole dry run               median {:7.1} ms", median(&mut whole));
    Ok(())
}
