//! The unified text diff of two redacted sources, kept beside the semantic diff for display,
//! and the new-side lines a change touches (for SARIF regions and annotations).
//!
//! Callers pass sources that are already redacted (`Document::redact_source`): this module never
//! sees secrets.

use std::fmt::Write;

use similar::udiff::{UnifiedDiffHunk, UnifiedHunkHeader};
use similar::{DiffOp, DiffTag, TextDiff};

/// Lines of context around each hunk.
pub const CONTEXT: usize = 3;

/// Common lines kept on each side of the changed region when only that region is diffed.
/// Must be at least [`CONTEXT`]; more only matters when a hunk can slide (repeated lines).
const MARGIN: usize = 16;

/// The text comparison of two redacted sources: the unified diff and the new-side lines the
/// change touches, from one diff computation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextComparison {
    /// `--- a`, `+++ b`, `@@` hunks; empty when the texts are equal.
    pub unified: String,
    /// 1-based lines of the new text that were inserted or changed; when lines were only
    /// deleted, the new line right after the first deletion, so the change has a location.
    pub changed_new_lines: Vec<u32>,
    /// The differing runs, in order: (old lines, new lines), 0-based over the whole texts.
    /// Lines outside them are common to both texts.
    changes: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
}

impl TextComparison {
    /// Where a line of the old text is in the new text (1-based both): the same line when it is
    /// common to both; for a deleted or replaced line, the first new line at the place it was
    /// removed from (the last line when it was removed from the end). `new` is the new text.
    /// Findings about a removed object point there, since a pull request shows the new file.
    pub fn old_line_in_new(&self, old_line: u32, new: &str) -> u32 {
        let l = old_line.saturating_sub(1) as usize;
        let mut delta: isize = 0;
        for (o, n) in &self.changes {
            if l < o.start {
                break;
            }
            if l < o.end {
                let last = count_lines(new).max(1);
                return (n.start + 1).min(last) as u32;
            }
            delta = n.end as isize - o.end as isize;
        }
        u32::try_from((l as isize + delta).max(0) + 1).unwrap_or(u32::MAX)
    }
}

/// The non-equal runs of `ops`, shifted by `shift` lines.
fn changed_runs(
    ops: &[DiffOp],
    shift: usize,
) -> Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> {
    ops.iter()
        .filter(|op| op.tag() != DiffTag::Equal)
        .map(|op| {
            let (o, n) = (op.old_range(), op.new_range());
            (
                o.start + shift..o.end + shift,
                n.start + shift..n.end + shift,
            )
        })
        .collect()
}

/// Compares two redacted texts once and returns both views.
///
/// A small change in a large file is diffed in its changed region only: the common leading and
/// trailing lines are found by comparing bytes, and `similar` sees the lines between them plus
/// [`MARGIN`] lines on each side. The output is the same as diffing the whole texts (a test
/// compares the two); when that cannot be shown for an input (a hunk slid into the margin, or
/// a lone `\r` that `similar` would count as a line end), the whole texts are diffed.
pub fn compare(old_name: &str, new_name: &str, old: &str, new: &str) -> TextComparison {
    if old == new {
        return TextComparison::default();
    }
    match Window::around_change(old, new) {
        Some(w) => compare_window(old_name, new_name, old, new, &w)
            .unwrap_or_else(|| compare_whole(old_name, new_name, old, new)),
        None => compare_whole(old_name, new_name, old, new),
    }
}

/// Diffs the whole texts.
fn compare_whole(old_name: &str, new_name: &str, old: &str, new: &str) -> TextComparison {
    let diff = TextDiff::from_lines(old, new);
    let mut unified = diff
        .unified_diff()
        .context_radius(CONTEXT)
        .header(old_name, new_name)
        .to_string();
    if !unified.is_empty() && !unified.ends_with('\n') {
        unified.push('\n');
    }
    let new_count = diff.new_len();
    TextComparison {
        unified,
        changed_new_lines: changed_lines(diff.ops(), 0, || new_count),
        changes: changed_runs(diff.ops(), 0),
    }
}

