//! Round-trip and mutation tests over real-world configs of every format (issue 13), from
//! `tests/data/real/` (see its README for where each file comes from): Debian packages' shipped
//! samples and configs in the style of the vendors' documentation.
//!
//! For each file: it parses without errors and diffs equal to itself; reindenting it (and
//! reordering its unordered sections) is no change; swapping two ordered rules is exactly one
//! `moved` entry carrying both lines; one meaningful single-line edit is exactly one entry at
//! the right line.

use std::path::Path;

use guardrail::diff::{DiffEntry, Op, diff};
use guardrail::document::{Document, Format};
use guardrail::formats;

fn read(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/real")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse(format: Format, name: &str, text: &str) -> Document {
    let doc = formats::parse(format, text);
    assert!(
        !doc.has_errors(),
        "{name}: {:?}",
        doc.diagnostics
            .iter()
            .map(|d| d.render(name))
            .collect::<Vec<_>>()
    );
    doc
}

fn show(entries: &[DiffEntry<'_>]) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            format!(
                "{} {} {:?}->{:?}",
                e.op.name(),
                e.path,
                e.old_line(),
                e.new_line()
            )
        })
        .collect()
}

/// The 1-based line where `needle` starts in `text`.
fn line_of(text: &str, needle: &str) -> u32 {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in the file"));
    text[..at].matches('\n').count() as u32 + 1
}

/// `text` with the first occurrences of `a` and `b` (in that order, not overlapping) swapped.
fn swap(text: &str, a: &str, b: &str) -> String {
    let ia = text.find(a).unwrap_or_else(|| panic!("no {a:?}"));
    let ib = text.find(b).unwrap_or_else(|| panic!("no {b:?}"));
    assert!(ia + a.len() <= ib, "{a:?} must come before {b:?}");
    format!(
        "{}{}{}{}{}",
        &text[..ia],
        b,
        &text[ia + a.len()..ib],
        a,
        &text[ib + b.len()..]
    )
}

/// The block that starts with the line `header` (at the start of a line): that line and the
/// lines after it that are blank or indented. A text with a newline, or one that does not
/// start a line, is taken as the block itself.
fn block<'t>(text: &'t str, header: &'t str) -> &'t str {
    if header.contains('\n') {
        return header;
    }
    let start = if text.starts_with(header) {
        0
    } else {
        match text.find(&format!("\n{header}")) {
            Some(i) => i + 1,
            None => return header,
        }
    };
    let mut end = start
        + text[start..]
            .find('\n')
            .map_or(text.len() - start, |i| i + 1);
    for line in text[end..].split_inclusive('\n') {
        if line.trim().is_empty() || line.starts_with([' ', '\t']) {
            end += line.len();
        } else {
            break;
        }
    }
    &text[start..end]
}

/// Every line's leading whitespace doubled (tabs become four spaces first): the hierarchy of
/// indentation-based formats is kept, and nothing else changes.
fn reindent(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for line in text.split_inclusive('\n') {
        let body = line.trim_start_matches([' ', '\t']);
        let lead = &line[..line.len() - body.len()];
        let spaces = lead.replace('\t', "    ");
        out.push_str(&spaces);
        out.push_str(&spaces);
        out.push_str(body);
    }
    out
}

