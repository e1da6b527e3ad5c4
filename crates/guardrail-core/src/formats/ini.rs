//! INI parser (pgbouncer.ini, php.ini, my.cnf, systemd units): hand-written, one pass, line based.
//!
//! Tree shape: the root is a map of sections in order of first appearance; each section is a
//! map of key -> value in source order. Keys that come before any `[section]` header go in a
//! section named `default`. A section node's line is its header line (its first key's line for
//! `default`); an entry's line is the line of its key.
//!
//! Lines:
//! - `[name]` starts (or re-opens) a section; the name is the trimmed text inside the brackets.
//! - `key = value` (split at the first `=`): key trimmed; value trimmed, inline comment removed,
//!   surrounding quotes stripped. A key holds no quote, brace, parenthesis, `:`, `;`, `#`, `<`
//!   or `>`.
//! - `key` alone (my.cnf flags like `skip-name-resolve`): `Bool(true)`.
//! - `!include path`, `!includedir path` (my.cnf): a list of paths under the key `!include` /
//!   `!includedir` of the current section.
//! - Comments: lines starting with `;` or `#`; also, inside a value, ` ;` or ` #` (a comment
//!   sign after whitespace, outside quotes) ends the value. So `pass = abc #1` reads `abc`:
//!   quote such a value.
//! - Anything else is kept as a string in the section's `_unparsed` list, with an
//!   `ini.unparsed` warning. When most meaningful lines are like that the file is not INI
//!   (it is JSON, YAML, nginx, ...) and the parse ends with the error `ini.not-ini`.
//!
//! Types: unquoted decimal integers (no leading zero) that fit `i64` are `Int`; unquoted
//! `true`/`false` (any case) are `Bool`; everything else, quoted values included, is `Str`.
//!
//! Duplicates: a repeated key in a section is an `ini.duplicate-key` warning and the last value
//! wins (at the first key's position, with the last key's line); a repeated section is merged
//! into the first with an `ini.duplicate-section` warning.

use std::collections::HashMap;
use std::ops::Range;

use super::json::{scalar_under_secret_key, string_value};
use super::lines::lines;
use crate::document::secret::redact_spans;
use crate::document::{Diagnostic, Document, Format, Map, Node, Secret, Value, is_secret_key};

/// The section that holds keys written before the first `[section]` header.
pub const DEFAULT_SECTION: &str = "default";

/// The key under which a section keeps the lines that could not be parsed.
pub const UNPARSED_KEY: &str = "_unparsed";

/// Parses INI text into a document. Never panics.
pub fn parse(text: &str) -> Document {
    let mut doc = Document::empty(Format::Ini);
    let mut p = Parser {
        text,
        sections: Vec::new(),
        by_name: HashMap::new(),
        current: None,
        warnings: Vec::new(),
        spans: Vec::new(),
        meaningful: 0,
        unparsed: 0,
        first_unparsed: 0,
    };
    for line in lines(text) {
        p.line(line.number, line.offset, line.text);
    }

    if p.meaningful > 0 && p.unparsed * 2 > p.meaningful {
        doc.diagnostics.push(Diagnostic::error(
            "ini.not-ini",
            p.first_unparsed,
            format!(
                "{} of {} lines are neither `[section]`, `key = value`, a flag nor a comment; this does not look like an INI file",
                p.unparsed, p.meaningful
            ),
        ));
        return doc;
    }
    if p.meaningful == 0 {
        p.warnings.push(Diagnostic::warning(
            "ini.empty",
            0,
            "the file holds no sections or keys (only comments); check that it is not truncated",
        ));
    }
    let mut root = Map::with_capacity(p.sections.len());
    for s in p.sections {
        let mut map = Map::with_capacity(s.entries.len() + 1);
        for (k, v) in s.entries {
            map.push(k.to_string(), v);
        }
        if !s.unparsed.is_empty() {
            let line = s.unparsed[0].line;
            map.insert(UNPARSED_KEY, Node::unordered_list(line, s.unparsed));
        }
        root.push(s.name, Node::map(s.line, map));
    }
    doc.root = Node::map(1, root);
    doc.diagnostics = p.warnings;
    doc.secret_spans = p.spans;
    doc
}

struct Section<'a> {
    name: String,
    line: u32,
    entries: Vec<(&'a str, Node)>,
    /// Position of each key in `entries`, built once the section has more than
    /// [`SMALL_SECTION`] keys; smaller sections (most) are searched in place.
    index: HashMap<&'a str, usize>,
    unparsed: Vec<Node>,
}

