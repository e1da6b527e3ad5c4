//! The result of a check, and its renderings for people and CI tools.
//!
//! Owns the [`Report`] model (verdict, findings, per-rule evaluations, notices) and one module per
//! output format (`text`, `json`, `sarif`, `junit`, `markdown`, `github`). Renderers are pure:
//! report in, string out; the CLI decides where it goes. May depend on `document` and `diff`;
//! must not depend on `policy` internals, `cli` or any IO.

pub mod github;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod sarif;
pub mod text;

use std::fmt;

/// How strongly a rule is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Enforcement {
    /// Warn only.
    Advisory,
    /// Blocks until approvals satisfy the rule's gate.
    Approval,
    /// Blocks; only break-glass passes it. Never waivable by configuration.
    Mandatory,
}

impl Enforcement {
    pub fn name(self) -> &'static str {
        match self {
            Enforcement::Advisory => "advisory",
            Enforcement::Approval => "approval",
            Enforcement::Mandatory => "mandatory",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "advisory" => Some(Enforcement::Advisory),
            "approval" => Some(Enforcement::Approval),
            "mandatory" => Some(Enforcement::Mandatory),
            _ => None,
        }
    }
}

impl fmt::Display for Enforcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The overall decision, worst finding wins: `blocked` > `approval_required` > `warn` > `pass`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    Pass,
    Warn,
    ApprovalRequired,
    Blocked,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::ApprovalRequired => "approval_required",
            Verdict::Blocked => "blocked",
        }
    }

    /// The exit code of `guardrail check`: 0 pass/warn, 1 blocked, 3 approval required.
    /// (2 is bad input, decided before a report exists.)
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Pass | Verdict::Warn => 0,
            Verdict::Blocked => 1,
            Verdict::ApprovalRequired => 3,
        }
    }

    /// The status word people see: `PASS`, `WARN`, `APPROVAL REQUIRED`, `BLOCKED`.
    pub fn headline(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::ApprovalRequired => "APPROVAL REQUIRED",
            Verdict::Blocked => "BLOCKED",
        }
    }

    /// One sentence saying what the verdict means for the change.
    pub fn explanation(self) -> &'static str {
        match self {
            Verdict::Pass => "nothing to act on; the change may proceed",
            Verdict::Warn => "advisory findings only; the change may proceed",
            Verdict::ApprovalRequired => "the change needs approvals before it may be applied",
            Verdict::Blocked => "a mandatory rule failed; only break-glass passes it",
        }
    }

    /// The worst verdict over `findings`, waived ones counting as `pass`.
    pub fn of_findings(findings: &[Finding]) -> Verdict {
        findings
            .iter()
            .map(Finding::verdict)
            .max()
            .unwrap_or(Verdict::Pass)
    }

    /// The verdict a single unwaived failing rule of this enforcement level causes.
    pub fn of_failure(e: Enforcement) -> Verdict {
        match e {
            Enforcement::Advisory => Verdict::Warn,
            Enforcement::Approval => Verdict::ApprovalRequired,
            Enforcement::Mandatory => Verdict::Blocked,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An approval gate carried by a rule: how many approvals, from which groups (any group when empty).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApprovalGate {
    pub count: u32,
    pub groups: Vec<String>,
}

/// A waiver that covered a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaiverRef {
    pub rule: String,
    pub target: String,
    pub reason: String,
    pub owner: String,
    /// RFC 3339 date or date-time, as written.
    pub expires: Option<String>,
}

/// A failed rule on one target: what the user must act on.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub policy: String,
    pub rule: String,
    pub enforcement: Enforcement,
    pub target: String,
    pub env: String,
    /// The rule's message with placeholders filled in. Never contains secrets.
    pub message: String,
    /// The file the finding points at (the new file; the old one for a deleted target).
    pub file: Option<String>,
    /// 1-based line in `file`.
    pub line: Option<u32>,
    /// For a finding about something removed from a target that still exists: where it was in
    /// the old version (file and line). `pipeline::evaluate_target` then points `file`/`line`
    /// at the place in the new file it was removed from, where a pull request can show the
    /// finding (the policy engine alone, without the text diff, leaves them at the old place).
    pub removed_from: Option<(String, u32)>,
    /// The rule's docs link (from the policy file).
    pub docs: Option<String>,
    pub approvals: Option<ApprovalGate>,
    /// The rule errored at run time and counts as failed (fail closed); the message says why.
    pub error: bool,
    /// The waiver that covers this finding; a waived finding does not count toward the verdict.
    pub waived: Option<WaiverRef>,
}

