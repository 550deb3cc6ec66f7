//! The GitHub Actions workflow `init --ci github` writes: `cargo xtask deploy` for
//! this repository (its lock file and package manager, its URL variables), on a
//! GitHub-hosted runner (the backup directory uploaded as an artifact, also after
//! a failure) or on a self-hosted runner on the production host (backups kept in
//! a directory outside the workspace). It installs nothing the runner already has:
//! hosted runners come with Rust and a PostgreSQL client; a self-hosted one is
//! checked for them instead. Every value put in the YAML is one of a few known
//! words or a checked variable name: nothing detected is pasted in as it is.

use super::detect::{Detection, PackageManager};
use crate::exit::Failure;

/// Where the workflow goes.
pub(crate) const PATH: &str = ".github/workflows/deploy-migrations.yml";

/// The runner the workflow deploys from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Runner {
    /// A GitHub-hosted runner: its disk goes with the job, so the backups are uploaded.
    Hosted,
    /// A self-hosted runner on the production host: backups stay on the host.
    SelfHosted,
}

/// What the workflow needs from the repository.
pub(crate) struct Inputs<'a> {
    pub detection: &'a Detection,
    /// The URL variables, in the order tasks.toml names them (DATABASE_URL by default).
    pub url_vars: Vec<String>,
    /// The branch whose pushes deploy.
    pub branch: String,
    /// A name for the self-hosted runner's backup directory.
    pub app: String,
    pub lock_file: Option<&'static str>,
    /// The lock file's folder relative to the root ("" for the root): where the
    /// packages are installed.
    pub lock_dir: String,
}

/// An environment variable name the workflow may mention.
fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with("GITHUB_")
}

/// A branch or app name put in the YAML: letters, digits and `._/-` only.
fn is_plain(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
}

pub(crate) fn render(i: &Inputs, runner: Runner) -> Result<String, Failure> {
    let d = i.detection;
    let mut vars: Vec<String> = i.url_vars.clone();
    if let Some(v) = d.direct_url_env.as_str() {
        vars.push(v.to_string());
    }
    if let Some(bad) = vars.iter().find(|v| !is_var_name(v)) {
        return Err(Failure::usage(format!(
            "--ci github: the URL variable {:?} is not a plain environment variable name: fix url_env in tasks.toml (or the Prisma config), then run init --ci github again; nothing was written",
            super::render::comment(bad)
        )));
    }
    let branch = if is_plain(&i.branch) { i.branch.as_str() } else { "main" };
    let app = if is_plain(&i.app) && !i.app.contains('/') { i.app.as_str() } else { "app" };

    let mut y = String::new();
    y.push_str(&header(runner, &vars));
    y.push_str(&job(runner, branch, app));
    y.push_str("    steps:\n      - uses: actions/checkout@v4\n\n");
    if runner == Runner::SelfHosted {
        y.push_str(
            r#"      # Installed once on the host, not on every deploy: Rust (rustup), and
      # pg_dump/psql of at least the server's major version.
      - name: Check the tools on the host
        run: |
          for tool in cargo pg_dump psql; do
            command -v "$tool" >/dev/null || { echo "::error::$tool is not installed on this runner: install it once on the host"; exit 1; }
          done

"#,
        );
    }
    y.push_str(
        r#"      # The xtask build, so a deploy does not compile it from scratch.
      - name: Cache the xtask build
        uses: actions/cache@v4
        with:
          path: |
            ~/.cargo/registry
            ~/.cargo/git
            target
          key: xtask-${{ runner.os }}-${{ hashFiles('Cargo.lock', 'xtask/Cargo.toml', 'xtask/src/**') }}
          restore-keys: xtask-${{ runner.os }}-

"#,
    );
    y.push_str(&node_steps(d.package_manager.unwrap_or(PackageManager::Npm), i.lock_file, &install_dir(i)));
    if runner == Runner::SelfHosted {
        y.push_str(
            r#"      # tasks.toml keeps backups in ./backups: here that is the persistent directory.
      - name: Keep backups outside the workspace
        run: |
          mkdir -p "$BACKUP_DIR"
          chmod 700 "$BACKUP_DIR"
          ln -sfn "$BACKUP_DIR" backups

"#,
        );
    }
    y.push_str(&deploy_steps(runner, &vars));
    Ok(y)
}

