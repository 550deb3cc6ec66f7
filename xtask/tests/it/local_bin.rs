//! A plain `npx prisma` starts the app's own `node_modules/.bin/prisma` without
//! npx (the file npx would start), with the real Prisma CLI and a real cluster;
//! `resolve_bin = false` and an app without that file keep the configured command.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::{Out, TempDir};
use crate::prisma_app::{tasks_toml, Options, PrismaApp, INIT, MIGRATION};

/// A directory holding an `npx` that records each call in `calls` and fails.
/// A fake executable only to prove that npx is NOT started (the brief allows a
/// fake for that alone): had the run started it, the deploy would fail and the
/// file would say so.
struct FakeNpx {
    dir: TempDir,
}

impl FakeNpx {
    fn new() -> FakeNpx {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("fake-npx");
        let calls = dir.path().join("calls");
        let script = format!(
            "#!/bin/sh\necho \"npx $*\" >> '{}'\necho 'fake npx: must not be started' >&2\nexit 97\n",
            calls.display()
        );
        let npx = dir.path().join("npx");
        std::fs::write(&npx, script).unwrap();
        std::fs::set_permissions(&npx, std::fs::Permissions::from_mode(0o755)).unwrap();
        FakeNpx { dir }
    }

    /// `PATH` with the fake first.
    fn path(&self) -> std::ffi::OsString {
        let rest = std::env::var_os("PATH").unwrap_or_default();
        std::env::join_paths(std::iter::once(self.dir.path().to_path_buf()).chain(std::env::split_paths(&rest)))
            .unwrap()
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("calls")).unwrap_or_default()
    }
}

fn prisma_events(app: &PrismaApp, event: &str) -> Vec<Value> {
    app.audit().into_iter().filter(|l| l["event"] == event).collect()
}

fn bin_of(app: &PrismaApp) -> PathBuf {
    app.path().join("Backend/node_modules/.bin/prisma")
}

#[track_caller]
fn assert_contains(haystack: &str, needle: &str) {
    assert!(haystack.contains(needle), "expected to find {needle:?} in:\n{haystack}");
}

#[test]
fn plain_npx_prisma_runs_the_installed_cli_without_npx() {
    let app = PrismaApp::new();
    let npx = FakeNpx::new();
    let bin = bin_of(&app);

    let plan = app.xtask().env("PATH", npx.path()).args(["deploy", "--dry-run"]).run();
    plan.expect_code(0);
    assert_contains(&plan.all(), "npx prisma migrate deploy --schema");
    assert_contains(&plan.all(), &format!("runs {} directly", bin.display()));

    let out: Out = app.xtask().env("PATH", npx.path()).args(["deploy", "--report", "report.json"]).run();
    out.expect_code(0);
    assert_eq!(npx.calls(), "", "npx was started:\n{}", out.all());
    assert_eq!(app.states(), crate::prisma_app::ledger(&[(INIT, "applied"), (MIGRATION, "applied")]));
    // The output and the log name the command as configured, and the file that ran.
    assert_contains(&out.all(), "$ npx prisma migrate deploy --schema");
    assert_contains(&out.all(), &format!("runs {}", bin.display()));
    for event in ["prisma-start", "prisma"] {
        let lines = prisma_events(&app, event);
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(lines[0]["command"].as_str().unwrap().starts_with("npx prisma migrate deploy"), "{}", lines[0]);
        assert_eq!(lines[0]["program"], bin.display().to_string(), "{}", lines[0]);
    }
    let report = app.report("report.json");
    assert_eq!(report["prisma_calls"][0]["program"], bin.display().to_string(), "{report:#}");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(crate::prisma_app::repo_root().join("docs/report-v1.schema.json")).unwrap(),
    )
    .unwrap();
    crate::report::validate(&schema, &report, "report").unwrap();
}

#[test]
fn resolve_bin_false_keeps_npx() {
    let app = PrismaApp::new();
    let toml = tasks_toml(&Options::default());
    let plain = "command = [\"npx\", \"prisma\"]\n";
    assert!(toml.contains(plain));
    app.project.file("tasks.toml", &toml.replace(plain, &format!("{plain}resolve_bin = false\n")));

    let plan = app.xtask().args(["deploy", "--dry-run"]).run();
    plan.expect_code(0);
    assert!(!plan.all().contains("directly"), "{}", plan.all());

    // The real npx runs (the fake one would fail this deploy: see the test above).
    let out = app.xtask().arg("deploy").run();
    out.expect_code(0);
    assert!(!out.all().contains(&format!("runs {}", bin_of(&app).display())), "{}", out.all());
    let calls = prisma_events(&app, "prisma");
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert!(calls[0].get("program").is_none(), "{}", calls[0]);
    assert_eq!(app.states(), crate::prisma_app::ledger(&[(INIT, "applied"), (MIGRATION, "applied")]));
}

/// `dir/node_modules` as links to each entry of `real`, without `.bin/prisma`: the
/// packages are installed, the Prisma CLI's bin link is not.
pub(crate) fn node_modules_without_the_bin(real: &Path, dir: &Path) {
    std::fs::remove_file(dir).expect("the app copy's node_modules is a link");
    std::fs::create_dir_all(dir.join(".bin")).unwrap();
    for entry in std::fs::read_dir(real).unwrap().flatten() {
        if entry.file_name() != ".bin" {
            std::os::unix::fs::symlink(entry.path(), dir.join(entry.file_name())).unwrap();
        }
    }
    for entry in std::fs::read_dir(real.join(".bin")).unwrap().flatten() {
        if entry.file_name() != "prisma" {
            std::os::unix::fs::symlink(entry.path(), dir.join(".bin").join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn without_the_installed_bin_the_configured_command_stays() {
    let app = PrismaApp::new();
    let real = crate::prisma_app::repo_root().join("Backend/node_modules");
    node_modules_without_the_bin(&real, &app.path().join("Backend/node_modules"));
    let toml = tasks_toml(&Options::default());
    let plain = "command = [\"npx\", \"prisma\"]\n";
    for (command, shown) in [
        (plain, "npx prisma migrate deploy"),
        ("command = [\"npm\", \"exec\", \"prisma\"]\n", "npm exec prisma migrate deploy"),
    ] {
        app.project.file("tasks.toml", &toml.replace(plain, command));

        // The plan shows the configured command and no file of its own.
        let plan = app.xtask().args(["deploy", "--dry-run"]).run();
        assert_contains(&plan.all(), &format!("{shown} --schema"));
        assert!(!plan.all().contains("directly"), "{}", plan.all());

        // npx (`npm exec`) would fetch the latest Prisma here: the run stops before
        // any backup or Prisma call, as it did before the tool skipped npx (and,
        // for `npm exec`, before this preflight knew it).
        let out = app.xtask().arg("deploy").run();
        out.expect_code(2);
        assert_contains(&out.all(), "the app's Prisma CLI is not installed");
        assert!(app.backups().is_empty(), "{:?}", app.backups());
        assert!(prisma_events(&app, "prisma-start").is_empty());
    }
}
