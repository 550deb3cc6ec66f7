//! One deploy at a time: a PostgreSQL advisory lock held on one connection (a psql
//! session kept open on a pipe) from before the first task of the run to its end.
//!
//! If this process dies, psql reads end-of-file on its stdin and exits, the
//! connection closes, and the server releases the lock: no stale lock files.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout};
use std::time::{Duration, Instant};

use super::psql::{Psql, Rows};
use super::Target;
use crate::exit::{Exit, Failure};
use crate::proc::{self, Pipes};
use crate::ui::Ui;

/// Our advisory lock key: "xtaskdpl" read as a big-endian i64. Prisma's own
/// migrate lock is 72707369; this one is different so the two never collide.
pub const KEY: i64 = 0x7874_6173_6b64_706c;

/// How long a deploy waits for another one when `--lock-timeout` is not given.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// How often a waiting deploy asks again.
const POLL: Duration = Duration::from_millis(500);

/// While waiting, plain output gets a line when the wait starts and then at most
/// one per this interval (a CI log of a 600 s wait stays about 20 lines).
const WAIT_LINE_EVERY: Duration = Duration::from_secs(30);

/// How long a check of the held lock may take before the lock counts as lost: a
/// session that does not answer (a failover, a network partition) cannot vouch for it.
const CHECK_TIMEOUT: Duration = Duration::from_secs(15);

/// The application_name the holding session sets once it has the lock: a waiting
/// deploy reads from it when the lock was taken (the server records no grant time).
const APP_NAME: &str = "xtask-deploy-lock";

/// A lock held for the whole run that can be lost without this process noticing:
/// its session terminated (`pg_terminate_backend`, `idle_session_timeout`), or
/// the server failed over.
pub(crate) trait RunLock {
    /// `Ok` while it is still held; otherwise why it is not.
    fn still_held(&mut self) -> Result<(), String>;
}

/// The held lock. Dropping it closes the session, which releases the lock.
pub(crate) struct DeployLock {
    session: Option<Session>,
    /// The server process of the session that holds the lock.
    backend: String,
}

impl Drop for DeployLock {
    fn drop(&mut self) {
        let Some(Session { mut child, stdin, stdout }) = self.session.take() else {
            return;
        };
        // Closing stdin ends psql, which closes the connection and frees the lock.
        drop(stdin);
        drop(stdout);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                proc::waited(&child);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        proc::waited(&child);
    }
}

impl RunLock for DeployLock {
    /// Asks the lock's own session whether its backend (the one that took the lock)
    /// still holds it, granted, in pg_locks. A session that was terminated
    /// (pg_terminate_backend, idle_session_timeout, a failover) has exited or
    /// reconnected as another backend; either way the answer is no.
    fn still_held(&mut self) -> Result<(), String> {
        let Some(s) = self.session.as_mut() else {
            return Err("its session is closed".into());
        };
        let sql = format!(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = {} AND objid = {} \
             AND objsubid = 1 AND pid = {} AND pid = pg_backend_pid();",
            (KEY >> 32) as u32,
            (KEY & 0xffff_ffff) as u32,
            self.backend
        );
        match s.ask_within(&sql, CHECK_TIMEOUT) {
            Answer::Line(l) if l == "1" => Ok(()),
            Answer::Line(_) => Err(format!("its session (server PID {}) no longer holds it", self.backend)),
            Answer::Timeout => Err(format!("its session did not answer within {}s", CHECK_TIMEOUT.as_secs())),
            Answer::Gone => {
                let why = self.session.take().map(Session::stderr).unwrap_or_default();
                let first = why.lines().map(str::trim).find(|l| !l.is_empty());
                Err(match first {
                    Some(l) => format!("its session ended: {l}"),
                    None => "its session ended".into(),
                })
            }
        }
    }
}

struct Session {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

enum Answer {
    Line(String),
    /// psql went away (its connection ended, or it exited).
    Gone,
    Timeout,
}

impl Session {
    /// Sends one query and reads its one-line answer; `None` if psql went away.
    fn ask(&mut self, sql: &str) -> Option<String> {
        match self.ask_within(sql, Duration::MAX) {
            Answer::Line(l) => Some(l),
            Answer::Gone | Answer::Timeout => None,
        }
    }

