//! `guardrail check` end to end with the real binary on fixture repositories made in temp dirs:
//! files mode, repo mode with `--base` (a real git repository) and `--base-dir`, every output
//! format, exit codes, waivers, fan-in over the inventory, and bad input.

mod common;

use std::path::Path;
use std::process::Command;

use common::{run_in, temp_files};

const POLICY_LB: &str = r#"
id: lb-basics
description: Load balancer invariants for the test fixture.
docs: https://guardrail.example.net/policies/lb-basics
match:
  kinds: [load_balancer]
rules:
  - id: backend-has-enabled-server
    enforcement: mandatory
    for_each: "new == null ? [] : new.backends"
    condition: item.servers.exists(s, !s.?disabled.orValue(false))
    message: "backend {{ item.name }} would have no enabled server"
  - id: server-removal-needs-approval
    enforcement: approval
    approvals: {count: 2, groups: [netops]}
    for_each: diff.filter(e, e.op == "removed" && e.segments.size() == 4 && e.segments[2] == "servers")
    condition: "false"
    line: item.old_line
    message: "server {{ item.segments[3] }} removed from backend {{ item.segments[1] }}"
  - id: timeouts-advised
    enforcement: advisory
    condition: new == null || has(new.timeout)
    message: "set a timeout"
"#;

const POLICY_DB: &str = r#"
id: db-fan-in
description: Client pools fit the database.
match:
  kinds: [db_client]
params:
  headroom: 0.9
rules:
  - id: pools-fit-database
    enforcement: mandatory
    condition: |
      sum(inventory.filter(t, t.kind == "db_client" && t.doc != null).map(t, t.doc.pool.max_size))
        <= int(double(inventory.filter(t, t.kind == "generic" && t.doc != null)[0].doc.max_connections) * params.headroom)
    message: "client pools exceed {{ params.headroom }} of the database's max_connections"
"#;

const LB_OK: &str = "\
timeout: 30s
frontends:
  - name: fe-mail
    default_backend: be-mail
backends:
  - name: be-mail
    servers:
      - name: mail1
        address: 10.0.0.1
      - name: mail2
        address: 10.0.0.2
";

