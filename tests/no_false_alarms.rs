//! No false alarms: routine changes to targets not marked critical pass the shipped policy
//! library with no `approval` or `mandatory` finding, end to end with the real binary.
//!
//! Each change is one edit of a file of the example infra repository (`examples/infra/`),
//! checked in repo mode (a copy of the repository with the edit, `--base-dir examples/infra`,
//! staging and production, with the inventory the fan-in rules read) and in files mode (`--config
//! examples/infra/guardrail.yaml --target NAME`, production).

mod common;

use std::path::{Path, PathBuf};

use common::run_in;

fn infra() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/infra")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// One routine change: in `file` (a path of examples/infra), `old` becomes `new`.
struct Routine {
    target: &'static str,
    file: &'static str,
    old: &'static str,
    new: &'static str,
}

/// Findings that gate the change (`approval` or `mandatory`), as `rule: message` lines.
fn gating(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["enforcement"] == "approval" || f["enforcement"] == "mandatory")
        .map(|f| {
            format!(
                "{}/{} [{}]: {}",
                f["policy"], f["rule"], f["env"], f["message"]
            )
        })
        .collect()
}

/// Checks the change in repo mode and in files mode; both must pass with no gating finding,
/// after evaluating rules on the changed target (so a pass is not an empty check).
fn assert_passes(change: &Routine) {
    let repo = tempfile::tempdir().unwrap();
    copy_dir(&infra(), repo.path());
    let path = repo.path().join(change.file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text.matches(change.old).count(),
        1,
        "{}: the edit must apply once",
        change.file
    );
    std::fs::write(&path, text.replacen(change.old, change.new, 1)).unwrap();
    let base = infra().display().to_string();

    let (code, out, err) = run_in(
        repo.path(),
        &["check", "--base-dir", &base, "--output", "json"],
    );
    let report: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    assert_eq!(gating(&report), Vec::<String>::new(), "{}", change.file);
    assert_eq!(code, 0, "{}: {out}{err}", change.file);
    let checked: Vec<(&str, &str)> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["env"].as_str().unwrap()))
        .collect();
    assert_eq!(
        checked,
        [(change.target, "production"), (change.target, "staging")],
        "{}",
        change.file
    );
    assert!(
        report["summary"]["evaluations"].as_u64().unwrap() > 0,
        "{out}"
    );

    let old = infra().join(change.file).display().to_string();
    let new = path.display().to_string();
    let config = infra().join("guardrail.yaml").display().to_string();
    let (code, out, err) = run_in(
        repo.path(),
        &[
            "check",
            &old,
            &new,
            "--config",
            &config,
            "--target",
            change.target,
            "--env",
            "production",
            "--output",
            "json",
        ],
    );
    let report: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    assert_eq!(gating(&report), Vec::<String>::new(), "{}", change.file);
    assert_eq!(code, 0, "{}: {out}{err}", change.file);
}

#[test]
fn a_timeout_tweak_passes() {
    assert_passes(&Routine {
        target: "lb-web",
        file: "lb/web/nginx.conf",
        old: "            proxy_read_timeout 30s;\n",
        new: "            proxy_read_timeout 45s;\n",
    });
    assert_passes(&Routine {
        target: "lb-web",
        file: "lb/web/nginx.conf",
        old: "    keepalive_timeout 65s;\n",
        new: "    keepalive_timeout 75s;\n",
    });
}

#[test]
fn adding_a_server_passes() {
    assert_passes(&Routine {
        target: "lb-web",
        file: "lb/web/nginx.conf",
        old: "        server 10.10.2.12:9000 max_fails=3 fail_timeout=20s;\n",
        new: "        server 10.10.2.12:9000 max_fails=3 fail_timeout=20s;\n        server 10.10.2.14:9000 max_fails=3 fail_timeout=20s;\n",
    });
}

#[test]
fn adding_an_interface_description_passes() {
    assert_passes(&Routine {
        target: "dist-sw-b2",
        file: "network/dist-sw-b2.ios",
        old: "interface GigabitEthernet1/0/23\n shutdown\n",
        new: "interface GigabitEthernet1/0/23\n description reserved for B2-117 (CHG-5301)\n shutdown\n",
    });
}

#[test]
fn adding_a_vlan_passes() {
    assert_passes(&Routine {
        target: "dist-sw-b2",
        file: "network/dist-sw-b2.ios",
        old: "vlan 120\n name DMZ-MAIL\n!\n",
        new: "vlan 120\n name DMZ-MAIL\n!\nvlan 130\n name LAB-FLOOR2\n!\n",
    });
}

#[test]
fn raising_a_pool_size_within_the_database_budget_passes() {
    // orders-api 6 x 25 = 150, pgbouncer-orders 60, billing-worker 40: 250 <= 400 x 0.9.
    assert_passes(&Routine {
        target: "orders-api",
        file: "apps/orders-api/database.yaml",
        old: "    max_size: 20\n",
        new: "    max_size: 25\n",
    });
    // pgbouncer's cap on the database goes from 60 to 80: 240 in all.
    assert_passes(&Routine {
        target: "pgbouncer-orders",
        file: "db/pgbouncer-orders/pgbouncer.ini",
        old: "default_pool_size = 40\nreserve_pool_size = 5\nreserve_pool_timeout = 3\nmax_db_connections = 60\n",
        new: "default_pool_size = 50\nreserve_pool_size = 5\nreserve_pool_timeout = 3\nmax_db_connections = 80\n",
    });
}
