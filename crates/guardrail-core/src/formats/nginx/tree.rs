//! The nginx tree: what each block becomes, and where its directives go.

use std::ops::Range;

use crate::document::{Diagnostic, Map, Node, Value};

use super::text::{Tok, unquote, value};

/// What an open block is, decided by its name and its parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    Root,
    Events,
    Http,
    Stream,
    /// `upstream` in `http` or `stream`, or at the top of a file without them (an included
    /// file of the `http` context).
    Upstream,
    /// `server` in `http`, or at the top of a file without `http` (sites-available, conf.d).
    HttpServer,
    /// `server` in `stream`.
    StreamServer,
    /// `location` in an http `server` or in another `location`.
    Location,
    /// Any other block (`map`, `geo`, `if`, `types`, `limit_except`, `mail`, ...).
    Generic,
}

/// An open block and what has been read of it so far.
pub(super) struct Frame {
    pub kind: Kind,
    pub line: u32,
    /// Indentation of the header line, to point at a likely missing `}`.
    pub indent: usize,
    /// Upstream name, location `<modifier> <path>`.
    name: Option<String>,
    /// Header text of a generic block (`map $host $pool`), its identity.
    header: Option<Value>,
    /// First word of a generic block's header.
    block_kind: String,
    directives: Vec<Node>,
    blocks: Vec<Node>,
    /// The rewrite module's statements (`rewrite`, `return`, `set`, `break`, `if` blocks), run
    /// in order.
    rewrites: Vec<Node>,
    /// `allow` / `deny`, checked in order until the first match.
    access: Vec<Node>,
    upstreams: Vec<Node>,
    servers: Vec<Node>,
    /// Top-level `server` blocks of a file without `http`: kept open until the end decides
    /// whether they are http or stream servers.
    top_servers: Vec<Frame>,
    locations: Vec<Node>,
    listen: Vec<Node>,
    server_names: Vec<Node>,
    proxy_pass: Option<Node>,
    events: Option<Node>,
    http: Option<Node>,
    stream: Option<Node>,
}

impl Frame {
    pub fn new(kind: Kind, line: u32) -> Self {
        Frame {
            kind,
            line,
            indent: 0,
            name: None,
            header: None,
            block_kind: String::new(),
            directives: Vec::new(),
            blocks: Vec::new(),
            rewrites: Vec::new(),
            access: Vec::new(),
            upstreams: Vec::new(),
            servers: Vec::new(),
            top_servers: Vec::new(),
            locations: Vec::new(),
            listen: Vec::new(),
            server_names: Vec::new(),
            proxy_pass: None,
            events: None,
            http: None,
            stream: None,
        }
    }

    /// Opens a block whose header is `toks` (possibly empty) inside a block of kind `parent`.
    pub fn open(
        parent: &Kind,
        src: &str,
        toks: &[Tok],
        secrets: &[Range<usize>],
        line: u32,
    ) -> Frame {
        let name = toks.first().map_or("", |t| t.text(src));
        let kind = match (parent, name) {
            (Kind::Root, "events") => Kind::Events,
            (Kind::Root, "http") => Kind::Http,
            (Kind::Root, "stream") => Kind::Stream,
            (Kind::Http | Kind::Stream | Kind::Root, "upstream") if toks.len() == 2 => {
                Kind::Upstream
            }
            (Kind::Http | Kind::Root, "server") if toks.len() == 1 => Kind::HttpServer,
            (Kind::Stream, "server") if toks.len() == 1 => Kind::StreamServer,
            (Kind::HttpServer | Kind::Location, "location") if toks.len() >= 2 => Kind::Location,
            _ => Kind::Generic,
        };
        let mut f = Frame::new(kind, line);
        match f.kind {
            Kind::Upstream => f.name = Some(unquote(toks[1].text(src)).into_owned()),
            Kind::Location => f.name = Some(location_name(src, &toks[1..])),
            Kind::Generic => {
                f.header = Some(value(src, toks, secrets));
                f.block_kind = name.to_string();
            }
            _ => {}
        }
        f
    }

