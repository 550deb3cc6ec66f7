//! Catching SIGINT, SIGTERM and SIGHUP while a backup is half-written, so that the
//! backup stops pg_dump, removes its partial and fails cleanly instead of dying
//! with the partial left behind. The previous handlers come back on drop.

use std::sync::atomic::{AtomicI32, Ordering};

static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn record(sig: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    RECEIVED.store(sig, Ordering::SeqCst);
}

const CAUGHT: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// While alive, the signals above are recorded instead of ending the process.
/// Only one should exist at a time.
pub(crate) struct Interrupts {
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

impl Interrupts {
    pub(crate) fn catch() -> Interrupts {
        RECEIVED.store(0, Ordering::SeqCst);
        let mut previous = Vec::new();
        for sig in CAUGHT {
            // SAFETY: plain sigaction calls with zero-initialised structs; the handler
            // only stores to an atomic.
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
        match RECEIVED.load(Ordering::SeqCst) {
            0 => None,
            sig => Some(sig),
        }
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
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_signal_is_recorded_and_the_old_handler_restored() {
        {
            let guard = Interrupts::catch();
            assert_eq!(guard.received(), None);
            // SAFETY: sends SIGHUP to this process, which the guard catches.
            unsafe { libc::raise(libc::SIGHUP) };
            assert_eq!(guard.received(), Some(libc::SIGHUP));
            assert_eq!(name(libc::SIGHUP), "SIGHUP");
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
