//! The runner on fixture tasks.toml files: order, once-only, failure, dry run,
//! list, plain-mode lines, config errors with line and column.

use crate::harness::Project;

const CHAIN: &str = r#"
[tasks.first]
description = "appends 1"
run = ["sh", "-c", "echo 1 >> order.log"]

[tasks.second]
description = "appends 2"
deps = ["first"]
run = ["sh", "-c", "echo 2 >> order.log"]

[tasks.third]
description = "appends 3"
deps = ["first", "second"]
run = ["sh", "-c", "echo 3 >> order.log"]
"#;

#[test]
fn chain_runs_in_order_each_task_once() {
    let p = Project::new(CHAIN);
    p.xtask().arg("third").run().expect_code(0);
    assert_eq!(p.read("order.log"), "1\n2\n3\n");
}

#[test]
fn failing_middle_task_stops_the_chain_with_exit_1() {
    let p = Project::new(&CHAIN.replace("echo 2 >> order.log", "echo 2 >> order.log; exit 7"));
    let out = p.xtask().arg("third").run();
    out.expect_code(1);
    assert_eq!(p.read("order.log"), "1\n2\n");
    assert!(out.stderr.contains("task `second` failed"), "{}", out.stderr);
    assert!(out.stderr.contains("exit status 7"), "{}", out.stderr);
}

#[test]
fn dry_run_prints_the_plan_and_runs_nothing() {
    let p = Project::new(CHAIN);
    let out = p.xtask().args(["third", "--dry-run"]).run();
    out.expect_code(0);
    assert!(!p.path().join("order.log").exists());
    let plan: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(plan[0], "plan for `third` (3 tasks), nothing will run:");
    assert_eq!(plan[1], "  1. first (run)");
    assert_eq!(plan[2], "       sh -c 'echo 1 >> order.log'");
    assert_eq!(plan[3], "  2. second (run)");
    assert_eq!(plan[5], "  3. third (run)");
}

#[test]
fn list_shows_tasks_with_descriptions() {
    let p = Project::new(CHAIN);
    let out = p.xtask().arg("--list").run();
    out.expect_code(0);
    assert!(out.stdout.contains("  first   appends 1\n"), "{}", out.stdout);
    assert!(out.stdout.contains("  third   appends 3 [after: first, second]\n"), "{}", out.stdout);
}

#[test]
fn plain_mode_lines_carry_rfc3339_timestamps() {
    let p = Project::new(CHAIN);
    let out = p.xtask().arg("second").env("CI", "true").run();
    out.expect_code(0);
    let events: Vec<&str> = out.stderr.lines().filter(|l| l.contains(" task ")).collect();
    assert_eq!(events.len(), 4, "{}", out.stderr);
    for line in &events {
        let ts = line.split(' ').next().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "not RFC 3339: {line}");
        assert!(ts.ends_with('Z'), "not UTC: {line}");
    }
    assert!(events[0].ends_with("task first: started (1/2)"));
    assert!(events[1].contains("task first: finished in "));
    assert!(!out.stderr.contains('\x1b'), "ANSI codes in plain mode: {:?}", out.stderr);
}

/// A task's output is shown line by line from both of its streams, whatever its
/// size and however it ends: one loop reads stdout and stderr (proc::pump), so a
/// child filling one pipe while the other stays quiet must not stall, each
/// stream's lines keep their order, a last line without a newline is still shown
/// and a byte that is not UTF-8 does not end the stream.
#[test]
fn a_tasks_output_from_both_streams_is_shown_whole_and_in_order() {
    let p = Project::new(
        r#"
[tasks.noisy]
run = ["sh", "-c", '''
i=0; while [ $i -lt 3000 ]; do echo "out line $i ................"; i=$((i+1)); done
i=0; while [ $i -lt 3000 ]; do echo "err line $i ................" >&2; i=$((i+1)); done
printf 'not utf-8: \377\n'; printf 'out tail'; printf 'err tail' >&2
''']
"#,
    );
    let out = p.xtask().arg("noisy").env("CI", "true").run();
    out.expect_code(0);
    let all = format!("{}{}", out.stdout, out.stderr);
    for stream in ["out", "err"] {
        let numbers: Vec<usize> = all
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("{stream} line ")))
            .map(|rest| rest.split(' ').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(numbers, (0..3000).collect::<Vec<_>>(), "{stream} lines lost or out of order");
    }
    for tail in ["out tail", "err tail", "not utf-8: \u{fffd}"] {
        assert!(all.lines().any(|l| l == tail), "{tail:?} missing:\n{}", &all[all.len().saturating_sub(2000)..]);
    }
}

#[test]
fn unknown_task_exits_2_with_the_list_and_a_suggestion() {
    let p = Project::new(CHAIN);
    let out = p.xtask().arg("secnod").run();
    out.expect_code(2);
    assert!(out.stderr.contains("unknown task `secnod`. Did you mean `second`?"), "{}", out.stderr);
    assert!(out.stderr.contains("Tasks: first, second, third"), "{}", out.stderr);
}

