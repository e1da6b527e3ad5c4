//! The semantic diff walk. One pass over both trees; paths are built on a stack and cloned only
//! when an entry is emitted, so an unchanged subtree costs a comparison and no allocation
//! beyond the identity index of its lists.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use super::{DiffEntry, IDENTITY_KEYS, Move, Op, Path, Segment};
use crate::document::{List, Map, Node, Value};

/// Maps with more entries than this get a hash index instead of linear lookups.
const MAP_INDEX_THRESHOLD: usize = 16;

/// Above this many (old x new) pairs of items without identity, equal items are not searched for.
const MAX_LOOSE_PAIRS: usize = 1 << 16;

/// The semantic differences from `old` to `new`, in document order (old order for removals and
/// changes, new order for additions after them, per container).
pub fn diff<'a>(old: &'a Node, new: &'a Node) -> Vec<DiffEntry<'a>> {
    let mut walker = Walker {
        out: Vec::new(),
        path: Vec::new(),
    };
    walker.node(old, new);
    walker.out
}

struct Walker<'a> {
    out: Vec<DiffEntry<'a>>,
    /// The current path, borrowed from the trees: owned segments are built only on emit.
    path: Vec<Step<'a>>,
}

/// A borrowed path segment.
enum Step<'a> {
    Key(&'a str),
    Item(Cow<'a, str>),
    Index(usize),
}

impl<'a> Walker<'a> {
    fn emit(&mut self, op: Op, old: Option<&'a Node>, new: Option<&'a Node>) {
        self.emit_entry(op, old, new, None);
    }

    fn emit_entry(
        &mut self,
        op: Op,
        old: Option<&'a Node>,
        new: Option<&'a Node>,
        moved: Option<Move>,
    ) {
        let path = self
            .path
            .iter()
            .map(|s| match s {
                Step::Key(k) => Segment::Key((*k).to_string()),
                Step::Item(id) => Segment::Item(id.to_string()),
                Step::Index(i) => Segment::Index(*i),
            })
            .collect();
        self.out.push(DiffEntry {
            op,
            path: Path(path),
            old,
            new,
            moved,
        });
    }

    fn node(&mut self, old: &'a Node, new: &'a Node) {
        match (&old.value, &new.value) {
            (Value::Map(a), Value::Map(b)) => self.maps(a, b),
            (Value::List(a), Value::List(b)) => self.lists(a, b),
            (a, b) => {
                if !a.same(b) {
                    self.emit(Op::Changed, Some(old), Some(new));
                }
            }
        }
    }

    fn with<F: FnOnce(&mut Self)>(&mut self, seg: Step<'a>, f: F) {
        self.path.push(seg);
        f(self);
        self.path.pop();
    }

    fn maps(&mut self, a: &'a Map, b: &'a Map) {
        let index: Option<HashMap<&str, &'a Node>> =
            (b.len() > MAP_INDEX_THRESHOLD).then(|| b.iter().collect());
        let lookup_b = |k: &str| match &index {
            Some(ix) => ix.get(k).copied(),
            None => b.get(k),
        };
        for (k, old_child) in a.iter() {
            match lookup_b(k) {
                Some(new_child) => self.with(Step::Key(k), |w| w.node(old_child, new_child)),
                None => self.with(Step::Key(k), |w| w.emit(Op::Removed, Some(old_child), None)),
            }
        }
        let index_a: Option<HashMap<&str, ()>> =
            (a.len() > MAP_INDEX_THRESHOLD).then(|| a.keys().map(|k| (k, ())).collect());
        for (k, new_child) in b.iter() {
            let in_a = match &index_a {
                Some(ix) => ix.contains_key(k),
                None => a.contains_key(k),
            };
            if !in_a {
                self.with(Step::Key(k), |w| w.emit(Op::Added, None, Some(new_child)));
            }
        }
    }

    fn lists(&mut self, la: &'a List, lb: &'a List) {
        let (a, b): (&'a [Node], &'a [Node]) = (la, lb);
        // Most lists of a large config are untouched by a change: an in-order, item-for-item
        // comparison settles them without hashing identities.
        if a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.value.same(&y.value)) {
            return;
        }
        let ordered = la.is_ordered() || lb.is_ordered();
        // Matched pairs (old index, new index, path step), for the order check of ordered lists.
        let mut pairs: Vec<(usize, usize, Step<'a>)> = Vec::new();
        let ids_a = identities(a);
        let ids_b = identities(b);

        // Items with an identity are matched by it: the n-th item of one identity in the old
        // list is the n-th of that identity in the new one. A matched item's path names it as
        // the new list does, a removed one as the old list did.
        let index_b: HashMap<(&str, u32), (usize, &Ident<'a>)> = ids_b
            .iter()
            .enumerate()
            .filter_map(|(j, id)| id.as_ref().map(|id| (id.key(), (j, id))))
            .collect();
        let mut matched_b = vec![false; b.len()];
        let mut loose_a: Vec<usize> = Vec::new();
        for (i, id) in ids_a.iter().enumerate() {
            let Some(id) = id else {
                loose_a.push(i);
                continue;
            };
            match index_b.get(&id.key()) {
                Some(&(j, new_id)) => {
                    matched_b[j] = true;
                    self.with(Step::Item(new_id.name()), |w| w.node(&a[i], &b[j]));
                    if ordered {
                        pairs.push((i, j, Step::Item(new_id.name())));
                    }
                }
                None => self.with(Step::Item(id.name()), |w| {
                    w.emit(Op::Removed, Some(&a[i]), None)
                }),
            }
        }
        let mut loose_b: Vec<usize> = Vec::new();
        for (j, id) in ids_b.iter().enumerate() {
            match id {
                Some(id) if !matched_b[j] => self.with(Step::Item(id.name()), |w| {
                    w.emit(Op::Added, None, Some(&b[j]))
                }),
                Some(_) => {}
                None => loose_b.push(j),
            }
        }
        if loose_a.is_empty() && loose_b.is_empty() {
            self.moves(a, b, pairs);
            return;
        }

        // Items without identity: equal ones match first (so moving one is not a change), then
        // the rest pair up in order. The equal-match search is quadratic, so very long anonymous
        // lists skip it and pair by position only.
        let mut used_b = vec![false; loose_b.len()];
        let mut rest_a = Vec::new();
        let search = loose_a.len().saturating_mul(loose_b.len()) <= MAX_LOOSE_PAIRS;
        for &i in &loose_a {
            if !search {
                rest_a.push(i);
                continue;
            }
            let hit = loose_b
                .iter()
                .enumerate()
                .find(|(k, j)| !used_b[*k] && a[i].value.same(&b[**j].value));
            match hit {
                Some((k, &j)) => {
                    used_b[k] = true;
                    if ordered {
                        pairs.push((i, j, Step::Index(j)));
                    }
                }
                None => rest_a.push(i),
            }
        }
        let rest_b: Vec<usize> = loose_b
            .iter()
            .enumerate()
            .filter(|(k, _)| !used_b[*k])
            .map(|(_, j)| *j)
            .collect();
        let paired = rest_a.len().min(rest_b.len());
        for n in 0..paired {
            let (i, j) = (rest_a[n], rest_b[n]);
            self.with(Step::Index(j), |w| w.node(&a[i], &b[j]));
            if ordered {
                pairs.push((i, j, Step::Index(j)));
            }
        }
        for &i in &rest_a[paired..] {
            self.with(Step::Index(i), |w| w.emit(Op::Removed, Some(&a[i]), None));
        }
        for &j in &rest_b[paired..] {
            self.with(Step::Index(j), |w| w.emit(Op::Added, None, Some(&b[j])));
        }
        self.moves(a, b, pairs);
    }

    /// Reports the matched items of an ordered list that changed places: every pair outside
    /// one longest run of pairs whose new positions increase with the old ones (the fewest moves
    /// that explain the new order), in new-list order. `pairs` is empty for unordered lists.
    fn moves(&mut self, a: &'a [Node], b: &'a [Node], mut pairs: Vec<(usize, usize, Step<'a>)>) {
        if pairs.len() < 2 {
            return;
        }
        pairs.sort_unstable_by_key(|p| p.0);
        let new_positions: Vec<usize> = pairs.iter().map(|p| p.1).collect();
        let kept = longest_increasing(&new_positions);
        let mut moved: Vec<(usize, usize, Step<'a>)> = pairs
            .into_iter()
            .zip(kept)
            .filter(|(_, keep)| !keep)
            .map(|(p, _)| p)
            .collect();
        moved.sort_unstable_by_key(|p| p.1);
        for (i, j, step) in moved {
            let m = Move {
                from: i + 1,
                to: j + 1,
            };
            self.with(step, |w| {
                w.emit_entry(Op::Moved, Some(&a[i]), Some(&b[j]), Some(m))
            });
        }
    }
}

/// Marks the members of one longest strictly increasing subsequence of `xs` (patience sorting,
/// O(n log n)). Among runs of equal length it keeps the one ending in the smallest values, so
/// the result is deterministic.
fn longest_increasing(xs: &[usize]) -> Vec<bool> {
    // tails[k]: index into xs of the smallest tail of an increasing run of length k + 1.
    let mut tails: Vec<usize> = Vec::new();
    let mut prev: Vec<Option<usize>> = vec![None; xs.len()];
    for (i, &x) in xs.iter().enumerate() {
        let k = tails.partition_point(|&t| xs[t] < x);
        prev[i] = k.checked_sub(1).map(|k| tails[k]);
        if k == tails.len() {
            tails.push(i);
        } else {
            tails[k] = i;
        }
    }
    let mut keep = vec![false; xs.len()];
    let mut cur = tails.last().copied();
    while let Some(i) = cur {
        keep[i] = true;
        cur = prev[i];
    }
    keep
}

/// The item of `items` whose identity (its name in a path, with the `#2` suffixes of repeats)
/// is `id`.
pub fn find_item<'a>(items: &'a [Node], id: &str) -> Option<&'a Node> {
    identities(items)
        .iter()
        .position(|i| i.as_ref().is_some_and(|i| i.name() == id))
        .map(|i| &items[i])
}

/// The identity of a list item, for matching across versions and naming in paths.
struct Ident<'a> {
    /// The item's own identity ([`identity`]).
    own: Cow<'a, str>,
    /// Which item of that identity this is in its list: 1 for the first.
    nth: u32,
    /// The name of a repeat (`nth` > 1): `own` with a suffix that makes it unique in its list.
    suffixed: Option<String>,
}

impl<'a> Ident<'a> {
    /// What matches the item across versions: its own identity and which one of it it is. Not
    /// the name, which depends on the other items of the list (see [`identities`]).
    fn key(&self) -> (&str, u32) {
        (self.own.as_ref(), self.nth)
    }

    /// The item's name in a path, unique in its list.
    fn name(&self) -> Cow<'a, str> {
        match &self.suffixed {
            Some(name) => Cow::Owned(name.clone()),
            None => self.own.clone(),
        }
    }
}

