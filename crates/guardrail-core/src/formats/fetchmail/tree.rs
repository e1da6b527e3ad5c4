//! The tree: every poll with its effective settings (what the `defaults` entry sets applies to
//! every poll and user that does not set it, as in fetchmail) and the `defaults` entry as
//! written.

use std::borrow::Cow;

use crate::document::{Map, Node};

use super::keywords::keyword_of;
use super::parser::{Server, User};

/// Server options that a `defaults` entry does not pass on (fetchmail's `optmerge` skips them).
const NOT_INHERITED: [&str; 5] = [
    "aka",
    "esmtpname",
    "esmtppassword",
    "badheader",
    "sslcertfile",
];

/// What the `defaults` entry passes on to every poll and its users.
pub(super) struct Inherited<'d> {
    server: Option<&'d Server>,
    /// The server options it passes on, in order, with their keys.
    options: Vec<(MapKey, &'d Node)>,
    user: Option<&'d User>,
    user_options: Vec<(MapKey, &'d Node)>,
}

pub(super) type MapKey = Cow<'static, str>;

impl<'d> Inherited<'d> {
    pub(super) fn new(defaults: Option<&'d Server>) -> Self {
        let user = defaults.and_then(|d| d.users.first());
        Inherited {
            server: defaults,
            options: defaults.map_or_else(Vec::new, |d| inheritable(&d.options)),
            user,
            user_options: user.map_or_else(Vec::new, |u| inheritable(&u.options)),
        }
    }
}

/// The options of a `defaults` entry that it passes on: all but [`NOT_INHERITED`] and the
/// `unknown` list.
pub(super) fn inheritable(options: &Map) -> Vec<(MapKey, &Node)> {
    options
        .iter()
        .filter(|(k, _)| !NOT_INHERITED.contains(k) && *k != "unknown")
        .map(|(k, v)| (static_key(k), v))
        .collect()
}

/// An option key as the static name it was stored under (every option key is a keyword's
/// name or `envelope_skip`), so that copying it allocates nothing.
pub(super) fn static_key(k: &str) -> MapKey {
    match k {
        "envelope_skip" => Cow::Borrowed("envelope_skip"),
        "badheader" => Cow::Borrowed("badheader"),
        _ => match keyword_of(k) {
            Some(kw) => Cow::Borrowed(kw.name()),
            None => Cow::Owned(k.to_string()),
        },
    }
}

/// The entry's own node, else a copy of the one inherited from `defaults`, else `default`.
#[inline]
pub(super) fn inherit(
    own: Option<Node>,
    inherited: Option<&Option<Node>>,
    default: impl FnOnce() -> Node,
) -> Node {
    match own {
        Some(n) => n,
        None => match inherited {
            Some(Some(n)) => n.clone(),
            _ => default(),
        },
    }
}

/// `own` options, plus the inherited options it does not set.
pub(super) fn merged_options(own: Map, inherited: &[(MapKey, &Node)]) -> Map {
    let mut m = own;
    for (k, v) in inherited {
        if !m.contains_key(k) {
            m.push(k.clone(), (*v).clone());
        }
    }
    m
}

pub(super) fn poll_node(p: Server, inh: &Inherited<'_>) -> Node {
    let line = p.line;
    let d = inh.server;
    let null = || Node::null(line);
    let mut users = p.users;
    if users.is_empty() {
        users.push(User::new(line));
    }
    // Collected into a vector of its own size: collecting in place would keep the (much
    // larger) buffer of the `User`s.
    let mut user_nodes = Vec::with_capacity(users.len());
    user_nodes.extend(users.into_iter().map(|u| effective_user_node(u, inh)));
    Node::map(
        line,
        Map::from_entries([
            ("name", p.name.unwrap_or_else(null)),
            ("skip", Node::bool(line, p.skip)),
            ("via", inherit(p.via, d.map(|d| &d.via), null)),
            (
                "protocol",
                inherit(p.protocol, d.map(|d| &d.protocol), null),
            ),
            ("port", inherit(p.port, d.map(|d| &d.port), null)),
            ("auth", inherit(p.auth, d.map(|d| &d.auth), null)),
            (
                "options",
                Node::map(line, merged_options(p.options, &inh.options)),
            ),
            ("users", Node::unordered_list(line, user_nodes)),
        ]),
    )
}

/// A user map of a poll: unset fields take the defaults entry's value, else fetchmail's
/// built-in default (flags false, lists empty, names null).
pub(super) fn effective_user_node(u: User, inh: &Inherited<'_>) -> Node {
    let line = u.line;
    let d = inh.user;
    let null = || Node::null(line);
    let empty = || Node::unordered_list(line, Vec::new());
    let no = || Node::bool(line, false);
    Node::map(
        line,
        Map::from_entries([
            ("name", inherit(u.name, d.map(|d| &d.name), null)),
            ("local", inherit(u.local, d.map(|d| &d.local), empty)),
            (
                "password",
                inherit(u.password, d.map(|d| &d.password), null),
            ),
            ("folders", inherit(u.folders, d.map(|d| &d.folders), empty)),
            ("keep", inherit(u.keep, d.map(|d| &d.keep), no)),
            ("flush", inherit(u.flush, d.map(|d| &d.flush), no)),
            ("fetchall", inherit(u.fetchall, d.map(|d| &d.fetchall), no)),
            (
                "limitflush",
                inherit(u.limitflush, d.map(|d| &d.limitflush), no),
            ),
            ("ssl", inherit(u.ssl, d.map(|d| &d.ssl), no)),
            (
                "options",
                Node::map(line, merged_options(u.options, &inh.user_options)),
            ),
        ]),
    )
}

/// The defaults entry's user as written: unset fields are null.
pub(super) fn written_user_node(u: User) -> Node {
    let line = u.line;
    let or_null = |n: Option<Node>| n.unwrap_or_else(|| Node::null(line));
    Node::map(
        line,
        Map::from_entries([
            ("name", or_null(u.name)),
            ("local", or_null(u.local)),
            ("password", or_null(u.password)),
            ("folders", or_null(u.folders)),
            ("keep", or_null(u.keep)),
            ("flush", or_null(u.flush)),
            ("fetchall", or_null(u.fetchall)),
            ("limitflush", or_null(u.limitflush)),
            ("ssl", or_null(u.ssl)),
            ("options", Node::map(line, u.options)),
        ]),
    )
}

pub(super) fn defaults_node(d: Server) -> Node {
    let line = d.line;
    let or_null = |n: Option<Node>| n.unwrap_or_else(|| Node::null(line));
    let user = match d.users.into_iter().next() {
        Some(u) => written_user_node(u),
        None => Node::null(line),
    };
    Node::map(
        line,
        Map::from_entries([
            ("via", or_null(d.via)),
            ("protocol", or_null(d.protocol)),
            ("port", or_null(d.port)),
            ("auth", or_null(d.auth)),
            ("options", Node::map(line, d.options)),
            ("user", user),
        ]),
    )
}
