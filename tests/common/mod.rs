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
