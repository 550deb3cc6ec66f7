//! `fleet-deploy` and `fleet-report`: the built-in tasks of a fleet (the work is
//! in `fleet`): one plan over many databases, and the merge of shard reports.

use super::{ArgKind, Builtin, BuiltinArg};
use crate::config::BuiltinKind;
use crate::context::Ctx;
use crate::exit::{Exit, Failure};
use crate::fleet::{self, summary, Request};

pub(crate) static FLEET_DEPLOY: Builtin = Builtin {
    kind: BuiltinKind::FleetDeploy,
    about: "Deploy every target of [fleet]: waves with failure budgets, N workers, per-server limits, a ledger to resume from (exit 0 all at head, 4 some failed within budget, 7 a budget was spent and the fleet stopped)",
    example: "{xtask} {task} --dry-run           # the plan: waves, targets by id, what each needs\n         {xtask} {task} --report fleet.json\n         {xtask} {task} --shard 0/4        # one of 4 CI jobs (shards count from 0)\n         {xtask} {task} --resume           # after an interruption",
    args: &[
        BuiltinArg {
            name: "shard",
            help: "Run shard I of N (I from 0, as strategy.job-index and JOB_COMPLETION_INDEX); every target is in exactly one shard, a server's targets in one",
            kind: ArgKind::Option,
        },
        BuiltinArg {
            name: "resume",
            help: "Continue the interrupted plan: targets already at the head (checked against their own _prisma_migrations) are skipped",
            kind: ArgKind::Flag,
        },
        BuiltinArg { name: "wave", help: "Run only this wave of the plan (one CI job per wave)", kind: ArgKind::Option },
    ],
    run: run_deploy,
    describe: describe_deploy,
};

pub(crate) static FLEET_REPORT: Builtin = Builtin {
    kind: BuiltinKind::FleetReport,
    about: "Merge the reports of fleet shards into one (each target once) and print its Markdown summary; with --budget, exit 7 when a wave's failure budget is spent over all the shards (the gate before the next wave)",
    example: "{xtask} {task} shard-*.json --report fleet.json\n         {xtask} {task} --budget early-*.json  # the gate: exit 7 when wave early spent its budget fleet-wide",
    args: &[
        BuiltinArg {
            name: "files",
            help: "The shard reports (written by deploy-fleet --report)",
            kind: ArgKind::Many,
        },
        BuiltinArg {
            name: "budget",
            help: "Check each wave's failure budget ([[fleet.waves]] in tasks.toml) over all the reports together: exit 7 when one is spent (within a wave each shard holds its own)",
            kind: ArgKind::Flag,
        },
    ],
    run: run_report,
    describe: describe_report,
};

fn describe_deploy(ctx: &Ctx) -> Result<Vec<String>, Failure> {
    fleet::describe(ctx, &Request::from_args(ctx)?)
}

fn run_deploy(ctx: &mut Ctx) -> Result<(), Failure> {
    let req = Request::from_args(ctx)?;
    let ready = fleet::prepare(ctx, &req)?;
    let outcome = fleet::run::run(ctx, &req, &ready)?;
    let record = summary::record(
        outcome.results,
        Some(&ready.frozen.migrations_hash),
        req.shard.map(|s| s.to_string()).into_iter().collect(),
        outcome.stopped_in.as_deref(),
    );
    let targets = summary::targets_of(&record);
    let exit = summary::exit_of(&targets);
    let count = |o: &str| targets.iter().filter(|t| t.outcome == o).count();
    let line = format!(
        "{} target(s): {} up to date, {} applied, {} recovered, {} failed, {} not tried",
        targets.len(),
        count(fleet::ledger::UP_TO_DATE),
        count(fleet::ledger::APPLIED),
        count(fleet::ledger::RECOVERED),
        count(fleet::ledger::FAILED),
        count(fleet::ledger::NOT_TRIED)
    );
    ctx.ui.event(&format!("fleet: {line}"));
    let failed: Vec<&str> =
        targets.iter().filter(|t| t.outcome == fleet::ledger::FAILED).map(|t| t.id.as_str()).collect();
    ctx.state.fleet = Some(record);
    let resume = crate::invocation::cmd(&format!("{} --resume", ctx.task.name));
    let why = match exit {
        Exit::Success => return Ok(()),
        Exit::FleetStopped => format!(
            "wave `{}` spent its failure budget, so the fleet stopped ({line})",
            outcome.stopped_in.as_deref().unwrap_or("?")
        ),
        _ => line,
    };
    Err(Failure::new(
        exit,
        format!("{why}; failed: {}: see each target's log and the report, fix, then `{resume}`", failed.join(", ")),
    ))
}

fn files(ctx: &Ctx) -> Vec<std::path::PathBuf> {
    ctx.args.get("files").unwrap_or("").split('\0').filter(|s| !s.is_empty()).map(std::path::PathBuf::from).collect()
}

fn describe_report(ctx: &Ctx) -> Result<Vec<String>, Failure> {
    let files: Vec<String> = files(ctx).iter().map(|p| p.display().to_string()).collect();
    Ok(vec![format!("merge {} into one fleet report and print its summary", files.join(" "))])
}

fn run_report(ctx: &mut Ctx) -> Result<(), Failure> {
    let files = files(ctx);
    if files.is_empty() {
        return Err(Failure::usage("name the shard reports to merge"));
    }
    let paths: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
    let mut record = summary::merge(&paths, &|s| ctx.ui.redact(s))?;
    let spent = if ctx.args.flag("budget") {
        let fleet = ctx.config.fleet.as_ref().ok_or_else(|| {
            Failure::usage("--budget checks the budgets of [[fleet.waves]], and tasks.toml has no [fleet] section")
        })?;
        summary::check_budgets(&mut record, &fleet.waves).map_err(Failure::usage)?
    } else {
        None
    };
    outln!("{}", record.markdown.trim_end());
    let exit = summary::exit_of(&summary::targets_of(&record));
    ctx.state.fleet = Some(record);
    if let Some(why) = spent {
        return Err(Failure::new(
            Exit::FleetStopped,
            format!(
                "{why}: do not start the next wave; see the failed targets above, fix, then re-run the failed shards"
            ),
        ));
    }
    match exit {
        Exit::Success => Ok(()),
        e => Err(Failure::new(e, "the merged fleet report has failed or untried targets (listed above)")),
    }
}
