//! `server`, `server-template` and `default-server` lines: address splitting and keywords.

use std::borrow::Cow;

use crate::document::{Key, Map, Node, Value};

use super::text::{Tok, Words};

/// What a server keyword is (HAProxy configuration manual, section 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kw {
    /// Takes no argument.
    Flag,
    /// Takes one argument.
    Arg,
    /// Not known here: a flag when followed by a known keyword or nothing, else takes one argument.
    Unknown,
}

/// Declares the server keywords once: [`known`] gives a word's kind and the keyword as a
/// `&'static str`, so that option keys need no allocation.
macro_rules! server_keywords {
    (flags: [$($flag:literal),* $(,)?], args: [$($arg:literal),* $(,)?] $(,)?) => {
        // A `match` compiles to a length switch and inline byte compares: much cheaper than
        // searching a table, and this runs for every word of every server line. (Measured: a
        // `const` FNV-1a table as in the fetchmail parser took 5.6 ms a parse against 5.4,
        // and a `match` on byte strings 5.7.)
        fn known(k: &str) -> Option<(&'static str, Kw)> {
            match k {
                $($flag => Some(($flag, Kw::Flag)),)*
                $($arg => Some(($arg, Kw::Arg)),)*
                _ => None,
            }
        }
    };
}

server_keywords! {
    flags: [
        "agent-check", "allow-0rtt", "backup", "check", "check-pool-conn-name",
        "check-reuse-pool", "check-send-proxy", "check-ssl", "check-via-socks4", "disabled",
        "enabled", "force-sslv3", "force-tlsv10", "force-tlsv11", "force-tlsv12", "force-tlsv13",
        "no-agent-check", "no-backup", "no-check", "no-check-reuse-pool", "no-check-ssl",
        "no-send-proxy", "no-send-proxy-v2", "no-send-proxy-v2-ssl", "no-send-proxy-v2-ssl-cn",
        "no-ssl", "no-ssl-reuse", "no-sslv3", "no-tfo", "no-tls-tickets", "no-tlsv10",
        "no-tlsv11", "no-tlsv12", "no-tlsv13", "no-verifyhost", "non-stick", "send-proxy",
        "send-proxy-v2", "send-proxy-v2-ssl", "send-proxy-v2-ssl-cn", "ssl", "ssl-reuse", "stick",
        "tfo", "tls-tickets",
    ],
    args: [
        "addr", "agent-addr", "agent-inter", "agent-port", "agent-send", "alpn", "ca-file",
        "check-alpn", "check-proto", "check-sni", "ciphers", "ciphersuites", "client-sigalgs",
        "cookie", "crl-file", "crt", "curves", "downinter", "error-limit", "fall", "fastinter",
        "guid", "hash-key", "id", "idle-ping", "init-addr", "init-state", "inter", "interface",
        "log-bufsize", "log-proto", "max-reuse", "maxconn", "maxqueue", "minconn", "namespace",
        "npn", "observe", "on-error", "on-marked-down", "on-marked-up", "pool-conn-name",
        "pool-low-conn", "pool-max-conn", "pool-purge-delay", "port", "proto", "redir",
        "resolve-net", "resolve-opts", "resolve-prefer", "resolvers", "rise", "shard", "sigalgs",
        "slowstart", "sni", "socks4", "source", "ssl-max-ver", "ssl-min-ver", "tcp-ut", "track",
        "usesrc", "verify", "verifyhost", "weight", "ws",
    ],
}

fn kw(k: &str) -> Kw {
    known(k).map_or(Kw::Unknown, |(_, kind)| kind)
}

/// A map key for keyword `k`: the static name of a known keyword, else a copy.
fn key(k: &str) -> Key {
    match known(k) {
        Some((name, _)) => Key::Borrowed(name),
        None => Key::Owned(k.to_string()),
    }
}

fn is_known(k: &str) -> bool {
    kw(k) != Kw::Unknown
}

/// Keywords whose argument is a count: stored as Int when it is a plain integer.
fn is_int_arg(k: &str) -> bool {
    matches!(
        k,
        "agent-port"
            | "error-limit"
            | "fall"
            | "id"
            | "max-reuse"
            | "maxconn"
            | "maxqueue"
            | "minconn"
            | "pool-low-conn"
            | "pool-max-conn"
            | "port"
            | "rise"
            | "shard"
            | "weight"
    )
}

