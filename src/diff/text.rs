//! The unified text diff of two redacted sources, kept beside the semantic diff for display,
//! and the new-side lines a change touches (for SARIF regions and annotations).
//!
//! Callers pass sources that are already redacted (`Document::redact_source`): this module never
//! sees secrets.

use similar::{ChangeTag, TextDiff};

/// Lines of context around each hunk.
pub const CONTEXT: usize = 3;

/// A unified diff (`--- a`, `+++ b`, `@@` hunks) of two redacted texts; empty when equal.
pub fn unified(old_name: &str, new_name: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let diff = TextDiff::from_lines(old, new);
    let mut out = diff
        .unified_diff()
        .context_radius(CONTEXT)
        .header(old_name, new_name)
        .to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// The 1-based lines of `new` that were inserted or changed relative to `old`. When lines were
/// only deleted, the new line right after the deletion is reported so the change has a location.
pub fn changed_new_lines(old: &str, new: &str) -> Vec<u32> {
    if old == new {
        return Vec::new();
    }
    let diff = TextDiff::from_lines(old, new);
    let new_count = new.lines().count().max(1) as u32;
    let mut out: Vec<u32> = Vec::new();
    // Where the first pure deletion sits on the new side: the new line that follows it.
    let mut first_deletion: Option<u32> = None;
    let mut next_new_line = 1u32;
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Equal => next_new_line += 1,
            ChangeTag::Insert => {
                out.push(next_new_line);
                next_new_line += 1;
            }
            ChangeTag::Delete => {
                first_deletion.get_or_insert(next_new_line.min(new_count));
            }
        }
    }
    if out.is_empty() {
        out.extend(first_deletion);
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_has_headers_and_hunks() {
        let u = unified("a/x", "b/x", "a\nb\nc\n", "a\nB\nc\n");
        assert!(u.starts_with("--- a/x\n+++ b/x\n@@"), "{u}");
        assert!(u.contains("-b\n+B\n"), "{u}");
        assert_eq!(unified("a", "b", "same\n", "same\n"), "");
    }

    #[test]
    fn changed_lines() {
        assert_eq!(changed_new_lines("a\nb\nc\n", "a\nB\nc\nd\n"), vec![2, 4]);
        assert_eq!(changed_new_lines("a\nb\nc\n", "a\nc\n"), vec![2]);
        assert!(changed_new_lines("a\n", "a\n").is_empty());
    }
}
