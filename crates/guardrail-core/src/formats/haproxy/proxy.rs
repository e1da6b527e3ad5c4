//! A proxy section being read (one value reused for every section) and its tree: which keys
//! a section of each kind has, the order of its lists, and the ordering rules that depend on
//! the balance algorithm.

use std::collections::HashMap;

use crate::document::{Map, Node, Value};

use super::keywords::ProxyKind;

/// A proxy section (`defaults`, `frontend`, `backend`, `listen`) being read. One value is
/// reused for every proxy section: [`Proxy::take_node`] moves the fields out, and the lists
/// keep their buffers, so each section's lists are allocated once at their final size.
pub(super) struct Proxy {
    pub(super) kind: ProxyKind,
    pub(super) line: u32,
    pub(super) name: Option<String>,
    pub(super) from: Option<String>,
    pub(super) disabled: Option<Node>,
    pub(super) mode: Option<Node>,
    pub(super) maxconn: Option<Node>,
    pub(super) balance: Option<Node>,
    pub(super) default_backend: Option<Node>,
    pub(super) bind: Vec<Node>,
    pub(super) acls: Vec<Node>,
    pub(super) use_backend: Vec<Node>,
    pub(super) servers: Vec<Node>,
    pub(super) default_server: Option<(u32, Map)>,
    pub(super) http_check: Vec<Node>,
    pub(super) tcp_check: Vec<Node>,
    pub(super) http_request: Vec<Node>,
    pub(super) http_response: Vec<Node>,
    pub(super) http_after_response: Vec<Node>,
    /// `tcp-request` rules with their phase rank (connection, session, content), sorted by
    /// phase when the section closes: each phase is its own sequence.
    pub(super) tcp_request: Vec<(u8, Node)>,
    pub(super) tcp_response: Vec<Node>,
    pub(super) redirect: Vec<Node>,
    pub(super) use_server: Vec<Node>,
    pub(super) stick: Vec<Node>,
    pub(super) options: Map,
    pub(super) timeouts: Map,
    pub(super) directives: Vec<Node>,
}

impl Default for Proxy {
    fn default() -> Self {
        Proxy {
            kind: ProxyKind::Defaults,
            line: 0,
            name: None,
            from: None,
            disabled: None,
            mode: None,
            maxconn: None,
            balance: None,
            default_backend: None,
            bind: Vec::new(),
            acls: Vec::new(),
            use_backend: Vec::new(),
            servers: Vec::new(),
            default_server: None,
            http_check: Vec::new(),
            tcp_check: Vec::new(),
            http_request: Vec::new(),
            http_response: Vec::new(),
            http_after_response: Vec::new(),
            tcp_request: Vec::new(),
            tcp_response: Vec::new(),
            redirect: Vec::new(),
            use_server: Vec::new(),
            stick: Vec::new(),
            options: Map::new(),
            timeouts: Map::new(),
            directives: Vec::new(),
        }
    }
}

/// The nodes of a list being built, moved (one copy) into a vector of their exact size; `v`
/// keeps its buffer for the next section.
pub(super) fn take_list(v: &mut Vec<Node>) -> Vec<Node> {
    let mut out = Vec::with_capacity(v.len());
    out.append(v);
    out
}

impl Proxy {
    /// Starts a section: every field empty (the lists keep their buffers).
    pub(super) fn start(&mut self, kind: ProxyKind, line: u32) {
        self.kind = kind;
        self.line = line;
        self.name = None;
        self.from = None;
        self.disabled = None;
        self.mode = None;
        self.maxconn = None;
        self.balance = None;
        self.default_backend = None;
        self.bind.clear();
        self.acls.clear();
        self.use_backend.clear();
        self.servers.clear();
        self.default_server = None;
        self.http_check.clear();
        self.tcp_check.clear();
        self.http_request.clear();
        self.http_response.clear();
        self.http_after_response.clear();
        self.tcp_request.clear();
        self.tcp_response.clear();
        self.redirect.clear();
        self.use_server.clear();
        self.stick.clear();
        self.options = Map::new();
        self.timeouts = Map::new();
        self.directives.clear();
    }

