//! Secrets in documents: the [`Secret`] value, the rule that says which keys hold secrets, and
//! the redaction of credentials embedded in URLs and of secret byte ranges in source text.
//!
//! A [`Secret`] keeps a SHA-256 digest of the plain text (so a changed secret diffs as changed and
//! changes the content hash) and a rendering with the secret part replaced by `<redacted>`. The
//! plain text is dropped as soon as the secret is built; no `Debug`, `Display` or serializer can
//! print it.

use std::fmt;
use std::ops::Range;

use sha2::{Digest, Sha256};

use super::REDACTED;

/// A secret value. Equality compares digests. Boxed so that a secret does not make every tree
/// node larger (nodes are the bulk of a parse's memory and time).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret {
    inner: Box<SecretInner>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct SecretInner {
    shown: String,
    digest: [u8; 32],
}

impl Secret {
    /// A value that is secret as a whole (a password field): shown as `<redacted>`.
    pub fn whole(plain: &str) -> Self {
        Secret {
            inner: Box::new(SecretInner {
                shown: REDACTED.to_string(),
                digest: digest(plain),
            }),
        }
    }

    /// A value that contains a secret (a config line with a community string, a URL with a
    /// password): `shown` is the value with the secret part already replaced by `<redacted>`;
    /// `plain` is the whole original value, hashed so that any change to it is seen.
    pub fn within(shown: impl Into<String>, plain: &str) -> Self {
        Secret {
            inner: Box::new(SecretInner {
                shown: shown.into(),
                digest: digest(plain),
            }),
        }
    }

    /// The redacted rendering: safe to print anywhere.
    pub fn shown(&self) -> &str {
        &self.inner.shown
    }

    /// The digest of the plain text (for content hashes; never printed).
    pub fn digest(&self) -> &[u8; 32] {
        &self.inner.digest
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({:?})", self.inner.shown)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.shown)
    }
}

fn digest(plain: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"guardrail-secret\0");
    h.update(plain.as_bytes());
    h.finalize().into()
}

/// Words that make a key name secret when they appear as a whole word of it
/// (`db_password`, `apiToken`, `snmp-community`, `private_key`).
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwords",
    "passwd",
    "pwd",
    "pass",
    "passphrase",
    "secret",
    "secrets",
    "token",
    "tokens",
    "apikey",
    "key",
    "keys",
    "community",
    "credential",
    "credentials",
    "authorization",
    "cookie",
    "psk",
];

/// Whole key names that are secret although none of their words is in [`SECRET_WORDS`].
const SECRET_KEYS: &[&str] = &["auth_pass", "authpass", "bind_pw", "bindpw", "sasl_pw"];

/// Words that make a key *not* secret even though another word matches: `key_file` and
/// `token_url` name where a secret lives, not the secret; `max_keys` is a count.
const NOT_SECRET_WORDS: &[&str] = &[
    "file",
    "ref",
    "secure",
    "path",
    "url",
    "uri",
    "endpoint",
    "env",
    "ttl",
    "type",
    "id",
    "name",
    "length",
    "max",
    "min",
    "count",
    "size",
    "expiry",
    "expires",
    "lifetime",
    "algorithm",
    "mode",
];

/// True when a key of a structured document (YAML/JSON/TOML/INI) names a secret.
pub fn is_secret_key(key: &str) -> bool {
    if !may_be_secret_name(key) {
        return false;
    }
    let lower = key.to_ascii_lowercase();
    if SECRET_KEYS.contains(&lower.as_str()) {
        return true;
    }
    let words = split_words(key);
    if words.iter().any(|w| NOT_SECRET_WORDS.contains(&w.as_str())) {
        return false;
    }
    words.iter().any(|w| SECRET_WORDS.contains(&w.as_str()))
        || lower.ends_with("password")
        || lower.ends_with("secret")
        || lower.ends_with("token")
}

