//! The result of a check, and its renderings for people and CI tools.
//!
//! Owns the [`Report`] model (verdict, findings, per-rule evaluations, notices) and one module per
//! output format (`text`, `json`, `sarif`, `junit`, `markdown`, `github`). Renderers are pure:
//! report in, string out; the CLI decides where it goes. May depend on `document` and `diff`;
//! must not depend on `policy` internals, `cli` or any IO.

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
    /// `old_line`, `new_line`), secrets already redacted.
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
        self.findings
            .iter()
            .map(Finding::verdict)
            .max()
            .unwrap_or(Verdict::Pass)
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