/// Sections with at most this many keys find a key by scanning them, not by hashing.
const SMALL_SECTION: usize = 16;

impl<'a> Section<'a> {
    fn find(&self, key: &str) -> Option<usize> {
        if self.entries.len() <= SMALL_SECTION {
            self.entries.iter().position(|(k, _)| *k == key)
        } else {
            self.index.get(key).copied()
        }
    }

    /// Appends a key not in the section yet.
    fn push(&mut self, key: &'a str, node: Node) {
        self.entries.push((key, node));
        let n = self.entries.len();
        if n == SMALL_SECTION + 1 {
            self.index = self
                .entries
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (*k, i))
                .collect();
        } else if n > SMALL_SECTION + 1 {
            self.index.insert(key, n - 1);
        }
    }
}

struct Parser<'a> {
    text: &'a str,
    sections: Vec<Section<'a>>,
    by_name: HashMap<&'a str, usize>,
    current: Option<usize>,
    warnings: Vec<Diagnostic>,
    spans: Vec<Range<usize>>,
    /// Lines that are not blank and not comments.
    meaningful: usize,
    unparsed: usize,
    first_unparsed: u32,
}

impl<'a> Parser<'a> {
    fn line(&mut self, number: u32, offset: usize, raw: &'a str) {
        let start = raw.len() - raw.trim_start().len();
        let t = raw.trim();
        if t.is_empty() || t.starts_with(';') || t.starts_with('#') {
            return;
        }
        self.meaningful += 1;
        let at = offset + start;
        if t.starts_with('[') {
            if let Some(name) = section_header(t) {
                self.open_section(name, number);
            } else {
                self.unparsable(number, at, t);
            }
            return;
        }
        if let Some(directive) = t.strip_prefix('!') {
            let (word, rest) = directive
                .split_once(char::is_whitespace)
                .unwrap_or((directive, ""));
            if !word.is_empty() && is_key(word) {
                let key = &t[..word.len() + 1];
                let path = rest.trim();
                self.directive(key, path, number);
                return;
            }
            self.unparsable(number, at, t);
            return;
        }
        if let Some(eq) = t.find('=') {
            let key = t[..eq].trim_end();
            if key.is_empty() || !is_key(key) {
                self.unparsable(number, at, t);
                return;
            }
            let after = &t[eq + 1..];
            let value_start = at + eq + 1;
            self.key_value(key, after, value_start, number);
            return;
        }
        if is_flag(t) {
            let node = Node::bool(number, true);
            self.set(t, node, number);
            return;
        }
        self.unparsable(number, at, t);
    }

