//! TOML parser: the `toml` crate's spanned document (`toml::de::DeTable`) into the tree.
//!
//! Tree shape: the TOML document itself. The root is a map; tables (`[a]`, `[a.b]`, dotted
//! keys, inline tables) are maps; arrays and arrays of tables (`[[servers]]`) are lists.
//! Entries keep source order (the key's first appearance). A node's line is the line of its
//! key; a list item's line is where the item starts (for `[[servers]]`, the header line).
//!
//! Types: integers are `Int` (TOML integers are 64-bit), floats `Float` (`inf`, `nan`
//! included), booleans `Bool`, strings `Str`, datetimes, dates and times `Str` in RFC 3339
//! form (`1979-05-27T07:32:00Z`).
//!
//! Limits: nesting deeper than [`MAX_DEPTH`] is `toml.depth` (the `toml` crate also refuses
//! more than 80 levels of arrays or dotted-key segments while parsing, so nothing recurses
//! without bound). Syntax errors are `toml.syntax`, duplicate keys and tables
//! `toml.duplicate-key`, each with the line the `toml` crate points at.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::MAX_DEPTH;
use super::json::{LineIndex, scalar_under_secret_key, string_value};
use crate::document::{Diagnostic, Document, Format, Map, Node, Value, is_secret_key};

/// Parses TOML text into a document. Never panics.
pub fn parse(text: &str) -> Document {
    let mut doc = Document::empty(Format::Toml);
    let index = LineIndex::new(text);
    let table = match DeTable::parse(text) {
        Ok(table) => table,
        Err(err) => {
            let line = err.span().map(|s| index.line(s.start)).unwrap_or(0);
            let message = err.message().trim().to_string();
            let lower = message.to_ascii_lowercase();
            let diag = if lower.contains("recursion") || lower.contains("nested") {
                Diagnostic::error(
                    "toml.depth",
                    line,
                    format!(
                        "nesting is too deep ({message}); documents nested deeper than {MAX_DEPTH} levels are refused"
                    ),
                )
            } else if lower.contains("duplicate") {
                let what = err
                    .span()
                    .and_then(|s| text.get(s))
                    .filter(|k| !k.is_empty() && k.len() <= 80 && !k.contains('\n'))
                    .map(|k| format!("{message} `{k}`"))
                    .unwrap_or(message);
                Diagnostic::error(
                    "toml.duplicate-key",
                    line,
                    format!("{what}; TOML forbids defining a key or table twice, so remove one"),
                )
            } else {
                Diagnostic::error("toml.syntax", line, format!("invalid TOML: {message}"))
            };
            doc.diagnostics.push(diag);
            return doc;
        }
    };
    let mut conv = Converter {
        text,
        index: &index,
        diagnostics: Vec::new(),
        spans: Vec::new(),
        too_deep: false,
    };
    let table = table.into_inner();
    let empty = table.is_empty();
    let root = conv.table(table, 1, 1);
    if !conv.too_deep {
        // A too-deep document keeps the empty root: a truncated tree would mislead.
        doc.root = root;
    }
    doc.diagnostics = conv.diagnostics;
    doc.secret_spans = conv.spans;
    if empty {
        doc.diagnostics.push(Diagnostic::warning(
            "toml.empty",
            0,
            "the file holds no keys (only comments); check that it is not truncated",
        ));
    }
    doc
}

struct Converter<'t> {
    text: &'t str,
    index: &'t LineIndex,
    diagnostics: Vec<Diagnostic>,
    spans: Vec<Range<usize>>,
    too_deep: bool,
}

