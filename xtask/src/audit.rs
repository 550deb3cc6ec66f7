//! The audit trail: every action of a run (backup, each Prisma call, each resolve)
//! appended as one JSON object per line to `<backup dir>/xtask-audit.jsonl`, with a
//! UTC timestamp. Each line is written with a single `write` on a file opened for
//! appending, so a run that crashes still leaves every line written before it.

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use crate::context::Ctx;

pub const FILE_NAME: &str = "xtask-audit.jsonl";

/// Identifies the lines of one invocation.
pub(crate) fn run_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| format!("{}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"), std::process::id()))
}

pub(crate) fn path(ctx: &Ctx) -> PathBuf {
    path_in(ctx.config)
}

pub(crate) fn path_in(config: &crate::config::Config) -> PathBuf {
    config.backup.dir.join(FILE_NAME)
}

/// Below this much free space (for an unprivileged user) the log's file system
/// counts as full: a deploy would otherwise find out at its first line, or its last.
const MIN_FREE_BYTES: u64 = 1 << 20;

/// Checks, before a run's first side effect, that the audit log can be appended
/// to: its directory exists or can be made, the file opens for appending (not a
/// root-owned file left by an earlier `sudo` run, not a directory, not on a
/// read-only file system) and its file system is not full. A deploy without its
/// audit trail does not start (exit 2). Writes nothing (`--dry-run` runs it too):
/// an existing log is opened for appending, a missing one needs its nearest
/// existing ancestor to be a writable directory.
pub(crate) fn check_writable(config: &crate::config::Config) -> Result<(), crate::exit::Failure> {
    let path = path_in(config);
    let fail = |why: String| {
        crate::exit::Failure::usage(format!(
            "the audit log {} cannot be written ({why}): make it and its directory writable by this user (a file left by an earlier `sudo` run: `sudo chown $(id -un) {}`), or point [backup] dir elsewhere; a run with side effects keeps an audit trail or does not start",
            path.display(),
            path.display()
        ))
    };
    let existing = if path.exists() || path.is_symlink() {
        std::fs::OpenOptions::new().append(true).open(&path).map_err(|e| fail(e.to_string()))?;
        path.clone()
    } else {
        let Some(dir) = path.ancestors().skip(1).find(|a| a.exists()) else {
            return Err(fail("none of its directories exists".into()));
        };
        if !dir.is_dir() {
            return Err(fail(format!("{} is not a directory", dir.display())));
        }
        if !writable_dir(dir) {
            return Err(fail(format!("{} is not writable", dir.display())));
        }
        dir.to_path_buf()
    };
    if let Some(free) = free_bytes(&existing) {
        if free < MIN_FREE_BYTES {
            return Err(fail(format!("its file system has {free} bytes free")));
        }
    }
    Ok(())
}

/// The kernel's answer for this process (root included: a read-only file system
/// still says no).
fn writable_dir(dir: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { return false };
    // SAFETY: a NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// Free bytes for an unprivileged user on the file system holding `path`.
fn free_bytes(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a statvfs the call fills in.
    // A file system that keeps no block counts (sysfs, procfs) says nothing about space.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 || st.f_blocks == 0 {
        return None;
    }
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// Appends one event. A line that cannot be written stops the run before its next
/// side effect (the caller returns the failure): a deploy does not go on without
/// its audit trail (issue 24, item 3).
#[must_use = "a failed audit write must stop the run"]
pub(crate) fn record(ctx: &Ctx, event: &str, data: serde_json::Value) -> Result<(), crate::exit::Failure> {
    let mut line = serde_json::json!({
        "ts": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "run": run_id(),
        "task": ctx.task.name,
        "event": event,
    });
    if let (Some(obj), serde_json::Value::Object(extra)) = (line.as_object_mut(), data) {
        obj.extend(extra);
    }
    let text = ctx.ui.redact(&line.to_string()) + "\n";
    append(&path(ctx), &text).map_err(|e| {
        crate::exit::Failure::task(format!(
            "cannot write the audit log {} ({e}), so the run stopped before its next step (the `{event}` line is missing): make the log writable, check `{}`, then run again",
            path(ctx).display(),
            crate::invocation::cmd("status")
        ))
    })
}

fn open(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}

fn append(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut f = open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_data()
}

/// Confirms the run still holds its deploy lock before `next` (see
/// `RunState::check_lock`); a lost lock is also written to the log.
pub(crate) fn check_lock(ctx: &mut Ctx, next: Option<&str>) -> Result<(), crate::exit::Failure> {
    ctx.state.check_lock(next).inspect_err(|lost| {
        // The lost lock is the failure to report; a failed write of it changes nothing.
        let _ = record(ctx, "lock-lost", serde_json::json!({ "message": lost.message }));
    })
}
