//! The project's own Prisma CLI, started without the package runner: a plain
//! `npx prisma` (or `npm exec prisma`, `pnpm exec prisma`) only starts
//! `node_modules/.bin/prisma` from the directory Prisma runs in or one above it,
//! and npx spends about a quarter of a second loading npm to find that file.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The file to start instead of `command`, when `command` only asks a runner for
/// the installed `prisma` and that file exists and is executable here (`cwd` or
/// an ancestor, the first found, as npx looks: a hoisted monorepo keeps it in the
/// root's node_modules). `None`: run `command` as configured.
pub(crate) fn direct(command: &[String], cwd: &Path) -> Option<PathBuf> {
    if !plain_runner(command) {
        return None;
    }
    cwd.ancestors().map(|d| d.join("node_modules/.bin/prisma")).find(|b| executable(b))
}

/// Whether `command` starts npm's exec (`npx ...`, `npm exec ...`, `npm x ...`),
/// which downloads a package it does not find installed unless told not to
/// (without a terminal it does not ask).
pub(crate) fn npm_exec(command: &[String]) -> bool {
    match command {
        [first, ..] if is(first, "npx") => true,
        [first, verb, ..] => is(first, "npm") && matches!(verb.as_str(), "exec" | "x"),
        _ => false,
    }
}

/// `word` is `runner`, by bare name or as a path ending in `/runner`.
fn is(word: &str, runner: &str) -> bool {
    word == runner || word.strip_suffix(runner).is_some_and(|dir| dir.ends_with('/'))
}

/// `PATH` with the bin's directory first, as npx sets it for the CLI it starts
/// (Prisma, or a generator it spawns, may start another installed binary by name).
pub(crate) fn path_with(bin: &Path, path: Option<OsString>) -> OsString {
    let dir = bin.parent().map(Path::to_path_buf).unwrap_or_default();
    let rest = path.iter().flat_map(std::env::split_paths).collect::<Vec<_>>();
    // join_paths fails only on a directory with `:` in its name; then PATH stays
    // as it was (Prisma does not need the entry to run `migrate`).
    std::env::join_paths(std::iter::once(dir).chain(rest.iter().cloned())).unwrap_or_else(|_| path.unwrap_or_default())
}

/// Exactly `npx prisma`, `npx --no-install prisma` (what `init` writes: the
/// installed one or nothing), `npm exec prisma`, `npm exec -- prisma` or `pnpm exec
/// prisma`, the runner a bare name or a path to it. Anything more (a flag such as
/// `--yes`, a version `prisma@6.1.0`, an argument) may ask the runner for a
/// different package than the installed one: that command runs as written.
fn plain_runner(command: &[String]) -> bool {
    let words: Vec<&str> = command.iter().map(String::as_str).collect();
    match words.as_slice() {
        [runner, "prisma"] | [runner, "--no-install", "prisma"] => is(runner, "npx"),
        [runner, "exec", "prisma"] => is(runner, "npm") || is(runner, "pnpm"),
        [runner, "exec", "--", "prisma"] => is(runner, "npm"),
        _ => false,
    }
}

/// A file (a link is followed, as npm's `.bin/prisma` is one) with an execute bit.
fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    /// `root/app` with `node_modules/.bin/prisma` (mode `mode`) in `root/<bin_in>`.
    fn project(label: &str, bin_in: Option<&str>, mode: u32) -> (PathBuf, PathBuf) {
        let root = std::env::temp_dir().join(format!("xtask-local-bin-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let app = root.join("app");
        std::fs::create_dir_all(&app).unwrap();
        if let Some(dir) = bin_in {
            let bin_dir = root.join(dir).join("node_modules/.bin");
            std::fs::create_dir_all(&bin_dir).unwrap();
            let bin = bin_dir.join("prisma");
            std::fs::write(&bin, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        (root, app)
    }

    #[test]
    fn plain_runners_start_the_installed_bin() {
        let (root, app) = project("plain", Some("app"), 0o755);
        let bin = app.join("node_modules/.bin/prisma");
        for command in [
            &["npx", "prisma"][..],
            &["npx", "--no-install", "prisma"],
            &["/usr/local/bin/npx", "prisma"],
            &["npm", "exec", "prisma"],
            &["npm", "exec", "--", "prisma"],
            &["pnpm", "exec", "prisma"],
        ] {
            assert_eq!(direct(&argv(command), &app), Some(bin.clone()), "{command:?}");
        }
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn anything_more_runs_as_configured() {
        let (root, app) = project("more", Some("app"), 0o755);
        for command in [
            &["npx", "--yes", "prisma"][..],
            &["npx", "--no-install", "prisma@6.1.0"],
            &["npx", "prisma@6.1.0"],
            &["npx", "prisma", "--help"],
            &["npx"],
            &["xnpx", "prisma"],
            &["npm", "exec", "prisma@6.1.0"],
            &["npm", "run", "prisma"],
            &["pnpm", "prisma"],
            &["pnpm", "dlx", "prisma"],
            &["yarn", "prisma"],
            &["yarn", "exec", "prisma"],
            &["bunx", "prisma"],
            &["node_modules/.bin/prisma"],
        ] {
            assert_eq!(direct(&argv(command), &app), None, "{command:?}");
        }
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_missing_or_unexecutable_bin_keeps_the_runner() {
        for (label, bin_in, mode) in [("missing", None, 0o755), ("not-executable", Some("app"), 0o644)] {
            let (root, app) = project(label, bin_in, mode);
            assert_eq!(direct(&argv(&["npx", "prisma"]), &app), None, "{label}");
            std::fs::remove_dir_all(root).unwrap();
        }
    }

    #[test]
    fn a_hoisted_bin_in_a_parent_directory_is_found() {
        // A monorepo: the app's package has no node_modules of its own, the root has.
        let (root, app) = project("hoisted", Some("."), 0o755);
        let nested = app.join("packages/api");
        std::fs::create_dir_all(&nested).unwrap();
        let want = root.join("node_modules/.bin/prisma");
        assert_eq!(direct(&argv(&["npx", "prisma"]), &nested), Some(want));
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn npm_exec_is_told_not_to_download() {
        for command in [
            &["npx", "prisma"][..],
            &["/usr/bin/npx", "--yes", "prisma@6"],
            &["npm", "exec", "prisma"],
            &["npm", "x", "prisma"],
        ] {
            assert!(npm_exec(&argv(command)), "{command:?}");
        }
        for command in [
            &["npm", "run", "prisma"][..],
            &["pnpm", "exec", "prisma"],
            &["yarn", "prisma"],
            &["xnpx", "prisma"],
            &["npm"],
        ] {
            assert!(!npm_exec(&argv(command)), "{command:?}");
        }
    }

    #[test]
    fn the_bin_directory_goes_first_on_path() {
        let path = path_with(Path::new("/app/node_modules/.bin/prisma"), Some("/usr/bin:/bin".into()));
        assert_eq!(path, OsString::from("/app/node_modules/.bin:/usr/bin:/bin"));
        assert_eq!(path_with(Path::new("/a/node_modules/.bin/prisma"), None), OsString::from("/a/node_modules/.bin"));
    }
}
