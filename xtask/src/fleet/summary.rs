//! The fleet's part of a run report (`fleet` and `targets`, described by
//! docs/fleet-report-v1.schema.json), its Markdown summary, and the merge of shard
//! reports into one (`fleet-report`).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use super::ledger::{self, TargetResult};
use crate::config::fleet::Wave;
use crate::context::FleetRecord;
use crate::exit::{Exit, Failure};

pub(crate) const FORMAT: &str = "xtask-fleet";
pub(crate) const VERSION: u32 = 1;

/// The exit status of a fleet from its targets: 7 when a spent budget left
/// targets untried, 4 when some failed, 0 when all are at the head.
pub(crate) fn exit_of(targets: &[TargetResult]) -> Exit {
    if targets.iter().any(|t| t.outcome == ledger::NOT_TRIED) {
        Exit::FleetStopped
    } else if targets.iter().any(|t| t.outcome == ledger::FAILED) {
        Exit::MigrationFailed
    } else {
        Exit::Success
    }
}

/// The targets of a record made by [`record`] (or [`merge`]), read back.
pub(crate) fn targets_of(record: &FleetRecord) -> Vec<TargetResult> {
    serde_json::from_value(record.targets.clone()).unwrap_or_default()
}

/// The report parts of a fleet run or a merge.
pub(crate) fn record(
    targets: Vec<TargetResult>,
    migrations_hash: Option<&str>,
    shards: Vec<String>,
    stopped_in: Option<&str>,
) -> FleetRecord {
    let mut waves: Vec<(String, BTreeMap<&str, usize>)> = Vec::new();
    for t in &targets {
        let at = match waves.iter().position(|(w, _)| *w == t.wave) {
            Some(i) => i,
            None => {
                waves.push((t.wave.clone(), ledger::OUTCOMES.iter().map(|o| (*o, 0)).collect()));
                waves.len() - 1
            }
        };
        if let Some(n) = waves[at].1.get_mut(t.outcome.as_str()) {
            *n += 1;
        }
    }
    let counts: BTreeMap<&str, usize> =
        ledger::OUTCOMES.iter().map(|o| (*o, targets.iter().filter(|t| t.outcome == *o).count())).collect();
    let exit = exit_of(&targets);
    let fleet = json!({
        "format": FORMAT,
        "version": VERSION,
        "migrations_hash": migrations_hash,
        "shards": shards,
        "stopped_in_wave": stopped_in,
        "exit_code": exit.code(),
        "counts": counts,
        "waves": waves.iter().map(|(w, c)| json!({"name": w, "counts": c})).collect::<Vec<_>>(),
    });
    let markdown = markdown(&fleet, &targets);
    FleetRecord { fleet, targets: serde_json::to_value(&targets).unwrap_or(Value::Null), markdown }
}

fn markdown(fleet: &Value, targets: &[TargetResult]) -> String {
    let mut md = String::from("## Fleet deploy\n\n");
    md.push_str(
        "| wave | up-to-date | applied | recovered | failed | not-tried |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for w in fleet["waves"].as_array().into_iter().flatten() {
        let c = &w["counts"];
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            w["name"].as_str().unwrap_or(""),
            c[ledger::UP_TO_DATE],
            c[ledger::APPLIED],
            c[ledger::RECOVERED],
            c[ledger::FAILED],
            c[ledger::NOT_TRIED]
        ));
    }
    if let Some(w) = fleet["stopped_in_wave"].as_str() {
        md.push_str(&format!(
            "\n**Stopped:** the failure budget of wave `{w}` was spent; later targets were not tried.\n"
        ));
    }
    let failed: Vec<&TargetResult> = targets.iter().filter(|t| t.outcome == ledger::FAILED).collect();
    if !failed.is_empty() {
        md.push_str("\n### Failed targets\n\n");
        for t in failed {
            md.push_str(&format!(
                "- **{}** (wave `{}`): {}\n",
                t.id,
                t.wave,
                t.error.as_deref().unwrap_or("no error recorded")
            ));
            if let Some(v) = &t.verdict {
                md.push_str(&format!("  - verdict: {v}\n"));
            }
            md.push_str(&format!(
                "  - backup: {}\n",
                t.backup.as_deref().map(|b| format!("`{b}`")).unwrap_or("none taken".into())
            ));
            for n in &t.next {
                md.push_str(&format!("  - next: `{n}`\n"));
            }
        }
    }
    md.push('\n');
    md
}

