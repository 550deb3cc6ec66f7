//! Connection URLs: Prisma's `DATABASE_URL` translated for libpq's tools
//! (pg_dump, psql, pg_restore), with the password taken out of it.
//!
//! Prisma accepts query parameters that libpq rejects with `invalid URI query
//! parameter`; some share a name but not a meaning (Prisma's `sslcert` is the CA
//! certificate, libpq's is the client certificate). The README lists what is
//! dropped, kept and translated.

use std::path::Path;

/// Parameters libpq understands and that mean the same for Prisma: kept as they are.
const LIBPQ_KEPT: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "passfile",
    "require_auth",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "gssencmode",
    "sslmode",
    "sslkey",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "service",
    "target_session_attrs",
    "load_balance_hosts",
    "sslcompression",
];

/// Prisma-only parameters: dropped (libpq would refuse the URL).
pub(crate) const PRISMA_ONLY: &[&str] = &[
    "schema",
    "connection_limit",
    "pool_timeout",
    "socket_timeout",
    "pgbouncer",
    "statement_cache_size",
    "sslaccept",
    "sslidentity",
    "sslpassword",
    "max_connection_lifetime",
    "max_idle_connection_lifetime",
    "single_use_connections",
];

#[derive(Debug, Clone, PartialEq)]
pub struct DbUrl {
    /// User name, decoded.
    pub user: Option<String>,
    /// Password, decoded. Never printed, never put in argv.
    pub password: Option<String>,
    /// `host[:port][,host[:port]...]` as written (without user info).
    pub hosts: String,
    /// Database name, decoded.
    pub database: String,
    /// The Prisma schema holding `_prisma_migrations` (`?schema=`, default `public`).
    pub schema: String,
    /// The URL for libpq: no password, no Prisma-only parameters.
    pub libpq: String,
    /// Parameters that were dropped, for a note to the user.
    pub dropped: Vec<String>,
}

impl DbUrl {
    /// The same connection to another database of the server (a scratch database,
    /// `postgres` for CREATE/DROP DATABASE).
    pub fn with_database(&self, name: &str) -> DbUrl {
        let rest = &self.libpq["postgresql://".len()..];
        let slash = rest.find('/').unwrap_or(rest.len());
        let (authority, after) = rest.split_at(slash);
        let query = after.find('?').map(|i| &after[i + 1..]).unwrap_or("");
        // A `dbname` parameter would override the path: leave it out.
        let query: Vec<&str> = query.split('&').filter(|p| !p.is_empty() && !p.starts_with("dbname=")).collect();
        let mut libpq = format!("postgresql://{authority}/{}", encode(name));
        if !query.is_empty() {
            libpq.push('?');
            libpq.push_str(&query.join("&"));
        }
        DbUrl { database: name.to_string(), libpq, ..self.clone() }
    }

    /// `user@host:port/db` for messages.
    pub fn display_target(&self) -> String {
        let user = self.user.as_deref().map(|u| format!("{u}@")).unwrap_or_default();
        format!("{user}{}/{}", self.hosts, self.database)
    }
}

/// Why a URL whose userinfo runs past a `/`, `?` or `#` is refused. It quotes
/// nothing of the URL: every piece of it could be a piece of the password.
pub(crate) const PASSWORD_NEEDS_ENCODING: &str = "it has an `@` after a `/`, `?` or `#`: the password may contain a character that must be percent-encoded (`/` `?` `#` `@`): write them as %2F %3F %23 %40 (an `@` elsewhere in the URL as %40)";

/// Everything between `://` and the last `@` of the URL: the userinfo as a
/// password with unencoded `/`, `?`, `#` or `@` makes it, whatever the parser
/// makes of the rest. Masked before any message is built.
pub(crate) fn userinfo_span(url: &str) -> Option<&str> {
    let rest = &url.trim()[url.trim().find("://")? + 3..];
    rest.rfind('@').map(|at| &rest[..at])
}

