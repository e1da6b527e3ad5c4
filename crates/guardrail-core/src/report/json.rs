//! The JSON rendering: a documented, stable shape for scripts and bots (docs/outputs.md).
//!
//! `version` is bumped only when a key changes meaning or disappears; new keys may be added.
//! Keys come out in the order of the structs below.

use serde::Serialize;

use super::{ApprovalGate, Evaluation, Finding, Notice, Report, Summary, TargetReport, WaiverRef};

/// The version of the JSON shape.
pub const VERSION: u32 = 1;

/// Options of the JSON rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// One line instead of indented output.
    pub compact: bool,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    version: u32,
    verdict: &'static str,
    exit_code: i32,
    findings: Vec<JsonFinding<'a>>,
    evaluations: Vec<JsonEvaluation<'a>>,
    targets: Vec<JsonTarget<'a>>,
    notices: Vec<JsonNotice<'a>>,
    summary: JsonSummary,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    policy: &'a str,
    rule: &'a str,
    enforcement: &'static str,
    target: &'a str,
    env: &'a str,
    message: &'a str,
    file: Option<&'a str>,
    line: Option<u32>,
    removed_from: Option<JsonPlace<'a>>,
    docs: Option<&'a str>,
    approvals: Option<JsonGate<'a>>,
    error: bool,
    waived: Option<JsonWaiver<'a>>,
}

#[derive(Serialize)]
struct JsonPlace<'a> {
    file: &'a str,
    line: u32,
}

#[derive(Serialize)]
struct JsonGate<'a> {
    count: u32,
    groups: &'a [String],
}

#[derive(Serialize)]
struct JsonWaiver<'a> {
    rule: &'a str,
    target: &'a str,
    reason: &'a str,
    owner: &'a str,
    expires: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonEvaluation<'a> {
    policy: &'a str,
    rule: &'a str,
    enforcement: &'static str,
    target: &'a str,
    env: &'a str,
    outcome: &'static str,
    finding: Option<usize>,
}

#[derive(Serialize)]
struct JsonTarget<'a> {
    name: &'a str,
    kind: &'a str,
    env: &'a str,
    format: &'a str,
    status: &'static str,
    old_file: Option<&'a str>,
    new_file: Option<&'a str>,
    diff: &'a [serde_json::Value],
    unified_diff: &'a str,
    changed_lines: &'a [u32],
}

#[derive(Serialize)]
struct JsonNotice<'a> {
    code: &'a str,
    message: &'a str,
    file: Option<&'a str>,
    line: Option<u32>,
}

#[derive(Serialize)]
struct JsonSummary {
    targets: usize,
    evaluations: usize,
    passed: usize,
    findings: usize,
    mandatory: usize,
    approval: usize,
    advisory: usize,
    waived: usize,
    errored: usize,
    notices: usize,
}

/// Renders the report as JSON, ending with a newline.
pub fn render(report: &Report, opts: &Options) -> String {
    let verdict = report.verdict();
    let doc = JsonReport {
        version: VERSION,
        verdict: verdict.name(),
        exit_code: verdict.exit_code(),
        findings: report.findings.iter().map(finding).collect(),
        evaluations: report
            .evaluations
            .iter()
            .map(|e| evaluation(e, report.findings.len()))
            .collect(),
        targets: report.targets.iter().map(target).collect(),
        notices: report.notices.iter().map(notice).collect(),
        summary: summary(report.summary()),
    };
    let mut out = if opts.compact {
        serde_json::to_string(&doc)
    } else {
        serde_json::to_string_pretty(&doc)
    }
    // Serializing borrowed strings, numbers and already-built JSON values cannot fail.
    .unwrap_or_default();
    out.push('\n');
    out
}

fn finding(f: &Finding) -> JsonFinding<'_> {
    JsonFinding {
        policy: &f.policy,
        rule: &f.rule,
        enforcement: f.enforcement.name(),
        target: &f.target,
        env: &f.env,
        message: &f.message,
        file: f.file.as_deref(),
        line: f.line,
        removed_from: f
            .removed_from
            .as_ref()
            .map(|(file, line)| JsonPlace { file, line: *line }),
        docs: f.docs.as_deref(),
        approvals: f.approvals.as_ref().map(gate),
        error: f.error,
        waived: f.waived.as_ref().map(waiver),
    }
}

fn gate(g: &ApprovalGate) -> JsonGate<'_> {
    JsonGate {
        count: g.count,
        groups: &g.groups,
    }
}

fn waiver(w: &WaiverRef) -> JsonWaiver<'_> {
    JsonWaiver {
        rule: &w.rule,
        target: &w.target,
        reason: &w.reason,
        owner: &w.owner,
        expires: w.expires.as_deref(),
    }
}

fn evaluation(e: &Evaluation, findings: usize) -> JsonEvaluation<'_> {
    JsonEvaluation {
        policy: &e.policy,
        rule: &e.rule,
        enforcement: e.enforcement.name(),
        target: &e.target,
        env: &e.env,
        outcome: e.outcome.name(),
        // An index that points nowhere would send readers off the end of `findings`.
        finding: e.finding.filter(|&i| i < findings),
    }
}

fn target(t: &TargetReport) -> JsonTarget<'_> {
    JsonTarget {
        name: &t.name,
        kind: &t.kind,
        env: &t.env,
        format: &t.format,
        status: t.status.name(),
        old_file: t.old_file.as_deref(),
        new_file: t.new_file.as_deref(),
        diff: &t.diff,
        unified_diff: &t.unified_diff,
        changed_lines: &t.changed_lines,
    }
}

fn notice(n: &Notice) -> JsonNotice<'_> {
    JsonNotice {
        code: &n.code,
        message: &n.message,
        file: n.file.as_deref(),
        line: n.line,
    }
}

fn summary(s: Summary) -> JsonSummary {
    JsonSummary {
        targets: s.targets,
        evaluations: s.evaluations,
        passed: s.passed,
        findings: s.findings,
        mandatory: s.mandatory,
        approval: s.approval,
        advisory: s.advisory,
        waived: s.waived,
        errored: s.errored,
        notices: s.notices,
    }
}
