use super::keywords::{option_key, timeout_key};
use super::*;
use crate::document::{Key, Severity};

fn doc(src: &str) -> Document {
    parse(src)
}

fn codes(d: &Document) -> Vec<(&'static str, u32)> {
    d.diagnostics.iter().map(|d| (d.code, d.line)).collect()
}

fn list<'a>(n: &'a Node, key: &str) -> &'a [Node] {
    match &n.get(key).unwrap_or_else(|| panic!("no key {key}")).value {
        Value::List(l) => l,
        other => panic!("{key} is {other:?}"),
    }
}

#[test]
fn sections_and_routes() {
    let d = doc("global\n  maxconn 4000\n  log stdout format raw local0\n\
defaults\n  mode http\n  timeout connect 5s\n\
frontend fe_https\n  bind :443 ssl crt /etc/x.pem\n  acl is_api path_beg /api\n  use_backend be_api if is_api\n  default_backend be_web\n\
backend be_web\n  balance roundrobin\n  option httpchk GET /health\n  server w1 10.0.0.1:80 check\n  server w2 10.0.0.2:80 check backup\n");
    assert!(d.diagnostics.is_empty(), "{:?}", d.diagnostics);
    let g = d.root.get("global").unwrap();
    assert_eq!(g.get("maxconn").unwrap().value, Value::Int(4000));
    assert_eq!(list(g, "directives").len(), 1);
    let defaults = list(&d.root, "defaults");
    assert_eq!(defaults[0].get("name").unwrap().value, Value::Null);
    assert_eq!(defaults[0].get("mode").unwrap().as_str(), Some("http"));
    let fe = &list(&d.root, "frontends")[0];
    assert_eq!(fe.line, 7);
    assert_eq!(fe.get("name").unwrap().as_str(), Some("fe_https"));
    assert_eq!(fe.get("default_backend").unwrap().as_str(), Some("be_web"));
    let ub = &list(fe, "use_backend")[0];
    assert_eq!(ub.get("line").unwrap().as_str(), Some("be_api if is_api"));
    assert_eq!(ub.get("backend").unwrap().as_str(), Some("be_api"));
    assert_eq!(ub.get("condition").unwrap().as_str(), Some("if is_api"));
    assert_eq!(ub.get("dynamic").unwrap().value, Value::Bool(false));
    let acl = &list(fe, "acls")[0];
    assert_eq!(acl.get("criterion").unwrap().as_str(), Some("path_beg"));
    assert_eq!(acl.get("pattern").unwrap().as_str(), Some("/api"));
    let bind = &list(fe, "bind")[0];
    assert_eq!(bind.get("address").unwrap().as_str(), Some(":443"));
    assert_eq!(
        bind.get("options").unwrap().as_str(),
        Some("ssl crt /etc/x.pem")
    );
    let be = &list(&d.root, "backends")[0];
    assert_eq!(be.get("balance").unwrap().as_str(), Some("roundrobin"));
    assert_eq!(
        be.get("options").unwrap().get("httpchk").unwrap().as_str(),
        Some("GET /health")
    );
    let servers = list(be, "servers");
    assert_eq!(servers.len(), 2);
    assert_eq!(servers[1].get("backup").unwrap().value, Value::Bool(true));
    assert_eq!(servers[1].line, 16);
}

#[test]
fn crlf_tabs_and_comments() {
    let d = doc("# head\r\nbackend\tbe # trailing\r\n\tserver\ta\t10.0.0.1:80\tcheck # c\r\n\r\n");
    assert!(d.diagnostics.is_empty(), "{:?}", d.diagnostics);
    let be = &list(&d.root, "backends")[0];
    assert_eq!(be.get("name").unwrap().as_str(), Some("be"));
    let s = &list(be, "servers")[0];
    assert_eq!(s.get("port").unwrap().value, Value::Int(80));
    assert_eq!(s.get("check").unwrap().value, Value::Bool(true));
    assert_eq!(s.line, 3);
}