const CONFIG: &str = r#"
policies: [policies/]
waivers: waivers.yaml
targets:
  - name: lb-mail
    kind: load_balancer
    format: yaml
    path: lb/mail.yaml
    owners: [netops]
    critical: true
  - name: app
    kind: db_client
    path: clients/*.yaml
  - name: db-main
    kind: generic
    path: db/main.yaml
"#;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.net")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.net")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn base_repo() -> tempfile::TempDir {
    temp_files(&[
        ("guardrail.yaml", CONFIG.as_bytes()),
        ("waivers.yaml", b"[]\n"),
        ("policies/lb.yaml", POLICY_LB.as_bytes()),
        ("policies/db.yaml", POLICY_DB.as_bytes()),
        ("lb/mail.yaml", LB_OK.as_bytes()),
        ("clients/a.yaml", b"pool:\n  max_size: 40\n"),
        ("clients/b.yaml", b"pool:\n  max_size: 40\n"),
        ("db/main.yaml", b"max_connections: 100\n"),
        ("README.md", b"infra\n"),
    ])
}

fn write(dir: &Path, rel: &str, text: &str) {
    std::fs::write(dir.join(rel), text).unwrap();
}

// ---------- files mode ----------

#[test]
fn files_mode_pass_warn_block_and_approval() {
    let dir = temp_files(&[
        ("policies/lb.yaml", POLICY_LB.as_bytes()),
        ("old.yaml", LB_OK.as_bytes()),
        ("same.yaml", LB_OK.as_bytes()),
        (
            "no-timeout.yaml",
            LB_OK.replace("timeout: 30s\n", "").as_bytes(),
        ),
        (
            "all-disabled.yaml",
            LB_OK
                .replace(
                    "address: 10.0.0.1",
                    "address: 10.0.0.1\n        disabled: true",
                )
                .replace(
                    "address: 10.0.0.2",
                    "address: 10.0.0.2\n        disabled: true",
                )
                .as_bytes(),
        ),
        (
            "one-removed.yaml",
            LB_OK
                .replace("      - name: mail2\n        address: 10.0.0.2\n", "")
                .as_bytes(),
        ),
    ]);
    let check = |new: &str| {
        run_in(
            dir.path(),
            &[
                "check",
                "old.yaml",
                new,
                "--kind",
                "load_balancer",
                "--output",
                "json",
            ],
        )
    };

    let (code, out, err) = check("same.yaml");
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"], "pass");

    let (code, out, _) = check("no-timeout.yaml");
    assert_eq!(code, 0, "advisory findings pass: {out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"], "warn");

    let (code, out, _) = check("all-disabled.yaml");
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"], "blocked");
    let f = &v["findings"][0];
    assert_eq!(f["rule"], "backend-has-enabled-server");
    assert_eq!(f["enforcement"], "mandatory");
    assert_eq!(f["message"], "backend be-mail would have no enabled server");
    assert_eq!(f["file"], "all-disabled.yaml");
    assert_eq!(f["line"], 6, "points at the backend");
    assert_eq!(f["env"], "production");

    let (code, out, _) = check("one-removed.yaml");
    assert_eq!(code, 3, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"], "approval_required");
    let f = &v["findings"][0];
    assert_eq!(f["message"], "server mail2 removed from backend be-mail");
    assert_eq!(f["approvals"]["count"], 2);
}

#[test]
fn files_mode_created_and_deleted_targets() {
    let dir = temp_files(&[
        ("policies/lb.yaml", POLICY_LB.as_bytes()),
        ("lb.yaml", LB_OK.as_bytes()),
    ]);
    let (code, out, err) = run_in(
        dir.path(),
        &[
            "check",
            "/dev/null",
            "lb.yaml",
            "--kind",
            "load_balancer",
            "--format",
            "yaml",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run_in(
        dir.path(),
        &[
            "check",
            "lb.yaml",
            "/dev/null",
            "--kind",
            "load_balancer",
            "--output",
            "json",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["targets"][0]["status"], "deleted");
}

#[test]
fn files_mode_bad_input_is_exit_two_naming_file_and_line() {
    let broken_policy = POLICY_LB.replace("condition: \"false\"", "condition: \"1 +\"");
    let dir = temp_files(&[
        ("policies/lb.yaml", broken_policy.as_bytes()),
        ("good/lb.yaml", POLICY_LB.as_bytes()),
        ("old.yaml", LB_OK.as_bytes()),
        ("bad.yaml", b"backends: [\n  {name: x\n"),
    ]);
    let (code, _, err) = run_in(
        dir.path(),
        &["check", "old.yaml", "old.yaml", "--kind", "load_balancer"],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("policies/lb.yaml:"),
        "names the policy file and line: {err}"
    );
    let (code, _, err) = run_in(
        dir.path(),
        &[
            "check",
            "old.yaml",
            "bad.yaml",
            "--kind",
            "load_balancer",
            "--policies",
            "good",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("bad.yaml:"), "{err}");
    let (code, _, err) = run_in(
        dir.path(),
        &[
            "check",
            "old.yaml",
            "gone.yaml",
            "--kind",
            "load_balancer",
            "--policies",
            "good",
        ],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("gone.yaml") && err.contains("no such file"),
        "{err}"
    );
    let (code, _, err) = run_in(
        dir.path(),
        &["check", "old.yaml", "old.yaml", "--policies", "good"],
    );
    assert_eq!(code, 2, "missing --kind");
    assert!(err.contains("--kind"), "{err}");
    let (code, _, err) = run_in(
        dir.path(),
        &[
            "check",
            "old.yaml",
            "old.yaml",
            "--kind",
            "load_balancer",
            "--policies",
            "nope",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("nope"), "{err}");
}

// ---------- repo mode ----------

fn git_repo_with_change() -> tempfile::TempDir {
    let dir = base_repo();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "base"]);
    git(dir.path(), &["checkout", "-q", "-b", "change"]);
    // Disable both servers of be-mail (mandatory), leave README changed (unclaimed).
    write(
        dir.path(),
        "lb/mail.yaml",
        &LB_OK
            .replace(
                "address: 10.0.0.1",
                "address: 10.0.0.1\n        disabled: true",
            )
            .replace(
                "address: 10.0.0.2",
                "address: 10.0.0.2\n        disabled: true",
            ),
    );
    write(dir.path(), "README.md", "infra, changed\n");
    git(dir.path(), &["commit", "-q", "-am", "change"]);
    dir
}

#[test]
fn repo_mode_git_base_in_every_output_format() {
    let dir = git_repo_with_change();
    let (code, out, err) = run_in(dir.path(), &["check", "--base", "main"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("backend be-mail would have no enabled server"),
        "{out}"
    );
    assert!(out.contains("README.md"), "unclaimed file reported: {out}");

    // Every format at once, to files.
    let (code, out, err) = run_in(
        dir.path(),
        &[
            "check",
            "--base",
            "main",
            "--output",
            "json=out.json",
            "--output",
            "sarif=out.sarif",
            "--output",
            "junit=out.xml",
            "--output",
            "markdown=out.md",
            "--output",
            "github=out.gh",
            "--output",
            "text",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();

    let json: serde_json::Value = serde_json::from_str(&read("out.json")).unwrap();
    assert_eq!(json["verdict"], "blocked");
    let f = &json["findings"][0];
    assert_eq!(f["target"], "lb-mail");
    assert_eq!(f["file"], "lb/mail.yaml");
    assert_eq!(f["line"], 6);
    assert!(
        json["notices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["code"] == "file.unclaimed" && n["file"] == "README.md")
    );

    common::assert_valid_sarif(&read("out.sarif"));
    let sarif: serde_json::Value = serde_json::from_str(&read("out.sarif")).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["level"], "error");
    let loc = &result["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "lb/mail.yaml");
    assert_eq!(loc["region"]["startLine"], 6);

    let junit = read("out.xml");
    let parsed = quick_junit::Report::deserialize_from_str(&junit).expect("JUnit parses");
    let cases: usize = parsed.test_suites.iter().map(|s| s.test_cases.len()).sum();
    assert!(cases >= 3, "one testcase per rule and target: {junit}");
    assert!(junit.contains("backend-has-enabled-server"));

    let md = read("out.md");
    assert!(md.to_lowercase().contains("blocked"), "{md}");
    assert!(md.contains("<details>"), "diff folded: {md}");

    let gh = read("out.gh");
    assert!(gh.contains("::error file=lb/mail.yaml,line=6"), "{gh}");

    assert!(
        out.contains("BLOCKED") || out.to_lowercase().contains("blocked"),
        "{out}"
    );
}

#[test]
fn repo_mode_base_dir_deleted_target_unclaimed_file_and_waivers() {
    let base = base_repo();
    let new = base_repo();
    std::fs::remove_file(new.path().join("clients/b.yaml")).unwrap();
    write(new.path(), "notes.txt", "new file no target claims\n");
    write(
        new.path(),
        "lb/mail.yaml",
        &LB_OK.replace("      - name: mail2\n        address: 10.0.0.2\n", ""),
    );
    let base_arg = base.path().display().to_string();
    let (code, out, err) = run_in(
        new.path(),
        &["check", "--base-dir", &base_arg, "--output", "json"],
    );
    assert_eq!(code, 3, "server removal needs approval: {out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let targets = v["targets"].as_array().unwrap();
    assert!(
        targets
            .iter()
            .any(|t| t["name"] == "app[clients/b.yaml]" && t["status"] == "deleted"),
        "{out}"
    );
    assert!(
        v["notices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["code"] == "file.unclaimed" && n["file"] == "notes.txt")
    );
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "server-removal-needs-approval")
        .unwrap();
    assert_eq!(
        f["line"], 10,
        "points at the removed server's old line (`- name: mail2`)"
    );

    // An active waiver turns it into a pass; an expired one is reported and does not apply.
    write(
        new.path(),
        "waivers.yaml",
        "- rule: lb-basics/server-removal-needs-approval\n  target: lb-*\n  reason: planned decommission of mail2\n  owner: netops\n  expires: 2999-01-01\n",
    );
    let (code, out, err) = run_in(
        new.path(),
        &["check", "--base-dir", &base_arg, "--output", "json"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| !f["waived"].is_null())
    );
    let (code, out, _) = run_in(
        new.path(),
        &[
            "check",
            "--base-dir",
            &base_arg,
            "--output",
            "json",
            "--now",
            "3000-01-01T00:00:00Z",
        ],
    );
    assert_eq!(code, 3, "expired waiver no longer applies: {out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["notices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["code"] == "waiver.expired"),
        "{out}"
    );
}

#[test]
fn repo_mode_fan_in_over_inventory_blocks_when_pools_exceed_the_database() {
    let base = base_repo();
    let new = base_repo();
    // 40 + 60 = 100 > 90 (100 * 0.9 headroom).
    write(new.path(), "clients/b.yaml", "pool:\n  max_size: 60\n");
    let base_arg = base.path().display().to_string();
    let (code, out, err) = run_in(
        new.path(),
        &["check", "--base-dir", &base_arg, "--output", "json"],
    );
    assert_eq!(code, 1, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["findings"][0]["rule"], "pools-fit-database");
    // Within limits passes: 40 + 45 = 85 <= 90.
    write(new.path(), "clients/b.yaml", "pool:\n  max_size: 45\n");
    let (code, out, err) = run_in(new.path(), &["check", "--base-dir", &base_arg]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn repo_mode_unparsable_changed_file_is_exit_two() {
    let base = base_repo();
    let new = base_repo();
    write(new.path(), "lb/mail.yaml", "backends: [\n  {name: x\n");
    let base_arg = base.path().display().to_string();
    let (code, _, err) = run_in(new.path(), &["check", "--base-dir", &base_arg]);
    assert_eq!(code, 2);
    assert!(err.contains("lb/mail.yaml:"), "{err}");
}

#[test]
fn repo_mode_needs_a_config() {
    let dir = temp_files(&[("x.yaml", b"a: 1\n")]);
    let (code, _, err) = run_in(dir.path(), &["check", "--base-dir", "."]);
    assert_eq!(code, 2);
    assert!(err.contains("guardrail.yaml"), "{err}");
}

/// The README's first command starts the daemon on embedded defaults (tests/daemon_e2e.rs runs
/// it); its quick-start check, with the embedded policy library, is blocked, naming the route and
/// the backend at their lines.
#[test]
fn readme_quick_start_blocks_and_names_objects_and_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let args_of = |line: &str| -> Vec<String> {
        line.split_whitespace()
            .skip_while(|w| *w != "--")
            .skip(1)
            .map(str::to_string)
            .collect()
    };
    let first = readme
        .lines()
        .find(|l| l.starts_with("cargo run"))
        .expect("README starts with the run command");
    assert_eq!(args_of(first), ["serve"], "{first}");
    let quick = readme
        .lines()
        .find(|l| l.starts_with("cargo run") && l.contains("-- check --config examples/quickstart"))
        .expect("README shows the quick-start check");
    let args = args_of(quick);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = run_in(root, &args);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("routes to backend `be_calendar`, which does not exist"),
        "{out}"
    );
    assert!(out.contains("lb/mail/haproxy.cfg:17"), "{out}");
    assert!(
        out.contains("backend `be_webmail` would be left with no enabled server"),
        "{out}"
    );
    assert!(out.contains("lb/mail/haproxy.cfg:21"), "{out}");
    assert!(!out.contains("s3cret-stats-password") && !out.contains("n3w-stats-password"));
}

/// Files mode hands the read bytes over as the documents' texts: a byte-order mark must still
/// be dropped before the text is diffed and redacted with the parser's secret spans.
#[test]
fn files_mode_with_byte_order_marks_redacts_and_diffs_the_text() {
    let old = "\u{feff}global\n    maxconn 100\nlisten stats\n    bind :8404\n    stats auth admin:s3cret\n";
    let new = old.replace("maxconn 100", "maxconn 200");
    let dir = temp_files(&[
        ("haproxy-old.cfg", old.as_bytes()),
        ("haproxy-new.cfg", new.as_bytes()),
    ]);
    let (code, out, err) = run_in(
        dir.path(),
        &[
            "check",
            "haproxy-old.cfg",
            "haproxy-new.cfg",
            "--kind",
            "load_balancer",
            "--output",
            "json",
        ],
    );
    assert!(code == 0 || code == 3, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let target = &v["targets"][0];
    let unified = target["unified_diff"].as_str().unwrap();
    assert!(
        unified.contains("-    maxconn 100\n+    maxconn 200\n"),
        "{unified}"
    );
    assert!(unified.contains("stats auth admin:<redacted>"), "{unified}");
    assert!(
        !unified.contains("s3cret") && !unified.contains('\u{feff}'),
        "{unified}"
    );
    assert_eq!(target["changed_lines"], serde_json::json!([2]));
}

/// Progress (`checking 2/3 app[clients/b.yaml]…`) is for people at a terminal: with stderr
/// piped, as in CI, stderr holds no progress line, carriage return or escape sequence, even with
/// `CI` unset and many targets to read and check.
#[test]
fn repo_mode_with_piped_stderr_shows_no_progress() {
    let base = base_repo();
    let new = base_repo();
    write(
        new.path(),
        "lb/mail.yaml",
        &LB_OK.replace("10.0.0.2", "10.0.0.3"),
    );
    write(new.path(), "clients/a.yaml", "pool:\n  max_size: 41\n");
    write(new.path(), "clients/b.yaml", "pool:\n  max_size: 42\n");
    let out = Command::new(env!("CARGO_BIN_EXE_guardrail"))
        .args(["check", "--base-dir", &base.path().display().to_string()])
        .current_dir(new.path())
        .env_remove("CI")
        .env("NO_COLOR", "1")
        .output()
        .expect("run guardrail");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("lb-mail") && stdout.contains("clients/b.yaml"),
        "{stdout}"
    );
    for marker in ["checking", "reading", "\r", "\u{1b}", "\u{2026}"] {
        assert!(!stderr.contains(marker), "{marker:?} in stderr: {stderr:?}");
    }
}

/// A reorder of an ordered list (YAML `args`: the data formats keep sequences ordered) and a
/// changed secret are never "no change": every output says what moved, from and to where, and
/// that a secret changed, without its value.
#[test]
fn moves_and_secret_changes_show_in_every_output() {
    let old = "\
name: api
args:
  - --listen=:8080
  - --log-level=info
db:
  password: hunter2-old
";
    let new = "\
name: api
args:
  - --log-level=info
  - --listen=:8080
db:
  password: hunter2-new
";
    let dir = temp_files(&[("old.yaml", old.as_bytes()), ("new.yaml", new.as_bytes())]);
    let (code, out, err) = run_in(dir.path(), &["diff", "old.yaml", "new.yaml"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(
            "moved   args[\"--listen=:8080\"]: \"--listen=:8080\" (position 1 -> 2, line 3 -> 4)"
        ),
        "{out}"
    );
    assert!(
        out.contains("changed db.password: secret changed, value not shown (line 6 -> 6)"),
        "{out}"
    );
    assert!(out.contains("1 moved"), "{out}");
    let (code, out, _) = run_in(
        dir.path(),
        &["diff", "old.yaml", "new.yaml", "--output", "json"],
    );
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let moved = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["op"] == "moved")
        .expect("a moved entry");
    assert_eq!(moved["old_position"], 1);
    assert_eq!(moved["new_position"], 2);
    assert_eq!(
        (moved["old_line"].as_u64(), moved["new_line"].as_u64()),
        (Some(3), Some(4))
    );

    // In staging the embedded library lets the reorder through: the check passes, and every
    // output still lists the move and the secret change.
    let (code, out, err) = run_in(
        dir.path(),
        &[
            "check",
            "old.yaml",
            "new.yaml",
            "--kind",
            "generic",
            "--env",
            "staging",
            "--output",
            "text",
            "--output",
            "json=r.json",
            "--output",
            "sarif=r.sarif",
            "--output",
            "markdown=r.md",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
    let json: serde_json::Value = serde_json::from_str(&read("r.json")).unwrap();
    let entries = json["targets"][0]["diff"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["op"] == "moved" && e["new_position"] == 2)
    );
    assert!(
        entries
            .iter()
            .any(|e| e["op"] == "changed" && e["secret"] == true)
    );
    let md = read("r.md");
    assert!(
        md.contains("- args\\[\"--listen=:8080\"\\] moved from position 1 to 2 (line 3 -&gt; 4)"),
        "{md}"
    );
    assert!(
        md.contains("secret changed at db.password (line 6)"),
        "{md}"
    );
    let sarif: serde_json::Value = serde_json::from_str(&read("r.sarif")).unwrap();
    let changes = sarif["runs"][0]["properties"]["semanticChanges"]
        .as_array()
        .expect("semanticChanges");
    assert!(
        changes
            .iter()
            .any(|c| c["op"] == "moved" && c["newPosition"] == 2)
    );
    for text in [out, read("r.json"), read("r.md"), read("r.sarif")] {
        assert!(!text.contains("hunter2"), "a secret leaked: {text}");
    }
}

/// A configuration that names nothing fails closed (exit 2) with file, line and the nearest
/// valid name: a typo in `policy_params` would put a limit back to its default, a waiver of an
/// unknown rule would waive nothing, and `--env prodution` would check the wrong environment.
#[test]
fn configuration_that_names_nothing_is_exit_two_with_the_nearest_name() {
    let config = |extra: &str| {
        format!(
            "targets:\n  - name: app\n    kind: generic\n    path: app.yaml\n    environments: {{production: {{}}, staging: {{}}}}\n{extra}"
        )
    };
    let run = |config_text: String, args: &[&str], waivers: Option<&str>| {
        let mut files: Vec<(&str, Vec<u8>)> = vec![
            ("guardrail.yaml", config_text.into_bytes()),
            ("old.yaml", b"pool: {max_size: 10}\n".to_vec()),
            ("new.yaml", b"pool: {max_size: 12}\n".to_vec()),
        ];
        if let Some(w) = waivers {
            files.push(("waivers.yaml", w.as_bytes().to_vec()));
        }
        let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
        let dir = temp_files(&refs);
        let mut all = vec!["check", "old.yaml", "new.yaml", "--target", "app"];
        all.extend_from_slice(args);
        run_in(dir.path(), &all)
    };

    // Sanity: the good configuration passes.
    let (code, out, err) = run(
        config("policy_params:\n  connection-storms: {headroom: 0.8}\n"),
        &[],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");

    let (code, _, err) = run(
        config("policy_params:\n  connection-storms:\n    headrom: 0.8\n"),
        &[],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("guardrail.yaml:8: error[config.policy-params]: policy `connection-storms`: unknown param `headrom` (did you mean `headroom`?)"),
        "{err}"
    );

    let (code, _, err) = run(
        config("policy_params:\n  conection-storms: {headroom: 0.8}\n"),
        &[],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("guardrail.yaml:7: error[config.policy-params]: params given for unknown policy `conection-storms` (did you mean `connection-storms`?)"),
        "{err}"
    );

    let waiver = "- rule: connection-storms/reconnect-backof-jitter\n  target: app\n  reason: migration\n  owner: dba\n  expires: 2099-01-01\n";
    let (code, _, err) = run(config("waivers: waivers.yaml\n"), &[], Some(waiver));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("waivers.yaml:1: error[waiver.unknown-rule]"),
        "{err}"
    );
    assert!(
        err.contains("(did you mean `connection-storms/reconnect-backoff-jitter`?)"),
        "{err}"
    );

    let (code, _, err) = run(config(""), &["--env", "prodution"], None);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("unknown environment `prodution` (did you mean `production`?); known: production, staging"),
        "{err}"
    );

    let (code, _, err) = run(config("polices: [p/]\n"), &[], None);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("guardrail.yaml:6: error[config.unknown-field]: unknown field `polices` (did you mean `policies`?)"),
        "{err}"
    );
}

/// One list of format names serves the flag, guardrail.yaml and the API: `cisco` and `yml` are
/// accepted everywhere, a typo is refused everywhere with the nearest name.
#[test]
fn format_names_are_the_same_for_the_flag_and_the_config() {
    let dir = temp_files(&[
        ("old.ios", b"hostname a\n".as_slice()),
        ("new.ios", b"hostname b\n".as_slice()),
        (
            "guardrail.yaml",
            b"targets:\n  - {name: sw, kind: switch, format: cisco, path: new.ios}\n".as_slice(),
        ),
        (
            "bad.yaml",
            b"targets:\n  - {name: sw, kind: switch, format: ciscoo, path: new.ios}\n".as_slice(),
        ),
    ]);
    for f in ["cisco", "ios", "EOS", "frr", "arista"] {
        let (code, out, err) = run_in(dir.path(), &["diff", "old.ios", "new.ios", "--format", f]);
        assert_eq!(code, 1, "--format {f}: {out}{err}");
    }
    let (code, _, err) = run_in(
        dir.path(),
        &["check", "old.ios", "new.ios", "--target", "sw"],
    );
    assert!(code == 0 || code == 1 || code == 3, "{err}");
    let (code, _, err) = run_in(
        dir.path(),
        &["diff", "old.ios", "new.ios", "--format", "ciscoo"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("unknown format `ciscoo` (did you mean `cisco`?)"),
        "{err}"
    );
    let (code, _, err) = run_in(
        dir.path(),
        &[
            "check", "old.ios", "new.ios", "--config", "bad.yaml", "--target", "sw",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("unknown format `ciscoo` (did you mean `cisco`?)"),
        "{err}"
    );
}

/// The misrouting incident of issue 13: two `use_backend` rules swap places, so `/x.css` on
/// api.example.com goes to `static`. `diff` reports the move with both lines (exit 1), and
/// `check` in production with the shipped library asks for approval (exit 3).
#[test]
fn swapped_use_backend_rules_are_a_move_that_needs_approval_in_production() {
    let old = "\
frontend fe
    bind :80
    acl is_api hdr(host) -i api.example.com
    acl is_static path_end .css
    use_backend api if is_api
    use_backend static if is_static
    default_backend web
backend api
    server a1 10.0.0.1:80
backend static
    server s1 10.0.0.2:80
backend web
    server w1 10.0.0.3:80
";
    let new = old.replace(
        "    use_backend api if is_api\n    use_backend static if is_static\n",
        "    use_backend static if is_static\n    use_backend api if is_api\n",
    );
    let dir = temp_files(&[("a.cfg", old.as_bytes()), ("b.cfg", new.as_bytes())]);
    let (code, out, err) = run_in(
        dir.path(),
        &["diff", "a.cfg", "b.cfg", "--format", "haproxy"],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("moved   frontends[fe].use_backend[\"api if is_api\"]: {4 keys} (position 1 -> 2, line 5 -> 6)"),
        "{out}"
    );
    let args = |env: &'static str| {
        vec![
            "check",
            "a.cfg",
            "b.cfg",
            "--kind",
            "load_balancer",
            "--format",
            "haproxy",
            "--env",
            env,
        ]
    };
    let (code, out, err) = run_in(dir.path(), &args("production"));
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        out.contains("lb-change-review/rule-order-changed  b.cfg:6"),
        "{out}"
    );
    let (code, out, err) = run_in(dir.path(), &args("staging"));
    assert_eq!(code, 0, "{out}{err}");
}
