//! The `backup` built-in: pg_dump of the database named by `[database] url_env` to
//! `<backup.dir>/<prefix>-<database>@<server>-<UTC timestamp>.<ext>`. The dump is written inside a
//! private `.<name>.partial/` directory and renamed to its name only after pg_dump
//! succeeded and the dump verified, so `deploy` never runs on a half-written
//! backup. Then retention (`backup.keep`, per database). With `backup.when = "pending"` no backup is taken
//! when no migration is pending or failed. The parts live in `crate::dump`.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::Builtin;
use crate::config::{Backup, BackupFormat, BackupWhen, BuiltinKind};
use crate::context::{BackupRecord, Ctx};
use crate::db::Target;
use crate::dump::naming::{self, Partial};
use crate::dump::pgdump::{self, DumpError};
use crate::dump::{restore, verify};
use crate::exit::{Exit, Failure};
use crate::interrupt::{self, Interrupts};
use crate::pgbin;
use crate::proc;
use crate::ui::{human_bytes, Ui};

pub(crate) static BACKUP: Builtin = Builtin {
    kind: BuiltinKind::Backup,
    about: "pg_dump the database to <backup.dir>/<prefix>-<database>@<server>-<UTC timestamp>.<ext>, verified before it gets that name",
    example: "{xtask} {task}    # writes backups/pre-migration-shop@db.internal_5432-20260221T053404Z.sql",
    args: &[super::BuiltinArg {
        name: "verify-restore",
        help: "Then restore the backup into a scratch database, compare per-table row counts with the source, drop the scratch database",
        kind: super::ArgKind::Flag,
    }],
    run,
    describe: |ctx| Ok(describe(ctx)),
};

/// What stands for the timestamp in `--dry-run`.
const STAMP_PATTERN: &str = "<YYYYMMDDTHHMMSSZ>";

/// What a signal during the backup did (it exits 128 + the signal, 130 for Ctrl-C).
const INTERRUPTED: &str = "pg_dump was stopped and the partial backup removed; no backup was written";

fn run(ctx: &mut Ctx) -> Result<(), Failure> {
    let started = Instant::now();
    let b = &ctx.config.backup;
    let ui = ctx.ui;
    let target = ctx.db.target()?;
    for tool in tools(b.format) {
        proc::require(tool).map_err(Failure::task)?;
    }
    if b.when == BackupWhen::Pending && nothing_pending(ctx)? {
        ui.event("backup: skipped: no migration is pending or failed (backup.when = \"pending\")");
        crate::audit::record(
            ctx,
            "backup-skipped",
            serde_json::json!({ "database": target.url.database, "server": target.url.hosts, "reason": "nothing pending" }),
        )?;
        return Ok(());
    }
    // Each database its own names and retention: two databases deployed from one
    // checkout never rotate each other's backups out.
    let prefix = format!("{}-{}", b.prefix, naming::database_label(&target.url.database, &target.url.hosts));
    naming::ensure_dir(&b.dir).map_err(|e| dir_failure(&b.dir, &e))?;
    // Before the dump: a backup the audit log cannot record is not taken (exit 2).
    crate::audit::check_writable(ctx.config)?;
    remove_orphans(ui, b, &prefix);

    // From here until the rename, a signal removes the partial instead of leaving it.
    let interrupts = Interrupts::catch();
    let stamp = naming::timestamp(chrono::Utc::now());
    let partial = Partial::reserve(&b.dir, &prefix, b.format, &stamp).map_err(|e| dir_failure(&b.dir, &e))?;
    let estimate = estimate(ui, target, b, &interrupts)?;

    let sh = target.shell()?;
    let cmd = pgdump::command(&sh, &pgbin::program(&sh, "pg_dump"), b, &target.url.libpq, &partial.path);
    ui.event(&format!("backup: {}", proc::display(&cmd)));
    let dumped = pgdump::run(ui, cmd, &partial.path, b.format, estimate, &interrupts)
        .map_err(|e| dump_failure(ui, target, e))?;

    let sha256 = verify_dump(ui, b, &partial, dumped.sha256, &interrupts)?;
    interrupts.check(INTERRUPTED)?;
    let path = partial.commit().map_err(|e| write_failure(&b.dir, &e))?;
    drop(interrupts);

    if let Some(keep) = b.keep {
        apply_retention(ui, b, &prefix, keep, &path);
    }
    let seconds = started.elapsed().as_secs_f64();
    ui.event(&format!("backup: sha256 {sha256}"));
    ui.event(&format!("backup: {} ({}) in {seconds:.2}s", path.display(), human_bytes(dumped.bytes)));
    let record = BackupRecord {
        path: path.to_string_lossy().into_owned(),
        bytes: dumped.bytes,
        sha256,
        format: b.format,
        seconds,
    };
    let mut audit = serde_json::to_value(&record).unwrap_or_default();
    audit["database"] = target.url.database.clone().into();
    audit["server"] = target.url.hosts.clone().into();
    let logged = crate::audit::record(ctx, "backup", audit);
    ctx.state.backup = Some(record);
    logged?;
    if ctx.args.flag("verify-restore") {
        let tables = restore::verify_restore(ctx.ui, target, &path)?;
        crate::audit::record(
            ctx,
            "verify-restore",
            serde_json::json!({ "path": path.display().to_string(), "tables": tables }),
        )?;
    }
    Ok(())
}

