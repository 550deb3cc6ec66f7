//! `init` at the root of a monorepo whose Prisma app lives in a subfolder: the one
//! app found (npm workspaces, pnpm-workspace.yaml, the usual `apps/*` folders) is
//! adopted with `[prisma] cwd` and paths from the tasks.toml's folder, and then
//! deploys for real; several apps are a choice (nothing written, the commands
//! listed), made with `--app DIR`; node_modules, hidden folders, symbolic links
//! (a loop, a link out of the repository) are never looked into; `--app` outside
//! the repository, at a missing folder or at one without an app is refused.

use std::path::Path;

use pgcluster::{Cluster, ClusterOptions};

use crate::adoption::actionlint;
use crate::harness::{TempDir, Xtask};
use crate::init_hostile::{init, write};
use crate::prisma_app::repo_root;

#[track_caller]
fn assert_contains(hay: &str, needle: &str) {
    assert!(hay.contains(needle), "expected {needle:?} in:\n{hay}");
}

/// Every path below `dir` (not following links), sorted: to prove nothing was written.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn tasks(dir: &Path) -> toml::Table {
    std::fs::read_to_string(dir.join("tasks.toml")).unwrap().parse().expect("tasks.toml parses")
}

const SCHEMA_BASE: &str = "generator client {\n  provider   = \"prisma-client-js\"\n  engineType = \"client\"\n}\n\ndatasource db {\n  provider = \"postgresql\"\n  url      = env(\"DATABASE_URL\")\n}\n";

