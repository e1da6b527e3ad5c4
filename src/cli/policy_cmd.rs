//! `guardrail policy test [DIR]` and `guardrail policy lint [DIR]`.

use std::path::{Path, PathBuf};

use super::{bad_input, policies};
use crate::formats;
use crate::policy::{self, PolicyDiagnostic, PolicySet, TestFile, Waivers};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Run the policy test cases (`*.test.yaml`) under DIR: one line per case, then
    /// `N passed, N failed`; exit 1 on any failure, 2 on a broken policy or test file.
    Test {
        /// Directory of policies and their tests.
        #[arg(default_value = "policies")]
        dir: PathBuf,
        /// Only run cases whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
    },
    /// Validate every policy, test and waiver file under DIR and report every problem at once;
    /// exit 2 when any is an error.
    Lint {
        /// Directory of policies.
        #[arg(default_value = "policies")]
        dir: PathBuf,
    },
}

pub fn run(cmd: Command) -> i32 {
    match cmd {
        Command::Test { dir, filter } => test(&dir, filter.as_deref()),
        Command::Lint { dir } => lint(&dir),
    }
}

struct Files {
    policies: Vec<(String, String)>,
    tests: Vec<(String, String)>,
    waivers: Vec<(String, String)>,
}

fn read_all(dir: &Path) -> Result<Files, super::input::BadInput> {
    let mut files = Files {
        policies: Vec::new(),
        tests: Vec::new(),
        waivers: Vec::new(),
    };
    for p in policies::files_under(&[dir.to_path_buf()])? {
        let name = p.display().to_string();
        let text = String::from_utf8_lossy(&super::input::read(&p)?).into_owned();
        if policy::is_test_file(&name) {
            files.tests.push((name, text));
        } else if policies::is_waiver_file(&p) {
            files.waivers.push((name, text));
        } else {
            files.policies.push((name, text));
        }
    }
    Ok(files)
}

fn test(dir: &Path, filter: Option<&str>) -> i32 {
    let files = match read_all(dir) {
        Ok(f) => f,
        Err(e) => return bad_input(e),
    };
    let (set, diags) = PolicySet::load(&files.policies);
    if policy::has_errors(&diags) {
        return bad_input(policies::diagnostics_to_bad_input(&diags));
    }
    let mut load_errors: Vec<PolicyDiagnostic> = Vec::new();
    let mut tests = Vec::new();
    for (name, text) in &files.tests {
        let (t, d) = TestFile::load(name, text);
        load_errors.extend(d.into_iter().filter(PolicyDiagnostic::is_error));
        load_errors.extend(t.lint(&set).into_iter().filter(PolicyDiagnostic::is_error));
        tests.push(t);
    }
    for (name, text) in &files.waivers {
        let (w, d): (Waivers, _) = Waivers::load(name, text);
        load_errors.extend(d.into_iter().filter(PolicyDiagnostic::is_error));
        load_errors.extend(w.lint(&set).into_iter().filter(PolicyDiagnostic::is_error));
    }
    if !load_errors.is_empty() {
        return bad_input(policies::diagnostics_to_bad_input(&load_errors));
    }
    let parse = |format, text: &str| formats::parse(format, text);
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut failures = Vec::new();
    let total: usize = tests.iter().map(|t| t.cases.len()).sum();
    println!(
        "running {total} policy test cases from {} files",
        tests.len()
    );
    for t in &tests {
        let base = Path::new(&t.file)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let read = |rel: &str| std::fs::read_to_string(base.join(rel)).map_err(|e| e.to_string());
        for case in &t.cases {
            if filter.is_some_and(|f| !case.name.contains(f)) {
                continue;
            }
            let r = policy::run_case(&t.file, case, &set, &parse, &read);
            if r.passed {
                passed += 1;
                println!("test {}::{} ... ok", r.file, r.name);
            } else {
                failed += 1;
                println!("test {}::{} ... FAILED", r.file, r.name);
                failures.push(r);
            }
        }
    }
    if !failures.is_empty() {
        println!("\nfailures:");
        for r in &failures {
            println!("\n---- {}:{} {}", r.file, r.line, r.name);
            for m in &r.mismatches {
                println!("  {}: expected {}, got {}", m.key, m.expected, m.actual);
            }
        }
        println!();
    }
    if total == 0 {
        println!("no test cases found under {}", dir.display());
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 { 1 } else { 0 }
}

fn lint(dir: &Path) -> i32 {
    let files = match read_all(dir) {
        Ok(f) => f,
        Err(e) => return bad_input(e),
    };
    let mut all: Vec<PolicyDiagnostic> = Vec::new();
    let (set, diags) = PolicySet::load(&files.policies);
    all.extend(diags);
    for (name, text) in &files.tests {
        let (t, diags) = TestFile::load(name, text);
        all.extend(diags);
        all.extend(t.lint(&set));
    }
    for (name, text) in &files.waivers {
        let (w, diags): (Waivers, _) = Waivers::load(name, text);
        all.extend(diags);
        all.extend(w.lint(&set));
    }
    for d in &all {
        println!("{}", d.render());
    }
    let errors = all.iter().filter(|d| d.is_error()).count();
    let warnings = all.len() - errors;
    let count = files.policies.len() + files.tests.len() + files.waivers.len();
    println!(
        "{count} files checked ({} policies, {} rules): {errors} errors, {warnings} warnings",
        set.policies().len(),
        set.rule_count()
    );
    if errors > 0 { 2 } else { 0 }
}
