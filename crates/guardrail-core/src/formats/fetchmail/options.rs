//! The options of poll entries (server options) and of user descriptions, read into the
//! entry being parsed.

use crate::document::{Node, Value};

use super::keywords::{Canon, Kw, is_server_flag, is_user_flag, is_user_number};
use super::lexer::Tok;
use super::parser::{Parser, Server, User, parse_number, set_flag, str_node};

impl<'t, 'a> Parser<'t, 'a> {
    /// A server option of a poll or `defaults` entry (`t` is its keyword, `kw` canonical).
    pub(super) fn server_option(&mut self, srv: &mut Server, kw: Canon, t: &Tok<'_>) {
        let line = t.line;
        let key = kw.name();
        let Canon::Kw(k) = kw else {
            // `bad-header accept|reject`
            match self.next() {
                Some(v) if v.is(Kw::Accept) || v.is(Kw::Reject) => {
                    srv.options.insert(key, str_node(line, v));
                }
                _ => self.missing("bad-header", line),
            }
            return;
        };
        match k {
            Kw::Via => match self.value() {
                Some(v) => srv.via = Some(str_node(line, v)),
                None => self.missing("via", line),
            },
            Kw::Protocol => match self.next() {
                Some(v) if !v.map => {
                    srv.protocol = Some(Node::str(line, v.text.to_ascii_lowercase()));
                }
                _ => self.missing(&t.text, line),
            },
            Kw::Auth => match self.next() {
                Some(v) if !v.map => {
                    srv.auth = Some(Node::str(line, v.text.to_ascii_lowercase()));
                }
                _ => self.missing(&t.text, line),
            },
            Kw::Port | Kw::Service => self.port(srv, k, line),
            Kw::Timeout | Kw::Interval => match self.value() {
                Some(v) => match parse_number(&v.text) {
                    Some(n) => {
                        srv.options.insert(key, Node::int(line, n));
                    }
                    None => self.bad_value(key, v),
                },
                None => self.missing(key, line),
            },
            Kw::Aka | Kw::Localdomains => {
                let list = self.string_list(line);
                if list.is_empty() {
                    self.missing(key, line);
                }
                srv.options.insert(key, Node::unordered_list(line, list));
            }
            Kw::Esmtppassword => match self.value() {
                Some(v) => {
                    let node = self.secret_node(v, line);
                    srv.options.insert(key, node);
                }
                None => self.missing(key, line),
            },
            Kw::Envelope => self.envelope(srv, line),
            k if is_server_flag(k) => {
                srv.options.insert(key, Node::bool(line, true));
            }
            _ => match self.value() {
                Some(v) => {
                    let node = self.string_node(v, line);
                    srv.options.insert(key, node);
                }
                None => self.missing(key, line),
            },
        }
    }

    /// `port N` or `service NAME|N` (a service may be named; a port must be a number).
    fn port(&mut self, srv: &mut Server, k: Kw, line: u32) {
        match self.value() {
            Some(v) => {
                let node = match parse_number(&v.text) {
                    Some(n) => Node::int(line, n),
                    None if k == Kw::Service => str_node(line, v),
                    None => {
                        self.bad_value("port", v);
                        str_node(line, v)
                    }
                };
                srv.port = Some(node);
            }
            None => self.missing(k.name(), line),
        }
    }

    /// `envelope [N] HEADER`: the header, and the count of its occurrences to skip.
    fn envelope(&mut self, srv: &mut Server, line: u32) {
        let key = Kw::Envelope.name();
        if let Some(v) = self.peek().filter(|v| v.is_value())
            && let Some(n) = parse_number(&v.text)
        {
            self.pos += 1;
            srv.options.insert("envelope_skip", Node::int(line, n));
        }
        match self.value() {
            Some(v) => {
                srv.options.insert(key, str_node(line, v));
            }
            None => self.missing(key, line),
        }
    }

    /// Following values (strings or `a = b` mappings) as a list.
    fn string_list(&mut self, line: u32) -> Vec<Node> {
        let mut out = Vec::new();
        while let Some(v) = self.value() {
            out.push(str_node(line.max(v.line), v));
        }
        out
    }