/// The identity of every item. A repeat is named with `#2`, `#3`... appended in order, skipping
/// a name that is some item's own identity (`a`, `a`, `a#2` are named `a`, `a#3`, `a#2`), so each
/// name is one item's and [`find_item`] finds it. Items are matched by their own identity and
/// occurrence, not by that name: the second `a` is the second `a` whether or not the list also
/// holds an `a#2`, so removing the `a#2` line is one removal in one direction and one addition
/// in the other.
fn identities(items: &[Node]) -> Vec<Option<Ident<'_>>> {
    let own: Vec<Option<Cow<'_, str>>> = items.iter().map(identity).collect();
    // A suffixed name is an identity, `#` and digits, so it can equal only an identity that
    // contains `#` (most lists have none).
    let literal: HashSet<&str> = own
        .iter()
        .flatten()
        .map(|id| id.as_ref())
        .filter(|id| id.contains('#'))
        .collect();
    // Per identity: how many items had it so far, and the last suffix a repeat of it took.
    let mut seen: HashMap<&str, (u32, u32)> = HashMap::new();
    let mut out = Vec::with_capacity(own.len());
    for id in &own {
        let Some(id) = id else {
            out.push(None);
            continue;
        };
        let (nth, suffix) = seen.entry(id.as_ref()).or_insert((0, 1));
        *nth += 1;
        let suffixed = (*nth > 1).then(|| {
            loop {
                *suffix += 1;
                let name = format!("{id}#{suffix}");
                if !literal.contains(name.as_str()) {
                    break name;
                }
            }
        });
        out.push(Some(Ident {
            own: id.clone(),
            nth: *nth,
            suffixed,
        }));
    }
    out
}

