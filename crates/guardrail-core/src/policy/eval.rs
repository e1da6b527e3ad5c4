//! Evaluating the policy set on one target.
//!
//! The documents, the diff, the target and the inventory are turned into CEL values once per
//! target ([`Shared`]) and lent to every rule through a variable resolver, so a rule costs a
//! context (two pointers) plus its own interpretation. Every rule error fails closed: the rule
//! counts as failed, with a finding that says which rule and why.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use cel::common::types::{CelBool, CelInt, CelNull, Kind};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use cel::{Context, ExecutionError, Value as CelValue};

use super::expr::{Expression, Part, Template};
use super::load::{Existing, Policy, PolicySet, Rule};
use super::stack::with_big_stack;
use super::value::{
    self, DocList, DocMap, LineQuery, Side, as_bool, as_int, json_value, line_of,
    optional_node_value, render, side_of, string, string_list,
};
use crate::diff::{DiffEntry, Op, Path};
use crate::document::Node;
use crate::report::{ApprovalGate, Evaluation, Finding, Notice, Outcome, Report, Verdict};

/// The most findings one rule produces on one target; the rest are summarized in a notice.
pub const MAX_FINDINGS_PER_RULE: usize = 100;

/// The longest rule error message kept in a finding, in characters.
const MAX_ERROR_CHARS: usize = 300;

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

    /// Rules judge what the change introduces: a finding that the old version had too (the
    /// same rule with the same message, evaluated on the old version as if nothing changed,
    /// with the environment as it was), at a line the change does not touch, becomes a
    /// `finding.preexisting` notice instead, unless its rule says `existing: enforce`. Rules
    /// about the change itself (the diff, old against new) find nothing on an unchanged
    /// version, so they are never demoted; errors (fail closed) never are.
    fn demote_preexisting(
        &self,
        input: &TargetInput<'_>,
        old: &Node,
        matching: &[&Policy],
        out: &mut TargetOutcome,
    ) {
        let demotable = |f: &Finding| {
            !f.error
                && self
                    .rule(&f.policy, &f.rule)
                    .is_some_and(|(_, r)| r.existing == Existing::Notice)
        };
        let mut candidates: Vec<(&str, &str)> = Vec::new();
        for f in out.findings.iter().filter(|f| demotable(f)) {
            if !candidates.contains(&(f.policy.as_str(), f.rule.as_str())) {
                candidates.push((f.policy.as_str(), f.rule.as_str()));
            }
        }
        if candidates.is_empty() {
            return;
        }
        // The world before the change: this target's old document in the inventory too.
        let inventory: Vec<InventoryEntry<'_>> = input
            .inventory
            .iter()
            .map(|e| {
                let own = e.target.name == input.target.name && e.target.env == input.target.env;
                InventoryEntry {
                    target: e.target.clone(),
                    doc: if own { Some(old) } else { e.doc },
                }
            })
            .collect();
        let mut before = input.clone();
        before.new = Some(old);
        before.diff = &[];
        before.inventory = &inventory;
        let mut base = TargetOutcome::default();
        self.run_rules(&before, matching, Some(&candidates), &mut base);
        let held: Vec<(&str, &str, &str)> = base
            .findings
            .iter()
            .filter(|f| !f.error)
            .map(|f| (f.policy.as_str(), f.rule.as_str(), f.message.as_str()))
            .collect();
        let touched = input
            .new
            .map(|n| touched_lines(n, input.diff))
            .unwrap_or_default();
        let keep: Vec<bool> = out
            .findings
            .iter()
            .map(|f| {
                let preexisting = demotable(f)
                    && held.contains(&(f.policy.as_str(), f.rule.as_str(), f.message.as_str()))
                    && f.line.is_none_or(|l| !touched.contains(&l));
                !preexisting
            })
            .collect();
        if keep.iter().all(|k| *k) {
            return;
        }
        // Move the demoted findings to notices and renumber the rest.
        let mut new_index = vec![None; keep.len()];
        let mut kept = Vec::with_capacity(keep.len());
        for (i, (f, k)) in std::mem::take(&mut out.findings)
            .into_iter()
            .zip(&keep)
            .enumerate()
        {
            if *k {
                new_index[i] = Some(kept.len());
                kept.push(f);
            } else {
                out.notices.push(Notice {
                    code: "finding.preexisting".into(),
                    message: format!(
                        "{}/{}: {} (already so before this change, which does not touch it: not counted; `existing: enforce` on the rule would count it)",
                        f.policy, f.rule, f.message
                    ),
                    file: f.file.clone(),
                    line: f.line,
                });
            }
        }
        out.findings = kept;
        for e in &mut out.evaluations {
            let Some(i) = e.finding else { continue };
            match new_index[i] {
                Some(j) => e.finding = Some(j),
                None => {
                    // The rule's first finding was demoted: point at its next kept one, if any.
                    let next = (i + 1..keep.len()).find_map(|k| {
                        new_index[k].filter(|&j| {
                            out.findings[j].policy == e.policy && out.findings[j].rule == e.rule
                        })
                    });
                    match next {
                        Some(j) => e.finding = Some(j),
                        None => {
                            e.finding = None;
                            e.outcome = Outcome::Passed;
                        }
                    }
                }
            }
        }
    }
}

