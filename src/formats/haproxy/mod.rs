//! HAProxy (`haproxy.cfg`) parser: sections and their directives into the documented tree
//! (`docs/formats.md`, section HAProxy).
//!
//! One pass over the lines. A section keyword (`global`, `defaults`, `frontend`, `backend`,
//! `listen`, `userlist`, `resolvers`, ...) opens a section that runs to the next one. In proxy
//! sections the directives that decide routing, capacity and health checks are parsed into
//! fields (`mode`, `bind`, `acls`, `default_backend`, `use_backend`, `balance`, `servers`,
//! `default_server`, `option`, `timeout`, `http-check`, `tcp-check`); every other line is kept,
//! comments stripped and whitespace normalised, in the section's `directives` list. Each source
//! line lands in exactly one place of the tree, so a change is reported once.
//!
//! Secrets (`stats auth` passwords, userlist passwords, secret header values, URL credentials)
//! become [`Value::Secret`] and their byte ranges go to [`Document::secret_spans`].

mod server;
mod text;

use std::collections::HashMap;
use std::ops::Range;

use crate::document::{Diagnostic, Document, Format, Map, Node, Value};
use crate::formats::lines::{Line, lines};

use text::{Tok, find_secrets, tokenize, unquote, value};

/// How many `haproxy.outside-section` errors are reported one by one before a summary.
const MAX_OUTSIDE_REPORTS: usize = 10;

/// Parses HAProxy configuration text into a document. Never panics.
pub fn parse(text: &str) -> Document {
    let mut p = Parser::default();
    for line in lines(text) {
        p.line(line);
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

/// Section keywords other than the proxies and `global`, kept generically: the keyword as a
/// `&'static str`. (A `match` rather than a table search: this runs for every line.)
fn other_section(kw: &str) -> Option<&'static str> {
    Some(match kw {
        "userlist" => "userlist",
        "resolvers" => "resolvers",
        "peers" => "peers",
        "mailers" => "mailers",
        "cache" => "cache",
        "program" => "program",
        "http-errors" => "http-errors",
        "ring" => "ring",
        "log-forward" => "log-forward",
        "fcgi-app" => "fcgi-app",
        "crt-store" => "crt-store",
        "traces" => "traces",
        "acme" => "acme",
        _ => return None,
    })
}

/// A proxy section (`defaults`, `frontend`, `backend`, `listen`) being read.
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
    options: Map,
    timeouts: Map,
    directives: Vec<Node>,
}

impl Proxy {
    fn new(kind: ProxyKind, line: u32) -> Self {
        Proxy {
            kind,
            line,
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
            options: Map::new(),
            timeouts: Map::new(),
            directives: Vec::new(),
        }
    }

    /// The tree of the section. Which keys appear depends on the kind (see the docs); a key
    /// that does not belong to the kind appears only when the section uses it anyway.
    fn into_node(self) -> Node {
        let k = self.kind;
        let l = self.line;
        let is_defaults = k == ProxyKind::Defaults;
        let mut m = Map::with_capacity(18);
        m.push("name", opt_str(l, self.name));
        m.push("from", opt_str(l, self.from));
        m.push("disabled", self.disabled.unwrap_or(Node::bool(l, false)));
        m.push("mode", self.mode.unwrap_or(Node::null(l)));
        if k != ProxyKind::Backend || self.maxconn.is_some() {
            m.push("maxconn", self.maxconn.unwrap_or(Node::null(l)));
        }
        if k.fronts() || !self.bind.is_empty() {
            m.push("bind", Node::list(l, self.bind));
        }
        if !is_defaults || !self.acls.is_empty() {
            m.push("acls", Node::list(l, self.acls));
        }
        if k.fronts() || is_defaults || self.default_backend.is_some() {
            m.push(
                "default_backend",
                self.default_backend.unwrap_or(Node::null(l)),
            );
        }
        if k.fronts() || !self.use_backend.is_empty() {
            m.push("use_backend", Node::list(l, self.use_backend));
        }
        let backs = k.backs() || is_defaults;
        if backs || self.balance.is_some() {
            m.push("balance", self.balance.unwrap_or(Node::null(l)));
        }
        if k.backs() || !self.servers.is_empty() {
            m.push("servers", Node::list(l, self.servers));
        }
        if backs || self.default_server.is_some() {
            m.push(
                "default_server",
                self.default_server
                    .map_or(Node::null(l), |(line, map)| Node::map(line, map)),
            );
        }
        if backs || !self.http_check.is_empty() {
            m.push("http_check", Node::list(l, self.http_check));
        }
        if backs || !self.tcp_check.is_empty() {
            m.push("tcp_check", Node::list(l, self.tcp_check));
        }
        m.push("options", Node::map(l, self.options));
        m.push("timeouts", Node::map(l, self.timeouts));
        m.push("directives", Node::list(l, self.directives));
        Node::map(l, m)
    }
}

