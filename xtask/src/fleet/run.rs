//! Running the plan: waves in order, each target through the single-target
//! pipeline as a child process of this binary, at most `workers` at once, at most
//! `per_server` on one server, and one at a time per database (Prisma's advisory
//! lock, and the tool's deploy lock, are one key per database: two schemas of one
//! database would otherwise wait on each other, and Prisma gives up after 10 s
//! with P1002). A spent failure budget stops new starts; running targets finish.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use super::inventory::FleetTarget;
use super::ledger::{self, Line, TargetResult};
use super::plan::{self, Check, Checked, PlannedWave};
use super::{Ready, Request};
use crate::context::Ctx;
use crate::exit::Failure;
use crate::proc::{self, Pipes};

/// What the run came to.
pub(crate) struct Outcome {
    pub results: Vec<TargetResult>,
    /// The wave whose budget was spent, when the fleet stopped early.
    pub stopped_in: Option<String>,
}

struct Running {
    target: usize,
    child: Child,
    started: Instant,
    report: PathBuf,
    log: PathBuf,
    before: Option<String>,
    pumps: Vec<std::thread::JoinHandle<()>>,
}

/// Runs the waves of `ready` (this shard's targets), writing the ledger as it goes.
pub(crate) fn run(ctx: &Ctx, req: &Request, ready: &Ready) -> Result<Outcome, Failure> {
    let config = ctx.config;
    let fleet = config.fleet.as_ref().expect("prepare checked [fleet]");
    let ui = ctx.ui;
    let state = super::state_dir(config);
    for sub in ["logs", "reports"] {
        std::fs::create_dir_all(state.join(sub))
            .map_err(|e| Failure::task(format!("cannot create {}: {e}", state.join(sub).display())))?;
    }
    let deploy_task = crate::config::fleet::deploy_task_name(config)
        .ok_or_else(|| Failure::usage("no task with uses = \"prisma-deploy\" for the targets"))?;
    let schema_dir = config.prisma.schema.as_deref().and_then(|s| s.parent());
    let mine: Vec<usize> =
        ready.waves.iter().flat_map(|w| w.targets.iter().copied()).filter(|&i| ready.mine[i]).collect();

    // The plan's check: every target read-only, before anything starts.
    let t0 = Instant::now();
    let found = plan::check_all(&ready.targets, &mine, &ready.local, schema_dir, fleet.workers.max(8));
    let how = found.how();
    let checks = found.checked;
    let to_start = checks.values().filter(|c| !matches!(c.check, Check::AtHead)).count();
    ui.event(&format!(
        "fleet: {} target(s){} in {} wave(s), checked in {:.2}s {}: {} at the head, {to_start} to deploy",
        mine.len(),
        req.shard.map(|s| format!(" (shard {s})")).unwrap_or_default(),
        ready.waves.len(),
        t0.elapsed().as_secs_f64(),
        how,
        mine.len() - to_start
    ));
    let earlier = ledger::read(&state);
    if to_start == 0 {
        if req.resume {
            ui.event("fleet: nothing to resume: every target of the plan is at the head (checked against its own _prisma_migrations)");
        }
        super::save_plan(&ready.plan_path, &super::plan::Frozen { finished: true, ..ready.frozen.clone() })?;
        let results = ready
            .waves
            .iter()
            .flat_map(|w| w.targets.iter().filter(|&&i| ready.mine[i]).map(move |&i| (w, i)))
            .map(|(w, i)| up_to_date(&ready.targets[i], &w.name, req, checks.get(&i)))
            .collect();
        return Ok(Outcome { results, stopped_in: None });
    }
    super::save_plan(&ready.plan_path, &ready.frozen)?;

    let bars = ui.items("targets", mine.len());
    bars.message(&format!("{} at the head", mine.len() - to_start));
    let waves = Waves {
        ctx,
        req,
        ready,
        workers: fleet.workers,
        per_server: fleet.per_server,
        state,
        deploy_task,
        schema_dir,
        checks,
        earlier,
        run_id: crate::audit::run_id(),
        bars,
    };
    let mut results = Vec::new();
    let mut stopped_in: Option<String> = None;
    for wave in &ready.waves {
        let members: Vec<usize> = wave.targets.iter().copied().filter(|&i| ready.mine[i]).collect();
        if stopped_in.is_some() {
            results.extend(members.iter().map(|&i| not_tried(&ready.targets[i], &wave.name, req)));
            continue;
        }
        if waves.run_wave(wave, &members, &mut results)? {
            stopped_in = Some(wave.name.clone());
        }
    }
    super::save_plan(&ready.plan_path, &super::plan::Frozen { finished: true, ..ready.frozen.clone() })?;
    Ok(Outcome { results, stopped_in })
}

