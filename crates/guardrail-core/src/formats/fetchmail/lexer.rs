//! The lexer, after fetchmail's `rcfile_l.l`: bytes to tokens (words, strings, `=`), with
//! comments, separators and noise words dropped and each bare word in keyword position
//! classified once into a [`Kw`].

use std::borrow::Cow;
use std::ops::Range;

use crate::document::Diagnostic;

use super::keywords::{Class, Kw, classify, keyword_of};

/// One token: a word or string (unescaped), or the `=` mapping sign.
#[derive(Debug, Clone)]
pub(super) struct Tok<'a> {
    pub(super) text: Cow<'a, str>,
    /// The keyword, for a bare word read where a keyword may stand (not quoted, not a name
    /// after `user` etc.) that is one.
    pub(super) kw: Option<Kw>,
    /// The `=` sign.
    pub(super) map: bool,
    pub(super) line: u32,
    /// Byte range of the word or of the string's content in the source.
    pub(super) span: Range<usize>,
}

impl Tok<'_> {
    /// True for the keyword `kw` (a bare word in keyword position).
    #[inline]
    pub(super) fn is(&self, kw: Kw) -> bool {
        self.kw == Some(kw)
    }

    /// A value: a quoted string, a name, or a bare word that is not a keyword.
    #[inline]
    pub(super) fn is_value(&self) -> bool {
        !self.map && self.kw.is_none()
    }
}

/// Bytes that end a word: whitespace and `= ; : ,`.
const WORD_END: [bool; 256] = {
    let mut t = [false; 256];
    t[b'=' as usize] = true;
    t[b';' as usize] = true;
    t[b':' as usize] = true;
    t[b',' as usize] = true;
    t[b' ' as usize] = true;
    t[b'\t' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'\n' as usize] = true;
    t
};

#[inline]
fn is_word_end(b: u8) -> bool {
    WORD_END[b as usize]
}

/// The end of the word starting at `i`, and whether it holds a backslash.
#[inline]
fn word_end(b: &[u8], mut i: usize) -> (usize, bool) {
    let mut backslash = false;
    while let Some(&c) = b.get(i) {
        if is_word_end(c) {
            break;
        }
        backslash |= c == b'\\';
        i += 1;
    }
    (i, backslash)
}

/// Splits `src` into tokens; an unterminated string is reported in `diagnostics` and runs to
/// the end of the text.
pub(super) fn lex<'a>(src: &'a str, diagnostics: &mut Vec<Diagnostic>) -> Vec<Tok<'a>> {
    let b = src.as_bytes();
    let mut lx = Lexer {
        src,
        // About one token per eight bytes in typical files; the vector grows past that if needed.
        out: Vec::with_capacity(b.len() / 8 + 4),
        i: 0,
        line: 1,
        name_next: false,
        auth_next: false,
        diagnostics,
    };
    while let Some(&c) = b.get(lx.i) {
        let i = lx.i;
        match c {
            b'\n' => {
                lx.line += 1;
                lx.i += 1;
            }
            b' ' | b'\t' | b'\r' | b';' | b':' | b',' => lx.i += 1,
            b'\\'
                if b.get(i + 1) == Some(&b'\n')
                    || (b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n')) =>
            {
                lx.i += 1;
            }
            b'#' => {
                lx.i = match b[i..].iter().position(|&c| c == b'\n') {
                    Some(p) => i + p,
                    None => b.len(),
                };
            }
            b'=' => {
                lx.out.push(Tok {
                    text: Cow::Borrowed("="),
                    kw: None,
                    map: true,
                    line: lx.line,
                    span: i..i + 1,
                });
                lx.name_next = true;
                lx.i += 1;
            }
            q @ (b'"' | b'\'') => lx.quoted(q),
            _ => lx.bare_word(),
        }
    }
    lx.out
}

/// The lexer's place in the text and what it expects next.
struct Lexer<'a, 'd> {
    src: &'a str,
    out: Vec<Tok<'a>>,
    i: usize,
    line: u32,
    /// The next word is a name (after `user`, `password`, `is`, `to`, `=`).
    name_next: bool,
    /// The next word is an authentication type (after `auth`): `password` there is no keyword.
    auth_next: bool,
    diagnostics: &'d mut Vec<Diagnostic>,
}

