//! fetchmail run-control files (`.fetchmailrc`).
//!
//! A hand-written lexer follows fetchmail's own (`rcfile_l.l`): words end at whitespace or one of
//! `= ; : ,`; `;`, `:`, `,` and the noise words `and with has wants options` are ignored; `#`
//! starts a comment; `"..."` and `'...'` strings may span lines and take C escapes (`\n`, `\x41`,
//! `\101`) but cannot contain their own quote; a backslash before a newline joins lines;
//! keywords are case-sensitive; after `user`, `password`, `is`, `to` and `=` the next word is a
//! name even if it looks like a keyword. The parser follows `rcfile_y.y`: `set` statements,
//! an optional `defaults` entry, and `poll` / `skip` (`server` is a synonym) entries with server
//! options, then user descriptions (`user R [there] ... [is L [here]] options`).
//!
//! Tree (see `docs/formats.md`): `{set, defaults, polls}`. Each poll carries the
//! *effective* settings: what the `defaults` entry sets is applied to every poll and user that
//! does not set it itself (as fetchmail does), and a poll without a user description gets one
//! implicit user (fetchmail polls as the local login user), so rules such as "does this entry
//! delete mail on the server" see what fetchmail will do. Inherited nodes keep the line of the
//! `defaults` entry that set them.
//!
//! Diagnostics: `fetchmail.not-fetchmailrc`, `fetchmail.missing-server`, `fetchmail.missing-value`,
//! `fetchmail.bad-value`, `fetchmail.server-option-after-user`, `fetchmail.defaults-misplaced`,
//! `fetchmail.unterminated-string` (errors: fetchmail itself refuses such a
//! file), `fetchmail.unknown-keyword` (warning; the word is kept in the `unknown` list of the
//! entry's options).

use std::borrow::Cow;
use std::ops::Range;

use crate::document::secret::url_credential_ranges;
use crate::document::{Diagnostic, Document, Format, Map, Node, Secret, Value};

/// Parses fetchmail rc text into a document. Never panics.
pub fn parse(text: &str) -> Document {
    let mut diagnostics = Vec::new();
    let tokens = lex(text, &mut diagnostics);
    let mut p = Parser {
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
    };
    p.statements();
    p.finish()
}

// ---- lexer ------------------------------------------------------------------------------

/// One token: a word or string (unescaped), or the `=` mapping sign.
#[derive(Debug, Clone)]
struct Tok<'a> {
    text: Cow<'a, str>,
    /// A bare word read where a keyword may stand (not quoted, not a name after `user` etc.).
    bare: bool,
    /// The `=` sign.
    map: bool,
    line: u32,
    /// Byte range of the word or of the string's content in the source.
    span: Range<usize>,
}

impl Tok<'_> {
    /// True for the keyword `kw` (a bare word in keyword position).
    fn is(&self, kw: &str) -> bool {
        self.bare && self.text == kw
    }

    fn keyword(&self) -> Option<&str> {
        (self.bare && is_keyword(&self.text)).then_some(&*self.text)
    }

    /// A value: a quoted string, a name, or a bare word that is not a keyword.
    fn is_value(&self) -> bool {
        !self.map && self.keyword().is_none()
    }
}

const NOISE: [&str; 5] = ["and", "with", "has", "wants", "options"];

/// `no`-prefixed keywords that fetchmail's lexer splits into `no` + keyword.
const NO_WORDS: [&str; 19] = [
    "nobouncemail",
    "nouidl",
    "nocheckalias",
    "nodns",
    "noenvelope",
    "nokeep",
    "noflush",
    "nolimitflush",
    "nofetchall",
    "norewrite",
    "noforcecr",
    "nostripcr",
    "nopass8",
    "nopass8bits",
    "nodropstatus",
    "nodropdelivered",
    "nomimedec",
    "nomimedecode",
    "nospambounce",
];

fn is_keyword(w: &str) -> bool {
    matches!(
        w,
        "set"
            | "logfile"
            | "idfile"
            | "pidfile"
            | "daemon"
            | "syslog"
            | "invisible"
            | "showdots"
            | "postmaster"
            | "bouncemail"
            | "spambounce"
            | "softbounce"
            | "warnings"
            | "tracepolls"
            | "defaults"
            | "server"
            | "poll"
            | "skip"
            | "via"
            | "aka"
            | "local"
            | "localdomains"
            | "proto"
            | "protocol"
            | "service"
            | "port"
            | "interval"
            | "preauth"
            | "preauthenticate"
            | "auth"
            | "authenticate"
            | "timeout"
            | "idletimeout"
            | "envelope"
            | "qvirtual"
            | "principal"
            | "esmtpname"
            | "esmtppassword"
            | "bad-header"
            | "accept"
            | "reject"
            | "user"
            | "username"
            | "pass"
            | "password"
            | "folder"
            | "folders"
            | "smtp"
            | "smtphost"
            | "fetchdomains"
            | "smtpaddress"
            | "smtpname"
            | "antispam"
            | "mda"
            | "bsmtp"
            | "lmtp"
            | "pre"
            | "preconnect"
            | "post"
            | "postconnect"
            | "interface"
            | "monitor"
            | "plugin"
            | "plugout"
            | "batchlimit"
            | "fetchlimit"
            | "fetchsizelimit"
            | "fastuidl"
            | "expunge"
            | "properties"
            | "is"
            | "here"
            | "there"
            | "to"
            | "no"
            | "keep"
            | "flush"
            | "limitflush"
            | "fetchall"
            | "rewrite"
            | "forcecr"
            | "stripcr"
            | "pass8"
            | "pass8bits"
            | "dropstatus"
            | "dropdelivered"
            | "mimedec"
            | "mimedecode"
            | "idle"
            | "forceidle"
            | "dns"
            | "uidl"
            | "ssl"
            | "sslkey"
            | "sslcert"
            | "sslproto"
            | "sslcertck"
            | "sslcertfile"
            | "sslcertpath"
            | "sslcommonname"
            | "sslfingerprint"
            | "checkalias"
            | "limit"
    )
}