/// Splits a server address into host and port the way HAProxy reads it: `[v6]:port`,
/// `host:port` (the port after the last colon), `ipv4@`/`ipv6@` prefixes kept on the host.
/// Sockets (`/path`, `unix@`, `abns@`, `fd@`, `sockpair@`) and non-numeric ports (`:+1`,
/// `${PORT}`) have no port: the whole text is the address.
///
/// Addresses are short, so the searches are plain byte loops (`str::find` sets up a vectorised
/// search that costs more than it saves here).
pub(super) fn split_address(addr: &str) -> (&str, Option<i64>) {
    let whole = (addr, None);
    let b = addr.as_bytes();
    if addr.starts_with('/') {
        return whole;
    }
    let last_colon = || b.iter().rposition(|&c| c == b':');
    if let Some(at) = b.iter().position(|&c| c == b'@') {
        let (prefix, rest) = (&addr[..at], &addr[at + 1..]);
        let inet = matches!(
            prefix,
            "ipv4" | "ipv6" | "tcp" | "tcp4" | "tcp6" | "udp" | "udp4" | "udp6" | "quic4" | "quic6"
        );
        if !inet {
            return whole;
        }
        return match (split_address(rest).1, last_colon()) {
            (Some(p), Some(colon)) => (&addr[..colon], Some(p)),
            _ => whole,
        };
    }
    if let Some(rest) = addr.strip_prefix('[') {
        let Some(close) = rest.bytes().position(|c| c == b']') else {
            return whole;
        };
        let host = &rest[..close];
        let after = &rest[close + 1..];
        if after.is_empty() {
            return (host, None);
        }
        return match after.strip_prefix(':').and_then(parse_port) {
            Some(p) => (host, Some(p)),
            None => whole,
        };
    }
    match last_colon() {
        Some(colon) if colon + 1 == addr.len() => (&addr[..colon], None),
        Some(colon) => match parse_port(&addr[colon + 1..]) {
            Some(p) => (&addr[..colon], Some(p)),
            None => whole,
        },
        None => whole,
    }
}

fn parse_port(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 5 {
        return None;
    }
    let mut p = 0i64;
    for c in s.bytes() {
        if !c.is_ascii_digit() {
            return None;
        }
        p = p * 10 + i64::from(c - b'0');
    }
    (p <= 65535).then_some(p)
}

/// The value of a keyword's argument: Int for counts written as plain integers, else the
/// unquoted string.
fn arg_value(key: &str, arg: Cow<'_, str>) -> Value {
    if is_int_arg(key)
        && let Ok(i) = arg.parse::<i64>()
    {
        return Value::Int(i);
    }
    Value::Str(arg.into_owned())
}

/// Reads `keyword [arg]` pairs. Unknown keywords take an argument unless the next word is a
/// known keyword (or there is none), in which case they are flags.
struct Keywords<'l, 't> {
    line: &'l str,
    toks: &'t [Tok],
    i: usize,
}

impl<'l> Keywords<'l, '_> {
    fn new<'t>(line: &'l str, toks: &'t [Tok]) -> Keywords<'l, 't> {
        Keywords { line, toks, i: 0 }
    }

    fn next_pair(&mut self) -> Option<Result<(&'l str, Option<&'l str>), String>> {
        let k = self.toks.get(self.i)?.text(self.line);
        let next = self.toks.get(self.i + 1).map(|t| t.text(self.line));
        let arg = match (kw(k), next) {
            (Kw::Flag, _) => None,
            (Kw::Arg, Some(v)) => Some(v),
            (Kw::Arg, None) => {
                self.i = self.toks.len();
                return Some(Err(format!("keyword `{k}` needs an argument")));
            }
            (Kw::Unknown, Some(v)) if !is_known(v) => Some(v),
            (Kw::Unknown, _) => None,
        };
        self.i += if arg.is_some() { 2 } else { 1 };
        Some(Ok((k, arg)))
    }
}

