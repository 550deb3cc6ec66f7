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
//! It is started without exec, from a process that may have threads, and makes
//! system calls only, on stack memory: no allocation, no libc function ([`sys`]).
//! Where the kernel has `close_range` (Linux 5.9) it starts as a process that
//! shares xtask's memory (`clone` with `CLONE_VM`, not a thread: its own process
//! id, group, signal dispositions and copy of the descriptor table) on a stack of
//! its own: no copy of xtask's page tables to make, and no page xtask writes
//! afterwards copied for it, which made the forked reaper a tenth of a chain of
//! no-op tasks (BENCHMARKS.md, "The runner's own start"). Sharing the memory holds
//! it to more: it writes nothing but its own stack, and it calls no libc function,
//! whose `errno` and cancellation state would be the thread-locals of the xtask
//! thread that started it. And the out-of-memory killer ends every process that
//! shares the memory of the one it picks: a run that lasts [`HANDOFF_MS`] hands
//! the job to a forked copy with memory of its own. Elsewhere it is forked from
//! the start.

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
    start_as(SHARED_OK && has_close_range()).map(|(write_end, _)| write_end)
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
                0 => reap(read_end, false),
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
        reap(arg as usize as libc::c_int, true)
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
/// Only system calls, and `sysconf` where the reaper has its own memory.
#[cfg(target_os = "linux")]
unsafe fn close_all_but(keep: libc::c_int) {
    let keep = keep as libc::c_uint;
    let close_range = |first: libc::c_uint, last: libc::c_uint| {
        sys(libc::SYS_close_range, [first as usize, last as usize, 0, 0, 0]) == 0
    };
    let below = keep == 0 || close_range(0, keep - 1);
    let above = close_range(keep + 1, libc::c_uint::MAX);
    if below && above {
        return;
    }
    // Forked only (a shared reaper needs close_range): its own memory.
    let max = libc::sysconf(libc::_SC_OPEN_MAX).clamp(256, 65536) as libc::c_int;
    for fd in 0..max {
        if fd as libc::c_uint != keep {
            sys(libc::SYS_close, [fd as usize, 0, 0, 0, 0]);
        }
    }
}

/// A run longer than this hands the reaper's job to a forked copy of it that has
/// memory of its own: the kernel's out-of-memory killer, when it picks xtask,
/// also kills every process sharing its memory, and a reaper killed with xtask
/// would leave the groups running. Forking then costs xtask a copy of its page
/// tables and of the pages it writes afterwards: nothing in a run of this length.
#[cfg(target_os = "linux")]
const HANDOFF_MS: i64 = 100;

