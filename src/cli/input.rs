//! Reading config files for commands: bytes from disk, format chosen (explicit, else detected),
//! parsed, and bad input turned into one-line errors naming file and line.

use std::path::Path;

use crate::document::{Format, Severity};
pub use crate::pipeline::{
    BadInput, Loaded, choose_format, format_names, parse, parse_input, sniff,
};

pub use crate::project::read;

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
