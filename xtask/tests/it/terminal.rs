//! At home on a laptop and in CI: progress bars in a real terminal (tmux), plain
//! timestamped lines through a pipe, GitHub Actions groups/annotations/step
//! summary, colour choices, .env loading, completions, per-task help, and the
//! root justfile run by the real `just`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{Project, TempDir};

const SLOW_CHAIN: &str = r#"
[tasks.prepare]
description = "takes a moment"
run = ["sleep", "2"]

[tasks.ship]
description = "after prepare"
deps = ["prepare"]
run = ["sh", "-c", "echo shipped; sleep 1"]
"#;

fn tmux(socket: &str, args: &[&str]) -> std::process::Output {
    Command::new("tmux")
        .arg("-L")
        .arg(socket)
        .args(args)
        .output()
        .expect("tmux is installed (scripts/install-test-deps.sh)")
}

#[test]
fn a_real_terminal_gets_progress_bars_and_a_pipe_gets_plain_lines() {
    let p = Project::new(SLOW_CHAIN);
    let socket = format!("xtask-it-{}", std::process::id());
    let done = p.path().join("done");
    let script = format!(
        "env -u CI -u GITHUB_ACTIONS -u NO_COLOR TERM=xterm-256color {} ship; echo $? > {}; sleep 30",
        env!("CARGO_BIN_EXE_xtask"),
        done.display()
    );
    let started = tmux(
        &socket,
        &["new-session", "-d", "-x", "150", "-y", "40", "-s", "t", "-c", &p.path().to_string_lossy(), &script],
    );
    assert!(started.status.success(), "tmux: {}", String::from_utf8_lossy(&started.stderr));

    // While it runs: the overall bar and the task spinner are on the screen.
    let mut saw_bar = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && !done.exists() {
        let screen =
            String::from_utf8_lossy(&tmux(&socket, &["capture-pane", "-p", "-e", "-t", "t"]).stdout).into_owned();
        if screen.contains("/2 tasks") && screen.contains("prepare") {
            saw_bar = screen;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    while Instant::now() < deadline && !done.exists() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let end_screen = String::from_utf8_lossy(&tmux(&socket, &["capture-pane", "-p", "-t", "t"]).stdout).into_owned();
    tmux(&socket, &["kill-server"]);
    assert!(!saw_bar.is_empty(), "no progress bar seen on the terminal; last screen:\n{end_screen}");
    assert!(saw_bar.contains("cargo xtask"), "{saw_bar}");
    assert!(saw_bar.contains('\x1b'), "a terminal gets styled output");
    assert_eq!(std::fs::read_to_string(&done).unwrap_or_default().trim(), "0", "{end_screen}");
    // Child output is shown above the bars, and the finished tasks are listed.
    assert!(end_screen.contains("shipped"), "{end_screen}");
    assert!(end_screen.contains("✓ prepare"), "{end_screen}");
    assert!(!end_screen.contains("task prepare: started"), "plain-mode lines on a terminal:\n{end_screen}");

    // The same run through a pipe: no ANSI codes, timestamped event lines.
    let out = p.xtask().arg("ship").run();
    out.expect_code(0);
    assert!(!out.stderr.contains('\x1b'), "{:?}", out.stderr);
    assert!(out.stderr.contains("shipped"));
    let events: Vec<&str> = out.stderr.lines().filter(|l| l.contains(" task ")).collect();
    assert_eq!(events.len(), 4, "{}", out.stderr);
    for l in events {
        let ts = l.split(' ').next().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{l}");
    }
}

#[test]
fn colour_follows_the_flag() {
    let p = Project::new("[tasks.boom]\nrun = [\"false\"]\n");
    let plain = p.xtask().arg("boom").run();
    assert!(!plain.stderr.contains('\x1b'));
    let coloured = p.xtask().args(["boom", "--color", "always"]).run();
    assert!(coloured.stderr.contains("\x1b["), "{:?}", coloured.stderr);
    let never = p.xtask().args(["boom", "--color", "never"]).env("CI", "true").run();
    assert!(!never.stderr.contains('\x1b'));
}

#[test]
fn github_actions_gets_groups_an_error_annotation_and_a_step_summary() {
    let p = Project::new(
        r#"
[tasks.build]
description = "works"
run = ["sh", "-c", "echo building"]

[tasks.release]
description = "fails"
deps = ["build"]
run = ["sh", "-c", "echo releasing; exit 3"]
"#,
    );
    let summary = p.path().join("summary.md");
    let ok = p
        .xtask()
        .arg("build")
        .env("CI", "true")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .run();
    ok.expect_code(0);
    let lines: Vec<&str> = ok.stderr.lines().collect();
    let open = lines.iter().position(|l| *l == "::group::task build").expect("group opened");
    let out = lines.iter().position(|l| *l == "building").expect("output inside");
    let close = lines.iter().position(|l| *l == "::endgroup::").expect("group closed");
    assert!(open < out && out < close, "{}", ok.stderr);
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("## ✅ `cargo xtask build`: succeeded"), "{md}");
    assert!(md.contains("| build | success |"), "{md}");

    let failed = p
        .xtask()
        .arg("release")
        .env("CI", "true")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .run();
    failed.expect_code(1);
    assert!(
        failed
            .stderr
            .lines()
            .any(|l| l.starts_with("::error title=task release failed::") && l.contains("exit status 3")),
        "{}",
        failed.stderr
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("## ❌ `cargo xtask release`: failed"), "appended, not replaced: {md}");
    assert!(md.contains("| build | success |") && md.contains("| release | failed |"), "{md}");
}

#[test]
fn secrets_are_masked_in_annotations_and_summaries() {
    let p = Project::new(
        "[tasks.leak]\nrun = [\"sh\", \"-c\", \"echo connecting to $DATABASE_URL; echo pw=hunter2-secret; exit 1\"]\n",
    );
    let summary = p.path().join("summary.md");
    let out = p
        .xtask()
        .arg("leak")
        .env("DATABASE_URL", "postgresql://app:hunter2-secret@db:5432/x")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .run();
    out.expect_code(1);
    // The password of the configured URL is a secret wherever it appears.
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
    assert!(out.stderr.contains("pw=***"), "{}", out.stderr);
    assert!(out.stderr.contains("postgresql://app:***@db:5432/x"), "{}", out.stderr);
    assert!(!std::fs::read_to_string(&summary).unwrap().contains("hunter2"));
}

#[test]
fn dotenv_is_loaded_the_real_environment_wins_and_values_are_not_shown() {
    let p = Project::new("[tasks.show]\nrun = [\"sh\", \"-c\", \"echo \\\"$GREETING/$OTHER\\\" > seen\"]\n");
    p.file(".env", "GREETING=from-dotenv\nOTHER=dotenv-other\n");
    let out = p.xtask().arg("show").env("OTHER", "from-env").run();
    out.expect_code(0);
    assert_eq!(p.read("seen"), "from-dotenv/from-env\n");
    assert!(
        out.stderr.contains(&format!("loaded environment from {}", p.path().join(".env").display())),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("from-dotenv"), "values must not be printed: {}", out.stderr);
}

#[test]
fn completions_and_per_task_help() {
    let p = Project::new(SLOW_CHAIN);
    for shell in ["bash", "zsh", "fish"] {
        let out = p.xtask().args(["completions", shell]).run();
        out.expect_code(0);
        assert!(out.stdout.contains("prepare") && out.stdout.contains("ship"), "{shell}: {}", out.stdout);
    }
    let help = p.xtask().args(["ship", "--help"]).run();
    help.expect_code(0);
    assert!(help.stdout.contains("after prepare"), "{}", help.stdout);
    assert!(help.stdout.contains("Example: cargo xtask ship"), "{}", help.stdout);
    let bad = p.xtask().args(["completions", "tcsh"]).run();
    bad.expect_code(2);
}

/// The root justfile: every task of the root tasks.toml has a recipe, and the
/// recipes run the same tasks (checked with the real `just` and the real binary).
#[test]
fn justfile_recipes_run_the_same_tasks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let just =
        which("just").expect("`just` is not installed: pip install rust-just (scripts/install-test-deps.sh does)");
    let summary = Command::new(&just).arg("--justfile").arg(root.join("justfile")).arg("--summary").output().unwrap();
    let recipes: Vec<String> = String::from_utf8_lossy(&summary.stdout).split_whitespace().map(String::from).collect();
    let config = xtask::testing::config::load(&root.join("tasks.toml")).expect("root tasks.toml is valid");
    for t in &config.tasks {
        if t.name != "migrate-status" {
            assert!(recipes.contains(&t.name), "no recipe for task `{}` in the justfile", t.name);
        }
    }

    // Through just and directly: the same plan, and arguments arrive intact.
    let dir = TempDir::new("just");
    std::fs::write(
        dir.path().join("tasks.toml"),
        "[tasks.deploy]\nrun = [\"sh\", \"-c\", \"printf '%s|' \\\"$@\\\" > got\", \"x\", \"{a}\", \"{b}\"]\nargs = [{ name = \"a\" }, { name = \"b\" }]\n",
    )
    .unwrap();
    let run_just = |args: &[&str]| {
        Command::new(&just)
            .arg("--justfile")
            .arg(root.join("justfile"))
            .arg("--working-directory")
            .arg(dir.path())
            .arg(format!("xtask={}", env!("CARGO_BIN_EXE_xtask")))
            .args(args)
            .env_remove("CI")
            .output()
            .unwrap()
    };
    let via_just = run_just(&["deploy", "--dry-run", "one", "two words"]);
    assert!(via_just.status.success(), "{}", String::from_utf8_lossy(&via_just.stderr));
    let direct = crate::harness::Xtask::new(dir.path()).args(["deploy", "--dry-run", "one", "two words"]).run();
    assert_eq!(String::from_utf8_lossy(&via_just.stdout), direct.stdout);
    let real = run_just(&["deploy", "$(id)", "two words"]);
    assert!(real.status.success());
    assert_eq!(std::fs::read_to_string(dir.path().join("got")).unwrap(), "$(id)|two words|");
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(program)).find(|c| c.is_file()))
}

