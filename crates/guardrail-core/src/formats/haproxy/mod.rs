//! HAProxy (`haproxy.cfg`) parser: sections and their directives into the documented tree
//! (`docs/formats.md`, section HAProxy).
//!
//! One pass over the lines. A section keyword (`global`, `defaults`, `frontend`, `backend`,
//! `listen`, `userlist`, `resolvers`, ...) opens a section that runs to the next one. In proxy
//! sections the directives that decide routing, capacity and health checks are parsed into
//! fields (`mode`, `bind`, `acls`, `default_backend`, `use_backend`, `balance`, `servers`,
//! `default_server`, `option`, `timeout`, `http-check`, `tcp-check`), and the rule families
//! whose order is behaviour get ordered lists of their own in a `rules` map (`http_request`,
//! `http_response`, `http_after_response`, `tcp_request` by phase, `tcp_response`, `redirect`,
//! `use_server`, `stick`); every other line is kept, comments stripped and whitespace
//! normalised, in the section's `directives` list. Each source line lands in exactly one place
//! of the tree, so a change is reported once. Which lists are ordered, and why, is in
//! docs/formats.md.
//!
//! Secrets (`stats auth` passwords, userlist passwords, secret header values, URL credentials)
//! become [`Value::Secret`] and their byte ranges go to [`Document::secret_spans`].
//!
//! Speed (the format is held to the 100 MB/s parse target; on the bench's 20,000-line file a
//! parse went from 7.9 to 5.3 ms): the tokenizer finds each line's end itself and scans words
//! eight bytes at a time (`memchr` searches for at most three bytes; a word ends at any of
//! ten), and on the way notes whether the line has quotes or escapes (else no word needs
//! unquoting) and whether a colon may start a secret (else the secret search skips the colon
//! scan). A line's first word is classified once into a `Kw`, by a `match` on bytes (a
//! `match` on `&str` calls `memcmp` keyword after keyword: 6.1 against 5.4 ms a parse). One
//! `Proxy` value is reused for every section, so its lists are copied once into vectors of
//! their final size; section names are checked against a set of names borrowed from the text;
//! `option` and `timeout` keys are static strings for HAProxy's own names; nothing is formatted
//! unless a diagnostic needs it. A parse makes 56,000 allocations instead of 67,000 and 2,100
//! reallocations; allocating and dropping the tree remain about 40% of the time.

mod server;
mod text;

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::ops::Range;

use crate::document::{Diagnostic, Document, Format, Key, Map, Node, Value};
use crate::formats::lines::Line;

use text::{Tok, Words, find_secrets, tokenize_line, value};

/// How many `haproxy.outside-section` errors are reported one by one before a summary.
const MAX_OUTSIDE_REPORTS: usize = 10;

/// Parses HAProxy configuration text into a document. Never panics.
pub fn parse(text: &str) -> Document {
    let mut p = Parser::default();
    // Buffers reused from line to line. They live here, not in the parser: moving them out of
    // it and back for each line made the next line read them back right after narrower writes
    // (a store-forwarding stall: perf put an eighth of this function's samples on that load).
    let mut words = Words::default();
    let mut secrets = Vec::new();
    // Lines as `formats::lines` splits them; the tokenizer finds where each one ends.
    let mut start = 0;
    let mut number = 0u32;
    while start < text.len() {
        number += 1;
        let (end, next) = tokenize_line(text, start, &mut words);
        let line = Line {
            number,
            offset: start,
            text: text.get(start..end).unwrap_or(""),
        };
        p.line(line, &words, &mut secrets);
        start = next;
    }
    p.finish()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProxyKind {
    Defaults,
    Frontend,
    Backend,
    Listen,
}

impl ProxyKind {
    fn keyword(self) -> &'static str {
        match self {
            ProxyKind::Defaults => "defaults",
            ProxyKind::Frontend => "frontend",
            ProxyKind::Backend => "backend",
            ProxyKind::Listen => "listen",
        }
    }

    fn fronts(self) -> bool {
        matches!(self, ProxyKind::Frontend | ProxyKind::Listen)
    }

    fn backs(self) -> bool {
        matches!(self, ProxyKind::Backend | ProxyKind::Listen)
    }
}

/// What the first word of a line is: a section keyword, a proxy directive the tree has a field
/// for, or anything else. Found once per line, so the rest of the parser compares small
/// integers rather than strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kw {
    Global,
    Proxy(ProxyKind),
    /// Section keywords other than the proxies and `global`, kept generically: the keyword as
    /// a `&'static str`.
    Section(&'static str),
    Mode,
    Balance,
    DefaultBackend,
    Maxconn,
    Disabled,
    Enabled,
    Bind,
    Acl,
    UseBackend,
    Server,
    ServerTemplate,
    DefaultServer,
    Option,
    No,
    Timeout,
    HttpCheck,
    TcpCheck,
    /// Rule families whose order is behaviour (each its own ordered list).
    HttpRequest,
    HttpResponse,
    HttpAfterResponse,
    TcpRequest,
    TcpResponse,
    Redirect,
    UseServer,
    Stick,
    Other,
}

