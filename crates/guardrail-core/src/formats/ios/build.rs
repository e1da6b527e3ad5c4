//! Files each finished top-level block into the document's views (`interfaces`, `vlans`,
//! `acls`, `prefix_lists`, `as_path_lists`, `community_lists`, `nat`, `bgp`, `banners`, `lines`)
//! and builds the final tree. Every source line is stored in
//! exactly one place; lines the views do not interpret are kept in an `other` list (or in
//! `lines`) as written, secrets redacted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

use crate::document::{Diagnostic, Map, Node, REDACTED, Secret, Value};

use super::Raw;
use super::secrets;
use super::words::{Words, split_first};

/// Highest usable VLAN id (0 and 4095 are reserved).
const VLAN_MAX: i64 = 4094;

#[derive(Default)]
struct Iface {
    line: u32,
    name: String,
    description: Option<Node>,
    shutdown: Option<Node>,
    switchport: Option<Switchport>,
    ip_address: Option<Node>,
    vrf: Option<Node>,
    channel_group: Option<Node>,
    other: Vec<Node>,
}

struct Switchport {
    line: u32,
    mode: Option<Node>,
    access_vlan: Option<Node>,
    native_vlan: Option<Node>,
    allowed: Option<Allowed>,
    other: Vec<Node>,
}

/// The effect of the `switchport trunk allowed vlan ...` lines of one interface.
struct Allowed {
    line: u32,
    all: bool,
    /// VLAN id -> the line that allowed it.
    vlans: BTreeMap<i64, u32>,
}

#[derive(Default)]
struct Vlan {
    line: u32,
    id: i64,
    name: Option<Node>,
    other: Vec<Node>,
}

/// The lists of `permit`/`deny` entries the tree has a view for. Each is applied first match
/// first: entries with a written sequence number are ordered by it; entries without one by
/// their place in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListKind {
    Acl = 0,
    PrefixList = 1,
    AsPath = 2,
    Community = 3,
}

struct Acl {
    line: u32,
    name: String,
    kind: String,
    /// Community lists: `community`, `extcommunity` or `large-community`.
    family: Option<&'static str>,
    entries: Vec<Node>,
    other: Vec<Node>,
    max_seq: i64,
    seqs: Seqs,
    /// Some entry has no written sequence number: the list is ordered by the file.
    unnumbered: bool,
}

/// The sequence numbers of an ACL, for finding duplicates. They nearly always come in
/// increasing order, so a sorted list with pushes at its end does; the first number out of
/// order moves them to a set (inserting into the list could cost quadratic time).
enum Seqs {
    Increasing(Vec<i64>),
    Any(HashSet<i64>),
}