impl Converter<'_> {
    /// Converts a table at nesting `depth` (the root is 1) into a map node with `line`.
    fn table(&mut self, table: DeTable<'_>, line: u32, depth: usize) -> Node {
        let mut entries: Vec<(Spanned<std::borrow::Cow<'_, str>>, Spanned<DeValue<'_>>)> =
            table.into_iter().collect();
        // The `toml` crate keeps keys sorted; the tree keeps them in source order.
        entries.sort_by_key(|(k, _)| k.span().start);
        let mut map = Map::with_capacity(entries.len());
        for (key, value) in entries {
            let key_line = self.index.line(key.span().start);
            let key = key.into_inner().into_owned();
            let secret = is_secret_key(&key);
            let node = self.value(value, key_line, depth + 1, secret);
            // Keys are unique: the `toml` crate refuses duplicates.
            map.push(key, node);
        }
        Node::map(line, map)
    }

    /// Converts a value at nesting `depth` (containers only count) into a node with `line`.
    fn value(
        &mut self,
        value: Spanned<DeValue<'_>>,
        line: u32,
        depth: usize,
        secret: bool,
    ) -> Node {
        let span = value.span();
        let is_container = matches!(value.get_ref(), DeValue::Table(_) | DeValue::Array(_));
        if is_container && depth > MAX_DEPTH {
            if !self.too_deep {
                self.too_deep = true;
                self.diagnostics.push(Diagnostic::error(
                    "toml.depth",
                    line,
                    format!(
                        "nesting is deeper than {MAX_DEPTH} levels; deeper documents are refused"
                    ),
                ));
            }
            return Node::null(line);
        }
        let raw = self.text.get(span.clone()).unwrap_or("");
        let v = match value.into_inner() {
            DeValue::Table(t) => return self.table(t, line, depth),
            DeValue::Array(items) => {
                let nodes = items
                    .into_iter()
                    .map(|item| {
                        let l = self.index.line(item.span().start);
                        self.value(item, l, depth + 1, secret)
                    })
                    .collect();
                return Node::data_list(line, nodes);
            }
            DeValue::String(s) => {
                if secret {
                    scalar_under_secret_key(
                        Value::Str(s.to_string()),
                        &s,
                        Some(span.clone()),
                        &mut self.spans,
                    )
                } else {
                    string_value(&s, self.text, Some(span.clone()), &mut self.spans)
                }
            }
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Value::Int(n),
                Err(_) => Value::Str(raw.to_string()),
            },
            DeValue::Float(f) => match f.as_str().parse::<f64>() {
                Ok(x) => Value::Float(x),
                Err(_) => Value::Str(raw.to_string()),
            },
            DeValue::Boolean(b) => Value::Bool(b),
            DeValue::Datetime(dt) => Value::Str(dt.to_string()),
        };
        let v = match v {
            Value::Str(_) | Value::Secret(_) => v,
            other if secret => scalar_under_secret_key(other, raw, Some(span), &mut self.spans),
            other => other,
        };
        Node::new(line, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Document {
        let doc = parse(text);
        assert!(!doc.has_errors(), "{:?}", doc.diagnostics);
        doc
    }

    fn err(text: &str) -> Diagnostic {
        parse(text).first_error().cloned().expect("an error")
    }

    #[test]
    fn tree_lines_and_types() {
        let text = "title = \"x\"\n\n[[servers]]\nname = \"a\"\nport = 80\n\n[[servers]]\nname = \"b\"\nweight = 1.5\n\n[db]\nwhen = 1979-05-27T07:32:00Z\nday = 1979-05-27\nhex = 0xff\nbig = 9_223_372_036_854_775_807\nx.y = true\ninline = { a = 1, b = [1, 2] }\n";
        let doc = ok(text);
        let root = &doc.root;
        assert_eq!(root.get("title").unwrap().line, 1);
        let Value::List(servers) = &root.get("servers").unwrap().value else {
            panic!()
        };
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].line, 3);
        assert_eq!(servers[1].line, 7);
        assert_eq!(servers[0].get("port").unwrap().value, Value::Int(80));
        assert_eq!(servers[1].get("weight").unwrap().value, Value::Float(1.5));
        let db = root.get("db").unwrap();
        assert_eq!(db.line, 11);
        assert_eq!(
            db.get("when").unwrap().as_str(),
            Some("1979-05-27T07:32:00Z")
        );
        assert_eq!(db.get("day").unwrap().as_str(), Some("1979-05-27"));
        assert_eq!(db.get("hex").unwrap().value, Value::Int(255));
        assert_eq!(db.get("big").unwrap().value, Value::Int(i64::MAX));
        assert_eq!(
            db.get("x").unwrap().get("y").unwrap().value,
            Value::Bool(true)
        );
        assert_eq!(db.get("x").unwrap().line, 16);
        let keys: Vec<_> = match &root.value {
            Value::Map(m) => m.keys().collect(),
            _ => panic!(),
        };
        assert_eq!(keys, ["title", "servers", "db"], "source order, not sorted");
    }

    #[test]
    fn syntax_errors_have_lines() {
        let e = err("a = 1\nb = [1,\nc = 2\n");
        assert_eq!((e.code, e.line), ("toml.syntax", 3));
        let e = err("a = 1\nb = \n");
        assert_eq!((e.code, e.line), ("toml.syntax", 2));
    }

    #[test]
    fn duplicates_are_errors() {
        let e = err("a = 1\nb = 2\na = 3\n");
        assert_eq!((e.code, e.line), ("toml.duplicate-key", 3));
        assert!(e.message.contains("`a`"), "{}", e.message);
        let e = err("[t]\nx = 1\n[t]\ny = 2\n");
        assert_eq!((e.code, e.line), ("toml.duplicate-key", 3));
    }

    #[test]
    fn depth_is_limited() {
        let deep = format!("a = {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(err(&deep).code, "toml.depth");
        let dotted = format!("{} = 1\n", vec!["k"; 10_000].join("."));
        assert_eq!(err(&dotted).code, "toml.depth");
        // Within the `toml` crate's limit but beyond ours.
        let arrays = format!("a = {}{}\n", "[".repeat(70), "]".repeat(70));
        let e = err(&arrays);
        assert_eq!((e.code, e.line), ("toml.depth", 1));
        // The root table is level 1: 63 nested arrays under a key make 64 levels.
        let fine = format!(
            "a = {}{}\n",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        ok(&fine);
    }

    #[test]
    fn other_formats_are_refused() {
        for text in [
            "worker_processes 4;\nhttp {\n}\n",
            "{\"a\": 1}\n",
            "a: 1\nb: 2\n",
            "[databases]\nappdb = host=db port=5432\n",
            "[mysqld]\nskip-external-locking\n",
        ] {
            assert_eq!(err(text).code, "toml.syntax", "{text}");
        }
    }

    #[test]
    fn secrets() {
        let text = "[database]\nurl = \"postgres://app:s3cret@db:5432/app\"\npassword = 'hunter2'\npin_code = 1234\napi_token = \"\"\"\nmulti\nline\"\"\"\n[[users]]\nname = \"x\"\npasswd = \"pw-x\"\n";
        let doc = ok(text);
        let dump = doc.dump();
        let redacted = doc.redact_source(text);
        for s in ["s3cret", "hunter2", "multi", "pw-x"] {
            assert!(!dump.contains(s), "{s} in\n{dump}");
            assert!(!redacted.contains(s), "{s} in\n{redacted}");
        }
        assert!(dump.contains("postgres://app:<redacted>@db:5432/app"));
        assert_eq!(
            doc.root
                .get("database")
                .unwrap()
                .get("pin_code")
                .unwrap()
                .value,
            Value::Int(1234),
            "pin_code is not a secret key name"
        );
        assert_eq!(redacted.lines().count(), text.lines().count());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "([\\[\\]{}\"'=,.#a-z0-9 :-]{0,30}\n){0,8}") {
            let _ = parse(&text);
        }
    }

    #[test]
    fn comment_only_file_warns() {
        let doc = parse("# nothing here\n");
        assert!(!doc.has_errors());
        assert_eq!(doc.diagnostics[0].code, "toml.empty");
    }
}
