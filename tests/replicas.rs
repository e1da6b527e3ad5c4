//! Three `guardrail serve` processes on one PostgreSQL database (a throw-away database on the
//! test cluster that `scripts/postgres.sh` starts): a change submitted on one is approved on
//! the other two and applied through the gate of the third; a watched config edited behind
//! guardrail's back is alerted exactly once; after `kill -9` of the leader another process
//! leads within the lease and alerts the next edit exactly once; the audit chain, written by
//! all three, verifies offline. Approvals fired at all three at once keep the invariants. A
//! store on SQLite moves to PostgreSQL with `guardrail store migrate`.
//!
//! Without a cluster (`GUARDRAIL_TEST_POSTGRES` unset) the tests are skipped outside CI and fail
//! in CI.

#[path = "common/daemon.rs"]
mod daemon;
#[path = "common/mini_http.rs"]
mod mini_http;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use daemon::{BIN, free_port, wait_until};
use mini_http::{MiniServer, Request, receiver};
use serde_json::{Value, json};

const LB: &str = include_str!("../examples/infra/lb/mail/haproxy.cfg");
const HOOK_SECRET: &str = "replica-hook-secret-71d0";
/// Short, so the takeover test is quick; waits below are deadlines several times longer.
const LEASE: &str = "3s";
const PATIENCE: Duration = Duration::from_secs(60);

fn config(hook_port: u16, source_port: u16) -> String {
    format!(
        r#"targets:
  - name: lb-mail
    kind: load_balancer
    format: haproxy
    owners: [netops]
    environments:
      staging: {{}}
      production:
        source:
          http: {{url: "http://127.0.0.1:{source_port}/lb.cfg"}}
          timeout: 2s
        poll_interval: 1s
environments:
  staging:
    approvals: {{count: 1}}
  production:
    approvals: {{count: 2, groups: [netops]}}
notifications:
  - name: hook
    webhook: {{url: "http://127.0.0.1:{hook_port}/hook", secret_env: HOOK_SECRET}}
    backoff_max: 1s
"#
    )
}

struct Replica {
    child: Option<Child>,
    url: String,
}

impl Replica {
    fn start(dir: &Path, n: usize, store: &str) -> Replica {
        Replica::start_with(dir, n, store, &dir.join("audit.key"))
    }

    fn start_with(dir: &Path, n: usize, store: &str, key: &Path) -> Replica {
        let port = free_port();
        let data = dir.join(format!("data-{n}"));
        let log = std::fs::File::create(dir.join(format!("serve-{n}.log"))).unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(&data)
            .args(["--store", store, "--config", "guardrail.yaml"])
            .current_dir(dir)
            .env("GUARDRAIL_AUDIT_KEY_FILE", key)
            .env("GUARDRAIL_LEADER_LEASE", LEASE)
            .env("HOOK_SECRET", HOOK_SECRET)
            .env_remove("GUARDRAIL_STORE")
            .env_remove("GUARDRAIL_DATA_DIR")
            .env_remove("GUARDRAIL_LISTEN")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut r = Replica {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::blocking::Client::new();
        wait_until(&format!("replica {n} ready"), PATIENCE, || {
            if let Some(status) = r.child.as_mut().unwrap().try_wait().unwrap() {
                let log = std::fs::read_to_string(dir.join(format!("serve-{n}.log")));
                panic!(
                    "replica {n} exited with {status}:\n{}",
                    log.unwrap_or_default()
                );
            }
            http.get(format!("{}/readyz", r.url))
                .send()
                .is_ok_and(|x| x.status().is_success())
                .then_some(())
        });
        r
    }

    fn req(&self, tok: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let http = reqwest::blocking::Client::new();
        let mut r = http
            .request(method.parse().unwrap(), format!("{}{path}", self.url))
            .bearer_auth(tok);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().unwrap_or(Value::Null))
    }

    fn is_leader(&self) -> Option<bool> {
        let text = reqwest::blocking::get(format!("{}/metrics", self.url))
            .ok()?
            .text()
            .ok()?;
        let v = text
            .lines()
            .find_map(|l| l.strip_prefix("guardrail_leader "))?;
        Some(v.trim() == "1")
    }

