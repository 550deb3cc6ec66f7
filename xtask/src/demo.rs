//! `cargo xtask demo`: the whole runbook story on a throwaway PostgreSQL cluster
//! under `target/demo/`, with the repository's example app. First the tool in use
//! from the start: the broken first version of a migration (42710) is stopped by
//! the rehearsal on a scratch copy before production, then the fixed file goes
//! through. Then a failure from before the tool: production already has the failed
//! row (P3018), and the real `deploy` chain recovers it: backup, rehearsal, P3009,
//! evidence, recovery, success.

use std::path::{Path, PathBuf};

use pgcluster::{copy_dir, Cluster, ClusterOptions};

use crate::cli::Globals;
use crate::config::{Action, BuiltinKind, Config};
use crate::context::{RunOptions, TaskArgs};
use crate::exit::{Exit, Failure};
use crate::proc;
use crate::runner;
use crate::ui::{Ui, UiOptions};

fn fail<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> Failure + '_ {
    move |e| Failure::task(format!("demo: {what}: {e:#}"))
}

pub(crate) fn run(config: &Config, globals: &Globals) -> Result<Exit, Failure> {
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
    ui.add_secret(cluster.password());
    let story = Story {
        demo: &demo,
        cluster: &cluster,
        globals,
        task: &deploy_task.name,
        url_env: &config.database.url_env[0],
    };

    // Part 1: the tool in use from the start. Production has `init` (and so the
    // enum); the broken first version is deployed with the tool: the rehearsal
    // fails on a copy and production is never touched. Then the fix goes through.
    ui.event("demo: part 1: the broken migration meets the rehearsal, not production");
    story.use_database("school")?;
    let held = work.join("held-back-migration");
    let dir = migration_sql.parent().unwrap_or(&copy).to_path_buf();
    std::fs::rename(&dir, &held).map_err(fail("holding back the migration"))?;
    let out = crate::prisma::cli(&demo.prisma, &["migrate", "deploy"]).and_then(|c| proc::run_quiet(&ui, c));
    std::fs::rename(&held, &dir).map_err(fail("putting the migration back"))?;
    if !out.map_err(fail("running Prisma"))?.success() {
        return Err(Failure::task("demo: deploying the init migration failed"));
    }
    ui.event("demo: production has the init migration (it created the enum attendance_status)");
    std::fs::write(&migration_sql, &broken).map_err(fail("putting the broken migration in place"))?;
    ui.event(&format!(
        "demo: the first version of {migration} (it creates attendance_status again) is on disk; running `{} {}`",
        crate::invocation::name(),
        deploy_task.name
    ));
    drop(ui);
    let caught = story.deploy();
    let ui = story.ui();
    story.show_ledger(&ui, "school");
    match caught {
        Err(f) if f.exit == Exit::MigrationFailed => ui.event(&format!("demo: deploy stopped: {}", f.message)),
        _ => return Err(Failure::task("demo: the rehearsal did not stop the broken migration")),
    }
    ui.event("demo: the rehearsal caught it: production has no row for the migration and none of its objects");
    std::fs::write(&migration_sql, &fixed).map_err(fail("restoring the fixed migration"))?;
    ui.event(&format!("demo: the production-safe {migration}/migration.sql is in place; deploying again"));
    drop(ui);
    let passed = story.deploy();
    let ui = story.ui();
    story.show_ledger(&ui, "school");
    passed?;

    // Part 2: a failure from before the tool was in use: production already has
    // the failed row (P3018 with plain Prisma). The rehearsal rehearses the
    // recovery on a copy, then the deploy performs it.
    ui.event("demo: part 2: a migration that failed before the tool was in use (the runbook's P3009)");
    story.use_database("school_legacy")?;
    std::fs::write(&migration_sql, &broken).map_err(fail("putting the broken migration in place"))?;
    let out = crate::prisma::cli(&demo.prisma, &["migrate", "deploy"])
        .and_then(|c| proc::run_quiet(&ui, c))
        .map_err(fail("running Prisma"))?;
    let text = ui.redact(&out.combined());
    if out.success() {
        return Err(Failure::task("demo: the broken migration applied; the fixture no longer reproduces the runbook"));
    }
    for line in text.lines().filter(|l| l.contains("Error") || l.contains("ERROR") || l.contains("P3018")).take(4) {
        ui.event(&format!("demo:   prisma said: {}", line.trim()));
    }
    ui.event(&format!("demo: {migration} is now recorded as failed; every deploy would stop with P3009"));
    std::fs::write(&migration_sql, &fixed).map_err(fail("restoring the fixed migration"))?;
    ui.event(&format!(
        "demo: the production-safe {migration}/migration.sql is in place; running `{} {}`",
        crate::invocation::name(),
        deploy_task.name
    ));
    drop(ui);
    let recovered = story.deploy();
    let ui = story.ui();
    story.show_ledger(&ui, "school_legacy");
    ui.event("demo: stopping the cluster");
    drop(cluster);
    recovered?;
    ui.event("demo: done: a broken migration caught by the rehearsal before production; an earlier failure recovered (rehearsed, then P3009, evidence, resolve, deploy)");
    Ok(Exit::Success)
}

