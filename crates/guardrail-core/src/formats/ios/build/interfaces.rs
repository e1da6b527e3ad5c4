//! The `interfaces` view: `interface NAME` blocks with their description, state, switchport
//! (access and trunk VLANs), address, VRF and port-channel membership.

use std::collections::BTreeMap;

use crate::document::{Map, Node};
use crate::formats::ios::Raw;
use crate::formats::ios::words::Words;

use super::vlans::{VLAN_MAX, parse_vlan_list};
use super::{Builder, or_null};

#[derive(Default)]
pub(super) struct Iface {
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

impl Builder {
    pub(super) fn interface(&mut self, raw: &Raw<'_, '_>, w: &Words<'_>) {
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
        // The entries this line may touch: its ranges, and every id when it fills the list.
        let touched: usize = ranges
            .iter()
            .map(|&(lo, hi)| (hi - lo + 1) as usize)
            .sum::<usize>()
            + if matches!(op, "remove" | "except") {
                VLAN_MAX as usize
            } else {
                0
            };
        if !self.expand(touched, 0, line) {
            return false;
        }
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
}

pub(super) fn iface_node(i: Iface) -> Node {
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
