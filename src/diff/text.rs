//! The unified text diff of two redacted sources, kept beside the semantic diff for display,
//! and the new-side lines a change touches (for SARIF regions and annotations).
//!
//! Callers pass sources that are already redacted (`Document::redact_source`): this module never
//! sees secrets.

use similar::{DiffTag, TextDiff};

/// Lines of context around each hunk.
pub const CONTEXT: usize = 3;

/// The text comparison of two redacted sources: the unified diff and the new-side lines the
/// change touches, from one diff computation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextComparison {
    /// `--- a`, `+++ b`, `@@` hunks; empty when the texts are equal.
    pub unified: String,
    /// 1-based lines of the new text that were inserted or changed; when lines were only
    /// deleted, the new line right after the first deletion, so the change has a location.
    pub changed_new_lines: Vec<u32>,
}

/// Compares two redacted texts once and returns both views.
pub fn compare(old_name: &str, new_name: &str, old: &str, new: &str) -> TextComparison {
    if old == new {
        return TextComparison::default();
    }
    let diff = TextDiff::from_lines(old, new);
    let mut unified = diff
        .unified_diff()
        .context_radius(CONTEXT)
        .header(old_name, new_name)
        .to_string();
    if !unified.is_empty() && !unified.ends_with('\n') {
        unified.push('\n');
    }
    let new_count = diff.new_len().max(1) as u32;
    let mut changed: Vec<u32> = Vec::new();
    let mut first_deletion: Option<u32> = None;
    // Ops carry index ranges, so long equal runs are skipped without visiting their lines.
    for op in diff.ops() {
        let (tag, old_range, new_range) = op.as_tag_tuple();
        match tag {
            DiffTag::Equal => {}
            DiffTag::Insert | DiffTag::Replace => {
                changed.extend(new_range.map(|i| i as u32 + 1));
            }
            DiffTag::Delete => {
                debug_assert!(!old_range.is_empty());
                first_deletion.get_or_insert((new_range.start as u32 + 1).min(new_count));
            }
        }
    }
    if changed.is_empty() {
        changed.extend(first_deletion);
    }
    TextComparison {
        unified,
        changed_new_lines: changed,
    }
}

/// The unified diff alone (see [`compare`]).
pub fn unified(old_name: &str, new_name: &str, old: &str, new: &str) -> String {
    compare(old_name, new_name, old, new).unified
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
        let changed = |old, new| compare("a", "b", old, new).changed_new_lines;
        assert_eq!(changed("a\nb\nc\n", "a\nB\nc\nd\n"), vec![2, 4]);
        assert_eq!(changed("a\nb\nc\n", "a\nc\n"), vec![2]);
        assert!(changed("a\n", "a\n").is_empty());
    }
}
