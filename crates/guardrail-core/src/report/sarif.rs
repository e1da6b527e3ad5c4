//! The SARIF 2.1.0 rendering, for GitHub code scanning and other SARIF viewers.
//!
//! One run, tool `guardrail`. One rule (`reportingDescriptor`) per `policy/rule` that has a
//! finding, in order of first appearance; one result per finding, located at its file and
//! line (see [`Report::location_of`] for the fallbacks), with a partial fingerprint so that
//! code scanning can follow a result across runs. Waived findings are kept, with an external
//! suppression carrying the waiver's reason. Notices become tool execution notifications.

use std::collections::BTreeMap;

use serde_json::json;
use serde_sarif::sarif::{
    ArtifactLocation, Invocation, Location, Message, MultiformatMessageString, Notification,
    PhysicalLocation, PropertyBag, Region, ReportingConfiguration, ReportingDescriptor,
    ReportingDescriptorReference, Result as SarifResult, ResultKind, ResultLevel, Run, Sarif,
    Suppression, Tool, ToolComponent,
};
use sha2::{Digest, Sha256};

use super::{Enforcement, Finding, Notice, Report};

/// The schema URI written to `$schema`.
pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The key of guardrail's partial fingerprint. Its value is the SHA-256 (hex) of policy, rule,
/// target and message, NUL-separated; bump the suffix if that recipe ever changes.
pub const FINGERPRINT_KEY: &str = "guardrailFinding/v1";

/// The base id of repository-relative artifact URIs.
pub const SRCROOT: &str = "%SRCROOT%";

/// Options of the SARIF rendering.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options {
    /// The repository root as it appears at the start of absolute file paths in the report
    /// (for instance the current directory). Paths under it are written relative to it,
    /// which is what code scanning needs; other absolute paths become `file://` URIs.
    pub src_root: Option<String>,
}

/// Renders the report as a SARIF 2.1.0 log, ending with a newline.
pub fn render(report: &Report, opts: &Options) -> String {
    let verdict = report.verdict();

    // One descriptor per policy/rule, in order of first appearance.
    let mut rule_ids: Vec<String> = Vec::new();
    let mut rules: Vec<ReportingDescriptor> = Vec::new();
    for f in &report.findings {
        let id = rule_id(f);
        if !rule_ids.contains(&id) {
            rules.push(descriptor(&id, f));
            rule_ids.push(id);
        }
    }

    let results: Vec<SarifResult> = report
        .findings
        .iter()
        .map(|f| {
            let id = rule_id(f);
            let index = rule_ids.iter().position(|r| *r == id).unwrap_or(0);
            result(report, f, id, index, opts)
        })
        .collect();

    let mut invocation = Invocation::builder()
        .execution_successful(true)
        .exit_code(i64::from(verdict.exit_code()))
        .build();
    if !report.notices.is_empty() {
        invocation.tool_execution_notifications = Some(
            report
                .notices
                .iter()
                .map(|n| notification(n, opts))
                .collect(),
        );
    }

    let driver = ToolComponent::builder()
        .name("guardrail")
        .version(env!("CARGO_PKG_VERSION"))
        .semantic_version(env!("CARGO_PKG_VERSION"))
        .rules(rules)
        .build();

    let run = Run::builder()
        .tool(Tool::builder().driver(driver).build())
        .results(results)
        .invocations(vec![invocation])
        .properties(bag(run_properties(report)))
        .build();

    let log = Sarif::builder()
        .schema(SCHEMA_URI)
        .version(json!("2.1.0"))
        .runs(vec![run])
        .build();

    // The log holds only strings, numbers and JSON values: serializing cannot fail.
    let mut out = serde_json::to_string_pretty(&log).unwrap_or_default();
    out.push('\n');
    out
}

/// `verdict`, `exitCode`, and `semanticChanges` when there are any.
fn run_properties(report: &Report) -> BTreeMap<String, serde_json::Value> {
    let verdict = report.verdict();
    let mut props = BTreeMap::from([
        ("verdict".to_string(), json!(verdict.name())),
        ("exitCode".to_string(), json!(verdict.exit_code())),
    ]);
    let changes = worded_changes(report);
    if changes.as_array().is_some_and(|a| !a.is_empty()) {
        props.insert("semanticChanges".to_string(), changes);
    }
    props
}

/// The diff entries a line-based viewer shows badly (moves of ordered rules, secret changes),
/// per target, with a sentence each: `[{target, env, file, op, path, sentence, oldLine, newLine,
/// oldPosition, newPosition}]`.
fn worded_changes(report: &Report) -> serde_json::Value {
    let mut out = Vec::new();
    for t in &report.targets {
        for e in t.diff.iter().filter(|e| crate::diff::needs_words(e)) {
            out.push(json!({
                "target": t.name,
                "env": t.env,
                "file": t.new_file.as_ref().or(t.old_file.as_ref()),
                "op": e.get("op"),
                "path": e.get("path"),
                "sentence": crate::diff::sentence(e),
                "oldLine": e.get("old_line"),
                "newLine": e.get("new_line"),
                "oldPosition": e.get("old_position"),
                "newPosition": e.get("new_position"),
            }));
        }
    }
    serde_json::Value::Array(out)
}

