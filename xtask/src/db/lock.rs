//! One deploy at a time: two PostgreSQL advisory locks held on one connection (a
//! psql session kept open on a pipe) from before the first task of the run to its
//! end: the tool's own key, and Prisma's migrate lock (72707369), so that a plain
//! `prisma migrate deploy` started beside the deploy (a container entrypoint, a
//! laptop) waits and fails with its P1002 instead of migrating under it, and a
//! deploy does not start while such a run is migrating.
//!
//! The tool's own Prisma calls run with `PRISMA_SCHEMA_DISABLE_ADVISORY_LOCK=1`
//! (honoured by Prisma's native schema engine from 5.3.0). An engine that does not
//! honour it (before 5.3.0, or the WebAssembly engine of a driver adapter, which
//! cannot read the environment) would wait for the lock this session holds: the
//! key is then lent to that one call (see [`DeployLock::prisma_call_starts`]).
//!
//! If this process dies, psql reads end-of-file on its stdin and exits, the
//! connection closes, and the server releases the locks: no stale lock files.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::psql::{Psql, Rows};
use super::Target;
use crate::exit::{Exit, Failure};
use crate::proc::{self, Pipes};
use crate::ui::Ui;

/// Our advisory lock key: "xtaskdpl" read as a big-endian i64. Prisma's own
/// migrate lock is 72707369; this one is different so the two never collide.
pub const KEY: i64 = 0x7874_6173_6b64_706c;

/// Prisma Migrate's own advisory lock key (`pg_advisory_lock(72707369)`, taken by
/// `migrate deploy`, `dev`, `reset`, `resolve` for up to 10 s, then P1002).
pub(crate) const PRISMA_KEY: i64 = 72707369;

/// The application_name of the tool's own Prisma calls (`PGAPPNAME`; node-postgres,
/// which a driver adapter uses, reads it): while one of them waits for Prisma's
/// lock, this session knows the waiter is its own call and lends it the key.
pub(crate) fn prisma_app_name() -> String {
    format!("xtask-prisma@{}", std::process::id())
}

/// How often a lent-out check looks for the tool's own Prisma call waiting: each
/// look is one query in the open lock session (about a millisecond of the server's
/// time), and Prisma waits for the key half of this on average before it gets it
/// (200 ms until issue 23 made that a tenth of a second of every deploy).
const LEND_POLL: Duration = Duration::from_millis(25);

/// A session queued for Prisma's lock longer than this is not a live Prisma run
/// (Prisma waits 10 s, then gives up with P1002).
const STALE_WAIT: Duration = Duration::from_secs(15);

/// How long taking Prisma's key back after a call may take before it counts as lost.
const RETAKE_TIMEOUT: Duration = Duration::from_secs(15);

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

    /// One of the run's own Prisma calls starts: a lock that keeps plain Prisma runs
    /// out lends that call what it needs (`release_now`: its engine is known not to
    /// skip Prisma's own lock). See [`DeployLock::prisma_call_starts`].
    fn prisma_call_starts(&mut self, _release_now: bool) {}

    /// The call ended: whatever was lent is taken back (a failure shows at the next
    /// `still_held`).
    fn prisma_call_ended(&mut self) {}

    /// After `still_held` said no: why the database server itself cannot be
    /// reached, when that is the cause (then the run stops as unreachable, exit 3).
    fn unreachable(&self) -> Option<String> {
        None
    }
}

/// The held lock. Dropping it closes the session, which releases the lock.
pub(crate) struct DeployLock {
    session: Arc<Mutex<Option<Session>>>,
    /// The server process of the session that holds the lock.
    backend: String,
    /// While one of the tool's Prisma calls runs: the watcher that lends it Prisma's key.
    lending: Option<Lending>,
    /// Why Prisma's key could not be taken back after a call (the lock counts as lost).
    prisma_key_lost: Option<String>,
    /// The server's `server_version_num` (what the lending query may use).
    server_version_num: u32,
    /// The database, to tell a server that went away from a terminated session.
    target: Target,
    /// Set when the session ended because the server cannot be reached.
    unreachable: Option<String>,
}

struct Lending {
    stop: Arc<AtomicBool>,
    released: Arc<AtomicBool>,
    watcher: Option<std::thread::JoinHandle<()>>,
}

