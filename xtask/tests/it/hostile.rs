//! Hostile input and secrets, against the real binary (issue 10, items 3, 4, 6, 8):
//! workflow commands hidden in child output and in migration names (GitHub mode),
//! a malformed URL's password, the documented boolean environment values, and the
//! password in no child's argv.

use std::collections::BTreeMap;
use std::path::Path;

use pgcluster::{Cluster, ClusterOptions};

use crate::harness::{Out, Project};
use crate::prisma_app::{Options, PrismaApp, MIGRATION};

/// The commands GitHub's runner would obey in `log`, in order, as (name, data):
/// the rules of actions/runner's ActionCommandManager: `::name props::data` at the
/// start of a line after blanks, `##[name props]data` anywhere in a line, lines
/// split at CR and LF, and nothing but the resume token obeyed after
/// `::stop-commands::TOKEN`.
fn obeyed_commands(log: &str) -> Vec<(String, String)> {
    const REGISTERED: &[&str] = &[
        "add-mask",
        "add-matcher",
        "add-path",
        "debug",
        "echo",
        "endgroup",
        "error",
        "group",
        "notice",
        "remove-matcher",
        "save-state",
        "set-env",
        "set-output",
        "stop-commands",
        "warning",
    ];
    let mut stopped: Option<String> = None;
    let mut obeyed = Vec::new();
    for line in log.split(['\n', '\r']) {
        let parsed = {
            let t = line.trim_start();
            let v2 = t.strip_prefix("::").and_then(|r| r.split_once("::"));
            let v1 = line.find("##[").and_then(|i| line[i + 3..].split_once(']'));
            v2.or(v1).map(|(info, data)| (info.split(' ').next().unwrap_or("").to_string(), data.to_string()))
        };
        let Some((name, data)) = parsed else { continue };
        match &stopped {
            Some(token) if &name == token => stopped = None,
            Some(_) => {}
            None if REGISTERED.contains(&name.as_str()) => {
                if name == "stop-commands" {
                    stopped = Some(data.clone());
                }
                obeyed.push((name, data));
            }
            None => {}
        }
    }
    obeyed
}

fn count(obeyed: &[(String, String)]) -> BTreeMap<&str, usize> {
    let mut m = BTreeMap::new();
    for (name, _) in obeyed {
        *m.entry(name.as_str()).or_default() += 1;
    }
    m
}

/// Commands hidden in every kind of data the tool prints.
const INJECTED: &str = "::add-mask::Zq7mask\n::warning title=pwned::injected-warning\n  ::error::injected-indented\r::set-output name=x::injected-cr\nsee ##[warning]injected-v1";

#[test]
fn github_mode_obeys_no_command_from_child_output() {
    let p = Project::new(&format!(
        "[tasks.noisy]\nrun = [\"sh\", \"-c\", \"printf '%s\\\\n' \\\"$1\\\"; printf '%s\\\\n' \\\"$1\\\" >&2; exit 3\", \"noisy\", {:?}]\n",
        INJECTED
    ));
    let out = p.xtask().arg("noisy").env("CI", "true").env("GITHUB_ACTIONS", "true").run();
    out.expect_code(1);
    // The child's text is shown as it came...
    assert!(out.stderr.contains("::warning title=pwned::injected-warning"), "{}", out.stderr);
    assert!(out.stderr.contains("##[warning]injected-v1"), "{}", out.stderr);
    // ...and the runner obeys only what the tool wrote: its group and one annotation.
    let obeyed = obeyed_commands(&out.stderr);
    assert_eq!(
        count(&obeyed),
        BTreeMap::from([("endgroup", 1), ("error", 1), ("group", 1), ("stop-commands", 4)]),
        "{obeyed:?}\n{}",
        out.stderr
    );
    assert!(obeyed.iter().any(|(n, d)| n == "group" && d == "task noisy"), "{obeyed:?}");
    // Processing is handed back at the end, for the rest of the step.
    let token = &obeyed[0].1;
    assert_eq!(out.stderr.lines().last(), Some(format!("::{token}::").as_str()), "{}", out.stderr);
}

