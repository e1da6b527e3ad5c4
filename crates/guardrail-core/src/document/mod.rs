//! The document model: one tree for every config format.
//!
//! Owns [`Document`], [`Node`], [`Value`], [`Map`], [`Secret`] and [`Diagnostic`]. Every node keeps
//! the 1-based source line it came from so that diffs and policy findings can point at `file:line`.
//!
//! Secrets never live in the tree as plain text: a parser that meets a password, token, key or
//! community stores a [`Secret`], which keeps only a digest (so a changed secret still diffs as
//! changed) and a redacted rendering (so nothing can print it). Parsers also record the byte
//! ranges of secrets in [`Document::secret_spans`], so the source text can be redacted for display.
//!
//! This module is pure: no IO, no clock, no environment. It must not depend on `formats`, `diff`,
//! `policy` or anything in the shell.

pub mod config_yaml;
mod dump;
pub mod names;
pub mod secret;

use std::fmt;
use std::ops::Range;

pub use secret::{Secret, is_secret_key, redact_url_credentials};

/// The text shown in place of a secret.
pub const REDACTED: &str = "<redacted>";

/// Keys that identify a list item that is a map, in order of preference (the diff matches
/// such items across versions by the first one present; see `diff`).
pub const IDENTITY_KEYS: [&str; 5] = ["name", "id", "seq", "address", "line"];

/// The kinds of target a config can belong to (`guardrail.yaml` targets, policy `match.kinds`).
pub const TARGET_KINDS: [&str; 5] = [
    "load_balancer",
    "switch",
    "email_connector",
    "db_client",
    "generic",
];

/// A config format guardrail can parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    Yaml,
    Json,
    Toml,
    Ini,
    Haproxy,
    Nginx,
    Ios,
    Fetchmail,
}

impl Format {
    pub const ALL: [Format; 8] = [
        Format::Yaml,
        Format::Json,
        Format::Toml,
        Format::Ini,
        Format::Haproxy,
        Format::Nginx,
        Format::Ios,
        Format::Fetchmail,
    ];

