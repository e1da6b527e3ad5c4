use super::*;
use crate::document::{Node, Severity, Value};

fn list<'a>(n: &'a Node, key: &str) -> &'a [Node] {
    match &n
        .get(key)
        .unwrap_or_else(|| panic!("no key {key} in {n:?}"))
        .value
    {
        Value::List(l) => l,
        other => panic!("{key} is {other:?}"),
    }
}

fn codes(d: &Document) -> Vec<(&'static str, u32)> {
    d.diagnostics.iter().map(|d| (d.code, d.line)).collect()
}

fn strs(nodes: &[Node]) -> Vec<&str> {
    nodes.iter().map(|n| n.as_str().unwrap()).collect()
}

#[test]
fn http_upstreams_servers_locations() {
    let d = parse(
        "user nginx;\nworker_processes auto;\nevents { worker_connections 1024; }\nhttp {\n  include mime.types;\n  upstream app {\n    server 10.0.0.1:8080 weight=5;\n    server 10.0.0.2:8080 down;\n    server 10.0.0.3:8080 backup max_fails=3 fail_timeout=30s max_conns=100;\n    keepalive 32;\n  }\n  server {\n    listen 443 ssl;\n    server_name example.net www.example.net;\n    location / { proxy_pass http://app; }\n    location = /health { return 200; }\n    location /api/ {\n      location /api/v2/ { proxy_pass http://app/v2/; }\n    }\n  }\n}\n",
    );
    assert!(d.diagnostics.is_empty(), "{:?}", d.diagnostics);
    assert_eq!(
        strs(list(&d.root, "directives")),
        ["user nginx", "worker_processes auto"]
    );
    let events = d.root.get("events").unwrap();
    assert_eq!(
        strs(list(events, "directives")),
        ["worker_connections 1024"]
    );
    let http = d.root.get("http").unwrap();
    assert_eq!(http.line, 4);
    assert_eq!(strs(list(http, "directives")), ["include mime.types"]);
    let up = &list(http, "upstreams")[0];
    assert_eq!(up.get("name").unwrap().as_str(), Some("app"));
    let servers = list(up, "servers");
    assert_eq!(
        servers[0].get("address").unwrap().as_str(),
        Some("10.0.0.1:8080")
    );
    assert_eq!(servers[0].get("weight").unwrap().value, Value::Int(5));
    assert_eq!(servers[1].get("down").unwrap().value, Value::Bool(true));
    assert_eq!(servers[1].get("weight").unwrap().value, Value::Int(1));
    assert_eq!(servers[2].get("backup").unwrap().value, Value::Bool(true));
    assert_eq!(servers[2].get("max_fails").unwrap().value, Value::Int(3));
    assert_eq!(
        servers[2].get("fail_timeout").unwrap().as_str(),
        Some("30s")
    );
    assert_eq!(
        servers[2]
            .get("options")
            .unwrap()
            .get("max_conns")
            .unwrap()
            .value,
        Value::Int(100)
    );
    assert_eq!(strs(list(up, "directives")), ["keepalive 32"]);
    let vs = &list(http, "servers")[0];
    assert_eq!(vs.get("name").unwrap().as_str(), Some("example.net 443"));
    assert_eq!(strs(list(vs, "listen")), ["443 ssl"]);
    assert_eq!(
        strs(list(vs, "server_names")),
        ["example.net", "www.example.net"]
    );
    // Locations are listed in the order nginx tries them (prefix ones sorted by name).
    let locs = list(vs, "locations");
    let names: Vec<&str> = locs
        .iter()
        .map(|l| l.get("name").unwrap().as_str().unwrap())
        .collect();
    assert_eq!(names, ["/", "/api/", "= /health"]);
    assert_eq!(
        locs[0].get("proxy_pass").unwrap().as_str(),
        Some("http://app")
    );
    assert_eq!(locs[2].get("proxy_pass").unwrap().value, Value::Null);
    let nested = &list(&locs[1], "locations")[0];
    assert_eq!(nested.get("name").unwrap().as_str(), Some("/api/v2/"));
    assert_eq!(nested.line, 18);
}

#[test]
fn quotes_comments_and_multiline_directives() {
    let d = parse(
        "http {\n  log_format main '$remote_addr \"$request\" # not a comment'\n                  '$status';  # a comment\n  add_header X-Note \"a;b{c}\" always;\n  return 200 \"x\\\"y\";\n}\n",
    );
    assert!(d.diagnostics.is_empty(), "{:?}", d.diagnostics);
    let http = d.root.get("http").unwrap();
    let dirs = list(http, "directives");
    assert_eq!(
        dirs[0].as_str(),
        Some("log_format main '$remote_addr \"$request\" # not a comment' '$status'")
    );
    assert_eq!(dirs[0].line, 2);
    assert_eq!(
        dirs[1].as_str(),
        Some("add_header X-Note \"a;b{c}\" always")
    );
    assert_eq!(dirs[2].as_str(), Some("return 200 \"x\\\"y\""));
}