    /// The tree of the section, its fields moved out. Which keys appear depends on the kind
    /// (see the docs); a key that does not belong to the kind appears only when the section
    /// uses it anyway.
    pub(super) fn take_node(&mut self, servers_ordered: bool) -> Node {
        let l = self.line;
        let keys = Keys::of(self);
        // name, from, disabled, mode, rules, options, timeouts, directives and the optional
        // keys: the map is allocated at its final size.
        let mut m = Map::with_capacity(8 + keys.count());
        m.push("name", opt_str(l, self.name.take()));
        m.push("from", opt_str(l, self.from.take()));
        m.push(
            "disabled",
            self.disabled.take().unwrap_or(Node::bool(l, false)),
        );
        m.push("mode", self.mode.take().unwrap_or(Node::null(l)));
        if keys.maxconn {
            m.push("maxconn", self.maxconn.take().unwrap_or(Node::null(l)));
        }
        if keys.bind {
            m.push("bind", Node::unordered_list(l, take_list(&mut self.bind)));
        }
        if keys.acls {
            sort_repeated_acls(&mut self.acls);
            m.push("acls", Node::unordered_list(l, take_list(&mut self.acls)));
        }
        if keys.default_backend {
            m.push(
                "default_backend",
                self.default_backend.take().unwrap_or(Node::null(l)),
            );
        }
        if keys.use_backend {
            // HAProxy applies the first `use_backend` whose condition matches.
            m.push(
                "use_backend",
                Node::ordered_list(l, take_list(&mut self.use_backend)),
            );
        }
        if keys.balance {
            m.push("balance", self.balance.take().unwrap_or(Node::null(l)));
        }
        if keys.servers {
            let servers = take_list(&mut self.servers);
            let node = if servers_ordered {
                Node::ordered_list(l, servers)
            } else {
                Node::unordered_list(l, servers)
            };
            m.push("servers", node);
        }
        if keys.default_server {
            m.push(
                "default_server",
                self.default_server
                    .take()
                    .map_or(Node::null(l), |(line, map)| Node::map(line, map)),
            );
        }
        // A check is a sequence of steps (`connect`, `send`, `expect`...).
        if keys.http_check {
            m.push(
                "http_check",
                Node::ordered_list(l, take_list(&mut self.http_check)),
            );
        }
        if keys.tcp_check {
            m.push(
                "tcp_check",
                Node::ordered_list(l, take_list(&mut self.tcp_check)),
            );
        }
        let rules = self.take_rules();
        m.push("rules", Node::map(l, rules));
        m.push("options", Node::map(l, std::mem::take(&mut self.options)));
        m.push("timeouts", Node::map(l, std::mem::take(&mut self.timeouts)));
        m.push(
            "directives",
            Node::unordered_list(l, take_list(&mut self.directives)),
        );
        Node::map(l, m)
    }

    /// The `rules` map. Rule families: each runs its rules in declaration order (first final
    /// action wins). Like `options`, the `rules` map holds the families the section writes
    /// (most sections have none: no allocation, and the diff compares two empty maps).
    fn take_rules(&mut self) -> Map {
        let l = self.line;
        let families = [
            ("http_request", &mut self.http_request),
            ("http_response", &mut self.http_response),
            ("http_after_response", &mut self.http_after_response),
            ("tcp_response", &mut self.tcp_response),
            ("redirect", &mut self.redirect),
            ("use_server", &mut self.use_server),
            ("stick", &mut self.stick),
        ];
        let used = families.iter().filter(|(_, v)| !v.is_empty()).count()
            + usize::from(!self.tcp_request.is_empty());
        let mut r = Map::with_capacity(used);
        for (key, list) in families {
            if !list.is_empty() {
                r.push(key, Node::ordered_list(l, take_list(list)));
            }
            if key == "http_after_response" && !self.tcp_request.is_empty() {
                // One sequence per phase: rules of different phases never compete, so the
                // list holds the phases in the order HAProxy runs them, each in declaration
                // order.
                self.tcp_request.sort_by_key(|(phase, _)| *phase);
                let mut rules = Vec::with_capacity(self.tcp_request.len());
                rules.extend(self.tcp_request.drain(..).map(|(_, n)| n));
                r.push("tcp_request", Node::ordered_list(l, rules));
            }
        }
        r
    }
}