/// A Turborepo-shaped monorepo (nobody here wrote it): npm workspaces `apps/*`,
/// `packages/*` and `tools/**`, a Next.js app and a UI package that do not use
/// Prisma, and the API in apps/api with Prisma 6's config in prisma.config.ts
/// naming a multi-file schema folder, `prisma/schema`. Things the search must not
/// take for an app: a schema inside node_modules, one in a hidden folder, a link
/// loop under tools/, and a link to a Prisma app outside the repository.
fn turborepo(dir: &Path, outside: &Path) {
    write(
        dir,
        "package.json",
        "{\n  \"name\": \"acme\",\n  \"private\": true,\n  \"workspaces\": [\"apps/*\", \"packages/*\", \"tools/**\"],\n  \"devDependencies\": { \"turbo\": \"^2.3.0\" }\n}\n",
    );
    write(dir, "package-lock.json", "{\n  \"name\": \"acme\",\n  \"lockfileVersion\": 3,\n  \"packages\": {}\n}\n");
    write(dir, "turbo.json", "{ \"tasks\": { \"build\": {} } }\n");
    write(dir, "apps/web/package.json", "{ \"name\": \"@acme/web\", \"dependencies\": { \"next\": \"15.1.0\" } }\n");
    write(dir, "apps/web/app/page.tsx", "export default function Page() { return null }\n");
    write(dir, "packages/ui/package.json", "{ \"name\": \"@acme/ui\", \"dependencies\": { \"react\": \"19.0.0\" } }\n");
    write(dir, "tools/eslint-config/package.json", "{ \"name\": \"@acme/eslint-config\" }\n");

    // The API: the offline test setup's config (Backend/README.md) with this app's paths.
    let config = std::fs::read_to_string(repo_root().join("Backend/prisma.config.ts")).unwrap();
    let config = config
        .replace(r#"path.join("src", "prisma", "db", "schema.prisma")"#, r#"path.join("prisma", "schema")"#)
        .replace(r#"path.join("src", "prisma", "db", "migrations")"#, r#"path.join("prisma", "migrations")"#);
    assert!(config.contains(r#"path.join("prisma", "schema")"#), "Backend/prisma.config.ts changed shape");
    write(dir, "apps/api/prisma.config.ts", &config);
    write(
        dir,
        "apps/api/package.json",
        "{\n  \"name\": \"@acme/api\",\n  \"dependencies\": { \"@prisma/client\": \"6.19.3\", \"@prisma/adapter-pg\": \"6.19.3\" },\n  \"devDependencies\": { \"prisma\": \"6.19.3\" }\n}\n",
    );
    write(dir, "apps/api/prisma/schema/base.prisma", SCHEMA_BASE);
    write(
        dir,
        "apps/api/prisma/schema/orders.prisma",
        "model Order {\n  id    Int    @id @default(autoincrement())\n  total Int\n}\n",
    );
    write(dir, "apps/api/prisma/migrations/migration_lock.toml", "provider = \"postgresql\"\n");
    write(
        dir,
        "apps/api/prisma/migrations/20250301090000_init/migration.sql",
        "CREATE TABLE \"Order\" (\"id\" SERIAL NOT NULL, \"total\" INTEGER NOT NULL, CONSTRAINT \"Order_pkey\" PRIMARY KEY (\"id\"));\n",
    );
    // The app's installed packages (the example app's, linked: the offline Prisma CLI).
    std::os::unix::fs::symlink(repo_root().join("Backend/node_modules"), dir.join("apps/api/node_modules")).unwrap();

    // Not apps: a package's own schema in the root node_modules, a hidden cache...
    write(
        dir,
        "node_modules/@legacy/db/package.json",
        "{ \"name\": \"@legacy/db\", \"dependencies\": { \"prisma\": \"5\" } }\n",
    );
    write(dir, "node_modules/@legacy/db/prisma/schema.prisma", SCHEMA_BASE);
    write(dir, ".turbo/cache/prisma/schema.prisma", SCHEMA_BASE);
    // ...a link loop where `tools/**` walks, and a link to an app outside the repository.
    std::os::unix::fs::symlink("..", dir.join("tools/eslint-config/loop")).unwrap();
    write(outside, "prisma/schema.prisma", SCHEMA_BASE);
    write(outside, "package.json", "{ \"name\": \"outside\", \"devDependencies\": { \"prisma\": \"6.19.3\" } }\n");
    std::os::unix::fs::symlink(outside, dir.join("apps/billing")).unwrap();
}

/// The one Prisma app of a monorepo: found below the root, written with `[prisma]
/// cwd` and paths from the tasks.toml's folder, and usable as written: the real
/// Prisma CLI, run in apps/api (where its config and node_modules are), deploys
/// the migration into a real database. Without `cwd` Prisma would run at the root,
/// miss its config and fail; without the search every key was commented out.
#[test]
fn init_adopts_the_one_app_of_a_monorepo_and_it_deploys() {
    let repo = TempDir::new("mono-turbo");
    let outside = TempDir::new("mono-outside");
    let dir = repo.path();
    turborepo(dir, outside.path());

    let out = init(dir).run();
    out.expect_code(0);
    assert_contains(
        &out.stdout,
        "Prisma app: apps/api (the one Prisma app found below the root, which has none of its own); tasks.toml [prisma] cwd = \"apps/api\"",
    );
    assert!(!out.stdout.contains("NOT FOUND, commented out: no Prisma schema"), "{}", out.stdout);
    let t = tasks(dir);
    let prisma = &t["prisma"];
    assert_eq!(prisma["cwd"].as_str(), Some("apps/api"));
    assert_eq!(prisma["schema"].as_str(), Some("apps/api/prisma/schema"));
    assert_eq!(prisma["migrations"].as_str(), Some("apps/api/prisma/migrations"));
    assert_eq!(prisma["command"].as_array().unwrap().len(), 3);
    assert_eq!(t["database"]["url_env"].as_str(), Some("DATABASE_URL"));
    let text = std::fs::read_to_string(dir.join("tasks.toml")).unwrap();
    assert_contains(&text, "from `schema` in apps/api/prisma.config.ts");
    assert_contains(&text, "the project's own CLI, apps/api/node_modules/.bin/prisma (prisma 6.19.3)");
    // The paths resolve from the tasks.toml's folder.
    assert!(dir.join("apps/api/prisma/schema/base.prisma").is_file());
    assert!(dir.join(prisma["migrations"].as_str().unwrap()).join("20250301090000_init").is_dir());
    // Nothing was written into the apps, nothing outside.
    assert!(!dir.join("apps/api/tasks.toml").exists() && !outside.path().join("tasks.toml").exists());

    Xtask::new(dir).arg("--list").run().expect_code(0);
    let cluster = Cluster::start(
        &dir.join("pg"),
        &ClusterOptions { tls: false, superuser_password: format!("mono-{}-pw", std::process::id()) },
    )
    .expect("start a cluster");
    cluster.create_database("acme").unwrap();
    let url = cluster.url("acme");
    let plan = Xtask::new(dir).args(["deploy", "--dry-run"]).env("DATABASE_URL", &url).run();
    plan.expect_code(0);
    assert_contains(&plan.stdout, &format!("migrate deploy --schema {}", dir.join("apps/api/prisma/schema").display()));
    // init's `npx --no-install prisma` starts the app's installed CLI without npx.
    assert_contains(
        &plan.stdout,
        &format!("runs {} directly", dir.join("apps/api/node_modules/.bin/prisma").display()),
    );
    let deploy = Xtask::new(dir).args(["deploy", "--no-progress"]).env("DATABASE_URL", &url).run();
    deploy.expect_code(0);
    assert!(!deploy.all().contains(cluster.password()), "password shown:\n{}", deploy.all());
    let applied =
        cluster.psql("acme", "SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL").unwrap();
    assert_contains(&applied, "20250301090000_init");
    assert_contains(&cluster.psql("acme", "SELECT count(*) FROM \"Order\"").unwrap(), "0");
    Xtask::new(dir).arg("status").env("DATABASE_URL", &url).run().expect_code(0);
}

/// Two apps in npm workspaces (the object form, in folders no default glob names):
/// no key of Prisma's is guessed, nothing is written, and the message lists each
/// app with the command that chooses it; that command, run as printed, adopts it.
/// An app that only uses the client (no schema) is not a candidate beside them.
/// `--app` outside the repository, at a missing folder or at one without an app:
/// refused, nothing written.
#[test]
fn several_apps_are_a_choice_made_with_app() {
    let repo = TempDir::new("mono-two");
    let dir = repo.path();
    write(
        dir,
        "package.json",
        "{ \"name\": \"shop\", \"private\": true, \"workspaces\": { \"packages\": [\"backend/*\", \"web\"] } }\n",
    );
    for (app, var) in [("backend/accounts", "ACCOUNTS_DATABASE_URL"), ("backend/billing", "BILLING_DATABASE_URL")] {
        write(dir, &format!("{app}/package.json"), "{ \"devDependencies\": { \"prisma\": \"^6.19.0\" } }\n");
        write(
            dir,
            &format!("{app}/prisma/schema.prisma"),
            &format!("datasource db {{\n  provider = \"postgresql\"\n  url      = env(\"{var}\")\n}}\n"),
        );
        std::fs::create_dir_all(dir.join(app).join("prisma/migrations/20250101000000_init")).unwrap();
    }
    write(dir, "web/package.json", "{ \"dependencies\": { \"@prisma/client\": \"^6.19.0\", \"next\": \"15\" } }\n");
    write(dir, "docs/README.md", "# docs\n");
    let before = tree(dir);

    let out = init(dir).run();
    out.expect_code(2);
    assert_contains(
        &out.stderr,
        "2 Prisma apps found below the root and none at it (backend/accounts, backend/billing): nothing was written",
    );
    assert!(!out.stderr.contains("--app web"), "{}", out.stderr);
    assert_eq!(tree(dir), before, "init wrote files:\n{}", out.all());
    let commands: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("  ")).map(str::trim).collect();
    assert_eq!(commands.len(), 2, "{}", out.stderr);
    assert!(
        commands[0].contains(" init --source ") && commands[0].ends_with(" --app backend/accounts"),
        "{}",
        commands[0]
    );
    assert!(
        commands[1].contains(" init --source ") && commands[1].ends_with(" --app backend/billing"),
        "{}",
        commands[1]
    );

    // The printed command, as printed (its first words are how the tool was invoked).
    let words: Vec<&str> = commands[1].split(' ').skip_while(|w| *w != "init").collect();
    let chosen = Xtask::new(dir).args(&words).run();
    chosen.expect_code(0);
    assert_contains(&chosen.stdout, "Prisma app: backend/billing (from --app)");
    let t = tasks(dir);
    assert_eq!(t["prisma"]["cwd"].as_str(), Some("backend/billing"));
    assert_eq!(t["prisma"]["schema"].as_str(), Some("backend/billing/prisma/schema.prisma"));
    assert_eq!(t["prisma"]["migrations"].as_str(), Some("backend/billing/prisma/migrations"));
    assert_eq!(t["database"]["url_env"].as_str(), Some("BILLING_DATABASE_URL"));
    Xtask::new(dir).arg("--list").run().expect_code(0);

    // Bad --app: one line each, exit 2, nothing written.
    let other = TempDir::new("mono-two-outside");
    write(other.path(), "prisma/schema.prisma", "datasource db {\n  provider = \"postgresql\"\n}\n");
    let fresh = TempDir::new("mono-two-bad");
    let d = fresh.path();
    std::fs::create_dir_all(d.join("backend/accounts/prisma")).unwrap();
    write(d, "backend/accounts/prisma/schema.prisma", "datasource db {\n  provider = \"postgresql\"\n}\n");
    write(d, "docs/README.md", "# docs\n");
    let outside_rel = format!("../{}", other.path().file_name().unwrap().to_string_lossy());
    let before = tree(d);
    for (app, why) in [
        (outside_rel.as_str(), "is outside this repository"),
        ("../no-such-folder", "is outside this repository"),
        ("backend/payments", "does not exist"),
        ("docs", "it holds no Prisma app"),
    ] {
        let bad = init(d).args(["--app", app]).run();
        bad.expect_code(2);
        assert_contains(&bad.stderr, &format!("--app {app}: {why}"));
        assert_contains(&bad.stderr, "nothing was written");
        assert_eq!(bad.stderr.trim().lines().count(), 1, "{}", bad.stderr);
        assert_eq!(tree(d), before, "--app {app} wrote files");
    }
}

/// pnpm: the app is found through pnpm-workspace.yaml (a `!` pattern excludes a
/// legacy one), the package manager and lock file are the root's, and the CI
/// workflow installs at the root. A root with its own app keeps it by default;
/// `--app` adopts another (here with its own lock file: the workflow installs in
/// its folder), and both workflows pass actionlint.
#[test]
fn pnpm_workspaces_and_app_beside_a_root_app() {
    let repo = TempDir::new("mono-pnpm");
    let dir = repo.path();
    write(dir, "package.json", "{ \"name\": \"platform\", \"private\": true }\n");
    write(dir, "pnpm-workspace.yaml", "packages:\n  - 'platform/*'\n  - '!platform/legacy'\n");
    write(dir, "pnpm-lock.yaml", "lockfileVersion: '9.0'\n");
    write(dir, ".git/HEAD", "ref: refs/heads/main\n");
    for app in ["platform/db", "platform/legacy"] {
        write(dir, &format!("{app}/package.json"), "{ \"dependencies\": { \"@prisma/client\": \"6.19.3\" } }\n");
        write(
            dir,
            &format!("{app}/schema.prisma"),
            "datasource db {\n  provider = \"postgresql\"\n  url      = env(\"PLATFORM_DB_URL\")\n}\n",
        );
        std::fs::create_dir_all(dir.join(app).join("migrations")).unwrap();
    }
    let out = init(dir).args(["--ci", "github"]).run();
    out.expect_code(0);
    assert_contains(&out.stdout, "Prisma app: platform/db (the one Prisma app found below the root");
    let t = tasks(dir);
    assert_eq!(t["prisma"]["cwd"].as_str(), Some("platform/db"));
    assert_eq!(t["prisma"]["schema"].as_str(), Some("platform/db/schema.prisma"));
    assert_eq!(t["prisma"]["migrations"].as_str(), Some("platform/db/migrations"));
    assert_eq!(t["database"]["url_env"].as_str(), Some("PLATFORM_DB_URL"));
    let wf_path = dir.join(".github/workflows/deploy-migrations.yml");
    let wf = std::fs::read_to_string(&wf_path).unwrap();
    assert_contains(&wf, "cache-dependency-path: pnpm-lock.yaml");
    assert_contains(&wf, "run: pnpm install --frozen-lockfile");
    assert!(!wf.contains("working-directory"), "{wf}");
    let lint = actionlint(dir, &wf_path);
    assert_eq!((lint.code, lint.stdout.as_str()), (Some(0), ""), "actionlint: {}", lint.all());

    // A root with its own app: kept by default; --app adopts another one.
    let repo = TempDir::new("mono-rootapp");
    let dir = repo.path();
    write(dir, "package.json", "{ \"name\": \"monolith\", \"devDependencies\": { \"prisma\": \"6.19.3\" } }\n");
    write(
        dir,
        "prisma/schema.prisma",
        "datasource db {\n  provider = \"postgresql\"\n  url = env(\"DATABASE_URL\")\n}\n",
    );
    std::fs::create_dir_all(dir.join("prisma/migrations")).unwrap();
    write(dir, "tools/audit-db/package.json", "{ \"devDependencies\": { \"prisma\": \"6.19.3\" } }\n");
    write(dir, "tools/audit-db/package-lock.json", "{ \"lockfileVersion\": 3, \"packages\": {} }\n");
    write(
        dir,
        "tools/audit-db/prisma/schema.prisma",
        "datasource db {\n  provider = \"postgresql\"\n  url = env(\"AUDIT_URL\")\n}\n",
    );
    std::fs::create_dir_all(dir.join("tools/audit-db/prisma/migrations")).unwrap();
    write(dir, ".git/HEAD", "ref: refs/heads/main\n");
    let out = init(dir).run();
    out.expect_code(0);
    assert!(!out.stdout.contains("Prisma app:"), "{}", out.stdout);
    let t = tasks(dir);
    assert!(t["prisma"].get("cwd").is_none());
    assert_eq!(t["prisma"]["schema"].as_str(), Some("prisma/schema.prisma"));

    write(dir, "tools/audit-db/.env", "AUDIT_URL=postgresql://localhost/audit\n");
    let out = init(dir).args(["--app", "./tools/audit-db/", "--force", "--ci", "github"]).run();
    out.expect_code(0);
    assert_contains(&out.stdout, "to do: tools/audit-db/.env is not read by the tool");
    let t = tasks(dir);
    assert_eq!(t["prisma"]["cwd"].as_str(), Some("tools/audit-db"));
    assert_eq!(t["prisma"]["schema"].as_str(), Some("tools/audit-db/prisma/schema.prisma"));
    assert_eq!(t["database"]["url_env"].as_str(), Some("AUDIT_URL"));
    let wf_path = dir.join(".github/workflows/deploy-migrations.yml");
    let wf = std::fs::read_to_string(&wf_path).unwrap();
    assert_contains(&wf, "cache-dependency-path: tools/audit-db/package-lock.json");
    assert_contains(&wf, "working-directory: tools/audit-db\n        run: npm ci");
    let lint = actionlint(dir, &wf_path);
    assert_eq!((lint.code, lint.stdout.as_str()), (Some(0), ""), "actionlint: {}", lint.all());
    // Adopted already: `init --ci github` alone writes the same workflow, for the
    // app tasks.toml's `[prisma] cwd` names.
    std::fs::remove_file(&wf_path).unwrap();
    // With --app and no --force it would write tasks.toml's app's workflow, not the
    // one asked for: refused, nothing written.
    let before = tree(dir);
    let out = Xtask::new(dir).args(["init", "--ci", "github", "--app", "."]).run();
    out.expect_code(2);
    assert_contains(&out.stderr, "--app . chooses the app when init writes tasks.toml");
    assert_eq!(tree(dir), before);
    Xtask::new(dir).args(["init", "--ci", "github"]).run().expect_code(0);
    assert_eq!(std::fs::read_to_string(&wf_path).unwrap(), wf);
}