fn rule_id(f: &Finding) -> String {
    format!("{}/{}", f.policy, f.rule)
}

fn level(e: Enforcement) -> ResultLevel {
    match e {
        Enforcement::Mandatory => ResultLevel::Error,
        Enforcement::Approval => ResultLevel::Warning,
        Enforcement::Advisory => ResultLevel::Note,
    }
}

fn level_name(e: Enforcement) -> &'static str {
    match e {
        Enforcement::Mandatory => "error",
        Enforcement::Approval => "warning",
        Enforcement::Advisory => "note",
    }
}

fn enforcement_sentence(e: Enforcement) -> &'static str {
    match e {
        Enforcement::Mandatory => "A failure blocks the change; only break-glass passes it.",
        Enforcement::Approval => {
            "A failure blocks the change until approvals satisfy the rule's gate."
        }
        Enforcement::Advisory => "A failure is a warning only.",
    }
}

fn descriptor(id: &str, f: &Finding) -> ReportingDescriptor {
    let level = match f.enforcement {
        Enforcement::Mandatory => "Mandatory",
        Enforcement::Approval => "Approval",
        Enforcement::Advisory => "Advisory",
    };
    let short = format!("{level} rule {} of policy {}", f.rule, f.policy);
    let full = format!("{short}. {}", enforcement_sentence(f.enforcement));
    let help_uri = f.docs.as_deref().and_then(absolute_uri);
    let mut help_text = full.clone();
    let mut help_markdown = format!(
        "{level} rule {} of policy {}. {}",
        super::markdown::cell(&f.rule),
        super::markdown::cell(&f.policy),
        enforcement_sentence(f.enforcement)
    );
    if let Some(docs) = &f.docs {
        help_text.push_str(&format!(" Documentation: {docs}"));
    }
    if let Some(uri) = &help_uri {
        help_markdown.push_str(&format!(" [Documentation](<{uri}>)"));
    }
    let mut d = ReportingDescriptor::builder()
        .id(id)
        .name(f.rule.as_str())
        .short_description(MultiformatMessageString::builder().text(short).build())
        .full_description(MultiformatMessageString::builder().text(full).build())
        .help(
            MultiformatMessageString::builder()
                .text(help_text)
                .markdown(help_markdown)
                .build(),
        )
        .default_configuration(
            ReportingConfiguration::builder()
                .level(json!(level_name(f.enforcement)))
                .build(),
        )
        .properties(PropertyBag {
            tags: Some(vec![
                "guardrail".to_string(),
                f.enforcement.name().to_string(),
            ]),
            additional_properties: BTreeMap::from([
                ("policy".to_string(), json!(f.policy)),
                ("enforcement".to_string(), json!(f.enforcement.name())),
            ]),
        })
        .build();
    d.help_uri = help_uri;
    d
}

