//! Alerts into the durable outbox, inside the caller's transaction: an alert-worthy state
//! change and its notifications commit together or not at all. One outbox row per receiver
//! that routes the event (`notify::Receivers`); the delivery loop (`delivery`) posts
//! them.
//!
//! State alerts (drift, source down, overdue retro review) are also kept in the `alerts` table
//! by key, so a resolve is sent once, after its alert, and Alertmanager can be reminded of
//! what is still firing.

use super::context::OpContext;
use super::{Result, Runtime, Service};
use crate::notify::{Event, EventKind, Severity, Status};
use guardrail_core::change::audit::AuditEntry;
use guardrail_store::{self as store, AlertRow, OutboxRow, RetroReview, Tx};

/// Writes one outbox row per receiver that routes `e` (and wakes the delivery loop after the
/// commit); returns how many.
pub(super) fn enqueue(tx: &mut dyn Tx, cx: &mut OpContext<'_>, e: &Event) -> Result<usize> {
    let payload = serde_json::to_string(e)
        .map_err(|err| store::StoreError::Backend(format!("event: {err}")))?;
    let now = cx.now;
    let mut n = 0;
    for r in cx.rt.receivers.route(e) {
        tx.insert_outbox(&OutboxRow {
            id: 0,
            receiver: r.name.clone(),
            event: e.event.name().to_string(),
            payload: payload.clone(),
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
            delivered_at: None,
            abandoned_at: None,
            last_error: None,
        })?;
        n += 1;
    }
    cx.fx.wake |= n > 0;
    Ok(n)
}

/// Fires a state alert (once: an alert already active under the key is only refreshed).
/// Returns whether it was new.
pub(super) fn fire(tx: &mut dyn Tx, cx: &mut OpContext<'_>, e: &Event) -> Result<bool> {
    let payload = serde_json::to_string(e)
        .map_err(|err| store::StoreError::Backend(format!("event: {err}")))?;
    if let Some(a) = tx.alert(&e.key)?
        && a.resolved_at.is_none()
    {
        tx.put_alert(&AlertRow { payload, ..a })?;
        return Ok(false);
    }
    tx.put_alert(&AlertRow {
        key: e.key.clone(),
        event: e.event.name().to_string(),
        payload,
        fired_at: cx.now,
        resolved_at: None,
    })?;
    enqueue(tx, cx, e)?;
    Ok(true)
}

/// Resolves the active alert under `key`, if any, and sends the resolve. Returns whether one
/// was active.
pub(super) fn resolve(
    tx: &mut dyn Tx,
    cx: &mut OpContext<'_>,
    key: &str,
    summary: String,
    details: serde_json::Value,
) -> Result<bool> {
    let now = cx.now;
    let Some(a) = tx.alert(key)?.filter(|a| a.resolved_at.is_none()) else {
        return Ok(false);
    };
    let fired: Event = serde_json::from_str(&a.payload)
        .map_err(|e| store::StoreError::Corrupt(format!("alert {key}: {e}")))?;
    let resolved = fired.resolved(now, summary, details);
    tx.put_alert(&AlertRow {
        resolved_at: Some(now),
        ..a
    })?;
    enqueue(tx, cx, &resolved)?;
    Ok(true)
}

/// Updates what an active alert says (for Alertmanager reminders), without notifying.
pub(super) fn refresh(tx: &mut dyn Tx, e: &Event) -> Result<()> {
    if let Some(a) = tx.alert(&e.key)?.filter(|a| a.resolved_at.is_none()) {
        let payload = serde_json::to_string(e)
            .map_err(|err| store::StoreError::Backend(format!("event: {err}")))?;
        tx.put_alert(&AlertRow { payload, ..a })?;
    }
    Ok(())
}

/// The severity of a target's alert: critical for a critical target or in production.
pub(super) fn target_severity(rt: &Runtime, target: &str, env: &str) -> Severity {
    let critical = rt.config.target(target).is_some_and(|t| t.critical);
    if critical || env == "production" {
        Severity::Critical
    } else {
        Severity::Warning
    }
}

