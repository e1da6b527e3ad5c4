//! YAML parser: `serde-saphyr` (pure Rust, resource budgets on) into the document tree.
//!
//! Tree shape: the YAML value itself. Mappings are maps in source order, sequences lists;
//! each node carries the line where it starts, a mapping entry's node the line of its key.
//! Anchors and aliases are expanded (an alias node carries the line of the alias), merge keys
//! (`<<: *base`) are merged. A stream of several documents becomes a list of the documents
//! with a `yaml.multi-document` warning.
//!
//! Typing follows the YAML 1.2 core schema: `true`/`false` (any case) are `Bool`, `yes`/`on`
//! stay strings; integers that fit `i64` are `Int` (`0x`/`0o` forms included; `0777` is a
//! string); larger integers and decimals are `Float`; `null`, `~` and empty values are `Null`.
//!
//! Limits: serde-saphyr's default budgets (nodes, aliases, anchors, scalar bytes) stay on, its
//! depth budget is [`MAX_DEPTH`] and aliases may replay at most [`MAX_ALIAS_REPLAY`] events; a
//! breach is `yaml.limit`. A root that is a scalar (almost
//! any text is a valid YAML scalar) is `yaml.not-a-document`.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{
    DuplicateKeyPolicy, Error as YamlError, ExternalMessageSource, Location, NonFiniteFloatPolicy,
    Spanned, granit_parser,
};

use super::MAX_DEPTH;
use super::json::{scalar_under_secret_key, string_value};
use crate::document::{
    Diagnostic, Document, Format, List, Map, Node, Secret, Value, is_secret_key,
};

/// Prefix of the message of the error our own visitor raises for a non-scalar mapping key.
const COMPLEX_KEY: &str = "guardrail-complex-key";

/// Stack for the thread that runs a parse that could nest deeply. serde's recursion through
/// `Spanned` costs tens of KB per nesting level in debug builds (about 2.3 MB at
/// [`MAX_DEPTH`]), more than a test or tokio worker thread has; the stack is reserved, and
/// only the pages used are committed.
const PARSER_STACK_BYTES: usize = 16 * 1024 * 1024;

/// Documents that provably nest no deeper than this are parsed on the caller's thread (under
/// 1 MB of stack in debug builds); the others on a thread with [`PARSER_STACK_BYTES`].
const INLINE_DEPTH: usize = 16;

/// Parses YAML text into a document. Never panics.
///
/// A document that could nest deeper than [`INLINE_DEPTH`] is parsed on a scoped thread with
/// its own [`PARSER_STACK_BYTES`] stack, so that the deepest document the budgets allow cannot
/// overflow the caller's stack; a panic inside the YAML library there becomes a
/// `yaml.internal` error diagnostic.
pub fn parse(text: &str) -> Document {
    if depth_bound(text) <= INLINE_DEPTH {
        return parse_here(text);
    }
    let outcome = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("guardrail-yaml".to_string())
            .stack_size(PARSER_STACK_BYTES)
            .spawn_scoped(scope, || parse_here(text))
            .map(|handle| handle.join())
    });
    let failure = match outcome {
        Ok(Ok(doc)) => return doc,
        Ok(Err(_panic)) => "the YAML parser failed unexpectedly on this input".to_string(),
        Err(e) => format!("could not start the YAML parser thread: {e}"),
    };
    let mut doc = Document::empty(Format::Yaml);
    doc.diagnostics
        .push(Diagnostic::error("yaml.internal", 0, failure));
    doc
}

/// An upper bound of the nesting depth of `text`, cheap and conservative (`usize::MAX` when
/// aliases could expand nodes). Flow collections add at most one level per `[` or `{` in the
/// file. A block collection starts at a line's indentation or after a run of `- `/`? `
/// indicators at its start; a nested block collection starts further right, except a sequence
/// that is a mapping value (same column), so block depth is at most `2 * column + 2`.
fn depth_bound(text: &str) -> usize {
    if text.contains('*') {
        return usize::MAX;
    }
    let mut brackets = 0usize;
    let mut max_col = 0usize;
    // YAML breaks lines at `\n`, `\r\n` and a lone `\r` alike: a lone `\r` starts a line too.
    for line in text.split(['\n', '\r']) {
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        while i + 1 < bytes.len() && matches!(bytes[i], b'-' | b'?') && bytes[i + 1] == b' ' {
            i += 2;
            while i < bytes.len() && bytes[i] == b' ' {
                i += 1;
            }
        }
        max_col = max_col.max(i);
        brackets += bytes.iter().filter(|&&b| b == b'[' || b == b'{').count();
    }
    (2 * max_col + 2).saturating_add(brackets)
}

