//! Helpers shared by the line-based parsers: lines with their numbers and byte offsets, and
//! whitespace-separated words with their byte ranges (so a parser can record secret spans).

use std::ops::Range;

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
