//! The directives of a proxy section (`defaults`, `frontend`, `backend`, `listen`): each one
//! the tree has a field for is parsed into the [`Proxy`](super::proxy::Proxy) being read;
//! every other line is kept, normalised, in its `directives`.

use std::ops::Range;

use crate::document::{Diagnostic, Map, Node};
use crate::formats::lines::Line;

use super::keywords::{Kw, option_key, timeout_key};
use super::text::{self, Tok, Words, value};
use super::{Parser, replaced, server, syntax};

impl Parser<'_> {
    /// One line of a proxy section; `kw` is its first word's kind and `secrets` the byte
    /// ranges of its secrets.
    pub(super) fn proxy_directive(
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
                self.single_valued(line, kw, words, secrets);
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
            Kw::UseBackend if !args.is_empty() => self.use_backend(line, words, secrets),
            Kw::Server | Kw::ServerTemplate => self.server(line, kw, words, secrets),
            Kw::DefaultServer => self.default_server(line, words, secrets),
            Kw::Option if !args.is_empty() => self.setting(line, kw, words, secrets),
            Kw::No if args.len() == 2 && args[0].bytes(t) == b"option" => {
                self.setting(line, kw, words, secrets);
            }
            Kw::Timeout if args.len() >= 2 => self.setting(line, kw, words, secrets),
            Kw::HttpCheck if !args.is_empty() => p.http_check.push(rest(args)),
            Kw::TcpCheck if !args.is_empty() => p.tcp_check.push(rest(args)),
            Kw::HttpRequest if !args.is_empty() => p.http_request.push(rest(args)),
            Kw::HttpResponse if !args.is_empty() => p.http_response.push(rest(args)),
            Kw::HttpAfterResponse if !args.is_empty() => p.http_after_response.push(rest(args)),
            Kw::Redirect if !args.is_empty() => p.redirect.push(rest(args)),
            Kw::UseServer if !args.is_empty() => p.use_server.push(rest(args)),
            Kw::Stick if !args.is_empty() => p.stick.push(rest(args)),
            Kw::TcpResponse if !args.is_empty() && args[0].bytes(t) != b"inspect-delay" => {
                p.tcp_response.push(rest(args));
            }
            Kw::TcpRequest if !args.is_empty() && args[0].bytes(t) != b"inspect-delay" => {
                p.tcp_request
                    .push((tcp_phase(args[0].bytes(t)), rest(args)));
            }
            k if args.is_empty() && needs_arguments(k) => {
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

    /// `mode`, `balance` and `default_backend`: HAProxy uses the last one of a section.
    fn single_valued(&mut self, line: &Line<'_>, kw: Kw, words: &Words, secrets: &[Range<usize>]) {
        let (t, n) = (line.text, line.number);
        let args = &words.toks[1..];
        let p = &mut self.proxy;
        let (slot, what) = match kw {
            Kw::Mode => (&mut p.mode, "mode"),
            Kw::Balance => (&mut p.balance, "balance"),
            _ => (&mut p.default_backend, "default_backend"),
        };
        let node = if kw == Kw::DefaultBackend {
            Node::str(n, words.unquote(t, args[0]).into_owned())
        } else {
            Node::new(n, value(t, args, secrets))
        };
        if let Some(old) = slot.replace(node) {
            replaced(&mut self.diagnostics, old, what, n, &mut p.directives);
        }
    }

    /// `option NAME [ARGS]`, `no option NAME` and `timeout NAME VALUE`: entries of the
    /// `options` and `timeouts` maps (HAProxy uses the last one of a name).
    fn setting(&mut self, line: &Line<'_>, kw: Kw, words: &Words, secrets: &[Range<usize>]) {
        let (t, n) = (line.text, line.number);
        let args = &words.toks[1..];
        let rest = |toks: &[Tok]| Node::new(n, value(t, toks, secrets));
        let p = &mut self.proxy;
        let (map, directive, name, v) = match kw {
            Kw::Option => {
                let name = args[0].text(t);
                let v = if args.len() == 1 {
                    Node::bool(n, true)
                } else {
                    rest(&args[1..])
                };
                (&mut p.options, "option", name, v)
            }
            Kw::No => (
                &mut p.options,
                "option",
                args[1].text(t),
                Node::bool(n, false),
            ),
            _ => (
                &mut p.timeouts,
                "timeout",
                args[0].text(t),
                rest(&args[1..]),
            ),
        };
        let key = if directive == "option" {
            option_key(name)
        } else {
            timeout_key(name)
        };
        if let Some(old) = map.insert(key, v) {
            let what = format!("{directive} {name}");
            replaced(&mut self.diagnostics, old, &what, n, &mut p.directives);
        }
    }

    /// `use_backend NAME [if|unless CONDITION]`: the backend (dynamic when it holds a `%[`
    /// sample) and its condition.
    fn use_backend(&mut self, line: &Line<'_>, words: &Words, secrets: &[Range<usize>]) {
        let (t, n) = (line.text, line.number);
        let toks = &words.toks[..];
        let args = &toks[1..];
        let rest = |toks: &[Tok]| Node::new(n, value(t, toks, secrets));
        let p = &mut self.proxy;
        let cond_at = args
            .iter()
            .position(|a| matches!(a.bytes(t), b"if" | b"unless"))
            .unwrap_or(args.len());
        if cond_at == 0 {
            syntax(
                &mut self.diagnostics,
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

    /// `server` and `server-template` lines, into `servers`; a line that cannot be read is
    /// kept in `directives`.
    fn server(&mut self, line: &Line<'_>, kw: Kw, words: &Words, secrets: &[Range<usize>]) {
        let (t, n) = (line.text, line.number);
        let p = &mut self.proxy;
        let diagnostics = &mut self.diagnostics;
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
                p.directives
                    .push(Node::new(n, value(t, &words.toks, secrets)));
            }
        }
    }

    /// `default-server` lines, merged into one `default_server` map (a setting written again
    /// replaces the earlier one).
    fn default_server(&mut self, line: &Line<'_>, words: &Words, secrets: &[Range<usize>]) {
        let (t, n) = (line.text, line.number);
        let p = &mut self.proxy;
        let diagnostics = &mut self.diagnostics;
        let (_, map) = p.default_server.get_or_insert_with(|| (n, Map::new()));
        match server::merge_default_server(t, n, words, map) {
            Ok(again) => {
                for k in again {
                    diagnostics.push(Diagnostic::warning(
                        "haproxy.duplicate-directive",
                        n,
                        format!("`default-server` sets `{k}` again; HAProxy uses the last one"),
                    ));
                }
            }
            Err(why) => {
                diagnostics.push(Diagnostic::warning(
                    "haproxy.server-syntax",
                    n,
                    format!("{why}; the line is kept as written in `directives`"),
                ));
                p.directives
                    .push(Node::new(n, value(t, &words.toks, secrets)));
            }
        }
        if p.default_server.as_ref().is_some_and(|(_, m)| m.is_empty()) {
            p.default_server = None;
        }
    }
}

/// The rank of a `tcp-request` rule's phase, in the order HAProxy runs them (`connection`,
/// `session`, `content`).
fn tcp_phase(phase: &[u8]) -> u8 {
    match phase {
        b"connection" => 0,
        b"session" => 1,
        b"content" => 2,
        _ => 3,
    }
}

/// The directives the tree has a field for that are meaningless without arguments: such a line
/// is reported and kept as written.
fn needs_arguments(kw: Kw) -> bool {
    matches!(
        kw,
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
    )
}
