//! Loading a test file: the raw YAML schema, each case checked into a [`TestCase`] (problems
//! reported as diagnostics, never thrown), and its expectations into an [`Expect`].

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{DEFAULT_NOW, Expect, Expected, InventorySpec, Source, TestCase, TestFile, wrap};
use crate::document::config_yaml::{self as yaml, TEST_CODES, line_of};
use crate::document::{Diagnostic, Format};
use crate::policy::eval::{ChangeInfo, ParamOverrides, TargetInfo};
use crate::policy::waiver::{RawWaiver, Waivers, parse_expiry};
use crate::policy::{KINDS, PolicyDiagnostic};
use crate::report::{ApprovalGate, Verdict};

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

fn load_case(file: &str, raw: RawCase, line: u32, diags: &mut Vec<Diagnostic>) -> Option<TestCase> {
    let name = raw.name.value.trim().to_string();
    if name.is_empty() {
        diags.push(Diagnostic::error(
            "test.schema",
            line_of(&raw.name),
            "a case needs a non-empty name",
        ));
    }
    let kind = case_kind(raw.kind.as_ref(), diags);
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
    let inventory = load_inventory(raw.inventory, format, &env, diags);
    let (params, params_lines) = load_params(raw.params, diags);
    let waivers = Waivers::from_raw(file, raw.waivers, diags);
    let now = load_now(raw.now.as_ref(), diags);
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

/// The case's target kind (`generic` when it gives none); an unknown kind is an error.
fn case_kind(kind: Option<&Spanned<String>>, diags: &mut Vec<Diagnostic>) -> String {
    match kind {
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
    }
}

/// The case's other targets; they default to the case's format and environment. An entry whose
/// format is unknown is reported and left out.
fn load_inventory(
    raw: Vec<Spanned<RawInventory>>,
    format: Option<Format>,
    env: &str,
    diags: &mut Vec<Diagnostic>,
) -> Vec<InventorySpec> {
    let mut inventory = Vec::new();
    for inv in raw {
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
            env: i.env.unwrap_or_else(|| env.to_string()),
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
    inventory
}

/// The case's param overrides, with the line of each policy's entry.
fn load_params(
    raw: BTreeMap<String, Spanned<serde_json::Value>>,
    diags: &mut Vec<Diagnostic>,
) -> (ParamOverrides, BTreeMap<String, u32>) {
    let mut params = ParamOverrides::new();
    let mut params_lines = BTreeMap::new();
    for (policy, value) in raw {
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
    (params, params_lines)
}

/// The case's `now` ([`DEFAULT_NOW`] when it gives none); `None` when it is no RFC 3339
/// date-time (reported).
fn load_now(now: Option<&Spanned<String>>, diags: &mut Vec<Diagnostic>) -> Option<DateTime<Utc>> {
    match now {
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
    }
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
            "verdict" => expect.verdict = expected_verdict(&value.value, &mut bad),
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
                        match expected_lines(v) {
                            Some(l) => {
                                expect.lines.insert(rule.clone(), l);
                            }
                            None => bad(format!("lines of `{rule}` must be line numbers")),
                        }
                    } else {
                        match expected_texts(v) {
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

/// An expected `verdict`; anything else is reported through `bad`.
fn expected_verdict(v: &serde_json::Value, bad: &mut impl FnMut(String)) -> Option<Verdict> {
    let v = v.as_str().unwrap_or_default();
    match v {
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
    }
}

/// The line numbers of a `lines` entry: one number or a list of them.
fn expected_lines(v: &serde_json::Value) -> Option<Vec<u32>> {
    match v {
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| i.as_u64().and_then(|n| u32::try_from(n).ok()))
            .collect(),
        other => other
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(|n| vec![n]),
    }
}

/// The texts of a `message_contains` entry: one string or a list of them.
fn expected_texts(v: &serde_json::Value) -> Option<Vec<String>> {
    match v {
        serde_json::Value::String(s) => Some(vec![s.clone()]),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => None,
    }
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
