//! Which PostgreSQL client binary (psql, pg_dump, pg_restore) to start.
//!
//! On Debian and Ubuntu, `psql`, `pg_dump` and `pg_restore` on PATH are symlinks to
//! `pg_wrapper`, a Perl script of postgresql-common that spends tens of milliseconds
//! choosing a version before it execs the real binary. `status` and `diagnose` are
//! one query each, so that start-up was most of their time. When PATH leads to the
//! wrapper we start the binary it would choose for a connection given as a URL: the
//! newest installed version (`/usr/lib/postgresql/<major>/bin`, newer client tools
//! handle older servers), or `pg_config --bindir`. Anything else on PATH (a real
//! binary, a Homebrew or EDB install, a test's stand-in) is used as it is, so
//! "put the right client tools first on PATH" keeps working, and the pg_dump
//! older-than-server refusal still reaches the user.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use xshell::Shell;

/// Where Debian's postgresql-client-<major> packages put their binaries.
const DEBIAN_VERSIONS: &str = "/usr/lib/postgresql";
/// What pg_wrapper sets `PGSYSCONFDIR` to when it is unset (pg_service.conf lives there).
const DEBIAN_SYSCONFDIR: &str = "/etc/postgresql-common";

/// The program to start for the client tool `name`, bypassing Debian's pg_wrapper
/// when PATH leads to it (then `sh` gets the environment the wrapper would have
/// set). Falls back to `name` itself (PATH lookup, or the usual "not found").
pub(crate) fn program(sh: &Shell, name: &str) -> PathBuf {
    let path = std::env::var_os("PATH");
    // PGCLUSTER is an explicit request to pg_wrapper: let it choose.
    let wrapper_wanted = std::env::var_os("PGCLUSTER").is_some();
    match resolve(name, path.as_deref(), wrapper_wanted, Path::new(DEBIAN_VERSIONS), pg_config_bindir) {
        Some(real) => {
            // The wrapper would have set it; keep service files working the same way.
            if std::env::var_os("PGSYSCONFDIR").is_none() && Path::new(DEBIAN_SYSCONFDIR).is_dir() {
                sh.set_var("PGSYSCONFDIR", DEBIAN_SYSCONFDIR);
            }
            real
        }
        None => PathBuf::from(name),
    }
}

/// The real binary to start instead of `name` when the first `name` on `path_env`
/// is pg_wrapper; `None` means "start `name` through PATH as before".
/// `bindir` is asked only when `versions` holds no usable binary.
fn resolve(
    name: &str,
    path_env: Option<&OsStr>,
    wrapper_wanted: bool,
    versions: &Path,
    bindir: fn() -> Option<PathBuf>,
) -> Option<PathBuf> {
    let on_path = std::env::split_paths(path_env?).map(|d| d.join(name)).find(|p| p.is_file())?;
    if wrapper_wanted || !is_pg_wrapper(&on_path) {
        return None;
    }
    newest_versioned(name, versions)
        .or_else(|| bindir().map(|d| d.join(name)).filter(|p| p.is_file() && !is_pg_wrapper(p)))
}

fn is_pg_wrapper(path: &Path) -> bool {
    std::fs::canonicalize(path).is_ok_and(|real| real.file_name() == Some(OsStr::new("pg_wrapper")))
}