    fn section_mut(&mut self, number: u32) -> &mut Section<'a> {
        let i = match self.current {
            Some(i) => i,
            None => {
                let i = match self.by_name.get(DEFAULT_SECTION) {
                    Some(&i) => i,
                    None => self.new_section(DEFAULT_SECTION, number),
                };
                self.current = Some(i);
                i
            }
        };
        &mut self.sections[i]
    }

    fn new_section(&mut self, name: &'a str, number: u32) -> usize {
        let i = self.sections.len();
        self.sections.push(Section {
            name: name.to_string(),
            line: number,
            entries: Vec::new(),
            index: HashMap::new(),
            unparsed: Vec::new(),
        });
        self.by_name.insert(name, i);
        i
    }

    fn open_section(&mut self, name: &'a str, number: u32) {
        match self.by_name.get(name) {
            Some(&i) => {
                let first = self.sections[i].line;
                self.warnings.push(Diagnostic::warning(
                    "ini.duplicate-section",
                    number,
                    format!(
                        "section [{name}] already appeared at line {first}; its keys are merged into it"
                    ),
                ));
                self.current = Some(i);
            }
            None => self.current = Some(self.new_section(name, number)),
        }
    }

    /// Sets `key` in the current section, warning when it was already set (last wins).
    fn set(&mut self, key: &'a str, node: Node, number: u32) {
        let section = self.section_mut(number);
        match section.find(key) {
            Some(i) => {
                let first = section.entries[i].1.line;
                let name = section.name.clone();
                section.entries[i].1 = node;
                self.warnings.push(Diagnostic::warning(
                    "ini.duplicate-key",
                    number,
                    format!(
                        "key {key:?} is already set in section [{name}] at line {first}; this later value wins"
                    ),
                ));
            }
            None => section.push(key, node),
        }
    }

    fn key_value(&mut self, key: &'a str, after: &'a str, after_offset: usize, number: u32) {
        let (value, range, quoted) = value_of(after);
        let source = after_offset + range.start..after_offset + range.end;
        let typed = if quoted {
            Value::Str(value.to_string())
        } else {
            typed_value(value)
        };
        let v = if is_secret_key(key) {
            scalar_under_secret_key(typed, value, Some(source), &mut self.spans)
        } else {
            match typed {
                Value::Str(s) => string_value(&s, self.text, Some(source), &mut self.spans),
                other => other,
            }
        };
        self.set(key, Node::new(number, v), number);
    }

    fn directive(&mut self, key: &'a str, path: &str, number: u32) {
        let section = self.section_mut(number);
        let item = Node::str(number, path);
        match section.find(key) {
            Some(i) => {
                if let Value::List(items) = &mut section.entries[i].1.value {
                    items.push(item);
                }
            }
            // my.cnf reads `!include` files in order, a later file's option winning.
            None => section.push(key, Node::ordered_list(number, vec![item])),
        }
    }

    fn unparsable(&mut self, number: u32, at: usize, t: &str) {
        self.unparsed += 1;
        if self.first_unparsed == 0 {
            self.first_unparsed = number;
        }
        // `password hunter2` or `secret: x` is not INI, but must not leak either.
        let word_end = t
            .find(|c: char| c.is_whitespace() || c == ':')
            .unwrap_or(t.len());
        let value = if word_end < t.len() && is_secret_key(&t[..word_end]) {
            let rest_start = t[word_end..]
                .find(|c: char| !c.is_whitespace() && c != ':')
                .map(|i| word_end + i)
                .unwrap_or(t.len());
            if rest_start < t.len() {
                self.spans.push(at + rest_start..at + t.len());
                Value::Secret(Secret::within(
                    redact_spans(t, std::slice::from_ref(&(rest_start..t.len()))),
                    t,
                ))
            } else {
                Value::Str(t.to_string())
            }
        } else {
            string_value(t, self.text, Some(at..at + t.len()), &mut self.spans)
        };
        self.warnings.push(Diagnostic::warning(
            "ini.unparsed",
            number,
            "line is neither `[section]`, `key = value`, a flag nor a comment; kept as text under `_unparsed`",
        ));
        self.section_mut(number)
            .unparsed
            .push(Node::new(number, value));
    }
}

/// The name of a `[name]` header (a trailing comment is allowed), or `None`.
fn section_header(t: &str) -> Option<&str> {
    let close = t.find(']')?;
    let rest = t[close + 1..].trim_start();
    if !(rest.is_empty() || rest.starts_with(';') || rest.starts_with('#')) {
        return None;
    }
    let name = t[1..close].trim();
    if name.is_empty() || name.contains('[') {
        return None;
    }
    Some(name)
}

/// True for a plausible key: no characters that mark another format (JSON, YAML, nginx).
fn is_key(k: &str) -> bool {
    !k.starts_with('[')
        && !k.contains(['"', '\'', '{', '}', '(', ')', ':', ';', '#', '<', '>', '='])
}

/// True for a bare flag such as `skip-name-resolve` or `quick`.
fn is_flag(t: &str) -> bool {
    t.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The value text of `after` (what follows `=`): inline comment removed, trimmed, surrounding
/// quotes stripped. Returns the value, its byte range within `after`, and whether it was quoted.
fn value_of(after: &str) -> (&str, Range<usize>, bool) {
    let bytes = after.as_bytes();
    let mut end = bytes.len();
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'"' | b'\'' => quote = Some(b),
                b';' | b'#' if i > 0 && matches!(bytes[i - 1], b' ' | b'\t') => {
                    end = i;
                    break;
                }
                _ => {}
            },
        }
    }
    let body = &after[..end];
    let start = body.len() - body.trim_start().len();
    let trimmed = body.trim();
    let stop = start + trimmed.len();
    let tb = trimmed.as_bytes();
    if tb.len() >= 2 && (tb[0] == b'"' || tb[0] == b'\'') && tb[tb.len() - 1] == tb[0] {
        return (&trimmed[1..trimmed.len() - 1], start + 1..stop - 1, true);
    }
    (trimmed, start..stop, false)
}

