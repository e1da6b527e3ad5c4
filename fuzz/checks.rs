//! What each fuzz target checks, in one file shared by the fuzz targets (`fuzz/fuzz_targets`,
//! nightly, cargo-fuzz) and by the stable test that replays every kept input
//! (`tests/fuzz_regressions.rs`), so a regression case runs through the same code in CI.
//!
//! Every check takes the raw bytes a fuzzer produced. It must never panic on any input except
//! to report a broken property (a crash, a secret in an output, a self-diff that is not empty).

#![allow(dead_code)]

use std::sync::OnceLock;

use guardrail_core::config::Config;
use guardrail_core::diff;
use guardrail_core::document::Format;
use guardrail_core::formats;
use guardrail_core::pipeline::{self, Loaded};
use guardrail_core::policy::{
    ChangeInfo, Compile, InventoryEntry, ParamOverrides, PolicySet, TargetInfo, TestFile, Waivers,
};
use guardrail_core::report::{self, Output, RenderOptions, Report};

/// The largest input a target looks at (the bound for "hangs": 1 s on ≤ 64 KB).
pub const MAX_INPUT: usize = 64 * 1024;

/// The fuzz targets, by name: the directory names under `fuzz/regressions/`.
pub const TARGETS: &[&str] = &[
    "parse_yaml",
    "parse_json",
    "parse_toml",
    "parse_ini",
    "parse_haproxy",
    "parse_nginx",
    "parse_ios",
    "parse_fetchmail",
    "diff",
    "policy_loaders",
    "guardrail_yaml",
    "redaction",
];

/// Runs the target named `name` on `data` (for the replay test).
pub fn run(name: &str, data: &[u8]) {
    match name {
        "diff" => diff_two(data),
        "policy_loaders" => policy_loaders(data),
        "guardrail_yaml" => guardrail_yaml(data),
        "redaction" => redaction(data),
        other => {
            let format = other
                .strip_prefix("parse_")
                .and_then(Format::from_name)
                .unwrap_or_else(|| panic!("no fuzz target {other}"));
            parse(format, data);
        }
    }
}

/// One parser: never panics, and a document diffs empty against itself (also after a copy, so
/// list identities and order flags survive). Each of the source's secret spans lies inside the
/// source and on a character boundary, so redaction never slices a character.
pub fn parse(format: Format, data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let doc = formats::parse_bytes(format, data);
    let copy = doc.root.clone();
    assert!(
        diff::diff(&doc.root, &copy).is_empty(),
        "a document differs from itself"
    );
    let _ = doc.dump();
    let _ = doc.content_hash();
    if let Ok(text) = std::str::from_utf8(data) {
        for span in &doc.secret_spans {
            assert!(span.start <= span.end && span.end <= text.len(), "{span:?}");
            assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
        }
        let _ = doc.redact_source(text);
    }
}

/// Two inputs of one format (the first byte picks it; a 0xFF byte separates them): the diff
/// never panics, each side diffs empty against itself, and every entry says what it is.
pub fn diff_two(data: &[u8]) {
    if data.len() > MAX_INPUT || data.is_empty() {
        return;
    }
    let format = Format::ALL[data[0] as usize % Format::ALL.len()];
    let rest = &data[1..];
    let (a, b) = match rest.iter().position(|&c| c == 0xFF) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => rest.split_at(rest.len() / 2),
    };
    let old = formats::parse_bytes(format, a);
    let new = formats::parse_bytes(format, b);
    let forward = diff::diff(&old.root, &new.root);
    let backward = diff::diff(&new.root, &old.root);
    // What one direction adds, the other removes.
    let count = |entries: &[diff::DiffEntry<'_>], op: diff::Op| {
        entries.iter().filter(|e| e.op == op).count()
    };
    assert_eq!(
        count(&forward, diff::Op::Added),
        count(&backward, diff::Op::Removed)
    );
    assert_eq!(
        count(&forward, diff::Op::Removed),
        count(&backward, diff::Op::Added)
    );
    for e in &forward {
        let json = e.to_json();
        let _ = diff::sentence(&json);
    }
    if let (Ok(ta), Ok(tb)) = (std::str::from_utf8(a), std::str::from_utf8(b)) {
        let _ = diff::text::unified("old", "new", &old.redact_source(ta), &new.redact_source(tb));
    }
}

/// The loaders of guardrail's own YAML files: a policy file, a test file and a waiver file
/// (the first byte picks which). They report problems as diagnostics, never panic.
pub fn policy_loaders(data: &[u8]) {
    if data.len() > MAX_INPUT || data.is_empty() {
        return;
    }
    let text = String::from_utf8_lossy(&data[1..]);
    match data[0] % 3 {
        0 => {
            let (set, _) = PolicySet::load_with(
                &[("fuzz.yaml".to_string(), text.to_string())],
                Compile::Eager,
            );
            let _ = set.rule_count();
        }
        1 => {
            let (file, _) = TestFile::load("fuzz.test.yaml", &text);
            let _ = file.lint(library());
        }
        _ => {
            let (waivers, _) = Waivers::load("waivers.yaml", &text);
            let _ = waivers.lint(library());
        }
    }
}

