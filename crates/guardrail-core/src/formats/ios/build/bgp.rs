//! The `bgp` view: the `router bgp` instance, its VRFs, address families and neighbors (peer
//! groups included), with neighbor passwords redacted.

use std::collections::HashMap;

use crate::document::{Map, Node, REDACTED, Secret, Value};
use crate::formats::ios::Raw;
use crate::formats::ios::secrets;
use crate::formats::ios::words::Words;

use super::{Builder, or_null};

#[derive(Default)]
struct Neighbor {
    line: u32,
    address: String,
    remote_as: Option<Node>,
    peer_group: Option<Node>,
    is_peer_group: Option<Node>,
    description: Option<Node>,
    shutdown: Option<Node>,
    activate: Option<Node>,
    password: Option<Node>,
    other: Vec<Node>,
}

#[derive(Default)]
struct Neighbors {
    items: Vec<Neighbor>,
    index: HashMap<String, usize>,
}

/// A BGP instance (`router bgp N`) or one of its VRFs.
#[derive(Default)]
pub(super) struct Scope {
    line: u32,
    name: Option<Node>,
    asn: Option<Node>,
    router_id: Option<Node>,
    neighbors: Neighbors,
    afs: Vec<Node>,
    vrfs: Vec<Node>,
    other: Vec<Node>,
}

impl Scope {
    fn new(line: u32) -> Self {
        Scope {
            line,
            ..Scope::default()
        }
    }
}

impl Builder {
    pub(super) fn router_bgp(&mut self, raw: &Raw<'_, '_>, w: &Words<'_>) {
        let n = w.len();
        if n == 3 {
            let asn = asn_node(w.get(2), raw.number);
            let mut scope = match self.bgp.take() {
                Some(scope) => {
                    if let Some(old) = &scope.asn
                        && !old.value.same(&asn.value)
                    {
                        self.warn(
                            "ios.bgp-duplicate",
                            raw.number,
                            format!(
                                "a second `router bgp` with another AS number ({}); its lines are merged into the first instance",
                                w.get(2)
                            ),
                        );
                    }
                    scope
                }
                None => Scope::new(raw.number),
            };
            if scope
                .asn
                .as_ref()
                .is_none_or(|a| matches!(a.value, Value::Null))
            {
                scope.asn = Some(asn);
            }
            self.scope_children(&mut scope, raw, true);
            self.bgp = Some(scope);
        } else if n == 5 && w.get(3) == "vrf" {
            // FRR: `router bgp ASN vrf NAME` is a VRF instance.
            let mut vrf = Scope::new(raw.number);
            vrf.name = Some(Node::str(raw.number, w.get(4)));
            vrf.asn = Some(asn_node(w.get(2), raw.number));
            self.scope_children(&mut vrf, raw, false);
            let node = self.scope_node(vrf, true);
            self.bgp
                .get_or_insert_with(|| Scope::new(raw.number))
                .vrfs
                .push(node);
        } else {
            self.warn(
                "ios.bgp-syntax",
                raw.number,
                format!(
                    "`{}`: expected `router bgp ASN` or `router bgp ASN vrf NAME`; the block is kept in `lines` as written",
                    raw.text
                ),
            );
            self.keep(raw, w);
        }
    }

    fn scope_children(&mut self, s: &mut Scope, raw: &Raw<'_, '_>, allow_vrf: bool) {
        for c in &raw.children {
            let c = &c;
            let w = Words::new(c.text);
            let n = w.len();
            let leaf = c.children.is_empty();
            match (w.get(0), w.get(1)) {
                ("bgp", "router-id") if n == 3 && leaf => {
                    s.router_id = Some(Node::str(c.number, w.get(2)));
                }
                ("router-id", _) if n == 2 && leaf => {
                    s.router_id = Some(Node::str(c.number, w.get(1)));
                }
                ("neighbor", _) if n >= 2 => {
                    self.neighbor(&mut s.neighbors, c, &w, 1, false, raw.text);
                }
                ("no", "neighbor") if n >= 3 && leaf => {
                    self.neighbor(&mut s.neighbors, c, &w, 2, true, raw.text);
                }
                ("address-family", _) => {
                    let af = self.address_family(c);
                    s.afs.push(af);
                }
                ("vrf", name) if allow_vrf && n == 2 => {
                    let mut vrf = Scope::new(c.number);
                    vrf.name = Some(Node::str(c.number, name));
                    self.scope_children(&mut vrf, c, false);
                    let node = self.scope_node(vrf, true);
                    s.vrfs.push(node);
                }
                _ => {
                    let node = self.raw_node(c, Some(raw.text));
                    s.other.push(node);
                }
            }
        }
    }

    /// `{line, neighbors, other}` for an `address-family ...` block.
    fn address_family(&mut self, raw: &Raw<'_, '_>) -> Node {
        let mut neighbors = Neighbors::default();
        let mut other = Vec::new();
        for c in &raw.children {
            let c = &c;
            let w = Words::new(c.text);
            let n = w.len();
            match (w.get(0), w.get(1)) {
                ("neighbor", _) if n >= 2 => {
                    self.neighbor(&mut neighbors, c, &w, 1, false, raw.text)
                }
                ("no", "neighbor") if n >= 3 && c.children.is_empty() => {
                    self.neighbor(&mut neighbors, c, &w, 2, true, raw.text)
                }
                _ => {
                    let node = self.raw_node(c, Some(raw.text));
                    other.push(node);
                }
            }
        }
        let mut m = Map::with_capacity(3);
        m.push("line", Node::str(raw.number, raw.text));
        m.push("neighbors", neighbors_node(neighbors, raw.number));
        m.push("other", Node::unordered_list(raw.number, other));
        Node::map(raw.number, m)
    }

