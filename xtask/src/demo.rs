//! `cargo xtask demo`: the whole runbook story on a throwaway PostgreSQL cluster
//! under `target/demo/`, with the repository's example app: production is left with
//! the first, broken version of a migration recorded as failed (P3018, 42710), the
//! team's fixed file is in place, and the real `deploy` chain runs: backup, P3009,
//! evidence, recovery, success.

use std::path::{Path, PathBuf};

use pgcluster::{copy_dir, Cluster, ClusterOptions};

use crate::cli::Globals;
use crate::config::{Action, BuiltinKind, Config};
use crate::context::{RunOptions, TaskArgs};
use crate::exit::{Exit, Failure};
use crate::proc::{self, Cmd};
use crate::runner;
use crate::ui::{Ui, UiOptions};

fn fail<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> Failure + '_ {
    move |e| Failure::task(format!("demo: {what}: {e:#}"))
}

pub fn run(config: &Config, globals: &Globals) -> Result<Exit, Failure> {
    let ui = Ui::new(UiOptions::detect(globals.no_progress, globals.color));
    let deploy_task =
        config.tasks.iter().find(|t| t.action == Action::Uses(BuiltinKind::PrismaDeploy)).ok_or_else(|| {
            Failure::usage("demo: tasks.toml has no task with uses = \"prisma-deploy\" to demonstrate")
        })?;
    let app = config.prisma.cwd.clone();
    let schema = config.prisma.schema.clone().ok_or_else(|| {
        Failure::usage("demo: set [prisma] schema in tasks.toml (the demo runs the example app in Backend/)")
    })?;
    let migrations = config.prisma.migrations.clone().unwrap_or_else(|| schema.with_file_name("migrations"));
    let (broken, migration) = find_broken_fixture(&app.join("fixtures")).ok_or_else(|| {
        Failure::usage(format!(
            "demo: no fixtures/<migration>.v1.sql in {}: the demo needs the repository's example app",
            app.display()
        ))
    })?;

    ensure_node_modules(&ui, &app)?;

    // A fresh copy of the app, so the demo can put the broken file in place.
    let work = config.root.join("target").join("demo");
    let copy = work.join("app");
    let _ = std::fs::remove_dir_all(&copy);
    let _ = std::fs::remove_dir_all(work.join("backups"));
    copy_dir(&app, &copy).map_err(fail("copying the example app"))?;
    std::os::unix::fs::symlink(app.join("node_modules"), copy.join("node_modules"))
        .map_err(fail("linking node_modules"))?;
    let rebase = |p: &Path| copy.join(p.strip_prefix(&app).unwrap_or(p));
    let mut demo = config.clone();
    demo.prisma.cwd = copy.clone();
    demo.prisma.schema = Some(rebase(&schema));
    demo.prisma.migrations = Some(rebase(&migrations));
    demo.backup.dir = work.join("backups");
    let migration_sql = rebase(&migrations).join(&migration).join("migration.sql");
    let fixed = std::fs::read_to_string(&migration_sql).map_err(fail("reading the fixed migration"))?;

    ui.event(&format!("demo: starting a throwaway PostgreSQL cluster under {}", work.join("pg").display()));
    // Throwaway, but not guessable from outside the run: pid and time mixed.
    let password = format!(
        "demo-{:x}",
        (std::process::id() as u64 * 2_654_435_761) ^ chrono::Utc::now().timestamp_micros() as u64
    );
    let cluster = Cluster::start(&work.join("pg"), &ClusterOptions { tls: false, superuser_password: password })
        .map_err(fail("starting PostgreSQL"))?;
    cluster.create_database("school").map_err(fail("creating the database"))?;
    let url = format!("{}?schema=public&connection_limit=5", cluster.url("school"));
    ui.add_secret(cluster.password());
    // The children (pg_dump, psql, Prisma) read the URL from the environment.
    std::env::set_var(&config.database.url_env, &url);

    // Production's state: the first version of the migration failed there.
    ui.event(&format!(
        "demo: production state: deploying the first version of {migration} (it recreates an existing enum)"
    ));
    std::fs::write(&migration_sql, &broken).map_err(fail("putting the broken migration in place"))?;
    let cmd = crate::prisma::cli(&demo.prisma, &["migrate", "deploy"]);
    let out = proc::run_quiet(&ui, &cmd).map_err(fail("running Prisma"))?;
    let text = ui.redact(&out.combined());
    if out.success() {
        return Err(Failure::task("demo: the broken migration applied; the fixture no longer reproduces the runbook"));
    }
    for line in text.lines().filter(|l| l.contains("Error") || l.contains("ERROR") || l.contains("P3018")).take(4) {
        ui.event(&format!("demo:   prisma said: {}", line.trim()));
    }
    ui.event(&format!("demo: {migration} is now recorded as failed; every deploy would stop with P3009"));

    // The team's fix, then the real deploy chain.
    std::fs::write(&migration_sql, &fixed).map_err(fail("restoring the fixed migration"))?;
    ui.event(&format!(
        "demo: the production-safe {migration}/migration.sql is in place; running `cargo xtask {}`",
        deploy_task.name
    ));
    drop(ui);
    let ui = Ui::new(UiOptions::detect(globals.no_progress, globals.color));
    ui.add_secret(cluster.password());
    let opts = RunOptions { yes: true, ..RunOptions::default() };
    let result = runner::run(&demo, &deploy_task.name, &TaskArgs::default(), &opts, &ui);

    if let Some(b) = &result.state.backup {
        ui.event(&format!("demo: the backup of this run is {} ({})", b.path, crate::ui::human_bytes(b.bytes)));
    }
    for r in &result.state.resolutions {
        ui.event(&format!("demo: resolved {} as {} ({})", r.migration, r.as_, r.reason));
    }
    let ledger = cluster
        .psql(
            "school",
            "SELECT migration_name || '  ' || CASE WHEN rolled_back_at IS NOT NULL THEN 'rolled back' \
             WHEN finished_at IS NOT NULL THEN 'applied' ELSE 'failed' END FROM _prisma_migrations ORDER BY started_at",
        )
        .unwrap_or_default();
    ui.event("demo: _prisma_migrations now:");
    for line in ledger.lines().filter(|l| !l.trim().is_empty()) {
        ui.event(&format!("demo:   {line}"));
    }
    ui.event("demo: stopping the cluster");
    drop(cluster);
    match result.failure {
        Some(f) => Err(f),
        None => {
            ui.event("demo: done: backup, P3009, evidence check, recovery, success");
            Ok(result.exit)
        }
    }
}

/// `fixtures/<migration>.v1.sql`: the broken first version of a migration.
fn find_broken_fixture(dir: &Path) -> Option<(String, String)> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).collect();
    entries.sort();
    entries.into_iter().find_map(|p| {
        let name = p.file_name()?.to_str()?.strip_suffix(".v1.sql")?.to_string();
        Some((std::fs::read_to_string(&p).ok()?, name))
    })
}

fn ensure_node_modules(ui: &Ui, app: &Path) -> Result<(), Failure> {
    if app.join("node_modules").join("prisma").is_dir() {
        return Ok(());
    }
    ui.event(&format!("demo: installing the example app's Prisma CLI (npm ci in {})", app.display()));
    let out = proc::run(ui, &Cmd::new("npm").args(["ci", "--no-audit", "--no-fund"]).cwd(app.to_path_buf()))
        .map_err(fail("installing the example app"))?;
    if !out.success() {
        return Err(Failure::task(format!("demo: `npm ci` in {} failed: see its output above", app.display())));
    }
    Ok(())
}
