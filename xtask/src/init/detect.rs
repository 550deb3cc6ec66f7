//! What `init` finds in a repository: where the Prisma schema and migrations are
//! (Prisma's config file wherever Prisma 7 looks for one, `package.json`'s
//! `prisma.schema`, or `prisma/schema.prisma`), the project's own Prisma CLI and
//! its version, and the variables holding the database URL and a direct URL. Each
//! finding says where it came from; what is not found says so, and tasks.toml gets
//! the key commented out instead of a guess. Nothing of the project is executed:
//! its files are read as text, and every value found is untrusted (it is written
//! to tasks.toml only through the TOML serialiser).

use std::path::Path;

use toml::Value;

use crate::config::prisma_schema::{self, ConfigFile, ConfigPath, Datasource};
pub(crate) use crate::packages::PackageManager;

/// One tasks.toml key: its value when found, and a note for the comment above it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Finding {
    pub value: Option<Value>,
    pub note: String,
}

impl Finding {
    fn found(value: impl Into<String>, note: impl Into<String>) -> Finding {
        Finding { value: Some(Value::String(value.into())), note: note.into() }
    }

    fn missing(note: impl Into<String>) -> Finding {
        Finding { value: None, note: note.into() }
    }

    /// The value when it is one string.
    pub(crate) fn as_str(&self) -> Option<&str> {
        self.value.as_ref().and_then(Value::as_str)
    }

    /// The value for a line of output: strings as they are, arrays joined.
    pub(crate) fn display(&self) -> Option<String> {
        let v = self.value.as_ref()?;
        Some(match v {
            Value::String(s) => s.clone(),
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().map(String::from).unwrap_or_else(|| x.to_string()))
                .collect::<Vec<_>>()
                .join(" "),
            other => other.to_string(),
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Detection {
    /// The app's folder relative to the root ("" for the root): where Prisma runs.
    pub app: String,
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
    /// The package manager, from the lock file beside package.json.
    pub package_manager: Option<PackageManager>,
    /// The folder of its lock file, relative to the root ("" for the root).
    pub lock_dir: Option<String>,
    /// Things the user should know (wrong provider, literal URL, ...).
    pub warnings: Vec<String>,
}

/// The most init reads of one file: repository files are small, and a planted
/// link to `/dev/zero` or a FIFO must not hang or exhaust init.
const MAX_READ: u64 = 16 << 20;

/// A repository file's text: only a regular file (a link to one is fine) of at
/// most [`MAX_READ`] bytes.
pub(crate) fn read_text(path: &Path) -> std::io::Result<String> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() || meta.len() > MAX_READ {
        return Err(std::io::Error::other("not a regular file of at most 16 MiB"));
    }
    std::fs::read_to_string(path)
}

/// A repository JSON file (package.json) read with [`read_text`]'s bounds and
/// parsed; `None` when it is missing, too large or not JSON.
pub(crate) fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&read_text(path).ok()?).ok()
}

/// Prisma's config file names, in the order Prisma 7 looks for them (its loader,
/// c12, tries `prisma.config.<ext>`, then `.config/prisma.<ext>`, then
/// `.config/prisma.config.<ext>`, each with the extensions in this order).
pub(crate) fn config_files() -> Vec<String> {
    let mut out = Vec::new();
    for base in ["prisma.config", ".config/prisma", ".config/prisma.config"] {
        for ext in ["js", "ts", "mjs", "cjs", "mts", "cts"] {
            out.push(format!("{base}.{ext}"));
        }
    }
    out
}

/// Prisma's conventional schema places, tried when nothing names one (or what
/// names one cannot be followed).
pub(crate) const CONVENTIONAL: [&str; 3] = ["prisma/schema.prisma", "schema.prisma", "prisma/schema"];

/// What the app in the folder `app` (relative to `root`, "" for the root) has,
/// with every path relative to the root: Prisma runs in `app`, and reads its
/// config, package.json and conventional schema places from there.
pub(crate) fn detect(root: &Path, app: &str) -> Detection {
    let config_file = config_files().into_iter().map(|f| join(app, &f)).find(|f| root.join(f).is_file());
    let config: Option<ConfigFile> =
        config_file.as_ref().and_then(|f| read_text(&root.join(f)).ok()).map(|t| prisma_schema::config_file(&t));
    let config_dir = config_file.as_deref().map(parent).unwrap_or_default();
    let package: Option<serde_json::Value> = read_json(&root.join(join(app, "package.json")));
    let mut warnings = Vec::new();
    let cfg_name = config_file.clone().unwrap_or_default();
    let project = Project { root, app, config, config_dir, cfg_name, package };

    // The schema: the config, then package.json, then Prisma's conventional places.
    let schema = project.schema(&mut warnings);
    // Migrations: the config's migrations.path, else `migrations` beside the schema.
    let migrations = project.migrations(&schema, &mut warnings);
    // The URL variables: the config's datasource (Prisma 7), else the schema's.
    let ds = schema.as_str().and_then(|s| prisma_schema::datasource_of(&root.join(s)));
    let (url_env, direct_url_env) = project.urls(ds.as_ref(), &mut warnings);
    // The project's own Prisma CLI (npx would download one otherwise).
    let (command, prisma_version, wanted) = project.command();
    let prisma_major = prisma_version.as_deref().or(wanted.as_deref()).and_then(major);
    let (package_manager, lock_dir) = project.package_manager();

    Detection {
        app: app.to_string(),
        config_file,
        schema,
        migrations,
        url_env,
        direct_url_env,
        command,
        prisma_version,
        prisma_major,
        package_manager,
        lock_dir,
        warnings,
    }
}

