//! Drift detection end to end with the real binary: `guardrail serve` on a loopback port polls
//! a `file` source and an `http` source served by the test; the test edits the live configs
//! behind its back and checks the drift records in the API, the metrics, and the signed
//! webhook a test receiver gets; then the receiver goes down, a second drift happens, the
//! daemon restarts, the receiver comes back and gets that alert exactly once. A second test
//! does the same against a real Alertmanager (Debian package `prometheus-alertmanager`):
//! the alert appears in `/api/v2/alerts` and is resolved when the config is restored.

#[path = "common/daemon.rs"]
mod daemon;
#[path = "common/mini_http.rs"]
mod mini_http;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use mini_http::{MiniServer, Request, receiver};
use serde_json::{Value, json};
use sha2::Sha256;

const BIN: &str = env!("CARGO_BIN_EXE_guardrail");
/// How long any wait may last before the test gives up (a deadline, not a measurement: the
/// "within two poll intervals" requirement is checked by counting polls, see `within_polls`).
const PATIENCE: Duration = Duration::from_secs(15);
const HOOK_SECRET: &str = "test-hook-secret-8c1f";
const SOURCE_TOKEN: &str = "test-source-token-55aa";

const LB: &str = "frontend www\n    bind :80\n    default_backend web\n\nbackend web\n    server web1 10.0.0.1:80 check\n    server web2 10.0.0.2:80 check\n\nlisten stats\n    bind :8404\n    stats enable\n    stats auth admin:Old-LB-Secret-1\n";
/// The stats password in `LB`, and the one pushed with the unstaged change.
const LB_SECRETS: [&str; 2] = ["Old-LB-Secret-1", "New-LB-Secret-2"];
const SW: &str = "Building configuration...\n\nCurrent configuration : 211 bytes\n! Last configuration change at 09:00:00 UTC Mon Nov 21 2026 by admin\nhostname core-sw-1\nntp clock-period 17179860\ninterface Gi0/1\n description uplink\n no shutdown\n";

// ---------------------------------------------------------------------------------------------
// The daemon.