/// The reaper's whole life: reads the groups to watch until end-of-file, then
/// stops what is left of them. Never returns. `shared`: it shares xtask's memory
/// ([`clone_reaper`]), and hands over to a forked copy after [`HANDOFF_MS`].
///
/// Only system calls made directly ([`sys`]), no libc function: in a process
/// sharing xtask's memory those would use the thread-locals (`errno`,
/// cancellation state) of the xtask thread that started it, which may have ended.
#[cfg(target_os = "linux")]
fn reap(read_end: libc::c_int, shared: bool) -> ! {
    let mut shared = shared;
    // SAFETY: system calls on this function's own stack memory only.
    unsafe {
        // Its own group, and deaf to the terminal: a Ctrl-C that ends xtask must
        // not end the reaper before it has done its job. Deaf to SIGTERM too: it
        // came with xtask's handler when the reaper started during a step that
        // catches signals (`interrupt`), which would run on xtask's memory; and a
        // stop of everything (a CI runner's, a service manager's) must not end it
        // before xtask, after which it ends by itself. std's SIGSEGV and SIGBUS
        // handlers read xtask's thread-locals: the default instead.
        sys(libc::SYS_setpgid, [0; 5]);
        for sig in [libc::SIGINT, libc::SIGHUP, libc::SIGQUIT, libc::SIGTERM] {
            set_disposition(sig, libc::SIG_IGN);
        }
        set_disposition(libc::SIGSEGV, libc::SIG_DFL);
        set_disposition(libc::SIGBUS, libc::SIG_DFL);
        // Hold nothing of xtask's: not the write end (end-of-file must come), not
        // its stdout (whoever reads xtask's output waits for end-of-file too), not
        // a backup's lock on its partial.
        close_all_but(read_end);
        let mut handoff = libc::timespec { tv_sec: HANDOFF_MS / 1000, tv_nsec: (HANDOFF_MS % 1000) * 1_000_000 };
        let mut groups = [0i32; SLOTS];
        loop {
            if shared {
                // The kernel counts `handoff` down across calls.
                let mut pfd = libc::pollfd { fd: read_end, events: libc::POLLIN, revents: 0 };
                let ready = sys(libc::SYS_ppoll, [&raw mut pfd as usize, 1, &raw mut handoff as usize, 0, 8]);
                if ready == 0 {
                    // Time is up: a copy with memory of its own goes on, this one ends.
                    match sys(libc::SYS_clone, [libc::SIGCHLD as usize, 0, 0, 0, 0]) {
                        0 => shared = false,
                        pid if pid > 0 => exit(),
                        _ => shared = false, // no fork (out of processes): it stays as it is
                    }
                    continue;
                }
            }
            let mut buf = [0u8; 4];
            let mut got = 0usize;
            while got < 4 {
                let n = sys(libc::SYS_read, [read_end as usize, buf.as_mut_ptr().add(got) as usize, 4 - got, 0, 0]);
                if n > 0 {
                    got += n as usize;
                } else if n == -(libc::EINTR as isize) {
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
        let kill = |g: i32, sig: libc::c_int| sys(libc::SYS_kill, [(-g) as isize as usize, sig as usize, 0, 0, 0]);
        for g in groups.iter().filter(|g| **g > 0) {
            kill(*g, libc::SIGTERM);
        }
        let mut waited = 0;
        while waited < GRACE_MS && groups.iter().any(|g| *g > 0 && kill(*g, 0) == 0) {
            let pause = libc::timespec { tv_sec: 0, tv_nsec: 20_000_000 };
            sys(libc::SYS_nanosleep, [&raw const pause as usize, 0, 0, 0, 0]);
            waited += 20;
        }
        for g in groups.iter().filter(|g| **g > 0) {
            kill(*g, libc::SIGKILL);
        }
        exit()
    }
}

/// Ends the reaper (this process alone, not xtask: it is not one of its threads).
#[cfg(target_os = "linux")]
fn exit() -> ! {
    // SAFETY: exit_group ends the calling process and does not return.
    unsafe { sys(libc::SYS_exit_group, [0; 5]) };
    unreachable!("exit_group returned")
}

/// Sets `sig` to SIG_IGN or SIG_DFL with the kernel's own `rt_sigaction` (its
/// `struct sigaction`, not libc's; no restorer needed for these two).
///
/// # Safety
/// A system call on stack memory.
#[cfg(target_os = "linux")]
unsafe fn set_disposition(sig: libc::c_int, handler: libc::sighandler_t) {
    #[repr(C)]
    struct KernelSigaction {
        handler: libc::sighandler_t,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    let act = KernelSigaction { handler, flags: 0, restorer: 0, mask: 0 };
    sys(libc::SYS_rt_sigaction, [sig as usize, &raw const act as usize, 0, 8, 0]);
}

/// A system call made directly: its result, or minus the error number.
///
/// # Safety
/// As the system call `n` with these arguments.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
unsafe fn sys(n: libc::c_long, a: [usize; 5]) -> isize {
    let ret: isize;
    std::arch::asm!(
        "syscall",
        inlateout("rax") n as isize => ret,
        in("rdi") a[0], in("rsi") a[1], in("rdx") a[2], in("r10") a[3], in("r8") a[4],
        lateout("rcx") _, lateout("r11") _,
        options(nostack),
    );
    ret
}

#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
unsafe fn sys(n: libc::c_long, a: [usize; 5]) -> isize {
    let ret: isize;
    std::arch::asm!(
        "svc 0",
        in("x8") n,
        inlateout("x0") a[0] as isize => ret,
        in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4],
        options(nostack),
    );
    ret
}

/// Other architectures: libc's `syscall`, which sets `errno`; the reaper is
/// forked there ([`SHARED_OK`]), so that is its own.
#[cfg(all(target_os = "linux", not(any(target_arch = "x86_64", target_arch = "aarch64"))))]
unsafe fn sys(n: libc::c_long, a: [usize; 5]) -> isize {
    let r = libc::syscall(n, a[0], a[1], a[2], a[3], a[4]);
    if r == -1 {
        -(*libc::__errno_location() as isize)
    } else {
        r as isize
    }
}

/// Whether the reaper may share xtask's memory here: where [`sys`] makes the
/// system calls itself.
#[cfg(target_os = "linux")]
const SHARED_OK: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};

    /// Every way the reaper runs (sharing xtask's memory until xtask ends; sharing
    /// it, then handing over to a forked copy after [`HANDOFF_MS`]; forked) stops
    /// a watched process group, child and grandchild, when the pipe reports
    /// end-of-file as it does when xtask dies, leaves a forgotten group alone, and
    /// ends by itself.
    #[test]
    fn every_way_the_reaper_runs_stops_the_watched_groups_when_xtask_goes() {
        let hold = std::time::Duration::from_millis(HANDOFF_MS as u64 * 3);
        for (shared, lasts) in [(true, std::time::Duration::ZERO), (true, hold), (false, std::time::Duration::ZERO)] {
            if shared && !(SHARED_OK && has_close_range()) {
                continue; // xtask forks it here
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
            std::thread::sleep(lasts);
            // What xtask's death does to the pipe.
            // SAFETY: our own descriptor, not used after.
            unsafe { libc::close(write_end) };
            let status = watched.wait().unwrap();
            assert_eq!(status.signal(), Some(libc::SIGTERM), "shared: {shared}, lasts {lasts:?}");
            // The background `sleep 300` was in the same group: gone too.
            let pgid = watched.id() as libc::pid_t;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            // SAFETY: signal 0 only asks whether the group still has a process.
            while unsafe { libc::kill(-pgid, 0) } == 0 {
                assert!(std::time::Instant::now() < deadline, "the watched group outlived the reaper's SIGTERM");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let mut code = 0;
            // SAFETY: waits for the reaper, a child of this process (after a
            // handoff, the one that handed over: it ended then).
            assert_eq!(unsafe { libc::waitpid(reaper, &mut code, 0) }, reaper);
            assert!(libc::WIFEXITED(code) && libc::WEXITSTATUS(code) == 0, "reaper ended with {code:#x}");
            // The forgotten group was not signalled.
            assert!(forgotten.try_wait().unwrap().is_none(), "shared: {shared}, lasts {lasts:?}");
            forgotten.kill().unwrap();
            forgotten.wait().unwrap();
        }
    }
}
