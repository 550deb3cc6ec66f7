//! Reports of a run for machines and for CI pages: the versioned JSON report
//! (`--report FILE`, `--json`) and the GitHub Actions step summary in Markdown.
//! The JSON shape is documented in the README ("JSON report, version 1").

use serde::Serialize;

use crate::context::{BackupRecord, Diagnosis, PrismaCall, RehearsalRecord, Resolution, RunResult, TaskRecord};
use crate::exit::Exit;

/// Bumped on any incompatible change of the JSON shape.
pub(crate) const VERSION: u32 = 1;

#[derive(Serialize)]
pub(crate) struct Report<'a> {
    pub format: &'static str,
    pub version: u32,
    pub target: &'a str,
    pub started_at: String,
    pub seconds: f64,
    pub outcome: &'static str,
    pub exit_code: u8,
    pub exit: Exit,
    pub tasks: &'a [TaskRecord],
    pub backup: Option<&'a BackupRecord>,
    pub prisma_calls: &'a [PrismaCall],
    pub resolutions: &'a [Resolution],
    pub diagnosis: Option<&'a Diagnosis>,
    /// Added within version 1: absent when the run had no deploy rehearsal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rehearsal: Option<&'a RehearsalRecord>,
    /// Added within version 1: a fleet run's summary and its targets (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<&'a serde_json::Value>,
}

pub(crate) fn build(r: &RunResult) -> Report<'_> {
    Report {
        format: "xtask-run-report",
        version: VERSION,
        target: &r.target,
        started_at: r.started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        seconds: r.seconds,
        outcome: if r.exit == Exit::Success { "success" } else { "failed" },
        exit_code: r.exit.code(),
        exit: r.exit,
        tasks: &r.state.tasks,
        backup: r.state.backup.as_ref(),
        prisma_calls: &r.state.prisma_calls,
        resolutions: &r.state.resolutions,
        diagnosis: r.state.diagnosis.as_ref(),
        rehearsal: r.state.rehearsal.as_ref(),
        fleet: r.state.fleet.as_ref().map(|f| &f.fleet),
        targets: r.state.fleet.as_ref().map(|f| &f.targets),
    }
}

/// The report as pretty JSON, secrets masked.
pub(crate) fn json(r: &RunResult, redact: &dyn Fn(&str) -> String) -> String {
    let text = serde_json::to_string_pretty(&build(r)).unwrap_or_else(|_| "{}".into());
    redact(&text)
}

/// The Markdown step summary for GitHub Actions.
pub(crate) fn markdown(r: &RunResult, redact: &dyn Fn(&str) -> String) -> String {
    let mut md = String::new();
    let icon = if r.exit == Exit::Success { "✅" } else { "❌" };
    md.push_str(&format!(
        "## {icon} `{}`: {}\n\n",
        crate::invocation::cmd(&r.target),
        if r.exit == Exit::Success { "succeeded" } else { "failed" }
    ));
    md.push_str("| task | outcome | duration |\n| --- | --- | --- |\n");
    for t in &r.state.tasks {
        md.push_str(&format!("| {} | {} | {:.2}s |\n", t.name, t.outcome, t.seconds));
    }
    md.push('\n');
    if let Some(b) = &r.state.backup {
        md.push_str(&format!(
            "**Backup:** `{}` ({}, sha256 `{}`)\n\n",
            b.path,
            crate::ui::human_bytes(b.bytes),
            b.sha256
        ));
    }
    if let Some(h) = &r.state.rehearsal {
        md.push_str(&format!(
            "**Rehearsal** ({}): {}{} in {:.2}s{}{}\n\n",
            h.mode,
            h.outcome,
            h.database.as_ref().map(|d| format!(" on `{d}`")).unwrap_or_default(),
            h.seconds,
            h.failed
                .as_ref()
                .map(|m| format!("; `{m}` failed on the copy, production was not changed"))
                .unwrap_or_default(),
            h.note.as_ref().map(|n| format!(" ({n})")).unwrap_or_default(),
        ));
    }
    for res in &r.state.resolutions {
        md.push_str(&format!("**Resolved:** `{}` as {} — {}\n\n", res.migration, res.as_, res.reason));
    }
    if let Some(d) = &r.state.diagnosis {
        md.push_str(&format!("**Diagnosis:** {}\n\n", d.summary));
        if let Some(m) = &d.migration {
            md.push_str(&format!("- migration: `{m}`\n"));
        }
        if let Some(s) = &d.started_at {
            md.push_str(&format!("- started: {s}\n"));
        }
        if d.error_code.is_some() || d.error_message.is_some() {
            md.push_str(&format!(
                "- error: {} {}\n",
                d.error_code.as_deref().unwrap_or(""),
                d.error_message.as_deref().unwrap_or("")
            ));
        }
        if !d.next_commands.is_empty() {
            md.push_str("\nNext:\n\n```text\n");
            for c in &d.next_commands {
                md.push_str(c);
                md.push('\n');
            }
            md.push_str("```\n");
        }
    }
    if let Some(f) = &r.state.fleet {
        md.push_str(&f.markdown);
    }
    redact(&md)
}
