//! The world of the web UI tests (tests/ui_http.rs over plain HTTP, tests/ui_browser.rs in
//! Chromium): a daemon whose production environment needs two approvals from netops, trusting
//! 127.0.0.2 as an authenticating proxy; its users; and lb-mail's production baseline applied
//! through the API (change 1), so that the change under test modifies one line. Production's
//! live config is polled from `live/lb.cfg` in the world's directory (the baseline until a test
//! changes it).

#![allow(dead_code)]

use super::daemon::{Daemon, token};
use serde_json::{Value, json};

pub const LB: &str = include_str!("../../examples/infra/lb/mail/haproxy.cfg");

/// The one-line change the tests submit.
pub const OLD_LINE: &str = "timeout server 30s";
pub const NEW_LINE: &str = "timeout server 45s";

pub const CONFIG: &str = r#"
server:
  trusted_proxies: [127.0.0.2]
  sso:
    group_roles:
      - {group: netops, roles: [approver]}
targets:
  - name: lb-mail
    kind: load_balancer
    format: haproxy
    owners: [netops]
    environments:
      staging: {}
      production:
        source: {file: live/lb.cfg}
        poll_interval: 1s
environments:
  staging:
    approvals: {count: 1}
  production:
    approvals: {count: 2, groups: [netops]}
"#;

pub struct World {
    pub tmp: tempfile::TempDir,
    pub d: Daemon,
    /// The author (role requester).
    pub alice: String,
    /// Two netops approvers.
    pub bob: String,
    pub carol: String,
    /// An admin who may also approve and deploy: every page, the audit log included, is open to
    /// her, and she applies the baseline.
    pub olga: String,
}

pub fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("guardrail.yaml");
    std::fs::write(&cfg, CONFIG).unwrap();
    std::fs::create_dir_all(tmp.path().join("live")).unwrap();
    std::fs::write(tmp.path().join("live/lb.cfg"), LB).unwrap();
    let data = tmp.path().join("data");
    let alice = token(&data, "alice", "requester", "");
    let bob = token(&data, "bob", "approver", "netops");
    let carol = token(&data, "carol", "approver", "netops");
    let olga = token(&data, "olga", "approver,admin,deployer", "netops");
    let d = Daemon::start(tmp.path(), Some(&cfg));
    let w = World {
        tmp,
        d,
        alice,
        bob,
        carol,
        olga,
    };
    applied_baseline(&w);
    w
}

/// Production's baseline of lb-mail is the example config, applied through the API (change 1).
fn applied_baseline(w: &World) {
    let v = submit(w, "lb-mail as deployed", LB);
    let id = v["id"].as_i64().unwrap();
    let hash = v["content_hash"].as_str().unwrap();
    for approver in [&w.bob, &w.carol] {
        let (s, v) = w.d.api(approver).post(
            &format!("/v1/changes/{id}/approvals"),
            json!({"decision": "approve", "content_hash": hash}),
        );
        assert_eq!(s, 200, "{v}");
    }
    let (s, v) =
        w.d.api(&w.olga)
            .post(&format!("/v1/changes/{id}/applied"), json!({}));
    assert_eq!((s, v["state"].as_str()), (200, Some("applied")), "{v}");
}

/// Alice submits `content` for lb-mail in production through the JSON API.
pub fn submit(w: &World, title: &str, content: &str) -> Value {
    let (s, v) = w.d.api(&w.alice).post(
        "/v1/changes",
        json!({"env": "production", "title": title, "ticket": "OPS-17",
               "targets": [{"target": "lb-mail", "content": content}]}),
    );
    assert_eq!(s, 201, "{v}");
    v
}

/// Alice submits the one-line change (`OLD_LINE` → `NEW_LINE`); it awaits approval.
pub fn submit_tweak(w: &World, title: &str) -> Value {
    let v = submit(w, title, &LB.replacen(OLD_LINE, NEW_LINE, 1));
    assert_eq!(v["state"], "awaiting_approval", "{v}");
    v
}

/// A change as the API shows it to the admin.
pub fn change(w: &World, id: i64) -> Value {
    let (s, v) = w.d.api(&w.olga).get(&format!("/v1/changes/{id}"));
    assert_eq!(s, 200, "{v}");
    v
}