/// The kind of a line's first word. Every keyword here passes [`looks_like_keyword`].
fn classify(w: &[u8]) -> Kw {
    match w {
        b"global" => Kw::Global,
        b"defaults" => Kw::Proxy(ProxyKind::Defaults),
        b"frontend" => Kw::Proxy(ProxyKind::Frontend),
        b"backend" => Kw::Proxy(ProxyKind::Backend),
        b"listen" => Kw::Proxy(ProxyKind::Listen),
        b"userlist" => Kw::Section("userlist"),
        b"resolvers" => Kw::Section("resolvers"),
        b"peers" => Kw::Section("peers"),
        b"mailers" => Kw::Section("mailers"),
        b"cache" => Kw::Section("cache"),
        b"program" => Kw::Section("program"),
        b"http-errors" => Kw::Section("http-errors"),
        b"ring" => Kw::Section("ring"),
        b"log-forward" => Kw::Section("log-forward"),
        b"fcgi-app" => Kw::Section("fcgi-app"),
        b"crt-store" => Kw::Section("crt-store"),
        b"traces" => Kw::Section("traces"),
        b"acme" => Kw::Section("acme"),
        b"mode" => Kw::Mode,
        b"balance" => Kw::Balance,
        b"default_backend" => Kw::DefaultBackend,
        b"maxconn" => Kw::Maxconn,
        b"disabled" => Kw::Disabled,
        b"enabled" => Kw::Enabled,
        b"bind" => Kw::Bind,
        b"acl" => Kw::Acl,
        b"use_backend" => Kw::UseBackend,
        b"server" => Kw::Server,
        b"server-template" => Kw::ServerTemplate,
        b"default-server" => Kw::DefaultServer,
        b"option" => Kw::Option,
        b"no" => Kw::No,
        b"timeout" => Kw::Timeout,
        b"http-check" => Kw::HttpCheck,
        b"tcp-check" => Kw::TcpCheck,
        b"http-request" => Kw::HttpRequest,
        b"http-response" => Kw::HttpResponse,
        b"http-after-response" => Kw::HttpAfterResponse,
        b"tcp-request" => Kw::TcpRequest,
        b"tcp-response" => Kw::TcpResponse,
        b"redirect" => Kw::Redirect,
        b"use-server" => Kw::UseServer,
        b"stick" => Kw::Stick,
        _ => Kw::Other,
    }
}

/// A map key for an `option` name: the static name of a common option (no allocation), else
/// a copy.
fn option_key(name: &str) -> Key {
    Key::Borrowed(match name {
        "abortonclose" => "abortonclose",
        "accept-invalid-http-request" => "accept-invalid-http-request",
        "accept-invalid-http-response" => "accept-invalid-http-response",
        "allbackups" => "allbackups",
        "checkcache" => "checkcache",
        "clitcpka" => "clitcpka",
        "contstats" => "contstats",
        "disable-h2-upgrade" => "disable-h2-upgrade",
        "dontlog-normal" => "dontlog-normal",
        "dontlognull" => "dontlognull",
        "external-check" => "external-check",
        "forwardfor" => "forwardfor",
        "h1-case-adjust-bogus-client" => "h1-case-adjust-bogus-client",
        "h1-case-adjust-bogus-server" => "h1-case-adjust-bogus-server",
        "http-buffer-request" => "http-buffer-request",
        "http-ignore-probes" => "http-ignore-probes",
        "http-keep-alive" => "http-keep-alive",
        "http-no-delay" => "http-no-delay",
        "http-pretend-keepalive" => "http-pretend-keepalive",
        "http-server-close" => "http-server-close",
        "http-use-proxy-header" => "http-use-proxy-header",
        "httpchk" => "httpchk",
        "httpclose" => "httpclose",
        "httplog" => "httplog",
        "httpslog" => "httpslog",
        "http_proxy" => "http_proxy",
        "independent-streams" => "independent-streams",
        "ldap-check" => "ldap-check",
        "log-health-checks" => "log-health-checks",
        "log-separate-errors" => "log-separate-errors",
        "logasap" => "logasap",
        "mysql-check" => "mysql-check",
        "nolinger" => "nolinger",
        "originalto" => "originalto",
        "persist" => "persist",
        "pgsql-check" => "pgsql-check",
        "prefer-last-server" => "prefer-last-server",
        "redis-check" => "redis-check",
        "redispatch" => "redispatch",
        "smtpchk" => "smtpchk",
        "socket-stats" => "socket-stats",
        "splice-auto" => "splice-auto",
        "splice-request" => "splice-request",
        "splice-response" => "splice-response",
        "spop-check" => "spop-check",
        "srvtcpka" => "srvtcpka",
        "ssl-hello-chk" => "ssl-hello-chk",
        "tcp-check" => "tcp-check",
        "tcp-smart-accept" => "tcp-smart-accept",
        "tcp-smart-connect" => "tcp-smart-connect",
        "tcpka" => "tcpka",
        "tcplog" => "tcplog",
        "transparent" => "transparent",
        _ => return Key::Owned(name.to_string()),
    })
}

