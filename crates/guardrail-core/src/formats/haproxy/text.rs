//! Words of an HAProxy line and the secrets among them.
//!
//! HAProxy splits a line on whitespace; `"..."` and `'...'` group words, a backslash escapes the
//! next character, and an unquoted, unescaped `#` starts a comment anywhere on the line. Words
//! keep their quotes as written; [`unquote`] gives the value HAProxy sees.

use std::borrow::Cow;
use std::ops::Range;

use crate::document::is_secret_key;
use crate::document::secret::{colon_secret_ranges, merge_ranges};

/// A word of a line: its byte range within the line text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tok {
    pub start: usize,
    pub end: usize,
}

impl Tok {
    #[inline]
    pub fn text(self, line: &str) -> &str {
        &line[self.start..self.end]
    }

    /// The word's bytes: no char-boundary checks, for comparisons with ASCII keywords.
    #[inline]
    pub fn bytes(self, line: &str) -> &[u8] {
        &line.as_bytes()[self.start..self.end]
    }
}

/// The words of one line and what the tokenizer learnt about them on the way. The buffer is
/// reused from line to line.
#[derive(Debug, Default)]
pub(super) struct Words {
    pub toks: Vec<Tok>,
    /// False when a quote is not closed (the open quote then runs to the end of the line).
    pub closed: bool,
    /// No quote, backslash or `#` on the line: each word is its own value ([`unquote`] would
    /// return it unchanged), so [`Words::unquote`] skips the search.
    pub plain: bool,
    /// Some colon of a word may announce a secret (see [`colon_may_announce`]); when false,
    /// [`find_secrets`] skips the colon search of every word.
    pub colon: bool,
}

impl Words {
    /// The value of word `t` of `line` as HAProxy reads it ([`unquote`]).
    #[inline]
    pub fn unquote<'l>(&self, line: &'l str, t: Tok) -> Cow<'l, str> {
        if self.plain {
            Cow::Borrowed(t.text(line))
        } else {
            unquote(t.text(line))
        }
    }

    /// [`unquote`] of a word of this line given as text.
    #[inline]
    pub fn unquote_text<'l>(&self, word: &'l str) -> Cow<'l, str> {
        if self.plain {
            Cow::Borrowed(word)
        } else {
            unquote(word)
        }
    }
}

/// Tokenizes the line of `text` that starts at byte `start` into `out` (see [`Words`]; word
/// ranges are relative to the line), dropping the comment. Returns where the line's text ends
/// and where the next line starts: lines end at `\n`, and a `\r` before it is not part of the
/// text, as [`crate::formats::lines::lines`] splits them. Finding the line's end on the way
/// saves a separate pass over its bytes.
pub(super) fn tokenize_line(text: &str, start: usize, out: &mut Words) -> (usize, usize) {
    out.toks.clear();
    out.closed = true;
    out.plain = true;
    out.colon = false;
    let b = text.as_bytes();
    let n = b.len();
    let mut i = start;
    // Fast path for the usual line: plain words. A quote, escape or `#` hands the rest of the
    // line, from the start of its word, to the full tokenizer.
    loop {
        while i < n && CLASS[b[i] as usize] == SPACE {
            i += 1;
        }
        if i >= n || CLASS[b[i] as usize] == NEWLINE {
            return line_end(b, start, i);
        }
        let word = i;
        loop {
            i = word_end(b, i);
            if i < n && CLASS[b[i] as usize] == COLON {
                out.colon |= colon_may_announce(&b[word..], i - word);
                i += 1;
                continue;
            }
            break;
        }
        if i < n && CLASS[b[i] as usize] == SPECIAL {
            out.plain = false;
            // Words with quotes or escapes are rare: let `find_secrets` search all of them.
            out.colon = true;
            let nl = b[i..].iter().position(|&c| c == b'\n').map_or(n, |p| i + p);
            let (end, next) = line_end(b, start, nl);
            // `end` follows `\n`-free text and drops at most an ASCII `\r`: a char boundary.
            let line = text.get(start..end).unwrap_or("");
            out.closed = tokenize_quoted(line, word - start, &mut out.toks);
            return (end, next);
        }
        out.toks.push(Tok {
            start: word - start,
            end: i - start,
        });
    }
}

