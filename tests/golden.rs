//! Golden tests of every parser: `tests/data/<format>/ok/<input>` must parse without errors to
//! the tree in `<input>.tree`; `tests/data/<format>/err/<input>` must give the diagnostics in
//! `<input>.diag` (at least one error). Run with `UPDATE_GOLDEN=1` to rewrite expectations, then
//! read the diff before committing it.

mod common;

use std::fmt::Write;
use std::path::Path;

use guardrail::document::{Document, Severity};
use guardrail::formats;

fn render(doc: &Document) -> String {
    let mut out = doc.dump();
    if !doc.diagnostics.is_empty() {
        out.push_str("--- diagnostics\n");
        for d in &doc.diagnostics {
            let _ = writeln!(out, "{}", d.render("input"));
        }
    }
    out
}

fn check(path: &Path, expected_path: &Path, actual: &str, failures: &mut Vec<String>) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(expected_path, actual).unwrap();
        return;
    }
    match std::fs::read_to_string(expected_path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => {
            let diff = similar::TextDiff::from_lines(&expected, actual)
                .unified_diff()
                .header("expected", "actual")
                .to_string();
            failures.push(format!("{}: output differs\n{diff}", path.display()));
        }
        Err(_) => failures.push(format!(
            "{}: no expectation file {} (run with UPDATE_GOLDEN=1 and review it)",
            path.display(),
            expected_path.display()
        )),
    }
}

#[test]
fn golden_trees_and_diagnostics() {
    let mut failures = Vec::new();
    let inputs = common::golden_inputs();
    for (format, kind, path) in &inputs {
        let bytes = std::fs::read(path).unwrap();
        let doc = formats::parse_bytes(*format, &bytes);
        let actual = render(&doc);
        let ext = if *kind == "ok" { "tree" } else { "diag" };
        let expected_path = path.with_file_name(format!(
            "{}.{ext}",
            path.file_name().unwrap().to_string_lossy()
        ));
        match *kind {
            "ok" if doc.has_errors() => failures.push(format!(
                "{}: ok input has errors:\n{}",
                path.display(),
                render(&doc)
            )),
            "err"
                if !doc
                    .diagnostics
                    .iter()
                    .any(|d| d.severity == Severity::Error) =>
            {
                failures.push(format!(
                    "{}: err input parsed without an error",
                    path.display()
                ))
            }
            _ => {}
        }
        check(path, &expected_path, &actual, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// No golden input, ok or err, may leak a secret: every file may list its plain-text secrets in
/// a comment-free sidecar `<input>.secrets` (one per line), none of which may appear in the dump.
#[test]
fn golden_dumps_never_show_listed_secrets() {
    for (format, _, path) in common::golden_inputs() {
        let secrets_path = path.with_file_name(format!(
            "{}.secrets",
            path.file_name().unwrap().to_string_lossy()
        ));
        let Ok(list) = std::fs::read_to_string(&secrets_path) else {
            continue;
        };
        let bytes = std::fs::read(&path).unwrap();
        let doc = formats::parse_bytes(format, &bytes);
        let dump = doc.dump();
        // Spans are offsets into the text the parser saw (byte-order mark removed).
        let lossy = String::from_utf8_lossy(&bytes);
        let text = formats::check_input(&bytes).unwrap_or(&lossy);
        let redacted = doc.redact_source(text);
        for secret in list.lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                !dump.contains(secret),
                "{}: dump shows secret {secret:?}",
                path.display()
            );
            assert!(
                !redacted.contains(secret),
                "{}: redacted source shows secret {secret:?}",
                path.display()
            );
        }
    }
}

/// docs/formats.md lists the IOS-style secret rules exactly as the parser applies them.
#[test]
fn documented_ios_secret_rules_are_the_parsers() {
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/formats.md"))
            .unwrap();
    let table = formats::ios::secret_rules_markdown();
    assert!(
        docs.contains(&table),
        "docs/formats.md must contain the IOS secret rules table:\n{table}"
    );
}