struct Case {
    file: &'static str,
    format: Format,
    /// Reindenting keeps the meaning (YAML's block indentation does too when doubled).
    reindent: bool,
    /// Two unordered sections to swap (text blocks, first before second).
    unordered: Option<(&'static str, &'static str)>,
    /// Two ordered rules to swap, and the path prefix of the one `moved` entry.
    ordered: Option<(&'static str, &'static str, &'static str)>,
    /// A one-line edit (old text, new text) and the path of the one entry.
    edit: Option<(&'static str, &'static str, &'static str)>,
}

const CASES: &[Case] = &[
    Case {
        file: "haproxy-content-sw-sample.cfg",
        format: Format::Haproxy,
        reindent: true,
        unordered: Some(("backend static", "backend dynamic")),
        ordered: Some((
            "use_backend     static if { hdr_beg(host) -i img }",
            "use_backend     static if { path_beg /img /css   }",
            "frontends[public].use_backend[",
        )),
        edit: Some((
            "server          statsrv2 192.168.1.9:80 check inter 1000",
            "server          statsrv2 192.168.1.9:80 check inter 2000",
            "backends[static].servers[statsrv2].options.inter",
        )),
    },
    Case {
        file: "haproxy-basic-config-edge.cfg",
        format: Format::Haproxy,
        reindent: true,
        unordered: None,
        ordered: Some((
            "http-request redirect scheme https code 301 if !{ ssl_fc }",
            "http-request del-header x-forwarded-for",
            "frontends[pub1].rules.http_request[",
        )),
        edit: Some((
            "server srv3 192.0.2.3:80 cookie s3 maxconn 100 check inter 1s",
            "server srv3 192.0.2.3:80 cookie s3 maxconn 200 check inter 1s",
            "backends[app1].servers[srv3].options.maxconn",
        )),
    },
    Case {
        file: "debian-haproxy.cfg",
        format: Format::Haproxy,
        reindent: true,
        unordered: None,
        ordered: None,
        edit: Some((
            "timeout connect 5000",
            "timeout connect 4000",
            "defaults[#0].timeouts.connect",
        )),
    },
    Case {
        file: "haproxy-option-http_proxy.cfg",
        format: Format::Haproxy,
        reindent: true,
        unordered: None,
        ordered: None,
        edit: None,
    },
    Case {
        file: "haproxy-transparent_proxy.cfg",
        format: Format::Haproxy,
        reindent: true,
        unordered: None,
        ordered: None,
        edit: None,
    },
    Case {
        file: "haproxy-quick-test.cfg",
        format: Format::Haproxy,
        reindent: true,
        unordered: None,
        ordered: None,
        edit: None,
    },
    Case {
        file: "nginx-reverse-proxy.conf",
        format: Format::Nginx,
        reindent: true,
        unordered: Some((
            "    location /api/ {\n        proxy_pass http://shop_api/;\n        proxy_read_timeout 60s;\n    }\n",
            "    location /ws/ {\n        proxy_pass http://shop_app;\n        proxy_set_header Upgrade $http_upgrade;\n        proxy_set_header Connection $connection_upgrade;\n    }\n",
        )),
        ordered: Some((
            "    location ~* \\.(?:css|js|woff2?)$ {\n        root /srv/shop/static;\n        expires 7d;\n        access_log off;\n    }\n",
            "    location ~ ^/admin/ {\n        allow 10.0.0.0/8;\n        allow 192.168.10.0/24;\n        deny all;\n        proxy_pass http://shop_app;\n    }\n",
            "http.servers[\"shop.example.com 443\"].locations[",
        )),
        edit: Some((
            "server 10.10.0.12:8080 weight=3",
            "server 10.10.0.12:8080 weight=5",
            "http.upstreams[shop_app].servers[10.10.0.12:8080].weight",
        )),
    },
    Case {
        file: "debian-nginx.conf",
        format: Format::Nginx,
        reindent: true,
        unordered: None,
        ordered: None,
        edit: None,
    },
    Case {
        file: "debian-nginx-sites-default.conf",
        format: Format::Nginx,
        reindent: true,
        unordered: None,
        ordered: None,
        // Its only lines are directives (an edit is a removal and an addition) and the site
        // itself: see `deleting_a_site_from_a_site_file_is_one_removal`.
        edit: None,
    },
    Case {
        file: "ios-branch-router.ios",
        format: Format::Ios,
        reindent: true,
        unordered: Some((
            "interface GigabitEthernet0/0/1\n description LAN users\n ip address 10.20.0.1 255.255.255.0\n ip nat inside\n ip helper-address 10.0.0.67\n standby 1 ip 10.20.0.254\n standby 1 priority 110\n standby 1 preempt\n",
            "interface GigabitEthernet0/0/2\n description LAN voice\n ip address 10.21.0.1 255.255.255.0\n ip nat inside\n",
        )),
        ordered: Some((
            " permit icmp any any echo-reply\n",
            " deny   ip 10.0.0.0 0.255.255.255 any log\n",
            "acls[WAN-IN].entries[",
        )),
        edit: Some((
            " description LAN voice",
            " description LAN voice and video",
            "interfaces[GigabitEthernet0/0/2].description",
        )),
    },
    Case {
        file: "eos-leaf.eos",
        format: Format::Ios,
        reindent: true,
        unordered: Some((
            "interface Ethernet10\n   description web-01\n   switchport access vlan 110\n",
            "interface Ethernet11\n   description db-01\n   switchport access vlan 120\n",
        )),
        ordered: None,
        edit: Some((
            "   switchport access vlan 120",
            "   switchport access vlan 110",
            "interfaces[Ethernet11].switchport.access_vlan",
        )),
    },
    Case {
        file: "frr-bgp-edge.frr",
        format: Format::Ios,
        reindent: true,
        unordered: Some((
            "interface eth0\n description uplink to transit\n ip address 203.0.113.10/31\nexit\n",
            "interface eth1\n description to core\n ip address 10.30.0.1/24\n ip ospf area 0\nexit\n",
        )),
        ordered: Some((
            "bgp as-path access-list BAD-PATHS deny _64666_\n",
            "bgp as-path access-list BAD-PATHS permit .*\n",
            "as_path_lists[BAD-PATHS].entries[",
        )),
        edit: Some((
            " neighbor 203.0.113.11 remote-as 64510",
            " neighbor 203.0.113.11 remote-as 64511",
            "bgp.neighbors[203.0.113.11].remote_as",
        )),
    },
    Case {
        file: "iosxr-pe.ios",
        format: Format::Ios,
        reindent: true,
        unordered: None,
        ordered: Some((
            "  set local-preference 150\n",
            "  pass\n",
            "lines[\"route-policy CE-A-IN\"].children[",
        )),
        edit: Some((
            " 10 permit tcp 10.0.0.0 0.255.255.255 any eq ssh",
            " 10 permit tcp 10.0.0.0 0.255.255.255 any eq 830",
            "acls[MGMT-IN].entries[10].text",
        )),
    },
    Case {
        file: "debian-frr.conf",
        format: Format::Ios,
        reindent: true,
        unordered: None,
        ordered: None,
        edit: None,
    },
    Case {
        file: "fetchmailrc",
        format: Format::Fetchmail,
        reindent: true,
        unordered: Some((
            "poll imap.provider-a.example",
            "poll pop.provider-b.example",
        )),
        ordered: Some((
            "mx1.internal.example.com",
            "mx2.internal.example.com",
            "polls[imap.provider-a.example].users[support@example.com].options.smtphost[",
        )),
        edit: Some(("set daemon 300", "set daemon 600", "set.daemon")),
    },
    Case {
        file: "fetchmailrc.example",
        format: Format::Fetchmail,
        reindent: true,
        unordered: None,
        ordered: None,
        edit: None,
    },
    Case {
        file: "debian-pgbouncer.ini",
        format: Format::Ini,
        reindent: false,
        unordered: Some(("[databases]", "[users]")),
        ordered: None,
        edit: Some((
            "listen_port = 6432",
            "listen_port = 6433",
            "pgbouncer.listen_port",
        )),
    },
    Case {
        file: "k8s-deployment.yaml",
        format: Format::Yaml,
        // Doubling YAML's indentation misaligns `- key:` items with their other keys.
        reindent: false,
        unordered: None,
        ordered: Some((
            "            - --listen=:8080\n",
            "            - --upstream=payments.shop.svc:9000\n",
            "spec.template.spec.containers[checkout].args[",
        )),
        edit: Some(("  replicas: 4", "  replicas: 6", "spec.replicas")),
    },
    Case {
        file: "alb-rules.json",
        format: Format::Json,
        reindent: true,
        unordered: Some((
            "{\"name\": \"tg-api\", \"port\": 9000, \"health_check\": {\"path\": \"/ready\", \"interval\": 10}}",
            "{\"name\": \"tg-static\", \"port\": 8081, \"health_check\": {\"path\": \"/\", \"interval\": 30}}",
        )),
        ordered: Some((
            "{\"priority_note\": \"static\", \"conditions\": [{\"field\": \"path-pattern\", \"values\": [\"*.css\", \"*.js\"]}], \"target_group\": \"tg-static\"}",
            "{\"priority_note\": \"admin\", \"conditions\": [{\"field\": \"path-pattern\", \"values\": [\"/admin/*\"]}], \"target_group\": \"tg-admin\"}",
            "rules[",
        )),
        edit: Some((
            "\"port\": 9000",
            "\"port\": 9001",
            "target_groups[tg-api].port",
        )),
    },
    Case {
        file: "service.toml",
        format: Format::Toml,
        reindent: true,
        unordered: Some((
            "[[routes]]\nname = \"orders\"\npath = \"/orders\"\nbackend = \"orders-svc\"\n",
            "[[routes]]\nname = \"users\"\npath = \"/users\"\nbackend = \"users-svc\"\n",
        )),
        ordered: Some((
            "\"10.0.0.21:5432\"",
            "\"10.0.0.22:5432\"",
            "upstream.addresses[",
        )),
        edit: Some(("pool_size = 40", "pool_size = 60", "upstream.pool_size")),
    },
];

fn case(c: &Case) {
    let text = read(c.file);
    let old = parse(c.format, c.file, &text);
    // The file equals itself.
    let same = parse(c.format, c.file, &text);
    assert!(diff(&old.root, &same.root).is_empty(), "{}", c.file);
    // Reindented: no change.
    if c.reindent {
        let re = reindent(&text);
        let new = parse(c.format, c.file, &re);
        let d = diff(&old.root, &new.root);
        assert!(d.is_empty(), "{} reindented: {:?}", c.file, show(&d));
    }
    // Unordered sections reordered: no change.
    if let Some((a, b)) = c.unordered {
        let re = swap(&text, block(&text, a), block(&text, b));
        let new = parse(c.format, c.file, &re);
        let d = diff(&old.root, &new.root);
        assert!(d.is_empty(), "{} reordered: {:?}", c.file, show(&d));
    }
    // Two ordered rules swapped: one move with both lines.
    if let Some((a, b, path)) = c.ordered {
        let re = swap(&text, a, b);
        let new = parse(c.format, c.file, &re);
        let d = diff(&old.root, &new.root);
        assert_eq!(d.len(), 1, "{} swapped: {:?}", c.file, show(&d));
        let e = &d[0];
        assert_eq!(e.op, Op::Moved, "{}: {:?}", c.file, show(&d));
        assert!(
            e.path.to_string().starts_with(path),
            "{}: {:?}",
            c.file,
            show(&d)
        );
        let (la, lb) = (line_of(&text, a), line_of(&text, b));
        let lines = (e.old_line().unwrap(), e.new_line().unwrap());
        assert!(la == lb || lines.0 != lines.1, "{}: {:?}", c.file, show(&d));
        assert!(
            [la, lb].contains(&lines.0),
            "{}: old line {} is not {la} or {lb}",
            c.file,
            lines.0
        );
        let moved = e.moved.expect("a move has positions");
        assert_ne!(moved.from, moved.to);
    }
    // One single-line edit: one entry at that line.
    if let Some((from, to, path)) = c.edit {
        let re = text.replacen(from, to, 1);
        let new = parse(c.format, c.file, &re);
        let d = diff(&old.root, &new.root);
        assert_eq!(d.len(), 1, "{} edited: {:?}", c.file, show(&d));
        let e = &d[0];
        let line = line_of(&text, from);
        assert!(
            e.path.to_string().starts_with(path),
            "{}: {:?}",
            c.file,
            show(&d)
        );
        let at = |l: Option<u32>| l.is_none_or(|l| l == line);
        assert!(
            at(e.old_line()) && at(e.new_line()),
            "{}: edit at line {line}, entry {:?}",
            c.file,
            show(&d)
        );
    }
}

#[test]
fn every_real_config_round_trips_and_mutates_as_expected() {
    let mut failures = Vec::new();
    for c in CASES {
        if let Err(e) = std::panic::catch_unwind(|| case(c)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {msg}", c.file));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_real_config_file_has_a_case() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/real");
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "README.md" {
            continue;
        }
        assert!(
            CASES.iter().any(|c| c.file == name),
            "{name} has no case in tests/real_configs.rs"
        );
    }
}

/// Every format is covered by at least one real config with an ordered swap or an edit.
#[test]
fn every_format_is_covered() {
    for f in Format::ALL {
        assert!(
            CASES
                .iter()
                .any(|c| c.format == f && (c.ordered.is_some() || c.edit.is_some())),
            "{} has no mutation case",
            f.name()
        );
    }
}

/// Debian's `sites-available/default` is a top-level `server {}`: it is read as a site, so a
/// second site deleted from the file is one removal at `http.servers[...]`, which the
/// load-balancer policies (reading `http.servers`) see.
#[test]
fn deleting_a_site_from_a_site_file_is_one_removal() {
    let default = read("debian-nginx-sites-default.conf");
    let with_second = format!(
        "{default}\nserver {{\n\tlisten 80;\n\tserver_name shop.example.com;\n\tlocation / {{\n\t\tproxy_pass http://127.0.0.1:8080;\n\t}}\n}}\n"
    );
    let old = parse(Format::Nginx, "two sites", &with_second);
    let new = parse(Format::Nginx, "one site", &default);
    let d = diff(&old.root, &new.root);
    let second = line_of(&with_second, "server {\n\tlisten 80;\n\tserver_name shop");
    assert_eq!(
        show(&d),
        vec![format!(
            "removed http.servers[\"shop.example.com 80\"] Some({second})->None"
        )]
    );
    let http = old.root.get("http").unwrap();
    assert_eq!(
        http.get("servers").map(|s| match &s.value {
            guardrail::document::Value::List(l) => l.len(),
            _ => 0,
        }),
        Some(2)
    );
}
