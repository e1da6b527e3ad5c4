//! Document trees as CEL values, without copying them.
//!
//! A rule sees `old`, `new`, the diff and the inventory as CEL maps and lists. Converting a
//! 100,000-line document into the `cel` crate's own maps and lists up front would cost more than
//! the whole check budget, and every loop step of the interpreter would then deep-copy the element
//! it binds. So a document map or list is wrapped in a [`DocMap`] / [`DocList`]: a cheap handle
//! (`Arc`) that borrows the [`Node`] and converts one level of it the first time a rule looks
//! inside, caching that level. Cloning a handle (what the interpreter does to bind a loop
//! variable) is a reference-count increment; strings are borrowed, not copied.
//!
//! Each handle also presents its level as the crate's built-in `CelMap` / `CelList` (through
//! [`Val::as_builtin`]), so equality with literals (`[] == new.x`), the extension functions and
//! the conversion to `cel::Value` behave exactly as for built-in values.
//!
//! Handles remember the source line of their node (and of each entry), and which side of the
//! change they come from. The helper functions read them through a private index key,
//! [`LineQuery`], that no CEL expression can construct: `line(x)` asks `x[LineQuery::Node]`.
//!
//! Secrets are presented as their redacted rendering: a rule can never see a secret's text.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use cel::ExecutionError;
use cel::common::traits::{self, Adder, Container, Indexer, Iterable, Sizer, Zeroer};
use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelOptional, CelString,
    CelUInt, Kind, Type,
};
use cel::common::value::{Builtin, BuiltinRef, CowVal, StaticVal, Val};

use crate::document::{Map, Node, Value};

/// Which document a value comes from, so a finding can point at the right file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Old,
    New,
    /// Built by the engine (diff entries, target info) or from another target's document.
    Other,
}

impl Side {
    fn code(self) -> i64 {
        match self {
            Side::Old => 0,
            Side::New => 1,
            Side::Other => 2,
        }
    }

    pub(crate) fn from_code(code: i64) -> Side {
        match code {
            0 => Side::Old,
            1 => Side::New,
            _ => Side::Other,
        }
    }
}

/// The private index key the helper functions use to ask a [`DocMap`] / [`DocList`] for source
/// information. CEL expressions cannot build a value of this type, so it never collides with a
/// real key; built-in maps and lists reject it, which the helpers read as "no line known".
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LineQuery {
    /// The line of the value itself.
    Node,
    /// The side the value comes from ([`Side`] as an int).
    Side,
    /// The line of a map entry.
    Key(String),
    /// The line of a list element.
    Index(i64),
}

static LINE_QUERY_TYPE: Type = Type::new_unspecified_type("guardrail.line_query");

impl Val for LineQuery {
    fn get_type(&self) -> &Type {
        &LINE_QUERY_TYPE
    }

    fn cel_type() -> &'static Type {
        &LINE_QUERY_TYPE
    }

    fn equals(&self, other: &dyn Val) -> bool {
        other.downcast_ref::<LineQuery>() == Some(self)
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

impl StaticVal for LineQuery {}

/// Asks `value` for source information; `None` when it has none (a scalar, a built-in value,
/// or an entry the engine built without a line).
pub(crate) fn query(value: &dyn Val, q: LineQuery) -> Option<i64> {
    let indexer = value.as_indexer()?;
    let answer = indexer.get(&q).ok()?;
    answer.downcast_ref::<CelInt>().map(|i| *i.inner())
}

/// The 1-based line of a document value, when it has one.
pub(crate) fn line_of(value: &dyn Val) -> Option<u32> {
    query(value, LineQuery::Node)
        .filter(|l| *l > 0)
        .and_then(|l| u32::try_from(l).ok())
}

/// The side a value comes from ([`Side::Other`] when unknown).
pub(crate) fn side_of(value: &dyn Val) -> Side {
    query(value, LineQuery::Side)
        .map(Side::from_code)
        .unwrap_or(Side::Other)
}

fn answer<'b, 'w>(line: Option<i64>) -> CowVal<'b, 'w> {
    match line {
        Some(l) if l > 0 => CowVal::owned(CelInt::from(l)),
        _ => CowVal::owned(CelNull),
    }
}

/// Converts one node to a CEL value: scalars directly (strings borrowed), containers as lazy handles.
pub(crate) fn node_value<'a>(node: &'a Node, side: Side) -> Box<dyn Val + 'a> {
    match &node.value {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Int(i) => Box::new(CelInt::from(*i)),
        Value::Float(f) => Box::new(CelDouble::from(*f)),
        Value::Str(s) => Box::new(CelString::from(s.as_str())),
        Value::Secret(s) => Box::new(CelString::from(s.shown())),
        Value::List(items) => Box::new(DocList::lazy(items, node.line, side)),
        Value::Map(map) => Box::new(DocMap::lazy(map, node.line, side)),
    }
}

