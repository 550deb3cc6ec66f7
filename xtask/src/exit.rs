//! Exit statuses (the outcomes a pipeline must tell apart, documented in the README)
//! and `Failure`, the one error type that crosses module boundaries: a one-line
//! cause with the next step, and the exit status it leads to.

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exit {
    /// Every task succeeded.
    Success,
    /// A task failed (a command exited non-zero, a backup failed, bad input at run time).
    TaskFailed,
    /// Usage or configuration error: nothing ran.
    Usage,
    /// The database could not be reached or refused our credentials.
    DatabaseUnreachable,
    /// A migration failed and was not recovered.
    MigrationFailed,
    /// Another deploy holds the deploy lock.
    LockNotAcquired,
    /// `status`: migrations are waiting to be deployed (nothing is wrong).
    Pending,
    /// A fleet wave spent its failure budget: the fleet stopped before trying every target.
    FleetStopped,
    /// Stopped by SIGINT (Ctrl-C) after cleaning up: 128 + 2.
    Interrupted,
    /// Stopped by SIGTERM after cleaning up: 128 + 15.
    Terminated,
    /// Stopped by SIGHUP after cleaning up: 128 + 1.
    HungUp,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::TaskFailed => 1,
            Exit::Usage => 2,
            Exit::DatabaseUnreachable => 3,
            Exit::MigrationFailed => 4,
            Exit::LockNotAcquired => 5,
            Exit::Pending => 6,
            Exit::FleetStopped => 7,
            Exit::Interrupted => 130,
            Exit::Terminated => 143,
            Exit::HungUp => 129,
        }
    }

    /// The status of a run stopped by `sig`, as a shell reports a process the
    /// signal ended: 128 + the signal's number.
    pub fn from_signal(sig: i32) -> Exit {
        match sig {
            libc::SIGTERM => Exit::Terminated,
            libc::SIGHUP => Exit::HungUp,
            _ => Exit::Interrupted,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

/// Why something failed: a one-line cause with the next step, and the exit status.
/// Printed once, by `lib`.
#[derive(Debug, Clone)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure { exit, message: message.into() }
    }

    /// A task failed at run time (exit 1).
    pub fn task(message: impl Into<String>) -> Failure {
        Failure::new(Exit::TaskFailed, message)
    }

    /// Usage or configuration (exit 2): nothing ran.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Usage, message)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