impl Drop for DeployLock {
    fn drop(&mut self) {
        self.stop_lending();
        let taken = self.session.lock().ok().and_then(|mut s| s.take());
        let Some(Session { mut child, stdin, stdout }) = taken else {
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

impl DeployLock {
    /// After the lock's session ended: a new connection tells a server that went
    /// away (stopped, crashed, unreachable: exit 3) from a session that was
    /// terminated while the server runs on (the lock is lost: exit 5). Both end
    /// the session with the same message (57P01 on a shutdown and on
    /// pg_terminate_backend).
    fn probe_server(&mut self) {
        if let Err(f) = self.target.without_session().query_n::<1>("SELECT 1", &[]) {
            if f.exit == Exit::DatabaseUnreachable {
                self.unreachable = Some(f.message);
            }
        }
    }

    fn stop_lending(&mut self) -> bool {
        let Some(mut l) = self.lending.take() else {
            return false;
        };
        l.stop.store(true, Ordering::SeqCst);
        if let Some(w) = l.watcher.take() {
            let _ = w.join();
        }
        l.released.load(Ordering::SeqCst)
    }
}

/// `pg_locks` conditions for one bigint advisory key.
pub(crate) fn key_filter(key: i64) -> String {
    format!("classid = {} AND objid = {} AND objsubid = 1", (key >> 32) as u32, (key & 0xffff_ffff) as u32)
}

impl RunLock for DeployLock {
    /// Asks the lock's own session whether its backend (the one that took the lock)
    /// still holds both keys, granted, in pg_locks. A session that was terminated
    /// (pg_terminate_backend, idle_session_timeout, a failover) has exited or
    /// reconnected as another backend; either way the answer is no.
    fn still_held(&mut self) -> Result<(), String> {
        if let Some(why) = &self.prisma_key_lost {
            return Err(why.clone());
        }
        let mut guard = self.session.lock().map_err(|_| "its session is unusable".to_string())?;
        let Some(s) = guard.as_mut() else {
            return Err("its session is closed".into());
        };
        let sql = format!(
            "SELECT count(*) FILTER (WHERE {}) || ',' || count(*) FILTER (WHERE {}) FROM pg_locks \
             WHERE locktype = 'advisory' AND granted AND pid = {} AND pid = pg_backend_pid();",
            key_filter(KEY),
            key_filter(PRISMA_KEY),
            self.backend
        );
        match s.ask_within(&sql, CHECK_TIMEOUT) {
            Answer::Line(l) if l == "1,1" => Ok(()),
            Answer::Line(l) if l == "1,0" => {
                Err(format!("its session (server PID {}) no longer holds Prisma's migrate lock", self.backend))
            }
            Answer::Line(_) => Err(format!("its session (server PID {}) no longer holds it", self.backend)),
            Answer::Timeout => {
                drop(guard);
                self.probe_server();
                Err(format!("its session did not answer within {}s", CHECK_TIMEOUT.as_secs()))
            }
            Answer::Gone => {
                let why = guard.take().map(Session::stderr).unwrap_or_default();
                drop(guard);
                self.probe_server();
                Err(session_ended(&why))
            }
        }
    }

    fn unreachable(&self) -> Option<String> {
        self.unreachable.clone()
    }

    /// One of the tool's own Prisma calls is about to start. Its engine was told
    /// to skip Prisma's lock; one that cannot (before Prisma 5.3.0: `release_now`;
    /// the WebAssembly engine of a driver adapter: seen waiting for the key under
    /// [`prisma_app_name`]) gets the key for the call: released when that call is
    /// the only session waiting for it, so no other Prisma run is handed it.
    fn prisma_call_starts(&mut self, release_now: bool) {
        self.stop_lending();
        let released = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        if release_now {
            if let Ok(mut g) = self.session.lock() {
                if let Some(s) = g.as_mut() {
                    if s.ask(&format!("SELECT pg_advisory_unlock({PRISMA_KEY});")).as_deref() == Some("t") {
                        released.store(true, Ordering::SeqCst);
                    }
                }
            }
            self.lending = Some(Lending { stop, released, watcher: None });
            return;
        }
        let session = Arc::clone(&self.session);
        let (stop2, released2) = (Arc::clone(&stop), Arc::clone(&released));
        let ours = prisma_app_name();
        // Our call waiting, and the other waiters that the key would reach first.
        // The lock goes to the queue's head, so a waiter queued after ours is no
        // obstacle; nor is one queued more than STALE_WAIT ago: Prisma gives up after
        // 10 s, and the backend of a client that gave up stays queued (the server
        // notices the closed connection only once it is granted, and then ends).
        // pg_locks.waitstart exists from PostgreSQL 14; before, any other waiter blocks.
        let obstacle = if self.server_version_num >= 140_000 {
            format!(
                "NOT mine AND NOT coalesce(waitstart > (SELECT min(waitstart) FROM w WHERE mine) \
                 OR waitstart < now() - interval '{} seconds', false)",
                STALE_WAIT.as_secs()
            )
        } else {
            "NOT mine".to_string()
        };
        let waitstart = if self.server_version_num >= 140_000 { "l.waitstart" } else { "NULL::timestamptz" };
        let waiting = format!(
            "WITH w AS (SELECT a.application_name IS NOT DISTINCT FROM '{ours}' AS mine, {waitstart} AS waitstart \
             FROM pg_locks l JOIN pg_stat_activity a USING (pid) \
             WHERE l.locktype = 'advisory' AND NOT l.granted AND l.{} \
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())) \
             SELECT (SELECT count(*) FROM w WHERE mine) || ',' || (SELECT count(*) FROM w WHERE {obstacle});",
            key_filter(PRISMA_KEY)
        );
        let watcher = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                std::thread::sleep(LEND_POLL);
                let Ok(mut g) = session.lock() else { return };
                let Some(s) = g.as_mut() else { return };
                let Some(answer) = s.ask(&waiting) else { return };
                let (mine, others) = answer.split_once(',').unwrap_or(("0", "0"));
                if mine != "0" && others == "0" {
                    if s.ask(&format!("SELECT pg_advisory_unlock({PRISMA_KEY});")).as_deref() == Some("t") {
                        released2.store(true, Ordering::SeqCst);
                    }
                    return;
                }
            }
        });
        self.lending = Some(Lending { stop, released, watcher: Some(watcher) });
    }

