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
use guardrail_core::policy::ChangeInfo;
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
        let revision = Revision {
            env: &req.env,
            info: ChangeInfo {
                author: who.user.clone(),
                ticket: req.ticket.clone(),
                title: req.title.clone(),
            },
            contents: &req.targets,
        };
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