/// A node as a value, or `null` when absent (a created or deleted target).
pub(crate) fn optional_node_value<'a>(node: Option<&'a Node>, side: Side) -> Box<dyn Val + 'a> {
    match node {
        Some(n) => node_value(n, side),
        None => Box::new(CelNull),
    }
}

/// Converts a JSON value (policy params, overrides) to a CEL value. Integers that fit `i64` are
/// `int`, so `params.x + 1` works.
pub(crate) fn json_value(value: &serde_json::Value) -> Box<dyn Val + 'static> {
    use serde_json::Value as J;
    match value {
        J::Null => Box::new(CelNull),
        J::Bool(b) => Box::new(CelBool::from(*b)),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                Box::new(CelInt::from(i))
            } else if let Some(u) = n.as_u64() {
                Box::new(CelUInt::from(u))
            } else {
                Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN)))
            }
        }
        J::String(s) => Box::new(CelString::from(s.clone())),
        J::Array(items) => Box::new(DocList::built(
            items.iter().map(|v| (json_value(v), 0)).collect(),
            0,
        )),
        J::Object(map) => Box::new(DocMap::built(
            map.iter()
                .map(|(k, v)| (k.clone(), json_value(v), 0))
                .collect(),
            0,
        )),
    }
}

/// A string value.
pub(crate) fn string<'a>(s: impl Into<String>) -> Box<dyn Val + 'a> {
    Box::new(CelString::from(s.into()))
}

/// A list of strings.
pub(crate) fn string_list<'a>(items: &[String]) -> Box<dyn Val + 'a> {
    Box::new(DocList::built(
        items.iter().map(|s| (string(s.clone()), 0)).collect(),
        0,
    ))
}

// ---------------------------------------------------------------------------------------------
// Maps

/// A map handle: a borrowed document map converted one level at a time, or a map the engine built.
#[derive(Clone)]
pub(crate) struct DocMap<'a>(Arc<MapInner<'a>>);

struct MapInner<'a> {
    line: u32,
    side: Side,
    source: Option<&'a Map>,
    level: OnceLock<MapLevel<'a>>,
}

struct MapLevel<'a> {
    map: CelMap<'a>,
    /// Keys in document order, with the line of each entry.
    keys: Vec<(CelString<'a>, u32)>,
}

impl<'a> DocMap<'a> {
    pub(crate) fn lazy(source: &'a Map, line: u32, side: Side) -> Self {
        DocMap(Arc::new(MapInner {
            line,
            side,
            source: Some(source),
            level: OnceLock::new(),
        }))
    }