fn is_statement(w: &str) -> bool {
    matches!(w, "set" | "defaults" | "poll" | "server" | "skip")
}

fn is_word_end(b: u8) -> bool {
    matches!(b, b'=' | b';' | b':' | b',' | b' ' | b'\t' | b'\r' | b'\n')
}

fn lex<'a>(src: &'a str, diagnostics: &mut Vec<Diagnostic>) -> Vec<Tok<'a>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1u32;
    // The next word is a name (after `user`, `password`, `is`, `to`, `=`).
    let mut name_next = false;
    // The next word is an authentication type (after `auth`): `password` there is no keyword.
    let mut auth_next = false;
    while i < b.len() {
        match b[i] {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b' ' | b'\t' | b'\r' | b';' | b':' | b',' => i += 1,
            b'\\'
                if b.get(i + 1) == Some(&b'\n')
                    || (b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n')) =>
            {
                i += 1;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'=' => {
                out.push(Tok {
                    text: Cow::Borrowed("="),
                    bare: false,
                    map: true,
                    line,
                    span: i..i + 1,
                });
                name_next = true;
                i += 1;
            }
            q @ (b'"' | b'\'') => {
                let mut word_end = i;
                while word_end < b.len() && !is_word_end(b[word_end]) {
                    word_end += 1;
                }
                let close = b[i + 1..].iter().position(|&c| c == q).map(|p| i + 1 + p);
                // fetchmail's lexer takes the longest match: in name position a quoted string
                // followed by more non-separator text is read as one bare word.
                let bare_longer = close.is_none_or(|c| word_end > c + 1);
                if name_next && bare_longer && word_end > i + 1 {
                    out.push(word(src, i, word_end, line, false));
                    name_next = false;
                    i = word_end;
                    continue;
                }
                let (end, next) = match close {
                    Some(c) => (c, c + 1),
                    None => {
                        diagnostics.push(Diagnostic::error(
                            "fetchmail.unterminated-string",
                            line,
                            format!(
                                "string opened with {} is never closed; close it on the line where it should end",
                                q as char
                            ),
                        ));
                        (b.len(), b.len())
                    }
                };
                out.push(Tok {
                    text: unescape(&src[i + 1..end]),
                    bare: false,
                    map: false,
                    line,
                    span: i + 1..end,
                });
                line += b[i + 1..end].iter().filter(|&&c| c == b'\n').count() as u32;
                name_next = false;
                auth_next = false;
                i = next;
            }
            _ => {
                let start = i;
                while i < b.len() && !is_word_end(b[i]) {
                    i += 1;
                }
                if name_next {
                    out.push(word(src, start, i, line, false));
                    name_next = false;
                    continue;
                }
                let w = &src[start..i];
                if NOISE.contains(&w) {
                    continue;
                }
                if NO_WORDS.contains(&w) {
                    out.push(word(src, start, start + 2, line, true));
                    out.push(word(src, start + 2, i, line, true));
                    continue;
                }
                let tok = word(src, start, i, line, true);
                if !auth_next {
                    name_next =
                        matches!(w, "user" | "username" | "pass" | "password" | "is" | "to");
                }
                auth_next = matches!(w, "auth" | "authenticate" | "preauth" | "preauthenticate");
                out.push(tok);
            }
        }
    }
    out
}

fn word(src: &str, start: usize, end: usize, line: u32, bare: bool) -> Tok<'_> {
    Tok {
        text: unescape(&src[start..end]),
        bare,
        map: false,
        line,
        span: start..end,
    }
}