/// The end of the text of the line from `start` whose `\n` (or the end of `b`) is at `nl`,
/// without a final `\r`, and the start of the next line.
#[inline]
fn line_end(b: &[u8], start: usize, nl: usize) -> (usize, usize) {
    let next = if nl < b.len() { nl + 1 } else { b.len() };
    let end = if nl > start && b[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    (end, next)
}

/// The first byte from `i` on that ends a word (see [`CLASS`]), or the end of `b`. Eight bytes
/// at a time: a word is a few bytes long, and testing a block costs about what a byte loop
/// spends on two bytes.
#[inline]
fn word_end(b: &[u8], mut i: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // The high bit of bytes of `x` below `n` (at most 0x80), or equal to `c`. A borrow can
    // mark a byte above a marked one, never below: the lowest mark is exact, and that is the
    // only one used.
    let below = |x: u64, n: u8| x.wrapping_sub(LO * u64::from(n)) & !x & HI;
    let equal = |x: u64, c: u8| below(x ^ (LO * u64::from(c)), 1);
    while let Some(chunk) = b.get(i..).and_then(|r| r.first_chunk::<8>()) {
        let x = u64::from_le_bytes(*chunk);
        // Every byte that ends a word is below `(` (whitespace, `"`, `#`, `'`), `:` or `\\`.
        let stops = below(x, b'(') | equal(x, b':') | equal(x, b'\\');
        if stops == 0 {
            i += 8;
            continue;
        }
        let j = i + (stops.trailing_zeros() / 8) as usize;
        if CLASS[b[j] as usize] != WORD {
            return j;
        }
        // A word byte below `(`: `!`, `$`, `%`, `&` or a control byte.
        i = j + 1;
    }
    while i < b.len() && CLASS[b[i] as usize] == WORD {
        i += 1;
    }
    i
}

/// Splits one line (no `\n`) into words, dropping the comment, into `out`.
#[cfg(test)]
pub(super) fn tokenize(line: &str, out: &mut Words) {
    tokenize_line(line, 0, out);
}

/// Whether the colon at `at` of `word` can start a secret for [`colon_secret_ranges`]: `//`
/// follows it (a URL) or `authorization` ends right before it. When no colon of a word can,
/// that function finds nothing in the word.
#[inline]
fn colon_may_announce(word: &[u8], at: usize) -> bool {
    const AUTH: &[u8] = b"authorization";
    word[at + 1..].starts_with(b"//")
        || (at >= AUTH.len() && word[at - AUTH.len()..at].eq_ignore_ascii_case(AUTH))
}

/// Byte classes of the fast tokenizer: one table lookup per byte instead of two tests.
const WORD: u8 = 0;
const SPACE: u8 = 1;
const SPECIAL: u8 = 2;
const COLON: u8 = 3;
const NEWLINE: u8 = 4;
static CLASS: [u8; 256] = {
    let mut t = [WORD; 256];
    let mut c = 0;
    while c < 256 {
        if (c as u8).is_ascii_whitespace() {
            t[c] = SPACE;
        }
        c += 1;
    }
    t[b'\n' as usize] = NEWLINE;
    t[b'#' as usize] = SPECIAL;
    t[b'"' as usize] = SPECIAL;
    t[b'\'' as usize] = SPECIAL;
    t[b'\\' as usize] = SPECIAL;
    t[b':' as usize] = COLON;
    t
};

fn tokenize_quoted(line: &str, from: usize, out: &mut Vec<Tok>) -> bool {
    let b = line.as_bytes();
    let n = b.len();
    let mut i = from;
    let mut closed = true;
    'line: loop {
        while i < n && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n || b[i] == b'#' {
            break;
        }
        let start = i;
        while i < n && !b[i].is_ascii_whitespace() {
            match b[i] {
                b'\\' => i += 2,
                q @ (b'"' | b'\'') => {
                    i += 1;
                    while i < n && b[i] != q {
                        if q == b'"' && b[i] == b'\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                    if i >= n {
                        closed = false;
                        i = n;
                    } else {
                        i += 1;
                    }
                }
                b'#' => {
                    out.push(Tok { start, end: i });
                    break 'line;
                }
                _ => i += 1,
            }
        }
        // Escapes and quotes stop only on ASCII bytes or at the end, so `i` is a char boundary.
        i = i.min(n);
        out.push(Tok { start, end: i });
    }
    closed
}

