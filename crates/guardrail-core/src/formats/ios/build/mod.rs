//! Files each finished top-level block into the document's views (`interfaces`, `vlans`,
//! `acls`, `prefix_lists`, `as_path_lists`, `community_lists`, `nat`, `bgp`, `banners`, `lines`)
//! and builds the final tree. Every source line is stored in
//! exactly one place; lines the views do not interpret are kept in an `other` list (or in
//! `lines`) as written, secrets redacted.
//!
//! This module holds the [`Builder`], the raw lines and the final tree; each view has a module
//! of its own: [`interfaces`], [`vlans`], [`acls`] (ACLs, prefix lists, AS-path and community
//! lists) and [`bgp`].

mod acls;
mod bgp;
mod interfaces;
mod vlans;

use std::collections::HashMap;
use std::ops::Range;

use crate::document::{Diagnostic, Map, Node, Secret, Value};

use super::Raw;
use super::secrets;
use super::words::Words;

use acls::{Acl, ListKind, acl_node};
use bgp::Scope;
use interfaces::{Iface, iface_node};
use vlans::{Vlan, vlan_node};

pub(super) struct Builder {
    diagnostics: Vec<Diagnostic>,
    spans: Vec<Range<usize>>,
    scratch: Vec<Range<usize>>,
    hostname: Option<Node>,
    interfaces: Vec<Iface>,
    iface_index: HashMap<String, usize>,
    vlans: Vec<Vlan>,
    vlan_index: HashMap<i64, usize>,
    /// ACLs, prefix lists, AS-path lists and community lists, by [`ListKind`].
    acls: [Vec<Acl>; 4],
    acl_index: [HashMap<String, usize>; 4],
    /// NAT rules, in file order.
    nat: Vec<Node>,
    /// Depth of `route-policy` blocks being kept (their statements run in order).
    in_route_policy: bool,
    bgp: Option<Scope>,
    banners: Map,
    banners_line: u32,
    lines: Vec<Node>,
    /// What VLAN range expansion may still create in this file (see [`ExpansionBudget`]).
    budget: ExpansionBudget,
}

/// How much one file's VLAN ranges may expand into, so a small file cannot grow into a tree of
/// millions of nodes: `ids`, VLAN entries (a `vlan 1-4094` block, per id; a `switchport trunk
/// allowed vlan except 1` line, per id); `copies`, lines nested under a VLAN range block,
/// which each of its ids receives. Past either, a block or line is kept as written with one
/// `ios.expansion-limit` warning.
pub(super) struct ExpansionBudget {
    ids: usize,
    copies: usize,
    reported: bool,
}

impl ExpansionBudget {
    /// 256 full ranges of ids (a 250-trunk chassis that lists every VLAN on every trunk
    /// fits), and 4 full ranges' worth of copied lines (`vlan 1-4094` with 4 lines under it).
    pub(super) const IDS: usize = 256 * 4094;
    pub(super) const COPIES: usize = 4 * 4094;
}

impl Builder {
    pub(super) fn new() -> Self {
        Builder {
            diagnostics: Vec::new(),
            spans: Vec::new(),
            scratch: Vec::new(),
            hostname: None,
            interfaces: Vec::new(),
            iface_index: HashMap::new(),
            vlans: Vec::new(),
            vlan_index: HashMap::new(),
            acls: Default::default(),
            acl_index: Default::default(),
            nat: Vec::new(),
            in_route_policy: false,
            bgp: None,
            banners: Map::new(),
            banners_line: 0,
            lines: Vec::new(),
            budget: ExpansionBudget {
                ids: ExpansionBudget::IDS,
                copies: ExpansionBudget::COPIES,
                reported: false,
            },
        }
    }

    /// Takes `ids` VLAN entries and `copies` copied lines from the file's expansion budget;
    /// false (with one warning per file) when they do not fit, and the caller keeps the line
    /// as written.
    fn expand(&mut self, ids: usize, copies: usize, line: u32) -> bool {
        let b = &mut self.budget;
        if ids <= b.ids && copies <= b.copies {
            b.ids -= ids;
            b.copies -= copies;
            return true;
        }
        if !b.reported {
            b.reported = true;
            self.warn(
                "ios.expansion-limit",
                line,
                format!(
                    "VLAN ranges in this file expand to more than {} VLAN entries or {} copied lines; this and later range lines are kept as written",
                    ExpansionBudget::IDS,
                    ExpansionBudget::COPIES
                ),
            );
        }
        false
    }

