//! Which folder of the repository holds the Prisma app `init` adopts: the root
//! when it has one of its own, else the Prisma apps below it (its direct
//! subfolders, `apps/*`, `packages/*`, `services/*` and the workspace globs of
//! package.json and pnpm-workspace.yaml), or the folder `--app` names. The walk
//! reads directory listings only, follows no symbolic link, skips node_modules,
//! .git, target and hidden folders, and is bounded in depth and in entries read,
//! so a huge repository cannot make init slow.

use std::collections::BTreeSet;
use std::path::Path;

use super::detect::{config_files, read_json, read_text, CONVENTIONAL};
use crate::exit::Failure;

/// The deepest a workspace glob (`**`) is followed, in folders below the root.
const MAX_DEPTH: usize = 5;

/// The most directory entries the walk reads before it stops looking (and then
/// again, the most it reads to check the folders found).
const MAX_ENTRIES: usize = 20_000;

/// Folders never looked into (besides hidden ones).
const SKIPPED: [&str; 3] = ["node_modules", "target", ".git"];

/// What marks a folder as a Prisma app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Mark {
    /// Its package.json depends on `prisma` or `@prisma/client`, and nothing more.
    Dependency,
    /// A Prisma config file, package.json's `prisma.schema`, or a schema where
    /// Prisma looks by default: where the migrations are.
    Schema,
}

/// What marks the folder `rel` (relative to `root`, "" for the root) as a Prisma app.
pub(crate) fn mark(root: &Path, rel: &str) -> Option<Mark> {
    let dir = root.join(rel);
    let package: Option<serde_json::Value> = read_json(&dir.join("package.json"));
    let schema_key = package.as_ref().is_some_and(|p| p["prisma"]["schema"].is_string());
    if schema_key
        || config_files().iter().any(|f| dir.join(f).is_file())
        || CONVENTIONAL.iter().any(|s| dir.join(s).exists())
    {
        return Some(Mark::Schema);
    }
    let depends = package.as_ref().is_some_and(|p| {
        ["dependencies", "devDependencies"]
            .iter()
            .any(|k| ["prisma", "@prisma/client"].iter().any(|d| p[k][d].is_string()))
    });
    depends.then_some(Mark::Dependency)
}

/// The app init adopts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Choice {
    /// The app's folder relative to the root; "" for the root itself.
    pub dir: String,
    /// How it was chosen, for the summary; `None` for the root's own app.
    pub how: Option<String>,
}

/// The Prisma apps found below the root.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Folders relative to the root, sorted, with what marks each as an app.
    pub apps: Vec<(String, Mark)>,
    /// The walk stopped at its bound before looking everywhere.
    pub truncated: bool,
}

/// The app to adopt: `--app` when given, else the root's own app (one that names
/// a schema), else the one app found below the root. Several found: a usage error
/// listing them with the command that chooses each (`rerun` is the rest of the
/// user's command line, already quoted). Nothing found: the root, as before.
pub(crate) fn choose(root: &Path, app: Option<&str>, rerun: &str) -> Result<Choice, Failure> {
    if let Some(given) = app {
        return given_app(root, given);
    }
    let at_root = mark(root, "");
    if at_root == Some(Mark::Schema) {
        return Ok(Choice { dir: String::new(), how: None });
    }
    let found = search(root);
    // Folders where migrations live win over ones that only use the client.
    let best = found.apps.iter().map(|(_, m)| *m).max();
    let apps: Vec<&String> = match (best, at_root) {
        (None, _) => Vec::new(),
        // The root depends on Prisma itself: only an app with a schema beats it.
        (Some(Mark::Dependency), Some(_)) => Vec::new(),
        (Some(b), _) => found.apps.iter().filter(|(_, m)| *m == b).map(|(a, _)| a).collect(),
    };
    let bound = found.truncated.then(|| {
        format!("init stopped looking after {MAX_ENTRIES} entries; `--app DIR` names a folder it did not reach")
    });
    let with_bound = |text: String| match &bound {
        Some(b) => format!("{text}; {b}"),
        None => text,
    };
    match apps.as_slice() {
        [] => Ok(Choice { dir: String::new(), how: bound.clone() }),
        [one] => Ok(Choice {
            dir: one.to_string(),
            how: Some(with_bound("the one Prisma app found below the root, which has none of its own".into())),
        }),
        many => {
            let list: Vec<String> = many
                .iter()
                .map(|a| {
                    let quoted = crate::proc::shell_quote(a);
                    // A folder's name is untrusted: no line break reaches the terminal.
                    let line = crate::invocation::cmd(&format!("init{rerun} --app {quoted}"));
                    format!("  {}", super::render::comment(&line))
                })
                .collect();
            let names: Vec<String> = many.iter().map(|a| super::render::comment(a)).collect();
            Err(Failure::usage(format!(
                "{} Prisma apps found below the root and none at it ({}): nothing was written; run init again with the one whose migrations to deploy:\n{}",
                many.len(),
                with_bound(names.join(", ")),
                list.join("\n")
            )))
        }
    }
}