/// Types an unquoted value: decimal integer -> `Int`, `true`/`false` -> `Bool`, else `Str`.
fn typed_value(v: &str) -> Value {
    let digits = v.strip_prefix(['-', '+']).unwrap_or(v);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits.len() == 1 || !digits.starts_with('0'))
        && let Ok(i) = v.parse::<i64>()
    {
        return Value::Int(i);
    }
    if v.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if v.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    Value::Str(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Document {
        let doc = parse(text);
        assert!(!doc.has_errors(), "{:?}", doc.diagnostics);
        doc
    }

    fn codes(doc: &Document) -> Vec<(&'static str, u32)> {
        doc.diagnostics.iter().map(|d| (d.code, d.line)).collect()
    }

    #[test]
    fn sections_keys_types_and_lines() {
        let text = "; comment\nglobal_opt = 1\n\n[pgbouncer]\nlisten_port = 6432\nlisten_addr = \"127.0.0.1\"\nlog_connections = TRUE\nmode = '0644'\numask = 0644\nneg = -5\nempty =\nratio = 1.5 ; inline comment\npath = /a#b\n";
        let doc = ok(text);
        let root = &doc.root;
        let default = root.get(DEFAULT_SECTION).unwrap();
        assert_eq!(default.line, 2);
        assert_eq!(default.get("global_opt").unwrap().value, Value::Int(1));
        let s = root.get("pgbouncer").unwrap();
        assert_eq!(s.line, 4);
        assert_eq!(s.get("listen_port").unwrap().value, Value::Int(6432));
        assert_eq!(s.get("listen_port").unwrap().line, 5);
        assert_eq!(s.get("listen_addr").unwrap().as_str(), Some("127.0.0.1"));
        assert_eq!(s.get("log_connections").unwrap().value, Value::Bool(true));
        assert_eq!(s.get("mode").unwrap().as_str(), Some("0644"));
        assert_eq!(s.get("umask").unwrap().as_str(), Some("0644"));
        assert_eq!(s.get("neg").unwrap().value, Value::Int(-5));
        assert_eq!(s.get("empty").unwrap().as_str(), Some(""));
        assert_eq!(s.get("ratio").unwrap().as_str(), Some("1.5"));
        assert_eq!(s.get("path").unwrap().as_str(), Some("/a#b"));
        assert!(doc.diagnostics.is_empty(), "{:?}", doc.diagnostics);
    }

    #[test]
    fn flags_and_includes() {
        let doc = ok(
            "[mysqld]\nskip-name-resolve\nquick\n!includedir /etc/mysql/conf.d/\n!include /etc/mysql/a.cnf\n!include /etc/mysql/b.cnf\n",
        );
        let s = doc.root.get("mysqld").unwrap();
        assert_eq!(s.get("skip-name-resolve").unwrap().value, Value::Bool(true));
        assert_eq!(s.get("quick").unwrap().value, Value::Bool(true));
        let Value::List(inc) = &s.get("!include").unwrap().value else {
            panic!()
        };
        assert_eq!(inc.len(), 2);
        assert_eq!(inc[1].as_str(), Some("/etc/mysql/b.cnf"));
        assert!(doc.diagnostics.is_empty());
    }

    #[test]
    fn duplicates_warn_and_last_wins() {
        let doc = ok("[a]\nx = 1\ny = 2\nx = 3\n[b]\nz = 1\n[a]\nw = 4\n");
        assert_eq!(
            codes(&doc),
            vec![("ini.duplicate-key", 4), ("ini.duplicate-section", 7)]
        );
        let a = doc.root.get("a").unwrap();
        assert_eq!(a.get("x").unwrap().value, Value::Int(3));
        assert_eq!(a.get("x").unwrap().line, 4);
        assert_eq!(a.get("w").unwrap().value, Value::Int(4));
        let Value::Map(m) = &a.value else { panic!() };
        assert_eq!(m.keys().collect::<Vec<_>>(), ["x", "y", "w"]);
        let Value::Map(root) = &doc.root.value else {
            panic!()
        };
        assert_eq!(root.keys().collect::<Vec<_>>(), ["a", "b"]);
    }

    /// Sections past `SMALL_SECTION` keys find keys through an index: duplicates are still
    /// found on both sides of that size, and includes still collect.
    #[test]
    fn duplicates_are_found_in_large_sections() {
        let mut text = String::from("[big]\n");
        for i in 0..40 {
            text.push_str(&format!("k{i} = {i}\n"));
            if i == 10 {
                text.push_str("k3 = again\n!include /a\n");
            }
            if i == 30 {
                text.push_str("k20 = again\n!include /b\n");
            }
        }
        let doc = ok(&text);
        assert_eq!(
            codes(&doc),
            vec![("ini.duplicate-key", 13), ("ini.duplicate-key", 35)]
        );
        let big = doc.root.get("big").unwrap();
        assert_eq!(big.get("k3").unwrap().as_str(), Some("again"));
        assert_eq!(big.get("k20").unwrap().as_str(), Some("again"));
        let Value::List(inc) = &big.get("!include").unwrap().value else {
            panic!()
        };
        assert_eq!(inc.len(), 2);
        let Value::Map(m) = &big.value else { panic!() };
        assert_eq!(m.len(), 41);
    }

    #[test]
    fn unparsed_lines_are_kept_with_a_warning() {
        let doc = ok("[s]\na = 1\nthis is not ini\nb = 2\nc = 3\n");
        assert_eq!(codes(&doc), vec![("ini.unparsed", 3)]);
        let Value::List(items) = &doc.root.get("s").unwrap().get(UNPARSED_KEY).unwrap().value
        else {
            panic!()
        };
        assert_eq!(items[0].as_str(), Some("this is not ini"));
        assert_eq!(items[0].line, 3);
    }

    #[test]
    fn other_formats_are_refused() {
        for text in [
            "{\n  \"a\": 1,\n  \"b\": [1, 2]\n}\n",
            "a: 1\nb:\n  - c\n  - d\n",
            "user www-data;\nworker_processes auto;\nevents {\n  worker_connections 768;\n}\n",
            "global\n    maxconn 100\ndefaults\n    mode http\n    timeout connect 5s\n",
        ] {
            let doc = parse(text);
            assert_eq!(
                doc.first_error().map(|d| d.code),
                Some("ini.not-ini"),
                "{text}"
            );
        }
    }

    #[test]
    fn secrets_whole_inline_and_url() {
        let text = "[databases]\nappdb = host=db1 port=5432 dbname=app user=app password=s3cret\nq = host=db2 password='two words'\nurl = postgres://u:pw-in-url@h/db\n[client]\npassword = \"hunter2\"\nauth_file = /etc/pgbouncer/userlist.txt\nsecret 12345\n";
        let doc = ok(text);
        let dump = doc.dump();
        let red = doc.redact_source(text);
        for s in ["s3cret", "two words", "pw-in-url", "hunter2", "12345"] {
            assert!(!dump.contains(s), "{s} in\n{dump}");
            assert!(!red.contains(s), "{s} in\n{red}");
        }
        assert!(
            dump.contains("host=db1 port=5432 dbname=app user=app password=<redacted>"),
            "{dump}"
        );
        assert!(red.contains("password = \"<redacted>\""), "{red}");
        assert_eq!(
            doc.root
                .get("client")
                .unwrap()
                .get("auth_file")
                .unwrap()
                .as_str(),
            Some("/etc/pgbouncer/userlist.txt")
        );
    }

    #[test]
    fn comment_only_file_warns() {
        let doc = ok("; nothing\n# here\n");
        assert_eq!(codes(&doc), vec![("ini.empty", 0)]);
    }

    #[test]
    fn booleans_under_secret_keys_stay_visible() {
        let doc = ok("[Session]\nsession.cookie_secure = true\n");
        let s = doc.root.get("Session").unwrap();
        assert_eq!(
            s.get("session.cookie_secure").unwrap().value,
            Value::Bool(true)
        );
        assert!(doc.secret_spans.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "(\\PC{0,40}\n){0,8}") {
            let _ = parse(&text);
        }

        #[test]
        fn ini_like_lines_never_panic(text in "([\\[\\]=;#!\"' a-z0-9]{0,30}\n){0,12}") {
            let doc = parse(&text);
            for r in &doc.secret_spans {
                proptest::prop_assert!(r.start <= r.end && r.end <= text.len());
            }
        }
    }

    #[test]
    fn crlf_and_whitespace() {
        let doc = ok("[a]\r\n  name = value  \r\n\tb=2\r\n");
        let a = doc.root.get("a").unwrap();
        assert_eq!(a.get("name").unwrap().as_str(), Some("value"));
        assert_eq!(a.get("b").unwrap().value, Value::Int(2));
    }
}
