//! Evaluating the policy set on one target.
//!
//! The documents, the diff, the target and the inventory are turned into CEL values once per
//! target ([`Shared`]) and lent to every rule through a variable resolver, so a rule costs a
//! context (two pointers) plus its own interpretation. Every rule error fails closed: the rule
//! counts as failed, with a finding that says which rule and why.
//!
//! This module holds the inputs and outcome of an evaluation and runs the rules; [`vars`] turns
//! the inputs into CEL values, [`rule`] runs one rule into evaluations and findings, and
//! [`preexisting`] demotes the findings that the change did not introduce.

mod preexisting;
mod rule;
mod vars;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use cel::Context;
use cel::common::value::Val;

use super::load::{Policy, PolicySet};
use super::stack::with_big_stack;
use super::value::json_value;
use crate::diff::{DiffEntry, Op, Path};
use crate::document::Node;
use crate::report::{Evaluation, Finding, Notice, Outcome, Report, Verdict};

pub use rule::OWNERS_GROUP;
use rule::{RuleRun, base_finding, evaluation};
use vars::{Shared, Vars};

/// The most findings one rule produces on one target; the rest are summarized in a notice.
pub const MAX_FINDINGS_PER_RULE: usize = 100;

/// Who and what a target is, as rules see it in `target` (and in `inventory`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetInfo {
    pub name: String,
    /// `load_balancer`, `switch`, `email_connector`, `db_client` or `generic`.
    pub kind: String,
    pub env: String,
    pub owners: Vec<String>,
    pub critical: bool,
    /// The format name (`haproxy`, `yaml`, ...).
    pub format: String,
}

/// The change being checked, as rules see it in `change` (empty strings offline).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeInfo {
    pub author: String,
    pub ticket: String,
    pub title: String,
}

/// Another target of the same environment, with its new document (`None` when it has none).
#[derive(Debug, Clone)]
pub struct InventoryEntry<'a> {
    pub target: TargetInfo,
    pub doc: Option<&'a Node>,
}

/// Per-policy parameter overrides: policy id to a map of param names to values. Overrides
/// replace the policy's defaults key by key.
pub type ParamOverrides = BTreeMap<String, serde_json::Map<String, serde_json::Value>>;

static NO_PARAMS: ParamOverrides = BTreeMap::new();
static NO_CHANGE: ChangeInfo = ChangeInfo {
    author: String::new(),
    ticket: String::new(),
    title: String::new(),
};

/// Everything the engine needs to evaluate the policies on one target.
#[derive(Debug, Clone)]
pub struct TargetInput<'a> {
    pub target: &'a TargetInfo,
    /// The old document's root; `None` for a created target.
    pub old: Option<&'a Node>,
    /// The new document's root; `None` for a deleted target.
    pub new: Option<&'a Node>,
    /// The semantic diff from `old` to `new` (see [`target_diff`]).
    pub diff: &'a [DiffEntry<'a>],
    pub change: &'a ChangeInfo,
    /// The targets of the environment (entries of other environments are ignored).
    pub inventory: &'a [InventoryEntry<'a>],
    pub params: &'a ParamOverrides,
    /// File names findings point at.
    pub old_file: Option<&'a str>,
    pub new_file: Option<&'a str>,
}

impl<'a> TargetInput<'a> {
    /// An input with no change info, inventory, param overrides or file names.
    pub fn new(
        target: &'a TargetInfo,
        old: Option<&'a Node>,
        new: Option<&'a Node>,
        diff: &'a [DiffEntry<'a>],
    ) -> Self {
        TargetInput {
            target,
            old,
            new,
            diff,
            change: &NO_CHANGE,
            inventory: &[],
            params: &NO_PARAMS,
            old_file: None,
            new_file: None,
        }
    }
}

/// The diff entries of a target: the semantic diff when both sides exist, one `added` entry at
/// the root for a created target, one `removed` entry for a deleted one.
pub fn target_diff<'a>(old: Option<&'a Node>, new: Option<&'a Node>) -> Vec<DiffEntry<'a>> {
    match (old, new) {
        (Some(o), Some(n)) => crate::diff::diff(o, n),
        (None, Some(n)) => vec![DiffEntry {
            op: Op::Added,
            path: Path::default(),
            old: None,
            new: Some(n),
            moved: None,
        }],
        (Some(o), None) => vec![DiffEntry {
            op: Op::Removed,
            path: Path::default(),
            old: Some(o),
            new: None,
            moved: None,
        }],
        (None, None) => Vec::new(),
    }
}

