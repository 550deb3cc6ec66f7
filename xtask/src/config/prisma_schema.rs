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

/// The datasource of a schema file, or of the first file of a schema folder
/// (Prisma's multi-file schemas) that has one.
pub(crate) fn datasource_of(path: &Path) -> Option<Datasource> {
    if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "prisma"))
            .collect();
        files.sort();
        return files.iter().find_map(|f| datasource(&std::fs::read_to_string(f).ok()?));
    }
    datasource(&std::fs::read_to_string(path).ok()?)
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

/// What a `prisma.config.ts` says, as far as text can tell.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ConfigFile {
    /// `schema: "..."` or `schema: path.join("a", "b")`, relative to the config's folder.
    pub schema: Option<String>,
    /// `migrations: { path: "..." }`.
    pub migrations: Option<String>,
    /// `datasource: { url: env("NAME") }`.
    pub url_env: Option<String>,
    /// `datasource: { directUrl: env("NAME") }` (early Prisma 6 configs).
    pub direct_url_env: Option<String>,
    /// `datasource` is there but its url is not an `env(...)` the tool can follow.
    pub url_other: bool,
    /// `import "dotenv/config"`: the config loads `.env` itself.
    pub loads_dotenv: bool,
}

pub(crate) fn config_file(text: &str) -> ConfigFile {
    let code: String = text.lines().map(strip_comment).collect::<Vec<_>>().join("\n");
    let mut c = ConfigFile { schema: value_of(&code, "schema").and_then(path_expr), ..ConfigFile::default() };
    if let Some(block) = block_of(&code, "migrations") {
        c.migrations = value_of(block, "path").and_then(path_expr);
    }
    if let Some(block) = block_of(&code, "datasource") {
        if let Some(v) = value_of(block, "url") {
            c.url_env = env_call(v);
            c.url_other = c.url_env.is_none();
        }
        c.direct_url_env = value_of(block, "directUrl").and_then(env_call);
    }
    c.loads_dotenv = code.contains("dotenv/config") || code.contains("dotenv.config(") || code.contains("loadEnv");
    c
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

/// The `{ ... }` after `key:` (up to its matching brace).
fn block_of<'a>(code: &'a str, key: &str) -> Option<&'a str> {
    let v = value_of(code, key)?;
    let body = v.strip_prefix('{')?;
    let mut depth = 1;
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&body[..i]);
                }
            }
            _ => {}
        }
    }
    Some(body)
}

/// A string literal, or `path.join(...)`/`join(...)`/`path.resolve(...)` of string
/// literals (joined with `/`; `__dirname` and `import.meta.dirname` are the config's folder).
fn path_expr(v: &str) -> Option<String> {
    if let Some(s) = string_literal(v) {
        return Some(s);
    }
    let args = ["path.join(", "join(", "path.resolve(", "resolve("].iter().find_map(|p| v.strip_prefix(p))?;
    let end = args.find(')')?;
    let mut parts = Vec::new();
    for arg in args[..end].split(',') {
        let arg = arg.trim();
        if arg == "__dirname" || arg == "import.meta.dirname" || arg.is_empty() {
            continue;
        }
        parts.push(string_literal(arg)?);
    }
    (!parts.is_empty()).then(|| parts.join("/"))
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
        assert_eq!(c.schema.as_deref(), Some("src/prisma/db/schema.prisma"));
        assert_eq!(c.migrations.as_deref(), Some("src/prisma/db/migrations"));
        assert_eq!(c.url_env.as_deref(), Some("DIRECT_URL"));
        assert!(c.loads_dotenv);
        let c = config_file(
            "export default defineConfig({\n  schema: path.join(\"prisma\", \"schema.prisma\"),\n  migrations: {\n    path: path.join(__dirname, 'prisma', 'migrations'),\n  },\n  datasource: { url: process.env.DATABASE_URL! },\n})",
        );
        assert_eq!(c.schema.as_deref(), Some("prisma/schema.prisma"));
        assert_eq!(c.migrations.as_deref(), Some("prisma/migrations"));
        assert_eq!(c.url_env.as_deref(), Some("DATABASE_URL"));
        assert!(!c.loads_dotenv);
        assert_eq!(config_file("export default {}"), ConfigFile::default());
    }
}
