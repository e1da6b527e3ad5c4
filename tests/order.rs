//! Order in the document tree (issue 13): where the software applies the first match, a
//! reordering is a change (`moved`, with both lines); where it does not, it is no change. One
//! test per class of list, named after what used to go wrong, through the library API.

use guardrail::diff::{DiffEntry, diff};
use guardrail::document::{Document, Format};
use guardrail::formats;

fn parse(format: Format, text: &str) -> Document {
    let doc = formats::parse(format, text);
    assert!(
        !doc.has_errors(),
        "{text}\n{:?}",
        doc.diagnostics
            .iter()
            .map(|d| d.render("input"))
            .collect::<Vec<_>>()
    );
    doc
}

/// `op path old_line->new_line` (and `[from->to]` for moves), one string per entry.
fn render(entries: &[DiffEntry<'_>]) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            let lines = format!(
                "{}->{}",
                e.old_line().map_or("-".to_string(), |l| l.to_string()),
                e.new_line().map_or("-".to_string(), |l| l.to_string())
            );
            match e.moved {
                Some(m) => format!("{} {} {lines} [{}->{}]", e.op.name(), e.path, m.from, m.to),
                None => format!("{} {} {lines}", e.op.name(), e.path),
            }
        })
        .collect()
}

fn changes(format: Format, old: &str, new: &str) -> Vec<String> {
    let a = parse(format, old);
    let b = parse(format, new);
    render(&diff(&a.root, &b.root))
}

// ---- HAProxy ---------------------------------------------------------------------------

const HAPROXY_ROUTES: &str = "\
frontend fe_https
    bind :443
    acl is_api hdr(host) -i api.example.com
    acl is_static path_end .css .js
    use_backend be_api if is_api
    use_backend static if is_static
    default_backend be_web

backend be_api
    server api1 10.0.0.1:80 check

backend static
    server st1 10.0.0.2:80 check

backend be_web
    server web1 10.0.0.3:80 check
";

#[test]
fn swapped_use_backend_rules_are_one_move_with_both_lines() {
    // The example: /x.css on api.example.com now goes to `static`.
    let new = HAPROXY_ROUTES.replace(
        "    use_backend be_api if is_api\n    use_backend static if is_static\n",
        "    use_backend static if is_static\n    use_backend be_api if is_api\n",
    );
    assert_eq!(
        changes(Format::Haproxy, HAPROXY_ROUTES, &new),
        vec!["moved frontends[fe_https].use_backend[\"be_api if is_api\"] 5->6 [1->2]"]
    );
}

#[test]
fn reordering_haproxy_backends_and_acls_of_different_names_is_no_change() {
    let new = HAPROXY_ROUTES
        .replace(
            "    acl is_api hdr(host) -i api.example.com\n    acl is_static path_end .css .js\n",
            "    acl is_static path_end .css .js\n    acl is_api hdr(host) -i api.example.com\n",
        )
        .replace("backend be_api\n    server api1 10.0.0.1:80 check\n\n", "")
        + "\nbackend be_api\n    server api1 10.0.0.1:80 check\n";
    assert!(changes(Format::Haproxy, HAPROXY_ROUTES, &new).is_empty());
}

#[test]
fn swapped_http_request_rules_are_one_move() {
    let old = "frontend f\n    bind :80\n    http-request deny if { src 10.0.0.0/8 }\n    http-request allow if { path_beg /public }\n    http-request set-header X-A 1\n";
    let new = "frontend f\n    bind :80\n    http-request allow if { path_beg /public }\n    http-request deny if { src 10.0.0.0/8 }\n    http-request set-header X-A 1\n";
    assert_eq!(
        changes(Format::Haproxy, old, new),
        vec!["moved frontends[f].rules.http_request[\"deny if { src 10.0.0.0/8 }\"] 3->4 [1->2]"]
    );
}

