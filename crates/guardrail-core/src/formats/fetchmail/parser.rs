//! The parser, after fetchmail's `rcfile_y.y`: `set` statements, the `defaults` entry and the
//! poll entries as written (their options are read in [`super::options`]), then the document,
//! with every poll's effective settings built by [`super::tree`].

use std::borrow::Cow;
use std::ops::Range;

use crate::document::secret::url_credential_ranges;
use crate::document::{Diagnostic, Document, Format, Map, Node, Secret, Value};

use super::keywords::{
    Canon, Kw, canonical, is_server_flag, is_server_option, is_set_flag, is_statement,
    is_user_flag, is_user_option,
};
use super::lexer::Tok;
use super::tree::{Inherited, defaults_node, poll_node};

/// A poll entry or the defaults entry, as written.
pub(super) struct Server {
    pub(super) line: u32,
    pub(super) name: Option<Node>,
    pub(super) skip: bool,
    pub(super) via: Option<Node>,
    pub(super) protocol: Option<Node>,
    pub(super) port: Option<Node>,
    pub(super) auth: Option<Node>,
    pub(super) options: Map,
    pub(super) users: Vec<User>,
    /// A user description has begun: server options are no longer allowed.
    pub(super) in_users: bool,
}

impl Server {
    fn new(line: u32) -> Self {
        Server {
            line,
            name: None,
            skip: false,
            via: None,
            protocol: None,
            port: None,
            auth: None,
            options: Map::new(),
            users: Vec::new(),
            in_users: false,
        }
    }

    /// Keeps an unknown word in the `unknown` options of the user being described, else of
    /// the server.
    fn keep_unknown(&mut self, t: &Tok<'_>) {
        let target = if self.in_users {
            &mut self.current_user(t.line).options
        } else {
            &mut self.options
        };
        push_unknown(target, t);
    }

    /// The user that options apply to: the last one, or an implicit one.
    fn current_user(&mut self, line: u32) -> &mut User {
        self.in_users = true;
        if self.users.is_empty() {
            self.users.push(User::new(line));
        }
        let last = self.users.len() - 1;
        &mut self.users[last]
    }
}

/// A user description, as written.
pub(super) struct User {
    pub(super) line: u32,
    pub(super) name: Option<Node>,
    pub(super) local: Option<Node>,
    pub(super) password: Option<Node>,
    pub(super) folders: Option<Node>,
    pub(super) keep: Option<Node>,
    pub(super) flush: Option<Node>,
    pub(super) fetchall: Option<Node>,
    pub(super) limitflush: Option<Node>,
    pub(super) ssl: Option<Node>,
    pub(super) options: Map,
}

impl User {
    pub(super) fn new(line: u32) -> Self {
        User {
            line,
            name: None,
            local: None,
            password: None,
            folders: None,
            keep: None,
            flush: None,
            fetchall: None,
            limitflush: None,
            ssl: None,
            options: Map::new(),
        }
    }
}

pub(super) struct Parser<'t, 'a> {
    tokens: &'t [Tok<'a>],
    pub(super) pos: usize,
    diagnostics: Vec<Diagnostic>,
    spans: Vec<Range<usize>>,
    set: Map,
    set_line: u32,
    set_other: Vec<Node>,
    defaults: Option<Server>,
    polls: Vec<Server>,
    known: u32,
    unknown: u32,
}

/// The `set` map with every global option present (null = not set, fetchmail's default).
pub(super) fn set_map() -> Map {
    Map::from_entries([
        ("daemon", Node::null(1)),
        ("logfile", Node::null(1)),
        ("idfile", Node::null(1)),
        ("pidfile", Node::null(1)),
        ("postmaster", Node::null(1)),
        ("properties", Node::null(1)),
        ("bouncemail", Node::null(1)),
        ("spambounce", Node::null(1)),
        ("softbounce", Node::null(1)),
        ("syslog", Node::null(1)),
        ("invisible", Node::null(1)),
        ("showdots", Node::null(1)),
    ])
}

