//! `POST /v1/drift/{id}/adopt`: the drifted content becomes a change through the normal gates
//! (the evaluation of `submit`). When it is approved and its window open, the poller records it
//! as applied on its next poll (or a deployer reports it applied) and the drift resolves.

use super::super::api::{ChangeView, SubmitChange, TargetContent};
use super::super::drift::AdoptBody;
use super::super::input::{Text, text_field};
use super::super::{Result, Service, ServiceError, require};
use super::revision::Revision;
use super::submit::store_new_change;
use guardrail_core::change::audit::AuditEntry;
use guardrail_store::{self as store, DriftRow, Identity, Role, Tx};

/// Drift `id` if it may be adopted: open (409 otherwise), and not being adopted already by a
/// change still open (409). Checked before the (costly) evaluation, and again in the one
/// transaction that creates the change, so two adopts of one drift cannot both create a change
/// and the change never exists without the drift's link to it.
fn adoptable(tx: &mut dyn Tx, id: i64) -> Result<DriftRow> {
    let d = tx
        .drift(id)?
        .ok_or_else(|| ServiceError::NotFound(format!("drift {id} does not exist")))?;
    if d.status != "open" {
        return Err(ServiceError::conflict(format!(
            "drift {id} is {}; only an open drift can be adopted",
            d.status
        )));
    }
    if let Some(c) = d.adopted_change_id
        && let Some(existing) = tx.change(c)?
        && existing.state.accepts_revision()
    {
        return Err(ServiceError::Conflict {
            message: format!("drift {id} is already being adopted by change {c}"),
            reasons: vec![format!("change {c} is {}", existing.state)],
        });
    }
    Ok(d)
}

/// The change that adopts drift `d`: its live content as the new content of its target.
fn adopting_change(d: &DriftRow, body: &AdoptBody) -> SubmitChange {
    let title = body
        .title
        .clone()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| format!("Adopt drift {} of {} in {}", d.id, d.target, d.env));
    SubmitChange {
        env: d.env.clone(),
        title,
        ticket: body.ticket.clone(),
        source_url: String::new(),
        commit: String::new(),
        targets: vec![TargetContent {
            target: d.target.clone(),
            content: d.live_content.clone(),
            format: Some(d.format.clone()),
        }],
    }
}

impl Service {
    /// `POST /v1/drift/{id}/adopt`: a change with the drifted content, through the normal
    /// gates (`submit`).
    pub fn adopt(&self, who: &Identity, id: i64, body: AdoptBody) -> Result<ChangeView> {
        require(who, Role::Requester)?;
        text_field("ticket", &body.ticket, Text::Line)?;
        if let Some(t) = &body.title {
            text_field("title", t, Text::Line)?;
        }
        let seen = store::read(self.store.as_ref(), |tx| adoptable(tx, id))?;
        let req = adopting_change(&seen, &body);
        let revision = Revision::submitted(&who.user, &req);
        let change_id = self.store_revision(&who.user, &revision, |tx, cx, ev| {
            let mut d = adoptable(tx, id)?;
            if d.live_hash != seen.live_hash {
                return Err(ServiceError::conflict(format!(
                    "drift {id} moved to live content {} while it was being adopted; adopt it again",
                    d.live_hash
                )));
            }
            let change_id = store_new_change(tx, cx, &req, ev)?;
            d.adopted_change_id = Some(change_id);
            tx.update_drift(&d)?;
            tx.append_audit(
                &AuditEntry {
                    actor: who.user.clone(),
                    action: "drift.adopt".into(),
                    subject: format!("drift/{id}"),
                    content_hash: Some(d.live_hash.clone()),
                    detail: serde_json::json!({"change": change_id, "target": d.target, "env": d.env}),
                    ..Default::default()
                },
                cx.now,
            )?;
            Ok(change_id)
        })?;
        self.show(change_id, false)
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{WATCHED, World, admin};
    use super::*;

    #[test]
    fn only_an_open_drift_is_adopted() {
        let w = World::new(WATCHED);
        let e = w.svc.adopt(&admin(), 7, AdoptBody::default()).unwrap_err();
        assert!(matches!(e, ServiceError::NotFound(_)), "{e:?}");
        w.poll("app", "replicas: 2\n");
        let id = w.poll("app", "replicas: 5\n").drift_id.unwrap();
        w.advance(1);
        w.poll("app", "replicas: 2\n");
        w.advance(5);
        assert_eq!(w.poll("app", "replicas: 2\n").outcome, "drift_resolved");
        let e = w.svc.adopt(&admin(), id, AdoptBody::default()).unwrap_err();
        assert!(matches!(e, ServiceError::Conflict { .. }), "{e:?}");
        assert!(!w.audit_actions().contains(&"drift.adopt".to_string()));
    }

    #[test]
    fn an_adopted_drift_becomes_a_change_linked_to_it() {
        let w = World::new(WATCHED);
        w.poll("app", "replicas: 2\n");
        let id = w.poll("app", "replicas: 5\n").drift_id.unwrap();
        let body = AdoptBody {
            title: Some("keep five replicas".into()),
            ticket: "OPS-2".into(),
        };
        let c = w.svc.adopt(&admin(), id, body).unwrap();
        assert_eq!(
            (c.title.as_str(), c.state.as_str()),
            ("keep five replicas", "approved")
        );
        assert_eq!(w.svc.drift_show(id).unwrap().adopted_change_id, Some(c.id));
        let actions = w.audit_actions();
        assert_eq!(
            actions[actions.len() - 3..],
            ["change.submit", "change.evaluate", "drift.adopt"]
        );
    }
}