#[test]
fn haproxy_rule_families_each_keep_their_own_order() {
    // An http-request rule moved past a redirect, a use_backend or an unrelated directive:
    // the families are separate sequences, so this is no change.
    let old = "frontend f\n    bind :80\n    redirect scheme https if !{ ssl_fc }\n    http-request deny if { src 10.0.0.1 }\n    option forwardfor\n    use_backend b if { path /x }\n";
    let new = "frontend f\n    bind :80\n    option forwardfor\n    use_backend b if { path /x }\n    http-request deny if { src 10.0.0.1 }\n    redirect scheme https if !{ ssl_fc }\n";
    assert!(changes(Format::Haproxy, old, new).is_empty());
    // tcp-request rules of different phases do not compete either.
    let old = "frontend f\n    bind :80\n    tcp-request content accept if HTTP\n    tcp-request connection reject if { src 10.0.0.1 }\n    tcp-request inspect-delay 5s\n";
    let new = "frontend f\n    bind :80\n    tcp-request inspect-delay 5s\n    tcp-request connection reject if { src 10.0.0.1 }\n    tcp-request content accept if HTTP\n";
    assert!(changes(Format::Haproxy, old, new).is_empty());
    // Within one phase they do.
    let old = "frontend f\n    bind :80\n    tcp-request content reject if { src 10.0.0.1 }\n    tcp-request content accept if HTTP\n";
    let new = "frontend f\n    bind :80\n    tcp-request content accept if HTTP\n    tcp-request content reject if { src 10.0.0.1 }\n";
    assert_eq!(
        changes(Format::Haproxy, old, new),
        vec![
            "moved frontends[f].rules.tcp_request[\"content reject if { src 10.0.0.1 }\"] 3->4 [1->2]"
        ]
    );
}

#[test]
fn other_ordered_haproxy_rules_report_moves() {
    for (kw, key, a, b) in [
        (
            "redirect",
            "rules.redirect",
            "prefix /a if x",
            "location /b if y",
        ),
        ("use-server", "rules.use_server", "s1 if x", "s2 if y"),
        (
            "http-response",
            "rules.http_response",
            "del-header Server",
            "deny if z",
        ),
        (
            "http-check",
            "http_check",
            "send meth GET uri /",
            "expect status 200",
        ),
        ("stick", "rules.stick", "match src", "on src table t2"),
    ] {
        let old = format!(
            "backend b\n    server s1 10.0.0.1:80\n    server s2 10.0.0.2:80\n    {kw} {a}\n    {kw} {b}\n"
        );
        let new = format!(
            "backend b\n    server s1 10.0.0.1:80\n    server s2 10.0.0.2:80\n    {kw} {b}\n    {kw} {a}\n"
        );
        let got = changes(Format::Haproxy, &old, &new);
        assert_eq!(got.len(), 1, "{kw}: {got:?}");
        assert!(
            got[0].starts_with(&format!("moved backends[b].{key}[")),
            "{kw}: {got:?}"
        );
    }
}

#[test]
fn reordered_same_name_acls_are_no_change_and_an_edit_is_one_change() {
    let old = "frontend f\n    bind :80\n    acl is_static path_end .css\n    acl is_static path_beg /static/\n    acl is_static hdr(host) static.example.com\n    use_backend b if is_static\n";
    let new = "frontend f\n    bind :80\n    acl is_static hdr(host) static.example.com\n    acl is_static path_end .css\n    acl is_static path_beg /static/\n    use_backend b if is_static\n";
    assert!(changes(Format::Haproxy, old, new).is_empty());
    let edited = old.replace("path_beg /static/", "path_beg /assets/");
    let got = changes(Format::Haproxy, old, &edited);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("changed frontends[f].acls[") && got[0].contains("is_static"),
        "{got:?}"
    );
    assert!(got[0].ends_with(".pattern 4->4"), "{got:?}");
}

#[test]
fn reordered_servers_matter_only_for_position_based_balance() {
    let server = |name: &str| format!("    server {name} 10.0.0.{}:80 check\n", &name[1..]);
    let backend = |balance: &str, first: &str, second: &str| {
        format!(
            "backend b\n    {balance}\n{}{}",
            server(first),
            server(second)
        )
    };
    // roundrobin: no change.
    assert!(
        changes(
            Format::Haproxy,
            &backend("balance roundrobin", "s1", "s2"),
            &backend("balance roundrobin", "s2", "s1")
        )
        .is_empty()
    );
    // `first` fills servers in order: a move.
    let got = changes(
        Format::Haproxy,
        &backend("balance first", "s1", "s2"),
        &backend("balance first", "s2", "s1"),
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("moved backends[b].servers["), "{got:?}");
    // The algorithm may come from the defaults section before the backend.
    let with_defaults = |first: &str, second: &str| {
        format!(
            "defaults\n    mode http\n    balance source\n\n{}",
            backend("option httpchk", first, second)
        )
    };
    let got = changes(
        Format::Haproxy,
        &with_defaults("s1", "s2"),
        &with_defaults("s2", "s1"),
    );
    assert_eq!(got.len(), 1, "{got:?}");
    // ... and a later defaults section without `balance` resets it to roundrobin.
    let reset = |first: &str, second: &str| {
        format!(
            "defaults\n    balance first\n\ndefaults\n    mode http\n\n{}",
            backend("option httpchk", first, second)
        )
    };
    assert!(changes(Format::Haproxy, &reset("s1", "s2"), &reset("s2", "s1")).is_empty());
}