impl Seqs {
    /// Records `seq`; false when it was already there.
    fn insert(&mut self, seq: i64) -> bool {
        match self {
            Seqs::Increasing(v) => match v.last() {
                Some(&last) if seq <= last => {
                    if v.binary_search(&seq).is_ok() {
                        return false;
                    }
                    let mut set: HashSet<i64> = v.drain(..).collect();
                    set.insert(seq);
                    *self = Seqs::Any(set);
                    true
                }
                _ => {
                    v.push(seq);
                    true
                }
            },
            Seqs::Any(set) => set.insert(seq),
        }
    }
}

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
struct Scope {
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
        }
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

    // ---- interfaces -------------------------------------------------------------------

    fn interface(&mut self, raw: &Raw<'_, '_>, w: &Words<'_>) {
        // FRR writes the VRF on the header: `interface eth0 vrf RED`.
        let (name, vrf) = if w.len() == 4 && w.get(2) == "vrf" {
            (w.get(1).to_string(), Some(w.get(3)))
        } else {
            (w.joined(1), None)
        };
        let ix = match self.iface_index.get(name.as_str()) {
            Some(&ix) => ix,
            None => {
                let ix = self.interfaces.len();
                self.iface_index.insert(name.clone(), ix);
                self.interfaces.push(Iface {
                    line: raw.number,
                    name,
                    ..Iface::default()
                });
                ix
            }
        };
        let mut iface = std::mem::take(&mut self.interfaces[ix]);
        if let Some(v) = vrf {
            iface.vrf = Some(Node::str(raw.number, v));
        }
        for c in &raw.children {
            let c = &c;
            self.iface_child(&mut iface, c, raw.text);
        }
        self.interfaces[ix] = iface;
    }

    fn iface_child(&mut self, ifc: &mut Iface, c: &Raw<'_, '_>, parent: &str) {
        if !c.children.is_empty() {
            let node = self.raw_node(c, Some(parent));
            ifc.other.push(node);
            return;
        }
        let w = Words::new(c.text);
        let n = w.len();
        let line = c.number;
        match (w.get(0), w.get(1)) {
            ("description", _) if n >= 2 => ifc.description = Some(Node::str(line, w.rest(1))),
            ("shutdown", _) if n == 1 => ifc.shutdown = Some(Node::bool(line, true)),
            ("no", "shutdown") if n == 2 => ifc.shutdown = Some(Node::bool(line, false)),
            ("switchport", _) => self.switchport(ifc, c, &w),
            ("ip", "address") if n >= 3 && w.get(n - 1) != "secondary" => {
                ifc.ip_address = Some(Node::str(line, w.joined(2)));
            }
            ("vrf", "forwarding" | "member") if n == 3 => {
                ifc.vrf = Some(Node::str(line, w.get(2)));
            }
            ("ip", "vrf") if n == 4 && w.get(2) == "forwarding" => {
                ifc.vrf = Some(Node::str(line, w.get(3)));
            }
            ("vrf", v) if n == 2 => ifc.vrf = Some(Node::str(line, v)),
            ("channel-group", group) if n >= 2 && group.parse::<i64>().is_ok() => {
                let mut m = Map::with_capacity(2);
                m.push("group", Node::int(line, group.parse().unwrap_or(0)));
                let mode = if w.get(2) == "mode" && n >= 4 {
                    Node::str(line, w.joined(3))
                } else {
                    Node::null(line)
                };
                m.push("mode", mode);
                ifc.channel_group = Some(Node::map(line, m));
            }
            _ => {
                let node = Node::new(line, self.value(c, &w, Some(parent)));
                ifc.other.push(node);
            }
        }
    }

    fn switchport(&mut self, ifc: &mut Iface, c: &Raw<'_, '_>, w: &Words<'_>) {
        let line = c.number;
        let sp = ifc.switchport.get_or_insert_with(|| Switchport {
            line,
            mode: None,
            access_vlan: None,
            native_vlan: None,
            allowed: None,
            other: Vec::new(),
        });
        let n = w.len();
        let understood = match (w.get(1), w.get(2), w.get(3)) {
            ("", _, _) => true,
            ("mode", _, _) if n >= 3 => {
                sp.mode = Some(Node::str(line, w.joined(2)));
                true
            }
            ("access", "vlan", v) if n == 4 => match self.vlan_number(v, line) {
                Some(id) => {
                    sp.access_vlan = Some(Node::int(line, id));
                    true
                }
                None => false,
            },
            ("trunk", "native", "vlan") if n == 5 => match self.vlan_number(w.get(4), line) {
                Some(id) => {
                    sp.native_vlan = Some(Node::int(line, id));
                    true
                }
                None => false,
            },
            ("trunk", "allowed", "vlan") if n >= 5 => self.trunk_allowed(sp, c, w),
            _ => false,
        };
        if !understood {
            let value = self.value(c, w, None);
            if let Some(sp) = ifc.switchport.as_mut() {
                sp.other.push(Node::new(line, value));
            }
        }
    }

    /// Applies `switchport trunk allowed vlan [add|remove|except] LIST | all | none`.
    fn trunk_allowed(&mut self, sp: &mut Switchport, c: &Raw<'_, '_>, w: &Words<'_>) -> bool {
        let line = c.number;
        let n = w.len();
        let (op, from) = match w.get(4) {
            "all" if n == 5 => ("all", 5),
            "none" if n == 5 => ("none", 5),
            "add" | "remove" | "except" => (w.get(4), 5),
            _ => ("set", 4),
        };
        let ranges = if matches!(op, "all" | "none") {
            Vec::new()
        } else {
            let list: String = w.rest(from).split_ascii_whitespace().collect();
            match parse_vlan_list(&list) {
                Some(r) => r,
                None => {
                    self.warn(
                        "ios.vlan-syntax",
                        line,
                        format!(
                            "`{}`: expected a VLAN list such as `10,20-22` (ids 1-{VLAN_MAX}); the line is kept as written",
                            c.text
                        ),
                    );
                    return false;
                }
            }
        };
        let a = sp.allowed.get_or_insert_with(|| Allowed {
            line,
            all: true,
            vlans: BTreeMap::new(),
        });
        let fill_all = |a: &mut Allowed| {
            a.all = false;
            a.vlans = (1..=VLAN_MAX).map(|v| (v, line)).collect();
        };
        match op {
            "all" => {
                a.all = true;
                a.vlans.clear();
            }
            "none" => {
                a.all = false;
                a.vlans.clear();
            }
            "add" => {
                if !a.all {
                    for &(lo, hi) in &ranges {
                        for v in lo..=hi {
                            a.vlans.entry(v).or_insert(line);
                        }
                    }
                }
            }
            "remove" | "except" => {
                if a.all || op == "except" {
                    fill_all(a);
                }
                for &(lo, hi) in &ranges {
                    for v in lo..=hi {
                        a.vlans.remove(&v);
                    }
                }
            }
            _ => {
                a.all = false;
                a.vlans.clear();
                for &(lo, hi) in &ranges {
                    for v in lo..=hi {
                        a.vlans.insert(v, line);
                    }
                }
            }
        }
        true
    }

    /// A VLAN id in 1..=4094. Warns about a number that is out of range or malformed; a word
    /// (`dynamic`, `name X`) is no number and is left to the caller to keep raw.
    fn vlan_number(&mut self, s: &str, line: u32) -> Option<i64> {
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

    // ---- VLANs ------------------------------------------------------------------------

    fn vlan(&mut self, raw: &Raw<'_, '_>, w: &Words<'_>) {
        let arg = w.get(1);
        if w.len() == 2 {
            if let Some(ranges) = parse_vlan_list(arg) {
                for (lo, hi) in ranges {
                    for id in lo..=hi {
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
                }
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

    // ---- ACLs -------------------------------------------------------------------------

    /// `access-list NAME [seq N] ACTION ...` (numbered IOS ACLs, FRR access lists).
    fn numbered_acl(&mut self, raw: &Raw<'_, '_>, w: &Words<'_>) {
        let n = w.len();
        if n < 3 {
            self.keep(raw, w);
            return;
        }
        let name = w.get(1);
        // ASA: `access-list NAME extended|standard|webtype|ethertype ACTION ...`.
        let (kind, from) = match w.get(2) {
            k @ ("extended" | "standard" | "webtype" | "ethertype") => (k, 3),
            _ => (numbered_kind(name), 2),
        };
        let Some((seq, at)) = self.seq_and_action(raw, w, from) else {
            self.keep(raw, w);
            return;
        };
        let ix = self.acl(ListKind::Acl, name, kind, raw.number);
        self.acl_entry(
            ListKind::Acl,
            ix,
            seq,
            w.get(at),
            w.rest(at + 1),
            raw.number,
        );
        for c in &raw.children {
            let c = &c;
            let node = self.raw_node(c, Some(raw.text));
            self.acls[0][ix].other.push(node);
        }
    }

    /// `[seq N] ACTION` at word `i` of an ACL line: the explicit sequence number, if any, and
    /// the index of the action word. Warns and returns `None` when there is no action.
    fn seq_and_action(
        &mut self,
        raw: &Raw<'_, '_>,
        w: &Words<'_>,
        i: usize,
    ) -> Option<(Option<i64>, usize)> {
        let (seq, at) = if w.get(i) == "seq" {
            match w.get(i + 1).parse::<i64>() {
                Ok(s) => (Some(s), i + 2),
                Err(_) => (None, usize::MAX),
            }
        } else {
            (None, i)
        };
        if at != usize::MAX && is_action(w.get(at)) {
            return Some((seq, at));
        }
        self.warn(
            "ios.acl-syntax",
            raw.number,
            format!(
                "`{}`: expected `[seq N] permit|deny|remark ...`; the line is kept in `lines` as written",
                raw.text
            ),
        );
        None
    }

    /// `ip|ipv6|mac access-list [TYPE] NAME` blocks, and FRR's one-line
    /// `ipv6 access-list NAME [seq N] ACTION ...`.
    fn named_acl(&mut self, raw: &Raw<'_, '_>, w: &Words<'_>) {
        let family = w.get(0);
        let n = w.len();
        let (kind, name, inline) = if n == 3 {
            (default_kind(family).to_string(), w.get(2), false)
        } else if n == 4 && matches!(w.get(2), "standard" | "extended" | "role-based") {
            (typed_kind(family, w.get(2)), w.get(3), false)
        } else if n >= 4 && (w.get(3) == "seq" || is_action(w.get(3))) {
            (default_kind(family).to_string(), w.get(2), true)
        } else {
            // `ip access-list logging interval 10`, `ip access-list resequence ...`
            self.keep(raw, w);
            return;
        };
        if inline {
            let Some((seq, at)) = self.seq_and_action(raw, w, 3) else {
                self.keep(raw, w);
                return;
            };
            let ix = self.acl(ListKind::Acl, name, &kind, raw.number);
            self.acl_entry(
                ListKind::Acl,
                ix,
                seq,
                w.get(at),
                w.rest(at + 1),
                raw.number,
            );
            return;
        }
        let ix = self.acl(ListKind::Acl, name, &kind, raw.number);
        self.block_entries(ListKind::Acl, ix, raw);
    }

    /// The entries of a list written as a block: `[SEQ|seq SEQ] ACTION REST` lines; other lines
    /// go to the list's `other`.
    fn block_entries(&mut self, k: ListKind, ix: usize, raw: &Raw<'_, '_>) {
        // One allocation of the right size for the entries (the block's lines nearly all are).
        let n = raw.children.count();
        let list = &mut self.acls[k as usize][ix];
        list.entries.reserve(n);
        if let Seqs::Increasing(v) = &mut list.seqs {
            v.reserve(n);
        }
        for c in &raw.children {
            let c = &c;
            // `[SEQ] ACTION REST`: only the first two words are needed, so the entry lines,
            // the bulk of a large config, are not split into all their words.
            let (mut w0, mut after0) = split_first(c.text);
            if w0 == "seq" {
                (w0, after0) = split_first(after0);
            }
            let (seq, action, rest) = match w0.parse::<i64>() {
                Ok(s) => {
                    let (w1, after1) = split_first(after0);
                    (Some(s), w1, after1)
                }
                Err(_) => (None, w0, after0),
            };
            if c.children.is_empty() && is_action(action) {
                self.acl_entry(k, ix, seq, action, rest, c.number);
            } else {
                let node = self.raw_node(c, Some(raw.text));
                self.acls[k as usize][ix].other.push(node);
            }
        }
    }

    /// The index of list `name` of kind `k`, created with `kind` on first sight.
    fn acl(&mut self, k: ListKind, name: &str, kind: &str, line: u32) -> usize {
        let (lists, index) = (&mut self.acls[k as usize], &mut self.acl_index[k as usize]);
        if let Some(&ix) = index.get(name) {
            return ix;
        }
        let ix = lists.len();
        index.insert(name.to_string(), ix);
        lists.push(Acl {
            line,
            name: name.to_string(),
            kind: kind.to_string(),
            family: None,
            entries: Vec::new(),
            other: Vec::new(),
            max_seq: 0,
            seqs: Seqs::Increasing(Vec::new()),
            unnumbered: false,
        });
        ix
    }

    /// Appends an entry. With a written sequence number, that number is its identity (`seq`)
    /// and its place; without one, the device numbers it after the highest so far, so its
    /// place in the file is its place in the list: `seq` is null, the entry is identified by
    /// its text (`line`) and the list becomes ordered.
    fn acl_entry(
        &mut self,
        k: ListKind,
        ix: usize,
        seq: Option<i64>,
        action: &str,
        text: &str,
        line: u32,
    ) {
        let acl = &mut self.acls[k as usize][ix];
        let Some(seq) = seq else {
            acl.unnumbered = true;
            // The number the device gives it, so that a later entry written with that number
            // is found as a duplicate.
            let implied = acl.max_seq.saturating_add(10);
            acl.seqs.insert(implied);
            acl.max_seq = implied;
            let whole = if text.is_empty() {
                action.to_string()
            } else {
                format!("{action} {text}")
            };
            let m = Map::from_entries([
                ("seq", Node::null(line)),
                ("action", Node::str(line, action)),
                ("text", Node::str(line, text)),
                ("line", Node::str(line, whole)),
            ]);
            acl.entries.push(Node::map(line, m));
            return;
        };
        let duplicate = !acl.seqs.insert(seq);
        acl.max_seq = acl.max_seq.max(seq);
        let m = Map::from_entries([
            ("seq", Node::int(line, seq)),
            ("action", Node::str(line, action)),
            ("text", Node::str(line, text)),
        ]);
        acl.entries.push(Node::map(line, m));
        if duplicate {
            let name = acl.name.clone();
            let what = match k {
                ListKind::Acl => "ACL",
                ListKind::PrefixList => "prefix list",
                ListKind::AsPath => "AS-path list",
                ListKind::Community => "community list",
            };
            self.warn(
                "ios.acl-duplicate-seq",
                line,
                format!("{what} {name} has two entries with sequence number {seq}; the device keeps only one"),
            );
        }
    }

    /// `ip|ipv6 prefix-list NAME [seq N] ACTION PREFIX [ge N] [le N]` (IOS, NX-OS, FRR),
    /// `... description TEXT`, and EOS's block `ip prefix-list NAME` of `seq N ACTION ...` lines.
    fn prefix_list(&mut self, raw: &Raw<'_, '_>, w: &Words<'_>) {
        let kind = if w.get(0) == "ipv6" { "ipv6" } else { "ipv4" };
        let name = w.get(2);
        let n = w.len();
        if n == 3 && !raw.children.is_empty() {
            let ix = self.acl(ListKind::PrefixList, name, kind, raw.number);
            self.block_entries(ListKind::PrefixList, ix, raw);
            return;
        }
        if n >= 4 && (w.get(3) == "seq" || is_action(w.get(3))) && raw.children.is_empty() {
            let Some((seq, at)) = self.seq_and_action(raw, w, 3) else {
                self.keep(raw, w);
                return;
            };
            let ix = self.acl(ListKind::PrefixList, name, kind, raw.number);
            self.acl_entry(
                ListKind::PrefixList,
                ix,
                seq,
                w.get(at),
                w.rest(at + 1),
                raw.number,
            );
            return;
        }
        if n >= 4 && w.get(3) == "description" {
            let ix = self.acl(ListKind::PrefixList, name, kind, raw.number);
            let node = self.raw_node_with(raw, w, None);
            self.acls[ListKind::PrefixList as usize][ix]
                .other
                .push(node);
            return;
        }
        // `ip prefix-list sequence-number` and other global forms.
        self.keep(raw, w);
    }

    /// `ip as-path access-list NAME [seq N] ACTION REGEX` (IOS, EOS, NX-OS) and FRR's
    /// `bgp as-path access-list NAME [seq N] ACTION REGEX`.
    fn as_path_list(&mut self, raw: &Raw<'_, '_>, w: &Words<'_>) {
        let name = w.get(3);
        if w.len() < 5 || !raw.children.is_empty() {
            self.keep(raw, w);
            return;
        }
        let Some((seq, at)) = self.seq_and_action(raw, w, 4) else {
            self.keep(raw, w);
            return;
        };
        let ix = self.acl(ListKind::AsPath, name, "", raw.number);
        self.acl_entry(
            ListKind::AsPath,
            ix,
            seq,
            w.get(at),
            w.rest(at + 1),
            raw.number,
        );
    }

    /// `ip|bgp community-list|extcommunity-list|large-community-list [standard|expanded|regexp]
    /// NAME [seq N] ACTION VALUES`.
    fn community_list(&mut self, raw: &Raw<'_, '_>, w: &Words<'_>) {
        let family = match w.get(1) {
            "extcommunity-list" => "extcommunity",
            "large-community-list" => "large-community",
            _ => "community",
        };
        let mut j = 2;
        let mut kind = match w.get(j) {
            t @ ("standard" | "expanded" | "regexp") => {
                j += 1;
                t.to_string()
            }
            _ => String::new(),
        };
        let name = w.get(j);
        if kind.is_empty() {
            kind = match name.parse::<u32>() {
                Ok(1..=99) => "standard".to_string(),
                Ok(100..=500) => "expanded".to_string(),
                _ => String::new(),
            };
        }
        if w.len() < j + 2 || !raw.children.is_empty() {
            self.keep(raw, w);
            return;
        }
        let Some((seq, at)) = self.seq_and_action(raw, w, j + 1) else {
            self.keep(raw, w);
            return;
        };
        // Each family is its own namespace: the identity carries it when it is not `community`.
        let key = if family == "community" {
            name.to_string()
        } else {
            format!("{family} {name}")
        };
        let ix = self.acl(ListKind::Community, &key, &kind, raw.number);
        let list = &mut self.acls[ListKind::Community as usize][ix];
        list.family = Some(family);
        list.name = name.to_string();
        self.acl_entry(
            ListKind::Community,
            ix,
            seq,
            w.get(at),
            w.rest(at + 1),
            raw.number,
        );
    }

    // ---- BGP --------------------------------------------------------------------------

    fn router_bgp(&mut self, raw: &Raw<'_, '_>, w: &Words<'_>) {
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

    fn scope_node(&mut self, s: Scope, vrf: bool) -> Node {
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

    // ---- the tree ---------------------------------------------------------------------

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

fn iface_node(i: Iface) -> Node {
    let line = i.line;
    let sp = match i.switchport {
        Some(sp) => switchport_node(sp),
        None => Node::null(line),
    };
    let m = Map::from_entries([
        ("name", Node::str(line, i.name)),
        ("description", or_null(i.description, line)),
        (
            "shutdown",
            i.shutdown.unwrap_or_else(|| Node::bool(line, false)),
        ),
        ("switchport", sp),
        ("ip_address", or_null(i.ip_address, line)),
        ("vrf", or_null(i.vrf, line)),
        ("channel_group", or_null(i.channel_group, line)),
        ("other", Node::unordered_list(line, i.other)),
    ]);
    Node::map(line, m)
}

fn switchport_node(sp: Switchport) -> Node {
    let line = sp.line;
    let mut m = Map::with_capacity(6);
    m.push("mode", or_null(sp.mode, line));
    m.push("access_vlan", or_null(sp.access_vlan, line));
    let (allowed_line, all, vlans) = match sp.allowed {
        Some(a) => (
            a.line,
            a.all,
            a.vlans
                .into_iter()
                .map(|(v, l)| Node::int(l, v))
                .collect::<Vec<_>>(),
        ),
        None => (line, true, Vec::new()),
    };
    m.push(
        "trunk_allowed_vlans",
        Node::unordered_list(allowed_line, vlans),
    );
    m.push("trunk_allowed_all", Node::bool(allowed_line, all));
    m.push("native_vlan", or_null(sp.native_vlan, line));
    m.push("other", Node::unordered_list(line, sp.other));
    Node::map(line, m)
}

fn vlan_node(v: Vlan) -> Node {
    let m = Map::from_entries([
        ("id", Node::int(v.line, v.id)),
        ("vlan_name", or_null(v.name, v.line)),
        ("other", Node::unordered_list(v.line, v.other)),
    ]);
    Node::map(v.line, m)
}

fn acl_node(a: Acl, k: ListKind) -> Node {
    let mut m = Map::with_capacity(5);
    m.push("name", Node::str(a.line, a.name));
    match k {
        ListKind::Acl | ListKind::PrefixList => m.push("type", Node::str(a.line, a.kind)),
        ListKind::AsPath => {}
        ListKind::Community => {
            m.push("family", Node::str(a.line, a.family.unwrap_or("community")));
            let kind = if a.kind.is_empty() {
                Node::null(a.line)
            } else {
                Node::str(a.line, a.kind)
            };
            m.push("type", kind);
        }
    }
    let entries = if a.unnumbered {
        Node::ordered_list(a.line, a.entries)
    } else {
        Node::unordered_list(a.line, a.entries)
    };
    m.push("entries", entries);
    m.push("other", Node::unordered_list(a.line, a.other));
    Node::map(a.line, m)
}

/// `ip nat inside|outside source ...` and the other NAT rule forms (not `ip nat pool`, a
/// definition, nor `ip nat translation` timers).
fn is_nat_rule(w2: &str) -> bool {
    matches!(w2, "inside" | "outside" | "source" | "destination")
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

fn is_action(word: &str) -> bool {
    matches!(word, "permit" | "deny" | "remark" | "dynamic" | "evaluate")
}

/// The type of an ACL named by `access-list NAME`: IOS numbered ranges, else `named` (FRR).
fn numbered_kind(name: &str) -> &'static str {
    match name.parse::<u32>() {
        Ok(1..=99 | 1300..=1999) => "standard",
        Ok(100..=199 | 2000..=2699) => "extended",
        Ok(_) => "numbered",
        Err(_) => "named",
    }
}

fn default_kind(family: &str) -> &'static str {
    match family {
        "ipv6" => "ipv6",
        "mac" => "mac",
        _ => "extended",
    }
}

fn typed_kind(family: &str, kind: &str) -> String {
    match (family, kind) {
        ("ip", k) => k.to_string(),
        ("ipv6", "extended") => "ipv6".to_string(),
        ("ipv6", k) => format!("ipv6-{k}"),
        _ => "mac".to_string(),
    }
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
