//! The evaluation pipeline shared by `guardrail check`, the daemon's `POST /v1/evaluate`,
//! change submission and drift: text parsed into a document (with the input guards), diffed
//! against the old one, evaluated against the policies (with the inventory fan-in rules see),
//! and recorded as a report entry. Pure: callers read
//! files or request bodies and pass bytes. May depend on `document`, `formats`, `diff`,
//! `policy` and `report`.

use crate::diff::{self, DiffEntry};
use crate::document::{Document, Format, Severity};
use crate::formats;
use crate::policy::{
    ChangeInfo, InventoryEntry, ParamOverrides, PolicySet, TargetInfo, TargetInput, target_diff,
};
use crate::report::{Report, TargetReport, TargetStatus};

/// A config file read and parsed.
pub struct Loaded {
    /// The name shown to users (the path as given).
    pub name: String,
    /// The text as read (valid UTF-8, byte-order mark removed).
    pub text: String,
    pub doc: Document,
}

impl Loaded {
    /// The source with secrets redacted, for display.
    pub fn redacted(&self) -> std::borrow::Cow<'_, str> {
        self.doc.redact_source(&self.text)
    }
}

/// A file that could not be used: every line is one error naming the file (and line).
#[derive(Debug)]
pub struct BadInput {
    pub lines: Vec<String>,
}

impl BadInput {
    pub fn one(line: String) -> Self {
        BadInput { lines: vec![line] }
    }
}

/// Picks the format: explicit wins, else detected from `path` name, else from content.
pub fn choose_format(explicit: Option<Format>, path: &str, text: &str) -> Result<Format, BadInput> {
    if let Some(f) = explicit {
        return Ok(f);
    }
    formats::detect(Some(path), text).ok_or_else(|| {
        BadInput::one(format!(
            "{path}: error[input.format-unknown]: cannot tell the format of this file; pass --format ({})",
            format_names()
        ))
    })
}

pub fn format_names() -> String {
    Format::accepted_names()
}

/// The start of a file, as text, for format detection (which reads the first few hundred lines).
pub fn sniff(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    const SNIFF_BYTES: usize = 64 * 1024;
    String::from_utf8_lossy(&bytes[..bytes.len().min(SNIFF_BYTES)])
}

/// Parses bytes already read under `name` with the chosen format; errors become [`BadInput`].
/// The input is validated as UTF-8 once, by the format layer's guards.
pub fn parse(name: &str, bytes: &[u8], explicit: Option<Format>) -> Result<Loaded, BadInput> {
    parse_input(name, bytes, explicit)
}

/// [`parse`] for borrowed or owned bytes. Owned bytes become the [`Loaded`] text without a
/// copy (and are validated as UTF-8 once): on a large file the copy, and the fresh pages it
/// touches, cost more than the rest of reading it.
pub fn parse_input<B: AsRef<[u8]> + Into<Vec<u8>>>(
    name: &str,
    bytes: B,
    explicit: Option<Format>,
) -> Result<Loaded, BadInput> {
    let format = choose_format(explicit, name, &sniff(bytes.as_ref()))?;
    let suffix = if explicit.is_some() {
        format!(" (read as {format})")
    } else {
        String::new()
    };
    let text = formats::check_input_owned(bytes.into())
        .map_err(|d| BadInput::one(format!("{}{suffix}", d.render(name))))?;
    let doc = formats::parse(format, &text);
    if doc.has_errors() {
        return Err(BadInput {
            lines: doc
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .map(|d| format!("{}{suffix}", d.render(name)))
                .collect(),
        });
    }
    Ok(Loaded {
        name: name.to_string(),
        text,
        doc,
    })
}

