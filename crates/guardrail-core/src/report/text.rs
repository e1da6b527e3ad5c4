//! The terminal rendering: verdict first, findings grouped by target, notices, then a summary.
//!
//! Colour only when the caller says the output is a terminal. Every string taken from the
//! report has its control characters escaped, so a config value cannot move the cursor or
//! change colours; multi-line messages are indented under their finding.

use std::fmt::Write;

use anstyle::{AnsiColor, Style};

use super::{Enforcement, Finding, Report, TargetReport, Verdict};

/// Options of the text rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// The output is a terminal: use ANSI colours.
    pub color: bool,
    /// List each target's semantic diff entries.
    pub show_diff: bool,
}

/// Longest rendering of an old or new value in the diff listing, in characters.
const MAX_VALUE_CHARS: usize = 72;

/// The styles in use; all plain when colour is off.
struct Palette {
    bold: Style,
    dim: Style,
    verdict: Style,
    mandatory: Style,
    approval: Style,
    advisory: Style,
    added: Style,
    removed: Style,
    changed: Style,
}

impl Palette {
    fn new(color: bool, verdict: Verdict) -> Palette {
        if !color {
            let p = Style::new();
            return Palette {
                bold: p,
                dim: p,
                verdict: p,
                mandatory: p,
                approval: p,
                advisory: p,
                added: p,
                removed: p,
                changed: p,
            };
        }
        let fg = |c: AnsiColor| Style::new().fg_color(Some(c.into()));
        Palette {
            bold: Style::new().bold(),
            dim: Style::new().dimmed(),
            verdict: match verdict {
                Verdict::Pass => fg(AnsiColor::Green),
                Verdict::Warn => fg(AnsiColor::Cyan),
                Verdict::ApprovalRequired => fg(AnsiColor::Yellow),
                Verdict::Blocked => fg(AnsiColor::Red),
            }
            .bold(),
            mandatory: fg(AnsiColor::Red).bold(),
            approval: fg(AnsiColor::Yellow).bold(),
            advisory: fg(AnsiColor::Cyan),
            added: fg(AnsiColor::Green),
            removed: fg(AnsiColor::Red),
            changed: fg(AnsiColor::Yellow),
        }
    }

    fn enforcement(&self, e: Enforcement) -> Style {
        match e {
            Enforcement::Mandatory => self.mandatory,
            Enforcement::Approval => self.approval,
            Enforcement::Advisory => self.advisory,
        }
    }
}

/// `text` painted with `style` (nothing added for a plain style).
fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// Renders the report for a terminal or a CI log.
pub fn render(report: &Report, opts: &Options) -> String {
    let verdict = report.verdict();
    let pal = Palette::new(opts.color, verdict);
    let mut out = String::new();

    let _ = writeln!(
        out,
        "{}: {} (exit code {})",
        paint(pal.verdict, verdict.headline()),
        verdict.explanation(),
        verdict.exit_code()
    );

    // Findings grouped by target, in target order; findings of targets the report does not
    // list come after, grouped by (target, env) in order of appearance.
    let order = report.findings_by_severity();
    let mut shown = vec![false; report.findings.len()];
    for t in &report.targets {
        out.push('\n');
        target_header(&mut out, &pal, t);
        let mut any = false;
        for &i in &order {
            let f = &report.findings[i];
            if !shown[i] && f.target == t.name && f.env == t.env {
                shown[i] = true;
                any = true;
                finding(&mut out, &pal, f);
            }
        }
        if !any {
            let _ = writeln!(out, "  {}", paint(pal.dim, "no findings"));
        }
        if opts.show_diff {
            diff_entries(&mut out, &pal, t);
        }
    }
    while let Some(first) = order.iter().copied().find(|&i| !shown[i]) {
        let (target, env) = (&report.findings[first].target, &report.findings[first].env);
        out.push('\n');
        let _ = writeln!(out, "{} [{}]", paint(pal.bold, &clean(target)), clean(env));
        for &i in &order {
            let f = &report.findings[i];
            if !shown[i] && &f.target == target && &f.env == env {
                shown[i] = true;
                finding(&mut out, &pal, f);
            }
        }
    }

    if !report.notices.is_empty() {
        out.push('\n');
        let _ = writeln!(out, "{}", paint(pal.bold, "notices"));
        for n in &report.notices {
            let mut head = format!("  {}", clean(&n.code));
            if let Some(loc) = location(n.file.as_deref(), n.line) {
                let _ = write!(head, "  {loc}");
            }
            let _ = writeln!(out, "{head}");
            indented(&mut out, "    ", &n.message);
        }
    }

    out.push('\n');
    let _ = writeln!(out, "{}", report.summary());
    defuse_workflow_commands(out)
}

