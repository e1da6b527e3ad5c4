//! The Markdown rendering: a pull request comment.
//!
//! A heading with the status word, a sentence on what it means, a table of findings, the
//! notices, and per target its redacted unified diff folded in `<details>`. Text from the
//! report is escaped for the place it lands in (table cell, code span, HTML summary), and a
//! diff fence is always longer than any run of backticks in the diff. The whole comment stays
//! under [`Options::max_len`] bytes (GitHub refuses comments over 65,536 characters): rows and
//! diffs that do not fit are cut, with a note saying so.

use std::fmt::Write;

use super::{Finding, Report, TargetReport};

/// GitHub's limit on a comment body, in characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// Room kept for the notes that say something was cut.
const NOTE_RESERVE: usize = 1_000;

/// Options of the Markdown rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Upper bound on the output's length in bytes (so also in characters). The default
    /// leaves about 5,000 characters of GitHub's limit for what a bot adds around it.
    pub max_len: usize,
    /// Include each target's unified diff.
    pub show_diff: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_len: 60_000,
            show_diff: true,
        }
    }
}

/// Renders the report as a pull request comment.
pub fn render(report: &Report, opts: &Options) -> String {
    let verdict = report.verdict();
    let footer = format!("\n{}.\n", report.summary());
    let budget = opts.max_len.saturating_sub(footer.len() + NOTE_RESERVE);
    let fits = |out: &String, extra: usize| out.len() + extra <= budget;

    let mut out = String::new();
    let _ = writeln!(out, "## guardrail check: {}\n", verdict.headline());
    let mut sentence = verdict.explanation().to_string();
    if let Some(first) = sentence.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    let _ = writeln!(out, "{sentence} (exit code {}).", verdict.exit_code());

    // Findings.
    out.push('\n');
    if report.findings.is_empty() {
        out.push_str("No findings.\n");
    } else {
        out.push_str("| Enforcement | Rule | Target | Location | Message |\n");
        out.push_str("| --- | --- | --- | --- | --- |\n");
        let order = report.findings_by_severity();
        for (shown, &i) in order.iter().enumerate() {
            let row = finding_row(&report.findings[i]);
            if !fits(&out, row.len()) {
                let _ = writeln!(
                    out,
                    "\n_{} more findings not shown: the comment would exceed GitHub's size \
                     limit. The CI log and the JSON output have them all._",
                    order.len() - shown
                );
                break;
            }
            out.push_str(&row);
        }
    }

    // Notices.
    if !report.notices.is_empty() {
        out.push_str("\n### Notices\n\n");
        for (shown, n) in report.notices.iter().enumerate() {
            let mut item = format!("- **{}**", cell(&n.code));
            if let Some(file) = &n.file {
                let loc = match n.line {
                    Some(l) => format!("{file}:{l}"),
                    None => file.clone(),
                };
                let _ = write!(item, " {}", code(&loc));
            }
            let _ = writeln!(item, ": {}", inline(&n.message, " "));
            if !fits(&out, item.len()) {
                let _ = writeln!(
                    out,
                    "- _{} more notices not shown (size limit)._",
                    report.notices.len() - shown
                );
                break;
            }
            out.push_str(&item);
        }
    }

    // Diffs.
    if opts.show_diff && !report.targets.is_empty() {
        out.push_str("\n### Changes\n");
        for (shown, t) in report.targets.iter().enumerate() {
            if !diff_section(&mut out, t, budget) {
                let _ = writeln!(
                    out,
                    "\n_Diffs of {} more targets not shown (size limit)._",
                    report.targets.len() - shown
                );
                break;
            }
        }
    }

    out.push_str(&footer);
    out
}

/// One table row, ending with a newline.
fn finding_row(f: &Finding) -> String {
    let mut level = f.enforcement.name().to_string();
    if f.error {
        level.push_str(", rule error");
    }
    if f.waived.is_some() {
        level.push_str(", waived");
    }
    let mut location = match (&f.file, f.line) {
        (Some(file), Some(line)) => code(&format!("{file}:{line}")),
        (Some(file), None) => code(file),
        (None, _) => String::new(),
    };
    if let Some((file, line)) = &f.removed_from {
        let _ = write!(
            location,
            "<br>removed from {}",
            code(&format!("{file}:{line}"))
        );
    }
    let mut message = inline(&f.message, "<br>");
    if let Some(gate) = &f.approvals {
        let _ = write!(
            message,
            "<br>Needs {} approval{}",
            gate.count,
            if gate.count == 1 { "" } else { "s" }
        );
        if !gate.groups.is_empty() {
            let groups: Vec<String> = gate.groups.iter().map(|g| cell(g)).collect();
            let _ = write!(message, " from {}", groups.join(", "));
        }
        message.push('.');
    }
    if let Some(w) = &f.waived {
        let _ = write!(message, "<br>Waived by {}", cell(&w.owner));
        if let Some(x) = &w.expires {
            let _ = write!(message, " until {}", cell(x));
        }
        let _ = write!(message, ": {}", inline(&w.reason, "<br>"));
    }
    if let Some(docs) = &f.docs {
        let _ = write!(message, "<br>{}", docs_link(docs));
    }
    format!(
        "| {} | {} | {} ({}) | {} | {} |\n",
        level,
        code(&format!("{}/{}", f.policy, f.rule)),
        cell(&f.target),
        cell(&f.env),
        location,
        message
    )
}