/// Events that aliases may replay in one file.
const MAX_ALIAS_REPLAY: usize = 100_000;

/// Parses on the current thread (which must have a large enough stack, see [`parse`]).
fn parse_here(text: &str) -> Document {
    let mut doc = Document::empty(Format::Yaml);
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! { max_depth: MAX_DEPTH },
        // Aliases may replay at most this many events in one file (saphyr's default is a
        // million): an alias bomb is refused after ~0.1 s instead of ~0.3 s, and no real config
        // expands its anchors that far (the node budget for the whole document stays 250,000).
        alias_limits: serde_saphyr::alias_limits! { max_total_replayed_events: MAX_ALIAS_REPLAY },
        duplicate_keys: DuplicateKeyPolicy::Error,
        strict_booleans: true,
        legacy_octal_numbers: false,
        non_finite_float_policy: NonFiniteFloatPolicy::PassThrough,
        with_snippet: false,
    };
    let docs: Vec<Spanned<YNode>> =
        match serde_saphyr::from_str_multiple_with_options::<Spanned<YNode>, Vec<_>>(text, options)
        {
            Ok(docs) => docs,
            Err(err) => {
                doc.diagnostics.push(diagnostic(&err));
                return doc;
            }
        };
    if docs.is_empty() {
        doc.diagnostics.push(Diagnostic::error(
            "yaml.not-a-document",
            0,
            "the file holds no YAML document (only comments, `---` or null); expected a mapping or a list",
        ));
        return doc;
    }
    for d in &docs {
        if !matches!(d.value, YNode::Map(_) | YNode::Seq(_)) {
            doc.diagnostics.push(Diagnostic::error(
                "yaml.not-a-document",
                line_of(&d.referenced),
                format!(
                    "expected a mapping or a list at the top level, found a {}; this file does not look like YAML config",
                    d.value.kind()
                ),
            ));
            return doc;
        }
    }

    // Where secrets are defined. An anchored secret can also appear under a key that is not
    // secret (the anchor itself, or another alias of it); those nodes share the definition
    // and are redacted too. Equal text elsewhere is not: it is not the same value.
    let mut secrets = HashSet::new();
    for d in &docs {
        collect_secrets(d, false, &mut secrets);
    }
    let mut conv = Converter {
        text,
        secrets,
        spans: Vec::new(),
    };
    let multi = docs.len() > 1;
    let mut nodes: Vec<Node> = docs
        .into_iter()
        .map(|d| {
            let line = line_of(&d.referenced);
            conv.node(d, line, false)
        })
        .collect();
    doc.secret_spans = conv.spans;
    if multi {
        let first = nodes.first().map(|n| n.line).unwrap_or(1);
        doc.diagnostics.push(Diagnostic::warning(
            "yaml.multi-document",
            nodes.get(1).map(|n| n.line).unwrap_or(0),
            format!(
                "the file holds {} YAML documents; the tree's root is the list of them",
                nodes.len()
            ),
        ));
        doc.root = Node::unordered_list(first.min(1), nodes);
    } else if let Some(root) = nodes.pop() {
        doc.root = root;
    }
    doc
}

fn line_of(loc: &Location) -> u32 {
    u32::try_from(loc.line()).unwrap_or(u32::MAX).max(1)
}

/// The byte range of a located node in the input, when saphyr knows it.
fn byte_range(loc: &Location) -> Option<Range<usize>> {
    let span = loc.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    Some(start..start + len)
}