/// The break-glass notices of a change, written with the break-glass itself: `break_glass`
/// always, `mandatory_overridden` when a mandatory rule blocked the change.
pub(super) fn break_glass_notices(
    tx: &mut dyn Tx,
    cx: &mut OpContext<'_>,
    c: &guardrail_store::ChangeRow,
) -> Result<()> {
    let Some(bg) = &c.doc.break_glass else {
        return Ok(());
    };
    let targets: Vec<String> = tx
        .change_targets(c.id)?
        .into_iter()
        .map(|t| t.target)
        .collect();
    let labels = [("change".to_string(), c.id.to_string())].into();
    let details = serde_json::json!({
        "change": c.id,
        "title": c.doc.title,
        "by": bg.by,
        "reason": bg.reason,
        "incident": bg.incident,
        "targets": targets,
        "mandatory_overridden": c.doc.mandatory,
    });
    let target = (targets.len() == 1).then(|| targets[0].clone());
    let base = Event {
        event: EventKind::BreakGlass,
        status: Status::Firing,
        key: format!("break_glass/change/{}", c.id),
        severity: Severity::Critical,
        summary: format!(
            "break-glass by {} on change {} ({}) in {}: {} (incident {})",
            bg.by, c.id, c.doc.title, c.env, bg.reason, bg.incident
        ),
        target,
        env: Some(c.env.clone()),
        starts_at: cx.now,
        ends_at: None,
        labels,
        details,
    };
    enqueue(tx, cx, &base)?;
    if !c.doc.mandatory.is_empty() {
        let e = Event {
            event: EventKind::MandatoryOverridden,
            key: format!("mandatory_overridden/change/{}", c.id),
            summary: format!(
                "break-glass by {} overrides {} mandatory finding(s) on change {} in {}: {}",
                bg.by,
                c.doc.mandatory.len(),
                c.id,
                c.env,
                c.doc.mandatory.join("; ")
            ),
            ..base
        };
        enqueue(tx, cx, &e)?;
    }
    Ok(())
}

impl Service {
    /// Fires `retro_overdue` for break-glass retro reviews past due and still open, and
    /// resolves it when they are closed. Run periodically by the notification loop.
    pub fn check_retro_reviews(&self) -> Result<()> {
        let rt = self.runtime();
        self.transact("guardrail", &rt, |tx, cx| {
            let open = tx.retros(true)?;
            let now = cx.now;
            for r in open.iter().filter(|r| r.due_at <= now) {
                retro_overdue(tx, cx, r)?;
            }
            for a in tx.active_alerts()? {
                let Some(id) = a
                    .key
                    .strip_prefix("retro_overdue/")
                    .and_then(|s| s.parse::<i64>().ok())
                else {
                    continue;
                };
                if !open.iter().any(|r| r.id == id) {
                    resolve(
                        tx,
                        cx,
                        &a.key,
                        format!("the retro review {id} was closed"),
                        serde_json::json!({"retro_review": id}),
                    )?;
                }
            }
            Ok(())
        })
    }
}

/// Fires `retro_overdue` for an open review past due (once) and audits it.
fn retro_overdue(tx: &mut dyn Tx, cx: &mut OpContext<'_>, r: &RetroReview) -> Result<()> {
    let key = format!("retro_overdue/{}", r.id);
    if tx.alert(&key)?.is_some() {
        return Ok(());
    }
    let e = Event {
        event: EventKind::RetroOverdue,
        status: Status::Firing,
        key,
        severity: Severity::Warning,
        summary: format!(
            "the retro review {} of break-glass change {} was due {} and is still open",
            r.id,
            r.change_id,
            r.due_at.to_rfc3339()
        ),
        target: None,
        env: None,
        starts_at: r.due_at,
        ends_at: None,
        labels: [
            ("retro".to_string(), r.id.to_string()),
            ("change".to_string(), r.change_id.to_string()),
        ]
        .into(),
        details: serde_json::json!({"retro_review": r.id, "change": r.change_id, "due_at": r.due_at}),
    };
    fire(tx, cx, &e)?;
    tx.append_audit(
        &AuditEntry {
            actor: "guardrail".into(),
            action: "retro.overdue".into(),
            subject: format!("retro/{}", r.id),
            detail: serde_json::json!({"change": r.change_id, "due_at": r.due_at}),
            ..Default::default()
        },
        cx.now,
    )?;
    Ok(())
}
