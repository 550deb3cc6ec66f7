//! One deploy at a time: a PostgreSQL advisory lock held on one connection (a psql
//! session kept open on a pipe) from before the first task of the run to its end.
//!
//! If this process dies, psql reads end-of-file on its stdin and exits, the
//! connection closes, and the server releases the lock: no stale lock files.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout};
use std::time::{Duration, Instant};

use super::Target;
use crate::config::Config;
use crate::context::RunOptions;
use crate::exit::{Exit, Failure};
use crate::proc::{self, Pipes};
use crate::ui::Ui;

/// Our advisory lock key: "xtaskdpl" read as a big-endian i64. Prisma's own
/// migrate lock is 72707369; this one is different so the two never collide.
pub const KEY: i64 = 0x7874_6173_6b64_706c;

/// How long a deploy waits for another one when `--lock-timeout` is not given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// How often a waiting deploy asks again.
const POLL: Duration = Duration::from_millis(500);

/// The held lock. Dropping it closes the session, which releases the lock.
pub struct DeployLock {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Drop for DeployLock {
    fn drop(&mut self) {
        // Closing stdin ends psql, which closes the connection and frees the lock.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Session {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Session {
    /// Sends one query and reads its one-line answer; `None` if psql went away.
    fn ask(&mut self, sql: &str) -> Option<String> {
        writeln!(self.stdin, "{sql}").ok()?;
        self.stdin.flush().ok()?;
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim().to_string()),
        }
    }

    fn stderr(mut self) -> String {
        drop(self.stdin);
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        let _ = self.child.wait();
        err
    }
}

/// Takes the deploy lock on the configured database, waiting (visibly) up to the
/// timeout, or not at all with `--no-wait`.
pub fn acquire(config: &Config, ui: &Ui, opts: &RunOptions) -> Result<DeployLock, Failure> {
    let target = Target::from_env(config, ui)?;
    let mut cmd =
        target.tool("psql").args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"]).arg(target.url.libpq.clone());
    // Lets whoever waits see who holds the lock (pg_stat_activity.application_name).
    cmd = cmd.env("PGAPPNAME", "xtask-deploy-lock");
    let mut child = proc::spawn(&cmd, Pipes { stdin: true, stdout: true })?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(Failure::task("cannot talk to psql for the deploy lock"));
    };
    let mut s = Session { child, stdin, stdout: BufReader::new(stdout) };
    let try_lock = format!("SELECT pg_try_advisory_lock({KEY});");
    let timeout = opts.lock_timeout.unwrap_or(DEFAULT_TIMEOUT);
    let started = Instant::now();
    let mut said_waiting = false;
    loop {
        match s.ask(&try_lock).as_deref() {
            Some("t") => {
                if said_waiting {
                    ui.event(&format!("deploy lock acquired after {:.1}s", started.elapsed().as_secs_f64()));
                } else {
                    ui.event("deploy lock acquired");
                }
                return Ok(DeployLock { child: s.child, stdin: Some(s.stdin) });
            }
            Some("f") => {
                let holder = s
                    .ask(&format!(
                        "SELECT coalesce(string_agg(format('PID %s (%s, since %s)', a.pid, a.application_name, \
                         to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')), ', '), 'another session') \
                         FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.granted \
                         AND l.classid = {} AND l.objid = {} AND l.objsubid = 1;",
                        (KEY >> 32) as u32,
                        (KEY & 0xffff_ffff) as u32
                    ))
                    .unwrap_or_else(|| "another session".into());
                if opts.no_wait {
                    return Err(Failure::new(
                        Exit::LockNotAcquired,
                        format!("another deploy holds the deploy lock ({holder}): wait for it to finish, or run without --no-wait to wait"),
                    ));
                }
                if started.elapsed() >= timeout {
                    return Err(Failure::new(
                        Exit::LockNotAcquired,
                        format!(
                            "gave up waiting for the deploy lock after {}s; it is held by {holder}: try again when that deploy is done, or raise --lock-timeout",
                            timeout.as_secs()
                        ),
                    ));
                }
                if !said_waiting {
                    ui.event(&format!("waiting for the deploy lock, held by {holder} (up to {}s)", timeout.as_secs()));
                    said_waiting = true;
                }
                ui.status(&format!(
                    "waiting for the deploy lock ({:.0}s of {}s)",
                    started.elapsed().as_secs_f64(),
                    timeout.as_secs()
                ));
                std::thread::sleep(POLL);
            }
            _ => {
                let err = s.stderr();
                return Err(target.failure("psql", &err));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn key_is_ours_and_splits_into_two_oids() {
        assert_ne!(super::KEY, 72707369);
        let hi = (super::KEY >> 32) as u32;
        let lo = (super::KEY & 0xffff_ffff) as u32;
        assert_eq!(((hi as i64) << 32) | lo as i64, super::KEY);
    }
}
