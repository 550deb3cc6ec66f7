//! `[fleet]`: where the inventory of a fleet deploy comes from, how many targets
//! run at once (in all and per server), and the ordered waves with their failure
//! budgets. Only the shape is checked here; the inventory itself is read when a
//! fleet task runs (`fleet::inventory`), with errors naming its own file and line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Source};

/// Where the targets come from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Inventory {
    /// A JSONL file, one target a line.
    File(PathBuf),
    /// A command (argv, no shell) printing JSONL on stdout; runs in the tasks.toml directory.
    Command(Vec<String>),
    /// A SQL query against a catalog database whose URL is in `catalog_url_env`;
    /// each row is a target, its columns named like the JSONL keys.
    Query { sql: String, catalog_url_env: String },
}

/// How a wave picks its targets from those left by the waves before it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Selector {
    /// Every target whose labels include all of these.
    Labels(BTreeMap<String, String>),
    /// This many of the targets left, in a stable order.
    Count(u32),
    /// This share (0-100) of the targets left, rounded up, at least one.
    Percent(f64),
    /// Every target left.
    Rest,
}

/// How many failures a wave tolerates before the fleet stops starting targets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Budget {
    Failures(u32),
    /// A share (0-1) of the wave's targets.
    Ratio(f64),
}

impl Budget {
    /// Whether `failed` failures out of `size` targets spend the budget.
    pub(crate) fn spent(self, failed: usize, size: usize) -> bool {
        match self {
            Budget::Failures(n) => failed > n as usize,
            Budget::Ratio(r) => failed as f64 > r * size as f64,
        }
    }

