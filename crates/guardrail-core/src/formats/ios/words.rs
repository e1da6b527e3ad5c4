//! The words of one config line, held inline (no allocation) with random access, so that
//! command dispatch and secret detection can look ahead without building a vector per line.

use crate::formats::lines::SPACE;

/// Lines with more words than this keep only their first `CAP` words; nothing that the parser
/// looks at by position lies that far into a line, and rest-of-line secrets are found by the
/// start of an earlier word.
const CAP: usize = 32;

/// The first [`CAP`] whitespace-separated words of a trimmed line, with their byte positions.
pub(super) struct Words<'a> {
    line: &'a str,
    spans: [(u32, u32); CAP],
    len: usize,
}

impl<'a> Words<'a> {
    pub(super) fn new(line: &'a str) -> Self {
        let mut w = Words {
            line,
            spans: [(0, 0); CAP],
            len: 0,
        };
        // The loop of `lines::words`, written out: this runs for nearly every line.
        let b = line.as_bytes();
        let n = b.len();
        let mut i = 0;
        while w.len < CAP {
            while i < n && SPACE[b[i] as usize] {
                i += 1;
            }
            if i >= n {
                break;
            }
            let start = i;
            while i < n && !SPACE[b[i] as usize] {
                i += 1;
            }
            w.spans[w.len] = (start as u32, i as u32);
            w.len += 1;
        }
        w
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The whole line, leading whitespace included: the text every word offset is in.
    pub(super) fn line(&self) -> &'a str {
        self.line
    }

    /// The word at `i`, or `""` past the end (so callers can match without bounds checks).
    pub(super) fn get(&self, i: usize) -> &'a str {
        if i < self.len {
            let (s, e) = self.spans[i];
            &self.line[s as usize..e as usize]
        } else {
            ""
        }
    }

    /// Byte offset of word `i` in the line (the line's length past the end).
    pub(super) fn start(&self, i: usize) -> usize {
        if i < self.len {
            self.spans[i].0 as usize
        } else {
            self.line.len()
        }
    }

    /// Byte range of word `i` in the line (empty past the end).
    pub(super) fn range(&self, i: usize) -> std::ops::Range<usize> {
        if i < self.len {
            let (s, e) = self.spans[i];
            s as usize..e as usize
        } else {
            self.line.len()..self.line.len()
        }
    }

    /// The line from word `i` to its end, as written (`""` past the end).
    pub(super) fn rest(&self, i: usize) -> &'a str {
        &self.line[self.start(i)..]
    }

    /// Words `i..` joined by single spaces (inner runs of whitespace collapsed).
    pub(super) fn joined(&self, i: usize) -> String {
        let rest = self.rest(i);
        if !rest.contains(['\t', '\r']) && !rest.contains("  ") {
            return rest.to_string();
        }
        let mut out = String::with_capacity(rest.len());
        for j in i..self.len {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(self.get(j));
        }
        out
    }
}

/// The first word of `s` (leading ASCII whitespace skipped) and the rest of `s` from the start
/// of its next word (`""` when there is none): `Words::new(s).get(0)` and `.rest(1)`, without
/// splitting the whole line.
pub(super) fn split_first(s: &str) -> (&str, &str) {
    let b = s.as_bytes();
    let start = b
        .iter()
        .position(|&c| !SPACE[c as usize])
        .unwrap_or(b.len());
    let end = b[start..]
        .iter()
        .position(|&c| SPACE[c as usize])
        .map_or(b.len(), |i| start + i);
    let next = b[end..]
        .iter()
        .position(|&c| !SPACE[c as usize])
        .map_or(b.len(), |i| end + i);
    (&s[start..end], &s[next..])
}

/// The first word of a line (up to the first ASCII whitespace).
#[inline]
pub(super) fn first_word(line: &str) -> &str {
    let end = line
        .bytes()
        .position(|b| SPACE[b as usize])
        .unwrap_or(line.len());
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_random_access() {
        let w = Words::new("neighbor 10.0.0.1   remote-as 65001");
        assert_eq!(w.len(), 4);
        assert_eq!(w.get(1), "10.0.0.1");
        assert_eq!(w.get(9), "");
        assert_eq!(w.rest(2), "remote-as 65001");
        assert_eq!(w.joined(0), "neighbor 10.0.0.1 remote-as 65001");
        assert_eq!(w.rest(7), "");
        assert_eq!(first_word("interface Gi1"), "interface");
        for line in [
            "10 permit ip any any",
            "deny  ip\tany",
            "remark",
            "",
            "  x  ",
        ] {
            let w = Words::new(line);
            assert_eq!(split_first(line), (w.get(0), w.rest(1)), "{line:?}");
            let (_, after) = split_first(line);
            assert_eq!(split_first(after), (w.get(1), w.rest(2)), "{line:?}");
        }
    }
}