/// What every wave of one fleet run shares: the plan, its read-only checks, the
/// ledger so far and the progress bars.
struct Waves<'a> {
    ctx: &'a Ctx<'a>,
    req: &'a Request,
    ready: &'a Ready,
    workers: usize,
    per_server: usize,
    state: PathBuf,
    deploy_task: String,
    schema_dir: Option<&'a Path>,
    checks: HashMap<usize, Checked>,
    earlier: Vec<Line>,
    run_id: &'a str,
    bars: crate::ui::ItemProgress<'a>,
}

impl Waves<'_> {
    /// How many times the ledger says target `id` was tried before.
    fn attempts(&self, id: &str) -> u32 {
        self.earlier.iter().filter(|l| l.result.id == id).map(|l| l.attempt).max().unwrap_or(0)
    }

    fn record(&self, r: &TargetResult, attempt: u32) {
        let ui = self.ctx.ui;
        let line = Line {
            ts: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            run: self.run_id.to_string(),
            migrations_hash: self.ready.frozen.migrations_hash.clone(),
            attempt,
            result: r.clone(),
        };
        if let Err(e) = ledger::append(&self.state, &line, &|s: &str| ui.redact(s)) {
            ui.warn(&format!("cannot write the fleet ledger {}: {e}", ledger::path(&self.state).display()));
        }
    }

    /// Runs one wave's `members` to the end, at most `workers` at once: whether its
    /// failure budget was spent (then the targets not started are not tried).
    fn run_wave(
        &self,
        wave: &PlannedWave,
        members: &[usize],
        results: &mut Vec<TargetResult>,
    ) -> Result<bool, Failure> {
        let (ui, ready) = (self.ctx.ui, self.ready);
        ui.event(&format!("wave {}: {} target(s), {}", wave.name, members.len(), wave.budget.describe()));
        self.bars.message(&format!("wave {}", wave.name));
        let (mut queue, mut failures) = self.sort_members(wave, members, results);
        let size = members.len();
        let mut running: Vec<Running> = Vec::new();
        let mut spent = wave.budget.spent(failures, size);
        loop {
            while !spent && running.len() < self.workers {
                let Some(pos) = self.next_to_start(&running, &queue) else {
                    break;
                };
                let i = queue.remove(pos);
                let before = self.checks.get(&i).and_then(|c| c.last_applied.clone());
                let t = &ready.targets[i];
                running.push(start(self.ctx, &self.state, &self.deploy_task, t, i, before, self.attempts(&t.id) + 1)?);
                self.bars.started(&t.id, &format!("wave {}", wave.name));
            }
            if running.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            let mut k = 0;
            while k < running.len() {
                let done = running[k]
                    .child
                    .try_wait()
                    .map_err(|e| Failure::task(format!("waiting for a target failed: {e}")))?;
                let Some(status) = done else {
                    k += 1;
                    continue;
                };
                let result = self.finished(running.remove(k), status.code(), wave);
                if result.outcome == ledger::FAILED {
                    failures += 1;
                    if !spent && wave.budget.spent(failures, size) {
                        spent = true;
                        ui.event(&format!(
                            "wave {}: failure budget spent ({failures} failed, {}): no new target starts; {} running finish",
                            wave.name,
                            wave.budget.describe(),
                            running.len()
                        ));
                    }
                }
                results.push(result);
            }
        }
        if spent {
            results.extend(queue.iter().map(|&i| not_tried(&ready.targets[i], &wave.name, self.req)));
        }
        ui.event(&format!("wave {}: done, {failures} failed", wave.name));
        Ok(spent)
    }

    /// Sorts a wave's members by their read-only check: those at the head are done,
    /// those with pending migrations queue, and the rest fail before they start.
    /// The queue, and how many failed.
    fn sort_members(
        &self,
        wave: &PlannedWave,
        members: &[usize],
        results: &mut Vec<TargetResult>,
    ) -> (Vec<usize>, usize) {
        let (ui, req) = (self.ctx.ui, self.req);
        let mut failures = 0;
        let mut queue: Vec<usize> = Vec::new();
        for &i in members {
            let t = &self.ready.targets[i];
            match self.checks.get(&i).map(|c| &c.check) {
                Some(Check::AtHead) => {
                    self.bars.ended(&t.id);
                    results.push(up_to_date(t, &wave.name, req, self.checks.get(&i)))
                }
                Some(Check::Pending { .. }) => queue.push(i),
                other => {
                    // Drift or a check that could not run: a person looks first.
                    let why = other.map(|c| c.describe()).unwrap_or_else(|| "not checked".into());
                    let mut r = base(t, &wave.name, req, plan::Check::Error(why.clone()));
                    r.outcome = ledger::FAILED.into();
                    r.error = Some(why);
                    r.verdict = Some("not started: the read-only check found what a person must look at first".into());
                    r.next = vec![format!(
                        "{} (with this target's URL in {})",
                        crate::invocation::cmd("status"),
                        self.ctx.config.database.url_env[0]
                    )];
                    r.before = self.checks.get(&i).and_then(|c| c.last_applied.clone());
                    ui.event(&format!("target {}: failed before start: {}", t.id, r.error.as_deref().unwrap_or("")));
                    self.record(&r, self.attempts(&t.id) + 1);
                    self.bars.ended(&t.id);
                    results.push(r);
                    failures += 1;
                }
            }
        }
        (queue, failures)
    }

    /// The position in `queue` of the next target that may start: its server below
    /// `per_server` running, its database not busy.
    fn next_to_start(&self, running: &[Running], queue: &[usize]) -> Option<usize> {
        let targets = &self.ready.targets;
        let busy_servers: HashMap<&str, usize> = running.iter().fold(HashMap::new(), |mut m, r| {
            *m.entry(targets[r.target].server.as_str()).or_default() += 1;
            m
        });
        let busy_dbs: HashSet<&str> = running.iter().map(|r| targets[r.target].database.as_str()).collect();
        queue.iter().position(|&i| {
            let t = &targets[i];
            busy_servers.get(t.server.as_str()).copied().unwrap_or(0) < self.per_server
                && !busy_dbs.contains(t.database.as_str())
        })
    }

    /// A target whose pipeline ended: checked again, reported and recorded.
    fn finished(&self, mut r: Running, code: Option<i32>, wave: &PlannedWave) -> TargetResult {
        let ui = self.ctx.ui;
        proc::waited(&r.child);
        for p in r.pumps.drain(..) {
            let _ = p.join();
        }
        let t = &self.ready.targets[r.target];
        let after = plan::check_one(t, &self.ready.local, self.schema_dir);
        let result = finish(self.ctx, t, &wave.name, self.req, &r, code, &after);
        let attempt = self.attempts(&t.id) + 1;
        let line = match result.outcome.as_str() {
            ledger::FAILED => format!("failed after {:.1}s: {}", result.seconds, result.error.as_deref().unwrap_or("")),
            o => format!("{o} in {:.1}s", result.seconds),
        };
        ui.event(&format!("target {}: {line}", t.id));
        self.bars.ended(&t.id);
        self.record(&result, attempt);
        result
    }
}