/// CI runners read their own commands from a job's log: GitHub Actions takes a line that
/// starts with `::` after leading spaces, and the legacy `##[` anywhere. This output often
/// lands in such a log and quotes config content a pull request controls, so a zero-width
/// space is put inside those markers: the text reads the same, the runner ignores it.
fn defuse_workflow_commands(out: String) -> String {
    if !out.contains("::") && !out.contains("##[") {
        return out;
    }
    let mut safe = String::with_capacity(out.len() + 16);
    for line in out.split_inclusive('\n') {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        safe.push_str(indent);
        let body = if let Some(rest) = body.strip_prefix("::") {
            safe.push_str(":\u{200b}:");
            rest
        } else {
            body
        };
        safe.push_str(&body.replace("##[", "#\u{200b}#["));
    }
    safe
}

fn target_header(out: &mut String, pal: &Palette, t: &TargetReport) {
    let _ = write!(
        out,
        "{} [{}] {}, {}, {}",
        paint(pal.bold, &clean(&t.name)),
        clean(&t.env),
        clean(&t.kind),
        clean(&t.format),
        t.status.name()
    );
    match (t.old_file.as_deref(), t.new_file.as_deref()) {
        (Some(old), Some(new)) if old != new => {
            let _ = write!(out, ": {} -> {}", clean(old), clean(new));
        }
        (_, Some(file)) | (Some(file), None) => {
            let _ = write!(out, ": {}", clean(file));
        }
        (None, None) => {}
    }
    out.push('\n');
}

fn finding(out: &mut String, pal: &Palette, f: &Finding) {
    let label = format!("{:<9}", f.enforcement.name());
    let style = if f.waived.is_some() {
        pal.dim
    } else {
        pal.enforcement(f.enforcement)
    };
    let _ = write!(
        out,
        "  {}  {}/{}",
        paint(style, &label),
        clean(&f.policy),
        clean(&f.rule)
    );
    if let Some(loc) = location(f.file.as_deref(), f.line) {
        let _ = write!(out, "  {loc}");
    }
    if let Some((file, line)) = &f.removed_from {
        let was = format!("(removed from {}:{line})", clean(file));
        let _ = write!(out, " {}", paint(pal.dim, &was));
    }
    if f.error {
        let _ = write!(out, "  {}", paint(style, "[rule error]"));
    }
    if f.waived.is_some() {
        let _ = write!(out, "  {}", paint(pal.dim, "[waived]"));
    }
    out.push('\n');
    indented(out, "      ", &f.message);
    if let Some(gate) = &f.approvals {
        let mut need = format!(
            "needs {} approval{}",
            gate.count,
            if gate.count == 1 { "" } else { "s" }
        );
        if !gate.groups.is_empty() {
            let groups: Vec<String> = gate.groups.iter().map(|g| clean(g)).collect();
            let _ = write!(need, " from {}", groups.join(", "));
        }
        let _ = writeln!(out, "      {need}");
    }
    if let Some(w) = &f.waived {
        let mut by = format!("owner {}", clean(&w.owner));
        if let Some(expires) = &w.expires {
            let _ = write!(by, ", expires {}", clean(expires));
        }
        indented(
            out,
            "      ",
            &format!("waived ({by}): {}", w.reason.replace('\r', "")),
        );
    }
    if let Some(docs) = &f.docs {
        let _ = writeln!(out, "      docs: {}", clean(docs));
    }
}