#[test]
fn hash_inside_a_word_is_not_a_comment() {
    let d = parse("http { rewrite ^/a#b /c; }\n");
    let http = d.root.get("http").unwrap();
    assert_eq!(strs(list(http, "directives")), ["rewrite ^/a#b /c"]);
}

#[test]
fn crlf_tabs_and_braces_anywhere() {
    let d = parse("http\r\n{\r\n\tupstream\tu\r\n\t{\r\n\t\tserver\t[::1]:80;\r\n\t}\r\n}\r\n");
    assert!(d.diagnostics.is_empty(), "{:?}", d.diagnostics);
    let http = d.root.get("http").unwrap();
    assert_eq!(http.line, 1);
    let up = &list(http, "upstreams")[0];
    assert_eq!(up.line, 3);
    let s = &list(up, "servers")[0];
    assert_eq!(s.get("address").unwrap().as_str(), Some("[::1]:80"));
    assert_eq!(s.line, 5);
}

#[test]
fn empty_blocks() {
    let d = parse("events {}\nhttp { server { } }\n");
    assert!(d.diagnostics.is_empty(), "{:?}", d.diagnostics);
    let vs = &list(d.root.get("http").unwrap(), "servers")[0];
    assert_eq!(vs.get("name").unwrap().as_str(), Some("server"));
    assert_eq!(list(vs, "locations").len(), 0);
}

#[test]
fn server_without_port() {
    let d = parse("http { upstream u { server backend.internal; server unix:/run/app.sock; } }\n");
    let up = &list(d.root.get("http").unwrap(), "upstreams")[0];
    let s = list(up, "servers");
    assert_eq!(
        s[0].get("address").unwrap().as_str(),
        Some("backend.internal")
    );
    assert_eq!(
        s[1].get("address").unwrap().as_str(),
        Some("unix:/run/app.sock")
    );
}

#[test]
fn generic_blocks_are_identified_by_header() {
    let d = parse(
        "http {\n  map $http_host $pool {\n    default app;\n    api.example.net api;\n  }\n  server {\n    listen 80;\n    location / {\n      if ($request_method = POST) { return 405; }\n    }\n  }\n}\n",
    );
    assert!(d.diagnostics.is_empty(), "{:?}", d.diagnostics);
    let http = d.root.get("http").unwrap();
    let map = &list(http, "blocks")[0];
    assert_eq!(
        map.get("line").unwrap().as_str(),
        Some("map $http_host $pool")
    );
    assert_eq!(map.get("kind").unwrap().as_str(), Some("map"));
    // Map entries in lookup order: exact keys (sorted), then regular expressions.
    assert_eq!(
        strs(list(map, "directives")),
        ["api.example.net api", "default app"]
    );
    // `if` blocks run in turn with the other rewrite statements.
    let loc = &list(&list(http, "servers")[0], "locations")[0];
    let iff = &list(loc, "rewrites")[0];
    assert_eq!(
        iff.get("line").unwrap().as_str(),
        Some("if ($request_method = POST)")
    );
    assert_eq!(strs(list(iff, "rewrites")), ["return 405"]);
}

#[test]
fn location_modifiers_are_normalised() {
    let d = parse(
        "http { server { location =/a { } location ^~ /b { } location ~* \"\\.php$\" { } location @x { } } }\n",
    );
    let locs = list(
        &list(d.root.get("http").unwrap(), "servers")[0],
        "locations",
    );
    let names: Vec<&str> = locs
        .iter()
        .map(|l| l.get("name").unwrap().as_str().unwrap())
        .collect();
    assert_eq!(names, ["= /a", "^~ /b", "~* \\.php$", "@x"]);
}

#[test]
fn stream_servers_have_proxy_pass() {
    let d = parse(
        "stream {\n  upstream imap { server 10.0.0.1:993; }\n  server { listen 993; proxy_pass imap; }\n}\n",
    );
    let stream = d.root.get("stream").unwrap();
    let s = &list(stream, "servers")[0];
    assert_eq!(s.get("name").unwrap().as_str(), Some("993"));
    assert_eq!(s.get("proxy_pass").unwrap().as_str(), Some("imap"));
    assert!(s.get("locations").is_none());
}

#[test]
fn unbalanced_braces() {
    let d = parse("http {\n  server {\n    listen 80;\n}\n");
    assert_eq!(codes(&d), [("nginx.unbalanced-braces", 1)]);
    let d = parse("http { }\n}\n");
    assert_eq!(codes(&d), [("nginx.unbalanced-braces", 2)]);
}

