//! `POST /v1/changes/{id}/rolled_back`: an applied change was undone; each baseline it set is
//! marked rolled back, so the previous one is the baseline again.

use super::super::api::{ChangeView, NoteBody};
use super::super::context::OpContext;
use super::super::input::{Text, text_field};
use super::super::queries::load_change;
use super::super::{Result, Service, ServiceError, require};
use super::transition;
use guardrail_core::change::audit::AuditEntry;
use guardrail_core::change::{State, check_transition};
use guardrail_store::{ChangeRow, Identity, Role, Tx};

impl Service {
    /// `POST /v1/changes/{id}/rolled_back`: the previous baseline is restored.
    pub fn rolled_back(&self, who: &Identity, id: i64, body: NoteBody) -> Result<ChangeView> {
        require(who, Role::Deployer)?;
        text_field("note", &body.note, Text::Lines)?;
        self.change_op(who, id, |tx, cx| {
            let mut c = load_change(tx, id)?;
            check_transition(c.state, State::RolledBack)
                .map_err(|e| ServiceError::conflict(e.to_string()))?;
            let restored = restore_baselines(tx, cx, &c)?;
            c.doc.rolled_back_at = Some(cx.now);
            let detail = serde_json::json!({"note": body.note, "restored": restored});
            transition(
                tx,
                cx,
                &mut c,
                State::RolledBack,
                "change.rolled_back",
                detail,
            )
        })
    }
}

/// Marks rolled back every current baseline that change `c` set, each with its audit record;
/// returns what each target is back at.
fn restore_baselines(
    tx: &mut dyn Tx,
    cx: &OpContext<'_>,
    c: &ChangeRow,
) -> Result<Vec<serde_json::Value>> {
    let mut restored = Vec::new();
    for t in tx.change_targets(c.id)? {
        let Some(b) = tx
            .baseline(&t.target, &c.env)?
            .filter(|b| b.change_id == Some(c.id))
        else {
            continue;
        };
        tx.mark_rolled_back(b.id, cx.now)?;
        let back = tx.baseline(&t.target, &c.env)?;
        let back_hash = back.as_ref().map(|x| x.content_hash.clone());
        tx.append_audit(
            &AuditEntry {
                actor: cx.actor.to_string(),
                action: "baseline.restore".into(),
                subject: super::target_subject(&t.target, &c.env),
                before: Some(b.content_hash.clone()),
                after: back_hash.clone(),
                content_hash: back_hash.clone(),
                detail: serde_json::json!({"change": c.id, "restored_baseline": back.as_ref().map(|x| x.id)}),
            },
            cx.now,
        )?;
        restored.push(serde_json::json!({"target": t.target, "baseline": back_hash}));
    }
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{APP, CHANGES, World, deployer};
    use super::*;

    #[test]
    fn a_change_not_applied_is_not_rolled_back() {
        let w = World::new(CHANGES);
        let c = w.submitted("staging", APP);
        let e = w
            .svc
            .rolled_back(&deployer(), c.id, NoteBody::default())
            .unwrap_err();
        assert!(matches!(e, ServiceError::Conflict { .. }), "{e:?}");
        assert_eq!(w.state(c.id), "approved");
    }

    #[test]
    fn a_rollback_restores_the_previous_baseline() {
        let w = World::new(CHANGES);
        let first = w.submitted("staging", APP);
        w.apply(first.id).unwrap();
        let second = w.submitted("staging", "replicas: 5\n");
        w.apply(second.id).unwrap();
        let r = w
            .svc
            .rolled_back(&deployer(), second.id, NoteBody::default())
            .unwrap();
        assert_eq!(r.state, "rolled_back");
        let actions = w.audit_actions();
        assert_eq!(
            actions[actions.len() - 2..],
            ["baseline.restore", "change.rolled_back"]
        );
        let g = w.svc.gate("app", "staging", &first.content_hash).unwrap();
        assert!(
            g.allow && g.reasons[0].contains("already the baseline"),
            "{g:?}"
        );
        let g = w.svc.gate("app", "staging", &second.content_hash).unwrap();
        assert!(!g.allow, "{g:?}");
    }
}
