//! A schema copied with several connections: `pg_dump --format=custom` into an
//! anonymous file in memory, then `pg_restore --jobs` from it. The rehearsal's
//! copy of a large schema is mostly index and constraint builds (each B-tree
//! build writes and fsyncs its own file on a server with `wal_level` replica),
//! which pg_restore runs side by side once the tables exist; psql of a plain dump
//! runs them one after the other.
//!
//! The archive never touches a disk: a `memfd` (Linux) that pg_dump writes and
//! pg_restore (and its forked workers) read through `/proc/self/fd/N`, the
//! descriptor being passed to those two children only. It goes away with the
//! descriptor, so no exit path (Ctrl-C, a second signal, `kill -9`) leaves a
//! file behind. Where there is no memfd, [`Archive::new`] says so and the caller
//! restores a plain dump through psql instead.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Command;

use xshell::cmd;

use crate::db::Target;
use crate::exit::Failure;
use crate::proc;
use crate::ui::Ui;

/// At most this many connections restore at once: past four, the probe on this
/// schema got slower (BENCHMARKS.md), and each is one more backend on the server.
pub(crate) const MAX_JOBS: usize = 4;

/// Below this many index and foreign-key builds, one connection: starting
/// pg_restore's workers and their connections cost more than sharing the builds
/// saves (the example app's empty schema took 0.3 s longer over four connections
/// at load 12-16; a build took 2-6 ms there, so about a hundred builds pay for it).
pub(crate) const MIN_BUILDS: i64 = 100;

/// How many connections the restore of a schema with `builds` index and
/// foreign-key builds may take, out of the connections `free` on the scratch server
/// for this role: a quarter of them, between 1 and [`MAX_JOBS`], so the
/// application's own connections keep most of what is left; 1 for a small schema.
pub(crate) fn jobs_for(free: i64, builds: i64) -> usize {
    if builds < MIN_BUILDS {
        return 1;
    }
    usize::try_from(free / 4).unwrap_or(0).clamp(1, MAX_JOBS)
}

/// An anonymous in-memory file holding a pg_dump archive.
pub(crate) struct Archive {
    fd: OwnedFd,
}

impl Archive {
    /// A new empty archive, or `None` where the kernel has no memfd or `/proc` is
    /// not mounted (the children open the archive by its `/proc/self/fd` path).
    pub(crate) fn new() -> Option<Archive> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::FromRawFd;
            if !std::path::Path::new("/proc/self/fd").is_dir() {
                return None;
            }
            // Close-on-exec: only the children given it by `pass_to` inherit it.
            // SAFETY: a NUL-terminated name; the descriptor is owned from here on.
            let fd = unsafe { libc::memfd_create(c"xtask-schema-archive".as_ptr(), libc::MFD_CLOEXEC) };
            if fd < 0 {
                return None;
            }
            // SAFETY: `fd` was just returned by memfd_create and nothing else owns it.
            Some(Archive { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
        }
        #[cfg(not(target_os = "linux"))]
        None
    }

    /// The path the child opens: its own inherited descriptor.
    fn path(&self) -> String {
        format!("/proc/self/fd/{}", self.fd.as_raw_fd())
    }

    /// Lets `cmd`'s process (and what it forks: pg_restore's workers) inherit the
    /// descriptor, by clearing close-on-exec in the child alone between fork and exec.
    fn pass_to(&self, cmd: &mut Command) {
        use std::os::unix::process::CommandExt;
        let fd = self.fd.as_raw_fd();
        // SAFETY: fcntl is async-signal-safe; it changes the child's copy only.
        unsafe {
            cmd.pre_exec(move || {
                if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

/// `pg_dump --schema-only` of `source` into `archive` (custom format, not
/// compressed: the schema is small and its restore is CPU-bound already).
pub(crate) fn dump_schema(ui: &Ui, source: &Target, archive: &Archive) -> Result<(), Failure> {
    let sh = source.shell()?;
    let pg_dump = crate::pgbin::program(&sh, "pg_dump");
    let (url, file) = (&source.url.libpq, archive.path());
    let mut cmd: Command = cmd!(
        sh,
        "{pg_dump} --no-password --no-owner --no-privileges --schema-only --format=custom --compress=0 --file={file} -d {url}"
    )
    .into();
    archive.pass_to(&mut cmd);
    let out = proc::run_quiet(ui, cmd)?;
    if !out.success() {
        return Err(source.failure("pg_dump", &out.stderr));
    }
    Ok(())
}

/// Restores `archive` into `dest` with `jobs` connections (`pg_restore --jobs`,
/// stopping at the first error). Not one transaction (pg_restore cannot run
/// `--jobs` in one): a failure leaves a partial copy, which the caller drops.
/// Every connection's commits skip the wait for the WAL flush
/// (`synchronous_commit` off through `PGOPTIONS`): the copy is thrown away.
pub(crate) fn restore(ui: &Ui, dest: &Target, archive: &Archive, jobs: usize) -> Result<(), Failure> {
    let sh = dest.shell()?;
    let options = std::env::var("PGOPTIONS").map(|o| format!("{o} ")).unwrap_or_default();
    sh.set_var("PGOPTIONS", format!("{options}-c synchronous_commit=off"));
    let pg_restore = crate::pgbin::program(&sh, "pg_restore");
    let (url, file, jobs) = (&dest.url.libpq, archive.path(), format!("--jobs={jobs}"));
    let mut cmd: Command =
        cmd!(sh, "{pg_restore} --no-password --no-owner --no-privileges --exit-on-error {jobs} -d {url} {file}").into();
    archive.pass_to(&mut cmd);
    let out = proc::run_quiet(ui, cmd)?;
    if !out.success() {
        return Err(dest.failure("pg_restore", &first_error(&out.stderr)));
    }
    Ok(())
}

/// pg_restore's error without the lines that only say where it was
/// (`while PROCESSING TOC:`, `from TOC entry ...`), which come first.
fn first_error(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    match lines.iter().position(|l| l.contains("error:") || l.contains("ERROR:")) {
        Some(i) => lines[i..].join("\n"),
        None => stderr.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_take_a_quarter_of_the_free_connections_between_one_and_four() {
        let many = MIN_BUILDS;
        assert_eq!(jobs_for(-3, many), 1);
        assert_eq!(jobs_for(0, many), 1);
        assert_eq!(jobs_for(7, many), 1);
        assert_eq!(jobs_for(8, many), 2);
        assert_eq!(jobs_for(12, many), 3);
        assert_eq!(jobs_for(16, many), 4);
        assert_eq!(jobs_for(95, many), 4);
        assert_eq!(jobs_for(95, MIN_BUILDS - 1), 1);
    }

    #[test]
    fn the_error_line_comes_before_where_it_happened() {
        let stderr = "pg_restore: while PROCESSING TOC:\npg_restore: from TOC entry 215; 1259 16390 TABLE t app\n\
                      pg_restore: error: could not execute query: ERROR:  type \"citext\" does not exist\nCommand was: CREATE TABLE t";
        assert!(first_error(stderr).starts_with("pg_restore: error: could not execute query"));
        assert_eq!(first_error("nothing"), "nothing");
    }
}