    /// Files a directive (`toks` non-empty) in this block. Returns diagnostics about it.
    pub fn directive(
        &mut self,
        src: &str,
        toks: &[Tok],
        secrets: &[Range<usize>],
    ) -> Vec<Diagnostic> {
        let name = toks[0].text(src);
        let line = toks[0].line;
        let args = &toks[1..];
        let raw = || Node::new(line, value(src, toks, secrets));
        match (&self.kind, name) {
            (Kind::Upstream, "server") => match upstream_server(src, toks) {
                Ok(node) => self.servers.push(node),
                Err(why) => {
                    self.directives.push(raw());
                    return vec![Diagnostic::warning(
                        "nginx.server-syntax",
                        line,
                        format!("{why}; the line is kept as written in `directives`"),
                    )];
                }
            },
            (Kind::HttpServer | Kind::StreamServer, "listen") if !args.is_empty() => {
                self.listen.push(Node::new(line, value(src, args, secrets)));
            }
            (Kind::HttpServer | Kind::StreamServer, "server_name") => {
                for t in args {
                    self.server_names
                        .push(Node::str(t.line, unquote(t.text(src)).into_owned()));
                }
            }
            (Kind::HttpServer | Kind::Location, "rewrite" | "return" | "set" | "break") => {
                self.rewrites.push(raw());
            }
            (Kind::Generic, "rewrite" | "return" | "set" | "break") if self.block_kind == "if" => {
                self.rewrites.push(raw());
            }
            (
                Kind::Root
                | Kind::Http
                | Kind::Stream
                | Kind::HttpServer
                | Kind::StreamServer
                | Kind::Location,
                "allow" | "deny",
            ) => self.access.push(raw()),
            (Kind::Generic, "allow" | "deny") if self.block_kind == "limit_except" => {
                self.access.push(raw());
            }
            (Kind::Location | Kind::StreamServer, "proxy_pass") if args.len() == 1 => {
                if let Some(first) = &self.proxy_pass {
                    let first_line = first.line;
                    self.directives.push(raw());
                    return vec![Diagnostic::error(
                        "nginx.duplicate-directive",
                        line,
                        format!(
                            "`proxy_pass` is given again (first on line {first_line}); nginx refuses this"
                        ),
                    )];
                }
                let v = match value(src, args, secrets) {
                    Value::Str(s) => Value::Str(unquote(&s).into_owned()),
                    other => other,
                };
                self.proxy_pass = Some(Node::new(line, v));
            }
            _ => self.directives.push(raw()),
        }
        Vec::new()
    }

    /// Adds a closed child block to this one. Returns a diagnostic for a duplicate top-level block.
    pub fn attach(&mut self, child: Frame) -> Option<Diagnostic> {
        let line = child.line;
        let slot = match child.kind {
            Kind::Events => &mut self.events,
            Kind::Http => &mut self.http,
            Kind::Stream => &mut self.stream,
            _ => {
                if self.kind == Kind::Root && child.kind == Kind::HttpServer {
                    self.top_servers.push(child);
                    return None;
                }
                let list = match child.kind {
                    Kind::Upstream => &mut self.upstreams,
                    Kind::HttpServer | Kind::StreamServer => &mut self.servers,
                    Kind::Location => &mut self.locations,
                    Kind::Generic
                        if child.block_kind == "if"
                            && matches!(self.kind, Kind::HttpServer | Kind::Location) =>
                    {
                        &mut self.rewrites
                    }
                    _ => &mut self.blocks,
                };
                list.push(child.into_node());
                return None;
            }
        };
        if let Some(first) = slot {
            let first_line = first.line;
            let word = match child.kind {
                Kind::Events => "events",
                Kind::Http => "http",
                _ => "stream",
            };
            // Keep the duplicate generically so none of its lines is lost.
            let mut g = Map::with_capacity(4);
            g.push("line", Node::str(line, word));
            g.push("kind", Node::str(line, word));
            let node = child.into_node();
            if let Value::Map(m) = node.value {
                for (k, v) in m.iter() {
                    g.push(k.to_string(), v.clone());
                }
            }
            self.blocks.push(Node::map(line, g));
            return Some(Diagnostic::error(
                "nginx.duplicate-block",
                line,
                format!(
                    "`{word}` block is given again (first on line {first_line}); nginx refuses this"
                ),
            ));
        }
        *slot = Some(child.into_node());
        None
    }

