//! `POST /v1/freezes` and `DELETE /v1/freezes/{id}`: an admin freezes targets of an
//! environment (no apply passes the gate while it holds), and lifts it.

use chrono::{DateTime, Utc};

use super::super::api::{FreezeBody, FreezeView};
use super::super::input::{Text, known_env, text_field};
use super::super::queries::freeze_view;
use super::super::{Result, Service, ServiceError, require};
use guardrail_core::change::Freeze;
use guardrail_core::change::audit::AuditEntry;
use guardrail_store::{FreezeRow, Identity, Role};

/// A freeze needs a reason and a glob of targets, one line each (422 naming the field).
fn check_body(body: &FreezeBody) -> Result<()> {
    text_field("reason", &body.reason, Text::Line)?;
    text_field("targets", &body.targets, Text::Line)?;
    if body.reason.trim().is_empty() {
        return Err(ServiceError::invalid("reason", "a freeze needs a reason"));
    }
    if let Err(e) = globset::Glob::new(&body.targets) {
        return Err(ServiceError::invalid("targets", format!("not a glob: {e}")));
    }
    Ok(())
}

/// Refuses (422) an end that is not in the future.
fn check_until(until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<()> {
    match until {
        Some(until) if until <= now => Err(ServiceError::invalid(
            "until",
            format!(
                "{} is not in the future (now is {})",
                until.to_rfc3339(),
                now.to_rfc3339()
            ),
        )),
        _ => Ok(()),
    }
}

impl Service {
    /// `POST /v1/freezes`.
    pub fn freeze(&self, who: &Identity, body: FreezeBody) -> Result<FreezeView> {
        require(who, Role::Admin)?;
        check_body(&body)?;
        let rt = self.runtime();
        known_env(&rt, &body.env)?;
        let now = self.now();
        check_until(body.until, now)?;
        let mut row = FreezeRow {
            freeze: Freeze {
                id: 0,
                env: body.env.clone(),
                targets: body.targets.clone(),
                reason: body.reason.clone(),
                from: now,
                until: body.until,
            },
            created_by: who.user.clone(),
            lifted_at: None,
            lifted_by: None,
        };
        row.freeze.id = self.transact_at(&who.user, &rt, now, |tx, cx| {
            let id = tx.insert_freeze(&row)?;
            tx.append_audit(
                &AuditEntry {
                    actor: who.user.clone(),
                    action: "freeze.create".into(),
                    subject: format!("freeze/{id}"),
                    detail: serde_json::json!({"env": body.env, "targets": body.targets, "reason": body.reason, "until": body.until}),
                    ..Default::default()
                },
                cx.now,
            )?;
            Ok(id)
        })?;
        Ok(freeze_view(row))
    }

    /// `DELETE /v1/freezes/{id}`.
    pub fn lift_freeze(&self, who: &Identity, id: i64) -> Result<()> {
        require(who, Role::Admin)?;
        let rt = self.runtime();
        self.transact_at(&who.user, &rt, self.now(), |tx, cx| {
            if !tx.lift_freeze(id, &who.user, cx.now)? {
                return Err(ServiceError::NotFound(format!("no active freeze {id}")));
            }
            tx.append_audit(
                &AuditEntry {
                    actor: who.user.clone(),
                    action: "freeze.lift".into(),
                    subject: format!("freeze/{id}"),
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
    use super::super::super::testing::{APP, CHANGES, World, admin, requester};
    use super::*;

    fn body(env: &str, until: Option<DateTime<Utc>>) -> FreezeBody {
        FreezeBody {
            env: env.into(),
            targets: "*".into(),
            reason: "peak season".into(),
            until,
        }
    }

    #[test]
    fn a_freeze_needs_an_admin_a_known_environment_and_a_future_end() {
        let w = World::new(CHANGES);
        let now = w.svc.now();
        let e = w
            .svc
            .freeze(&requester(), body("staging", None))
            .unwrap_err();
        assert!(matches!(e, ServiceError::Forbidden(_)), "{e:?}");
        let e = w.svc.freeze(&admin(), body("stagign", None)).unwrap_err();
        assert!(
            matches!(&e, ServiceError::Unprocessable { field: Some(f), .. } if f == "env"),
            "{e:?}"
        );
        let e = w
            .svc
            .freeze(&admin(), body("staging", Some(now)))
            .unwrap_err();
        assert!(
            matches!(&e, ServiceError::Unprocessable { field: Some(f), .. } if f == "until"),
            "{e:?}"
        );
        assert!(w.svc.freezes().unwrap().is_empty());
        assert!(w.audit_actions().is_empty());
    }

    #[test]
    fn a_freeze_holds_every_apply_until_it_is_lifted() {
        let w = World::new(CHANGES);
        let c = w.submitted("staging", APP);
        let f = w.svc.freeze(&admin(), body("staging", None)).unwrap();
        assert_eq!(w.last_action(), "freeze.create");
        assert_eq!(w.svc.freezes().unwrap().len(), 1);
        assert!(matches!(w.apply(c.id), Err(ServiceError::Conflict { .. })));
        w.svc.lift_freeze(&admin(), f.id).unwrap();
        assert_eq!(w.last_action(), "freeze.lift");
        assert!(w.svc.freezes().unwrap().is_empty());
        assert_eq!(w.apply(c.id).unwrap().state, "applied");
        let e = w.svc.lift_freeze(&admin(), f.id).unwrap_err();
        assert!(matches!(e, ServiceError::NotFound(_)), "{e:?}");
    }
}
