//! `POST /v1/changes/{id}/approvals`: an approval or a rejection of the content an approver
//! reviewed. A rejection rejects the change; the approval that satisfies every requirement
//! approves it (`change::gate::approval_status` counts them).

use super::super::api::{ApprovalBody, ChangeView, DecisionBody};
use super::super::context::OpContext;
use super::super::gates::gate_of;
use super::super::input::{Text, text_field};
use super::super::queries::load_change;
use super::super::{Result, Service, ServiceError, require};
use super::{audit_change, transition};
use guardrail_core::change::{ApprovalStatus, Decision, State};
use guardrail_store::{ApprovalRow, ChangeRow, Identity, Role, Tx};

/// Whether `who` may record `decision` on change `c` having reviewed `reviewed`: the content
/// must still be the one reviewed (409), the author never approves (403), and only a change
/// waiting for approvals or approved takes one (409).
fn may_review(who: &Identity, c: &ChangeRow, decision: Decision, reviewed: &str) -> Result<()> {
    let id = c.id;
    if reviewed != c.content_hash {
        return Err(ServiceError::Conflict {
            message: format!(
                "change {id} moved to content {} (revision {}); you reviewed {reviewed}",
                c.content_hash, c.revision
            ),
            reasons: vec!["review the new revision and approve its content hash".into()],
        });
    }
    if decision == Decision::Approve && c.author == who.user {
        return Err(ServiceError::Forbidden(
            "the author cannot approve their own change".into(),
        ));
    }
    if !matches!(
        c.state,
        State::AwaitingApproval | State::Approved | State::Scheduled
    ) {
        return Err(ServiceError::conflict(format!(
            "change {id} is {}; it takes no approvals",
            c.state
        )));
    }
    Ok(())
}

/// Where a review leaves a change in `state` whose approvals now stand at `status`: rejected
/// when anyone rejected it, approved when it was waiting and every requirement is met,
/// unchanged otherwise.
fn after_review(status: &ApprovalStatus, state: State) -> Option<(State, &'static str)> {
    if status.rejected_by.is_some() {
        Some((State::Rejected, "change.rejected"))
    } else if status.satisfied && state == State::AwaitingApproval {
        Some((State::Approved, "change.approved"))
    } else {
        None
    }
}

impl Service {
    /// `POST /v1/changes/{id}/approvals`.
    pub fn approve(&self, who: &Identity, id: i64, body: ApprovalBody) -> Result<ChangeView> {
        require(who, Role::Approver)?;
        text_field("comment", &body.comment, Text::Lines)?;
        let decision = match body.decision {
            DecisionBody::Approve => Decision::Approve,
            DecisionBody::Reject => Decision::Reject,
        };
        self.change_op(who, id, |tx, cx| {
            let mut c = load_change(tx, id)?;
            may_review(who, &c, decision, &body.content_hash)?;
            record_review(tx, cx, who, &c, decision, &body)?;
            let (status, _) = gate_of(tx, cx.rt, &c, cx.now)?;
            if let Some((to, action)) = after_review(&status, c.state) {
                let detail = match to {
                    State::Rejected => serde_json::json!({"by": who.user}),
                    _ => serde_json::json!({"counted": status.counted}),
                };
                transition(tx, cx, &mut c, to, action, detail)?;
            }
            Ok(())
        })
    }
}

/// Stores the approval or rejection and its audit record.
fn record_review(
    tx: &mut dyn Tx,
    cx: &mut OpContext<'_>,
    who: &Identity,
    c: &ChangeRow,
    decision: Decision,
    body: &ApprovalBody,
) -> Result<()> {
    let aid = tx.insert_approval(&ApprovalRow {
        id: 0,
        change_id: c.id,
        user: who.user.clone(),
        groups: who.groups.clone(),
        decision,
        comment: body.comment.clone(),
        content_hash: body.content_hash.clone(),
        at: cx.now,
        voided: None,
    })?;
    cx.fx.approvals.push(decision.name());
    let detail =
        serde_json::json!({"approval": aid, "comment": body.comment, "groups": who.groups});
    let action = format!("change.{}", decision.name());
    audit_change(tx, cx, &action, c, Some(c.state), detail)
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{APP, CHANGES, World, requester, user};
    use super::*;
    use crate::metrics::DecisionLabel;

    fn review(c: &ChangeView, decision: DecisionBody) -> ApprovalBody {
        ApprovalBody {
            decision,
            comment: String::new(),
            content_hash: c.content_hash.clone(),
        }
    }

    #[test]
    fn the_author_never_approves_and_a_stale_review_is_refused() {
        let w = World::new(CHANGES);
        let c = w.submitted("production", APP);
        let author = user("rita", &[Role::Requester, Role::Approver]);
        let e = w
            .svc
            .approve(&author, c.id, review(&c, DecisionBody::Approve))
            .unwrap_err();
        assert!(matches!(e, ServiceError::Forbidden(_)), "{e:?}");
        let mut stale = review(&c, DecisionBody::Approve);
        stale.content_hash = "sha256:0000".into();
        let e = w
            .svc
            .approve(&user("dana", &[Role::Approver]), c.id, stale)
            .unwrap_err();
        assert!(matches!(e, ServiceError::Conflict { .. }), "{e:?}");
        assert_eq!(w.state(c.id), "awaiting_approval");
        assert_eq!(w.last_action(), "change.evaluate");
        let cancelled = w.submitted("production", "replicas: 5\n");
        w.svc
            .cancel(&requester(), cancelled.id, Default::default())
            .unwrap();
        let e = w.approve(&cancelled).unwrap_err();
        assert!(matches!(e, ServiceError::Conflict { .. }), "{e:?}");
    }

    #[test]
    fn the_approval_that_meets_the_requirements_approves_and_a_rejection_rejects() {
        let w = World::new(CHANGES);
        let c = w.submitted("production", APP);
        let approved = w.approve(&c).unwrap();
        assert_eq!(approved.state, "approved");
        assert_eq!(
            w.audit_actions()[2..],
            ["change.approve", "change.approved"]
        );
        let d = w.submitted("production", "replicas: 5\n");
        let rejected = w
            .svc
            .approve(
                &user("dana", &[Role::Approver]),
                d.id,
                review(&d, DecisionBody::Reject),
            )
            .unwrap();
        assert_eq!(rejected.state, "rejected");
        assert_eq!(w.last_action(), "change.rejected");
        let m = &w.svc.metrics.changes.approvals;
        for decision in ["approve", "reject"] {
            let l = DecisionLabel {
                decision: decision.into(),
            };
            assert_eq!(m.get_or_create(&l).get(), 1, "{decision}");
        }
    }

    #[test]
    fn after_a_review_only_a_rejection_or_met_requirements_move_the_change() {
        let mut status = ApprovalStatus::default();
        assert_eq!(after_review(&status, State::AwaitingApproval), None);
        status.satisfied = true;
        assert_eq!(
            after_review(&status, State::AwaitingApproval),
            Some((State::Approved, "change.approved"))
        );
        assert_eq!(after_review(&status, State::Scheduled), None);
        status.rejected_by = Some("dana".into());
        assert_eq!(
            after_review(&status, State::Scheduled),
            Some((State::Rejected, "change.rejected"))
        );
    }
}