    fn into_node(self) -> Node {
        let l = self.line;
        let mut m = Map::with_capacity(10);
        match self.kind {
            Kind::Root => return self.into_root().0,
            Kind::Events => {
                m.push("directives", Node::unordered_list(l, self.directives));
                if !self.blocks.is_empty() {
                    m.push("blocks", Node::unordered_list(l, self.blocks));
                }
            }
            Kind::Http | Kind::Stream => {
                let http = self.kind == Kind::Http;
                return context_node(
                    l,
                    http,
                    false,
                    self.directives,
                    self.access,
                    self.upstreams,
                    self.servers,
                    self.blocks,
                );
            }
            Kind::Upstream => {
                m.push("name", Node::str(l, self.name.unwrap_or_default()));
                m.push("servers", Node::unordered_list(l, self.servers));
                m.push("directives", Node::unordered_list(l, self.directives));
                if !self.blocks.is_empty() {
                    m.push("blocks", Node::unordered_list(l, self.blocks));
                }
            }
            Kind::HttpServer | Kind::StreamServer => {
                let name = server_name(&self.server_names, &self.listen);
                m.push("name", Node::str(l, name));
                m.push("listen", Node::unordered_list(l, self.listen));
                if self.kind == Kind::HttpServer {
                    // Filled in by the enclosing `http` (see `mark_default_servers`).
                    m.push("default_for", Node::unordered_list(l, Vec::new()));
                }
                if self.kind == Kind::HttpServer || !self.server_names.is_empty() {
                    m.push("server_names", Node::unordered_list(l, self.server_names));
                }
                if self.kind == Kind::StreamServer {
                    m.push("proxy_pass", self.proxy_pass.unwrap_or(Node::null(l)));
                } else {
                    m.push("locations", locations_node(l, self.locations));
                    m.push("rewrites", Node::ordered_list(l, self.rewrites));
                }
                m.push("access", Node::ordered_list(l, self.access));
                m.push("directives", Node::unordered_list(l, self.directives));
                m.push("blocks", Node::unordered_list(l, self.blocks));
            }
            Kind::Location => {
                m.push("name", Node::str(l, self.name.unwrap_or_default()));
                m.push("proxy_pass", self.proxy_pass.unwrap_or(Node::null(l)));
                m.push("rewrites", Node::ordered_list(l, self.rewrites));
                m.push("access", Node::ordered_list(l, self.access));
                m.push("directives", Node::unordered_list(l, self.directives));
                m.push("locations", locations_node(l, self.locations));
                m.push("blocks", Node::unordered_list(l, self.blocks));
            }
            Kind::Generic => {
                m.push(
                    "line",
                    Node::new(l, self.header.unwrap_or(Value::Str(String::new()))),
                );
                let directives = match self.block_kind.as_str() {
                    // `map`: exact and wildcard keys are looked up first, then the regular
                    // expressions in order. `split_clients`: each percentage takes the next
                    // slice of the hash range, in order.
                    "map" => Node::ordered_list(l, map_entries_in_nginx_order(self.directives)),
                    "split_clients" => Node::ordered_list(l, self.directives),
                    _ => Node::unordered_list(l, self.directives),
                };
                m.push("kind", Node::str(l, self.block_kind.clone()));
                if self.block_kind == "if" {
                    m.push("rewrites", Node::ordered_list(l, self.rewrites));
                }
                if self.block_kind == "limit_except" {
                    m.push("access", Node::ordered_list(l, self.access));
                }
                m.push("directives", directives);
                m.push("blocks", Node::unordered_list(l, self.blocks));
            }
        }
        Node::map(l, m)
    }

