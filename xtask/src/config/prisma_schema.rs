//! What the tool reads from a Prisma project's own files: the schema's `datasource`
//! block (provider, the variables named by `url` and `directUrl`) and the keys of a
//! `prisma.config.ts` (Prisma 7 keeps `schema`, `migrations.path` and the datasource
//! URL there). Plain text scanning: nothing of the project is executed.

use std::path::Path;

/// A datasource block's settings that matter to the tool.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Datasource {
    pub provider: Option<String>,
    /// The variable of `url = env("...")`.
    pub url_env: Option<String>,
    /// `url` is written, but not as `env("...")` (a literal URL in the schema).
    pub url_literal: bool,
    /// The variable of `directUrl = env("...")` (Prisma 5/6; poolers).
    pub direct_url_env: Option<String>,
}

/// The `datasource` block of schema text, if it has one.
pub(crate) fn datasource(schema: &str) -> Option<Datasource> {
    let mut lines = schema.lines().map(|l| strip_comment(l).trim());
    lines.find(|l| l.starts_with("datasource ") && l.ends_with('{'))?;
    let mut ds = Datasource::default();
    for line in lines {
        if line.starts_with('}') {
            break;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        let value = value.trim();
        match key.trim() {
            "provider" => ds.provider = string_literal(value),
            "url" => {
                ds.url_env = env_call(value);
                ds.url_literal = ds.url_env.is_none();
            }
            "directUrl" => ds.direct_url_env = env_call(value),
            _ => {}
        }
    }
    Some(ds)
}

/// Whether `path` is a schema Prisma accepts as `--schema`: a file, or a folder
/// holding `.prisma` files (the multi-file schema, Prisma 6.7 and later).
pub(crate) fn is_schema(path: &Path) -> bool {
    path.is_file() || schema_files(path).is_some_and(|files| files.iter().any(|f| f.is_file()))
}

/// The datasource of a schema file, or of the first file of a schema folder
/// (Prisma's multi-file schemas) that has one.
pub(crate) fn datasource_of(path: &Path) -> Option<Datasource> {
    if path.is_dir() {
        return schema_files(path)?.iter().find_map(|f| datasource(&std::fs::read_to_string(f).ok()?));
    }
    datasource(&std::fs::read_to_string(path).ok()?)
}

/// The `.prisma` entries of a schema folder, sorted; `None` when it cannot be read.
fn schema_files(dir: &Path) -> Option<Vec<std::path::PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "prisma"))
        .collect();
    files.sort();
    Some(files)
}

fn strip_comment(line: &str) -> &str {
    match line.find("//") {
        Some(i) if !line[..i].contains('"') => &line[..i],
        _ => line,
    }
}

fn string_literal(s: &str) -> Option<String> {
    let s = s.trim_start();
    let quote = s.chars().next().filter(|c| matches!(c, '"' | '\'' | '`'))?;
    let rest = &s[1..];
    let end = rest.find(quote)?;
    Some(rest[..end].to_string())
}

/// `env("NAME")` (schema and config) or `process.env.NAME` / `process.env["NAME"]`.
fn env_call(s: &str) -> Option<String> {
    let s = s.trim_start();
    if let Some(inner) = s.strip_prefix("env(") {
        return string_literal(inner).filter(|n| !n.is_empty());
    }
    if let Some(rest) = s.strip_prefix("process.env.") {
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        return (!name.is_empty()).then_some(name);
    }
    if let Some(rest) = s.strip_prefix("process.env[") {
        return string_literal(rest).filter(|n| !n.is_empty());
    }
    None
}

/// A path a Prisma config gives, as far as text can tell what it is relative to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ConfigPath {
    /// Relative to the config file's own folder: a string literal, `join(__dirname, ...)`
    /// or `path.join("a", "b")` (Prisma resolves the config's paths from its folder).
    FromConfig(String),
    /// Relative to the directory Prisma runs in: `path.resolve("a")`, `process.cwd()`.
    FromCwd(String),
    /// Written, but as nothing text can evaluate (a variable, a call): its text.
    Unknown(String),
}

/// What a `prisma.config.ts` says, as far as text can tell.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ConfigFile {
    /// `schema: ...`.
    pub schema: Option<ConfigPath>,
    /// `migrations: { path: ... }`.
    pub migrations: Option<ConfigPath>,
    /// The variables of `datasource: { url: ... }` in the order they are tried:
    /// `env("A")`, `process.env.A`, and `??`/`||` chains of them.
    pub url_env: Vec<String>,
    /// The url expression as the file writes it (whitespace collapsed).
    pub url_text: Option<String>,
    /// `datasource: { directUrl: env("NAME") }` (early Prisma 6 configs).
    pub direct_url_env: Option<String>,
    /// `datasource` has a url that is (or has a part that is) not a variable.
    pub url_other: bool,
    /// `import "dotenv/config"`: the config loads `.env` itself.
    pub loads_dotenv: bool,
}

