//! What the pages show, computed from the API's bodies (pure, tested here): times, the rows of a
//! semantic diff, the numbered lines of a unified diff, findings, and what a change still needs.
//! Values that come from users or configs stay plain text here; the templates escape them.

use chrono::{DateTime, Utc};

use crate::service::api::ChangeView;
use guardrail_core::diff;

/// An instant: the UTC value as text (shown without JavaScript, and as the hover title) and
/// RFC 3339 for the script that shows it in the viewer's zone.
#[derive(Debug, Clone)]
pub struct Time {
    pub iso: String,
    pub utc: String,
}

impl Time {
    pub fn of(t: DateTime<Utc>) -> Time {
        Time {
            iso: t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            utc: t.format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }

    /// A stored RFC 3339 text (audit records); shown as written when it does not parse.
    pub fn of_text(s: &str) -> Time {
        match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Time::of(t.with_timezone(&Utc)),
            Err(_) => Time {
                iso: String::new(),
                utc: s.to_string(),
            },
        }
    }

    /// The `<time>` element. Only our own formatted texts go in (never user input), so the
    /// template may print it unescaped.
    pub fn html(&self) -> String {
        format!(
            "<time datetime=\"{}\" title=\"{}\">{}</time>",
            self.iso, self.utc, self.utc
        )
    }
}