/// What [`detect`] reads once and every finding looks at: the Prisma config file
/// (its text parsed, its folder and name) and package.json.
struct Project<'a> {
    root: &'a Path,
    /// The app's folder relative to the root ("" for the root).
    app: &'a str,
    config: Option<ConfigFile>,
    config_dir: String,
    cfg_name: String,
    package: Option<serde_json::Value>,
}

impl Project<'_> {
    /// The schema: the config, then package.json, then Prisma's conventional places.
    fn schema(&self, warnings: &mut Vec<String>) -> Finding {
        let (root, config, config_dir, cfg_name, package) =
            (self.root, &self.config, self.config_dir.as_str(), self.cfg_name.as_str(), &self.package);
        let app = self.app;
        // package.json's path is relative to package.json's folder, the app's.
        let package_schema = package.as_ref().and_then(|p| p["prisma"]["schema"].as_str()).map(clean);
        let package_json = join(app, "package.json");
        let conventional = CONVENTIONAL.into_iter().map(|s| join(app, s)).find(|s| root.join(s).exists());
        let conventional = conventional.as_deref();
        if let Some(expr) = config.as_ref().and_then(|c| c.schema.clone()) {
            let from = format!("`schema` in {cfg_name}");
            match resolve(config_dir, app, &expr) {
                Ok(s) => exists_or_warn(root, &s, &from, warnings),
                Err(why) => match conventional {
                    Some(s) => Finding::found(
                        s,
                        format!("{from} {why}; {s} (Prisma's default place) exists and is used: check it"),
                    ),
                    None => Finding::missing(format!(
                        "{from} {why}, and no schema is at Prisma's default places: set the path of schema.prisma"
                    )),
                },
            }
        } else if let Some(s) = package_schema {
            match normalize(&join(app, &s)) {
                Some(s) => exists_or_warn(root, &s, &format!("`prisma.schema` in {package_json}"), warnings),
                None => Finding::missing(format!(
                    "`prisma.schema` in {package_json} is {s}, outside the repository: set the path of schema.prisma"
                )),
            }
        } else if let Some(s) = conventional {
            Finding::found(s, format!("found {s} (Prisma's default place)"))
        } else {
            Finding::missing(
            "no Prisma schema found (looked for Prisma's config files, package.json `prisma.schema`, prisma/schema.prisma): set the path of schema.prisma",
        )
        }
    }

    /// The config's migrations.path, else `migrations` beside the schema.
    fn migrations(&self, schema: &Finding, warnings: &mut Vec<String>) -> Finding {
        let (root, config, config_dir, cfg_name) =
            (self.root, &self.config, self.config_dir.as_str(), self.cfg_name.as_str());
        let beside_schema = |schema: &Finding| -> Option<String> {
            let s = schema.as_str()?;
            let dir = if root.join(s).is_dir() { s.to_string() } else { parent(s) };
            Some(if dir.is_empty() { "migrations".to_string() } else { format!("{dir}/migrations") })
        };
        match (config.as_ref().and_then(|c| c.migrations.clone()), beside_schema(schema)) {
        (Some(expr), beside) => {
            let from = format!("`migrations.path` in {cfg_name}");
            match (resolve(config_dir, self.app, &expr), beside) {
                (Ok(m), _) => exists_or_warn(root, &m, &from, warnings),
                (Err(why), Some(m)) if root.join(&m).is_dir() => {
                    Finding::found(m, format!("{from} {why}; the migrations directory beside the schema is used: check it"))
                }
                (Err(why), _) => Finding::missing(format!("{from} {why}: set the migrations directory")),
            }
        }
        (None, Some(m)) if root.join(&m).is_dir() => Finding::found(m, "the migrations directory beside the schema"),
        (None, Some(m)) => Finding::missing(format!(
            "{m} (beside the schema) does not exist yet: create your first migration with `prisma migrate dev`, or set the directory here"
        )),
        (None, None) => Finding::missing("no migrations directory found: set it (status, diagnose and the evidence read it)"),
    }
    }

    /// The URL's variables and the direct URL's: the config's datasource (Prisma 7),
    /// else the schema's `ds`.
    fn urls(&self, ds: Option<&Datasource>, warnings: &mut Vec<String>) -> (Finding, Finding) {
        let (config, cfg_name) = (&self.config, self.cfg_name.as_str());
        let config_urls = config.as_ref().map(|c| c.url_env.clone()).unwrap_or_default();
        let url_env = if !config_urls.is_empty() {
            let text = config.as_ref().and_then(|c| c.url_text.clone()).unwrap_or_default();
            let quoted = format!("`datasource.url: {text}` in {cfg_name}");
            if config_urls.len() == 1 {
                Finding::found(config_urls[0].clone(), quoted)
            } else {
                Finding {
                    value: Some(Value::Array(config_urls.iter().cloned().map(Value::String).collect())),
                    note: format!(
                    "{quoted}: the first of these variables that is set is used, in this order (the tool says which)"
                ),
                }
            }
        } else if let Some(v) = ds.and_then(|d| d.url_env.clone()) {
            Finding::found(v.clone(), format!("`url = env(\"{v}\")` in the schema's datasource"))
        } else {
            Finding::missing(
            "no env(\"...\") names the database URL's variable (schema datasource or Prisma config): the default DATABASE_URL applies; set the name if yours differs",
        )
        };
        if ds.is_some_and(|d| d.url_literal) || config.as_ref().is_some_and(|c| c.url_other) {
            warnings.push(match config.as_ref().and_then(|c| c.url_text.clone()) {
            Some(text) if config.as_ref().is_some_and(|c| c.url_other) => format!(
                "the datasource URL in {cfg_name} is `{text}`: only its environment variables are used by the tool; keep secrets out of the repository"
            ),
            _ => "the datasource URL is not read from an environment variable (env(...)): the tool needs it in one; keep secrets out of the repository".into(),
        });
        }
        let direct = config
            .as_ref()
            .and_then(|c| c.direct_url_env.clone())
            .or_else(|| ds.and_then(|d| d.direct_url_env.clone()));
        let direct_url_env = match direct {
        Some(v) if !config_urls.contains(&v) && Some(v.as_str()) != url_env.as_str() => Finding::found(
            v.clone(),
            format!("`directUrl = env(\"{v}\")`: pg_dump, the deploy lock, status and the evidence use it; Prisma gets both variables"),
        ),
        _ => Finding::missing(
            "no directUrl declared: if the URL above goes through PgBouncer, Supabase or Neon's pooler, set the variable of the direct URL here",
        ),
    };
        (url_env, direct_url_env)
    }

    /// The folders from the app's up to the root (relative, "" last): where
    /// node_modules and lock files are looked for, as Node and npx look (a
    /// workspace hoists its packages to the root).
    fn app_and_above(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut dir = self.app.to_string();
        loop {
            out.push(dir.clone());
            if dir.is_empty() {
                return out;
            }
            dir = parent(&dir);
        }
    }

    /// The Prisma CLI to run: the finding, the installed version and the one
    /// package.json asks for.
    fn command(&self) -> (Finding, Option<String>, Option<String>) {
        let (root, package) = (self.root, &self.package);
        let bin = self.app_and_above().into_iter().find(|d| root.join(join(d, "node_modules/.bin/prisma")).exists());
        let installed = bin.as_deref().and_then(|d| read_json(&root.join(join(d, "node_modules/prisma/package.json"))));
        let prisma_version = installed.as_ref().and_then(|p| p["version"].as_str()).map(String::from);
        let wanted = package.as_ref().and_then(|p| {
            ["devDependencies", "dependencies"].iter().find_map(|k| p[k]["prisma"].as_str()).map(String::from)
        });
        let npx = || Some(Value::Array(["npx", "--no-install", "prisma"].map(|a| Value::String(a.into())).to_vec()));
        let command = if let Some(d) = &bin {
            Finding {
                value: npx(),
                note: format!(
                    "the project's own CLI, {} ({}); --no-install: never a downloaded one",
                    join(d, "node_modules/.bin/prisma"),
                    prisma_version
                        .as_deref()
                        .map(|v| format!("prisma {v}"))
                        .unwrap_or_else(|| "version unknown".into())
                ),
            }
        } else if let Some(w) = &wanted {
            Finding {
                value: npx(),
                note: format!(
                    "{} asks for prisma {w}; it is not installed here yet: install your packages before deploying",
                    join(self.app, "package.json")
                ),
            }
        } else {
            Finding::missing(
            "no Prisma CLI found (node_modules/.bin/prisma, or prisma in package.json): set the command that runs your Prisma CLI, e.g. [\"npx\", \"--no-install\", \"prisma\"]",
        )
        };
        (command, prisma_version, wanted)
    }

    /// The package manager and the folder of its lock file: the nearest lock file
    /// from the app's folder up to the root, else package.json's `packageManager`.
    fn package_manager(&self) -> (Option<PackageManager>, Option<String>) {
        for d in self.app_and_above() {
            if let Some(pm) = PackageManager::by_lock_file(&self.root.join(&d)) {
                return (Some(pm), Some(d));
            }
        }
        // package.json's `packageManager: "pnpm@9.1.0"` (corepack) without a lock file.
        let field = |p: Option<&serde_json::Value>| PackageManager::by_field(p?["packageManager"].as_str()?);
        let root_package: Option<serde_json::Value> = read_json(&self.root.join("package.json"));
        (field(self.package.as_ref()).or_else(|| field(root_package.as_ref())), None)
    }
}