struct Daemon {
    child: Option<Child>,
    url: String,
    port: u16,
    dir: PathBuf,
    config: PathBuf,
    envs: Vec<(String, String)>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Daemon {
    fn start(dir: &Path, config: &Path, envs: &[(&str, &str)]) -> Daemon {
        let port = free_port();
        let mut d = Daemon {
            child: None,
            url: format!("http://127.0.0.1:{port}"),
            port,
            dir: dir.to_path_buf(),
            config: config.to_path_buf(),
            envs: envs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        d.spawn();
        d
    }

    fn log(&self) -> PathBuf {
        self.dir.join("serve.log")
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(self.dir.join("data"))
            .args(daemon::store_args(&self.dir.join("data")))
            .arg("--config")
            .arg(&self.config)
            .current_dir(&self.dir)
            .env_remove("GUARDRAIL_LISTEN")
            .env_remove("GUARDRAIL_DATA_DIR")
            .env_remove("GUARDRAIL_STORE")
            .env("GUARDRAIL_LOG", "info,guardrail=debug")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().unwrap());
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("daemon exited with {s}:\n{}", self.log_text());
            }
            if reqwest::blocking::get(format!("{}/readyz", self.url))
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            if std::time::Instant::now() >= start + Duration::from_secs(30) {
                panic!("daemon not ready:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    fn stop(&mut self) {
        let mut child = self.child.take().unwrap();
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        child.wait().unwrap();
    }

    fn get(&self, token: &str, path: &str) -> Value {
        let r = reqwest::blocking::Client::new()
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().unwrap()
    }

    fn metrics(&self) -> String {
        reqwest::blocking::get(format!("{}/metrics", self.url))
            .unwrap()
            .text()
            .unwrap()
    }

    /// `guardrail ARGS --server URL --token T`.
    fn cli(&self, token: &str, args: &[&str]) -> (bool, String) {
        let out = Command::new(BIN)
            .args(args)
            .args(["--server", &self.url, "--token", token])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn token(dir: &Path) -> String {
    token_for(dir, "oncall", "admin")
}

fn token_for(dir: &Path, user: &str, roles: &str) -> String {
    let out = Command::new(BIN)
        .args(["token", "create", "--user", user, "--roles", roles])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(daemon::store_args(&dir.join("data")))
        .env_remove("GUARDRAIL_STORE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Waits until `f` returns `Some`, up to `limit`; returns the value and the time it took.
fn wait_for<T>(
    limit: Duration,
    what: &str,
    d: &Daemon,
    mut f: impl FnMut() -> Option<T>,
) -> (T, Duration) {
    let start = Instant::now();
    let deadline = start + limit;
    loop {
        if let Some(v) = f() {
            return (v, start.elapsed());
        }
        if Instant::now() >= deadline {
            panic!(
                "{what}: not within {limit:?}\n--- daemon log ---\n{}",
                d.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Waits for `f` and asserts it held by the `polls`-th fetch of a source after the call, where
/// `fetches` counts the requests the test's source server answered: the issue's "within two
/// poll intervals", counted in polls rather than measured in seconds.
fn within_polls<T>(
    polls: usize,
    what: &str,
    d: &Daemon,
    fetches: &AtomicUsize,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let before = fetches.load(Ordering::SeqCst);
    let (v, _) = wait_for(PATIENCE, what, d, &mut f);
    let taken = fetches.load(Ordering::SeqCst) - before;
    assert!(
        taken <= polls,
        "{what}: appeared only after {taken} polls (at most {polls})"
    );
    v
}

/// Waits until the source has been fetched `polls` more times.
fn wait_polls(polls: usize, d: &Daemon, fetches: &AtomicUsize) {
    let before = fetches.load(Ordering::SeqCst);
    wait_for(PATIENCE, "polls", d, || {
        (fetches.load(Ordering::SeqCst) >= before + polls).then_some(())
    });
}

fn open_drift(d: &Daemon, tok: &str, target: &str) -> Option<Value> {
    let list = d.get(tok, &format!("/v1/drift?status=open&target={target}"));
    list.as_array().and_then(|a| a.first().cloned())
}

fn metric(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

fn verify_signature(r: &Request) -> Value {
    let sig = r
        .header("x-guardrail-signature")
        .expect("the webhook is signed");
    let mut mac = Hmac::<Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
    mac.update(&r.body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(sig, format!("sha256={hex}"), "the signature verifies");
    serde_json::from_slice(&r.body).unwrap()
}

fn alerts_for(got: &Arc<Mutex<Vec<Request>>>, target: &str, status: &str) -> Vec<Value> {
    got.lock()
        .unwrap()
        .iter()
        .map(verify_signature)
        .filter(|v| v["target"] == target && v["status"] == status)
        .collect()
}

#[test]
fn unstaged_pushes_are_alerted_with_signed_webhooks_that_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("live")).unwrap();
    let lb_path = dir.join("live/lb.cfg");
    std::fs::write(&lb_path, LB).unwrap();

    // The switch's running config, served over HTTP behind a bearer token.
    let sw = Arc::new(Mutex::new(SW.to_string()));
    let served = sw.clone();
    // Fetches of the switch's config: the poll count the timing requirement is checked with.
    let sw_polls = Arc::new(AtomicUsize::new(0));
    let counted = sw_polls.clone();
    let source = MiniServer::start(
        0,
        Arc::new(move |r: &Request| {
            if r.header("authorization") != Some(&format!("Bearer {SOURCE_TOKEN}")) {
                return (401, "no".into());
            }
            assert_eq!(
                (r.method.as_str(), r.path.as_str()),
                ("GET", "/running-config")
            );
            counted.fetch_add(1, Ordering::SeqCst);
            (200, served.lock().unwrap().clone())
        }),
    );
    let hook_port = free_port();
    let got: Arc<Mutex<Vec<Request>>> = Arc::default();
    let mut hook = receiver(hook_port, got.clone());

    let config = dir.join("guardrail.yaml");
    std::fs::write(
        &config,
        format!(
            r#"targets:
  - name: lb-mail
    kind: load_balancer
    format: haproxy
    critical: true
    environments:
      production:
        source: {{file: live/lb.cfg}}
        poll_interval: 1s
  - name: core-sw-1
    kind: switch
    format: ios
    environments:
      production:
        source:
          http: {{url: "http://127.0.0.1:{}/running-config", headers: {{Authorization: "Bearer ${{SOURCE_TOKEN}}"}}}}
          timeout: 2s
        poll_interval: 1s
notifications:
  - name: hook
    webhook: {{url: "http://127.0.0.1:{hook_port}/hook", secret_env: HOOK_SECRET}}
    backoff_max: 1s
"#,
            source.port
        ),
    )
    .unwrap();
    let tok = token(dir);
    let envs = [("HOOK_SECRET", HOOK_SECRET), ("SOURCE_TOKEN", SOURCE_TOKEN)];
    let mut d = Daemon::start(dir, &config, &envs);

    // First contact: both live configs become baselines.
    wait_for(Duration::from_secs(10), "both sources polled", &d, || {
        let s = d.get(&tok, "/v1/drift/sources");
        let all_up = s.as_array()?.iter().all(|x| x["up"] == true);
        (all_up && s.as_array()?.len() == 2).then_some(())
    });
    let m = d.metrics();
    for t in ["lb-mail", "core-sw-1"] {
        let l = format!("target=\"{t}\",env=\"production\"");
        assert_eq!(metric(&m, "guardrail_drift_active", &l), Some(0.0), "{m}");
        assert_eq!(metric(&m, "guardrail_source_up", &l), Some(1.0), "{m}");
    }

    // The switch rewrites its volatile lines on its own: not drift.
    *sw.lock().unwrap() = SW
        .replace("211 bytes", "214 bytes")
        .replace("09:00:00", "10:42:17")
        .replace("17179860", "17179873");
    wait_polls(2, &d, &sw_polls);
    assert!(open_drift(&d, &tok, "core-sw-1").is_none());

    // Someone disables a mail server by hand (and changes the stats password while at it).
    std::fs::write(
        &lb_path,
        LB.replace("10.0.0.2:80 check", "10.0.0.2:80 check disabled")
            .replace(LB_SECRETS[0], LB_SECRETS[1]),
    )
    .unwrap();
    // (A file source: the poll count is checked on the HTTP source below.)
    let (drift, _) = wait_for(PATIENCE, "the drift record", &d, || {
        open_drift(&d, &tok, "lb-mail")
    });
    assert_eq!(drift["kind"], "unstaged_push");
    let id = drift["id"].as_i64().unwrap();
    let full = d.get(&tok, &format!("/v1/drift/{id}"));
    assert!(
        full["unified_diff"]
            .as_str()
            .unwrap()
            .contains("+    server web2 10.0.0.2:80 check disabled"),
        "{full}"
    );
    assert!(
        full["baseline_id"].is_i64(),
        "the baseline to roll back to: {full}"
    );
    let m = d.metrics();
    let l = "target=\"lb-mail\",env=\"production\"";
    assert_eq!(metric(&m, "guardrail_drift_active", l), Some(1.0));
    assert_eq!(metric(&m, "guardrail_unstaged_pushes_total", l), Some(1.0));
    let (alert, took) = wait_for(PATIENCE, "the signed webhook", &d, || {
        alerts_for(&got, "lb-mail", "firing").into_iter().next()
    });
    eprintln!("webhook received {took:?} after the drift record");
    assert_eq!(alert["event"], "unstaged_push");
    assert_eq!(alert["env"], "production");
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["details"]["drift"], id);
    assert!(
        alert["details"]["unified_diff"]
            .as_str()
            .unwrap()
            .contains("disabled")
    );
    {
        let reqs = got.lock().unwrap();
        let r = &reqs[0];
        assert_eq!(r.header("x-guardrail-event"), Some("unstaged_push"));
        assert!(r.header("x-guardrail-delivery").is_some());
        let text = String::from_utf8_lossy(&r.body);
        assert!(!text.contains(HOOK_SECRET) && !text.contains(SOURCE_TOKEN));
        for secret in LB_SECRETS {
            assert!(
                !text.contains(secret),
                "a config secret in the webhook: {text}"
            );
        }
    }
    // Nor in the API or the audit log.
    for path in [
        format!("/v1/drift/{id}"),
        "/v1/drift?status=open".into(),
        "/v1/audit?limit=1000".into(),
    ] {
        let text = d.get(&tok, &path).to_string();
        for secret in LB_SECRETS.iter().chain([&HOOK_SECRET, &SOURCE_TOKEN]) {
            assert!(!text.contains(secret), "{secret} in {path}: {text}");
        }
    }

    // The receiver goes down; the switch is changed by hand meanwhile.
    hook.shutdown();
    *sw.lock().unwrap() = format!("{SW}interface Gi0/2\n description to-dc2\n shutdown\n");
    let sw_drift = within_polls(2, "the second drift", &d, &sw_polls, || {
        open_drift(&d, &tok, "core-sw-1")
    });
    assert!(
        d.get(&tok, &format!("/v1/drift/{}", sw_drift["id"]))["unified_diff"]
            .as_str()
            .unwrap()
            .contains("+interface Gi0/2")
    );
    wait_for(Duration::from_secs(10), "a failed delivery", &d, || {
        let m = d.metrics();
        metric(
            &m,
            "guardrail_notification_failures_total",
            "receiver=\"hook\"",
        )
        .filter(|n| *n >= 1.0)
        .and(metric(&m, "guardrail_notifications_pending", "").filter(|n| *n >= 1.0))
    });
    // The daemon restarts while the receiver is still down...
    d.stop();
    d.spawn();
    // ... and the receiver comes back: the alert arrives, exactly once.
    let hook = receiver(hook_port, got.clone());
    wait_for(
        Duration::from_secs(15),
        "the queued alert after the restart",
        &d,
        || alerts_for(&got, "core-sw-1", "firing").into_iter().next(),
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        alerts_for(&got, "core-sw-1", "firing").len(),
        1,
        "exactly once"
    );
    assert_eq!(
        alerts_for(&got, "lb-mail", "firing").len(),
        1,
        "not sent again"
    );
    let m = d.metrics();
    assert_eq!(metric(&m, "guardrail_notifications_pending", ""), Some(0.0));
    assert_eq!(
        metric(
            &m,
            "guardrail_drift_active",
            "target=\"core-sw-1\",env=\"production\""
        ),
        Some(1.0),
        "a restarted daemon reports the open drift"
    );

    // The mail server is enabled again: the drift resolves (after resolve_after, two polls)
    // and the receiver hears of it.
    std::fs::write(&lb_path, LB).unwrap();
    wait_for(Duration::from_secs(10), "the resolve", &d, || {
        alerts_for(&got, "lb-mail", "resolved").into_iter().next()
    });
    let done = d.get(&tok, &format!("/v1/drift/{id}"));
    assert_eq!(
        (done["status"].as_str(), done["resolution"].as_str()),
        (Some("resolved"), Some("reverted"))
    );

    // The switch change is adopted through a change; with no gates on this environment it is
    // approved, the next poll sees it live, and the drift resolves as applied.
    let (ok, out) = d.cli(&tok, &["drift", "list"]);
    assert!(
        ok && out.contains("core-sw-1") && out.contains("unstaged_push"),
        "{out}"
    );
    let sw_id = sw_drift["id"].as_i64().unwrap().to_string();
    // Adopting needs the requester role.
    let approver = token_for(dir, "bob", "approver");
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/drift/{sw_id}/adopt", d.url))
        .bearer_auth(&approver)
        .json(&serde_json::json!({}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let (ok, out) = d.cli(&tok, &["drift", "adopt", &sw_id, "--ticket", "NET-42"]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("drift {sw_id} adopted: change")),
        "{out}"
    );
    wait_for(
        Duration::from_secs(10),
        "the adopted drift resolves",
        &d,
        || {
            let v = d.get(&tok, &format!("/v1/drift/{sw_id}"));
            (v["status"] == "resolved").then_some(v)
        },
    );
    let (ok, out) = d.cli(&tok, &["audit", "verify"]);
    assert!(ok && out.contains("intact"), "{out}");

    // The switch leaves guardrail.yaml: after the reload its series are gone (a stale
    // `drift_active` or `source_up` would keep alerts firing for a target nobody watches), and
    // the load balancer's stay.
    let text = std::fs::read_to_string(&config).unwrap();
    let start = text.find("  - name: core-sw-1").unwrap();
    let end = text.find("notifications:").unwrap();
    std::fs::write(&config, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let (m, _) = wait_for(
        Duration::from_secs(15),
        "the removed target's series go",
        &d,
        || {
            let m = d.metrics();
            (!m.contains("target=\"core-sw-1\"")).then_some(m)
        },
    );
    let lb = "target=\"lb-mail\",env=\"production\"";
    assert_eq!(metric(&m, "guardrail_drift_active", lb), Some(0.0), "{m}");
    assert_eq!(metric(&m, "guardrail_source_up", lb), Some(1.0), "{m}");
    drop(hook);
    drop(source);
}

// ---------------------------------------------------------------------------------------------
// Alertmanager.

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

fn alertmanager_or_skip() -> Option<&'static str> {
    if Path::new(ALERTMANAGER).is_file() {
        return Some(ALERTMANAGER);
    }
    if std::env::var_os("CI").is_some() {
        panic!("{ALERTMANAGER} is missing (apt-get install prometheus-alertmanager)");
    }
    eprintln!("skipped: {ALERTMANAGER} is missing (apt-get install prometheus-alertmanager)");
    None
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn alertmanager_gets_the_unstaged_push_and_its_resolve() {
    let Some(am_bin) = alertmanager_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The shipped routing, as-is: its receivers have no integrations.
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/alertmanager/alertmanager.yml"
        ),
        dir.join("am.yml"),
    )
    .unwrap();
    let am_port = free_port();
    let am_log = std::fs::File::create(dir.join("am.log")).unwrap();
    let _am = Killed(
        Command::new(am_bin)
            .arg(format!("--config.file={}", dir.join("am.yml").display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(am_log)
            .spawn()
            .unwrap(),
    );
    let am = format!("http://127.0.0.1:{am_port}");
    let start = Instant::now();
    while !reqwest::blocking::get(format!("{am}/-/ready")).is_ok_and(|r| r.status().is_success()) {
        if std::time::Instant::now() >= start + Duration::from_secs(20) {
            panic!(
                "alertmanager did not start: {}",
                std::fs::read_to_string(dir.join("am.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    std::fs::create_dir_all(dir.join("live")).unwrap();
    let lb_path = dir.join("live/lb.cfg");
    std::fs::write(&lb_path, LB).unwrap();
    let config = dir.join("guardrail.yaml");
    std::fs::write(
        &config,
        format!(
            "targets:\n  - name: lb-mail\n    kind: load_balancer\n    format: haproxy\n    critical: true\n    environments:\n      production:\n        source: {{file: live/lb.cfg}}\n        poll_interval: 1s\nnotifications:\n  - name: oncall\n    alertmanager: {{url: \"{am}\"}}\n"
        ),
    )
    .unwrap();
    let tok = token(dir);
    let d = Daemon::start(dir, &config, &[]);
    wait_for(Duration::from_secs(10), "first contact", &d, || {
        let s = d.get(&tok, "/v1/drift/sources");
        (s[0]["up"] == true).then_some(())
    });

    let ours = |v: &Value| -> Vec<Value> {
        v.as_array()
            .unwrap()
            .iter()
            .filter(|a| {
                a["labels"]["alertname"] == "GuardrailUnstagedPush"
                    && a["labels"]["origin"] == "daemon"
            })
            .cloned()
            .collect()
    };
    std::fs::write(&lb_path, LB.replace("server web1 10.0.0.1:80 check\n", "")).unwrap();
    let (alert, took) = wait_for(
        Duration::from_secs(10),
        "the alert in Alertmanager",
        &d,
        || {
            let v: Value = reqwest::blocking::get(format!("{am}/api/v2/alerts"))
                .ok()?
                .json()
                .ok()?;
            ours(&v).into_iter().next()
        },
    );
    eprintln!("alert in Alertmanager {took:?} after the edit");
    let labels = &alert["labels"];
    assert_eq!(labels["target"], "lb-mail");
    assert_eq!(labels["env"], "production");
    assert_eq!(labels["severity"], "critical");
    assert_eq!(labels["origin"], "daemon");
    assert_eq!(alert["status"]["state"], "active", "{alert}");

    // Prometheus's backstop rule raises the same event from the metrics (posted here the way
    // Prometheus posts it): the shipped inhibit rule mutes it while the daemon's copy fires,
    // so the event pages once. Another target's backstop alert is not muted.
    let backstop = |target: &str| {
        json!({
            "labels": {"alertname": "GuardrailUnstagedPush", "severity": "critical",
                       "target": target, "env": "production",
                       "job": "guardrail", "instance": "guardrail:8437"},
            "annotations": {"summary": format!("Unstaged push to {target} in production")},
        })
    };
    let r = reqwest::blocking::Client::new()
        .post(format!("{am}/api/v2/alerts"))
        .json(&json!([backstop("lb-mail"), backstop("core-sw-9")]))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let (states, _) = wait_for(
        Duration::from_secs(10),
        "the backstop alerts' states",
        &d,
        || {
            let v: Value =
                reqwest::blocking::get(format!("{am}/api/v2/alerts?filter=job=\"guardrail\""))
                    .ok()?
                    .json()
                    .ok()?;
            let state = |t: &str| {
                v.as_array()?
                    .iter()
                    .find(|a| a["labels"]["target"] == t)
                    .map(|a| a["status"]["state"].as_str().unwrap_or("").to_string())
            };
            let got = (state("lb-mail")?, state("core-sw-9")?);
            (got.0 == "suppressed").then_some(got)
        },
    );
    assert_eq!(
        states.1, "active",
        "an unrelated backstop alert still pages"
    );
    assert!(
        alert["annotations"]["description"]
            .as_str()
            .unwrap()
            .contains("-    server web1 10.0.0.1:80 check"),
        "{alert}"
    );

    // The config is restored: the alert is resolved (gone from the active alerts, or ended).
    std::fs::write(&lb_path, LB).unwrap();
    wait_for(
        Duration::from_secs(15),
        "the resolve in Alertmanager",
        &d,
        || {
            let v: Value = reqwest::blocking::get(format!("{am}/api/v2/alerts"))
                .ok()?
                .json()
                .ok()?;
            let now = chrono::Utc::now();
            let still = ours(&v).into_iter().any(|a| {
                a["endsAt"]
                    .as_str()
                    .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
                    .is_none_or(|e| e > now)
            });
            (!still).then_some(())
        },
    );
}