/// A map key for a `timeout` name: static for HAProxy's timeouts, else a copy.
fn timeout_key(name: &str) -> Key {
    Key::Borrowed(match name {
        "check" => "check",
        "client" => "client",
        "client-fin" => "client-fin",
        "client-hs" => "client-hs",
        "connect" => "connect",
        "http-keep-alive" => "http-keep-alive",
        "http-request" => "http-request",
        "queue" => "queue",
        "server" => "server",
        "server-fin" => "server-fin",
        "tarpit" => "tarpit",
        "tunnel" => "tunnel",
        _ => return Key::Owned(name.to_string()),
    })
}

/// A proxy section (`defaults`, `frontend`, `backend`, `listen`) being read. One value is
/// reused for every proxy section: [`Proxy::take_node`] moves the fields out, and the lists
/// keep their buffers, so each section's lists are allocated once at their final size.
struct Proxy {
    kind: ProxyKind,
    line: u32,
    name: Option<String>,
    from: Option<String>,
    disabled: Option<Node>,
    mode: Option<Node>,
    maxconn: Option<Node>,
    balance: Option<Node>,
    default_backend: Option<Node>,
    bind: Vec<Node>,
    acls: Vec<Node>,
    use_backend: Vec<Node>,
    servers: Vec<Node>,
    default_server: Option<(u32, Map)>,
    http_check: Vec<Node>,
    tcp_check: Vec<Node>,
    http_request: Vec<Node>,
    http_response: Vec<Node>,
    http_after_response: Vec<Node>,
    /// `tcp-request` rules with their phase rank (connection, session, content), sorted by
    /// phase when the section closes: each phase is its own sequence.
    tcp_request: Vec<(u8, Node)>,
    tcp_response: Vec<Node>,
    redirect: Vec<Node>,
    use_server: Vec<Node>,
    stick: Vec<Node>,
    options: Map,
    timeouts: Map,
    directives: Vec<Node>,
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
fn take_list(v: &mut Vec<Node>) -> Vec<Node> {
    let mut out = Vec::with_capacity(v.len());
    out.append(v);
    out
}

impl Proxy {
    /// Starts a section: every field empty (the lists keep their buffers).
    fn start(&mut self, kind: ProxyKind, line: u32) {
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
    fn take_node(&mut self, servers_ordered: bool) -> Node {
        let k = self.kind;
        let l = self.line;
        let is_defaults = k == ProxyKind::Defaults;
        let backs = k.backs() || is_defaults;
        let has_maxconn = k != ProxyKind::Backend || self.maxconn.is_some();
        let has_bind = k.fronts() || !self.bind.is_empty();
        let has_acls = !is_defaults || !self.acls.is_empty();
        let has_default_backend = k.fronts() || is_defaults || self.default_backend.is_some();
        let has_use_backend = k.fronts() || !self.use_backend.is_empty();
        let has_balance = backs || self.balance.is_some();
        let has_servers = k.backs() || !self.servers.is_empty();
        let has_default_server = backs || self.default_server.is_some();
        let has_http_check = backs || !self.http_check.is_empty();
        let has_tcp_check = backs || !self.tcp_check.is_empty();
        // name, from, disabled, mode, rules, options, timeouts, directives and the optional
        // keys: the map is allocated at its final size.
        let len = 8 + [
            has_maxconn,
            has_bind,
            has_acls,
            has_default_backend,
            has_use_backend,
            has_balance,
            has_servers,
            has_default_server,
            has_http_check,
            has_tcp_check,
        ]
        .iter()
        .filter(|&&b| b)
        .count();
        let mut m = Map::with_capacity(len);
        m.push("name", opt_str(l, self.name.take()));
        m.push("from", opt_str(l, self.from.take()));
        m.push(
            "disabled",
            self.disabled.take().unwrap_or(Node::bool(l, false)),
        );
        m.push("mode", self.mode.take().unwrap_or(Node::null(l)));
        if has_maxconn {
            m.push("maxconn", self.maxconn.take().unwrap_or(Node::null(l)));
        }
        if has_bind {
            m.push("bind", Node::unordered_list(l, take_list(&mut self.bind)));
        }
        if has_acls {
            sort_repeated_acls(&mut self.acls);
            m.push("acls", Node::unordered_list(l, take_list(&mut self.acls)));
        }
        if has_default_backend {
            m.push(
                "default_backend",
                self.default_backend.take().unwrap_or(Node::null(l)),
            );
        }
        if has_use_backend {
            // HAProxy applies the first `use_backend` whose condition matches.
            m.push(
                "use_backend",
                Node::ordered_list(l, take_list(&mut self.use_backend)),
            );
        }
        if has_balance {
            m.push("balance", self.balance.take().unwrap_or(Node::null(l)));
        }
        if has_servers {
            let servers = take_list(&mut self.servers);
            let node = if servers_ordered {
                Node::ordered_list(l, servers)
            } else {
                Node::unordered_list(l, servers)
            };
            m.push("servers", node);
        }
        if has_default_server {
            m.push(
                "default_server",
                self.default_server
                    .take()
                    .map_or(Node::null(l), |(line, map)| Node::map(line, map)),
            );
        }
        // A check is a sequence of steps (`connect`, `send`, `expect`...).
        if has_http_check {
            m.push(
                "http_check",
                Node::ordered_list(l, take_list(&mut self.http_check)),
            );
        }
        if has_tcp_check {
            m.push(
                "tcp_check",
                Node::ordered_list(l, take_list(&mut self.tcp_check)),
            );
        }
        // Rule families: each runs its rules in declaration order (first final action wins).
        // Like `options`, the `rules` map holds the families the section writes (most
        // sections have none: no allocation, and the diff compares two empty maps).
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
        m.push("rules", Node::map(l, r));
        m.push("options", Node::map(l, std::mem::take(&mut self.options)));
        m.push("timeouts", Node::map(l, std::mem::take(&mut self.timeouts)));
        m.push(
            "directives",
            Node::unordered_list(l, take_list(&mut self.directives)),
        );
        Node::map(l, m)
    }
}

/// The algorithm word of a `balance` value (`hdr(host)` of `hdr(host) use_domain_only`).
fn balance_algorithm(node: &Node) -> Option<&str> {
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
fn order_sensitive_balance(algo: &str) -> bool {
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

fn opt_str(line: u32, s: Option<String>) -> Node {
    match s {
        Some(s) => Node::str(line, s),
        None => Node::null(line),
    }
}

/// A section kept generically (`userlist`, `resolvers`, `peers`, ...).
#[derive(Default)]
struct Other {
    line: u32,
    kind: &'static str,
    name: Option<String>,
    args: Option<Value>,
    directives: Vec<Node>,
}

/// The section being read. A proxy's or other section's contents are in [`Parser::proxy`] or
/// [`Parser::other`], so nothing moves when a line is added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Section {
    #[default]
    None,
    Global,
    Proxy,
    Other,
}

#[derive(Default)]
struct Parser<'a> {
    diagnostics: Vec<Diagnostic>,
    secret_spans: Vec<Range<usize>>,
    section: Section,
    proxy: Proxy,
    other: Other,
    global_line: Option<u32>,
    global_maxconn: Option<Node>,
    global_directives: Vec<Node>,
    defaults: Vec<Node>,
    frontends: Vec<Node>,
    backends: Vec<Node>,
    listens: Vec<Node>,
    sections: Vec<Node>,
    outside: Vec<Node>,
    /// First line of each section name, per namespace: `f` names that receive traffic
    /// (frontends, listens), `b` names traffic is routed to (backends, listens), `d`
    /// defaults, the keyword of other sections. Names are borrowed from the text unless
    /// quoting made them differ.
    names: HashMap<(&'static str, Cow<'a, str>), u32>,
    /// Non-blank, non-comment lines.
    meaningful: usize,
    /// Lines that are not HAProxy: outside any section, or not starting with a keyword.
    foreign: usize,
    first_foreign: u32,
    outside_errors: usize,
    outside_first_unreported: u32,
    /// The balance algorithm of the last `defaults` section (what a later proxy without its
    /// own `balance` and without `from` uses), and of each named `defaults` section.
    defaults_balance: Option<String>,
    named_balance: HashMap<String, Option<String>>,
}

/// Reports a single-valued directive given again; the earlier one is kept in `directives`
/// (as written, reconstructed) so its line is not lost. HAProxy uses the last one.
fn replaced(
    diagnostics: &mut Vec<Diagnostic>,
    old: Node,
    what: &str,
    line: u32,
    directives: &mut Vec<Node>,
) {
    diagnostics.push(Diagnostic::warning(
        "haproxy.duplicate-directive",
        line,
        format!(
            "`{what}` is set again (first on line {}); HAProxy uses the last one",
            old.line
        ),
    ));
    let text = match &old.value {
        Value::Str(s) => Value::Str(format!("{what} {s}")),
        Value::Int(i) => Value::Str(format!("{what} {i}")),
        Value::Bool(true) => Value::Str(what.to_string()),
        Value::Bool(false) => Value::Str(format!("no {what}")),
        other => other.clone(),
    };
    directives.push(Node::new(old.line, text));
}

impl<'a> Parser<'a> {
    fn line(&mut self, line: Line<'a>, words: &Words, secrets: &mut Vec<Range<usize>>) {
        if !words.toks.is_empty() {
            self.meaningful += 1;
            if !words.closed {
                self.diagnostics.push(Diagnostic::error(
                    "haproxy.unterminated-quote",
                    line.number,
                    "a quote is not closed on this line; HAProxy refuses it",
                ));
            }
            self.directive(&line, words, secrets);
        }
    }