/// A cheap, allocation-free pre-check for [`is_secret_key`]: true when `name` contains (ASCII
/// case-insensitively) a fragment of every word that rule looks for. Most key, header and
/// parameter names (`Host`, `X-Forwarded-For`, `weight`) fail it, so the full rule rarely runs.
fn may_be_secret_name(name: &str) -> bool {
    let b = name.as_bytes();
    // Only where a fragment's first letter stands is the fragment compared: one test per byte
    // for most names, instead of a comparison per fragment and position.
    (0..b.len()).any(|i| {
        let rest = &b[i..];
        let starts = |f: &[u8]| rest.len() >= f.len() && rest[..f.len()].eq_ignore_ascii_case(f);
        // `| 0x20` lowercases ASCII letters; no other byte maps onto these letters.
        match b[i] | 0x20 {
            b'p' => starts(b"pass") || starts(b"pw") || starts(b"psk"),
            b's' => starts(b"secret"),
            b't' => starts(b"token"),
            b'k' => starts(b"key"),
            b'c' => starts(b"communit") || starts(b"credential") || starts(b"cookie"),
            b'a' => starts(b"authoriz"),
            _ => false,
        }
    })
}

/// Secrets announced by a colon inside one word of a config line: URL credentials
/// (`scheme://user:PASS@`) and `Authorization:` header text. Ranges are relative to `word`;
/// `value_end` (relative too) ends an `Authorization:` value, e.g. before a closing quote.
pub fn colon_secret_ranges(word: &str, value_end: usize) -> Vec<Range<usize>> {
    const AUTH: &[u8] = b"authorization";
    let b = word.as_bytes();
    let mut out = Vec::new();
    let mut url = false;
    let mut auth_at = None;
    for (i, _) in b.iter().enumerate().filter(|&(_, &c)| c == b':') {
        url |= b[i + 1..].starts_with(b"//");
        if auth_at.is_none() && i >= AUTH.len() && b[i - AUTH.len()..i].eq_ignore_ascii_case(AUTH) {
            auth_at = Some(i + 1);
        }
    }
    if url {
        out.extend(url_credential_ranges(word));
    }
    if let Some(at) = auth_at
        && at < value_end
    {
        out.push(at..value_end);
    }
    out
}

/// Sorts `ranges` and merges the overlapping ones, in place.
pub fn merge_ranges(ranges: &mut Vec<Range<usize>>) {
    if ranges.len() < 2 {
        return;
    }
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges.drain(..) {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    *ranges = merged;
}

/// Splits `dbPassword`, `db_password`, `db-password` and `db.password` into lowercase words.
fn split_words(key: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Redacts the password of credentials embedded in URLs (`scheme://user:pass@host`).
/// Returns `None` when `s` holds no such credentials.
pub fn redact_url_credentials(s: &str) -> Option<String> {
    let ranges = url_credential_ranges(s);
    if ranges.is_empty() {
        return None;
    }
    Some(redact_spans(s, &ranges).into_owned())
}

/// Byte ranges of the passwords of URL credentials in `s` (`://user:PASS@`).
pub fn url_credential_ranges(s: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(rel) = s[from..].find("://") {
        let auth_start = from + rel + 3;
        // The authority ends at the first '/', whitespace, quote or end.
        let mut end = auth_start;
        while end < bytes.len() && !matches!(bytes[end], b'/' | b' ' | b'\t' | b'"' | b'\'' | b'\n')
        {
            end += 1;
        }
        let authority = &s[auth_start..end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            if let Some(colon) = userinfo.find(':') {
                let pw_start = auth_start + colon + 1;
                let pw_end = auth_start + at;
                if pw_end > pw_start {
                    out.push(pw_start..pw_end);
                }
            }
        }
        from = end.max(auth_start);
    }
    out
}

/// Replaces every byte range of `spans` in `source` by `<redacted>`, line by line: a range that
/// spans several lines is redacted on each line it covers and the newlines are kept, so line
/// numbers of the redacted text match the source. Out-of-bounds or non-boundary ranges are
/// clamped to character boundaries rather than trusted.
pub fn redact_spans<'a>(source: &'a str, spans: &[Range<usize>]) -> std::borrow::Cow<'a, str> {
    if spans.is_empty() {
        return std::borrow::Cow::Borrowed(source);
    }
    let mut merged: Vec<Range<usize>> = spans
        .iter()
        .filter(|r| r.start < r.end)
        .map(|r| clamp(source, r.clone()))
        .filter(|r| r.start < r.end)
        .collect();
    merge_ranges(&mut merged);
    let mut out = String::with_capacity(source.len());
    let mut pos = 0;
    for r in merged {
        out.push_str(&source[pos..r.start]);
        let mut first = true;
        for piece in source[r.start..r.end].split('\n') {
            if !first {
                out.push('\n');
            }
            first = false;
            let body = piece.trim_start();
            if body.trim_end().is_empty() {
                out.push_str(piece);
            } else {
                // Keep indentation so the redacted text still shows the structure.
                out.push_str(&piece[..piece.len() - body.len()]);
                out.push_str(REDACTED);
            }
        }
        pos = r.end;
    }
    out.push_str(&source[pos..]);
    std::borrow::Cow::Owned(out)
}

