//! Drift recording against a real store: each poll outcome, its audit records, its outbox rows
//! (written in the same transaction) and its metrics.

use chrono::Utc;

use super::drift::{FailureKind, Fetched, SourceFailure};
use super::testing::{World, admin, other_approver};
use super::{api, drift::PollReport};
use crate::metrics::TargetEnv;
use guardrail_core::change::State;
use guardrail_store::{DriftFilter, OutboxRow};

const CONFIG: &str = r#"
targets:
  - name: lb
    kind: load_balancer
    format: haproxy
    critical: true
    environments:
      production:
        source: {file: live/lb.cfg}
        poll_interval: 1s
  - name: app
    kind: generic
    format: yaml
    environments:
      lab:
        source: {file: live/app.yaml, failures_before_alert: 2}
        poll_interval: 1s
        ignore: ['^generated_at:']
environments:
  production: {approvals: {count: 1}}
notifications:
  - name: hook
    webhook: {url: "http://127.0.0.1:9/hook", secret_env: GUARDRAIL_TEST_UNUSED}
  - name: pager
    alertmanager: {url: "http://127.0.0.1:9"}
    events: [unstaged_push, source_down]
    environments: [production]
"#;

const LB: &str = "frontend www\n    bind :80\n    default_backend web\n\nbackend web\n    server web1 10.0.0.1:80 check\n    server web2 10.0.0.2:80 check\n";
const LB_PUSHED: &str = "frontend www\n    bind :80\n    default_backend web\n\nbackend web\n    server web1 10.0.0.1:80 check\n    server web2 10.0.0.2:80 check disabled\n";

fn world() -> World {
    World::new(CONFIG)
}

fn world_with(config: &str) -> World {
    World::new(config)
}

/// Drift-specific helpers of the shared test world.
trait DriftWorld {
    fn fail(&self, target: &str) -> PollReport;
    fn gauge(&self, target: &str, env: &str) -> (i64, i64, u64);
}

impl DriftWorld for World {
    fn fail(&self, target: &str) -> PollReport {
        self.svc
            .record_poll(
                &self.watch(target),
                Fetched::Failed(SourceFailure {
                    kind: FailureKind::Missing,
                    message: "live/x: the file does not exist".into(),
                }),
                &self.cache,
            )
            .unwrap()
    }

    fn gauge(&self, target: &str, env: &str) -> (i64, i64, u64) {
        let l = TargetEnv {
            target: target.into(),
            env: env.into(),
        };
        let m = &self.svc.metrics.drift;
        (
            m.drift_active.get_or_create(&l).get(),
            m.source_up.get_or_create(&l).get(),
            m.unstaged_pushes.get_or_create(&l).get(),
        )
    }
}

fn event_of(row: &OutboxRow) -> crate::notify::Event {
    serde_json::from_str(&row.payload).unwrap()
}

