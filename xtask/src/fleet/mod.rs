//! Fleet deploys: one plan over many databases (a database or a schema per
//! tenant, regional shards), run with N local workers or split into shards over a
//! CI matrix. Each target goes through the single-target pipeline unchanged, as a
//! child process of this binary (its own lock, backup, rehearsal, recovery, audit);
//! this module only plans, schedules, keeps the ledger and reports.
//!
//! `inventory` reads the targets, `check` reads their ledgers (over `wire`, a small
//! PostgreSQL client with `scram`'s password answers, or psql), `plan` forms the waves, `shard`
//! splits the plan, `run` schedules the children, `ledger` remembers each attempt,
//! `summary` builds the report and merges shard reports.

pub(crate) mod check;
pub(crate) mod inventory;
pub(crate) mod ledger;
pub(crate) mod plan;
pub(crate) mod run;
pub(crate) mod scram;
pub(crate) mod shard;
pub(crate) mod summary;
pub(crate) mod wire;

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::context::Ctx;
use crate::exit::Failure;
use crate::migrations;
use inventory::FleetTarget;
use plan::{Frozen, PlannedWave};
use shard::Shard;

/// Where a fleet keeps its plan, ledger, logs and the per-target reports: beside
/// the backups (each target's backups go to `fleet/<id>/` under the backup dir).
pub(crate) fn state_dir(config: &Config) -> PathBuf {
    config.backup.dir.join("fleet")
}

/// The environment variable a child pipeline gets its target id from: its backups
/// and audit log then go to `<backup dir>/fleet/<id>/`, apart from every other target's.
pub(crate) const TARGET_ENV: &str = "XTASK_FLEET_TARGET";

/// The backup directory of one fleet target, when this process runs as one (the
/// id is checked again: it becomes a directory name).
pub(crate) fn target_backup_dir(config: &Config) -> Option<PathBuf> {
    let id = std::env::var(TARGET_ENV).ok().filter(|v| !v.is_empty())?;
    let safe = !id.starts_with(['.', '-'])
        && id.len() <= 100
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    safe.then(|| state_dir(config).join(id))
}

fn plan_file(config: &Config, shard: Option<Shard>) -> PathBuf {
    match shard {
        Some(s) => state_dir(config).join(format!("plan-shard-{}-of-{}.json", s.index, s.total)),
        None => state_dir(config).join("plan.json"),
    }
}

/// What `deploy-fleet` was asked for on the command line.
#[derive(Debug, Clone, Default)]
pub(crate) struct Request {
    pub shard: Option<Shard>,
    pub resume: bool,
    /// Only this wave (a CI job per wave).
    pub wave: Option<String>,
}

impl Request {
    pub(crate) fn from_args(ctx: &Ctx) -> Result<Request, Failure> {
        let shard = shard_from(ctx.args.get("shard"), &|k| std::env::var(k).ok()).map_err(Failure::usage)?;
        Ok(Request { shard, resume: ctx.args.flag("resume"), wave: ctx.args.get("wave").map(String::from) })
    }
}

/// The shard to run: `--shard I/N`, else `XTASK_SHARD=I/N`, else Kubernetes'
/// `JOB_COMPLETION_INDEX` with `XTASK_SHARD_TOTAL=N` (the Job's completions).
fn shard_from(arg: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Shard>, String> {
    let set = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if let Some(a) = arg.filter(|a| !a.is_empty()) {
        return Shard::parse(a).map(Some);
    }
    if let Some(v) = set("XTASK_SHARD") {
        return Shard::parse(&v).map(Some).map_err(|e| format!("XTASK_SHARD={v}: {e}"));
    }
    match (set("JOB_COMPLETION_INDEX"), set("XTASK_SHARD_TOTAL")) {
        (Some(i), Some(n)) => Shard::parse(&format!("{i}/{n}"))
            .map(Some)
            .map_err(|e| format!("JOB_COMPLETION_INDEX={i} with XTASK_SHARD_TOTAL={n}: {e}")),
        _ => Ok(None),
    }
}

/// A plan ready to run: the inventory, the waves, which targets are this shard's.
pub(crate) struct Ready {
    pub targets: Vec<FleetTarget>,
    pub waves: Vec<PlannedWave>,
    pub mine: Vec<bool>,
    pub local: Vec<migrations::Local>,
    pub frozen: Frozen,
    pub plan_path: PathBuf,
}

/// Reads the inventory and the migrations and forms the plan (or thaws the
/// interrupted one with `--resume`). Nothing is run against any target.
pub(crate) fn prepare(ctx: &Ctx, req: &Request) -> Result<Ready, Failure> {
    let config = ctx.config;
    let fleet = config.fleet.as_ref().ok_or_else(|| Failure::usage("tasks.toml has no [fleet] section"))?;
    let local = migrations::read_dir(ctx.db.migrations_dir()?)?;
    let targets = inventory::load(config, ctx.ui)?;
    let plan_path = plan_file(config, req.shard);
    let earlier: Option<Frozen> = std::fs::read_to_string(&plan_path).ok().and_then(|t| serde_json::from_str(&t).ok());
    let waves = match (&earlier, req.resume) {
        (Some(frozen), true) => plan::thaw(frozen, &targets, &fleet.waves).map_err(|why| {
            Failure::usage(format!(
                "cannot resume the plan in {}: {why}; fix the inventory, or remove that file to plan afresh",
                plan_path.display()
            ))
        })?,
        (None, true) => {
            return Err(Failure::usage(format!(
                "nothing to resume: no fleet plan in {} (run `{}` without --resume)",
                plan_path.display(),
                crate::invocation::cmd(&ctx.task.name)
            )))
        }
        (Some(frozen), false) if !frozen.finished && !ctx.opts.dry_run => {
            return Err(Failure::usage(format!(
                "an interrupted fleet run left its plan in {}: continue it with `{} --resume`, or remove that file to plan afresh",
                plan_path.display(),
                crate::invocation::cmd(&ctx.task.name)
            )))
        }
        _ => plan::waves(&targets, &fleet.waves).map_err(Failure::usage)?,
    };
    let mine = match req.shard {
        Some(s) => {
            let ids: Vec<&str> = targets.iter().map(|t| t.id.as_str()).collect();
            let servers: Vec<&str> = targets.iter().map(|t| t.server.as_str()).collect();
            shard::assign(&ids, &servers, s.total).into_iter().map(|k| k == s.index).collect()
        }
        None => vec![true; targets.len()],
    };
    let mut waves = waves;
    if let Some(only) = &req.wave {
        if !waves.iter().any(|w| &w.name == only) {
            let names: Vec<&str> = waves.iter().map(|w| w.name.as_str()).collect();
            return Err(Failure::usage(format!("--wave {only}: no such wave; the waves are {}", names.join(", "))));
        }
        waves.retain(|w| &w.name == only);
    }
    let hash = plan::migrations_hash(&local);
    let frozen = match (&earlier, req.resume) {
        (Some(f), true) => Frozen { finished: false, ..f.clone() },
        _ => plan::freeze(&targets, &waves, &|i| mine[i], &hash, local.last().map(|m| m.name.as_str()), req.shard),
    };
    if frozen.migrations_hash != hash {
        return Err(Failure::usage(format!(
            "the migrations changed since the interrupted plan was made (hash {} then, {hash} now): finish with the files it was made with, or remove {} to plan afresh",
            frozen.migrations_hash,
            plan_path.display()
        )));
    }
    Ok(Ready { targets, waves, mine, local, frozen, plan_path })
}

/// Writes the frozen plan (atomically: a temporary file renamed over it).
pub(crate) fn save_plan(path: &Path, frozen: &Frozen) -> Result<(), Failure> {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.partial");
        std::fs::write(&tmp, serde_json::to_string_pretty(frozen).unwrap_or_default() + "\n")?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| Failure::task(format!("cannot write the fleet plan {}: {e}", path.display())))
}

