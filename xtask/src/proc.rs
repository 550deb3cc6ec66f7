//! Running external commands as argv (never through a shell string of ours),
//! streaming their output through the UI while keeping a copy to inspect.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};

use crate::exit::Failure;
use crate::reaper;
use crate::ui::Ui;

/// A command to run: program, arguments, extra environment, working directory.
#[derive(Debug, Clone, Default)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub env_remove: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// Let the child read our stdin (user `run` tasks); built-ins never do.
    pub inherit_stdin: bool,
}

impl Cmd {
    pub fn new(program: impl Into<String>) -> Cmd {
        Cmd { program: program.into(), ..Cmd::default() }
    }

    pub fn arg(mut self, a: impl Into<String>) -> Cmd {
        self.args.push(a.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Cmd {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Cmd {
        self.cwd = Some(dir.into());
        self
    }

    /// The command as a user could paste it into a shell (env not shown).
    pub fn display(&self) -> String {
        std::iter::once(&self.program).chain(&self.args).map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")
    }

    pub fn to_command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args);
        for k in &self.env_remove {
            c.env_remove(k);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        if let Some(d) = &self.cwd {
            c.current_dir(d);
        }
        c
    }
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
    /// A pipe we write to; otherwise `/dev/null`, or our stdin for `inherit_stdin`.
    pub stdin: bool,
    /// A pipe we read; otherwise `/dev/null`.
    pub stdout: bool,
}

/// Starts `cmd` with stderr always piped (its text is how failures are explained).
/// Every child of the tool is started here, so what all children need is set once.
pub(crate) fn spawn(cmd: &Cmd, pipes: Pipes) -> Result<Child, Failure> {
    let mut command = cmd.to_command();
    let stdin = if pipes.stdin {
        Stdio::piped()
    } else if cmd.inherit_stdin {
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
    let own_group = !(cmd.inherit_stdin && stdin_is_terminal());
    if own_group {
        command.process_group(0);
        reaper::start_once();
    }
    die_with_parent(&mut command);
    let child = command.spawn().map_err(|e| Failure::task(spawn_error(&cmd.program, &e)))?;
    if own_group {
        // Should xtask die, the reaper stops this child's whole group (what it
        // started too, which the parent-death signal does not reach).
        reaper::watch(child.id());
    }
    Ok(child)
}

/// Says that `child` (from [`spawn`]) has been waited for: its process group id
/// may be reused from now on, so the reaper lets go of it.
pub(crate) fn waited(child: &Child) {
    reaper::forget(child.id());
}

/// Asks the kernel to send the child SIGTERM when this process dies, however it
/// dies (even `kill -9`, when no code of ours runs): no pg_dump, Prisma or lock
/// session outlives the tool and goes on unsupervised. SIGTERM rather than
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
pub(crate) fn run(ui: &Ui, cmd: &Cmd) -> Result<Output, Failure> {
    run_with(ui, cmd, true)
}

/// Runs `cmd` without showing its output (for queries whose output is data).
pub(crate) fn run_quiet(ui: &Ui, cmd: &Cmd) -> Result<Output, Failure> {
    run_with(ui, cmd, false)
}

fn run_with(ui: &Ui, cmd: &Cmd, show: bool) -> Result<Output, Failure> {
    let mut child = spawn(cmd, Pipes { stdin: false, stdout: true })?;
    let out = child.stdout.take();
    let err = child.stderr.take();
    let (stdout, stderr) = std::thread::scope(|s| {
        let o = s.spawn(|| pump(out, ui, show));
        let e = s.spawn(|| pump(err, ui, show));
        (o.join().unwrap_or_default(), e.join().unwrap_or_default())
    });
    let status = child.wait();
    waited(&child);
    let status = status.map_err(|e| Failure::task(format!("waiting for `{}` failed: {e}", cmd.program)))?;
    Ok(Output { status, stdout, stderr })
}

/// Runs `cmd` with `input` on its stdin and captures its output (nothing shown).
/// A thread writes the input while this one reads, so a child that answers
/// before it has read everything cannot deadlock on a full pipe.
pub(crate) fn run_with_input(cmd: &Cmd, input: &str) -> Result<Output, Failure> {
    use std::io::Write;
    let mut child = spawn(cmd, Pipes { stdin: true, stdout: true })?;
    let stdin = child.stdin.take();
    let pid = child.id();
    let out = std::thread::scope(|s| {
        s.spawn(move || {
            if let Some(mut stdin) = stdin {
                // A closed pipe means the child exited early; its stderr says why.
                let _ = stdin.write_all(input.as_bytes());
            }
        });
        child.wait_with_output()
    });
    reaper::forget(pid);
    let out = out.map_err(|e| Failure::task(format!("waiting for `{}` failed: {e}", cmd.program)))?;
    Ok(Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

fn pump(stream: Option<impl Read>, ui: &Ui, show: bool) -> String {
    let Some(stream) = stream else {
        return String::new();
    };
    let mut reader = BufReader::new(stream);
    let mut all = String::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                if show {
                    ui.child_line(&line);
                }
                all.push_str(&line);
            }
        }
    }
    all
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

    #[test]
    fn quoting_for_display() {
        assert_eq!(shell_quote("pg_dump"), "pg_dump");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