#[test]
fn github_mode_obeys_no_command_from_migration_names_on_disk_or_in_the_database() {
    let name = format!("20260101000000_x\n{INJECTED}");
    let base = std::env::temp_dir().join(format!("xtask-it-hostile-names-{}", std::process::id()));
    let cluster =
        Cluster::start(&base, &ClusterOptions { tls: false, superuser_password: "ho-Zq7-pw".into() }).unwrap();
    cluster.create_database("app").unwrap();
    let sql = "CREATE TABLE a (id int);\n";
    cluster
        .psql(
            "app",
            &format!(
                "CREATE TABLE _prisma_migrations (id VARCHAR(36) PRIMARY KEY, checksum VARCHAR(64) NOT NULL, \
                 finished_at TIMESTAMPTZ, migration_name VARCHAR(255) NOT NULL, logs TEXT, rolled_back_at TIMESTAMPTZ, \
                 started_at TIMESTAMPTZ NOT NULL DEFAULT now(), applied_steps_count INTEGER NOT NULL DEFAULT 0); \
                 INSERT INTO _prisma_migrations (id, checksum, migration_name, logs) VALUES ('1', 'x', '{}', \
                 'Database error code: 42P07\n\nDatabase error:\nERROR: relation \"a\" already exists\n{}')",
                name.replace('\'', "''"),
                INJECTED.replace('\'', "''")
            ),
        )
        .unwrap();
    let p = Project::new(
        "[prisma]\nmigrations = \"migrations\"\n\n[tasks.status]\nuses = \"status\"\n\n[tasks.diagnose]\nuses = \"diagnose\"\n",
    );
    // A folder whose name holds a newline and workflow commands.
    p.file(&format!("migrations/{name}/migration.sql"), sql);
    let summary = p.path().join("summary.md");
    for task in ["status", "diagnose"] {
        let out = p
            .xtask()
            .arg(task)
            .env("DATABASE_URL", cluster.url("app"))
            .env("CI", "true")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &summary)
            .run();
        assert!(matches!(out.code, Some(0) | Some(4)), "{task}: {out:?}");
        assert!(out.all().contains("injected-warning"), "{task}: the name is shown: {}", out.all());
        let obeyed = obeyed_commands(&out.stderr);
        let counts = count(&obeyed);
        assert!(
            !counts.contains_key("add-mask") && !counts.contains_key("warning") && !counts.contains_key("set-output"),
            "{task}: {obeyed:?}\n{}",
            out.stderr
        );
        assert_eq!(counts.get("group"), Some(&1), "{task}: {obeyed:?}");
        assert!(counts.get("error").copied().unwrap_or(0) <= 1, "{task}: {obeyed:?}");
        // Everything the tool prints on stdout comes after it stopped the runner's
        // command processing (first line of stderr) and before it resumed (last).
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert!(lines.first().is_some_and(|l| l.starts_with("::stop-commands::xtask-")), "{task}: {}", out.stderr);
        assert!(lines.last().is_some_and(|l| l.starts_with("::xtask-")), "{task}: {}", out.stderr);
        // An annotation carries the name escaped, as one command.
        for (n, data) in obeyed.iter().filter(|(n, _)| n == "error") {
            assert!(!data.contains('\n') && data.contains("%0A::warning title=pwned"), "{n}: {data}");
        }
    }
}

const MALFORMED: &str = "postgresql://app:Tr0ub4dor/X9@db.internal:5432/school";

fn assert_no_password(what: &str, text: &str) {
    for piece in ["Tr0ub4dor", "X9@", "ub4dor/"] {
        assert!(!text.contains(piece), "{what} shows `{piece}` of the password:\n{text}");
    }
}

#[test]
fn malformed_url_password_is_in_no_output_report_or_annotation() {
    let p = Project::new(
        r#"
[tasks.echo-url]
run = ["sh", "-c", "echo connecting to $DATABASE_URL"]

[tasks.backup]
uses = "backup"

[tasks.deploy]
deps = ["backup"]
uses = "prisma-deploy"
"#,
    );
    let summary = p.path().join("summary.md");
    let run = |task: &str| {
        p.xtask()
            .arg(task)
            .args(["--report", "report.json"])
            .env("DATABASE_URL", MALFORMED)
            .env("CI", "true")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &summary)
            .run()
    };
    // A child printing the URL: masked as a whole.
    let out = run("echo-url");
    out.expect_code(0);
    assert_no_password("child output", &out.all());
    assert!(out.stderr.contains("connecting to postgresql://app:***@db.internal:5432/school"), "{}", out.stderr);

    // The backup (URL read by the task) and the deploy (URL read by the lock first).
    // deploy: the preflight finds the URL before anything runs, a configuration error
    // (exit 2, issue 11); a plain backup has no preflight and fails its task (exit 1).
    for (task, code) in [("backup", 1), ("deploy", 2)] {
        let out = run(task);
        out.expect_code(code);
        let stderr = &out.stderr;
        assert_no_password(&format!("{task} output"), &out.all());
        assert!(
            stderr.contains("DATABASE_URL is not a valid PostgreSQL URL: it has an `@` after a `/`, `?` or `#`: the password may contain a character that must be percent-encoded (`/` `?` `#` `@`)"),
            "{task}: {stderr}"
        );
        assert!(stderr.lines().any(|l| l.starts_with("::error title=") && l.contains("percent-encoded")), "{stderr}");
        let report = p.read("report.json");
        // A run stopped by the lock step has no task error to report (the report
        // has no field for it); the backup task's error carries the cause.
        if task == "backup" {
            assert!(report.contains("percent-encoded"), "{task}: {report}");
        }
        assert_no_password(&format!("{task} report"), &report);
    }
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("`cargo xtask deploy`: failed"), "{md}");
    assert_no_password("step summary", &md);
}

