//! Checking a dump before it gets its final name, and the facts recorded about it:
//! size, SHA-256, permissions.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use std::process::Command;
use xshell::{cmd, Shell};

use crate::exit::Failure;
use crate::proc;
use crate::ui::Ui;

/// The last comment pg_dump writes into a plain dump, once everything is out.
pub(crate) const PLAIN_FOOTER: &str = "-- PostgreSQL database dump complete";
/// How far from the end the footer may be (pg_dump 15.14+ writes `\unrestrict <key>` after it).
const FOOTER_WINDOW: u64 = 4096;

/// A plain dump is complete when it is non-empty and its footer is near the end.
pub(crate) fn plain(path: &Path) -> Result<(), Failure> {
    let unreadable = |e: io::Error| Failure::task(format!("cannot read {}: {e}", path.display()));
    let mut f = fs::File::open(path).map_err(unreadable)?;
    let len = f.metadata().map_err(unreadable)?.len();
    if len == 0 {
        return Err(Failure::task("pg_dump wrote an empty file"));
    }
    let start = len.saturating_sub(FOOTER_WINDOW);
    let mut tail = Vec::new();
    f.seek(SeekFrom::Start(start)).and_then(|_| f.read_to_end(&mut tail)).map_err(unreadable)?;
    if String::from_utf8_lossy(&tail).contains(PLAIN_FOOTER) {
        Ok(())
    } else {
        Err(Failure::task(format!("the dump does not end with `{PLAIN_FOOTER}`: pg_dump stopped before the end")))
    }
}

/// `pg_restore --list`: a custom or directory archive whose table of contents reads.
/// `--dry-run` shows it with `program` "pg_restore"; the check runs the real
/// binary (see pgbin).
pub(crate) fn pg_restore_list(sh: &Shell, program: &Path, path: &Path) -> Command {
    cmd!(sh, "{program} --list {path}").into()
}

pub(crate) fn archive(ui: &Ui, path: &Path) -> Result<(), Failure> {
    let sh = proc::shell()?;
    let cmd = pg_restore_list(&sh, &crate::pgbin::program(&sh, "pg_restore"), path);
    let out = proc::run_quiet(ui, cmd)?;
    if out.success() {
        return Ok(());
    }
    let first = out.stderr.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no error output");
    Err(Failure::task(format!(
        "`pg_restore --list` cannot read the archive ({}): {first}",
        proc::describe_status(&out.status)
    )))
}

/// The files of a directory-format dump, by name (pg_dump writes no subdirectories).
fn files_by_name(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect();
    files.sort();
    Ok(files)
}

/// Bytes on disk of a file, or of the files of a directory.
pub(crate) fn size(path: &Path) -> u64 {
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => files_by_name(path)
            .map(|fs_| fs_.iter().filter_map(|f| fs::metadata(f).ok()).map(|m| m.len()).sum())
            .unwrap_or(0),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

/// Files 0600; a directory 0700 and its files 0600 (pg_dump creates them with the umask).
pub(crate) fn restrict(path: &Path, is_dir: bool) -> io::Result<()> {
    if is_dir {
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
        for f in files_by_name(path)? {
            fs::set_permissions(f, fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    } else {
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash_file(path: &Path) -> io::Result<[u8; 32]> {
    let mut f = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hasher.finalize().into())
}

/// SHA-256 of a file; for a directory, of its `sha256sum` listing: the line
/// `<hex>  <name>\n` of each file in name order, so that
/// `(cd DIR && LC_ALL=C sha256sum *) | sha256sum` gives the same value.
pub(crate) fn sha256(path: &Path, is_dir: bool) -> io::Result<String> {
    if !is_dir {
        return Ok(hex(&hash_file(path)?));
    }
    let mut listing = Sha256::new();
    for f in files_by_name(path)? {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        listing.update(format!("{}  {name}\n", hex(&hash_file(&f)?)).as_bytes());
    }
    Ok(hex(&listing.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(label: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xtask-verify-{label}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn plain_dumps_need_content_and_the_footer_near_the_end() {
        let d = temp("plain");
        let f = d.join("a.sql");
        fs::write(&f, "").unwrap();
        assert!(plain(&f).unwrap_err().message.contains("empty"));
        fs::write(&f, "CREATE TABLE t();\n").unwrap();
        assert!(plain(&f).unwrap_err().message.contains("stopped before the end"));
        let body = "x".repeat(100_000);
        fs::write(&f, format!("{body}\n--\n{PLAIN_FOOTER}\n--\n\n\\unrestrict abc\n\n")).unwrap();
        assert!(plain(&f).is_ok());
        // A footer far from the end (e.g. quoted in data) does not count.
        fs::write(&f, format!("{PLAIN_FOOTER}\n{body}")).unwrap();
        assert!(plain(&f).is_err());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn checksums_match_sha256sum() {
        let d = temp("sha");
        let f = d.join("abc");
        fs::write(&f, "abc").unwrap();
        assert_eq!(sha256(&f, false).unwrap(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let dir = d.join("dump.dir");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("toc.dat"), "abc").unwrap();
        fs::write(dir.join("3001.dat.gz"), "").unwrap();
        // printf '%s  3001.dat.gz\n%s  toc.dat\n' $(sha256sum </dev/null) $(printf abc | sha256sum) | sha256sum
        let listing = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  3001.dat.gz\n\
                       ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  toc.dat\n";
        assert_eq!(sha256(&dir, true).unwrap(), hex(&Sha256::digest(listing.as_bytes())));
        assert_eq!(size(&dir), 3);
        restrict(&dir, true).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(fs::metadata(dir.join("toc.dat")).unwrap().mode() & 0o777, 0o600);
        fs::remove_dir_all(&d).unwrap();
    }
}