/// The new-side lines a change touches: every node of what it adds, changes or moves, and the
/// line of every list item on the way to each change (the object a change is inside: the pool,
/// the server, the backend whose field changed or lost an entry). A finding at one of them is
/// about something the change touched. Enclosing maps (sections, the root) do not count: an edit
/// of one key of a section does not touch the section's other keys.
fn touched_lines(new_root: &Node, diff: &[DiffEntry<'_>]) -> std::collections::HashSet<u32> {
    use crate::diff::Segment;
    use crate::document::Value;
    let mut lines = std::collections::HashSet::new();
    for e in diff {
        let mut cur = Some(new_root);
        for seg in &e.path.0 {
            cur = match (seg, cur.map(|n| &n.value)) {
                (Segment::Key(k), Some(Value::Map(m))) => m.get(k),
                (Segment::Item(id), Some(Value::List(items))) => crate::diff::find_item(items, id),
                (Segment::Index(i), Some(Value::List(items))) => items.get(*i),
                _ => None,
            };
            match (seg, cur) {
                (Segment::Item(_) | Segment::Index(_), Some(item)) => {
                    lines.insert(item.line);
                }
                (_, None) => break,
                _ => {}
            }
        }
    }
    let mut stack: Vec<&Node> = diff.iter().filter_map(|e| e.new).collect();
    while let Some(n) = stack.pop() {
        lines.insert(n.line);
        match &n.value {
            Value::List(items) => stack.extend(items.iter()),
            Value::Map(m) => stack.extend(m.iter().map(|(_, v)| v)),
            _ => {}
        }
    }
    lines
}

/// The values shared by every rule on one target.
struct Shared<'a> {
    old: Box<dyn Val + 'a>,
    new: Box<dyn Val + 'a>,
    diff: Box<dyn Val + 'a>,
    target: Box<dyn Val + 'a>,
    change: Box<dyn Val + 'a>,
    inventory: OnceLock<Box<dyn Val + 'a>>,
    inventory_src: &'a [InventoryEntry<'a>],
    env: &'a str,
    /// The line (and side) of the first diff entry: where a finding points by default.
    first_line: Option<(u32, Side)>,
}

impl<'a> Shared<'a> {
    fn new(input: &TargetInput<'a>) -> Self {
        let first_line = input.diff.iter().find_map(|e| {
            e.new_line()
                .map(|l| (l, Side::New))
                .or_else(|| e.old_line().map(|l| (l, Side::Old)))
        });
        Shared {
            old: optional_node_value(input.old, Side::Old),
            new: optional_node_value(input.new, Side::New),
            diff: diff_value(input.diff),
            target: target_value(input.target),
            change: Box::new(DocMap::built(
                vec![
                    ("author".into(), string(&input.change.author), 0),
                    ("ticket".into(), string(&input.change.ticket), 0),
                    ("title".into(), string(&input.change.title), 0),
                ],
                0,
            )),
            inventory: OnceLock::new(),
            inventory_src: input.inventory,
            env: &input.target.env,
            first_line,
        }
    }

