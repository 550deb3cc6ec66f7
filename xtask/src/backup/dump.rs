//! Running pg_dump into a partial: a plain dump through a pipe that is written,
//! counted and hashed as it comes (so the checksum costs no second read), the other
//! formats with `-f`; byte progress meanwhile, and pg_dump stopped on Ctrl-C.

use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{ChildStdout, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::interrupt::Interrupts;
use super::verify;
use crate::config::{Backup, BackupFormat};
use crate::proc::{self, Cmd};
use crate::ui::Ui;

/// pg_dump's arguments after the program name. Plain dumps go to stdout; the other
/// formats write `out` themselves.
pub fn args(backup: &Backup, libpq_url: &str, out: &Path) -> Vec<String> {
    let format = match backup.format {
        BackupFormat::Plain => "p",
        BackupFormat::Custom => "c",
        BackupFormat::Directory => "d",
    };
    // Never prompt for a password: fail instead (the password comes from the environment).
    let mut a: Vec<String> = vec!["--no-password".into(), "-F".into(), format.into()];
    if let Some(z) = backup.compress {
        a.extend(["-Z".into(), z.to_string()]);
    }
    if let Some(j) = backup.jobs {
        a.extend(["-j".into(), j.to_string()]);
    }
    a.extend(["-d".into(), libpq_url.into()]);
    if backup.format != BackupFormat::Plain {
        a.extend(["-f".into(), out.to_string_lossy().into_owned()]);
    }
    a
}

/// What a successful pg_dump produced.
#[derive(Debug)]
pub struct Dumped {
    pub bytes: u64,
    /// Computed while writing (plain format only).
    pub sha256: Option<String>,
}

#[derive(Debug)]
pub enum DumpError {
    /// pg_dump could not be started: the message says why.
    Spawn(String),
    /// pg_dump ended unsuccessfully.
    Failed { status: ExitStatus, stderr: String },
    /// Writing the plain dump to disk failed (disk full, I/O error).
    Write(io::Error),
    /// A signal asked us to stop; pg_dump was stopped.
    Interrupted(i32),
}

/// How often the progress display is updated and signals are checked.
const TICK: Duration = Duration::from_millis(200);
/// How long pg_dump gets to exit after SIGTERM before it is killed.
const TERM_GRACE: Duration = Duration::from_secs(5);

/// Runs `cmd` (a pg_dump built with [`args`]) writing into `out`, which exists.
pub fn run(
    ui: &Ui,
    cmd: &Cmd,
    out: &Path,
    format: BackupFormat,
    estimate: Option<u64>,
    interrupts: &Interrupts,
) -> Result<Dumped, DumpError> {
    let plain = format == BackupFormat::Plain;
    let mut child = cmd
        .to_command()
        .stdin(Stdio::null())
        .stdout(if plain { Stdio::piped() } else { Stdio::null() })
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| DumpError::Spawn(proc::spawn_error(&cmd.program, &e)))?;
    let pid = child.id() as libc::pid_t;
    let stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let written = AtomicU64::new(0);
    let progress = ui.bytes("pg_dump", estimate);
    let (done_tx, done_rx) = mpsc::channel();

    let (status, signalled, errors, copied) = std::thread::scope(|s| {
        let errors = s.spawn(move || {
            let mut buf = Vec::new();
            if let Some(e) = stderr.as_mut() {
                let _ = e.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        });
        let copier = stdout.map(|from| {
            let written = &written;
            s.spawn(move || copy_hashing(from, out, written))
        });
        // Waiting in its own thread lets this one notice the exit at once, and keeps
        // the child unreaped (its pid valid for kill) until then.
        s.spawn(move || {
            let _ = done_tx.send(child.wait());
        });
        let mut signalled: Option<(i32, Instant)> = None;
        let status = loop {
            match done_rx.recv_timeout(TICK) {
                Ok(status) => break status,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break Err(io::Error::other("lost track of pg_dump")),
            }
            match signalled {
                None => {
                    if let Some(sig) = interrupts.received() {
                        signalled = Some((sig, Instant::now()));
                        // pg_dump cancels its query on the server and exits.
                        // SAFETY: `pid` is our unreaped child.
                        unsafe { libc::kill(pid, libc::SIGTERM) };
                    }
                }
                Some((_, at)) if at.elapsed() > TERM_GRACE => {
                    // SAFETY: as above.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                Some(_) => {}
            }
            progress.set(if plain { written.load(Ordering::Relaxed) } else { verify::size(out) });
        };
        let errors = errors.join().unwrap_or_default();
        let copied = copier.map(|c| c.join().unwrap_or_else(|_| Err(io::Error::other("the copy thread panicked"))));
        (status, signalled.map(|(sig, _)| sig), errors, copied)
    });
    progress.finish();

    if let Some(sig) = signalled.or_else(|| interrupts.received()) {
        return Err(DumpError::Interrupted(sig));
    }
    // A failed write closes the pipe, which ends pg_dump with SIGPIPE: the write error is the cause.
    let copied = copied.transpose().map_err(DumpError::Write)?;
    let status = status.map_err(|e| DumpError::Spawn(format!("waiting for pg_dump failed: {e}")))?;
    if !status.success() {
        return Err(DumpError::Failed { status, stderr: errors });
    }
    // Warnings of a successful dump are worth seeing.
    for line in errors.lines().filter(|l| !l.trim().is_empty()) {
        ui.child_line(line);
    }
    Ok(match copied {
        Some((bytes, sha)) => Dumped { bytes, sha256: Some(sha) },
        None => Dumped { bytes: verify::size(out), sha256: None },
    })
}

/// Copies pg_dump's stdout into `to`, counting and hashing; syncs the file at the end.
fn copy_hashing(mut from: ChildStdout, to: &Path, written: &AtomicU64) -> io::Result<(u64, String)> {
    let mut file = fs::OpenOptions::new().write(true).truncate(true).open(to)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        file.write_all(&buf[..n])?;
        hasher.update(&buf[..n]);
        total += n as u64;
        written.store(total, Ordering::Relaxed);
    }
    // pg_dump syncs what it writes itself (-f); for the pipe that is our job.
    file.sync_all()?;
    Ok((total, verify::hex(&hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn backup(format: BackupFormat, compress: Option<u8>, jobs: Option<u32>) -> Backup {
        Backup { dir: PathBuf::from("/b"), prefix: "p".into(), format, compress, jobs, keep: None }
    }

    #[test]
    fn arguments_per_format() {
        let url = "postgresql://app@db:5432/school?sslmode=require";
        let out = Path::new("/b/.p-x.sql.partial");
        assert_eq!(
            args(&backup(BackupFormat::Plain, None, None), url, out),
            ["--no-password", "-F", "p", "-d", url]
        );
        assert_eq!(
            args(&backup(BackupFormat::Custom, Some(1), None), url, Path::new("/b/x")),
            ["--no-password", "-F", "c", "-Z", "1", "-d", url, "-f", "/b/x"]
        );
        assert_eq!(
            args(&backup(BackupFormat::Directory, Some(0), Some(2)), url, Path::new("/b/x")),
            ["--no-password", "-F", "d", "-Z", "0", "-j", "2", "-d", url, "-f", "/b/x"]
        );
    }
}
