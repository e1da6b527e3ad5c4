//! `POST /v1/changes/{id}/applied`: the deploy happened. Refused (409) unless the gate allows
//! the change now; the change's content becomes the baselines, and the other open changes of
//! its targets are superseded (their base moved). Drift polling records an approved change it
//! sees live the same way ([`record_applied`]).

use super::super::api::{ChangeView, NoteBody};
use super::super::context::OpContext;
use super::super::gates::gate_of;
use super::super::input::{Text, text_field};
use super::super::queries::load_change;
use super::super::{Result, Service, ServiceError, require};
use super::{open_states, transition};
use guardrail_core::change::{GateDecision, State};
use guardrail_store::{BaselineRow, ChangeRow, ChangeTarget, Identity, Role, Tx};

/// Refuses (409, with the gate's reasons) a change the gate does not let through now.
fn may_apply(id: i64, decision: &GateDecision) -> Result<()> {
    if decision.allow {
        return Ok(());
    }
    Err(ServiceError::Conflict {
        message: format!("change {id} may not be applied now"),
        reasons: decision.reasons.clone(),
    })
}

impl Service {
    /// `POST /v1/changes/{id}/applied`: the deploy happened; the baselines move. Refused (409)
    /// unless the gate allows the change now.
    pub fn applied(&self, who: &Identity, id: i64, body: NoteBody) -> Result<ChangeView> {
        require(who, Role::Deployer)?;
        text_field("note", &body.note, Text::Lines)?;
        self.change_op(who, id, |tx, cx| {
            let mut c = load_change(tx, id)?;
            let (_, decision) = gate_of(tx, cx.rt, &c, cx.now)?;
            may_apply(id, &decision)?;
            record_applied(tx, cx, &mut c, &body.note, &decision.overridden)
        })
    }
}

/// Moves a change to `applied`, its content to the baselines, and supersedes the other open
/// changes of its targets (whose base has moved). Shared with drift polling.
pub(super) fn record_applied(
    tx: &mut dyn Tx,
    cx: &mut OpContext<'_>,
    c: &mut ChangeRow,
    note: &str,
    overridden: &[String],
) -> Result<()> {
    c.doc.applied_at = Some(cx.now);
    let targets = tx.change_targets(c.id)?;
    let detail = serde_json::json!({"note": note, "overridden": overridden});
    transition(tx, cx, c, State::Applied, "change.applied", detail)?;
    for t in &targets {
        tx.insert_baseline(&baseline_of(c, t, cx))?;
        supersede_others(tx, cx, c, &t.target)?;
    }
    Ok(())
}

/// The baseline an applied change's target becomes.
fn baseline_of(c: &ChangeRow, t: &ChangeTarget, cx: &OpContext<'_>) -> BaselineRow {
    BaselineRow {
        id: 0,
        target: t.target.clone(),
        env: c.env.clone(),
        content: t.content.clone(),
        content_hash: t.content_hash.clone(),
        format: t.format.clone(),
        change_id: Some(c.id),
        origin: "change".into(),
        applied_at: cx.now,
        rolled_back_at: None,
    }
}

/// Supersedes every other open change of `target` in the environment of applied change `c`.
fn supersede_others(
    tx: &mut dyn Tx,
    cx: &mut OpContext<'_>,
    c: &ChangeRow,
    target: &str,
) -> Result<()> {
    for mut other in tx.changes_with_target(&c.env, target, None, &open_states())? {
        if other.id == c.id {
            continue;
        }
        let detail = serde_json::json!({"by_change": c.id, "target": target});
        transition(
            tx,
            cx,
            &mut other,
            State::Superseded,
            "change.superseded",
            detail,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{APP, CHANGES, World, requester};
    use super::*;

    #[test]
    fn a_change_the_gate_does_not_allow_is_not_applied() {
        let w = World::new(CHANGES);
        let c = w.submitted("production", APP);
        let e = w.apply(c.id).unwrap_err();
        let ServiceError::Conflict { reasons, .. } = e else {
            panic!("{e:?}")
        };
        assert!(!reasons.is_empty());
        assert_eq!(w.state(c.id), "awaiting_approval");
        let e = w
            .svc
            .applied(&requester(), c.id, NoteBody::default())
            .unwrap_err();
        assert!(matches!(e, ServiceError::Forbidden(_)), "{e:?}");
    }

    #[test]
    fn an_applied_change_becomes_the_baseline_and_supersedes_the_others() {
        let w = World::new(CHANGES);
        let c = w.submitted("staging", APP);
        let other = w.submitted("staging", "replicas: 5\n");
        let a = w.apply(c.id).unwrap();
        assert_eq!(a.state, "applied");
        assert!(a.applied_at.is_some());
        assert_eq!(w.state(other.id), "superseded");
        let actions = w.audit_actions();
        assert_eq!(
            actions[actions.len() - 2..],
            ["change.applied", "change.superseded"]
        );
        let g = w.svc.gate("app", "staging", &c.content_hash).unwrap();
        assert!(
            g.allow && g.reasons[0].contains("already the baseline"),
            "{g:?}"
        );
        assert_eq!(w.transitions("approved", "applied"), 1);
    }
}