    /// Files `[no] neighbor ADDR ...` (the address is word `at`) into the neighbor of that
    /// address or peer-group name. IOS-XR style children of `neighbor ADDR` are read as if
    /// each were written `neighbor ADDR <child>`.
    fn neighbor(
        &mut self,
        list: &mut Neighbors,
        c: &Raw<'_, '_>,
        w: &Words<'_>,
        at: usize,
        negated: bool,
        parent: &str,
    ) {
        let address = w.get(at);
        let ix = match list.index.get(address) {
            Some(&ix) => ix,
            None => {
                let ix = list.items.len();
                list.index.insert(address.to_string(), ix);
                list.items.push(Neighbor {
                    line: c.number,
                    address: address.to_string(),
                    ..Neighbor::default()
                });
                ix
            }
        };
        // Updated in place: `list` is not part of `self`, and a neighbor is a large struct.
        let nb = &mut list.items[ix];
        self.neighbor_apply(nb, c, w, at + 1, negated, parent);
        for cc in &c.children {
            let cc = &cc;
            if cc.children.is_empty() {
                let cw = Words::new(cc.text);
                let neg = cw.get(0) == "no";
                self.neighbor_apply(nb, cc, &cw, usize::from(neg), neg, c.text);
            } else {
                let node = self.raw_node(cc, Some(c.text));
                nb.other.push(node);
            }
        }
    }

    fn neighbor_apply(
        &mut self,
        nb: &mut Neighbor,
        c: &Raw<'_, '_>,
        w: &Words<'_>,
        i: usize,
        negated: bool,
        parent: &str,
    ) {
        let n = w.len();
        if i >= n {
            return;
        }
        let line = c.number;
        match (w.get(i), w.get(i + 1)) {
            ("remote-as", asn) if n == i + 2 && !negated => {
                nb.remote_as = Some(asn_node(asn, line));
            }
            ("peer-group", _) if n == i + 1 => {
                nb.is_peer_group = Some(Node::bool(line, !negated));
            }
            ("peer-group", group) if n == i + 2 && !negated => {
                nb.peer_group = Some(Node::str(line, group));
            }
            ("peer", "group") if n == i + 2 => {
                nb.is_peer_group = Some(Node::bool(line, !negated));
            }
            ("peer", "group") if n == i + 3 && !negated => {
                nb.peer_group = Some(Node::str(line, w.get(i + 2)));
            }
            ("description", _) if n > i + 1 && !negated => {
                nb.description = Some(Node::str(line, w.rest(i + 1)));
            }
            ("shutdown", _) if n == i + 1 => nb.shutdown = Some(Node::bool(line, !negated)),
            ("activate", _) if n == i + 1 => nb.activate = Some(Node::bool(line, !negated)),
            ("password", _) if n > i + 1 && !negated => {
                let value = self.password(c, w, i + 1);
                nb.password = Some(Node::new(line, value));
            }
            _ => {
                let node = Node::new(line, self.value(c, w, Some(parent)));
                nb.other.push(node);
            }
        }
    }

    /// The secret from word `j` to the end of the line; a type digit before it stays visible.
    fn password(&mut self, c: &Raw<'_, '_>, w: &Words<'_>, j: usize) -> Value {
        let mut k = j;
        let kind = if secrets::is_type(w.get(j)) && j + 1 < w.len() {
            k += 1;
            Some(w.get(j))
        } else {
            None
        };
        self.spans
            .push(c.offset + w.start(k)..c.offset + c.text.len());
        let shown = match kind {
            Some(t) => format!("{t} {REDACTED}"),
            None => REDACTED.to_string(),
        };
        Value::Secret(Secret::within(shown, w.rest(j)))
    }

    pub(super) fn scope_node(&mut self, s: Scope, vrf: bool) -> Node {
        let line = s.line;
        let mut m = Map::with_capacity(7);
        if vrf {
            m.push("name", s.name.unwrap_or_else(|| Node::null(line)));
        }
        m.push("asn", s.asn.unwrap_or_else(|| Node::null(line)));
        m.push("router_id", s.router_id.unwrap_or_else(|| Node::null(line)));
        m.push("neighbors", neighbors_node(s.neighbors, line));
        m.push("address_families", Node::unordered_list(line, s.afs));
        if !vrf {
            m.push("vrfs", Node::unordered_list(line, s.vrfs));
        }
        m.push("other", Node::unordered_list(line, s.other));
        Node::map(line, m)
    }
}

fn neighbors_node(list: Neighbors, line: u32) -> Node {
    let items = list.items.into_iter().map(neighbor_node).collect();
    Node::unordered_list(line, items)
}

fn neighbor_node(nb: Neighbor) -> Node {
    let line = nb.line;
    let m = Map::from_entries([
        ("address", Node::str(line, nb.address)),
        ("remote_as", or_null(nb.remote_as, line)),
        ("peer_group", or_null(nb.peer_group, line)),
        (
            "is_peer_group",
            nb.is_peer_group.unwrap_or_else(|| Node::bool(line, false)),
        ),
        ("description", or_null(nb.description, line)),
        (
            "shutdown",
            nb.shutdown.unwrap_or_else(|| Node::bool(line, false)),
        ),
        ("activate", or_null(nb.activate, line)),
        ("password", or_null(nb.password, line)),
        ("other", Node::unordered_list(line, nb.other)),
    ]);
    Node::map(line, m)
}

/// An AS number as an integer (`65001`, `4200000000`), or as written (`65000.100`, FRR's
/// `external` / `internal`).
fn asn_node(s: &str, line: u32) -> Node {
    match s.parse::<i64>() {
        Ok(v) if v >= 0 => Node::int(line, v),
        _ => Node::str(line, s),
    }
}
