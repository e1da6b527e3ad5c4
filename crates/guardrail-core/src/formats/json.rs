//! JSON parser: strict JSON (RFC 8259) into the document tree, through `jsonc-parser`'s AST.
//!
//! Tree shape: the JSON value itself. Objects are maps in source order, arrays are lists;
//! every node carries the line where it starts, and a member's node carries the line of its
//! key. Numbers without fraction or exponent that fit `i64` are `Int`, other numbers `Float`.
//!
//! Strictness: no comments, no trailing commas, no unquoted or single-quoted names, no hex,
//! no `+1`, `.5`, `NaN` or JSON5 escapes. A root that is not an object or an array is refused
//! (`json.not-a-document`), as are duplicate keys (`json.duplicate-key`) and nesting deeper
//! than [`MAX_DEPTH`] (`json.depth`, found by a pre-scan before the recursive parser runs).
//!
//! This module also holds the helpers the four structured parsers (JSON, TOML, YAML, INI)
//! share: [`LineIndex`] and the secret rules ([`scalar_under_secret_key`], [`string_value`]).

use std::collections::HashSet;
use std::ops::Range;

use jsonc_parser::ast::{self, ObjectPropName};
use jsonc_parser::common::Range as JRange;
use jsonc_parser::{CollectOptions, CommentCollectionStrategy, ParseOptions};

use super::MAX_DEPTH;
use crate::document::secret::{redact_spans, url_credential_ranges};
use crate::document::{Diagnostic, Document, Format, Map, Node, Secret, Value, is_secret_key};

/// Parses JSON text into a document. Never panics.
pub fn parse(text: &str) -> Document {
    let mut doc = Document::empty(Format::Json);
    let index = LineIndex::new(text);
    if let Some((offset, depth)) = too_deep(text) {
        doc.diagnostics.push(Diagnostic::error(
            "json.depth",
            index.line(offset),
            format!(
                "nesting is deeper than {MAX_DEPTH} levels (found at least {depth}); deeper documents are refused"
            ),
        ));
        return doc;
    }
    let options = ParseOptions {
        allow_comments: false,
        allow_loose_object_property_names: false,
        allow_trailing_commas: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    };
    let collect = CollectOptions {
        comments: CommentCollectionStrategy::Off,
        tokens: false,
    };
    let parsed = match jsonc_parser::parse_to_ast(text, &collect, &options) {
        Ok(parsed) => parsed,
        Err(err) => {
            doc.diagnostics.push(Diagnostic::error(
                "json.syntax",
                index.line(err.range().start),
                format!("invalid JSON: {}", err.kind()),
            ));
            return doc;
        }
    };
    let Some(value) = parsed.value else {
        doc.diagnostics.push(Diagnostic::error(
            "json.not-a-document",
            0,
            "the file holds no JSON value",
        ));
        return doc;
    };
    let root_line = index.line(value_range(&value).start);
    if !matches!(value, ast::Value::Object(_) | ast::Value::Array(_)) {
        doc.diagnostics.push(Diagnostic::error(
            "json.not-a-document",
            root_line,
            "expected an object or an array at the top level; a lone scalar is not a config document",
        ));
        return doc;
    }
    let mut conv = Converter {
        text,
        index: &index,
        doc: &mut doc,
    };
    let root = conv.value(&value, root_line, false);
    doc.root = root;
    doc
}