/// The plan as `--dry-run` prints it: waves, shard, each target by id with its
/// fingerprint and what the read-only check found. Never a URL. A plan that cannot
/// be made fails the dry run as it would fail the real one (same exit status).
pub(crate) fn describe(ctx: &Ctx, req: &Request) -> Result<Vec<String>, Failure> {
    let ready =
        prepare(ctx, req).map_err(|f| Failure::new(f.exit, format!("the plan cannot be made: {}", f.message)))?;
    let fleet = ctx.config.fleet.as_ref().expect("prepare checked [fleet]");
    let indexes: Vec<usize> =
        ready.waves.iter().flat_map(|w| w.targets.iter().copied()).filter(|&i| ready.mine[i]).collect();
    let schema_dir = ctx.config.prisma.schema.as_deref().and_then(|s| s.parent());
    let t0 = std::time::Instant::now();
    let found = plan::check_all(&ready.targets, &indexes, &ready.local, schema_dir, fleet.workers.max(8));
    let how = found.how();
    let checks = found.checked;
    let mut lines = vec![format!(
        "fleet plan: {} target(s){}, migrations {} (head {}), workers {}, per_server {}; checked read-only in {:.2}s {}",
        indexes.len(),
        req.shard.map(|s| format!(" in shard {s} of {} in all", ready.targets.len())).unwrap_or_default(),
        ready.frozen.migrations_hash,
        ready.frozen.head.as_deref().unwrap_or("none"),
        fleet.workers,
        fleet.per_server,
        t0.elapsed().as_secs_f64(),
        how
    )];
    for w in &ready.waves {
        let ids: Vec<usize> = w.targets.iter().copied().filter(|&i| ready.mine[i]).collect();
        lines.push(format!("wave {} ({} target(s), {}):", w.name, ids.len(), w.budget.describe()));
        for i in ids {
            let t = &ready.targets[i];
            let c = checks.get(&i).map(|c| c.check.describe()).unwrap_or_else(|| "not checked".into());
            lines.push(format!("  {} [{}] {c}", t.id, t.fingerprint));
        }
    }
    let starts = checks.values().filter(|c| !matches!(c.check, plan::Check::AtHead)).count();
    lines.push(format!("{starts} target(s) would get the deploy pipeline; the others are at the head"));
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shard_comes_from_the_flag_then_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let none = env(&[]);
        assert_eq!(shard_from(None, &none), Ok(None));
        assert_eq!(shard_from(Some("1/3"), &none), Ok(Some(Shard { index: 1, total: 3 })));
        let gh = env(&[("XTASK_SHARD", "2/4"), ("JOB_COMPLETION_INDEX", "0"), ("XTASK_SHARD_TOTAL", "8")]);
        assert_eq!(shard_from(None, &gh), Ok(Some(Shard { index: 2, total: 4 })));
        assert_eq!(shard_from(Some("0/2"), &gh), Ok(Some(Shard { index: 0, total: 2 })));
        let k8s = env(&[("JOB_COMPLETION_INDEX", "5"), ("XTASK_SHARD_TOTAL", "8")]);
        assert_eq!(shard_from(None, &k8s), Ok(Some(Shard { index: 5, total: 8 })));
        let alone = env(&[("JOB_COMPLETION_INDEX", "5")]);
        assert_eq!(shard_from(None, &alone), Ok(None));
        let wrong = env(&[("JOB_COMPLETION_INDEX", "8"), ("XTASK_SHARD_TOTAL", "8")]);
        assert!(shard_from(None, &wrong).unwrap_err().contains("JOB_COMPLETION_INDEX=8"));
    }
}