fn diff_entries(out: &mut String, pal: &Palette, t: &TargetReport) {
    if t.diff.is_empty() {
        return;
    }
    let _ = writeln!(out, "  {}", paint(pal.bold, "changes"));
    for entry in &t.diff {
        let op = entry.get("op").and_then(|v| v.as_str()).unwrap_or("?");
        let (sign, style) = match op {
            "added" => ("+", pal.added),
            "removed" => ("-", pal.removed),
            "moved" => (">", pal.changed),
            _ => ("~", pal.changed),
        };
        if crate::diff::needs_words(entry) {
            let line = format!("{sign} {}", clean(&crate::diff::sentence(entry)));
            let _ = writeln!(out, "    {}", paint(style, &line));
            continue;
        }
        let path = entry.get("path").and_then(|v| v.as_str()).unwrap_or(".");
        let old = entry.get("old").filter(|v| !v.is_null());
        let new = entry.get("new").filter(|v| !v.is_null());
        let value = match op {
            "added" => new.map(short_value),
            "removed" => old.map(short_value),
            _ => Some(format!(
                "{} -> {}",
                old.map(short_value).unwrap_or_else(|| "null".into()),
                new.map(short_value).unwrap_or_else(|| "null".into())
            )),
        };
        let mut line = format!("{} {}", sign, clean(path));
        if let Some(v) = value {
            let _ = write!(line, ": {v}");
        }
        let old_line = entry.get("old_line").and_then(|v| v.as_u64());
        let new_line = entry.get("new_line").and_then(|v| v.as_u64());
        match (old_line, new_line) {
            (_, Some(n)) => {
                let _ = write!(line, " (line {n})");
            }
            (Some(o), None) => {
                let _ = write!(line, " (old line {o})");
            }
            (None, None) => {}
        }
        let _ = writeln!(out, "    {}", paint(style, &line));
    }
}

/// A value as compact JSON, cut to [`MAX_VALUE_CHARS`] characters.
fn short_value(v: &serde_json::Value) -> String {
    let s = clean(&v.to_string());
    if s.chars().count() <= MAX_VALUE_CHARS {
        return s;
    }
    let mut cut: String = s.chars().take(MAX_VALUE_CHARS - 3).collect();
    cut.push_str("...");
    cut
}

/// `file:line`, `file`, or nothing.
fn location(file: Option<&str>, line: Option<u32>) -> Option<String> {
    let file = clean(file?);
    Some(match line {
        Some(l) => format!("{file}:{l}"),
        None => file,
    })
}

/// Writes `text` line by line, each line prefixed by `indent`, control characters escaped.
fn indented(out: &mut String, indent: &str, text: &str) {
    for line in text.split('\n') {
        let _ = writeln!(
            out,
            "{indent}{}",
            clean(line.strip_suffix('\r').unwrap_or(line))
        );
    }
}

/// `s` with control characters (C0 but tab, DEL, C1) written as `\u{..}` escapes, so that text
/// from configs cannot drive the terminal.
fn clean(s: &str) -> String {
    if !s.chars().any(is_unsafe_control) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe_control(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

fn is_unsafe_control(c: char) -> bool {
    c.is_control() && c != '\t'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(clean("a\u{1b}[31mb\nc\td"), "a\\u{1b}[31mb\\u{a}c\td");
        assert_eq!(clean("plain"), "plain");
    }

    #[test]
    fn workflow_commands_are_defused() {
        let out = defuse_workflow_commands("  ::error::x\nok ##[warning]y :: z\n".to_string());
        assert_eq!(out, "  :\u{200b}:error::x\nok #\u{200b}#[warning]y :: z\n");
    }

    #[test]
    fn plain_style_adds_nothing() {
        assert_eq!(paint(Style::new(), "x"), "x");
    }
}
