//! The semantic diff of two documents, and the unified text diff kept beside it for display.
//!
//! Owns [`DiffEntry`], [`Path`] and the identity rules that match list items across versions
//! ([`identity_of`]). Pure: takes trees, returns entries. May depend on `document` only.
//!
//! Identity of a list item, first rule that applies:
//! 1. a map with a scalar `name` field is identified by it (HAProxy backends and servers,
//!    interfaces, YAML lists of named objects);
//! 2. else a map with `id` (VLANs, keyed YAML lists), then `seq` (ACL entries), then `address`
//!    (nginx upstream servers, BGP neighbors), then `line` (opaque config blocks);
//! 3. a scalar is identified by its value (raw config lines, VLAN lists);
//! 4. anything else is matched by position among the items that did not match by content.
//!
//! When several items share an identity, the second and later get `#2`, `#3` appended, in order,
//! skipping a name that another item has as its own identity (`a`, `a`, `a#2` are `a`, `a#3`,
//! `a#2`), so a name in a path is one item's. Items match across versions by their identity and
//! which repeat of it they are (the second `a` is the second `a`), never by that name, so no item
//! is matched twice and what one direction adds, the other removes. So removing one server is
//! exactly one removal.
//!
//! Order: every list of the tree is *ordered* or *unordered* (`document::List`, decided by the
//! format). In an unordered list a reordering is no change. In an ordered list (first-match
//! rules, ACL entries, `args:`), the matched items whose relative order changed are reported as
//! [`Op::Moved`] entries with their old and new positions: the fewest items that explain the new
//! order (every matched item outside a longest run kept in order), so swapping two rules is one
//! `moved` entry and inserting a rule is one `added` entry, not a move of everything after it.

mod engine;
pub mod text;

use std::fmt;

use crate::document::{Node, Value};

pub use engine::{diff, find_item};

pub use crate::document::IDENTITY_KEYS;

/// What happened at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Added,
    Removed,
    Changed,
    /// An item of an ordered list changed places relative to the others (see [`Move`]).
    Moved,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Added => "added",
            Op::Removed => "removed",
            Op::Changed => "changed",
            Op::Moved => "moved",
        }
    }
}

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A map key.
    Key(String),
    /// A list item matched by identity (see the module docs).
    Item(String),
    /// A list item matched by position (no identity).
    Index(usize),
}

/// A path into a document, such as `backends[web].servers[web1].weight`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Path(pub Vec<Segment>);

impl Path {
    pub fn child(&self, seg: Segment) -> Path {
        let mut v = Vec::with_capacity(self.0.len() + 1);
        v.extend_from_slice(&self.0);
        v.push(seg);
        Path(v)
    }

    /// True when `self` is `prefix` or lies under it.
    pub fn starts_with(&self, prefix: &Path) -> bool {
        self.0.len() >= prefix.0.len() && self.0[..prefix.0.len()] == prefix.0[..]
    }

    /// The segments as plain strings (keys, identities, and indexes as numbers in text).
    pub fn segments(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|s| match s {
                Segment::Key(k) | Segment::Item(k) => k.clone(),
                Segment::Index(i) => i.to_string(),
            })
            .collect()
    }
}

impl fmt::Display for Path {
    /// Keys are joined with `.`; identified items are `[id]`; positional items `[#3]`. Keys and
    /// identities that are not plain words are JSON-quoted: `lines["line vty 0 4"]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(".");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Key(k) => {
                    if is_plain(k, false) {
                        if i > 0 {
                            f.write_str(".")?;
                        }
                        f.write_str(k)?;
                    } else {
                        write!(f, "[{}]", quote(k))?;
                    }
                }
                Segment::Item(id) => {
                    if is_plain(id, true) {
                        write!(f, "[{id}]")?;
                    } else {
                        write!(f, "[{}]", quote(id))?;
                    }
                }
                Segment::Index(n) => write!(f, "[#{n}]")?,
            }
        }
        Ok(())
    }
}

fn is_plain(s: &str, item: bool) -> bool {
    !s.is_empty()
        && !s.starts_with('#')
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '-')
                || (item && matches!(c, '.' | ':' | '/' | '@' | '*'))
        })
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// One semantic difference. `old`/`new` are the subtrees on each side (`None` for the side that
/// does not exist); lines are 1-based source lines on each side.
#[derive(Debug, Clone)]
pub struct DiffEntry<'a> {
    pub op: Op,
    pub path: Path,
    pub old: Option<&'a Node>,
    pub new: Option<&'a Node>,
    /// For [`Op::Moved`]: the item's position in the old and the new list.
    pub moved: Option<Move>,
}

