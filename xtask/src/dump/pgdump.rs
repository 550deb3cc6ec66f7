//! Running pg_dump into a partial (`-f`, as the runbook does), with byte progress
//! from the size of the growing output, and pg_dump stopped on Ctrl-C. A plain dump
//! is hashed while pg_dump writes it: pg_dump only appends to it, so a thread can
//! follow the file, and the checksum costs no second pass once pg_dump is done.

use std::fs;
use std::io::{self, Read};
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use xshell::{cmd, Shell};

use super::verify;
use crate::config::{Backup, BackupFormat};
use crate::interrupt::Interrupts;
use crate::proc::{self, Pipes};
use crate::ui::Ui;

/// The backup's pg_dump command line. The real run starts the binary pgbin finds
/// in the target's shell; `--dry-run` shows the same line with `program` "pg_dump".
pub(crate) fn command(sh: &Shell, program: &Path, backup: &Backup, libpq_url: &str, out: &Path) -> Command {
    let format = match backup.format {
        BackupFormat::Plain => "p",
        BackupFormat::Custom => "c",
        BackupFormat::Directory => "d",
    };
    let compress: Vec<String> = backup.compress.map(|z| vec!["-Z".into(), z.to_string()]).unwrap_or_default();
    let jobs: Vec<String> = backup.jobs.map(|j| vec!["-j".into(), j.to_string()]).unwrap_or_default();
    // Never prompt for a password: fail instead (the password comes from the environment).
    cmd!(sh, "{program} --no-password -F {format} {compress...} {jobs...} -d {libpq_url} -f {out}").into()
}

/// What a successful pg_dump produced.
#[derive(Debug)]
pub(crate) struct Dumped {
    pub bytes: u64,
    /// Computed while pg_dump wrote (plain format only).
    pub sha256: Option<String>,
}

#[derive(Debug)]
pub(crate) enum DumpError {
    /// pg_dump could not be started: the message says why.
    Spawn(String),
    /// pg_dump ended unsuccessfully.
    Failed { status: ExitStatus, stderr: String },
    /// Reading back the plain dump to hash it failed.
    Read(io::Error),
    /// A signal asked us to stop; pg_dump was stopped.
    Interrupted(i32),
}

/// How often the progress display is updated and signals are checked.
const TICK: Duration = Duration::from_millis(200);
/// How long pg_dump gets to exit after SIGTERM before it is killed.
const TERM_GRACE: Duration = Duration::from_secs(5);
/// How long the hashing thread waits when it has caught up with pg_dump.
const FOLLOW_PAUSE: Duration = Duration::from_millis(10);

/// Runs `cmd` (a pg_dump built with [`command`]) writing `out`, which it creates.
pub(crate) fn run(
    ui: &Ui,
    cmd: Command,
    out: &Path,
    format: BackupFormat,
    estimate: Option<u64>,
    interrupts: &Interrupts,
) -> Result<Dumped, DumpError> {
    let mut child = proc::spawn(cmd, Pipes { stdin: false, stdout: false }).map_err(|f| DumpError::Spawn(f.message))?;
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.take();
    let exited = AtomicBool::new(false);
    let progress = ui.bytes("pg_dump", estimate);
    let (done_tx, done_rx) = mpsc::channel();

    let (status, signalled, errors, hashed) = std::thread::scope(|s| {
        let errors = s.spawn(move || {
            let mut buf = Vec::new();
            if let Some(e) = stderr.as_mut() {
                let _ = e.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        });
        let follower = (format == BackupFormat::Plain).then(|| s.spawn(|| follow_hashing(out, &exited)));
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
                        // SAFETY: `pid` is our child, not reaped yet.
                        unsafe { libc::kill(pid, libc::SIGTERM) };
                    }
                }
                Some((_, at)) if at.elapsed() > TERM_GRACE => {
                    // SAFETY: as above.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                Some(_) => {}
            }
            progress.set(verify::size(out));
        };
        exited.store(true, Ordering::Release);
        let errors = errors.join().unwrap_or_default();
        let hashed =
            follower.map(|f| f.join().unwrap_or_else(|_| Err(io::Error::other("the hashing thread panicked"))));
        (status, signalled.map(|(sig, _)| sig), errors, hashed)
    });
    progress.finish();
    crate::reaper::forget(pid as u32);

    if let Some(sig) = signalled.or_else(|| interrupts.received()) {
        return Err(DumpError::Interrupted(sig));
    }
    let status = status.map_err(|e| DumpError::Spawn(format!("waiting for pg_dump failed: {e}")))?;
    if !status.success() {
        return Err(DumpError::Failed { status, stderr: errors });
    }
    // Warnings of a successful dump are worth seeing.
    for line in errors.lines().filter(|l| !l.trim().is_empty()) {
        ui.child_line(line);
    }
    let bytes = verify::size(out);
    let sha256 = match hashed.transpose().map_err(DumpError::Read)? {
        Some((n, _)) if n != bytes => {
            return Err(DumpError::Read(io::Error::other(format!(
                "read {n} bytes while hashing but the file has {bytes}"
            ))))
        }
        Some((_, sha)) => Some(sha),
        None => None,
    };
    Ok(Dumped { bytes, sha256 })
}

/// Hashes `path` while another process creates it and appends to it, until
/// `exited` is set and everything is read. Returns the bytes read and their SHA-256.
fn follow_hashing(path: &Path, exited: &AtomicBool) -> io::Result<(u64, String)> {
    let mut file = loop {
        let writer_gone = exited.load(Ordering::Acquire);
        match fs::File::open(path) {
            Ok(f) => break f,
            // pg_dump failed before creating it: nothing to hash.
            Err(e) if e.kind() == io::ErrorKind::NotFound && writer_gone => return Err(e),
            Err(e) if e.kind() == io::ErrorKind::NotFound => std::thread::sleep(FOLLOW_PAUSE),
            Err(e) => return Err(e),
        }
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        // Read after looking at the flag: an empty read after the writer exited is the end.
        let writer_gone = exited.load(Ordering::Acquire);
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n > 0 {
            hasher.update(&buf[..n]);
            total += n as u64;
        } else if writer_gone {
            return Ok((total, verify::hex(&hasher.finalize())));
        } else {
            std::thread::sleep(FOLLOW_PAUSE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn backup(format: BackupFormat, compress: Option<u8>, jobs: Option<u32>) -> Backup {
        Backup {
            dir: PathBuf::from("/b"),
            prefix: "p".into(),
            format,
            compress,
            jobs,
            keep: None,
            when: Default::default(),
        }
    }

    /// pg_dump's arguments after the program name.
    fn args(backup: &Backup, url: &str, out: &Path) -> Vec<String> {
        let sh = Shell::new().unwrap();
        let cmd = command(&sh, Path::new("pg_dump"), backup, url, out);
        assert_eq!(cmd.get_program(), "pg_dump");
        cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn arguments_per_format() {
        let url = "postgresql://app@db:5432/school?sslmode=require";
        let out = Path::new("/b/.p-x.sql.partial");
        assert_eq!(
            args(&backup(BackupFormat::Plain, None, None), url, out),
            ["--no-password", "-F", "p", "-d", url, "-f", "/b/.p-x.sql.partial"]
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
