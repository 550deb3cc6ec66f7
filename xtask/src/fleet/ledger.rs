//! The fleet ledger: one JSON line per target and attempt (outcome, migration
//! before and after, backup and its checksum, verdict, duration), appended with one
//! `write` each so a fleet killed mid-wave keeps every line written before. It is
//! a cache for people and `--resume`: each target's own `_prisma_migrations` is
//! the truth, and `--resume` checks it again before skipping anything.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How one target of the plan ended (also one entry of the report's `targets`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct TargetResult {
    pub id: String,
    pub wave: String,
    /// `up-to-date`, `applied`, `recovered`, `failed` or `not-tried`.
    pub outcome: String,
    pub fingerprint: String,
    #[serde(default)]
    pub shard: Option<String>,
    /// The last migration applied before and after this run.
    #[serde(default)]
    pub before: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub seconds: f64,
    #[serde(default)]
    pub error: Option<String>,
    /// What the pipeline concluded: the recovery's or the diagnosis' one line.
    #[serde(default)]
    pub verdict: Option<String>,
    #[serde(default)]
    pub backup: Option<String>,
    #[serde(default)]
    pub backup_sha256: Option<String>,
    /// What to run next, for a failure.
    #[serde(default)]
    pub next: Vec<String>,
    /// This target's own output (its pipeline's log) and run report.
    #[serde(default)]
    pub log: Option<String>,
}

pub(crate) const UP_TO_DATE: &str = "up-to-date";
pub(crate) const APPLIED: &str = "applied";
pub(crate) const RECOVERED: &str = "recovered";
pub(crate) const FAILED: &str = "failed";
pub(crate) const NOT_TRIED: &str = "not-tried";
pub(crate) const OUTCOMES: [&str; 5] = [UP_TO_DATE, APPLIED, RECOVERED, FAILED, NOT_TRIED];

/// One ledger line: the result with when, which run and which attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Line {
    pub ts: String,
    pub run: String,
    pub migrations_hash: String,
    pub attempt: u32,
    #[serde(flatten)]
    pub result: TargetResult,
}

pub(crate) fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("ledger.jsonl")
}

/// Every line that parses (a torn last line after a crash is skipped).
pub(crate) fn read(state_dir: &Path) -> Vec<Line> {
    std::fs::read_to_string(path(state_dir))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Appends one line (one `write`, then `fsync`).
pub(crate) fn append(state_dir: &Path, line: &Line, redact: &dyn Fn(&str) -> String) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let text = redact(&serde_json::to_string(line).unwrap_or_default()) + "\n";
    let mut f = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path(state_dir))?;
    f.write_all(text.as_bytes())?;
    f.sync_data()
}
