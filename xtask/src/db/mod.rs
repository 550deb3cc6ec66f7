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
    /// Reads and parses the URL; registers its password as a secret with the UI.
    pub fn from_env(config: &Config, ui: &Ui) -> Result<Target, Failure> {
        let name = &config.database.url_env;
        let raw = std::env::var(name).unwrap_or_default();
        if raw.trim().is_empty() {
            return Err(Failure::task(format!(
                "{name} is not set: export it (postgresql://user:password@host:5432/database) or put it in .env next to tasks.toml"
            )));
        }
        // Mask the password before anything could print the URL.
        mask_secrets(ui, &raw);
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
        // Failures are recognised by their text (db/classify.rs): libpq's own
        // messages ("Connection refused", "could not translate host name") follow the
        // client's locale, so the tools speak English whatever the user's locale is.
        // LC_ALL also wins over LANGUAGE in gettext. The dump's encoding does not
        // depend on it (pg_dump uses the database's), nor does a piped psql's.
        // The server's own messages follow its lc_messages; SQLSTATE codes are
        // preferred where psql prints them (`VERBOSITY=verbose` on the queries).
        cmd = cmd.env("LC_ALL", "C");
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