/// Runs `script` in a fresh tmux terminal and returns the screen with its styles.
fn in_terminal(dir: &Path, script: &str) -> String {
    let socket = format!("xtask-it-c-{}-{}", std::process::id(), script.len());
    let done = dir.join(format!("done-{}", script.len()));
    let full = format!("{script}; touch {}; sleep 30", done.display());
    let started =
        tmux(&socket, &["new-session", "-d", "-x", "150", "-y", "20", "-s", "t", "-c", &dir.to_string_lossy(), &full]);
    assert!(started.status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let screen = String::from_utf8_lossy(&tmux(&socket, &["capture-pane", "-p", "-e", "-t", "t"]).stdout).into_owned();
    tmux(&socket, &["kill-server"]);
    screen
}

#[test]
fn no_color_turns_colour_off_on_a_terminal() {
    let p = Project::new("[tasks.boom]\nrun = [\"false\"]\n");
    let bin = env!("CARGO_BIN_EXE_xtask");
    let coloured =
        in_terminal(p.path(), &format!("env -u CI -u NO_COLOR TERM=xterm-256color {bin} boom --no-progress"));
    assert!(coloured.contains("error:"), "{coloured}");
    assert!(coloured.contains("\x1b["), "a terminal gets colour: {coloured:?}");
    let plain = in_terminal(
        p.path(),
        &format!("env -u CI NO_COLOR=1 TERM=xterm-256color {bin} boom --no-progress --color auto"),
    );
    assert!(plain.contains("error:"), "{plain}");
    assert!(!plain.contains("\x1b["), "NO_COLOR: {plain:?}");
}

#[test]
fn dry_run_masks_secrets_in_the_commands_it_prints() {
    let p = Project::new("[tasks.connect]\nrun = [\"psql\", \"postgresql://app:s3cret-pw@db/x\"]\n");
    let out = p.xtask().args(["connect", "--dry-run"]).run();
    out.expect_code(0);
    assert!(out.stdout.contains("psql postgresql://app:***@db/x"), "{}", out.stdout);
    assert!(!out.all().contains("s3cret-pw"));
}