/// Maps a saphyr error to a diagnostic with a stable code and the line it points at.
fn diagnostic(err: &YamlError) -> Diagnostic {
    // Unwrap the snippet and alias wrappers; an error met while replaying an alias points at
    // the alias (where the user can act), not inside the anchored node.
    let mut err = err;
    let mut line = 0u32;
    loop {
        match err {
            YamlError::WithSnippet { error, .. } => err = error,
            YamlError::AliasError {
                error, locations, ..
            } => {
                if line == 0 {
                    line = loc_line(&locations.reference_location);
                }
                err = error;
            }
            _ => break,
        }
    }
    if line == 0 {
        line = err.location().map(|l| loc_line(&l)).unwrap_or(0);
    }
    let message = strip_location(&err.render());
    let limit = |what: String| {
        Diagnostic::error(
            "yaml.limit",
            line,
            format!(
                "{what}; the file exceeds a YAML resource limit and is refused (nesting is limited to {MAX_DEPTH} levels; node, alias and size budgets guard against alias bombs)"
            ),
        )
    };
    match err {
        YamlError::Budget { breach, .. } => limit(budget_message(breach)),
        YamlError::AliasReplayLimitExceeded { .. } => limit(format!(
            "aliases expand to more than {MAX_ALIAS_REPLAY} nodes"
        )),
        YamlError::AliasExpansionLimitExceeded { .. }
        | YamlError::AliasReplayStackDepthExceeded { .. }
        | YamlError::AliasReplayCounterOverflow { .. } => limit(message),
        YamlError::ExternalMessage { source, .. }
            if matches!(
                source.as_ref(),
                ExternalMessageSource::Parser(scan)
                    if matches!(scan.kind(), granit_parser::ErrorKind::RecursionLimitExceeded)
            ) =>
        {
            limit("nesting too deep".to_string())
        }
        YamlError::DuplicateMappingKey { key, .. } => Diagnostic::error(
            "yaml.duplicate-key",
            line,
            match key {
                Some(k) => format!(
                    "duplicate key {k:?} in this mapping; readers disagree on which value wins, so remove one"
                ),
                None => "duplicate key in this mapping; remove one".to_string(),
            },
        ),
        _ if message.contains(COMPLEX_KEY) => Diagnostic::error(
            "yaml.complex-key",
            line,
            "a mapping key is itself a mapping or a list; only scalar keys are supported",
        ),
        _ => Diagnostic::error("yaml.syntax", line, format!("invalid YAML: {message}")),
    }
}

/// A sentence for the budget breaches a config can hit; the rest fall back to saphyr's names.
fn budget_message(breach: &BudgetBreach) -> String {
    match breach {
        BudgetBreach::Nodes { nodes } => {
            format!(
                "the document expands to more than {} nodes",
                nodes.saturating_sub(1)
            )
        }
        BudgetBreach::Depth { depth } => format!("nesting reaches {depth} levels"),
        BudgetBreach::Aliases { aliases } => format!("the document uses {aliases} aliases"),
        BudgetBreach::Anchors { anchors } => format!("the document defines {anchors} anchors"),
        BudgetBreach::AliasAnchorRatio { aliases, anchors } => {
            format!("{aliases} aliases for {anchors} anchors")
        }
        BudgetBreach::Documents { documents } => {
            format!("the stream holds {documents} documents")
        }
        BudgetBreach::ScalarBytes { total_scalar_bytes } => {
            format!("scalars total {total_scalar_bytes} bytes")
        }
        other => format!("budget exceeded: {other:?}"),
    }
}

fn loc_line(loc: &Location) -> u32 {
    u32::try_from(loc.line()).unwrap_or(u32::MAX)
}

/// Drops the ` at line X column Y` that saphyr appends (the diagnostic has its own line).
fn strip_location(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or(msg).trim();
    let cut = first.find(" at line ").unwrap_or(first.len());
    first[..cut].trim_end_matches([':', ' ']).to_string()
}

/// A YAML node as deserialized: scalars typed by the core schema, children spanned.
#[derive(Debug)]
enum YNode {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<YNode>>),
    Map(Vec<(Spanned<YKey>, Spanned<YNode>)>),
}

impl YNode {
    fn kind(&self) -> &'static str {
        match self {
            YNode::Null => "null",
            YNode::Bool(_) => "boolean",
            YNode::Int(_) | YNode::Float(_) => "number",
            YNode::Str(_) => "string",
            YNode::Seq(_) => "list",
            YNode::Map(_) => "mapping",
        }
    }
}

struct YNodeVisitor;

