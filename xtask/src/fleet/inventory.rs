//! The fleet's targets, read from where `[fleet]` says (a JSONL file, a command's
//! output, a catalog query) and checked before anything runs: unknown keys,
//! duplicate ids, URLs or passwords where they do not belong, missing variables.
//! Each error names its source and line. URLs are resolved from the environment
//! here and kept in memory only: the plan, reports and logs carry a fingerprint.

use std::collections::BTreeMap;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::config::fleet::Inventory;
use crate::config::Config;
use crate::db::{url, Target as Db};
use crate::exit::Failure;
use crate::proc;
use crate::ui::Ui;

/// One target, with its URL resolved (a secret: never printed, never in argv).
#[derive(Debug, Clone)]
pub(crate) struct FleetTarget {
    pub id: String,
    pub labels: BTreeMap<String, String>,
    /// Prisma's URL for this target, `?schema=` set when the inventory gives one.
    pub url: String,
    /// `host:port` of its server: the unit of `per_server`.
    pub server: String,
    /// `host:port/database`: targets sharing it take turns (one advisory-lock key per database).
    pub database: String,
    /// SHA-256 of the URL without its password, first 16 hex digits.
    pub fingerprint: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    id: Option<String>,
    url_env: Option<String>,
    url: Option<String>,
    schema: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// Reads and checks the inventory. Nothing is run against any target here.
pub(crate) fn load(config: &Config, ui: &Ui) -> Result<Vec<FleetTarget>, Failure> {
    let fleet = config.fleet.as_ref().ok_or_else(|| Failure::usage("tasks.toml has no [fleet] section"))?;
    let (origin, lines): (String, Vec<String>) = match &fleet.inventory {
        Inventory::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::usage(format!(
                    "cannot read the fleet inventory {}: {e}; fix fleet.targets in tasks.toml",
                    path.display()
                ))
            })?;
            (format!("{}:{{n}}", path.display()), text.lines().map(String::from).collect())
        }
        Inventory::Command(argv) => {
            let sh = proc::shell()?;
            sh.change_dir(&config.root);
            let (program, rest) = (&argv[0], &argv[1..]);
            let cmd: std::process::Command = xshell::cmd!(sh, "{program} {rest...}").into();
            let shown = proc::display(&cmd);
            let out = proc::run_quiet(ui, cmd)?;
            if !out.success() {
                let first = out.stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("no error output");
                return Err(Failure::usage(format!(
                    "the fleet inventory command `{shown}` ended with {}: {first}; nothing was run",
                    proc::describe_status(&out.status)
                )));
            }
            (format!("line {{n}} of the output of `{shown}`"), out.stdout.lines().map(String::from).collect())
        }
        Inventory::Query { sql, catalog_url_env } => {
            let raw = std::env::var(catalog_url_env).unwrap_or_default();
            if raw.trim().is_empty() {
                return Err(Failure::usage(format!(
                    "{catalog_url_env} is not set: it holds the URL of the catalog database fleet.query reads"
                )));
            }
            crate::db::mask_secrets(ui, &raw);
            let catalog = Db::from_url(catalog_url_env, &raw, None)?;
            // One JSON object per row, keys named after the columns, NULL as null.
            let wrapped = format!("SELECT row_to_json(q)::text FROM ({}) q", sql.trim().trim_end_matches(';'));
            let rows = catalog.query_n::<1>(&wrapped, &[])?;
            (
                format!("row {{n}} of fleet.query on {}", catalog.url.display_target()),
                rows.into_iter().map(|[c]| c.unwrap_or_default()).collect(),
            )
        }
    };
    let schema_dir = config.prisma.schema.as_deref().and_then(|s| s.parent());
    parse_lines(&origin, &lines, ui, schema_dir, &|k| std::env::var(k).ok())
}