pub(super) fn parse_number(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A string node of a token's text.
#[inline]
pub(super) fn str_node(line: u32, t: &Tok<'_>) -> Node {
    Node::str(line, t.text.as_ref())
}

impl<'t, 'a> Parser<'t, 'a> {
    pub(super) fn new(tokens: &'t [Tok<'a>], diagnostics: Vec<Diagnostic>) -> Self {
        Parser {
            tokens,
            pos: 0,
            diagnostics,
            spans: Vec::new(),
            set: set_map(),
            set_line: 0,
            set_other: Vec::new(),
            defaults: None,
            polls: Vec::new(),
            known: 0,
            unknown: 0,
        }
    }

    #[inline]
    pub(super) fn peek(&self) -> Option<&'t Tok<'a>> {
        self.tokens.get(self.pos)
    }

    #[inline]
    pub(super) fn next(&mut self) -> Option<&'t Tok<'a>> {
        let t = self.tokens.get(self.pos);
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    /// The next token if it is a value (not a keyword, not `=`).
    #[inline]
    pub(super) fn value(&mut self) -> Option<&'t Tok<'a>> {
        if self.peek().is_some_and(Tok::is_value) {
            self.next()
        } else {
            None
        }
    }

    /// The next token if it is no `=`; the `=` is consumed all the same.
    #[inline]
    pub(super) fn next_not_map(&mut self) -> Option<&'t Tok<'a>> {
        self.next().filter(|v| !v.map)
    }

    fn error(&mut self, code: &'static str, line: u32, message: String) {
        self.diagnostics
            .push(Diagnostic::error(code, line, message));
    }

    pub(super) fn missing(&mut self, what: &str, line: u32) {
        self.error(
            "fetchmail.missing-value",
            line,
            format!("`{what}` needs a value here"),
        );
    }

    pub(super) fn statements(&mut self) {
        let mut seen_statement = false;
        let mut garbage_reported = false;
        while let Some(t) = self.next() {
            match t.kw.map(canonical) {
                Some(Canon::Kw(Kw::Set)) => self.set_statement(t),
                Some(Canon::Kw(Kw::Defaults)) => self.server(t, true, false),
                Some(Canon::Kw(Kw::Poll)) => self.server(t, false, false),
                Some(Canon::Kw(Kw::Skip)) => self.server(t, false, true),
                _ => {
                    if !seen_statement {
                        if !garbage_reported {
                            garbage_reported = true;
                            self.error(
                                "fetchmail.not-fetchmailrc",
                                t.line,
                                format!(
                                    "this does not look like a fetchmail rc file: it starts with `{}` where `set`, `defaults`, `poll` or `skip` is expected; check the file or its --format",
                                    t.text
                                ),
                            );
                        }
                    } else {
                        self.unknown_word(t);
                        self.set_other.push(str_node(t.line, t));
                    }
                    continue;
                }
            }
            seen_statement = true;
        }
    }

    fn unknown_word(&mut self, t: &Tok<'_>) {
        self.unknown += 1;
        self.diagnostics.push(Diagnostic::warning(
            "fetchmail.unknown-keyword",
            t.line,
            format!(
                "`{}` is not a fetchmail keyword here (fetchmail itself would refuse the file); it is kept in the `unknown` options",
                t.text
            ),
        ));
    }

    fn set_statement(&mut self, set_tok: &Tok<'a>) {
        if self.set_line == 0 {
            self.set_line = set_tok.line;
        }
        let Some(t) = self.next() else {
            self.missing("set", set_tok.line);
            return;
        };
        let line = t.line;
        match t.kw {
            Some(
                k @ (Kw::Logfile | Kw::Idfile | Kw::Pidfile | Kw::Postmaster | Kw::Properties),
            ) => {
                if self.peek().is_some_and(|t| t.map) {
                    self.pos += 1;
                }
                match self.value() {
                    Some(v) => {
                        let node = self.string_node(v, line);
                        self.set.insert(k.name(), node);
                    }
                    None => self.missing(k.name(), line),
                }
            }
            Some(Kw::Daemon) => {
                if self.peek().is_some_and(|t| t.map) {
                    self.pos += 1;
                }
                match self.value() {
                    Some(v) => match parse_number(&v.text) {
                        Some(n) => {
                            self.set.insert("daemon", Node::int(line, n));
                        }
                        None => self.bad_value("daemon", v),
                    },
                    None => self.missing("daemon", line),
                }
            }
            Some(k) if is_set_flag(k) => {
                self.set.insert(k.name(), Node::bool(line, true));
            }
            Some(Kw::No) => match self.peek().and_then(|t| t.kw) {
                Some(k) if is_set_flag(k) => {
                    self.pos += 1;
                    self.set.insert(k.name(), Node::bool(line, false));
                }
                _ => {
                    self.unknown_word(t);
                    self.set_other.push(Node::str(line, "no"));
                }
            },
            _ => {
                self.unknown_word(t);
                self.set_other.push(str_node(line, t));
            }
        }
        self.known += 1;
    }

    pub(super) fn bad_value(&mut self, what: &str, v: &Tok<'_>) {
        self.error(
            "fetchmail.bad-value",
            v.line,
            format!("`{what}` needs a number, not `{}`", v.text),
        );
    }

    /// A string value; URL credentials inside it (`imap://user:pass@host`) are redacted.
    pub(super) fn string_node(&mut self, v: &Tok<'_>, line: u32) -> Node {
        if v.text.contains("://") {
            let ranges = url_credential_ranges(&v.text);
            if !ranges.is_empty() {
                let shown = crate::document::secret::redact_spans(&v.text, &ranges);
                if matches!(v.text, Cow::Borrowed(_)) {
                    for r in &ranges {
                        self.spans
                            .push(v.span.start + r.start..v.span.start + r.end);
                    }
                } else {
                    self.spans.push(v.span.clone());
                }
                return Node::new(line, Value::Secret(Secret::within(shown, &v.text)));
            }
        }
        str_node(line, v)
    }

    pub(super) fn secret_node(&mut self, v: &Tok<'_>, line: u32) -> Node {
        self.spans.push(v.span.clone());
        Node::new(line, Value::Secret(Secret::whole(&v.text)))
    }

    /// `poll|skip NAME ...`, `defaults ...`: server options, then user descriptions.
    fn server(&mut self, head: &Tok<'a>, is_defaults: bool, skip: bool) {
        let mut srv = Server::new(head.line);
        srv.skip = skip;
        if !is_defaults {
            match self.value() {
                Some(v) => srv.name = Some(str_node(v.line, v)),
                None => self.error(
                    "fetchmail.missing-server",
                    head.line,
                    format!(
                        "`{}` must be followed by the name of the mail server to poll",
                        head.text
                    ),
                ),
            }
        }
        while let Some(t) = self.peek() {
            if t.kw.is_some_and(is_statement) {
                break;
            }
            self.pos += 1;
            let Some(kw) = t.kw.map(canonical) else {
                self.unknown_word(t);
                srv.keep_unknown(t);
                continue;
            };
            self.known += 1;
            match kw {
                Canon::Kw(Kw::No) => self.negated(&mut srv, t),
                k if is_server_option(k) => {
                    if srv.in_users {
                        self.error(
                            "fetchmail.server-option-after-user",
                            t.line,
                            format!(
                                "server option `{}` after user options; fetchmail refuses this: move it before the first user option of this entry",
                                t.text
                            ),
                        );
                    }
                    self.server_option(&mut srv, k, t);
                }
                Canon::Kw(Kw::User) => {
                    srv.in_users = true;
                    self.user_description(&mut srv, t);
                }
                // Stray `here`/`there` outside a mapping: nothing to record.
                Canon::Kw(Kw::Here | Kw::There) => {}
                Canon::Kw(k) if is_user_option(k) => {
                    self.user_option(srv.current_user(t.line), k, t);
                }
                _ => {
                    self.unknown_word(t);
                    srv.keep_unknown(t);
                }
            }
        }
        if is_defaults {
            if self.defaults.is_some() || !self.polls.is_empty() || srv.users.len() > 1 {
                self.error(
                    "fetchmail.defaults-misplaced",
                    head.line,
                    "fetchmail accepts one `defaults` entry with at most one user, before every poll entry".to_string(),
                );
            }
            if self.defaults.is_none() {
                self.defaults = Some(srv);
            }
        } else {
            self.polls.push(srv);
        }
    }

    /// `no X` for a server flag (`no dns`, `no envelope`) or a user flag (`no keep`).
    fn negated(&mut self, srv: &mut Server, no: &Tok<'_>) {
        let k = match self.peek().and_then(|t| t.kw).map(canonical) {
            Some(Canon::Kw(k)) if is_server_flag(k) || is_user_flag(k) => k,
            _ => {
                self.unknown_word(no);
                push_unknown(&mut srv.options, no);
                return;
            }
        };
        let line = no.line;
        self.pos += 1;
        if is_server_flag(k) {
            if srv.in_users {
                self.error(
                    "fetchmail.server-option-after-user",
                    line,
                    format!(
                        "server option `no {}` after user options; fetchmail refuses this: move it before the first user option of this entry",
                        k.name()
                    ),
                );
            }
            srv.options.insert(k.name(), Node::bool(line, false));
        } else {
            let user = srv.current_user(line);
            set_flag(user, k, Node::bool(line, false));
        }
    }

    pub(super) fn finish(mut self) -> Document {
        if self.unknown >= 3 && self.unknown > self.known && !self.has("fetchmail.not-fetchmailrc")
        {
            let line = self
                .diagnostics
                .iter()
                .find(|d| d.code == "fetchmail.unknown-keyword")
                .map_or(0, |d| d.line);
            self.diagnostics.push(Diagnostic::error(
                "fetchmail.not-fetchmailrc",
                line,
                format!(
                    "this does not look like a fetchmail rc file: {} of {} words are not fetchmail keywords; check the file or its --format",
                    self.unknown,
                    self.unknown + self.known
                ),
            ));
        }
        let mut set = std::mem::take(&mut self.set);
        set.push(
            "other",
            Node::unordered_list(self.set_line.max(1), std::mem::take(&mut self.set_other)),
        );
        let defaults = self.defaults.take();
        let inherited = Inherited::new(defaults.as_ref());
        let servers = std::mem::take(&mut self.polls);
        let mut polls = Vec::with_capacity(servers.len());
        polls.extend(servers.into_iter().map(|p| poll_node(p, &inherited)));
        drop(inherited);
        let defaults = match defaults {
            Some(d) => defaults_node(d),
            None => Node::null(1),
        };
        let polls_line = polls.first().map_or(1, |p| p.line);
        let root = Map::from_entries([
            ("set", Node::map(self.set_line.max(1), set)),
            ("defaults", defaults),
            ("polls", Node::unordered_list(polls_line, polls)),
        ]);
        self.diagnostics.sort_by_key(|d| d.line);
        Document {
            format: Format::Fetchmail,
            root: Node::map(1, root),
            diagnostics: self.diagnostics,
            secret_spans: self.spans,
        }
    }

    fn has(&self, code: &str) -> bool {
        self.diagnostics.iter().any(|d| d.code == code)
    }
}

pub(super) fn push_unknown(options: &mut Map, t: &Tok<'_>) {
    let node = str_node(t.line, t);
    match options.get_mut("unknown") {
        Some(Node {
            value: Value::List(items),
            ..
        }) => items.push(node),
        _ => {
            options.insert("unknown", Node::unordered_list(t.line, vec![node]));
        }
    }
}

pub(super) fn set_flag(user: &mut User, k: Kw, node: Node) {
    match k {
        Kw::Keep => user.keep = Some(node),
        Kw::Flush => user.flush = Some(node),
        Kw::Fetchall => user.fetchall = Some(node),
        Kw::Limitflush => user.limitflush = Some(node),
        Kw::Ssl => user.ssl = Some(node),
        _ => {
            user.options.insert(k.name(), node);
        }
    }
}