/// Borrowing version of [`super::identity_of`]; the two must agree (tested below).
fn identity(item: &Node) -> Option<Cow<'_, str>> {
    fn scalar(v: &Value) -> Option<Cow<'_, str>> {
        match v {
            Value::Str(s) => Some(Cow::Borrowed(s)),
            Value::Int(i) => Some(Cow::Owned(i.to_string())),
            Value::Secret(s) => Some(Cow::Borrowed(s.shown())),
            _ => None,
        }
    }
    match &item.value {
        Value::Map(m) => IDENTITY_KEYS
            .iter()
            .find_map(|k| m.get(k).and_then(|v| scalar(&v.value))),
        Value::List(_) => None,
        Value::Null => Some(Cow::Borrowed("null")),
        Value::Bool(b) => Some(Cow::Owned(b.to_string())),
        Value::Float(f) => Some(Cow::Owned(f.to_string())),
        other => scalar(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::identity_of;

    fn map(entries: Vec<(&str, Node)>) -> Node {
        let mut m = Map::new();
        for (k, v) in entries {
            m.push(k.to_string(), v);
        }
        Node::map(1, m)
    }

    fn server(line: u32, name: &str, weight: i64) -> Node {
        let mut m = Map::new();
        m.push("name", Node::str(line, name));
        m.push("weight", Node::int(line, weight));
        Node::map(line, m)
    }

    fn render(entries: &[DiffEntry<'_>]) -> Vec<String> {
        entries
            .iter()
            .map(|e| {
                format!(
                    "{} {} {:?} {:?}",
                    e.op.name(),
                    e.path,
                    e.old_line(),
                    e.new_line()
                )
            })
            .collect()
    }

    #[test]
    fn identical_trees_have_no_diff() {
        let a = map(vec![(
            "servers",
            Node::unordered_list(1, vec![server(2, "a", 1), server(3, "b", 1)]),
        )]);
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn reordering_identified_items_is_not_a_change() {
        let a = map(vec![(
            "servers",
            Node::unordered_list(1, vec![server(2, "a", 1), server(3, "b", 1)]),
        )]);
        let b = map(vec![(
            "servers",
            Node::unordered_list(1, vec![server(2, "b", 1), server(3, "a", 1)]),
        )]);
        assert!(diff(&a, &b).is_empty());
    }

    #[test]
    fn removing_one_server_is_one_removal() {
        let a = map(vec![(
            "servers",
            Node::unordered_list(
                1,
                vec![server(2, "a", 1), server(3, "b", 1), server(4, "c", 1)],
            ),
        )]);
        let b = map(vec![(
            "servers",
            Node::unordered_list(1, vec![server(2, "a", 1), server(3, "c", 1)]),
        )]);
        assert_eq!(
            render(&diff(&a, &b)),
            vec!["removed servers[b] Some(3) None"]
        );
    }

    #[test]
    fn changed_field_has_both_lines() {
        let a = map(vec![(
            "servers",
            Node::unordered_list(1, vec![server(2, "a", 1)]),
        )]);
        let b = map(vec![(
            "servers",
            Node::unordered_list(1, vec![server(7, "a", 5)]),
        )]);
        assert_eq!(
            render(&diff(&a, &b)),
            vec!["changed servers[a].weight Some(2) Some(7)"]
        );
    }

    #[test]
    fn scalar_lists_are_multisets() {
        let list =
            |xs: &[&str]| Node::unordered_list(1, xs.iter().map(|x| Node::str(1, *x)).collect());
        let a = map(vec![("lines", list(&["x", "y", "y"]))]);
        let b = map(vec![("lines", list(&["y", "x", "z"]))]);
        assert_eq!(
            render(&diff(&a, &b)),
            vec![
                "removed lines[\"y#2\"] Some(1) None",
                "added lines[z] None Some(1)"
            ]
        );
    }

    #[test]
    fn positional_items_pair_after_equal_ones() {
        let anon = |v: i64| map(vec![("v", Node::int(1, v))]);
        let a = Node::unordered_list(1, vec![anon(1), anon(2)]);
        let b = Node::unordered_list(1, vec![anon(2), anon(3)]);
        assert_eq!(
            render(&diff(&a, &b)),
            vec!["changed [#1].v Some(1) Some(1)"]
        );
    }

    #[test]
    fn type_change_is_one_change() {
        let a = map(vec![("x", Node::int(1, 1))]);
        let b = map(vec![("x", Node::unordered_list(1, vec![]))]);
        assert_eq!(render(&diff(&a, &b)), vec!["changed x Some(1) Some(1)"]);
    }

    #[test]
    fn large_maps_use_an_index() {
        let big = |skip: usize| {
            let mut m = Map::new();
            for i in 0..100 {
                if i != skip {
                    m.push(format!("k{i}"), Node::int(i as u32 + 1, i as i64));
                }
            }
            Node::map(1, m)
        };
        assert_eq!(
            render(&diff(&big(1000), &big(50))),
            vec!["removed k50 Some(51) None"]
        );
        assert_eq!(
            render(&diff(&big(50), &big(1000))),
            vec!["added k50 None Some(51)"]
        );
    }

    fn render_moves(entries: &[DiffEntry<'_>]) -> Vec<String> {
        entries
            .iter()
            .map(|e| match e.moved {
                Some(m) => format!("{} {} {}->{}", e.op.name(), e.path, m.from, m.to),
                None => format!("{} {}", e.op.name(), e.path),
            })
            .collect()
    }

    fn rules(ordered: bool, xs: &[&str]) -> Node {
        let items = xs
            .iter()
            .enumerate()
            .map(|(i, x)| Node::str(i as u32 + 1, *x))
            .collect();
        let list = if ordered {
            Node::ordered_list(1, items)
        } else {
            Node::unordered_list(1, items)
        };
        map(vec![("rules", list)])
    }

    #[test]
    fn swapping_two_ordered_items_is_one_move_with_both_lines() {
        let a = rules(true, &["api if is_api", "static if is_static", "web"]);
        let b = rules(true, &["static if is_static", "api if is_api", "web"]);
        let d = diff(&a, &b);
        assert_eq!(
            render_moves(&d),
            vec!["moved rules[\"api if is_api\"] 1->2"]
        );
        assert_eq!((d[0].old_line(), d[0].new_line()), (Some(1), Some(2)));
        let json = d[0].to_json();
        assert_eq!(json["old_position"], 1);
        assert_eq!(json["new_position"], 2);
    }

    #[test]
    fn reordering_an_unordered_list_is_no_change() {
        let a = rules(false, &["a", "b", "c"]);
        let b = rules(false, &["c", "a", "b"]);
        assert!(diff(&a, &b).is_empty());
    }

    #[test]
    fn moving_the_last_rule_to_the_front_is_one_move() {
        let a = rules(true, &["a", "b", "c", "d", "e"]);
        let b = rules(true, &["e", "a", "b", "c", "d"]);
        assert_eq!(render_moves(&diff(&a, &b)), vec!["moved rules[e] 5->1"]);
    }

    #[test]
    fn inserting_or_removing_a_rule_moves_nothing() {
        let a = rules(true, &["a", "b", "c"]);
        let b = rules(true, &["a", "x", "b", "c"]);
        assert_eq!(render_moves(&diff(&a, &b)), vec!["added rules[x]"]);
        assert_eq!(render_moves(&diff(&b, &a)), vec!["removed rules[x]"]);
    }

    #[test]
    fn a_moved_item_that_also_changed_reports_both() {
        let rule = |line: u32, name: &str, v: i64| {
            let mut m = Map::new();
            m.push("name", Node::str(line, name));
            m.push("v", Node::int(line, v));
            Node::map(line, m)
        };
        let a = Node::ordered_list(1, vec![rule(1, "a", 1), rule(2, "b", 1)]);
        let b = Node::ordered_list(1, vec![rule(1, "b", 1), rule(2, "a", 2)]);
        assert_eq!(
            render_moves(&diff(&a, &b)),
            vec!["changed [a].v", "moved [a] 1->2"]
        );
    }

    #[test]
    fn anonymous_items_of_ordered_lists_move_too() {
        let anon = |v: i64| map(vec![("v", Node::int(1, v))]);
        let a = Node::ordered_list(1, vec![anon(1), anon(2), anon(3)]);
        let b = Node::ordered_list(1, vec![anon(3), anon(1), anon(2)]);
        assert_eq!(render_moves(&diff(&a, &b)), vec!["moved [#0] 3->1"]);
    }

    #[test]
    fn a_repeat_suffix_never_takes_another_items_own_identity() {
        // `a#2` is an item's own text, so the second `a` is `a#3`: removing the `a#2` line is one
        // removal either way round, not a change of the second `a` into it.
        let a = rules(false, &["a", "a", "a#2"]);
        let b = rules(false, &["a", "a"]);
        assert_eq!(render_moves(&diff(&a, &b)), vec!["removed rules[\"a#2\"]"]);
        assert_eq!(render_moves(&diff(&b, &a)), vec!["added rules[\"a#2\"]"]);
        // The same in an ordered list: no item is matched twice, so nothing moves.
        let a = rules(true, &["a", "a", "a#2"]);
        let b = rules(true, &["a", "a"]);
        assert_eq!(render_moves(&diff(&a, &b)), vec!["removed rules[\"a#2\"]"]);
        assert_eq!(render_moves(&diff(&b, &a)), vec!["added rules[\"a#2\"]"]);
        // Removing one of the two `a` is one removal, of the repeat.
        let b = rules(false, &["a", "a#2"]);
        let a = rules(false, &["a", "a", "a#2"]);
        assert_eq!(render_moves(&diff(&a, &b)), vec!["removed rules[\"a#3\"]"]);
        assert_eq!(render_moves(&diff(&b, &a)), vec!["added rules[\"a#3\"]"]);
        assert_eq!(
            find_item(
                &[Node::str(1, "a"), Node::str(2, "a"), Node::str(3, "a#2")],
                "a#2"
            )
            .map(|n| n.line),
            Some(3)
        );
    }

    #[test]
    fn longest_increasing_keeps_the_fewest_moves() {
        assert_eq!(longest_increasing(&[]), Vec::<bool>::new());
        assert_eq!(longest_increasing(&[1, 0]), vec![false, true]);
        assert_eq!(
            longest_increasing(&[0, 4, 1, 2, 3]),
            vec![true, false, true, true, true]
        );
        assert_eq!(
            longest_increasing(&[3, 2, 1, 0])
                .iter()
                .filter(|k| **k)
                .count(),
            1
        );
    }

    #[test]
    fn borrowed_identity_agrees_with_public_one() {
        let samples = vec![
            server(1, "a", 1),
            map(vec![("id", Node::int(1, 10))]),
            map(vec![("address", Node::str(1, "10.0.0.1:80"))]),
            Node::str(1, "x"),
            Node::int(1, 3),
            Node::bool(1, true),
            Node::null(1),
            Node::unordered_list(1, vec![]),
            map(vec![("other", Node::str(1, "x"))]),
        ];
        for s in &samples {
            assert_eq!(identity(s).map(|c| c.into_owned()), identity_of(s));
        }
    }
}