fn clamp(s: &str, r: Range<usize>) -> Range<usize> {
    let mut start = r.start.min(s.len());
    let mut end = r.end.min(s.len());
    while start > 0 && !s.is_char_boundary(start) {
        start -= 1;
    }
    while end < s.len() && !s.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

#[cfg(test)]
mod tests {
    /// The first form of the pre-check: every fragment compared at every position.
    fn may_be_secret_name_reference(name: &str) -> bool {
        const FRAGMENTS: [&[u8]; 10] = [
            b"pass",
            b"pw",
            b"secret",
            b"token",
            b"key",
            b"communit",
            b"credential",
            b"authoriz",
            b"cookie",
            b"psk",
        ];
        let b = name.as_bytes();
        FRAGMENTS
            .iter()
            .any(|f| b.len() >= f.len() && b.windows(f.len()).any(|w| w.eq_ignore_ascii_case(f)))
    }

    #[test]
    fn pre_check_agrees_with_its_reference() {
        let parts = [
            "",
            "p",
            "P",
            "pa",
            "PASS",
            "pAsS",
            "pw",
            "Pw",
            "psk",
            "PSK",
            "secre",
            "SECRET",
            "tok",
            "Token",
            "k",
            "KEY",
            "ke",
            "communit",
            "COMMUNITY",
            "credentia",
            "Credential",
            "authoriz",
            "AUTHORIZATION",
            "cookie",
            "coo",
            "_",
            "-",
            ".",
            "0",
            "x",
            "@",
            "`",
            "{",
            "é",
            "ß",
            "max_connections",
            "db",
        ];
        for a in parts {
            for b in parts {
                for c in ["", "_", "p", "Y"] {
                    let name = format!("{a}{c}{b}");
                    assert_eq!(
                        may_be_secret_name(&name),
                        may_be_secret_name_reference(&name),
                        "{name:?}"
                    );
                }
            }
        }
    }

    use super::*;

    #[test]
    fn secret_keys() {
        for k in [
            "password",
            "db_password",
            "dbPassword",
            "DB-PASSWORD",
            "api_key",
            "apiKey",
            "auth_token",
            "client_secret",
            "snmp_community",
            "private_key",
            "Authorization",
            "bind_pw",
            "pass",
            "api_tokens",
        ] {
            assert!(is_secret_key(k), "{k} should be secret");
        }
        for k in [
            "keep",
            "keepalive",
            "name",
            "server",
            "key_file",
            "password_file",
            "token_url",
            "max_keys",
            "passive",
            "monkey",
            "user",
            "primary",
            "secretKeyRef",
            "cookie_secure",
        ] {
            assert!(!is_secret_key(k), "{k} should not be secret");
        }
    }

    #[test]
    fn url_credentials() {
        assert_eq!(
            redact_url_credentials("postgres://app:hunter2@db:5432/x").as_deref(),
            Some("postgres://app:<redacted>@db:5432/x")
        );
        assert_eq!(redact_url_credentials("https://example.net/a@b"), None);
        assert_eq!(redact_url_credentials("https://user@example.net/"), None);
    }

    #[test]
    fn spans_keep_lines() {
        let src = "a: 1\nkey: |\n  line1\n  line2\nb: 2\n";
        let start = src.find("line1").unwrap();
        let end = src.find("b: 2").unwrap() - 1;
        let spans = [Range { start, end }];
        let out = redact_spans(src, &spans);
        assert_eq!(out, "a: 1\nkey: |\n  <redacted>\n  <redacted>\nb: 2\n");
        assert_eq!(out.lines().count(), src.lines().count());
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::whole("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!s.to_string().contains("hunter2"));
        assert_eq!(s, Secret::whole("hunter2"));
        assert_ne!(s, Secret::whole("hunter3"));
    }
}