#[test]
fn boolean_env_flags_accept_the_usual_values() {
    let base = std::env::temp_dir().join(format!("xtask-it-hostile-bool-{}", std::process::id()));
    let cluster =
        Cluster::start(&base, &ClusterOptions { tls: false, superuser_password: "bo-Zq7-pw".into() }).unwrap();
    cluster.create_database("app").unwrap();
    cluster.psql("app", "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2);").unwrap();
    let p = Project::new("[tasks.backup]\nuses = \"backup\"\n\n[tasks.restore]\nuses = \"restore\"\n");
    let url = cluster.url("app");
    p.xtask().arg("backup").env("DATABASE_URL", &url).run().expect_code(0);
    let file = std::fs::read_dir(p.path().join("backups"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|f| f.extension().is_some_and(|e| e == "sql"))
        .expect("a backup");
    let restore = |yes: &str| p.xtask().arg("restore").arg(&file).env("DATABASE_URL", &url).env("XTASK_YES", yes).run();
    // Restoring over the live database without a terminal needs a yes.
    for no in ["0", "false", "no", "off", "NO"] {
        let out = restore(no);
        out.expect_code(2);
        assert!(out.stderr.contains("--yes"), "XTASK_YES={no}: {}", out.stderr);
        assert!(!out.stderr.contains("invalid value"), "XTASK_YES={no}: {}", out.stderr);
    }
    for yes in ["1", "true", "yes", "on", "TRUE"] {
        restore(yes).expect_code(0);
        assert_eq!(cluster.psql("app", "SELECT count(*) FROM t").unwrap().trim(), "2", "XTASK_YES={yes}");
    }
    let bad = restore("maybe");
    bad.expect_code(2);
    assert!(bad.stderr.contains("invalid value 'maybe'"), "{}", bad.stderr);

    for v in ["1", "0", "true", "false", "yes", "no"] {
        let out = p.xtask().arg("--list").env("XTASK_NO_PROGRESS", v).run();
        out.expect_code(0);
        let out = p.xtask().arg("backup").env("DATABASE_URL", &url).env("XTASK_NO_PROGRESS", v).run();
        out.expect_code(0);
    }
}

/// A recording wrapper for `program`: logs its argv (one line per call), then
/// execs the real program with the same arguments. It only observes; the real
/// tool does all the work.
fn recording_wrapper(dir: &Path, program: &str, log: &Path) {
    let real = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join(program)).find(|f| f.is_file()))
        .unwrap_or_else(|| panic!("{program} is not on PATH"));
    write_wrapper(&dir.join(program), program, &real, log);
}