    fn directive(&mut self, line: &Line<'a>, words: &Words, secrets: &mut Vec<Range<usize>>) {
        let first = words.toks[0].bytes(line.text);
        let kw = classify(first);
        let keywordish = kw != Kw::Other || looks_like_keyword(first);
        if !keywordish {
            self.foreign(line.number);
        }
        match kw {
            Kw::Global => return self.open_global(line),
            Kw::Proxy(kind) => return self.open_proxy(kind, line, words),
            Kw::Section(kind) => return self.open_other(kind, line, words),
            _ => {}
        }
        let in_userlist = self.section == Section::Other && self.other.kind == "userlist";
        find_secrets(line.text, words, in_userlist, secrets);
        for r in secrets.iter() {
            self.secret_spans
                .push(line.offset + r.start..line.offset + r.end);
        }
        match self.section {
            Section::None => self.outside_directive(line, words, secrets, keywordish),
            Section::Global => self.global_directive(line, kw, words, secrets),
            Section::Proxy => self.proxy_directive(line, kw, words, secrets),
            Section::Other => self.other.directives.push(Node::new(
                line.number,
                value(line.text, &words.toks, secrets),
            )),
        }
    }

    fn foreign(&mut self, number: u32) {
        if self.foreign == 0 {
            self.first_foreign = number;
        }
        self.foreign += 1;
    }

