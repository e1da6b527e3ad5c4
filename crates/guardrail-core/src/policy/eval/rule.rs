//! One rule on one target: its `when`, its condition (once, or on each element of its
//! `for_each`), the line each finding points at, its message, and the evaluation it records.
//! Every rule error fails closed.

use cel::common::types::Kind;
use cel::common::value::{CowVal, Val};
use cel::{Context, ExecutionError, Value as CelValue};

use super::vars::Shared;
use super::{MAX_FINDINGS_PER_RULE, TargetInput, TargetOutcome};
use crate::policy::expr::{Expression, Part, Template};
use crate::policy::load::{Policy, Rule};
use crate::policy::value::{self, LineQuery, Side, as_bool, as_int, line_of, render, side_of};
use crate::report::{ApprovalGate, Evaluation, Finding, Notice, Outcome};

/// The longest rule error message kept in a finding, in characters.
const MAX_ERROR_CHARS: usize = 300;

/// Evaluates an expression to a CEL value (borrowed from the context where possible).
/// The error is a sentence: why the expression could not be run or evaluated.
fn run<'e, 'v>(e: &'e Expression, ctx: &'e Context<'_, 'v>) -> Result<CowVal<'e, 'v>, String> {
    let program = e.program()?;
    CelValue::resolve_val(program.expression(), ctx).map_err(|err: ExecutionError| err.to_string())
}

/// Why a rule could not be decided.
struct RuleError(String);

/// Evaluates a boolean expression; a non-bool result is an error.
fn run_bool(e: &Expression, what: &str, ctx: &Context<'_, '_>) -> Result<bool, RuleError> {
    match run(e, ctx) {
        Ok(v) => as_bool(v.as_ref()).ok_or_else(|| {
            RuleError(format!(
                "{what} returned {} `{}`, not a bool",
                v.get_type().name(),
                render(v.as_ref())
            ))
        }),
        Err(err) => Err(RuleError(format!(
            "{what} could not be evaluated: {}",
            shorten_error(&err)
        ))),
    }
}

fn shorten_error(s: &str) -> String {
    if s.chars().count() > MAX_ERROR_CHARS {
        let cut: String = s.chars().take(MAX_ERROR_CHARS).collect();
        format!("{cut}…")
    } else {
        s.to_string()
    }
}

/// Renders a message template; a placeholder that fails renders as `?`.
fn render_message(t: &Template, ctx: &Context<'_, '_>) -> String {
    let mut out = String::with_capacity(t.source.len());
    for part in &t.parts {
        match part {
            Part::Text(s) => out.push_str(s),
            Part::Expr(e) => match run(e, ctx) {
                Ok(v) => out.push_str(&render(v.as_ref())),
                Err(_) => out.push('?'),
            },
        }
    }
    out.trim().to_string()
}

pub(super) fn base_finding(
    policy: &Policy,
    rule: &Rule,
    input: &TargetInput<'_>,
    message: String,
    at: Option<(u32, Side)>,
    error: bool,
) -> Finding {
    let file = match at.map(|(_, s)| s) {
        Some(Side::Old) => input.old_file.or(input.new_file),
        _ => input.new_file.or(input.old_file),
    };
    // A line of the old version while the target still exists: something removed. The caller
    // that has the text diff (`pipeline::evaluate_target`) moves `file`/`line` to the new file.
    let removed_from = match (at, input.old_file, input.new) {
        (Some((l, Side::Old)), Some(old_file), Some(_)) => Some((old_file.to_string(), l)),
        _ => None,
    };
    Finding {
        policy: policy.id.clone(),
        rule: rule.id.clone(),
        enforcement: rule.enforcement,
        target: input.target.name.clone(),
        env: input.target.env.clone(),
        message,
        file: file.map(str::to_string),
        line: at.map(|(l, _)| l),
        removed_from,
        docs: policy.docs.clone(),
        approvals: rule
            .approvals
            .as_ref()
            .map(|g| gate_for_target(g, &input.target.owners)),
        error,
        waived: None,
    }
}

/// The `approvals.groups` entry that stands for the owners of the checked target
/// (`target.owners`, from `guardrail.yaml`).
pub const OWNERS_GROUP: &str = "target.owners";

