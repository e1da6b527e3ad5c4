//! Shared helpers for integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use guardrail::document::Format;

/// Every golden input: (format, ok-or-err, path). Expectation files (`.tree`, `.diag`) and
/// READMEs are not inputs.
pub fn golden_inputs() -> Vec<(Format, &'static str, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut out = Vec::new();
    for format in Format::ALL {
        for kind in ["ok", "err"] {
            let dir = root.join(format.name()).join(kind);
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && !is_expectation(p))
                .collect();
            files.sort();
            for f in files {
                out.push((format, kind, f));
            }
        }
    }
    out
}

pub fn is_expectation(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("tree" | "diag" | "md" | "secrets")
    )
}

/// Runs the real `guardrail` binary with `args` in `dir`; returns (exit code, stdout, stderr).
pub fn run_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_guardrail"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run guardrail");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("panicked"),
        "guardrail panicked on {args:?}:\n{stderr}"
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

/// A temporary directory with the given files written into it.
pub fn temp_files(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        let p = dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, content).unwrap();
    }
    dir
}

/// The official SARIF 2.1.0 schema's `run.language` (and `toolComponent.language`) pattern has a
/// stray `]` that a strict regex engine refuses, so the schema does not compile as published.
/// The copy in tests/data stays byte-identical to serde-sarif's; the pattern is dropped on load.
const BROKEN_LANGUAGE_PATTERN: &str = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$";

fn drop_broken_patterns(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            if map.get("pattern").and_then(|p| p.as_str()) == Some(BROKEN_LANGUAGE_PATTERN) {
                map.remove("pattern");
            }
            map.values_mut().for_each(drop_broken_patterns);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_broken_patterns),
        _ => {}
    }
}

/// Asserts that `sarif` is valid against the SARIF 2.1.0 JSON schema, formats included.
pub fn assert_valid_sarif(sarif: &str) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/report/sarif-schema-2.1.0.json");
    let mut schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    drop_broken_patterns(&mut schema);
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(sarif).expect("SARIF is JSON");
    let errors: Vec<String> = validator
        .iter_errors(&v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{sarif}");
}