    fn outside_directive(
        &mut self,
        line: &Line<'_>,
        words: &Words,
        secrets: &[Range<usize>],
        keywordish: bool,
    ) {
        let toks = &words.toks[..];
        let kw = toks[0].text(line.text);
        // `.if`/`.else`/`.endif`/`.notice`... may wrap whole sections.
        if !kw.starts_with('.') {
            if keywordish {
                self.foreign(line.number);
            }
            self.outside_errors += 1;
            if self.outside_errors <= MAX_OUTSIDE_REPORTS {
                self.diagnostics.push(Diagnostic::error(
                    "haproxy.outside-section",
                    line.number,
                    format!(
                        "`{}` is outside any section; put it under `global`, `defaults`, `frontend`, `backend` or `listen`",
                        short(kw)
                    ),
                ));
            } else if self.outside_errors == MAX_OUTSIDE_REPORTS + 1 {
                self.outside_first_unreported = line.number;
            }
        }
        self.outside
            .push(Node::new(line.number, value(line.text, toks, secrets)));
    }

    fn global_directive(
        &mut self,
        line: &Line<'_>,
        kw: Kw,
        words: &Words,
        secrets: &[Range<usize>],
    ) {
        if kw == Kw::Maxconn
            && let Some(n) = self.int_arg(line, words)
        {
            if let Some(old) = self.global_maxconn.replace(n) {
                replaced(
                    &mut self.diagnostics,
                    old,
                    "maxconn",
                    line.number,
                    &mut self.global_directives,
                );
            }
            return;
        }
        self.global_directives.push(Node::new(
            line.number,
            value(line.text, &words.toks, secrets),
        ));
    }

    /// The single integer argument of `maxconn N`, or a warning and `None`.
    fn int_arg(&mut self, line: &Line<'_>, words: &Words) -> Option<Node> {
        let toks = &words.toks[..];
        if toks.len() == 2
            && let Ok(n) = words.unquote(line.text, toks[1]).parse::<i64>()
        {
            return Some(Node::int(line.number, n));
        }
        let kw = toks[0].text(line.text);
        self.diagnostics.push(Diagnostic::warning(
            "haproxy.directive-syntax",
            line.number,
            format!("`{kw}` takes one integer; the line is kept as written"),
        ));
        None
    }