/// The part of both texts that is diffed: byte ranges that start and end on line boundaries,
/// and the number of lines before them (equal in both texts, since that part is common).
struct Window {
    old: std::ops::Range<usize>,
    new: std::ops::Range<usize>,
    lines_before: usize,
}

impl Window {
    /// The changed region of two different texts plus [`MARGIN`] common lines on each side.
    /// `None` when a text holds a `\r` not followed by `\n`: `similar` ends lines there too.
    fn around_change(old: &str, new: &str) -> Option<Window> {
        if has_lone_cr(old) || has_lone_cr(new) {
            return None;
        }
        let (a, b) = (old.as_bytes(), new.as_bytes());
        // The common leading lines end at the last line end before the first differing byte.
        let p = common_prefix(a, b);
        let prefix_end = a[..p]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1);
        // The common trailing lines, after the common leading ones, start at a line start of
        // both texts.
        let (ra, rb) = (&a[prefix_end..], &b[prefix_end..]);
        let s = common_suffix(ra, rb);
        let (x, y) = (a.len() - s, b.len() - s);
        let line_start = |t: &[u8], i: usize| i == prefix_end || t[i - 1] == b'\n';
        let suffix_start = if s == 0 || (line_start(a, x) && line_start(b, y)) {
            x
        } else {
            match a[x..].iter().position(|&c| c == b'\n') {
                Some(k) => x + k + 1,
                None => a.len(),
            }
        };
        let suffix_len = a.len() - suffix_start;
        // Widen by MARGIN lines on each side.
        let mut lo = prefix_end;
        let mut back = 0;
        while back < MARGIN && lo > 0 {
            lo = a[..lo - 1]
                .iter()
                .rposition(|&c| c == b'\n')
                .map_or(0, |i| i + 1);
            back += 1;
        }
        let mut hi = suffix_start;
        for _ in 0..MARGIN {
            if hi == a.len() {
                break;
            }
            hi = a[hi..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(a.len(), |k| hi + k + 1);
        }
        let after = a.len() - hi;
        debug_assert!(after <= suffix_len);
        Some(Window {
            old: lo..hi,
            new: lo..b.len() - after,
            lines_before: count_newlines(&a[..lo]),
        })
    }
}

/// Diffs the window only. `None` when the result might differ from a diff of the whole texts:
/// a hunk slid (over repeated lines) so far into a margin that less than [`CONTEXT`] common
/// lines are left on that side.
fn compare_window(
    old_name: &str,
    new_name: &str,
    old: &str,
    new: &str,
    w: &Window,
) -> Option<TextComparison> {
    let diff = TextDiff::from_lines(&old[w.old.clone()], &new[w.new.clone()]);
    let ops = diff.ops();
    let margin_kept =
        |op: Option<&DiffOp>| matches!(op, Some(DiffOp::Equal { len, .. }) if *len >= CONTEXT);
    if (w.old.start > 0 && !margin_kept(ops.first()))
        || (w.old.end < old.len() && !margin_kept(ops.last()))
    {
        return None;
    }
    let shift = w.lines_before;
    let mut unified = String::new();
    for group in diff.grouped_ops(CONTEXT) {
        if group.is_empty() {
            continue;
        }
        if unified.is_empty() {
            let _ = writeln!(unified, "--- {old_name}\n+++ {new_name}");
        }
        let shifted: Vec<DiffOp> = group.iter().map(|op| shift_op(op, shift)).collect();
        let hunk = UnifiedDiffHunk::new(group, &diff, true).to_string();
        // The hunk's first line is its `@@` header, numbered within the window.
        if let Some((_, body)) = hunk.split_once('\n') {
            let _ = writeln!(unified, "{}", UnifiedHunkHeader::new(&shifted));
            unified.push_str(body);
        }
    }
    if !unified.is_empty() && !unified.ends_with('\n') {
        unified.push('\n');
    }
    let new_count = || count_lines(new);
    Some(TextComparison {
        unified,
        changed_new_lines: changed_lines(ops, shift, new_count),
        changes: changed_runs(ops, shift),
    })
}