#[test]
fn missing_semicolon_before_brace_and_eof() {
    let d = parse("http {\n  server {\n    listen 80\n  }\n}\nuser nginx\n");
    assert_eq!(
        codes(&d),
        [
            ("nginx.missing-semicolon", 3),
            ("nginx.missing-semicolon", 6)
        ]
    );
    let vs = &list(d.root.get("http").unwrap(), "servers")[0];
    assert_eq!(strs(list(vs, "listen")), ["80"]);
}

#[test]
fn missing_semicolon_before_a_new_directive_line() {
    let d = parse("http {\n  server {\n    listen 80\n    server_name example.net;\n  }\n}\n");
    assert_eq!(codes(&d), [("nginx.missing-semicolon", 3)]);
    let vs = &list(d.root.get("http").unwrap(), "servers")[0];
    assert_eq!(strs(list(vs, "listen")), ["80"]);
    assert_eq!(strs(list(vs, "server_names")), ["example.net"]);
}

#[test]
fn multiline_values_are_not_missing_semicolons() {
    let d = parse(
        "http {\n  proxy_next_upstream error timeout\n      invalid_header http_500;\n  server_name a.example.net\n      b.example.net;\n}\n",
    );
    assert!(d.diagnostics.is_empty(), "{:?}", d.diagnostics);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let depth = 10_000;
    let src = format!("{}{}", "a {\n".repeat(depth), "}\n".repeat(depth));
    let d = parse(&src);
    assert_eq!(
        codes(&d),
        [("nginx.too-deep", crate::formats::MAX_DEPTH as u32 + 1)]
    );
    let unclosed = "a {\n".repeat(depth);
    let d = parse(&unclosed);
    assert!(d.diagnostics.iter().any(|x| x.code == "nginx.too-deep"));
    assert!(
        d.diagnostics
            .iter()
            .any(|x| x.code == "nginx.unbalanced-braces")
    );
}

#[test]
fn unterminated_quote() {
    let d = parse("http {\n  return 200 \"oops;\n}\n");
    assert!(codes(&d).contains(&("nginx.unterminated-quote", 2)));
}

#[test]
fn yaml_is_not_nginx() {
    let d =
        parse("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nginx\ndata:\n  key: value\n");
    assert_eq!(codes(&d), [("nginx.not-nginx", 1)]);
    assert_eq!(d.diagnostics[0].severity, Severity::Error);
}