    fn proxy_directive(
        &mut self,
        line: &Line<'_>,
        kw: Kw,
        words: &Words,
        secrets: &[Range<usize>],
    ) {
        let t = line.text;
        let n = line.number;
        let toks = &words.toks[..];
        let args = &toks[1..];
        let rest = |toks: &[Tok]| Node::new(n, value(t, toks, secrets));
        let p = &mut self.proxy;
        let diagnostics = &mut self.diagnostics;
        match kw {
            Kw::Mode | Kw::Balance | Kw::DefaultBackend if !args.is_empty() => {
                let (slot, what) = match kw {
                    Kw::Mode => (&mut p.mode, "mode"),
                    Kw::Balance => (&mut p.balance, "balance"),
                    _ => (&mut p.default_backend, "default_backend"),
                };
                let node = if kw == Kw::DefaultBackend {
                    Node::str(n, words.unquote(t, args[0]).into_owned())
                } else {
                    rest(args)
                };
                if let Some(old) = slot.replace(node) {
                    replaced(diagnostics, old, what, n, &mut p.directives);
                }
            }
            Kw::Maxconn => match self.int_arg(line, words) {
                Some(node) => {
                    let p = &mut self.proxy;
                    if let Some(old) = p.maxconn.replace(node) {
                        replaced(&mut self.diagnostics, old, "maxconn", n, &mut p.directives);
                    }
                }
                None => self.proxy.directives.push(rest(toks)),
            },
            Kw::Disabled if args.is_empty() => p.disabled = Some(Node::bool(n, true)),
            Kw::Enabled if args.is_empty() => p.disabled = Some(Node::bool(n, false)),
            Kw::Bind if !args.is_empty() => {
                let b = Map::from_entries([
                    (
                        "address",
                        Node::str(n, words.unquote(t, args[0]).into_owned()),
                    ),
                    ("options", rest(&args[1..])),
                ]);
                p.bind.push(Node::map(n, b));
            }
            Kw::Acl if args.len() >= 2 => {
                let a = Map::from_entries([
                    ("name", Node::str(n, words.unquote(t, args[0]).into_owned())),
                    ("criterion", rest(&args[1..2])),
                    ("pattern", rest(&args[2..])),
                ]);
                p.acls.push(Node::map(n, a));
            }
            Kw::UseBackend if !args.is_empty() => {
                let cond_at = args
                    .iter()
                    .position(|a| matches!(a.bytes(t), b"if" | b"unless"))
                    .unwrap_or(args.len());
                if cond_at == 0 {
                    syntax(
                        diagnostics,
                        n,
                        "`use_backend` needs a backend name before `if`/`unless`",
                    );
                    p.directives.push(rest(toks));
                    return;
                }
                let backend = if cond_at == 1 {
                    words.unquote(t, args[0]).into_owned()
                } else {
                    text::join(t, &args[..cond_at])
                };
                let dynamic = backend.contains("%[");
                let condition = if cond_at < args.len() {
                    rest(&args[cond_at..])
                } else {
                    Node::null(n)
                };
                let r = Map::from_entries([
                    ("line", rest(args)),
                    ("backend", Node::str(n, backend)),
                    ("condition", condition),
                    ("dynamic", Node::bool(n, dynamic)),
                ]);
                p.use_backend.push(Node::map(n, r));
            }
            Kw::Server | Kw::ServerTemplate => {
                let mut warnings = Vec::new();
                let template = kw == Kw::ServerTemplate;
                match server::parse_server(t, n, words, template, &mut p.servers, &mut warnings) {
                    Ok(()) => {
                        for w in warnings {
                            diagnostics.push(Diagnostic::warning("haproxy.server-syntax", n, w));
                        }
                    }
                    Err(why) => {
                        diagnostics.push(Diagnostic::warning(
                            "haproxy.server-syntax",
                            n,
                            format!("{why}; the line is kept as written in `directives`"),
                        ));
                        p.directives.push(rest(toks));
                    }
                }
            }
            Kw::DefaultServer => {
                let (_, map) = p.default_server.get_or_insert_with(|| (n, Map::new()));
                match server::merge_default_server(t, n, words, map) {
                    Ok(again) => {
                        for k in again {
                            diagnostics.push(Diagnostic::warning(
                                "haproxy.duplicate-directive",
                                n,
                                format!(
                                    "`default-server` sets `{k}` again; HAProxy uses the last one"
                                ),
                            ));
                        }
                    }
                    Err(why) => {
                        diagnostics.push(Diagnostic::warning(
                            "haproxy.server-syntax",
                            n,
                            format!("{why}; the line is kept as written in `directives`"),
                        ));
                        p.directives.push(rest(toks));
                    }
                }
                if p.default_server.as_ref().is_some_and(|(_, m)| m.is_empty()) {
                    p.default_server = None;
                }
            }
            Kw::Option if !args.is_empty() => {
                let name = args[0].text(t);
                let v = if args.len() == 1 {
                    Node::bool(n, true)
                } else {
                    rest(&args[1..])
                };
                if let Some(old) = p.options.insert(option_key(name), v) {
                    let what = format!("option {name}");
                    replaced(diagnostics, old, &what, n, &mut p.directives);
                }
            }
            Kw::No if args.len() == 2 && args[0].bytes(t) == b"option" => {
                let name = args[1].text(t);
                if let Some(old) = p.options.insert(option_key(name), Node::bool(n, false)) {
                    let what = format!("option {name}");
                    replaced(diagnostics, old, &what, n, &mut p.directives);
                }
            }
            Kw::Timeout if args.len() >= 2 => {
                let name = args[0].text(t);
                if let Some(old) = p.timeouts.insert(timeout_key(name), rest(&args[1..])) {
                    let what = format!("timeout {name}");
                    replaced(diagnostics, old, &what, n, &mut p.directives);
                }
            }
            Kw::HttpCheck if !args.is_empty() => p.http_check.push(rest(args)),
            Kw::TcpCheck if !args.is_empty() => p.tcp_check.push(rest(args)),
            Kw::HttpRequest if !args.is_empty() => p.http_request.push(rest(args)),
            Kw::HttpResponse if !args.is_empty() => p.http_response.push(rest(args)),
            Kw::HttpAfterResponse if !args.is_empty() => p.http_after_response.push(rest(args)),
            Kw::Redirect if !args.is_empty() => p.redirect.push(rest(args)),
            Kw::UseServer if !args.is_empty() => p.use_server.push(rest(args)),
            Kw::Stick if !args.is_empty() => p.stick.push(rest(args)),
            Kw::TcpRequest | Kw::TcpResponse
                if !args.is_empty() && args[0].bytes(t) != b"inspect-delay" =>
            {
                if kw == Kw::TcpResponse {
                    p.tcp_response.push(rest(args));
                } else {
                    let phase = match args[0].bytes(t) {
                        b"connection" => 0,
                        b"session" => 1,
                        b"content" => 2,
                        _ => 3,
                    };
                    p.tcp_request.push((phase, rest(args)));
                }
            }
            Kw::Mode
            | Kw::Balance
            | Kw::DefaultBackend
            | Kw::Bind
            | Kw::Acl
            | Kw::UseBackend
            | Kw::Option
            | Kw::Timeout
            | Kw::HttpCheck
            | Kw::TcpCheck
            | Kw::HttpRequest
            | Kw::HttpResponse
            | Kw::HttpAfterResponse
            | Kw::Redirect
            | Kw::UseServer
            | Kw::Stick
                if args.is_empty() =>
            {
                let kw = toks[0].text(t);
                syntax(
                    diagnostics,
                    n,
                    &format!("`{kw}` is missing its arguments; the line is kept as written"),
                );
                p.directives.push(rest(toks));
            }
            _ => p.directives.push(rest(toks)),
        }
    }

