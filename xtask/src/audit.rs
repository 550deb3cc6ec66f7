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
    ctx.config.backup.dir.join(FILE_NAME)
}

/// Appends one event. A log that cannot be written is reported, not fatal: the
/// run's own output still says what happened.
pub(crate) fn record(ctx: &Ctx, event: &str, data: serde_json::Value) {
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
    if let Err(e) = append(&path(ctx), &text) {
        ctx.ui.warn(&format!("cannot write the audit log {}: {e}", path(ctx).display()));
    }
}

fn append(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    let mut f = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_data()
}

/// Confirms the run still holds its deploy lock before `next` (see
/// `RunState::check_lock`); a lost lock is also written to the log.
pub(crate) fn check_lock(ctx: &mut Ctx, next: Option<&str>) -> Result<(), crate::exit::Failure> {
    ctx.state.check_lock(next).inspect_err(|lost| {
        record(ctx, "lock-lost", serde_json::json!({ "message": lost.message }));
    })
}