/// `--app DIR`: a folder inside the repository (no link out of it) holding a Prisma app.
fn given_app(root: &Path, given: &str) -> Result<Choice, Failure> {
    let refuse = |why: String| {
        Err(Failure::usage(format!("--app {}: {why}; nothing was written", super::render::comment(given))))
    };
    let root_real = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let path = root.join(given);
    let real = match path.canonicalize() {
        Ok(r) => r,
        Err(_) if !path.exists() && super::detect::inside(given).is_none() => {
            return refuse("is outside this repository: pass a folder inside it, relative to the root".into())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return refuse("does not exist: pass the folder of the Prisma app, relative to the root".into())
        }
        Err(e) => {
            return refuse(format!("cannot be read ({e}): pass the folder of the Prisma app, relative to the root"))
        }
    };
    let Ok(rel) = real.strip_prefix(&root_real) else {
        return refuse("is outside this repository (init runs from its root): pass a folder inside it".into());
    };
    if !real.is_dir() {
        return refuse("is not a folder: pass the folder that holds the app's package.json".into());
    }
    let Some(rel) = rel.to_str().map(String::from) else {
        return refuse("is not a UTF-8 path: rename it, or run init in that folder".into());
    };
    if mark(root, &rel).is_none() {
        return refuse(format!(
            "{} holds no Prisma app (no package.json depending on prisma or @prisma/client, no prisma.config.*, no schema.prisma where Prisma looks): pass the folder that holds one",
            if rel.is_empty() { "the root" } else { "it" }
        ));
    }
    let how = Some(if rel.is_empty() { "the root, from --app".to_string() } else { "from --app".to_string() });
    Ok(Choice { dir: rel, how })
}

/// The folders below the root that hold a Prisma app.
pub(crate) fn search(root: &Path) -> Found {
    search_within(root, MAX_ENTRIES)
}

/// [`search`], reading at most `budget` directory entries.
fn search_within(root: &Path, budget: usize) -> Found {
    let mut walk = Walk { root, budget, truncated: false, matched: BTreeSet::new() };
    let (include, exclude) = patterns(root);
    for p in &include {
        let segments: Vec<&str> = p.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
        if segments.is_empty() || segments.contains(&"..") {
            continue;
        }
        walk.expand("", &segments, 0);
    }
    let mut candidates: Vec<String> =
        std::mem::take(&mut walk.matched).into_iter().filter(|d| !exclude.iter().any(|x| matches_path(x, d))).collect();
    // Shallow folders first (where apps are), with a budget of their own: a walk
    // that spent its budget under `packages/**` still checks `apps/api`.
    candidates.sort_by_key(|d| d.matches('/').count());
    let walk_truncated = std::mem::replace(&mut walk.truncated, false);
    walk.budget = budget;
    let mut apps = Vec::new();
    for d in candidates {
        // An app's own folders (its `prisma/` holds a schema.prisma too) are its own.
        if apps.iter().any(|(a, _): &(String, Mark)| d.starts_with(&format!("{a}/"))) {
            continue;
        }
        // A glob such as `packages/**` matches every folder it reaches: one listing
        // each (counted in the budget) tells the few that may hold an app.
        if walk.may_hold_app(&d) {
            if let Some(m) = mark(root, &d) {
                apps.push((d, m));
            }
        }
        if walk.truncated {
            break;
        }
    }
    apps.sort();
    Found { apps, truncated: walk_truncated || walk.truncated }
}

/// The globs to look at: the direct subfolders, the usual workspace folders, and
/// the workspaces package.json and pnpm-workspace.yaml declare (`!` ones excluded).
fn patterns(root: &Path) -> (Vec<String>, Vec<String>) {
    let mut globs: Vec<String> = ["*", "apps/*", "packages/*", "services/*"].map(String::from).to_vec();
    let package: Option<serde_json::Value> = read_json(&root.join("package.json"));
    if let Some(p) = package {
        let ws = &p["workspaces"];
        let list = ws.as_array().or_else(|| ws["packages"].as_array());
        globs.extend(list.into_iter().flatten().filter_map(|v| v.as_str().map(String::from)));
    }
    if let Ok(text) = read_text(&root.join("pnpm-workspace.yaml")) {
        globs.extend(pnpm_packages(&text));
    }
    let clean = |g: &str| g.trim().trim_start_matches("./").trim_end_matches('/').to_string();
    let include = globs.iter().filter(|g| !g.trim().starts_with('!')).map(|g| clean(g)).collect();
    let exclude = globs.iter().filter_map(|g| g.trim().strip_prefix('!')).map(clean).collect();
    (include, exclude)
}