impl Finding {
    /// The verdict this finding causes on its own (`pass` when waived).
    pub fn verdict(&self) -> Verdict {
        if self.waived.is_some() {
            Verdict::Pass
        } else {
            Verdict::of_failure(self.enforcement)
        }
    }
}

/// The outcome of one rule on one target (JUnit writes one testcase per evaluation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// Failed; `Evaluation::finding` indexes [`Report::findings`].
    Failed,
    /// Failed but covered by a waiver.
    Waived,
    /// Errored at run time: counts as failed (fail closed).
    Errored,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Waived => "waived",
            Outcome::Errored => "errored",
        }
    }
}

/// One rule evaluated on one target.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub policy: String,
    pub rule: String,
    pub enforcement: Enforcement,
    pub target: String,
    pub env: String,
    pub outcome: Outcome,
    /// Index into [`Report::findings`] for any outcome but `Passed`.
    pub finding: Option<usize>,
}

/// What happened to a target's file in the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetStatus {
    Created,
    Deleted,
    Modified,
    Unchanged,
}

impl TargetStatus {
    pub fn name(self) -> &'static str {
        match self {
            TargetStatus::Created => "created",
            TargetStatus::Deleted => "deleted",
            TargetStatus::Modified => "modified",
            TargetStatus::Unchanged => "unchanged",
        }
    }
}

/// One checked target: its identity, files, and its redacted diffs.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetReport {
    pub name: String,
    pub kind: String,
    pub env: String,
    pub format: String,
    pub status: TargetStatus,
    pub old_file: Option<String>,
    pub new_file: Option<String>,
    /// Semantic diff entries in their documented JSON shape (`op`, `path`, `old`, `new`,
    /// `old_line`, `new_line`; `old_position`/`new_position` for `moved`; `secret`), secrets
    /// already redacted.
    pub diff: Vec<serde_json::Value>,
    /// Unified text diff of the redacted sources.
    pub unified_diff: String,
    /// New-file lines touched by the change (for SARIF regions and annotations).
    pub changed_lines: Vec<u32>,
}

/// Something the user should know that is not a rule result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Stable code: `waiver.expired`, `waiver.stale`, `file.unclaimed`, ...
    pub code: String,
    pub message: String,
    pub file: Option<String>,
    pub line: Option<u32>,
}

/// The whole result of `guardrail check`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub targets: Vec<TargetReport>,
    pub findings: Vec<Finding>,
    pub evaluations: Vec<Evaluation>,
    pub notices: Vec<Notice>,
}

impl Report {
    /// The worst verdict over all unwaived findings.
    pub fn verdict(&self) -> Verdict {
        Verdict::of_findings(&self.findings)
    }
}

impl Report {
    /// The counts every output format summarises (see [`Summary`]).
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            targets: self.targets.len(),
            evaluations: self.evaluations.len(),
            findings: self.findings.len(),
            notices: self.notices.len(),
            ..Summary::default()
        };
        for e in &self.evaluations {
            if e.outcome == Outcome::Passed {
                s.passed += 1;
            }
        }
        for f in &self.findings {
            if f.waived.is_some() {
                s.waived += 1;
            } else {
                match f.enforcement {
                    Enforcement::Mandatory => s.mandatory += 1,
                    Enforcement::Approval => s.approval += 1,
                    Enforcement::Advisory => s.advisory += 1,
                }
            }
            if f.error {
                s.errored += 1;
            }
        }
        s
    }

    /// The checked target a finding belongs to: same name and environment, else same name.
    pub fn target_of(&self, finding: &Finding) -> Option<&TargetReport> {
        self.targets
            .iter()
            .find(|t| t.name == finding.target && t.env == finding.env)
            .or_else(|| self.targets.iter().find(|t| t.name == finding.target))
    }

    /// Where a finding should be shown in a file, for tools that need a line (SARIF, GitHub
    /// annotations): the finding's file, else its target's new file, else its old file; the
    /// finding's line, else the target's first changed line when the file is the target's new
    /// file, else line 1. `None` when no file is known at all.
    pub fn location_of<'a>(&'a self, finding: &'a Finding) -> Option<(&'a str, u32)> {
        let target = self.target_of(finding);
        let file = finding
            .file
            .as_deref()
            .or_else(|| target.and_then(|t| t.new_file.as_deref().or(t.old_file.as_deref())))?;
        let line = finding.line.filter(|&l| l >= 1).unwrap_or_else(|| {
            target
                .filter(|t| t.new_file.as_deref() == Some(file))
                .and_then(|t| t.changed_lines.iter().copied().find(|&l| l >= 1))
                .unwrap_or(1)
        });
        Some((file, line))
    }

    /// Findings in the order people read them: unwaived before waived, then mandatory,
    /// approval, advisory; ties keep report order. Yields indexes into [`Report::findings`].
    pub fn findings_by_severity(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.findings.len()).collect();
        order.sort_by_key(|&i| {
            let f = &self.findings[i];
            (f.waived.is_some(), std::cmp::Reverse(f.enforcement))
        });
        order
    }
}

