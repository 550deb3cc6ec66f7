//! Benchmark (issue 5): `cargo xtask status` (one psql round trip, no Node) against
//! `prisma migrate status` on the example app, in one run, alternating.
//!
//!     cargo run --release -p xtask --example bench_status [REPS]
//!
//! Starts a throwaway cluster, deploys the example app's migrations with the real
//! Prisma CLI, then times REPS runs of each (default 15) and prints the medians and
//! the ratio. Needs Backend/node_modules (`npm ci` in Backend).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use pgcluster::{Cluster, ClusterOptions};

fn main() -> anyhow::Result<()> {
    let reps: usize = std::env::args().nth(1).and_then(|r| r.parse().ok()).unwrap_or(15);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let backend = root.join("Backend");
    anyhow::ensure!(backend.join("node_modules/prisma").is_dir(), "run `npm ci` in Backend first");
    let xtask = root.join("target/release/xtask");
    let built = Command::new("cargo").args(["build", "--release", "-q", "-p", "xtask"]).current_dir(&root).status()?;
    anyhow::ensure!(built.success(), "cargo build --release failed");

    let base = std::env::temp_dir().join(format!("xtask-bench-status-{}", std::process::id()));
    let cluster = Cluster::start(&base, &ClusterOptions { tls: false, superuser_password: "bench-pw".into() })?;
    cluster.create_database("school")?;
    let url = format!("{}?schema=public&connection_limit=5", cluster.url("school"));
    let prisma = |args: &[&str]| {
        let mut c = Command::new("npx");
        c.arg("prisma")
            .args(args)
            .args(["--schema", "src/prisma/db/schema.prisma"])
            .current_dir(&backend)
            .env("DATABASE_URL", &url)
            .env("PRISMA_SCHEMA_ENGINE_BINARY", "./scripts/schema-engine-shim")
            .env("CHECKPOINT_DISABLE", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    anyhow::ensure!(prisma(&["migrate", "deploy"]).status()?.success(), "prisma migrate deploy failed");

    let ours = || {
        let mut c = Command::new(&xtask);
        c.arg("status")
            .current_dir(&root)
            .env("DATABASE_URL", &url)
            .env("CI", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    anyhow::ensure!(ours().status()?.success(), "xtask status is not in sync");
    let time = |mut c: Command| -> anyhow::Result<f64> {
        let t0 = Instant::now();
        c.status()?;
        Ok(t0.elapsed().as_secs_f64() * 1000.0)
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        a.push(time(ours())?);
        b.push(time(prisma(&["migrate", "status"]))?);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|x, y| x.total_cmp(y));
        v[v.len() / 2]
    };
    let (ma, mb) = (median(&mut a), median(&mut b));
    println!("status of the example app (2 migrations, in sync), {reps} runs each, alternating");
    println!("  cargo xtask status     median {ma:8.1} ms");
    println!("  prisma migrate status  median {mb:8.1} ms");
    println!("  prisma / xtask = {:.1}x faster", mb / ma);
    Ok(())
}
