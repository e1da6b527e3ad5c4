//! `POST /v1/changes/{id}/verified`: an applied change is seen working. Drift polling verifies
//! a change the same way once every watched target of it shows its content live
//! ([`verify_target`]).

use super::super::api::{ChangeView, NoteBody};
use super::super::context::OpContext;
use super::super::input::{Text, text_field};
use super::super::queries::load_change;
use super::super::{Result, Service, require};
use super::transition;
use guardrail_core::change::State;
use guardrail_core::drift::Watch;
use guardrail_store::{ChangeRow, Identity, Role, Tx};

impl Service {
    /// `POST /v1/changes/{id}/verified`.
    pub fn verified(&self, who: &Identity, id: i64, body: NoteBody) -> Result<ChangeView> {
        require(who, Role::Deployer)?;
        text_field("note", &body.note, Text::Lines)?;
        self.change_op(who, id, |tx, cx| {
            let mut c = load_change(tx, id)?;
            record_verified(tx, cx, &mut c, &body.note)
        })
    }
}

/// Moves an applied change to `verified` (409 from any other state).
fn record_verified(
    tx: &mut dyn Tx,
    cx: &mut OpContext<'_>,
    c: &mut ChangeRow,
    note: &str,
) -> Result<()> {
    c.doc.verified_at = Some(cx.now);
    let detail = serde_json::json!({"note": note});
    transition(tx, cx, c, State::Verified, "change.verified", detail)
}

/// Whether every watched target of a change has been seen live with its content.
fn all_seen(watched: &[String], verified: &[String]) -> bool {
    watched.iter().all(|t| verified.contains(t))
}

/// Records that `w`'s live config shows change `cid`; when every watched target of the change
/// does, the change is `verified`.
pub(super) fn verify_target(
    tx: &mut dyn Tx,
    cx: &mut OpContext<'_>,
    w: &Watch,
    cid: i64,
) -> Result<()> {
    tx.insert_verification(cid, &w.target, &w.env, cx.now)?;
    let Some(mut c) = tx.change(cid)? else {
        return Ok(());
    };
    if c.state != State::Applied {
        return Ok(());
    }
    let verified = tx.verified_targets(cid)?;
    let watched: Vec<String> = tx
        .change_targets(cid)?
        .into_iter()
        .map(|t| t.target)
        .filter(|t| {
            cx.rt
                .watches
                .iter()
                .any(|x| &x.target == t && x.env == c.env)
        })
        .collect();
    if all_seen(&watched, &verified) {
        let note = format!("the live config of {} shows the change", watched.join(", "));
        record_verified(tx, cx, &mut c, &note)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{APP, CHANGES, World, deployer};
    use super::*;
    use crate::service::ServiceError;

    #[test]
    fn only_an_applied_change_is_verified() {
        let w = World::new(CHANGES);
        let c = w.submitted("staging", APP);
        let e = w
            .svc
            .verified(&deployer(), c.id, NoteBody::default())
            .unwrap_err();
        assert!(matches!(e, ServiceError::Conflict { .. }), "{e:?}");
        assert_eq!(w.state(c.id), "approved");
    }

    #[test]
    fn an_applied_change_is_verified() {
        let w = World::new(CHANGES);
        let c = w.submitted("staging", APP);
        w.apply(c.id).unwrap();
        let note = NoteBody {
            note: "dashboards green".into(),
        };
        let v = w.svc.verified(&deployer(), c.id, note).unwrap();
        assert_eq!(v.state, "verified");
        assert!(v.verified_at.is_some());
        assert_eq!(w.last_action(), "change.verified");
    }

    #[test]
    fn a_change_is_seen_everywhere_only_when_every_watched_target_showed_it() {
        let watched = ["a".to_string(), "b".to_string()];
        assert!(!all_seen(&watched, &["a".to_string()]));
        assert!(all_seen(&watched, &["b".to_string(), "a".to_string()]));
        assert!(all_seen(&[], &[]));
    }
}