    /// The stable name used on the command line, in `guardrail.yaml` and in outputs.
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Toml => "toml",
            Format::Ini => "ini",
            Format::Haproxy => "haproxy",
            Format::Nginx => "nginx",
            Format::Ios => "ios",
            Format::Fetchmail => "fetchmail",
        }
    }

    /// Every name a format is known by, its canonical name first: the one list that the CLI's
    /// `--format`, `format:` in guardrail.yaml and test files, and the API's `format` accept.
    pub const NAMES: [(&'static str, Format); 14] = [
        ("yaml", Format::Yaml),
        ("yml", Format::Yaml),
        ("json", Format::Json),
        ("toml", Format::Toml),
        ("ini", Format::Ini),
        ("haproxy", Format::Haproxy),
        ("nginx", Format::Nginx),
        ("ios", Format::Ios),
        ("eos", Format::Ios),
        ("frr", Format::Ios),
        ("arista", Format::Ios),
        ("cisco", Format::Ios),
        ("fetchmail", Format::Fetchmail),
        ("fetchmailrc", Format::Fetchmail),
    ];

    /// Parses a format name or alias ([`Format::NAMES`]), ignoring case and surrounding space.
    pub fn from_name(name: &str) -> Option<Format> {
        let lower = name.trim().to_ascii_lowercase();
        Format::NAMES
            .iter()
            .find(|(n, _)| *n == lower)
            .map(|(_, f)| *f)
    }

    /// Like [`Format::from_name`], with the sentence for an unknown name: the nearest name and
    /// every accepted one.
    pub fn parse_name(name: &str) -> Result<Format, String> {
        Format::from_name(name).ok_or_else(|| {
            names::unknown_name("format", name.trim(), Format::NAMES.iter().map(|(n, _)| *n))
        })
    }

    /// The accepted names for help texts: `yaml (yml), json, ..., ios (eos, frr, arista, cisco)`.
    pub fn accepted_names() -> String {
        Format::ALL
            .iter()
            .map(|f| {
                let aliases: Vec<&str> = Format::NAMES
                    .iter()
                    .filter(|(n, g)| g == f && *n != f.name())
                    .map(|(n, _)| *n)
                    .collect();
                if aliases.is_empty() {
                    f.name().to_string()
                } else {
                    format!("{} ({})", f.name(), aliases.join(", "))
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// True for the formats parsed line by line (the ones held to the 100 MB/s parse target).
    pub fn is_line_based(self) -> bool {
        matches!(
            self,
            Format::Ini | Format::Haproxy | Format::Nginx | Format::Ios | Format::Fetchmail
        )
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How bad a diagnostic is. `Error` means the document cannot be trusted (the caller must treat
/// the input as bad); `Warning` means something was kept opaque or looked odd but the tree is usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A problem found in an input, with a stable code (`haproxy.server-syntax`, `yaml.syntax`,
/// `input.empty`, ...), the 1-based line (0 when no line applies) and a sentence a user can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: &'static str,
    pub line: u32,
    pub message: String,
}

impl Diagnostic {
    pub fn error(code: &'static str, line: u32, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            line,
            message: message.into(),
        }
    }

    pub fn warning(code: &'static str, line: u32, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            code,
            line,
            message: message.into(),
        }
    }

    /// `file:line: severity[code]: message`, the one-line form used by every command.
    pub fn render(&self, file: &str) -> String {
        if self.line > 0 {
            format!(
                "{file}:{}: {}[{}]: {}",
                self.line,
                self.severity.name(),
                self.code,
                self.message
            )
        } else {
            format!(
                "{file}: {}[{}]: {}",
                self.severity.name(),
                self.code,
                self.message
            )
        }
    }
}

/// A parsed config: the tree, what the parser had to say, and where the secrets were.
#[derive(Debug, Clone)]
pub struct Document {
    pub format: Format,
    pub root: Node,
    pub diagnostics: Vec<Diagnostic>,
    /// Byte ranges of the source text that hold secret values.
    pub secret_spans: Vec<Range<usize>>,
}

impl Document {
    /// A document with an empty map root and no diagnostics.
    pub fn empty(format: Format) -> Self {
        Document {
            format,
            root: Node::new(1, Value::Map(Map::new())),
            diagnostics: Vec::new(),
            secret_spans: Vec::new(),
        }
    }

    /// True when any diagnostic is an error: the input must be treated as bad.
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    /// The first error diagnostic, if any.
    pub fn first_error(&self) -> Option<&Diagnostic> {
        self.diagnostics
            .iter()
            .find(|d| d.severity == Severity::Error)
    }

    /// The source text with every secret span replaced by [`REDACTED`], line structure kept
    /// (a multi-line secret is redacted on each of its lines), for unified diffs and excerpts.
    pub fn redact_source<'a>(&self, source: &'a str) -> std::borrow::Cow<'a, str> {
        secret::redact_spans(source, &self.secret_spans)
    }

    /// A stable, human-readable dump of the tree with line numbers (used by golden tests and
    /// `guardrail parse`). Secrets appear redacted.
    pub fn dump(&self) -> String {
        dump::dump(&self.root)
    }

    /// The content hash of the parsed tree (`sha256:…`), without line numbers: equal for inputs
    /// that differ only in whitespace and comments. The order of list items counts, so two
    /// files that the diff calls equal (reordered servers) can still hash differently.
    pub fn content_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(self.format.name().as_bytes());
        hasher.update([0]);
        self.root.value.hash_into(&mut hasher);
        let digest = hasher.finalize();
        let mut out = String::with_capacity(71);
        out.push_str("sha256:");
        for b in digest.iter() {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }
}

/// One node of the tree: a value and the 1-based line it starts on. For a map entry the line
/// is the line of its key.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub line: u32,
    pub value: Value,
}

impl Node {
    #[inline]
    pub fn new(line: u32, value: Value) -> Self {
        Node { line, value }
    }

    #[inline]
    pub fn null(line: u32) -> Self {
        Node::new(line, Value::Null)
    }

    #[inline]
    pub fn str(line: u32, s: impl Into<String>) -> Self {
        Node::new(line, Value::Str(s.into()))
    }

    #[inline]
    pub fn int(line: u32, i: i64) -> Self {
        Node::new(line, Value::Int(i))
    }

    #[inline]
    pub fn bool(line: u32, b: bool) -> Self {
        Node::new(line, Value::Bool(b))
    }

    /// A list whose order is behaviour (first match wins, rules run in turn): reordering its
    /// items is a change (`moved` in the diff).
    #[inline]
    pub fn ordered_list(line: u32, items: Vec<Node>) -> Self {
        Node::new(line, Value::List(List::ordered(items)))
    }

    /// A list of a data format (YAML, JSON, TOML), ordered by the rule of [`List::of_data`].
    #[inline]
    pub fn data_list(line: u32, items: Vec<Node>) -> Self {
        Node::new(line, Value::List(List::of_data(items)))
    }

    /// A list whose order the software ignores (sections, servers, same-name ACLs): reordering
    /// its items is no change.
    #[inline]
    pub fn unordered_list(line: u32, items: Vec<Node>) -> Self {
        Node::new(line, Value::List(List::unordered(items)))
    }

    #[inline]
    pub fn map(line: u32, map: Map) -> Self {
        Node::new(line, Value::Map(map))
    }

    /// The child at `key` when this node is a map.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(m) => m.get(key),
            _ => None,
        }
    }

    /// The node at a dotted path of map keys and list indexes (`backends.0.servers.1.name`).
    pub fn at_path(&self, path: &str) -> Option<&Node> {
        let mut cur = self;
        for seg in path.split('.') {
            cur = match (&cur.value, seg.parse::<usize>()) {
                (Value::List(items), Ok(i)) => items.get(i)?,
                _ => cur.get(seg)?,
            };
        }
        Some(cur)
    }

    /// True for a map that carries one of [`IDENTITY_KEYS`] as a scalar (the diff matches such
    /// list items by that key).
    pub fn is_identified_map(&self) -> bool {
        match &self.value {
            Value::Map(m) => IDENTITY_KEYS.iter().any(|k| {
                m.get(k).is_some_and(|v| {
                    matches!(v.value, Value::Str(_) | Value::Int(_) | Value::Secret(_))
                })
            }),
            _ => false,
        }
    }

    /// The string when this node is a plain string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// A value of the tree. Integers that fit `i64` are `Int` (policies rely on it: CEL compares `int` and