/// Verifies the dump written to `partial` (a Ctrl-C during the check is the cause
/// when there is one), restricts its permissions, and gives its SHA-256 (the one
/// computed while it was written, when there is one).
fn verify_dump(
    ui: &Ui,
    b: &Backup,
    partial: &Partial,
    sha256: Option<String>,
    interrupts: &Interrupts,
) -> Result<String, Failure> {
    let checked = match b.format {
        BackupFormat::Plain => verify::plain(&partial.path),
        BackupFormat::Custom | BackupFormat::Directory => verify::archive(ui, &partial.path),
    };
    // A Ctrl-C reaches pg_restore too: then the interruption is the cause, not the archive.
    interrupts.check(INTERRUPTED)?;
    checked.map_err(|why| {
        Failure::task(format!("the dump did not verify: {}; it was removed, run the backup again", why.message))
    })?;
    verify::restrict(&partial.path, partial.is_dir).map_err(|e| write_failure(&b.dir, &e))?;
    Ok(match sha256 {
        Some(s) => s,
        None => verify::sha256(&partial.path, partial.is_dir).map_err(|e| write_failure(&b.dir, &e))?,
    })
}

/// The client tools a backup of this format runs (psql only estimates the size).
fn tools(format: BackupFormat) -> &'static [&'static str] {
    match format {
        BackupFormat::Plain => &["pg_dump"],
        BackupFormat::Custom | BackupFormat::Directory => &["pg_dump", "pg_restore"],
    }
}

/// The database size, as the progress total of an uncompressed dump. An unreachable
/// database fails here, before pg_dump starts; any other problem only costs the estimate.
fn estimate(ui: &Ui, target: &Target, b: &Backup, interrupts: &Interrupts) -> Result<Option<u64>, Failure> {
    let queried = target.query_n::<1>("SELECT pg_database_size(current_database())", &[]);
    // A Ctrl-C also ends psql: then the interruption is the cause.
    interrupts.check(INTERRUPTED)?;
    let size = match queried {
        Ok(rows) => rows.first().and_then(|[v]| v.as_deref()?.parse::<u64>().ok()),
        Err(f) if f.exit == Exit::DatabaseUnreachable => return Err(f),
        Err(f) => {
            ui.warn(&format!("cannot estimate the database size ({}); progress shows bytes written only", f.message));
            None
        }
    };
    // A compressed dump is a fraction of the database size: no honest total to show.
    let compressed = b.format != BackupFormat::Plain && b.compress != Some(0);
    Ok(size.filter(|_| !compressed))
}

fn dump_failure(ui: &Ui, target: &Target, e: DumpError) -> Failure {
    match e {
        DumpError::Spawn(msg) => Failure::task(msg),
        DumpError::Interrupted(sig) => interrupt::failure(sig, INTERRUPTED),
        DumpError::Read(e) => {
            Failure::task(format!("cannot read the dump back to hash it ({e}); it was removed, run the backup again"))
        }
        DumpError::Failed { status, stderr } => {
            crate::db::classify::classify(&target.url, &target.env_name, &stderr).unwrap_or_else(|| {
                // Unrecognised: show everything pg_dump said above the one-line cause.
                for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
                    ui.child_line(line);
                }
                let status = proc::describe_status(&status);
                match stderr.lines().map(str::trim).find(|l| !l.is_empty()) {
                    Some(first) => {
                        Failure::task(format!("pg_dump ended with {status}: {first}; no backup was written"))
                    }
                    None => {
                        Failure::task(format!("pg_dump ended with {status} before finishing; no backup was written"))
                    }
                }
            })
        }
    }
}

