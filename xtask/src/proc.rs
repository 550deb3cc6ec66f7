//! Running external commands as argv (never through a shell string of ours),
//! streaming their output through the UI while keeping a copy to inspect.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};

use xshell::Shell;

use crate::exit::Failure;
use crate::interrupt::{self, Step};
use crate::reaper;
use crate::ui::Ui;

/// A shell for building command lines with xshell's `cmd!`: the working
/// directory and environment its commands get. Every command of the tool is
/// built on one ([`Shell::cmd`] or `cmd!` with `{args...}` splats, never a
/// string pasted together) and handed here as a [`Command`], which is what runs
/// and what [`display`] shows. xshell's own `run`/`read` are not used: the
/// children need what this module adds (process group, parent-death signal,
/// reaper, output through the UI).
pub(crate) fn shell() -> Result<Shell, Failure> {
    Shell::new().map_err(|e| {
        Failure::task(format!("cannot start a command: {e}; run from a directory that exists and can be read"))
    })
}

/// The command as a user could paste it into a shell (env not shown). `--dry-run`,
/// the progress lines and the audit log show this, masked, of the very
/// [`Command`] that runs.
pub(crate) fn display(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| shell_quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The program a command starts, for messages.
pub(crate) fn program(cmd: &Command) -> String {
    cmd.get_program().to_string_lossy().into_owned()
}

/// What a finished command did.
#[derive(Debug)]
pub(crate) struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub(crate) fn success(&self) -> bool {
        self.status.success()
    }

    /// stdout and stderr together, for recognising error texts.
    pub(crate) fn combined(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// What a spawned child's standard streams are connected to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pipes {
    /// A pipe we write to; otherwise `/dev/null` (our stdin only for [`run_interactive`]).
    pub stdin: bool,
    /// A pipe we read; otherwise `/dev/null`.
    pub stdout: bool,
}

/// Starts `cmd` with stderr always piped (its text is how failures are explained).
/// Every child of the tool is started here, so what all children need is set once.
pub(crate) fn spawn(command: Command, pipes: Pipes) -> Result<Child, Failure> {
    spawn_grouped(command, pipes, false).map(|(child, _)| child)
}

/// Starts `cmd` to outlive this process: its own process group (a terminal's
/// Ctrl-C does not reach it), no parent-death signal, not watched by the reaper,
/// stdout and stderr to `/dev/null` (nobody reads them once xtask is gone); stdin
/// a pipe for its script. Only for a clean-up that must finish after the run has
/// ended (the scratch database's DROP, `scratch::Scratch::drop_detached`); the
/// caller keeps the [`Child`] to see whether it is still running.
pub(crate) fn spawn_detached(mut command: Command) -> Result<Child, Failure> {
    command.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null());
    command.process_group(0);
    command.spawn().map_err(|e| Failure::task(spawn_error(&program(&command), &e)))
}

