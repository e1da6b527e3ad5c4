//! The health of a polled source: a failed fetch is counted, and after `failures_before_alert`
//! in a row `source_down` fires (once) and is audited; the next successful fetch resolves it.

use chrono::{DateTime, Utc};

use super::super::alerts;
use super::super::context::OpContext;
use super::super::drift::{FailureKind, PollReport, SourceFailure};
use super::super::{Result, Runtime, Service};
use super::target_subject;
use crate::notify::{Event, EventKind, Status};
use guardrail_core::change::audit::AuditEntry;
use guardrail_core::drift::Watch;
use guardrail_store::{SourceStatusRow, Tx};

fn source_key(target: &str, env: &str) -> String {
    format!("source_down/{target}/{env}")
}

/// A successful fetch: the source is up again (and its `source_down` resolved, audited).
pub(super) fn source_ok(
    tx: &mut dyn Tx,
    cx: &mut OpContext<'_>,
    w: &Watch,
    before: Option<&SourceStatusRow>,
) -> Result<()> {
    tx.set_source_status(&SourceStatusRow {
        target: w.target.clone(),
        env: w.env.clone(),
        up: true,
        consecutive_failures: 0,
        last_attempt: Some(cx.now),
        last_success: Some(cx.now),
        last_error: None,
    })?;
    let was_down = before.is_some_and(|s| !s.up);
    let resolved = alerts::resolve(
        tx,
        cx,
        &source_key(&w.target, &w.env),
        format!(
            "the live config of {} in {} is readable again ({})",
            w.target,
            w.env,
            w.source.describe()
        ),
        serde_json::json!({"source": w.source.describe()}),
    )?;
    if was_down || resolved {
        tx.append_audit(
            &AuditEntry {
                actor: "guardrail".into(),
                action: "source.up".into(),
                subject: target_subject(&w.target, &w.env),
                before: Some("down".into()),
                after: Some("up".into()),
                detail: serde_json::json!({
                    "source": w.source.describe(),
                    "failures": before.map(|s| s.consecutive_failures),
                }),
                ..Default::default()
            },
            cx.now,
        )?;
    }
    Ok(())
}

/// A failed fetch of `w` at `now`: counted in one transaction, alerted past the threshold.
pub(super) fn source_failed(
    svc: &Service,
    rt: &Runtime,
    w: &Watch,
    f: SourceFailure,
    now: DateTime<Utc>,
) -> Result<PollReport> {
    svc.transact_at("guardrail", rt, now, |tx, cx| {
        cx.fx.drift_of(w).source_up = Some(false);
        let before = tx.source_status(&w.target, &w.env)?;
        let failures = before.as_ref().map_or(0, |s| s.consecutive_failures) + 1;
        let last_success = before.as_ref().and_then(|s| s.last_success);
        let message = format!("{}: {}", f.kind.name(), f.message);
        tx.set_source_status(&SourceStatusRow {
            target: w.target.clone(),
            env: w.env.clone(),
            up: false,
            consecutive_failures: failures,
            last_attempt: Some(now),
            last_success,
            last_error: Some(message.clone()),
        })?;
        if failures >= w.failures_before_alert as i64 {
            let e = source_down(cx.rt, w, &f, failures, last_success, now);
            if alerts::fire(tx, cx, &e)? {
                audit_down(tx, cx, w, &f, failures)?;
            }
        }
        Ok(())
    })?;
    Ok(PollReport {
        outcome: "source_failed",
        drift_id: None,
    })
}

/// The `source_down` alert of `w` after `failures` failed fetches in a row.
fn source_down(
    rt: &Runtime,
    w: &Watch,
    f: &SourceFailure,
    failures: i64,
    last_success: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Event {
    let what = if f.kind == FailureKind::Missing {
        "disappeared"
    } else {
        "cannot be read"
    };
    Event {
        event: EventKind::SourceDown,
        status: Status::Firing,
        key: source_key(&w.target, &w.env),
        severity: alerts::target_severity(rt, &w.target, &w.env),
        summary: format!(
            "the live config of {} in {} {what} ({} failures in a row): {}: {}",
            w.target,
            w.env,
            failures,
            f.kind.name(),
            f.message
        ),
        target: Some(w.target.clone()),
        env: Some(w.env.clone()),
        starts_at: now,
        ends_at: None,
        labels: [("reason".to_string(), f.kind.name().to_string())].into(),
        details: serde_json::json!({
            "source": w.source.describe(),
            "reason": f.kind.name(),
            "error": f.message,
            "consecutive_failures": failures,
            "last_success": last_success,
        }),
    }
}

fn audit_down(
    tx: &mut dyn Tx,
    cx: &OpContext<'_>,
    w: &Watch,
    f: &SourceFailure,
    failures: i64,
) -> Result<()> {
    tx.append_audit(
        &AuditEntry {
            actor: "guardrail".into(),
            action: "source.down".into(),
            subject: target_subject(&w.target, &w.env),
            before: Some("up".into()),
            after: Some("down".into()),
            detail: serde_json::json!({
                "source": w.source.describe(),
                "reason": f.kind.name(),
                "error": f.message,
                "consecutive_failures": failures,
            }),
            ..Default::default()
        },
        cx.now,
    )?;
    Ok(())
}