#[test]
fn task_arguments_are_passed_without_a_shell() {
    let p = Project::new(
        r#"
[tasks.greet]
run = ["sh", "-c", "printf '%s\n' \"$1\" > out.txt", "greet", "{who}"]
args = [{ name = "who", default = "world" }]
"#,
    );
    p.xtask().arg("greet").run().expect_code(0);
    assert_eq!(p.read("out.txt"), "world\n");
    // A value full of shell syntax arrives as one literal argument.
    p.xtask().args(["greet", "$(touch pwned); `id`"]).run().expect_code(0);
    assert_eq!(p.read("out.txt"), "$(touch pwned); `id`\n");
    assert!(!p.path().join("pwned").exists());
}

/// Each config error: exact message with line and column, exit 2, nothing run.
#[test]
fn config_errors_name_file_line_and_column() {
    let cases: &[(&str, &str)] = &[
        ("[tasks.a]\nrun = [\"true\"]\ndeps = [\"nope\"]\n", "tasks.toml:3:9: task `a` depends on unknown task `nope`"),
        (
            "[tasks.a]\nrun = [\"true\"]\ndeps = [\"b\"]\n\n[tasks.b]\nrun = [\"true\"]\ndeps = [\"a\"]\n",
            // The cycle points at the dependency that closes the loop (issue 9), not the task header.
            "tasks.toml:7:9: dependency cycle: a -> b -> a",
        ),
        (
            "[tasks.a]\nuses = \"bakup\"\n",
            "tasks.toml:2:8: task `a` uses unknown built-in `bakup`; the built-ins are: ",
        ),
        (
            "[tasks.a]\nrun = [\"true\"]\ndeps = \"b\"\n",
            "tasks.toml:3:8: invalid type: string \"b\", expected a sequence",
        ),
        ("[tasks.a]\ndescription = \"x\"\n", "tasks.toml:1:1: task `a` needs `run` (a command) or `uses` (a built-in)"),
        (
            "[tasks.a]\nrun = [\"true\"]\nuses = \"backup\"\n",
            "tasks.toml:3:8: task `a` has both `run` and `uses`: keep one",
        ),
        ("[tasks.a]\nrun = [\"true\"]\ncolour = \"red\"\n", "tasks.toml:3:1: unknown field `colour`"),
        ("[tasks.a\nrun = 1\n", "tasks.toml:1:9: "),
    ];
    for (toml, expected) in cases {
        let p = Project::new(toml);
        let out = p.xtask().arg("a").run();
        out.expect_code(2);
        let first = out.stderr.lines().next().unwrap_or("");
        let want = format!("error: {}/{expected}", p.path().display());
        assert!(first.starts_with(&want), "for {toml:?}\n  got:  {first}\n  want: {want}");
    }
}

#[test]
fn config_error_shows_the_line_with_a_caret() {
    let p = Project::new("[tasks.a]\nrun = [\"true\"]\ndeps = [\"nope\"]\n");
    let out = p.xtask().arg("a").run();
    assert!(out.stderr.contains("3 | deps = [\"nope\"]\n  |         ^"), "{}", out.stderr);
}

#[test]
fn config_flag_and_env_select_another_file() {
    let p = Project::new("[tasks.a]\nrun = [\"sh\", \"-c\", \"echo root > which\"]\n");
    p.file("other/alt.toml", "[tasks.a]\nrun = [\"sh\", \"-c\", \"echo alt > which\"]\n");
    p.xtask().args(["a", "--config", "other/alt.toml"]).run().expect_code(0);
    assert_eq!(p.read("other/which"), "alt\n", "cwd of a task is the tasks.toml directory");
    std::fs::remove_file(p.path().join("other/which")).unwrap();
    p.xtask().arg("a").env("XTASK_CONFIG", "other/alt.toml").run().expect_code(0);
    assert_eq!(p.read("other/which"), "alt\n");
}

#[test]
fn tasks_toml_is_found_from_a_subdirectory() {
    let p = Project::new("[tasks.a]\nrun = [\"sh\", \"-c\", \"pwd > where\"]\n");
    std::fs::create_dir_all(p.path().join("deep/er")).unwrap();
    p.xtask().arg("a").run().expect_code(0);
    let sub = crate::harness::Xtask::new(&p.path().join("deep/er")).arg("a").run();
    sub.expect_code(0);
}

#[test]
fn missing_config_is_a_usage_error() {
    let dir = crate::harness::TempDir::new("noconfig");
    let out = crate::harness::Xtask::new(dir.path()).arg("deploy").run();
    out.expect_code(2);
    assert!(out.stderr.contains("no tasks.toml"), "{}", out.stderr);
}
