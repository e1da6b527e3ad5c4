//! The JUnit XML rendering, for CI test report views (GitLab `artifacts:reports:junit`,
//! Jenkins, Azure Pipelines).
//!
//! One `testsuite` per checked target, named `<target> (<env>)`; one `testcase` per rule
//! evaluated on it, named `<policy>/<rule>` with the target as classname. A failed or
//! errored rule is a `failure` (message: the finding's message; type: the enforcement level),
//! a waived one is `skipped` with the waiver's reason, anything else passed. Notices, which
//! are not rule results, go to the `system-out` of a last suite, `guardrail notices`, that
//! holds no test cases. No timestamps or durations: the output is a pure function of the report.

use std::fmt::Write;

use quick_junit::{
    NonSuccessKind, Property, Report as JunitReport, TestCase, TestCaseStatus, TestSuite,
};

use super::{Evaluation, Finding, Outcome, Report, TargetReport};

/// The name of the suite that carries the notices.
pub const NOTICES_SUITE: &str = "guardrail notices";

/// Options of the JUnit rendering.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options {}

/// Renders the report as JUnit XML.
pub fn render(report: &Report, _opts: &Options) -> String {
    let mut junit = JunitReport::new("guardrail");

    // Suites in target order; evaluations of a target the report does not list get a suite of
    // their own, in order of first appearance.
    let mut keys: Vec<(&str, &str)> = report
        .targets
        .iter()
        .map(|t| (t.name.as_str(), t.env.as_str()))
        .collect();
    for e in &report.evaluations {
        let key = (e.target.as_str(), e.env.as_str());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }

    for (name, env) in keys {
        let mut suite = TestSuite::new(format!("{name} ({env})"));
        if let Some(t) = report
            .targets
            .iter()
            .find(|t| t.name == name && t.env == env)
        {
            target_properties(&mut suite, t);
        }
        for e in report
            .evaluations
            .iter()
            .filter(|e| e.target == name && e.env == env)
        {
            suite.add_test_case(test_case(report, e));
        }
        junit.add_test_suite(suite);
    }

    if !report.notices.is_empty() {
        let mut suite = TestSuite::new(NOTICES_SUITE);
        let mut out = String::new();
        for n in &report.notices {
            let _ = write!(out, "{}", n.code);
            match (&n.file, n.line) {
                (Some(f), Some(l)) => {
                    let _ = write!(out, " {f}:{l}");
                }
                (Some(f), None) => {
                    let _ = write!(out, " {f}");
                }
                _ => {}
            }
            let _ = writeln!(out, ": {}", n.message);
        }
        suite.set_system_out(out);
        junit.add_test_suite(suite);
    }

    // Writing XML into memory fails only on invalid names, which quick-junit escapes.
    junit.to_string().unwrap_or_default()
}

fn target_properties(suite: &mut TestSuite, t: &TargetReport) {
    suite.add_property(Property::new("kind", t.kind.as_str()));
    suite.add_property(Property::new("format", t.format.as_str()));
    suite.add_property(Property::new("status", t.status.name()));
    if let Some(f) = &t.old_file {
        suite.add_property(Property::new("old_file", f.as_str()));
    }
    if let Some(f) = &t.new_file {
        suite.add_property(Property::new("new_file", f.as_str()));
    }
}

fn test_case(report: &Report, e: &Evaluation) -> TestCase {
    let finding = e.finding.and_then(|i| report.findings.get(i));
    let status = match e.outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Failed | Outcome::Errored => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let message = finding.map_or_else(
                || format!("rule {}", e.outcome.name()),
                |f| f.message.clone(),
            );
            s.set_message(message);
            s.set_type(e.enforcement.name());
            s.set_description(description(e, finding));
            s
        }
        Outcome::Waived => {
            let mut s = TestCaseStatus::skipped();
            let reason = finding
                .and_then(|f| f.waived.as_ref())
                .map_or_else(|| "waived".to_string(), |w| format!("waived: {}", w.reason));
            s.set_message(reason);
            s.set_type(e.enforcement.name());
            s.set_description(description(e, finding));
            s
        }
    };
    let mut case = TestCase::new(format!("{}/{}", e.policy, e.rule), status);
    case.set_classname(e.target.as_str());
    case
}

/// The failure's text: what a reader of the CI job needs beyond the message.
fn description(e: &Evaluation, finding: Option<&Finding>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} rule {}/{} on {} ({}): {}",
        e.enforcement.name(),
        e.policy,
        e.rule,
        e.target,
        e.env,
        e.outcome.name()
    );
    let Some(f) = finding else {
        return out;
    };
    let _ = writeln!(out, "{}", f.message);
    if f.error {
        let _ = writeln!(out, "the rule errored at run time and counts as failed");
    }
    match (&f.file, f.line) {
        (Some(file), Some(line)) => {
            let _ = writeln!(out, "at {file}:{line}");
        }
        (Some(file), None) => {
            let _ = writeln!(out, "at {file}");
        }
        _ => {}
    }
    if let Some((file, line)) = &f.removed_from {
        let _ = writeln!(out, "removed from {file}:{line}");
    }
    if let Some(gate) = &f.approvals {
        let _ = write!(out, "needs {} approval(s)", gate.count);
        if !gate.groups.is_empty() {
            let _ = write!(out, " from {}", gate.groups.join(", "));
        }
        out.push('\n');
    }
    if let Some(w) = &f.waived {
        let _ = write!(out, "waived by {}", w.owner);
        if let Some(x) = &w.expires {
            let _ = write!(out, " until {x}");
        }
        let _ = writeln!(out, ": {}", w.reason);
    }
    if let Some(docs) = &f.docs {
        let _ = writeln!(out, "docs: {docs}");
    }
    out
}