/// The new-side lines that `ops` insert or change (numbered from `shift + 1`), or the line after
/// the first deletion when nothing was inserted. `new_count` is the number of lines of the new text.
fn changed_lines(ops: &[DiffOp], shift: usize, new_count: impl Fn() -> usize) -> Vec<u32> {
    let mut changed: Vec<u32> = Vec::new();
    let mut first_deletion: Option<usize> = None;
    // Ops carry index ranges, so long equal runs are skipped without visiting their lines.
    for op in ops {
        let (tag, old_range, new_range) = op.as_tag_tuple();
        match tag {
            DiffTag::Equal => {}
            DiffTag::Insert | DiffTag::Replace => {
                changed.extend(new_range.map(|i| (shift + i) as u32 + 1));
            }
            DiffTag::Delete => {
                debug_assert!(!old_range.is_empty());
                first_deletion.get_or_insert(shift + new_range.start);
            }
        }
    }
    if changed.is_empty()
        && let Some(at) = first_deletion
    {
        changed.push((at as u32 + 1).min(new_count().max(1) as u32));
    }
    changed
}

fn shift_op(op: &DiffOp, by: usize) -> DiffOp {
    match *op {
        DiffOp::Equal {
            old_index,
            new_index,
            len,
        } => DiffOp::Equal {
            old_index: old_index + by,
            new_index: new_index + by,
            len,
        },
        DiffOp::Delete {
            old_index,
            old_len,
            new_index,
        } => DiffOp::Delete {
            old_index: old_index + by,
            old_len,
            new_index: new_index + by,
        },
        DiffOp::Insert {
            old_index,
            new_index,
            new_len,
        } => DiffOp::Insert {
            old_index: old_index + by,
            new_index: new_index + by,
            new_len,
        },
        DiffOp::Replace {
            old_index,
            old_len,
            new_index,
            new_len,
        } => DiffOp::Replace {
            old_index: old_index + by,
            old_len,
            new_index: new_index + by,
            new_len,
        },
    }
}

/// Length of the common prefix of two byte strings (whole chunks compared first).
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 256;
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + CHUNK <= n && a[i..i + CHUNK] == b[i..i + CHUNK] {
        i += CHUNK;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// Length of the common suffix of two byte strings.
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 256;
    let n = a.len().min(b.len());
    let (la, lb) = (a.len(), b.len());
    let mut i = 0;
    while i + CHUNK <= n && a[la - i - CHUNK..la - i] == b[lb - i - CHUNK..lb - i] {
        i += CHUNK;
    }
    while i < n && a[la - i - 1] == b[lb - i - 1] {
        i += 1;
    }
    i
}

fn count_newlines(t: &[u8]) -> usize {
    t.iter().filter(|&&c| c == b'\n').count()
}

/// The number of lines as `similar` counts them for a text without lone `\r`.
fn count_lines(t: &str) -> usize {
    count_newlines(t.as_bytes()) + usize::from(!t.is_empty() && !t.ends_with('\n'))
}