    /// A map built by the engine from `(key, value, line)` entries, in that order. A repeated key
    /// keeps its first value.
    pub(crate) fn built(entries: Vec<(String, Box<dyn Val + 'a>, u32)>, line: u32) -> Self {
        Self::built_with_side(entries, line, Side::Other)
    }

    /// [`DocMap::built`] for a map that stands for a place in the old or new document (a diff
    /// entry), so that its line can locate a finding.
    pub(crate) fn built_with_side(
        entries: Vec<(String, Box<dyn Val + 'a>, u32)>,
        line: u32,
        side: Side,
    ) -> Self {
        let mut map = HashMap::with_capacity(entries.len());
        let mut keys = Vec::with_capacity(entries.len());
        for (k, v, l) in entries {
            let key = CelMapKey::from(k.clone());
            if map.contains_key(&key) {
                continue;
            }
            map.insert(key, v);
            keys.push((CelString::from(k), l));
        }
        let level = OnceLock::new();
        let _ = level.set(MapLevel {
            map: CelMap::from(map),
            keys,
        });
        DocMap(Arc::new(MapInner {
            line,
            side,
            source: None,
            level,
        }))
    }

    fn level(&self) -> &MapLevel<'a> {
        self.0.level.get_or_init(|| {
            let source = self.0.source.expect("a built map has its level set");
            let side = self.0.side;
            let mut map = HashMap::with_capacity(source.len());
            let mut keys = Vec::with_capacity(source.len());
            for (k, node) in source.iter() {
                let key = CelMapKey::from(k);
                // The document model keeps the first of repeated keys (`Map::get`): so do we.
                if map.contains_key(&key) {
                    continue;
                }
                map.insert(key, node_value(node, side));
                keys.push((CelString::from(k), node.line));
            }
            MapLevel {
                map: CelMap::from(map),
                keys,
            }
        })
    }

    fn answer_query<'b, 'w>(&self, q: &LineQuery) -> CowVal<'b, 'w> {
        match q {
            LineQuery::Node => answer(Some(i64::from(self.0.line))),
            LineQuery::Side => CowVal::owned(CelInt::from(self.0.side.code())),
            LineQuery::Key(k) => answer(
                self.level()
                    .keys
                    .iter()
                    .find(|(key, _)| key.inner() == k)
                    .map(|(_, l)| i64::from(*l)),
            ),
            LineQuery::Index(_) => answer(None),
        }
    }
}

impl fmt::Debug for DocMap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocMap(line {})", self.0.line)
    }
}

impl<'a> Val for DocMap<'a> {
    fn get_type(&self) -> &Type {
        <CelMap<'static> as Val>::cel_type()
    }