/// guardrail.yaml: parsed and validated, never a panic; a valid one answers environment
/// questions.
pub fn guardrail_yaml(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(config) = Config::parse(&text) {
        let _ = config.check_environment("production");
        let _ = config.check_environment("prodution");
        let _ = PolicySet::check_overrides(library(), &config.policy_params);
    }
}

/// The shipped policy library, loaded once as `guardrail check` loads it.
fn library() -> &'static PolicySet {
    static SET: OnceLock<PolicySet> = OnceLock::new();
    SET.get_or_init(|| {
        guardrail_core::project::policies::load_set(&[])
            .unwrap_or_else(|e| panic!("the embedded library loads: {:?}", e.lines))
            .0
    })
}

/// An empty policy set: the report holds the target, its status and its diff.
fn no_policies() -> &'static PolicySet {
    static SET: OnceLock<PolicySet> = OnceLock::new();
    SET.get_or_init(|| PolicySet::load_with(&[], Compile::Eager).0)
}

/// A config of each format that holds a secret, with the fuzzer's bytes after it (so they can
/// make the file odd or invalid, but not move the secret out of its secret position).
fn with_secret(format: Format, secret: &str, rest: &str) -> String {
    match format {
        Format::Yaml => format!("password: {secret}\n{rest}"),
        Format::Json => format!(
            "{{\"password\": \"{secret}\", \"other\": {}}}",
            serde_json::Value::String(rest.to_string())
        ),
        Format::Toml => format!("password = \"{secret}\"\n{rest}"),
        Format::Ini => format!("[client]\npassword = {secret}\n{rest}"),
        Format::Haproxy => {
            format!("userlist admins\n    user admin insecure-password {secret}\n{rest}")
        }
        Format::Nginx => {
            format!("http {{\n    proxy_set_header Authorization \"Basic {secret}\";\n}}\n{rest}")
        }
        Format::Ios => format!("snmp-server community {secret} RO\n{rest}"),
        Format::Fetchmail => {
            format!("poll mail.example.com user \"u\" password \"{secret}\"\n{rest}")
        }
    }
}

/// No secret byte of the input in any output: the first byte picks the format, the next eight
/// make two secrets (the old and the new value), the rest follows the secret line. Every text
/// a user can see — the tree dump, the redacted source, the unified diff, errors, and the
/// report in every output format — is searched for both secrets. The report is built with no
/// policy (rules never see a secret's value: `secrets_are_never_visible_to_rules` in
/// tests/policy_engine.rs), so each run costs a parse, a diff and the renderers.
pub fn redaction(data: &[u8]) {
    if data.len() > MAX_INPUT || data.len() < 9 {
        return;
    }
    let format = Format::ALL[data[0] as usize % Format::ALL.len()];
    let secret = |seed: &[u8]| -> String {
        // Long and made of letters and digits, so it is a whole word of every format and never
        // appears by chance in a message.
        let mut s = String::from("Zq");
        for b in seed {
            s.push_str(&format!("{b:02x}"));
        }
        s + "Xv9"
    };
    let (old_secret, new_secret) = (secret(&data[1..5]), secret(&data[5..9]));
    let rest = String::from_utf8_lossy(&data[9..]);
    if rest.contains("Zq") {
        return;
    }
    let old_text = with_secret(format, &old_secret, &rest);
    let new_text = with_secret(format, &new_secret, &rest);
    let mut shown: Vec<String> = Vec::new();
    let loaded = |name: &str, text: &str, shown: &mut Vec<String>| -> Option<Loaded> {
        match pipeline::parse(name, text.as_bytes(), Some(format)) {
            Ok(l) => {
                shown.push(l.doc.dump());
                shown.push(l.redacted().into_owned());
                shown.extend(l.doc.diagnostics.iter().map(|d| d.render(name)));
                Some(l)
            }
            Err(bad) => {
                shown.extend(bad.lines);
                None
            }
        }
    };
    let old = loaded("old", &old_text, &mut shown);
    let new = loaded("new", &new_text, &mut shown);
    if let (Some(o), Some(n)) = (&old, &new) {
        shown.push(diff::text::unified(
            "old",
            "new",
            &o.redacted(),
            &n.redacted(),
        ));
        for e in diff::diff(&o.doc.root, &n.doc.root) {
            let json = e.to_json();
            shown.push(json.to_string());
            shown.push(diff::sentence(&json));
        }
        let info = TargetInfo {
            name: "fuzz".into(),
            kind: "generic".into(),
            env: "production".into(),
            owners: Vec::new(),
            critical: false,
            format: format.name().to_string(),
        };
        let mut report = Report::default();
        let inventory = [InventoryEntry {
            target: info.clone(),
            doc: Some(&n.doc.root),
        }];
        pipeline::evaluate_target(
            no_policies(),
            &info,
            old.as_ref(),
            new.as_ref(),
            &ChangeInfo::default(),
            &inventory,
            &ParamOverrides::default(),
            &mut report,
        );
        for output in Output::ALL {
            let opts = RenderOptions {
                color: false,
                show_diff: true,
            };
            shown.push(report::render(&report, output, &opts));
        }
    }
    for text in &shown {
        for s in [&old_secret, &new_secret] {
            assert!(!text.contains(s.as_str()), "secret {s} shown in:\n{text}");
        }
    }
}