fn base(t: &FleetTarget, wave: &str, req: &Request, _check: Check) -> TargetResult {
    TargetResult {
        id: t.id.clone(),
        wave: wave.into(),
        outcome: String::new(),
        fingerprint: t.fingerprint.clone(),
        shard: req.shard.map(|s| s.to_string()),
        before: None,
        after: None,
        seconds: 0.0,
        error: None,
        verdict: None,
        backup: None,
        backup_sha256: None,
        next: Vec::new(),
        log: None,
    }
}

fn up_to_date(t: &FleetTarget, wave: &str, req: &Request, c: Option<&Checked>) -> TargetResult {
    let last = c.and_then(|c| c.last_applied.clone());
    TargetResult {
        outcome: ledger::UP_TO_DATE.into(),
        before: last.clone(),
        after: last,
        ..base(t, wave, req, Check::AtHead)
    }
}

fn not_tried(t: &FleetTarget, wave: &str, req: &Request) -> TargetResult {
    TargetResult { outcome: ledger::NOT_TRIED.into(), ..base(t, wave, req, Check::AtHead) }
}

/// This program, to run each target with. When its file was replaced or removed
/// since the fleet started (a rebuild, a package upgrade: Linux then names it
/// `PATH (deleted)`), the running program is still there as `/proc/self/exe`, and
/// running that keeps every target on the version the plan was made with.
fn own_program() -> Result<PathBuf, Failure> {
    let proc_exe = Path::new("/proc/self/exe");
    match std::env::current_exe() {
        Ok(path) if path.is_file() => Ok(path),
        _ if proc_exe.is_file() => Ok(proc_exe.to_path_buf()),
        Ok(path) => Err(Failure::task(format!(
            "this program's file {} is gone, so no target can be started: run the fleet again",
            path.display()
        ))),
        Err(e) => Err(Failure::task(format!("cannot find this program to run a target with: {e}"))),
    }
}

