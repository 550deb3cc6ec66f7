//! Ctrl-C, SIGTERM and SIGHUP while the run has something to clean up (a partial
//! backup, the rehearsal's scratch database): the signal is recorded, the child
//! running the current step (pg_dump, psql, pg_restore, Prisma) is stopped at
//! once, the step fails, the code that made something removes it, and the run
//! exits 128 + the signal (130 for SIGINT, 143 for SIGTERM). A second signal
//! ends the process at once. The previous handlers come back on drop.
//!
//! Hand-written `sigaction` rather than signal-hook: the handler is installed only
//! while there is something to clean up and the previous disposition (the
//! default, which ends the process at once) must come back afterwards, which
//! signal-hook-registry does not do once it has installed its handler; and the
//! handler's work is two kinds of async-signal-safe call (kill, write).

use std::cell::Cell;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crate::exit::{Exit, Failure};

static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// The children running a step while signals are caught: the pid of a child
/// leading its own process group, or with [`ALONE`] of one in our group (then
/// the signal goes to it alone); [`SIGNALLED`] once the handler sent it SIGTERM.
static STEPS: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];
const SLOTS: usize = 64;
/// Flags above every pid (`pid_max` is at most 2^22).
const ALONE: i32 = 1 << 29;
const SIGNALLED: i32 = 1 << 30;
const PID: i32 = ALONE - 1;

/// What `kill` takes for a slot's value: the group, or the process alone.
fn kill_target(v: i32) -> libc::pid_t {
    if v & ALONE != 0 {
        v & PID
    } else {
        -(v & PID)
    }
}

/// The write end of the pipe that wakes the watchdog; -1 until it runs.
static WAKE: AtomicI32 = AtomicI32::new(-1);

/// How long a stopped step's child gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(1);

extern "C" fn record(sig: libc::c_int) {
    // Only async-signal-safe calls: atomics, kill, write, _exit.
    if RECEIVED.swap(sig, Ordering::SeqCst) != 0 {
        // The second signal: the user (or CI) will not wait for the cleanup.
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(128 + sig) };
    }
    for slot in &STEPS {
        let v = slot.load(Ordering::SeqCst);
        if v != 0
            && v & SIGNALLED == 0
            && slot.compare_exchange(v, v | SIGNALLED, Ordering::SeqCst, Ordering::SeqCst).is_ok()
        {
            // SAFETY: a child that has not been waited for yet (it leaves the slot first).
            unsafe { libc::kill(kill_target(v), libc::SIGTERM) };
        }
    }
    let fd = WAKE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: one byte from a static buffer to a pipe that is never closed.
        unsafe { libc::write(fd, b"!".as_ptr().cast(), 1) };
    }
}

const CAUGHT: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// While alive, the signals above are recorded instead of ending the process,
/// and stop the running step's child. Only one should exist at a time.
pub(crate) struct Interrupts {
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

impl Interrupts {
    pub(crate) fn catch() -> Interrupts {
        RECEIVED.store(0, Ordering::SeqCst);
        start_watchdog();
        let mut previous = Vec::new();
        for sig in CAUGHT {
            // SAFETY: plain sigaction calls with zero-initialised structs; the handler
            // only makes async-signal-safe calls.
            unsafe {
                let mut new: libc::sigaction = std::mem::zeroed();
                new.sa_sigaction = record as extern "C" fn(libc::c_int) as libc::sighandler_t;
                new.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut new.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &new, &mut old) != 0 {
                    continue;
                }
                if old.sa_sigaction == libc::SIG_IGN {
                    // Whoever started us wants this signal ignored (nohup, `&` in a script).
                    libc::sigaction(sig, &old, std::ptr::null_mut());
                } else {
                    previous.push((sig, old));
                }
            }
        }
        Interrupts { previous }
    }

    /// The signal received since `catch`, if any.
    pub(crate) fn received(&self) -> Option<i32> {
        received()
    }

    /// Stops the step ([`failure`]: `what` happened) when a signal was received
    /// since `catch`: between the parts of a step, and after one a signal may have
    /// cut short (it reaches the child too: the signal is then the cause).
    pub(crate) fn check(&self, what: &str) -> Result<(), Failure> {
        self.received().map_or(Ok(()), |sig| Err(failure(sig, what)))
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        for (sig, old) in &self.previous {
            // SAFETY: restores the disposition saved in `catch`.
            unsafe {
                libc::sigaction(*sig, old, std::ptr::null_mut());
            }
        }
        // The failure that the signal caused carries it from here on.
        RECEIVED.store(0, Ordering::SeqCst);
    }
}

/// The signal received while signals were caught, if any.
pub(crate) fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}