/// A config path as a path relative to the root, as Prisma resolves it: from the
/// config file's folder (`FromConfig`) or the directory Prisma runs in, the app's
/// folder `cwd` (`FromCwd`). `Err` says why it cannot be used: not evaluable, or
/// outside the repository.
fn resolve(config_dir: &str, cwd: &str, expr: &ConfigPath) -> Result<String, String> {
    let (base, rel) = match expr {
        ConfigPath::FromConfig(p) => (config_dir, p.as_str()),
        ConfigPath::FromCwd(p) => (cwd, p.as_str()),
        ConfigPath::Unknown(text) => {
            return Err(format!("is `{text}`, which init cannot evaluate without running the file"))
        }
    };
    if rel.starts_with('/') {
        return Err(format!("is the absolute path {rel}: tasks.toml keeps paths inside the repository"));
    }
    let joined = if base.is_empty() { rel.to_string() } else { format!("{base}/{rel}") };
    normalize(&joined).ok_or_else(|| format!("resolves to {joined}, outside the repository"))
}

/// `a/./b/../c` as `a/c`; `None` when `..` leaves the root or nothing is left.
fn normalize(p: &str) -> Option<String> {
    lexical(p).filter(|n| !n.is_empty())
}

/// A relative path kept inside the root, normalised (`.` and `a/..` are ""); `None`
/// when it leaves the root or is absolute. Lexical: no link is followed.
pub(crate) fn inside(p: &str) -> Option<String> {
    if p.starts_with('/') {
        return None;
    }
    lexical(p)
}