fn has_lone_cr(t: &str) -> bool {
    let b = t.as_bytes();
    // Most texts have no `\r` at all: a scan without early exit (vector compares) settles them.
    b.iter().fold(false, |found, &c| found | (c == b'\r'))
        && t.match_indices('\r')
            .any(|(i, _)| b.get(i + 1) != Some(&b'\n'))
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
    fn changed_new_lines() {
        let changed = |old, new| compare("a", "b", old, new).changed_new_lines;
        assert_eq!(changed("a\nb\nc\n", "a\nB\nc\nd\n"), vec![2, 4]);
        assert_eq!(changed("a\nb\nc\n", "a\nc\n"), vec![2]);
        assert!(changed("a\n", "a\n").is_empty());
    }

    #[test]
    fn old_lines_map_into_the_new_text() {
        let old = "a\nb\nc\nd\ne\n";
        // `b` and `c` deleted, `x` inserted before `e`.
        let new = "a\nd\nx\ne\n";
        let c = compare("a", "b", old, new);
        let map: Vec<u32> = (1..=5).map(|l| c.old_line_in_new(l, new)).collect();
        // a→1; b, c were removed where `d` now is (2); d→2; e→4.
        assert_eq!(map, vec![1, 2, 2, 2, 4]);
        // Removed from the end: the last line.
        let c = compare("a", "b", "a\nb\nc\n", "a\n");
        assert_eq!(c.old_line_in_new(3, "a\n"), 1);
        // Equal texts: every line is where it was.
        let c = compare("a", "b", old, old);
        assert_eq!(c.old_line_in_new(4, old), 4);
        // A large file diffed in a window maps lines after the change by the shift.
        let big_old: String = (0..500).map(|i| format!("line {i}\n")).collect();
        let big_new = big_old.replacen("line 200\nline 201\n", "", 1);
        let c = compare("a", "b", &big_old, &big_new);
        assert_eq!(c.old_line_in_new(201, &big_new), 201);
        assert_eq!(c.old_line_in_new(400, &big_new), 398);
        assert_eq!(c.old_line_in_new(100, &big_new), 100);
    }

    /// The window diff must print exactly what a diff of the whole texts prints, including
    /// when hunks slide over repeated lines, meet the start or end, or lack a final newline.
    #[test]
    fn window_diff_equals_whole_diff() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        // Few distinct lines, so that hunks can slide; CRLF lines and unterminated ends too.
        const LINES: &[&str] = &["!\n", "a\n", "b\n", " x\n", "c\r\n", "!\n", "interface 1\n"];
        let mut windowed = 0;
        for case in 0..4000 {
            let n = [0, 1, 5, 40, 120][case % 5];
            let mut lines: Vec<String> = Vec::new();
            while lines.len() < n {
                // Runs of one line, longer than the margin at times, so that hunks slide far.
                let line = LINES[next(LINES.len())];
                let run = if next(8) == 0 {
                    1 + next(2 * MARGIN + 4)
                } else {
                    1
                };
                lines.extend(std::iter::repeat_n(line.to_string(), run));
            }
            if next(4) == 0 {
                lines.push("tail".into());
            }
            let old: String = lines.concat();
            for _ in 0..1 + next(3) {
                let at = next(lines.len() + 1);
                match next(3) {
                    0 => {
                        for _ in 0..1 + next(4) {
                            lines.insert(at, LINES[next(LINES.len())].into());
                        }
                    }
                    1 if at < lines.len() => {
                        let k = (1 + next(4)).min(lines.len() - at);
                        lines.drain(at..at + k);
                    }
                    _ if at < lines.len() => lines[at] = LINES[next(LINES.len())].into(),
                    _ => lines.push("end".into()),
                }
            }
            if next(6) == 0 && !lines.is_empty() {
                let last = lines.len() - 1;
                lines[last] = lines[last].trim_end().to_string();
            }
            let new: String = lines.concat();
            if old == new {
                continue;
            }
            let got = compare("old", "new", &old, &new);
            let want = compare_whole("old", "new", &old, &new);
            assert_eq!(got, want, "old:\n{old:?}\nnew:\n{new:?}");
            let w = Window::around_change(&old, &new);
            if w.is_some_and(|w| w.old.start > 0 || w.old.end < old.len()) {
                windowed += 1;
            }
        }
        assert!(windowed > 500, "only {windowed} cases used a window");
    }

    #[test]
    fn a_hunk_that_slides_past_the_margin_is_diffed_whole() {
        let old = format!("x\n{}y\n{}", "a\n".repeat(3 * MARGIN), "z\n".repeat(100));
        let new = old.replacen("y\n", "a\ny\n", 1);
        assert_eq!(
            compare("a", "b", &old, &new),
            compare_whole("a", "b", &old, &new)
        );
    }

    #[test]
    fn lone_carriage_returns_diff_the_whole_text() {
        let old = "a\rb\nc\n".repeat(40);
        let new = old.replacen("c\n", "C\n", 1);
        assert!(Window::around_change(&old, &new).is_none());
        assert_eq!(
            compare("a", "b", &old, &new),
            compare_whole("a", "b", &old, &new)
        );
    }
}