// ---- nginx -----------------------------------------------------------------------------

const NGINX_SITE: &str = "\
server {
    listen 80;
    server_name www.example.net;
    root /srv/www;

    location / {
        try_files $uri $uri/ =404;
    }
    location /api/ {
        proxy_pass http://127.0.0.1:8080;
    }
    location ~ \\.php$ {
        fastcgi_pass unix:/run/php/php-fpm.sock;
    }
    location ~* \\.(css|js|php)$ {
        expires 30d;
    }
    location /admin/ {
        allow 10.0.0.0/8;
        deny 10.1.0.0/16;
        deny all;
    }
    rewrite ^/old/(.*)$ /new/$1 permanent;
    rewrite ^/new/legacy$ /gone last;
}

server {
    listen 80;
    server_name api.example.net;
    location / {
        proxy_pass http://127.0.0.1:9090;
    }
}
";

#[test]
fn swapped_nginx_regex_locations_are_one_move() {
    let new = NGINX_SITE.replace(
        "    location ~ \\.php$ {\n        fastcgi_pass unix:/run/php/php-fpm.sock;\n    }\n    location ~* \\.(css|js|php)$ {\n        expires 30d;\n    }\n",
        "    location ~* \\.(css|js|php)$ {\n        expires 30d;\n    }\n    location ~ \\.php$ {\n        fastcgi_pass unix:/run/php/php-fpm.sock;\n    }\n",
    );
    let got = changes(Format::Nginx, NGINX_SITE, &new);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("moved http.servers[\"www.example.net 80\"].locations["),
        "{got:?}"
    );
    assert!(
        got[0].contains(" 12->15 ") || got[0].contains(" 15->12 "),
        "{got:?}"
    );
}

#[test]
fn reordered_nginx_prefix_locations_are_no_change() {
    let new = NGINX_SITE.replace(
        "    location / {\n        try_files $uri $uri/ =404;\n    }\n    location /api/ {\n        proxy_pass http://127.0.0.1:8080;\n    }\n",
        "    location /api/ {\n        proxy_pass http://127.0.0.1:8080;\n    }\n    location / {\n        try_files $uri $uri/ =404;\n    }\n",
    );
    assert!(changes(Format::Nginx, NGINX_SITE, &new).is_empty());
}

#[test]
fn swapped_nginx_allow_deny_and_rewrites_are_moves() {
    let new = NGINX_SITE.replace(
        "        allow 10.0.0.0/8;\n        deny 10.1.0.0/16;\n",
        "        deny 10.1.0.0/16;\n        allow 10.0.0.0/8;\n",
    );
    let got = changes(Format::Nginx, NGINX_SITE, &new);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("moved ") && got[0].contains(".access["),
        "{got:?}"
    );
    let new = NGINX_SITE.replace(
        "    rewrite ^/old/(.*)$ /new/$1 permanent;\n    rewrite ^/new/legacy$ /gone last;\n",
        "    rewrite ^/new/legacy$ /gone last;\n    rewrite ^/old/(.*)$ /new/$1 permanent;\n",
    );
    let got = changes(Format::Nginx, NGINX_SITE, &new);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("moved ") && got[0].contains(".rewrites["),
        "{got:?}"
    );
}

#[test]
fn top_level_server_blocks_are_sites_and_deleting_one_is_one_removal() {
    let doc = parse(Format::Nginx, NGINX_SITE);
    let http = doc.root.get("http").expect("an implicit http block");
    assert_eq!(
        http.get("implicit").unwrap().value,
        guardrail::document::Value::Bool(true)
    );
    let cut = NGINX_SITE
        .find("server {\n    listen 80;\n    server_name api")
        .unwrap();
    let new = &NGINX_SITE[..cut];
    let got = changes(Format::Nginx, NGINX_SITE, new);
    assert_eq!(
        got,
        vec!["removed http.servers[\"api.example.net 80\"] 27->-"]
    );
}

