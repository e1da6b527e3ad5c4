//! `POST /v1/changes/{id}/cancel`: the author (or an admin) withdraws an open change.

use super::super::api::{ChangeView, NoteBody};
use super::super::input::{Text, text_field};
use super::super::queries::load_change;
use super::super::{Result, Service, require};
use super::{author_or_admin, transition};
use guardrail_core::change::State;
use guardrail_store::{Identity, Role};

impl Service {
    /// `POST /v1/changes/{id}/cancel`: by the author or an admin.
    pub fn cancel(&self, who: &Identity, id: i64, body: NoteBody) -> Result<ChangeView> {
        require(who, Role::Requester)?;
        text_field("note", &body.note, Text::Lines)?;
        self.change_op(who, id, |tx, cx| {
            let mut c = load_change(tx, id)?;
            author_or_admin(who, &c, "cancel")?;
            let detail = serde_json::json!({"note": body.note});
            transition(tx, cx, &mut c, State::Cancelled, "change.cancel", detail)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{APP, CHANGES, World, admin, other_requester, requester};
    use super::*;
    use crate::service::ServiceError;

    #[test]
    fn only_the_author_or_an_admin_cancels() {
        let w = World::new(CHANGES);
        let c = w.submitted("production", APP);
        let e = w
            .svc
            .cancel(&other_requester(), c.id, NoteBody::default())
            .unwrap_err();
        assert!(matches!(e, ServiceError::Forbidden(_)), "{e:?}");
        assert_eq!(w.state(c.id), "awaiting_approval");
        let d = w.submitted("production", "replicas: 5\n");
        let x = w.svc.cancel(&admin(), d.id, NoteBody::default()).unwrap();
        assert_eq!(x.state, "cancelled");
    }

    #[test]
    fn a_cancelled_change_is_closed_and_audited() {
        let w = World::new(CHANGES);
        let c = w.submitted("production", APP);
        let note = NoteBody {
            note: "not needed".into(),
        };
        let x = w.svc.cancel(&requester(), c.id, note).unwrap();
        assert_eq!(x.state, "cancelled");
        assert_eq!(w.last_action(), "change.cancel");
        let e = w
            .svc
            .cancel(&requester(), c.id, NoteBody::default())
            .unwrap_err();
        assert!(matches!(e, ServiceError::Conflict { .. }), "{e:?}");
    }
}
