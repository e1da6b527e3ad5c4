//! Running test cases: each case's documents parsed through the caller's callbacks, the
//! policies evaluated and the case's waivers applied, and the report compared with what the
//! case expects.

use std::collections::BTreeSet;

use super::{CaseResult, Expect, Mismatch, Source, TestCase, TestFile};
use crate::document::{Document, Format};
use crate::policy::PolicySet;
use crate::policy::eval::{InventoryEntry, TargetInput, target_diff};
use crate::report::{ApprovalGate, Outcome, Report};

fn render_gate(g: &ApprovalGate) -> String {
    format!("{{count: {}, groups: [{}]}}", g.count, g.groups.join(", "))
}

/// Runs every case of a file.
pub fn run_file(
    tests: &TestFile,
    policies: &PolicySet,
    parse: &dyn Fn(Format, &str) -> Document,
    read: &dyn Fn(&str) -> Result<String, String>,
) -> Vec<CaseResult> {
    tests
        .cases
        .iter()
        .map(|c| run_case(&tests.file, c, policies, parse, read))
        .collect()
}

/// Reads and parses one document; errors become `input` mismatches.
fn load_doc(
    src: &Source,
    format: Format,
    what: &str,
    parse: &dyn Fn(Format, &str) -> Document,
    read: &dyn Fn(&str) -> Result<String, String>,
    problems: &mut Vec<Mismatch>,
) -> Option<Document> {
    let (text, name) = match src {
        Source::Inline(t) => (t.clone(), format!("<{what}>")),
        Source::File(f) => match read(f) {
            Ok(t) => (t, f.clone()),
            Err(e) => {
                problems.push(Mismatch {
                    key: "input".to_string(),
                    expected: format!("{what} readable"),
                    actual: format!("{f}: {e}"),
                });
                return None;
            }
        },
    };
    let doc = parse(format, &text);
    if let Some(d) = doc.first_error() {
        problems.push(Mismatch {
            key: "input".to_string(),
            expected: format!("{what} parses without errors"),
            actual: d.render(&name),
        });
        return None;
    }
    Some(doc)
}

fn file_name(src: &Option<Source>, what: &str) -> Option<String> {
    src.as_ref().map(|s| match s {
        Source::Inline(_) => format!("<{what}>"),
        Source::File(f) => f.clone(),
    })
}

/// Runs one case: parses its documents with `parse` (reading files with `read`), evaluates the
/// policies, applies the case's waivers at its `now`, and compares with the expectations.
pub fn run_case(
    file: &str,
    case: &TestCase,
    policies: &PolicySet,
    parse: &dyn Fn(Format, &str) -> Document,
    read: &dyn Fn(&str) -> Result<String, String>,
) -> CaseResult {
    let mut mismatches = Vec::new();
    let old = case
        .old
        .as_ref()
        .and_then(|s| load_doc(s, case.format, "old", parse, read, &mut mismatches));
    let new = case
        .new
        .as_ref()
        .and_then(|s| load_doc(s, case.format, "new", parse, read, &mut mismatches));
    let inventory_docs: Vec<Option<Document>> = case
        .inventory
        .iter()
        .map(|i| {
            i.source
                .as_ref()
                .and_then(|s| load_doc(s, i.format, &i.target.name, parse, read, &mut mismatches))
        })
        .collect();
    let mut report = Report::default();
    if !mismatches.is_empty() {
        return CaseResult {
            file: file.to_string(),
            name: case.name.clone(),
            line: case.line,
            passed: false,
            mismatches,
            report,
        };
    }
    let skipped = evaluate(
        case,
        policies,
        old.as_ref(),
        new.as_ref(),
        &inventory_docs,
        &mut report,
    );
    compare(case, &report, &skipped, policies, &mut mismatches);
    CaseResult {
        file: file.to_string(),
        name: case.name.clone(),
        line: case.line,
        passed: mismatches.is_empty(),
        mismatches,
        report,
    }
}

/// Evaluates the policies on the case's documents into `report` and applies the case's
/// waivers at its `now`. Returns the `<policy>/<rule>` names skipped by their `when`.
fn evaluate(
    case: &TestCase,
    policies: &PolicySet,
    old: Option<&Document>,
    new: Option<&Document>,
    inventory_docs: &[Option<Document>],
    report: &mut Report,
) -> BTreeSet<String> {
    let inventory: Vec<InventoryEntry<'_>> = case
        .inventory
        .iter()
        .zip(inventory_docs)
        .map(|(spec, doc)| InventoryEntry {
            target: spec.target.clone(),
            doc: doc.as_ref().map(|d| &d.root),
        })
        .collect();
    let old_root = old.map(|d| &d.root);
    let new_root = new.map(|d| &d.root);
    let diff = target_diff(old_root, new_root);
    let old_file = file_name(&case.old, "old");
    let new_file = file_name(&case.new, "new");
    let input = TargetInput {
        target: &case.target,
        old: old_root,
        new: new_root,
        diff: &diff,
        change: &case.change,
        inventory: &inventory,
        params: &case.params,
        old_file: old_file.as_deref(),
        new_file: new_file.as_deref(),
    };
    let outcome = policies.evaluate(&input);
    let skipped: BTreeSet<String> = outcome
        .skipped
        .iter()
        .filter_map(|i| outcome.evaluations.get(*i))
        .map(|e| format!("{}/{}", e.policy, e.rule))
        .collect();
    outcome.append_to(report);
    case.waivers.apply(policies, report, case.now);
    skipped
}

