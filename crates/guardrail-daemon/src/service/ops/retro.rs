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

#[cfg(test)]
mod tests {
    use super::super::super::testing::{APP, CHANGES, World, other_approver, user};
    use super::*;
    use crate::service::api::BreakGlassBody;

    /// A world with one open retro review (rita's change, bob's break-glass); returns its id.
    fn reviewed(w: &World) -> i64 {
        let c = w.submitted("production", APP);
        let bob = user("bob", &[Role::Breakglass, Role::Approver]);
        let body = BreakGlassBody {
            reason: "outage".into(),
            incident: "INC-7".into(),
        };
        w.svc.break_glass(&bob, c.id, body).unwrap();
        w.svc.retros(true).unwrap()[0].id
    }

    fn note(text: &str) -> CloseRetroBody {
        CloseRetroBody { note: text.into() }
    }

    #[test]
    fn neither_the_author_nor_the_break_glass_user_closes_the_review() {
        let w = World::new(CHANGES);
        let id = reviewed(&w);
        let author = user("rita", &[Role::Approver]);
        let e = w.svc.close_retro(&author, id, note("done")).unwrap_err();
        assert!(matches!(e, ServiceError::Forbidden(_)), "{e:?}");
        let bob = user("bob", &[Role::Admin]);
        let e = w.svc.close_retro(&bob, id, note("done")).unwrap_err();
        assert!(matches!(e, ServiceError::Forbidden(_)), "{e:?}");
        let e = w
            .svc
            .close_retro(&other_approver(), id, note(" "))
            .unwrap_err();
        assert!(
            matches!(&e, ServiceError::Unprocessable { field: Some(f), .. } if f == "note"),
            "{e:?}"
        );
        assert_eq!(w.svc.retros(true).unwrap().len(), 1);
    }

    #[test]
    fn another_approver_closes_the_review_once() {
        let w = World::new(CHANGES);
        let id = reviewed(&w);
        w.svc
            .close_retro(&other_approver(), id, note("follow-up OPS-9"))
            .unwrap();
        assert!(w.svc.retros(true).unwrap().is_empty());
        let closed = &w.svc.retros(false).unwrap()[0];
        assert_eq!(closed.closed_by.as_deref(), Some("dana"));
        assert_eq!(w.last_action(), "retro.close");
        let e = w
            .svc
            .close_retro(&other_approver(), id, note("again"))
            .unwrap_err();
        assert!(matches!(e, ServiceError::NotFound(_)), "{e:?}");
    }
}
