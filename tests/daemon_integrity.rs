//! Daemon integrity end to end, with the real binary over real HTTP on loopback (on SQLite, and
//! again on PostgreSQL in the test command's second pass): four eyes on
//! break-glass retro reviews, the keyed and anchored audit chain (tail cut, all deleted,
//! rewritten records), what one request may cost (413, bounded diffs, evaluation slots), the
//! private data directory, the token life cycle, input that used to get through, and the
//! per-token rate limit. No assertion is on time: waits are for conditions, with deadlines.

#[path = "common/daemon.rs"]
mod daemon;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use daemon::{
    BIN, Daemon, edit_store, edit_store_batch, on_postgres, query_store, restore_store,
    snapshot_store, store_args, token, wait_until,
};
use serde_json::{Value, json};

const LB: &str = include_str!("../examples/infra/lb/mail/haproxy.cfg");
const PATIENCE: Duration = Duration::from_secs(60);

fn tweaked() -> String {
    LB.replacen("timeout server 30s", "timeout server 45s", 1)
}

const TARGETS: &str = r#"
targets:
  - name: lb-mail
    kind: load_balancer
    format: haproxy
    environments:
      staging: {}
      production: {}
environments:
  staging:
    approvals: {count: 1}
  production:
    approvals: {count: 1}
"#;

struct World {
    tmp: tempfile::TempDir,
    d: Daemon,
}

/// A daemon on `TARGETS` with `server` settings (YAML lines under `server:`).
fn world(server: &str) -> World {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("guardrail.yaml");
    std::fs::write(&cfg, format!("server:\n{server}\n{TARGETS}")).unwrap();
    // The store exists (with its first token) before the daemon starts, as in a real setup.
    token(&tmp.path().join("data"), "root", "admin", "");
    let d = Daemon::start(tmp.path(), Some(&cfg));
    World { tmp, d }
}

fn submit(d: &Daemon, tok: &str, env: &str, content: &str) -> Value {
    let (s, v) = d.api(tok).post(
        "/v1/changes",
        json!({"env": env, "title": "raise server timeout",
               "targets": [{"target": "lb-mail", "content": content}]}),
    );
    assert_eq!(s, 201, "{v}");
    v
}