/// Compares what the case produced with each of its expectations.
fn compare(
    case: &TestCase,
    report: &Report,
    skipped: &BTreeSet<String>,
    policies: &PolicySet,
    mismatches: &mut Vec<Mismatch>,
) {
    for (rule, expected) in &case.expect.rules {
        let actual = actual_status(rule, report, skipped, policies);
        if actual != expected.name() {
            mismatches.push(Mismatch {
                key: rule.clone(),
                expected: expected.name().to_string(),
                actual,
            });
        }
    }
    if let Some(v) = case.expect.verdict
        && report.verdict() != v
    {
        mismatches.push(Mismatch {
            key: "verdict".to_string(),
            expected: v.name().to_string(),
            actual: format!("{}{}", report.verdict().name(), summary(report)),
        });
    }
    compare_messages(&case.expect, report, mismatches);
    compare_lines(&case.expect, report, mismatches);
    compare_approvals(&case.expect, report, mismatches);
}

/// `message_contains`: some finding of the rule has each text in its message.
fn compare_messages(expect: &Expect, report: &Report, mismatches: &mut Vec<Mismatch>) {
    for (rule, texts) in &expect.message_contains {
        let messages: Vec<&str> = findings_of(report, rule)
            .map(|f| f.message.as_str())
            .collect();
        for t in texts {
            if !messages.iter().any(|m| m.contains(t.as_str())) {
                mismatches.push(Mismatch {
                    key: format!("message_contains {rule}"),
                    expected: format!("a message containing {t:?}"),
                    actual: if messages.is_empty() {
                        "no finding".to_string()
                    } else {
                        messages
                            .iter()
                            .map(|m| format!("{m:?}"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    },
                });
            }
        }
    }
}

/// `lines`: the rule's findings point at exactly these lines.
fn compare_lines(expect: &Expect, report: &Report, mismatches: &mut Vec<Mismatch>) {
    for (rule, lines) in &expect.lines {
        let mut expected = lines.clone();
        expected.sort_unstable();
        expected.dedup();
        let mut actual: Vec<u32> = findings_of(report, rule).filter_map(|f| f.line).collect();
        actual.sort_unstable();
        actual.dedup();
        if actual != expected {
            mismatches.push(Mismatch {
                key: format!("lines {rule}"),
                expected: format!("{expected:?}"),
                actual: format!("{actual:?}"),
            });
        }
    }
}

/// `approvals`: the rule has findings, and every one carries this gate.
fn compare_approvals(expect: &Expect, report: &Report, mismatches: &mut Vec<Mismatch>) {
    for (rule, expected) in &expect.approvals {
        let gates: Vec<String> = findings_of(report, rule)
            .map(|f| {
                f.approvals
                    .as_ref()
                    .map_or("no gate".to_string(), render_gate)
            })
            .collect();
        let want = render_gate(expected);
        if gates.is_empty() || gates.iter().any(|g| *g != want) {
            mismatches.push(Mismatch {
                key: format!("approvals {rule}"),
                expected: want,
                actual: if gates.is_empty() {
                    "no finding".to_string()
                } else {
                    gates.join("; ")
                },
            });
        }
    }
}

fn findings_of<'r>(
    report: &'r Report,
    rule: &'r str,
) -> impl Iterator<Item = &'r crate::report::Finding> + 'r {
    report
        .findings
        .iter()
        .filter(move |f| rule.split_once('/') == Some((f.policy.as_str(), f.rule.as_str())))
}

/// The failing rules behind a verdict, for mismatch messages.
fn summary(report: &Report) -> String {
    let failing: BTreeSet<String> = report
        .findings
        .iter()
        .filter(|f| f.waived.is_none())
        .map(|f| format!("{}/{} ({})", f.policy, f.rule, f.enforcement))
        .collect();
    if failing.is_empty() {
        String::new()
    } else {
        format!(
            " (from {})",
            failing.into_iter().collect::<Vec<_>>().join(", ")
        )
    }
}

fn actual_status(
    rule: &str,
    report: &Report,
    skipped: &BTreeSet<String>,
    policies: &PolicySet,
) -> String {
    let Some((p, r)) = rule.split_once('/') else {
        return "not a <policy>/<rule>".to_string();
    };
    match report
        .evaluations
        .iter()
        .find(|e| e.policy == p && e.rule == r)
    {
        Some(e) => match e.outcome {
            Outcome::Passed if skipped.contains(rule) => "skip",
            Outcome::Passed => "pass",
            Outcome::Failed => "fail",
            Outcome::Errored => "error",
            Outcome::Waived => "waived",
        }
        .to_string(),
        None if policies.rule(p, r).is_none() => "no such rule".to_string(),
        None => "skip".to_string(),
    }
}
