//! What `init` finds in a repository: where the Prisma schema and migrations are
//! (`prisma.config.ts`, `package.json`'s `prisma.schema`, or `prisma/schema.prisma`),
//! the project's own Prisma CLI and its version, and the variables holding the
//! database URL and a direct URL. Each finding says where it came from; what is not
//! found says so, and tasks.toml gets the key commented out instead of a guess.

use std::path::Path;

use crate::config::prisma_schema::{self, ConfigFile};

/// One tasks.toml key: its value when found, and a note for the comment above it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Finding {
    pub value: Option<String>,
    pub note: String,
}

impl Finding {
    fn found(value: impl Into<String>, note: impl Into<String>) -> Finding {
        Finding { value: Some(value.into()), note: note.into() }
    }

    fn missing(note: impl Into<String>) -> Finding {
        Finding { value: None, note: note.into() }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Detection {
    /// The Prisma config file, relative to the root.
    pub config_file: Option<String>,
    pub schema: Finding,
    pub migrations: Finding,
    pub url_env: Finding,
    pub direct_url_env: Finding,
    /// The Prisma CLI command as a TOML array.
    pub command: Finding,
    /// The installed CLI's version (node_modules/prisma/package.json).
    pub prisma_version: Option<String>,
    /// Prisma's major version, from the installed CLI or package.json.
    pub prisma_major: Option<u32>,
    /// Things the user should know (wrong provider, literal URL, ...).
    pub warnings: Vec<String>,
}

/// Prisma's config file names, in the order Prisma looks for them.
const CONFIG_FILES: &[&str] = &[
    "prisma.config.ts",
    "prisma.config.mts",
    "prisma.config.cts",
    "prisma.config.js",
    "prisma.config.mjs",
    "prisma.config.cjs",
    ".config/prisma.ts",
];

pub(crate) fn detect(root: &Path) -> Detection {
    let config_file = CONFIG_FILES.iter().find(|f| root.join(f).is_file()).map(|f| f.to_string());
    let config: Option<ConfigFile> = config_file
        .as_ref()
        .and_then(|f| std::fs::read_to_string(root.join(f)).ok())
        .map(|t| prisma_schema::config_file(&t));
    let package: Option<serde_json::Value> =
        std::fs::read_to_string(root.join("package.json")).ok().and_then(|t| serde_json::from_str(&t).ok());
    let mut warnings = Vec::new();

    // The schema: the config, then package.json, then Prisma's conventional places.
    let package_schema = package.as_ref().and_then(|p| p["prisma"]["schema"].as_str()).map(clean);
    let config_schema = config.as_ref().and_then(|c| c.schema.clone()).map(|s| clean(&s));
    let cfg_name = config_file.clone().unwrap_or_default();
    let schema = if let Some(s) = config_schema {
        exists_or_warn(root, &s, &format!("`schema` in {cfg_name}"), &mut warnings)
    } else if let Some(s) = package_schema {
        exists_or_warn(root, &s, "`prisma.schema` in package.json", &mut warnings)
    } else if let Some(s) =
        ["prisma/schema.prisma", "schema.prisma", "prisma/schema"].into_iter().find(|s| root.join(s).exists())
    {
        Finding::found(s, format!("found {s} (Prisma's default place)"))
    } else {
        Finding::missing(format!(
            "no Prisma schema found (looked at {}, package.json `prisma.schema`, prisma/schema.prisma): set the path of schema.prisma",
            CONFIG_FILES[0]
        ))
    };

    // Migrations: the config's migrations.path, else `migrations` beside the schema.
    let config_migrations = config.as_ref().and_then(|c| c.migrations.clone()).map(|s| clean(&s));
    let migrations = if let Some(m) = config_migrations {
        exists_or_warn(root, &m, &format!("`migrations.path` in {cfg_name}"), &mut warnings)
    } else if let Some(s) = &schema.value {
        let dir = if root.join(s).is_dir() { s.clone() } else { parent(s) };
        let m = if dir.is_empty() { "migrations".to_string() } else { format!("{dir}/migrations") };
        if root.join(&m).is_dir() {
            Finding::found(m, "the migrations directory beside the schema")
        } else {
            Finding::missing(format!(
                "{m} (beside the schema) does not exist yet: create your first migration with `prisma migrate dev`, or set the directory here"
            ))
        }
    } else {
        Finding::missing("no migrations directory found: set it (status, diagnose and the evidence read it)")
    };

    // The URL variables: the config's datasource (Prisma 7), else the schema's.
    let ds = schema.value.as_deref().and_then(|s| prisma_schema::datasource_of(&root.join(s)));
    if let Some(p) = ds.as_ref().and_then(|d| d.provider.as_deref()) {
        if p != "postgresql" && p != "postgres" {
            warnings.push(format!("the schema's datasource provider is `{p}`: this tool works with PostgreSQL only"));
        }
    }
    let url_env = if let Some(v) = config.as_ref().and_then(|c| c.url_env.clone()) {
        Finding::found(v.clone(), format!("`datasource.url = env(\"{v}\")` in {cfg_name}"))
    } else if let Some(v) = ds.as_ref().and_then(|d| d.url_env.clone()) {
        Finding::found(v.clone(), format!("`url = env(\"{v}\")` in the schema's datasource"))
    } else {
        if ds.as_ref().is_some_and(|d| d.url_literal) || config.as_ref().is_some_and(|c| c.url_other) {
            warnings.push(
                "the datasource URL is not read from an environment variable (env(...)): the tool needs it in one; keep secrets out of the repository".into(),
            );
        }
        Finding::missing(
            "no env(\"...\") names the database URL's variable (schema datasource or Prisma config): the default DATABASE_URL applies; set the name if yours differs",
        )
    };
    let direct = config
        .as_ref()
        .and_then(|c| c.direct_url_env.clone())
        .or_else(|| ds.as_ref().and_then(|d| d.direct_url_env.clone()));
    let direct_url_env = match direct {
        Some(v) if Some(&v) != url_env.value.as_ref() => Finding::found(
            v.clone(),
            format!("`directUrl = env(\"{v}\")`: pg_dump, the deploy lock, status and the evidence use it; Prisma gets both variables"),
        ),
        _ => Finding::missing(
            "no directUrl declared: if the URL above goes through PgBouncer, Supabase or Neon's pooler, set the variable of the direct URL here",
        ),
    };

    // The project's own Prisma CLI (npx would download one otherwise).
    let installed: Option<serde_json::Value> = std::fs::read_to_string(root.join("node_modules/prisma/package.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let prisma_version = installed.as_ref().and_then(|p| p["version"].as_str()).map(String::from);
    let wanted = package.as_ref().and_then(|p| {
        ["devDependencies", "dependencies"].iter().find_map(|k| p[k]["prisma"].as_str()).map(String::from)
    });
    let command = if root.join("node_modules/.bin/prisma").exists() {
        Finding::found(
            r#"["npx", "--no-install", "prisma"]"#,
            format!(
                "the project's own CLI, node_modules/.bin/prisma ({}); --no-install: never a downloaded one",
                prisma_version.as_deref().map(|v| format!("prisma {v}")).unwrap_or_else(|| "version unknown".into())
            ),
        )
    } else if let Some(w) = &wanted {
        Finding::found(
            r#"["npx", "--no-install", "prisma"]"#,
            format!("package.json asks for prisma {w}; it is not installed here yet: run `npm ci` before deploying"),
        )
    } else {
        Finding::missing(
            "no Prisma CLI found (node_modules/.bin/prisma, or prisma in package.json): set the command that runs your Prisma CLI, e.g. [\"npx\", \"--no-install\", \"prisma\"]",
        )
    };
    let prisma_major = prisma_version.as_deref().or(wanted.as_deref()).and_then(major);

    Detection {
        config_file,
        schema,
        migrations,
        url_env,
        direct_url_env,
        command,
        prisma_version,
        prisma_major,
        warnings,
    }
}

/// `./prisma/schema.prisma` and `prisma\schema.prisma` as `prisma/schema.prisma`.
fn clean(p: &str) -> String {
    let p = p.replace('\\', "/");
    p.trim_start_matches("./").trim_end_matches('/').to_string()
}

fn parent(p: &str) -> String {
    p.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default()
}

fn exists_or_warn(root: &Path, rel: &str, from: &str, warnings: &mut Vec<String>) -> Finding {
    if !root.join(rel).exists() {
        warnings.push(format!("{from} names {rel}, which does not exist"));
    }
    Finding::found(rel, format!("from {from}"))
}

/// The major version in `6.19.3`, `^7.0.0`, `~6.2`, `>=7`.
fn major(spec: &str) -> Option<u32> {
    let digits: String =
        spec.trim_start_matches(|c: char| !c.is_ascii_digit()).chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majors_from_version_specs() {
        assert_eq!(major("6.19.3"), Some(6));
        assert_eq!(major("^7.0.0"), Some(7));
        assert_eq!(major(">=7"), Some(7));
        assert_eq!(major("latest"), None);
    }
}