/// Parses `server NAME ADDRESS [keywords]` or `server-template PREFIX NUM ADDRESS [keywords]`
/// (`toks[0]` is the keyword) into a node pushed on `servers`, with warnings about it pushed on
/// `warnings`. `Err` holds the reason a line is malformed; the caller keeps it opaque.
///
/// The node is pushed here rather than returned: returning it made the caller copy it out of
/// a freshly written stack slot, a store-forwarding stall that cost a tenth of a parse.
// Not inlined into the directive dispatch: inlined there, the per-line code grew and a parse
// of the bench's 20,000-line file took 294 M instructions instead of 233 M (callgrind).
#[inline(never)]
pub(super) fn parse_server(
    line: &str,
    number: u32,
    words: &Words,
    template: bool,
    servers: &mut Vec<Node>,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let what = if template {
        "server-template"
    } else {
        "server"
    };
    let toks = &words.toks[..];
    let fixed = if template { 4 } else { 3 };
    if toks.len() < fixed {
        return Err(if template {
            "`server-template` needs a prefix, a count or range, and an address".to_string()
        } else {
            "`server` needs a name and an address".to_string()
        });
    }
    let name = words.unquote(line, toks[1]);
    let raw_addr = toks[fixed - 1].text(line);
    if is_known(raw_addr) {
        return Err(format!(
            "`{what} {name}` has no address: `{raw_addr}` is a server keyword"
        ));
    }
    let template_spec = if template {
        let spec = toks[2].text(line);
        let valid = spec
            .split_once('-')
            .map_or_else(|| is_count(spec), |(a, b)| is_count(a) && is_count(b));
        if !valid {
            return Err(format!(
                "`server-template {name}` needs a count or range such as `3` or `1-10`, not `{spec}`"
            ));
        }
        Some(spec)
    } else {
        None
    };
    let addr = words.unquote_text(raw_addr);
    let (host, port) = split_address(&addr);
    let mut weight = 1i64;
    let (mut check, mut backup, mut disabled) = (false, false, false);
    let mut options = Map::new();
    // `keyword [arg]` pairs as [`Keywords`] reads them, each word looked up once.
    let rest = &toks[fixed..];
    let mut i = 0;
    while let Some(&t) = rest.get(i) {
        let k = t.text(line);
        let found = known(k);
        let next = rest.get(i + 1).map(|&v| v.text(line));
        let arg = match (found.map_or(Kw::Unknown, |(_, kind)| kind), next) {
            (Kw::Flag, _) => None,
            (Kw::Arg, Some(v)) => Some(v),
            (Kw::Arg, None) => return Err(format!("keyword `{k}` needs an argument")),
            (Kw::Unknown, Some(v)) if !is_known(v) => Some(v),
            (Kw::Unknown, _) => None,
        };
        i += if arg.is_some() { 2 } else { 1 };
        match (k, arg) {
            ("check", None) => check = true,
            ("backup", None) => backup = true,
            ("disabled", None) => disabled = true,
            ("weight", Some(w)) => match words.unquote_text(w).parse::<i64>() {
                Ok(n) if (0..=256).contains(&n) => weight = n,
                _ => {
                    return Err(format!(
                        "`weight` must be an integer from 0 to 256, not `{w}`"
                    ));
                }
            },
            (k, v) => {
                let value = match v {
                    Some(v) => arg_value(k, words.unquote_text(v)),
                    None => Value::Bool(true),
                };
                let key = match found {
                    Some((name, _)) => Key::Borrowed(name),
                    None => Key::Owned(k.to_string()),
                };
                if options.insert(key, Node::new(number, value)).is_some() {
                    warnings.push(format!(
                        "server `{name}` gives `{k}` twice; HAProxy uses the last one"
                    ));
                }
            }
        }
    }
    let template = template_spec.map_or(Value::Null, |s| Value::Str(s.to_string()));
    // Pushed one by one into a map of its final size: building it from an array of entries
    // (`Map::from_entries`) moves the whole array once more, which the compiler does not
    // always optimise away (11 M more instructions a parse of the bench's 20,000-line file).
    let mut m = Map::with_capacity(9);
    m.push("name", Node::str(number, name.into_owned()));
    m.push("address", Node::str(number, host));
    m.push(
        "port",
        Node::new(number, port.map_or(Value::Null, Value::Int)),
    );
    m.push("weight", Node::int(number, weight));
    m.push("check", Node::bool(number, check));
    m.push("backup", Node::bool(number, backup));
    m.push("disabled", Node::bool(number, disabled));
    m.push("template", Node::new(number, template));
    m.push("options", Node::map(number, options));
    servers.push(Node::map(number, m));
    Ok(())
}