    fn ask_within(&mut self, sql: &str, timeout: Duration) -> Answer {
        if writeln!(self.stdin, "{sql}").and_then(|()| self.stdin.flush()).is_err() {
            return Answer::Gone;
        }
        if self.stdout.buffer().is_empty() && timeout != Duration::MAX {
            use std::os::fd::AsRawFd;
            let mut fd = libc::pollfd { fd: self.stdout.get_ref().as_raw_fd(), events: libc::POLLIN, revents: 0 };
            let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd for a descriptor we own.
            if unsafe { libc::poll(&mut fd, 1, ms) } == 0 {
                return Answer::Timeout;
            }
        }
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) | Err(_) => Answer::Gone,
            Ok(_) => Answer::Line(line.trim().to_string()),
        }
    }

    /// What psql said on stderr, once it has exited (after its stdin is closed).
    fn stderr(self) -> String {
        let Session { mut child, stdin, stdout } = self;
        drop(stdin);
        drop(stdout);
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        let _ = child.wait();
        proc::waited(&child);
        err
    }
}

/// Who holds the lock, for people: the application_name, client address, server
/// PID and how long (for an xtask holder, since it took the lock; for anything
/// else, since it connected).
fn holder_query() -> String {
    format!(
        "SELECT coalesce(string_agg(format('%s (client %s, server PID %s) %s', \
           CASE WHEN a.application_name = '' THEN 'a session without application_name' \
                ELSE regexp_replace(a.application_name, '@[0-9]+$', '') END, \
           coalesce(host(a.client_addr), 'local socket'), a.pid, \
           CASE WHEN a.application_name ~ '^{APP_NAME}@[0-9]+$' \
                THEN 'holding it for ' || date_trunc('second', now() - to_timestamp(split_part(a.application_name, '@', 2)::bigint)) \
                ELSE 'connected ' || date_trunc('second', now() - a.backend_start) || ' ago' END), ', '), 'another session') \
         FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.granted \
         AND l.classid = {} AND l.objid = {} AND l.objsubid = 1;",
        (KEY >> 32) as u32,
        (KEY & 0xffff_ffff) as u32
    )
}

/// Takes the deploy lock on the run's database, waiting (visibly) up to the
/// timeout (`None`: the default), or not at all with `no_wait`.
pub(crate) fn acquire(
    target: &Target,
    ui: &Ui,
    timeout: Option<Duration>,
    no_wait: bool,
) -> Result<DeployLock, Failure> {
    let cmd = target.psql(&Psql {
        rows: Rows::Values,
        stop_on_error: true,
        // Lets whoever waits see who holds the lock (pg_stat_activity.application_name).
        app_name: Some(APP_NAME),
        ..Psql::default()
    })?;
    // proc::spawn starts it in its own process group: a Ctrl-C on the terminal
    // reaches only xtask, and the session (so the lock) lasts until the run ends.
    let mut child = proc::spawn(cmd, Pipes { stdin: true, stdout: true })?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(Failure::task("cannot talk to psql for the deploy lock"));
    };
    let mut s = Session { child, stdin, stdout: BufReader::new(stdout) };
    let try_lock = format!("SELECT pg_try_advisory_lock({KEY});");
    let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
    let started = Instant::now();
    let mut last_line: Option<Instant> = None;
    loop {
        match s.ask(&try_lock).as_deref() {
            Some("t") => {
                // Marks when the lock was taken, for anyone who waits for it.
                let mark = s.ask(&format!(
                    "SELECT pg_backend_pid() || '|' || set_config('application_name', '{APP_NAME}@' || \
                     floor(extract(epoch FROM now()))::bigint, false);"
                ));
                let Some(backend) = mark.as_deref().and_then(|m| m.split('|').next()).map(str::to_string) else {
                    let err = s.stderr();
                    return Err(target.failure("psql", &err));
                };
                if last_line.is_some() {
                    ui.event(&format!("deploy lock acquired after {:.1}s", started.elapsed().as_secs_f64()));
                } else {
                    ui.event("deploy lock acquired");
                }
                return Ok(DeployLock { session: Some(s), backend });
            }
            Some("f") => {
                let due = last_line.is_none_or(|t| t.elapsed() >= WAIT_LINE_EVERY);
                let holder = if due || no_wait || started.elapsed() >= timeout {
                    s.ask(&holder_query()).unwrap_or_else(|| "another session".into())
                } else {
                    String::new()
                };
                if no_wait {
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
                if due {
                    let line = match last_line {
                        None => format!("waiting for the deploy lock, held by {holder} (up to {}s)", timeout.as_secs()),
                        Some(_) => format!(
                            "still waiting for the deploy lock ({:.0}s of {}s), held by {holder}",
                            started.elapsed().as_secs_f64(),
                            timeout.as_secs()
                        ),
                    };
                    ui.event(&line);
                    last_line = Some(Instant::now());
                }
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
