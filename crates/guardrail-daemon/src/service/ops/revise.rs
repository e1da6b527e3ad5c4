//! `POST /v1/changes/{id}/revisions`: new content for an open change; its approvals are voided,
//! it goes back to `proposed` and is evaluated again.

use super::super::api::{ChangeView, ReviseChange};
use super::super::context::OpContext;
use super::super::input::{Text, text_field};
use super::super::queries::load_change;
use super::super::{Result, Service, ServiceError, require};
use super::revision::{Evaluated, Revision};
use super::{author_or_admin, transition};
use guardrail_core::change::State;
use guardrail_core::policy::ChangeInfo;
use guardrail_store::{self as store, ChangeRow, Identity, Role, Tx};

/// Whether `who` may revise change `c`: its author or an admin, while it is open.
fn may_revise(who: &Identity, c: &ChangeRow) -> Result<()> {
    author_or_admin(who, c, "revise")?;
    if !c.state.accepts_revision() {
        return Err(ServiceError::conflict(format!(
            "a change in state {} takes no new revision",
            c.state
        )));
    }
    Ok(())
}

impl Service {
    /// `POST /v1/changes/{id}/revisions`: new content, approvals voided, evaluated again.
    pub fn revise(&self, who: &Identity, id: i64, req: ReviseChange) -> Result<ChangeView> {
        require(who, Role::Requester)?;
        text_field("commit", &req.commit, Text::Line)?;
        // Who may revise, checked before the (costly) evaluation and again inside the write.
        let before = store::read(self.store.as_ref(), |tx| load_change(tx, id))?;
        may_revise(who, &before)?;
        let revision = Revision {
            env: &before.env,
            info: ChangeInfo {
                author: before.author.clone(),
                ticket: before.doc.ticket.clone(),
                title: before.doc.title.clone(),
            },
            contents: &req.targets,
        };
        self.store_revision(&who.user, &revision, |tx, cx, ev| {
            let mut c = load_change(tx, id)?;
            may_revise(who, &c)?;
            if c.revision != before.revision {
                return Err(ServiceError::conflict(format!(
                    "change {id} got revision {} while this one was evaluated; revise it again",
                    c.revision
                )));
            }
            store_revision_of(tx, cx, &mut c, &req, ev)
        })?;
        self.show(id, false)
    }
}

/// Stores revision `ev` of change `c`: approvals voided, back to `proposed`, then to the state
/// its evaluation decided.
fn store_revision_of(
    tx: &mut dyn Tx,
    cx: &mut OpContext<'_>,
    c: &mut ChangeRow,
    req: &ReviseChange,
    mut ev: Evaluated,
) -> Result<()> {
    let voided = tx.void_approvals(c.id, "new revision", cx.now)?;
    if voided > 0 {
        cx.fx.invalidated.push(("new_revision", voided as u64));
    }
    c.revision += 1;
    c.content_hash = ev.content_hash.clone();
    c.doc.requirements = ev.requirements.clone();
    c.doc.mandatory = ev.mandatory.clone();
    c.doc.verdict = ev.verdict.clone();
    c.doc.scheduled_at = None;
    c.doc.break_glass = None;
    if !req.commit.is_empty() {
        c.doc.commit = req.commit.clone();
    }
    tx.set_change_targets(c.id, &ev.targets)?;
    tx.set_change_evaluation(c.id, &ev.report_json)?;
    let detail = serde_json::json!({"revision": c.revision, "approvals_voided": voided});
    transition(tx, cx, c, State::Proposed, "change.revise", detail)?;
    let verdict = serde_json::json!({"verdict": ev.verdict});
    transition(tx, cx, c, ev.state, "change.evaluate", verdict)?;
    ev.count(cx);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{APP, CHANGES, World, other_requester, requester};
    use super::*;
    use crate::service::api::TargetContent;

    fn revision(content: &str) -> ReviseChange {
        ReviseChange {
            commit: "abc123".into(),
            targets: vec![TargetContent {
                target: "app".into(),
                content: content.into(),
                format: None,
            }],
        }
    }

    #[test]
    fn only_the_author_revises_and_only_an_open_change() {
        let w = World::new(CHANGES);
        let c = w.submitted("production", APP);
        let e = w
            .svc
            .revise(&other_requester(), c.id, revision("replicas: 4\n"))
            .unwrap_err();
        assert!(matches!(e, ServiceError::Forbidden(_)), "{e:?}");
        w.svc
            .cancel(&requester(), c.id, Default::default())
            .unwrap();
        let e = w
            .svc
            .revise(&requester(), c.id, revision("replicas: 4\n"))
            .unwrap_err();
        assert!(matches!(e, ServiceError::Conflict { .. }), "{e:?}");
        assert_eq!(w.last_action(), "change.cancel");
    }

    #[test]
    fn a_revision_voids_the_approvals_and_is_evaluated_again() {
        let w = World::new(CHANGES);
        let c = w.submitted("production", APP);
        let c = w.approve(&c).unwrap();
        assert_eq!(c.state, "approved");
        let r = w
            .svc
            .revise(&requester(), c.id, revision("replicas: 4\n"))
            .unwrap();
        assert_eq!(
            (r.state.as_str(), r.revision, r.commit.as_str()),
            ("awaiting_approval", 2, "abc123")
        );
        assert_ne!(r.content_hash, c.content_hash);
        assert!(r.approvals.is_empty(), "{:?}", r.approvals);
        let actions = w.audit_actions();
        assert_eq!(
            actions[actions.len() - 2..],
            ["change.revise", "change.evaluate"]
        );
        let voided = crate::metrics::ReasonLabel {
            reason: "new_revision".into(),
        };
        let m = &w.svc.metrics.changes.approvals_invalidated;
        assert_eq!(m.get_or_create(&voided).get(), 1);
    }
}