    /// Whether the section being closed routes by server position: its balance algorithm (its
    /// own, else that of the `defaults` section it takes its settings from) picks servers by
    /// their id, which is their position unless `id` is set. Records a `defaults` section's
    /// algorithm for the sections after it.
    fn servers_ordered(&mut self) -> bool {
        let p = &self.proxy;
        let own = p.balance.as_ref().and_then(balance_algorithm);
        if p.kind == ProxyKind::Defaults {
            let algo = match (own, &p.from) {
                (Some(a), _) => Some(a.to_string()),
                (None, Some(from)) => self.named_balance.get(from.as_str()).cloned().flatten(),
                (None, None) => None,
            };
            if let Some(name) = &p.name {
                self.named_balance.insert(name.clone(), algo.clone());
            }
            self.defaults_balance = algo;
            return false;
        }
        if !p.kind.backs() {
            return false;
        }
        let inherited = || match &p.from {
            Some(from) => self
                .named_balance
                .get(from.as_str())
                .and_then(|a| a.as_deref()),
            None => self.defaults_balance.as_deref(),
        };
        own.or_else(inherited).is_some_and(order_sensitive_balance)
    }

    fn syntax(&mut self, line: u32, msg: &str) {
        syntax(&mut self.diagnostics, line, msg);
    }

    fn close(&mut self) {
        match std::mem::take(&mut self.section) {
            Section::Proxy => {
                let kind = self.proxy.kind;
                let ordered = self.servers_ordered();
                let node = self.proxy.take_node(ordered);
                match kind {
                    ProxyKind::Defaults => self.defaults.push(node),
                    ProxyKind::Frontend => self.frontends.push(node),
                    ProxyKind::Backend => self.backends.push(node),
                    ProxyKind::Listen => self.listens.push(node),
                }
            }
            Section::Other => {
                let o = &mut self.other;
                let mut m = Map::with_capacity(if o.args.is_some() { 4 } else { 3 });
                m.push("name", opt_str(o.line, o.name.take()));
                m.push("kind", Node::str(o.line, o.kind));
                if let Some(a) = o.args.take() {
                    m.push("args", Node::new(o.line, a));
                }
                m.push(
                    "directives",
                    Node::unordered_list(o.line, take_list(&mut o.directives)),
                );
                self.sections.push(Node::map(o.line, m));
            }
            Section::None | Section::Global => {}
        }
    }

    fn open_global(&mut self, line: &Line<'_>) {
        self.close();
        self.global_line.get_or_insert(line.number);
        self.section = Section::Global;
    }

    /// Records a section name; warns when the namespace already has it.
    fn name_seen(&mut self, namespace: &'static str, what: &str, name: Cow<'a, str>, line: u32) {
        match self.names.entry((namespace, name)) {
            Entry::Occupied(e) => {
                let (first, name) = (*e.get(), &e.key().1);
                self.diagnostics.push(Diagnostic::warning(
                    "haproxy.duplicate-section",
                    line,
                    format!("{what} `{name}` is defined again (first on line {first}); give each a unique name"),
                ));
            }
            Entry::Vacant(e) => {
                e.insert(line);
            }
        }
    }

