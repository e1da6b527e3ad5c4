//! `POST /v1/retro-reviews/{id}/close`: an approver closes the retro review of a break-glass
//! with a note. Four eyes: neither whoever used the break-glass nor the change's author may
//! close it, and the admin role does not lift that.

use super::super::api::CloseRetroBody;
use super::super::input::{Text, text_field};
use super::super::queries::load_change;
use super::super::{Result, Service, ServiceError, require};
use guardrail_core::change::audit::AuditEntry;
use guardrail_store::{ChangeRow, Identity, RetroReview, Role};

/// Who used the break-glass a review is about: recorded on the review, or — in stores older
/// than schema 3, which did not record it — named by the change's break-glass (unless a new
/// revision cleared it).
fn broke_glass(r: &RetroReview, c: &ChangeRow) -> Option<String> {
    r.opened_by
        .clone()
        .or_else(|| c.doc.break_glass.as_ref().map(|b| b.by.clone()))
}

/// Refuses (403) a closer who used the break-glass or wrote the change.
fn may_close(who: &Identity, c: &ChangeRow, broke_glass: Option<&str>) -> Result<()> {
    if broke_glass == Some(who.user.as_str()) {
        return Err(ServiceError::Forbidden(format!(
            "{} used the break-glass of change {} and cannot close its retro review; another approver must (four eyes)",
            who.user, c.id
        )));
    }
    if c.author == who.user {
        return Err(ServiceError::Forbidden(format!(
            "{} wrote change {} and cannot close its retro review; another approver must (four eyes)",
            who.user, c.id
        )));
    }
    Ok(())
}

impl Service {
    /// `POST /v1/retro-reviews/{id}/close`: by an approver who neither used the break-glass
    /// nor wrote the change (four eyes; the admin role does not lift it).
    pub fn close_retro(&self, who: &Identity, id: i64, body: CloseRetroBody) -> Result<()> {
        require(who, Role::Approver)?;
        text_field("note", &body.note, Text::Lines)?;
        if body.note.trim().is_empty() {
            return Err(ServiceError::invalid(
                "note",
                "closing a retro review needs a note (findings, follow-ups)",
            ));
        }
        let rt = self.runtime();
        let no_review = || ServiceError::NotFound(format!("no open retro review {id}"));
        self.transact_at(&who.user, &rt, self.now(), |tx, cx| {
            let r = tx
                .retro(id)?
                .filter(|r| r.closed_at.is_none())
                .ok_or_else(no_review)?;
            let c = load_change(tx, r.change_id)?;
            let broke_glass = broke_glass(&r, &c);
            may_close(who, &c, broke_glass.as_deref())?;
            if !tx.close_retro(id, &who.user, &body.note, cx.now)? {
                return Err(no_review());
            }
            tx.append_audit(
                &AuditEntry {
                    actor: who.user.clone(),
                    action: "retro.close".into(),
                    subject: format!("retro/{id}"),
                    detail: serde_json::json!({
                        "note": body.note,
                        "change": c.id,
                        "author": c.author,
                        "break_glass_by": broke_glass,
                    }),
                    ..Default::default()
                },
                cx.now,
            )?;
            Ok(())
        })
    }
}