/// One throwaway cluster, the demo's config, and the deploy task to run.
struct Story<'a> {
    demo: &'a Config,
    cluster: &'a Cluster,
    globals: &'a Globals,
    task: &'a str,
    url_env: &'a str,
}

impl Story<'_> {
    fn ui(&self) -> Ui {
        let ui = Ui::new(UiOptions::detect(self.globals.no_progress, self.globals.color));
        ui.add_secret(self.cluster.password());
        ui
    }

    /// Creates `db` and points the URL variable at it (the children read it from the environment).
    fn use_database(&self, db: &str) -> Result<(), Failure> {
        self.cluster.create_database(db).map_err(fail("creating the database"))?;
        std::env::set_var(self.url_env, format!("{}?schema=public&connection_limit=5", self.cluster.url(db)));
        Ok(())
    }

    /// The real deploy chain (backup, rehearsal, deploy), with what it left; the
    /// run's failure, if it stopped.
    fn deploy(&self) -> Result<(), Failure> {
        let ui = self.ui();
        let opts = RunOptions { yes: true, ..RunOptions::default() };
        let result = runner::run(self.demo, self.task, &TaskArgs::default(), &opts, &ui);
        if let Some(b) = &result.state.backup {
            ui.event(&format!("demo: the backup of this run is {} ({})", b.path, crate::ui::human_bytes(b.bytes)));
        }
        if let Some(r) = &result.state.rehearsal {
            ui.event(&format!(
                "demo: rehearsal {} on {} in {:.2}s",
                r.outcome,
                r.database.as_deref().unwrap_or("no scratch database"),
                r.seconds
            ));
        }
        for r in &result.state.resolutions {
            ui.event(&format!("demo: resolved {} as {} ({})", r.migration, r.as_, r.reason));
        }
        match result.failure {
            Some(f) => Err(f),
            None => Ok(()),
        }
    }

    fn show_ledger(&self, ui: &Ui, db: &str) {
        let ledger = self
            .cluster
            .psql(
                db,
                "SELECT migration_name || '  ' || CASE WHEN rolled_back_at IS NOT NULL THEN 'rolled back' \
                 WHEN finished_at IS NOT NULL THEN 'applied' ELSE 'failed' END FROM _prisma_migrations ORDER BY started_at",
            )
            .unwrap_or_default();
        ui.event(&format!("demo: {db}'s _prisma_migrations now:"));
        for line in ledger.lines().filter(|l| !l.trim().is_empty()) {
            ui.event(&format!("demo:   {line}"));
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
    let sh = proc::shell().map_err(fail("installing the example app"))?;
    sh.change_dir(app);
    let out = proc::run(ui, xshell::cmd!(sh, "npm ci --no-audit --no-fund").into())
        .map_err(fail("installing the example app"))?;
    if !out.success() {
        return Err(Failure::task(format!("demo: `npm ci` in {} failed: see its output above", app.display())));
    }
    Ok(())
}
