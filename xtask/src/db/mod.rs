//! The database this run works on: its URL from the environment (`url`), libpq's
//! tools started with the password in their environment (never in argv), the
//! tool's own queries (`psql`), connection failures turned into one-line causes
//! (`classify`), and the deploy lock held on a connection of its own (`lock`).

pub mod admin;
pub mod classify;
pub mod lock;
pub mod psql;
pub mod url;

use crate::config::Config;
use crate::exit::Failure;
use crate::proc::Cmd;
use crate::ui::Ui;
use url::DbUrl;

/// The database named by the configured environment variable.
#[derive(Debug, Clone)]
pub struct Target {
    /// The environment variable it came from, for messages.
    pub env_name: String,
    /// The URL as the user wrote it (Prisma gets this one, through the environment).
    pub raw_url: String,
    pub url: DbUrl,
}

impl Target {
    /// The database for the tool's own connections (pg_dump, the deploy lock,
    /// status, the evidence, restores): the direct URL when one is configured
    /// (`direct_url_env`, or the schema's `directUrl`) and set, else the URL
    /// Prisma gets. A URL that goes through a transaction-mode pooler is refused
    /// (exit 2): a session advisory lock does not hold there and pg_dump is
    /// unreliable. Registers the passwords as secrets with the UI.
    pub fn from_env(config: &Config, ui: &Ui) -> Result<Target, Failure> {
        let name = &config.database.url_env;
        let raw = std::env::var(name).unwrap_or_default();
        let direct = config
            .database
            .direct_url_env
            .as_ref()
            .map(|d| (d, std::env::var(d).unwrap_or_default()))
            .filter(|(_, v)| !v.trim().is_empty());
        if let Some((direct_name, direct_raw)) = &direct {
            mask_secrets(ui, direct_raw);
            if let Some(why) = url::pooler(direct_raw) {
                return Err(Failure::usage(format!(
                    "{direct_name} goes through a connection pooler ({why}), but it must be the direct URL of the database server: pg_dump and the deploy lock need a session of their own; set {direct_name} to the server's own host and port"
                )));
            }
            let schema_dir = config.prisma.schema.as_deref().and_then(|s| s.parent());
            return Target::from_url(direct_name, direct_raw, schema_dir);
        }
        if raw.trim().is_empty() {
            return Err(Failure::task(format!(
                "{name} is not set: export it (postgresql://user:password@host:5432/database) or put it in .env next to tasks.toml"
            )));
        }
        // Mask the password before anything could print the URL.
        mask_secrets(ui, &raw);
        if let Some(why) = url::pooler(&raw) {
            let var = config.database.direct_url_env.as_deref().unwrap_or("DIRECT_URL");
            let how = if config.database.direct_url_env.is_some() {
                format!("set {var} (empty or unset now) to the database server's direct URL")
            } else {
                format!(
                    "put the database server's direct URL in {var} and add `direct_url_env = \"{var}\"` under [database] in tasks.toml (Prisma still gets {name})"
                )
            };
            return Err(Failure::usage(format!(
                "{name} goes through a connection pooler ({why}): pg_dump, the deploy lock and the checks need a direct connection, which a transaction-mode pooler does not give; {how}"
            )));
        }
        let schema_dir = config.prisma.schema.as_deref().and_then(|s| s.parent());
        Target::from_url(name, &raw, schema_dir)
    }

    /// A target from a URL given directly (`env_name` is only used in messages).
    pub fn from_url(env_name: &str, raw: &str, schema_dir: Option<&std::path::Path>) -> Result<Target, Failure> {
        let url = url::parse(raw, schema_dir)
            .map_err(|why| Failure::task(format!("{env_name} is not a valid PostgreSQL URL: {why}")))?;
        Ok(Target { env_name: env_name.to_string(), raw_url: raw.to_string(), url })
    }

    /// The same server, another database.
    pub fn with_database(&self, name: &str) -> Target {
        Target { url: self.url.with_database(name), ..self.clone() }
    }

    /// A libpq tool (pg_dump, psql, pg_restore) with the password in its environment.
    pub fn tool(&self, program: &str) -> Cmd {
        let mut cmd = Cmd::new(program);
        if let Some(p) = &self.url.password {
            cmd = cmd.env("PGPASSWORD", p.clone());
        }
        // Fail fast on an unreachable host unless the URL sets its own timeout.
        if !self.url.libpq.contains("connect_timeout=") && std::env::var_os("PGCONNECT_TIMEOUT").is_none() {
            cmd = cmd.env("PGCONNECT_TIMEOUT", "10");
        }
        cmd
    }

    /// The one-line cause of a libpq tool's failure, with what to do.
    pub fn failure(&self, tool: &str, stderr: &str) -> Failure {
        classify::classify(&self.url, &self.env_name, stderr).unwrap_or_else(|| {
            let first = stderr.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no error output");
            Failure::task(format!("{tool} failed: {first}"))
        })
    }
}

/// Registers a database URL and its password (as written and percent-encoded) as
/// secrets with the UI, so no output shows them. A URL that does not parse is
/// still masked whole.
pub fn mask_secrets(ui: &Ui, raw: &str) {
    ui.add_secret(raw);
    if let Some(p) = url::parse(raw, None).ok().and_then(|u| u.password) {
        ui.add_secret(&p);
        ui.add_secret(&url::encode(&p));
    }
}