/// Parses a PostgreSQL URL the way Prisma accepts it. `schema_dir` resolves a
/// relative Prisma `sslcert` (Prisma resolves it against the schema's folder).
pub(crate) fn parse(url: &str, schema_dir: Option<&Path>) -> Result<DbUrl, String> {
    let url = url.trim();
    let rest = url
        .strip_prefix("postgresql://")
        .or_else(|| url.strip_prefix("postgres://"))
        .ok_or_else(|| "it must start with postgresql:// or postgres://".to_string())?;
    refuse_ambiguous_password(rest)?;
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let before_query = before_query.split('#').next().unwrap_or("");
    let (authority, path) = match before_query.find('/') {
        Some(i) => (&before_query[..i], &before_query[i + 1..]),
        None => (before_query, ""),
    };
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (user_enc, password) = match userinfo {
        Some(ui) => match ui.split_once(':') {
            Some((u, p)) => (Some(u), Some(decode(p)?)),
            None => (Some(ui), None),
        },
        None => (None, None),
    };
    let user = user_enc.map(decode).transpose()?.filter(|u| !u.is_empty());
    check_hosts(hosts, userinfo.is_some())?;
    let database = decode(path)?;

    let mut kept: Vec<(String, String)> = Vec::new();
    let mut dropped = Vec::new();
    let mut schema = "public".to_string();
    let mut password = password;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(k)?;
        let value = decode(v)?;
        match key.as_str() {
            "password" => password = Some(value),
            "schema" => {
                schema = value;
                dropped.push(key);
            }
            // Prisma's sslcert is the server's CA certificate: libpq calls it sslrootcert.
            "sslcert" => {
                let p = Path::new(&value);
                let resolved = match schema_dir {
                    Some(dir) if p.is_relative() => dir.join(p).to_string_lossy().into_owned(),
                    _ => value,
                };
                kept.push(("sslrootcert".into(), resolved));
            }
            k if PRISMA_ONLY.contains(&k) => dropped.push(key),
            k if LIBPQ_KEPT.contains(&k) => kept.push((key, value)),
            _ => dropped.push(key),
        }
    }
    if hosts.is_empty() && !kept.iter().any(|(k, _)| k == "host") {
        return Err("it has no host (postgresql://user:password@HOST:PORT/database)".into());
    }
    if database.is_empty() && !kept.iter().any(|(k, _)| k == "dbname") {
        return Err("it has no database name (postgresql://user:password@host:port/DATABASE)".into());
    }

    let libpq = libpq_url(user_enc, hosts, path, &kept);
    Ok(DbUrl { user, password, hosts: hosts.to_string(), database, schema, libpq, dropped })
}

/// Refuses a URL whose password has characters that must be percent-encoded: what
/// the parts are would be a guess.
fn refuse_ambiguous_password(rest: &str) -> Result<(), String> {
    // `app:Tr0ub4dor/X9@db` would otherwise parse as host `app`, port `Tr0ub4dor`,
    // and a message about that port would show half the password.
    if let Some(at) = rest.rfind('@') {
        let userinfo = &rest[..at];
        if userinfo.contains(['/', '?', '#']) && userinfo.contains(':') {
            return Err(PASSWORD_NEEDS_ENCODING.into());
        }
        // `app:pa@ss@db`: which `@` ends the password is a guess (libpq, Prisma and
        // this parser do not all guess alike), so nothing guesses.
        if userinfo.contains('@') {
            return Err(PASSWORD_NEEDS_ENCODING.into());
        }
    }
    Ok(())
}

/// The URL libpq gets: the user (not the password), the hosts, the database and
/// the parameters libpq knows.
fn libpq_url(user_enc: Option<&str>, hosts: &str, path: &str, kept: &[(String, String)]) -> String {
    let mut libpq = String::from("postgresql://");
    if let Some(u) = user_enc.filter(|u| !u.is_empty()) {
        libpq.push_str(u);
        libpq.push('@');
    }
    libpq.push_str(hosts);
    libpq.push('/');
    libpq.push_str(path);
    if !kept.is_empty() {
        libpq.push('?');
        let q: Vec<String> = kept.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
        libpq.push_str(&q.join("&"));
    }
    libpq
}

/// Why a URL goes through a transaction-mode connection pooler, if it visibly does.
/// Conservative on purpose (a false alarm only asks for the direct URL): Prisma's
/// `pgbouncer=true`, port 6543 (Supabase's transaction pooler), or a host whose
/// first label ends in `-pooler` (Neon's pooled endpoints). Session-mode poolers
/// (Supabase on 5432) keep a session per client and are not flagged.
pub(crate) fn pooler(url: &str) -> Option<String> {
    let rest = url.trim().split_once("://").map(|(_, r)| r)?;
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "pgbouncer" && v.eq_ignore_ascii_case("true") {
            return Some("pgbouncer=true".into());
        }
    }
    let authority = before_query.split('/').next().unwrap_or("");
    let hosts = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    for h in hosts.split(',') {
        let (host, port) = match h.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || h.starts_with('[') => (host, Some(port)),
            _ => (h, None),
        };
        if port == Some("6543") {
            return Some("port 6543, a transaction-mode pooler's port".into());
        }
        if host.split('.').next().is_some_and(|l| l.ends_with("-pooler")) {
            return Some(format!("host {host}, a pooled endpoint"));
        }
    }
    None
}

