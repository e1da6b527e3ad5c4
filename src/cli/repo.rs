//! The change set of an infra repository: which files changed against a git ref (`--base`) or a
//! base directory (`--base-dir`), with their old and new bytes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::input::BadInput;

/// One changed file, with a path relative to the repository root (the directory of
/// `guardrail.yaml`), `/`-separated. `old` is `None` for an added file, `new` for a deleted one.
#[derive(Debug, Clone)]
pub struct ChangedFile {
    pub path: String,
    pub old: Option<Vec<u8>>,
    pub new: Option<Vec<u8>>,
}

fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(err
            .lines()
            .next()
            .unwrap_or("git failed")
            .trim()
            .to_string());
    }
    Ok(out.stdout)
}

fn bad(msg: String) -> BadInput {
    BadInput::one(msg)
}

/// Files changed between the merge base of `base` and `HEAD`, and the working tree. Untracked
/// files are not seen (stage them); files outside `root` are ignored.
pub fn from_git(root: &Path, base: &str) -> Result<Vec<ChangedFile>, BadInput> {
    let top = git(root, &["rev-parse", "--show-toplevel"]).map_err(|e| {
        bad(format!(
            "{}: error[git.not-a-repo]: --base needs a git repository: {e}",
            root.display()
        ))
    })?;
    let top = PathBuf::from(String::from_utf8_lossy(&top).trim());
    let merge_base = git(root, &["merge-base", base, "HEAD"]).map_err(|e| {
        bad(format!(
            "error[git.unknown-ref]: cannot find the merge base of `{base}` and HEAD: {e}"
        ))
    })?;
    let merge_base = String::from_utf8_lossy(&merge_base).trim().to_string();
    let listing = git(
        &top,
        &[
            "diff",
            "--name-status",
            "--no-renames",
            "-z",
            &merge_base,
            "--",
        ],
    )
    .map_err(|e| bad(format!("error[git.diff]: git diff failed: {e}")))?;
    // The config root may be a subdirectory of the git repository.
    let root_abs = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let top_abs = std::fs::canonicalize(&top).unwrap_or(top.clone());
    let prefix = root_abs
        .strip_prefix(&top_abs)
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .unwrap_or_default();
    let mut fields = listing.split(|&b| b == 0).filter(|f| !f.is_empty());
    let mut out = Vec::new();
    while let (Some(status), Some(path)) = (fields.next(), fields.next()) {
        let status = String::from_utf8_lossy(status);
        let git_path = String::from_utf8_lossy(path).into_owned();
        let rel = if prefix.is_empty() {
            git_path.clone()
        } else {
            match git_path.strip_prefix(&format!("{prefix}/")) {
                Some(r) => r.to_string(),
                None => continue,
            }
        };
        let old = if status.starts_with('A') {
            None
        } else {
            Some(
                git(&top, &["show", &format!("{merge_base}:{git_path}")]).map_err(|e| {
                    bad(format!(
                        "{rel}: error[git.show]: cannot read the base version: {e}"
                    ))
                })?,
            )
        };
        let new = if status.starts_with('D') {
            None
        } else {
            Some(super::input::read(&root.join(&rel))?)
        };
        out.push(ChangedFile {
            path: rel,
            old,
            new,
        });
    }
    Ok(out)
}

/// Files that differ between `base_dir` (old) and `root` (new), by content.
pub fn from_base_dir(root: &Path, base_dir: &Path) -> Result<Vec<ChangedFile>, BadInput> {
    if !base_dir.is_dir() {
        return Err(bad(format!(
            "{}: error[input.base-dir]: --base-dir is not a directory",
            base_dir.display()
        )));
    }
    // A base directory kept inside the repository is not part of the new tree.
    let skip = std::fs::canonicalize(base_dir).ok();
    let mut paths = BTreeSet::new();
    walk(root, root, skip.as_deref(), &mut paths);
    walk(base_dir, base_dir, None, &mut paths);
    let mut out = Vec::new();
    for rel in paths {
        let old = std::fs::read(base_dir.join(&rel)).ok();
        let new = std::fs::read(root.join(&rel)).ok();
        if old != new {
            out.push(ChangedFile {
                path: rel,
                old,
                new,
            });
        }
    }
    Ok(out)
}

/// Every file under `dir` (relative to `root`, `/`-separated), skipping `.git`, `target` and
/// the directory `skip`.
fn walk(root: &Path, dir: &Path, skip: Option<&Path>, out: &mut BTreeSet<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name();
        if name == ".git" || name == "target" {
            continue;
        }
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            if skip.is_some() && std::fs::canonicalize(&p).ok().as_deref() == skip {
                continue;
            }
            walk(root, &p, skip, out);
        } else if ft.is_file()
            && let Ok(rel) = p.strip_prefix(root)
        {
            out.insert(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// Every file of the repository at `root` (for the inventory), relative and `/`-separated.
pub fn all_files(root: &Path) -> Vec<String> {
    let mut set = BTreeSet::new();
    walk(root, root, None, &mut set);
    set.into_iter().collect()
}