/// The workflow's trigger, concurrency and the deploy job's runner and environment.
fn job(runner: Runner, branch: &str, app: &str) -> String {
    let mut y = String::new();
    y.push_str(&format!(
        r#"name: deploy-migrations

on:
  workflow_dispatch:
  push:
    branches: [{branch}]

# One deploy at a time; a new push waits instead of cancelling a deploy half-way
# (the tool also holds PostgreSQL advisory locks for the whole run).
concurrency:
  group: deploy-migrations
  cancel-in-progress: false

permissions:
  contents: read

jobs:
  deploy:
"#
    ));
    match runner {
        Runner::Hosted => y.push_str("    runs-on: ubuntu-latest\n"),
        Runner::SelfHosted => y.push_str(
            "    # The runner on the production host; add your label, e.g. [self-hosted, production-db].\n    runs-on: self-hosted\n",
        ),
    }
    y.push_str(
        r#"    environment: production
    timeout-minutes: 30
    env:
      XTASK_REPORT: xtask-report.json
      CARGO_TERM_COLOR: never
"#,
    );
    if runner == Runner::SelfHosted {
        y.push_str(&format!(
            "      # Persistent, outside the workspace: the backups outlive the job.\n      BACKUP_DIR: /var/backups/{app}\n"
        ));
    }
    y
}

/// The deploy step (secrets in its environment, empty ones unset) and the upload
/// of what the run leaves.
fn deploy_steps(runner: Runner, vars: &[String]) -> String {
    let mut y = String::new();
    // Secrets: an unset secret expands to an empty string; the step unsets empty
    // variables so Prisma and the tool see them as not set at all.
    y.push_str("      - name: Deploy migrations\n        env:\n");
    for v in vars {
        y.push_str(&format!("          {v}: ${{{{ secrets.{v} }}}}\n"));
    }
    y.push_str("        run: |\n          # An unset secret arrives as an empty string: unset it instead.\n");
    y.push_str(&format!("          for v in {}; do\n", vars.join(" ")));
    y.push_str("            if [ -z \"${!v}\" ]; then unset \"$v\"; fi\n          done\n");
    y.push_str("          cargo xtask deploy --no-progress --report \"$XTASK_REPORT\"\n\n");
    match runner {
        Runner::Hosted => y.push_str(
            r#"      # The runner's disk goes with the job: the backup (production data: the
      # artifact is readable by whoever can read this repository's Actions) and the
      # audit log are uploaded, also after a failed deploy. Or ship the backup to
      # your own storage with a task after `backup` in tasks.toml (see its
      # [tasks.ship-backup] example) and upload only the audit log here.
      - name: Keep the backup, the audit log and the report
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: deploy-migrations-${{ github.run_id }}-${{ github.run_attempt }}
          path: |
            backups/
            ${{ env.XTASK_REPORT }}
          if-no-files-found: warn
          retention-days: 7
"#,
        ),
        Runner::SelfHosted => y.push_str(
            r#"      # The audit log and the report, also after a failed deploy. The dumps stay
      # in $BACKUP_DIR on the host (production data: never uploaded).
      - name: Keep the audit log and the report
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: deploy-migrations-${{ github.run_id }}-${{ github.run_attempt }}
          path: |
            backups/xtask-audit.jsonl
            ${{ env.XTASK_REPORT }}
          if-no-files-found: warn
          retention-days: 90
"#,
        ),
    }
    y
}

