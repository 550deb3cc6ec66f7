//! The database this run works on: its URL from the environment (`url`), libpq's
//! tools started with the password in their environment (never in argv), the
//! tool's own queries (`psql`), connection failures turned into one-line causes
//! (`classify`), and the deploy lock held on a connection of its own (`lock`).

pub(crate) mod admin;
pub(crate) mod classify;
pub(crate) mod lock;
pub(crate) mod psql;
pub(crate) mod sql;
pub(crate) mod url;

use crate::config::Config;
use crate::exit::Failure;
use crate::ui::Ui;
use url::DbUrl;
use xshell::Shell;

/// The variable of `[database] url_env` the URL comes from: the first one that is
/// set and non-empty, in the configured order, with its value; `None` when none is.
pub(crate) fn url_var(config: &Config) -> Option<(&str, String)> {
    config.database.url_env.iter().find_map(|name| {
        let value = std::env::var(name).ok().filter(|v| !v.trim().is_empty())?;
        Some((name.as_str(), value))
    })
}

/// The database named by the configured environment variable.
#[derive(Debug, Clone)]
pub struct Target {
    /// The environment variable it came from, for messages.
    pub env_name: String,
    pub url: DbUrl,
    /// A psql session kept open for several queries (see [`Target::with_session`]).
    session: Option<psql::Shared>,
    /// Each query runs in a read-only transaction of its own (see [`Target::read_only`]).
    read_only: bool,
}

impl Target {
    /// The database for the tool's own connections (pg_dump, the deploy lock,
    /// status, the evidence, restores): the direct URL when one is configured
    /// (`direct_url_env`, or the schema's `directUrl`) and set, else the URL
    /// Prisma gets ([`url_var`]). A URL that goes through a transaction-mode
    /// pooler is refused (exit 2): a session advisory lock does not hold there
    /// and pg_dump is unreliable. The caller has registered the passwords as
    /// secrets with the UI ([`mask_secrets`]).
    pub fn from_env(config: &Config) -> Result<Target, Failure> {
        let direct = config
            .database
            .direct_url_env
            .as_ref()
            .map(|d| (d, std::env::var(d).unwrap_or_default()))
            .filter(|(_, v)| !v.trim().is_empty());
        if let Some((direct_name, direct_raw)) = &direct {
            if let Some(why) = url::pooler(direct_raw) {
                return Err(Failure::usage(format!(
                    "{direct_name} goes through a connection pooler ({why}), but it must be the direct URL of the database server: pg_dump and the deploy lock need a session of their own; set {direct_name} to the server's own host and port"
                )));
            }
            let schema_dir = config.prisma.schema.as_deref().and_then(|s| s.parent());
            return Target::from_url(direct_name, direct_raw, schema_dir);
        }
        let Some((name, raw)) = url_var(config) else {
            return Err(not_set(&config.database.url_env));
        };
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
        Ok(Target { env_name: env_name.to_string(), url, session: None, read_only: false })
    }

    /// The same server, another database.
    pub fn with_database(&self, name: &str) -> Target {
        // Another database is another connection: the session stays with this one.
        Target { url: self.url.with_database(name), session: None, ..self.clone() }
    }

    /// This target without its shared psql session: for a query that may fail on
    /// purpose (a failed query ends the session for every clone). Its queries are
    /// not made read-only ([`Target::read_only`] again where they must be): the
    /// evidence's trial run writes, in a transaction it rolls back.
    pub fn without_session(&self) -> Target {
        Target { session: None, read_only: false, ..self.clone() }
    }

    /// The shell a libpq tool (pg_dump, psql, pg_restore) runs in: the password in
    /// its environment, never in argv. Start the tool with [`crate::pgbin::program`].
    pub fn shell(&self) -> Result<Shell, Failure> {
        let sh = crate::proc::shell()?;
        // Failures are recognised by their text (db/classify.rs): libpq's own
        // messages ("Connection refused", "could not translate host name") follow the
        // client's locale, so the tools speak English whatever the user's locale is.
        // LC_ALL also wins over LANGUAGE in gettext. The dump's encoding does not
        // depend on it (pg_dump uses the database's), nor does a piped psql's.
        // The server's own messages follow its lc_messages; SQLSTATE codes are
        // preferred where psql prints them (`VERBOSITY=verbose` on the queries).
        sh.set_var("LC_ALL", "C");
        if let Some(p) = &self.url.password {
            sh.set_var("PGPASSWORD", p);
        }
        // Fail fast on an unreachable host unless the URL sets its own timeout.
        if !self.url.libpq.contains("connect_timeout=") && std::env::var_os("PGCONNECT_TIMEOUT").is_none() {
            sh.set_var("PGCONNECT_TIMEOUT", "10");
        }
        Ok(sh)
    }

