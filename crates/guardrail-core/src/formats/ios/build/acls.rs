//! The lists of `permit`/`deny` entries: `acls`, `prefix_lists`, `as_path_lists` and
//! `community_lists`, each entry identified by its sequence number, or by its text and place
//! when it has none.

use std::collections::HashSet;

use crate::document::{Map, Node};
use crate::formats::ios::Raw;
use crate::formats::ios::words::{Words, split_first};

use super::Builder;

/// The lists of `permit`/`deny` entries the tree has a view for. Each is applied first match
/// first: entries with a written sequence number are ordered by it; entries without one by
/// their place in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ListKind {
    Acl = 0,
    PrefixList = 1,
    AsPath = 2,
    Community = 3,
}

pub(super) struct Acl {
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
impl Builder {
    /// `access-list NAME [seq N] ACTION ...` (numbered IOS ACLs, FRR access lists).
    pub(super) fn numbered_acl(&mut self, raw: &Raw<'_, '_>, w: &Words<'_>) {
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
    pub(super) fn named_acl(&mut self, raw: &Raw<'_, '_>, w: &Words<'_>) {
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
    pub(super) fn prefix_list(&mut self, raw: &Raw<'_, '_>, w: &Words<'_>) {
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
    pub(super) fn as_path_list(&mut self, raw: &Raw<'_, '_>, w: &Words<'_>) {
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
    pub(super) fn community_list(&mut self, raw: &Raw<'_, '_>, w: &Words<'_>) {
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
}

pub(super) fn acl_node(a: Acl, k: ListKind) -> Node {
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