pub(crate) fn config_file(text: &str) -> ConfigFile {
    let code: String = text.lines().map(strip_comment).collect::<Vec<_>>().join("\n");
    let mut c = ConfigFile { schema: value_of(&code, "schema").map(path_expr), ..ConfigFile::default() };
    if let Some(block) = block_of(&code, "migrations") {
        c.migrations = value_of(block, "path").map(path_expr);
    }
    if let Some(block) = block_of(&code, "datasource") {
        if let Some(v) = value_of(block, "url") {
            let expr = expression(v);
            for part in split_fallbacks(&expr) {
                match env_call(part) {
                    Some(name) if !c.url_env.contains(&name) => c.url_env.push(name),
                    Some(_) => {}
                    None => c.url_other = true,
                }
            }
            c.url_text = Some(expr);
        }
        c.direct_url_env = value_of(block, "directUrl").and_then(env_call);
    }
    c.loads_dotenv = code.contains("dotenv/config") || code.contains("dotenv.config(") || code.contains("loadEnv");
    c
}

/// The characters of JavaScript source outside string literals, each with its
/// bracket depth before it: the one walk the scanners below share.
fn outside_strings(code: &str) -> impl Iterator<Item = (usize, char, u32)> + '_ {
    let (mut depth, mut quote, mut escaped) = (0u32, None::<char>, false);
    code.char_indices().filter_map(move |(i, ch)| match quote {
        Some(q) => {
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == q {
                quote = None;
            }
            None
        }
        None => {
            let before = depth;
            match ch {
                '"' | '\'' | '`' => {
                    quote = Some(ch);
                    return None;
                }
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            Some((i, ch, before))
        }
    })
}

/// The expression at the start of `v`: up to a `,` or a closing bracket outside
/// brackets and strings, whitespace collapsed.
fn expression(v: &str) -> String {
    let end = outside_strings(v)
        .find(|&(_, ch, depth)| depth == 0 && matches!(ch, ',' | '}' | ')' | ']'))
        .map_or(v.len(), |(i, ..)| i);
    v[..end].split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `a ?? b || c` as `[a, b, c]` (outside brackets; a plain expression is one part).
fn split_fallbacks(expr: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut walk = outside_strings(expr).peekable();
    while let Some((i, ch, depth)) = walk.next() {
        if depth == 0 && matches!(ch, '?' | '|') && walk.peek().is_some_and(|&(j, next, _)| j == i + 1 && next == ch) {
            walk.next();
            parts.push(expr[start..i].trim());
            start = i + 2;
        }
    }
    parts.push(expr[start..].trim());
    parts
}

/// The text after `key:` (the key as a whole word, object-literal style).
fn value_of<'a>(code: &'a str, key: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = code[from..].find(key).map(|i| i + from) {
        from = i + key.len();
        let before_ok = code[..i].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.'));
        let after = code[from..].trim_start();
        let after = after.strip_prefix('"').or_else(|| after.strip_prefix('\'')).unwrap_or(after);
        if before_ok {
            if let Some(v) = after.trim_start().strip_prefix(':') {
                return Some(v.trim_start());
            }
        }
    }
    None
}

/// The `{ ... }` after `key:` (up to its matching brace, braces in strings aside).
fn block_of<'a>(code: &'a str, key: &str) -> Option<&'a str> {
    let body = value_of(code, key)?.strip_prefix('{')?;
    let end = outside_strings(body).find(|&(_, ch, depth)| depth == 0 && ch == '}').map_or(body.len(), |(i, ..)| i);
    Some(&body[..end])
}

fn is_dirname(arg: &str) -> bool {
    matches!(arg, "__dirname" | "import.meta.dirname")
}

