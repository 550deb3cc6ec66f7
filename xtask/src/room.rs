//! Whether the scratch server has room for a full copy of production, checked
//! before a full rehearsal (`rehearse = "full"`) copies anything: a copy that
//! fills the disk of production's own server would take production down with it.
//!
//! PostgreSQL shows no role the free space of its disks: there is no function
//! for it, `pg_stat_file`/`pg_ls_dir` give file sizes only, and running `df` on
//! the server (`COPY ... FROM PROGRAM`, superuser) is more than a check should
//! do. What can be checked honestly: the copy's size (production's
//! `pg_database_size`, which any role connected to it may read), and, when the
//! server runs on this machine and its data directory is known (superuser or
//! `pg_read_all_settings`), the free space of that directory's file system, seen
//! from here with `statvfs`. Its `postmaster.pid` must name the same server (start
//! time and port), so that a container's path that happens to exist here is not
//! mistaken for the server's. Anything else is reported as not checked.

use std::path::Path;

use crate::db::Target;
use crate::exit::Failure;
use crate::ui::human_bytes;

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Room {
    /// The copy fits and leaves a tenth of the file system free.
    Enough { need: u64, free: u64 },
    /// It does not.
    Short { need: u64, free: u64 },
    /// Free space could not be read: why.
    NotChecked { need: Option<u64>, why: String },
}

impl Room {
    /// The one line the rehearsal prints.
    pub(crate) fn line(&self) -> String {
        match self {
            Room::Enough { need, free } => format!(
                "rehearsal: disk space checked: the copy needs about {} (production's size), the server's data directory has {} free",
                human_bytes(*need),
                human_bytes(*free)
            ),
            Room::Short { need, free } => format!(
                "rehearsal: disk space short: the copy needs about {} (production's size) and the server's data directory has {} free",
                human_bytes(*need),
                human_bytes(*free)
            ),
            Room::NotChecked { need, why } => format!(
                "rehearsal: disk space not checked ({why}){}",
                need.map(|n| format!("; the copy needs about {} (production's size)", human_bytes(n))).unwrap_or_default()
            ),
        }
    }
}

/// The server's facts: data directory (if this role may see it), start time in
/// epoch seconds, port.
const SERVER_SQL: &str = "SELECT (SELECT setting FROM pg_settings WHERE name = 'data_directory'), \
     extract(epoch FROM pg_postmaster_start_time())::bigint::text, current_setting('port'), \
     pg_database_size(current_database())::text;";

/// Checks the room for a copy of `production` on `server` (one psql start when
/// they are the same server, two otherwise).
pub(crate) fn check(production: &Target, server: &Target, same_server: bool) -> Result<Room, Failure> {
    let read = |t: &Target| -> Result<[Option<String>; 4], Failure> {
        Ok(t.query_n::<4>(SERVER_SQL, &[])?.into_iter().next().unwrap_or_default())
    };
    let [dir, started, port, size] = read(server)?;
    let need = if same_server {
        size.and_then(|s| s.parse().ok())
    } else {
        let [_, _, _, size] = read(production)?;
        size.and_then(|s| s.parse().ok())
    };
    let Some(need) = need else {
        return Ok(Room::NotChecked { need: None, why: "production's size could not be read".into() });
    };
    let Some(dir) = dir else {
        return Ok(Room::NotChecked {
            need: Some(need),
            why: "PostgreSQL shows free disk space to no role, and this role may not see the server's data directory (superuser or pg_read_all_settings)".into(),
        });
    };
    let (started, port) = (started.unwrap_or_default(), port.unwrap_or_default());
    if !same_server_files(Path::new(&dir), &started, &port) {
        return Ok(Room::NotChecked {
            need: Some(need),
            why: format!("the server's data directory {dir} is not on this machine (or not readable here), and PostgreSQL shows free disk space to no role"),
        });
    }
    let Some((free, total)) = free_space(Path::new(&dir)) else {
        return Ok(Room::NotChecked { need: Some(need), why: format!("statvfs({dir}) failed") });
    };
    Ok(if fits(need, free, total) { Room::Enough { need, free } } else { Room::Short { need, free } })
}

/// The copy fits when it leaves at least a tenth of the file system free: a full
/// disk stops the server (production's, when the copy is made beside it).
fn fits(need: u64, free: u64, total: u64) -> bool {
    free >= need.saturating_add(total / 10)
}

/// Whether `dir/postmaster.pid` here is the server's: its start time (line 3,
/// epoch seconds, within two seconds: the server takes the two readings apart)
/// and its port (line 4).
fn same_server_files(dir: &Path, started: &str, port: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("postmaster.pid")) else {
        return false;
    };
    let lines: Vec<&str> = text.lines().collect();
    let (Some(their_start), Some(their_port)) = (lines.get(2), lines.get(3)) else {
        return false;
    };
    let close = match (their_start.trim().parse::<i64>(), started.parse::<i64>()) {
        (Ok(a), Ok(b)) => (a - b).abs() <= 2,
        _ => false,
    };
    close && their_port.trim() == port
}

/// Free bytes (for an unprivileged user) and total bytes of `dir`'s file system.
fn free_space(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills a zeroed struct from a NUL-terminated path.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    let unit = s.f_frsize as u64;
    Some((s.f_bavail as u64 * unit, s.f_blocks as u64 * unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_must_leave_a_tenth_of_the_disk_free() {
        let gib = 1u64 << 30;
        assert!(fits(gib, 20 * gib, 100 * gib));
        assert!(!fits(gib, 10 * gib, 100 * gib));
        assert!(!fits(30 * gib, 20 * gib, 100 * gib));
    }

    #[test]
    fn postmaster_pid_must_name_the_same_server() {
        let dir = std::env::temp_dir().join(format!("xtask-room-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(!same_server_files(&dir, "1700000000", "5432"), "no postmaster.pid");
        std::fs::write(dir.join("postmaster.pid"), "4242\n/data\n1700000001\n5432\n/run\n*\n").unwrap();
        assert!(same_server_files(&dir, "1700000000", "5432"));
        assert!(!same_server_files(&dir, "1700000000", "5433"), "another port");
        assert!(!same_server_files(&dir, "1690000000", "5432"), "another start");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lines_say_what_was_and_was_not_checked() {
        let r = Room::NotChecked { need: Some(2048), why: "x".into() };
        assert!(r.line().starts_with("rehearsal: disk space not checked (x); the copy needs about"), "{}", r.line());
        assert!(Room::Enough { need: 1, free: 2 }.line().contains("disk space checked"));
    }
}