/// Why a URL whose user, password and host cannot be told apart is refused: the
/// `@` after the password is missing or percent-encoded (`app:secret%40db:5432`),
/// so libpq would read a piece of the password as the host or the port and print
/// it. Like [`PASSWORD_NEEDS_ENCODING`] it quotes nothing of the URL.
pub(crate) const AUTHORITY_AMBIGUOUS: &str = "its user, password and host cannot be told apart (is the `@` after the password missing, or written as %40?): write it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE, with any `@` `:` `/` `?` `#` `%` inside the password percent-encoded (%40 %3A %2F %3F %23 %25)";

/// Checks each `host[:port]` of the authority. Nothing of it is quoted in an error:
/// without an `@` (`has_userinfo` false) the "host" may well be `user:password`.
fn check_hosts(hosts: &str, has_userinfo: bool) -> Result<(), String> {
    for h in hosts.split(',').filter(|h| !h.is_empty()) {
        let (host, port) = if let Some(rest) = h.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or("an IPv6 host is missing its closing ']'")?;
            if !inside.bytes().all(|b| b.is_ascii_alphanumeric() || b":.%".contains(&b)) {
                return Err(AUTHORITY_AMBIGUOUS.into());
            }
            match after {
                "" => ("", None),
                _ => ("", Some(after.strip_prefix(':').ok_or(AUTHORITY_AMBIGUOUS)?)),
            }
        } else {
            match h.split_once(':') {
                // Two colons outside brackets: `user:password:port` with its `@` lost.
                Some((_, p)) if p.contains(':') => return Err(AUTHORITY_AMBIGUOUS.into()),
                Some((host, p)) => (host, Some(p)),
                None => (h, None),
            }
        };
        if let Some(p) = port {
            if p.parse::<u16>().map_or(true, |n| n == 0) {
                // Without an `@` a "port" of letters is most likely the password.
                return Err(if has_userinfo {
                    "its port is not a number from 1 to 65535".into()
                } else {
                    AUTHORITY_AMBIGUOUS.into()
                });
            }
        }
        // A host name is letters, digits, `-`, `.` and `_`; a percent-encoded one
        // must be a socket directory (`%2Fvar%2Frun%2Fpostgresql`). Anything else
        // (`secret%40db`, `pa$$word`) is a password that lost its `@`.
        let plain = host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
        let socket_dir = host.starts_with("%2F") || host.starts_with("%2f");
        if !(plain || (socket_dir && decode(host).is_ok())) {
            return Err(AUTHORITY_AMBIGUOUS.into());
        }
    }
    Ok(())
}

pub(crate) fn decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("it has a malformed %-escape")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "a %-escape does not decode to UTF-8".to_string())
}