/// Moves and secret changes listed in words per target, at most.
const MAX_WORDED_ENTRIES: usize = 20;

/// Writes one target's folded diff, cut to fit `budget`. False when not even its heading fits.
fn diff_section(out: &mut String, t: &TargetReport, budget: usize) -> bool {
    let mut summary = format!("{} ({}): {}", t.name, t.env, t.status.name());
    match (&t.old_file, &t.new_file) {
        (Some(old), Some(new)) if old != new => {
            let _ = write!(summary, ", {old} -> {new}");
        }
        (_, Some(file)) | (Some(file), None) => {
            let _ = write!(summary, ", {file}");
        }
        (None, None) => {}
    }
    let open = format!(
        "\n<details><summary>{}</summary>\n\n",
        html(&inline_plain(&summary))
    );
    let close = "\n</details>\n";

    // Moves and secret changes read badly in a line diff (a removal plus an addition; nothing
    // at all): say them in words first.
    let mut words = String::new();
    let noted: Vec<&serde_json::Value> = t
        .diff
        .iter()
        .filter(|e| crate::diff::needs_words(e))
        .collect();
    for e in noted.iter().take(MAX_WORDED_ENTRIES) {
        let _ = writeln!(
            words,
            "- {}",
            cell(&inline_plain(&crate::diff::sentence(e)))
        );
    }
    if noted.len() > MAX_WORDED_ENTRIES {
        let _ = writeln!(words, "- and {} more", noted.len() - MAX_WORDED_ENTRIES);
    }
    if !words.is_empty() {
        words.push('\n');
    }
    let open = format!("{open}{words}");

    if t.unified_diff.is_empty() {
        let body = if words.is_empty() {
            "No text changes.\n"
        } else {
            "No other text changes.\n"
        };
        if out.len() + open.len() + body.len() + close.len() > budget {
            return false;
        }
        out.push_str(&open);
        out.push_str(body);
        out.push_str(close);
        return true;
    }

    let fence = "`".repeat(longest_backtick_run(&t.unified_diff).max(2) + 1);
    let fence_open = format!("{fence}diff\n");
    let fence_close = format!("{fence}\n");
    let overhead = open.len() + fence_open.len() + fence_close.len() + close.len();
    if out.len() + overhead > budget {
        return false;
    }
    let room = budget - out.len() - overhead;

    let total_lines = t.unified_diff.lines().count();
    let mut body = String::new();
    let mut kept = 0;
    for line in t.unified_diff.lines() {
        if body.len() + line.len() + 1 > room {
            break;
        }
        body.push_str(line);
        body.push('\n');
        kept += 1;
    }

    out.push_str(&open);
    if kept == 0 {
        out.push_str("_Diff not shown: the comment would exceed GitHub's size limit._\n");
    } else {
        out.push_str(&fence_open);
        out.push_str(&body);
        out.push_str(&fence_close);
        if kept < total_lines {
            let _ = writeln!(
                out,
                "\n_Diff truncated to {kept} of {total_lines} lines to fit GitHub's comment \
                 size limit._"
            );
        }
    }
    out.push_str(close);
    true
}

fn longest_backtick_run(s: &str) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

/// A docs link, or the URL as code when it is not a plain http(s) URL.
fn docs_link(url: &str) -> String {
    let plain = (url.starts_with("https://") || url.starts_with("http://"))
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '|' | '`'));
    if plain {
        format!("[docs](<{url}>)")
    } else {
        format!("docs: {}", code(url))
    }
}

/// Text for a table cell on one line: line breaks become `br` (or a space), then [`cell`].
fn inline(s: &str, line_break: &str) -> String {
    let lines: Vec<String> = s
        .split('\n')
        .map(|l| cell(l.strip_suffix('\r').unwrap_or(l)))
        .collect();
    lines.join(line_break)
}

/// `s` on one line, control characters dropped.
fn inline_plain(s: &str) -> String {
    s.chars()
        .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
        .filter(|c| !c.is_control())
        .collect()
}

/// Escapes text for a table cell: HTML and Markdown punctuation, and pipes, which would
/// otherwise split the cell.
pub(crate) fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '~' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A code span for a table cell: fenced by more backticks than `s` contains in a row, pipes
/// escaped (GitHub splits table cells before it reads code spans).
fn code(s: &str) -> String {
    let body = inline_plain(s).replace('|', "\\|");
    let ticks = "`".repeat(longest_backtick_run(&body) + 1);
    let pad = if body.starts_with('`') || body.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{body}{pad}{ticks}")
}

/// Escapes text for HTML content.
fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_escape_pipes_html_and_markdown() {
        assert_eq!(cell("a|b <img> *x*"), "a\\|b &lt;img&gt; \\*x\\*");
        assert_eq!(inline("one\r\ntwo", "<br>"), "one<br>two");
    }

    #[test]
    fn code_spans_outrun_backticks() {
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("x``y"), "```x``y```");
        assert_eq!(code("`x"), "`` `x ``");
    }
}
