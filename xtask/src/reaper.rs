//! The reaper: a small process forked from xtask that outlives it only to stop
//! what it started. Each child runs in its own process group (`proc::spawn`) and
//! gets SIGTERM when xtask dies (`PR_SET_PDEATHSIG`), but that signal reaches the
//! child alone: `npx` passes it to the shell it started, which dies without
//! passing it on, and the Prisma CLI below it would go on migrating unsupervised.
//! Whole groups have to be signalled, and after `kill -9` no code of xtask runs,
//! so another process does it: the reaper reads the process groups of live
//! children from a pipe, and when the pipe reports end-of-file (xtask is gone,
//! however it went) it sends each remaining group SIGTERM, then SIGKILL to what is
//! still there after a grace period, and exits.
//!
//! It is forked without exec, from a process that may have threads: after the
//! fork it only makes async-signal-safe calls (read, kill, nanosleep, close) on
//! stack memory, no allocation.

use std::sync::OnceLock;

/// The write end of the pipe to the reaper; `None` if it could not be started
/// (then children still get the parent-death signal).
fn channel() -> Option<libc::c_int> {
    static FD: OnceLock<Option<libc::c_int>> = OnceLock::new();
    *FD.get_or_init(start)
}

/// Starts the reaper if it is not running yet; before the first child is
/// spawned, so that it never even briefly holds a child's pipes. Whether it runs.
pub(crate) fn start_once() -> bool {
    channel().is_some()
}

/// Tells the reaper about a child leading its own process group.
pub(crate) fn watch(pgid: u32) {
    send(pgid as i32);
}

/// Tells the reaper that a watched child was waited for: its group id may be
/// reused by the system from now on, so it must not be signalled any more.
pub(crate) fn forget(pgid: u32) {
    send(-(pgid as i32));
}

fn send(v: i32) {
    if v == 0 {
        return;
    }
    if let Some(fd) = channel() {
        let bytes = v.to_ne_bytes();
        // SAFETY: writes 4 bytes from a live buffer; a pipe write of fewer than
        // PIPE_BUF bytes is atomic, so messages from several threads never mix.
        unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    }
}

/// How long groups get between SIGTERM and SIGKILL.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const GRACE_MS: u32 = 2000;
/// The most groups watched at once (xtask runs a handful at a time).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const SLOTS: usize = 512;

/// Elsewhere (macOS) children still stop with the pipes that close when xtask
/// dies; the reaper is Linux-only (pipe2, errno location).
#[cfg(not(target_os = "linux"))]
fn start() -> Option<libc::c_int> {
    None
}

#[cfg(target_os = "linux")]
fn start() -> Option<libc::c_int> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills the two descriptors; both are close-on-exec, so no
    // exec'd child keeps the write end open (which would hide xtask's death).
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return None;
    }
    let [read_end, write_end] = fds;
    // SAFETY: fork; the child below only calls async-signal-safe functions.
    match unsafe { libc::fork() } {
        -1 => {
            // SAFETY: closing the descriptors just made.
            unsafe {
                libc::close(read_end);
                libc::close(write_end);
            }
            None
        }
        0 => reap(read_end),
        _ => {
            // SAFETY: the reaper has its own copy of the read end.
            unsafe { libc::close(read_end) };
            Some(write_end)
        }
    }
}

/// Closes every descriptor but `keep`: with two `close_range` calls (Linux 5.9
/// and later), else one `close` per descriptor up to the open-files limit (some
/// 20,000 calls with a common limit of 1,048,576 clamped to 65,536: the run's
/// largest cost in a chain of no-op tasks before close_range).
///
/// # Safety
/// Only async-signal-safe calls (raw syscalls); for the forked reaper.
#[cfg(target_os = "linux")]
unsafe fn close_all_but(keep: libc::c_int) {
    let keep = keep as libc::c_uint;
    let below = keep == 0 || libc::syscall(libc::SYS_close_range, 0 as libc::c_uint, keep - 1, 0 as libc::c_uint) == 0;
    let above = libc::syscall(libc::SYS_close_range, keep + 1, libc::c_uint::MAX, 0 as libc::c_uint) == 0;
    if below && above {
        return;
    }
    let max = libc::sysconf(libc::_SC_OPEN_MAX).clamp(256, 65536) as libc::c_int;
    for fd in 0..max {
        if fd as libc::c_uint != keep {
            libc::close(fd);
        }
    }
}

/// The reaper's whole life. Never returns.
#[cfg(target_os = "linux")]
fn reap(read_end: libc::c_int) -> ! {
    // SAFETY: async-signal-safe calls only, on stack memory.
    unsafe {
        // Its own group, and deaf to the terminal: a Ctrl-C that ends xtask must
        // not end the reaper before it has done its job.
        libc::setpgid(0, 0);
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
        // Hold nothing of xtask's: not the write end (end-of-file must come), not
        // its stdout (whoever reads xtask's output waits for end-of-file too), not
        // a backup's lock on its partial.
        close_all_but(read_end);
        let mut groups = [0i32; SLOTS];
        loop {
            let mut buf = [0u8; 4];
            let mut got = 0usize;
            while got < 4 {
                let n = libc::read(read_end, buf.as_mut_ptr().add(got).cast(), 4 - got);
                if n > 0 {
                    got += n as usize;
                } else if n < 0 && *libc::__errno_location() == libc::EINTR {
                    continue;
                } else {
                    break;
                }
            }
            if got < 4 {
                break; // end of file: xtask is gone
            }
            let v = i32::from_ne_bytes(buf);
            if v > 0 {
                if let Some(slot) = groups.iter_mut().find(|g| **g == 0) {
                    *slot = v;
                }
            } else if let Some(slot) = groups.iter_mut().find(|g| **g == -v) {
                *slot = 0;
            }
        }
        for g in groups.iter().filter(|g| **g > 0) {
            libc::kill(-*g, libc::SIGTERM);
        }
        let mut waited = 0;
        while waited < GRACE_MS && groups.iter().any(|g| *g > 0 && libc::kill(-*g, 0) == 0) {
            libc::usleep(20_000);
            waited += 20;
        }
        for g in groups.iter().filter(|g| **g > 0) {
            libc::kill(-*g, libc::SIGKILL);
        }
        libc::_exit(0)
    }
}