    /// The one-line cause of a libpq tool's failure, with what to do.
    pub fn failure(&self, tool: &str, stderr: &str) -> Failure {
        classify::classify(&self.url, &self.env_name, stderr).unwrap_or_else(|| {
            let first = stderr.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no error output");
            Failure::task(format!("{tool} failed: {first}"))
        })
    }
}

/// No variable of `[database] url_env` is set. One variable: a task failure (exit
/// 1), as it always was; a list of fallbacks: a configuration error (exit 2)
/// naming every variable tried.
fn not_set(names: &[String]) -> Failure {
    const HOW: &str = "(postgresql://user:password@host:5432/database) or put it in .env next to tasks.toml";
    match names {
        [one] => Failure::task(format!("{one} is not set: export it {HOW}")),
        many => Failure::usage(format!(
            "none of {} is set ([database] url_env tries them in this order): export one {HOW}",
            many.join(", ")
        )),
    }
}

/// Registers a database URL and its password (as written and percent-encoded) as
/// secrets with the UI, so no output shows them. A URL that does not parse is
/// still masked whole, and so is everything after the user name up to its last
/// `@` (a password with an unencoded `/`, `?`, `#` or `@`), whatever the parser
/// makes of it.
pub(crate) fn mask_secrets(ui: &Ui, raw: &str) {
    ui.add_secret(raw);
    ui.add_secret(raw.trim());
    if let Some((_, password)) = url::userinfo_span(raw).and_then(|u| u.split_once(':')) {
        ui.add_secret(password);
        if let Ok(decoded) = url::decode(password) {
            ui.add_secret(&decoded);
        }
    }
    if let Some(p) = url::parse(raw, None).ok().and_then(|u| u.password) {
        ui.add_secret(&p);
        ui.add_secret(&url::encode(&p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::UiOptions;
    use proptest::prelude::*;

    fn quiet_ui() -> Ui {
        Ui::new(UiOptions { progress: false, color: false, github: false, interactive: false })
    }

    /// Every message the tool builds from a URL: the parse error, or the target
    /// shown in messages, the libpq URL and each connection-failure cause.
    fn messages(raw: &str) -> Vec<String> {
        match Target::from_url("DATABASE_URL", raw, None) {
            Err(f) => vec![f.message],
            Ok(t) => {
                let mut m =
                    vec![t.url.display_target(), t.url.libpq.clone(), t.url.hosts.clone(), t.url.database.clone()];
                for stderr in [
                    "FATAL:  password authentication failed for user \"app\"",
                    "FATAL:  database \"school\" does not exist",
                    "could not translate host name \"h\" to address",
                    "connection to server failed: Connection refused",
                    "no pg_hba.conf entry",
                ] {
                    m.push(t.failure("pg_dump", stderr).message);
                }
                m
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// The password is drawn from letters no other part of the URL or message
        /// uses (X-Z, K, J, W, V) plus the characters that break URLs; no piece of
        /// it of two characters or more that holds one of those letters survives
        /// masking, in any message, whether the URL parses or not.
        #[test]
        fn no_piece_of_the_password_in_any_message(
            user in "[a-h]{1,6}",
            password in "[XYZKJWV/?#@:%!&=+]{3,16}",
            host in "[a-h]{1,8}(\\.[a-h]{1,5})?",
            port in prop::option::of(1u16..65535),
            db in "[a-h]{1,8}",
            query in prop::option::of(prop::sample::select(vec!["schema=public", "sslmode=disable&connection_limit=5", "application_name=abc"])),
        ) {
            prop_assume!(password.contains(['X', 'Y', 'Z', 'K', 'J', 'W', 'V']));
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let query = query.map(|q| format!("?{q}")).unwrap_or_default();
            let raw = format!("postgresql://{user}:{password}@{host}{port}/{db}{query}");
            let ui = quiet_ui();
            mask_secrets(&ui, &raw);
            let chars: Vec<char> = password.chars().collect();
            for message in messages(&raw) {
                let shown = ui.redact(&message);
                for start in 0..chars.len() {
                    for end in start + 2..=chars.len() {
                        let piece: String = chars[start..end].iter().collect();
                        if piece.contains(['X', 'Y', 'Z', 'K', 'J', 'W', 'V']) {
                            prop_assert!(!shown.contains(&piece), "`{piece}` of {raw} in: {shown}");
                        }
                    }
                }
            }
        }
    }

    /// No piece of two characters or more of `password` that holds one of its
    /// marker letters (X-Z, K, J, W, V) in `shown`.
    fn password_piece_in(password: &str, shown: &str) -> Option<String> {
        let chars: Vec<char> = password.chars().collect();
        for start in 0..chars.len() {
            for end in start + 2..=chars.len() {
                let piece: String = chars[start..end].iter().collect();
                if piece.contains(['X', 'Y', 'Z', 'K', 'J', 'W', 'V']) && shown.contains(&piece) {
                    return Some(piece);
                }
            }
        }
        None
    }

    /// The shapes a URL takes when its `@` is lost, encoded or doubled (issue 24,
    /// item 8: libpq then reads a piece of the password as the host or port, prints
    /// it decoded, and pg_dump gets it in argv).
    fn malformed(user: &str, password: &str, host: &str, port: &str, db: &str, shape: usize) -> String {
        match shape {
            0 => format!("postgresql://{user}:{password}{host}{port}/{db}"),
            1 => format!("postgresql://{user}:{password}%40{host}{port}/{db}"),
            2 => format!("postgresql://{user}:{password}%40{host}:5432/{db}"),
            3 => format!("postgresql://{user}:{password}@{password}@{host}{port}/{db}"),
            4 => format!("postgresql://{user}:{password}@@{host}{port}/{db}"),
            5 => format!("postgresql://{user}:{password}:{host}{port}/{db}"),
            6 => format!("postgres://{user}:{password}{host}:5432,{host}:5433/{db}"),
            7 => format!("postgresql://{user}:{password}%40{host}{port}/{db}?sslmode=require"),
            _ => format!("postgresql://{user}:{password}{host}:5432:5432/{db}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// Malformed shapes are refused by the parser (every child the tool starts,
        /// pg_dump, psql, Prisma, needs a parsed `Target` first, so none starts),
        /// and the refusal shows no piece of the password, masked or not.
        #[test]
        fn a_url_that_does_not_split_unambiguously_is_refused_quoting_nothing(
            user in "[a-h]{1,6}",
            password in "[XYZKJWV!&=+:$~*]{3,16}",
            host in "qh[0-9]{3,5}(\\.[a-h]{1,5})?",
            port in prop::option::of(1u16..65535),
            db in "[a-h]{1,8}",
            shape in 0usize..9,
        ) {
            prop_assume!(password.contains(['X', 'Y', 'Z', 'K', 'J', 'W', 'V']));
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let raw = malformed(&user, &password, &host, &port, &db, shape);
            let refused = Target::from_url("DATABASE_URL", &raw, None);
            prop_assert!(refused.is_err(), "{raw} was accepted: {:?}", refused.map(|t| t.url));
            let message = refused.unwrap_err().message;
            // Unmasked: the message itself quotes nothing of the authority.
            prop_assert!(password_piece_in(&password, &message).is_none(), "{raw}: {message}");
            prop_assert!(!message.contains(&host), "{raw}: {message}");
            let ui = quiet_ui();
            mask_secrets(&ui, &raw);
            prop_assert!(password_piece_in(&password, &ui.redact(&message)).is_none());
        }
    }

    #[test]
    fn malformed_url_names_the_encoding_and_shows_nothing_of_the_password() {
        let raw = "postgresql://app:Tr0ub4dor/X9@db.internal:5432/school";
        let ui = quiet_ui();
        mask_secrets(&ui, raw);
        let message = ui.redact(&Target::from_url("DATABASE_URL", raw, None).unwrap_err().message);
        assert!(message.contains("the password may contain a character that must be percent-encoded (`/` `?` `#` `@`)"));
        assert!(!message.contains("Tr0ub4dor") && !message.contains("X9"), "{message}");
        assert_eq!(ui.redact(&format!("url {raw} end")), "url postgresql://app:***@db.internal:5432/school end");
    }
}
