//! `init` on a checkout nobody here trusts (issue 24, item 5): values from the
//! repository's files cannot add to the tasks.toml it writes, nothing is written
//! through a symbolic link or outside the repository, and a tree init cannot
//! write in full gets nothing. The tests run as root, where permission bits stop
//! nothing: "unwritable" is a path component that is a regular file.

use std::path::Path;

use crate::harness::{TempDir, Xtask};
use crate::prisma_app::repo_root;

/// `init --source <this checkout>` in `dir` (also the monorepo tests').
pub(crate) fn init(dir: &Path) -> Xtask {
    Xtask::new(dir).args(["init", "--source"]).arg(repo_root())
}

/// Writes `text` to `root/rel`, making its folders.
pub(crate) fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// A newline in package.json's `prisma.schema` (and in the config's schema path)
/// used to end the comment it was quoted in and start a runnable `[tasks.pwn]`.
#[test]
fn a_detected_value_cannot_add_a_task_to_tasks_toml() {
    let app = TempDir::new("init-inject");
    let dir = app.path();
    let evil = "db/schema.prisma\n[tasks.pwn]\nrun = \"touch pwned\"\n#";
    write(dir, "package.json", &serde_json::json!({ "name": "x", "prisma": { "schema": evil } }).to_string());
    let out = init(dir).run();
    out.expect_code(0);
    let tasks = std::fs::read_to_string(dir.join("tasks.toml")).unwrap();
    let parsed: toml::Table = tasks.parse().expect("tasks.toml parses");
    let names: Vec<&String> = parsed["tasks"].as_table().unwrap().keys().collect();
    assert!(!names.iter().any(|n| n.as_str() == "pwn"), "injected task in:\n{tasks}");
    assert!(!tasks.lines().any(|l| l.trim_start().starts_with("[tasks.pwn]")), "{tasks}");
    // The value is kept whole, as data.
    assert_eq!(parsed["prisma"]["schema"].as_str(), Some(evil));
    let list = Xtask::new(dir).arg("--list").run();
    list.expect_code(0);
    assert!(!list.stdout.contains("pwn"), "{}", list.stdout);
    // Nor does it start a line of init's own output.
    assert!(!out.stdout.lines().any(|l| l.starts_with("[tasks.pwn]") || l.starts_with("run =")), "{}", out.stdout);
}

/// A symbolic link planted where init writes its temporary file (the name it
/// used before, `tasks.init-partial`, and the one it uses now) is never written
/// through: the file it points to is unchanged.
#[test]
fn a_link_planted_at_the_temporary_name_is_not_written_through() {
    let victim_dir = TempDir::new("init-victim");
    let victim = victim_dir.path().join(".bashrc");
    std::fs::write(&victim, "# the user's shell start-up file\n").unwrap();

    let app = TempDir::new("init-link");
    let dir = app.path();
    std::os::unix::fs::symlink(&victim, dir.join("tasks.init-partial")).unwrap();
    init(dir).run().expect_code(0);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "# the user's shell start-up file\n");
    assert!(dir.join("tasks.init-partial").is_symlink(), "the link is left alone");
    assert!(std::fs::symlink_metadata(dir.join("tasks.toml")).unwrap().is_file());

    let app = TempDir::new("init-link2");
    let dir = app.path();
    std::os::unix::fs::symlink(&victim, dir.join("tasks.toml.init-partial")).unwrap();
    let out = init(dir).run();
    out.expect_code(2);
    assert!(out.stderr.contains("tasks.toml.init-partial exists"), "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {}", out.stderr);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "# the user's shell start-up file\n");
    assert_eq!(names(dir), ["tasks.toml.init-partial"], "nothing was written");
}

/// `xtask/` is a link to a directory outside the repository: refused, with the
/// cause, and nothing is written there or here.
#[test]
fn a_linked_xtask_directory_is_refused() {
    let outside = TempDir::new("init-outside");
    let app = TempDir::new("init-xlink");
    let dir = app.path();
    std::os::unix::fs::symlink(outside.path(), dir.join("xtask")).unwrap();
    let out = init(dir).run();
    out.expect_code(2);
    assert!(out.stderr.contains("xtask is a symbolic link"), "{}", out.stderr);
    assert!(out.stderr.contains("nothing was written"), "{}", out.stderr);
    assert_eq!(names(outside.path()), Vec::<String>::new(), "written through the link");
    assert_eq!(names(dir), ["xtask"]);

    // The same for a link on the way to a file (.cargo) and at a file (.gitignore).
    for (link, rel) in [(".cargo", ".cargo"), (".gitignore", ".gitignore")] {
        let app = TempDir::new("init-xlink2");
        let dir = app.path();
        let target = outside.path().join(rel);
        std::os::unix::fs::symlink(&target, dir.join(link)).unwrap();
        let out = init(dir).run();
        out.expect_code(2);
        assert!(out.stderr.contains(&format!("{link} is a symbolic link")), "{}", out.stderr);
        assert_eq!(names(dir), [link]);
        assert!(!target.exists());
    }
}

/// A tree init can write only part of (here `.cargo` is a regular file, which
/// stops root too) gets nothing: it used to get xtask/, tasks.toml and Cargo.toml
/// before the failure.
#[test]
fn a_partly_unwritable_tree_gets_nothing() {
    let app = TempDir::new("init-partial");
    let dir = app.path();
    write(dir, ".cargo", "not a directory\n");
    write(dir, "package.json", "{\"name\":\"x\"}\n");
    let out = init(dir).run();
    out.expect_code(2);
    assert!(out.stderr.contains(".cargo exists and is not a directory"), "{}", out.stderr);
    assert!(out.stderr.contains("nothing was written"), "{}", out.stderr);
    assert_eq!(names(dir), [".cargo", "package.json"]);
}

/// A .gitignore init cannot read as text is left byte for byte (it used to be
/// rewritten with only init's lines), and a planted link to `/dev/zero` as
/// package.json does not hang init.
#[test]
fn unreadable_files_are_left_alone_and_never_hang_init() {
    let app = TempDir::new("init-unreadable");
    let dir = app.path();
    let latin1 = b"# caf\xe9\nnode_modules\n".to_vec();
    std::fs::write(dir.join(".gitignore"), &latin1).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("package.json")).unwrap();
    init(dir).run().expect_code(0);
    assert_eq!(std::fs::read(dir.join(".gitignore")).unwrap(), latin1);
}