fn header(runner: Runner, vars: &[String]) -> String {
    let secrets: Vec<String> = vars.iter().map(|v| format!("#   {v}")).collect();
    let where_ = match runner {
        Runner::Hosted => "a GitHub-hosted runner (ubuntu-latest: Rust and a PostgreSQL client are\n# already there); its disk goes with the job, so the backups are uploaded as an\n# artifact (or ship them with a task, see below). pg_dump must be at least the\n# server's major version: for a newer server, install its client from\n# apt.postgresql.org in a step before the deploy.",
        Runner::SelfHosted => "a self-hosted runner on the production host (`init --ci github --runner\n# self-hosted`), so the verified backups stay in a directory of the host and\n# are there when a diagnosis points at one. Rust, pg_dump and psql are installed\n# once on the host; the job only checks for them.",
    };
    format!(
        "# Written by `xtask init --ci github`: deploys this repository's Prisma migrations\n\
         # with `cargo xtask deploy` (a verified backup, the rehearsal, prisma migrate\n\
         # deploy, at most one evidence-checked recovery) and keeps the audit log and the\n\
         # JSON report of the run.\n\
         #\n\
         # Where it runs: {where_}\n\
         #\n\
         # Secrets (repository or `production` environment), as tasks.toml reads them:\n\
         {}\n\
         # A secret you do not set reaches the tool as not set (never as an empty URL).\n",
        secrets.join("\n")
    )
}

/// Where the packages are installed: the lock file's folder, else the app's ("" the
/// root). Only a plain path reaches the YAML; any other stays at the root.
fn install_dir(i: &Inputs) -> String {
    let dir = if i.lock_file.is_some() { i.lock_dir.as_str() } else { i.detection.app.as_str() };
    if is_plain(dir) {
        dir.to_string()
    } else {
        String::new()
    }
}

/// Node and the project's packages (its Prisma CLI), with the package manager
/// its lock file says and that manager's download cache, installed in `dir`
/// (relative to the root; "" for the root).
fn node_steps(pm: PackageManager, lock_file: Option<&str>, dir: &str) -> String {
    let lock_path = lock_file.map(|l| if dir.is_empty() { l.to_string() } else { format!("{dir}/{l}") });
    let cache_path = lock_path.map(|l| format!("\n          cache-dependency-path: {l}")).unwrap_or_default();
    let working_dir = if dir.is_empty() { String::new() } else { format!("\n        working-directory: {dir}") };
    let (setup, cache, install) = match pm {
        PackageManager::Npm => ("", "npm", "npm ci --no-audit --no-fund"),
        PackageManager::Pnpm => ("      - uses: pnpm/action-setup@v4\n\n", "pnpm", "pnpm install --frozen-lockfile"),
        PackageManager::Yarn => ("", "yarn", "yarn install --frozen-lockfile"),
        PackageManager::Bun => ("      - uses: oven-sh/setup-bun@v2\n\n", "", "bun install --frozen-lockfile"),
    };
    // Without a lock file there is nothing to key a cache on or to freeze (`npm ci`
    // and `--frozen-lockfile` refuse): a plain install, and a comment to commit one.
    let (cache_line, install) = match (lock_file, pm) {
        (None, PackageManager::Npm) => {
            (String::new(), "npm install --no-audit --no-fund  # commit a lock file, then: npm ci")
        }
        (None, PackageManager::Pnpm) => {
            (String::new(), "pnpm install  # commit pnpm-lock.yaml, then: --frozen-lockfile")
        }
        (None, PackageManager::Yarn) => (String::new(), "yarn install  # commit yarn.lock, then: --frozen-lockfile"),
        (None, PackageManager::Bun) => (String::new(), "bun install  # commit bun.lock, then: --frozen-lockfile"),
        (Some(_), PackageManager::Bun) => (String::new(), install),
        (Some(_), _) => (format!("\n          cache: {cache}{cache_path}"), install),
    };
    format!(
        r#"{setup}      - uses: actions/setup-node@v4
        with:
          node-version: 20{cache_line}

      # The project's own Prisma CLI (and the packages its config imports).
      - name: Install the packages{working_dir}
        run: {install}

"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_variable_names_reach_the_yaml() {
        assert!(is_var_name("DATABASE_URL") && is_var_name("_X1"));
        for bad in ["", "1X", "A-B", "A B", "X\n- run: curl evil", "GITHUB_TOKEN", "A}}"] {
            assert!(!is_var_name(bad), "{bad:?}");
        }
        assert!(is_plain("release/v2") && !is_plain("main\n  pwn: 1") && !is_plain("a b"));
    }
}
