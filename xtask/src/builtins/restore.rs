//! `restore FILE [--into DBNAME]`: plain dumps through `psql -v ON_ERROR_STOP=1`,
//! custom and directory archives through `pg_restore`, each in one transaction so
//! a failed restore leaves nothing half-written. Also the scratch-database round
//! trip behind `backup --verify-restore`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{ArgKind, Builtin, BuiltinArg};
use crate::db::Target;
use crate::exit::Exit;
use crate::proc;
use crate::runner::{Ctx, Failure};
use crate::ui::Ui;

pub static RESTORE: Builtin = Builtin {
    name: "restore",
    about: "Restore a backup: into a new database with --into, or over the live one (needs --yes and, on a terminal, its name typed)",
    example: "cargo xtask {task} backups/pre-migration-20260221T053404Z.sql --into school_copy",
    args: &[
        BuiltinArg { name: "file", help: "The backup: a .sql plain dump, a .dump custom archive or a .dir directory archive", kind: ArgKind::Positional { required: true } },
        BuiltinArg { name: "into", help: "Restore into this new database instead of the one in DATABASE_URL", kind: ArgKind::Option },
    ],
    run,
    describe,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Plain,
    Archive,
}

/// Tells a plain SQL dump from a pg_dump archive (custom: `PGDMP` magic; directory: toc.dat).
pub fn format_of(path: &Path) -> Result<Format, Failure> {
    if path.is_dir() {
        return if path.join("toc.dat").is_file() {
            Ok(Format::Archive)
        } else {
            Err(Failure::task(format!("{} is a directory without toc.dat: not a pg_dump directory archive", path.display())))
        };
    }
    let mut head = [0u8; 5];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map_err(|e| Failure::task(format!("cannot read the backup {}: {e}", path.display())))?;
    Ok(if n == 5 && &head == b"PGDMP" { Format::Archive } else { Format::Plain })
}

fn file_arg(ctx: &Ctx) -> Result<PathBuf, Failure> {
    let raw = ctx.args.get("file").ok_or_else(|| Failure::new(Exit::Usage, "name the backup file to restore"))?;
    let path = std::env::current_dir().map(|d| d.join(raw)).unwrap_or_else(|_| PathBuf::from(raw));
    if !path.exists() {
        return Err(Failure::task(format!("no backup at {}: check the path (backups are in {})", path.display(), ctx.config.backup.dir.display())));
    }
    Ok(path)
}

fn describe(ctx: &Ctx) -> Vec<String> {
    let file = ctx.args.get("file").unwrap_or("FILE");
    let into = ctx.args.get("into").unwrap_or("<the database in DATABASE_URL>");
    vec![
        format!("restore {file} into {into}: plain dumps with psql -X -v ON_ERROR_STOP=1 --single-transaction -f FILE, archives with pg_restore --exit-on-error --single-transaction"),
    ]
}

fn run(ctx: &mut Ctx) -> Result<(), Failure> {
    let target = Target::from_env(ctx.config, ctx.ui)?;
    let path = file_arg(ctx)?;
    let format = format_of(&path)?;
    let live = ctx.args.get("into").is_none_or(|i| i == target.url.database);
    let name = ctx.args.get("into").unwrap_or(&target.url.database).to_string();
    let dest = target.with_database(&name);

    if live {
        confirm_live(ctx, &name)?;
        ctx.ui.event(&format!("dropping and re-creating database `{name}` before the restore"));
        recreate(&target, &name)?;
    } else {
        if database_exists(&target, &name)? {
            return Err(Failure::task(format!(
                "database `{name}` already exists: restore --into a new name, or drop it first (nothing was changed)"
            )));
        }
        create(&target, &name)?;
    }
    match restore_into(ctx.ui, &dest, &path, format) {
        Ok(()) => {
            ctx.ui.event(&format!("restored {} into `{name}`", path.display()));
            crate::audit::record(ctx, "restore", serde_json::json!({ "file": path.display().to_string(), "into": name, "live": live }));
            Ok(())
        }
        Err(f) if !live => {
            // A new database that did not fill up is removed, so nothing half-made stays.
            let _ = drop_database(&target, &name);
            Err(f)
        }
        Err(f) => Err(Failure::task(format!(
            "{}; the restore ran in one transaction, so `{name}` is now empty: restore another backup into it",
            f.message
        ))),
    }
}

