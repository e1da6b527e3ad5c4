//! End-to-end tests of `guardrail serve` over real HTTP on loopback: a change driven from
//! submit to verified across staging and production with a restart in the middle, a `kill -9`
//! during a burst of approvals, audit tampering found by `guardrail audit verify`, every
//! endpoint walked with every role, and start-up validation.

#[path = "common/daemon.rs"]
mod daemon;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use daemon::{BIN, Daemon, edit_store, store_args, token};
use serde_json::{Value, json};

const LB: &str = include_str!("../examples/infra/lb/mail/haproxy.cfg");

fn tweaked() -> String {
    LB.replacen("timeout server 30s", "timeout server 45s", 1)
}

const CONFIG: &str = r#"
targets:
  - name: lb-mail
    kind: load_balancer
    format: haproxy
    owners: [netops]
    environments:
      staging: {}
      production: {}
  - name: lb-other
    kind: load_balancer
    format: haproxy
    environments:
      staging: {}
      production: {}
environments:
  staging:
    approvals: {count: 1}
  production:
    soak: 2s
    approvals: {count: 2, groups: [netops]}
"#;

struct World {
    _tmp: tempfile::TempDir,
    d: Daemon,
    alice: String,
    bob: String,
    carol: String,
    dave: String,
    root: String,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("guardrail.yaml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let data = tmp.path().join("data");
    let alice = token(&data, "alice", "requester", "");
    let bob = token(&data, "bob", "approver", "netops");
    let carol = token(&data, "carol", "approver,deployer", "netops");
    let dave = token(&data, "dave", "approver", "dba");
    let root = token(&data, "root", "admin", "");
    let d = Daemon::start(tmp.path(), Some(&cfg));
    World {
        _tmp: tmp,
        d,
        alice,
        bob,
        carol,
        dave,
        root,
    }
}

fn submit(w: &World, env: &str, content: &str) -> Value {
    let (s, v) = w.d.api(&w.alice).post(
        "/v1/changes",
        json!({"env": env, "title": "raise server timeout", "ticket": "OPS-1",
               "targets": [{"target": "lb-mail", "content": content}]}),
    );
    assert_eq!(s, 201, "{v}");
    v
}

fn approve(w: &World, tok: &str, id: i64, hash: &str) -> (u16, Value) {
    w.d.api(tok).post(
        &format!("/v1/changes/{id}/approvals"),
        json!({"decision": "approve", "comment": "ok", "content_hash": hash}),
    )
}

#[test]
fn a_change_goes_from_submit_to_verified_through_staging_with_a_restart() {
    let mut w = world();
    let new = tweaked();
    // Staging: one approval, then applied.
    let st = submit(&w, "staging", &new);
    let sid = st["id"].as_i64().unwrap();
    let hash = st["content_hash"].as_str().unwrap().to_string();
    assert_eq!(st["state"], "awaiting_approval", "{st}");
    let (s, v) = approve(&w, &w.bob, sid, &hash);
    assert_eq!((s, v["state"].as_str()), (200, Some("approved")), "{v}");
    let (s, v) =
        w.d.api(&w.carol)
            .post(&format!("/v1/changes/{sid}/applied"), json!({}));
    assert_eq!((s, v["state"].as_str()), (200, Some("applied")), "{v}");

    // Production: the author cannot approve; one netops approver is not two; a dba does not
    // count; the staging soak (2 s) must pass.
    let pr = submit(&w, "production", &new);
    let pid = pr["id"].as_i64().unwrap();
    assert_eq!(pr["content_hash"], hash.as_str(), "same content, same hash");
    let (s, _) = w.d.api(&w.alice).post(
        &format!("/v1/changes/{pid}/approvals"),
        json!({"decision": "approve", "content_hash": hash}),
    );
    assert_eq!(s, 403, "the requester role cannot approve");
    let (s, v) = approve(&w, &w.bob, pid, &hash);
    assert_eq!(
        (s, v["state"].as_str()),
        (200, Some("awaiting_approval")),
        "{v}"
    );
    let (s, v) = approve(&w, &w.dave, pid, &hash);
    assert_eq!(s, 200);
    let missing = v["gate"]["approvals"]["missing"].to_string();
    assert!(missing.contains("from netops"), "{missing}");
    // An approval naming stale content is refused.
    let (s, v) = approve(&w, &w.carol, pid, "sha256:stale");
    assert_eq!(s, 409, "{v}");

    // Restart in the middle: state intact.
    assert!(w.d.stop().success(), "graceful stop:\n{}", w.d.log_text());
    w.d.restart();
    let (_, v) = w.d.api(&w.root).get(&format!("/v1/changes/{pid}"));
    assert_eq!(v["state"], "awaiting_approval");
    assert_eq!(v["approvals"].as_array().unwrap().len(), 2, "{v}");

    let (s, v) = approve(&w, &w.carol, pid, &hash);
    assert_eq!((s, v["state"].as_str()), (200, Some("approved")), "{v}");

    // The gate query: allowed once the soak has passed.
    std::thread::sleep(Duration::from_millis(2100));
    let q = format!(
        "/v1/gate?target=lb-mail&env=production&hash={}",
        hash.replace(':', "%3A")
    );
    let (s, g) = w.d.api(&w.carol).get(&q);
    assert_eq!(s, 200);
    assert_eq!(g["allow"], true, "{g}");
    assert_eq!(g["change_id"], pid);
    // Other content is denied with a reason.
    let (_, g) =
        w.d.api(&w.carol)
            .get("/v1/gate?target=lb-mail&env=production&hash=sha256%3Aother");
    assert_eq!(g["allow"], false);
    assert!(
        g["reasons"][0]
            .as_str()
            .unwrap()
            .contains("no approved change"),
        "{g}"
    );

    let (s, v) = w.d.api(&w.carol).post(
        &format!("/v1/changes/{pid}/applied"),
        json!({"note": "deployed by job 7"}),
    );
    assert_eq!((s, v["state"].as_str()), (200, Some("applied")), "{v}");
    let (s, v) =
        w.d.api(&w.carol)
            .post(&format!("/v1/changes/{pid}/verified"), json!({}));
    assert_eq!((s, v["state"].as_str()), (200, Some("verified")), "{v}");
    // The pushed content is now the baseline: the gate allows it without a change.
    let (_, g) = w.d.api(&w.carol).get(&q);
    assert!(
        g["reasons"][0]
            .as_str()
            .unwrap()
            .contains("already the baseline"),
        "{g}"
    );

    // No secret, no raw content in the API output.
    let (_, full) = w.d.api(&w.root).get(&format!("/v1/changes/{pid}"));
    assert!(
        !full
            .to_string()
            .contains("timeout server 45s\\n    timeout"),
        "no raw content"
    );

    // The audit log verifies, offline too.
    let (_, a) = w.d.api(&w.root).get("/v1/audit/verify");
    assert_eq!(a["ok"], true, "{a}");
    w.d.stop();
    let out = Command::new(BIN)
        .args(["audit", "verify", "--data-dir"])
        .arg(w.d.data_dir())
        .args(store_args(&w.d.data_dir()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_production_change_waits_for_staging_proof_and_rejection_wins() {
    let w = world();
    let pr = submit(&w, "production", &tweaked());
    let pid = pr["id"].as_i64().unwrap();
    let hash = pr["content_hash"].as_str().unwrap().to_string();
    approve(&w, &w.bob, pid, &hash);
    let (_, v) = approve(&w, &w.carol, pid, &hash);
    assert_eq!(v["state"], "approved");
    let reasons = v["gate"]["decision"]["reasons"].to_string();
    assert!(
        reasons.contains("was never applied in staging"),
        "{reasons}"
    );
    let (s, v) =
        w.d.api(&w.carol)
            .post(&format!("/v1/changes/{pid}/applied"), json!({}));
    assert_eq!(s, 409, "{v}");
    assert!(v["reasons"].to_string().contains("staging proof"), "{v}");
    // A rejection wins over the met quorum.
    let (s, v) = w.d.api(&w.dave).post(
        &format!("/v1/changes/{pid}/approvals"),
        json!({"decision": "reject", "comment": "not during the migration", "content_hash": hash}),
    );
    assert_eq!((s, v["state"].as_str()), (200, Some("rejected")), "{v}");
}

#[test]
fn a_new_revision_voids_approvals_and_break_glass_passes_a_mandatory_block() {
    let w = world();
    let pr = submit(&w, "staging", &tweaked());
    let id = pr["id"].as_i64().unwrap();
    let h1 = pr["content_hash"].as_str().unwrap().to_string();
    let (_, v) = approve(&w, &w.bob, id, &h1);
    assert_eq!(v["state"], "approved");
    // A revision that routes to a backend that does not exist: mandatory, denied.
    let broken = LB.replace("default_backend", "default_backend be_nowhere #");
    let (s, v) = w.d.api(&w.alice).post(
        &format!("/v1/changes/{id}/revisions"),
        json!({"targets": [{"target": "lb-mail", "content": broken}]}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "denied", "{v}");
    assert_eq!(
        v["approvals"].as_array().unwrap().len(),
        0,
        "approvals voided"
    );
    assert!(!v["mandatory"].as_array().unwrap().is_empty());
    // Only the breakglass role passes it, with a reason and an incident id.
    let (s, _) = w.d.api(&w.carol).post(
        &format!("/v1/changes/{id}/break-glass"),
        json!({"reason": "outage", "incident": "INC-9"}),
    );
    assert_eq!(s, 403);
    let bg = token(&w.d.data_dir(), "erin", "breakglass,deployer", "");
    let (s, v) = w.d.api(&bg).post(
        &format!("/v1/changes/{id}/break-glass"),
        json!({"reason": "", "incident": "INC-9"}),
    );
    assert_eq!((s, v["field"].as_str()), (422, Some("reason")), "{v}");
    let (s, v) = w.d.api(&bg).post(
        &format!("/v1/changes/{id}/break-glass"),
        json!({"reason": "mail down", "incident": "INC-9"}),
    );
    assert_eq!((s, v["state"].as_str()), (200, Some("approved")), "{v}");
    assert_eq!(v["gate"]["decision"]["allow"], true, "{v}");
    let (s, _) =
        w.d.api(&bg)
            .post(&format!("/v1/changes/{id}/applied"), json!({}));
    assert_eq!(s, 200);
    let (_, r) = w.d.api(&w.root).get("/v1/retro-reviews?open=true");
    assert_eq!(r.as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r[0]["change_id"], id);
    let metrics = reqwest::blocking::get(format!("{}/metrics", w.d.url))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("guardrail_break_glass_total 1"),
        "{metrics}"
    );
}

/// `guardrail ARGS --server URL --token T` against the world's daemon: (exit code, stdout+stderr).
fn cli(w: &World, tok: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .args(["--server", &w.d.url, "--token", tok])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn a_freeze_from_the_cli_holds_the_gate_until_lifted_and_retros_close_from_the_cli() {
    let w = world();
    let st = submit(&w, "staging", &tweaked());
    let sid = st["id"].as_i64().unwrap();
    let hash = st["content_hash"].as_str().unwrap().to_string();
    approve(&w, &w.bob, sid, &hash);
    let gate = |w: &World| {
        w.d.api(&w.alice).get(&format!(
            "/v1/gate?target=lb-mail&env=staging&hash={}",
            hash.replace(':', "%3A")
        ))
    };
    let (_, g) = gate(&w);
    assert_eq!(g["allow"], true, "{g}");

    // Only admins freeze.
    let (code, out) = cli(
        &w,
        &w.bob,
        &[
            "freeze", "create", "--env", "staging", "--reason", "year-end", "--for", "2h",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("403") || out.contains("admin"), "{out}");
    // A typo in the environment, or an end in the past, would freeze nothing: refused.
    let (code, out) = cli(
        &w,
        &w.root,
        &[
            "freeze", "create", "--env", "stagign", "--reason", "x", "--for", "2h",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("unknown environment `stagign`") && out.contains("field: env"),
        "{out}"
    );
    let (code, out) = cli(
        &w,
        &w.root,
        &[
            "freeze",
            "create",
            "--env",
            "staging",
            "--reason",
            "x",
            "--until",
            "2020-01-01T00:00:00Z",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("not in the future") && out.contains("field: until"),
        "{out}"
    );
    let (code, out) = cli(
        &w,
        &w.root,
        &[
            "freeze", "create", "--env", "staging", "--reason", "year-end", "--for", "2h",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("frozen: ") && out.contains("year-end"),
        "{out}"
    );
    let (code, out) = cli(&w, &w.alice, &["freeze", "list", "--output", "json"]);
    assert_eq!(code, 0, "{out}");
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let fid = list[0]["id"].as_i64().unwrap();
    let until = list[0]["until"].as_str().unwrap();
    let until = chrono::DateTime::parse_from_rfc3339(until).unwrap();
    let left = until.signed_duration_since(chrono::Utc::now());
    assert!(
        left > chrono::Duration::minutes(110) && left <= chrono::Duration::hours(2),
        "--for 2h ends two hours from now: {until}"
    );

    // The deploy job is refused, and told why.
    let (_, g) = gate(&w);
    assert_eq!(g["allow"], false, "{g}");
    assert!(g.to_string().contains("year-end"), "{g}");
    let (code, out) = cli(&w, &w.carol, &["change", "applied", &sid.to_string()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("year-end"), "{out}");

    // Lifted: the gate opens again.
    let (code, out) = cli(&w, &w.root, &["freeze", "lift", &fid.to_string()]);
    assert_eq!(
        (code, out.trim()),
        (0, format!("freeze {fid} lifted").as_str())
    );
    let (_, g) = gate(&w);
    assert_eq!(g["allow"], true, "{g}");
    let (code, out) = cli(&w, &w.root, &["freeze", "lift", &fid.to_string()]);
    assert_eq!(code, 1, "lifting twice is refused: {out}");

    // Break-glass on a production change opens a retro review; an approver closes it.
    let pr = submit(&w, "production", &tweaked());
    let pid = pr["id"].as_i64().unwrap().to_string();
    let bg = token(&w.d.data_dir(), "erin", "breakglass", "");
    let (code, out) = cli(
        &w,
        &bg,
        &[
            "change",
            "break-glass",
            &pid,
            "--reason",
            "mail down",
            "--incident",
            "INC-7",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = cli(&w, &w.alice, &["retro", "list"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("change {pid}")) && out.contains("open"),
        "{out}"
    );
    let rid = out.split_whitespace().next().unwrap().to_string();
    let (code, out) = cli(&w, &w.alice, &["retro", "close", &rid, "--note", "x"]);
    assert_eq!(code, 1, "a requester cannot close a retro: {out}");
    let (code, out) = cli(
        &w,
        &w.bob,
        &["retro", "close", &rid, "--note", "failover runbook updated"],
    );
    assert_eq!(
        (code, out.trim()),
        (0, format!("retro review {rid} closed").as_str())
    );
    let (_, out) = cli(&w, &w.alice, &["retro", "list"]);
    assert_eq!(out.trim(), "no retro reviews");
    let (_, out) = cli(&w, &w.alice, &["retro", "list", "--all"]);
    assert!(
        out.contains("closed by bob: failover runbook updated"),
        "{out}"
    );
}

#[test]
fn every_acknowledged_approval_survives_kill_9() {
    let mut w = world();
    let n = 30;
    let mut changes = Vec::new();
    for _ in 0..n {
        let v = submit(&w, "staging", &tweaked());
        changes.push((
            v["id"].as_i64().unwrap(),
            v["content_hash"].as_str().unwrap().to_string(),
        ));
    }
    // A burst of approvals from four threads; the daemon is killed in the middle.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    for (k, chunk) in changes.chunks(n / 4 + 1).enumerate() {
        let chunk = chunk.to_vec();
        let acked = acked.clone();
        let api = w.d.api(if k % 2 == 0 { &w.bob } else { &w.carol });
        threads.push(std::thread::spawn(move || {
            for (id, hash) in chunk {
                let r = api.try_req(
                    "POST",
                    &format!("/v1/changes/{id}/approvals"),
                    Some(&json!({"decision": "approve", "content_hash": hash})),
                );
                match r {
                    Ok((200, _)) => acked.lock().unwrap().push(id),
                    _ => break,
                }
            }
        }));
    }
    while acked.lock().unwrap().len() < n / 3 {
        std::thread::sleep(Duration::from_millis(5));
    }
    w.d.kill9();
    for t in threads {
        let _ = t.join();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(!acked.is_empty());
    w.d.restart();
    for id in &acked {
        let (_, v) = w.d.api(&w.root).get(&format!("/v1/changes/{id}"));
        assert_eq!(
            v["approvals"].as_array().map(Vec::len),
            Some(1),
            "change {id} lost its acknowledged approval: {v}"
        );
        assert_eq!(v["state"], "approved");
    }
    let (_, a) = w.d.api(&w.root).get("/v1/audit/verify");
    assert_eq!(a["ok"], true, "{a}");
}

#[test]
fn an_edited_audit_record_is_named_by_audit_verify() {
    let mut w = world();
    submit(&w, "staging", &tweaked());
    submit(&w, "staging", &tweaked());
    w.d.stop();
    let n = edit_store(
        &w.d.data_dir(),
        "UPDATE audit SET actor = 'mallory' WHERE id = 7",
    );
    assert_eq!(n, 1);
    let out = Command::new(BIN)
        .args(["audit", "verify", "--data-dir"])
        .arg(w.d.data_dir())
        .args(store_args(&w.d.data_dir()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("record 7:"), "{stdout}");
    assert!(stdout.contains("edited"), "{stdout}");
}

/// (method, path template, body, the role it needs; None: any valid token).
fn endpoints() -> Vec<(&'static str, &'static str, Value, Option<&'static str>)> {
    let note = json!({});
    vec![
        (
            "POST",
            "/v1/evaluate",
            json!({"kind": "load_balancer", "new": LB}),
            None,
        ),
        ("GET", "/v1/changes", Value::Null, None),
        (
            "POST",
            "/v1/changes",
            json!({"env": "staging", "title": "t", "targets": [{"target": "lb-other", "content": LB}]}),
            Some("requester"),
        ),
        ("GET", "/v1/changes/{id}", Value::Null, None),
        (
            "POST",
            "/v1/changes/{id}/revisions",
            json!({"targets": [{"target": "lb-mail", "content": LB}]}),
            Some("requester"),
        ),
        (
            "POST",
            "/v1/changes/{id}/approvals",
            json!({"decision": "approve", "content_hash": "sha256:x"}),
            Some("approver"),
        ),
        (
            "POST",
            "/v1/changes/{id}/schedule",
            json!({"at": "2030-01-01T00:00:00Z"}),
            Some("requester"),
        ),
        (
            "POST",
            "/v1/changes/{id}/applied",
            note.clone(),
            Some("deployer"),
        ),
        (
            "POST",
            "/v1/changes/{id}/verified",
            note.clone(),
            Some("deployer"),
        ),
        (
            "POST",
            "/v1/changes/{id}/rolled_back",
            note.clone(),
            Some("deployer"),
        ),
        (
            "POST",
            "/v1/changes/{id}/cancel",
            note.clone(),
            Some("requester"),
        ),
        (
            "POST",
            "/v1/changes/{id}/break-glass",
            json!({"reason": "r", "incident": "i"}),
            Some("breakglass"),
        ),
        (
            "GET",
            "/v1/gate?target=lb-mail&env=staging&hash=sha256%3Ax",
            Value::Null,
            None,
        ),
        ("GET", "/v1/freezes", Value::Null, None),
        (
            "POST",
            "/v1/freezes",
            json!({"env": "staging", "reason": "test", "until": "2020-01-01T00:00:00Z"}),
            Some("admin"),
        ),
        ("DELETE", "/v1/freezes/{id}", Value::Null, Some("admin")),
        ("GET", "/v1/retro-reviews", Value::Null, None),
        (
            "POST",
            "/v1/retro-reviews/{id}/close",
            json!({"note": "n"}),
            Some("approver"),
        ),
        ("GET", "/v1/audit", Value::Null, Some("admin")),
        ("GET", "/v1/audit/verify", Value::Null, Some("admin")),
        ("GET", "/v1/audit/head", Value::Null, None),
        ("GET", "/v1/tokens", Value::Null, Some("admin")),
        (
            "POST",
            "/v1/tokens",
            json!({"user": "new", "roles": ["requester"], "expires": "1d"}),
            Some("admin"),
        ),
        ("DELETE", "/v1/tokens/{id}", Value::Null, Some("admin")),
        ("GET", "/v1/drift", Value::Null, None),
        ("GET", "/v1/drift/{id}", Value::Null, None),
        ("POST", "/v1/drift/{id}/adopt", json!({}), Some("requester")),
        ("GET", "/v1/drift/sources", Value::Null, None),
    ]
}

#[test]
fn every_endpoint_checks_its_role() {
    let w = world();
    let data = w.d.data_dir();
    let roles = ["requester", "approver", "deployer", "admin", "breakglass"];
    let tokens: Vec<(&str, String)> = roles
        .iter()
        .map(|r| (*r, token(&data, &format!("user-{r}"), r, "")))
        .collect();
    // One change to aim the {id} routes at (authored by someone else, so author checks pass
    // only for admins).
    let c = submit(&w, "staging", &tweaked());
    let id = c["id"].as_i64().unwrap().to_string();

    // The matrix covers every route of the OpenAPI document, which is generated from the code.
    let (_, doc) = w.d.api("").get("/v1/openapi.json");
    let mut documented: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in item.as_object().unwrap().keys() {
            if path.starts_with("/v1/") {
                documented.push(format!("{} {path}", m.to_uppercase()));
            }
        }
    }
    documented.sort();
    let mut walked: Vec<String> = endpoints()
        .iter()
        .map(|(m, p, _, _)| format!("{m} {}", p.split('?').next().unwrap()))
        .collect();
    walked.sort();
    assert_eq!(
        walked, documented,
        "the role matrix must walk every documented route"
    );

    for (method, path, body, need) in endpoints() {
        let path = path.replace("{id}", &id);
        let body = (!body.is_null()).then_some(body);
        let (s, v) = w.d.api("").req(method, &path, body.as_ref());
        assert_eq!(s, 401, "{method} {path} without a token: {v}");
        let (s, _) = w.d.api("grd_not-a-token").req(method, &path, body.as_ref());
        assert_eq!(s, 401, "{method} {path} with an unknown token");
        for (role, tok) in &tokens {
            let (s, v) = w.d.api(tok).req(method, &path, body.as_ref());
            let allowed = match need {
                None => true,
                Some(n) => *role == "admin" || *role == n,
            };
            // A 403 for a role names the role; other 403s (only the author may revise or
            // cancel) are about ownership, not roles.
            let role_refused =
                s == 403 && v["error"].as_str().is_some_and(|e| e.contains("lacks the"));
            if allowed {
                assert!(
                    !role_refused,
                    "{method} {path} as {role} must be allowed: {v}"
                );
                assert!(s < 500, "{method} {path} as {role}: {s} {v}");
            } else {
                assert!(
                    role_refused,
                    "{method} {path} as {role} must be refused for its role: {s} {v}"
                );
            }
        }
    }
}

#[test]
fn bad_requests_name_the_field() {
    let w = world();
    let api = w.d.api(&w.alice);
    let (s, v) = api.post("/v1/changes", json!({"env": "staging", "title": "t", "targets": [{"target": "lb-mail", "content": LB, "colour": "red"}]}));
    assert_eq!(
        (s, v["field"].as_str()),
        (422, Some("targets[0].colour")),
        "{v}"
    );
    let (s, v) = api.post("/v1/changes", json!({"env": "staging", "targets": []}));
    assert_eq!((s, v["field"].as_str()), (422, Some("title")), "{v}");
    let (s, v) = api.post(
        "/v1/changes",
        json!({"env": "moon", "title": "t", "targets": [{"target": "lb-mail", "content": LB}]}),
    );
    assert_eq!((s, v["field"].as_str()), (422, Some("env")), "{v}");
    let (s, v) = api.post("/v1/changes", json!({"env": "staging", "title": "t", "targets": [{"target": "lb-mail", "content": "\u{0}\u{1}binary"}]}));
    assert_eq!(
        (s, v["field"].as_str()),
        (422, Some("targets[0].content")),
        "{v}"
    );
    // Malformed JSON is 400; an oversized body 413.
    let raw = reqwest::blocking::Client::new()
        .post(format!("{}/v1/changes", w.d.url))
        .bearer_auth(&w.alice)
        .header("content-type", "application/json")
        .body("{\"env\": ");
    assert_eq!(raw.send().unwrap().status().as_u16(), 400);
    let big = "x".repeat(33 * 1024 * 1024);
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/evaluate", w.d.url))
        .bearer_auth(&w.alice)
        .header("content-type", "application/json")
        .body(format!("{{\"kind\":\"generic\",\"new\":\"{big}\"}}"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
}

#[test]
fn start_up_reports_every_config_problem_before_binding() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("guardrail.yaml");
    std::fs::write(
        &cfg,
        "server:\n  listen: nowhere\n  colour: red\ntargets:\n  - {name: a, kind: generic}\nenvironments:\n  production:\n    soak: soon\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(tmp.path().join("d"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for needle in [
        "colour",
        "server.listen: `nowhere`",
        "environments.production.soak: `soon`",
    ] {
        assert!(err.contains(needle), "missing {needle} in:\n{err}");
    }
    assert!(
        !Path::new(&tmp.path().join("d")).exists(),
        "nothing is created before validation passes"
    );
}

#[test]
fn embedded_defaults_start_and_say_how_to_get_a_token() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = Daemon::start(tmp.path(), None);
    let log = d.log_text();
    assert!(log.contains("guardrail token create --user"), "{log}");
    assert!(log.contains("embedded defaults"), "{log}");
    let tok = token(&d.data_dir(), "root", "admin", "");
    let (s, v) = d.api(&tok).post(
        "/v1/evaluate",
        json!({"target": "lb-mail", "env": "production", "old": LB, "new": LB.replace("server imap1", "server imap1 disabled #")}),
    );
    assert_eq!(s, 200, "{v}");
    assert!(v["verdict"].is_string(), "{v}");
    assert!(d.stop().success());
}

#[test]
fn check_with_server_passes_approval_only_for_approved_content() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.cfg");
    let new = dir.path().join("new.cfg");
    std::fs::write(&old, LB).unwrap();
    let drained = LB
        .replace(
            "server webmail2 10.10.4.12:8080 check",
            "server webmail2 10.10.4.12:8080 check disabled",
        )
        .replace(
            "server webmail3 10.10.4.13:8080 check",
            "server webmail3 10.10.4.13:8080 check disabled",
        );
    std::fs::write(&new, &drained).unwrap();
    let check = || {
        Command::new(BIN)
            .args([
                "check",
                "--kind",
                "load_balancer",
                "--env",
                "production",
                "--target",
                "lb-mail",
            ])
            .arg(&old)
            .arg(&new)
            .args(["--server", &w.d.url, "--token", &w.carol])
            .output()
            .unwrap()
    };
    let out = check();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("no approved change of lb-mail in production"),
        "{err}"
    );
    // Proven in staging, approved for production: the same content passes.
    let s = submit(&w, "staging", &drained);
    let hash = s["content_hash"].as_str().unwrap().to_string();
    approve(&w, &w.bob, s["id"].as_i64().unwrap(), &hash);
    let (st, v) =
        w.d.api(&w.carol)
            .post(&format!("/v1/changes/{}/applied", s["id"]), json!({}));
    assert_eq!(st, 200, "{v}");
    std::thread::sleep(Duration::from_millis(2100));
    let p = submit(&w, "production", &drained);
    let id = p["id"].as_i64().unwrap();
    approve(&w, &w.bob, id, &hash);
    let (_, v) = approve(&w, &w.carol, id, &hash);
    assert_eq!(v["state"], "approved", "{v}");
    let out = check();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!("approved change {id} covers")),
        "{err}"
    );
}

#[test]
fn environment_variables_override_the_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("guardrail.yaml");
    std::fs::write(
        &cfg,
        format!("server:\n  listen: 127.0.0.1:1\n  log_format: text\n{CONFIG}"),
    )
    .unwrap();
    let port = daemon::free_port();
    let log = tmp.path().join("serve.log");
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .env("GUARDRAIL_LISTEN", format!("127.0.0.1:{port}"))
        .env("GUARDRAIL_LOG_FORMAT", "json")
        .env("GUARDRAIL_DATA_DIR", tmp.path().join("envdata"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/readyz");
    let mut ready = false;
    for _ in 0..300 {
        if reqwest::blocking::get(&url).is_ok_and(|r| r.status().is_success()) {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(ready, "GUARDRAIL_LISTEN was not used:\n{text}");
    assert!(status.success(), "{text}");
    assert!(
        tmp.path().join("envdata/guardrail.sqlite").is_file(),
        "GUARDRAIL_DATA_DIR was not used"
    );
    let first = text
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("JSON log lines");
    let v: Value = serde_json::from_str(first).unwrap();
    assert!(
        v["message"].as_str().is_some_and(|m| m.contains("started")),
        "{v}"
    );
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let mut d = Daemon::start(tmp.path(), None);
    let tok = token(&d.data_dir(), "root", "admin", "");
    let body = json!({"kind": "load_balancer", "old": LB, "new": tweaked()}).to_string();
    // Send the headers and half the body, so the request is surely in flight, then SIGTERM,
    // then the rest: the daemon must still answer it.
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    write!(
        conn,
        "POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    conn.write_all(first.as_bytes()).unwrap();
    conn.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let pid = d.child.as_ref().unwrap().id();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    conn.write_all(rest.as_bytes()).unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    let status = d.child.as_mut().unwrap().wait().unwrap();
    d.child = None;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"verdict\""), "{answer}");
    assert!(status.success(), "{}", d.log_text());
    // New connections are refused once the daemon stopped.
    assert!(std::net::TcpStream::connect(("127.0.0.1", d.port)).is_err());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_broken_policy_edit_is_refused_and_the_running_set_kept() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"),
        &tmp.path().join("policies"),
    );
    let cfg = tmp.path().join("guardrail.yaml");
    std::fs::write(&cfg, format!("policies: [policies/]\n{CONFIG}")).unwrap();
    let d = Daemon::start(tmp.path(), Some(&cfg));
    let tok = token(&d.data_dir(), "root", "admin", "");
    let metric = |name: &str| -> f64 {
        let text = reqwest::blocking::get(format!("{}/metrics", d.url))
            .unwrap()
            .text()
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0)
    };
    std::fs::write(
        tmp.path().join("policies/broken.yaml"),
        "id: broken\ndescription: x\nrules:\n  - id: r\n    enforcement: mandatory\n    message: m\n    condition: \"new.(((\"\n",
    )
    .unwrap();
    let start = std::time::Instant::now();
    while metric("guardrail_policy_reload_errors_total") < 1.0 {
        if std::time::Instant::now() >= start + Duration::from_secs(15) {
            panic!("no reload attempt:\n{}", d.log_text());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(d.log_text().contains("reload refused"), "{}", d.log_text());
    // The running set still evaluates.
    let (s, v) = d.api(&tok).post(
        "/v1/evaluate",
        json!({"kind": "load_balancer", "old": LB, "new": tweaked()}),
    );
    assert_eq!(s, 200, "{v}");
    assert!(!v.to_string().contains("broken"), "{v}");
    // Fixed: the next reload goes through.
    std::fs::remove_file(tmp.path().join("policies/broken.yaml")).unwrap();
    let start = std::time::Instant::now();
    while !d.log_text().contains("reloaded policies and targets") {
        if std::time::Instant::now() >= start + Duration::from_secs(15) {
            panic!("no reload:\n{}", d.log_text());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
