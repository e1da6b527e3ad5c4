//! What the first word of an HAProxy line is (found once per line, so the parser compares
//! small integers rather than strings), and the static map keys of `option` and `timeout`
//! names.

use crate::document::Key;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ProxyKind {
    Defaults,
    Frontend,
    Backend,
    Listen,
}

impl ProxyKind {
    pub(super) fn keyword(self) -> &'static str {
        match self {
            ProxyKind::Defaults => "defaults",
            ProxyKind::Frontend => "frontend",
            ProxyKind::Backend => "backend",
            ProxyKind::Listen => "listen",
        }
    }

    pub(super) fn fronts(self) -> bool {
        matches!(self, ProxyKind::Frontend | ProxyKind::Listen)
    }

    pub(super) fn backs(self) -> bool {
        matches!(self, ProxyKind::Backend | ProxyKind::Listen)
    }
}

/// What the first word of a line is: a section keyword, a proxy directive the tree has a field
/// for, or anything else. Found once per line, so the rest of the parser compares small
/// integers rather than strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kw {
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

/// The kind of a line's first word. Every keyword here passes [`looks_like_keyword`](super::looks_like_keyword).
pub(super) fn classify(w: &[u8]) -> Kw {
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
pub(super) fn option_key(name: &str) -> Key {
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
pub(super) fn timeout_key(name: &str) -> Key {
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