/// Restoring over the live database: `--yes`, and on a terminal its name typed.
fn confirm_live(ctx: &Ctx, name: &str) -> Result<(), Failure> {
    if !ctx.opts.yes {
        return Err(Failure::new(
            Exit::Usage,
            format!("restoring over the live database `{name}` replaces everything in it: pass --yes (and type its name when asked), or restore --into a new database"),
        ));
    }
    if ctx.ui.options().interactive {
        let typed = ctx
            .ui
            .ask(&format!("This drops database `{name}` and restores the backup into it. Type its name to go on: "))
            .unwrap_or_default();
        if typed.trim() != name {
            return Err(Failure::task("the name typed does not match: nothing was changed"));
        }
    }
    Ok(())
}

fn maintenance(target: &Target) -> Target {
    // CREATE/DROP DATABASE run from another database of the same server.
    let other = if target.url.database == "postgres" { "template1" } else { "postgres" };
    target.with_database(other)
}

pub fn database_exists(target: &Target, name: &str) -> Result<bool, Failure> {
    let rows = maintenance(target).query("SELECT 1 FROM pg_database WHERE datname = :'db';", &[("db", name)])?;
    Ok(!rows.is_empty())
}

pub fn create(target: &Target, name: &str) -> Result<(), Failure> {
    maintenance(target)
        .query("CREATE DATABASE :\"db\";", &[("db", name)])
        .map(|_| ())
        .map_err(|f| Failure::new(f.exit, format!("cannot create database `{name}`: {}", f.message)))
}

pub fn drop_database(target: &Target, name: &str) -> Result<(), Failure> {
    maintenance(target)
        .query("DROP DATABASE IF EXISTS :\"db\" WITH (FORCE);", &[("db", name)])
        .map(|_| ())
}

fn recreate(target: &Target, name: &str) -> Result<(), Failure> {
    drop_database(target, name).map_err(|f| Failure::new(f.exit, format!("cannot drop database `{name}`: {}", f.message)))?;
    create(target, name)
}

/// Restores `path` into the database of `dest`, all or nothing.
pub fn restore_into(ui: &Ui, dest: &Target, path: &Path, format: Format) -> Result<(), Failure> {
    let cmd = match format {
        Format::Plain => dest
            .tool("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f"])
            .arg(path.display().to_string())
            .arg("-d")
            .arg(dest.url.libpq.clone()),
        Format::Archive => dest
            .tool("pg_restore")
            .args(["--exit-on-error", "--single-transaction", "--no-password", "-d"])
            .arg(dest.url.libpq.clone())
            .arg(path.display().to_string()),
    };
    let out = proc::run_quiet(ui, &cmd).map_err(Failure::task)?;
    if out.success() {
        return Ok(());
    }
    Err(dest.failure(&cmd.program, &out.stderr))
}

/// Exact row counts of every table of the database, by `schema.table`.
pub fn row_counts(target: &Target) -> Result<BTreeMap<String, i64>, Failure> {
    const SQL: &str = "SELECT format('%I.%I', table_schema, table_name), \
        (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text \
        FROM information_schema.tables \
        WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') \
        ORDER BY 1;";
    let rows = target.query(SQL, &[])?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let name = r.first().cloned().flatten()?;
            let count = r.get(1).cloned().flatten()?.parse().ok()?;
            Some((name, count))
        })
        .collect())
}

/// `backup --verify-restore`: restores `path` into a scratch database, compares the
/// per-table row counts with the source, and drops the scratch database.
pub fn verify_restore(ui: &Ui, target: &Target, path: &Path) -> Result<usize, Failure> {
    let format = format_of(path)?;
    let scratch = format!("xtask_verify_{}_{}", std::process::id(), chrono::Utc::now().format("%H%M%S"));
    ui.event(&format!("verify-restore: restoring into scratch database `{scratch}`"));
    create(target, &scratch)?;
    let result = (|| {
        let dest = target.with_database(&scratch);
        restore_into(ui, &dest, path, format)?;
        let source = row_counts(target)?;
        let restored = row_counts(&dest)?;
        let mut differences = Vec::new();
        for (table, n) in &source {
            match restored.get(table) {
                Some(m) if m == n => {}
                Some(m) => differences.push(format!("{table}: {n} rows in the database, {m} restored")),
                None => differences.push(format!("{table}: missing from the restore")),
            }
        }
        if differences.is_empty() {
            Ok(source.len())
        } else {
            Err(Failure::task(format!(
                "the restored backup differs from the database ({}); rows may have changed during the dump if the database was in use",
                differences.join("; ")
            )))
        }
    })();
    if let Err(f) = drop_database(target, &scratch) {
        ui.warn(&format!("could not drop the scratch database `{scratch}`: {}", f.message));
    }
    let tables = result?;
    ui.event(&format!("verify-restore: {tables} tables restored with the same row counts; scratch database dropped"));
    Ok(tables)
}