/// The result of evaluating the policies on one target. `Evaluation::finding` indexes
/// `findings` of this outcome until [`TargetOutcome::append_to`] moves both into a report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetOutcome {
    pub evaluations: Vec<Evaluation>,
    pub findings: Vec<Finding>,
    /// Indexes into `evaluations` of rules skipped because their `when` was false (they count
    /// as passed).
    pub skipped: Vec<usize>,
    pub notices: Vec<Notice>,
}

impl TargetOutcome {
    /// Moves the evaluations, findings and notices into `report`, fixing finding indexes.
    pub fn append_to(self, report: &mut Report) {
        let offset = report.findings.len();
        report.findings.extend(self.findings);
        report
            .evaluations
            .extend(self.evaluations.into_iter().map(|mut e| {
                e.finding = e.finding.map(|i| i + offset);
                e
            }));
        report.notices.extend(self.notices);
    }

    /// The worst verdict over the unwaived findings.
    pub fn verdict(&self) -> Verdict {
        Verdict::of_findings(&self.findings)
    }
}

impl PolicySet {
    /// Evaluates every matching policy on one target, on a thread with a large stack (see
    /// `stack.rs`). Pure: the same input gives the same outcome.
    pub fn evaluate(&self, input: &TargetInput<'_>) -> TargetOutcome {
        with_big_stack(|| self.evaluate_inline(input))
    }

    /// [`PolicySet::evaluate`] on the calling thread, for callers that already run on a thread
    /// with a large stack (at least 16 MiB).
    pub fn evaluate_inline(&self, input: &TargetInput<'_>) -> TargetOutcome {
        let t = input.target;
        let mut out = TargetOutcome::default();
        let matching: Vec<&Policy> = self
            .policies
            .iter()
            .filter(|p| p.matches(&t.kind, &t.name, &t.env))
            .collect();
        if matching.is_empty() {
            return out;
        }
        self.run_rules(input, &matching, None, &mut out);
        if let (Some(old), Some(_)) = (input.old, input.new) {
            self.demote_preexisting(input, old, &matching, &mut out);
        }
        out
    }

    /// Runs the rules of `policies` (all of them, or those named in `only` as `(policy, rule)`)
    /// on one target into `out`.
    fn run_rules(
        &self,
        input: &TargetInput<'_>,
        policies: &[&Policy],
        only: Option<&[(&str, &str)]>,
        out: &mut TargetOutcome,
    ) {
        let shared = Shared::new(input);
        for &policy in policies {
            let merged;
            let params: &dyn Val = match input.params.get(&policy.id) {
                Some(over) => {
                    let mut m = policy.params.clone();
                    for (k, v) in over {
                        m.insert(k.clone(), v.clone());
                    }
                    merged = json_value(&serde_json::Value::Object(m));
                    merged.as_ref()
                }
                None => policy.params_value.as_ref(),
            };
            let vars = Vars {
                shared: &shared,
                params,
            };
            for rule in &policy.rules {
                if only.is_some_and(|o| !o.contains(&(policy.id.as_str(), rule.id.as_str()))) {
                    continue;
                }
                let mut ctx = Context::with_env(self.env.clone());
                ctx.set_variable_resolver(&vars);
                let marks = (
                    out.evaluations.len(),
                    out.findings.len(),
                    out.skipped.len(),
                    out.notices.len(),
                );
                let run = catch_unwind(AssertUnwindSafe(|| {
                    RuleRun {
                        policy,
                        rule,
                        input,
                        shared: &shared,
                        out: &mut *out,
                    }
                    .run(&ctx)
                }));
                if run.is_err() {
                    // Undo what the rule reported before it panicked, and fail it closed.
                    out.evaluations.truncate(marks.0);
                    out.findings.truncate(marks.1);
                    out.skipped.truncate(marks.2);
                    out.notices.truncate(marks.3);
                    out.findings.push(base_finding(
                        policy,
                        rule,
                        input,
                        format!(
                            "rule {}/{} failed closed: the CEL interpreter panicked while evaluating it",
                            policy.id, rule.id
                        ),
                        shared.first_line,
                        true,
                    ));
                    out.evaluations.push(evaluation(
                        policy,
                        rule,
                        input,
                        Outcome::Errored,
                        Some(marks.1),
                    ));
                }
            }
        }
    }
}
