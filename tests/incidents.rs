//! The five incidents of examples/README.md ("Change scenarios"), replayed end to end with the
//! real binary on the example infra repository: `examples/infra/` is the state before each
//! change and `examples/changes/<scenario>/` holds the files the change touches.
//!
//! Each incident is checked in repo mode, through `examples/check-change.sh` (the command
//! examples/README.md documents), and in files mode on the same before/after files with `--kind`
//! and `--env production`. The tests assert what a user acts on: the exit code, which rule
//! fires in which environment, the object it names and the exact `file:line` of the text output.
//! The last tests keep examples/README.md and `examples/infra/guardrail.yaml` true.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::run_in;
use guardrail::config::Config;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `examples/check-change.sh SCENARIO ARGS...` with the binary under test; (exit, stdout, stderr).
fn scenario(name: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new("sh")
        .arg(root().join("examples/check-change.sh"))
        .arg(name)
        .args(args)
        .env("GUARDRAIL", env!("CARGO_BIN_EXE_guardrail"))
        .env("NO_COLOR", "1")
        .output()
        .expect("run sh examples/check-change.sh");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

/// Files mode from the repository root: `guardrail check infra/FILE changes/SCENARIO/FILE ARGS...`.
fn files(scenario: &str, file: &str, args: &[&str]) -> (i32, String, String) {
    let old = format!("examples/infra/{file}");
    let new = format!("examples/changes/{scenario}/{file}");
    let mut all = vec!["check", old.as_str(), new.as_str()];
    all.extend_from_slice(args);
    run_in(root(), &all)
}

/// One finding as the text output shows it.
#[derive(Debug, Clone)]
struct Shown {
    env: String,
    enforcement: String,
    rule: String,
    /// `file:line`.
    at: String,
    /// `file:line` in the old version, for something removed: `(removed from a/x.cfg:16)`.
    removed_from: Option<String>,
    message: String,
    /// The approval gate line without its `needs ` prefix: `1 approval from web-team`.
    gate: Option<String>,
}

/// The findings of a text report (format in docs/outputs.md): target headers
/// `name [env] kind, format, status: files`, then per finding
/// `  enforcement  policy/rule  file:line`, its message and gate indented by six spaces.
fn shown(out: &str) -> Vec<Shown> {
    let mut env = String::new();
    let mut found: Vec<Shown> = Vec::new();
    for line in out.lines() {
        if !line.starts_with(' ')
            && let Some((_, rest)) = line.split_once(" [")
            && let Some((e, _)) = rest.split_once("] ")
        {
            env = e.to_string();
        } else if let Some(rest) = line.strip_prefix("      ") {
            if let Some(last) = found.last_mut() {
                if last.message.is_empty() {
                    last.message = rest.to_string();
                } else if let Some(gate) = rest.strip_prefix("needs ") {
                    last.gate = Some(gate.to_string());
                }
            }
        } else if let Some(rest) = line.strip_prefix("  ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            if words.len() >= 3 && ["mandatory", "approval", "advisory"].contains(&words[0]) {
                found.push(Shown {
                    env: env.clone(),
                    enforcement: words[0].to_string(),
                    rule: words[1].to_string(),
                    at: words[2].to_string(),
                    removed_from: match words.get(3..6) {
                        Some(["(removed", "from", place]) => {
                            Some(place.trim_end_matches(')').to_string())
                        }
                        _ => None,
                    },
                    message: String::new(),
                    gate: None,
                });
            }
        }
    }
    found
}

/// Every (env, enforcement, rule, file:line) of a report, sorted: the exact set of findings.
fn summary(found: &[Shown]) -> Vec<String> {
    let mut v: Vec<String> = found
        .iter()
        .map(|f| {
            let mut s = format!("{} {} {} {}", f.env, f.enforcement, f.rule, f.at);
            if let Some(was) = &f.removed_from {
                s.push_str(&format!(" (removed from {was})"));
            }
            s
        })
        .collect();
    v.sort();
    v
}

