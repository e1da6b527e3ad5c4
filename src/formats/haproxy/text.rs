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
}

/// Splits `line` into words, dropping the comment. Returns false when a quote is not closed
/// (the open quote then runs to the end of the line, as a word).
pub(super) fn tokenize(line: &str, out: &mut Vec<Tok>) -> bool {
    out.clear();
    let b = line.as_bytes();
    let n = b.len();
    let mut i = 0;
    // Fast path for the usual line: plain words. A quote, escape or `#` hands the rest of the
    // line, from the start of its word, to the full tokenizer.
    loop {
        while i < n && CLASS[b[i] as usize] == SPACE {
            i += 1;
        }
        if i >= n {
            return true;
        }
        let start = i;
        while i < n && CLASS[b[i] as usize] == WORD {
            i += 1;
        }
        if i < n && CLASS[b[i] as usize] == SPECIAL {
            return tokenize_quoted(line, start, out);
        }
        out.push(Tok { start, end: i });
    }
}

/// Byte classes of the fast tokenizer: one table lookup per byte instead of two tests.
const WORD: u8 = 0;
const SPACE: u8 = 1;
const SPECIAL: u8 = 2;
static CLASS: [u8; 256] = {
    let mut t = [WORD; 256];
    let mut c = 0;
    while c < 256 {
        if (c as u8).is_ascii_whitespace() {
            t[c] = SPACE;
        }
        c += 1;
    }
    t[b'#' as usize] = SPECIAL;
    t[b'"' as usize] = SPECIAL;
    t[b'\'' as usize] = SPECIAL;
    t[b'\\' as usize] = SPECIAL;
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
    toks: &[Tok],
    in_userlist: bool,
    out: &mut Vec<Range<usize>>,
) {
    out.clear();
    let w = |i: usize| toks.get(i).map(|t| t.text(line)).unwrap_or("");
    match w(0) {
        "stats" if w(1) == "auth" && toks.len() > 2 => {
            let t = toks[2];
            if let Some(colon) = t.text(line).find(':') {
                let r = t.start + colon + 1..inner(line, t).map_or(t.end, |r| r.end);
                if r.start < r.end {
                    out.push(r);
                }
            }
        }
        "user" if in_userlist => {
            for i in 2..toks.len().saturating_sub(1) {
                if matches!(w(i), "password" | "insecure-password") {
                    out.extend(inner(line, toks[i + 1]));
                }
            }
        }
        "setenv" | "presetenv" if toks.len() > 2 && is_secret_key(&unquote(w(1))) => {
            out.extend(toks[2..].iter().filter_map(|&t| inner(line, t)));
        }
        _ => {}
    }
    for (i, &t) in toks.iter().enumerate() {
        let text = t.text(line);
        if matches!(text, "set-header" | "add-header" | "hdr")
            && i + 2 < toks.len()
            && is_secret_key(&unquote(w(i + 1)))
            && !is_sample_only(w(i + 2))
        {
            out.extend(inner(line, toks[i + 2]));
        }
        if let Some(flag) = text.strip_prefix("--") {
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
        colon_secrets(line, t, out);
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
        let mut toks = Vec::new();
        tokenize(line, &mut toks);
        toks.iter().map(|t| t.text(line)).collect()
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
    fn unterminated_quote_is_reported() {
        let mut toks = Vec::new();
        assert!(!tokenize("a \"b c", &mut toks));
        assert_eq!(toks.len(), 2);
    }

    #[test]
    fn escapes_before_multibyte_chars_stay_on_boundaries() {
        assert_eq!(words_of("a \\é#x b"), ["a", "\\é"]);
    }

    fn secrets(line: &str, userlist: bool) -> Vec<&str> {
        let mut toks = Vec::new();
        tokenize(line, &mut toks);
        let mut out = Vec::new();
        find_secrets(line, &toks, userlist, &mut out);
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
        let mut toks = Vec::new();
        tokenize(line, &mut toks);
        let mut ranges = Vec::new();
        find_secrets(line, &toks, false, &mut ranges);
        match value(line, &toks, &ranges) {
            Value::Secret(s) => assert_eq!(s.shown(), "stats auth admin:<redacted>"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            value(line, &toks[..2], &ranges),
            Value::Str("stats auth".into())
        );
    }
}