/// Parses JSONL lines (blank lines and `#` comments skipped) into targets.
pub(crate) fn parse_lines(
    origin: &str,
    lines: &[String],
    ui: &Ui,
    schema_dir: Option<&std::path::Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<FleetTarget>, Failure> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        let place = origin.replace("{n}", &n.to_string());
        let at = |msg: String| Failure::usage(format!("{place}: {msg}; nothing was run"));
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let raw: RawTarget = serde_json::from_str(text).map_err(|e| {
            // serde's message quotes the input for some errors: never a URL's password.
            let msg = crate::redact::mask_url_passwords(&e.to_string());
            at(format!("not a target ({msg}): each line is one JSON object like {{\"id\": \"acme\", \"url_env\": \"ACME_DATABASE_URL\"}}"))
        })?;
        let id = match raw.id {
            Some(id) if valid_id(&id) => id,
            Some(id) if id.contains("://") => return Err(at("the id looks like a URL: ids are names".into())),
            Some(_) => {
                return Err(at(
                    "an id is 1-100 letters, digits, '-', '_' or '.' and does not start with '.' or '-'".into()
                ))
            }
            None => return Err(at("the target has no id (it is null or missing)".into())),
        };
        if let Some(first) = seen.insert(id.clone(), n) {
            return Err(at(format!("duplicate id `{id}` (first on line {first}): ids must be unique")));
        }
        let labels = raw.labels.unwrap_or_default();
        for (k, v) in &labels {
            if looks_secret(k) || looks_secret(v) {
                return Err(at(format!(
                    "label `{}` of `{id}` holds a URL or credentials: labels are printed in plans and reports; keep URLs in url_env",
                    crate::redact::mask_url_passwords(k)
                )));
            }
        }
        let raw_url = match (raw.url_env, raw.url) {
            (Some(var), None) => match env(&var) {
                Some(v) if !v.trim().is_empty() => v,
                _ => return Err(at(format!("`{id}`: {var} is not set (url_env): export it for this target"))),
            },
            (None, Some(template)) => expand(&template, env).map_err(&at)?,
            (Some(_), Some(_)) => return Err(at(format!("`{id}` has both url_env and url: keep one"))),
            (None, None) => {
                return Err(at(format!(
                    "`{id}` has no URL: give url_env (a variable name) or url (a template such as \"postgresql://app:${{ACME_PASSWORD}}@db1:5432/acme\")"
                )))
            }
        };
        mask_password(ui, &raw_url);
        let mut prisma_url = raw_url.clone();
        if let Some(schema) = &raw.schema {
            if schema.is_empty() || !schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                return Err(at(format!("`{id}`: schema may only contain letters, digits, '_' and '-'")));
            }
            prisma_url = with_schema(&raw_url, schema);
        }
        let parsed = url::parse(&prisma_url, schema_dir)
            .map_err(|why| at(format!("the URL of `{id}` is not a valid PostgreSQL URL: {why}")))?;
        if url::pooler(&prisma_url).is_some() {
            return Err(at(format!(
                "the URL of `{id}` goes through a transaction pooler: the fleet needs each database's direct URL"
            )));
        }
        let server = server_of(&parsed.hosts);
        let mut without_password = parsed.clone();
        without_password.password = None;
        out.push(FleetTarget {
            id,
            labels,
            server: server.clone(),
            database: format!("{server}/{}", parsed.database),
            fingerprint: fingerprint(&without_password.libpq, &parsed.schema),
            url: prisma_url,
        });
    }
    if out.is_empty() {
        let place = origin.replace(":{n}", "").replace("{n}", "any");
        return Err(Failure::usage(format!("{place}: the inventory has no targets; nothing was run")));
    }
    Ok(out)
}

/// Registers a target's password (as written, decoded and encoded) with the UI.
/// Not the whole URL, as `db::mask_secrets` does for the one database of a run: a
/// URL without its password is not a secret, and a secret per target made masking
/// quadratic in the size of the fleet. A URL that does not parse is masked whole.
fn mask_password(ui: &Ui, raw: &str) {
    if let Some((_, password)) = url::userinfo_span(raw).and_then(|u| u.split_once(':')) {
        ui.add_secret(password);
        if let Ok(decoded) = url::decode(password) {
            ui.add_secret(&decoded);
        }
    }
    match url::parse(raw, None) {
        Ok(u) => {
            if let Some(p) = u.password {
                ui.add_secret(&p);
                ui.add_secret(&url::encode(&p));
            }
        }
        Err(_) => ui.add_secret(raw.trim()),
    }
}

fn valid_id(id: &str) -> bool {
    (1..=100).contains(&id.len())
        && !id.starts_with(['.', '-'])
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A label that would put a URL or a password into plans and reports.
fn looks_secret(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    lower.contains("://") || lower.contains("password=") || url::userinfo_span(s).is_some_and(|u| u.contains(':'))
}

/// `${VAR}` replaced from the environment. A password written into the template
/// itself is refused: the inventory is not a place for secrets.
fn expand(template: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    if let Some(userinfo) = url::userinfo_span(template) {
        if let Some((_, pw)) = userinfo.split_once(':') {
            let only_a_variable = pw.starts_with("${") && pw.ends_with('}') && pw.matches("${").count() == 1;
            if !pw.is_empty() && !only_a_variable {
                return Err("the url template has a password written into it: write ${VARIABLE} and export the password in that variable".into());
            }
        }
    }
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| "the url template has a `${` without its `}`".to_string())?;
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`${{{name}}}` in the url template is not a variable name"));
        }
        let value = env(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("{name} is not set (used in the url template)"))?;
        // A value pasted into a URL is percent-encoded, as a password must be.
        out.push_str(&url::encode(&value).replace('/', "%2F"));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The URL with `schema=NAME` set (replaced if it had one).