#[test]
fn moving_a_server_block_in_front_changes_the_default_server() {
    let cut = NGINX_SITE
        .find("server {\n    listen 80;\n    server_name api")
        .unwrap();
    let (first, second) = NGINX_SITE.split_at(cut);
    let swapped = format!("{second}\n{first}");
    let got = changes(Format::Nginx, NGINX_SITE, &swapped);
    assert!(
        !got.is_empty(),
        "a new default server for *:80 must be a change"
    );
    assert!(got.iter().all(|g| g.contains(".default_for")), "{got:?}");
    // With `default_server` written, the order of the blocks is no behaviour.
    let explicit = NGINX_SITE.replacen("listen 80;", "listen 80 default_server;", 1);
    let cut = explicit
        .find("server {\n    listen 80;\n    server_name api")
        .unwrap();
    let (first, second) = explicit.split_at(cut);
    let swapped = format!("{second}\n{first}");
    assert!(changes(Format::Nginx, &explicit, &swapped).is_empty());
}

// ---- IOS-style -------------------------------------------------------------------------

const IOS: &str = "\
hostname edge-1
interface GigabitEthernet0/1
 description uplink
 ip address 10.0.0.1 255.255.255.0
interface GigabitEthernet0/2
 description access
 shutdown
ip access-list extended EDGE-IN
 permit tcp any host 192.0.2.10 eq 443
 deny tcp any any eq 22
 permit ip any any
ip access-list extended NUMBERED
 10 permit tcp any any eq 80
 20 deny ip any any
access-list 101 permit icmp any any
access-list 101 deny ip any any
ip prefix-list FROM-PEER permit 10.0.0.0/8 le 24
ip prefix-list FROM-PEER deny 0.0.0.0/0 le 32
ip prefix-list SEQ seq 5 permit 172.16.0.0/12
ip prefix-list SEQ seq 10 deny 0.0.0.0/0 le 32
ip as-path access-list 10 deny _65666_
ip as-path access-list 10 permit ^65001_
ip community-list standard KEEP permit 65000:100
ip community-list standard KEEP deny 65000:666
ip nat inside source static 10.0.0.5 192.0.2.5
ip nat inside source list NAT-ACL interface GigabitEthernet0/1 overload
route-map RM-IN permit 10
 match ip address prefix-list FROM-PEER
route-map RM-IN deny 20
";

fn swap_lines(text: &str, a: &str, b: &str) -> String {
    let ia = text.find(a).unwrap_or_else(|| panic!("no {a:?}"));
    let ib = text.find(b).unwrap_or_else(|| panic!("no {b:?}"));
    assert!(ia < ib);
    let mut out = String::new();
    out.push_str(&text[..ia]);
    out.push_str(b);
    out.push_str(&text[ia + a.len()..ib]);
    out.push_str(a);
    out.push_str(&text[ib + b.len()..]);
    out
}

#[test]
fn swapped_unnumbered_acl_entries_are_one_move() {
    let new = swap_lines(IOS, " deny tcp any any eq 22\n", " permit ip any any\n");
    assert_eq!(
        changes(Format::Ios, IOS, &new),
        vec!["moved acls[EDGE-IN].entries[\"deny tcp any any eq 22\"] 10->11 [2->3]"]
    );
    // Numbered ACL lines (`access-list 101 ...`) cannot carry numbers either.
    let new = swap_lines(
        IOS,
        "access-list 101 permit icmp any any\n",
        "access-list 101 deny ip any any\n",
    );
    let got = changes(Format::Ios, IOS, &new);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("moved acls[101].entries["), "{got:?}");
}

#[test]
fn inserting_an_unnumbered_acl_entry_is_one_addition_and_numbered_reorders_are_no_change() {
    let new = IOS.replace(
        " deny tcp any any eq 22\n",
        " deny tcp any any eq 23\n deny tcp any any eq 22\n",
    );
    assert_eq!(
        changes(Format::Ios, IOS, &new),
        vec!["added acls[EDGE-IN].entries[\"deny tcp any any eq 23\"] -->10"]
    );
    let new = swap_lines(
        IOS,
        " 10 permit tcp any any eq 80\n",
        " 20 deny ip any any\n",
    );
    assert!(changes(Format::Ios, IOS, &new).is_empty());
}