/// Starts one target's pipeline: this binary, the per-target deploy task, the
/// target's URL in the configured variables (never in argv), its own report, its
/// own backup directory, its output to its own log.
fn start(
    ctx: &Ctx,
    state: &Path,
    deploy_task: &str,
    t: &FleetTarget,
    index: usize,
    before: Option<String>,
    attempt: u32,
) -> Result<Running, Failure> {
    let config = ctx.config;
    let exe = own_program()?;
    let report = state.join("reports").join(format!("{}.json", t.id));
    let log = state.join("logs").join(format!("{}.log", t.id));
    let _ = std::fs::remove_file(&report);
    let sh = proc::shell()?;
    sh.change_dir(&config.root);
    sh.set_var(super::TARGET_ENV, &t.id);
    // Every variable of `url_env` gets the target's URL: the first one set wins, and a
    // value from the environment or .env in any of them would point at another database.
    for var in &config.database.url_env {
        sh.set_var(var, &t.url);
    }
    // The direct URL, when the config has one, is this target's too: a value from
    // the environment or .env would point every target at one database.
    if let Some(direct) = &config.database.direct_url_env {
        sh.set_var(direct, &t.url);
    }
    let lock_timeout: Vec<String> =
        ctx.opts.lock_timeout.map(|lt| vec!["--lock-timeout".into(), lt.as_secs().to_string()]).unwrap_or_default();
    let config_path = &config.path;
    let cmd = xshell::cmd!(
        sh,
        "{exe} --config {config_path} --no-progress --color never --report {report} {deploy_task} {lock_timeout...}"
    )
    .env_remove("XTASK_REPORT")
    .env_remove("XTASK_CONFIG")
    .env_remove("GITHUB_STEP_SUMMARY")
    .env_remove("GITHUB_ACTIONS");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| Failure::task(format!("cannot open {}: {e}", log.display())))?;
    let _ = writeln!(
        file,
        "==== {} attempt {attempt} of `{}` ({}) ====",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        t.id,
        t.fingerprint
    );
    let mut child = proc::spawn(cmd.into(), Pipes { stdin: false, stdout: true })?;
    ctx.ui.event(&format!("target {}: started (attempt {attempt})", t.id));
    let mut pumps = Vec::new();
    for pipe in [
        child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
        child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let mut out = file.try_clone().map_err(|e| Failure::task(format!("cannot write {}: {e}", log.display())))?;
        let mut pipe = pipe;
        pumps.push(std::thread::spawn(move || {
            let _ = std::io::copy(&mut pipe, &mut out);
        }));
    }
    Ok(Running { target: index, child, started: Instant::now(), report, log, before, pumps })
}