/// The optional keys of a section's map: those that belong to its kind, and any other the
/// section uses anyway.
struct Keys {
    maxconn: bool,
    bind: bool,
    acls: bool,
    default_backend: bool,
    use_backend: bool,
    balance: bool,
    servers: bool,
    default_server: bool,
    http_check: bool,
    tcp_check: bool,
}

impl Keys {
    fn of(p: &Proxy) -> Keys {
        let k = p.kind;
        let is_defaults = k == ProxyKind::Defaults;
        let backs = k.backs() || is_defaults;
        Keys {
            maxconn: k != ProxyKind::Backend || p.maxconn.is_some(),
            bind: k.fronts() || !p.bind.is_empty(),
            acls: !is_defaults || !p.acls.is_empty(),
            default_backend: k.fronts() || is_defaults || p.default_backend.is_some(),
            use_backend: k.fronts() || !p.use_backend.is_empty(),
            balance: backs || p.balance.is_some(),
            servers: k.backs() || !p.servers.is_empty(),
            default_server: backs || p.default_server.is_some(),
            http_check: backs || !p.http_check.is_empty(),
            tcp_check: backs || !p.tcp_check.is_empty(),
        }
    }

    /// How many keys the section's map has.
    fn count(&self) -> usize {
        [
            self.maxconn,
            self.bind,
            self.acls,
            self.default_backend,
            self.use_backend,
            self.balance,
            self.servers,
            self.default_server,
            self.http_check,
            self.tcp_check,
        ]
        .iter()
        .filter(|&&b| b)
        .count()
    }
}

/// The algorithm word of a `balance` value (`hdr(host)` of `hdr(host) use_domain_only`).
pub(super) fn balance_algorithm(node: &Node) -> Option<&str> {
    match &node.value {
        Value::Str(s) => s.split_whitespace().next(),
        _ => None,
    }
}

/// Balance algorithms that pick a server by its numeric id, which is its position in the
/// section unless `id` is written: `first` fills servers in id order; the hash-based ones
/// (`source`, `uri`, `url_param`, `hdr(...)`, `rdp-cookie`, `hash`) map a client to a server
/// through the ids (`hash-type map-based` by position, `consistent` with the default
/// `hash-key id`), so reordering servers moves clients to other servers.
pub(super) fn order_sensitive_balance(algo: &str) -> bool {
    matches!(algo, "first" | "source" | "uri" | "url_param" | "hash")
        || algo.starts_with("hdr(")
        || algo.starts_with("rdp-cookie")
}

/// Puts the `acl` lines that share a name (HAProxy ORs them: their order is no behaviour) in
/// the order of their text, so the diff, which tells them apart by order (`is_api`,
/// `is_api#2`), sees no change when they are reordered. Lines with unique names keep their
/// place.
fn sort_repeated_acls(acls: &mut [Node]) {
    if acls.len() < 2 {
        return;
    }
    fn name(n: &Node) -> &str {
        n.get("name").and_then(Node::as_str).unwrap_or("")
    }
    // Repeated names, found by sorting the names (no hashing: nearly every section has none).
    let mut sorted: Vec<&str> = acls.iter().map(name).collect();
    sorted.sort_unstable();
    let mut repeated: Vec<&str> = Vec::new();
    for w in sorted.windows(2) {
        if w[0] == w[1] && repeated.last() != Some(&w[0]) {
            repeated.push(w[0]);
        }
    }
    if repeated.is_empty() {
        return;
    }
    let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, a) in acls.iter().enumerate() {
        if repeated.binary_search(&name(a)).is_ok() {
            groups.entry(name(a).to_string()).or_default().push(i);
        }
    }
    let text = |n: &Node| {
        let f = |k: &str| {
            n.get(k)
                .map(|v| v.value.display_short())
                .unwrap_or_default()
        };
        (f("criterion"), f("pattern"))
    };
    for (_, slots) in groups {
        let mut items: Vec<Node> = slots
            .iter()
            .map(|&i| std::mem::replace(&mut acls[i], Node::null(0)))
            .collect();
        items.sort_by_cached_key(text);
        for (slot, item) in slots.into_iter().zip(items) {
            acls[slot] = item;
        }
    }
}

pub(super) fn opt_str(line: u32, s: Option<String>) -> Node {
    match s {
        Some(s) => Node::str(line, s),
        None => Node::null(line),
    }
}