/// Percent-encodes everything but unreserved characters and `/` (paths in values).
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn pooled_urls_are_recognised_conservatively() {
        use super::pooler;
        assert!(pooler("postgresql://u:p@db.example.com:5432/app?pgbouncer=true&connection_limit=1").is_some());
        assert!(pooler("postgresql://u:p@aws-0-eu.pooler.supabase.com:6543/postgres").is_some());
        assert!(
            pooler("postgres://u:p@ep-cool-1234-pooler.eu-central-1.aws.neon.tech/neondb?sslmode=require").is_some()
        );
        assert_eq!(pooler("postgresql://u:p@ep-cool-1234.eu-central-1.aws.neon.tech/neondb"), None);
        assert_eq!(pooler("postgresql://u:p@aws-0-eu.pooler.supabase.com:5432/postgres"), None);
        assert_eq!(pooler("postgresql://u:p@127.0.0.1:5432/app?pgbouncer=false"), None);
        assert_eq!(pooler("postgresql://u:p@[::1]:6543/app").map(|_| ()), Some(()));
    }

    use super::*;

    #[test]
    fn prisma_url_is_translated_for_libpq() {
        let u = parse(
            "postgresql://app:p%40ss%3Aw0rd@db.internal:5433/school?schema=tenant&connection_limit=5&sslmode=require&application_name=deploy",
            None,
        )
        .unwrap();
        assert_eq!(u.user.as_deref(), Some("app"));
        assert_eq!(u.password.as_deref(), Some("p@ss:w0rd"));
        assert_eq!(u.database, "school");
        assert_eq!(u.schema, "tenant");
        assert_eq!(u.libpq, "postgresql://app@db.internal:5433/school?sslmode=require&application_name=deploy");
        assert_eq!(u.dropped, ["schema", "connection_limit"]);
        assert!(!u.libpq.contains("p%40ss"));
    }

    #[test]
    fn another_database_of_the_same_server() {
        let u = parse("postgresql://app:pw@h:5432/school?schema=x&sslmode=require&dbname=school", None).unwrap();
        let v = u.with_database("scratch db");
        assert_eq!(v.libpq, "postgresql://app@h:5432/scratch%20db?sslmode=require");
        assert_eq!(v.database, "scratch db");
        assert_eq!(v.password.as_deref(), Some("pw"));
    }

    #[test]
    fn prisma_sslcert_becomes_sslrootcert_relative_to_the_schema() {
        let u =
            parse("postgres://a:b@h/d?sslcert=certs/ca.pem&sslaccept=strict", Some(Path::new("/app/prisma"))).unwrap();
        assert_eq!(u.libpq, "postgresql://a@h/d?sslrootcert=/app/prisma/certs/ca.pem");
        assert_eq!(u.dropped, ["sslaccept"]);
    }

    #[test]
    fn password_parameter_is_taken_out_too() {
        let u = parse("postgresql://h:5432/d?user=x&password=secret", None).unwrap();
        assert_eq!(u.password.as_deref(), Some("secret"));
        assert_eq!(u.libpq, "postgresql://h:5432/d?user=x");
    }

    /// Generated URL-ish strings never panic the parser, the translation or the masking.
    #[test]
    fn arbitrary_input_never_panics() {
        let pieces = [
            "postgresql://",
            "postgres://",
            "u",
            ":",
            "@",
            "[",
            "]",
            "::1",
            "h",
            ":5432",
            "/",
            "d",
            "?",
            "&",
            "=",
            "%",
            "%4",
            "%zz",
            "%C3%A9",
            "é",
            "schema",
            "sslcert",
            ",",
            "#",
            " ",
        ];
        let mut seed: u64 = 11;
        for _ in 0..3000 {
            let mut s = String::new();
            for _ in 0..(seed % 12) {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                s.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
            }
            seed = seed.wrapping_add(1);
            if let Ok(u) = parse(&s, Some(Path::new("/x"))) {
                let _ = u.with_database("other");
                let _ = u.display_target();
            }
            let _ = crate::redact::mask_url_passwords(&s);
        }
    }

    #[test]
    fn malformed_urls_say_why() {
        assert!(parse("mysql://a@b/c", None).unwrap_err().contains("postgresql://"));
        assert!(parse("postgresql://a:b@h:99999/d", None).unwrap_err().contains("port is not a number"));
        assert!(parse("postgresql://a:b@h:5432", None).unwrap_err().contains("no database name"));
        assert!(parse("postgresql://a:%zz@h/d", None).unwrap_err().contains("%-escape"));
        assert!(parse("postgresql:///d", None).unwrap_err().contains("no host"));
        assert!(parse("postgresql://[::1/d", None).is_err());
        assert!(parse("postgresql://[::1]:5432/d", None).is_ok());
        for bad in ["postgresql://app:Tr0ub4dor/X9@db:5432/school", "postgres://a:b?c@h/d", "postgres://a:b#c@h/d"] {
            assert_eq!(parse(bad, None).unwrap_err(), PASSWORD_NEEDS_ENCODING, "{bad}");
        }
        // Item 8 of issue 24: what cannot be split into user, password and host
        // unambiguously is refused, and the reason quotes none of it.
        for bad in ["postgres://a:b@c@h/d", "postgres://a:b@@h/d", "postgresql://app:s3cret@db@db:5432/school"] {
            assert_eq!(parse(bad, None).unwrap_err(), PASSWORD_NEEDS_ENCODING, "{bad}");
        }
        for bad in [
            "postgresql://app:s3cret-db:5432/school",
            "postgresql://app:s3cret%40db:5432/school",
            "postgresql://app:s3cret%40db/school",
            "postgresql://app:s3cretdb/school",
            "postgresql://app:s3c:ret@db:5432:5433/school",
            "postgresql://app:pa$$word.db.internal/school",
            "postgresql://app:s3cret%40[::1]:5432/school",
            "postgresql://[::1]x/school",
            "postgresql://h1:5432,app:s3cret:5432/school",
        ] {
            assert_eq!(parse(bad, None).unwrap_err(), AUTHORITY_AMBIGUOUS, "{bad}");
        }
        for good in [
            "postgresql://app:p%40ss@db.internal:5432/school",
            "postgresql://app:a:b:c@db:5432/school",
            "postgresql://app@%2Fvar%2Frun%2Fpostgresql/school",
            "postgresql://app:pw@/school?host=/tmp",
            "postgresql://app:pw@h1:5432,h2:5433/school",
            "postgresql://app:pw@[fe80::1%25eth0]:5432/school",
            "postgresql://db_host-1.example.com/school",
        ] {
            assert!(parse(good, None).is_ok(), "{good}: {:?}", parse(good, None));
        }
        assert_eq!(userinfo_span("postgresql://app:Tr0/X9@db/s"), Some("app:Tr0/X9"));
    }
}
