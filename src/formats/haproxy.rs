//! Haproxy parser (not yet written: returns an error diagnostic).

use crate::document::{Diagnostic, Document, Format};

/// Parses haproxy text into a document. Never panics.
pub fn parse(_text: &str) -> Document {
    let mut doc = Document::empty(Format::Haproxy);
    doc.diagnostics.push(Diagnostic::error(
        "haproxy.unsupported",
        0,
        "the haproxy parser is not written yet",
    ));
    doc
}
