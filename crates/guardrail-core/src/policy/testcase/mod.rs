//! Policy test cases: the pure core of `guardrail policy test`.
//!
//! Test files are named `*.test.yaml` (or `*.test.yml`) and live beside the policies (any
//! directory the policy loader reads); [`is_test_file`] tells them apart from policy files. Each
//! holds `cases:`, each case an old/new pair (inline text or files), the target it stands for,
//! and the expected result per rule and overall (format in `docs/policies.md`).
//!
//! The core never reads files or parses configs itself: the caller passes a parser callback
//! (`Format` and text to `Document`) and a file reader callback that receives the path as
//! written in the test file (the caller resolves it relative to the test file's directory).
//!
//! This module holds the model of a test file and its results; [`load`] reads a test file into
//! it and [`run`] runs its cases.

mod load;
mod run;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::eval::{ChangeInfo, ParamOverrides, TargetInfo};
use super::waiver::Waivers;
use super::{PolicyDiagnostic, PolicySet};
use crate::document::{Diagnostic, Format};
use crate::report::{ApprovalGate, Report, Verdict};

pub use run::{run_case, run_file};

/// True for test-case files (`*.test.yaml`, `*.test.yml`), which policy loading must skip.
pub fn is_test_file(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".test.yaml") || lower.ends_with(".test.yml")
}

/// `now` when a case gives none: the Unix epoch, so every waiver with an expiry is active.
pub const DEFAULT_NOW: &str = "1970-01-01T00:00:00Z";

/// Where a document's text comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Inline(String),
    /// A path as written in the test file, for the caller's reader to resolve.
    File(String),
}

/// Another target of the case's environment.
#[derive(Debug, Clone)]
pub struct InventorySpec {
    pub target: TargetInfo,
    pub format: Format,
    pub source: Option<Source>,
}

/// The expected result of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    Pass,
    Fail,
    Error,
    Waived,
    /// Skipped by its `when`, or its policy does not match the target.
    Skip,
}

impl Expected {
    pub fn name(self) -> &'static str {
        match self {
            Expected::Pass => "pass",
            Expected::Fail => "fail",
            Expected::Error => "error",
            Expected::Waived => "waived",
            Expected::Skip => "skip",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "pass" => Expected::Pass,
            "fail" => Expected::Fail,
            "error" => Expected::Error,
            "waived" => Expected::Waived,
            "skip" => Expected::Skip,
            _ => return None,
        })
    }
}

/// What a case expects.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// `<policy>/<rule>` to the expected result.
    pub rules: BTreeMap<String, Expected>,
    pub verdict: Option<Verdict>,
    /// `<policy>/<rule>` to substrings some finding's message of that rule must contain.
    pub message_contains: BTreeMap<String, Vec<String>>,
    /// `<policy>/<rule>` to the exact set of lines its findings point at.
    pub lines: BTreeMap<String, Vec<u32>>,
    /// `<policy>/<rule>` to the approval gate every finding of that rule carries (`target.owners`
    /// expanded).
    pub approvals: BTreeMap<String, ApprovalGate>,
}

/// One test case.
#[derive(Debug, Clone)]
pub struct TestCase {
    pub name: String,
    /// The line of the case in its file.
    pub line: u32,
    pub target: TargetInfo,
    pub format: Format,
    pub old: Option<Source>,
    pub new: Option<Source>,
    pub change: ChangeInfo,
    pub inventory: Vec<InventorySpec>,
    pub params: ParamOverrides,
    /// The line of each policy's entry in `params`.
    pub params_lines: BTreeMap<String, u32>,
    pub waivers: Waivers,
    pub now: DateTime<Utc>,
    pub expect: Expect,
}

/// The cases of one test file.
#[derive(Debug, Clone, Default)]
pub struct TestFile {
    pub file: String,
    pub cases: Vec<TestCase>,
}

impl TestFile {
    /// Checks the cases against the loaded policies: `params` naming a policy or a param that
    /// does not exist, and waivers of rules that do not exist, are errors naming the nearest
    /// valid name (the case would otherwise test the defaults, or waive nothing, silently).
    pub fn lint(&self, policies: &PolicySet) -> Vec<PolicyDiagnostic> {
        let mut diags = Vec::new();
        for case in &self.cases {
            for p in policies.check_overrides(&case.params) {
                let line = case
                    .params_lines
                    .get(&p.policy)
                    .copied()
                    .unwrap_or(case.line);
                diags.push(Diagnostic::error(
                    "test.unknown-param",
                    line,
                    format!("case `{}`: {}", case.name, p.message),
                ));
            }
            let mut waiver_diags = case.waivers.lint(policies);
            waiver_diags.retain(PolicyDiagnostic::is_error);
            for d in waiver_diags {
                diags.push(d.diagnostic);
            }
        }
        wrap(&self.file, diags)
    }
}

/// A difference between what a case expects and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// `<policy>/<rule>`, `verdict`, `message_contains <policy>/<rule>`, `lines <policy>/<rule>`
    /// or `input`.
    pub key: String,
    pub expected: String,
    pub actual: String,
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub file: String,
    pub name: String,
    pub line: u32,
    pub passed: bool,
    pub mismatches: Vec<Mismatch>,
    /// The report the case produced (for `--verbose` output).
    pub report: Report,
}

fn wrap(file: &str, diags: Vec<Diagnostic>) -> Vec<PolicyDiagnostic> {
    diags
        .into_iter()
        .map(|d| PolicyDiagnostic {
            file: file.to_string(),
            diagnostic: d,
        })
        .collect()
}