#[test]
fn secrets() {
    let src = "env API_TOKEN=tok-abc;\nhttp {\n  server {\n    listen 80;\n    set $api_key \"k-123\";\n    secure_link_secret s3cr3t;\n    auth_basic_user_file /etc/nginx/htpasswd;\n    location / {\n      proxy_set_header Authorization \"Basic dXNlcjpwYXNz\";\n      proxy_set_header X-Forwarded-For $remote_addr;\n      proxy_set_header Authorization $http_authorization;\n      proxy_pass http://user:pw-xyz@backend;\n    }\n  }\n}\n";
    let d = parse(src);
    assert!(d.diagnostics.is_empty(), "{:?}", d.diagnostics);
    let dump = d.dump();
    let redacted = d.redact_source(src);
    for s in ["tok-abc", "k-123", "s3cr3t", "dXNlcjpwYXNz", "pw-xyz"] {
        assert!(!dump.contains(s), "dump shows {s}:\n{dump}");
        assert!(!redacted.contains(s), "source shows {s}");
    }
    assert!(dump.contains("/etc/nginx/htpasswd"));
    assert!(dump.contains("$http_authorization"));
    assert_eq!(d.secret_spans.len(), 5);
    let loc = &list(
        &list(d.root.get("http").unwrap(), "servers")[0],
        "locations",
    )[0];
    match &loc.get("proxy_pass").unwrap().value {
        Value::Secret(s) => assert_eq!(s.shown(), "http://user:<redacted>@backend"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_upstream_server_is_kept() {
    let d = parse("http { upstream u { server 10.0.0.1 weight=heavy; server 10.0.0.2; } }\n");
    assert_eq!(codes(&d), [("nginx.server-syntax", 1)]);
    let up = &list(d.root.get("http").unwrap(), "upstreams")[0];
    assert_eq!(list(up, "servers").len(), 1);
    assert_eq!(
        strs(list(up, "directives")),
        ["server 10.0.0.1 weight=heavy"]
    );
}

#[test]
fn duplicate_http_block_is_an_error_and_kept() {
    let d = parse("http { sendfile on; }\nhttp { gzip on; }\n");
    assert_eq!(codes(&d), [("nginx.duplicate-block", 2)]);
    assert_eq!(list(&d.root, "blocks").len(), 1);
}

#[test]
fn variables_with_braces_stay_in_the_word() {
    let d = parse("http { add_header X-Id ${request_id}abc; }\n");
    assert!(d.diagnostics.is_empty(), "{:?}", d.diagnostics);
    assert_eq!(
        strs(list(d.root.get("http").unwrap(), "directives")),
        ["add_header X-Id ${request_id}abc"]
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Any text parses without a panic, and every secret span lies on char boundaries.
    #[test]
    fn never_panics(src in "([a-z:@/\\[\\]#\"'\\\\ \t\r\né{};$-]|http |server |upstream u |location |listen |proxy_pass |proxy_set_header Authorization |set \\$token |env A_KEY=|://u:p@|\\{|\\}|;|\n){0,60}") {
        let d = parse(&src);
        for r in &d.secret_spans {
            proptest::prop_assert!(src.is_char_boundary(r.start) && src.is_char_boundary(r.end) && r.start <= r.end);
        }
        let _ = d.dump();
        let _ = d.redact_source(&src);
    }
}

/// Found by `never_panics`: an unterminated quote ending in a multibyte character made the
/// secret range cut that character in half.
#[test]
fn unterminated_quoted_secret_ending_in_multibyte_char() {
    let src = "proxy_set_header Authorization 'é";
    let d = parse(src);
    assert!(codes(&d).contains(&("nginx.unterminated-quote", 1)));
    assert_eq!(&src[d.secret_spans[0].clone()], "é");
}

#[test]
fn top_level_servers_of_a_site_file_are_an_implicit_http_block() {
    let d = parse(
        "upstream app { server 10.0.0.1:8080; }\nlimit_req_zone $binary_remote_addr zone=one:10m rate=1r/s;\nserver {\n  listen 443 ssl;\n  server_name example.net;\n  location / { proxy_pass http://app; }\n}\n",
    );
    assert!(d.diagnostics.is_empty(), "{:?}", d.diagnostics);
    assert!(list(&d.root, "directives").is_empty());
    let http = d.root.get("http").unwrap();
    assert_eq!(http.get("implicit").unwrap().value, Value::Bool(true));
    assert_eq!(
        strs(list(http, "directives")),
        ["limit_req_zone $binary_remote_addr zone=one:10m rate=1r/s"]
    );
    assert_eq!(
        list(http, "upstreams")[0].get("name").unwrap().as_str(),
        Some("app")
    );
    let s = &list(http, "servers")[0];
    assert_eq!(s.get("name").unwrap().as_str(), Some("example.net 443"));
    assert_eq!(strs(list(s, "default_for")), ["*:443"]);
}

#[test]
fn top_level_servers_that_proxy_without_locations_are_stream_servers() {
    let d = parse("server {\n  listen 5432;\n  proxy_pass db.internal:5432;\n}\n");
    assert!(d.diagnostics.is_empty(), "{:?}", d.diagnostics);
    assert_eq!(d.root.get("http").unwrap().value, Value::Null);
    let stream = d.root.get("stream").unwrap();
    assert_eq!(stream.get("implicit").unwrap().value, Value::Bool(true));
    let s = &list(stream, "servers")[0];
    assert_eq!(
        s.get("proxy_pass").unwrap().as_str(),
        Some("db.internal:5432")
    );
    assert!(list(s, "directives").is_empty());
}

#[test]
fn a_server_block_outside_an_existing_http_block_is_refused() {
    let d = parse("http {\n  server { listen 80; }\n}\nserver { listen 81; }\n");
    assert_eq!(d.first_error().unwrap().code, "nginx.misplaced-block");
    assert_eq!(d.first_error().unwrap().line, 4);
}

#[test]
fn default_for_follows_nginx_rules() {
    let d = parse(
        "http {\n  server { listen 80; server_name a; }\n  server { listen 0.0.0.0:80; listen 127.0.0.1; server_name b; }\n  server { listen *:443 ssl; server_name c; }\n  server { listen 443 ssl default_server; server_name d; }\n  server { server_name e; }\n}\n",
    );
    assert!(d.diagnostics.is_empty(), "{:?}", d.diagnostics);
    let servers = list(d.root.get("http").unwrap(), "servers");
    let defaults: Vec<Vec<&str>> = servers
        .iter()
        .map(|s| strs(list(s, "default_for")))
        .collect();
    assert_eq!(
        defaults,
        vec![
            vec!["*:80"],
            vec!["127.0.0.1:80"],
            vec![],
            vec!["*:443"],
            vec![]
        ]
    );
}