/// "3h 12m" ago, rounded to minutes (days for old changes).
pub fn age(from: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - from).num_seconds().max(0);
    match secs {
        s if s < 60 => "just now".into(),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// One entry of a semantic diff.
#[derive(Debug, Clone)]
pub struct DiffRow {
    pub op: String,
    pub path: String,
    pub old: String,
    pub new: String,
    /// "12", "12 → 14", "old 12".
    pub lines: String,
    /// The sentence every output uses for this entry.
    pub sentence: String,
}

/// A value of a diff entry as text: secrets only as "(secret)", strings as written, the rest
/// as compact JSON, absent as nothing.
fn shown(entry: &serde_json::Value, key: &str, secret: bool) -> String {
    match entry.get(key) {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(_) if secret => "(secret)".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

pub fn diff_row(entry: &serde_json::Value) -> DiffRow {
    let secret = entry.get("secret").and_then(|v| v.as_bool()) == Some(true);
    let text = |k: &str| {
        entry
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let num = |k: &str| entry.get(k).and_then(|v| v.as_u64());
    let op = text("op");
    let (old, new) = if op == "moved" {
        (
            num("old_position")
                .map(|p| format!("position {p}"))
                .unwrap_or_default(),
            num("new_position")
                .map(|p| format!("position {p}"))
                .unwrap_or_default(),
        )
    } else {
        (shown(entry, "old", secret), shown(entry, "new", secret))
    };
    let lines = match (num("old_line"), num("new_line")) {
        (Some(o), Some(n)) if o != n => format!("{o} → {n}"),
        (_, Some(n)) => n.to_string(),
        (Some(o), None) => format!("old {o}"),
        (None, None) => String::new(),
    };
    DiffRow {
        op,
        path: text("path"),
        old,
        new,
        lines,
        sentence: diff::sentence(entry),
    }
}

/// One line of a unified diff with its old and new line numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniLine {
    /// `add`, `del`, `ctx`, `hunk` or `file`.
    pub class: &'static str,
    pub old: String,
    pub new: String,
    pub text: String,
}

/// Numbers the lines of a unified diff from its hunk headers (`@@ -a,b +c,d @@`).
pub fn unified_lines(text: &str) -> Vec<UniLine> {
    let mut out = Vec::new();
    let (mut old, mut new) = (0u64, 0u64);
    for line in text.lines() {
        let mut l = UniLine {
            class: "ctx",
            old: String::new(),
            new: String::new(),
            text: line.to_string(),
        };
        if line.starts_with("--- ") || line.starts_with("+++ ") {
            l.class = "file";
        } else if let Some(rest) = line.strip_prefix("@@ ") {
            l.class = "hunk";
            let start = |sign: char| {
                rest.split_whitespace()
                    .find_map(|w| w.strip_prefix(sign))
                    .and_then(|w| w.split(',').next())
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(1)
            };
            old = start('-');
            new = start('+');
        } else if line.starts_with('+') {
            l.class = "add";
            l.new = new.to_string();
            new += 1;
        } else if line.starts_with('-') {
            l.class = "del";
            l.old = old.to_string();
            old += 1;
        } else if line.starts_with('\\') {
            l.class = "file";
        } else {
            l.old = old.to_string();
            l.new = new.to_string();
            old += 1;
            new += 1;
        }
        out.push(l);
    }
    out
}

/// One target of an evaluation report.
#[derive(Debug, Clone)]
pub struct TargetSection {
    pub name: String,
    pub kind: String,
    pub format: String,
    pub status: String,
    pub entries: Vec<DiffRow>,
    pub unified: Vec<UniLine>,
    /// Column headings of the two sides ("Old"/"New"; a drift's "Baseline"/"Live").
    pub old_label: &'static str,
    pub new_label: &'static str,
    /// What an empty semantic diff means here.
    pub empty: &'static str,
}

pub fn target_sections(report: &serde_json::Value) -> Vec<TargetSection> {
    let s = |v: &serde_json::Value, k: &str| {
        v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
    };
    report
        .get("targets")
        .and_then(|t| t.as_array())
        .into_iter()
        .flatten()
        .map(|t| TargetSection {
            name: s(t, "name"),
            kind: s(t, "kind"),
            format: s(t, "format"),
            status: s(t, "status"),
            entries: t
                .get("diff")
                .and_then(|d| d.as_array())
                .into_iter()
                .flatten()
                .map(diff_row)
                .collect(),
            unified: unified_lines(t.get("unified_diff").and_then(|u| u.as_str()).unwrap_or("")),
            old_label: "Old",
            new_label: "New",
            empty: "No semantic change.",
        })
        .collect()
}

/// One policy finding.
#[derive(Debug, Clone)]
pub struct FindingRow {
    pub level: String,
    pub rule: String,
    pub target: String,
    pub line: Option<u64>,
    pub message: String,
    /// Only http(s) links are links.
    pub docs: Option<String>,
    pub waived: bool,
}

pub fn findings(list: &[serde_json::Value]) -> Vec<FindingRow> {
    list.iter()
        .map(|f| {
            let s = |k: &str| f.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
            FindingRow {
                level: s("enforcement"),
                rule: format!("{}/{}", s("policy"), s("rule")),
                target: s("target"),
                line: f.get("line").and_then(|l| l.as_u64()),
                message: s("message"),
                docs: Some(s("docs")).filter(|d| is_web_link(d)),
                waived: f.get("waived").is_some_and(|w| !w.is_null()),
            }
        })
        .collect()
}

/// The findings of an evaluation report.
pub fn report_findings(report: &serde_json::Value) -> Vec<FindingRow> {
    findings(
        report
            .get("findings")
            .and_then(|f| f.as_array())
            .map(Vec::as_slice)
            .unwrap_or_default(),
    )
}

/// An http(s) address, which the pages may make a link (never `javascript:` and the like).
pub fn is_web_link(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://")) && !s.chars().any(char::is_whitespace)
}

/// What a change still needs, in a few words ("1 more approval(s) from netops needed ...").
pub fn needs(c: &ChangeView) -> String {
    match c.state.as_str() {
        "awaiting_approval" | "proposed" => match &c.gate.approvals.rejected_by {
            Some(who) => format!("rejected by {who}: revise or cancel"),
            None if c.gate.approvals.missing.is_empty() => "approvals complete".into(),
            None => c.gate.approvals.missing.join("; "),
        },
        "approved" | "scheduled" => {
            if c.gate.decision.allow {
                "may be applied now".into()
            } else {
                c.gate.decision.reasons.join("; ")
            }
        }
        "applied" => "verification of the live config".into(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unified_lines_are_numbered_from_their_hunks() {
        let text = "--- a/x\n+++ b/x\n@@ -10,3 +10,3 @@ backend\n a\n-b\n+c\n d\n";
        let l = unified_lines(text);
        let cells: Vec<(&str, &str, &str)> = l
            .iter()
            .map(|l| (l.class, l.old.as_str(), l.new.as_str()))
            .collect();
        assert_eq!(
            cells,
            vec![
                ("file", "", ""),
                ("file", "", ""),
                ("hunk", "", ""),
                ("ctx", "10", "10"),
                ("del", "11", ""),
                ("add", "", "11"),
                ("ctx", "12", "12"),
            ]
        );
    }

    #[test]
    fn secrets_show_only_that_they_changed_and_moves_show_positions() {
        let secret = diff_row(
            &json!({"op": "changed", "path": "users[a].password", "old": "sha256:1", "new": "sha256:2", "secret": true, "old_line": 3, "new_line": 3}),
        );
        assert_eq!(
            (secret.old.as_str(), secret.new.as_str()),
            ("(secret)", "(secret)")
        );
        assert_eq!(secret.lines, "3");
        assert!(
            secret.sentence.contains("secret changed"),
            "{}",
            secret.sentence
        );
        let moved = diff_row(
            &json!({"op": "moved", "path": "frontends[www].use_backend[api]", "old_position": 1, "new_position": 2, "old_line": 5, "new_line": 6}),
        );
        assert_eq!(
            (moved.old.as_str(), moved.new.as_str()),
            ("position 1", "position 2")
        );
        assert_eq!(moved.lines, "5 → 6");
        let plain = diff_row(&json!({"op": "changed", "path": "a.b", "old": 3, "new": "x"}));
        assert_eq!((plain.old.as_str(), plain.new.as_str()), ("3", "x"));
    }

    #[test]
    fn only_web_addresses_become_links() {
        assert!(is_web_link("https://tickets.example.com/CHG-1"));
        assert!(!is_web_link("javascript:alert(1)"));
        assert!(!is_web_link("CHG-1"));
        assert!(!is_web_link("https://x y"));
    }

    #[test]
    fn ages_read_like_a_person_would_say_them() {
        let t = Utc::now();
        assert_eq!(age(t, t), "just now");
        assert_eq!(age(t, t + chrono::Duration::minutes(5)), "5m");
        assert_eq!(age(t, t + chrono::Duration::minutes(125)), "2h 5m");
        assert_eq!(age(t, t + chrono::Duration::hours(50)), "2d 2h");
    }
}