/// The `packages:` list of a pnpm-workspace.yaml, block (`- "apps/*"`) or flow
/// (`["apps/*"]`) style: the only key init reads, without a YAML parser.
fn pnpm_packages(text: &str) -> Vec<String> {
    let unquote = |s: &str| s.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
    let mut out = Vec::new();
    let mut in_list = false;
    for line in text.lines() {
        let line = line.split(" #").next().unwrap_or("");
        if let Some(rest) = line.strip_prefix("packages:") {
            let rest = rest.trim();
            if let Some(flow) = rest.strip_prefix('[') {
                out.extend(flow.trim_end_matches(']').split(',').map(unquote).filter(|s| !s.is_empty()));
            }
            in_list = rest.is_empty();
            continue;
        }
        if in_list {
            match line.trim_start().strip_prefix("- ") {
                Some(item) if line.starts_with([' ', '-']) => out.push(unquote(item)),
                _ if line.trim().is_empty() || line.trim_start().starts_with('#') => {}
                _ => in_list = false,
            }
        }
    }
    out
}

struct Walk<'a> {
    root: &'a Path,
    /// Directory entries left to read.
    budget: usize,
    truncated: bool,
    matched: BTreeSet<String>,
}

impl Walk<'_> {
    /// The folders below `dir` (relative, "" for the root) matching `segments`.
    fn expand(&mut self, dir: &str, segments: &[&str], depth: usize) {
        let Some((first, rest)) = segments.split_first() else {
            if !dir.is_empty() {
                self.matched.insert(dir.to_string());
            }
            return;
        };
        if *first == "**" {
            // Zero folders or more, level by level (breadth first): when the budget
            // runs out in one big package, its siblings were seen already.
            let (mut level, mut d) = (vec![dir.to_string()], depth);
            while !level.is_empty() {
                let mut next = Vec::new();
                for f in &level {
                    self.expand(f, rest, d);
                    if d < MAX_DEPTH {
                        next.extend(self.children(f));
                    }
                }
                (level, d) = (next, d + 1);
            }
        } else if !first.contains(['*', '?']) {
            let child = join(dir, first);
            if depth < MAX_DEPTH && is_plain_dir(self.root, &child) && !skipped(first) {
                self.expand(&child, rest, depth + 1);
            }
        } else if depth < MAX_DEPTH {
            for child in self.children(dir) {
                let name = child.rsplit('/').next().unwrap_or(&child);
                if wildcard(first, name) {
                    self.expand(&child, rest, depth + 1);
                }
            }
        }
    }

    /// Whether the folder `dir` has an entry that can make it an app (package.json,
    /// a schema, a `prisma` or `.config` folder, a Prisma config file): one listing
    /// instead of the twenty-odd lookups of [`mark`].
    fn may_hold_app(&mut self, dir: &str) -> bool {
        let Ok(entries) = std::fs::read_dir(self.root.join(dir)) else { return false };
        for e in entries.flatten() {
            if self.budget == 0 {
                self.truncated = true;
                return false;
            }
            self.budget -= 1;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if ["package.json", "schema.prisma", "prisma", ".config"].contains(&name.as_ref())
                || name.starts_with("prisma.config.")
            {
                return true;
            }
        }
        false
    }

    /// The subfolders of `dir` the walk may enter: real directories (no link),
    /// neither hidden nor skipped, within the budget.
    fn children(&mut self, dir: &str) -> Vec<String> {
        if self.budget == 0 {
            self.truncated = true;
            return Vec::new();
        }
        let Ok(entries) = std::fs::read_dir(self.root.join(dir)) else { return Vec::new() };
        let mut out = Vec::new();
        for e in entries.flatten() {
            if self.budget == 0 {
                self.truncated = true;
                break;
            }
            self.budget -= 1;
            // The entry's own type: a symbolic link is never followed.
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let Some(name) = e.file_name().to_str().map(String::from) else { continue };
            if !skipped(&name) {
                out.push(join(dir, &name));
            }
        }
        out.sort();
        out
    }
}

fn skipped(name: &str) -> bool {
    name.starts_with('.') || SKIPPED.contains(&name)
}

