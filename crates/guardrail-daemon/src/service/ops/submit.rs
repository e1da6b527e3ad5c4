//! `POST /v1/changes`: a new change of one or more targets of one environment, evaluated
//! against the baselines and stored `proposed`, then moved to the state its evaluation decided
//! (`approved`, `awaiting_approval` or `denied`).

use super::super::api::{ChangeView, SubmitChange};
use super::super::context::OpContext;
use super::super::input::{Text, text_field};
use super::super::{Result, Service, ServiceError, require};
use super::revision::{Evaluated, Revision};
use super::{audit_change, transition};
use guardrail_core::change::State;
use guardrail_store::{ChangeDoc, ChangeRow, Identity, Role, Tx};

/// Refuses control characters in the free text of a submission and a change without a title
/// (422 naming the field).
fn check_submission(req: &SubmitChange) -> Result<()> {
    text_field("title", &req.title, Text::Line)?;
    text_field("ticket", &req.ticket, Text::Line)?;
    text_field("source_url", &req.source_url, Text::Line)?;
    text_field("commit", &req.commit, Text::Line)?;
    text_field("env", &req.env, Text::Line)?;
    if req.title.trim().is_empty() {
        return Err(ServiceError::invalid("title", "a change needs a title"));
    }
    Ok(())
}

impl Service {
    /// `POST /v1/changes`.
    pub fn submit(&self, who: &Identity, req: SubmitChange) -> Result<ChangeView> {
        require(who, Role::Requester)?;
        check_submission(&req)?;
        let revision = Revision::submitted(&who.user, &req);
        let id = self.store_revision(&who.user, &revision, |tx, cx, ev| {
            store_new_change(tx, cx, &req, ev)
        })?;
        self.show(id, false)
    }
}

/// Stores a new change evaluated as `ev`, written by `cx.actor`, inside the caller's
/// transaction; returns its id. Shared with `drift adopt`.
pub(super) fn store_new_change(
    tx: &mut dyn Tx,
    cx: &mut OpContext<'_>,
    req: &SubmitChange,
    mut ev: Evaluated,
) -> Result<i64> {
    let now = cx.now;
    let env = cx.rt.settings.env(&req.env);
    let mut c = ChangeRow {
        id: 0,
        env: req.env.clone(),
        state: State::Proposed,
        author: cx.actor.to_string(),
        content_hash: ev.content_hash.clone(),
        revision: 1,
        created_at: now,
        updated_at: now,
        doc: ChangeDoc {
            title: req.title.clone(),
            ticket: req.ticket.clone(),
            source_url: req.source_url.clone(),
            commit: req.commit.clone(),
            requirements: ev.requirements.clone(),
            mandatory: ev.mandatory.clone(),
            verdict: ev.verdict.clone(),
            expires_at: Some(now + env.expire_after),
            ..Default::default()
        },
    };
    c.id = tx.insert_change(&c)?;
    tx.set_change_targets(c.id, &ev.targets)?;
    tx.set_change_evaluation(c.id, &ev.report_json)?;
    let targets: Vec<_> = ev
        .targets
        .iter()
        .map(|t| serde_json::json!({"target": t.target, "content_hash": t.content_hash}))
        .collect();
    let detail = serde_json::json!({
        "title": req.title,
        "ticket": req.ticket,
        "source_url": req.source_url,
        "commit": req.commit,
        "targets": targets,
        "verdict": ev.verdict,
    });
    audit_change(tx, cx, "change.submit", &c, None, detail)?;
    let verdict = serde_json::json!({"verdict": ev.verdict});
    transition(tx, cx, &mut c, ev.state, "change.evaluate", verdict)?;
    ev.count(cx);
    Ok(c.id)
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{APP, CHANGES, World, requester, user};
    use super::*;

    #[test]
    fn a_change_without_a_title_is_refused_and_nothing_is_stored() {
        let w = World::new(CHANGES);
        let mut req = SubmitChange {
            env: "staging".into(),
            title: "  ".into(),
            ticket: String::new(),
            source_url: String::new(),
            commit: String::new(),
            targets: vec![super::super::super::api::TargetContent {
                target: "app".into(),
                content: APP.into(),
                format: None,
            }],
        };
        let e = w.svc.submit(&requester(), req.clone()).unwrap_err();
        assert!(
            matches!(&e, ServiceError::Unprocessable { field: Some(f), .. } if f == "title"),
            "{e:?}"
        );
        req.title = "raise replicas".into();
        let e = w
            .svc
            .submit(&user("olga", &[Role::Deployer]), req)
            .unwrap_err();
        assert!(matches!(e, ServiceError::Forbidden(_)), "{e:?}");
        assert!(w.audit_actions().is_empty());
    }

    #[test]
    fn an_unknown_environment_or_target_is_refused_naming_the_field() {
        let w = World::new(CHANGES);
        let e = w
            .submit_as(&requester(), "app", "prodution", APP)
            .unwrap_err();
        assert!(
            matches!(&e, ServiceError::Unprocessable { field: Some(f), message } if f == "env" && message.contains("production")),
            "{e:?}"
        );
        let e = w.submit_as(&requester(), "ap", "staging", APP).unwrap_err();
        assert!(
            matches!(&e, ServiceError::Unprocessable { field: Some(f), .. } if f == "targets[0].target"),
            "{e:?}"
        );
        assert!(w.audit_actions().is_empty());
    }

    #[test]
    fn a_submission_is_stored_evaluated_audited_and_counted() {
        let w = World::new(CHANGES);
        let c = w.submitted("production", APP);
        assert_eq!(c.state, "awaiting_approval");
        assert_eq!((c.author.as_str(), c.revision), ("rita", 1));
        assert_eq!(w.audit_actions(), ["change.submit", "change.evaluate"]);
        assert_eq!(w.transitions("proposed", "awaiting_approval"), 1);
        assert!(
            w.svc
                .metrics
                .encode()
                .contains("guardrail_policy_evaluations_total{")
        );
        let staged = w.submitted("staging", APP);
        assert_eq!(staged.state, "approved", "staging needs no approval");
    }
}
