//! Generators of large, realistic-shaped configs for benchmarks (shared by the bench binaries).
#![allow(dead_code)]

use std::fmt::Write;

/// An IOS-style switch/router config of about `target_lines` lines: interfaces, VLANs, ACLs,
/// prefix lists and BGP neighbors.
pub fn ios(target_lines: usize) -> String {
    let mut s = String::with_capacity(target_lines * 32);
    let mut lines = 0usize;
    let push = |s: &mut String, l: &str, lines: &mut usize| {
        s.push_str(l);
        s.push('\n');
        *lines += 1;
    };
    push(&mut s, "hostname bench-core-1", &mut lines);
    push(&mut s, "!", &mut lines);
    for v in 1..=1000u32 {
        push(&mut s, &format!("vlan {v}"), &mut lines);
        push(&mut s, &format!(" name vlan-{v}"), &mut lines);
    }
    let interfaces = target_lines / 25;
    for i in 0..interfaces {
        let slot = i / 48;
        let port = i % 48;
        push(
            &mut s,
            &format!("interface GigabitEthernet{slot}/0/{port}"),
            &mut lines,
        );
        if i % 10 == 0 {
            push(&mut s, " description uplink to core", &mut lines);
            push(&mut s, " switchport mode trunk", &mut lines);
            push(
                &mut s,
                " switchport trunk allowed vlan 10,20,30-40",
                &mut lines,
            );
        } else {
            push(&mut s, &format!(" description access port {i}"), &mut lines);
            push(&mut s, " switchport mode access", &mut lines);
            push(
                &mut s,
                &format!(" switchport access vlan {}", 1 + i % 1000),
                &mut lines,
            );
        }
        push(&mut s, " spanning-tree portfast", &mut lines);
        push(&mut s, " storm-control broadcast level 1.00", &mut lines);
        push(&mut s, " no shutdown", &mut lines);
        push(&mut s, "!", &mut lines);
    }
    let mut acl = 0;
    while lines < target_lines * 7 / 10 {
        push(
            &mut s,
            &format!("ip access-list extended ACL-{acl}"),
            &mut lines,
        );
        for e in 1..=200u32 {
            let mut l = String::new();
            let _ = write!(
                l,
                " {} permit tcp 10.{}.{}.0 0.0.0.255 any eq {}",
                e * 10,
                acl % 250,
                e % 250,
                1000 + e
            );
            push(&mut s, &l, &mut lines);
        }
        push(&mut s, "!", &mut lines);
        acl += 1;
    }
    push(&mut s, "router bgp 65000", &mut lines);
    push(&mut s, " bgp router-id 10.0.0.1", &mut lines);
    let mut n = 0u32;
    while lines < target_lines * 8 / 10 {
        let addr = format!("10.{}.{}.{}", 100 + n / 65536 % 100, n / 256 % 256, n % 256);
        push(
            &mut s,
            &format!(" neighbor {addr} remote-as {}", 65001 + n % 1000),
            &mut lines,
        );
        push(
            &mut s,
            &format!(" neighbor {addr} description peer-{n}"),
            &mut lines,
        );
        n += 1;
    }
    push(&mut s, "!", &mut lines);
    let mut p = 0u32;
    while lines < target_lines {
        push(
            &mut s,
            &format!(
                "ip prefix-list PL-{} seq {} permit 172.{}.{}.0/24",
                p / 500,
                (p % 500 + 1) * 5,
                16 + p / 65536 % 16,
                p / 256 % 256
            ),
            &mut lines,
        );
        p += 1;
    }
    s.push_str("end\n");
    s
}

/// An HAProxy config of about `target_lines` lines: frontends with ACLs and use_backend rules,
/// backends with servers.
pub fn haproxy(target_lines: usize) -> String {
    let mut s = String::with_capacity(target_lines * 48);
    s.push_str("global\n    maxconn 50000\n    log 127.0.0.1 local0\n\n");
    s.push_str("defaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\n");
    let backends = target_lines / 20;
    for f in 0..10 {
        let _ = writeln!(s, "frontend fe_{f}\n    bind :{}", 8000 + f);
        for b in (f..backends).step_by(10) {
            let _ = writeln!(s, "    acl is_b{b} hdr(host) -i b{b}.example.net");
            let _ = writeln!(s, "    use_backend be_{b} if is_b{b}");
        }
        let _ = writeln!(s, "    default_backend be_{f}\n");
    }
    for b in 0..backends {
        let _ = writeln!(
            s,
            "backend be_{b}\n    balance roundrobin\n    option httpchk GET /health"
        );
        for n in 0..14 {
            let _ = writeln!(
                s,
                "    server web{n} 10.{}.{}.{}:8080 check weight {}",
                b / 256 % 256,
                b % 256,
                n + 1,
                10 + n
            );
        }
        s.push('\n');
    }
    s
}