/// A directory that is not a symbolic link (nor reached through one below the root).
fn is_plain_dir(root: &Path, rel: &str) -> bool {
    let mut p = root.to_path_buf();
    rel.split('/').all(|part| {
        p.push(part);
        std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir())
    })
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// `*` (any run of characters) and `?` (one) in one path segment.
fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A whole relative path against a glob (`**` any number of folders), for exclusions.
fn matches_path(glob: &str, path: &str) -> bool {
    fn go(g: &[&str], p: &[&str]) -> bool {
        match (g.split_first(), p.split_first()) {
            (None, None) => true,
            (Some((&"**", rest)), _) => go(rest, p) || (!p.is_empty() && go(g, &p[1..])),
            (Some((s, rest)), Some((n, prest))) => wildcard(s, n) && go(rest, prest),
            _ => false,
        }
    }
    let g: Vec<&str> = glob.split('/').filter(|s| !s.is_empty()).collect();
    let p: Vec<&str> = path.split('/').collect();
    go(&g, &p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_one_segment() {
        assert!(wildcard("*", "api") && wildcard("app-*", "app-web") && wildcard("a?i", "api"));
        assert!(!wildcard("app-*", "web") && !wildcard("a?i", "apii"));
        assert!(matches_path("packages/**/test", "packages/a/b/test") && matches_path("apps/legacy", "apps/legacy"));
        assert!(!matches_path("apps/*", "apps/a/b"));
    }

    #[test]
    fn pnpm_workspace_packages_block_and_flow() {
        let block =
            "packages:\n  - \"apps/*\"\n  - 'packages/db' # the schema\n  - '!**/test/**'\ncatalog:\n  react: ^18\n";
        assert_eq!(pnpm_packages(block), ["apps/*", "packages/db", "!**/test/**"]);
        assert_eq!(pnpm_packages("packages: [\"svc/*\", 'tools/x']\n"), ["svc/*", "tools/x"]);
        assert!(pnpm_packages("catalog:\n  - x\n").is_empty());
    }

    /// A scratch directory for one test, removed at the end.
    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("xtask-apps-unit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn the_walk_stops_at_its_budget_and_says_so() {
        let root = scratch("budget");
        std::fs::write(root.join("package.json"), r#"{"workspaces": ["packages/**"]}"#).unwrap();
        for i in 0..30 {
            std::fs::create_dir_all(root.join(format!("packages/gen/pkg{i:02}"))).unwrap();
        }
        std::fs::create_dir_all(root.join("packages/gen/pkg29/prisma")).unwrap();
        std::fs::write(root.join("packages/gen/pkg29/prisma/schema.prisma"), "").unwrap();
        std::fs::create_dir_all(root.join("apps/api")).unwrap();
        std::fs::write(root.join("apps/api/schema.prisma"), "").unwrap();
        // The budget is spent under packages/**: apps/api, shallower, is still checked.
        let found = search_within(&root, 10);
        assert_eq!((found.apps, found.truncated), (vec![("apps/api".to_string(), Mark::Schema)], true));
        // Breadth first: a big first package does not hide its siblings.
        for i in 0..40 {
            std::fs::create_dir_all(root.join(format!("packages/gen/pkg00/src/m{i:02}"))).unwrap();
        }
        std::fs::create_dir_all(root.join("packages/nested/db")).unwrap();
        std::fs::write(root.join("packages/nested/db/schema.prisma"), "").unwrap();
        let found = search_within(&root, 60);
        assert!(found.truncated && found.apps.iter().any(|(a, _)| a == "packages/nested/db"), "{:?}", found.apps);
        let found = search_within(&root, 1000);
        let apps: Vec<&str> = found.apps.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!((apps, found.truncated), (vec!["apps/api", "packages/gen/pkg29", "packages/nested/db"], false));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn app_refuses_a_link_out_of_the_repository() {
        let (root, out) = (scratch("link-root"), scratch("link-out"));
        std::fs::write(out.join("schema.prisma"), "").unwrap();
        std::os::unix::fs::symlink(&out, root.join("db")).unwrap();
        let e = given_app(&root, "db").unwrap_err();
        assert!(e.message.contains("--app db: is outside this repository"), "{}", e.message);
        // Nor is it found by the search.
        assert!(search(&root).apps.is_empty());
        std::fs::remove_dir_all(&root).unwrap();
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn leaving_the_root_is_seen_lexically() {
        let outside = |p: &str| crate::init::detect::inside(p).is_none();
        assert!(outside("../x") && outside("/etc") && outside("a/../../b"));
        assert!(!outside("apps/../apps/api") && !outside(".") && !outside("apps/api"));
    }
}