/// A path expression of a config: a string literal (also a template literal that
/// starts with `${__dirname}/`), or `join`/`path.join`/`resolve`/`path.resolve` of
/// string literals, `__dirname` and `process.cwd()`. Anything else is `Unknown`.
fn path_expr(v: &str) -> ConfigPath {
    let text = expression(v);
    let unknown = || ConfigPath::Unknown(text.clone());
    if let Some(s) = string_literal(&text) {
        if let Some(rest) = s.strip_prefix("${__dirname}/").or_else(|| s.strip_prefix("${import.meta.dirname}/")) {
            return if rest.contains("${") { unknown() } else { ConfigPath::FromConfig(rest.to_string()) };
        }
        return if s.contains("${") { unknown() } else { ConfigPath::FromConfig(s) };
    }
    let (resolve, args) = if let Some(a) =
        ["path.join(", "join(", "posix.join("].iter().find_map(|p| text.strip_prefix(p))
    {
        (false, a)
    } else if let Some(a) = ["path.resolve(", "resolve(", "posix.resolve("].iter().find_map(|p| text.strip_prefix(p)) {
        (true, a)
    } else {
        return unknown();
    };
    let Some(args) = args.strip_suffix(')') else { return unknown() };
    let mut parts = Vec::new();
    let mut from_config = !resolve;
    for (i, arg) in args.split(',').map(str::trim).enumerate() {
        if arg.is_empty() {
            continue;
        }
        if i == 0 && is_dirname(arg) {
            from_config = true;
            continue;
        }
        if i == 0 && arg == "process.cwd()" {
            from_config = false;
            continue;
        }
        match string_literal(arg) {
            Some(s) if !s.contains("${") => parts.push(s),
            _ => return unknown(),
        }
    }
    if parts.is_empty() {
        return unknown();
    }
    let joined = parts.join("/");
    if from_config {
        ConfigPath::FromConfig(joined)
    } else {
        ConfigPath::FromCwd(joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_datasource_block() {
        let s = "generator client {\n  provider = \"prisma-client-js\"\n}\n\ndatasource db {\n  provider  = \"postgresql\" // pg\n  url       = env(\"POOLED_URL\")\n  directUrl = env(\"DIRECT_URL\")\n}\n";
        let d = datasource(s).unwrap();
        assert_eq!(d.provider.as_deref(), Some("postgresql"));
        assert_eq!(d.url_env.as_deref(), Some("POOLED_URL"));
        assert_eq!(d.direct_url_env.as_deref(), Some("DIRECT_URL"));
        // Prisma 7: no url in the schema.
        let d = datasource("datasource db {\n  provider = \"postgresql\"\n}\n").unwrap();
        assert_eq!((d.url_env, d.url_literal), (None, false));
        assert!(datasource("model A { id Int @id }").is_none());
    }

    #[test]
    fn reads_a_prisma_7_config() {
        let c = config_file(
            r#"import "dotenv/config";
import { defineConfig, env } from "prisma/config";
export default defineConfig({
  schema: "src/prisma/db/schema.prisma",
  migrations: { path: "src/prisma/db/migrations", seed: "tsx prisma/seed.ts" },
  datasource: { url: env("DIRECT_URL") },
});"#,
        );
        assert_eq!(c.schema, Some(ConfigPath::FromConfig("src/prisma/db/schema.prisma".into())));
        assert_eq!(c.migrations, Some(ConfigPath::FromConfig("src/prisma/db/migrations".into())));
        assert_eq!(c.url_env, ["DIRECT_URL"]);
        assert_eq!(c.url_text.as_deref(), Some("env(\"DIRECT_URL\")"));
        assert!(c.loads_dotenv);
        let c = config_file(
            "export default defineConfig({\n  schema: path.join(\"prisma\", \"schema.prisma\"),\n  migrations: {\n    path: path.join(__dirname, 'prisma', 'migrations'),\n  },\n  datasource: { url: process.env.DATABASE_URL! },\n})",
        );
        assert_eq!(c.schema, Some(ConfigPath::FromConfig("prisma/schema.prisma".into())));
        assert_eq!(c.migrations, Some(ConfigPath::FromConfig("prisma/migrations".into())));
        assert_eq!(c.url_env, ["DATABASE_URL"]);
        assert!(!c.loads_dotenv && !c.url_other);
        assert_eq!(config_file("export default {}"), ConfigFile::default());
    }

    #[test]
    fn brackets_and_escaped_quotes_inside_strings_do_not_end_an_expression() {
        assert_eq!(expression(r#"env("A\"}") ?? "x,y", next: 1"#), r#"env("A\"}") ?? "x,y""#);
        assert_eq!(split_fallbacks(r#"f("a??b") ?? g(c || d) || 'e'"#), vec![r#"f("a??b")"#, "g(c || d)", "'e'"]);
        assert_eq!(
            block_of("datasource: { url: '}', x: { y: 1 } }, z: 2", "datasource"),
            Some(" url: '}', x: { y: 1 } ")
        );
    }

    #[test]
    fn reads_fallback_urls_and_paths_prisma_resolves_elsewhere() {
        let c = config_file(
            "export default defineConfig({\n  schema: join(__dirname, '..', 'prisma', 'schema.prisma'),\n  migrations: { path: path.resolve('db', 'migrations') },\n  datasource: {\n    url: process.env.DIRECT_URL ??\n      process.env.DATABASE_URL,\n  },\n})",
        );
        assert_eq!(c.schema, Some(ConfigPath::FromConfig("../prisma/schema.prisma".into())));
        assert_eq!(c.migrations, Some(ConfigPath::FromCwd("db/migrations".into())));
        assert_eq!(c.url_env, ["DIRECT_URL", "DATABASE_URL"]);
        assert_eq!(c.url_text.as_deref(), Some("process.env.DIRECT_URL ?? process.env.DATABASE_URL"));
        let c = config_file(
            "export default { schema: process.env.SCHEMA_PATH, datasource: { url: process.env.DB_URL || 'postgres://localhost/dev' } }",
        );
        assert_eq!(c.schema, Some(ConfigPath::Unknown("process.env.SCHEMA_PATH".into())));
        assert_eq!(c.url_env, ["DB_URL"]);
        assert!(c.url_other);
        let c = config_file("export default { schema: `${__dirname}/db/schema.prisma` }");
        assert_eq!(c.schema, Some(ConfigPath::FromConfig("db/schema.prisma".into())));
    }
}