/// A child that runs a step: a signal stops it (SIGTERM to its process group, or
/// to it alone when it shares ours; SIGKILL a second later). Leaves the list on
/// drop, which must come before the child is waited for: a waited-for child's id
/// may be reused.
pub(crate) struct Step(usize);

impl Step {
    /// `pid` leads its own process group when `own_group`.
    pub(crate) fn watch(pid: u32, own_group: bool) -> Option<Step> {
        // A clean-up's own child (the scratch database's DROP, which may run on a
        // thread of its own beside the deploy's steps) is never a step to stop.
        if CLEANING_HERE.with(Cell::get) {
            return None;
        }
        let v = if own_group { pid as i32 } else { pid as i32 | ALONE };
        let slot = STEPS.iter().position(|s| s.compare_exchange(0, v, Ordering::SeqCst, Ordering::SeqCst).is_ok())?;
        // A signal that came before the child was listed still stops it, unless
        // the child is part of the clean-up the signal started.
        if received().is_some()
            && CLEANING.load(Ordering::SeqCst) == 0
            && STEPS[slot].compare_exchange(v, v | SIGNALLED, Ordering::SeqCst, Ordering::SeqCst).is_ok()
        {
            // SAFETY: our child, not waited for yet.
            unsafe { libc::kill(kill_target(v), libc::SIGTERM) };
        }
        Some(Step(slot))
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        STEPS[self.0].store(0, Ordering::SeqCst);
    }
}

/// How many clean-ups are running: their children are not steps to stop.
static CLEANING: AtomicUsize = AtomicUsize::new(0);

/// While alive, children started are part of removing what the run made (the
/// scratch database's DROP), which a signal already received must not stop.
pub(crate) struct Cleanup(bool);

thread_local! {
    /// Whether this thread is running a clean-up: its children are not steps.
    static CLEANING_HERE: Cell<bool> = const { Cell::new(false) };
}

pub(crate) fn cleaning_up() -> Cleanup {
    CLEANING.fetch_add(1, Ordering::SeqCst);
    Cleanup(CLEANING_HERE.with(|c| c.replace(true)))
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        CLEANING_HERE.with(|c| c.set(self.0));
        CLEANING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The thread that sends SIGKILL to what SIGTERM did not stop, [`GRACE`] after a
/// signal. Started once, on the first `catch`; it sleeps on a pipe until then.
fn start_watchdog() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe fills the two descriptors; close-on-exec so no child holds them.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return;
        }
        for fd in fds {
            // SAFETY: sets a flag on a descriptor just made.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
        let [read_end, write_end] = fds;
        let spawned = std::thread::Builder::new().name("xtask-interrupt".into()).spawn(move || loop {
            let mut byte = 0u8;
            // SAFETY: reads one byte into a live buffer.
            let n = unsafe { libc::read(read_end, (&mut byte as *mut u8).cast(), 1) };
            if n == 0 {
                return;
            }
            if n < 0 {
                continue;
            }
            std::thread::sleep(GRACE);
            for slot in &STEPS {
                let v = slot.load(Ordering::SeqCst);
                if v & SIGNALLED != 0 {
                    // SAFETY: still listed, so not waited for yet.
                    unsafe { libc::kill(kill_target(v), libc::SIGKILL) };
                }
            }
        });
        if spawned.is_ok() {
            WAKE.store(write_end, Ordering::SeqCst);
        }
    });
}

/// "SIGINT" for people.
pub(crate) fn name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// The run's failure after a signal: exit 128 + the signal, and `what` happened.
pub(crate) fn failure(sig: i32, what: &str) -> Failure {
    Failure::new(Exit::from_signal(sig), format!("interrupted by {}: {what}", name(sig)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_signal_is_recorded_stops_the_step_and_the_old_handler_comes_back() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        {
            let guard = Interrupts::catch();
            assert_eq!(guard.received(), None);
            let step = Step::watch(child.id(), false).unwrap();
            // SAFETY: sends SIGHUP to this process, which the guard catches.
            unsafe { libc::raise(libc::SIGHUP) };
            assert_eq!(guard.received(), Some(libc::SIGHUP));
            assert_eq!(name(libc::SIGHUP), "SIGHUP");
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGTERM));
            drop(step);
            assert_eq!(failure(guard.received().unwrap(), "x").exit, Exit::HungUp);
        }
        // SAFETY: reads the current disposition without changing it.
        let current = unsafe {
            let mut cur: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGHUP, std::ptr::null(), &mut cur);
            cur.sa_sigaction
        };
        assert_ne!(current, record as extern "C" fn(libc::c_int) as libc::sighandler_t);
    }
}