/// [`spawn`], also saying whether the child leads its own process group;
/// `inherit_stdin` lets the child read our stdin (user `run` tasks; built-ins
/// never do).
fn spawn_grouped(mut command: Command, pipes: Pipes, inherit_stdin: bool) -> Result<(Child, bool), Failure> {
    let stdin = if pipes.stdin {
        Stdio::piped()
    } else if inherit_stdin {
        Stdio::inherit()
    } else {
        Stdio::null()
    };
    command.stdin(stdin).stdout(if pipes.stdout { Stdio::piped() } else { Stdio::null() }).stderr(Stdio::piped());
    // Its own process group, so that a terminal's Ctrl-C (sent to the whole
    // foreground group) reaches only this process, which then stops its children in
    // order (the backup stops pg_dump and removes its partial; the deploy lock's
    // session stays up until the run is over). The exception is a child that reads
    // the terminal (a user `run` task): a background group reading the terminal is
    // stopped with SIGTTIN, so it stays in ours, where Ctrl-C reaches it as it would
    // if the user had started it directly.
    let own_group = !(inherit_stdin && stdin_is_terminal());
    let watched = own_group && {
        command.process_group(0);
        reaper::start_once()
    };
    // A user's `run` task in its own group, with the reaper running, goes without
    // the parent-death signal: should xtask die, the reaper stops its whole group
    // (more than that signal, which reaches the child alone). Without a `pre_exec`
    // hook std starts it with `posix_spawn` (vfork: no copy of xtask's page tables,
    // none torn down again at the child's exec), which took a tenth off a chain of
    // no-op tasks (BENCHMARKS.md, "The runner's own start"). What that leaves open:
    // a `kill -9` in the microseconds between the start and the message to the
    // reaper below. The built-ins' children (pg_dump, psql, Prisma: an orphan of
    // theirs would act on a database) keep both.
    if !(inherit_stdin && watched) {
        die_with_parent(&mut command);
    }
    let child = command.spawn().map_err(|e| Failure::task(spawn_error(&program(&command), &e)))?;
    if own_group {
        // Should xtask die, the reaper stops this child's whole group (what it
        // started too, which the parent-death signal does not reach).
        reaper::watch(child.id());
    }
    Ok((child, own_group))
}

/// Starts `cmd` as a step of the run: while signals are caught (a backup, the
/// rehearsal) a Ctrl-C or SIGTERM stops it at once ([`interrupt::Step`]).
fn spawn_step(cmd: Command, pipes: Pipes, inherit_stdin: bool) -> Result<(Child, Option<Step>), Failure> {
    let (child, own_group) = spawn_grouped(cmd, pipes, inherit_stdin)?;
    let step = Step::watch(child.id(), own_group);
    Ok((child, step))
}

/// A step that did not succeed while a signal was being handled failed because
/// of the signal: that is the cause to report (its own error says less).
fn interrupted(program: &str, ok: bool) -> Result<(), Failure> {
    match interrupt::received() {
        Some(sig) if !ok => Err(interrupt::failure(sig, &format!("`{program}` was stopped"))),
        _ => Ok(()),
    }
}

/// Says that `child` (from [`spawn`]) has been waited for: its process group id
/// may be reused from now on, so the reaper lets go of it.
pub(crate) fn waited(child: &Child) {
    reaper::forget(child.id());
}

/// Asks the kernel to send the child SIGTERM when this process dies, however it
/// dies (even `kill -9`, when no code of ours runs): no pg_dump, Prisma or lock
/// session outlives the tool and goes on unsupervised. (A user's `run` task
/// watched by the reaper goes without it: [`spawn_grouped`].) SIGTERM rather than
/// SIGKILL because the children pass it on and clean up: pg_dump cancels its query
/// on the server, npm (`npx`) forwards it to the Prisma CLI it started, psql closes
/// its connection. The kernel sends it when the *thread* that forked the child
/// ends, not the process: every caller spawns from the thread that waits for the
/// child (the main thread, or a scoped thread that joins it first), so the child
/// never outlives its thread while the tool lives.
#[cfg(target_os = "linux")]
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id();
    // SAFETY: only async-signal-safe calls (prctl, getppid) between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent died between fork and prctl: the signal will never come.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Elsewhere there is no parent-death signal; children are stopped by the code
/// that waits for them (and by the pipes closing when the tool dies).
#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}

fn stdin_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal()
}

/// Runs `cmd`, printing each output line through the UI as it comes and keeping a copy.
pub(crate) fn run(ui: &Ui, cmd: Command) -> Result<Output, Failure> {
    run_with(ui, cmd, true, false)
}

/// [`run`] for a user's `run` task: the child may read our stdin.
pub(crate) fn run_interactive(ui: &Ui, cmd: Command) -> Result<Output, Failure> {
    run_with(ui, cmd, true, true)
}

/// Runs `cmd` without showing its output (for queries whose output is data).
pub(crate) fn run_quiet(ui: &Ui, cmd: Command) -> Result<Output, Failure> {
    run_with(ui, cmd, false, false)
}