/// The one finding of `rule` in `env`.
fn the<'s>(found: &'s [Shown], env: &str, rule: &str) -> &'s Shown {
    let matching: Vec<&Shown> = found
        .iter()
        .filter(|f| f.env == env && f.rule == rule)
        .collect();
    assert_eq!(matching.len(), 1, "one {rule} in {env}: {found:#?}");
    matching[0]
}

fn strings(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

// ---------- incident 1: an email connector deletes customer mail ----------

const INCIDENT_1: &str = "incident-1-connector-deletes-mail";
const CONNECTOR_PASSWORDS: [&str; 2] = ["Cust-A-p0rtal!", "Cust-A-n3w-p0rtal!"];

#[test]
fn incident_1_a_connector_that_deletes_mail_is_blocked_in_production() {
    let (code, out, err) = scenario(INCIDENT_1, &[]);
    assert_eq!(code, 1, "{out}{err}");
    let found = shown(&out);
    assert_eq!(
        summary(&found),
        strings(&[
            "production mandatory email-connectors/no-server-side-delete mail/helpdesk.fetchmailrc:18",
            "production approval destructive-deletions/object-deleted mail/helpdesk.fetchmailrc:16 (removed from a/mail/helpdesk.fetchmailrc:16)",
            "production approval email-connectors/binding-change mail/helpdesk.fetchmailrc:18",
            "production approval email-connectors/switched-on mail/helpdesk.fetchmailrc:17",
        ]),
        "{out}"
    );
    let delete = the(
        &found,
        "production",
        "email-connectors/no-server-side-delete",
    );
    assert!(
        delete.message.starts_with(
            "connector mail.support.customer-a.example user support@customer-a.example deletes mail on the server after retrieval (no keep"
        ),
        "{out}"
    );
    let rebound = the(&found, "production", "email-connectors/binding-change");
    assert!(
        rebound.message.contains(
            "previously: server imap.portal.customer-a.example user support@customer-a.example"
        ),
        "{out}"
    );
    let deleted = the(&found, "production", "destructive-deletions/object-deleted");
    assert!(
        deleted.message.starts_with(
            "poll entry (connector) `imap.portal.customer-a.example` of helpdesk-connectors"
        ),
        "{out}"
    );
    assert_eq!(deleted.gate.as_deref(), Some("1 approval from mail-ops"));

    // Staging is not gated by the email-connectors pack; no output shows a password.
    assert!(out.contains("helpdesk-connectors [staging]"), "{out}");
    let (_, json, _) = scenario(INCIDENT_1, &["--output", "json"]);
    for secret in CONNECTOR_PASSWORDS {
        assert!(!out.contains(secret) && !json.contains(secret), "{secret}");
    }

    let (code, out, err) = files(
        INCIDENT_1,
        "mail/helpdesk.fetchmailrc",
        &["--kind", "email_connector", "--env", "production"],
    );
    assert_eq!(code, 1, "{out}{err}");
    let found = shown(&out);
    let at = |rule: &str| the(&found, "production", rule).at.clone();
    assert_eq!(
        at("email-connectors/no-server-side-delete"),
        format!("examples/changes/{INCIDENT_1}/mail/helpdesk.fetchmailrc:18")
    );
    let deleted = the(&found, "production", "destructive-deletions/object-deleted");
    assert_eq!(
        (deleted.at.as_str(), deleted.removed_from.as_deref()),
        (
            format!("examples/changes/{INCIDENT_1}/mail/helpdesk.fetchmailrc:16").as_str(),
            Some("examples/infra/mail/helpdesk.fetchmailrc:16")
        ),
        "a deleted object points where it was removed in the new file, and at its old line"
    );
    for secret in CONNECTOR_PASSWORDS {
        assert!(!out.contains(secret), "{secret}");
    }
}

// ---------- incident 2: a load balancer update sends traffic away from the mail servers ----------

const INCIDENT_2: &str = "incident-2-imap-backend-renamed";

#[test]
fn incident_2_a_route_to_a_renamed_backend_is_blocked_everywhere() {
    let (code, out, err) = scenario(INCIDENT_2, &[]);
    assert_eq!(code, 1, "{out}{err}");
    let found = shown(&out);
    assert_eq!(
        summary(&found),
        strings(&[
            "production mandatory lb-invariants/route-target-exists lb/mail/haproxy.cfg:42",
            "production approval destructive-deletions/object-deleted lb/mail/haproxy.cfg:72 (removed from a/lb/mail/haproxy.cfg:72)",
            "staging mandatory lb-invariants/route-target-exists lb/mail/haproxy.cfg:42",
        ]),
        "{out}"
    );
    for env in ["production", "staging"] {
        assert_eq!(
            the(&found, env, "lb-invariants/route-target-exists").message,
            "frontend `fe_imap` default_backend routes to backend `be_mail_imap`, which does not exist: its traffic would fail"
        );
    }
    let deleted = the(&found, "production", "destructive-deletions/object-deleted");
    assert!(
        deleted
            .message
            .starts_with("backend `be_mail_imap` of lb-mail is deleted in production"),
        "{out}"
    );
    assert_eq!(
        deleted.gate.as_deref(),
        Some("1 approval from netops, mail-team")
    );
    assert!(!out.contains("St4ts-0nly-f0r-0ps"), "{out}");

    let (code, out, err) = files(
        INCIDENT_2,
        "lb/mail/haproxy.cfg",
        &["--kind", "load_balancer", "--env", "production"],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(
        the(
            &shown(&out),
            "production",
            "lb-invariants/route-target-exists"
        )
        .at,
        format!("examples/changes/{INCIDENT_2}/lb/mail/haproxy.cfg:42")
    );
}

// ---------- incident 3: a merged pull request removes a service ----------

const INCIDENT_3: &str = "incident-3-calendar-removed";

#[test]
fn incident_3_removing_the_calendar_service_needs_its_owners_approval() {
    let (code, out, err) = scenario(INCIDENT_3, &[]);
    assert_eq!(code, 3, "{out}{err}");
    let found = shown(&out);
    assert_eq!(
        summary(&found),
        strings(&[
            // Where each was removed in the new file (a pull request shows that one), and
            // where it was: the upstream's lines went at 31; the virtual server's block (old
            // 61-72, the text diff aligning the repeated closing braces) ended before line 56.
            "production approval destructive-deletions/object-deleted lb/web/nginx.conf:31 (removed from a/lb/web/nginx.conf:31)",
            "production approval destructive-deletions/object-deleted lb/web/nginx.conf:56 (removed from a/lb/web/nginx.conf:64)",
        ]),
        "{out}"
    );
    let by_line = |at: &str| found.iter().find(|f| f.at == at).unwrap();
    assert!(
        by_line("lb/web/nginx.conf:31")
            .message
            .starts_with("upstream `calendar` of lb-web is deleted in production: an owner of lb-web (web-team) must approve"),
        "{out}"
    );
    assert!(
        by_line("lb/web/nginx.conf:56")
            .message
            .starts_with("virtual server `calendar.example.net 443` of lb-web is deleted"),
        "{out}"
    );
    assert!(
        found
            .iter()
            .all(|f| f.gate.as_deref() == Some("1 approval from web-team")),
        "the gate names the target's owners: {out}"
    );
    let (_, json, _) = scenario(INCIDENT_3, &["--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for f in v["findings"].as_array().unwrap() {
        assert_eq!(
            f["approvals"],
            serde_json::json!({"count": 1, "groups": ["web-team"]})
        );
        assert_eq!(f["file"], "lb/web/nginx.conf");
        assert_eq!(f["removed_from"]["file"], "a/lb/web/nginx.conf");
    }
    // GitHub annotations and SARIF name the file the pull request has, not `a/...`.
    let (_, gh, _) = scenario(INCIDENT_3, &["--output", "github"]);
    assert!(
        gh.contains("::warning file=lb/web/nginx.conf,line=31,"),
        "{gh}"
    );
    assert!(
        gh.contains("::warning file=lb/web/nginx.conf,line=56,"),
        "{gh}"
    );
    assert!(!gh.contains("file=a/"), "{gh}");
    let (_, sarif, _) = scenario(INCIDENT_3, &["--output", "sarif"]);
    let sarif: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    for r in sarif["runs"][0]["results"].as_array().unwrap() {
        let uri = &r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
        assert_eq!(uri, "lb/web/nginx.conf", "{r}");
        assert_eq!(
            r["properties"]["removedFrom"]["file"],
            "a/lb/web/nginx.conf"
        );
    }

    // Files mode takes the owners from guardrail.yaml when --target names a target there.
    let (code, out, err) = files(
        INCIDENT_3,
        "lb/web/nginx.conf",
        &[
            "--config",
            "examples/infra/guardrail.yaml",
            "--target",
            "lb-web",
            "--env",
            "production",
        ],
    );
    assert_eq!(code, 3, "{out}{err}");
    let found = shown(&out);
    assert_eq!(
        summary(&found),
        strings(&[
            "production approval destructive-deletions/object-deleted examples/changes/incident-3-calendar-removed/lb/web/nginx.conf:31 (removed from examples/infra/lb/web/nginx.conf:31)",
            "production approval destructive-deletions/object-deleted examples/changes/incident-3-calendar-removed/lb/web/nginx.conf:56 (removed from examples/infra/lb/web/nginx.conf:64)",
        ]),
        "{out}"
    );
    assert!(
        found
            .iter()
            .all(|f| f.gate.as_deref() == Some("1 approval from web-team"))
    );
}

/// The whole target deleted (its file removed) needs its owners' approval in production only.
#[test]
fn deleting_a_whole_target_needs_its_owners_approval() {
    let base = [
        "check",
        "examples/infra/lb/web/nginx.conf",
        "/dev/null",
        "--config",
        "examples/infra/guardrail.yaml",
        "--target",
        "lb-web",
    ];
    let (code, out, err) = run_in(root(), &[&base[..], &["--env", "production"]].concat());
    assert_eq!(code, 3, "{out}{err}");
    let found = shown(&out);
    let deleted = the(&found, "production", "destructive-deletions/target-deleted");
    assert!(
        deleted.message.starts_with(
            "load_balancer target lb-web is deleted in production: an owner of lb-web (web-team) must approve"
        ),
        "{out}"
    );
    assert!(
        deleted.at.starts_with("examples/infra/lb/web/nginx.conf"),
        "{out}"
    );
    assert_eq!(deleted.gate.as_deref(), Some("1 approval from web-team"));

    let (code, out, err) = run_in(root(), &[&base[..], &["--env", "staging"]].concat());
    assert_eq!(code, 0, "{out}{err}");
}

// ---------- incident 4: a switch change pushed straight to production ----------

const INCIDENT_4: &str = "incident-4-core-trunk-shutdown";

#[test]
fn incident_4_shutting_a_core_trunk_needs_approval() {
    let (code, out, err) = scenario(INCIDENT_4, &[]);
    assert_eq!(code, 3, "{out}{err}");
    let found = shown(&out);
    assert_eq!(
        summary(&found),
        strings(&[
            "production approval switches/uplink-shutdown network/core-sw-1.ios:82",
            "production approval switches/critical-switch-change network/core-sw-1.ios:82",
            "staging approval switches/uplink-shutdown network/core-sw-1.ios:82",
        ]),
        "{out}"
    );
    assert!(
        the(&found, "production", "switches/uplink-shutdown")
            .message
            .starts_with(
                "interface TenGigabitEthernet1/0/7 (\"DIST dist-sw-b2 Te1/1/1\", trunk) is shut down"
            ),
        "{out}"
    );
    assert!(
        the(&found, "production", "switches/critical-switch-change")
            .message
            .starts_with("core-sw-1 is a critical switch"),
        "{out}"
    );

    // Files mode without --target knows nothing of `critical`: the uplink rule alone gates it.
    let (code, out, err) = files(
        INCIDENT_4,
        "network/core-sw-1.ios",
        &["--kind", "switch", "--env", "production"],
    );
    assert_eq!(code, 3, "{out}{err}");
    assert_eq!(
        summary(&shown(&out)),
        strings(&[&format!(
            "production approval switches/uplink-shutdown examples/changes/{INCIDENT_4}/network/core-sw-1.ios:82"
        )])
    );
}

// ---------- incident 5: a reconnection storm overloads the database ----------

const INCIDENT_5: &str = "incident-5-orders-api-storm";

#[test]
fn incident_5_pools_beyond_the_database_and_no_jitter_are_blocked() {
    let (code, out, err) = scenario(INCIDENT_5, &[]);
    assert_eq!(code, 1, "{out}{err}");
    let found = shown(&out);
    assert_eq!(
        summary(&found),
        strings(&[
            "production mandatory connection-storms/client-fan-in apps/orders-api/database.yaml:8",
            "production mandatory connection-storms/reconnect-backoff-jitter apps/orders-api/database.yaml:10",
            "staging mandatory connection-storms/client-fan-in apps/orders-api/database.yaml:8",
            "staging mandatory connection-storms/reconnect-backoff-jitter apps/orders-api/database.yaml:10",
        ]),
        "{out}"
    );
    assert!(
        the(&found, "production", "connection-storms/client-fan-in")
            .message
            .starts_with(
                "the db_client targets of production may open 400 connections (orders-api: 300) but pg-orders allows 400 x headroom 0.9"
            ),
        "{out}"
    );
    assert!(
        the(
            &found,
            "production",
            "connection-storms/reconnect-backoff-jitter"
        )
        .message
        .starts_with("orders-api has no reconnect backoff with jitter"),
        "{out}"
    );
    assert!(!out.contains("Ord3rs-api-pw"), "{out}");

    // Files mode with guardrail.yaml and --target: the other targets of the environment are
    // read from the repository, so the fan-in rule sees the same sum as in repo mode.
    let (code, out, err) = files(
        INCIDENT_5,
        "apps/orders-api/database.yaml",
        &[
            "--config",
            "examples/infra/guardrail.yaml",
            "--target",
            "orders-api",
            "--env",
            "production",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    let found = shown(&out);
    assert!(
        the(&found, "production", "connection-storms/client-fan-in")
            .message
            .starts_with(
                "the db_client targets of production may open 400 connections (orders-api: 300) but pg-orders allows 400 x headroom 0.9"
            ),
        "the new file replaces the repository's orders-api, counted once: {out}"
    );

    // Files mode without guardrail.yaml: the missing backoff blocks it. The fan-in rule needs
    // the other targets, which it then does not have (its inventory is the target alone), so it
    // passes there.
    let (code, out, err) = files(
        INCIDENT_5,
        "apps/orders-api/database.yaml",
        &["--kind", "db_client", "--env", "production"],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(
        the(
            &shown(&out),
            "production",
            "connection-storms/reconnect-backoff-jitter"
        )
        .at,
        format!("examples/changes/{INCIDENT_5}/apps/orders-api/database.yaml:10")
    );
}

// ---------- the routine change ----------

#[test]
fn the_routine_lb_web_change_passes_with_no_findings() {
    let (code, out, err) = scenario("safe-routine-lb-web", &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(shown(&out).is_empty(), "{out}");
    assert!(
        out.contains("lb-web [production]") && out.contains("lb-web [staging]"),
        "both environments are checked: {out}"
    );
}

// ---------- the docs and the example config stay true ----------

/// Every `examples/check-change.sh ...` and `guardrail check ...` command of examples/README.md
/// that documents its exit code (`# exit N`) exits with it.
#[test]
fn the_examples_readme_commands_exit_as_documented() {
    let readme = std::fs::read_to_string(root().join("examples/README.md")).unwrap();
    let mut checked = Vec::new();
    for line in readme.lines() {
        let Some((command, exit)) = line.split_once("# exit ") else {
            continue;
        };
        let expected: i32 = exit.trim().parse().expect("an exit code after `# exit`");
        let words: Vec<&str> = command.split_whitespace().collect();
        let (code, out, err) = match words.as_slice() {
            ["examples/check-change.sh", name, args @ ..] => scenario(name, args),
            ["guardrail", args @ ..] => run_in(root(), args),
            _ => panic!("unexpected documented command: {line}"),
        };
        assert_eq!(code, expected, "{line}\n{out}{err}");
        checked.push(words[1].to_string());
    }
    let scenarios: Vec<String> = std::fs::read_dir(root().join("examples/changes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for s in &scenarios {
        assert!(
            checked.contains(s),
            "examples/README.md documents no command for scenario {s}"
        );
    }
    assert!(checked.len() >= 2 * scenarios.len(), "{checked:?}");
}

fn infra() -> PathBuf {
    root().join("examples/infra")
}

fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(
                    p.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// examples/infra/guardrail.yaml parses; every target's file exists; every drift source is a
/// file relative to the config, holding what the repository holds (no drift to start with);
/// every scenario file changes a target's file.
#[test]
fn the_example_infra_config_matches_its_files() {
    let text = std::fs::read_to_string(infra().join("guardrail.yaml")).unwrap();
    let config = Config::parse(&text).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(config.targets.len(), 10);
    let kinds: Vec<&str> = config.targets.iter().map(|t| t.kind.as_str()).collect();
    for kind in guardrail::config::KINDS {
        assert!(kinds.contains(&kind), "no {kind} target");
    }
    let mut target_paths = Vec::new();
    for t in &config.targets {
        assert!(!t.owners.is_empty(), "{} has owners", t.name);
        let envs: Vec<&str> = t.paths.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(envs, ["production", "staging"], "{}", t.name);
        for (_, path) in &t.paths {
            assert!(infra().join(path).is_file(), "{}: {path}", t.name);
            target_paths.push(path.clone());
        }
        for env in ["staging", "production"] {
            let source = t.environments[env]
                .source
                .as_ref()
                .unwrap_or_else(|| panic!("{} {env} has a source", t.name));
            let file = source["file"].as_str().expect("a file source");
            assert!(
                !file.starts_with('/'),
                "{file} is relative to guardrail.yaml"
            );
            let live = std::fs::read(infra().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            let repo = std::fs::read(infra().join(&t.paths[0].1)).unwrap();
            assert!(live == repo, "{file} differs from {}", t.paths[0].1);
        }
    }
    for s in std::fs::read_dir(root().join("examples/changes")).unwrap() {
        let dir = s.unwrap().path();
        let changed = files_under(&dir);
        assert!(!changed.is_empty(), "{}", dir.display());
        for f in changed {
            assert!(
                target_paths.contains(&f),
                "{}/{f} is no target's file",
                dir.display()
            );
            assert!(
                std::fs::read(dir.join(&f)).unwrap() != std::fs::read(infra().join(&f)).unwrap(),
                "{}/{f} changes nothing",
                dir.display()
            );
        }
    }
    // The base state checked against itself: nothing changed, nothing to do.
    let (code, out, err) = run_in(
        root(),
        &[
            "check",
            "--config",
            "examples/infra/guardrail.yaml",
            "--base-dir",
            "examples/infra",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("on 0 targets"), "{out}");
}
