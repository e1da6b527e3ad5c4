//! The daemon's operations, one module each: its input (an API body from `service::api`, or a
//! poll), its checks and decisions (asking the pure core: `change::check_transition`,
//! `change::gate`, `drift::classify`; the rules that stay here are pure functions of the
//! module, unit-tested beside it), and its effect: one store transaction over an
//! [`OpContext`], whose metrics and notifications are applied after the commit
//! (`service::context`).
//!
//! | operation | module |
//! |---|---|
//! | submit, and the evaluation every revision goes through | `submit`, `revision` |
//! | revise | `revise` |
//! | approve / reject | `approve` |
//! | schedule | `schedule` |
//! | report applied (and what drift polling sees applied) | `apply` |
//! | verify (and drift polling's verification) | `verify` |
//! | roll back | `rollback` |
//! | cancel | `cancel` |
//! | break-glass | `break_glass` |
//! | close a retro review | `retro` |
//! | freeze, lift a freeze | `freeze` |
//! | the gate query | `gate` |
//! | expiry and lapsed approvals | `sweep` |
//! | record a drift poll | `drift_record` (with `drift_inputs`, `drift_open`, `source_health`) |
//! | adopt a drift | `adopt` |

mod adopt;
mod apply;
mod approve;
mod break_glass;
mod cancel;
mod drift_inputs;
mod drift_open;
mod drift_record;
mod freeze;
mod gate;
mod retro;
mod revise;
mod revision;
mod rollback;
mod schedule;
mod source_health;
mod submit;
mod sweep;
mod verify;

use super::api::ChangeView;
use super::context::OpContext;
use super::{Result, Service, ServiceError};
use guardrail_core::change::audit::AuditEntry;
use guardrail_core::change::{State, check_transition};
use guardrail_store::{ChangeRow, Identity, Tx};

impl Service {
    /// Runs one operation on change `id` as `who` in one write transaction, then shows the
    /// change as it is now.
    fn change_op(
        &self,
        who: &Identity,
        id: i64,
        f: impl FnOnce(&mut dyn Tx, &mut OpContext<'_>) -> Result<()>,
    ) -> Result<ChangeView> {
        let rt = self.runtime();
        self.transact(&who.user, &rt, f)?;
        self.show(id, false)
    }
}

/// Appends the audit record of an action on change `c` (its state now, `before` the action).
fn audit_change(
    tx: &mut dyn Tx,
    cx: &OpContext<'_>,
    action: &str,
    c: &ChangeRow,
    before: Option<State>,
    detail: serde_json::Value,
) -> Result<()> {
    tx.append_audit(
        &AuditEntry {
            actor: cx.actor.to_string(),
            action: action.to_string(),
            subject: format!("change/{}", c.id),
            before: before.map(|s| s.name().to_string()),
            after: Some(c.state.name().to_string()),
            content_hash: Some(c.content_hash.clone()),
            detail,
        },
        cx.now,
    )?;
    Ok(())
}

/// Moves a change to `to` (allowed by `change::check_transition`, else 409), stores it and
/// appends the audit record; the transition is counted after the commit.
fn transition(
    tx: &mut dyn Tx,
    cx: &mut OpContext<'_>,
    c: &mut ChangeRow,
    to: State,
    action: &str,
    detail: serde_json::Value,
) -> Result<()> {
    check_transition(c.state, to).map_err(|e| ServiceError::conflict(e.to_string()))?;
    let from = c.state;
    c.state = to;
    c.updated_at = cx.now;
    tx.update_change(c)?;
    audit_change(tx, cx, action, c, Some(from), detail)?;
    cx.fx
        .transitions
        .push((from.name().to_string(), to.name().to_string()));
    Ok(())
}

/// The states in which a change is still open to a new revision (and to being superseded).
fn open_states() -> Vec<State> {
    State::ALL
        .into_iter()
        .filter(|s| s.accepts_revision())
        .collect()
}

/// Only the author or an admin may `what` a change (revise, cancel).
fn author_or_admin(who: &Identity, c: &ChangeRow, what: &str) -> Result<()> {
    if c.author != who.user && !who.has(guardrail_store::Role::Admin) {
        return Err(ServiceError::Forbidden(format!(
            "only the author (or an admin) may {what} a change"
        )));
    }
    Ok(())
}

/// The audit subject of a target in an environment: `target/NAME@ENV`.
fn target_subject(target: &str, env: &str) -> String {
    format!("target/{target}@{env}")
}