fn is_count(s: &str) -> bool {
    !s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Merges the keywords of a `default-server` line (`toks[0]` is the keyword) into `into`:
/// flags are `true`, counts Int, other arguments strings. Returns keywords given again.
pub(super) fn merge_default_server(
    line: &str,
    number: u32,
    words: &Words,
    into: &mut Map,
) -> Result<Vec<String>, String> {
    let toks = &words.toks[..];
    // Read the whole line before touching `into`, so a malformed line changes nothing.
    let mut pairs = Keywords::new(line, &toks[1..]);
    let mut read = Vec::new();
    while let Some(pair) = pairs.next_pair() {
        read.push(pair?);
    }
    let mut again = Vec::new();
    for (k, v) in read {
        let value = match v {
            Some(v) => arg_value(k, words.unquote_text(v)),
            None => Value::Bool(true),
        };
        if into.insert(key(k), Node::new(number, value)).is_some() {
            again.push(k.to_string());
        }
    }
    Ok(again)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::haproxy::text::tokenize;

    #[test]
    fn keyword_kinds() {
        assert_eq!(kw("check"), Kw::Flag);
        assert_eq!(kw("weight"), Kw::Arg);
        assert_eq!(kw("no-such-keyword"), Kw::Unknown);
        assert!(is_int_arg("maxconn") && !is_int_arg("inter"));
    }

    #[test]
    fn splits_addresses() {
        assert_eq!(split_address("10.0.0.1:80"), ("10.0.0.1", Some(80)));
        assert_eq!(split_address("10.0.0.1"), ("10.0.0.1", None));
        assert_eq!(split_address("10.0.0.1:"), ("10.0.0.1", None));
        assert_eq!(split_address("[::1]:80"), ("::1", Some(80)));
        assert_eq!(split_address("[2001:db8::1]"), ("2001:db8::1", None));
        assert_eq!(split_address("::1:8080"), ("::1", Some(8080)));
        assert_eq!(
            split_address("web.example.net:443"),
            ("web.example.net", Some(443))
        );
        assert_eq!(
            split_address("ipv4@10.0.0.1:80"),
            ("ipv4@10.0.0.1", Some(80))
        );
        assert_eq!(split_address("ipv6@[::1]:80"), ("ipv6@[::1]", Some(80)));
        assert_eq!(
            split_address("unix@/run/a.sock"),
            ("unix@/run/a.sock", None)
        );
        assert_eq!(split_address("/run/a.sock"), ("/run/a.sock", None));
        assert_eq!(split_address("10.0.0.1:+1"), ("10.0.0.1:+1", None));
        assert_eq!(split_address("${SRV}:${PORT}"), ("${SRV}:${PORT}", None));
        assert_eq!(split_address("10.0.0.1:99999"), ("10.0.0.1:99999", None));
    }

    fn server(line: &str) -> Result<Node, String> {
        let mut words = Words::default();
        tokenize(line, &mut words);
        let template = words.toks[0].text(line) == "server-template";
        let mut servers = Vec::new();
        parse_server(line, 1, &words, template, &mut servers, &mut Vec::new())?;
        Ok(servers.remove(0))
    }

    #[test]
    fn parses_server_keywords() {
        let n = server(
            "server web1 10.0.0.1:8080 check inter 2s weight 50 backup maxconn 100 ssl verify none",
        )
        .unwrap();
        assert_eq!(n.get("name").unwrap().as_str(), Some("web1"));
        assert_eq!(n.get("port").unwrap().value, Value::Int(8080));
        assert_eq!(n.get("weight").unwrap().value, Value::Int(50));
        assert_eq!(n.get("check").unwrap().value, Value::Bool(true));
        assert_eq!(n.get("backup").unwrap().value, Value::Bool(true));
        assert_eq!(n.get("disabled").unwrap().value, Value::Bool(false));
        let opts = n.get("options").unwrap();
        assert_eq!(opts.get("inter").unwrap().as_str(), Some("2s"));
        assert_eq!(opts.get("maxconn").unwrap().value, Value::Int(100));
        assert_eq!(opts.get("ssl").unwrap().value, Value::Bool(true));
        assert_eq!(opts.get("verify").unwrap().as_str(), Some("none"));
    }

    #[test]
    fn server_without_port_and_with_ipv6() {
        let n = server("server a web.internal").unwrap();
        assert_eq!(n.get("address").unwrap().as_str(), Some("web.internal"));
        assert_eq!(n.get("port").unwrap().value, Value::Null);
        assert_eq!(n.get("weight").unwrap().value, Value::Int(1));
        let n = server("server b [::1]:80 disabled").unwrap();
        assert_eq!(n.get("address").unwrap().as_str(), Some("::1"));
        assert_eq!(n.get("port").unwrap().value, Value::Int(80));
        assert_eq!(n.get("disabled").unwrap().value, Value::Bool(true));
    }

    #[test]
    fn unknown_keywords_before_known_ones_are_flags() {
        let n = server("server a 10.0.0.1:80 future-flag check future-kw 7").unwrap();
        let opts = n.get("options").unwrap();
        assert_eq!(opts.get("future-flag").unwrap().value, Value::Bool(true));
        assert_eq!(opts.get("future-kw").unwrap().as_str(), Some("7"));
        assert_eq!(n.get("check").unwrap().value, Value::Bool(true));
    }

    #[test]
    fn templates() {
        let n =
            server("server-template srv 1-10 _http._tcp.svc.local:80 check resolvers dns").unwrap();
        assert_eq!(n.get("name").unwrap().as_str(), Some("srv"));
        assert_eq!(n.get("template").unwrap().as_str(), Some("1-10"));
        assert!(server("server-template srv x 10.0.0.1:80").is_err());
    }

    #[test]
    fn malformed_servers() {
        assert!(server("server web1").is_err());
        assert!(server("server web1 check").is_err());
        assert!(server("server web1 10.0.0.1:80 weight").is_err());
        assert!(server("server web1 10.0.0.1:80 weight heavy").is_err());
        assert!(server("server web1 10.0.0.1:80 weight 300").is_err());
    }
}