/// `double` differently);
/// secrets are never stored as `Str`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Secret(Secret),
    List(List),
    Map(Map),
}

/// A list of the tree, and whether the order of its items is behaviour. The format that builds
/// a list decides, from the software's own documentation (see docs/formats.md): HAProxy
/// `use_backend` rules are ordered (the first match wins), HAProxy sections are not. The diff
/// reports a reordering of an ordered list as `moved` entries; in an unordered list it is no
/// change. Dereferences to its items.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct List {
    items: Vec<Node>,
    ordered: bool,
}

impl List {
    #[inline]
    pub fn ordered(items: Vec<Node>) -> Self {
        List {
            items,
            ordered: true,
        }
    }

    #[inline]
    pub fn unordered(items: Vec<Node>) -> Self {
        List {
            items,
            ordered: false,
        }
    }

    /// The rule of the data formats (YAML, JSON, TOML): a list is ordered unless every item is
    /// an identified map (one with a scalar `name`, `id`, `seq`, `address` or `line`: a list of
    /// named backends may reorder freely, `args:` may not). An empty list is ordered.
    pub fn of_data(items: Vec<Node>) -> Self {
        let identified = !items.is_empty() && items.iter().all(Node::is_identified_map);
        List {
            items,
            ordered: !identified,
        }
    }

    /// True when reordering the items changes behaviour.
    #[inline]
    pub fn is_ordered(&self) -> bool {
        self.ordered
    }