    fn cel_type() -> &'static Type {
        <CelMap<'static> as Val>::cel_type()
    }

    fn as_container(&self) -> Option<&dyn Container> {
        Some(&self.level().map)
    }

    fn as_indexer<'b, 'w>(&'b self) -> Option<&'b (dyn Indexer + 'w)>
    where
        Self: 'w,
    {
        Some(self)
    }

    fn into_indexer<'w>(self: Box<Self>) -> Option<Box<dyn Indexer + 'w>>
    where
        Self: 'w,
    {
        Some(self)
    }

    fn as_iterable<'b, 'w>(&'b self) -> Option<&'b (dyn Iterable + 'w)>
    where
        Self: 'w,
    {
        Some(self)
    }

    fn as_sizer(&self) -> Option<&dyn Sizer> {
        Some(&self.level().map)
    }

    fn as_zeroer(&self) -> Option<&dyn Zeroer> {
        Some(&self.level().map)
    }

    fn equals(&self, other: &dyn Val) -> bool {
        self.level().map.equals(other)
    }

    fn clone_as_boxed<'w>(&self) -> Box<dyn Val + 'w>
    where
        Self: 'w,
    {
        Box::new(self.clone())
    }

    fn as_builtin<'b, 'w>(&'b self) -> BuiltinRef<'b, 'w>
    where
        Self: 'w,
    {
        BuiltinRef::Map(&self.level().map)
    }

    fn into_builtin<'w>(self: Box<Self>) -> Option<Builtin<'w>>
    where
        Self: 'w,
    {
        Some(Builtin::Map(self.level().map.clone()))
    }
}

impl<'a> Indexer for DocMap<'a> {
    fn get<'b, 'w>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'w>, ExecutionError>
    where
        Self: 'w,
    {
        if let Some(q) = idx.downcast_ref::<LineQuery>() {
            return Ok(self.answer_query(q));
        }
        self.level().map.get(idx)
    }

    fn steal<'w>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'w>, ExecutionError>
    where
        Self: 'w,
    {
        self.get(idx).map(CowVal::into_owned)
    }
}

impl<'a> Iterable for DocMap<'a> {
    /// Keys in document order (the built-in map iterates in hash order).
    fn iter<'b, 'w>(&'b self) -> Box<dyn traits::Iterator<'b, 'w> + 'b>
    where
        Self: 'w,
    {
        Box::new(KeyIter(self.level().keys.iter()))
    }
}

struct KeyIter<'b, 'a>(std::slice::Iter<'b, (CelString<'a>, u32)>);

impl<'b, 'a: 'w, 'w> traits::Iterator<'b, 'w> for KeyIter<'b, 'a> {
    fn next(&mut self) -> Option<&'b (dyn Val + 'w)> {
        self.0.next().map(|(k, _)| k as &(dyn Val + 'w))
    }
}

// ---------------------------------------------------------------------------------------------
// Lists

/// A list handle: a borrowed document list converted on first use, or a list the engine built.
#[derive(Clone)]
pub(crate) struct DocList<'a>(Arc<ListInner<'a>>);

struct ListInner<'a> {
    line: u32,
    side: Side,
    source: Option<&'a [Node]>,
    level: OnceLock<ListLevel<'a>>,
}

struct ListLevel<'a> {
    list: CelList<'a>,
    lines: Vec<u32>,
}

impl<'a> DocList<'a> {
    pub(crate) fn lazy(source: &'a [Node], line: u32, side: Side) -> Self {
        DocList(Arc::new(ListInner {
            line,
            side,
            source: Some(source),
            level: OnceLock::new(),
        }))
    }

    /// A list built by the engine from `(value, line)` items.
    pub(crate) fn built(items: Vec<(Box<dyn Val + 'a>, u32)>, line: u32) -> Self {
        let (values, lines): (Vec<_>, Vec<_>) = items.into_iter().unzip();
        let level = OnceLock::new();
        let _ = level.set(ListLevel {
            list: CelList::from(values),
            lines,
        });
        DocList(Arc::new(ListInner {
            line,
            side: Side::Other,
            source: None,
            level,
        }))
    }

    fn level(&self) -> &ListLevel<'a> {
        self.0.level.get_or_init(|| {
            let source = self.0.source.expect("a built list has its level set");
            let side = self.0.side;
            ListLevel {
                list: CelList::from(
                    source
                        .iter()
                        .map(|n| node_value(n, side))
                        .collect::<Vec<_>>(),
                ),
                lines: source.iter().map(|n| n.line).collect(),
            }
        })
    }

    fn answer_query<'b, 'w>(&self, q: &LineQuery) -> CowVal<'b, 'w> {
        match q {
            LineQuery::Node => answer(Some(i64::from(self.0.line))),
            LineQuery::Side => CowVal::owned(CelInt::from(self.0.side.code())),
            LineQuery::Index(i) => answer(
                usize::try_from(*i)
                    .ok()
                    .and_then(|i| self.level().lines.get(i))
                    .map(|l| i64::from(*l)),
            ),
            LineQuery::Key(_) => answer(None),
        }
    }
}

impl fmt::Debug for DocList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocList(line {})", self.0.line)
    }
}

impl<'a> Val for DocList<'a> {
    fn get_type(&self) -> &Type {
        <CelList<'static> as Val>::cel_type()
    }

