//! `guardrail diff` end to end with the real binary: exit codes, text and JSON output, identity
//! matching, redaction, and bad input answered with exit 2 and a one-line error.

mod common;

use common::{run_in, temp_files};

const HAPROXY_OLD: &str = "\
global
    maxconn 4096

defaults
    mode http
    timeout connect 5s

frontend fe_mail
    bind :443
    acl is_api path_beg /api
    use_backend be_api if is_api
    default_backend be_web

backend be_web
    balance roundrobin
    option httpchk GET /health
    server web1 10.0.0.1:8080 check
    server web2 10.0.0.2:8080 check
    server web3 10.0.0.3:8080 check

backend be_api
    server api1 10.0.1.1:9000 check
";

#[test]
fn identical_files_exit_zero() {
    let dir = temp_files(&[
        ("a/haproxy.cfg", HAPROXY_OLD.as_bytes()),
        ("b/haproxy.cfg", HAPROXY_OLD.as_bytes()),
    ]);
    let (code, out, _) = run_in(dir.path(), &["diff", "a/haproxy.cfg", "b/haproxy.cfg"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no semantic change"));
}

#[test]
fn reordered_backends_and_reindented_lines_are_not_a_change() {
    let reordered = HAPROXY_OLD.replace(
        "backend be_web\n    balance roundrobin\n    option httpchk GET /health\n    server web1 10.0.0.1:8080 check\n    server web2 10.0.0.2:8080 check\n    server web3 10.0.0.3:8080 check\n\nbackend be_api\n    server api1 10.0.1.1:9000 check\n",
        "backend be_api\n  server api1 10.0.1.1:9000 check\n\nbackend be_web\n\tbalance roundrobin\n\toption httpchk GET /health\n\tserver web3 10.0.0.3:8080 check\n\tserver web1 10.0.0.1:8080 check\n\tserver web2 10.0.0.2:8080   check\n",
    );
    assert_ne!(reordered, HAPROXY_OLD);
    let dir = temp_files(&[
        ("old.cfg", HAPROXY_OLD.as_bytes()),
        ("new.cfg", reordered.as_bytes()),
    ]);
    let (code, out, err) = run_in(
        dir.path(),
        &["diff", "--format", "haproxy", "old.cfg", "new.cfg"],
    );
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn removing_one_server_is_exactly_one_removal_with_its_line() {
    let new = HAPROXY_OLD.replace("    server web2 10.0.0.2:8080 check\n", "");
    let dir = temp_files(&[
        ("old/haproxy.cfg", HAPROXY_OLD.as_bytes()),
        ("new/haproxy.cfg", new.as_bytes()),
    ]);
    let (code, out, _) = run_in(
        dir.path(),
        &[
            "diff",
            "old/haproxy.cfg",
            "new/haproxy.cfg",
            "--output",
            "json",
        ],
    );
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{out}");
    let e = &entries[0];
    assert_eq!(e["op"], "removed");
    assert_eq!(e["path"], "backends[be_web].servers[web2]");
    assert_eq!(e["old_line"], 18);
    assert!(e["new_line"].is_null());
    assert_eq!(e["old"]["address"], "10.0.0.2");
    assert!(e["new"].is_null());
    assert!(
        v["unified"]
            .as_str()
            .unwrap()
            .contains("-    server web2 10.0.0.2:8080 check")
    );
}

#[test]
fn text_output_names_path_values_and_lines() {
    let new = HAPROXY_OLD.replace(
        "    server web1 10.0.0.1:8080 check\n",
        "    server web1 10.0.0.1:8080 check disabled\n",
    );
    let dir = temp_files(&[
        ("old/haproxy.cfg", HAPROXY_OLD.as_bytes()),
        ("new/haproxy.cfg", new.as_bytes()),
    ]);
    let (code, out, _) = run_in(
        dir.path(),
        &["diff", "old/haproxy.cfg", "new/haproxy.cfg", "--unified"],
    );
    assert_eq!(code, 1);
    assert!(
        out.contains(
            "changed backends[be_web].servers[web1].disabled: false -> true (line 17 -> 17)"
        ),
        "{out}"
    );
    assert!(
        out.contains("+    server web1 10.0.0.1:8080 check disabled"),
        "{out}"
    );
}

#[test]
fn changed_secrets_show_as_changed_and_redacted_everywhere() {
    let old = "connector:\n  name: support\n  host: imap.example.net\n  password: hunter2-old\n  url: https://svc:tok-old-123@portal.example.net/api\n";
    let new = "connector:\n  name: support\n  host: imap.example.net\n  password: hunter2-new\n  url: https://svc:tok-new-456@portal.example.net/api\n";
    let dir = temp_files(&[("old.yaml", old.as_bytes()), ("new.yaml", new.as_bytes())]);
    for output in [
        &["--output", "text", "--unified"][..],
        &["--output", "json"][..],
    ] {
        let mut args = vec!["diff", "old.yaml", "new.yaml"];
        args.extend_from_slice(output);
        let (code, out, err) = run_in(dir.path(), &args);
        assert_eq!(code, 1, "{out}{err}");
        for secret in ["hunter2-old", "hunter2-new", "tok-old-123", "tok-new-456"] {
            assert!(!out.contains(secret), "{output:?} leaks {secret}:\n{out}");
            assert!(!err.contains(secret), "{output:?} leaks {secret} on stderr");
        }
        assert!(out.contains("password"), "{out}");
    }
    let (_, out, _) = run_in(
        dir.path(),
        &["diff", "old.yaml", "new.yaml", "--output", "json"],
    );
    assert!(out.contains("<redacted>"), "{out}");
    // Both sides of a changed secret look the same once redacted: the text says what changed
    // instead of showing `<redacted> -> <redacted>` (or, in the line diff, nothing at all).
    let (_, out, _) = run_in(dir.path(), &["diff", "old.yaml", "new.yaml"]);
    assert!(
        out.contains("changed connector.password: secret changed, value not shown (line 4 -> 4)"),
        "{out}"
    );
    assert!(
        out.contains("changed connector.url: secret changed, value not shown (line 5 -> 5)"),
        "{out}"
    );
}

fn assert_bad_input(files: &[(&str, &[u8])], args: &[&str], file_named: &str, expect_in_msg: &str) {
    let dir = temp_files(files);
    let (code, out, err) = run_in(dir.path(), args);
    assert_eq!(code, 2, "args {args:?}: stdout {out} stderr {err}");
    let first = err.lines().next().unwrap_or("");
    assert!(
        first.contains(file_named),
        "error should name {file_named}: {err}"
    );
    assert!(
        err.to_lowercase().contains(expect_in_msg),
        "error should mention {expect_in_msg:?}: {err}"
    );
}

#[test]
fn bad_input_is_exit_two_with_a_clear_message() {
    let ok = HAPROXY_OLD.as_bytes();
    let d = |bad: &'static str| vec!["diff", "--format", "haproxy", "ok.cfg", bad];
    assert_bad_input(
        &[("ok.cfg", ok), ("bin.cfg", b"\x7fELF\x02\x01\x01\0\0\0\0")],
        &d("bin.cfg"),
        "bin.cfg",
        "binary",
    );
    assert_bad_input(
        &[("ok.cfg", ok), ("u.cfg", b"global\n  maxconn \xff\xfe\n")],
        &d("u.cfg"),
        "u.cfg:2",
        "utf-8",
    );
    assert_bad_input(
        &[("ok.cfg", ok), ("e.cfg", b"")],
        &d("e.cfg"),
        "e.cfg",
        "empty",
    );
    let long = format!("global\n    log {}\n", "x".repeat(10 * 1024 * 1024));
    assert_bad_input(
        &[("ok.cfg", ok), ("l.cfg", long.as_bytes())],
        &d("l.cfg"),
        "l.cfg:2",
        "long",
    );
    assert_bad_input(
        &[("ok.cfg", ok)],
        &d("missing.cfg"),
        "missing.cfg",
        "no such file",
    );
    // A file that is not the format it claims.
    assert_bad_input(
        &[
            ("ok.cfg", ok),
            (
                "j.cfg",
                br#"{"frontends": [{"name": "fe"}], "backends": []}"#,
            ),
        ],
        &d("j.cfg"),
        "j.cfg",
        "haproxy",
    );
}

#[test]
fn deep_nesting_and_alias_bombs_are_refused() {
    let deep_json = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_bad_input(
        &[("a.json", b"{\"a\": 1}"), ("b.json", deep_json.as_bytes())],
        &["diff", "a.json", "b.json"],
        "b.json",
        "",
    );
    let deep_yaml = format!("{}1", "- ".repeat(10_000));
    let deep_yaml2: String = (0..10_000)
        .map(|i| format!("{}a:\n", "  ".repeat(i)))
        .collect();
    assert_bad_input(
        &[("a.yaml", b"a: 1\n"), ("b.yaml", deep_yaml.as_bytes())],
        &["diff", "a.yaml", "b.yaml"],
        "b.yaml",
        "",
    );
    assert_bad_input(
        &[("a.yaml", b"a: 1\n"), ("b.yaml", deep_yaml2.as_bytes())],
        &["diff", "a.yaml", "b.yaml"],
        "b.yaml",
        "",
    );
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["b", "c", "d", "e", "f", "g", "h", "i", "j"];
    let mut prev = "a";
    for n in names {
        bomb.push_str(&format!("{n}: &{n} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
        prev = n;
    }
    assert_bad_input(
        &[("a.yaml", b"a: 1\n"), ("bomb.yaml", bomb.as_bytes())],
        &["diff", "a.yaml", "bomb.yaml"],
        "bomb.yaml",
        "",
    );
    let deep_nginx = format!("{}{}", "http {\n".repeat(10_000), "}\n".repeat(10_000));
    assert_bad_input(
        &[
            ("a.conf", b"events {}\n"),
            ("nginx.conf", deep_nginx.as_bytes()),
        ],
        &["diff", "--format", "nginx", "a.conf", "nginx.conf"],
        "nginx.conf",
        "",
    );
}

#[test]
fn unknown_format_asks_for_format_flag() {
    assert_bad_input(
        &[("a.txt", b"zzz qqq\n"), ("b.txt", b"zzz qqq\n")],
        &["diff", "a.txt", "b.txt"],
        "b.txt",
        "--format",
    );
}

const JUNOS: &str = "## Last commit: 2026-11-02 09:12:44 UTC by admin\nversion 20.4R3.8;\nsystem {\n    host-name edge-mx-1;\n    root-authentication {\n        encrypted-password \"$6$abc\";\n    }\n}\ninterfaces {\n    ge-0/0/0 {\n        unit 0 {\n            family inet {\n                address 10.0.0.1/24;\n            }\n        }\n    }\n}\n";

#[test]
fn junos_and_f5_configs_are_refused_naming_what_they_look_like() {
    let ios = b"hostname r1\ninterface Gi0/1\n shutdown\n";
    for (args, named) in [
        (vec!["diff", "--format", "ios", "a.ios", "r.conf"], "r.conf"),
        (vec!["diff", "a.ios", "r.conf"], "r.conf"),
        (
            vec!["diff", "--format", "nginx", "r.conf", "r.conf"],
            "r.conf",
        ),
    ] {
        assert_bad_input(
            &[("a.ios", ios), ("r.conf", JUNOS.as_bytes())],
            &args,
            named,
            "looks like junos: not a supported format",
        );
    }
    let f5 = b"#TMSH-VERSION: 15.1.8\nltm pool /Common/web_pool {\n    members {\n        /Common/10.0.0.1:80 {\n            address 10.0.0.1\n        }\n    }\n}\nltm virtual /Common/vs_web {\n    destination /Common/192.0.2.10:443\n    pool /Common/web_pool\n}\n";
    assert_bad_input(
        &[("a.ios", ios), ("bigip.conf", f5)],
        &["diff", "--format", "ios", "a.ios", "bigip.conf"],
        "bigip.conf",
        "looks like f5 big-ip",
    );
}

/// `guardrail parse` of configs carrying every secret construct prints no secret byte, in
/// either output (the golden `.secrets` lists).
#[test]
fn parse_shows_no_secret_of_any_secret_fixture() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut checked = 0;
    for (format, _, path) in common::golden_inputs() {
        let secrets_path = path.with_file_name(format!(
            "{}.secrets",
            path.file_name().unwrap().to_string_lossy()
        ));
        let Ok(list) = std::fs::read_to_string(&secrets_path) else {
            continue;
        };
        for output in ["tree", "json"] {
            let (_, out, err) = run_in(
                &root,
                &[
                    "parse",
                    path.to_str().unwrap(),
                    "--format",
                    format.name(),
                    "--output",
                    output,
                ],
            );
            for secret in list.lines().filter(|l| !l.trim().is_empty()) {
                assert!(
                    !out.contains(secret) && !err.contains(secret),
                    "{} --output {output} shows {secret:?}",
                    path.display()
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} fixtures with secrets");
}

/// Issue 13's first example: two `use_backend` rules swap places, so /x.css on
/// api.example.com now goes to `static`. That is a move with both lines, and exit 1.
#[test]
fn swapped_use_backend_rules_are_a_move_with_both_lines_and_exit_one() {
    let old = "frontend fe\n    bind :443\n    acl is_api hdr(host) -i api.example.com\n    acl is_static path_end .css\n    use_backend be_api if is_api\n    use_backend static if is_static\n    default_backend be_api\n\nbackend be_api\n    server a1 10.0.0.1:80\n\nbackend static\n    server s1 10.0.0.2:80\n";
    let new = old.replace(
        "    use_backend be_api if is_api\n    use_backend static if is_static\n",
        "    use_backend static if is_static\n    use_backend be_api if is_api\n",
    );
    let dir = temp_files(&[("a.cfg", old.as_bytes()), ("b.cfg", new.as_bytes())]);
    let (code, out, err) = run_in(
        dir.path(),
        &["diff", "a.cfg", "b.cfg", "--format", "haproxy"],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("moved"), "{out}");
    assert!(out.contains("use_backend"), "{out}");
    assert!(out.contains('5') && out.contains('6'), "{out}");
    let (code, out, _) = run_in(
        dir.path(),
        &[
            "diff", "a.cfg", "b.cfg", "--format", "haproxy", "--output", "json",
        ],
    );
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let e = &v["entries"][0];
    assert_eq!(e["op"], "moved");
    assert_eq!(
        (e["old_line"].as_u64(), e["new_line"].as_u64()),
        (Some(5), Some(6))
    );
    assert_eq!(v["entries"].as_array().unwrap().len(), 1);
}
