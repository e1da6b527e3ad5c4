//! The `vlans` view: `vlan N[,M-P]` blocks with their names, and VLAN ids and lists as the
//! interface lines write them.

use std::collections::BTreeSet;

use crate::document::{Map, Node};
use crate::formats::ios::Raw;
use crate::formats::ios::words::Words;

use super::{Builder, or_null};

/// Highest usable VLAN id (0 and 4095 are reserved).
pub(super) const VLAN_MAX: i64 = 4094;

#[derive(Default)]
pub(super) struct Vlan {
    line: u32,
    id: i64,
    name: Option<Node>,
    other: Vec<Node>,
}

impl Builder {
    /// A VLAN id in 1..=4094. Warns about a number that is out of range or malformed; a word
    /// (`dynamic`, `name X`) is no number and is left to the caller to keep raw.
    pub(super) fn vlan_number(&mut self, s: &str, line: u32) -> Option<i64> {
        match s.parse::<i64>() {
            Ok(v) if (1..=VLAN_MAX).contains(&v) => Some(v),
            _ => {
                if s.starts_with(|c: char| c.is_ascii_digit()) {
                    self.warn(
                        "ios.vlan-syntax",
                        line,
                        format!(
                            "`{s}` is not a VLAN id (1-{VLAN_MAX}); the line is kept as written"
                        ),
                    );
                }
                None
            }
        }
    }

    pub(super) fn vlan(&mut self, raw: &Raw<'_, '_>, w: &Words<'_>) {
        let arg = w.get(1);
        if w.len() == 2 {
            if let Some(ranges) = parse_vlan_list(arg) {
                // Each id once, however often the list names it.
                let ids: BTreeSet<i64> = ranges.into_iter().flat_map(|(lo, hi)| lo..=hi).collect();
                let copies = ids.len() * raw.children.nested_lines();
                if self.expand(ids.len(), copies, raw.number) {
                    for id in ids {
                        let ix = match self.vlan_index.get(&id) {
                            Some(&ix) => ix,
                            None => {
                                let ix = self.vlans.len();
                                self.vlan_index.insert(id, ix);
                                self.vlans.push(Vlan {
                                    line: raw.number,
                                    id,
                                    ..Vlan::default()
                                });
                                ix
                            }
                        };
                        let mut vlan = std::mem::take(&mut self.vlans[ix]);
                        for c in &raw.children {
                            let c = &c;
                            self.vlan_child(&mut vlan, c, raw.text);
                        }
                        self.vlans[ix] = vlan;
                    }
                    return;
                }
                self.keep(raw, w);
                return;
            }
            if arg != "database" {
                self.warn(
                    "ios.vlan-syntax",
                    raw.number,
                    format!(
                        "`{}`: VLAN ids are numbers 1-{VLAN_MAX}, lists or ranges (`vlan 10,20-22`); the block is kept in `lines` as written",
                        raw.text
                    ),
                );
            }
        }
        self.keep(raw, w);
    }

    fn vlan_child(&mut self, vlan: &mut Vlan, c: &Raw<'_, '_>, parent: &str) {
        let w = Words::new(c.text);
        if w.get(0) == "name" && w.len() >= 2 && c.children.is_empty() {
            vlan.name = Some(Node::str(c.number, w.rest(1)));
        } else {
            let node = self.raw_node(c, Some(parent));
            vlan.other.push(node);
        }
    }
}

pub(super) fn vlan_node(v: Vlan) -> Node {
    let m = Map::from_entries([
        ("id", Node::int(v.line, v.id)),
        ("vlan_name", or_null(v.name, v.line)),
        ("other", Node::unordered_list(v.line, v.other)),
    ]);
    Node::map(v.line, m)
}

/// Parses `10,20-22,30` into inclusive ranges of VLAN ids 1..=4094. `None` when malformed.
pub(super) fn parse_vlan_list(s: &str) -> Option<Vec<(i64, i64)>> {
    if s.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for item in s.split(',') {
        let (lo, hi) = match item.split_once('-') {
            Some((a, b)) => (a.parse::<i64>().ok()?, b.parse::<i64>().ok()?),
            None => {
                let v = item.parse::<i64>().ok()?;
                (v, v)
            }
        };
        if lo < 1 || hi > VLAN_MAX || lo > hi {
            return None;
        }
        out.push((lo, hi));
    }
    Some(out)
}
