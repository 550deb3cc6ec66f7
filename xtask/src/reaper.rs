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
//! It is started without exec, from a process that may have threads: it only
//! makes async-signal-safe calls (read, kill, nanosleep, close) on stack memory,
//! no allocation. Where the kernel has `close_range` (Linux 5.9) it is a process
//! that shares xtask's memory (`clone` with `CLONE_VM`, not a thread: its own
//! process id, group, signal dispositions and copy of the descriptor table), on a
//! stack of its own: no copy of xtask's page tables to make, and no page xtask
//! writes afterwards copied for it, which made the forked reaper a tenth of a
//! chain of no-op tasks (BENCHMARKS.md, "The runner's own start"). Sharing the
//! memory holds it to more: it writes nothing but its own stack, and while xtask
//! lives no call it makes can fail (a failing libc call writes `errno`, which is
//! the thread-local of the xtask thread that started it): `read` of the pipe,
//! `setpgid`, `sigaction` and `close_range`, which is checked before. Its other
//! calls (`kill`, `usleep`) come after end-of-file, when no code of xtask runs any
//! more. Elsewhere it is forked, as before.

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
    start_as(has_close_range()).map(|(write_end, _)| write_end)
}

/// Starts a reaper sharing xtask's memory (`shared`, where `close_range` works)
/// or forked: the write end of its pipe and its process id.
#[cfg(target_os = "linux")]
fn start_as(shared: bool) -> Option<(libc::c_int, libc::pid_t)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills the two descriptors; both are close-on-exec, so no
    // exec'd child keeps the write end open (which would hide xtask's death).
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return None;
    }
    let [read_end, write_end] = fds;
    // SAFETY: clone or fork; the reaper only calls async-signal-safe functions,
    // and what sharing the memory asks more is kept (module documentation).
    let pid = unsafe {
        if shared {
            clone_reaper(read_end)
        } else {
            match libc::fork() {
                0 => reap(read_end),
                pid => pid,
            }
        }
    };
    // SAFETY: closing descriptors of ours; the reaper has its own copy of the read end.
    unsafe {
        libc::close(read_end);
        if pid == -1 {
            libc::close(write_end);
            return None;
        }
    }
    Some((write_end, pid))
}

/// Whether the kernel has `close_range` (Linux 5.9 and later): closing a range
/// that holds no descriptor succeeds there and fails with ENOSYS before.
#[cfg(target_os = "linux")]
fn has_close_range() -> bool {
    let last = libc::c_uint::MAX;
    // SAFETY: closes nothing: no descriptor has the largest possible number.
    unsafe { libc::syscall(libc::SYS_close_range, last, last, 0 as libc::c_uint) == 0 }
}