fn opt_str(line: u32, s: Option<String>) -> Node {
    match s {
        Some(s) => Node::str(line, s),
        None => Node::null(line),
    }
}

/// A section kept generically (`userlist`, `resolvers`, `peers`, ...).
struct Other {
    line: u32,
    kind: &'static str,
    name: Option<String>,
    args: Option<Value>,
    directives: Vec<Node>,
}

enum Section {
    None,
    Global,
    Proxy(Box<Proxy>),
    Other(Other),
}

#[derive(Default)]
struct Parser {
    diagnostics: Vec<Diagnostic>,
    secret_spans: Vec<Range<usize>>,
    toks: Vec<Tok>,
    secrets: Vec<Range<usize>>,
    section: Option<Section>,
    global_line: Option<u32>,
    global_maxconn: Option<Node>,
    global_directives: Vec<Node>,
    defaults: Vec<Node>,
    frontends: Vec<Node>,
    backends: Vec<Node>,
    listens: Vec<Node>,
    sections: Vec<Node>,
    outside: Vec<Node>,
    /// First line of each section name, per namespace: `f:` names that receive traffic
    /// (frontends, listens), `b:` names traffic is routed to (backends, listens), `d:`
    /// defaults, `<kind>:` other sections.
    names: HashMap<String, u32>,
    /// Non-blank, non-comment lines.
    meaningful: usize,
    /// Lines that are not HAProxy: outside any section, or not starting with a keyword.
    foreign: usize,
    first_foreign: u32,
    outside_errors: usize,
    outside_first_unreported: u32,
}

impl Parser {
    fn line(&mut self, line: Line<'_>) {
        let mut toks = std::mem::take(&mut self.toks);
        let closed = tokenize(line.text, &mut toks);
        if !toks.is_empty() {
            self.meaningful += 1;
            if !closed {
                self.diagnostics.push(Diagnostic::error(
                    "haproxy.unterminated-quote",
                    line.number,
                    "a quote is not closed on this line; HAProxy refuses it",
                ));
            }
            self.directive(&line, &toks);
        }
        self.toks = toks;
    }

    fn directive(&mut self, line: &Line<'_>, toks: &[Tok]) {
        let kw = toks[0].text(line.text);
        if !looks_like_keyword(kw) {
            self.foreign(line.number);
        }
        match kw {
            "global" => return self.open_global(line),
            "defaults" => return self.open_proxy(ProxyKind::Defaults, line, toks),
            "frontend" => return self.open_proxy(ProxyKind::Frontend, line, toks),
            "backend" => return self.open_proxy(ProxyKind::Backend, line, toks),
            "listen" => return self.open_proxy(ProxyKind::Listen, line, toks),
            _ => {}
        }
        if let Some(kind) = other_section(kw) {
            return self.open_other(kind, line, toks);
        }
        let in_userlist = matches!(&self.section, Some(Section::Other(o)) if o.kind == "userlist");
        let mut secrets = std::mem::take(&mut self.secrets);
        find_secrets(line.text, toks, in_userlist, &mut secrets);
        for r in &secrets {
            self.secret_spans
                .push(line.offset + r.start..line.offset + r.end);
        }
        match self.section.take() {
            None | Some(Section::None) => {
                self.section = Some(Section::None);
                self.outside_directive(line, toks, &secrets);
            }
            Some(Section::Global) => {
                self.section = Some(Section::Global);
                self.global_directive(line, toks, &secrets);
            }
            Some(Section::Proxy(mut p)) => {
                self.proxy_directive(&mut p, line, toks, &secrets);
                self.section = Some(Section::Proxy(p));
            }
            Some(Section::Other(mut o)) => {
                o.directives
                    .push(Node::new(line.number, value(line.text, toks, &secrets)));
                self.section = Some(Section::Other(o));
            }
        }
        self.secrets = secrets;
    }