/// Where an item of an ordered list was and is: 1-based positions in the old and the new list
/// (the first item is 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Move {
    pub from: usize,
    pub to: usize,
}

impl DiffEntry<'_> {
    pub fn old_line(&self) -> Option<u32> {
        self.old.map(|n| n.line)
    }

    pub fn new_line(&self) -> Option<u32> {
        self.new.map(|n| n.line)
    }

    /// The documented JSON shape of an entry (`op`, `path`, `old`, `new`, `old_line`,
    /// `new_line`, and for `moved` also `old_position`, `new_position`); secrets appear redacted.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "op": self.op.name(),
            "path": self.path.to_string(),
            "old": self.old.map(|n| n.value.to_json()),
            "new": self.new.map(|n| n.value.to_json()),
            "old_line": self.old_line(),
            "new_line": self.new_line(),
        });
        if let Some(obj) = v.as_object_mut() {
            if let Some(m) = self.moved {
                obj.insert("old_position".into(), m.from.into());
                obj.insert("new_position".into(), m.to.into());
            }
            if self.is_secret() {
                obj.insert("secret".into(), true.into());
            }
        }
        v
    }

    /// True when either side is a secret value: outputs then say "secret changed" and show no
    /// value (both sides render as `<redacted>`, which would read as no change).
    pub fn is_secret(&self) -> bool {
        let secret = |n: Option<&Node>| n.is_some_and(|n| matches!(n.value, Value::Secret(_)));
        secret(self.old) || secret(self.new)
    }
}

/// One plain-text sentence for a diff entry in its JSON shape ([`DiffEntry::to_json`]), for the
/// outputs that list entries beside a line diff (text report, markdown, alerts). Moves and secret
/// changes get their own words, since a line diff shows a move as a removal plus an addition and
/// a secret change as nothing at all: `frontends[fe].use_backend[api] moved from position 1 to 2
/// (line 5 -> 6)`, `secret changed at users[admin].password (line 4)`.
pub fn sentence(entry: &serde_json::Value) -> String {
    let text = |k: &str| entry.get(k).and_then(|v| v.as_str()).unwrap_or("");
    let num = |k: &str| entry.get(k).and_then(|v| v.as_u64());
    let path = match text("path") {
        "" => ".",
        p => p,
    };
    let lines = match (num("old_line"), num("new_line")) {
        (Some(o), Some(n)) if o != n => format!(" (line {o} -> {n})"),
        (_, Some(n)) => format!(" (line {n})"),
        (Some(o), None) => format!(" (old line {o})"),
        (None, None) => String::new(),
    };
    let secret = entry.get("secret").and_then(|v| v.as_bool()) == Some(true);
    match text("op") {
        "moved" => format!(
            "{path} moved from position {} to {}{lines}",
            num("old_position").unwrap_or(0),
            num("new_position").unwrap_or(0)
        ),
        "changed" if secret => format!("secret changed at {path}{lines}"),
        "added" if secret => format!("secret added at {path}{lines}"),
        "removed" if secret => format!("secret removed at {path}{lines}"),
        op => format!("{path} {op}{lines}"),
    }
}

/// True for entries a line diff shows badly (a move, a secret), which outputs that show the
/// line diff mention in words as well.
pub fn needs_words(entry: &serde_json::Value) -> bool {
    entry.get("op").and_then(|v| v.as_str()) == Some("moved")
        || entry.get("secret").and_then(|v| v.as_bool()) == Some(true)
}

/// The identity of a list item under the rules of the module docs, or `None` for positional
/// matching. Identities of maps are prefixed by nothing: callers see `web1`, not `name=web1`.
pub fn identity_of(item: &Node) -> Option<String> {
    match &item.value {
        Value::Map(m) => IDENTITY_KEYS.iter().find_map(|k| {
            m.get(k).and_then(|v| match &v.value {
                Value::Str(s) => Some(s.clone()),
                Value::Int(i) => Some(i.to_string()),
                Value::Secret(s) => Some(s.shown().to_string()),
                _ => None,
            })
        }),
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Secret(s) => Some(s.shown().to_string()),
        Value::Null => Some("null".to_string()),
        Value::List(_) => None,
    }
}