/// The value of a word as HAProxy reads it: quotes removed, backslash escapes resolved.
#[inline]
pub(super) fn unquote(word: &str) -> Cow<'_, str> {
    if !word.bytes().any(|b| matches!(b, b'"' | b'\'' | b'\\')) {
        return Cow::Borrowed(word);
    }
    unquote_escaped(word)
}

fn unquote_escaped(word: &str) -> Cow<'_, str> {
    let mut out = String::with_capacity(word.len());
    let mut chars = word.chars();
    let (mut dq, mut sq) = (false, false);
    while let Some(c) = chars.next() {
        match c {
            '"' if !sq => dq = !dq,
            '\'' if !dq => sq = !sq,
            '\\' if !sq => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

pub(super) use crate::formats::lines::{join, redacted_value as value};

impl crate::formats::lines::Span for Tok {
    fn span(&self) -> Range<usize> {
        self.start..self.end
    }
}

/// The range of a word without its surrounding quotes, `None` when that is empty.
fn inner(line: &str, t: Tok) -> Option<Range<usize>> {
    let text = t.text(line);
    let q = text.len() >= 2
        && ((text.starts_with('"') && text.ends_with('"'))
            || (text.starts_with('\'') && text.ends_with('\'')));
    let r = if q {
        t.start + 1..t.end - 1
    } else {
        t.start..t.end
    };
    (r.start < r.end).then_some(r)
}

/// A header value made only of a sample fetch (`%[req.hdr(x)]`) copies a value at run time;
/// it holds no literal secret.
fn is_sample_only(word: &str) -> bool {
    let w = unquote(word);
    w.starts_with("%[") && w.ends_with(']') && !w[2..].contains("%[")
}

/// Finds the secrets of a line (line-relative ranges, sorted and merged into `out`):
/// `stats auth user:PASS`, userlist `user NAME password|insecure-password X`, the value of a
/// header whose name is secret (`set-header`, `add-header`, `hdr`: `Authorization`, `X-Api-Key`,
/// `Cookie`), `Authorization:` inside a word (`option httpchk` request strings), `setenv`
/// variables with secret names, `--password X` / `--token=X` command arguments, and URL credentials.
pub(super) fn find_secrets(
    line: &str,
    words: &Words,
    in_userlist: bool,
    out: &mut Vec<Range<usize>>,
) {
    out.clear();
    let toks = &words.toks[..];
    let w = |i: usize| toks.get(i).map(|t| t.text(line)).unwrap_or("");
    match toks.first().map(|t| t.bytes(line)) {
        Some(b"stats") if w(1) == "auth" && toks.len() > 2 => {
            let t = toks[2];
            if let Some(colon) = t.text(line).find(':') {
                let r = t.start + colon + 1..inner(line, t).map_or(t.end, |r| r.end);
                if r.start < r.end {
                    out.push(r);
                }
            }
        }
        Some(b"user") if in_userlist => {
            for i in 2..toks.len().saturating_sub(1) {
                if matches!(w(i), "password" | "insecure-password") {
                    out.extend(inner(line, toks[i + 1]));
                }
            }
        }
        Some(b"setenv" | b"presetenv") if toks.len() > 2 && is_secret_key(&unquote(w(1))) => {
            out.extend(toks[2..].iter().filter_map(|&t| inner(line, t)));
        }
        _ => {}
    }
    // Words are compared as bytes (no char-boundary checks): this loop sees every word.
    for (i, &t) in toks.iter().enumerate() {
        let b = t.bytes(line);
        if matches!(b, b"set-header" | b"add-header" | b"hdr")
            && i + 2 < toks.len()
            && is_secret_key(&unquote(w(i + 1)))
            && !is_sample_only(w(i + 2))
        {
            out.extend(inner(line, toks[i + 2]));
        }
        if b.starts_with(b"--") {
            let flag = &t.text(line)[2..];
            match flag.split_once('=') {
                Some((name, v)) if !v.is_empty() && is_secret_key(name) => {
                    out.push(t.start + 2 + name.len() + 1..t.end);
                }
                None if !flag.is_empty() && is_secret_key(flag) && i + 1 < toks.len() => {
                    out.extend(inner(line, toks[i + 1]));
                }
                _ => {}
            }
        }
        if words.colon {
            colon_secrets(line, t, out);
        }
    }
    merge_ranges(out);
}

/// Secrets announced by a colon inside a word (URL credentials, `Authorization:` text).
fn colon_secrets(line: &str, t: Tok, out: &mut Vec<Range<usize>>) {
    // Words are short: a byte loop beats setting up a vectorised search.
    if !t.text(line).bytes().any(|b| b == b':') {
        return;
    }
    let value_end = inner(line, t).map_or(t.end, |r| r.end) - t.start;
    for r in colon_secret_ranges(t.text(line), value_end) {
        out.push(t.start + r.start..t.start + r.end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Value;

    fn words_of(line: &str) -> Vec<&str> {
        let mut words = Words::default();
        tokenize(line, &mut words);
        words.toks.iter().map(|t| t.text(line)).collect()
    }

    #[test]
    fn splits_on_whitespace_and_tabs() {
        assert_eq!(
            words_of("\tserver  web1\t10.0.0.1:80 "),
            ["server", "web1", "10.0.0.1:80"]
        );
    }

    #[test]
    fn comments_end_the_line_unless_quoted_or_escaped() {
        assert_eq!(words_of("mode http # comment"), ["mode", "http"]);
        assert_eq!(words_of("mode http#comment"), ["mode", "http"]);
        assert_eq!(
            words_of(r#"http-request set-header X "a # b" # c"#),
            ["http-request", "set-header", "X", "\"a # b\""]
        );
        assert_eq!(words_of(r"errorfile a\#b c"), ["errorfile", r"a\#b", "c"]);
        assert_eq!(words_of("   # only a comment"), Vec::<&str>::new());
    }

    #[test]
    fn quotes_group_words() {
        assert_eq!(
            words_of(r#"a "b c" 'd e' f"#),
            ["a", "\"b c\"", "'d e'", "f"]
        );
        assert_eq!(unquote(r#""b \"c\"""#), "b \"c\"");
        assert_eq!(unquote(r"a\ b"), "a b");
        assert_eq!(unquote("'x\\y'"), "x\\y");
    }

    #[test]
    fn lines_end_like_formats_lines() {
        use crate::formats::lines::lines;
        for text in [
            "",
            "\n",
            "\r",
            "\r\n",
            "a\r",
            "a\r\r\n",
            "a\n\n",
            "  backend b # c\r\n  server s 1.2.3.4:80\n\tmode \"x\r\n'y\r",
            "é ü\n日本\r\n#\r",
        ] {
            let mut got = Vec::new();
            let mut words = Words::default();
            let mut start = 0;
            while start < text.len() {
                let (end, next) = tokenize_line(text, start, &mut words);
                got.push((start, &text[start..end]));
                start = next;
            }
            let want: Vec<_> = lines(text).map(|l| (l.offset, l.text)).collect();
            assert_eq!(got, want, "{text:?}");
        }
    }

    #[test]
    fn words_end_where_a_byte_loop_says() {
        let naive = |b: &[u8], mut i: usize| {
            while i < b.len() && CLASS[b[i] as usize] == WORD {
                i += 1;
            }
            i
        };
        // Every byte value, at every offset of an eight-byte block, after word bytes that a
        // block test could mistake for the end of a word.
        for c in 0..=255u8 {
            for at in 0..20 {
                let mut b = b"a!$%&\x0b\x1f\x7f\x80\xffbcdefghijklmnopq".to_vec();
                b.truncate(at);
                b.push(c);
                b.extend_from_slice(b"rest of it: x");
                for i in 0..b.len() {
                    assert_eq!(word_end(&b, i), naive(&b, i), "{c} {at} {i}");
                }
            }
        }
    }

    #[test]
    fn lines_without_quotes_are_plain_and_colons_are_noted() {
        let mut words = Words::default();
        tokenize("server s 10.0.0.1:80 check", &mut words);
        assert!(words.plain && !words.colon);
        tokenize("redirect location https://u:p@x/", &mut words);
        assert!(words.plain && words.colon);
        tokenize(
            "option httpchk GET / HTTP/1.0\\r\\nX-Authorization:\\ x",
            &mut words,
        );
        assert!(!words.plain && words.colon);
        tokenize("hdr Authorization: x", &mut words);
        assert!(words.colon);
        tokenize("mode http # comment", &mut words);
        assert!(!words.plain);
    }

    #[test]
    fn unterminated_quote_is_reported() {
        let mut words = Words::default();
        tokenize("a \"b c", &mut words);
        assert!(!words.closed);
        assert_eq!(words.toks.len(), 2);
    }

    #[test]
    fn escapes_before_multibyte_chars_stay_on_boundaries() {
        assert_eq!(words_of("a \\é#x b"), ["a", "\\é"]);
    }

    fn secrets(line: &str, userlist: bool) -> Vec<&str> {
        let mut words = Words::default();
        tokenize(line, &mut words);
        let mut out = Vec::new();
        find_secrets(line, &words, userlist, &mut out);
        out.iter().map(|r| &line[r.clone()]).collect()
    }

    #[test]
    fn finds_secrets() {
        assert_eq!(secrets("stats auth admin:s3cret", false), ["s3cret"]);
        assert_eq!(secrets("stats auth \"admin:s3cret\"", false), ["s3cret"]);
        assert_eq!(
            secrets("user bob password $6$abc groups g", true),
            ["$6$abc"]
        );
        assert_eq!(secrets("user bob insecure-password plain", true), ["plain"]);
        assert!(secrets("user haproxy", false).is_empty());
        assert_eq!(
            secrets(
                "http-request set-header Authorization \"Basic dXNlcjpw\" if x",
                false
            ),
            ["Basic dXNlcjpw"]
        );
        assert!(secrets("http-request set-header Authorization %[req.hdr(x)]", false).is_empty());
        assert!(secrets("http-request set-header Host example.net", false).is_empty());
        assert_eq!(
            secrets(
                r"option httpchk GET / HTTP/1.1\r\nAuthorization:\ Basic\ abc",
                false
            ),
            [r"\ Basic\ abc"]
        );
        assert_eq!(
            secrets("command agent --token=abc --password xyz", false),
            ["abc", "xyz"]
        );
        assert_eq!(secrets("setenv DB_PASSWORD hunter2", false), ["hunter2"]);
        assert_eq!(
            secrets(
                "http-request redirect location https://u:pw@example.net/",
                false
            ),
            ["pw"]
        );
    }

    #[test]
    fn value_redacts_secret_ranges() {
        let line = "stats auth admin:s3cret";
        let mut words = Words::default();
        tokenize(line, &mut words);
        let toks = &words.toks;
        let mut ranges = Vec::new();
        find_secrets(line, &words, false, &mut ranges);
        match value(line, toks, &ranges) {
            Value::Secret(s) => assert_eq!(s.shown(), "stats auth admin:<redacted>"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            value(line, &toks[..2], &ranges),
            Value::Str("stats auth".into())
        );
    }
}
