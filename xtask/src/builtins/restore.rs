//! `restore FILE [--into DBNAME]`: a backup restored into a new database, or over
//! the live one after a typed confirmation; all or nothing (see `dump::restore`).

use std::path::PathBuf;

use super::{ArgKind, Builtin, BuiltinArg};
use crate::config::BuiltinKind;
use crate::context::Ctx;
use crate::db::admin::{self, database_exists};
use crate::dump::restore::{format_of, restore_into};
use crate::exit::Failure;

pub(crate) static RESTORE: Builtin = Builtin {
    kind: BuiltinKind::Restore,
    about: "Restore a backup: into a new database with --into, or over the live one (needs --yes and, on a terminal, its name typed)",
    example: "{xtask} {task} backups/pre-migration-20260221T053404Z.sql --into school_copy",
    args: &[
        BuiltinArg {
            name: "file",
            help: "The backup: a .sql plain dump, a .dump custom archive or a .dir directory archive",
            kind: ArgKind::Positional { required: true },
        },
        BuiltinArg { name: "into", help: "Restore into this new database instead of the one in DATABASE_URL", kind: ArgKind::Option },
    ],
    run,
    describe: |ctx| Ok(describe(ctx)),
};

fn file_arg(ctx: &Ctx) -> Result<PathBuf, Failure> {
    let raw = ctx.args.get("file").ok_or_else(|| Failure::usage("name the backup file to restore"))?;
    let path = std::env::current_dir().map(|d| d.join(raw)).unwrap_or_else(|_| PathBuf::from(raw));
    if !path.exists() {
        return Err(Failure::task(format!(
            "no backup at {}: check the path (backups are in {})",
            path.display(),
            ctx.config.backup.dir.display()
        )));
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
    let target = ctx.db.target()?;
    let path = file_arg(ctx)?;
    let format = format_of(&path)?;
    let live = ctx.args.get("into").is_none_or(|i| i == target.url.database);
    let name = ctx.args.get("into").unwrap_or(&target.url.database).to_string();
    let dest = target.with_database(&name);

    if live {
        confirm_live(ctx, &name)?;
        ctx.ui.event(&format!("dropping and re-creating database `{name}` before the restore"));
        admin::recreate(target, &name)?;
    } else {
        if database_exists(target, &name)? {
            return Err(Failure::task(format!(
                "database `{name}` already exists: restore --into a new name, or drop it first (nothing was changed)"
            )));
        }
        admin::create(target, &name)?;
    }
    let restored = restore_into(ctx.ui, &dest, &path, format);
    // Over the live database, `_prisma_migrations` is now the backup's.
    ctx.db.ledger_changed();
    match restored {
        Ok(()) => {
            ctx.ui.event(&format!("restored {} into `{name}`", path.display()));
            crate::audit::record(
                ctx,
                "restore",
                serde_json::json!({ "file": path.display().to_string(), "into": name, "live": live }),
            )
        }
        Err(f) if !live => {
            // A new database that did not fill up is removed, so nothing half-made stays.
            let _ = admin::drop_database(target, &name);
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
        return Err(Failure::usage(format!(
            "restoring over the live database `{name}` replaces everything in it: pass --yes (and type its name when asked), or restore --into a new database"
        )));
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
