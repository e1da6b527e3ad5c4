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

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::eval::{
    ChangeInfo, InventoryEntry, ParamOverrides, TargetInfo, TargetInput, target_diff,
};
use super::waiver::{RawWaiver, Waivers, parse_expiry};
use super::{KINDS, PolicyDiagnostic, PolicySet};
use crate::document::config_yaml::{self as yaml, TEST_CODES, line_of};
use crate::document::{Diagnostic, Document, Format};
use crate::report::{ApprovalGate, Outcome, Report, Verdict};

/// True for test-case files (`*.test.yaml`, `*.test.yml`), which policy loading must skip.
pub fn is_test_file(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".test.yaml") || lower.ends_with(".test.yml")
}

/// `now` when a case gives none: the Unix epoch, so every waiver with an expiry is active.
pub const DEFAULT_NOW: &str = "1970-01-01T00:00:00Z";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTestFile {
    cases: Vec<Spanned<RawCase>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: Spanned<String>,
    #[serde(default)]
    kind: Option<Spanned<String>>,
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    target: Option<RawTarget>,
    #[serde(default)]
    format: Option<Spanned<String>>,
    #[serde(default)]
    old: Option<String>,
    #[serde(default)]
    new: Option<String>,
    #[serde(default)]
    old_file: Option<String>,
    #[serde(default)]
    new_file: Option<String>,
    #[serde(default)]
    change: Option<RawChange>,
    #[serde(default)]
    inventory: Vec<Spanned<RawInventory>>,
    #[serde(default)]
    params: BTreeMap<String, Spanned<serde_json::Value>>,
    #[serde(default)]
    waivers: Vec<Spanned<RawWaiver>>,
    #[serde(default)]
    now: Option<Spanned<String>>,
    expect: Spanned<BTreeMap<String, Spanned<serde_json::Value>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    critical: bool,
    #[serde(default)]
    owners: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChange {
    #[serde(default)]
    author: String,
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    title: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInventory {
    name: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    owners: Vec<String>,
    #[serde(default)]
    critical: bool,
    #[serde(default)]
    format: Option<Spanned<String>>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    file: Option<String>,
}

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

fn parse_format(s: &Spanned<String>, diags: &mut Vec<Diagnostic>) -> Option<Format> {
    match Format::parse_name(&s.value) {
        Ok(f) => Some(f),
        Err(e) => {
            diags.push(Diagnostic::error("test.bad-format", line_of(s), e));
            None
        }
    }
}

fn source(
    inline: Option<String>,
    file: Option<String>,
    what: &str,
    line: u32,
    diags: &mut Vec<Diagnostic>,
) -> Option<Source> {
    match (inline, file) {
        (Some(_), Some(_)) => {
            diags.push(Diagnostic::error(
                "test.schema",
                line,
                format!("give either `{what}` or `{what}_file`, not both"),
            ));
            None
        }
        (Some(t), None) => Some(Source::Inline(t)),
        (None, Some(f)) => Some(Source::File(f)),
        (None, None) => None,
    }
}

impl TestFile {
    /// Loads a test file. Cases with problems are dropped and reported.
    pub fn load(file: &str, text: &str) -> (TestFile, Vec<PolicyDiagnostic>) {
        let mut diags = Vec::new();
        let raw: RawTestFile = match yaml::parse(text, &TEST_CODES) {
            Ok(r) => r,
            Err(d) => {
                return (
                    TestFile {
                        file: file.to_string(),
                        cases: Vec::new(),
                    },
                    wrap(file, vec![d]),
                );
            }
        };
        let mut cases = Vec::new();
        let mut names = BTreeSet::new();
        for raw_case in raw.cases {
            let line = line_of(&raw_case);
            let before = diags.len();
            let case = load_case(file, raw_case.value, line, &mut diags);
            if let Some(c) = case {
                if !names.insert(c.name.clone()) {
                    diags.push(Diagnostic::error(
                        "test.duplicate-name",
                        line,
                        format!("another case is already named `{}`", c.name),
                    ));
                } else if diags[before..]
                    .iter()
                    .all(|d| d.severity != crate::document::Severity::Error)
                {
                    cases.push(c);
                }
            }
        }
        (
            TestFile {
                file: file.to_string(),
                cases,
            },
            wrap(file, diags),
        )
    }
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

fn load_case(file: &str, raw: RawCase, line: u32, diags: &mut Vec<Diagnostic>) -> Option<TestCase> {
    let name = raw.name.value.trim().to_string();
    if name.is_empty() {
        diags.push(Diagnostic::error(
            "test.schema",
            line_of(&raw.name),
            "a case needs a non-empty name",
        ));
    }
    let kind = match &raw.kind {
        None => "generic".to_string(),
        Some(k) => {
            let k2 = k.value.trim();
            if !KINDS.contains(&k2) {
                diags.push(Diagnostic::error(
                    "test.bad-kind",
                    line_of(k),
                    format!("unknown kind `{k2}`; the kinds are {}", KINDS.join(", ")),
                ));
            }
            k2.to_string()
        }
    };
    let env = raw
        .env
        .map(|e| e.trim().to_string())
        .unwrap_or_else(|| "production".to_string());
    let format = match &raw.format {
        Some(f) => parse_format(f, diags),
        None => Some(Format::Yaml),
    };
    let rt = raw.target.unwrap_or_default();
    let format_name = format.map(|f| f.name()).unwrap_or("yaml").to_string();
    let target = TargetInfo {
        name: rt.name.unwrap_or_else(|| "test-target".to_string()),
        kind,
        env: env.clone(),
        owners: rt.owners,
        critical: rt.critical,
        format: format_name,
    };
    let old = source(raw.old, raw.old_file, "old", line, diags);
    let new = source(raw.new, raw.new_file, "new", line, diags);
    if old.is_none() && new.is_none() {
        diags.push(Diagnostic::error(
            "test.schema",
            line,
            format!("case `{name}` needs `old`/`old_file`, `new`/`new_file` or both"),
        ));
    }
    let change = raw
        .change
        .map(|c| ChangeInfo {
            author: c.author,
            ticket: c.ticket,
            title: c.title,
        })
        .unwrap_or_default();
    let mut inventory = Vec::new();
    for inv in raw.inventory {
        let inv_line = line_of(&inv);
        let i = inv.value;
        let inv_format = match &i.format {
            Some(f) => parse_format(f, diags),
            None => format,
        };
        let src = source(i.text, i.file, "text", inv_line, diags);
        let target = TargetInfo {
            name: i.name,
            kind: i.kind.unwrap_or_else(|| "generic".to_string()),
            env: i.env.unwrap_or_else(|| env.clone()),
            owners: i.owners,
            critical: i.critical,
            format: inv_format.map(|f| f.name()).unwrap_or("yaml").to_string(),
        };
        if let Some(f) = inv_format {
            inventory.push(InventorySpec {
                target,
                format: f,
                source: src,
            });
        }
    }
    let mut params = ParamOverrides::new();
    let mut params_lines = BTreeMap::new();
    for (policy, value) in raw.params {
        params_lines.insert(policy.clone(), line_of(&value));
        match value.value {
            serde_json::Value::Object(m) => {
                params.insert(policy, m);
            }
            _ => diags.push(Diagnostic::error(
                "test.schema",
                line_of(&value),
                format!("params for `{policy}` must be a map of param names to values"),
            )),
        }
    }
    let waivers = Waivers::from_raw(file, raw.waivers, diags);
    let now = match &raw.now {
        None => parse_expiry(DEFAULT_NOW),
        Some(n) => {
            let parsed = DateTime::parse_from_rfc3339(n.value.trim())
                .ok()
                .map(|d| d.with_timezone(&Utc));
            if parsed.is_none() {
                diags.push(Diagnostic::error(
                    "test.bad-now",
                    line_of(n),
                    format!(
                        "now `{}` is not an RFC 3339 date-time (2026-11-20T09:00:00Z)",
                        n.value.trim()
                    ),
                ));
            }
            parsed
        }
    };
    let expect = load_expect(raw.expect, diags);
    Some(TestCase {
        name,
        line,
        target,
        format: format?,
        old,
        new,
        change,
        inventory,
        params,
        params_lines,
        waivers,
        now: now?,
        expect,
    })
}

fn load_expect(
    raw: Spanned<BTreeMap<String, Spanned<serde_json::Value>>>,
    diags: &mut Vec<Diagnostic>,
) -> Expect {
    let mut expect = Expect::default();
    if raw.value.is_empty() {
        diags.push(Diagnostic::error(
            "test.bad-expect",
            line_of(&raw),
            "expect is empty: give a verdict and/or results per `<policy>/<rule>`",
        ));
    }
    for (key, value) in raw.value {
        let at = line_of(&value);
        let mut bad = |msg: String| diags.push(Diagnostic::error("test.bad-expect", at, msg));
        match key.as_str() {
            "verdict" => {
                let v = value.value.as_str().unwrap_or_default();
                expect.verdict = match v {
                    "pass" => Some(Verdict::Pass),
                    "warn" => Some(Verdict::Warn),
                    "approval_required" => Some(Verdict::ApprovalRequired),
                    "blocked" => Some(Verdict::Blocked),
                    _ => {
                        bad(format!(
                            "verdict `{v}` is not one of pass, warn, approval_required, blocked"
                        ));
                        None
                    }
                };
            }
            "message_contains" | "lines" => {
                let Some(map) = value.value.as_object() else {
                    bad(format!(
                        "{key} must be a map from `<policy>/<rule>` to values"
                    ));
                    continue;
                };
                for (rule, v) in map {
                    if !rule.contains('/') {
                        bad(format!("`{rule}` in {key} is not `<policy>/<rule>`"));
                        continue;
                    }
                    if key == "lines" {
                        let lines: Option<Vec<u32>> = match v {
                            serde_json::Value::Array(items) => items
                                .iter()
                                .map(|i| i.as_u64().and_then(|n| u32::try_from(n).ok()))
                                .collect(),
                            other => other
                                .as_u64()
                                .and_then(|n| u32::try_from(n).ok())
                                .map(|n| vec![n]),
                        };
                        match lines {
                            Some(l) => {
                                expect.lines.insert(rule.clone(), l);
                            }
                            None => bad(format!("lines of `{rule}` must be line numbers")),
                        }
                    } else {
                        let texts: Option<Vec<String>> = match v {
                            serde_json::Value::String(s) => Some(vec![s.clone()]),
                            serde_json::Value::Array(items) => items
                                .iter()
                                .map(|i| i.as_str().map(str::to_string))
                                .collect(),
                            _ => None,
                        };
                        match texts {
                            Some(t) => {
                                expect.message_contains.insert(rule.clone(), t);
                            }
                            None => bad(format!(
                                "message_contains of `{rule}` must be a string or a list of strings"
                            )),
                        }
                    }
                }
            }
            "approvals" => {
                let Some(map) = value.value.as_object() else {
                    bad("approvals must be a map from `<policy>/<rule>` to {count, groups}".into());
                    continue;
                };
                for (rule, v) in map {
                    match expected_gate(v) {
                        Some(gate) if rule.contains('/') => {
                            expect.approvals.insert(rule.clone(), gate);
                        }
                        _ => bad(format!(
                            "approvals of `{rule}` must be {{count: N, groups: [..]}} under a `<policy>/<rule>` key"
                        )),
                    }
                }
            }
            rule if rule.contains('/') => {
                let v = value.value.as_str().unwrap_or_default();
                match Expected::from_name(v) {
                    Some(e) => {
                        expect.rules.insert(rule.to_string(), e);
                    }
                    None => bad(format!(
                        "expected result `{v}` of `{rule}` is not one of pass, fail, error, waived, skip"
                    )),
                }
            }
            other => bad(format!(
                "unknown expectation `{other}`: use `<policy>/<rule>`, verdict, message_contains, lines or approvals"
            )),
        }
    }
    expect
}

/// `{count: N, groups: [..]}` (groups optional, N >= 1), as in a policy's `approvals`.
fn expected_gate(v: &serde_json::Value) -> Option<ApprovalGate> {
    let map = v.as_object()?;
    if map.keys().any(|k| k != "count" && k != "groups") {
        return None;
    }
    let count = u32::try_from(map.get("count")?.as_u64()?)
        .ok()
        .filter(|c| *c > 0)?;
    let groups = match map.get("groups") {
        None => Vec::new(),
        Some(g) => g
            .as_array()?
            .iter()
            .map(|g| g.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()?,
    };
    Some(ApprovalGate { count, groups })
}

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
    let inventory: Vec<InventoryEntry<'_>> = case
        .inventory
        .iter()
        .zip(&inventory_docs)
        .map(|(spec, doc)| InventoryEntry {
            target: spec.target.clone(),
            doc: doc.as_ref().map(|d| &d.root),
        })
        .collect();
    let old_root = old.as_ref().map(|d| &d.root);
    let new_root = new.as_ref().map(|d| &d.root);
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
    outcome.append_to(&mut report);
    case.waivers.apply(policies, &mut report, case.now);

    for (rule, expected) in &case.expect.rules {
        let actual = actual_status(rule, &report, &skipped, policies);
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
            actual: format!("{}{}", report.verdict().name(), summary(&report)),
        });
    }
    for (rule, texts) in &case.expect.message_contains {
        let messages: Vec<&str> = findings_of(&report, rule)
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
    for (rule, lines) in &case.expect.lines {
        let mut expected = lines.clone();
        expected.sort_unstable();
        expected.dedup();
        let mut actual: Vec<u32> = findings_of(&report, rule).filter_map(|f| f.line).collect();
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
    for (rule, expected) in &case.expect.approvals {
        let gates: Vec<String> = findings_of(&report, rule)
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
    CaseResult {
        file: file.to_string(),
        name: case.name.clone(),
        line: case.line,
        passed: mismatches.is_empty(),
        mismatches,
        report,
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
