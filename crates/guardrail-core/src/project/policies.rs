//! Finding and reading policy files, waivers and policy test files for the commands.
//!
//! Policy directories are read recursively; every `*.yaml`/`*.yml` file that is not a test file
//! (`*.test.yaml`) and not under a `fixtures/` directory is a policy. When no directory is given and none exists, the policy library
//! embedded in the binary at build time is used, so guardrail works out of the box.

use std::path::{Path, PathBuf};

use super::read;
use crate::pipeline::BadInput;
use crate::policy::{self, Compile, PolicyDiagnostic, PolicySet, Waivers};

/// The policy library shipped in `policies/`, embedded at build time: (path, text).
pub static EMBEDDED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/embedded_policies.rs"));

/// Directories of test fixtures inside policy directories: never read as policies.
pub const FIXTURES_DIR: &str = "fixtures";

/// Where the policies came from, for messages.
#[derive(Debug, Clone)]
pub enum Origin {
    Dirs(Vec<PathBuf>),
    Embedded,
}

impl Origin {
    pub fn describe(&self) -> String {
        match self {
            Origin::Dirs(d) => d
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            Origin::Embedded => "the embedded policy library".to_string(),
        }
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        // Hidden entries are never policies: Kubernetes mounts a ConfigMap with `..data` and
        // timestamped `..2026_...` directories beside the files, which would load each twice.
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        if p.is_dir() {
            // Test fixtures live beside the policies they test; they are configs, not policies.
            if p.file_name().is_some_and(|n| n == FIXTURES_DIR) {
                continue;
            }
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
}

/// Every YAML file under `dirs`, sorted per directory. A directory that does not exist is bad
/// input (a typo must not silently check nothing).
pub fn files_under(dirs: &[PathBuf]) -> Result<Vec<PathBuf>, BadInput> {
    let mut out = Vec::new();
    for d in dirs {
        if !d.is_dir() {
            return Err(BadInput::one(format!(
                "{}: error[policy.dir-missing]: policy directory does not exist",
                d.display()
            )));
        }
        yaml_files(d, &mut out);
    }
    Ok(out)
}

/// Reads the policy files under `dirs` (or the embedded library when `dirs` is empty).
pub fn read_policy_files(dirs: &[PathBuf]) -> Result<(Vec<(String, String)>, Origin), BadInput> {
    if dirs.is_empty() {
        let files = EMBEDDED
            .iter()
            .filter(|(p, _)| !policy::is_test_file(p))
            .map(|(p, t)| (format!("<embedded>/{p}"), t.to_string()))
            .collect();
        return Ok((files, Origin::Embedded));
    }
    let mut files = Vec::new();
    for p in files_under(dirs)? {
        let name = p.display().to_string();
        if policy::is_test_file(&name) || is_waiver_file(&p) {
            continue;
        }
        let bytes = read(&p)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            BadInput::one(format!(
                "{name}: error[input.utf8]: policy file is not valid UTF-8"
            ))
        })?;
        files.push((name, text));
    }
    Ok((files, Origin::Dirs(dirs.to_vec())))
}

/// Waiver files kept beside policies are named `waivers.yaml` and are not policies.
pub fn is_waiver_file(p: &Path) -> bool {
    p.file_stem().is_some_and(|s| s == "waivers")
}

/// Loads a policy set; any error diagnostic is bad input (all of them reported). An empty set
/// is bad input too: checking against no policy would pass everything. Returns the warnings
/// (one line each) for the caller to show.
pub fn load_set(dirs: &[PathBuf]) -> Result<(PolicySet, Origin, Vec<String>), BadInput> {
    let (files, origin) = read_policy_files(dirs)?;
    if files.is_empty() {
        return Err(BadInput::one(format!(
            "error[policy.none]: no policy files found in {}; refusing to check against no policies",
            origin.describe()
        )));
    }
    // The embedded library is compiled whole by its own tests; here each expression is compiled
    // when first run, so a check of one switch does not pay for the load-balancer pack.
    let mode = match origin {
        Origin::Embedded => Compile::Deferred,
        Origin::Dirs(_) => Compile::Eager,
    };
    let (set, diags) = PolicySet::load_with(&files, mode);
    if policy::has_errors(&diags) {
        return Err(diagnostics_to_bad_input(&diags));
    }
    let warnings = diags
        .iter()
        .filter(|d| !d.is_error())
        .map(PolicyDiagnostic::render)
        .collect();
    Ok((set, origin, warnings))
}

pub fn diagnostics_to_bad_input(diags: &[PolicyDiagnostic]) -> BadInput {
    BadInput {
        lines: diags
            .iter()
            .filter(|d| d.is_error())
            .map(PolicyDiagnostic::render)
            .collect(),
    }
}

/// Loads a waiver file; errors are bad input.
pub fn load_waivers(path: &Path) -> Result<Waivers, BadInput> {
    let name = path.display().to_string();
    let bytes = read(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let (waivers, diags) = Waivers::load(&name, &text);
    if policy::has_errors(&diags) {
        return Err(diagnostics_to_bad_input(&diags));
    }
    Ok(waivers)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded library is loaded with deferred compilation; this compiles all of it, as
    /// `guardrail policy test policies/` does in CI, so that no rule can fail closed for a
    /// syntax error or an unknown variable in a released binary.
    #[test]
    fn the_embedded_library_compiles_whole() {
        let (files, origin) = read_policy_files(&[]).unwrap();
        assert!(matches!(origin, Origin::Embedded));
        assert!(files.len() >= 5, "{} files", files.len());
        let (set, diags) = PolicySet::load_with(&files, Compile::Eager);
        let errors: Vec<String> = diags
            .iter()
            .filter(|d| d.is_error())
            .map(PolicyDiagnostic::render)
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
        let (deferred, _, _) = load_set(&[]).unwrap();
        assert_eq!(deferred.rule_count(), set.rule_count());
    }
}
