//! Fetchmail parser (not yet written: returns an error diagnostic).

use crate::document::{Diagnostic, Document, Format};

/// Parses fetchmail text into a document. Never panics.
pub fn parse(_text: &str) -> Document {
    let mut doc = Document::empty(Format::Fetchmail);
    doc.diagnostics.push(Diagnostic::error(
        "fetchmail.unsupported",
        0,
        "the fetchmail parser is not written yet",
    ));
    doc
}
