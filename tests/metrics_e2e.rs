//! `/metrics` of a running daemon: clean for `promtool check metrics`, moved by an approval and
//! a policy evaluation, exactly the metric contract deploy/ is written against, and scraped by a
//! real Prometheus server on loopback.

#[path = "common/metrics_contract.rs"]
mod contract;
#[path = "common/daemon.rs"]
mod daemon;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use contract::{DAEMON_METRICS, Kind};
use daemon::{Daemon, token};
use serde_json::json;

const LB: &str = include_str!("../examples/infra/lb/mail/haproxy.cfg");

/// A tool from PATH; under CI a missing tool fails the test, elsewhere it skips it.
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is missing (scripts/test.sh installs it)"
        );
        eprintln!("skipped: {name} is not installed");
    }
    found
}

fn scrape(d: &Daemon) -> String {
    reqwest::blocking::get(format!("{}/metrics", d.url))
        .unwrap()
        .text()
        .unwrap()
}

/// Sum of the samples of `name` whose labels contain every `key="value"` in `with`.
fn sum(text: &str, name: &str, with: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter(|l| with.iter().all(|w| l.contains(w)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// (family, type) from `# TYPE` lines, and label names seen per series name.
fn families(text: &str) -> (BTreeMap<String, String>, BTreeMap<String, Vec<String>>) {
    let mut types = BTreeMap::new();
    let mut labels: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            let (n, t) = rest.split_once(' ').unwrap();
            types.insert(n.to_string(), t.to_string());
        } else if !l.starts_with('#') && !l.is_empty() {
            let name = l.split(['{', ' ']).next().unwrap().to_string();
            if let Some(inner) = l
                .split_once('{')
                .and_then(|(_, r)| r.split_once('}'))
                .map(|x| x.0)
            {
                for pair in inner.split("\",") {
                    let k = pair.split('=').next().unwrap().trim().to_string();
                    let e = labels.entry(name.clone()).or_default();
                    if !e.contains(&k) && k != "le" {
                        e.push(k);
                    }
                }
            }
        }
    }
    (types, labels)
}

fn started() -> (tempfile::TempDir, Daemon, String) {
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::start(tmp.path(), None);
    let root = token(&d.data_dir(), "root", "admin", "netops");
    (tmp, d, root)
}

#[test]
fn metrics_pass_promtool_and_move_with_approvals_and_evaluations() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let (_tmp, d, root) = started();
    let alice = token(&d.data_dir(), "alice", "requester", "");
    let before = scrape(&d);
    // A policy evaluation.
    let (s, _) = d.api(&root).post(
        "/v1/evaluate",
        json!({"target": "lb-mail", "old": LB, "new": LB}),
    );
    assert_eq!(s, 200);
    // An approval.
    let (s, c) = d.api(&alice).post(
        "/v1/changes",
        json!({"env": "staging", "title": "t", "targets": [{"target": "lb-mail", "content": LB.replace("timeout server 30s", "timeout server 40s")}]}),
    );
    assert_eq!(s, 201, "{c}");
    let (s, _) = d.api(&root).post(
        &format!("/v1/changes/{}/approvals", c["id"]),
        json!({"decision": "approve", "content_hash": c["content_hash"]}),
    );
    assert_eq!(s, 200);
    let after = scrape(&d);

    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(after.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let evals = "guardrail_policy_evaluations_total";
    assert!(
        sum(&after, evals, &[]) > sum(&before, evals, &[]),
        "{after}"
    );
    assert!(
        sum(
            &after,
            evals,
            &["policy=\"lb-invariants\"", "result=\"pass\""]
        ) >= 1.0
    );
    let approvals = "guardrail_approvals_total";
    assert_eq!(
        sum(&after, approvals, &["decision=\"approve\""])
            - sum(&before, approvals, &["decision=\"approve\""]),
        1.0
    );
    assert_eq!(
        sum(
            &after,
            "guardrail_changes",
            &["state=\"approved\"", "env=\"staging\""]
        ),
        1.0
    );
    assert!(
        sum(
            &after,
            "guardrail_http_requests_total",
            &["route=\"/v1/changes/{id}/approvals\"", "status=\"200\""]
        ) >= 1.0
    );
    // Route templates, never raw paths or change ids.
    assert!(
        !after.contains("route=\"/v1/changes/1"),
        "raw path as a label"
    );
    // OpenMetrics on request.
    let om = reqwest::blocking::Client::new()
        .get(format!("{}/metrics", d.url))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(om.trim_end().ends_with("# EOF"));
}

#[test]
fn the_daemon_exports_exactly_the_metric_contract() {
    let (_tmp, d, root) = started();
    // Exercise the labelled families so that their series exist.
    d.api(&root)
        .post("/v1/evaluate", json!({"target": "lb-mail", "new": LB}));
    let text = scrape(&d);
    let (types, labels) = families(&text);
    for m in DAEMON_METRICS {
        let kind = match m.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let family = m.name;
        match types.get(family) {
            Some(t) => assert_eq!(t, kind, "{family}"),
            // Families with no series yet have no TYPE line: it is enough that the daemon
            // registers them (checked by name in crates/guardrail-daemon/src/metrics.rs through this list).
            None => assert!(
                include_str!("../crates/guardrail-daemon/src/metrics.rs").contains(&format!(
                    "\"{}\"",
                    family
                        .trim_end_matches("_total")
                        .trim_end_matches("_seconds")
                )),
                "{family} is in the contract but the daemon does not register it"
            ),
        }
        let series = if m.kind == Kind::Histogram {
            format!("{family}_count")
        } else {
            family.to_string()
        };
        if let Some(seen) = labels.get(&series) {
            let mut seen = seen.clone();
            seen.sort();
            let mut want: Vec<String> = m.labels.iter().map(|s| s.to_string()).collect();
            want.sort();
            assert_eq!(seen, want, "labels of {family}");
        }
    }
    for (family, _) in types.iter().filter(|(f, _)| f.starts_with("guardrail_")) {
        assert!(
            DAEMON_METRICS.iter().any(|m| m.name == family),
            "{family} is exported but not in the contract (tests/common/metrics_contract.rs)"
        );
    }
}

#[test]
fn a_real_prometheus_scrapes_the_daemon() {
    let Some(prometheus) = tool("prometheus") else {
        return;
    };
    let (tmp, d, _root) = started();
    let port = daemon::free_port();
    let cfg = tmp.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n  - job_name: guardrail\n    static_configs: [{{targets: ['127.0.0.1:{}']}}]\n",
            d.port
        ),
    )
    .unwrap();
    let mut p = Command::new(prometheus)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            tmp.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut last = String::new();
    let found = loop {
        if let Ok(r) = reqwest::blocking::get(format!(
            "http://127.0.0.1:{port}/api/v1/query?query=guardrail_build_info"
        )) && let Ok(v) = r.json::<serde_json::Value>()
        {
            last = v.to_string();
            if v["data"]["result"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
            {
                break true;
            }
        }
        if start.elapsed() > Duration::from_secs(40) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let up = reqwest::blocking::get(format!("http://127.0.0.1:{port}/api/v1/query?query=up"))
        .ok()
        .and_then(|r| r.json::<serde_json::Value>().ok());
    let _ = p.kill();
    let _ = p.wait();
    assert!(found, "no guardrail_ series in Prometheus: {last}");
    let up = up.expect("up query");
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
}

/// Every `path:` the Kubernetes manifests probe or scrape, collected from the parsed YAML.
fn manifest_paths(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                if k == "path"
                    && let Some(p) = x.as_str()
                    && p.starts_with('/')
                {
                    out.push(p.to_string());
                }
                manifest_paths(x, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| manifest_paths(x, out)),
        _ => {}
    }
}

#[test]
fn the_paths_kubernetes_probes_and_scrapes_are_served() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes");
    let mut paths = Vec::new();
    for f in ["deployment.yaml", "servicemonitor.yaml"] {
        let text = std::fs::read_to_string(root.join(f)).unwrap();
        for doc in serde_saphyr::from_multiple::<serde_json::Value>(&text).unwrap() {
            manifest_paths(&doc, &mut paths);
        }
    }
    paths.sort();
    paths.dedup();
    assert!(paths.len() >= 3, "{paths:?}");
    let (_tmp, d, _root) = started();
    for p in &paths {
        let r = reqwest::blocking::get(format!("{}{p}", d.url)).unwrap();
        assert_eq!(
            r.status().as_u16(),
            200,
            "{p} is referenced by deploy/kubernetes but not served"
        );
    }
}
