//! Restoring a dump, all or nothing: plain dumps through `psql -v ON_ERROR_STOP=1`,
//! custom and directory archives through `pg_restore`, each in one transaction.
//! Also the scratch-database round trip behind `backup --verify-restore`.

use std::collections::BTreeMap;
use std::path::Path;

use xshell::cmd;

use crate::db::psql::Psql;
use crate::db::{admin, Target};
use crate::exit::Failure;
use crate::proc;
use crate::ui::Ui;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Plain,
    Archive,
}

/// Tells a plain SQL dump from a pg_dump archive (custom: `PGDMP` magic; directory: toc.dat).
pub(crate) fn format_of(path: &Path) -> Result<Format, Failure> {
    if path.is_dir() {
        return if path.join("toc.dat").is_file() {
            Ok(Format::Archive)
        } else {
            Err(Failure::task(format!(
                "{} is a directory without toc.dat: not a pg_dump directory archive",
                path.display()
            )))
        };
    }
    let mut head = [0u8; 5];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map_err(|e| Failure::task(format!("cannot read the backup {}: {e}", path.display())))?;
    Ok(if n == 5 && &head == b"PGDMP" { Format::Archive } else { Format::Plain })
}

/// Restores `path` into the database of `dest`, all or nothing.
pub(crate) fn restore_into(ui: &Ui, dest: &Target, path: &Path, format: Format) -> Result<(), Failure> {
    let cmd = match format {
        Format::Plain => {
            dest.psql(&Psql { stop_on_error: true, single_transaction: true, file: Some(path), ..Psql::default() })?
        }
        Format::Archive => {
            let sh = dest.shell()?;
            let pg_restore = crate::pgbin::program(&sh, "pg_restore");
            let url = &dest.url.libpq;
            cmd!(sh, "{pg_restore} --exit-on-error --single-transaction --no-password -d {url} {path}").into()
        }
    };
    let tool = proc::program(&cmd);
    let out = proc::run_quiet(ui, cmd)?;
    if out.success() {
        return Ok(());
    }
    Err(dest.failure(&tool, &out.stderr))
}

/// Exact row counts of every table of the database, by `schema.table`.
pub(crate) fn row_counts(target: &Target) -> Result<BTreeMap<String, i64>, Failure> {
    const SQL: &str = "SELECT format('%I.%I', table_schema, table_name), \
        (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text \
        FROM information_schema.tables \
        WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') \
        ORDER BY 1;";
    let rows = target.query_n::<2>(SQL, &[])?;
    Ok(rows.into_iter().filter_map(|[name, count]| Some((name?, count?.parse().ok()?))).collect())
}

/// `backup --verify-restore`: restores `path` into a scratch database, compares the
/// per-table row counts with the source, and drops the scratch database.
pub fn verify_restore(ui: &Ui, target: &Target, path: &Path) -> Result<usize, Failure> {
    let format = format_of(path)?;
    let scratch = format!("xtask_verify_{}_{}", std::process::id(), chrono::Utc::now().format("%H%M%S"));
    ui.event(&format!("verify-restore: restoring into scratch database `{scratch}`"));
    admin::create(target, &scratch)?;
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
    if let Err(f) = admin::drop_database(target, &scratch) {
        ui.warn(&format!("could not drop the scratch database `{scratch}`: {}", f.message));
    }
    let tables = result?;
    ui.event(&format!("verify-restore: {tables} tables restored with the same row counts; scratch database dropped"));
    Ok(tables)
}
