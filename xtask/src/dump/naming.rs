//! Backup names on disk: `<prefix>-<database>@<server>-<UTC timestamp>[-N].<ext>`
//! for finished backups (the backup task passes `<prefix>-<database>@<server>` as
//! the prefix here, so each database has its own names and its own retention),
//! `.<name>.partial` while one is written, the race-free reservation of a new name,
//! and retention (which finished backups to remove).
//!
//! A partial never matches the finished pattern (leading dot, `.partial` suffix), so
//! an interrupted run can never leave something that looks like a backup.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::config::BackupFormat;

/// The file name extension of each format (a directory-format dump is a directory).
pub(crate) fn extension(format: BackupFormat) -> &'static str {
    match format {
        BackupFormat::Plain => "sql",
        BackupFormat::Custom => "dump",
        BackupFormat::Directory => "dir",
    }
}

const EXTENSIONS: [&str; 3] = ["sql", "dump", "dir"];

/// `<database>@<server>` for a backup's name: which database of which server the
/// dump is of, safe in a file name, and distinct for distinct databases (the
/// database keeps letters, digits, `.`, `_`, `-` and `%XX`-escapes the rest; the
/// server `host:port[,host:port]` is written `host_port[+host_port]`, `local` for a
/// Unix socket).
pub fn database_label(database: &str, hosts: &str) -> String {
    let escape = |s: &str, keep: &dyn Fn(char) -> bool| -> String {
        let mut out = String::new();
        for c in s.chars() {
            if keep(c) {
                out.push(c);
            } else {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
        out
    };
    let db = escape(database, &|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    let server = if hosts.is_empty() || hosts.starts_with('/') || hosts.starts_with("%2F") {
        "local".to_string()
    } else {
        escape(&hosts.replace(':', "_").replace(',', "+"), &|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+')
        })
    };
    format!("{db}@{server}")
}

/// The sortable, filesystem-safe UTC timestamp of a backup name: `20260221T053404Z`.
pub(crate) fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A finished backup's name, parsed. Orders by time, then by sequence number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BackupName {
    pub stamp: String,
    /// 1 for the first backup of a second, 2, 3... for the next ones (`-2` in the name).
    pub seq: u32,
    pub ext: String,
}

impl BackupName {
    pub fn file_name(&self, prefix: &str) -> String {
        match self.seq {
            1 => format!("{prefix}-{}.{}", self.stamp, self.ext),
            n => format!("{prefix}-{}-{n}.{}", self.stamp, self.ext),
        }
    }

    /// Parses a name this tool gave for `prefix`; anything else is `None`.
    pub fn parse(prefix: &str, file_name: &str) -> Option<BackupName> {
        let rest = file_name.strip_prefix(prefix)?.strip_prefix('-')?;
        let (stem, ext) = rest.rsplit_once('.')?;
        if !EXTENSIONS.contains(&ext) || stem.len() < 16 || !stem.is_char_boundary(16) {
            return None;
        }
        let (stamp, suffix) = stem.split_at(16);
        let b = stamp.as_bytes();
        let stamp_ok = b[..8].iter().all(u8::is_ascii_digit)
            && b[8] == b'T'
            && b[9..15].iter().all(u8::is_ascii_digit)
            && b[15] == b'Z';
        if !stamp_ok {
            return None;
        }
        let seq = match suffix.strip_prefix('-') {
            None if suffix.is_empty() => 1,
            // Exactly the numbers `file_name` writes: 2 or more, no leading zero.
            Some(n) if !n.starts_with('0') && n.bytes().all(|c| c.is_ascii_digit()) => {
                n.parse().ok().filter(|n| *n >= 2)?
            }
            _ => return None,
        };
        Some(BackupName { stamp: stamp.to_string(), seq, ext: ext.to_string() })
    }
}

/// Creates the backup directory (0700) when it does not exist yet.
pub(crate) fn ensure_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    // The umask may have taken bits away from the mode; never leave it wider either.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// A backup being written. Its reservation is a private (0700) directory
/// `.<name>.partial/`, and pg_dump writes `dump.partial` inside it: pg_dump creates
/// that file itself (on ext4, having it truncate one we made costs a forced flush,
/// measured at about 15% of a dump), nobody else can read it meanwhile, and no
/// directory entry looks like a finished backup. Dropping it before
/// [`Partial::commit`] removes the partial.
#[derive(Debug)]
pub(crate) struct Partial {
    /// The reservation directory.
    pub dir: PathBuf,
    /// What pg_dump writes: a file, or a directory for the directory format.
    pub path: PathBuf,
    pub final_path: PathBuf,
    pub is_dir: bool,
    committed: bool,
    /// The reservation directory, open and `flock`ed while this run owns it. The
    /// kernel drops the lock when the process dies however it dies, so the next
    /// backup can tell a partial whose writer is gone ([`remove_orphans`]).
    _owner: fs::File,
}

/// What pg_dump writes inside the reservation directory.
pub(crate) const PARTIAL_DUMP: &str = "dump.partial";

/// The most backups one second can get before reservation gives up.
const MAX_SEQ: u32 = 1000;

impl Partial {
    /// Reserves the first free name for `stamp`: creates its reservation directory
    /// exclusively, then checks that no finished backup has the name. Two runs can
    /// therefore never get the same name: whichever creates the reservation second,
    /// or after the first one finished (the backup gets its name before the
    /// reservation goes), moves on to `-2`.
    pub(crate) fn reserve(dir: &Path, prefix: &str, format: BackupFormat, stamp: &str) -> io::Result<Partial> {
        for seq in 1..=MAX_SEQ {
            let name = BackupName { stamp: stamp.to_string(), seq, ext: extension(format).to_string() };
            let file_name = name.file_name(prefix);
            let reservation = dir.join(partial_name(&file_name));
            match fs::DirBuilder::new().mode(0o700).create(&reservation) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
            // Between mkdir and flock, another run cleaning up could take the
            // directory for an orphan: then it is locked or gone, and this run
            // moves on to the next name.
            let owner = match lock_dir(&reservation) {
                Ok(Some(owner)) => owner,
                Ok(None) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if !same_file(&owner, &reservation) {
                continue;
            }
            let partial = Partial {
                _owner: owner,
                path: reservation.join(PARTIAL_DUMP),
                dir: reservation,
                final_path: dir.join(&file_name),
                is_dir: format == BackupFormat::Directory,
                committed: false,
            };
            if fs::symlink_metadata(&partial.final_path).is_ok() {
                continue; // dropping `partial` removes the reservation
            }
            fs::set_permissions(&partial.dir, fs::Permissions::from_mode(0o700))?;
            return Ok(partial);
        }
        Err(io::Error::other(format!("more than {MAX_SEQ} backups named {prefix}-{stamp} already exist")))
    }

    /// Gives the dump its final name, releases the reservation, and makes the
    /// rename durable. On error nothing with the final name is left.
    pub(crate) fn commit(mut self) -> io::Result<PathBuf> {
        fs::rename(&self.path, &self.final_path)?;
        self.committed = true;
        // Empty now; should it stay, it only makes the next run of this second use -2.
        let _ = fs::remove_dir(&self.dir);
        // A rename is only on disk once its directory is.
        let synced = match self.final_path.parent() {
            Some(dir) => fs::File::open(dir).and_then(|d| d.sync_all()),
            None => Ok(()),
        };
        if let Err(e) = synced {
            let _ = if self.is_dir { fs::remove_dir_all(&self.final_path) } else { fs::remove_file(&self.final_path) };
            return Err(e);
        }
        Ok(self.final_path.clone())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// `.pre-migration-20260221T053404Z.sql.partial`
pub(crate) fn partial_name(file_name: &str) -> String {
    format!(".{file_name}.partial")
}

/// Opens `dir` and takes an exclusive `flock` on it without waiting; `None` when
/// another process holds it.
fn lock_dir(dir: &Path) -> io::Result<Option<fs::File>> {
    use std::os::fd::AsRawFd;
    let f = fs::File::open(dir)?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(Some(f));
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(None)
    } else {
        Err(e)
    }
}

/// Whether the open `file` is still what `path` names (not removed or replaced).
fn same_file(file: &fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Removes the partials of `prefix` in `dir` whose writer is gone: a run killed
/// before it could clean up (`kill -9`, a crash, a power cut). A live run holds
/// an `flock` on its partial, so only unlocked ones go. Returns their names.
pub(crate) fn remove_orphans(dir: &Path, prefix: &str) -> io::Result<Vec<String>> {
    let mut removed = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let ours = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".partial"))
            .is_some_and(|n| BackupName::parse(prefix, n).is_some());
        let is_dir = fs::symlink_metadata(entry.path()).is_ok_and(|m| m.is_dir());
        if !ours || !is_dir {
            continue;
        }
        // Held while removing, so no run can reserve it meanwhile.
        let Ok(Some(_lock)) = lock_dir(&entry.path()) else {
            continue;
        };
        fs::remove_dir_all(entry.path())?;
        removed.push(name.to_string());
    }
    removed.sort();
    Ok(removed)
}

/// The finished backups of `prefix` in `dir` to remove so that `keep` remain,
/// oldest first. Only names this tool gives, of the right kind (a directory for
/// `.dir`, a regular file otherwise; symlinks never), and never `just_written`.
pub(crate) fn expired(dir: &Path, prefix: &str, keep: u32, just_written: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let Some(name) = BackupName::parse(prefix, file_name) else {
            continue;
        };
        let Ok(meta) = fs::symlink_metadata(entry.path()) else {
            continue;
        };
        let right_kind = if name.ext == "dir" { meta.is_dir() } else { meta.is_file() };
        if right_kind {
            found.push((name, entry.path()));
        }
    }
    Ok(select_expired(found, keep, just_written))
}