/// An nginx config of about `target_lines` lines: an `http` block with upstreams of servers
/// and virtual servers with locations, plus a `stream` block.
pub fn nginx(target_lines: usize) -> String {
    let mut s = String::with_capacity(target_lines * 40);
    s.push_str("user www-data;\nworker_processes auto;\npid /run/nginx.pid;\n\n");
    s.push_str("events {\n    worker_connections 4096;\n    multi_accept on;\n}\n\n");
    s.push_str("http {\n    include       /etc/nginx/mime.types;\n    default_type  application/octet-stream;\n");
    s.push_str("    sendfile on;\n    keepalive_timeout 65;\n    access_log /var/log/nginx/access.log main;\n\n");
    // Each service: an upstream of 8 servers (12 lines) and a virtual server with 3 locations
    // (22 lines), so about 36 lines per service.
    let services = target_lines.saturating_sub(40) / 36;
    for u in 0..services {
        let _ = writeln!(s, "    upstream app_{u} {{\n        least_conn;");
        for n in 0..8 {
            let _ = writeln!(
                s,
                "        server 10.{}.{}.{}:8080 weight={} max_fails=3 fail_timeout=30s;",
                20 + u / 256 % 200,
                u % 256,
                n + 1,
                1 + n % 5
            );
        }
        s.push_str("        keepalive 32;\n    }\n\n");
        let _ = writeln!(
            s,
            "    server {{\n        listen 443 ssl http2;\n        server_name app{u}.example.net;\n        ssl_certificate /etc/nginx/tls/app{u}.crt;\n        ssl_certificate_key /etc/nginx/tls/app{u}.key;\n"
        );
        let _ = writeln!(
            s,
            "        location / {{\n            proxy_pass http://app_{u};\n            proxy_set_header Host $host;\n            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n        }}\n"
        );
        let _ = writeln!(
            s,
            "        location /api/ {{\n            proxy_pass http://app_{u}/api/;\n            proxy_read_timeout 60s;\n        }}\n"
        );
        s.push_str("        location = /healthz {\n            access_log off;\n            return 200 \"ok\\n\";\n        }\n    }\n\n");
    }
    s.push_str("}\n\nstream {\n    upstream imap {\n        server 10.9.0.1:143;\n        server 10.9.0.2:143 backup;\n    }\n    server {\n        listen 143;\n        proxy_pass imap;\n    }\n}\n");
    s
}

/// A fetchmail rc file of about `target_lines` lines: global `set` lines, a `defaults` entry and
/// polls of one to three users each.
pub fn fetchmail(target_lines: usize) -> String {
    let mut s = String::with_capacity(target_lines * 48);
    s.push_str("# generated fetchmailrc\nset daemon 300\nset logfile \"/var/log/fetchmail/fetchmail.log\"\nset postmaster \"mailadmin\"\nset no bouncemail\n\n");
    s.push_str("defaults\n  proto imap\n  timeout 60\n  user \"svc-default\" with ssl sslcertck\n    keep\n    smtphost localhost/2525\n\n");
    let mut lines = 13usize;
    let mut p = 0usize;
    while lines < target_lines {
        let _ = writeln!(
            s,
            "# connector {p}\npoll imap{p}.example.net with proto imap port 993 auth password\n  via 10.{}.{}.{}",
            p / 65536 % 256,
            p / 256 % 256,
            p % 256
        );
        lines += 3;
        for u in 0..1 + p % 3 {
            let _ = writeln!(
                s,
                "  user \"box{u}@tenant{p}.example.net\" there with password \"pw-{p}-{u}\" is mbox{p}_{u} here\n    options keep ssl sslcertck\n    folders INBOX, \"Archive\", \"Orders {u}\"\n    mda \"/usr/bin/procmail -d %T\""
            );
            lines += 4;
        }
        s.push('\n');
        lines += 1;
        p += 1;
    }
    s
}

/// An INI file of about `target_lines` lines: many sections (a pgbouncer-like database list
/// plus php.ini-like settings) with comments.
pub fn ini(target_lines: usize) -> String {
    let mut s = String::with_capacity(target_lines * 36);
    s.push_str(";; generated settings\n\n[databases]\n");
    let dbs = target_lines / 10;
    for d in 0..dbs {
        let _ = writeln!(
            s,
            "db_{d} = host=db-{}.internal port=5432 dbname=app_{d} pool_size={}",
            d % 16,
            10 + d % 20
        );
    }
    s.push('\n');
    let mut lines = dbs + 4;
    let mut sec = 0usize;
    while lines < target_lines {
        let _ = writeln!(s, "[service_{sec}]\n; settings of service {sec}");
        lines += 2;
        for k in 0..16 {
            match k % 4 {
                0 => {
                    let _ = writeln!(s, "max_connections_{k} = {}", 100 + sec % 900);
                }
                1 => {
                    let _ = writeln!(s, "enable_feature_{k} = true");
                }
                2 => {
                    let _ = writeln!(s, "log_path_{k} = /var/log/service_{sec}/k{k}.log");
                }
                _ => {
                    let _ = writeln!(s, "description_{k} = \"service {sec} setting {k}\"");
                }
            }
            lines += 1;
        }
        s.push('\n');
        lines += 1;
        sec += 1;
    }
    s
}

/// Changes exactly one line: the first line containing `needle` gets `replacement` instead.
pub fn change_one_line(text: &str, needle: &str, replacement: &str) -> String {
    let pos = text.find(needle).expect("needle present");
    let line_start = text[..pos].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = text[pos..]
        .find('\n')
        .map(|i| pos + i)
        .unwrap_or(text.len());
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..line_start]);
    out.push_str(replacement);
    out.push_str(&text[line_end..]);
    out
}