/// Reads what a finished target's pipeline reported and what its database says now.
fn finish(
    ctx: &Ctx,
    t: &FleetTarget,
    wave: &str,
    req: &Request,
    r: &Running,
    code: Option<i32>,
    after: &Checked,
) -> TargetResult {
    let report: serde_json::Value = std::fs::read_to_string(&r.report)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(serde_json::Value::Null);
    let text = |v: &serde_json::Value| v.as_str().map(|s| ctx.ui.redact(s));
    let mut out = base(t, wave, req, Check::AtHead);
    out.seconds = r.started.elapsed().as_secs_f64();
    out.before = r.before.clone();
    out.after = after.last_applied.clone();
    out.backup = text(&report["backup"]["path"]);
    out.backup_sha256 = text(&report["backup"]["sha256"]);
    out.log = Some(r.log.display().to_string());
    let resolutions: Vec<String> = report["resolutions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    format!("`{}` marked {}", x["migration"].as_str().unwrap_or("?"), x["as"].as_str().unwrap_or("?"))
                })
                .collect()
        })
        .unwrap_or_default();
    let at_head = after.check == Check::AtHead;
    if code == Some(0) && at_head {
        out.outcome = if resolutions.is_empty() { ledger::APPLIED } else { ledger::RECOVERED }.into();
        if !resolutions.is_empty() {
            out.verdict = Some(format!("recovered: {}, then deployed", resolutions.join(", ")));
        }
        return out;
    }
    out.outcome = ledger::FAILED.into();
    let d = &report["diagnosis"];
    let failed_task = report["tasks"]
        .as_array()
        .and_then(|ts| ts.iter().find(|x| x["outcome"] == "failed"))
        .and_then(|x| text(&x["error"]));
    let code_msg = match (text(&d["error_code"]), text(&d["error_message"])) {
        (None, None) => None,
        (c, m) => Some(format!("{} {}", c.unwrap_or_default(), m.unwrap_or_default()).trim().to_string()),
    };
    out.error = code_msg.or(failed_task).or_else(|| match code {
        Some(0) => {
            Some(format!("the pipeline ended well but the target is not at the head ({})", after.check.describe()))
        }
        Some(c) => Some(format!("the pipeline ended with exit status {c}; see {}", r.log.display())),
        None => Some(format!("the pipeline was stopped by a signal; see {}", r.log.display())),
    });
    out.verdict = text(&d["summary"]).or_else(|| {
        let reh = &report["rehearsal"];
        (reh["outcome"] == "failed")
            .then(|| "the rehearsal on a scratch copy failed; the target was not changed".to_string())
    });
    let var = &ctx.config.database.url_env[0];
    let mut next: Vec<String> = d["next_commands"]
        .as_array()
        .map(|a| {
            a.iter().filter_map(text).map(|c| format!("{c}   # with {var} set to the URL of `{}`", t.id)).collect()
        })
        .unwrap_or_default();
    next.push(crate::invocation::cmd(&format!("{} --resume", ctx.task.name)));
    out.next = next;
    out
}
