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