/// `guardrail ARGS` (exit code, stdout, stderr). An offline command on a data directory gets
/// that directory's store (`--store` on PostgreSQL).
fn run(args: &[&str]) -> (i32, String, String) {
    let store = args
        .iter()
        .position(|a| *a == "--data-dir")
        .and_then(|i| args.get(i + 1))
        .map(|d| store_args(Path::new(d)))
        .unwrap_or_default();
    let out = Command::new(BIN)
        .args(args)
        .args(store)
        .env_remove("GUARDRAIL_STORE")
        .env_remove("GUARDRAIL_SERVER")
        .env_remove("GUARDRAIL_TOKEN")
        .env_remove("GUARDRAIL_DATA_DIR")
        .env_remove("GUARDRAIL_AUDIT_KEY_FILE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    wait_until(what, PATIENCE, || f().then_some(()));
}

fn metric(d: &Daemon, name: &str) -> Option<f64> {
    let text = reqwest::blocking::get(format!("{}/metrics", d.url))
        .ok()?
        .text()
        .ok()?;
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

// ---------------------------------------------------------------------------------------------
// 1. Four eyes.

#[test]
fn the_admin_who_broke_glass_cannot_close_its_retro_review_and_break_glass_works_when_scheduled() {
    let w = world("  retro_due: 72h");
    let data = w.d.data_dir();
    let root = token(&data, "root2", "admin", "");
    let other = token(&data, "olga", "approver", "");
    // One person with every role: submits, breaks glass, reports it applied...
    let c = submit(&w.d, &root, "production", &tweaked());
    let id = c["id"].as_i64().unwrap();
    let (s, v) = w.d.api(&root).post(
        &format!("/v1/changes/{id}/break-glass"),
        json!({"reason": "mail down", "incident": "INC-1"}),
    );
    assert_eq!((s, v["state"].as_str()), (200, Some("approved")), "{v}");
    let (s, v) =
        w.d.api(&root)
            .post(&format!("/v1/changes/{id}/applied"), json!({}));
    assert_eq!((s, v["state"].as_str()), (200, Some("applied")), "{v}");
    let (_, r) = w.d.api(&root).get("/v1/retro-reviews?open=true");
    let rid = r[0]["id"].as_i64().unwrap();
    assert_eq!(r[0]["opened_by"], "root2", "{r}");
    // ...but cannot close the retro review of their own break-glass: the admin role does not
    // lift four eyes.
    let (s, v) = w.d.api(&root).post(
        &format!("/v1/retro-reviews/{rid}/close"),
        json!({"note": "all fine"}),
    );
    assert_eq!(s, 403, "{v}");
    assert!(v["error"].as_str().unwrap().contains("four eyes"), "{v}");
    // The author of a change cannot close it either, even when someone else broke glass.
    let author = token(&data, "ann", "requester,approver", "");
    let breaker = token(&data, "ben", "breakglass", "");
    let c2 = submit(&w.d, &author, "production", &tweaked());
    let id2 = c2["id"].as_i64().unwrap();
    let (s, _) = w.d.api(&breaker).post(
        &format!("/v1/changes/{id2}/break-glass"),
        json!({"reason": "r", "incident": "INC-2"}),
    );
    assert_eq!(s, 200);
    let (_, r) = w.d.api(&root).get("/v1/retro-reviews?open=true");
    let rid2 = r
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["change_id"] == id2)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (s, v) = w.d.api(&author).post(
        &format!("/v1/retro-reviews/{rid2}/close"),
        json!({"note": "mine"}),
    );
    assert_eq!(s, 403, "{v}");
    // A second approver can.
    let (s, v) = w.d.api(&other).post(
        &format!("/v1/retro-reviews/{rid}/close"),
        json!({"note": "runbook updated"}),
    );
    assert_eq!(s, 204, "{v}");

    // Break-glass on a scheduled change.
    let approver = token(&data, "pat", "approver", "");
    let c3 = submit(&w.d, &author, "staging", &tweaked());
    let id3 = c3["id"].as_i64().unwrap();
    let (s, v) = w.d.api(&approver).post(
        &format!("/v1/changes/{id3}/approvals"),
        json!({"decision": "approve", "content_hash": c3["content_hash"]}),
    );
    assert_eq!((s, v["state"].as_str()), (200, Some("approved")), "{v}");
    let (s, v) = w.d.api(&author).post(
        &format!("/v1/changes/{id3}/schedule"),
        json!({"at": "2099-01-01T00:00:00Z"}),
    );
    assert_eq!((s, v["state"].as_str()), (200, Some("scheduled")), "{v}");
    let (s, v) = w.d.api(&breaker).post(
        &format!("/v1/changes/{id3}/break-glass"),
        json!({"reason": "cannot wait", "incident": "INC-3"}),
    );
    assert_eq!(s, 200, "break-glass on a scheduled change: {v}");
    assert_eq!(v["gate"]["decision"]["allow"], true, "{v}");

    // The audit log records who did each step.
    let (_, log) = w.d.api(&root).get("/v1/audit?limit=1000");
    let steps: Vec<(String, String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap().to_string(),
                r["action"].as_str().unwrap().to_string(),
                r["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (actor, action, subject) in [
        ("root2", "change.submit", format!("change/{id}")),
        ("root2", "change.break_glass", format!("change/{id}")),
        ("root2", "change.applied", format!("change/{id}")),
        ("olga", "retro.close", format!("retro/{rid}")),
        ("ben", "change.break_glass", format!("change/{id3}")),
    ] {
        assert!(
            steps
                .iter()
                .any(|s| s.0 == actor && s.1 == action && s.2 == subject),
            "no {actor} {action} {subject} in {steps:?}"
        );
    }
    let bg = log
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "change.break_glass" && r["subject"] == format!("change/{id3}"))
        .unwrap();
    assert_eq!(
        (bg["before"].as_str(), bg["after"].as_str()),
        (Some("scheduled"), Some("scheduled"))
    );
}

// ---------------------------------------------------------------------------------------------
// 2. The audit chain: keyed and anchored.

fn audit_verify(data: &Path, anchor: Option<&str>) -> (i32, String) {
    let mut args = vec!["audit", "verify", "--data-dir", data.to_str().unwrap()];
    if let Some(a) = anchor {
        args.extend(["--expect-head", a]);
    }
    let (code, out, err) = run(&args);
    (code, out + &err)
}

fn audit_head(data: &Path) -> String {
    let (code, out, err) = run(&["audit", "head", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    out.trim().to_string()
}

/// Rewrites the store's head row to the last record left (what a careful intruder does).
const FIX_HEAD: &str = "DELETE FROM audit_head; INSERT INTO audit_head (one, id, hash) SELECT 1, id, hash FROM audit ORDER BY id DESC LIMIT 1;";

#[test]
fn audit_tampering_is_found_tail_cut_all_deleted_and_rewritten_records() {
    let mut w = world("  audit_head_interval: 1h");
    let root = token(&w.d.data_dir(), "root2", "admin", "");
    for _ in 0..3 {
        submit(&w.d, &root, "staging", &tweaked());
    }
    // The head is published outside the store: the API, the metric, the log.
    let (_, h) = w.d.api(&root).get("/v1/audit/head");
    let pinned = h["head"].as_str().unwrap().to_string();
    let seq = h["seq"].as_i64().unwrap();
    wait_for("the head metric", || {
        metric(&w.d, "guardrail_audit_head_seq") == Some(seq as f64)
    });
    wait_for("the head in the log", || w.d.log_text().contains(&pinned));
    assert!(w.d.stop().success());
    let data = w.d.data_dir();
    assert_eq!(audit_head(&data), pinned, "`audit head` offline");
    let (code, out) = audit_verify(&data, Some(&pinned));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("reaches the anchor"), "{out}");

    let snapshot = snapshot_store(&data);
    let restore = || restore_store(&snapshot);

    // Tail cut, head row rewritten: intact without the anchor, caught with it.
    edit_store(&data, &format!("DELETE FROM audit WHERE id > {}", seq - 2));
    edit_store_batch(&data, FIX_HEAD);
    let (code, out) = audit_verify(&data, None);
    assert_eq!(code, 0, "a cut tail alone looks intact: {out}");
    let (code, out) = audit_verify(&data, Some(&pinned));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("record {}", seq - 1)) && out.contains("missing"),
        "{out}"
    );

    // Every record deleted.
    restore();
    edit_store_batch(&data, "DELETE FROM audit; DELETE FROM audit_head;");
    let (code, out) = audit_verify(&data, Some(&pinned));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("empty"), "{out}");
    let (code, out) = audit_verify(&data, None);
    assert_eq!(
        code, 1,
        "the key exists, so an empty chain once had records: {out}"
    );

    // A record rewritten with recomputed hashes (SHA-256, as before keyed chains), every later
    // link and the head fixed: its MAC does not match, with or without the anchor.
    restore();
    {
        // Each record's fields in the order its hash covers them (all but prev_hash and hash).
        let rows = query_store(
            &data,
            "SELECT id, at, actor, action, subject, before, after, content_hash, detail, hash FROM audit ORDER BY id",
        );
        let target = seq - 1;
        let mut prev: Option<String> = None;
        for row in rows {
            let id: i64 = row[0].as_deref().unwrap().parse().unwrap();
            if id < target {
                prev = row[9].clone();
                continue;
            }
            let mut fields = vec![json!(id)];
            fields.extend(row[1..9].iter().map(|f| json!(f)));
            if id == target {
                fields[2] = json!("mallory");
            }
            let p = prev.clone().unwrap();
            fields.push(json!(p));
            let canonical = Value::Array(fields.clone());
            use sha2::Digest;
            let hash = hex::encode(sha2::Sha256::digest(canonical.to_string().as_bytes()));
            let actor = fields[2].as_str().unwrap().replace('\'', "''");
            edit_store(
                &data,
                &format!(
                    "UPDATE audit SET actor = '{actor}', prev_hash = '{p}', hash = '{hash}' WHERE id = {id}"
                ),
            );
            prev = Some(hash);
        }
        edit_store_batch(&data, FIX_HEAD);
    }
    let (code, out) = audit_verify(&data, None);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("record {}", seq - 1)) && out.contains("MAC"),
        "{out}"
    );

    // Untouched again, it verifies; with another key it is refused and says so.
    restore();
    assert_eq!(audit_verify(&data, Some(&pinned)).0, 0);
    let other = w.tmp.path().join("other.key");
    std::fs::write(&other, format!("{}\n", "ab".repeat(32))).unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, out, err) = run(&[
        "audit",
        "verify",
        "--data-dir",
        data.to_str().unwrap(),
        "--key-file",
        other.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("key id"), "{out}");
}