/// Counts shown at the end of every rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Checked targets.
    pub targets: usize,
    /// Rules evaluated, summed over targets.
    pub evaluations: usize,
    /// Evaluations that passed.
    pub passed: usize,
    /// All findings, waived or not.
    pub findings: usize,
    /// Unwaived findings per enforcement level (errored ones included).
    pub mandatory: usize,
    pub approval: usize,
    pub advisory: usize,
    /// Findings covered by a waiver.
    pub waived: usize,
    /// Findings whose rule errored at run time, waived or not.
    pub errored: usize,
    pub notices: usize,
}

impl fmt::Display for Summary {
    /// `5 findings (1 mandatory, 1 approval, 1 advisory, 1 waived, 1 errored), 9 rules
    /// evaluated on 2 targets, 2 notices`. Zero counts inside the parentheses are left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", plural(self.findings, "finding", "findings"))?;
        let parts: Vec<String> = [
            (self.mandatory, "mandatory"),
            (self.approval, "approval"),
            (self.advisory, "advisory"),
            (self.waived, "waived"),
            (self.errored, "errored"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if !parts.is_empty() {
            write!(f, " ({})", parts.join(", "))?;
        }
        write!(
            f,
            ", {} evaluated on {}",
            plural(self.evaluations, "rule", "rules"),
            plural(self.targets, "target", "targets")
        )?;
        if self.notices > 0 {
            write!(f, ", {}", plural(self.notices, "notice", "notices"))?;
        }
        Ok(())
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The output formats of `guardrail check --output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Output {
    Text,
    Json,
    Sarif,
    Junit,
    Markdown,
    Github,
}

impl Output {
    pub const ALL: [Output; 6] = [
        Output::Text,
        Output::Json,
        Output::Sarif,
        Output::Junit,
        Output::Markdown,
        Output::Github,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Output::Text => "text",
            Output::Json => "json",
            Output::Sarif => "sarif",
            Output::Junit => "junit",
            Output::Markdown => "markdown",
            Output::Github => "github",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Output::ALL.into_iter().find(|o| o.name() == s)
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the caller knows about where the output goes; each format uses what applies to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RenderOptions {
    /// The output is a terminal: the text format may use colour.
    pub color: bool,
    /// Show the semantic diff entries of each target (text format).
    pub show_diff: bool,
}

/// Renders a report in one output format, with each format's defaults for what `opts` does
/// not cover.
pub fn render(report: &Report, output: Output, opts: &RenderOptions) -> String {
    match output {
        Output::Text => text::render(
            report,
            &text::Options {
                color: opts.color,
                show_diff: opts.show_diff,
            },
        ),
        Output::Json => json::render(report, &json::Options::default()),
        Output::Sarif => sarif::render(report, &sarif::Options::default()),
        Output::Junit => junit::render(report, &junit::Options::default()),
        Output::Markdown => markdown::render(report, &markdown::Options::default()),
        Output::Github => github::render(report, &github::Options::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(e: Enforcement, waived: bool) -> Finding {
        Finding {
            policy: "p".into(),
            rule: "r".into(),
            enforcement: e,
            target: "t".into(),
            env: "production".into(),
            message: "m".into(),
            file: None,
            line: None,
            removed_from: None,
            docs: None,
            approvals: None,
            error: false,
            waived: waived.then(|| WaiverRef {
                rule: "r".into(),
                target: "t".into(),
                reason: "x".into(),
                owner: "o".into(),
                expires: None,
            }),
        }
    }

    #[test]
    fn worst_unwaived_finding_decides() {
        let mut r = Report::default();
        assert_eq!(r.verdict(), Verdict::Pass);
        r.findings.push(finding(Enforcement::Advisory, false));
        assert_eq!(r.verdict(), Verdict::Warn);
        r.findings.push(finding(Enforcement::Mandatory, true));
        assert_eq!(r.verdict(), Verdict::Warn);
        r.findings.push(finding(Enforcement::Approval, false));
        assert_eq!(r.verdict(), Verdict::ApprovalRequired);
        assert_eq!(r.verdict().exit_code(), 3);
        r.findings.push(finding(Enforcement::Mandatory, false));
        assert_eq!(r.verdict().exit_code(), 1);
    }
}
