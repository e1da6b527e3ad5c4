//! Helpers shared by the line-based parsers: lines with their numbers and byte offsets, and
//! whitespace-separated words with their byte ranges (so a parser can record secret spans).

use std::ops::Range;

use crate::document::{REDACTED, Secret, Value};

/// One source line: 1-based number, byte offset of its first byte in the whole text, and its
/// text without the line terminator (`\n` or `\r\n`).
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    pub number: u32,
    pub offset: usize,
    pub text: &'a str,
}

/// Iterates the lines of `text` with numbers and offsets. Linear, allocation-free.
pub fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    let mut offset = 0usize;
    let mut number = 0u32;
    text.split_inclusive('\n').map(move |raw| {
        number += 1;
        let start = offset;
        offset += raw.len();
        let body = raw.strip_suffix('\n').unwrap_or(raw);
        let body = body.strip_suffix('\r').unwrap_or(body);
        Line {
            number,
            offset: start,
            text: body,
        }
    })
}

/// A word of a line and its byte range within the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word<'a> {
    pub text: &'a str,
    pub start: usize,
}

impl Word<'_> {
    pub fn range(&self) -> Range<usize> {
        self.start..self.start + self.text.len()
    }
}

/// Splits a line on ASCII whitespace, keeping each word's byte position.
pub fn words(line: &str) -> impl Iterator<Item = Word<'_>> {
    let bytes = line.as_bytes();
    let mut i = 0usize;
    std::iter::from_fn(move || {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        Some(Word {
            text: &line[start..i],
            start,
        })
    })
}

/// A token of a line-based parser: a byte range of the text it was read from.
pub trait Span: Copy {
    fn span(&self) -> Range<usize>;
}

impl Span for Word<'_> {
    fn span(&self) -> Range<usize> {
        self.range()
    }
}

/// The tokens joined by single spaces, as written (quotes kept).
pub fn join<T: Span>(src: &str, toks: &[T]) -> String {
    let len: usize = toks.iter().map(|t| t.span().len() + 1).sum();
    let mut out = String::with_capacity(len);
    for (i, t) in toks.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&src[t.span()]);
    }
    out
}

/// The tokens joined by single spaces as a value: a plain string, or a [`Secret`] showing
/// `<redacted>` in place of each secret range it contains (`secrets` are ranges of `src`,
/// sorted and disjoint).
pub fn redacted_value<T: Span>(src: &str, toks: &[T], secrets: &[Range<usize>]) -> Value {
    let plain = join(src, toks);
    let overlaps = |r: &Range<usize>, t: &Range<usize>| r.start < t.end && t.start < r.end;
    let touched = secrets
        .iter()
        .any(|r| toks.iter().any(|t| overlaps(r, &t.span())));
    if !touched {
        return Value::Str(plain);
    }
    let mut shown = String::with_capacity(plain.len());
    for (i, t) in toks.iter().enumerate() {
        let t = t.span();
        if i > 0 {
            shown.push(' ');
        }
        let mut pos = t.start;
        for r in secrets.iter().filter(|r| overlaps(r, &t)) {
            let (s, e) = (r.start.max(t.start), r.end.min(t.end));
            if s > pos {
                shown.push_str(&src[pos..s]);
            }
            shown.push_str(REDACTED);
            pos = pos.max(e);
        }
        if pos < t.end {
            shown.push_str(&src[pos..t.end]);
        }
    }
    Value::Secret(Secret::within(shown, &plain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_numbers_and_offsets() {
        let text = "a\r\nbb\n\nccc";
        let got: Vec<_> = lines(text).map(|l| (l.number, l.offset, l.text)).collect();
        assert_eq!(
            got,
            vec![(1, 0, "a"), (2, 3, "bb"), (3, 6, ""), (4, 7, "ccc")]
        );
    }

    #[test]
    fn words_have_positions() {
        let got: Vec<_> = words("  server web1  10.0.0.1:80")
            .map(|w| (w.text, w.start))
            .collect();
        assert_eq!(got, vec![("server", 2), ("web1", 9), ("10.0.0.1:80", 15)]);
    }
}