/// Starts the reaper as a process sharing xtask's memory, on a stack of its own
/// that is never unmapped (the reaper may outlive xtask by the grace period).
/// Its process id, or -1.
///
/// # Safety
/// Only where `close_range` works (the reaper's first call, which must not fail).
#[cfg(target_os = "linux")]
unsafe fn clone_reaper(read_end: libc::c_int) -> libc::pid_t {
    // Ample for `reap`'s 2 KiB of slots at opt-level 0.
    const STACK: usize = 256 * 1024;
    extern "C" fn entry(arg: *mut libc::c_void) -> libc::c_int {
        reap(arg as usize as libc::c_int)
    }
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK;
    let stack = libc::mmap(std::ptr::null_mut(), STACK, libc::PROT_READ | libc::PROT_WRITE, flags, -1, 0);
    if stack == libc::MAP_FAILED {
        return -1;
    }
    let top = stack.cast::<u8>().add(STACK).cast::<libc::c_void>();
    // SIGCHLD at its end, as for a forked child; no CLONE_FILES (its own copy of
    // the descriptors, which it closes), no CLONE_SIGHAND, no CLONE_THREAD.
    let pid = libc::clone(entry, top, libc::CLONE_VM | libc::SIGCHLD, read_end as usize as *mut libc::c_void);
    if pid == -1 {
        libc::munmap(stack, STACK);
    }
    pid
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
        // not end the reaper before it has done its job. Deaf to SIGTERM too: it
        // came with xtask's handler when the reaper started during a step that
        // catches signals (`interrupt`), which would run on xtask's memory; and a
        // stop of everything (a CI runner's, a service manager's) must not end it
        // before xtask, after which it ends by itself. std's SIGSEGV and SIGBUS
        // handlers read xtask's thread-locals: the default instead.
        libc::setpgid(0, 0);
        for sig in [libc::SIGINT, libc::SIGHUP, libc::SIGQUIT, libc::SIGTERM] {
            libc::signal(sig, libc::SIG_IGN);
        }
        libc::signal(libc::SIGSEGV, libc::SIG_DFL);
        libc::signal(libc::SIGBUS, libc::SIG_DFL);
        // Hold nothing of xtask's: not the write end (end-of-file must come), not
        // its stdout (whoever reads xtask's output waits for end-of-file too), not
        // a backup's lock on its partial.
        close_all_but(read_end);
        let mut groups = [0i32; SLOTS];
        loop {
            let mut buf = [0u8; 4];
            let mut got = 0usize;
            while got < 4 {
                // The raw system call: glibc's `read` wrapper may note a thread
                // cancellation point in xtask's thread's memory.
                let n = libc::syscall(libc::SYS_read, read_end, buf.as_mut_ptr().add(got), 4 - got);
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};

    /// Both ways of starting the reaper (sharing xtask's memory, forked) stop a
    /// watched process group, child and grandchild, when the pipe reports
    /// end-of-file as it does when xtask dies, leave a forgotten group alone, and
    /// end by themselves.
    #[test]
    fn both_ways_of_starting_the_reaper_stop_the_watched_groups_when_xtask_goes() {
        for shared in [true, false] {
            if shared && !has_close_range() {
                continue; // a kernel before 5.9: xtask forks it there
            }
            let (write_end, reaper) = start_as(shared).expect("start the reaper");
            let group = |script: &str| {
                let mut cmd = std::process::Command::new("sh");
                cmd.args(["-c", script]).process_group(0);
                cmd.spawn().unwrap()
            };
            let mut watched = group("sleep 300 & exec sleep 301");
            let mut forgotten = group("exec sleep 302");
            let send = |v: i32| {
                // SAFETY: 4 bytes from a live buffer to the pipe's write end.
                assert_eq!(unsafe { libc::write(write_end, v.to_ne_bytes().as_ptr().cast(), 4) }, 4);
            };
            send(watched.id() as i32);
            send(forgotten.id() as i32);
            send(-(forgotten.id() as i32));
            // What xtask's death does to the pipe.
            // SAFETY: our own descriptor, not used after.
            unsafe { libc::close(write_end) };
            let status = watched.wait().unwrap();
            assert_eq!(status.signal(), Some(libc::SIGTERM), "shared: {shared}");
            // The background `sleep 300` was in the same group: gone too.
            let pgid = watched.id() as libc::pid_t;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            // SAFETY: signal 0 only asks whether the group still has a process.
            while unsafe { libc::kill(-pgid, 0) } == 0 {
                assert!(std::time::Instant::now() < deadline, "the watched group outlived the reaper's SIGTERM");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let mut code = 0;
            // SAFETY: waits for the reaper, a child of this process.
            assert_eq!(unsafe { libc::waitpid(reaper, &mut code, 0) }, reaper);
            assert!(libc::WIFEXITED(code) && libc::WEXITSTATUS(code) == 0, "reaper ended with {code:#x}");
            // The forgotten group was not signalled.
            assert!(forgotten.try_wait().unwrap().is_none(), "shared: {shared}");
            forgotten.kill().unwrap();
            forgotten.wait().unwrap();
        }
    }
}
