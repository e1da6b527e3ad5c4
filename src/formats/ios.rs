//! Ios parser (not yet written: returns an error diagnostic).

use crate::document::{Diagnostic, Document, Format};

/// Parses ios text into a document. Never panics.
pub fn parse(_text: &str) -> Document {
    let mut doc = Document::empty(Format::Ios);
    doc.diagnostics.push(Diagnostic::error(
        "ios.unsupported",
        0,
        "the ios parser is not written yet",
    ));
    doc
}