impl<'de> Visitor<'de> for YNodeVisitor {
    type Value = YNode;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<YNode, E> {
        Ok(YNode::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<YNode, E> {
        Ok(YNode::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<YNode, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => YNode::Int(i),
            Err(_) => YNode::Float(v as f64),
        })
    }

    fn visit_i128<E>(self, v: i128) -> Result<YNode, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => YNode::Int(i),
            Err(_) => YNode::Float(v as f64),
        })
    }

    fn visit_u128<E>(self, v: u128) -> Result<YNode, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => YNode::Int(i),
            Err(_) => YNode::Float(v as f64),
        })
    }

    fn visit_f64<E>(self, v: f64) -> Result<YNode, E> {
        Ok(YNode::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<YNode, E> {
        Ok(YNode::Str(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<YNode, E> {
        Ok(YNode::Str(v))
    }

    fn visit_unit<E>(self) -> Result<YNode, E> {
        Ok(YNode::Null)
    }

    fn visit_none<E>(self) -> Result<YNode, E> {
        Ok(YNode::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<YNode, D::Error> {
        YNode::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<YNode, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element::<Spanned<YNode>>()? {
            items.push(item);
        }
        Ok(YNode::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<YNode, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some(key) = map.next_key::<Spanned<YKey>>()? {
            let value = map.next_value::<Spanned<YNode>>()?;
            entries.push((key, value));
        }
        Ok(YNode::Map(entries))
    }
}

impl<'de> Deserialize<'de> for YNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(YNodeVisitor)
    }
}

/// A mapping key: any scalar, as text. A mapping or list used as a key is refused.
#[derive(Debug)]
struct YKey(String);

struct YKeyVisitor;

impl<'de> Visitor<'de> for YKeyVisitor {
    type Value = YKey;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar mapping key")
    }

    fn visit_bool<E>(self, v: bool) -> Result<YKey, E> {
        Ok(YKey(v.to_string()))
    }

    fn visit_i64<E>(self, v: i64) -> Result<YKey, E> {
        Ok(YKey(v.to_string()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<YKey, E> {
        Ok(YKey(v.to_string()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<YKey, E> {
        Ok(YKey(v.to_string()))
    }

    fn visit_str<E>(self, v: &str) -> Result<YKey, E> {
        Ok(YKey(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<YKey, E> {
        Ok(YKey(v))
    }

    fn visit_unit<E>(self) -> Result<YKey, E> {
        Ok(YKey("null".to_string()))
    }

    fn visit_none<E>(self) -> Result<YKey, E> {
        Ok(YKey("null".to_string()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<YKey, A::Error> {
        Err(de::Error::custom(COMPLEX_KEY))
    }

    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<YKey, A::Error> {
        Err(de::Error::custom(COMPLEX_KEY))
    }
}

impl<'de> Deserialize<'de> for YKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(YKeyVisitor)
    }
}

/// Collects where the scalars under secret keys (and scalar items of lists under them) are
/// defined: the byte offset of the text itself, which an alias shares with its anchor.
fn collect_secrets(node: &Spanned<YNode>, secret: bool, out: &mut HashSet<u64>) {
    match &node.value {
        YNode::Map(entries) => {
            for (k, v) in entries {
                collect_secrets(v, is_secret_key(&k.value.0), out);
            }
        }
        YNode::Seq(items) => {
            for item in items {
                collect_secrets(item, secret, out);
            }
        }
        _ if secret => {
            if let Some(offset) = node.defined.span().byte_offset() {
                out.insert(offset);
            }
        }
        _ => {}
    }
}

struct Converter<'t> {
    text: &'t str,
    /// Byte offsets of the definitions of secret scalars.
    secrets: HashSet<u64>,
    spans: Vec<Range<usize>>,
}

impl Converter<'_> {
    /// Converts a spanned YAML node into a tree node with `line`. `secret` is true under a
    /// secret key. Recursion depth is bounded by saphyr's depth budget.
    fn node(&mut self, n: Spanned<YNode>, line: u32, secret: bool) -> Node {
        let source = self.value_range(&n.defined);
        let shares_secret = !secret
            && !self.secrets.is_empty()
            && n.defined
                .span()
                .byte_offset()
                .is_some_and(|o| self.secrets.contains(&o));
        // `0777` reads as decimal 777 under YAML 1.2 but as octal 511 under YAML 1.1 (and to
        // the person who wrote a file mode): keep the text rather than pick a number.
        let node = match n.value {
            YNode::Int(_) | YNode::Float(_) => {
                match source.as_ref().and_then(|r| self.text.get(r.clone())) {
                    Some(raw) if leading_zero_decimal(raw) => YNode::Str(raw.to_string()),
                    _ => n.value,
                }
            }
            other => other,
        };
        let value = match node {
            YNode::Map(entries) => {
                let mut map = Map::with_capacity(entries.len());
                for (k, v) in entries {
                    let key_line = line_of(&k.referenced);
                    let child = self.node(v, key_line, is_secret_key(&k.value.0));
                    // saphyr refuses duplicates, but a merge key (`<<`) can bring a key that the
                    // mapping also sets; the mapping's own value wins, as YAML says.
                    if map.contains_key(&k.value.0) {
                        continue;
                    }
                    map.push(k.value.0, child);
                }
                Value::Map(map)
            }
            YNode::Seq(items) => Value::List(List::of_data(
                items
                    .into_iter()
                    .map(|item| {
                        let l = line_of(&item.referenced);
                        self.node(item, l, secret)
                    })
                    .collect(),
            )),
            YNode::Null => Value::Null,
            YNode::Bool(b) => self.scalar(Value::Bool(b), secret || shares_secret, source),
            YNode::Int(i) => self.scalar(Value::Int(i), secret || shares_secret, source),
            YNode::Float(f) => self.scalar(Value::Float(f), secret || shares_secret, source),
            YNode::Str(s) => {
                if secret {
                    scalar_under_secret_key(Value::Str(s.clone()), &s, source, &mut self.spans)
                } else if shares_secret {
                    if let Some(r) = source {
                        self.spans.push(r);
                    }
                    Value::Secret(Secret::whole(&s))
                } else {
                    string_value(&s, self.text, source, &mut self.spans)
                }
            }
        };
        Node::new(line, value)
    }

    fn scalar(&mut self, value: Value, secret: bool, source: Option<Range<usize>>) -> Value {
        if !secret {
            return value;
        }
        let plain = match &value {
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            _ => return value,
        };
        scalar_under_secret_key(value, &plain, source, &mut self.spans)
    }

    /// The byte range of a scalar's text in the input. For block scalars (`|`, `>`) and plain
    /// or quoted scalars folded over several lines the range covers every line of the text.
    fn value_range(&self, loc: &Location) -> Option<Range<usize>> {
        let r = byte_range(loc)?;
        if r.start > self.text.len() {
            return None;
        }
        Some(r.start..r.end.min(self.text.len()))
    }
}

/// `0777`, `-010`: a decimal integer literal with a leading zero (ambiguous across YAML versions).
fn leading_zero_decimal(raw: &str) -> bool {
    let digits = raw.strip_prefix(['-', '+']).unwrap_or(raw);
    digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit())
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
        let doc = parse(text);
        doc.first_error().cloned().expect("an error")
    }

    fn scalar(text: &str) -> Value {
        ok(&format!("v: {text}\n"))
            .root
            .get("v")
            .unwrap()
            .value
            .clone()
    }

    #[test]
    fn lines_point_at_keys_and_items() {
        let doc = ok("a: 1\nb:\n  - x\n  - name: y\n    port: 2\nc:\n  d: true\n");
        let b = doc.root.get("b").unwrap();
        assert_eq!(b.line, 2);
        let Value::List(items) = &b.value else {
            panic!()
        };
        assert_eq!(items[0].line, 3);
        assert_eq!(items[1].line, 4);
        assert_eq!(items[1].get("port").unwrap().line, 5);
        assert_eq!(doc.root.get("c").unwrap().line, 6);
        assert_eq!(doc.root.get("c").unwrap().get("d").unwrap().line, 7);
    }

    #[test]
    fn core_schema_typing() {
        assert_eq!(scalar("yes"), Value::Str("yes".into()));
        assert_eq!(scalar("no"), Value::Str("no".into()));
        assert_eq!(scalar("on"), Value::Str("on".into()));
        assert_eq!(scalar("true"), Value::Bool(true));
        assert_eq!(scalar("False"), Value::Bool(false));
        assert_eq!(scalar("42"), Value::Int(42));
        assert_eq!(scalar("-7"), Value::Int(-7));
        assert_eq!(scalar("0x1F"), Value::Int(31));
        assert_eq!(scalar("0o17"), Value::Int(15));
        assert_eq!(scalar("0777"), Value::Str("0777".into()));
        assert_eq!(scalar("1.5"), Value::Float(1.5));
        assert_eq!(scalar("9223372036854775807"), Value::Int(i64::MAX));
        assert_eq!(
            scalar("18446744073709551615"),
            Value::Float(18446744073709551615.0)
        );
        assert_eq!(scalar(".inf"), Value::Float(f64::INFINITY));
        assert_eq!(scalar("~"), Value::Null);
        assert_eq!(scalar("null"), Value::Null);
        assert_eq!(scalar(""), Value::Null);
        assert_eq!(scalar("'42'"), Value::Str("42".into()));
        assert_eq!(scalar("\"true\""), Value::Str("true".into()));
        assert_eq!(scalar("2024-01-01"), Value::Str("2024-01-01".into()));
    }

    #[test]
    fn anchors_aliases_and_merges() {
        let doc = ok("base: &b\n  x: 1\n  y: 2\nd:\n  <<: *b\n  y: 3\nlist:\n  - *b\n");
        let d = doc.root.get("d").unwrap();
        assert_eq!(d.get("x").unwrap().value, Value::Int(1));
        assert_eq!(d.get("y").unwrap().value, Value::Int(3));
        let Value::List(items) = &doc.root.get("list").unwrap().value else {
            panic!()
        };
        assert_eq!(
            items[0].line, 8,
            "an alias node carries the line of the alias"
        );
        assert_eq!(items[0].get("y").unwrap().value, Value::Int(2));
    }

    #[test]
    fn syntax_error_has_line() {
        let e = err("a: 1\nb: [1, 2\nc: 3\n");
        assert_eq!(e.code, "yaml.syntax");
        assert_eq!(e.line, 3);
        let e = err("a: 1\n  b: 2\n");
        assert_eq!(e.code, "yaml.syntax");
        assert_eq!(e.line, 2);
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let e = err("a: 1\nb: 2\na: 3\n");
        assert_eq!((e.code, e.line), ("yaml.duplicate-key", 3));
    }

    #[test]
    fn complex_keys_are_refused() {
        assert_eq!(err("? [a, b]\n: 1\n").code, "yaml.complex-key");
    }

    #[test]
    fn scalar_roots_and_other_formats_are_refused() {
        for (text, code) in [
            ("hello world\n", "yaml.not-a-document"),
            ("42\n", "yaml.not-a-document"),
            ("# only a comment\n", "yaml.not-a-document"),
            ("---\n...\n", "yaml.not-a-document"),
            (
                "worker_processes 4;\nhttp {\n  server { listen 80; }\n}\n",
                "yaml.not-a-document",
            ),
            ("[databases]\nx = host=db\n", "yaml.syntax"),
            ("a: 1\n---\njust text\n", "yaml.not-a-document"),
        ] {
            assert_eq!(err(text).code, code, "{text:?}");
        }
    }

    #[test]
    fn multi_document_root_is_a_list() {
        let doc = ok("a: 1\n---\n- b\n");
        let Value::List(docs) = &doc.root.value else {
            panic!()
        };
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].line, 3);
        assert_eq!(doc.diagnostics[0].code, "yaml.multi-document");
        // A single document with an explicit `---` is not a stream.
        let doc = ok("---\na: 1\n");
        assert!(doc.diagnostics.is_empty());
        assert!(matches!(doc.root.value, Value::Map(_)));
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut bomb = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let refs: Vec<String> = (0..10).map(|_| format!("*a{}", i - 1)).collect();
            bomb.push_str(&format!("a{i}: &a{i} [{}]\n", refs.join(", ")));
        }
        let e = err(&bomb);
        assert_eq!(e.code, "yaml.limit", "{e:?}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("{}{}\n", "[".repeat(10_000), "]".repeat(10_000));
        let e = err(&deep);
        assert!(matches!(e.code, "yaml.limit" | "yaml.syntax"), "{e:?}");
        assert_eq!(e.code, "yaml.limit", "{e:?}");
        let block: String = (0..10_000).map(|_| "- ").collect::<String>() + "x\n";
        assert_eq!(err(&block).code, "yaml.limit");
        // MAX_DEPTH levels are fine.
        let fine = format!("{}{}\n", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        ok(&fine);
    }

    #[test]
    fn secrets_whole_within_and_spanned() {
        let text = "user: app\npassword: hunter2\nport: 5432\napi_token: |\n  line-one\n  line-two\nurl: imaps://bob:s3cret@mail.example.net/INBOX\nbind_pw: 1234\nempty_password: \"\"\nnull_secret:\n";
        let doc = ok(text);
        let dump = doc.dump();
        for s in ["hunter2", "line-one", "line-two", "s3cret", "1234"] {
            assert!(!dump.contains(s), "{s} in\n{dump}");
        }
        assert!(dump.contains("imaps://bob:<redacted>@mail.example.net/INBOX"));
        assert_eq!(doc.root.get("port").unwrap().value, Value::Int(5432));
        assert_eq!(
            doc.root.get("empty_password").unwrap().value,
            Value::Str(String::new())
        );
        assert_eq!(doc.root.get("null_secret").unwrap().value, Value::Null);
        let red = doc.redact_source(text);
        for s in ["hunter2", "line-one", "line-two", "s3cret", "1234"] {
            assert!(!red.contains(s), "{s} in\n{red}");
        }
        assert_eq!(red.lines().count(), text.lines().count());
        assert!(red.contains("url: imaps://bob:<redacted>@mail.example.net/INBOX"));
    }

    #[test]
    fn aliased_secret_is_redacted_everywhere() {
        let text = "defaults: &pw hunter2\ndb:\n  password: *pw\n";
        let doc = ok(text);
        assert!(!doc.dump().contains("hunter2"));
        assert!(!doc.redact_source(text).contains("hunter2"));
    }

    #[test]
    fn equal_text_elsewhere_is_not_redacted() {
        let doc = ok("password: http\nports:\n  - name: http\n");
        let Value::List(ports) = &doc.root.get("ports").unwrap().value else {
            panic!()
        };
        assert_eq!(ports[0].get("name").unwrap().as_str(), Some("http"));
    }

    #[test]
    fn secret_list_items_are_secrets() {
        let doc = ok("api_keys:\n  - k-one\n  - k-two\n");
        let dump = doc.dump();
        assert!(!dump.contains("k-one") && !dump.contains("k-two"), "{dump}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn never_panics(text in "([\\[\\]{}\"'&*!?|>:,#a-z0-9 -]{0,30}\n){0,8}") {
            let doc = parse(&text);
            for r in &doc.secret_spans {
                proptest::prop_assert!(r.start <= r.end && r.end <= text.len());
            }
        }
    }

    #[test]
    fn depth_bound_is_an_upper_bound() {
        let mut nested = String::new();
        for i in 0..10 {
            nested.push_str(&format!("{}k{i}:\n", "  ".repeat(i)));
        }
        nested.push_str(&format!("{}- - - [x, {{y: [z]}}]\n", "  ".repeat(10)));
        // 11 mappings, 3 sequences, then flow: list, map, list.
        assert!(depth_bound(&nested) >= 17);
        assert!(depth_bound("a:\n- b:\n  - c:\n    - d\n") >= 7);
        assert_eq!(depth_bound("a: *x\n"), usize::MAX);
        // Lone carriage returns are line breaks to YAML, and so to the estimate.
        let cr: String = (0..40)
            .map(|i| format!("{}k{i}:\r", " ".repeat(i)))
            .collect();
        assert!(depth_bound(&cr) > INLINE_DEPTH);
        assert_eq!(depth_bound(&cr), depth_bound(&cr.replace('\r', "\n")));
        assert!(depth_bound("a: 1\nb:\n  c: 2\n") <= INLINE_DEPTH);
        // Deep documents take the thread path and still end in `yaml.limit`, not a crash.
        let block: String = (0..200)
            .map(|i| format!("{}a:\n", " ".repeat(i)))
            .collect::<String>()
            + "x";
        assert!(depth_bound(&block) > INLINE_DEPTH);
        assert_eq!(err(&block).code, "yaml.limit");
    }

    /// A random YAML shape, rendered in the tightest block styles to test [`depth_bound`].
    #[derive(Debug, Clone)]
    enum Shape {
        Leaf,
        Map(Vec<Shape>),
        Seq(Vec<Shape>),
        Flow(Vec<Shape>),
    }

    /// A chain of 1 to 70 levels (so shapes get deep), some with a sibling leaf.
    fn shape() -> impl proptest::strategy::Strategy<Value = Shape> {
        use proptest::strategy::Strategy;
        proptest::collection::vec(0u8..6, 1..70).prop_map(|kinds| {
            kinds.into_iter().fold(Shape::Leaf, |inner, k| match k {
                0 => Shape::Map(vec![inner]),
                1 => Shape::Map(vec![Shape::Leaf, inner]),
                2 => Shape::Seq(vec![inner]),
                3 => Shape::Seq(vec![Shape::Leaf, inner]),
                4 => Shape::Map(vec![inner, Shape::Leaf]),
                _ => Shape::Flow(vec![inner]),
            })
        })
    }

    fn shape_depth(s: &Shape) -> usize {
        match s {
            Shape::Leaf => 0,
            Shape::Map(c) | Shape::Seq(c) | Shape::Flow(c) => {
                1 + c.iter().map(shape_depth).max().unwrap_or(0)
            }
        }
    }

    fn flow(s: &Shape, out: &mut String) {
        match s {
            Shape::Leaf => out.push('x'),
            Shape::Map(c) | Shape::Seq(c) | Shape::Flow(c) => {
                out.push('[');
                for (i, x) in c.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    flow(x, out);
                }
                out.push(']');
            }
        }
    }

    /// Renders `s` as the value of a key at column `col` (after `key:`).
    fn after_key(s: &Shape, col: usize, out: &mut String) {
        match s {
            Shape::Leaf | Shape::Flow(_) => {
                out.push(' ');
                flow(s, out);
                out.push('\n');
            }
            Shape::Map(c) => {
                out.push('\n');
                entries(c, col + 1, out, None);
            }
            Shape::Seq(c) => {
                out.push('\n');
                items(c, col, out, None);
            }
        }
    }

    /// Mapping entries at column `col`; the first may continue a line already started.
    fn entries(c: &[Shape], col: usize, out: &mut String, started: Option<()>) {
        for (i, x) in c.iter().enumerate() {
            if i > 0 || started.is_none() {
                out.push_str(&" ".repeat(col));
            }
            out.push_str(&format!("k{i}:"));
            after_key(x, col, out);
        }
    }

    /// Sequence items at column `col`; the first may continue a line already started.
    fn items(c: &[Shape], col: usize, out: &mut String, started: Option<()>) {
        for (i, x) in c.iter().enumerate() {
            if i > 0 || started.is_none() {
                out.push_str(&" ".repeat(col));
            }
            out.push_str("- ");
            match x {
                Shape::Leaf | Shape::Flow(_) => {
                    flow(x, out);
                    out.push('\n');
                }
                Shape::Map(m) => entries(m, col + 2, out, Some(())),
                Shape::Seq(q) => items(q, col + 2, out, Some(())),
            }
        }
    }

    fn tree_depth(n: &Node) -> usize {
        match &n.value {
            Value::Map(m) => 1 + m.iter().map(|(_, v)| tree_depth(v)).max().unwrap_or(0),
            Value::List(l) => 1 + l.iter().map(tree_depth).max().unwrap_or(0),
            _ => 0,
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        #[test]
        fn depth_bound_holds_for_tight_layouts(s in shape()) {
            let root = Shape::Map(vec![s]);
            let mut text = String::new();
            after_key(&root, 0, &mut text);
            let text = format!("root:{text}");
            let depth = shape_depth(&root) + 1;
            proptest::prop_assert!(depth_bound(&text) >= depth, "{text}");
            let doc = parse(&text);
            if depth <= MAX_DEPTH {
                proptest::prop_assert!(!doc.has_errors(), "{text}\n{:?}", doc.diagnostics);
                proptest::prop_assert_eq!(tree_depth(&doc.root), depth, "{}", text);
            }
        }
    }

    #[test]
    fn never_panics_on_junk() {
        for junk in [
            "{",
            "[",
            "a: [",
            "*x",
            "&a",
            "a: *nope\n",
            ": :",
            "\t- a",
            "!!binary a: b",
            "? ",
            "a: !!int x\n",
        ] {
            let _ = parse(junk);
        }
    }
}