    /// Files one finished top-level block.
    pub(super) fn top(&mut self, raw: Raw<'_, '_>) {
        let w = Words::new(raw.text);
        match w.get(0) {
            "hostname" if w.len() == 2 && raw.children.is_empty() => {
                self.hostname = Some(Node::str(raw.number, w.get(1)));
            }
            "interface" if w.len() >= 2 => self.interface(&raw, &w),
            "vlan" if w.len() >= 2 => self.vlan(&raw, &w),
            "access-list" => self.numbered_acl(&raw, &w),
            "ip" | "ipv4" | "ipv6" | "mac" if w.get(1) == "access-list" => self.named_acl(&raw, &w),
            "ip" | "ipv6" if w.get(1) == "prefix-list" => self.prefix_list(&raw, &w),
            "ip" | "bgp" if w.get(1) == "as-path" && w.get(2) == "access-list" => {
                self.as_path_list(&raw, &w)
            }
            "ip" | "bgp"
                if matches!(
                    w.get(1),
                    "community-list" | "extcommunity-list" | "large-community-list"
                ) =>
            {
                self.community_list(&raw, &w)
            }
            "ip" | "ipv6" if w.get(1) == "nat" && is_nat_rule(w.get(2)) => {
                let node = self.raw_node_with(&raw, &w, None);
                self.nat.push(node);
            }
            "nat" if w.get(1).starts_with('(') => {
                let node = self.raw_node_with(&raw, &w, None);
                self.nat.push(node);
            }
            "router" if w.get(1) == "bgp" => self.router_bgp(&raw, &w),
            _ => self.keep(&raw, &w),
        }
    }

    pub(super) fn banner(&mut self, kind: &str, line: u32, text: String) {
        if self.banners_line == 0 {
            self.banners_line = line;
        }
        self.banners.insert(kind.to_string(), Node::str(line, text));
    }

    /// One line of a banner written a line per command (ASA `banner motd TEXT`): appended to
    /// the banner's text.
    pub(super) fn banner_line(&mut self, kind: &str, line: u32, text: String) {
        if self.banners_line == 0 {
            self.banners_line = line;
        }
        match self.banners.get_mut(kind) {
            Some(Node {
                value: Value::Str(s),
                ..
            }) => {
                s.push('\n');
                s.push_str(&text);
            }
            _ => {
                self.banners.insert(kind.to_string(), Node::str(line, text));
            }
        }
    }

    /// Keeps a top-level block in `lines`; `w` holds the words of its first line.
    fn keep(&mut self, raw: &Raw<'_, '_>, w: &Words<'_>) {
        let node = self.raw_node_with(raw, w, None);
        self.lines.push(node);
    }

    fn warn(&mut self, code: &'static str, line: u32, message: String) {
        self.diagnostics
            .push(Diagnostic::warning(code, line, message));
    }

    /// A line as a value: the text as written, or a [`Secret`] showing it with its secrets
    /// redacted (their byte ranges are recorded).
    fn value(&mut self, raw: &Raw<'_, '_>, w: &Words<'_>, parent: Option<&str>) -> Value {
        self.scratch.clear();
        secrets::find(w, parent, &mut self.scratch);
        if self.scratch.is_empty() {
            return Value::Str(raw.text.to_string());
        }
        let shown = secrets::redact(raw.text, &self.scratch);
        for r in &self.scratch {
            self.spans.push(raw.offset + r.start..raw.offset + r.end);
        }
        Value::Secret(Secret::within(shown, raw.text))
    }

    /// A raw line (`"text"`) or block (`{line, children}`), recursively. Depth is bounded by
    /// `MAX_DEPTH`, which the parser enforces.
    fn raw_node(&mut self, raw: &Raw<'_, '_>, parent: Option<&str>) -> Node {
        let w = Words::new(raw.text);
        self.raw_node_with(raw, &w, parent)
    }