    fn foreign(&mut self, number: u32) {
        if self.foreign == 0 {
            self.first_foreign = number;
        }
        self.foreign += 1;
    }

    fn outside_directive(&mut self, line: &Line<'_>, toks: &[Tok], secrets: &[Range<usize>]) {
        let kw = toks[0].text(line.text);
        // `.if`/`.else`/`.endif`/`.notice`... may wrap whole sections.
        if !kw.starts_with('.') {
            if looks_like_keyword(kw) {
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

    fn global_directive(&mut self, line: &Line<'_>, toks: &[Tok], secrets: &[Range<usize>]) {
        if toks[0].text(line.text) == "maxconn"
            && let Some(n) = self.int_arg(line, toks)
        {
            let old = self.global_maxconn.replace(n);
            self.replaced(old, "maxconn", line.number, None);
            return;
        }
        self.global_directives
            .push(Node::new(line.number, value(line.text, toks, secrets)));
    }

    /// The single integer argument of `maxconn N`, or a warning and `None`.
    fn int_arg(&mut self, line: &Line<'_>, toks: &[Tok]) -> Option<Node> {
        let kw = toks[0].text(line.text);
        if toks.len() == 2
            && let Ok(n) = unquote(toks[1].text(line.text)).parse::<i64>()
        {
            return Some(Node::int(line.number, n));
        }
        self.diagnostics.push(Diagnostic::warning(
            "haproxy.directive-syntax",
            line.number,
            format!("`{kw}` takes one integer; the line is kept as written"),
        ));
        None
    }

    /// Reports a single-valued directive given again; the earlier one is kept in `directives`
    /// (as written, reconstructed) so its line is not lost. HAProxy uses the last one.
    fn replaced(
        &mut self,
        old: Option<Node>,
        what: &str,
        line: u32,
        directives: Option<&mut Vec<Node>>,
    ) {
        let Some(old) = old else { return };
        self.diagnostics.push(Diagnostic::warning(
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
        let node = Node::new(old.line, text);
        match directives {
            Some(d) => d.push(node),
            None => self.global_directives.push(node),
        }
    }

    fn proxy_directive(
        &mut self,
        p: &mut Proxy,
        line: &Line<'_>,
        toks: &[Tok],
        secrets: &[Range<usize>],
    ) {
        let t = line.text;
        let n = line.number;
        let kw = toks[0].text(t);
        let args = &toks[1..];
        let rest = |toks: &[Tok]| Node::new(n, value(t, toks, secrets));
        match kw {
            "mode" | "balance" | "default_backend" if !args.is_empty() => {
                let node = if kw == "default_backend" {
                    Node::str(n, unquote(args[0].text(t)).into_owned())
                } else {
                    rest(args)
                };
                let slot = match kw {
                    "mode" => &mut p.mode,
                    "balance" => &mut p.balance,
                    _ => &mut p.default_backend,
                };
                let old = slot.replace(node);
                self.replaced(old, kw, n, Some(&mut p.directives));
            }
            "maxconn" => match self.int_arg(line, toks) {
                Some(node) => {
                    let old = p.maxconn.replace(node);
                    self.replaced(old, kw, n, Some(&mut p.directives));
                }
                None => p.directives.push(rest(toks)),
            },
            "disabled" if args.is_empty() => p.disabled = Some(Node::bool(n, true)),
            "enabled" if args.is_empty() => p.disabled = Some(Node::bool(n, false)),
            "bind" if !args.is_empty() => {
                let mut b = Map::with_capacity(2);
                b.push(
                    "address",
                    Node::str(n, unquote(args[0].text(t)).into_owned()),
                );
                b.push("options", rest(&args[1..]));
                p.bind.push(Node::map(n, b));
            }
            "acl" if args.len() >= 2 => {
                let mut a = Map::with_capacity(3);
                a.push("name", Node::str(n, unquote(args[0].text(t)).into_owned()));
                a.push("criterion", rest(&args[1..2]));
                a.push("pattern", rest(&args[2..]));
                p.acls.push(Node::map(n, a));
            }
            "use_backend" if !args.is_empty() => {
                let cond_at = args
                    .iter()
                    .position(|a| matches!(a.text(t), "if" | "unless"))
                    .unwrap_or(args.len());
                if cond_at == 0 {
                    self.syntax(n, "`use_backend` needs a backend name before `if`/`unless`");
                    p.directives.push(rest(toks));
                    return;
                }
                let backend = if cond_at == 1 {
                    unquote(args[0].text(t)).into_owned()
                } else {
                    text::join(t, &args[..cond_at])
                };
                let dynamic = backend.contains("%[");
                let mut r = Map::with_capacity(4);
                r.push("line", rest(args));
                r.push("backend", Node::str(n, backend));
                r.push(
                    "condition",
                    if cond_at < args.len() {
                        rest(&args[cond_at..])
                    } else {
                        Node::null(n)
                    },
                );
                r.push("dynamic", Node::bool(n, dynamic));
                p.use_backend.push(Node::map(n, r));
            }
            "server" | "server-template" => {
                let mut warnings = Vec::new();
                let template = kw == "server-template";
                match server::parse_server(t, n, toks, template, &mut p.servers, &mut warnings) {
                    Ok(()) => {
                        for w in warnings {
                            self.diagnostics.push(Diagnostic::warning(
                                "haproxy.server-syntax",
                                n,
                                w,
                            ));
                        }
                    }
                    Err(why) => {
                        self.diagnostics.push(Diagnostic::warning(
                            "haproxy.server-syntax",
                            n,
                            format!("{why}; the line is kept as written in `directives`"),
                        ));
                        p.directives.push(rest(toks));
                    }
                }
            }
            "default-server" => {
                let (_, map) = p.default_server.get_or_insert_with(|| (n, Map::new()));
                match server::merge_default_server(t, n, toks, map) {
                    Ok(again) => {
                        for k in again {
                            self.diagnostics.push(Diagnostic::warning(
                                "haproxy.duplicate-directive",
                                n,
                                format!(
                                    "`default-server` sets `{k}` again; HAProxy uses the last one"
                                ),
                            ));
                        }
                    }
                    Err(why) => {
                        self.diagnostics.push(Diagnostic::warning(
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
            "option" if !args.is_empty() => {
                let name = args[0].text(t);
                let v = if args.len() == 1 {
                    Node::bool(n, true)
                } else {
                    rest(&args[1..])
                };
                let old = p.options.insert(name.to_string(), v);
                self.replaced(old, &format!("option {name}"), n, Some(&mut p.directives));
            }
            "no" if args.len() == 2 && args[0].text(t) == "option" => {
                let name = args[1].text(t);
                let old = p.options.insert(name.to_string(), Node::bool(n, false));
                self.replaced(old, &format!("option {name}"), n, Some(&mut p.directives));
            }
            "timeout" if args.len() >= 2 => {
                let name = args[0].text(t);
                let old = p.timeouts.insert(name.to_string(), rest(&args[1..]));
                self.replaced(old, &format!("timeout {name}"), n, Some(&mut p.directives));
            }
            "http-check" if !args.is_empty() => p.http_check.push(rest(args)),
            "tcp-check" if !args.is_empty() => p.tcp_check.push(rest(args)),
            "mode" | "balance" | "default_backend" | "bind" | "acl" | "use_backend" | "option"
            | "timeout" | "http-check" | "tcp-check" => {
                self.syntax(
                    n,
                    &format!("`{kw}` is missing its arguments; the line is kept as written"),
                );
                p.directives.push(rest(toks));
            }
            _ => p.directives.push(rest(toks)),
        }
    }

    fn syntax(&mut self, line: u32, msg: &str) {
        self.diagnostics
            .push(Diagnostic::warning("haproxy.directive-syntax", line, msg));
    }

    fn close(&mut self) {
        match self.section.take() {
            Some(Section::Proxy(p)) => {
                let kind = p.kind;
                let node = p.into_node();
                match kind {
                    ProxyKind::Defaults => self.defaults.push(node),
                    ProxyKind::Frontend => self.frontends.push(node),
                    ProxyKind::Backend => self.backends.push(node),
                    ProxyKind::Listen => self.listens.push(node),
                }
            }
            Some(Section::Other(o)) => {
                let mut m = Map::with_capacity(4);
                m.push("name", opt_str(o.line, o.name));
                m.push("kind", Node::str(o.line, o.kind));
                if let Some(a) = o.args {
                    m.push("args", Node::new(o.line, a));
                }
                m.push("directives", Node::list(o.line, o.directives));
                self.sections.push(Node::map(o.line, m));
            }
            _ => {}
        }
    }

    fn open_global(&mut self, line: &Line<'_>) {
        self.close();
        self.global_line.get_or_insert(line.number);
        self.section = Some(Section::Global);
    }

    /// Records a section name; warns when the namespace already has it.
    fn name_seen(&mut self, namespace: &str, what: &str, name: &str, line: u32) {
        let key = format!("{namespace}:{name}");
        if let Some(first) = self.names.get(&key) {
            self.diagnostics.push(Diagnostic::warning(
                "haproxy.duplicate-section",
                line,
                format!("{what} `{name}` is defined again (first on line {first}); give each a unique name"),
            ));
        } else {
            self.names.insert(key, line);
        }
    }

    fn open_proxy(&mut self, kind: ProxyKind, line: &Line<'_>, toks: &[Tok]) {
        self.close();
        let t = line.text;
        let n = line.number;
        let mut p = Proxy::new(kind, n);
        let mut i = 1;
        if let Some(name) = toks.get(1).map(|w| w.text(t))
            && !(kind == ProxyKind::Defaults && name == "from")
        {
            p.name = Some(unquote(name).into_owned());
            i = 2;
        }
        if toks.get(i).map(|w| w.text(t)) == Some("from") {
            match toks.get(i + 1) {
                Some(w) => p.from = Some(unquote(w.text(t)).into_owned()),
                None => self.syntax(n, "`from` needs the name of a defaults section"),
            }
            i += 2;
        }
        let extra = &toks[i.min(toks.len())..];
        match (&p.name, kind) {
            (None, ProxyKind::Defaults) => {}
            (None, _) => self.diagnostics.push(Diagnostic::error(
                "haproxy.section-name",
                n,
                format!("`{}` needs a name", kind.keyword()),
            )),
            (Some(name), _) => {
                let name = name.clone();
                let what = kind.keyword();
                if kind == ProxyKind::Defaults {
                    self.name_seen("d", what, &name, n);
                }
                if kind.fronts() {
                    self.name_seen("f", what, &name, n);
                }
                if kind.backs() {
                    self.name_seen("b", what, &name, n);
                }
            }
        }
        if !extra.is_empty() {
            if kind.fronts() {
                // `listen stats :8404` / `frontend www 0.0.0.0:80`: an inline bind.
                let mut b = Map::with_capacity(2);
                b.push(
                    "address",
                    Node::str(n, unquote(extra[0].text(t)).into_owned()),
                );
                b.push("options", Node::str(n, text::join(t, &extra[1..])));
                p.bind.push(Node::map(n, b));
            } else {
                self.syntax(
                    n,
                    &format!(
                        "`{}` takes a name only; the extra words are kept in `directives`",
                        kind.keyword()
                    ),
                );
                p.directives.push(Node::str(n, text::join(t, extra)));
            }
        }
        self.section = Some(Section::Proxy(Box::new(p)));
    }

    fn open_other(&mut self, kind: &'static str, line: &Line<'_>, toks: &[Tok]) {
        self.close();
        let t = line.text;
        let name = toks.get(1).map(|w| unquote(w.text(t)).into_owned());
        if let Some(name) = &name {
            self.name_seen(kind, kind, name, line.number);
        }
        let args = (toks.len() > 2).then(|| Value::Str(text::join(t, &toks[2..])));
        self.section = Some(Section::Other(Other {
            line: line.number,
            kind,
            name,
            args,
            directives: Vec::new(),
        }));
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
        let mut global = Map::with_capacity(2);
        global.push("maxconn", self.global_maxconn.unwrap_or(Node::null(gl)));
        global.push("directives", Node::list(gl, self.global_directives));
        let mut root = Map::with_capacity(7);
        root.push("global", Node::map(gl, global));
        root.push("defaults", Node::list(1, self.defaults));
        root.push("frontends", Node::list(1, self.frontends));
        root.push("backends", Node::list(1, self.backends));
        root.push("listens", Node::list(1, self.listens));
        root.push("sections", Node::list(1, self.sections));
        root.push("directives", Node::list(1, self.outside));
        doc.root = Node::map(1, root);
        doc.diagnostics = self.diagnostics;
        doc.secret_spans = self.secret_spans;
        doc
    }
}

/// HAProxy keywords are lowercase words of letters, digits, `-`, `_` and `.`; JSON, YAML and
/// INI lines start with something else (`{`, `"key":`, `key:`, `[section]`, `key=value`).
fn looks_like_keyword(w: &str) -> bool {
    let b = w.as_bytes();
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
