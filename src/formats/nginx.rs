//! Nginx parser (not yet written: returns an error diagnostic).

use crate::document::{Diagnostic, Document, Format};

/// Parses nginx text into a document. Never panics.
pub fn parse(_text: &str) -> Document {
    let mut doc = Document::empty(Format::Nginx);
    doc.diagnostics.push(Diagnostic::error(
        "nginx.unsupported",
        0,
        "the nginx parser is not written yet",
    ));
    doc
}