fn select_expired(mut found: Vec<(BackupName, PathBuf)>, keep: u32, just_written: &Path) -> Vec<PathBuf> {
    found.retain(|(_, p)| p != just_written);
    // Newest first; the one just written is always kept and counts as one.
    found.sort_by(|a, b| b.0.cmp(&a.0));
    let others_kept = (keep as usize).saturating_sub(1);
    found.into_iter().skip(others_kept).rev().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_labels_name_database_and_server_and_stay_apart() {
        assert_eq!(database_label("shop", "db.internal:5432"), "shop@db.internal_5432");
        assert_eq!(database_label("shop", ""), "shop@local");
        assert_eq!(database_label("my db/x", "a:1,b:2"), "my%20db%2Fx@a_1+b_2");
        // A database whose name looks like another's label plus a suffix is not its backup.
        let shop = format!("p-{}", database_label("shop", "h:1"));
        let other = format!("p-{}", database_label("shop@h_1-x", "h:1"));
        assert!(BackupName::parse(&shop, &format!("{other}-20260101T000000Z.sql")).is_none());
    }

    fn name(s: &str) -> Option<BackupName> {
        BackupName::parse("pre-migration", s)
    }

    #[test]
    fn names_round_trip_and_order_by_time_then_sequence() {
        let a = name("pre-migration-20260221T053404Z.sql").unwrap();
        let b = name("pre-migration-20260221T053404Z-2.dump").unwrap();
        let c = name("pre-migration-20260221T053404Z-10.dir").unwrap();
        let d = name("pre-migration-20260221T053405Z.sql").unwrap();
        assert_eq!((a.seq, b.seq, c.seq), (1, 2, 10));
        assert!(a < b && b < c && c < d);
        assert_eq!(c.file_name("pre-migration"), "pre-migration-20260221T053404Z-10.dir");
        assert_eq!(a.file_name("pre-migration"), "pre-migration-20260221T053404Z.sql");
    }

    #[test]
    fn only_this_tools_names_for_this_prefix_parse() {
        for other in [
            ".pre-migration-20260221T053404Z.sql.partial",
            "pre-migration-20260221T053404Z.sql.partial",
            "pre-migration-20260221T053404Z.txt",
            "pre-migration-20260221T053404.sql",
            "pre-migration-2026022XT053404Z.sql",
            "pre-migration-20260221T053404Z-1.sql",
            "pre-migration-20260221T053404Z-02.sql",
            "pre-migration-20260221T053404Z-x.sql",
            "pre-migration-20260221T053404Z-.sql",
            "pre-migration-20260221T053404Zextra.sql",
            "pre-migration-é0260221T053404Z.sql",
            "pre-migration.sql",
            "other-20260221T053404Z.sql",
            "pre-20260221T053404Z.sql",
        ] {
            assert_eq!(name(other), None, "{other}");
        }
        // A different prefix sharing the start is not ours either.
        assert_eq!(BackupName::parse("pre", "pre-migration-20260221T053404Z.sql"), None);
    }

    #[test]
    fn timestamps_are_utc_and_sortable() {
        let t = DateTime::parse_from_rfc3339("2026-02-21T06:34:04+01:00").unwrap().with_timezone(&Utc);
        assert_eq!(timestamp(t), "20260221T053404Z");
    }

    #[test]
    fn retention_keeps_the_newest_and_the_one_just_written() {
        let entries: Vec<(BackupName, PathBuf)> = [
            "pre-migration-20260101T000000Z.sql",
            "pre-migration-20260103T000000Z.sql",
            "pre-migration-20260102T000000Z-2.sql",
            "pre-migration-20260102T000000Z.dump",
        ]
        .iter()
        .map(|n| (name(n).unwrap(), PathBuf::from(n)))
        .collect();
        let just = Path::new("pre-migration-20260104T000000Z.sql");
        let mut with_new = entries.clone();
        with_new.push((name("pre-migration-20260104T000000Z.sql").unwrap(), just.to_path_buf()));
        assert_eq!(
            select_expired(with_new.clone(), 2, just),
            [
                PathBuf::from("pre-migration-20260101T000000Z.sql"),
                PathBuf::from("pre-migration-20260102T000000Z.dump"),
                PathBuf::from("pre-migration-20260102T000000Z-2.sql"),
            ]
        );
        assert_eq!(select_expired(with_new.clone(), 1, just).len(), 4);
        assert!(select_expired(with_new, 5, just).is_empty());
        // Even when the clock went backwards, the one just written stays.
        let old = Path::new("pre-migration-20260101T000000Z.sql");
        assert!(!select_expired(entries, 1, old).contains(&old.to_path_buf()));
    }

    #[test]
    fn reservation_never_reuses_a_name() {
        let dir = std::env::temp_dir().join(format!("xtask-naming-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        ensure_dir(&dir).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);

        let stamp = "20260221T053404Z";
        let a = Partial::reserve(&dir, "p", BackupFormat::Plain, stamp).unwrap();
        assert_eq!(a.dir, dir.join(".p-20260221T053404Z.sql.partial"));
        assert_eq!(a.path, a.dir.join("dump.partial"));
        assert_eq!(fs::metadata(&a.dir).unwrap().mode() & 0o777, 0o700);
        fs::write(&a.path, "dump").unwrap();
        // A concurrent run while `a` is still partial gets -2.
        let b = Partial::reserve(&dir, "p", BackupFormat::Plain, stamp).unwrap();
        assert_eq!(b.final_path, dir.join("p-20260221T053404Z-2.sql"));
        let a_final = a.commit().unwrap();
        assert_eq!(fs::read_to_string(&a_final).unwrap(), "dump");
        drop(b);
        // After `a` finished, its name stays taken.
        let c = Partial::reserve(&dir, "p", BackupFormat::Plain, stamp).unwrap();
        assert_eq!(c.final_path, dir.join("p-20260221T053404Z-2.sql"));
        let d = Partial::reserve(&dir, "p", BackupFormat::Directory, stamp).unwrap();
        assert!(d.is_dir && d.final_path.ends_with("p-20260221T053404Z.dir"));
        fs::create_dir(&d.path).unwrap();
        fs::write(d.path.join("toc.dat"), "").unwrap();
        drop((c, d));
        let left: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["p-20260221T053404Z.sql"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_partials_nobody_holds_are_orphans() {
        let dir = std::env::temp_dir().join(format!("xtask-orphans-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        ensure_dir(&dir).unwrap();
        let live = Partial::reserve(&dir, "p", BackupFormat::Plain, "20260221T053404Z").unwrap();
        fs::write(&live.path, "being written").unwrap();
        // A dead run's partial: nobody holds its lock.
        let dead = dir.join(".p-20260220T000000Z.dump.partial");
        fs::create_dir(&dead).unwrap();
        fs::write(dead.join(PARTIAL_DUMP), "half").unwrap();
        // Not ours: another prefix, and a file.
        fs::create_dir(dir.join(".q-20260220T000000Z.sql.partial")).unwrap();
        fs::write(dir.join(".p-20260219T000000Z.sql.partial"), "").unwrap();
        assert_eq!(remove_orphans(&dir, "p").unwrap(), [".p-20260220T000000Z.dump.partial"]);
        assert!(!dead.exists() && live.path.exists());
        assert!(dir.join(".q-20260220T000000Z.sql.partial").exists());
        drop(live);
        assert!(remove_orphans(&dir, "p").unwrap().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