    /// The document root: top-level directives, `events`, `http`, `stream`, other blocks. A
    /// file whose top level holds `server` or `upstream` blocks but no `http`, `stream` or
    /// `events` block is a file included in the `http` context (sites-available, conf.d): its
    /// whole content is read as an implicit `http` block (`implicit: true`), or `stream` when
    /// its servers proxy at server level and have no locations. Returns the line of the first
    /// misplaced `server` block when the file also has those blocks (nginx refuses it).
    pub fn into_root(mut self) -> (Node, Option<u32>) {
        let fragment = self.http.is_none()
            && self.stream.is_none()
            && self.events.is_none()
            && (!self.top_servers.is_empty() || !self.upstreams.is_empty());
        let mut misplaced = None;
        if fragment {
            let stream = !self.top_servers.is_empty()
                && self.top_servers.iter().all(|f| {
                    f.locations.is_empty() && f.directives.iter().any(is_server_proxy_pass)
                });
            let servers: Vec<Node> = std::mem::take(&mut self.top_servers)
                .into_iter()
                .map(|mut f| {
                    if stream {
                        f.kind = Kind::StreamServer;
                        f.take_server_proxy_pass();
                    }
                    f.into_node()
                })
                .collect();
            let node = context_node(
                1,
                !stream,
                true,
                std::mem::take(&mut self.directives),
                std::mem::take(&mut self.access),
                std::mem::take(&mut self.upstreams),
                servers,
                std::mem::take(&mut self.blocks),
            );
            if stream {
                self.stream = Some(node);
            } else {
                self.http = Some(node);
            }
        } else {
            // Top-level servers and upstreams beside an `http` block: kept generically.
            for f in std::mem::take(&mut self.top_servers) {
                misplaced.get_or_insert(f.line);
                self.blocks.push(f.into_node());
            }
            for u in std::mem::take(&mut self.upstreams) {
                misplaced.get_or_insert(u.line);
                self.blocks.push(u);
            }
            self.directives.append(&mut self.access);
        }
        let mut m = Map::with_capacity(5);
        m.push("directives", Node::unordered_list(1, self.directives));
        m.push("events", self.events.unwrap_or(Node::null(1)));
        m.push("http", self.http.unwrap_or(Node::null(1)));
        m.push("stream", self.stream.unwrap_or(Node::null(1)));
        m.push("blocks", Node::unordered_list(1, self.blocks));
        (Node::map(1, m), misplaced)
    }

    /// Moves a server-level `proxy_pass ADDRESS` from `directives` to the `proxy_pass` field
    /// (a top-level server found to be a stream server).
    fn take_server_proxy_pass(&mut self) {
        if let Some(i) = self.directives.iter().position(is_server_proxy_pass) {
            let node = self.directives.remove(i);
            if let Value::Str(s) = &node.value {
                let arg = s["proxy_pass".len()..].trim();
                self.proxy_pass = Some(Node::str(node.line, unquote(arg).into_owned()));
            } else {
                self.directives.insert(i, node);
            }
        }
    }
}

/// A `proxy_pass ADDRESS` directive kept as written (two words).
fn is_server_proxy_pass(n: &Node) -> bool {
    match &n.value {
        Value::Str(s) => s
            .strip_prefix("proxy_pass ")
            .is_some_and(|rest| !rest.trim().is_empty() && !rest.trim().contains(' ')),
        _ => false,
    }
}

/// The map of an `http` or `stream` block (`implicit` when the file's top level is read as one).
#[allow(clippy::too_many_arguments)]
fn context_node(
    l: u32,
    http: bool,
    implicit: bool,
    directives: Vec<Node>,
    access: Vec<Node>,
    upstreams: Vec<Node>,
    mut servers: Vec<Node>,
    blocks: Vec<Node>,
) -> Node {
    if http {
        mark_default_servers(&mut servers);
    }
    let mut m = Map::with_capacity(7);
    m.push("directives", Node::unordered_list(l, directives));
    m.push("access", Node::ordered_list(l, access));
    m.push("upstreams", Node::unordered_list(l, upstreams));
    m.push("servers", Node::unordered_list(l, servers));
    m.push("blocks", Node::unordered_list(l, blocks));
    m.push("implicit", Node::bool(l, implicit));
    Node::map(l, m)
}