    /// `user NAME [there]`, `user NAME... here` (local names), then the user's options.
    pub(super) fn user_description(&mut self, srv: &mut Server, t: &Tok<'_>) {
        let line = t.line;
        let mut user = User::new(line);
        let Some(first) = self.next_not_map() else {
            self.missing("user", line);
            srv.users.push(user);
            return;
        };
        if self.peek().is_some_and(|n| n.is(Kw::There)) {
            self.pos += 1;
            user.name = Some(str_node(line, first));
        } else if self
            .peek()
            .is_some_and(|n| n.is(Kw::Here) || n.map || n.is_value())
        {
            // `user a b = c here`: local names. Without the closing `here` only the first word
            // is the (remote) user name; the words after it are read as options.
            let save = self.pos;
            let mut names = vec![str_node(line, first)];
            self.mapping_list(&mut names, line);
            if self.peek().is_some_and(|n| n.is(Kw::Here)) {
                self.pos += 1;
                user.local = Some(Node::unordered_list(line, names));
            } else {
                self.pos = save;
                user.name = Some(str_node(line, first));
            }
        } else {
            user.name = Some(str_node(line, first));
        }
        srv.users.push(user);
    }

    /// More names after the first: values, and `= name` turning the last one into a mapping.
    fn mapping_list(&mut self, names: &mut Vec<Node>, line: u32) {
        loop {
            if self.peek().is_some_and(|n| n.map) {
                self.pos += 1;
                let Some(target) = self.next_not_map() else {
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
                Some(v) => names.push(str_node(v.line, v)),
                None => return,
            }
        }
    }

    /// A user option (`t` is its keyword, `kw` canonical) of the user being described.
    pub(super) fn user_option(&mut self, user: &mut User, kw: Kw, t: &Tok<'_>) {
        let line = t.line;
        let key = kw.name();
        match kw {
            Kw::Is | Kw::To => self.local_names(user, key, line),
            Kw::Password => match self.next_not_map() {
                Some(v) => user.password = Some(self.secret_node(v, line)),
                None => self.missing("password", line),
            },
            Kw::Folder | Kw::Smtphost | Kw::Fetchdomains => {
                let list = self.string_list(line);
                if list.is_empty() {
                    self.missing(key, line);
                }
                // fetchmail tries the `smtphost` list in order and forwards to the first host
                // that answers; folders and fetchdomains are sets.
                let node = if kw == Kw::Smtphost {
                    Node::ordered_list(line, list)
                } else {
                    Node::unordered_list(line, list)
                };
                if kw == Kw::Folder {
                    user.folders = Some(node);
                } else {
                    user.options.insert(key, node);
                }
            }
            Kw::Antispam => {
                let mut codes = Vec::new();
                while let Some(v) = self.peek().filter(|v| v.is_value()) {
                    let Some(n) = parse_number(&v.text) else {
                        break;
                    };
                    codes.push(Node::int(v.line, n));
                    self.pos += 1;
                }
                if codes.is_empty() {
                    self.missing(key, line);
                }
                user.options.insert(key, Node::unordered_list(line, codes));
            }
            Kw::Lmtp => {
                user.options.insert(key, Node::bool(line, true));
            }
            k if is_user_flag(k) => set_flag(user, k, Node::bool(line, true)),
            k if is_user_number(k) => match self.value() {
                Some(v) => match parse_number(&v.text) {
                    Some(n) => {
                        user.options.insert(key, Node::int(line, n));
                    }
                    None => self.bad_value(key, v),
                },
                None => self.missing(key, line),
            },
            _ => match self.value() {
                Some(v) => {
                    let node = self.string_node(v, line);
                    user.options.insert(key, node);
                }
                None => self.missing(key, line),
            },
        }
    }

    /// `is|to NAME there` (the remote user's name), or `is|to NAME... [here]`: local names,
    /// added to those the user already has.
    fn local_names(&mut self, user: &mut User, key: &str, line: u32) {
        let Some(first) = self.next_not_map() else {
            self.missing(key, line);
            return;
        };
        if self.peek().is_some_and(|n| n.is(Kw::There)) {
            // `is NAME there` names the remote user.
            self.pos += 1;
            user.name = Some(str_node(line, first));
            return;
        }
        let mut names = vec![str_node(line, first)];
        self.mapping_list(&mut names, line);
        if self.peek().is_some_and(|n| n.is(Kw::Here)) {
            self.pos += 1;
        }
        match &mut user.local {
            Some(Node {
                value: Value::List(existing),
                ..
            }) => existing.extend(names),
            _ => user.local = Some(Node::unordered_list(line, names)),
        }
    }
}
