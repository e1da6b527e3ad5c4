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
    /// `upstream` in `http` or `stream`.
    Upstream,
    /// `server` in `http`.
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
    upstreams: Vec<Node>,
    servers: Vec<Node>,
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
            upstreams: Vec::new(),
            servers: Vec::new(),
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
            (Kind::Http | Kind::Stream, "upstream") if toks.len() == 2 => Kind::Upstream,
            (Kind::Http, "server") if toks.len() == 1 => Kind::HttpServer,
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
                let list = match child.kind {
                    Kind::Upstream => &mut self.upstreams,
                    Kind::HttpServer | Kind::StreamServer => &mut self.servers,
                    Kind::Location => &mut self.locations,
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
        let mut m = Map::with_capacity(8);
        match self.kind {
            Kind::Root => return self.into_root(),
            Kind::Events => {
                m.push("directives", Node::unordered_list(l, self.directives));
                if !self.blocks.is_empty() {
                    m.push("blocks", Node::unordered_list(l, self.blocks));
                }
            }
            Kind::Http | Kind::Stream => {
                m.push("directives", Node::unordered_list(l, self.directives));
                m.push("upstreams", Node::unordered_list(l, self.upstreams));
                m.push("servers", Node::unordered_list(l, self.servers));
                m.push("blocks", Node::unordered_list(l, self.blocks));
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
                if self.kind == Kind::HttpServer || !self.server_names.is_empty() {
                    m.push("server_names", Node::unordered_list(l, self.server_names));
                }
                if self.kind == Kind::StreamServer {
                    m.push("proxy_pass", self.proxy_pass.unwrap_or(Node::null(l)));
                } else {
                    m.push("locations", Node::unordered_list(l, self.locations));
                }
                m.push("directives", Node::unordered_list(l, self.directives));
                m.push("blocks", Node::unordered_list(l, self.blocks));
            }
            Kind::Location => {
                m.push("name", Node::str(l, self.name.unwrap_or_default()));
                m.push("proxy_pass", self.proxy_pass.unwrap_or(Node::null(l)));
                m.push("directives", Node::unordered_list(l, self.directives));
                m.push("locations", Node::unordered_list(l, self.locations));
                m.push("blocks", Node::unordered_list(l, self.blocks));
            }
            Kind::Generic => {
                m.push(
                    "line",
                    Node::new(l, self.header.unwrap_or(Value::Str(String::new()))),
                );
                m.push("kind", Node::str(l, self.block_kind));
                m.push("directives", Node::unordered_list(l, self.directives));
                m.push("blocks", Node::unordered_list(l, self.blocks));
            }
        }
        Node::map(l, m)
    }

    /// The document root: top-level directives, `events`, `http`, `stream`, other blocks.
    pub fn into_root(self) -> Node {
        let mut m = Map::with_capacity(5);
        m.push("directives", Node::unordered_list(1, self.directives));
        m.push("events", self.events.unwrap_or(Node::null(1)));
        m.push("http", self.http.unwrap_or(Node::null(1)));
        m.push("stream", self.stream.unwrap_or(Node::null(1)));
        m.push("blocks", Node::unordered_list(1, self.blocks));
        Node::map(1, m)
    }
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