/// `s` as an absolute URI for `helpUri`: characters a URI cannot hold are percent-encoded;
/// `None` when `s` has no scheme (a docs value that is not a link).
fn absolute_uri(s: &str) -> Option<String> {
    let (scheme, _) = s.split_once(':')?;
    let mut chars = scheme.chars();
    if !chars.next()?.is_ascii_alphabetic()
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    for (i, &b) in bytes.iter().enumerate() {
        let escape_ok = b == b'%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if escape_ok || b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Some(out)
}

fn result(report: &Report, f: &Finding, id: String, index: usize, opts: &Options) -> SarifResult {
    let mut text = f.message.clone();
    if let Some(gate) = &f.approvals {
        text.push_str(&format!(
            " (needs {} approval{}{})",
            gate.count,
            if gate.count == 1 { "" } else { "s" },
            if gate.groups.is_empty() {
                String::new()
            } else {
                format!(" from {}", gate.groups.join(", "))
            }
        ));
    }

    let mut props = BTreeMap::from([
        ("target".to_string(), json!(f.target)),
        ("env".to_string(), json!(f.env)),
        ("enforcement".to_string(), json!(f.enforcement.name())),
        ("error".to_string(), json!(f.error)),
    ]);
    if let Some((file, line)) = &f.removed_from {
        props.insert(
            "removedFrom".to_string(),
            json!({"file": file, "line": line}),
        );
    }
    if let Some(gate) = &f.approvals {
        props.insert(
            "approvals".to_string(),
            json!({"count": gate.count, "groups": gate.groups}),
        );
    }

    let mut r = SarifResult::builder()
        .rule_id(id)
        .rule_index(index as i64)
        .level(level(f.enforcement))
        .kind(ResultKind::Fail)
        .message(Message::builder().text(text).build())
        .partial_fingerprints(BTreeMap::from([(
            FINGERPRINT_KEY.to_string(),
            fingerprint(f),
        )]))
        .properties(bag(props))
        .build();

    if let Some((file, line)) = report.location_of(f) {
        r.locations = Some(vec![location(file, Some(line), opts)]);
    }

    if let Some(w) = &f.waived {
        let mut wprops = BTreeMap::from([("owner".to_string(), json!(w.owner))]);
        if let Some(expires) = &w.expires {
            wprops.insert("expires".to_string(), json!(expires));
        }
        r.suppressions = Some(vec![
            Suppression::builder()
                .kind(json!("external"))
                .status(json!("accepted"))
                .justification(w.reason.as_str())
                .properties(bag(wprops))
                .build(),
        ]);
    }
    r
}

fn notification(n: &Notice, opts: &Options) -> Notification {
    let mut note = Notification::builder()
        .message(Message::builder().text(n.message.as_str()).build())
        .level(json!("warning"))
        .descriptor(
            ReportingDescriptorReference::builder()
                .id(n.code.as_str())
                .build(),
        )
        .build();
    if let Some(file) = &n.file {
        note.locations = Some(vec![location(file, n.line, opts)]);
    }
    note
}

fn location(file: &str, line: Option<u32>, opts: &Options) -> Location {
    let (uri, relative) = artifact_uri(file, opts.src_root.as_deref());
    let mut artifact = ArtifactLocation::builder().uri(uri).build();
    if relative {
        artifact.uri_base_id = Some(SRCROOT.to_string());
    }
    let mut physical = PhysicalLocation::builder()
        .artifact_location(artifact)
        .build();
    if let Some(line) = line.filter(|&l| l >= 1) {
        physical.region = Some(Region::builder().start_line(i64::from(line)).build());
    }
    Location::builder().physical_location(physical).build()
}

fn bag(props: BTreeMap<String, serde_json::Value>) -> PropertyBag {
    PropertyBag {
        tags: None,
        additional_properties: props,
    }
}

/// SHA-256 of policy, rule, target and message, NUL-separated, as lowercase hex.
fn fingerprint(f: &Finding) -> String {
    let mut h = Sha256::new();
    for part in [&f.policy, &f.rule, &f.target, &f.message] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let mut out = String::with_capacity(64);
    for b in h.finalize().iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The URI of a file path, and whether it is relative (to the repository root). Backslashes
/// become slashes, a leading `./` goes, `src_root` is cut off, and every byte outside the
/// URI-safe set is percent-encoded.
fn artifact_uri(file: &str, src_root: Option<&str>) -> (String, bool) {
    let mut path = file.replace('\\', "/");
    if let Some(root) = src_root {
        let root = root.replace('\\', "/");
        let root = root.trim_end_matches('/');
        if !root.is_empty()
            && let Some(rest) = path.strip_prefix(root)
            && let Some(rest) = rest.strip_prefix('/')
        {
            path = rest.to_string();
        }
    }
    while let Some(rest) = path.strip_prefix("./") {
        path = rest.to_string();
    }
    let windows_drive =
        path.len() >= 2 && path.as_bytes()[0].is_ascii_alphabetic() && path.as_bytes()[1] == b':';
    if path.starts_with('/') {
        (format!("file://{}", percent_encode(&path)), false)
    } else if windows_drive {
        (
            format!("file:///{}:{}", &path[..1], percent_encode(&path[2..])),
            false,
        )
    } else {
        (percent_encode(&path), true)
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_relative_and_encoded() {
        assert_eq!(
            artifact_uri("./lb/mail cfg/haproxy.cfg", None),
            ("lb/mail%20cfg/haproxy.cfg".to_string(), true)
        );
        assert_eq!(
            artifact_uri("/repo/lb/haproxy.cfg", Some("/repo/")),
            ("lb/haproxy.cfg".to_string(), true)
        );
        assert_eq!(
            artifact_uri("/repository/x.cfg", Some("/repo")),
            ("file:///repository/x.cfg".to_string(), false)
        );
        assert_eq!(
            artifact_uri("C:\\infra\\a:b.cfg", None),
            ("file:///C:/infra/a%3Ab.cfg".to_string(), false)
        );
        assert_eq!(artifact_uri("sw/%41.cfg", None).0, "sw/%2541.cfg");
    }

    #[test]
    fn help_uris_are_made_valid() {
        assert_eq!(
            absolute_uri("https://d.example/a b|c%41%z").as_deref(),
            Some("https://d.example/a%20b%7Cc%41%25z")
        );
        assert_eq!(absolute_uri("see the wiki"), None);
        assert_eq!(absolute_uri("1http://x"), None);
    }
}