/// A recording wrapper at `path` that logs `name` and its argv, then execs `real`.
fn write_wrapper(path: &Path, name: &str, real: &Path, log: &Path) {
    let script =
        format!("#!/bin/sh\nprintf '%s\\n' \"{name} $*\" >> '{}'\nexec '{}' \"$@\"\n", log.display(), real.display());
    std::fs::write(path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn no_child_of_the_tool_gets_the_password_in_argv() {
    let app =
        PrismaApp::with(Options { extra_toml: "[tasks.restore]\nuses = \"restore\"\n".into(), ..Options::default() });
    app.production_state();
    let wrappers = app.path().join("wrappers");
    std::fs::create_dir_all(&wrappers).unwrap();
    let log = app.path().join("argv.log");
    for program in ["pg_dump", "psql", "pg_restore", "npx"] {
        recording_wrapper(&wrappers, program, &log);
    }
    // `npx prisma` starts the app's node_modules/.bin/prisma directly (prisma::direct):
    // that file becomes a recording wrapper in front of the real CLI.
    let node_modules = app.path().join("Backend/node_modules");
    let real = std::fs::canonicalize(&node_modules).unwrap();
    crate::local_bin::node_modules_without_the_bin(&real, &node_modules);
    let real_bin = std::fs::canonicalize(real.join(".bin/prisma")).unwrap();
    write_wrapper(&node_modules.join(".bin/prisma"), "prisma", &real_bin, &log);
    let path = format!("{}:{}", wrappers.display(), std::env::var("PATH").unwrap_or_default());
    // Backup, P3009, evidence, resolve --rolled-back, deploy: every kind of child.
    let out: Out = app.xtask().arg("deploy").env("PATH", &path).run();
    out.expect_code(0);
    let backup = app.backups().pop().expect("a backup");
    app.xtask().arg("restore").arg(&backup).args(["--into", "school_check"]).env("PATH", &path).run().expect_code(0);
    let argv = std::fs::read_to_string(&log).unwrap();
    for program in ["pg_dump ", "psql ", "prisma migrate deploy", "prisma migrate resolve --rolled-back"] {
        assert!(argv.lines().any(|l| l.starts_with(program)), "no `{program}` call recorded:\n{argv}");
    }
    assert!(argv.contains(MIGRATION), "{argv}");
    assert!(!argv.lines().any(|l| l.starts_with("npx ")), "npx was started:\n{argv}");
    let password = app.password();
    assert!(!argv.contains(password), "the password is in a child's argv:\n{argv}");
    assert!(!argv.contains("connection_limit"), "Prisma's URL is in a child's argv:\n{argv}");
}

/// Issue 24, item 8: a URL whose `@` is missing, percent-encoded or doubled cannot
/// be split into user, password and host unambiguously (libpq would read a piece of
/// the password as the host or port, print it decoded, and pg_dump would get it in
/// argv). Each is refused before any child starts, quoting none of it.
#[test]
fn a_url_with_its_at_sign_lost_or_doubled_starts_no_child_and_shows_nothing() {
    let p = Project::new(
        r#"
[prisma]
migrations = "migrations"

[tasks.backup]
uses = "backup"

[tasks.status]
uses = "status"

[tasks.deploy]
deps = ["backup"]
uses = "prisma-deploy"
"#,
    );
    std::fs::create_dir_all(p.path().join("migrations/20260101000000_init")).unwrap();
    std::fs::write(p.path().join("migrations/20260101000000_init/migration.sql"), "CREATE TABLE t (id int);\n")
        .unwrap();
    let wrappers = p.path().join("wrappers");
    std::fs::create_dir_all(&wrappers).unwrap();
    let log = p.path().join("argv.log");
    for program in ["pg_dump", "psql", "pg_restore", "npx"] {
        recording_wrapper(&wrappers, program, &log);
    }
    let path = format!("{}:{}", wrappers.display(), std::env::var("PATH").unwrap_or_default());
    let password = "Qv7Kw!Zx";
    for url in [
        format!("postgresql://app:{password}db.internal:5432/school"),
        format!("postgresql://app:{password}%40db.internal:5432/school"),
        format!("postgresql://app:{password}%40db.internal/school"),
        format!("postgresql://app:{password}@{password}@db.internal:5432/school"),
        format!("postgresql://app:{password}db.internal/school"),
    ] {
        for task in ["backup", "status", "deploy"] {
            let out = p
                .xtask()
                .arg(task)
                .args(["--report", "report.json"])
                .env("DATABASE_URL", &url)
                .env("PATH", &path)
                .run();
            assert!(out.code.is_some_and(|c| c != 0), "{task} with {url}: {}", out.all());
            assert!(
                out.stderr.contains("DATABASE_URL is not a valid PostgreSQL URL"),
                "{task} with {url}: {}",
                out.stderr
            );
            for text in [out.all(), p.read("report.json")] {
                for piece in ["Qv7", "Kw!", "!Zx", "v7K", "w!Z", "db.internal"] {
                    assert!(!text.contains(piece), "{task} with {url} shows `{piece}`:\n{text}");
                }
            }
            assert!(!log.exists(), "{task} with {url} started a child:\n{}", std::fs::read_to_string(&log).unwrap());
        }
    }
}