#[test]
fn swapped_prefix_list_as_path_community_and_nat_entries_are_moves() {
    for (a, b, key) in [
        (
            "ip prefix-list FROM-PEER permit 10.0.0.0/8 le 24\n",
            "ip prefix-list FROM-PEER deny 0.0.0.0/0 le 32\n",
            "moved prefix_lists[FROM-PEER].entries[",
        ),
        (
            "ip as-path access-list 10 deny _65666_\n",
            "ip as-path access-list 10 permit ^65001_\n",
            "moved as_path_lists[10].entries[",
        ),
        (
            "ip community-list standard KEEP permit 65000:100\n",
            "ip community-list standard KEEP deny 65000:666\n",
            "moved community_lists[KEEP].entries[",
        ),
        (
            "ip nat inside source static 10.0.0.5 192.0.2.5\n",
            "ip nat inside source list NAT-ACL interface GigabitEthernet0/1 overload\n",
            "moved nat[",
        ),
    ] {
        let got = changes(Format::Ios, IOS, &swap_lines(IOS, a, b));
        assert_eq!(got.len(), 1, "{a}: {got:?}");
        assert!(got[0].starts_with(key), "{a}: {got:?}");
    }
    // With sequence numbers the number is the order.
    let new = swap_lines(
        IOS,
        "ip prefix-list SEQ seq 5 permit 172.16.0.0/12\n",
        "ip prefix-list SEQ seq 10 deny 0.0.0.0/0 le 32\n",
    );
    assert!(changes(Format::Ios, IOS, &new).is_empty());
}

#[test]
fn reordered_interfaces_and_route_map_entries_are_no_change() {
    let new = swap_lines(
        IOS,
        "interface GigabitEthernet0/1\n description uplink\n ip address 10.0.0.1 255.255.255.0\n",
        "interface GigabitEthernet0/2\n description access\n shutdown\n",
    );
    assert!(changes(Format::Ios, IOS, &new).is_empty());
    let new = swap_lines(
        IOS,
        "route-map RM-IN permit 10\n match ip address prefix-list FROM-PEER\n",
        "route-map RM-IN deny 20\n",
    );
    assert!(changes(Format::Ios, IOS, &new).is_empty());
}

#[test]
fn swapped_ios_xr_route_policy_statements_are_a_move() {
    let old = "route-policy FROM-PEER\n  if destination in BOGONS then\n    drop\n  endif\n  if as-path passes-through '65666' then\n    drop\n  endif\n  pass\nend-policy\n!\nroute-policy OTHER\n  pass\nend-policy\n";
    let new = "route-policy FROM-PEER\n  pass\n  if destination in BOGONS then\n    drop\n  endif\n  if as-path passes-through '65666' then\n    drop\n  endif\nend-policy\n!\nroute-policy OTHER\n  pass\nend-policy\n";
    let got = changes(Format::Ios, old, new);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("moved lines[\"route-policy FROM-PEER\"].children[pass]"),
        "{got:?}"
    );
}

// ---- data formats ----------------------------------------------------------------------

#[test]
fn swapped_yaml_args_are_a_move_and_reordered_named_items_are_not() {
    let old = "containers:\n  - name: app\n    args: [--port, \"8080\", --verbose]\n  - name: sidecar\n    image: proxy\n";
    let new = "containers:\n  - name: sidecar\n    image: proxy\n  - name: app\n    args: [--verbose, --port, \"8080\"]\n";
    let got = changes(Format::Yaml, old, new);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("moved containers[app].args["), "{got:?}");
}

// ---- fetchmail -------------------------------------------------------------------------

#[test]
fn fetchmail_polls_and_their_options_reorder_freely_but_smtphost_is_a_preference_list() {
    let old = "set daemon 300\npoll imap.example.net proto imap port 993\n  user alice password \"pw1\" is alice here ssl keep smtphost mx1.internal,mx2.internal\npoll pop.example.org proto pop3\n  user bob password \"pw2\" is bob here fetchall\n";
    let new = "set daemon 300\npoll pop.example.org proto pop3\n  user bob password \"pw2\" is bob here fetchall\npoll imap.example.net port 993 proto imap\n  user alice password \"pw1\" is alice here keep ssl smtphost mx1.internal,mx2.internal\n";
    assert!(changes(Format::Fetchmail, old, new).is_empty());
    let swapped = old.replace("mx1.internal,mx2.internal", "mx2.internal,mx1.internal");
    let got = changes(Format::Fetchmail, old, &swapped);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("moved polls[imap.example.net].users[alice].options.smtphost["),
        "{got:?}"
    );
}
