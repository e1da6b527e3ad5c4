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
//!
//! Layout: this module reads the lines and their sections; [`text`] splits a line into words
//! and finds its secrets, [`keywords`] classifies its first word, [`directives`] reads a proxy
//! section's directives into the [`proxy`] being built, and [`server`] reads `server` lines.

mod directives;
mod keywords;
mod proxy;
mod server;
mod text;

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::ops::Range;

use crate::document::{Diagnostic, Document, Format, Map, Node, Value};
use crate::formats::lines::Line;

use keywords::{Kw, ProxyKind, classify};
use proxy::{Proxy, balance_algorithm, opt_str, order_sensitive_balance, take_list};
use text::{Words, find_secrets, tokenize_line, value};

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