    /// The call ended: Prisma's key, if it was lent, is taken back (within
    /// [`RETAKE_TIMEOUT`]; otherwise the lock counts as lost at the next check).
    fn prisma_call_ended(&mut self) {
        if !self.stop_lending() {
            return;
        }
        let deadline = Instant::now() + RETAKE_TIMEOUT;
        let Ok(mut g) = self.session.lock() else { return };
        let Some(s) = g.as_mut() else { return };
        loop {
            match s.ask(&format!("SELECT pg_try_advisory_lock({PRISMA_KEY});")).as_deref() {
                Some("t") => return,
                Some("f") if Instant::now() < deadline => std::thread::sleep(LEND_POLL),
                Some(_) => {
                    let holder = s.ask(&holder_query(PRISMA_KEY)).unwrap_or_else(|| "another session".into());
                    self.prisma_key_lost = Some(format!(
                        "Prisma's migrate lock, lent to this run's own Prisma call, was taken by {holder} before it could be taken back"
                    ));
                    return;
                }
                None => return,
            }
        }
    }
}

fn session_ended(stderr: &str) -> String {
    match stderr.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(l) => format!("its session ended: {l}"),
        None => "its session ended".into(),
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

/// Who holds `key`, for people: the application_name, client address, server PID
/// and how long (for an xtask holder, since it took the lock; for anything else,
/// since it connected). The client is `address:port` for TCP, `local socket` for a
/// Unix socket (client_port -1); a role without pg_read_all_stats sees neither for
/// another role's session (both NULL), which is said as such, not as a socket.
fn holder_query(key: i64) -> String {
    format!(
        "SELECT coalesce(string_agg(format('%s (client %s, server PID %s) %s', \
           CASE WHEN a.application_name = '' THEN 'a session without application_name' \
                ELSE regexp_replace(a.application_name, '@[0-9]+$', '') END, \
           CASE WHEN a.client_port = -1 THEN 'local socket' \
                WHEN a.client_addr IS NOT NULL THEN CASE WHEN family(a.client_addr) = 6 \
                     THEN '[' || host(a.client_addr) || ']' ELSE host(a.client_addr) END || ':' || a.client_port \
                ELSE 'address hidden from role ' || current_user || ', which lacks pg_read_all_stats' END, \
           a.pid, \
           CASE WHEN a.application_name ~ '^{APP_NAME}@[0-9]+$' \
                THEN 'holding it for ' || date_trunc('second', now() - to_timestamp(split_part(a.application_name, '@', 2)::bigint)) \
                ELSE 'connected ' || date_trunc('second', now() - a.backend_start) || ' ago' END), ', '), 'another session') \
         FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.granted \
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND l.{};",
        key_filter(key)
    )
}

/// The session, other than this one, that holds Prisma's migrate lock on the
/// database `target` names, described for people; `None` when no session does
/// (or the question could not be asked: then nobody is claimed to hold it).
pub(crate) fn prisma_lock_holder(target: &Target) -> Result<Option<String>, Failure> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid() \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND {});",
        key_filter(PRISMA_KEY)
    );
    let held = target.query_n::<1>(&sql, &[])?;
    if held.first().and_then(|r| r[0].as_deref()) != Some("t") {
        return Ok(None);
    }
    let who = target.query_n::<1>(&holder_query(PRISMA_KEY), &[])?;
    Ok(Some(who.into_iter().next().and_then(|[w]| w).unwrap_or_else(|| "another session".into())))
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
    // Both keys or neither: `t` both taken, `f` another deploy of the tool holds
    // ours, `p` someone else (a plain Prisma run) holds Prisma's, ours given back.
    let try_lock = format!(
        "SELECT CASE WHEN NOT pg_try_advisory_lock({KEY}) THEN 'f' \
                     WHEN pg_try_advisory_lock({PRISMA_KEY}) THEN 't' \
                     ELSE (SELECT 'p' FROM pg_advisory_unlock({KEY})) END;"
    );
    let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
    let started = Instant::now();
    let mut last_line: Option<Instant> = None;
    loop {
        match s.ask(&try_lock).as_deref() {
            Some("t") => {
                // Marks when the lock was taken, for anyone who waits for it. Session-level
                // on purpose, like the advisory locks: both last as long as this session,
                // which is a direct connection of its own (a URL recognised as pooled is
                // refused, see Target::from_env), never handed to another client.
                let mark = s.ask(&format!(
                    "SELECT pg_backend_pid() || '|' || current_setting('server_version_num') || '|' || \
                     set_config('application_name', '{APP_NAME}@' || floor(extract(epoch FROM now()))::bigint, false);"
                ));
                let mut parts = mark.as_deref().unwrap_or("").split('|');
                let (Some(backend), Some(version)) = (parts.next().filter(|b| !b.is_empty()), parts.next()) else {
                    let err = s.stderr();
                    return Err(target.failure("psql", &err));
                };
                let (backend, server_version_num) = (backend.to_string(), version.parse().unwrap_or(0));
                if last_line.is_some() {
                    ui.event(&format!("deploy lock acquired after {:.1}s", started.elapsed().as_secs_f64()));
                } else {
                    ui.event("deploy lock acquired");
                }
                return Ok(DeployLock {
                    session: Arc::new(Mutex::new(Some(s))),
                    backend,
                    lending: None,
                    prisma_key_lost: None,
                    server_version_num,
                    target: target.without_session(),
                    unreachable: None,
                });
            }
            Some(busy @ ("f" | "p")) => {
                let prisma = busy == "p";
                let (what, key) = if prisma {
                    ("Prisma's migrate lock (72707369: a `prisma migrate` is running on this database)", PRISMA_KEY)
                } else {
                    ("the deploy lock", KEY)
                };
                let due = last_line.is_none_or(|t| t.elapsed() >= WAIT_LINE_EVERY);
                let holder = if due || no_wait || started.elapsed() >= timeout {
                    s.ask(&holder_query(key)).unwrap_or_else(|| "another session".into())
                } else {
                    String::new()
                };
                if no_wait {
                    let message = if prisma {
                        format!("{what} is held by {holder}: nothing was done: let that run finish (a container entrypoint, a laptop?), check `{}`, or run without --no-wait to wait", crate::invocation::cmd("status"))
                    } else {
                        format!("another deploy holds the deploy lock ({holder}): wait for it to finish, or run without --no-wait to wait")
                    };
                    return Err(Failure::new(Exit::LockNotAcquired, message));
                }
                if started.elapsed() >= timeout {
                    return Err(Failure::new(
                        Exit::LockNotAcquired,
                        format!(
                            "gave up waiting for {what} after {}s; it is held by {holder}: nothing was done; try again when that run is done, or raise --lock-timeout",
                            timeout.as_secs()
                        ),
                    ));
                }
                if due {
                    let line = match last_line {
                        None => format!("waiting for {what}, held by {holder} (up to {}s)", timeout.as_secs()),
                        Some(_) => format!(
                            "still waiting for {what} ({:.0}s of {}s), held by {holder}",
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
