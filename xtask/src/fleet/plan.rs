//! The plan every fleet run starts with: the targets in their waves (chosen
//! stably), the shard each belongs to, the migrations' hash; the read-only check
//! of each target's `_prisma_migrations` (psql, no Node) is in `check`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::inventory::FleetTarget;
use super::shard;
use crate::config::fleet::{Budget, Selector, Wave};
use crate::migrations::{self, Local};

pub(crate) use super::check::{check_all, check_one, Check, Checked};

/// The hash of the migrations as the plan freezes them: names and checksums, in order.
pub(crate) fn migrations_hash(local: &[Local]) -> String {
    let mut h = Sha256::new();
    for m in local {
        h.update(m.name.as_bytes());
        h.update(b"\0");
        h.update(m.checksum.as_bytes());
        h.update(b"\n");
    }
    migrations::hex(&h.finalize()[..8])
}

/// A wave of the plan: its targets (indexes into the inventory) in run order.
#[derive(Debug, Clone)]
pub(crate) struct PlannedWave {
    pub name: String,
    pub budget: Budget,
    pub targets: Vec<usize>,
}

/// Splits the targets into the waves, in order. Stable: the same inventory gives
/// the same waves whatever order its lines are in. `count` and `percent` take
/// targets in the order of a hash of their id, which spreads them over servers
/// and does not depend on the ids' alphabet. Every target must land in a wave.
pub(crate) fn waves(targets: &[FleetTarget], waves: &[Wave]) -> Result<Vec<PlannedWave>, String> {
    let mut left: Vec<usize> = (0..targets.len()).collect();
    left.sort_by_cached_key(|&i| stable_key(&targets[i].id));
    let mut out = Vec::new();
    for w in waves {
        let (mut taken, rest): (Vec<usize>, Vec<usize>) = match &w.selector {
            Selector::Rest => (std::mem::take(&mut left), Vec::new()),
            Selector::Labels(want) => {
                left.iter().partition(|&&i| want.iter().all(|(k, v)| targets[i].labels.get(k) == Some(v)))
            }
            Selector::Count(n) => {
                let n = (*n as usize).min(left.len());
                (left[..n].to_vec(), left[n..].to_vec())
            }
            Selector::Percent(p) => {
                let n =
                    ((left.len() as f64 * p / 100.0).ceil() as usize).clamp(usize::from(!left.is_empty()), left.len());
                (left[..n].to_vec(), left[n..].to_vec())
            }
        };
        left = rest;
        // Within a wave, the order runs by id (what people read in the plan).
        taken.sort_by(|&a, &b| targets[a].id.cmp(&targets[b].id));
        out.push(PlannedWave { name: w.name.clone(), budget: w.budget, targets: taken });
    }
    if let Some(&first) = left.first() {
        return Err(format!(
            "{} target(s) are in no wave (e.g. `{}`): end [[fleet.waves]] with a wave without a selector (it takes every target left)",
            left.len(),
            targets[first].id
        ));
    }
    Ok(out)
}