/// `locations` in the order nginx tries them: exact and prefix locations (`= /x`, `/x`,
/// `^~ /x`; the longest match wins, so their order is no behaviour) sorted by name, then the
/// regular expressions (`~`, `~*`) in file order (the first match wins), then named locations
/// (`@x`) sorted by name. The list is ordered: only moving a regular expression location
/// relative to another one is a change.
fn locations_node(line: u32, locations: Vec<Node>) -> Node {
    let mut prefix = Vec::new();
    let mut regex = Vec::new();
    let mut named = Vec::new();
    for loc in locations {
        let name = loc.get("name").and_then(Node::as_str).unwrap_or("");
        if name.starts_with('~') {
            regex.push(loc);
        } else if name.starts_with('@') {
            named.push(loc);
        } else {
            prefix.push(loc);
        }
    }
    fn name(n: &Node) -> &str {
        n.get("name").and_then(Node::as_str).unwrap_or("")
    }
    prefix.sort_by(|a, b| name(a).cmp(name(b)));
    named.sort_by(|a, b| name(a).cmp(name(b)));
    prefix.append(&mut regex);
    prefix.append(&mut named);
    Node::ordered_list(line, prefix)
}

/// The entries of a `map` block in the order nginx looks them up: exact and wildcard keys and
/// the parameters (`default`, `hostnames`, `include`...) sorted by text, then the regular
/// expressions (`~`, `~*`) in file order.
fn map_entries_in_nginx_order(entries: Vec<Node>) -> Vec<Node> {
    let is_regex = |n: &Node| {
        let text = match &n.value {
            Value::Str(s) => s.as_str(),
            Value::Secret(s) => s.shown(),
            _ => "",
        };
        text.trim_start_matches(['"', '\'']).starts_with('~')
    };
    let (mut plain, mut regex): (Vec<Node>, Vec<Node>) =
        entries.into_iter().partition(|n| !is_regex(n));
    plain.sort_by_cached_key(|n| n.value.display_short());
    plain.append(&mut regex);
    plain
}

/// Fills `default_for` of each virtual server: the listen addresses it is the default server
/// for. nginx sends a request whose Host matches no `server_name` to the default server of the
/// address it came in on: the server whose `listen` carries `default_server` (or the older
/// `default`), else the first server listening there. A server without `listen` listens on
/// `*:80`. So moving a block in front of the first one for an address changes two servers'
/// `default_for`, and reordering servers where `default_server` is written changes nothing.
fn mark_default_servers(servers: &mut [Node]) {
    // address -> (server index, explicit, listen line)
    let mut defaults: Vec<(String, usize, bool, u32)> = Vec::new();
    for (i, s) in servers.iter().enumerate() {
        let listens: Vec<(String, bool, u32)> = match s.get("listen").map(|n| &n.value) {
            Some(Value::List(items)) if !items.is_empty() => items
                .iter()
                .filter_map(|n| {
                    let text = match &n.value {
                        Value::Str(t) => t.as_str(),
                        Value::Secret(t) => t.shown(),
                        _ => return None,
                    };
                    let mut words = text.split_whitespace();
                    let addr = normalize_listen(words.next()?);
                    let explicit = words.any(|w| w == "default_server" || w == "default");
                    Some((addr, explicit, n.line))
                })
                .collect(),
            _ => vec![("*:80".to_string(), false, s.line)],
        };
        for (addr, explicit, line) in listens {
            match defaults.iter_mut().find(|d| d.0 == addr) {
                Some(d) => {
                    if explicit && !d.2 {
                        *d = (addr, i, true, line);
                    }
                }
                None => defaults.push((addr, i, explicit, line)),
            }
        }
    }
    for (addr, i, _, line) in defaults {
        if let Some(Value::Map(m)) = servers.get_mut(i).map(|s| &mut s.value)
            && let Some(Node {
                value: Value::List(list),
                ..
            }) = m.get_mut("default_for")
        {
            list.push(Node::str(line, addr));
        }
    }
}

/// A listen address as nginx binds it: a bare port is `*:PORT`, `0.0.0.0` is `*`, an address
/// without a port gets port 80; UNIX sockets and names are kept as written.
fn normalize_listen(addr: &str) -> String {
    if addr.starts_with("unix:") {
        return addr.to_string();
    }
    if addr.bytes().all(|b| b.is_ascii_digit()) {
        return format!("*:{addr}");
    }
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, p)) => (format!("[{h}]"), p.strip_prefix(':').unwrap_or("")),
            None => (addr.to_string(), ""),
        }
    } else {
        match addr.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p),
            None => (addr.to_string(), ""),
        }
    };
    let host = if host == "0.0.0.0" {
        "*".to_string()
    } else {
        host
    };
    let port = if port.is_empty() { "80" } else { port };
    format!("{host}:{port}")
}