    pub(crate) fn describe(self) -> String {
        match self {
            Budget::Failures(n) => format!("max_failures = {n}"),
            Budget::Ratio(r) => format!("max_failure_ratio = {r}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Wave {
    pub name: String,
    pub selector: Selector,
    pub budget: Budget,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fleet {
    pub inventory: Inventory,
    pub workers: usize,
    pub per_server: usize,
    /// In order; never empty (without `[[fleet.waves]]`: one wave of every target,
    /// stopping at the first failure).
    pub waves: Vec<Wave>,
    /// The per-target task (a `prisma-deploy` task, with its deps and policy).
    pub deploy_task: Option<String>,
    /// Byte offset of `[fleet]`, for errors found later.
    pub offset: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFleet {
    targets: Option<Spanned<String>>,
    command: Option<Spanned<Vec<String>>>,
    query: Option<Spanned<String>>,
    catalog_url_env: Option<Spanned<String>>,
    workers: Option<Spanned<u32>>,
    per_server: Option<Spanned<u32>>,
    deploy: Option<Spanned<String>>,
    #[serde(default)]
    waves: Vec<Spanned<RawWave>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWave {
    name: Spanned<String>,
    labels: Option<Spanned<BTreeMap<String, String>>>,
    count: Option<Spanned<u32>>,
    percent: Option<Spanned<f64>>,
    max_failures: Option<Spanned<u32>>,
    max_failure_ratio: Option<Spanned<f64>>,
}

pub(super) fn build(src: &Source, root: &Path, raw: Spanned<RawFleet>) -> Result<Fleet, ConfigError> {
    let offset = raw.span().start;
    let raw = raw.into_inner();
    let inventory = match (raw.targets, raw.command, raw.query) {
        (Some(t), None, None) => {
            if t.get_ref().trim().is_empty() {
                return Err(src.error(t.span().start, "fleet.targets must name a JSONL file".into()));
            }
            if let Some(at) = raw.catalog_url_env {
                return Err(src.error(at.span().start, "fleet.catalog_url_env only goes with fleet.query".into()));
            }
            Inventory::File(super::resolve(root, t.get_ref()))
        }
        (None, Some(c), None) => {
            if c.get_ref().is_empty() || c.get_ref()[0].trim().is_empty() {
                return Err(src.error(c.span().start, "fleet.command must be a non-empty argv array".into()));
            }
            if let Some(at) = raw.catalog_url_env {
                return Err(src.error(at.span().start, "fleet.catalog_url_env only goes with fleet.query".into()));
            }
            Inventory::Command(c.into_inner())
        }
        (None, None, Some(q)) => {
            let Some(env) = raw.catalog_url_env.filter(|e| !e.get_ref().trim().is_empty()) else {
                return Err(src.error(
                    q.span().start,
                    "fleet.query needs catalog_url_env: the environment variable with the catalog database's URL"
                        .into(),
                ));
            };
            Inventory::Query { sql: q.into_inner(), catalog_url_env: env.into_inner() }
        }
        (None, None, None) => {
            return Err(src.error(
                offset,
                "[fleet] needs its targets: `targets = \"FILE.jsonl\"`, `command = [...]`, or `query` with `catalog_url_env`"
                    .into(),
            ))
        }
        (t, c, q) => {
            let second = [t.map(|s| s.span().start), c.map(|s| s.span().start), q.map(|s| s.span().start)]
                .into_iter()
                .flatten()
                .max()
                .unwrap_or(offset);
            return Err(src.error(second, "[fleet] takes one of `targets`, `command` and `query`: keep one".into()));
        }
    };
    let count = |v: Option<Spanned<u32>>, key: &str, default: u32| -> Result<usize, ConfigError> {
        match v {
            Some(n) if *n.get_ref() == 0 => Err(src.error(n.span().start, format!("fleet.{key} must be at least 1"))),
            Some(n) => Ok(n.into_inner() as usize),
            None => Ok(default as usize),
        }
    };
    let workers = count(raw.workers, "workers", 4)?;
    let per_server = count(raw.per_server, "per_server", 2)?;

    let mut waves = Vec::new();
    let mut names = BTreeSet::new();
    let last = raw.waves.len().saturating_sub(1);
    for (i, w) in raw.waves.into_iter().enumerate() {
        waves.push(wave(src, w, i == last, &mut names)?);
    }
    if waves.is_empty() {
        waves.push(Wave { name: "all".into(), selector: Selector::Rest, budget: Budget::Failures(0) });
    }
    let deploy_task = match raw.deploy {
        Some(d) if d.get_ref().trim().is_empty() => {
            return Err(src.error(d.span().start, "fleet.deploy must name a task".into()))
        }
        Some(d) => Some(d.into_inner()),
        None => None,
    };
    Ok(Fleet { inventory, workers, per_server, waves, deploy_task, offset })
}

/// One `[[fleet.waves]]` entry: a unique name, at most one selector (only the
/// last wave may go without), and its failure budget.
fn wave(src: &Source, w: Spanned<RawWave>, is_last: bool, names: &mut BTreeSet<String>) -> Result<Wave, ConfigError> {
    let at = w.span().start;
    let w = w.into_inner();
    let name = w.name.get_ref().clone();
    if !super::valid_task_name(&name) {
        return Err(
            src.error(w.name.span().start, "a wave's name may only contain letters, digits, '-' and '_'".into())
        );
    }
    if !names.insert(name.clone()) {
        return Err(src.error(w.name.span().start, format!("wave `{name}` is named twice: names must differ")));
    }
    let selector = match (w.labels, w.count, w.percent) {
        (None, None, None) => Selector::Rest,
        (Some(l), None, None) => {
            if l.get_ref().is_empty() {
                return Err(src.error(
                    l.span().start,
                    format!("wave `{name}`: labels = {{}} selects nothing: leave it out to take every target left"),
                ));
            }
            Selector::Labels(l.into_inner())
        }
        (None, Some(c), None) => {
            if *c.get_ref() == 0 {
                return Err(src.error(c.span().start, format!("wave `{name}`: count must be at least 1")));
            }
            Selector::Count(c.into_inner())
        }
        (None, None, Some(p)) => {
            let v = *p.get_ref();
            if !(v > 0.0 && v <= 100.0) {
                return Err(src.error(
                    p.span().start,
                    format!("wave `{name}`: percent is a share of the targets left, above 0 and at most 100"),
                ));
            }
            Selector::Percent(v)
        }
        _ => {
            return Err(
                src.error(at, format!("wave `{name}` selects with one of `labels`, `count` and `percent`: keep one"))
            )
        }
    };
    if selector == Selector::Rest && !is_last {
        return Err(src.error(
            at,
            format!("wave `{name}` has no selector, so it takes every target left: only the last wave may"),
        ));
    }
    let budget = match (w.max_failures, w.max_failure_ratio) {
        (Some(_), Some(r)) => {
            return Err(src
                .error(r.span().start, format!("wave `{name}` has both max_failures and max_failure_ratio: keep one")))
        }
        (Some(n), None) => Budget::Failures(n.into_inner()),
        (None, Some(r)) => {
            let v = *r.get_ref();
            if !(0.0..=1.0).contains(&v) {
                return Err(src.error(
                    r.span().start,
                    format!("wave `{name}`: max_failure_ratio is a share from 0 to 1 (0.02 is 2%)"),
                ));
            }
            Budget::Ratio(v)
        }
        (None, None) => Budget::Failures(0),
    };
    Ok(Wave { name, selector, budget })
}

/// A `fleet-deploy` task needs `[fleet]` and one per-target `prisma-deploy` task:
/// the one `fleet.deploy` names, or the only one there is.
pub(super) fn check_tasks(src: &Source, fleet: Option<&Fleet>, tasks: &[super::Task]) -> Result<(), ConfigError> {
    use super::{Action, BuiltinKind};
    let Some(first) = tasks.iter().find(|t| t.action == Action::Uses(BuiltinKind::FleetDeploy)) else {
        return Ok(());
    };
    let at = |t: &super::Task| src.line_starts().get(t.line.saturating_sub(1)).copied().unwrap_or(0);
    let Some(fleet) = fleet else {
        return Err(src.error(
            at(first),
            format!("task `{}` uses fleet-deploy but tasks.toml has no [fleet] section with the targets", first.name),
        ));
    };
    let deploys: Vec<&super::Task> =
        tasks.iter().filter(|t| t.action == Action::Uses(BuiltinKind::PrismaDeploy)).collect();
    match &fleet.deploy_task {
        Some(name) => match tasks.iter().find(|t| &t.name == name) {
            Some(t) if t.action == Action::Uses(BuiltinKind::PrismaDeploy) => Ok(()),
            _ => Err(src.error(
                fleet.offset,
                format!("fleet.deploy names `{name}`, which is not a task with uses = \"prisma-deploy\""),
            )),
        },
        None if deploys.len() == 1 => Ok(()),
        None if deploys.is_empty() => Err(src.error(
            at(first),
            format!(
                "task `{}` runs each target through a task with uses = \"prisma-deploy\" (and its deps, e.g. backup), and there is none: add one",
                first.name
            ),
        )),
        None => Err(src.error(
            fleet.offset,
            "several tasks use prisma-deploy: say which one each target runs with `deploy = \"TASK\"` under [fleet]"
                .into(),
        )),
    }
}

/// The name of the per-target task (checked at load time to exist).
pub(crate) fn deploy_task_name(config: &super::Config) -> Option<String> {
    let fleet = config.fleet.as_ref()?;
    fleet.deploy_task.clone().or_else(|| {
        config
            .tasks
            .iter()
            .find(|t| t.action == super::Action::Uses(super::BuiltinKind::PrismaDeploy))
            .map(|t| t.name.clone())
    })
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{err, parse_str};

    use super::*;

    #[test]
    fn the_issue_example_parses() {
        let c = parse_str(
            r#"
[fleet]
targets = "fleet/targets.jsonl"
workers = 8
per_server = 2

[[fleet.waves]]
name = "canary"
labels = { ring = "canary" }
max_failures = 0
[[fleet.waves]]
name = "ten"
percent = 10
max_failure_ratio = 0.02
[[fleet.waves]]
name = "rest"
max_failures = 2

[tasks.deploy]
uses = "prisma-deploy"
[tasks.deploy-fleet]
uses = "fleet-deploy"
[tasks.fleet-report]
uses = "fleet-report"
"#,
        )
        .unwrap();
        let f = c.fleet.unwrap();
        assert_eq!(f.inventory, Inventory::File("/repo/fleet/targets.jsonl".into()));
        assert_eq!((f.workers, f.per_server), (8, 2));
        assert_eq!(f.waves.len(), 3);
        assert_eq!(f.waves[1].selector, Selector::Percent(10.0));
        assert_eq!(f.waves[1].budget, Budget::Ratio(0.02));
        assert_eq!(f.waves[2].selector, Selector::Rest);
    }

    #[test]
    fn without_waves_one_wave_stops_at_the_first_failure() {
        let f = parse_str("[fleet]\ntargets = \"t.jsonl\"\n").unwrap().fleet.unwrap();
        assert_eq!(f.waves, vec![Wave { name: "all".into(), selector: Selector::Rest, budget: Budget::Failures(0) }]);
        assert!(Budget::Failures(0).spent(1, 10) && !Budget::Failures(1).spent(1, 10));
        assert!(Budget::Ratio(0.1).spent(2, 10) && !Budget::Ratio(0.1).spent(1, 10));
    }

    #[test]
    fn bad_fleet_sections_point_at_the_line() {
        assert!(err("[fleet]\ntargets = \"t\"\nworkerz = 2\n").starts_with("3:1: unknown field `workerz`"));
        assert!(err("[fleet]\nworkers = 2\n").contains("[fleet] needs its targets"));
        assert!(err("[fleet]\ntargets = \"t\"\ncommand = [\"x\"]\n").starts_with("3:11: [fleet] takes one of"));
        assert!(err("[fleet]\nquery = \"select 1\"\n").contains("needs catalog_url_env"));
        assert!(
            err("[fleet]\ntargets = \"t\"\nper_server = 0\n").starts_with("3:14: fleet.per_server must be at least 1")
        );
        let two = "[fleet]\ntargets = \"t\"\n[[fleet.waves]]\nname = \"a\"\ncount = 1\n[[fleet.waves]]\nname = \"a\"\n";
        assert!(err(two).starts_with("7:8: wave `a` is named twice"), "{}", err(two));
        let early_rest = "[fleet]\ntargets = \"t\"\n[[fleet.waves]]\nname = \"a\"\n[[fleet.waves]]\nname = \"b\"\n";
        assert!(err(early_rest).contains("only the last wave may"));
        let both = "[fleet]\ntargets = \"t\"\n[[fleet.waves]]\nname = \"a\"\ncount = 1\npercent = 5.0\n";
        assert!(err(both).contains("keep one"));
        let ratio = "[fleet]\ntargets = \"t\"\n[[fleet.waves]]\nname = \"a\"\nmax_failure_ratio = 2.0\n";
        assert!(err(ratio).starts_with("5:21: wave `a`: max_failure_ratio is a share"));
        let label = "[fleet]\ntargets = \"t\"\n[[fleet.waves]]\nname = \"a\"\nlabels = { ring = 1 }\n";
        assert!(err(label).starts_with("5:19: invalid type: integer"), "{}", err(label));
    }
}