#[test]
fn a_store_with_plain_records_is_keyed_from_a_marker_and_a_missing_key_stops_the_daemon() {
    if on_postgres() {
        // Stores with plain records were written by guardrail before keyed chains, on SQLite
        // only: a PostgreSQL store is keyed from its first record.
        eprintln!("stores older than keyed chains are SQLite stores: runs in the SQLite pass");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    // A store as an older guardrail left it: plain SHA-256 records, no key.
    {
        let c = rusqlite::Connection::open(data.join("guardrail.sqlite")).unwrap();
        c.execute_batch(include_str!(
            "../crates/guardrail-store/src/migrations/0001_init.sql"
        ))
        .unwrap();
        c.execute_batch(include_str!(
            "../crates/guardrail-store/src/migrations/0002_drift.sql"
        ))
        .unwrap();
        c.pragma_update(None, "user_version", 2).unwrap();
        let mut prev = "0".repeat(64);
        for id in 1..=3i64 {
            let at = "2026-01-01T00:00:00.000000Z";
            let canonical = json!([
                id,
                at,
                "old",
                "token.create",
                format!("token/{id}"),
                null,
                null,
                null,
                "{}",
                prev
            ]);
            use sha2::Digest;
            let hash = hex::encode(sha2::Sha256::digest(canonical.to_string().as_bytes()));
            c.execute(
                "INSERT INTO audit (id, at, actor, action, subject, before, after, content_hash, detail, prev_hash, hash)
                 VALUES (?1, ?2, 'old', 'token.create', ?3, NULL, NULL, NULL, '{}', ?4, ?5)",
                rusqlite::params![id, at, format!("token/{id}"), prev, hash],
            )
            .unwrap();
            prev = hash;
        }
        c.execute(
            "INSERT INTO audit_head (one, id, hash) VALUES (1, 3, ?1)",
            [&prev],
        )
        .unwrap();
    }
    std::fs::set_permissions(
        data.join("guardrail.sqlite"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let (code, out) = audit_verify(&data, None);
    assert_eq!(code, 0, "an old store verifies as it is: {out}");
    assert!(out.contains("not keyed"), "{out}");
    // The key lives outside the data directory here.
    let key = tmp.path().join("keys/audit.key");
    let cfg = tmp.path().join("guardrail.yaml");
    std::fs::write(
        &cfg,
        format!("server:\n  audit_key_file: {}\n{TARGETS}", key.display()),
    )
    .unwrap();
    let mut d = Daemon::start(tmp.path(), Some(&cfg));
    assert!(
        d.log_text().contains("audit log keyed from record 4"),
        "{}",
        d.log_text()
    );
    assert!(!d.log_text().contains("lives inside the data directory"));
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(d.stop().success());
    let key_arg = ["--key-file", key.to_str().unwrap()];
    let (code, out, err) = run(&[
        &["audit", "verify", "--data-dir", data.to_str().unwrap()][..],
        &key_arg[..],
    ]
    .concat());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("MAC'd from record 4"), "{out}");
    // A plain record rewritten (and its plain successors re-linked) breaks the marker's link.
    {
        let c = rusqlite::Connection::open(data.join("guardrail.sqlite")).unwrap();
        c.execute("UPDATE audit SET actor = 'mallory' WHERE id = 2", [])
            .unwrap();
    }
    let (code, out, _) = run(&[
        &["audit", "verify", "--data-dir", data.to_str().unwrap()][..],
        &key_arg[..],
    ]
    .concat());
    assert_eq!(code, 1, "{out}");
    // Without its key, a keyed store does not start (and no new key is made up).
    std::fs::rename(&key, tmp.path().join("keys/moved.key")).unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("does not exist") && err.contains("audit_key_file"),
        "{err}"
    );
    assert!(!key.exists());
}

// ---------------------------------------------------------------------------------------------
// 3. What one request may cost.

#[test]
fn a_large_submission_is_refused_and_what_is_stored_per_target_is_bounded() {
    let w = world("  max_diff_entries: 20");
    let root = token(&w.d.data_dir(), "root2", "admin", "");
    // 10 MB: over the default 8 MiB, refused before anything is parsed.
    let big = format!(
        "global\n    maxconn 100\n{}",
        "# padding\n".repeat(1_050_000)
    );
    let (s, v) = w.d.api(&root).post(
        "/v1/changes",
        json!({"env": "staging", "title": "huge", "targets": [{"target": "lb-mail", "content": big}]}),
    );
    assert_eq!(s, 413, "{v}");
    assert_eq!(v["field"], "targets[0].content", "{v}");
    let (s, v) = w.d.api(&root).post(
        "/v1/evaluate",
        json!({"kind": "load_balancer", "env": "staging", "new": big}),
    );
    assert_eq!((s, v["field"].as_str()), (413, Some("new")), "{v}");
    drop(big);
    // A baseline to diff against.
    let approver = token(&w.d.data_dir(), "pat", "approver", "");
    let base = submit(&w.d, &root, "staging", LB);
    let bid = base["id"].as_i64().unwrap();
    let (s, v) = w.d.api(&approver).post(
        &format!("/v1/changes/{bid}/approvals"),
        json!({"decision": "approve", "content_hash": base["content_hash"]}),
    );
    assert_eq!(s, 200, "{v}");
    let (s, v) =
        w.d.api(&root)
            .post(&format!("/v1/changes/{bid}/applied"), json!({}));
    assert_eq!(s, 200, "{v}");
    // Many changes: at most 20 diff entries stored and returned, the rest counted.
    let mut many = LB.to_string();
    for i in 0..60 {
        many.push_str(&format!(
            "\nbackend be_extra{i}\n    server x{i} 10.9.0.{i}:80 check\n"
        ));
    }
    let c = submit(&w.d, &root, "staging", &many);
    let (s, v) = w.d.api(&root).get(&format!("/v1/changes/{}", c["id"]));
    assert_eq!(s, 200);
    let t = &v["evaluation"]["targets"][0];
    assert_eq!(t["diff"].as_array().unwrap().len(), 20, "{t}");
    let omitted = &t["diff_omitted"];
    assert!(omitted["entries"].as_u64().unwrap() >= 40, "{omitted}");
    let by_op: u64 = omitted["by_op"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(by_op, omitted["entries"].as_u64().unwrap(), "{omitted}");
    assert!(
        omitted["by_path"]["backends"].as_u64().is_some(),
        "{omitted}"
    );
}

#[test]
fn evaluations_beyond_the_slots_and_the_queue_get_503_with_retry_after() {
    let w = world(
        "  max_concurrent_evaluations: 1\n  evaluation_queue: 0\n  max_change_bytes: 67108864",
    );
    let root = token(&w.d.data_dir(), "root2", "admin", "");
    // A slow submission holds the only slot: a large config, every line new.
    let mut slow = LB.to_string();
    for i in 0..40_000 {
        slow.push_str(&format!(
            "backend be_slow{i}\n    server s{i} 10.{}.{}.1:80 check\n",
            i / 250,
            i % 250
        ));
    }
    let api = w.d.api(&root);
    let body = json!({"env": "staging", "title": "slow", "targets": [{"target": "lb-mail", "content": slow}]});
    let url = w.d.url.clone();
    let tok = root.clone();
    let bg = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .post(format!("{url}/v1/changes"))
            .bearer_auth(tok)
            .json(&body)
            .timeout(Duration::from_secs(600))
            .send()
            .map(|r| r.status().as_u16())
    });
    wait_for("the slow evaluation to hold the slot", || {
        metric(&w.d, "guardrail_evaluations_running") == Some(1.0)
    });
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/evaluate", w.d.url))
        .bearer_auth(&root)
        .json(&json!({"kind": "load_balancer", "env": "staging", "old": LB, "new": tweaked()}))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(status, 503, "{:?}", r.text());
    assert!(retry.is_some_and(|s| s.parse::<u64>().unwrap() >= 1));
    assert_eq!(bg.join().unwrap().unwrap(), 201);
    // The slot is free again.
    let (s, _) = api.post(
        "/v1/evaluate",
        json!({"kind": "load_balancer", "env": "staging", "old": LB, "new": tweaked()}),
    );
    assert_eq!(s, 200);
    assert!(metric(&w.d, "guardrail_evaluations_refused_total").unwrap() >= 1.0);
}

