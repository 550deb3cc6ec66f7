//! Test harness: a throwaway project directory with its own tasks.toml, and a
//! builder that runs the real binary in it and captures what it did.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use pgcluster::TempDir;

/// A project: a directory with a tasks.toml in it.
pub struct Project {
    pub dir: TempDir,
}

impl Project {
    pub fn new(tasks_toml: &str) -> Project {
        let p = Project { dir: TempDir::new("proj") };
        p.file("tasks.toml", tasks_toml);
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, rel: &str, contents: &str) -> PathBuf {
        let path = self.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap_or_default()
    }

    /// The binary, run in the project directory with a clean, predictable environment.
    pub fn xtask(&self) -> Xtask {
        Xtask::new(self.path())
    }
}

/// Builder for one run of the real binary.
pub struct Xtask {
    cmd: Command,
    stdin: Option<String>,
}

/// Variables that change the binary's behaviour; removed unless a test sets them.
const SCRUBBED: &[&str] = &[
    "CI",
    "GITHUB_ACTIONS",
    "GITHUB_STEP_SUMMARY",
    "NO_COLOR",
    "DATABASE_URL",
    "DIRECT_URL",
    "XTASK_CONFIG",
    "XTASK_YES",
    "XTASK_NO_PROGRESS",
    "XTASK_REPORT",
    "XTASK_FLEET_CHECK",
    "XTASK_LOCK_TIMEOUT",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGSERVICE",
];

impl Xtask {
    pub fn new(dir: &Path) -> Xtask {
        Xtask::of(Path::new(env!("CARGO_BIN_EXE_xtask")), dir)
    }

    /// Another copy of the binary (`program`), run like [`Xtask::new`]'s.
    pub fn of(program: &Path, dir: &Path) -> Xtask {
        let mut cmd = Command::new(program);
        cmd.current_dir(dir);
        for k in SCRUBBED {
            cmd.env_remove(k);
        }
        Xtask { cmd, stdin: None }
    }

    pub fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Xtask {
        self.cmd.arg(a);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Xtask
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Xtask {
        self.cmd.env(k, v);
        self
    }

    pub fn stdin(mut self, input: &str) -> Xtask {
        self.stdin = Some(input.to_string());
        self
    }

    /// Starts the binary without waiting (for tests that watch it while it runs).
    pub fn spawn(mut self) -> std::process::Child {
        self.cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start xtask")
    }

    pub fn run(mut self) -> Out {
        use std::io::Write;
        self.cmd
            .stdin(if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.cmd.spawn().expect("start xtask");
        if let Some(input) = self.stdin.take() {
            let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
        }
        let out = child.wait_with_output().expect("wait for xtask");
        Out {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Panics with the whole output when the exit code is not the expected one.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Out {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}
