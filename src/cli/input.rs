//! Reading config files for commands: bytes from disk, format chosen (explicit, else detected),
//! parsed, and bad input turned into one-line errors naming file and line.

use std::path::Path;

use crate::document::{Document, Format, Severity};
use crate::formats;

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
    Format::ALL
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads a file from disk; a missing or unreadable file is bad input.
pub fn read(path: &Path) -> Result<Vec<u8>, BadInput> {
    std::fs::read(path).map_err(|e| {
        BadInput::one(format!(
            "{}: error[input.unreadable]: cannot read file: {}",
            path.display(),
            io_reason(&e)
        ))
    })
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "is a directory".to_string(),
        _ => e.to_string(),
    }
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
fn parse_input<B: AsRef<[u8]> + Into<Vec<u8>>>(
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

/// Reads and parses a file.
pub fn load(path: &Path, explicit: Option<Format>) -> Result<Loaded, BadInput> {
    let bytes = read(path)?;
    let name = path.display().to_string();
    parse(&name, &bytes, explicit)
}

/// Warnings of a loaded file, one line each.
pub fn warnings(loaded: &Loaded) -> impl Iterator<Item = String> + '_ {
    loaded
        .doc
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| d.render(&loaded.name))
}

/// The one format both sides of a change are read with: `explicit`, else detected from the
/// first candidate (name, bytes) that decides, NEW first. A side that does not exist (`None`)
/// is skipped; the error names the first candidate that exists.
pub fn choose_pair_format(
    explicit: Option<Format>,
    candidates: &[(&str, Option<&[u8]>)],
) -> Result<Format, BadInput> {
    if let Some(f) = explicit {
        return Ok(f);
    }
    let mut first_err = None;
    for (name, bytes) in candidates {
        let Some(bytes) = bytes else { continue };
        match choose_format(None, name, &sniff(bytes)) {
            Ok(f) => return Ok(f),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| {
        BadInput::one("error[usage]: OLD and NEW cannot both be /dev/null".into())
    }))
}

/// Parses both sides of a change with one format, collecting the errors of both, and prints
/// their warnings. A side given as `None` does not exist (a created or deleted file).
/// Bytes may be borrowed (`&[u8]`) or owned (`Vec<u8>`, kept as the text without a copy).
pub fn parse_pair<B: AsRef<[u8]> + Into<Vec<u8>>>(
    old: (&str, Option<B>),
    new: (&str, Option<B>),
    format: Format,
) -> Result<(Option<Loaded>, Option<Loaded>), BadInput> {
    let mut errors = Vec::new();
    let mut one = |(name, bytes): (&str, Option<B>)| {
        bytes.and_then(|b| match parse_input(name, b, Some(format)) {
            Ok(l) => Some(l),
            Err(e) => {
                errors.extend(e.lines);
                None
            }
        })
    };
    let old_l = one(old);
    let new_l = one(new);
    if !errors.is_empty() {
        return Err(BadInput { lines: errors });
    }
    for l in old_l.iter().chain(new_l.iter()) {
        for w in warnings(l) {
            eprintln!("guardrail: {w}");
        }
    }
    Ok((old_l, new_l))
}
