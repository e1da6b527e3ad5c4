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
pub fn lines(text: &str) -> Lines<'_> {
    Lines {
        text,
        offset: 0,
        number: 0,
    }
}

/// The iterator of [`lines`]: splits at `\n` like `str::split_inclusive('\n')` (no empty last
/// line after a final newline) and drops the terminator (`\n` or `\r\n`).
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    text: &'a str,
    offset: usize,
    number: u32,
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;

    #[inline]
    fn next(&mut self) -> Option<Line<'a>> {
        let start = self.offset;
        let rest = &self.text.as_bytes()[start..];
        if rest.is_empty() {
            return None;
        }
        let (body_len, next) = match find_newline(rest) {
            Some(i) => (i, start + i + 1),
            None => (rest.len(), self.text.len()),
        };
        self.offset = next;
        self.number += 1;
        // `\n` and `\r` are ASCII, so these are char boundaries.
        let mut body = &self.text[start..start + body_len];
        if let Some(b) = body.strip_suffix('\r') {
            body = b;
        }
        Some(Line {
            number: self.number,
            offset: start,
            text: body,
        })
    }
}

/// The index of the first `\n`: eight bytes at a time (config lines are short, so this beats
/// setting up a vectorised search per line).
#[inline]
fn find_newline(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const NL: u64 = ONES * b'\n' as u64;
    let mut chunks = b.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ NL;
        // The lowest set high bit marks the first byte equal to `\n`.
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == b'\n')
        .map(|i| at + i)
}

/// Whether `bytes` holds `needle`. Blocks of 64 bytes are tested without an early exit inside a
/// block, which compiles to vector compares: several times faster than `memchr` on the large
/// texts this scans whole (NUL and carriage-return checks of 4 MB inputs).
pub fn contains_byte(bytes: &[u8], needle: u8) -> bool {
    let mut blocks = bytes.chunks_exact(64);
    for block in &mut blocks {
        if block.iter().fold(false, |found, &b| found | (b == needle)) {
            return true;
        }
    }
    blocks.remainder().contains(&needle)
}

/// ASCII whitespace (`u8::is_ascii_whitespace`) as a table: one load per byte in word loops.
pub(crate) static SPACE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = (c as u8).is_ascii_whitespace();
        c += 1;
    }
    t
};

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
        while i < bytes.len() && SPACE[bytes[i] as usize] {
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        let start = i;
        while i < bytes.len() && !SPACE[bytes[i] as usize] {
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
    fn lines_match_split_inclusive() {
        for text in [
            "",
            "\n",
            "a",
            "a\n",
            "a\n\n",
            "\r\n\r",
            "0123456789abcdef\nxyz\r\nlast line without newline",
            "exactly8\n01234567\n",
            "é ü\n日本\r\n",
        ] {
            let mut offset = 0;
            let want: Vec<(u32, usize, &str)> = text
                .split_inclusive('\n')
                .enumerate()
                .map(|(i, raw)| {
                    let start = offset;
                    offset += raw.len();
                    let body = raw.strip_suffix('\n').unwrap_or(raw);
                    (i as u32 + 1, start, body.strip_suffix('\r').unwrap_or(body))
                })
                .collect();
            let got: Vec<_> = lines(text).map(|l| (l.number, l.offset, l.text)).collect();
            assert_eq!(got, want, "{text:?}");
        }
    }

    #[test]
    fn finds_bytes_anywhere() {
        let mut text = vec![b'a'; 300];
        assert!(!contains_byte(&text, 0));
        for at in [0, 63, 64, 130, 299] {
            text[at] = 0;
            assert!(contains_byte(&text, 0), "{at}");
            text[at] = b'a';
        }
        assert!(!contains_byte(b"", b'x'));
    }

    #[test]
    fn words_have_positions() {
        let got: Vec<_> = words("  server web1  10.0.0.1:80")
            .map(|w| (w.text, w.start))
            .collect();
        assert_eq!(got, vec![("server", 2), ("web1", 9), ("10.0.0.1:80", 15)]);
    }
}
