//! Words of nginx statements and the secrets among them.
//!
//! Words are byte ranges of the whole input (a quoted word may span lines). They keep their
//! quotes as written; [`unquote`] gives the value nginx sees.

use std::borrow::Cow;
use std::ops::Range;

use crate::document::is_secret_key;
use crate::document::secret::{colon_secret_ranges, merge_ranges};

/// A word of a statement: byte range in the whole text and the line it starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tok {
    pub start: usize,
    pub end: usize,
    pub line: u32,
}

impl Tok {
    pub fn text(self, src: &str) -> &str {
        &src[self.start..self.end]
    }

    pub fn quoted(self, src: &str) -> bool {
        matches!(src.as_bytes()[self.start], b'"' | b'\'')
    }
}

/// The value of a word: surrounding quotes removed and backslash escapes resolved (`\"`,
/// `\'`, `\\`; nginx also turns `\n`, `\r`, `\t` into control characters).
pub(super) fn unquote(word: &str) -> Cow<'_, str> {
    let body = match word.as_bytes().first() {
        Some(&q @ (b'"' | b'\'')) if word.len() >= 2 && word.as_bytes()[word.len() - 1] == q => {
            &word[1..word.len() - 1]
        }
        _ => word,
    };
    if !body.contains('\\') {
        return if body.len() == word.len() {
            Cow::Borrowed(word)
        } else {
            Cow::Owned(body.to_string())
        };
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('"') => out.push('"'),
            Some('\'') => out.push('\''),
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
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

/// The range of a word without its quotes, `None` when empty.
fn inner(src: &str, t: Tok) -> Option<Range<usize>> {
    let b = src.as_bytes();
    // An unterminated quote runs to the end of the input: only a matching quote is stripped.
    let r = if t.quoted(src) && t.end - t.start >= 2 && b[t.end - 1] == b[t.start] {
        t.start + 1..t.end - 1
    } else if t.quoted(src) {
        t.start + 1..t.end
    } else {
        t.start..t.end
    };
    (r.start < r.end).then_some(r)
}

/// `$http_authorization` copies a request value at run time: no literal secret.
fn is_variable_only(word: &str) -> bool {
    let w = unquote(word);
    w.starts_with('$') && !w.contains(char::is_whitespace)
}

/// Finds the secrets of one statement (absolute ranges, sorted and merged into `out`): values
/// of headers and parameters with secret names (`proxy_set_header Authorization ...`,
/// `fastcgi_param DB_PASSWORD ...`), `set $api_token ...`, `secure_link_secret`,
/// `secure_link_md5`, `env NAME=...` with a secret name, `Authorization:` inside a word, and
/// URL credentials. File paths (`auth_basic_user_file`, `ssl_password_file`) are not secrets.
pub(super) fn find_secrets(src: &str, toks: &[Tok], out: &mut Vec<Range<usize>>) {
    out.clear();
    let Some(first) = toks.first() else { return };
    let name = first.text(src);
    let w = |i: usize| toks.get(i).map(|t| t.text(src)).unwrap_or("");
    let named_value = name.ends_with("_set_header")
        || name.ends_with("_param")
        || matches!(name, "add_header" | "add_trailer");
    if named_value && toks.len() >= 3 && is_secret_key(&unquote(w(1))) && !is_variable_only(w(2)) {
        out.extend(inner(src, toks[2]));
    }
    match name {
        "set" if toks.len() >= 3 => {
            let var = unquote(w(1));
            if let Some(var) = var.strip_prefix('$')
                && is_secret_key(var)
                && !is_variable_only(w(2))
            {
                out.extend(inner(src, toks[2]));
            }
        }
        "secure_link_secret" | "secure_link_md5" => {
            out.extend(toks[1..].iter().filter_map(|&t| inner(src, t)));
        }
        "env" if toks.len() >= 2 => {
            if let Some(r) = inner(src, toks[1])
                && let Some(eq) = src[r.clone()].find('=')
                && is_secret_key(&src[r.start..r.start + eq])
                && r.start + eq + 1 < r.end
            {
                out.push(r.start + eq + 1..r.end);
            }
        }
        _ => {}
    }
    for &t in toks {
        colon_secrets(src, t, out);
    }
    merge_ranges(out);
}

/// Secrets announced by a colon inside a word (URL credentials, `Authorization:` text).
fn colon_secrets(src: &str, t: Tok, out: &mut Vec<Range<usize>>) {
    let value_end = inner(src, t).map_or(t.end, |r| r.end) - t.start;
    for r in colon_secret_ranges(t.text(src), value_end) {
        out.push(t.start + r.start..t.start + r.end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_name_prefilter_agrees_with_the_rule() {
        for k in [
            "Authorization",
            "X-Api-Key",
            "Cookie",
            "DB_PASSWORD",
            "bind_pw",
            "api_token",
            "Host",
            "X-Forwarded-For",
            "Upgrade",
            "X-Real-IP",
            "keepalive",
            "monkey",
        ] {
            assert_eq!(is_secret_key(k), is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn unquotes() {
        assert_eq!(unquote("\"a b\""), "a b");
        assert_eq!(unquote("'a\\'b'"), "a'b");
        assert_eq!(unquote("plain"), "plain");
        assert_eq!(unquote("\"\""), "");
        assert_eq!(unquote("a\\;b"), "a\\;b");
    }
}