/// Merges shard reports (each a run report with `fleet` and `targets`) into one:
/// every target once. A target in two reports is an error, unless one of them
/// never tried it (a re-run leg replaces a stopped one).
pub(crate) fn merge(files: &[&Path], redact: &dyn Fn(&str) -> String) -> Result<FleetRecord, Failure> {
    let mut by_id: BTreeMap<String, (TargetResult, String)> = BTreeMap::new();
    let mut hash: Option<String> = None;
    let mut shards = Vec::new();
    let mut stopped: Option<String> = None;
    for f in files {
        let shown = f.display().to_string();
        let text =
            std::fs::read_to_string(f).map_err(|e| Failure::usage(format!("cannot read the report {shown}: {e}")))?;
        let v: Value =
            serde_json::from_str(&text).map_err(|e| Failure::usage(format!("{shown} is not a JSON report: {e}")))?;
        if v["fleet"]["format"] != FORMAT {
            return Err(Failure::usage(format!(
                "{shown} is not a fleet report (no `fleet` part): pass the files written by `deploy-fleet --report FILE`"
            )));
        }
        if v["fleet"]["version"].as_u64() != Some(VERSION as u64) {
            return Err(Failure::usage(format!(
                "{shown}: fleet report version {} is not {VERSION}",
                v["fleet"]["version"]
            )));
        }
        match (&hash, v["fleet"]["migrations_hash"].as_str()) {
            (Some(h), Some(this)) if h != this => {
                return Err(Failure::usage(format!(
                    "{shown} is from a plan with other migrations (hash {this}, not {h}): merge reports of one plan"
                )))
            }
            (None, Some(this)) => hash = Some(this.to_string()),
            _ => {}
        }
        for s in v["fleet"]["shards"].as_array().into_iter().flatten().filter_map(|s| s.as_str()) {
            shards.push(s.to_string());
        }
        if stopped.is_none() {
            stopped = v["fleet"]["stopped_in_wave"].as_str().map(String::from);
        }
        let targets: Vec<TargetResult> = serde_json::from_value(v["targets"].clone())
            .map_err(|e| Failure::usage(format!("{shown}: its `targets` do not read: {e}")))?;
        for t in targets {
            match by_id.get(&t.id) {
                Some((old, from)) if old.outcome != ledger::NOT_TRIED && t.outcome != ledger::NOT_TRIED => {
                    return Err(Failure::usage(format!(
                        "target `{}` is in {from} and in {shown}: merge each shard's report once",
                        t.id
                    )))
                }
                Some((old, _)) if t.outcome == ledger::NOT_TRIED && old.outcome != ledger::NOT_TRIED => {}
                _ => {
                    by_id.insert(t.id.clone(), (t, shown.clone()));
                }
            }
        }
    }
    shards.sort();
    shards.dedup();
    let mut targets: Vec<TargetResult> = by_id.into_values().map(|(t, _)| t).collect();
    for t in &mut targets {
        t.error = t.error.as_deref().map(redact);
    }
    let stopped = if targets.iter().any(|t| t.outcome == ledger::NOT_TRIED) { stopped } else { None };
    Ok(record(targets, hash.as_deref(), shards, stopped.as_deref()))
}

/// Each wave's failure budget checked over all the merged reports
/// (`fleet-report --budget`): within a wave every shard holds its budget on its
/// own (shards never talk to each other), so between waves the merge of the
/// wave's shard reports is where the budget holds fleet-wide. A wave whose
/// failures over all shards spend its budget (a ratio counts the targets in the
/// reports) marks the merged report stopped in that wave (exit 7) and comes back
/// as the reason; a wave tasks.toml does not have is an error.
pub(crate) fn check_budgets(record: &mut FleetRecord, waves: &[Wave]) -> Result<Option<String>, String> {
    let targets = targets_of(record);
    let mut order: Vec<&str> = Vec::new();
    for t in &targets {
        if !order.contains(&t.wave.as_str()) {
            order.push(&t.wave);
        }
    }
    for name in order {
        let wave = waves.iter().find(|w| w.name == name).ok_or_else(|| {
            let names: Vec<&str> = waves.iter().map(|w| w.name.as_str()).collect();
            format!(
                "the reports have wave `{name}`, which [[fleet.waves]] in tasks.toml does not (it has {}): check the budgets with the tasks.toml the fleet ran with",
                names.join(", ")
            )
        })?;
        let size = targets.iter().filter(|t| t.wave == name).count();
        let failed = targets.iter().filter(|t| t.wave == name && t.outcome == ledger::FAILED).count();
        if wave.budget.spent(failed, size) {
            let why = format!(
                "wave `{name}` spent its failure budget over all shards ({failed} failed of {size}, {})",
                wave.budget.describe()
            );
            record.fleet["stopped_in_wave"] = json!(name);
            record.fleet["exit_code"] = json!(Exit::FleetStopped.code());
            record.markdown = format!("{}**Stopped:** {why}: the next wave must not start.\n\n", record.markdown);
            return Ok(Some(why));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::fleet::{Budget, Selector};

    fn result(id: &str, wave: &str, outcome: &str) -> TargetResult {
        serde_json::from_value(json!({"id": id, "wave": wave, "outcome": outcome, "fingerprint": "f"})).unwrap()
    }

    fn wave(name: &str, budget: Budget) -> Wave {
        Wave { name: name.into(), selector: Selector::Rest, budget }
    }

    #[test]
    fn budgets_hold_over_all_shards() {
        // Two shards of wave `early`, each within its own max_failures = 1.
        let targets = vec![
            result("a", "canary", ledger::APPLIED),
            result("b", "early", ledger::FAILED),
            result("c", "early", ledger::APPLIED),
            result("d", "early", ledger::FAILED),
            result("e", "early", ledger::APPLIED),
        ];
        let waves = [wave("canary", Budget::Failures(0)), wave("early", Budget::Failures(1))];
        let mut r = record(targets.clone(), Some("h"), vec!["0/2".into(), "1/2".into()], None);
        assert_eq!(r.fleet["exit_code"], 4);
        let why = check_budgets(&mut r, &waves).unwrap().expect("spent over both shards");
        assert_eq!(why, "wave `early` spent its failure budget over all shards (2 failed of 4, max_failures = 1)");
        assert_eq!((r.fleet["exit_code"].clone(), r.fleet["stopped_in_wave"].clone()), (json!(7), json!("early")));
        assert!(r.markdown.contains("**Stopped:** wave `early`"), "{}", r.markdown);

        let within = [wave("canary", Budget::Failures(0)), wave("early", Budget::Ratio(0.5))];
        let mut r = record(targets.clone(), Some("h"), vec![], None);
        assert_eq!(check_budgets(&mut r, &within), Ok(None));
        assert_eq!(r.fleet["exit_code"], 4);

        let unknown = [wave("early", Budget::Failures(5))];
        let e = check_budgets(&mut record(targets, Some("h"), vec![], None), &unknown).unwrap_err();
        assert!(e.contains("wave `canary`"), "{e}");
    }
}
