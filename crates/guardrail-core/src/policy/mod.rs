//! The policy engine: loading policy files, evaluating their CEL rules on a target, waivers, and
//! policy test cases.
//!
//! Owns the policy file format (`docs/policies.md`), the CEL environment and helper functions,
//! the conversion of documents to CEL values, rule evaluation (failing closed on any rule
//! error), waivers and the pure core of `guardrail policy test` / `policy lint`.
//!
//! Pure: callers pass file contents, parsed documents, diff entries and `now`; nothing here reads
//! files, the clock or the environment. May depend on `document`, `diff` and `report`; must not
//! depend on `formats` (test cases receive a parser callback) or anything in the shell.

mod eval;
pub mod expr;
mod functions;
mod load;
mod stack;
pub mod testcase;
mod value;
pub mod waiver;

pub use eval::{
    ChangeInfo, InventoryEntry, MAX_FINDINGS_PER_RULE, OWNERS_GROUP, ParamOverrides, TargetInfo,
    TargetInput, TargetOutcome, target_diff,
};
pub use expr::Compile;
pub use load::{Existing, OverrideProblem, Policy, PolicySet, Rule};
pub use stack::{STACK_BYTES, mark_big_stack_thread};
pub use testcase::{CaseResult, Mismatch, TestCase, TestFile, is_test_file, run_case, run_file};
pub use waiver::{Waiver, Waivers};

use crate::document::{Diagnostic, Severity};

/// Target kinds (one list for the whole crate: `document::TARGET_KINDS`).
pub use crate::document::TARGET_KINDS as KINDS;

/// A problem in a policy, waiver or test file: the file it is in and the diagnostic (stable
/// code, 1-based line, message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDiagnostic {
    pub file: String,
    pub diagnostic: Diagnostic,
}

impl PolicyDiagnostic {
    /// `file:line: severity[code]: message`.
    pub fn render(&self) -> String {
        self.diagnostic.render(&self.file)
    }

    pub fn is_error(&self) -> bool {
        self.diagnostic.severity == Severity::Error
    }
}

/// True when any diagnostic is an error (the policy set, waivers or tests must be refused).
pub fn has_errors(diagnostics: &[PolicyDiagnostic]) -> bool {
    diagnostics.iter().any(PolicyDiagnostic::is_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn policy_sets_can_be_shared_across_threads() {
        assert_send_sync::<PolicySet>();
        assert_send_sync::<Waivers>();
        assert_send_sync::<TestFile>();
    }
}