fn stable_key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// The frozen plan, as written to the state directory and printed by `--dry-run`
/// (ids and fingerprints: never a URL).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Frozen {
    pub format: String,
    pub version: u32,
    pub migrations_hash: String,
    pub head: Option<String>,
    /// `I/N` when this plan is one shard of a larger one.
    pub shard: Option<String>,
    pub waves: Vec<FrozenWave>,
    /// Whether the run of this plan ended (false after an interruption).
    pub finished: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct FrozenWave {
    pub name: String,
    pub budget: String,
    pub targets: Vec<FrozenTarget>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct FrozenTarget {
    pub id: String,
    pub fingerprint: String,
}

pub(crate) const PLAN_FORMAT: &str = "xtask-fleet-plan";

/// The frozen form of the waves (only the targets of `mine`, this shard's).
pub(crate) fn freeze(
    targets: &[FleetTarget],
    waves: &[PlannedWave],
    mine: &dyn Fn(usize) -> bool,
    hash: &str,
    head: Option<&str>,
    shard: Option<shard::Shard>,
) -> Frozen {
    Frozen {
        format: PLAN_FORMAT.into(),
        version: 1,
        migrations_hash: hash.into(),
        head: head.map(String::from),
        shard: shard.map(|s| s.to_string()),
        waves: waves
            .iter()
            .map(|w| FrozenWave {
                name: w.name.clone(),
                budget: w.budget.describe(),
                targets: w
                    .targets
                    .iter()
                    .filter(|&&i| mine(i))
                    .map(|&i| FrozenTarget { id: targets[i].id.clone(), fingerprint: targets[i].fingerprint.clone() })
                    .collect(),
            })
            .collect(),
        finished: false,
    }
}

/// Rebuilds the waves of a frozen plan against the inventory read now: every id
/// must still be there with the same fingerprint (the same database).
pub(crate) fn thaw(frozen: &Frozen, targets: &[FleetTarget], waves: &[Wave]) -> Result<Vec<PlannedWave>, String> {
    let by_id: BTreeMap<&str, usize> = targets.iter().enumerate().map(|(i, t)| (t.id.as_str(), i)).collect();
    let mut out = Vec::new();
    for fw in &frozen.waves {
        let budget =
            waves.iter().find(|w| w.name == fw.name).map(|w| w.budget).ok_or_else(|| {
                format!("the interrupted plan has wave `{}`, which tasks.toml no longer has", fw.name)
            })?;
        let mut idx = Vec::new();
        for ft in &fw.targets {
            let &i = by_id
                .get(ft.id.as_str())
                .ok_or_else(|| format!("target `{}` of the interrupted plan is no longer in the inventory", ft.id))?;
            if targets[i].fingerprint != ft.fingerprint {
                return Err(format!(
                    "target `{}` points at another database than when the plan was made (fingerprint {} then, {} now)",
                    ft.id, ft.fingerprint, targets[i].fingerprint
                ));
            }
            idx.push(i);
        }
        out.push(PlannedWave { name: fw.name.clone(), budget, targets: idx });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::fleet::{Budget, Selector, Wave};

    fn t(id: &str, ring: Option<&str>) -> FleetTarget {
        FleetTarget {
            id: id.into(),
            labels: ring.map(|r| [("ring".to_string(), r.to_string())].into()).unwrap_or_default(),
            url: String::new(),
            server: "h:5432".into(),
            database: format!("h:5432/{id}"),
            fingerprint: format!("fp-{id}"),
        }
    }

    fn w(name: &str, selector: Selector) -> Wave {
        Wave { name: name.into(), selector, budget: Budget::Failures(0) }
    }

    #[test]
    fn waves_are_stable_and_cover_every_target_once() {
        let targets: Vec<FleetTarget> =
            (0..40).map(|i| t(&format!("t{i:02}"), (i % 13 == 0).then_some("canary"))).collect();
        let spec = [
            w("canary", Selector::Labels([("ring".into(), "canary".into())].into())),
            w("two", Selector::Count(2)),
            w("ten", Selector::Percent(10.0)),
            w("rest", Selector::Rest),
        ];
        let a = waves(&targets, &spec).unwrap();
        let sizes: Vec<usize> = a.iter().map(|w| w.targets.len()).collect();
        assert_eq!(sizes, [4, 2, 4, 30]);
        let mut reversed = targets.clone();
        reversed.reverse();
        let b = waves(&reversed, &spec).unwrap();
        for (x, y) in a.iter().zip(&b) {
            let ids =
                |w: &PlannedWave, ts: &[FleetTarget]| w.targets.iter().map(|&i| ts[i].id.clone()).collect::<Vec<_>>();
            assert_eq!(ids(x, &targets), ids(y, &reversed));
        }
        let mut all: Vec<usize> = a.iter().flat_map(|w| w.targets.clone()).collect();
        all.sort();
        assert_eq!(all, (0..40).collect::<Vec<_>>());
    }

    #[test]
    fn targets_in_no_wave_are_an_error() {
        let targets = vec![t("a", Some("canary")), t("b", None)];
        let e = waves(&targets, &[w("canary", Selector::Labels([("ring".into(), "canary".into())].into()))]);
        assert!(e.unwrap_err().contains("1 target(s) are in no wave (e.g. `b`)"));
    }
}