/// `p` with `.` and `..` applied, `\` read as `/`; `None` when `..` goes above the start.
fn lexical(p: &str) -> Option<String> {
    let p = p.replace('\\', "/");
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            other => out.push(other),
        }
    }
    Some(out.join("/"))
}

/// `./prisma/schema.prisma` and `prisma\schema.prisma` as `prisma/schema.prisma`.
fn clean(p: &str) -> String {
    let p = p.replace('\\', "/");
    p.trim_start_matches("./").trim_end_matches('/').to_string()
}

/// `name` in the folder `dir` (relative; "" for the root).
fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
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

    #[test]
    fn config_paths_resolve_from_the_config_folder_and_stay_inside() {
        let from = |p: &str| ConfigPath::FromConfig(p.into());
        assert_eq!(resolve(".config", "", &from("../prisma/schema.prisma")).unwrap(), "prisma/schema.prisma");
        assert_eq!(resolve(".config", "", &from("db/schema.prisma")).unwrap(), ".config/db/schema.prisma");
        assert_eq!(resolve("", "", &from("./prisma/schema.prisma")).unwrap(), "prisma/schema.prisma");
        assert_eq!(resolve(".config", "", &ConfigPath::FromCwd("db/m".into())).unwrap(), "db/m");
        // In a monorepo's app: from the app's config up to a shared package, and from where Prisma runs.
        assert_eq!(
            resolve("apps/api", "apps/api", &from("../../packages/db/schema.prisma")).unwrap(),
            "packages/db/schema.prisma"
        );
        assert_eq!(resolve("apps/api", "apps/api", &ConfigPath::FromCwd("db/m".into())).unwrap(), "apps/api/db/m");
        assert!(resolve("apps/api", "apps/api", &from("../../../x")).is_err());
        assert!(resolve("", "", &from("../prisma/schema.prisma")).unwrap_err().contains("outside the repository"));
        assert!(resolve("", "", &from("/etc/passwd")).is_err());
        assert!(resolve("", "", &ConfigPath::Unknown("process.env.X".into())).unwrap_err().contains("`process.env.X`"));
    }

    #[test]
    fn config_files_are_looked_for_as_prisma_does() {
        let files = config_files();
        assert_eq!(files[0], "prisma.config.js");
        assert_eq!(files[1], "prisma.config.ts");
        assert!(
            files.iter().position(|f| f == ".config/prisma.ts")
                < files.iter().position(|f| f == ".config/prisma.config.ts")
        );
        assert_eq!(files.len(), 18);
    }
}