/// The byte offset of the first bracket that opens nesting level `MAX_DEPTH + 1`, and that
/// level, when the text nests deeper than [`MAX_DEPTH`]. Brackets inside strings do not count.
fn too_deep(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Some((i, depth));
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

fn value_range(v: &ast::Value<'_>) -> JRange {
    match v {
        ast::Value::StringLit(s) => s.range,
        ast::Value::NumberLit(n) => n.range,
        ast::Value::BooleanLit(b) => b.range,
        ast::Value::Object(o) => o.range,
        ast::Value::Array(a) => a.range,
        ast::Value::NullKeyword(n) => n.range,
    }
}

struct Converter<'t, 'd> {
    text: &'t str,
    index: &'t LineIndex,
    doc: &'d mut Document,
}

impl Converter<'_, '_> {
    /// Converts `v` whose node gets `line`. `secret` is true when `v` sits under a secret key
    /// (directly, or as an item of a list that does). Depth is bounded by the pre-scan.
    fn value(&mut self, v: &ast::Value<'_>, line: u32, secret: bool) -> Node {
        match v {
            ast::Value::Object(obj) => {
                let mut map = Map::with_capacity(obj.properties.len());
                let mut seen: HashSet<&str> = HashSet::with_capacity(obj.properties.len());
                for prop in &obj.properties {
                    let (key, key_range) = match &prop.name {
                        ObjectPropName::String(s) => (s.value.as_ref(), s.range),
                        ObjectPropName::Word(w) => (w.value, w.range),
                    };
                    let key_line = self.index.line(key_range.start);
                    let child = self.value(&prop.value, key_line, is_secret_key(key));
                    if !seen.insert(key) {
                        self.doc.diagnostics.push(Diagnostic::error(
                            "json.duplicate-key",
                            key_line,
                            format!(
                                "duplicate key {key:?} in this object; readers disagree on which value wins, so remove one"
                            ),
                        ));
                        map.insert(key.to_string(), child);
                    } else {
                        map.push(key.to_string(), child);
                    }
                }
                Node::map(line, map)
            }
            ast::Value::Array(arr) => {
                let items = arr
                    .elements
                    .iter()
                    .map(|e| {
                        let l = self.index.line(value_range(e).start);
                        self.value(e, l, secret)
                    })
                    .collect();
                Node::data_list(line, items)
            }
            ast::Value::NullKeyword(_) => Node::null(line),
            ast::Value::BooleanLit(b) => {
                let value = Value::Bool(b.value);
                Node::new(
                    line,
                    self.scalar(
                        value,
                        secret,
                        b.range,
                        if b.value { "true" } else { "false" },
                    ),
                )
            }
            ast::Value::NumberLit(n) => {
                let value = number(n.value);
                Node::new(line, self.scalar(value, secret, n.range, n.value))
            }
            ast::Value::StringLit(s) => {
                // The source range without the quotes.
                let inner =
                    (s.range.start + 1)..s.range.end.saturating_sub(1).max(s.range.start + 1);
                let value = if secret {
                    scalar_under_secret_key(
                        Value::Str(s.value.to_string()),
                        &s.value,
                        Some(inner),
                        &mut self.doc.secret_spans,
                    )
                } else {
                    string_value(&s.value, self.text, Some(inner), &mut self.doc.secret_spans)
                };
                Node::new(line, value)
            }
        }
    }

    fn scalar(&mut self, value: Value, secret: bool, range: JRange, raw: &str) -> Value {
        if secret {
            scalar_under_secret_key(
                value,
                raw,
                Some(range.start..range.end),
                &mut self.doc.secret_spans,
            )
        } else {
            value
        }
    }
}

/// A JSON number: `Int` when it has no fraction or exponent and fits `i64`, else `Float`.
fn number(raw: &str) -> Value {
    if !raw.contains(['.', 'e', 'E'])
        && let Ok(i) = raw.parse::<i64>()
    {
        return Value::Int(i);
    }
    match raw.parse::<f64>() {
        Ok(f) => Value::Float(f),
        Err(_) => Value::Str(raw.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the structured parsers (JSON, TOML, YAML, INI).
// ---------------------------------------------------------------------------------------------

/// Maps byte offsets to 1-based line numbers: line starts computed once, then binary search.
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> Self {
        let mut starts = Vec::with_capacity(text.len() / 32 + 1);
        starts.push(0);
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { starts }
    }

    /// The 1-based line holding byte `offset` (offsets past the end map to the last line).
    pub(crate) fn line(&self, offset: usize) -> u32 {
        self.starts.partition_point(|&s| s <= offset).max(1) as u32
    }
}

/// The value of a scalar found under a secret key (`password`, `api_token`, ...): a
/// `Secret::whole` of its text, with `source` (the byte range of the value in the input, when
/// known) recorded on `spans`. Null and the empty string stay as they are (there is nothing
/// to hide, and policies can still check that a secret is set), and so do booleans: a value
/// with two possible states hides nothing behind a digest, and flags such as
/// `session.cookie_secure = true` must stay visible to policies.
pub(crate) fn scalar_under_secret_key(
    value: Value,
    plain: &str,
    source: Option<Range<usize>>,
    spans: &mut Vec<Range<usize>>,
) -> Value {
    match &value {
        Value::Null | Value::Bool(_) | Value::List(_) | Value::Map(_) | Value::Secret(_) => {
            return value;
        }
        Value::Str(s) if s.is_empty() => return value,
        _ => {}
    }
    if let Some(r) = source
        && r.start < r.end
    {
        spans.push(r);
    }
    Value::Secret(Secret::whole(plain))
}

/// The value of a string found under a key that is not secret: `Str`, unless it embeds
/// credentials (a URL password `scheme://user:PASS@host`, or `password=...` style pairs as in
/// libpq connection strings), which become `Secret::within` with the secret part redacted.
/// `source` is the byte range of the raw value in `text`; when the raw text holds the same
/// secrets (no escapes in the way) only their ranges go on `spans`, else the whole value.
pub(crate) fn string_value(
    value: &str,
    text: &str,
    source: Option<Range<usize>>,
    spans: &mut Vec<Range<usize>>,
) -> Value {
    let ranges = embedded_secret_ranges(value);
    if ranges.is_empty() {
        return Value::Str(value.to_string());
    }
    if let Some(src) = source {
        match text.get(src.clone()) {
            Some(raw) => {
                let raw_ranges = embedded_secret_ranges(raw);
                let same = raw_ranges.len() == ranges.len()
                    && raw_ranges
                        .iter()
                        .zip(&ranges)
                        .all(|(a, b)| raw[a.clone()] == value[b.clone()]);
                if same {
                    spans.extend(
                        raw_ranges
                            .into_iter()
                            .map(|r| src.start + r.start..src.start + r.end),
                    );
                } else {
                    spans.push(src);
                }
            }
            None => spans.push(src),
        }
    }
    Value::Secret(Secret::within(redact_spans(value, &ranges), value))
}

/// Byte ranges of secrets embedded in a string: URL passwords and the values of
/// `key=value` pairs whose key names a secret (`password=x`, `sslpassword='x y'`, `token=x`).
pub(crate) fn embedded_secret_ranges(s: &str) -> Vec<Range<usize>> {
    let mut out = if s.contains("://") {
        url_credential_ranges(s)
    } else {
        Vec::new()
    };
    if s.contains('=') {
        out.extend(key_value_secret_ranges(s));
    }
    if out.len() > 1 {
        out.sort_by_key(|r| (r.start, r.end));
        out.dedup_by(|b, a| b.start < a.end);
    }
    out
}

/// Keys whose value is secret inside `key=value` pairs: [`is_secret_key`], plus `auth` alone
/// (the password parameter of redis URLs such as PHP's `tcp://host:6379?auth=...`).
fn is_embedded_secret_key(k: &str) -> bool {
    k.eq_ignore_ascii_case("auth") || is_secret_key(k)
}

/// Values of `key=value` pairs (separated by whitespace, `;`, `&` or `?`) whose key names a
/// secret. A value may be single- or double-quoted (libpq style); the range excludes quotes.
fn key_value_secret_ranges(s: &str) -> Vec<Range<usize>> {
    let bytes = s.as_bytes();
    let is_key_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    let is_sep = |b: u8| b.is_ascii_whitespace() || matches!(b, b';' | b'&' | b'?' | b',');
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(rel) = s[i..].find('=') {
        let eq = i + rel;
        let mut k = eq;
        while k > 0 && is_key_byte(bytes[k - 1]) {
            k -= 1;
        }
        let key_ok = k < eq && (k == 0 || is_sep(bytes[k - 1]));
        let mut end = eq + 1;
        if key_ok && is_embedded_secret_key(&s[k..eq]) {
            let (start, stop) = match bytes.get(eq + 1) {
                Some(&q @ (b'\'' | b'"')) => {
                    let mut j = eq + 2;
                    while j < bytes.len() && bytes[j] != q {
                        if bytes[j] == b'\\' {
                            j += 1;
                        }
                        j += 1;
                    }
                    let j = j.min(bytes.len());
                    end = (j + 1).min(bytes.len());
                    (eq + 2, j)
                }
                _ => {
                    let mut j = eq + 1;
                    while j < bytes.len()
                        && !matches!(bytes[j], b' ' | b'\t' | b'\r' | b'\n' | b';' | b'&')
                    {
                        j += 1;
                    }
                    end = j;
                    (eq + 1, j)
                }
            };
            if start < stop {
                out.push(start..stop);
            }
        }
        i = end.max(eq + 1);
        if i >= s.len() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Severity;

    fn ok(text: &str) -> Document {
        let doc = parse(text);
        assert!(!doc.has_errors(), "{:?}", doc.diagnostics);
        doc
    }

    fn err_code(text: &str) -> (&'static str, u32) {
        let doc = parse(text);
        let e = doc.first_error().expect("an error");
        (e.code, e.line)
    }

    #[test]
    fn types_and_lines() {
        let doc = ok(
            "{\n  \"a\": 1,\n  \"b\": [true, null, 2.5],\n  \"c\": {\"d\": \"x\"},\n  \"big\": 18446744073709551615\n}\n",
        );
        let root = &doc.root;
        assert_eq!(root.line, 1);
        assert_eq!(root.get("a").unwrap().value, Value::Int(1));
        assert_eq!(root.get("a").unwrap().line, 2);
        let b = root.get("b").unwrap();
        assert_eq!(b.line, 3);
        let Value::List(items) = &b.value else {
            panic!()
        };
        assert_eq!(items[0].value, Value::Bool(true));
        assert_eq!(items[1].value, Value::Null);
        assert_eq!(items[2].value, Value::Float(2.5));
        assert_eq!(root.get("c").unwrap().get("d").unwrap().as_str(), Some("x"));
        assert!(matches!(root.get("big").unwrap().value, Value::Float(_)));
    }

    #[test]
    fn integers_are_int_even_when_negative_or_zero() {
        let doc = ok("[0, -0, -7, 9223372036854775807, 1e3, 1.0]");
        let Value::List(items) = &doc.root.value else {
            panic!()
        };
        let got: Vec<_> = items.iter().map(|n| n.value.clone()).collect();
        assert_eq!(
            got,
            vec![
                Value::Int(0),
                Value::Int(0),
                Value::Int(-7),
                Value::Int(i64::MAX),
                Value::Float(1000.0),
                Value::Float(1.0)
            ]
        );
    }

    #[test]
    fn strict_json_only() {
        for bad in [
            "{\"a\": 1,}",
            "{// c\n\"a\": 1}",
            "{a: 1}",
            "{'a': 1}",
            "{\"a\": 0x10}",
            "{\"a\": +1}",
            "{\"a\": .5}",
            "{\"a\": NaN}",
            "{\"a\": 1 \"b\": 2}",
        ] {
            assert_eq!(err_code(bad).0, "json.syntax", "{bad}");
        }
    }

    #[test]
    fn syntax_error_has_line() {
        assert_eq!(
            err_code("{\n  \"a\": 1,\n  \"b\" 2\n}\n"),
            ("json.syntax", 3)
        );
    }

    #[test]
    fn duplicate_keys_are_errors() {
        assert_eq!(
            err_code("{\n\"a\": 1,\n\"a\": 2\n}"),
            ("json.duplicate-key", 3)
        );
    }

    #[test]
    fn scalar_root_is_refused() {
        assert_eq!(err_code("\"hello\"").0, "json.not-a-document");
        assert_eq!(err_code("42\n").0, "json.not-a-document");
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(err_code(&deep), ("json.depth", 1));
        let ok_depth = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        ok(&ok_depth);
        let too = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(err_code(&too).0, "json.depth");
        // Brackets inside strings do not count.
        let s = format!("{{\"a\": \"{}\"}}", "[".repeat(500));
        ok(&s);
    }

    #[test]
    fn wrong_format_is_an_error() {
        assert_eq!(
            err_code("http {\n  server { listen 80; }\n}\n").0,
            "json.syntax"
        );
        assert_eq!(err_code("a: 1\nb: 2\n").0, "json.syntax");
    }

    #[test]
    fn secrets_are_redacted_and_spanned() {
        let text = r#"{"user": "app", "password": "hunter2", "port": 5432,
 "dsn": "postgres://app:s3cret@db:5432/x", "db_pass": 1234, "api_key": "", "keys": ["t1", "t2"]}"#;
        let doc = ok(text);
        let dump = doc.dump();
        for s in ["hunter2", "s3cret", "1234", "\"t1\"", "\"t2\""] {
            assert!(!dump.contains(s), "{s} in {dump}");
        }
        assert!(dump.contains("postgres://app:<redacted>@db:5432/x"));
        assert_eq!(
            doc.root.get("api_key").unwrap().value,
            Value::Str(String::new())
        );
        let redacted = doc.redact_source(text);
        for s in ["hunter2", "s3cret", "1234", "t1", "t2"] {
            assert!(!redacted.contains(s), "{s} in {redacted}");
        }
        assert!(redacted.contains("\"password\": \"<redacted>\""));
    }

    #[test]
    fn escaped_secret_covers_whole_string() {
        let text = r#"{"url": "https://u:p\u0040ss@h/"}"#;
        let doc = ok(text);
        assert_eq!(doc.secret_spans.len(), 1);
        let redacted = doc.redact_source(text);
        assert!(!redacted.contains("ss@h"));
    }

    #[test]
    fn embedded_pairs() {
        let s = "host=db port=5432 password='a b' user=x";
        let r = embedded_secret_ranges(s);
        assert_eq!(r.len(), 1);
        assert_eq!(&s[r[0].clone()], "a b");
        let s = "Server=x;Password=p;Database=d";
        let r = embedded_secret_ranges(s);
        assert_eq!(&s[r[0].clone()], "p");
        assert!(embedded_secret_ranges("a=b c=d key_file=/x").is_empty());
        assert!(embedded_secret_ranges("password=").is_empty());
        let s = "tcp://cache:6379?auth=r3dis&database=2";
        let r = embedded_secret_ranges(s);
        assert_eq!(&s[r[0].clone()], "r3dis");
        assert!(embedded_secret_ranges("auth_type=scram-sha-256").is_empty());
        let s = "https://x/cb?token=abc&x=1";
        let r = embedded_secret_ranges(s);
        assert_eq!(&s[r[0].clone()], "abc");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "[\\[\\]{}\",:0-9a-z \n.eE+-]{0,60}") {
            let doc = parse(&text);
            for r in &doc.secret_spans {
                proptest::prop_assert!(r.start <= r.end && r.end <= text.len());
            }
        }
    }

    #[test]
    fn line_index() {
        let idx = LineIndex::new("a\nbb\n\nc");
        assert_eq!(idx.line(0), 1);
        assert_eq!(idx.line(1), 1);
        assert_eq!(idx.line(2), 2);
        assert_eq!(idx.line(5), 3);
        assert_eq!(idx.line(6), 4);
        assert_eq!(idx.line(100), 4);
    }

    #[test]
    fn never_panics_on_junk() {
        for junk in [
            "{",
            "[",
            "\"",
            "{\"a\":",
            "}",
            "]]]]",
            "{\"a\" : [1, {\"b\": }]}",
            "\u{7f}",
        ] {
            let doc = parse(junk);
            assert!(
                doc.diagnostics
                    .iter()
                    .any(|d| d.severity == Severity::Error),
                "{junk}"
            );
        }
    }
}