/// fetchmail's escapes: `\\ \n \t \b \r`, `\xHH`, `\0OO` (octal), `\DDD` (decimal), any other
/// `\c` is `c`, a backslash before a newline joins lines.
fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        let Some(&c) = b.get(i) else { break };
        match c {
            b'x' | b'X' => {
                i += 1;
                let mut v: u32 = 0;
                let mut n = 0;
                while n < 2 && i < b.len() && b[i].is_ascii_hexdigit() {
                    v = v * 16 + (b[i] as char).to_digit(16).unwrap_or(0);
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            b'0' => {
                let mut v: u32 = 0;
                let mut n = 0;
                while n < 3 && i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                    v = v * 8 + u32::from(b[i] - b'0');
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            b'1'..=b'9' => {
                let mut v: u32 = 0;
                let mut n = 0;
                while n < 3 && i < b.len() && b[i].is_ascii_digit() {
                    v = v * 10 + u32::from(b[i] - b'0');
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            b'\n' => i += 1,
            _ => {
                out.push(match c {
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'b' => 8,
                    b'r' => b'\r',
                    other => other,
                });
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

// ---- parser -----------------------------------------------------------------------------

/// Server options that a `defaults` entry does not pass on (fetchmail's `optmerge` skips them).
const NOT_INHERITED: [&str; 5] = [
    "aka",
    "esmtpname",
    "esmtppassword",
    "badheader",
    "sslcertfile",
];

/// A poll entry or the defaults entry, as written.
struct Server {
    line: u32,
    name: Option<Node>,
    skip: bool,
    via: Option<Node>,
    protocol: Option<Node>,
    port: Option<Node>,
    auth: Option<Node>,
    options: Map,
    users: Vec<User>,
    /// A user description has begun: server options are no longer allowed.
    in_users: bool,
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
#[derive(Clone)]
struct User {
    line: u32,
    name: Option<Node>,
    local: Option<Node>,
    password: Option<Node>,
    folders: Option<Node>,
    keep: Option<Node>,
    flush: Option<Node>,
    fetchall: Option<Node>,
    limitflush: Option<Node>,
    ssl: Option<Node>,
    options: Map,
}

impl User {
    fn new(line: u32) -> Self {
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

struct Parser<'a> {
    tokens: Vec<Tok<'a>>,
    pos: usize,
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
fn set_map() -> Map {
    let mut m = Map::with_capacity(13);
    for k in [
        "daemon",
        "logfile",
        "idfile",
        "pidfile",
        "postmaster",
        "properties",
        "bouncemail",
        "spambounce",
        "softbounce",
        "syslog",
        "invisible",
        "showdots",
    ] {
        m.push(k, Node::null(1));
    }
    m
}

/// The canonical name of a keyword with synonyms.
fn canonical(w: &str) -> &str {
    match w {
        "username" => "user",
        "pass" => "password",
        "proto" => "protocol",
        "local" => "localdomains",
        "preauth" | "preauthenticate" | "authenticate" => "auth",
        "folders" => "folder",
        "smtp" => "smtphost",
        "pre" => "preconnect",
        "post" => "postconnect",
        "pass8" => "pass8bits",
        "mimedec" => "mimedecode",
        "server" => "poll",
        "bad-header" => "badheader",
        other => other,
    }
}

fn is_server_option(k: &str) -> bool {
    matches!(
        k,
        "via"
            | "aka"
            | "localdomains"
            | "protocol"
            | "principal"
            | "esmtpname"
            | "esmtppassword"
            | "uidl"
            | "checkalias"
            | "service"
            | "port"
            | "interval"
            | "auth"
            | "timeout"
            | "envelope"
            | "qvirtual"
            | "interface"
            | "monitor"
            | "plugin"
            | "plugout"
            | "dns"
            | "tracepolls"
            | "badheader"
    )
}

/// Server options that take no value and can be negated with `no`.
fn is_server_flag(k: &str) -> bool {
    matches!(k, "uidl" | "checkalias" | "dns" | "tracepolls" | "envelope")
}

fn is_user_flag(k: &str) -> bool {
    matches!(
        k,
        "keep"
            | "flush"
            | "limitflush"
            | "fetchall"
            | "rewrite"
            | "forcecr"
            | "stripcr"
            | "pass8bits"
            | "dropstatus"
            | "dropdelivered"
            | "mimedecode"
            | "idle"
            | "ssl"
            | "sslcertck"
    )
}

fn is_user_string(k: &str) -> bool {
    matches!(
        k,
        "smtpaddress"
            | "smtpname"
            | "mda"
            | "bsmtp"
            | "preconnect"
            | "postconnect"
            | "sslkey"
            | "sslcert"
            | "sslproto"
            | "sslcertfile"
            | "sslcertpath"
            | "sslcommonname"
            | "sslfingerprint"
            | "properties"
    )
}

fn is_user_number(k: &str) -> bool {
    matches!(
        k,
        "limit"
            | "warnings"
            | "fetchlimit"
            | "fetchsizelimit"
            | "fastuidl"
            | "batchlimit"
            | "expunge"
    )
}

fn parse_number(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Tok<'a>> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok<'a>> {
        let t = self.tokens.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    /// The next token if it is a value (not a keyword, not `=`).
    fn value(&mut self) -> Option<Tok<'a>> {
        if self.peek().is_some_and(Tok::is_value) {
            self.next()
        } else {
            None
        }
    }

    fn error(&mut self, code: &'static str, line: u32, message: String) {
        self.diagnostics
            .push(Diagnostic::error(code, line, message));
    }

    fn missing(&mut self, what: &str, line: u32) {
        self.error(
            "fetchmail.missing-value",
            line,
            format!("`{what}` needs a value here"),
        );
    }

    fn statements(&mut self) {
        let mut seen_statement = false;
        let mut garbage_reported = false;
        while let Some(t) = self.next() {
            match t.keyword().map(canonical) {
                Some("set") => self.set_statement(&t),
                Some("defaults") => self.server(&t, true, false),
                Some("poll") => self.server(&t, false, false),
                Some("skip") => self.server(&t, false, true),
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
                        self.unknown_word(&t);
                        self.set_other.push(Node::str(t.line, t.text.as_ref()));
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
        match t.keyword() {
            Some(k @ ("logfile" | "idfile" | "pidfile" | "postmaster" | "properties")) => {
                if self.peek().is_some_and(|t| t.map) {
                    self.pos += 1;
                }
                match self.value() {
                    Some(v) => {
                        let node = self.string_node(&v, line);
                        self.set.insert(k.to_string(), node);
                    }
                    None => self.missing(k, line),
                }
            }
            Some("daemon") => {
                if self.peek().is_some_and(|t| t.map) {
                    self.pos += 1;
                }
                match self.value() {
                    Some(v) => match parse_number(&v.text) {
                        Some(n) => {
                            self.set.insert("daemon", Node::int(line, n));
                        }
                        None => self.bad_value("daemon", &v),
                    },
                    None => self.missing("daemon", line),
                }
            }
            Some(
                k @ ("bouncemail" | "spambounce" | "softbounce" | "syslog" | "invisible"
                | "showdots"),
            ) => {
                self.set.insert(k.to_string(), Node::bool(line, true));
            }
            Some("no") => match self.peek().and_then(Tok::keyword) {
                Some(
                    k @ ("bouncemail" | "spambounce" | "softbounce" | "syslog" | "invisible"
                    | "showdots"),
                ) => {
                    let k = k.to_string();
                    self.pos += 1;
                    self.set.insert(k, Node::bool(line, false));
                }
                _ => {
                    self.unknown_word(&t);
                    self.set_other.push(Node::str(line, "no"));
                }
            },
            _ => {
                self.unknown_word(&t);
                self.set_other.push(Node::str(line, t.text.as_ref()));
            }
        }
        self.known += 1;
    }

    fn bad_value(&mut self, what: &str, v: &Tok<'_>) {
        self.error(
            "fetchmail.bad-value",
            v.line,
            format!("`{what}` needs a number, not `{}`", v.text),
        );
    }

    /// A string value; URL credentials inside it (`imap://user:pass@host`) are redacted.
    fn string_node(&mut self, v: &Tok<'_>, line: u32) -> Node {
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
        Node::str(line, v.text.as_ref())
    }

    fn secret_node(&mut self, v: &Tok<'_>, line: u32) -> Node {
        self.spans.push(v.span.clone());
        Node::new(line, Value::Secret(Secret::whole(&v.text)))
    }

    /// `poll|skip NAME ...`, `defaults ...`: server options, then user descriptions.
    fn server(&mut self, head: &Tok<'a>, is_defaults: bool, skip: bool) {
        let mut srv = Server::new(head.line);
        srv.skip = skip;
        if !is_defaults {
            match self.value() {
                Some(v) => srv.name = Some(Node::str(v.line, v.text.as_ref())),
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
            if t.keyword().is_some_and(is_statement) {
                break;
            }
            let Some(t) = self.next() else { break };
            let Some(kw) = t.keyword().map(canonical) else {
                self.unknown_word(&t);
                let target = if srv.in_users {
                    &mut srv.current_user(t.line).options
                } else {
                    &mut srv.options
                };
                push_unknown(target, &t);
                continue;
            };
            let kw = kw.to_string();
            self.known += 1;
            if kw == "no" {
                self.negated(&mut srv, &t);
            } else if is_server_option(&kw) {
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
                self.server_option(&mut srv, &kw, &t);
            } else if kw == "user" {
                srv.in_users = true;
                self.user_description(&mut srv, &t);
            } else if matches!(kw.as_str(), "here" | "there") {
                // Stray `here`/`there` outside a mapping: nothing to record.
            } else if kw == "is"
                || kw == "to"
                || kw == "password"
                || kw == "folder"
                || kw == "smtphost"
                || kw == "fetchdomains"
                || kw == "antispam"
                || kw == "lmtp"
                || is_user_flag(&kw)
                || is_user_string(&kw)
                || is_user_number(&kw)
            {
                let line = t.line;
                let mut user = std::mem::replace(srv.current_user(line), User::new(line));
                self.user_option(&mut user, &kw, &t);
                *srv.current_user(line) = user;
            } else {
                self.unknown_word(&t);
                let target = if srv.in_users {
                    &mut srv.current_user(t.line).options
                } else {
                    &mut srv.options
                };
                push_unknown(target, &t);
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
        let Some(k) = self.peek().and_then(Tok::keyword).map(canonical) else {
            self.unknown_word(no);
            push_unknown(&mut srv.options, no);
            return;
        };
        let k = k.to_string();
        let line = no.line;
        if is_server_flag(&k) {
            self.pos += 1;
            if srv.in_users {
                self.error(
                    "fetchmail.server-option-after-user",
                    line,
                    format!("server option `no {k}` after user options; fetchmail refuses this: move it before the first user option of this entry"),
                );
            }
            srv.options.insert(k, Node::bool(line, false));
        } else if is_user_flag(&k) {
            self.pos += 1;
            let user = srv.current_user(line);
            set_flag(user, &k, Node::bool(line, false));
        } else {
            self.unknown_word(no);
            push_unknown(&mut srv.options, no);
        }
    }

    fn server_option(&mut self, srv: &mut Server, kw: &str, t: &Tok<'_>) {
        let line = t.line;
        match kw {
            "via" => match self.value() {
                Some(v) => srv.via = Some(Node::str(line, v.text.as_ref())),
                None => self.missing("via", line),
            },
            "protocol" => match self.next() {
                Some(v) if !v.map => {
                    srv.protocol = Some(Node::str(line, v.text.to_ascii_lowercase()));
                }
                _ => self.missing(&t.text, line),
            },
            "auth" => match self.next() {
                Some(v) if !v.map => {
                    srv.auth = Some(Node::str(line, v.text.to_ascii_lowercase()));
                }
                _ => self.missing(&t.text, line),
            },
            "port" | "service" => match self.value() {
                Some(v) => {
                    let node = match parse_number(&v.text) {
                        Some(n) => Node::int(line, n),
                        None if kw == "service" => Node::str(line, v.text.as_ref()),
                        None => {
                            self.bad_value("port", &v);
                            Node::str(line, v.text.as_ref())
                        }
                    };
                    srv.port = Some(node);
                }
                None => self.missing(kw, line),
            },
            "timeout" | "interval" => match self.value() {
                Some(v) => match parse_number(&v.text) {
                    Some(n) => {
                        srv.options.insert(kw.to_string(), Node::int(line, n));
                    }
                    None => self.bad_value(kw, &v),
                },
                None => self.missing(kw, line),
            },
            "aka" | "localdomains" => {
                let list = self.string_list(line);
                if list.is_empty() {
                    self.missing(kw, line);
                }
                srv.options.insert(kw.to_string(), Node::list(line, list));
            }
            "esmtppassword" => match self.value() {
                Some(v) => {
                    let node = self.secret_node(&v, line);
                    srv.options.insert(kw.to_string(), node);
                }
                None => self.missing(kw, line),
            },
            "envelope" => {
                if let Some(v) = self.peek().filter(|v| v.is_value())
                    && let Some(n) = parse_number(&v.text)
                {
                    self.pos += 1;
                    srv.options.insert("envelope_skip", Node::int(line, n));
                }
                match self.value() {
                    Some(v) => {
                        srv.options
                            .insert(kw.to_string(), Node::str(line, v.text.as_ref()));
                    }
                    None => self.missing(kw, line),
                }
            }
            "badheader" => match self.next() {
                Some(v) if v.is("accept") || v.is("reject") => {
                    srv.options
                        .insert(kw.to_string(), Node::str(line, v.text.as_ref()));
                }
                _ => self.missing("bad-header", line),
            },
            k if is_server_flag(k) => {
                srv.options.insert(k.to_string(), Node::bool(line, true));
            }
            _ => match self.value() {
                Some(v) => {
                    let node = self.string_node(&v, line);
                    srv.options.insert(kw.to_string(), node);
                }
                None => self.missing(kw, line),
            },
        }
    }

    /// Following values (strings or `a = b` mappings) as a list.
    fn string_list(&mut self, line: u32) -> Vec<Node> {
        let mut out = Vec::new();
        while let Some(v) = self.value() {
            out.push(Node::str(line.max(v.line), v.text.as_ref()));
        }
        out
    }

    /// `user NAME [there]`, `user NAME... here` (local names), then the user's options.
    fn user_description(&mut self, srv: &mut Server, t: &Tok<'_>) {
        let line = t.line;
        let mut user = User::new(line);
        let Some(first) = self.next().filter(|v| !v.map) else {
            self.missing("user", line);
            srv.users.push(user);
            return;
        };
        if self.peek().is_some_and(|n| n.is("there")) {
            self.pos += 1;
            user.name = Some(Node::str(line, first.text.as_ref()));
        } else if self
            .peek()
            .is_some_and(|n| n.is("here") || n.map || n.is_value())
        {
            // `user a b = c here`: local names. Without the closing `here` only the first word
            // is the (remote) user name; the words after it are read as options.
            let save = self.pos;
            let mut names = vec![Node::str(line, first.text.as_ref())];
            self.mapping_list(&mut names, line);
            if self.peek().is_some_and(|n| n.is("here")) {
                self.pos += 1;
                user.local = Some(Node::list(line, names));
            } else {
                self.pos = save;
                user.name = Some(Node::str(line, first.text.as_ref()));
            }
        } else {
            user.name = Some(Node::str(line, first.text.as_ref()));
        }
        srv.users.push(user);
    }

    /// More names after the first: values, and `= name` turning the last one into a mapping.
    fn mapping_list(&mut self, names: &mut Vec<Node>, line: u32) {
        loop {
            if self.peek().is_some_and(|n| n.map) {
                self.pos += 1;
                let Some(target) = self.next().filter(|v| !v.map) else {
                    self.missing("=", line);
                    return;
                };
                if let Some(last) = names.last_mut()
                    && let Value::Str(s) = &mut last.value
                {
                    s.push_str(" = ");
                    s.push_str(&target.text);
                }
                continue;
            }
            match self.value() {
                Some(v) => names.push(Node::str(v.line, v.text.as_ref())),
                None => return,
            }
        }
    }

    fn user_option(&mut self, user: &mut User, kw: &str, t: &Tok<'_>) {
        let line = t.line;
        match kw {
            "is" | "to" => {
                let Some(first) = self.next().filter(|v| !v.map) else {
                    self.missing(kw, line);
                    return;
                };
                if self.peek().is_some_and(|n| n.is("there")) {
                    // `is NAME there` names the remote user.
                    self.pos += 1;
                    user.name = Some(Node::str(line, first.text.as_ref()));
                    return;
                }
                let mut names = vec![Node::str(line, first.text.as_ref())];
                self.mapping_list(&mut names, line);
                if self.peek().is_some_and(|n| n.is("here")) {
                    self.pos += 1;
                }
                match &mut user.local {
                    Some(Node {
                        value: Value::List(existing),
                        ..
                    }) => existing.extend(names),
                    _ => user.local = Some(Node::list(line, names)),
                }
            }
            "password" => match self.next().filter(|v| !v.map) {
                Some(v) => user.password = Some(self.secret_node(&v, line)),
                None => self.missing("password", line),
            },
            "folder" | "smtphost" | "fetchdomains" => {
                let list = self.string_list(line);
                if list.is_empty() {
                    self.missing(kw, line);
                }
                let node = Node::list(line, list);
                if kw == "folder" {
                    user.folders = Some(node);
                } else {
                    user.options.insert(kw.to_string(), node);
                }
            }
            "antispam" => {
                let mut codes = Vec::new();
                while let Some(v) = self.peek().filter(|v| v.is_value()) {
                    let Some(n) = parse_number(&v.text) else {
                        break;
                    };
                    codes.push(Node::int(v.line, n));
                    self.pos += 1;
                }
                if codes.is_empty() {
                    self.missing(kw, line);
                }
                user.options.insert(kw.to_string(), Node::list(line, codes));
            }
            "lmtp" => {
                user.options.insert(kw.to_string(), Node::bool(line, true));
            }
            k if is_user_flag(k) => set_flag(user, k, Node::bool(line, true)),
            k if is_user_number(k) => match self.value() {
                Some(v) => match parse_number(&v.text) {
                    Some(n) => {
                        user.options.insert(k.to_string(), Node::int(line, n));
                    }
                    None => self.bad_value(k, &v),
                },
                None => self.missing(k, line),
            },
            k => match self.value() {
                Some(v) => {
                    let node = self.string_node(&v, line);
                    user.options.insert(k.to_string(), node);
                }
                None => self.missing(k, line),
            },
        }
    }

    fn finish(mut self) -> Document {
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
        let mut root = Map::with_capacity(3);
        let mut set = std::mem::take(&mut self.set);
        set.push(
            "other",
            Node::list(self.set_line.max(1), std::mem::take(&mut self.set_other)),
        );
        root.push("set", Node::map(self.set_line.max(1), set));
        let defaults = self.defaults.take();
        let polls: Vec<Node> = std::mem::take(&mut self.polls)
            .into_iter()
            .map(|p| poll_node(p, defaults.as_ref()))
            .collect();
        root.push(
            "defaults",
            match &defaults {
                Some(d) => defaults_node(d),
                None => Node::null(1),
            },
        );
        let polls_line = polls.first().map_or(1, |p| p.line);
        root.push("polls", Node::list(polls_line, polls));
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

fn push_unknown(options: &mut Map, t: &Tok<'_>) {
    let node = Node::str(t.line, t.text.as_ref());
    match options.get_mut("unknown") {
        Some(Node {
            value: Value::List(items),
            ..
        }) => items.push(node),
        _ => {
            options.insert("unknown", Node::list(t.line, vec![node]));
        }
    }
}

fn set_flag(user: &mut User, k: &str, node: Node) {
    match k {
        "keep" => user.keep = Some(node),
        "flush" => user.flush = Some(node),
        "fetchall" => user.fetchall = Some(node),
        "limitflush" => user.limitflush = Some(node),
        "ssl" => user.ssl = Some(node),
        _ => {
            user.options.insert(k.to_string(), node);
        }
    }
}

// ---- the tree ---------------------------------------------------------------------------

fn pick(own: &Option<Node>, inherited: Option<&Option<Node>>) -> Option<Node> {
    own.clone().or_else(|| inherited.and_then(|n| n.clone()))
}

/// `own` options, plus the inheritable `defaults` options it does not set.
fn merged_options(own: &Map, defaults: Option<&Map>) -> Map {
    let mut m = own.clone();
    if let Some(d) = defaults {
        for (k, v) in d.iter() {
            if !NOT_INHERITED.contains(&k) && k != "unknown" && !m.contains_key(k) {
                m.push(k.to_string(), v.clone());
            }
        }
    }
    m
}

fn poll_node(p: Server, defaults: Option<&Server>) -> Node {
    let line = p.line;
    let mut m = Map::with_capacity(8);
    m.push("name", p.name.clone().unwrap_or_else(|| Node::null(line)));
    m.push("skip", Node::bool(line, p.skip));
    let d = defaults;
    // The poll's own value, else the one inherited from `defaults`, else null.
    let inherit = |own: &Option<Node>, default: Option<&Option<Node>>| {
        pick(own, default).unwrap_or_else(|| Node::null(line))
    };
    m.push("via", inherit(&p.via, d.map(|d| &d.via)));
    m.push("protocol", inherit(&p.protocol, d.map(|d| &d.protocol)));
    m.push("port", inherit(&p.port, d.map(|d| &d.port)));
    m.push("auth", inherit(&p.auth, d.map(|d| &d.auth)));
    m.push(
        "options",
        Node::map(line, merged_options(&p.options, d.map(|d| &d.options))),
    );
    let default_user = d.and_then(|d| d.users.first());
    let mut users = p.users;
    if users.is_empty() {
        users.push(User::new(line));
    }
    let users = users
        .iter()
        .map(|u| user_node(u, default_user, true))
        .collect();
    m.push("users", Node::list(line, users));
    Node::map(line, m)
}

/// A user map. With `effective`, unset fields take the defaults entry's value, else fetchmail's
/// built-in default (flags false, lists empty, names null); without, unset fields are null.
fn user_node(u: &User, d: Option<&User>, effective: bool) -> Node {
    let line = u.line;
    let fallback = |own: &Option<Node>, inherited: Option<&Option<Node>>, default: Node| {
        let inherited = if effective { inherited } else { None };
        match pick(own, inherited) {
            Some(n) => n,
            None if effective => default,
            None => Node::null(line),
        }
    };
    let mut m = Map::with_capacity(10);
    m.push(
        "name",
        fallback(&u.name, d.map(|d| &d.name), Node::null(line)),
    );
    m.push(
        "local",
        fallback(&u.local, d.map(|d| &d.local), Node::list(line, Vec::new())),
    );
    m.push(
        "password",
        fallback(&u.password, d.map(|d| &d.password), Node::null(line)),
    );
    m.push(
        "folders",
        fallback(
            &u.folders,
            d.map(|d| &d.folders),
            Node::list(line, Vec::new()),
        ),
    );
    for (key, own, inherited) in [
        ("keep", &u.keep, d.map(|d| &d.keep)),
        ("flush", &u.flush, d.map(|d| &d.flush)),
        ("fetchall", &u.fetchall, d.map(|d| &d.fetchall)),
        ("limitflush", &u.limitflush, d.map(|d| &d.limitflush)),
        ("ssl", &u.ssl, d.map(|d| &d.ssl)),
    ] {
        m.push(key, fallback(own, inherited, Node::bool(line, false)));
    }
    let options = if effective {
        merged_options(&u.options, d.map(|d| &d.options))
    } else {
        u.options.clone()
    };
    m.push("options", Node::map(line, options));
    Node::map(line, m)
}

fn defaults_node(d: &Server) -> Node {
    let line = d.line;
    let or_null = |n: &Option<Node>| n.clone().unwrap_or_else(|| Node::null(line));
    let mut m = Map::with_capacity(6);
    m.push("via", or_null(&d.via));
    m.push("protocol", or_null(&d.protocol));
    m.push("port", or_null(&d.port));
    m.push("auth", or_null(&d.auth));
    m.push("options", Node::map(line, d.options.clone()));
    m.push(
        "user",
        match d.users.first() {
            Some(u) => user_node(u, None, false),
            None => Node::null(line),
        },
    );
    Node::map(line, m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at<'a>(node: &'a Node, path: &str) -> &'a Node {
        node.at_path(path)
            .unwrap_or_else(|| panic!("no node at {path} in {:?}", node.value))
    }

    fn v(node: &Node, path: &str) -> Value {
        at(node, path).value.clone()
    }

    fn st(s: &str) -> Value {
        Value::Str(s.to_string())
    }

    fn codes(doc: &Document) -> Vec<&'static str> {
        doc.diagnostics.iter().map(|d| d.code).collect()
    }

    fn clean(text: &str) -> Document {
        let doc = parse(text);
        assert!(doc.diagnostics.is_empty(), "{:?}", doc.diagnostics);
        doc
    }

    #[test]
    fn keep_flush_fetchall_and_defaults() {
        let doc = clean(concat!(
            "set daemon 300\n",
            "set no bouncemail\n",
            "defaults proto imap keep ssl\n",
            "poll a.example user alice password \"x\"\n",
            "poll b.example with proto pop3\n",
            "  user bob there with password 'y' is bob here no keep flush fetchall\n",
            "poll c.example user carol nokeep\n",
            "poll d.example\n",
        ));
        let r = &doc.root;
        assert_eq!(v(r, "set.daemon"), Value::Int(300));
        assert_eq!(v(r, "set.bouncemail"), Value::Bool(false));
        assert_eq!(v(r, "set.logfile"), Value::Null);
        assert_eq!(v(r, "defaults.protocol"), st("imap"));
        assert_eq!(v(r, "defaults.user.keep"), Value::Bool(true));
        assert_eq!(v(r, "defaults.user.flush"), Value::Null);
        // alice inherits keep and ssl from defaults; the node points at the defaults line.
        assert_eq!(v(r, "polls.0.users.0.keep"), Value::Bool(true));
        assert_eq!(at(r, "polls.0.users.0.keep").line, 3);
        assert_eq!(v(r, "polls.0.protocol"), st("imap"));
        assert_eq!(v(r, "polls.1.protocol"), st("pop3"));
        assert_eq!(v(r, "polls.1.users.0.name"), st("bob"));
        assert_eq!(v(r, "polls.1.users.0.keep"), Value::Bool(false));
        assert_eq!(v(r, "polls.1.users.0.flush"), Value::Bool(true));
        assert_eq!(v(r, "polls.1.users.0.fetchall"), Value::Bool(true));
        assert_eq!(v(r, "polls.1.users.0.local.0"), st("bob"));
        assert_eq!(v(r, "polls.2.users.0.keep"), Value::Bool(false));
        // A poll without a user description polls one implicit user.
        assert_eq!(v(r, "polls.3.users.0.name"), Value::Null);
        assert_eq!(v(r, "polls.3.users.0.keep"), Value::Bool(true));
    }

    #[test]
    fn without_defaults_keep_is_false() {
        let doc = clean("poll mail.example.net protocol imap user u password p\n");
        assert_eq!(v(&doc.root, "defaults"), Value::Null);
        assert_eq!(v(&doc.root, "polls.0.users.0.keep"), Value::Bool(false));
        assert_eq!(v(&doc.root, "polls.0.users.0.ssl"), Value::Bool(false));
    }

    #[test]
    fn several_users_folders_and_local_names() {
        let doc = clean(concat!(
            "poll imap.example.org proto imap port 993 auth password timeout 60:\n",
            "  user \"ann\" with pass \"a1\" is ann annie here options keep ssl\n",
            "    folder INBOX, \"Sent Items\", Archive\n",
            "  user joe there is * here fetchall\n",
            "  user x y = z here\n",
        ));
        let r = &doc.root;
        assert_eq!(v(r, "polls.0.port"), Value::Int(993));
        assert_eq!(v(r, "polls.0.auth"), st("password"));
        assert_eq!(v(r, "polls.0.options.timeout"), Value::Int(60));
        assert_eq!(v(r, "polls.0.users.0.name"), st("ann"));
        assert_eq!(v(r, "polls.0.users.0.local.1"), st("annie"));
        assert_eq!(v(r, "polls.0.users.0.folders.1"), st("Sent Items"));
        assert_eq!(at(r, "polls.0.users.0.folders.2").line, 3);
        assert_eq!(v(r, "polls.0.users.1.local.0"), st("*"));
        assert_eq!(v(r, "polls.0.users.1.fetchall"), Value::Bool(true));
        assert_eq!(v(r, "polls.0.users.2.name"), Value::Null);
        assert_eq!(v(r, "polls.0.users.2.local.1"), st("y = z"));
    }

    #[test]
    fn skip_via_service_and_server_synonym() {
        let doc = clean(concat!(
            "skip old.example via 10.0.0.1 protocol IMAP service imaps\n",
            "server new.example proto POP3 uidl no dns user u\n",
        ));
        let r = &doc.root;
        assert_eq!(v(r, "polls.0.skip"), Value::Bool(true));
        assert_eq!(v(r, "polls.0.via"), st("10.0.0.1"));
        assert_eq!(v(r, "polls.0.protocol"), st("imap"));
        assert_eq!(v(r, "polls.0.port"), st("imaps"));
        assert_eq!(v(r, "polls.1.name"), st("new.example"));
        assert_eq!(v(r, "polls.1.options.uidl"), Value::Bool(true));
        assert_eq!(v(r, "polls.1.options.dns"), Value::Bool(false));
    }

    #[test]
    fn names_after_user_may_look_like_keywords() {
        let doc = clean("poll p user keep password keep is keep here\n");
        let r = &doc.root;
        assert_eq!(v(r, "polls.0.users.0.name"), st("keep"));
        assert_eq!(v(r, "polls.0.users.0.local.0"), st("keep"));
        assert_eq!(v(r, "polls.0.users.0.keep"), Value::Bool(false));
    }

    #[test]
    fn passwords_are_secrets_with_spans() {
        let text = "poll p user u password \"s3cr et\" esmtppassword Esmtp-Pw\npoll q user v pass 'single#q'\n";
        let doc = parse(text);
        assert!(
            doc.diagnostics
                .iter()
                .any(|d| d.code == "fetchmail.server-option-after-user")
        );
        let doc = clean(
            "poll p esmtppassword Esmtp-Pw user u password \"s3cr et\"\npoll q user v pass 'single#q'\n",
        );
        let dump = doc.dump();
        let redacted = doc.redact_source(text);
        for secret in ["s3cr et", "Esmtp-Pw", "single#q"] {
            assert!(!dump.contains(secret), "{secret}");
        }
        assert!(!doc
            .redact_source("poll p esmtppassword Esmtp-Pw user u password \"s3cr et\"\npoll q user v pass 'single#q'\n")
            .contains("s3cr"));
        assert!(redacted.contains("poll"));
        assert_eq!(doc.secret_spans.len(), 3);
        assert_ne!(
            parse("poll p user u password a\n").content_hash(),
            parse("poll p user u password b\n").content_hash()
        );
    }

    #[test]
    fn strings_escapes_comments_and_continuations() {
        let doc = clean(concat!(
            "# comment line\n",
            "poll p.example # trailing comment\n",
            "  user u password \"a\\x41\\101\\n\" \\\n",
            "  mda \"/usr/bin/procmail -d %T\"\n",
            "  folder \"multi\nline\"\n",
            "  keep\n",
        ));
        let r = &doc.root;
        assert_eq!(
            v(r, "polls.0.users.0.options.mda"),
            st("/usr/bin/procmail -d %T")
        );
        assert_eq!(v(r, "polls.0.users.0.folders.0"), st("multi\nline"));
        assert_eq!(at(r, "polls.0.users.0.keep").line, 7);
    }

    #[test]
    fn fetchmail_escape_rules() {
        assert_eq!(unescape("a\\x41\\101\\n\\\\"), "aAe\n\\");
        assert_eq!(unescape("\\0101x"), "\u{8}1x");
        assert_eq!(unescape("\\q"), "q");
        assert_eq!(unescape("end\\"), "end");
    }

    #[test]
    fn quoted_name_followed_by_text_is_one_word() {
        // fetchmail's lexer takes the longest match here: the password is `"a"b"`.
        let doc = clean("poll p user u password \"a\\\"b\" keep\n");
        assert_eq!(doc.secret_spans, vec![23..29]);
        assert_eq!(
            v(&doc.root, "polls.0.users.0.password"),
            Value::Secret(Secret::whole("\"a\"b\""))
        );
    }

    #[test]
    fn url_credentials_in_strings_are_redacted() {
        let doc = clean("poll p plugin \"proxy http://me:Pr0xyPw@proxy:3128\" user u\n");
        assert!(!doc.dump().contains("Pr0xyPw"));
        assert_eq!(doc.secret_spans.len(), 1);
    }

    #[test]
    fn diagnostics() {
        let doc = parse("poll\npoll user x\n");
        assert_eq!(
            codes(&doc),
            ["fetchmail.missing-server", "fetchmail.missing-server"]
        );
        let doc = parse("poll p user u frobnicate keep\n");
        assert_eq!(codes(&doc), ["fetchmail.unknown-keyword"]);
        assert!(!doc.has_errors());
        assert_eq!(
            v(&doc.root, "polls.0.users.0.options.unknown.0"),
            st("frobnicate")
        );
        let doc = parse("poll p user u keep via relay\n");
        assert_eq!(codes(&doc), ["fetchmail.server-option-after-user"]);
        let doc = parse("poll p user u\ndefaults keep\n");
        assert_eq!(codes(&doc), ["fetchmail.defaults-misplaced"]);
        let doc = parse("poll p port abc user u password\n");
        assert_eq!(
            codes(&doc),
            ["fetchmail.bad-value", "fetchmail.missing-value"]
        );
        let doc = parse("poll p user u mda \"never closed\n");
        assert_eq!(codes(&doc), ["fetchmail.unterminated-string"]);
        let doc = parse("set frobnicate\n");
        assert_eq!(codes(&doc), ["fetchmail.unknown-keyword"]);
    }

    #[test]
    fn not_a_fetchmailrc() {
        for text in [
            "polls:\n  - server: mail.example.com\n    user: alice\n",
            "{\"poll\": \"x\"}",
            "[section]\nkey = value\n",
        ] {
            let doc = parse(text);
            assert!(
                codes(&doc).contains(&"fetchmail.not-fetchmailrc"),
                "{text}: {:?}",
                doc.diagnostics
            );
        }
    }

    #[test]
    fn identity_keys() {
        let doc = clean("poll a user u1 user u2\n");
        let id = |p: &str| crate::diff::identity_of(at(&doc.root, p));
        assert_eq!(id("polls.0").as_deref(), Some("a"));
        assert_eq!(id("polls.0.users.1").as_deref(), Some("u2"));
    }

    #[test]
    fn never_panics() {
        for text in [
            "poll",
            "set",
            "set daemon",
            "user",
            "\"",
            "'",
            "=",
            "poll p user",
            "poll p is",
            "poll p user a =",
            "poll p envelope 1",
            "poll p bad-header",
            "\\",
            "poll p \\\n",
            "poll p user u antispam",
            "no",
            "poll p no",
            "poll p no frob",
            "poll p auth",
        ] {
            let _ = parse(text);
        }
    }
}