    /// [`Self::raw_node`] when the words of the line are known.
    /// Children run in order under an IOS-XR `route-policy` (statements, at every depth) and a
    /// `policy-map` (its classes: the first that matches applies); elsewhere their order is no
    /// behaviour.
    fn raw_node_with(&mut self, raw: &Raw<'_, '_>, w: &Words<'_>, parent: Option<&str>) -> Node {
        let value = self.value(raw, w, parent);
        if raw.children.is_empty() {
            return Node::new(raw.number, value);
        }
        let route_policy = w.get(0) == "route-policy";
        let outer = self.in_route_policy;
        self.in_route_policy |= route_policy;
        let ordered = self.in_route_policy || w.get(0) == "policy-map";
        let mut children = Vec::with_capacity(raw.children.count());
        for c in &raw.children {
            let c = &c;
            children.push(self.raw_node(c, Some(raw.text)));
        }
        self.in_route_policy = outer;
        let mut m = Map::with_capacity(2);
        m.push("line", Node::new(raw.number, value));
        let children = if ordered {
            Node::ordered_list(raw.number, children)
        } else {
            Node::unordered_list(raw.number, children)
        };
        m.push("children", children);
        Node::map(raw.number, m)
    }

    /// The root map, the diagnostics and the secret spans.
    pub(super) fn finish(mut self) -> (Map, Vec<Diagnostic>, Vec<Range<usize>>) {
        let mut root = Map::with_capacity(12);
        root.push(
            "hostname",
            self.hostname.take().unwrap_or_else(|| Node::null(1)),
        );
        let interfaces: Vec<Node> = std::mem::take(&mut self.interfaces)
            .into_iter()
            .map(iface_node)
            .collect();
        root.push("interfaces", list_node(interfaces));
        let vlans: Vec<Node> = std::mem::take(&mut self.vlans)
            .into_iter()
            .map(vlan_node)
            .collect();
        root.push("vlans", list_node(vlans));
        let [acls, prefix_lists, as_paths, communities] = std::mem::take(&mut self.acls);
        let acls: Vec<Node> = acls
            .into_iter()
            .map(|a| acl_node(a, ListKind::Acl))
            .collect();
        root.push("acls", list_node(acls));
        let prefix_lists: Vec<Node> = prefix_lists
            .into_iter()
            .map(|a| acl_node(a, ListKind::PrefixList))
            .collect();
        root.push("prefix_lists", list_node(prefix_lists));
        let as_paths: Vec<Node> = as_paths
            .into_iter()
            .map(|a| acl_node(a, ListKind::AsPath))
            .collect();
        root.push("as_path_lists", list_node(as_paths));
        let communities: Vec<Node> = communities
            .into_iter()
            .map(|a| acl_node(a, ListKind::Community))
            .collect();
        root.push("community_lists", list_node(communities));
        let nat = std::mem::take(&mut self.nat);
        let nat_line = nat.first().map_or(1, |n| n.line);
        root.push("nat", Node::ordered_list(nat_line, nat));
        let bgp = match self.bgp.take() {
            Some(scope) => self.scope_node(scope, false),
            None => Node::null(1),
        };
        root.push("bgp", bgp);
        root.push(
            "banners",
            Node::map(self.banners_line.max(1), std::mem::take(&mut self.banners)),
        );
        root.push("lines", list_node(std::mem::take(&mut self.lines)));
        (root, self.diagnostics, self.spans)
    }
}

/// A list whose line is its first item's (1 when empty).
fn list_node(items: Vec<Node>) -> Node {
    let line = items.first().map_or(1, |n| n.line);
    Node::unordered_list(line, items)
}

fn or_null(node: Option<Node>, line: u32) -> Node {
    node.unwrap_or_else(|| Node::null(line))
}

/// `ip nat inside|outside source ...` and the other NAT rule forms (not `ip nat pool`, a
/// definition, nor `ip nat translation` timers).
fn is_nat_rule(w2: &str) -> bool {
    matches!(w2, "inside" | "outside" | "source" | "destination")
}