/// The inventory fan-in rules see: the `own` entries (targets whose new documents the caller
/// has), then the `others` parsed for the environment, except those an own entry already names
/// (an own document supersedes a stored or repository copy of the same target).
pub fn inventory<'a>(
    own: impl IntoIterator<Item = InventoryEntry<'a>>,
    others: &'a [(TargetInfo, Loaded)],
) -> Vec<InventoryEntry<'a>> {
    let mut entries: Vec<InventoryEntry<'a>> = own.into_iter().collect();
    let own_count = entries.len();
    for (target, l) in others {
        let named = entries[..own_count]
            .iter()
            .any(|e| e.target.name == target.name && e.target.env == target.env);
        if !named {
            entries.push(InventoryEntry {
                target: target.clone(),
                doc: Some(&l.doc.root),
            });
        }
    }
    entries
}

/// Diffs and evaluates one target and adds it (with its findings) to the report.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_target(
    set: &PolicySet,
    info: &TargetInfo,
    old: Option<&Loaded>,
    new: Option<&Loaded>,
    change: &ChangeInfo,
    inventory: &[InventoryEntry<'_>],
    overrides: &ParamOverrides,
    report: &mut Report,
) {
    let old_root = old.map(|l| &l.doc.root);
    let new_root = new.map(|l| &l.doc.root);
    let entries: Vec<DiffEntry<'_>> = target_diff(old_root, new_root);
    let status = match (old, new) {
        (None, Some(_)) => TargetStatus::Created,
        (Some(_), None) => TargetStatus::Deleted,
        _ if entries.is_empty() => TargetStatus::Unchanged,
        _ => TargetStatus::Modified,
    };
    let old_text = old.map(Loaded::redacted).unwrap_or_default();
    let new_text = new.map(Loaded::redacted).unwrap_or_default();
    let old_label = old
        .map(|l| l.name.clone())
        .unwrap_or_else(|| "/dev/null".into());
    let new_label = new
        .map(|l| l.name.clone())
        .unwrap_or_else(|| "/dev/null".into());
    let mut input = TargetInput::new(info, old_root, new_root, &entries);
    input.change = change;
    input.inventory = inventory;
    input.params = overrides;
    input.old_file = old.map(|l| l.name.as_str());
    input.new_file = new.map(|l| l.name.as_str());
    let mut outcome = set.evaluate(&input);
    let text = diff::text::compare(&old_label, &new_label, &old_text, &new_text);
    if let (Some(_), Some(new)) = (old, new) {
        // Something removed from a target that still exists was at a line of the old file; a
        // pull request (annotations, SARIF) shows the new one, so point where it was removed.
        for f in &mut outcome.findings {
            if let Some((_, line)) = f.removed_from {
                f.file = Some(new.name.clone());
                f.line = Some(text.old_line_in_new(line, &new_text));
            }
        }
    }
    outcome.append_to(report);
    let semantic: Vec<serde_json::Value> = if old.is_some() && new.is_some() {
        entries.iter().map(DiffEntry::to_json).collect()
    } else {
        Vec::new()
    };
    report.targets.push(TargetReport {
        name: info.name.clone(),
        kind: info.kind.clone(),
        env: info.env.clone(),
        format: info.format.clone(),
        status,
        old_file: old.map(|l| l.name.clone()),
        new_file: new.map(|l| l.name.clone()),
        diff: semantic,
        unified_diff: text.unified,
        changed_lines: if new.is_some() {
            text.changed_new_lines
        } else {
            Vec::new()
        },
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, env: &str) -> TargetInfo {
        TargetInfo {
            name: name.into(),
            kind: "db_client".into(),
            env: env.into(),
            owners: Vec::new(),
            critical: false,
            format: "yaml".into(),
        }
    }

    #[test]
    fn own_documents_supersede_the_others_of_the_same_target() {
        let stored = |name: &str| {
            let l = parse(name, b"pool: 1\n", Some(Format::Yaml)).unwrap();
            (info(name, "production"), l)
        };
        let others = vec![stored("a"), stored("b")];
        let sent = parse("a", b"pool: 2\n", Some(Format::Yaml)).unwrap();
        let inv = inventory(
            [InventoryEntry {
                target: info("a", "production"),
                doc: Some(&sent.doc.root),
            }],
            &others,
        );
        let names: Vec<&str> = inv.iter().map(|e| e.target.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(std::ptr::eq(inv[0].doc.unwrap(), &sent.doc.root));
    }
}