    fn open_proxy(&mut self, kind: ProxyKind, line: &Line<'a>, words: &Words) {
        self.close();
        let t = line.text;
        let n = line.number;
        let toks = &words.toks[..];
        self.proxy.start(kind, n);
        let mut i = 1;
        let mut name = None;
        if let Some(&w) = toks.get(1)
            && !(kind == ProxyKind::Defaults && w.bytes(t) == b"from")
        {
            name = Some(words.unquote(t, w));
            i = 2;
        }
        if toks.get(i).map(|w| w.bytes(t)) == Some(b"from") {
            match toks.get(i + 1) {
                Some(&w) => self.proxy.from = Some(words.unquote(t, w).into_owned()),
                None => self.syntax(n, "`from` needs the name of a defaults section"),
            }
            i += 2;
        }
        let extra = &toks[i.min(toks.len())..];
        match (name, kind) {
            (None, ProxyKind::Defaults) => {}
            (None, _) => self.diagnostics.push(Diagnostic::error(
                "haproxy.section-name",
                n,
                format!("`{}` needs a name", kind.keyword()),
            )),
            (Some(name), _) => {
                let what = kind.keyword();
                if kind == ProxyKind::Defaults {
                    self.name_seen("d", what, name.clone(), n);
                }
                if kind.fronts() {
                    self.name_seen("f", what, name.clone(), n);
                }
                if kind.backs() {
                    self.name_seen("b", what, name.clone(), n);
                }
                self.proxy.name = Some(name.into_owned());
            }
        }
        if !extra.is_empty() {
            if kind.fronts() {
                // `listen stats :8404` / `frontend www 0.0.0.0:80`: an inline bind.
                let b = Map::from_entries([
                    (
                        "address",
                        Node::str(n, words.unquote(t, extra[0]).into_owned()),
                    ),
                    ("options", Node::str(n, text::join(t, &extra[1..]))),
                ]);
                self.proxy.bind.push(Node::map(n, b));
            } else {
                self.syntax(
                    n,
                    &format!(
                        "`{}` takes a name only; the extra words are kept in `directives`",
                        kind.keyword()
                    ),
                );
                self.proxy
                    .directives
                    .push(Node::str(n, text::join(t, extra)));
            }
        }
        self.section = Section::Proxy;
    }

    fn open_other(&mut self, kind: &'static str, line: &Line<'a>, words: &Words) {
        self.close();
        let t = line.text;
        let toks = &words.toks[..];
        let name = toks.get(1).map(|&w| words.unquote(t, w));
        if let Some(name) = &name {
            self.name_seen(kind, kind, name.clone(), line.number);
        }
        let args = (toks.len() > 2).then(|| Value::Str(text::join(t, &toks[2..])));
        let o = &mut self.other;
        o.line = line.number;
        o.kind = kind;
        o.name = name.map(Cow::into_owned);
        o.args = args;
        o.directives.clear();
        self.section = Section::Other;
    }

    fn finish(mut self) -> Document {
        self.close();
        let mut doc = Document::empty(Format::Haproxy);
        if self.meaningful > 0 && self.foreign * 2 > self.meaningful {
            self.diagnostics
                .retain(|d| d.code != "haproxy.outside-section");
            self.diagnostics.insert(
                0,
                Diagnostic::error(
                    "haproxy.not-haproxy",
                    self.first_foreign,
                    format!(
                        "this does not look like an HAProxy configuration: {} of {} lines are not HAProxy directives inside a section",
                        self.foreign, self.meaningful
                    ),
                ),
            );
        } else if self.outside_errors > MAX_OUTSIDE_REPORTS {
            self.diagnostics.push(Diagnostic::error(
                "haproxy.outside-section",
                self.outside_first_unreported,
                format!(
                    "{} more lines are outside any section",
                    self.outside_errors - MAX_OUTSIDE_REPORTS
                ),
            ));
        }
        let gl = self.global_line.unwrap_or(1);
        let global = Map::from_entries([
            ("maxconn", self.global_maxconn.unwrap_or(Node::null(gl))),
            (
                "directives",
                Node::unordered_list(gl, self.global_directives),
            ),
        ]);
        let root = Map::from_entries([
            ("global", Node::map(gl, global)),
            ("defaults", Node::unordered_list(1, self.defaults)),
            ("frontends", Node::unordered_list(1, self.frontends)),
            ("backends", Node::unordered_list(1, self.backends)),
            ("listens", Node::unordered_list(1, self.listens)),
            ("sections", Node::unordered_list(1, self.sections)),
            ("directives", Node::unordered_list(1, self.outside)),
        ]);
        doc.root = Node::map(1, root);
        doc.diagnostics = self.diagnostics;
        doc.secret_spans = self.secret_spans;
        doc
    }
}

fn syntax(diagnostics: &mut Vec<Diagnostic>, line: u32, msg: &str) {
    diagnostics.push(Diagnostic::warning("haproxy.directive-syntax", line, msg));
}

/// HAProxy keywords are lowercase words of letters, digits, `-`, `_` and `.`; JSON, YAML and
/// INI lines start with something else (`{`, `"key":`, `key:`, `[section]`, `key=value`).
fn looks_like_keyword(b: &[u8]) -> bool {
    !b.is_empty()
        && (b[0].is_ascii_lowercase() || b[0] == b'.')
        && b.iter().all(|&c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'_' | b'.')
        })
}

/// A word cut for messages.
fn short(w: &str) -> &str {
    match w.char_indices().nth(40) {
        Some((i, _)) => &w[..i],
        None => w,
    }
}

#[cfg(test)]
mod tests;