fn run_with(ui: &Ui, cmd: Command, show: bool, inherit_stdin: bool) -> Result<Output, Failure> {
    let name = program(&cmd);
    let (mut child, step) = spawn_step(cmd, Pipes { stdin: false, stdout: true }, inherit_stdin)?;
    let (stdout, stderr) = pump(child.stdout.take(), child.stderr.take(), ui, show);
    // Its output ended: it has exited (or closed both streams); it leaves the
    // list of steps before it is reaped, while its id is still its own.
    drop(step);
    let status = child.wait();
    waited(&child);
    let status = status.map_err(|e| Failure::task(format!("waiting for `{name}` failed: {e}")))?;
    interrupted(&name, status.success())?;
    Ok(Output { status, stdout, stderr })
}

/// Runs `cmd` with `input` on its stdin and captures its output (nothing shown).
/// A thread writes the input while this one reads, so a child that answers
/// before it has read everything cannot deadlock on a full pipe.
pub(crate) fn run_with_input(cmd: Command, input: &str) -> Result<Output, Failure> {
    use std::io::Write;
    let name = program(&cmd);
    let (mut child, step) = spawn_step(cmd, Pipes { stdin: true, stdout: true }, false)?;
    let stdin = child.stdin.take();
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let pid = child.id();
    let (stdout, stderr) = std::thread::scope(|s| {
        s.spawn(move || {
            if let Some(mut stdin) = stdin {
                // A closed pipe means the child exited early; its stderr says why.
                let _ = stdin.write_all(input.as_bytes());
            }
        });
        let e = s.spawn(move || read_all(err));
        (read_all(out), e.join().unwrap_or_default())
    });
    // As in `run_with`: off the list of steps before it is reaped.
    drop(step);
    let status = child.wait();
    reaper::forget(pid);
    let status = status.map_err(|e| Failure::task(format!("waiting for `{name}` failed: {e}")))?;
    interrupted(&name, status.success())?;
    let out = std::process::Output { status, stdout, stderr };
    Ok(Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

fn read_all(stream: Option<impl Read>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(mut s) = stream {
        let _ = s.read_to_end(&mut buf);
    }
    buf
}

/// Reads the child's stdout and stderr until both end, each line through the UI
/// as it completes (in the order the lines arrive) and kept, per stream, in the
/// returned pair. One `poll` loop on this thread rather than a reader thread per
/// stream: two thread starts per child were a tenth of a `run` task's time
/// (BENCHMARKS.md, "The runner's own start"). A stream that fails to read ends
/// like one at end of file, as `read_until` did.
fn pump(out: Option<ChildStdout>, err: Option<ChildStderr>, ui: &Ui, show: bool) -> (String, String) {
    let mut streams = [Stream::new(out.map(OwnedFd::from)), Stream::new(err.map(OwnedFd::from))];
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(2);
        let mut which = Vec::with_capacity(2);
        for (i, s) in streams.iter().enumerate() {
            if let Some(fd) = &s.fd {
                fds.push(libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 });
                which.push(i);
            }
        }
        if fds.is_empty() {
            break;
        }
        // SAFETY: `fds` is a live array of `fds.len()` pollfd structs.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if ready < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue; // a signal (Ctrl-C stops the child; its streams then end)
            }
            // poll itself failed: read what is left, blocking, stream by stream.
            for i in which {
                streams[i].read_to_end(&mut chunk, ui, show);
            }
            break;
        }
        for (p, i) in fds.iter().zip(which) {
            if p.revents != 0 {
                streams[i].read_once(&mut chunk, ui, show);
            }
        }
    }
    let [o, e] = streams;
    (o.all, e.all)
}

/// One of a child's output streams being read: its pipe (`None` once it ended),
/// the start of a line not yet complete, and every line so far.
struct Stream {
    fd: Option<OwnedFd>,
    partial: Vec<u8>,
    all: String,
}

impl Stream {
    fn new(fd: Option<OwnedFd>) -> Stream {
        Stream { fd, partial: Vec::new(), all: String::new() }
    }