/// `location = /health`, `location /api/`, `location ~* \.php$`, `location @fallback` become
/// `= /health`, `/api/`, `~* \.php$`, `@fallback`; a modifier written against its path
/// (`location =/health`) is separated, so both spellings have one identity.
fn location_name(src: &str, args: &[Tok]) -> String {
    if args.len() == 1 {
        let a = unquote(args[0].text(src));
        for m in ["^~", "~*", "=", "~"] {
            if let Some(rest) = a.strip_prefix(m)
                && !rest.is_empty()
                && !rest.starts_with(' ')
            {
                return format!("{m} {rest}");
            }
        }
        return a.into_owned();
    }
    let mut out = String::new();
    for (i, t) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&unquote(t.text(src)));
    }
    out
}

/// The identity of a virtual server: its first `server_name` and the address of its first
/// `listen` (`example.net 443`), so the port-80 redirect server and the port-443 server of one
/// site differ. Either part alone when the other is missing; `server` when both are.
fn server_name(names: &[Node], listen: &[Node]) -> String {
    let name = names.first().and_then(|n| n.as_str());
    let addr = listen.first().and_then(|n| match &n.value {
        Value::Str(s) => s.split_whitespace().next(),
        _ => None,
    });
    match (name, addr) {
        (Some(n), Some(a)) => format!("{n} {a}"),
        (Some(n), None) => n.to_string(),
        (None, Some(a)) => a.to_string(),
        (None, None) => "server".to_string(),
    }
}

/// Parses `server ADDRESS [weight=N] [max_fails=N] [fail_timeout=T] [backup] [down] [...]` in
/// an upstream. Defaults are nginx's: weight 1, max_fails 1, fail_timeout 10s.
fn upstream_server(src: &str, toks: &[Tok]) -> Result<Node, String> {
    let line = toks[0].line;
    let Some(addr) = toks.get(1) else {
        return Err("`server` in an upstream needs an address".to_string());
    };
    let address = unquote(addr.text(src));
    if address.contains('=') || matches!(address.as_ref(), "down" | "backup") {
        return Err(format!(
            "`server {address}` has no address before its parameters"
        ));
    }
    let mut weight = 1i64;
    let mut max_fails = 1i64;
    let mut fail_timeout = Node::str(line, "10s");
    let (mut down, mut backup) = (false, false);
    let mut options = Map::new();
    for t in &toks[2..] {
        let p = unquote(t.text(src));
        let int = |v: &str, what: &str| {
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| format!("`{what}` must be a non-negative integer, not `{v}`"))
        };
        match p.split_once('=') {
            Some(("weight", v)) => {
                weight = int(v, "weight")?;
                if weight == 0 {
                    return Err("`weight` must be at least 1".to_string());
                }
            }
            Some(("max_fails", v)) => max_fails = int(v, "max_fails")?,
            Some(("fail_timeout", v)) => fail_timeout = Node::str(t.line, v),
            Some((k, v)) => {
                let value = match (k, v.parse::<i64>()) {
                    ("max_conns", Ok(n)) => Value::Int(n),
                    _ => Value::Str(v.to_string()),
                };
                options.insert(k.to_string(), Node::new(t.line, value));
            }
            None => match p.as_ref() {
                "down" => down = true,
                "backup" => backup = true,
                other => {
                    options.insert(other.to_string(), Node::bool(t.line, true));
                }
            },
        }
    }
    let mut m = Map::with_capacity(7);
    m.push("address", Node::str(line, address.into_owned()));
    m.push("weight", Node::int(line, weight));
    m.push("max_fails", Node::int(line, max_fails));
    m.push("fail_timeout", fail_timeout);
    m.push("down", Node::bool(line, down));
    m.push("backup", Node::bool(line, backup));
    m.push("options", Node::map(line, options));
    Ok(Node::map(line, m))
}
