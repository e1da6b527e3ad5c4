//! Findings that were already so before the change: each is moved to a `finding.preexisting`
//! notice when the change does not touch its line (see
//! [`PolicySet::demote_preexisting`]).

use super::{InventoryEntry, TargetInput, TargetOutcome};
use crate::diff::DiffEntry;
use crate::document::Node;
use crate::policy::load::{Existing, Policy, PolicySet};
use crate::report::{Finding, Notice, Outcome};

impl PolicySet {
    /// Rules judge what the change introduces: a finding that the old version had too (the
    /// same rule with the same message, evaluated on the old version as if nothing changed,
    /// with the environment as it was), at a line the change does not touch, becomes a
    /// `finding.preexisting` notice instead, unless its rule says `existing: enforce`. Rules
    /// about the change itself (the diff, old against new) find nothing on an unchanged
    /// version, so they are never demoted; errors (fail closed) never are.
    pub(super) fn demote_preexisting(
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
        demote(out, &keep);
    }
}

/// Moves the findings not to `keep` to `finding.preexisting` notices and renumbers the rest,
/// with the evaluations that point at them.
fn demote(out: &mut TargetOutcome, keep: &[bool]) {
    let mut new_index = vec![None; keep.len()];
    let mut kept = Vec::with_capacity(keep.len());
    for (i, (f, k)) in std::mem::take(&mut out.findings)
        .into_iter()
        .zip(keep)
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