    /// One `read`: shows and keeps each line it completes; at end of file (or an
    /// error) also the unterminated last line, and closes the pipe.
    fn read_once(&mut self, chunk: &mut [u8], ui: &Ui, show: bool) {
        let Some(fd) = &self.fd else { return };
        let n = loop {
            // SAFETY: reads at most `chunk.len()` bytes into the live buffer.
            let n = unsafe { libc::read(fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            break n;
        };
        if n <= 0 {
            self.fd = None;
            if !self.partial.is_empty() {
                let last = std::mem::take(&mut self.partial);
                self.line(&last, ui, show);
            }
            return;
        }
        self.partial.extend_from_slice(&chunk[..n as usize]);
        let mut start = 0;
        while let Some(nl) = self.partial[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl + 1;
            let line = self.partial[start..end].to_vec();
            self.line(&line, ui, show);
            start = end;
        }
        self.partial.drain(..start);
    }

    fn read_to_end(&mut self, chunk: &mut [u8], ui: &Ui, show: bool) {
        while self.fd.is_some() {
            self.read_once(chunk, ui, show);
        }
    }

    fn line(&mut self, bytes: &[u8], ui: &Ui, show: bool) {
        let line = String::from_utf8_lossy(bytes);
        if show {
            ui.child_line(&line);
        }
        self.all.push_str(&line);
    }
}

/// A one-line cause and next step for a command that could not be started.
pub(crate) fn spawn_error(program: &str, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        let hint = match program {
            "pg_dump" | "psql" | "pg_restore" => {
                "install the PostgreSQL client tools (Debian/Ubuntu: postgresql-client; macOS: brew install libpq) or add them to PATH"
            }
            "npx" | "node" | "npm" => "install Node.js (which provides npx) or set [prisma] command in tasks.toml",
            _ => "install it or fix the command in tasks.toml",
        };
        format!("`{program}` was not found on PATH: {hint}")
    } else {
        format!("cannot start `{program}`: {e}")
    }
}

/// "exit status 3" or "signal 9 (SIGKILL)".
pub(crate) fn describe_status(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    match status.signal() {
        Some(sig) => {
            let name = match sig {
                1 => " (SIGHUP)",
                2 => " (SIGINT)",
                6 => " (SIGABRT)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                13 => " (SIGPIPE)",
                15 => " (SIGTERM)",
                _ => "",
            };
            format!("signal {sig}{name}")
        }
        None => "an unknown status".into(),
    }
}

/// Quotes an argument for display when it needs it.
pub(crate) fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// `program` on PATH, or the one-line cause and fix ([`spawn_error`]) of its absence.
pub(crate) fn require(program: &str) -> Result<(), String> {
    if on_path(program) {
        Ok(())
    } else {
        Err(spawn_error(program, &std::io::ErrorKind::NotFound.into()))
    }
}

/// Whether `program` can be found on PATH (or is a path that exists).
pub(crate) fn on_path(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).exists();
    }
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file())).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What is shown is the argv that runs: one element per splatted value,
    /// whatever it holds (spaces, quotes), quoted only in the display.
    #[test]
    fn a_command_built_with_xshell_is_shown_as_it_runs() {
        let sh = shell().unwrap();
        sh.set_var("PGPASSWORD", "not shown");
        let values = ["a b", "it's"];
        let cmd: Command = xshell::cmd!(sh, "psql -X {values...} -d postgresql://h/db").into();
        let args: Vec<_> = cmd.get_args().collect();
        assert_eq!(args, ["-X", "a b", "it's", "-d", "postgresql://h/db"]);
        assert_eq!(display(&cmd), "psql -X 'a b' 'it'\\''s' -d postgresql://h/db");
        assert!(cmd.get_envs().any(|(k, v)| k == "PGPASSWORD" && v.is_some()));
    }

    #[test]
    fn quoting_for_display() {
        assert_eq!(shell_quote("pg_dump"), "pg_dump");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