fn with_schema(raw: &str, schema: &str) -> String {
    let (base, query) = raw.split_once('?').unwrap_or((raw, ""));
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty() && !p.starts_with("schema=")).collect();
    let own = format!("schema={schema}");
    params.insert(0, &own);
    format!("{base}?{}", params.join("&"))
}

/// `host:port` with PostgreSQL's default port made explicit, lower-cased.
fn server_of(hosts: &str) -> String {
    let first = hosts.split(',').next().unwrap_or("").to_ascii_lowercase();
    if first.starts_with('[') {
        return if first.contains("]:") { first } else { format!("{first}:5432") };
    }
    if first.contains(':') {
        first
    } else {
        format!("{first}:5432")
    }
}

fn fingerprint(libpq_without_password: &str, schema: &str) -> String {
    let digest = Sha256::digest(format!("{libpq_without_password}#{schema}").as_bytes());
    crate::migrations::hex(&digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::UiOptions;

    fn ui() -> Ui {
        Ui::new(UiOptions { progress: false, color: false, github: false, interactive: false })
    }

    fn env(k: &str) -> Option<String> {
        match k {
            "ACME_URL" => Some("postgresql://app:s3cr%40t@db1/acme".into()),
            "PW" => Some("p@ss/word".into()),
            _ => None,
        }
    }

    fn parse(lines: &[&str]) -> Result<Vec<FleetTarget>, String> {
        let lines: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        parse_lines("t.jsonl:{n}", &lines, &ui(), None, &env).map_err(|f| f.message)
    }

    #[test]
    fn targets_from_variables_and_templates() {
        let t = parse(&[
            r#"{"id": "acme", "url_env": "ACME_URL", "labels": {"ring": "canary"}}"#,
            "",
            "# a comment",
            r#"{"id": "beta", "url": "postgresql://app:${PW}@db1:5432/shared", "schema": "beta"}"#,
        ])
        .unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].server.as_str(), t[0].database.as_str()), ("db1:5432", "db1:5432/acme"));
        assert_eq!(t[1].url, "postgresql://app:p%40ss%2Fword@db1:5432/shared?schema=beta");
        assert_eq!(t[0].labels["ring"], "canary");
        assert_eq!(t[0].fingerprint.len(), 16);
        assert!(!t[1].fingerprint.contains("p%40ss"));
    }

    #[test]
    fn hostile_lines_are_errors_with_their_line() {
        let dup = parse(&[r#"{"id": "a", "url_env": "ACME_URL"}"#, r#"{"id": "a", "url_env": "ACME_URL"}"#]);
        assert!(dup.unwrap_err().starts_with("t.jsonl:2: duplicate id `a` (first on line 1)"));
        let label = parse(&[r#"{"id": "a", "url_env": "ACME_URL", "labels": {"db": "postgresql://u:pw@h/d"}}"#]);
        let e = label.unwrap_err();
        assert!(e.contains("holds a URL") && !e.contains("pw@"), "{e}");
        let garbage = parse(&["hello world"]).unwrap_err();
        assert!(garbage.starts_with("t.jsonl:1: not a target"), "{garbage}");
        let unknown = parse(&[r#"{"id": "a", "url_env": "ACME_URL", "colour": 1}"#]).unwrap_err();
        assert!(unknown.contains("unknown field `colour`"), "{unknown}");
        let null = parse(&[r#"{"id": null, "url_env": "ACME_URL"}"#]).unwrap_err();
        assert!(null.contains("no id"), "{null}");
        let literal = parse(&[r#"{"id": "a", "url": "postgresql://app:hunter2@db/a"}"#]).unwrap_err();
        assert!(literal.contains("password written into it") && !literal.contains("hunter2"), "{literal}");
        let unset = parse(&[r#"{"id": "a", "url_env": "NOPE"}"#]).unwrap_err();
        assert!(unset.contains("NOPE is not set"), "{unset}");
        let empty = parse(&["", "# nothing"]).unwrap_err();
        assert!(empty.contains("no targets"), "{empty}");
        let bad_id = parse(&[r#"{"id": "../etc", "url_env": "ACME_URL"}"#]).unwrap_err();
        assert!(bad_id.contains("an id is"), "{bad_id}");
    }
}