#[test]
fn an_unstaged_push_is_recorded_alerted_once_grouped_while_flapping_and_resolved() {
    let w = world();
    assert_eq!(w.poll("lb", LB).outcome, "first_contact");
    assert_eq!(
        w.audit_actions(),
        vec!["baseline.first_contact".to_string()]
    );
    // A comment- and whitespace-only edit is in sync.
    let commented = format!(
        "# managed by ansible\n{}",
        LB.replace("bind :80", "bind   :80  # public")
    );
    assert_eq!(w.poll("lb", &commented).outcome, "in_sync");

    w.advance(1);
    let r = w.poll("lb", LB_PUSHED);
    assert_eq!(r.outcome, "drift_opened");
    let id = r.drift_id.unwrap();
    let d = w.svc.drift_show(id).unwrap();
    assert_eq!(d.kind, "unstaged_push");
    assert_eq!(d.status, "open");
    assert!(
        d.unified_diff
            .as_deref()
            .unwrap()
            .contains("+    server web2 10.0.0.2:80 check disabled")
    );
    assert!(!d.diff.as_ref().unwrap().is_empty());
    assert!(d.baseline_id.is_some());
    assert_eq!(w.gauge("lb", "production"), (1, 1, 1));
    // One row per receiver that routes it: the webhook and the production pager.
    let rows = w.outbox();
    assert_eq!(
        rows.iter().map(|r| r.receiver.as_str()).collect::<Vec<_>>(),
        vec!["hook", "pager"]
    );
    let e = event_of(&rows[0]);
    assert_eq!(e.event, crate::notify::EventKind::UnstagedPush);
    assert_eq!(e.severity, crate::notify::Severity::Critical);
    assert_eq!(e.labels["drift"], id.to_string());
    assert!(
        e.details["unified_diff"]
            .as_str()
            .unwrap()
            .contains("disabled")
    );
    assert!(
        e.details["rollback"]
            .as_str()
            .unwrap()
            .contains("restore baseline")
    );

    // Still drifted: the same drift, no new alert.
    w.advance(1);
    assert_eq!(w.poll("lb", LB_PUSHED).outcome, "drift_ongoing");
    // Back at the baseline briefly, then drifted again: a flap of the same drift.
    w.advance(1);
    assert_eq!(w.poll("lb", LB).outcome, "in_sync");
    w.advance(1);
    let r = w.poll("lb", LB_PUSHED);
    assert_eq!((r.outcome, r.drift_id), ("drift_flap", Some(id)));
    assert_eq!(w.outbox().len(), 2, "no new alert while flapping");
    assert_eq!(w.svc.drift_show(id).unwrap().flaps, 1);

    // Back at the baseline for resolve_after (two poll intervals): resolved.
    w.advance(1);
    assert_eq!(w.poll("lb", LB).outcome, "in_sync");
    w.advance(2);
    let r = w.poll("lb", LB);
    assert_eq!((r.outcome, r.drift_id), ("drift_resolved", Some(id)));
    let d = w.svc.drift_show(id).unwrap();
    assert_eq!(
        (d.status.as_str(), d.resolution.as_deref()),
        ("resolved", Some("reverted"))
    );
    let rows = w.outbox();
    assert_eq!(rows.len(), 4);
    let resolved = event_of(&rows[2]);
    assert_eq!(resolved.status, crate::notify::Status::Resolved);
    assert_eq!(resolved.key, e.key);
    assert_eq!(w.gauge("lb", "production"), (0, 1, 1));
    assert!(w.svc.verify_audit(None).unwrap().ok);
    let actions = w.audit_actions();
    for a in ["drift.unstaged_push", "drift.flap", "drift.resolve"] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
    assert_eq!(
        w.svc
            .drift_list(DriftFilter {
                status: Some("open".into()),
                ..Default::default()
            })
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn ignored_lines_are_not_drift() {
    let w = world();
    w.poll("app", "generated_at: 1\nreplicas: 2\n");
    assert_eq!(
        w.poll("app", "generated_at: 2\nreplicas: 2\n").outcome,
        "in_sync"
    );
    assert_eq!(
        w.poll("app", "generated_at: 3\nreplicas: 3\n").outcome,
        "drift_opened"
    );
    // lab routes only to the webhook (the pager takes production).
    assert_eq!(w.outbox().len(), 1);
    assert_eq!(
        event_of(&w.outbox()[0]).severity,
        crate::notify::Severity::Warning
    );
}

#[test]
fn a_failing_source_alerts_after_the_threshold_once_and_resolves() {
    let w = world();
    w.poll("app", "replicas: 2\n");
    assert_eq!(w.fail("app").outcome, "source_failed");
    assert!(w.outbox().is_empty(), "one failure is not an alert yet");
    assert_eq!(w.gauge("app", "lab").1, 0);
    w.fail("app");
    w.fail("app");
    let rows = w.outbox();
    assert_eq!(rows.len(), 1);
    let e = event_of(&rows[0]);
    assert_eq!(e.event, crate::notify::EventKind::SourceDown);
    assert!(e.summary.contains("disappeared"), "{}", e.summary);
    assert_eq!(e.labels["reason"], "missing");
    let src = w.svc.sources().unwrap();
    let app = src.iter().find(|s| s.target == "app").unwrap();
    assert_eq!((app.up, app.consecutive_failures), (Some(false), 3));

    assert_eq!(w.poll("app", "replicas: 2\n").outcome, "in_sync");
    let rows = w.outbox();
    assert_eq!(rows.len(), 2);
    assert_eq!(event_of(&rows[1]).status, crate::notify::Status::Resolved);
    assert_eq!(w.gauge("app", "lab").1, 1);
    let actions = w.audit_actions();
    assert!(actions.contains(&"source.down".to_string()));
    assert!(actions.contains(&"source.up".to_string()));
}

#[test]
fn unparsable_content_is_a_source_failure() {
    let w = world();
    w.poll("lb", LB);
    let r = w.poll("lb", "{\"this\": \"is json\"}\n");
    assert_eq!(r.outcome, "source_failed");
    let src = w.svc.sources().unwrap();
    let lb = src.iter().find(|s| s.target == "lb").unwrap();
    assert!(
        lb.last_error.as_deref().unwrap().starts_with("unparsable"),
        "{lb:?}"
    );
}

fn submit(w: &World, target: &str, env: &str, content: &str) -> api::ChangeView {
    w.submit_as(&admin(), target, env, content).unwrap()
}

#[test]
fn an_approved_change_seen_live_is_applied_and_verified() {
    let w = world();
    w.poll("app", "replicas: 2\n");
    let c = submit(&w, "app", "lab", "replicas: 3\n");
    assert_eq!(c.state, "approved", "{c:?}");
    let r = w.poll("app", "# deployed\nreplicas: 3\n");
    assert_eq!(r.outcome, "expected_apply");
    let c = w.svc.show(c.id, false).unwrap();
    assert_eq!(c.state, "verified");
    assert!(w.outbox().is_empty(), "an expected apply is not an alert");
    // The baseline moved: the new content is in sync.
    assert_eq!(w.poll("app", "replicas: 3\n").outcome, "in_sync");
}

#[test]
fn an_applied_change_that_does_not_show_live_fails_verification() {
    let w = world();
    w.poll("app", "replicas: 2\n");
    let c = submit(&w, "app", "lab", "replicas: 3\n");
    w.svc
        .applied(&admin(), c.id, api::NoteBody::default())
        .unwrap();
    // The deploy has not reached the device yet.
    assert_eq!(w.poll("app", "replicas: 2\n").outcome, "awaiting_deploy");
    // verify_within (30m default) passed.
    w.advance(31 * 60);
    let r = w.poll("app", "replicas: 2\n");
    assert_eq!(r.outcome, "drift_opened");
    let d = w.svc.drift_show(r.drift_id.unwrap()).unwrap();
    assert_eq!(d.kind, "verification_failed");
    assert_eq!(d.change_id, Some(c.id));
    assert_eq!(d.detail["timed_out"], true);
    assert!(d.unified_diff.unwrap().contains("-replicas: 3"));
    assert_eq!(
        event_of(&w.outbox()[0]).event,
        crate::notify::EventKind::VerificationFailed
    );
    // The change finally shows: verified, and the drift resolves at once.
    let r = w.poll("app", "replicas: 3\n");
    assert_eq!(r.outcome, "drift_resolved");
    assert_eq!(w.svc.show(c.id, false).unwrap().state, "verified");
    assert_eq!(
        w.svc.drift_show(d.id).unwrap().resolution.as_deref(),
        Some("verified")
    );
}

#[test]
fn a_different_content_after_an_apply_fails_verification_at_once() {
    let w = world();
    w.poll("app", "replicas: 2\n");
    let c = submit(&w, "app", "lab", "replicas: 3\n");
    w.svc
        .applied(&admin(), c.id, api::NoteBody::default())
        .unwrap();
    let r = w.poll("app", "replicas: 4\n");
    let d = w.svc.drift_show(r.drift_id.unwrap()).unwrap();
    assert_eq!(
        (d.kind.as_str(), d.detail["timed_out"].as_bool()),
        ("verification_failed", Some(false))
    );
}

#[test]
fn adopting_a_drift_goes_through_the_gates_and_resolves_it() {
    let w = world();
    w.poll("app", "replicas: 2\n");
    let id = w.poll("app", "replicas: 5\n").drift_id.unwrap();
    let c = w
        .svc
        .adopt(&admin(), id, super::drift::AdoptBody::default())
        .unwrap();
    assert!(
        c.title.contains(&format!("Adopt drift {id}")),
        "{}",
        c.title
    );
    assert_eq!(c.state, "approved");
    assert_eq!(w.svc.drift_show(id).unwrap().adopted_change_id, Some(c.id));
    // A second adopt while the first change is open is refused.
    assert!(w.svc.adopt(&admin(), id, Default::default()).is_err());
    // The next poll sees the approved content live: applied, and the drift resolves.
    let r = w.poll("app", "replicas: 5\n");
    assert_eq!(r.outcome, "expected_apply");
    let d = w.svc.drift_show(id).unwrap();
    assert_eq!(d.resolution.as_deref(), Some("applied"));
    assert_eq!(d.adopted_change_id, Some(c.id));
    assert_eq!(
        w.svc.show(c.id, false).unwrap().state,
        State::Verified.name()
    );
    let actions = w.audit_actions();
    assert!(actions.contains(&"drift.adopt".to_string()));
}

#[test]
fn concurrent_adopts_of_one_drift_create_one_change() {
    let w = world();
    w.poll("app", "replicas: 2\n");
    let id = w.poll("app", "replicas: 5\n").drift_id.unwrap();
    let results: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| w.svc.adopt(&admin(), id, Default::default()).is_ok()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|ok| **ok).count(), 1, "{results:?}");
    let adopts = w
        .audit_actions()
        .iter()
        .filter(|a| *a == "drift.adopt")
        .count();
    let submits = w
        .audit_actions()
        .iter()
        .filter(|a| *a == "change.submit")
        .count();
    assert_eq!((adopts, submits), (1, 1));
}