/// `<versions>/<major>/bin/<name>` of the highest major (numerically: 13 > 9.6).
fn newest_versioned(name: &str, versions: &Path) -> Option<PathBuf> {
    std::fs::read_dir(versions)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let major = version_key(&e.file_name().to_string_lossy())?;
            let bin = e.path().join("bin").join(name);
            bin.is_file().then_some((major, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

/// "15" → (15, 0), "9.6" → (9, 6); anything else is not a version directory.
fn version_key(dir: &str) -> Option<(u32, u32)> {
    let (major, minor) = dir.split_once('.').unwrap_or((dir, "0"));
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// `pg_config --bindir`, when pg_config exists (only asked when the directory scan found nothing).
fn pg_config_bindir() -> Option<PathBuf> {
    let sh = crate::proc::shell().ok()?;
    let out = crate::proc::run_with_input(xshell::cmd!(sh, "pg_config --bindir").into(), "").ok()?;
    let dir = out.stdout.trim();
    (out.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::process::Command;

    struct Tree(PathBuf);
    impl Tree {
        fn new(label: &str) -> Tree {
            let dir = std::env::temp_dir().join(format!("xtask-pgbin-{label}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Tree(dir)
        }
        fn exe(&self, rel: &str) -> PathBuf {
            let p = self.0.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            p
        }
        fn link(&self, rel: &str, to: &Path) {
            let p = self.0.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            symlink(to, p).unwrap();
        }
    }
    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn no_bindir() -> Option<PathBuf> {
        None
    }

    /// A Debian-like layout: /usr/bin/psql -> pg_wrapper, and several client versions.
    fn debian(t: &Tree) -> (std::ffi::OsString, PathBuf) {
        let wrapper = t.exe("share/postgresql-common/pg_wrapper");
        t.link("usr/bin/psql", &wrapper);
        t.link("usr/bin/pg_dump", &wrapper);
        t.exe("lib/postgresql/9.6/bin/psql");
        t.exe("lib/postgresql/13/bin/psql");
        t.exe("lib/postgresql/13/bin/pg_dump");
        t.exe("lib/postgresql/15/bin/psql");
        // Not a version: ignored even though it sorts last.
        t.exe("lib/postgresql/latest/bin/psql");
        let path = std::env::join_paths([t.0.join("usr/bin")]).unwrap();
        (path, t.0.join("lib/postgresql"))
    }

    #[test]
    fn the_wrapper_is_replaced_by_the_newest_version_that_has_the_tool() {
        let t = Tree::new("debian");
        let (path, versions) = debian(&t);
        assert_eq!(resolve("psql", Some(&path), false, &versions, no_bindir), Some(versions.join("15/bin/psql")));
        // 15 has no pg_dump here: the newest that has one, compared as numbers.
        assert_eq!(resolve("pg_dump", Some(&path), false, &versions, no_bindir), Some(versions.join("13/bin/pg_dump")));
        // PGCLUSTER set: the wrapper chooses.
        assert_eq!(resolve("psql", Some(&path), true, &versions, no_bindir), None);
    }

    #[test]
    fn a_real_binary_first_on_path_wins_and_missing_tools_stay_missing() {
        let t = Tree::new("own");
        let (debian_path, versions) = debian(&t);
        let own = t.exe("opt/pg16/bin/psql");
        let path = std::env::join_paths(
            std::iter::once(own.parent().unwrap().to_path_buf()).chain(std::env::split_paths(&debian_path)),
        )
        .unwrap();
        assert_eq!(resolve("psql", Some(&path), false, &versions, no_bindir), None);
        // Not on PATH at all: no search elsewhere, the caller reports it missing.
        assert_eq!(resolve("pg_restore", Some(&path), false, &versions, no_bindir), None);
        assert_eq!(resolve("psql", None, false, &versions, no_bindir), None);
    }

    #[test]
    fn without_versioned_directories_pg_config_bindir_is_asked() {
        let t = Tree::new("bindir");
        let wrapper = t.exe("share/pg_wrapper");
        t.link("bin/psql", &wrapper);
        let real = t.exe("pgsql-16/bin/psql");
        let path = std::env::join_paths([t.0.join("bin")]).unwrap();
        thread_local!(static DIR: std::cell::RefCell<PathBuf> = std::cell::RefCell::default());
        DIR.with(|d| *d.borrow_mut() = real.parent().unwrap().to_path_buf());
        let from_cell = || Some(DIR.with(|d| d.borrow().clone()));
        assert_eq!(resolve("psql", Some(&path), false, &t.0.join("none"), from_cell), Some(real));
        // A bindir that only holds the wrapper again is no better than PATH.
        DIR.with(|d| *d.borrow_mut() = t.0.join("bin"));
        assert_eq!(resolve("psql", Some(&path), false, &t.0.join("none"), from_cell), None);
    }

    /// On a machine whose PATH leads to Debian's wrapper (this project's CI), the
    /// command started is the real binary, and it is the version the wrapper runs.
    #[test]
    fn on_this_machine_the_wrapper_is_bypassed_for_the_same_version() {
        let wrapped = std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p).map(|d| d.join("psql")).find(|p| p.is_file()).filter(|p| is_pg_wrapper(p))
        });
        let Some(wrapped) = wrapped else {
            eprintln!("skipped: psql on PATH is not Debian's pg_wrapper here");
            return;
        };
        let sh = Shell::new().unwrap();
        let real = program(&sh, "psql");
        assert!(real.is_absolute() && !is_pg_wrapper(&real), "{}", real.display());
        let version = |c: &mut Command| String::from_utf8(c.arg("--version").output().unwrap().stdout).unwrap();
        assert_eq!(version(&mut xshell::cmd!(sh, "{real}").into()), version(&mut Command::new(wrapped)));
    }

    #[test]
    fn version_directories() {
        assert_eq!(version_key("15"), Some((15, 0)));
        assert_eq!(version_key("9.6"), Some((9, 6)));
        assert!(version_key("9.6") < version_key("10"));
        assert_eq!(version_key("latest"), None);
        assert_eq!(version_key(""), None);
    }
}