    fn readyz(&self) -> String {
        reqwest::blocking::get(format!("{}/readyz", self.url))
            .and_then(|r| r.text())
            .unwrap_or_default()
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A token made offline on the shared store (with the shared audit key).
fn token(dir: &Path, store: &str, user: &str, roles: &str, groups: &str) -> String {
    let key = dir.join("audit.key");
    let extra = ["--store", store, "--key-file", key.to_str().unwrap()];
    daemon::token_with(&dir.join("data-cli"), &extra, user, roles, groups)
}

/// `guardrail ARGS`, which must succeed; what it printed.
fn guardrail_ok(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("GUARDRAIL_STORE")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    said
}

/// The webhook bodies for `target` with `status` (each signed with the hook's secret).
fn alerts(got: &Arc<Mutex<Vec<Request>>>, target: &str, status: &str) -> usize {
    use hmac::{Hmac, KeyInit, Mac};
    got.lock()
        .unwrap()
        .iter()
        .map(|r| {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
            mac.update(&r.body);
            let sig = hex::encode(mac.finalize().into_bytes());
            assert_eq!(
                r.header("x-guardrail-signature"),
                Some(format!("sha256={sig}").as_str())
            );
            serde_json::from_slice::<Value>(&r.body).unwrap()
        })
        .filter(|v| v["target"] == target && v["status"] == status)
        .count()
}

/// The live config, served over HTTP; `fetches` counts the polls.
struct Live {
    content: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
    server: MiniServer,
}

impl Live {
    fn start() -> Live {
        let content = Arc::new(Mutex::new(LB.to_string()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (c, f) = (content.clone(), fetches.clone());
        let server = MiniServer::start(
            0,
            Arc::new(move |_r: &Request| {
                f.fetch_add(1, Ordering::SeqCst);
                (200, c.lock().unwrap().clone())
            }),
        );
        Live {
            content,
            fetches,
            server,
        }
    }

    fn set(&self, text: &str) {
        *self.content.lock().unwrap() = text.to_string();
    }

    /// Waits until the live config has been polled `n` more times.
    fn wait_polls(&self, n: usize) {
        let from = self.fetches.load(Ordering::SeqCst);
        wait_until(&format!("{n} more polls"), PATIENCE, || {
            (self.fetches.load(Ordering::SeqCst) >= from + n).then_some(())
        });
    }
}

struct Cluster {
    tmp: tempfile::TempDir,
    live: Live,
    store: String,
    replicas: Vec<Replica>,
    alice: String,
    bob: String,
    carol: String,
    root: String,
}

impl Cluster {
    fn dir(&self) -> PathBuf {
        self.tmp.path().to_path_buf()
    }
}

fn cluster(hook_port: u16) -> Option<Cluster> {
    let store = guardrail::store::postgres::test_database()?;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let live = Live::start();
    std::fs::write(
        dir.join("guardrail.yaml"),
        config(hook_port, live.server.port),
    )
    .unwrap();
    let alice = token(dir, &store, "alice", "requester", "");
    let bob = token(dir, &store, "bob", "approver", "netops");
    let carol = token(dir, &store, "carol", "approver,deployer", "netops");
    let root = token(dir, &store, "root", "admin", "");
    // One after the other: the first creates the schema (the others find it migrated).
    let replicas = (0..3).map(|n| Replica::start(dir, n, &store)).collect();
    Some(Cluster {
        tmp,
        live,
        store,
        replicas,
        alice,
        bob,
        carol,
        root,
    })
}

fn the_leader(c: &Cluster) -> usize {
    wait_until("exactly one leader", PATIENCE, || {
        let roles: Vec<Option<bool>> = c.replicas.iter().map(|r| r.is_leader()).collect();
        let leaders: Vec<usize> = (0..roles.len())
            .filter(|&i| roles[i] == Some(true))
            .collect();
        (leaders.len() == 1).then(|| leaders[0])
    })
}

#[test]
fn three_replicas_share_changes_alert_once_and_survive_the_leader_s_kill_9() {
    let hook_port = free_port();
    let got: Arc<Mutex<Vec<Request>>> = Arc::default();
    let _hook = receiver(hook_port, got.clone());
    let Some(mut c) = cluster(hook_port) else {
        return;
    };
    let dir = c.dir();
    let leader = the_leader(&c);
    assert!(c.replicas[leader].readyz().contains("role: leader"));
    assert!(
        c.replicas[(leader + 1) % 3]
            .readyz()
            .contains("role: follower")
    );
    // First contact made the live config the production baseline.
    wait_until("first contact", PATIENCE, || {
        let (_, s) = c.replicas[0].req(&c.root, "GET", "/v1/drift/sources", None);
        (s.as_array()?.first()?["up"] == true).then_some(())
    });

    // Submitted on the first, approved on the second and the third, applied through the
    // third's gate.
    let new = LB.replacen("timeout server 30s", "timeout server 45s", 1);
    let (s, v) = c.replicas[0].req(
        &c.alice,
        "POST",
        "/v1/changes",
        Some(json!({"env": "production", "title": "raise timeout",
                    "targets": [{"target": "lb-mail", "content": new}]})),
    );
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let hash = v["content_hash"].as_str().unwrap().to_string();
    for (r, tok) in [(1, &c.bob), (2, &c.carol)] {
        let (s, v) = c.replicas[r].req(
            tok,
            "POST",
            &format!("/v1/changes/{id}/approvals"),
            Some(json!({"decision": "approve", "content_hash": hash})),
        );
        assert_eq!(s, 200, "{v}");
    }
    let gate = format!("/v1/gate?target=lb-mail&env=production&hash={hash}");
    let (s, g) = c.replicas[2].req(&c.carol, "GET", &gate, None);
    assert_eq!((s, &g["allow"]), (200, &json!(true)), "{g}");
    let (s, v) = c.replicas[2].req(
        &c.carol,
        "POST",
        &format!("/v1/changes/{id}/applied"),
        Some(json!({})),
    );
    assert_eq!((s, v["state"].as_str()), (200, Some("applied")), "{v}");
    c.live.set(&new);
    wait_until("the apply verified", PATIENCE, || {
        let (_, v) = c.replicas[1].req(&c.root, "GET", &format!("/v1/changes/{id}"), None);
        (v["state"] == "verified").then_some(())
    });

    // Edited behind guardrail's back: one alert, however many processes poll.
    let pushed = new.replacen("check", "check disabled", 1);
    c.live.set(&pushed);
    wait_until("the unstaged push alerted", PATIENCE, || {
        (alerts(&got, "lb-mail", "firing") >= 1).then_some(())
    });
    // Several more poll rounds: still one.
    let seen = c.replicas[0]
        .req(&c.root, "GET", "/v1/drift?status=open", None)
        .1;
    assert_eq!(seen.as_array().map(Vec::len), Some(1), "{seen}");
    c.live.wait_polls(3);
    assert_eq!(alerts(&got, "lb-mail", "firing"), 1);

    // kill -9 of the leader: another one leads, and the next edit (the revert) is alerted once.
    let old = the_leader(&c);
    c.replicas[old].kill9();
    let survivors: Vec<usize> = (0..3).filter(|&i| i != old).collect();
    let new_leader = wait_until("a new leader", PATIENCE, || {
        survivors
            .iter()
            .copied()
            .find(|&i| c.replicas[i].is_leader() == Some(true))
    });
    assert_ne!(new_leader, old);
    c.live.set(&new);
    wait_until("the revert alerted as resolved", PATIENCE, || {
        (alerts(&got, "lb-mail", "resolved") >= 1).then_some(())
    });
    c.live.wait_polls(3);
    assert_eq!(alerts(&got, "lb-mail", "resolved"), 1);
    assert_eq!(alerts(&got, "lb-mail", "firing"), 1);

    // The audit chain, written by all three, verifies offline on the store.
    for r in &mut c.replicas {
        r.kill9();
    }
    let key = dir.join("audit.key");
    let data = dir.join("data-cli");
    let said = guardrail_ok(&[
        "audit",
        "verify",
        "--store",
        &c.store,
        "--key-file",
        key.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(said.contains("intact"), "{said}");
}

#[test]
fn approvals_fired_at_every_replica_at_once_keep_every_invariant() {
    let hook_port = free_port();
    let _hook = receiver(hook_port, Arc::default());
    let Some(c) = cluster(hook_port) else {
        return;
    };
    let store = &c.store;
    // More approvers, all netops.
    let approvers: Vec<String> = (0..6)
        .map(|i| token(&c.dir(), store, &format!("ap{i}"), "approver", "netops"))
        .collect();
    let changes: Vec<(i64, String)> = (0..4)
        .map(|i| {
            let content = LB.replacen(
                "timeout server 30s",
                &format!("timeout server {}s", 40 + i),
                1,
            );
            let (s, v) = c.replicas[i % 3].req(
                &c.alice,
                "POST",
                "/v1/changes",
                Some(json!({"env": "production", "title": format!("change {i}"),
                            "targets": [{"target": "lb-mail", "content": content}]})),
            );
            assert_eq!(s, 201, "{v}");
            (
                v["id"].as_i64().unwrap(),
                v["content_hash"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Every approver approves every change, each on a different replica, all at once.
    std::thread::scope(|s| {
        for (a, tok) in approvers.iter().enumerate() {
            for (n, (id, hash)) in changes.iter().enumerate() {
                let r = &c.replicas[(a + n) % 3];
                s.spawn(move || {
                    let (status, v) = r.req(
                        tok,
                        "POST",
                        &format!("/v1/changes/{id}/approvals"),
                        Some(json!({"decision": "approve", "content_hash": hash})),
                    );
                    assert_eq!(status, 200, "{v}");
                });
            }
        }
    });
    for (id, _) in &changes {
        let (_, v) = c.replicas[0].req(&c.root, "GET", &format!("/v1/changes/{id}"), None);
        assert_eq!(v["state"], "approved", "{v}");
        assert_eq!(v["approvals"].as_array().map(Vec::len), Some(6), "{v}");
    }
    // One transition to approved per change, in the audit log.
    let (_, log) = c.replicas[1].req(&c.root, "GET", "/v1/audit?limit=1000", None);
    let records = log.as_array().cloned().unwrap_or_default();
    for (id, _) in &changes {
        let to_approved = records
            .iter()
            .filter(|r| r["subject"] == format!("change/{id}") && r["action"] == "change.approved")
            .count();
        assert_eq!(to_approved, 1, "change {id}: {log}");
    }
    // Applied at once through all three: once.
    let (id, _) = &changes[0];
    let applied: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = c
            .replicas
            .iter()
            .map(|r| {
                let tok = &c.carol;
                s.spawn(move || {
                    r.req(
                        tok,
                        "POST",
                        &format!("/v1/changes/{id}/applied"),
                        Some(json!({})),
                    )
                    .0
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        applied.iter().filter(|&&s| s == 200).count(),
        1,
        "{applied:?}"
    );
    let (_, v) = c.replicas[2].req(&c.root, "GET", "/v1/audit/verify", None);
    assert_eq!(v["ok"], true, "{v}");
}

#[test]
fn a_sqlite_store_moves_to_postgresql_with_its_chain_intact() {
    let Some(pg) = guardrail::store::postgres::test_database() else {
        return;
    };
    // A daemon on SQLite with some history: tokens, a change, approvals, audit records.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("guardrail.yaml"), config(free_port(), free_port())).unwrap();
    let data = dir.join("data");
    let sqlite = format!("sqlite://{}", data.join("guardrail.sqlite").display());
    let tok = |user: &str, roles: &str, groups: &str| {
        daemon::token_with(&data, &["--store", &sqlite], user, roles, groups)
    };
    let alice = tok("alice", "requester", "");
    let bob = tok("bob", "approver", "netops");
    let root = tok("root", "admin", "");
    let key = data.join("audit.key");
    let mut on_sqlite = Replica::start_with(dir, 0, &sqlite, &key);
    let content = LB.replacen("timeout server 30s", "timeout server 50s", 1);
    let (s, v) = on_sqlite.req(
        &alice,
        "POST",
        "/v1/changes",
        Some(json!({"env": "staging", "title": "t",
                    "targets": [{"target": "lb-mail", "content": content}]})),
    );
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let hash = v["content_hash"].as_str().unwrap().to_string();
    let (s, v) = on_sqlite.req(
        &bob,
        "POST",
        &format!("/v1/changes/{id}/approvals"),
        Some(json!({"decision": "approve", "content_hash": hash})),
    );
    assert_eq!((s, v["state"].as_str()), (200, Some("approved")), "{v}");
    on_sqlite.kill9();

    let said = guardrail_ok(&[
        "store",
        "migrate",
        "--from",
        &sqlite,
        "--to",
        &pg,
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(said.contains("audit log intact"), "{said}");
    assert!(said.contains("approvals: 1 rows"), "{said}");
    // Migrating again into the same (now full) database is refused.
    let again = Command::new(BIN)
        .args(["store", "migrate", "--from", &sqlite, "--to", &pg])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    // The same tokens, change and approvals on PostgreSQL; new records get new ids.
    let on_pg = Replica::start_with(dir, 1, &pg, &key);
    let (_, v) = on_pg.req(&root, "GET", &format!("/v1/changes/{id}"), None);
    assert_eq!(v["state"], "approved", "{v}");
    assert_eq!(v["approvals"].as_array().map(Vec::len), Some(1), "{v}");
    let (s, v) = on_pg.req(
        &alice,
        "POST",
        "/v1/changes",
        Some(json!({"env": "staging", "title": "after the move",
                    "targets": [{"target": "lb-mail", "content": LB}]})),
    );
    assert_eq!(s, 201, "{v}");
    assert!(v["id"].as_i64().unwrap() > id, "{v}");
    let (_, v) = on_pg.req(&root, "GET", "/v1/audit/verify", None);
    assert_eq!(v["ok"], true, "{v}");
}