const FAN_IN: &str = r#"
targets:
  - name: pg
    kind: generic
    format: ini
    environments:
      production: {source: {file: live/pg.conf}, poll_interval: 1s}
  - name: app-a
    kind: db_client
    format: yaml
    environments:
      production: {source: {file: live/a.yaml}, poll_interval: 1s}
  - name: app-b
    kind: db_client
    format: yaml
    environments:
      production: {source: {file: live/b.yaml}, poll_interval: 1s}
  - name: app-c
    kind: db_client
    format: yaml
    environments:
      production: {source: {file: live/c.yaml}, poll_interval: 1s}
policy_params:
  connection-storms: {database_target: pg, headroom: 0.9}
"#;

fn client(size: u32) -> String {
    format!(
        "database:\n  pool: {{max_size: {size}}}\n  reconnect: {{backoff_ms: 500, jitter: true}}\n"
    )
}

/// A live pool raised past the database's share is judged with the other clients' baselines:
/// the fan-in rule sees the whole environment, not the pushed target alone.
#[test]
fn fan_in_rules_judge_a_live_push_against_the_other_targets_baselines() {
    let w = world_with(FAN_IN);
    w.poll("pg", "max_connections = 100\n");
    w.poll("app-a", &client(40));
    w.poll("app-b", &client(40));
    // 40 + 70 = 110 connections against 100 x 0.9.
    let r = w.poll("app-b", &client(70));
    let d = w.svc.drift_show(r.drift_id.unwrap()).unwrap();
    let rules: Vec<String> = d
        .findings
        .iter()
        .map(|f| {
            format!(
                "{}/{}",
                f["policy"].as_str().unwrap(),
                f["rule"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        rules.contains(&"connection-storms/client-fan-in".to_string()),
        "{:#?}",
        d.findings
    );
}

/// `POST /v1/evaluate` judges fan-in against the stored baselines, and sees a new baseline
/// once it is written (its cache is per store generation).
#[test]
fn evaluate_judges_fan_in_against_the_baselines_and_sees_new_ones() {
    let w = world_with(FAN_IN);
    w.poll("pg", "max_connections = 100\n");
    w.poll("app-a", &client(40));
    let fan_in = |size: u32| -> bool {
        let report = w
            .svc
            .evaluate(&api::EvaluateBody {
                kind: None,
                format: None,
                env: "production".into(),
                target: Some("app-b".into()),
                old: None,
                new: Some(client(size)),
            })
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&report).unwrap();
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "client-fan-in")
    };
    // 40 + 45 = 85 fits 100 x 0.9; 40 + 55 = 95 does not.
    assert!(!fan_in(45));
    assert!(fan_in(55));
    // app-c's first contact stores its baseline: 40 + 20 + 45 = 105 no longer fits.
    w.poll("app-c", &client(20));
    assert!(
        fan_in(45),
        "a baseline written after the first evaluate is seen"
    );
}

#[test]
fn an_approved_change_outside_its_gate_does_not_explain_a_push() {
    let w = world();
    w.poll("lb", LB);
    // Production needs an approval: the change waits, so the push is unstaged.
    let c = submit(&w, "lb", "production", LB_PUSHED);
    assert_ne!(c.state, "approved");
    let r = w.poll("lb", LB_PUSHED);
    assert_eq!(r.outcome, "drift_opened");
}

#[test]
fn break_glass_writes_its_notices_with_the_change() {
    let w = world();
    w.poll("lb", LB);
    let c = submit(&w, "lb", "production", LB_PUSHED);
    w.svc
        .break_glass(
            &admin(),
            c.id,
            api::BreakGlassBody {
                reason: "outage".into(),
                incident: "INC-7".into(),
            },
        )
        .unwrap();
    let rows = w.outbox();
    let events: Vec<_> = rows
        .iter()
        .map(|r| (r.receiver.as_str(), r.event.as_str()))
        .collect();
    // The pager routes only unstaged_push and source_down.
    assert!(events.contains(&("hook", "break_glass")), "{events:?}");
    assert!(!events.iter().any(|(r, _)| *r == "pager"), "{events:?}");
}

#[test]
fn an_overdue_retro_review_alerts_once_and_resolves_when_closed() {
    let w = world();
    let c = submit(&w, "lb", "production", LB_PUSHED);
    w.svc
        .break_glass(
            &admin(),
            c.id,
            api::BreakGlassBody {
                reason: "outage".into(),
                incident: "INC-7".into(),
            },
        )
        .unwrap();
    let before = w.outbox().len();
    w.svc.check_retro_reviews().unwrap();
    assert_eq!(w.outbox().len(), before, "not due yet");
    w.advance(73 * 3600);
    w.svc.check_retro_reviews().unwrap();
    w.svc.check_retro_reviews().unwrap();
    let rows = w.outbox();
    assert_eq!(rows.len(), before + 1);
    assert_eq!(rows[before].event, "retro_overdue");
    let retro = w.svc.retros(true).unwrap()[0].id;
    // The admin who broke the glass may not close its review (four eyes).
    assert!(matches!(
        w.svc.close_retro(
            &admin(),
            retro,
            api::CloseRetroBody {
                note: "done".into(),
            },
        ),
        Err(crate::service::ServiceError::Forbidden(_))
    ));
    w.svc
        .close_retro(
            &other_approver(),
            retro,
            api::CloseRetroBody {
                note: "done".into(),
            },
        )
        .unwrap();
    w.svc.check_retro_reviews().unwrap();
    let rows = w.outbox();
    assert_eq!(rows.len(), before + 2);
    assert_eq!(
        event_of(&rows[before + 1]).status,
        crate::notify::Status::Resolved
    );
}

#[test]
fn a_drift_of_a_secret_only_is_named_in_its_diff_and_alert_without_the_value() {
    let w = world();
    let live = |secret: &str| format!("{LB}\nuserlist admins\n    user admin password {secret}\n");
    assert_eq!(w.poll("lb", &live("Old-Secret-1")).outcome, "first_contact");
    w.advance(1);
    let r = w.poll("lb", &live("New-Secret-2"));
    assert_eq!(r.outcome, "drift_opened", "a changed password is a drift");
    let d = w.svc.drift_show(r.drift_id.unwrap()).unwrap();
    let unified = d.unified_diff.clone().unwrap();
    assert!(
        unified.contains("secret changed at sections[admins]") && unified.contains("(line 10)"),
        "{unified}"
    );
    let rows = w.outbox();
    let hook = rows.iter().find(|r| r.receiver == "hook").unwrap();
    assert!(
        hook.payload.contains("secret changed at"),
        "{}",
        hook.payload
    );
    let alert = crate::notify::render::alertmanager(
        &serde_json::from_str(&hook.payload).unwrap(),
        Utc::now(),
        None,
    );
    let text = String::from_utf8(alert).unwrap();
    assert!(text.contains("secret changed at"), "{text}");
    for s in ["Old-Secret-1", "New-Secret-2"] {
        assert!(!hook.payload.contains(s) && !unified.contains(s) && !text.contains(s));
    }
}

#[test]
fn a_drift_that_only_reorders_rules_is_named_as_a_move_in_its_diff_and_alert() {
    let w = world();
    let live = |first: &str, second: &str| {
        format!(
            "{LB}\nfrontend api\n    bind :8080\n    use_backend {first}\n    use_backend {second}\n    default_backend web\n"
        )
    };
    let before = live("web if is_a", "web if is_b");
    assert_eq!(w.poll("lb", &before).outcome, "first_contact");
    w.advance(1);
    let r = w.poll("lb", &live("web if is_b", "web if is_a"));
    assert_eq!(
        r.outcome, "drift_opened",
        "a reorder of first-match rules is a drift"
    );
    let d = w.svc.drift_show(r.drift_id.unwrap()).unwrap();
    let unified = d.unified_diff.clone().unwrap();
    assert!(
        unified.contains(
            "frontends[api].use_backend[\"web if is_a\"] moved from position 1 to 2 (line 11 -> 12)"
        ),
        "{unified}"
    );
    let rows = w.outbox();
    let hook = rows.iter().find(|r| r.receiver == "hook").unwrap();
    assert!(
        hook.payload.contains("moved from position 1 to 2"),
        "{}",
        hook.payload
    );
    let alert = crate::notify::render::alertmanager(
        &serde_json::from_str(&hook.payload).unwrap(),
        Utc::now(),
        None,
    );
    let text = String::from_utf8(alert).unwrap();
    assert!(text.contains("moved from position 1 to 2"), "{text}");
}
