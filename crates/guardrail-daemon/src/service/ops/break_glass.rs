//! `POST /v1/changes/{id}/break-glass`: in an incident, a change not yet applied passes every
//! gate. A retro review opens (due after `server.retro_due`), and the break-glass notices are
//! written to the outbox in the same transaction.

use super::super::alerts::break_glass_notices;
use super::super::api::{BreakGlassBody, ChangeView};
use super::super::context::OpContext;
use super::super::input::{Text, text_field};
use super::super::queries::load_change;
use super::super::{Result, Service, ServiceError, require};
use super::{audit_change, transition};
use guardrail_core::change::State;
use guardrail_store::{BreakGlass, ChangeRow, Identity, RetroReview, Role, Tx};

/// A break-glass needs a reason and an incident id, one line each (422 naming the field).
fn check_body(body: &BreakGlassBody) -> Result<()> {
    text_field("reason", &body.reason, Text::Line)?;
    text_field("incident", &body.incident, Text::Line)?;
    if body.reason.trim().is_empty() {
        return Err(ServiceError::invalid(
            "reason",
            "break-glass needs a reason",
        ));
    }
    if body.incident.trim().is_empty() {
        return Err(ServiceError::invalid(
            "incident",
            "break-glass needs an incident id",
        ));
    }
    Ok(())
}

/// Whether a change in `state` can still be pushed by break-glass: open (scheduled included),
/// rejected, denied. An applied change has passed its gate; the other states are closed.
fn may_break_glass(c: &ChangeRow) -> Result<()> {
    if c.state.accepts_revision() {
        return Ok(());
    }
    Err(ServiceError::conflict(format!(
        "change {} is {}; break-glass applies to a change not yet applied",
        c.id, c.state
    )))
}

impl Service {
    /// `POST /v1/changes/{id}/break-glass`: passes every gate, opens a retro review.
    pub fn break_glass(&self, who: &Identity, id: i64, body: BreakGlassBody) -> Result<ChangeView> {
        require(who, Role::Breakglass)?;
        check_body(&body)?;
        self.change_op(who, id, |tx, cx| {
            let mut c = load_change(tx, id)?;
            may_break_glass(&c)?;
            c.doc.break_glass = Some(BreakGlass {
                by: who.user.clone(),
                reason: body.reason.clone(),
                incident: body.incident.clone(),
                at: cx.now,
            });
            let (rid, due) = open_retro(tx, cx, &c)?;
            let detail = serde_json::json!({"reason": body.reason, "incident": body.incident, "retro_review": rid, "retro_due": due, "mandatory_overridden": c.doc.mandatory});
            // An approved or scheduled change stays where it is (the gate lets break-glass pass
            // the schedule too); any other moves to approved.
            if matches!(c.state, State::Approved | State::Scheduled) {
                tx.update_change(&c)?;
                audit_change(tx, cx, "change.break_glass", &c, Some(c.state), detail)?;
            } else {
                transition(tx, cx, &mut c, State::Approved, "change.break_glass", detail)?;
            }
            cx.fx.break_glass += 1;
            break_glass_notices(tx, cx, &c)
        })
    }
}

/// Opens the retro review of a break-glass by `cx.actor`; returns its id and when it is due.
fn open_retro(
    tx: &mut dyn Tx,
    cx: &OpContext<'_>,
    c: &ChangeRow,
) -> Result<(i64, chrono::DateTime<chrono::Utc>)> {
    let due = cx.now + cx.rt.retro_due;
    let rid = tx.insert_retro(&RetroReview {
        id: 0,
        change_id: c.id,
        opened_by: Some(cx.actor.to_string()),
        opened_at: cx.now,
        due_at: due,
        closed_at: None,
        closed_by: None,
        note: None,
    })?;
    Ok((rid, due))
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{APP, CHANGES, World, user};
    use super::*;

    fn glass(incident: &str) -> BreakGlassBody {
        BreakGlassBody {
            reason: "outage".into(),
            incident: incident.into(),
        }
    }

    #[test]
    fn break_glass_needs_an_incident_and_a_change_not_yet_applied() {
        let w = World::new(CHANGES);
        let bob = user("bob", &[Role::Breakglass]);
        let c = w.submitted("staging", APP);
        let e = w.svc.break_glass(&bob, c.id, glass(" ")).unwrap_err();
        assert!(
            matches!(&e, ServiceError::Unprocessable { field: Some(f), .. } if f == "incident"),
            "{e:?}"
        );
        w.apply(c.id).unwrap();
        let e = w.svc.break_glass(&bob, c.id, glass("INC-7")).unwrap_err();
        assert!(matches!(e, ServiceError::Conflict { .. }), "{e:?}");
        let e = w
            .svc
            .break_glass(&user("rita", &[Role::Requester]), c.id, glass("INC-7"))
            .unwrap_err();
        assert!(matches!(e, ServiceError::Forbidden(_)), "{e:?}");
        assert_eq!(w.svc.metrics.changes.break_glass.get(), 0);
    }

    #[test]
    fn break_glass_approves_and_opens_a_retro_review() {
        let w = World::new(CHANGES);
        let c = w.submitted("production", APP);
        let bob = user("bob", &[Role::Breakglass]);
        let b = w.svc.break_glass(&bob, c.id, glass("INC-7")).unwrap();
        assert_eq!(b.state, "approved");
        assert_eq!(b.break_glass.as_ref().map(|g| g.by.as_str()), Some("bob"));
        assert!(b.gate.decision.allow, "{:?}", b.gate);
        assert_eq!(w.last_action(), "change.break_glass");
        let retros = w.svc.retros(true).unwrap();
        assert_eq!(
            (
                retros.len(),
                retros[0].change_id,
                retros[0].opened_by.as_deref()
            ),
            (1, c.id, Some("bob"))
        );
        assert_eq!(w.svc.metrics.changes.break_glass.get(), 1);
    }
}
