//! Ini parser (not yet written: returns an error diagnostic).

use crate::document::{Diagnostic, Document, Format};

/// Parses ini text into a document. Never panics.
pub fn parse(_text: &str) -> Document {
    let mut doc = Document::empty(Format::Ini);
    doc.diagnostics.push(Diagnostic::error(
        "ini.unsupported",
        0,
        "the ini parser is not written yet",
    ));
    doc
}