// ---------------------------------------------------------------------------------------------
// 4. Secrets and files.

#[test]
fn the_store_is_private_and_an_open_data_directory_stops_the_daemon() {
    if on_postgres() {
        // The data directory's privacy is the SQLite file's; PostgreSQL's is its server's.
        eprintln!("the SQLite store's file modes: runs in the SQLite pass");
        return;
    }
    let mut w = world("  log_format: text");
    let root = token(&w.d.data_dir(), "root2", "admin", "");
    submit(&w.d, &root, "staging", &tweaked());
    let data = w.d.data_dir();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    let files: Vec<_> = std::fs::read_dir(&data).unwrap().flatten().collect();
    assert!(files.len() >= 3, "store, its WAL and the key: {files:?}");
    for f in files {
        assert_eq!(mode(&f.path()), 0o600, "{}", f.path().display());
    }
    // The key in the data directory is allowed, with a warning.
    assert!(w.d.log_text().contains("lives inside the data directory"));
    assert!(w.d.stop().success());
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = w.tmp.path().join("guardrail.yaml");
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("chmod 700 {}", data.display())),
        "{err}"
    );
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(
        data.join("guardrail.sqlite"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
}

#[test]
fn a_change_of_a_secret_only_is_named_without_its_value() {
    let w = world("  log_format: text");
    let root = token(&w.d.data_dir(), "root2", "admin", "");
    let old = "userlist admins\n    user admin password Old-Secret-1\n\nbackend b\n    server a 10.0.0.1:80 check\n";
    let new = old.replace("Old-Secret-1", "New-Secret-2");
    let (s, v) = w.d.api(&root).post(
        "/v1/evaluate",
        json!({"kind": "load_balancer", "format": "haproxy", "old": old, "new": new}),
    );
    assert_eq!(s, 200, "{v}");
    let t = &v["targets"][0];
    let unified = t["unified_diff"].as_str().unwrap();
    assert!(
        unified.contains("secret changed at") && unified.contains("(line 2)"),
        "{t}"
    );
    assert_eq!(t["secret_changes"].as_array().unwrap().len(), 1, "{t}");
    let text = v.to_string();
    assert!(
        !text.contains("Old-Secret-1") && !text.contains("New-Secret-2"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Tokens.

#[test]
fn tokens_are_listed_without_the_token_and_a_revoked_or_expired_one_is_refused() {
    let w = world("  log_format: text");
    let data = w.d.data_dir();
    let root = token(&data, "root2", "admin", "");
    let d = data.to_str().unwrap();
    let (code, tok, err) = run(&[
        "token",
        "create",
        "--user",
        "cid",
        "--roles",
        "requester",
        "--expires",
        "90d",
        "--data-dir",
        d,
    ]);
    assert_eq!(code, 0, "{err}");
    let tok = tok.trim().to_string();
    assert!(err.contains("expires"), "{err}");
    let (s, _) = w.d.api(&tok).get("/v1/changes");
    assert_eq!(s, 200);
    let (code, out, err) = run(&["token", "list", "--data-dir", d]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("cid") && out.contains("requester"), "{out}");
    assert!(
        !out.contains(&tok) && !out.contains(&tok[4..]),
        "the token is never listed"
    );
    let (code, out, _) = run(&["token", "list", "--data-dir", d, "--output", "json"]);
    assert_eq!(code, 0);
    let list: Value = serde_json::from_str(&out).unwrap();
    let mine = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["user"] == "cid")
        .unwrap()
        .clone();
    assert!(
        mine["expires_at"].is_string() && mine["created_at"].is_string(),
        "{mine}"
    );
    let id = mine["id"].as_i64().unwrap();

    // Revoked through the admin API: refused on the next request.
    let (s, v) =
        w.d.api(&root)
            .req("DELETE", &format!("/v1/tokens/{id}"), None);
    assert_eq!((s, v["state"].as_str()), (200, Some("revoked")), "{v}");
    let (s, _) = w.d.api(&tok).get("/v1/changes");
    assert_eq!(s, 401);
    // Only admins manage tokens.
    let (s, _) = w.d.api(&tok).get("/v1/tokens");
    assert_eq!(s, 401);

    // Created through the API with a short life: refused once it has passed.
    let (s, v) = w.d.api(&root).post(
        "/v1/tokens",
        json!({"user": "eve", "roles": ["deployer"], "expires": "8s"}),
    );
    assert_eq!(s, 201, "{v}");
    let short = v["token"].as_str().unwrap().to_string();
    let (s, _) = w.d.api(&short).get("/v1/freezes");
    assert_eq!(s, 200);
    wait_for("the short token to expire", || {
        w.d.api(&short).get("/v1/freezes").0 == 401
    });
    let (_, list) = w.d.api(&root).get("/v1/tokens");
    let eve = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["user"] == "eve")
        .unwrap();
    assert_eq!(eve["state"], "expired");
    assert!(!list.to_string().contains(&short));
    // An unknown role is named, with the nearest one.
    let (s, v) =
        w.d.api(&root)
            .post("/v1/tokens", json!({"user": "x", "roles": ["aprover"]}));
    assert_eq!((s, v["field"].as_str()), (422, Some("roles[0]")), "{v}");
    assert!(v["error"].as_str().unwrap().contains("approver"), "{v}");

    // Revoked offline: a running daemon refuses it within its token cache time.
    let (_, t3, _) = run(&[
        "token",
        "create",
        "--user",
        "fay",
        "--roles",
        "approver",
        "--data-dir",
        d,
    ]);
    let t3 = t3.trim().to_string();
    assert_eq!(w.d.api(&t3).get("/v1/changes").0, 200);
    let (_, out, _) = run(&["token", "list", "--data-dir", d, "--output", "json"]);
    let list: Value = serde_json::from_str(&out).unwrap();
    let fid = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["user"] == "fay")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (code, out, err) = run(&["token", "revoke", &fid.to_string(), "--data-dir", d]);
    assert_eq!(code, 0, "{out}{err}");
    wait_for("the offline revocation to reach the daemon", || {
        w.d.api(&t3).get("/v1/changes").0 == 401
    });
}

// ---------------------------------------------------------------------------------------------
// 6. Bad input that used to get through.

#[test]
fn unknown_environments_and_control_characters_are_refused_and_the_cli_escapes_them() {
    let mut w = world("  shutdown_delay: 30s");
    let root = token(&w.d.data_dir(), "root2", "admin", "");
    let api = w.d.api(&root);
    let (s, v) = api.get("/v1/gate?target=lb-mail&env=stagign&hash=sha256%3Ax");
    assert_eq!((s, v["field"].as_str()), (422, Some("env")), "{v}");
    let e = v["error"].as_str().unwrap();
    assert!(
        e.contains("did you mean `staging`") && e.contains("production"),
        "{v}"
    );
    let (s, v) = api.post(
        "/v1/evaluate",
        json!({"kind": "load_balancer", "env": "moon", "new": LB}),
    );
    assert_eq!((s, v["field"].as_str()), (422, Some("env")), "{v}");
    assert!(v["error"].as_str().unwrap().contains("staging"), "{v}");

    let esc = "\u{1b}]0;pwned\u{7}\u{1b}[2J";
    let (s, v) = api.post(
        "/v1/changes",
        json!({"env": "staging", "title": format!("t{esc}"), "targets": [{"target": "lb-mail", "content": LB}]}),
    );
    assert_eq!((s, v["field"].as_str()), (422, Some("title")), "{v}");
    let c = submit(&w.d, &root, "staging", &tweaked());
    let id = c["id"].as_i64().unwrap();
    for (path, body, field) in [
        (
            format!("/v1/changes/{id}/approvals"),
            json!({"decision": "reject", "comment": format!("no{esc}"), "content_hash": c["content_hash"]}),
            "comment",
        ),
        (
            format!("/v1/changes/{id}/cancel"),
            json!({"note": format!("x{esc}")}),
            "note",
        ),
        (
            format!("/v1/changes/{id}/break-glass"),
            json!({"reason": format!("r{esc}"), "incident": "INC-1"}),
            "reason",
        ),
        (
            "/v1/freezes".to_string(),
            json!({"env": "staging", "reason": format!("r{esc}")}),
            "reason",
        ),
    ] {
        let (s, v) = api.post(&path, body);
        assert_eq!((s, v["field"].as_str()), (422, Some(field)), "{path}: {v}");
    }
    // Multi-line notes stay allowed.
    let (s, v) = api.post(
        &format!("/v1/changes/{id}/cancel"),
        json!({"note": "line one\nline two"}),
    );
    assert_eq!(s, 200, "{v}");

    // What an older daemon stored anyway is escaped by the CLI.
    assert!(w.d.stop().success());
    let title = format!("evil{esc}title");
    let sql = if on_postgres() {
        format!(
            "UPDATE changes SET doc = jsonb_set(doc::jsonb, '{{title}}', to_jsonb('{title}'::text))::text WHERE id = {id}"
        )
    } else {
        format!("UPDATE changes SET doc = json_set(doc, '$.title', '{title}') WHERE id = {id}")
    };
    assert_eq!(edit_store(&w.d.data_dir(), &sql), 1);
    w.d.restart();
    for args in [
        vec!["change", "show", &id.to_string()[..]],
        vec!["change", "list"],
        vec!["change", "show", &id.to_string()[..], "--output", "json"],
    ] {
        let (code, out, err) =
            run(&[&args[..], &["--server", &w.d.url, "--token", &root][..]].concat());
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("evil"), "{out}");
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{7}'),
            "a raw control character reached the terminal: {out:?}"
        );
    }

    // /readyz answers 503 from the moment shutdown begins.
    let pid = w.d.child.as_ref().unwrap().id();
    assert_eq!(
        reqwest::blocking::get(format!("{}/readyz", w.d.url))
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    wait_for("/readyz to answer 503 after SIGTERM", || {
        reqwest::blocking::get(format!("{}/readyz", w.d.url))
            .is_ok_and(|r| r.status().as_u16() == 503)
    });
}

// ---------------------------------------------------------------------------------------------
// 7. Abuse.

#[test]
fn a_token_over_its_rate_gets_429_with_retry_after_and_others_are_not_affected() {
    let w = world("  rate_limit: 3/min\n  rate_burst: 3");
    let a = token(&w.d.data_dir(), "a", "requester", "");
    let b = token(&w.d.data_dir(), "b", "requester", "");
    let mut limited = None;
    for _ in 0..10 {
        let r = reqwest::blocking::Client::new()
            .get(format!("{}/v1/freezes", w.d.url))
            .bearer_auth(&a)
            .send()
            .unwrap();
        if r.status().as_u16() == 429 {
            limited = Some(
                r.headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().parse::<u64>().unwrap()),
            );
            break;
        }
        assert_eq!(r.status().as_u16(), 200);
    }
    let retry = limited.expect("no 429 within ten requests at 3/min");
    assert!(retry.is_some_and(|s| s >= 1), "{retry:?}");
    assert_eq!(
        w.d.api(&b).get("/v1/freezes").0,
        200,
        "another token is not limited"
    );
    assert!(metric(&w.d, "guardrail_rate_limited_total").unwrap() >= 1.0);
}