#[test]
fn quoted_values_keep_their_text() {
    let d =
        doc("frontend f\n  http-request set-header X-Msg \"a   b # not a comment\" # comment\n");
    let fe = &list(&d.root, "frontends")[0];
    assert_eq!(
        list(fe.get("rules").unwrap(), "http_request")[0].as_str(),
        Some("set-header X-Msg \"a   b # not a comment\"")
    );
}

#[test]
fn options_no_option_and_duplicates() {
    let d =
        doc("defaults\n  option httplog\n  no option http-server-close\n  mode tcp\n  mode http\n");
    let df = &list(&d.root, "defaults")[0];
    let opts = df.get("options").unwrap();
    assert_eq!(opts.get("httplog").unwrap().value, Value::Bool(true));
    assert_eq!(
        opts.get("http-server-close").unwrap().value,
        Value::Bool(false)
    );
    assert_eq!(df.get("mode").unwrap().as_str(), Some("http"));
    assert_eq!(df.get("mode").unwrap().line, 5);
    let dirs = list(df, "directives");
    assert_eq!(dirs[0].as_str(), Some("mode tcp"));
    assert_eq!(dirs[0].line, 4);
    assert_eq!(codes(&d), [("haproxy.duplicate-directive", 5)]);
}

#[test]
fn named_defaults_and_from() {
    let d =
        doc("defaults base\n  mode http\ndefaults from base\nfrontend f from base\n  bind :80\n");
    let dfs = list(&d.root, "defaults");
    assert_eq!(dfs[0].get("name").unwrap().as_str(), Some("base"));
    assert_eq!(dfs[1].get("name").unwrap().value, Value::Null);
    assert_eq!(dfs[1].get("from").unwrap().as_str(), Some("base"));
    let fe = &list(&d.root, "frontends")[0];
    assert_eq!(fe.get("from").unwrap().as_str(), Some("base"));
}

#[test]
fn inline_bind_in_header() {
    let d = doc("listen stats :8404\n  stats enable\n");
    let l = &list(&d.root, "listens")[0];
    assert_eq!(l.get("name").unwrap().as_str(), Some("stats"));
    assert_eq!(
        list(l, "bind")[0].get("address").unwrap().as_str(),
        Some(":8404")
    );
    assert_eq!(list(l, "servers").len(), 0);
}

#[test]
fn empty_sections_have_stable_keys() {
    let d = doc("frontend f\nbackend b\n");
    let fe = &list(&d.root, "frontends")[0];
    let keys: Vec<&str> = match &fe.value {
        Value::Map(m) => m.keys().collect(),
        _ => unreachable!(),
    };
    assert_eq!(
        keys,
        [
            "name",
            "from",
            "disabled",
            "mode",
            "maxconn",
            "bind",
            "acls",
            "default_backend",
            "use_backend",
            "rules",
            "options",
            "timeouts",
            "directives"
        ]
    );
    let be = &list(&d.root, "backends")[0];
    let keys: Vec<&str> = match &be.value {
        Value::Map(m) => m.keys().collect(),
        _ => unreachable!(),
    };
    assert_eq!(
        keys,
        [
            "name",
            "from",
            "disabled",
            "mode",
            "acls",
            "balance",
            "servers",
            "default_server",
            "http_check",
            "tcp_check",
            "rules",
            "options",
            "timeouts",
            "directives"
        ]
    );
}