fn dir_failure(dir: &Path, e: &io::Error) -> Failure {
    let cause =
        if dir.exists() && !dir.is_dir() { "it exists and is not a directory".to_string() } else { e.to_string() };
    Failure::task(format!(
        "cannot write backups to {} ({cause}): make it a writable directory, or set `dir` under [backup] in tasks.toml",
        dir.display()
    ))
}

fn write_failure(dir: &Path, e: &io::Error) -> Failure {
    Failure::task(format!(
        "cannot finish the backup in {} ({e}); the partial was removed, run the backup again",
        dir.display()
    ))
}

/// Removes the partials of runs that died before they could (`kill -9`, a crash),
/// in one line. A problem here is a warning: the new backup does not depend on it.
fn remove_orphans(ui: &Ui, b: &Backup, prefix: &str) {
    match naming::remove_orphans(&b.dir, prefix) {
        Ok(gone) if gone.is_empty() => {}
        Ok(gone) => ui.event(&format!(
            "backup: removed {} partial backup{} left by a run that died: {}",
            gone.len(),
            if gone.len() == 1 { "" } else { "s" },
            gone.join(", ")
        )),
        Err(e) => ui.warn(&format!("cannot remove partial backups of dead runs in {} ({e})", b.dir.display())),
    }
}

/// Removes the oldest finished backups beyond `keep`. The backup is written by
/// now: problems here are warnings, not failures.
fn apply_retention(ui: &Ui, b: &Backup, prefix: &str, keep: u32, just_written: &Path) {
    let old = match naming::expired(&b.dir, prefix, keep, just_written) {
        Ok(old) => old,
        Err(e) => return ui.warn(&format!("retention skipped: cannot list {} ({e})", b.dir.display())),
    };
    for p in old {
        let removed = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        match removed {
            Ok(()) => ui.event(&format!("backup: removed {} (keep = {keep})", p.display())),
            Err(e) => ui.warn(&format!("cannot remove old backup {} ({e})", p.display())),
        }
    }
}

/// True when the migrations directory and `_prisma_migrations` agree that nothing
/// is pending or failed. Anything that cannot be read means "take the backup".
fn nothing_pending(ctx: &Ctx) -> Result<bool, Failure> {
    let Ok(dir) = ctx.db.migrations_dir() else { return Ok(false) };
    let Ok(local) = crate::migrations::read_dir(dir) else { return Ok(false) };
    let ledger = match ctx.db.ledger() {
        Ok(ledger) => ledger,
        Err(f) if f.exit == Exit::DatabaseUnreachable => return Err(f),
        Err(_) => return Ok(false),
    };
    let s = crate::migrations::compare(&local, ledger.rows());
    Ok(s.pending.is_empty() && s.failed.is_empty())
}

fn describe(ctx: &Ctx) -> Vec<String> {
    let b = &ctx.config.backup;
    let ext = naming::extension(b.format);
    let mut lines = Vec::new();
    let (url, label) = match ctx.db.target() {
        Ok(t) => (t.url.libpq.clone(), naming::database_label(&t.url.database, &t.url.hosts)),
        Err(f) => {
            lines.push(format!("note: {}", f.message));
            (format!("<{} for libpq>", ctx.config.database.url_env.join(" or ")), "<database>@<server>".into())
        }
    };
    let prefix = format!("{}-{label}", b.prefix);
    if b.when == BackupWhen::Pending {
        lines.push("skipped when no migration is pending or failed (backup.when = \"pending\")".into());
    }
    let finished = b.dir.join(format!("{prefix}-{STAMP_PATTERN}.{ext}"));
    let partial: PathBuf =
        b.dir.join(naming::partial_name(&format!("{prefix}-{STAMP_PATTERN}.{ext}"))).join(naming::PARTIAL_DUMP);
    let sh = match proc::shell() {
        Ok(sh) => sh,
        Err(f) => {
            lines.push(format!("note: {}", f.message));
            return lines;
        }
    };
    lines.push(proc::display(&pgdump::command(&sh, Path::new("pg_dump"), b, &url, &partial)));
    let check = match b.format {
        BackupFormat::Plain => format!("verify: not empty, ends with `{}`", verify::PLAIN_FOOTER),
        _ => format!("verify: {}", proc::display(&verify::pg_restore_list(&sh, Path::new("pg_restore"), &partial))),
    };
    lines.push(check);
    lines.push(format!(
        "rename to {} (mode {})",
        finished.display(),
        if b.format == BackupFormat::Directory { "0700" } else { "0600" }
    ));
    if let Some(keep) = b.keep {
        lines.push(format!("keep the newest {keep} of {}-*; remove older ones", b.dir.join(&prefix).display()));
    }
    lines
}
