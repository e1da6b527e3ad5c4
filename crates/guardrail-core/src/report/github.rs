//! GitHub Actions workflow commands: one annotation per unwaived finding, one per notice, and
//! a last line with the verdict.
//!
//! `::error file=F,line=L,title=T::message` for mandatory findings, `::warning` for approval,
//! `::notice` for advisory; waived findings are not annotated. Values are escaped as the
//! runner expects: `%`, CR and LF everywhere, and also `:` and `,` in properties, so a message
//! can never end the command early or start a new one. Other control characters are written
//! as `\u{..}` escapes.

use std::fmt::Write;

use super::{Enforcement, Finding, Report};

/// Options of the GitHub rendering.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options {}

/// Renders the report as workflow commands, one per line.
pub fn render(report: &Report, _opts: &Options) -> String {
    let mut out = String::new();
    for f in report.findings.iter().filter(|f| f.waived.is_none()) {
        annotation(&mut out, report, f);
    }
    for n in &report.notices {
        let mut props = Vec::new();
        if let Some(file) = &n.file {
            props.push(("file", file.clone()));
            if let Some(line) = n.line.filter(|&l| l >= 1) {
                props.push(("line", line.to_string()));
            }
        }
        props.push(("title", format!("guardrail notice: {}", n.code)));
        command(&mut out, "notice", &props, &n.message);
    }
    let verdict = report.verdict();
    command(
        &mut out,
        "notice",
        &[("title", format!("guardrail: {}", verdict.headline()))],
        &format!(
            "{}: {}. {} (exit code {})",
            verdict.name(),
            verdict.explanation(),
            report.summary(),
            verdict.exit_code()
        ),
    );
    out
}

fn annotation(out: &mut String, report: &Report, f: &Finding) {
    let kind = match f.enforcement {
        Enforcement::Mandatory => "error",
        Enforcement::Approval => "warning",
        Enforcement::Advisory => "notice",
    };
    let mut props = Vec::new();
    if let Some((file, line)) = report.location_of(f) {
        props.push(("file", file.to_string()));
        props.push(("line", line.to_string()));
    }
    let mut title = format!("guardrail {} {}/{}", f.enforcement.name(), f.policy, f.rule);
    if f.error {
        title.push_str(" (rule error)");
    }
    props.push(("title", title));

    let mut message = format!("[{} ({})] {}", f.target, f.env, f.message);
    if let Some(gate) = &f.approvals {
        let _ = write!(
            message,
            "\nNeeds {} approval{}",
            gate.count,
            if gate.count == 1 { "" } else { "s" }
        );
        if !gate.groups.is_empty() {
            let _ = write!(message, " from {}", gate.groups.join(", "));
        }
        message.push('.');
    }
    if let Some(docs) = &f.docs {
        let _ = write!(message, "\nDocs: {docs}");
    }
    command(out, kind, &props, &message);
}

/// Writes one `::kind props::data` line.
fn command(out: &mut String, kind: &str, props: &[(&str, String)], data: &str) {
    out.push_str("::");
    out.push_str(kind);
    for (i, (key, value)) in props.iter().enumerate() {
        out.push(if i == 0 { ' ' } else { ',' });
        let _ = write!(out, "{key}={}", escape_property(value));
    }
    out.push_str("::");
    out.push_str(&escape_data(data));
    out.push('\n');
}

/// The runner's escaping of a command's message.
pub fn escape_data(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c => push_visible(&mut out, c),
        }
    }
    out
}

/// Pushes `c`, or a `\u{..}` escape for a control character other than tab: a log viewer
/// must not take colours or cursor moves from config text.
fn push_visible(out: &mut String, c: char) {
    if c.is_control() && c != '\t' {
        let _ = write!(out, "\\u{{{:x}}}", c as u32);
    } else {
        out.push(c);
    }
}

/// The runner's escaping of a command's property value.
pub fn escape_property(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            ':' => out.push_str("%3A"),
            ',' => out.push_str("%2C"),
            c => push_visible(&mut out, c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_the_runner() {
        assert_eq!(escape_data("50%\r\n::x, y:z"), "50%25%0D%0A::x, y:z");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        assert_eq!(escape_data("\u{1b}[31m\tx"), "\\u{1b}[31m\tx");
    }
}