/// A rule's gate as its findings on one target carry it: [`OWNERS_GROUP`] is replaced by the
/// target's owners, in order, without repeating a group. A target without owners adds no group,
/// so a gate that named only its owners accepts any approver (who is never the author).
fn gate_for_target(gate: &ApprovalGate, owners: &[String]) -> ApprovalGate {
    if !gate.groups.iter().any(|g| g == OWNERS_GROUP) {
        return gate.clone();
    }
    let mut groups: Vec<String> = Vec::new();
    for g in &gate.groups {
        let expanded = if g == OWNERS_GROUP {
            owners
        } else {
            std::slice::from_ref(g)
        };
        for e in expanded {
            if !groups.contains(e) {
                groups.push(e.clone());
            }
        }
    }
    ApprovalGate {
        count: gate.count,
        groups,
    }
}

pub(super) fn evaluation(
    policy: &Policy,
    rule: &Rule,
    input: &TargetInput<'_>,
    outcome: Outcome,
    finding: Option<usize>,
) -> Evaluation {
    Evaluation {
        policy: policy.id.clone(),
        rule: rule.id.clone(),
        enforcement: rule.enforcement,
        target: input.target.name.clone(),
        env: input.target.env.clone(),
        outcome,
        finding,
    }
}

/// One rule on one target.
pub(super) struct RuleRun<'r, 'a> {
    pub(super) policy: &'r Policy,
    pub(super) rule: &'r Rule,
    pub(super) input: &'r TargetInput<'a>,
    pub(super) shared: &'r Shared<'a>,
    pub(super) out: &'r mut TargetOutcome,
}

impl RuleRun<'_, '_> {
    pub(super) fn run(mut self, ctx: &Context<'_, '_>) {
        if let Some(when) = &self.rule.when {
            match run_bool(when, "when", ctx) {
                Ok(true) => {}
                Ok(false) => {
                    let i = self.out.evaluations.len();
                    self.out.evaluations.push(evaluation(
                        self.policy,
                        self.rule,
                        self.input,
                        Outcome::Passed,
                        None,
                    ));
                    self.out.skipped.push(i);
                    return;
                }
                Err(e) => {
                    let at = self.shared.first_line;
                    self.errored(e, at);
                    return;
                }
            }
        }
        match &self.rule.for_each {
            None => self.run_single(ctx),
            Some(list) => self.run_for_each(list, ctx),
        }
    }

    /// Records a finding of this rule (`error`: it failed closed) and returns its index.
    fn finding(&mut self, message: String, at: Option<(u32, Side)>, error: bool) -> usize {
        let i = self.out.findings.len();
        self.out.findings.push(base_finding(
            self.policy,
            self.rule,
            self.input,
            message,
            at,
            error,
        ));
        i
    }

    /// Records the rule's outcome on this target.
    fn evaluated(&mut self, outcome: Outcome, finding: Option<usize>) {
        self.out.evaluations.push(evaluation(
            self.policy,
            self.rule,
            self.input,
            outcome,
            finding,
        ));
    }

    fn errored(&mut self, e: RuleError, at: Option<(u32, Side)>) {
        let message = format!(
            "rule {}/{} failed closed: {}",
            self.policy.id, self.rule.id, e.0
        );
        let i = self.finding(message, at, true);
        self.evaluated(Outcome::Errored, Some(i));
    }