    /// Marks the list ordered or not (a format that learns it only after building the list,
    /// such as HAProxy servers under `balance first`).
    #[inline]
    pub fn set_ordered(&mut self, ordered: bool) {
        self.ordered = ordered;
    }

    #[inline]
    pub fn into_items(self) -> Vec<Node> {
        self.items
    }
}

impl std::ops::Deref for List {
    type Target = Vec<Node>;
    #[inline]
    fn deref(&self) -> &Vec<Node> {
        &self.items
    }
}

impl std::ops::DerefMut for List {
    #[inline]
    fn deref_mut(&mut self) -> &mut Vec<Node> {
        &mut self.items
    }
}

impl<'a> IntoIterator for &'a List {
    type Item = &'a Node;
    type IntoIter = std::slice::Iter<'a, Node>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl Value {
    /// The type name shown in dumps and messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Secret(_) => "secret",
            Value::List(_) => "list",
            Value::Map(_) => "map",
        }
    }

    pub fn is_scalar(&self) -> bool {
        !matches!(self, Value::List(_) | Value::Map(_))
    }

    /// Structural equality ignoring line numbers.
    pub fn same(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits() || a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Secret(a), Value::Secret(b)) => a == b,
            (Value::List(a), Value::List(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.value.same(&y.value))
            }
            (Value::Map(a), Value::Map(b)) => {
                a.len() == b.len()
                    && a.iter().all(|(k, v)| match b.get(k) {
                        Some(w) => v.value.same(&w.value),
                        None => false,
                    })
            }
            _ => false,
        }
    }

    /// A short one-line rendering of a scalar for messages and text diffs; containers render
    /// as `{…}`/`[…]` with their size. Secrets render redacted.
    pub fn display_short(&self) -> String {
        match self {
            Value::Null => "null".to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Str(s) => serde_json::to_string(s).unwrap_or_else(|_| s.clone()),
            Value::Secret(s) => s.shown().to_string(),
            Value::List(l) => format!("[{} items]", l.len()),
            Value::Map(m) => format!("{{{} keys}}", m.len()),
        }
    }

    /// Converts to JSON for outputs. Secrets become their redacted rendering; line numbers are dropped.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or_else(|| J::String(f.to_string())),
            Value::Str(s) => J::String(s.clone()),
            Value::Secret(s) => J::String(s.shown().to_string()),
            Value::List(l) => J::Array(l.iter().map(|n| n.value.to_json()).collect()),
            Value::Map(m) => J::Object(
                m.iter()
                    .map(|(k, v)| (k.to_string(), v.value.to_json()))
                    .collect(),
            ),
        }
    }

    fn hash_into(&self, h: &mut sha2::Sha256) {
        use sha2::Digest;
        match self {
            Value::Null => h.update([0u8]),
            Value::Bool(b) => h.update([1u8, *b as u8]),
            Value::Int(i) => {
                h.update([2u8]);
                h.update(i.to_le_bytes());
            }
            Value::Float(f) => {
                h.update([3u8]);
                h.update(f.to_bits().to_le_bytes());
            }
            Value::Str(s) => {
                h.update([4u8]);
                h.update((s.len() as u64).to_le_bytes());
                h.update(s.as_bytes());
            }
            Value::Secret(s) => {
                h.update([5u8]);
                h.update(s.digest());
            }
            Value::List(l) => {
                h.update([6u8]);
                h.update((l.len() as u64).to_le_bytes());
                for n in l {
                    n.value.hash_into(h);
                }
            }
            Value::Map(m) => {
                h.update([7u8]);
                h.update((m.len() as u64).to_le_bytes());
                for (k, v) in m.iter() {
                    h.update((k.len() as u64).to_le_bytes());
                    h.update(k.as_bytes());
                    v.value.hash_into(h);
                }
            }
        }
    }
}

/// An insertion-ordered map from string keys to nodes. Small maps are the common case, so it is a
/// vector with linear lookup; the diff builds its own index for large maps.
///
/// Keys are `Cow<'static, str>`: the line-based parsers use fixed key names (`name`, `servers`,
/// `weight`) that need no allocation, which is a large share of parse time on big files.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map {
    entries: Vec<(Key, Node)>,
}