impl Lexer<'_, '_> {
    /// A string opened by the quote `q` at the current byte (or, in name position, a bare word
    /// that starts with a quote).
    #[inline]
    fn quoted(&mut self, q: u8) {
        let src = self.src;
        let b = src.as_bytes();
        let (i, line) = (self.i, self.line);
        // The closing quote, and whether the content has a backslash or newlines.
        let mut close = None;
        let mut backslash = false;
        let mut newlines = 0u32;
        let mut j = i + 1;
        while let Some(&c) = b.get(j) {
            if c == q {
                close = Some(j);
                break;
            }
            backslash |= c == b'\\';
            newlines += u32::from(c == b'\n');
            j += 1;
        }
        if self.name_next {
            // fetchmail's lexer takes the longest match: in name position a quoted
            // string followed by more non-separator text is read as one bare word.
            let (end, word_backslash) = word_end(b, i);
            let bare_longer = close.is_none_or(|c| end > c + 1);
            if bare_longer && end > i + 1 {
                self.out.push(word(src, i, end, line, word_backslash, None));
                self.name_next = false;
                self.i = end;
                return;
            }
        }
        let (end, next) = match close {
            Some(c) => (c, c + 1),
            None => {
                self.diagnostics.push(Diagnostic::error(
                    "fetchmail.unterminated-string",
                    line,
                    format!(
                        "string opened with {} is never closed; close it on the line where it should end",
                        q as char
                    ),
                ));
                (b.len(), b.len())
            }
        };
        self.out.push(word(src, i + 1, end, line, backslash, None));
        self.line += newlines;
        self.name_next = false;
        self.auth_next = false;
        self.i = next;
    }

    /// A bare word at the current byte: a name, a keyword (a `no...` word being two), a noise
    /// word (dropped) or a value.
    #[inline]
    fn bare_word(&mut self) {
        let src = self.src;
        let b = src.as_bytes();
        let (start, line) = (self.i, self.line);
        let (end, backslash) = word_end(b, start);
        self.i = end;
        if self.name_next {
            self.out.push(word(src, start, end, line, backslash, None));
            self.name_next = false;
            return;
        }
        let raw = classify(&b[start..end]);
        let kw = match raw {
            Some(Class::Noise) => return,
            Some(Class::No(rest)) => {
                self.out
                    .push(word(src, start, start + 2, line, false, Some(Kw::No)));
                self.out
                    .push(word(src, start + 2, end, line, false, Some(rest)));
                return;
            }
            Some(Class::Kw(k)) => Some(k),
            None => None,
        };
        let mut tok = word(src, start, end, line, backslash, kw);
        if backslash {
            // The keyword is the unescaped word's (`kee\p` is `keep`).
            tok.kw = keyword_of(&tok.text);
        }
        if !self.auth_next {
            self.name_next = matches!(
                kw,
                Some(Kw::User | Kw::Username | Kw::Pass | Kw::Password | Kw::Is | Kw::To)
            );
        }
        self.auth_next = matches!(
            kw,
            Some(Kw::Auth | Kw::Authenticate | Kw::Preauth | Kw::Preauthenticate)
        );
        self.out.push(tok);
    }
}

/// The token of `src[start..end]`, unescaped when it holds a backslash.
#[inline]
fn word(
    src: &str,
    start: usize,
    end: usize,
    line: u32,
    backslash: bool,
    kw: Option<Kw>,
) -> Tok<'_> {
    let s = src.get(start..end).unwrap_or_default();
    Tok {
        text: if backslash {
            unescape(s)
        } else {
            Cow::Borrowed(s)
        },
        kw,
        map: false,
        line,
        span: start..end,
    }
}

/// fetchmail's escapes: `\\ \n \t \b \r`, `\xHH`, `\0OO` (octal), `\DDD` (decimal), any other
/// `\c` is `c`, a backslash before a newline joins lines.
pub(super) fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        let Some(&c) = b.get(i) else { break };
        match c {
            b'x' | b'X' => {
                i += 1;
                let mut v: u32 = 0;
                let mut n = 0;
                while n < 2 && i < b.len() && b[i].is_ascii_hexdigit() {
                    v = v * 16 + (b[i] as char).to_digit(16).unwrap_or(0);
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            b'0' => {
                let mut v: u32 = 0;
                let mut n = 0;
                while n < 3 && i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                    v = v * 8 + u32::from(b[i] - b'0');
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            b'1'..=b'9' => {
                let mut v: u32 = 0;
                let mut n = 0;
                while n < 3 && i < b.len() && b[i].is_ascii_digit() {
                    v = v * 10 + u32::from(b[i] - b'0');
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            b'\n' => i += 1,
            _ => {
                out.push(match c {
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'b' => 8,
                    b'r' => b'\r',
                    other => other,
                });
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}