    /// The line a finding points at: the rule's `line:` expression, else the item's line, else
    /// the first diff entry's line.
    fn locate(
        &self,
        ctx: &Context<'_, '_>,
        item: Option<(&dyn Val, &dyn Val, usize)>,
    ) -> Option<(u32, Side)> {
        if let Some(line_expr) = &self.rule.line_expr
            && let Ok(v) = run(line_expr, ctx)
        {
            if let Some(l) = as_int(v.as_ref()).and_then(|l| u32::try_from(l).ok())
                && l > 0
            {
                let side = if self.input.new.is_none() {
                    Side::Old
                } else {
                    Side::New
                };
                return Some((l, side));
            }
            if let Some(l) = line_of(v.as_ref()) {
                let side = side_of(v.as_ref());
                if side != Side::Other {
                    return Some((l, side));
                }
            }
        }
        if let Some((item, list, index)) = item {
            let side = side_of(item);
            if let Some(l) = line_of(item)
                && side != Side::Other
            {
                return Some((l, side));
            }
            // A scalar element: the line of its entry in the list (or, iterating a map, of its key).
            let list_side = side_of(list);
            let q = match value::as_str(item) {
                Some(key) if list.get_type().kind() == Kind::Map => LineQuery::Key(key.to_string()),
                _ => LineQuery::Index(i64::try_from(index).unwrap_or(i64::MAX)),
            };
            if list_side != Side::Other
                && let Some(l) = value::query(list, q)
                    .and_then(|l| u32::try_from(l).ok())
                    .filter(|l| *l > 0)
            {
                return Some((l, list_side));
            }
        }
        self.shared.first_line
    }

    fn run_single(&mut self, ctx: &Context<'_, '_>) {
        match run_bool(&self.rule.condition, "condition", ctx) {
            Ok(true) => self.evaluated(Outcome::Passed, None),
            Ok(false) => {
                let message = render_message(&self.rule.message, ctx);
                let at = self.locate(ctx, None);
                let i = self.finding(message, at, false);
                self.evaluated(Outcome::Failed, Some(i));
            }
            Err(e) => {
                let at = self.locate(ctx, None);
                self.errored(e, at);
            }
        }
    }

    fn run_for_each(&mut self, list_expr: &Expression, ctx: &Context<'_, '_>) {
        let list = match run(list_expr, ctx) {
            Ok(v) => v,
            Err(err) => {
                let at = self.shared.first_line;
                self.errored(
                    RuleError(format!(
                        "for_each could not be evaluated: {}",
                        shorten_error(&err)
                    )),
                    at,
                );
                return;
            }
        };
        let Some(iterable) = list.as_iterable() else {
            let at = self.shared.first_line;
            self.errored(
                RuleError(format!(
                    "for_each returned {} `{}`, not a list or map",
                    list.get_type().name(),
                    render(list.as_ref())
                )),
                at,
            );
            return;
        };
        let first = self.out.findings.len();
        let mut any_error = false;
        let mut failing = 0usize;
        let mut items = iterable.iter();
        let mut index = 0usize;
        while let Some(item) = items.next() {
            let mut inner = ctx.new_inner_scope();
            inner.add_variable_as_val("item", item.clone_as_boxed());
            let verdict = run_bool(&self.rule.condition, "condition", &inner);
            if !matches!(verdict, Ok(true)) {
                failing += 1;
            }
            if failing > MAX_FINDINGS_PER_RULE && !matches!(verdict, Ok(true)) {
                index += 1;
                continue;
            }
            match verdict {
                Ok(true) => {}
                Ok(false) => {
                    let message = render_message(&self.rule.message, &inner);
                    let at = self.locate(&inner, Some((item, list.as_ref(), index)));
                    self.finding(message, at, false);
                }
                Err(e) => {
                    any_error = true;
                    let at = self.locate(&inner, Some((item, list.as_ref(), index)));
                    let element = match crate::policy::functions::identity_of(item) {
                        Some(id) => format!("element `{id}`"),
                        None => format!("element {index}"),
                    };
                    let message = format!(
                        "rule {}/{} failed closed on {element}: {}",
                        self.policy.id, self.rule.id, e.0
                    );
                    self.finding(message, at, true);
                }
            }
            index += 1;
        }
        if failing > MAX_FINDINGS_PER_RULE {
            self.out.notices.push(Notice {
                code: "rule.truncated".to_string(),
                message: format!(
                    "rule {}/{} failed on {failing} elements of {}; only the first {MAX_FINDINGS_PER_RULE} are reported",
                    self.policy.id, self.rule.id, self.input.target.name
                ),
                file: Some(self.policy.file.clone()),
                line: Some(self.rule.line),
            });
        }
        let outcome = if any_error {
            Outcome::Errored
        } else if self.out.findings.len() > first {
            Outcome::Failed
        } else {
            Outcome::Passed
        };
        let finding = (self.out.findings.len() > first).then_some(first);
        self.evaluated(outcome, finding);
    }
}