    /// Built on first use: most rules never look at the inventory.
    fn inventory(&self) -> &(dyn Val + 'a) {
        self.inventory
            .get_or_init(|| {
                let items = self
                    .inventory_src
                    .iter()
                    .filter(|e| e.target.env == self.env)
                    .map(|e| {
                        let mut entries = target_entries(&e.target);
                        entries.push(("doc".into(), optional_node_value(e.doc, Side::Other), 0));
                        (Box::new(DocMap::built(entries, 0)) as Box<dyn Val + 'a>, 0)
                    })
                    .collect();
                Box::new(DocList::built(items, 0))
            })
            .as_ref()
    }
}

fn target_entries<'a>(t: &TargetInfo) -> Vec<(String, Box<dyn Val + 'a>, u32)> {
    vec![
        ("name".into(), string(&t.name), 0),
        ("kind".into(), string(&t.kind), 0),
        ("env".into(), string(&t.env), 0),
        ("owners".into(), string_list(&t.owners), 0),
        ("critical".into(), Box::new(CelBool::from(t.critical)), 0),
        ("format".into(), string(&t.format), 0),
    ]
}

fn target_value<'a>(t: &TargetInfo) -> Box<dyn Val + 'a> {
    Box::new(DocMap::built(target_entries(t), 0))
}

fn line_value<'a>(line: Option<u32>) -> Box<dyn Val + 'a> {
    match line {
        Some(l) => Box::new(CelInt::from(i64::from(l))),
        None => Box::new(CelNull),
    }
}

fn position_value<'a>(position: Option<usize>) -> Box<dyn Val + 'a> {
    match position.and_then(|p| i64::try_from(p).ok()) {
        Some(p) => Box::new(CelInt::from(p)),
        None => Box::new(CelNull),
    }
}

/// The `diff` variable: a list of maps `{op, path, segments, old, new, old_line, new_line,
/// old_position, new_position}` (positions are 1-based, set for `moved` entries, else null).
fn diff_value<'a>(entries: &'a [DiffEntry<'a>]) -> Box<dyn Val + 'a> {
    let items = entries
        .iter()
        .map(|e| {
            let (line, side) = match (e.new_line(), e.old_line()) {
                (Some(l), _) => (l, Side::New),
                (None, Some(l)) => (l, Side::Old),
                (None, None) => (0, Side::Other),
            };
            let map = DocMap::built_with_side(
                vec![
                    ("op".into(), string(e.op.name()), 0),
                    ("path".into(), string(e.path.to_string()), 0),
                    ("segments".into(), string_list(&e.path.segments()), 0),
                    (
                        "old".into(),
                        optional_node_value(e.old, Side::Old),
                        e.old_line().unwrap_or(0),
                    ),
                    (
                        "new".into(),
                        optional_node_value(e.new, Side::New),
                        e.new_line().unwrap_or(0),
                    ),
                    ("old_line".into(), line_value(e.old_line()), 0),
                    ("new_line".into(), line_value(e.new_line()), 0),
                    (
                        "old_position".into(),
                        position_value(e.moved.map(|m| m.from)),
                        0,
                    ),
                    (
                        "new_position".into(),
                        position_value(e.moved.map(|m| m.to)),
                        0,
                    ),
                ],
                line,
                side,
            );
            (Box::new(map) as Box<dyn Val + 'a>, line)
        })
        .collect();
    Box::new(DocList::built(items, 0))
}

/// The variables of one policy's rules: the shared values plus that policy's params.
struct Vars<'s, 'a> {
    shared: &'s Shared<'a>,
    params: &'s dyn Val,
}

impl VariableResolver for Vars<'_, '_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        let s = self.shared;
        let v: &'b dyn Val = match variable {
            "old" => s.old.as_ref(),
            "new" => s.new.as_ref(),
            "diff" => s.diff.as_ref(),
            "target" => s.target.as_ref(),
            "change" => s.change.as_ref(),
            "inventory" => s.inventory(),
            "params" => self.params,
            _ => return None,
        };
        Some(CowVal::Borrowed(v))
    }
}

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

fn base_finding(
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

fn evaluation(
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
struct RuleRun<'r, 'a> {
    policy: &'r Policy,
    rule: &'r Rule,
    input: &'r TargetInput<'a>,
    shared: &'r Shared<'a>,
    out: &'r mut TargetOutcome,
}

impl RuleRun<'_, '_> {
    fn run(mut self, ctx: &Context<'_, '_>) {
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
                    let element = match super::functions::identity_of(item) {
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