#[test]
fn secrets_are_redacted_and_located() {
    let src = "userlist admins\n  user bob password $6$saltsalt$hash\nlisten stats :8404\n  stats auth admin:hunter2\n  http-request set-header Authorization \"Bearer tok123\"\n";
    let d = doc(src);
    let dump = d.dump();
    for s in ["$6$saltsalt$hash", "hunter2", "tok123"] {
        assert!(!dump.contains(s), "dump shows {s}");
        assert!(!d.redact_source(src).contains(s), "source shows {s}");
    }
    assert_eq!(d.secret_spans.len(), 3);
    assert_eq!(&src[d.secret_spans[1].clone()], "hunter2");
    let l = &list(&d.root, "listens")[0];
    match &list(l, "directives")[0].value {
        Value::Secret(s) => assert_eq!(s.shown(), "stats auth admin:<redacted>"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn user_in_global_is_not_a_secret() {
    let d = doc("global\n  user haproxy\n  group haproxy\n");
    assert!(d.secret_spans.is_empty());
}

#[test]
fn outside_section_is_an_error() {
    let d = doc("maxconn 100\nglobal\n  daemon\nfrontend f\n  bind :80\n  mode http\n");
    assert_eq!(codes(&d), [("haproxy.outside-section", 1)]);
    assert_eq!(list(&d.root, "directives")[0].as_str(), Some("maxconn 100"));
}

#[test]
fn conditional_blocks_outside_sections_are_fine() {
    let d = doc(".if defined(X)\nglobal\n  daemon\n.endif\n");
    assert!(d.diagnostics.is_empty(), "{:?}", d.diagnostics);
}

#[test]
fn json_is_not_haproxy() {
    let d = doc("{\n  \"global\": {\"maxconn\": 1},\n  \"backends\": []\n}\n");
    assert_eq!(codes(&d), [("haproxy.not-haproxy", 1)]);
    assert_eq!(d.diagnostics[0].severity, Severity::Error);
}

#[test]
fn malformed_server_is_kept_opaque() {
    let d = doc("backend b\n  server web1\n  server web2 10.0.0.2:80 check\n");
    assert_eq!(codes(&d), [("haproxy.server-syntax", 2)]);
    let be = &list(&d.root, "backends")[0];
    assert_eq!(list(be, "servers").len(), 1);
    assert_eq!(list(be, "directives")[0].as_str(), Some("server web1"));
}

#[test]
fn duplicate_sections_warn_per_namespace() {
    let d = doc("frontend web\nbackend web\nbackend web\nlisten web\n");
    assert_eq!(
        codes(&d),
        [
            ("haproxy.duplicate-section", 3),
            ("haproxy.duplicate-section", 4),
            ("haproxy.duplicate-section", 4)
        ]
    );
}

#[test]
fn missing_proxy_name_is_an_error() {
    let d = doc("backend\n  server a 10.0.0.1:80\n");
    assert_eq!(codes(&d), [("haproxy.section-name", 1)]);
}

#[test]
fn dynamic_use_backend() {
    let d =
        doc("frontend f\n  use_backend %[req.hdr(host),lower,map(/etc/hosts.map,be_default)]\n");
    let ub = &list(&list(&d.root, "frontends")[0], "use_backend")[0];
    assert_eq!(ub.get("dynamic").unwrap().value, Value::Bool(true));
    assert_eq!(ub.get("condition").unwrap().value, Value::Null);
}

#[test]
fn default_server_merges_lines() {
    let d = doc("backend b\n  default-server inter 3s fall 3\n  default-server check weight 10\n");
    let ds = list(&d.root, "backends")[0].get("default_server").unwrap();
    assert_eq!(ds.line, 2);
    assert_eq!(ds.get("fall").unwrap().value, Value::Int(3));
    assert_eq!(ds.get("check").unwrap().value, Value::Bool(true));
    assert_eq!(ds.get("weight").unwrap().line, 3);
}

#[test]
fn other_sections_are_generic() {
    let d = doc(
        "resolvers dns\n  nameserver ns1 10.0.0.53:53\npeers mypeers\n  peer lb1 10.0.0.1:1024\n",
    );
    let secs = list(&d.root, "sections");
    assert_eq!(secs.len(), 2);
    assert_eq!(secs[0].get("kind").unwrap().as_str(), Some("resolvers"));
    assert_eq!(secs[1].get("name").unwrap().as_str(), Some("mypeers"));
}

#[test]
fn every_line_lands_once() {
    // A rough check of the invariant: the dump has one scalar per meaningful word group, and
    // no line number of a directive appears under two different parents.
    let src = "frontend f\n  bind :80\n  acl a path /x\n  use_backend b if a\n  default_backend b\n  option forwardfor\n  timeout client 30s\n  http-request deny if !a\nbackend b\n  server s 1.2.3.4:80 check\n  http-check expect status 200\n";
    let d = doc(src);
    let dump = d.dump();
    for n in 2..=11 {
        let hits = dump
            .lines()
            .filter(|l| l.contains(&format!("@{n} ")) || l.ends_with(&format!("@{n}")))
            .count();
        assert!(hits >= 1, "line {n} missing from\n{dump}");
    }
}

#[test]
fn unterminated_quote_is_an_error() {
    let d = doc("frontend f\n  http-request set-header X \"oops\n");
    assert_eq!(codes(&d), [("haproxy.unterminated-quote", 2)]);
}

#[test]
fn ipv6_bind_and_server() {
    let d = doc("listen l\n  bind [::]:443 v4v6\n  server s6 [2001:db8::1]:8080 check\n");
    let l = &list(&d.root, "listens")[0];
    assert_eq!(
        list(l, "bind")[0].get("address").unwrap().as_str(),
        Some("[::]:443")
    );
    let s = &list(l, "servers")[0];
    assert_eq!(s.get("address").unwrap().as_str(), Some("2001:db8::1"));
    assert_eq!(s.get("port").unwrap().value, Value::Int(8080));
}

#[test]
fn classified_words_are_keywords_and_static_keys_are_their_names() {
    for w in [
        "global",
        "defaults",
        "frontend",
        "backend",
        "listen",
        "userlist",
        "resolvers",
        "peers",
        "mailers",
        "cache",
        "program",
        "http-errors",
        "ring",
        "log-forward",
        "fcgi-app",
        "crt-store",
        "traces",
        "acme",
        "mode",
        "balance",
        "default_backend",
        "maxconn",
        "disabled",
        "enabled",
        "bind",
        "acl",
        "use_backend",
        "server",
        "server-template",
        "default-server",
        "option",
        "no",
        "timeout",
        "http-check",
        "tcp-check",
    ] {
        assert_ne!(classify(w.as_bytes()), Kw::Other, "{w}");
        assert!(looks_like_keyword(w.as_bytes()), "{w}");
        if let Kw::Section(kind) = classify(w.as_bytes()) {
            assert_eq!(kind, w);
        }
    }
    assert_eq!(classify(b"Backend"), Kw::Other);
    for name in [
        "httpchk",
        "forwardfor",
        "http-server-close",
        "no-such-option",
    ] {
        assert_eq!(option_key(name), name);
    }
    assert!(matches!(option_key("httplog"), Key::Borrowed(_)));
    for name in ["connect", "client", "server", "no-such-timeout"] {
        assert_eq!(timeout_key(name), name);
    }
}

#[test]
fn sections_after_proxies_start_empty() {
    // The proxy value is reused: nothing of one section may leak into the next.
    let d = doc(
        "frontend f\n  acl a path /x\n  option httplog\n  timeout client 1s\n  x y\n\
backend b\n  server s 1.2.3.4:80\n  default-server check\nfrontend g\nbackend c\nuserlist u\n  user a\nresolvers r\n",
    );
    let fe = &list(&d.root, "frontends")[1];
    assert!(list(fe, "acls").is_empty() && list(fe, "directives").is_empty());
    assert_eq!(fe.get("options").unwrap().value, Value::Map(Map::new()));
    assert_eq!(fe.get("timeouts").unwrap().value, Value::Map(Map::new()));
    let be = &list(&d.root, "backends")[1];
    assert!(list(be, "servers").is_empty());
    assert_eq!(be.get("default_server").unwrap().value, Value::Null);
    let secs = list(&d.root, "sections");
    assert!(list(&secs[1], "directives").is_empty());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Any text parses without a panic, and every secret span lies on char boundaries.
    #[test]
    fn never_panics(src in "([a-z:@/\\[\\]#\"'\\\\ \t\r\né{}-]|frontend |backend |listen |server |stats auth |userlist u\n|user a password |set-header Authorization |--token=|://u:p@|option |use_backend |acl |bind |\n){0,40}") {
        let d = parse(&src);
        for r in &d.secret_spans {
            proptest::prop_assert!(src.is_char_boundary(r.start) && src.is_char_boundary(r.end) && r.start <= r.end);
        }
        let _ = d.dump();
        let _ = d.redact_source(&src);
    }
}