    fn cel_type() -> &'static Type {
        <CelList<'static> as Val>::cel_type()
    }

    fn as_adder<'b, 'w>(&'b self) -> Option<&'b (dyn Adder + 'w)>
    where
        Self: 'w,
    {
        self.level().list.as_adder()
    }

    fn as_container(&self) -> Option<&dyn Container> {
        Some(&self.level().list)
    }

    fn as_indexer<'b, 'w>(&'b self) -> Option<&'b (dyn Indexer + 'w)>
    where
        Self: 'w,
    {
        Some(self)
    }

    fn into_indexer<'w>(self: Box<Self>) -> Option<Box<dyn Indexer + 'w>>
    where
        Self: 'w,
    {
        Some(self)
    }

    fn as_iterable<'b, 'w>(&'b self) -> Option<&'b (dyn Iterable + 'w)>
    where
        Self: 'w,
    {
        self.level().list.as_iterable()
    }

    fn as_sizer(&self) -> Option<&dyn Sizer> {
        Some(&self.level().list)
    }

    fn as_zeroer(&self) -> Option<&dyn Zeroer> {
        Some(&self.level().list)
    }

    fn equals(&self, other: &dyn Val) -> bool {
        self.level().list.equals(other)
    }

    fn clone_as_boxed<'w>(&self) -> Box<dyn Val + 'w>
    where
        Self: 'w,
    {
        Box::new(self.clone())
    }

    fn as_builtin<'b, 'w>(&'b self) -> BuiltinRef<'b, 'w>
    where
        Self: 'w,
    {
        BuiltinRef::List(&self.level().list)
    }

    fn into_builtin<'w>(self: Box<Self>) -> Option<Builtin<'w>>
    where
        Self: 'w,
    {
        Some(Builtin::List(self.level().list.clone()))
    }
}

impl<'a> Indexer for DocList<'a> {
    fn get<'b, 'w>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'w>, ExecutionError>
    where
        Self: 'w,
    {
        if let Some(q) = idx.downcast_ref::<LineQuery>() {
            return Ok(self.answer_query(q));
        }
        self.level().list.get(idx)
    }

    fn steal<'w>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'w>, ExecutionError>
    where
        Self: 'w,
    {
        self.get(idx).map(CowVal::into_owned)
    }
}

// ---------------------------------------------------------------------------------------------
// Reading values back

/// The string inside a CEL string value.
pub(crate) fn as_str(v: &dyn Val) -> Option<&str> {
    v.downcast_ref::<CelString>().map(|s| s.inner())
}

/// The integer inside a CEL int (or a uint that fits).
pub(crate) fn as_int(v: &dyn Val) -> Option<i64> {
    if let Some(i) = v.downcast_ref::<CelInt>() {
        return Some(*i.inner());
    }
    v.downcast_ref::<CelUInt>()
        .and_then(|u| i64::try_from(*u.inner()).ok())
}

/// The bool inside a CEL bool.
pub(crate) fn as_bool(v: &dyn Val) -> Option<bool> {
    v.downcast_ref::<CelBool>().map(|b| *b.inner())
}

pub(crate) fn is_null(v: &dyn Val) -> bool {
    v.get_type().kind() == Kind::NullType
}

/// The value at `key` of a map value.
pub(crate) fn field<'b>(v: &'b dyn Val, key: &str) -> Option<CowVal<'b, 'b>> {
    let indexer = v.as_indexer()?;
    indexer.get(&CelString::from(key)).ok()
}

/// The most characters [`render`] produces.
const RENDER_LIMIT: usize = 300;
/// The most elements of a list or map [`render`] shows.
const RENDER_ITEMS: usize = 10;

/// A short, one-line rendering of a value for messages: strings as they are, containers in a
/// compact JSON-like form, cut at a few hundred characters.
pub(crate) fn render(v: &dyn Val) -> String {
    let mut out = String::new();
    render_into(v, &mut out, true, 0);
    if out.chars().count() > RENDER_LIMIT {
        let cut: String = out.chars().take(RENDER_LIMIT).collect();
        return format!("{cut}…");
    }
    out
}

fn render_into(v: &dyn Val, out: &mut String, top: bool, depth: usize) {
    if out.len() > RENDER_LIMIT * 2 {
        return;
    }
    match v.get_type().kind() {
        Kind::String => {
            let s = as_str(v).unwrap_or_default();
            if top {
                out.push_str(s);
            } else {
                out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| s.to_string()));
            }
        }
        Kind::Int => {
            if let Some(i) = v.downcast_ref::<CelInt>() {
                out.push_str(&i.inner().to_string());
            }
        }
        Kind::UInt => {
            if let Some(u) = v.downcast_ref::<CelUInt>() {
                out.push_str(&u.inner().to_string());
            }
        }
        Kind::Double => {
            if let Some(d) = v.downcast_ref::<CelDouble>() {
                out.push_str(&format_double(*d.inner()));
            }
        }
        Kind::Boolean => out.push_str(if as_bool(v) == Some(true) {
            "true"
        } else {
            "false"
        }),
        Kind::NullType => out.push_str("null"),
        Kind::List if depth < 4 => {
            out.push('[');
            if let Some(it) = v.as_iterable() {
                let mut items = it.iter();
                let mut n = 0;
                while let Some(item) = items.next() {
                    if n == RENDER_ITEMS {
                        out.push_str(", …");
                        break;
                    }
                    if n > 0 {
                        out.push_str(", ");
                    }
                    render_into(item, out, false, depth + 1);
                    n += 1;
                }
            }
            out.push(']');
        }
        Kind::Map if depth < 4 => {
            out.push('{');
            if let (Some(it), Some(ix)) = (v.as_iterable(), v.as_indexer()) {
                let mut keys = it.iter();
                let mut n = 0;
                while let Some(key) = keys.next() {
                    if n == RENDER_ITEMS {
                        out.push_str(", …");
                        break;
                    }
                    if n > 0 {
                        out.push_str(", ");
                    }
                    render_into(key, out, false, depth + 1);
                    out.push_str(": ");
                    match ix.get(key) {
                        Ok(value) => render_into(value.as_ref(), out, false, depth + 1),
                        Err(_) => out.push('?'),
                    }
                    n += 1;
                }
            }
            out.push('}');
        }
        Kind::List => out.push_str("[…]"),
        Kind::Map => out.push_str("{…}"),
        _ => {
            if let Some(opt) = v.downcast_ref::<CelOptional>() {
                match opt.inner() {
                    Some(inner) => render_into(inner, out, top, depth + 1),
                    None => out.push_str("none"),
                }
            } else {
                out.push_str(v.get_type().name());
            }
        }
    }
}

/// Doubles print without a trailing `.0` noise for whole numbers only when they are whole: a
/// share of `0.5` prints `0.5`, a count computed as a double prints `3`.
pub(crate) fn format_double(d: f64) -> String {
    if d.is_finite() && d.fract() == 0.0 && d.abs() < 1e15 {
        format!("{}", d as i64)
    } else {
        format!("{d}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Node {
        let mut server = Map::new();
        server.push("name", Node::str(3, "web1"));
        server.push("weight", Node::int(4, 10));
        let mut root = Map::new();
        root.push(
            "servers",
            Node::unordered_list(2, vec![Node::map(3, server)]),
        );
        root.push(
            "tags",
            Node::unordered_list(6, vec![Node::str(7, "a"), Node::str(8, "b")]),
        );
        Node::map(1, root)
    }

    #[test]
    fn handles_answer_lines_and_sides() {
        let node = doc();
        let v = node_value(&node, Side::New);
        assert_eq!(line_of(v.as_ref()), Some(1));
        assert_eq!(side_of(v.as_ref()), Side::New);
        assert_eq!(query(v.as_ref(), LineQuery::Key("tags".into())), Some(6));
        let tags = field(v.as_ref(), "tags").unwrap();
        assert_eq!(query(tags.as_ref(), LineQuery::Index(1)), Some(8));
        assert_eq!(line_of(&CelInt::from(3)), None);
    }

    #[test]
    fn rendering_is_short_and_ordered() {
        let node = doc();
        let v = node_value(&node, Side::New);
        assert_eq!(
            render(v.as_ref()),
            r#"{"servers": [{"name": "web1", "weight": 10}], "tags": ["a", "b"]}"#
        );
        assert_eq!(render(&CelString::from("x")), "x");
        assert_eq!(format_double(0.25), "0.25");
        assert_eq!(format_double(3.0), "3");
    }
}