/// A map key: borrowed for fixed names, owned for keys read from the input.
pub type Key = std::borrow::Cow<'static, str>;

impl Map {
    #[inline]
    pub fn new() -> Self {
        Map {
            entries: Vec::new(),
        }
    }

    #[inline]
    pub fn with_capacity(n: usize) -> Self {
        Map {
            entries: Vec::with_capacity(n),
        }
    }

    /// A map of fixed keys, known to be unique, in this order. Building the entries in one
    /// array and moving it into place at once is cheaper than pushing them one by one: parsers
    /// build one such map per server or interface line.
    #[inline(always)]
    pub fn from_entries<const N: usize>(entries: [(&'static str, Node); N]) -> Self {
        Map {
            entries: Vec::from(entries.map(|(k, v)| (Key::Borrowed(k), v))),
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Inserts or replaces `key`, keeping the original position when it existed. Returns the old node.
    pub fn insert(&mut self, key: impl Into<Key>, node: Node) -> Option<Node> {
        let key = key.into();
        if let Some(slot) = self.get_mut(&key) {
            return Some(std::mem::replace(slot, node));
        }
        self.entries.push((key, node));
        None
    }

    /// Appends without checking for an existing key. Callers that know keys are unique (or that
    /// report duplicates themselves) use this to stay linear.
    #[inline]
    pub fn push(&mut self, key: impl Into<Key>, node: Node) {
        self.entries.push((key.into(), node));
    }

    pub fn remove(&mut self, key: &str) -> Option<Node> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(i).1)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Node)> {
        self.entries.iter().map(|(k, v)| (k.as_ref(), v))
    }

    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_ref())
    }
}

impl<K: Into<Key>> FromIterator<(K, Node)> for Map {
    fn from_iter<I: IntoIterator<Item = (K, Node)>>(iter: I) -> Self {
        let mut m = Map::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_ignores_lines() {
        let mut a = Map::new();
        a.push("x", Node::int(1, 3));
        let mut b = Map::new();
        b.push("x", Node::int(9, 3));
        assert!(Value::Map(a).same(&Value::Map(b)));
    }

    #[test]
    fn content_hash_ignores_lines_but_sees_secrets() {
        let doc = |line, secret: &str| {
            let mut m = Map::new();
            m.push(
                "password",
                Node::new(line, Value::Secret(Secret::whole(secret))),
            );
            let mut d = Document::empty(Format::Yaml);
            d.root = Node::map(1, m);
            d
        };
        assert_eq!(doc(1, "a").content_hash(), doc(5, "a").content_hash());
        assert_ne!(doc(1, "a").content_hash(), doc(1, "b").content_hash());
    }

    #[test]
    fn at_path_walks_keys_and_indexes() {
        let mut server = Map::new();
        server.push("name", Node::str(3, "web1"));
        let mut root = Map::new();
        root.push(
            "servers",
            Node::unordered_list(2, vec![Node::map(3, server)]),
        );
        let root = Node::map(1, root);
        assert_eq!(
            root.at_path("servers.0.name").and_then(Node::as_str),
            Some("web1")
        );
        assert!(root.at_path("servers.1.name").is_none());
        assert!(root.at_path("missing").is_none());
    }

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(Format::from_name(f.name()), Some(f));
        }
        assert_eq!(Format::from_name("EOS"), Some(Format::Ios));
        assert_eq!(Format::from_name(" Cisco "), Some(Format::Ios));
        assert_eq!(Format::from_name("xml"), None);
        assert_eq!(
            Format::parse_name("haprxy").unwrap_err(),
            format!(
                "unknown format `haprxy` (did you mean `haproxy`?); known: {}",
                Format::NAMES.map(|(n, _)| n).join(", ")
            )
        );
        for f in Format::ALL {
            assert!(
                Format::NAMES.contains(&(f.name(), f)),
                "{f} has its own name"
            );
        }
    }
}
