//! `POST /v1/changes/{id}/schedule`: an approved change gets the time it will be applied at,
//! which must fall inside an open window of every target (`change::gate::window_open`).

use chrono::{DateTime, Utc};

use super::super::api::{ChangeView, ScheduleBody};
use super::super::queries::load_change;
use super::super::{Result, Service, ServiceError, require};
use super::transition;
use guardrail_core::change::{EnvSettings, Freeze, State, gate};
use guardrail_store::{ChangeRow, Identity, Role};

/// Whether change `c` may be scheduled at `at` (`now` being now): approved or scheduled (409),
/// not in the past (422).
fn may_schedule(c: &ChangeRow, at: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
    if !matches!(c.state, State::Approved | State::Scheduled) {
        return Err(ServiceError::conflict(format!(
            "change {} is {}; only an approved change is scheduled",
            c.id, c.state
        )));
    }
    if at < now - chrono::Duration::minutes(1) {
        return Err(ServiceError::invalid("at", "the time is in the past"));
    }
    Ok(())
}

/// Refuses (409, with every reason) a time outside the windows or inside a freeze of any of
/// `targets`.
fn check_windows(
    env: &EnvSettings,
    freezes: &[Freeze],
    targets: &[String],
    at: DateTime<Utc>,
) -> Result<()> {
    let reasons: Vec<String> = targets
        .iter()
        .filter_map(|t| gate::window_open(env, freezes, t, at).err())
        .collect();
    if reasons.is_empty() {
        return Ok(());
    }
    Err(ServiceError::Conflict {
        message: format!("{} is not inside an open window", at.to_rfc3339()),
        reasons,
    })
}

impl Service {
    /// `POST /v1/changes/{id}/schedule`.
    pub fn schedule(&self, who: &Identity, id: i64, body: ScheduleBody) -> Result<ChangeView> {
        require(who, Role::Requester)?;
        self.change_op(who, id, |tx, cx| {
            let mut c = load_change(tx, id)?;
            may_schedule(&c, body.at, cx.now)?;
            let env = cx.rt.settings.env(&c.env);
            let freezes: Vec<_> = tx.freezes()?.into_iter().map(|f| f.freeze).collect();
            let targets: Vec<String> = tx
                .change_targets(id)?
                .into_iter()
                .map(|t| t.target)
                .collect();
            check_windows(&env, &freezes, &targets, body.at)?;
            c.doc.scheduled_at = Some(body.at);
            let detail = serde_json::json!({"at": body.at});
            transition(tx, cx, &mut c, State::Scheduled, "change.schedule", detail)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{APP, CHANGES, World, admin, requester};
    use super::*;
    use crate::service::api::FreezeBody;

    #[test]
    fn only_an_approved_change_is_scheduled_and_never_into_a_freeze() {
        let w = World::new(CHANGES);
        let waiting = w.submitted("production", APP);
        let at = w.svc.now() + chrono::Duration::hours(1);
        let e = w
            .svc
            .schedule(&requester(), waiting.id, ScheduleBody { at })
            .unwrap_err();
        assert!(matches!(e, ServiceError::Conflict { .. }), "{e:?}");
        let c = w.submitted("staging", APP);
        let past = w.svc.now() - chrono::Duration::hours(1);
        let e = w
            .svc
            .schedule(&requester(), c.id, ScheduleBody { at: past })
            .unwrap_err();
        assert!(
            matches!(&e, ServiceError::Unprocessable { field: Some(f), .. } if f == "at"),
            "{e:?}"
        );
        let body = FreezeBody {
            env: "staging".into(),
            targets: "*".into(),
            reason: "peak season".into(),
            until: Some(w.svc.now() + chrono::Duration::days(1)),
        };
        w.svc.freeze(&admin(), body).unwrap();
        let e = w
            .svc
            .schedule(&requester(), c.id, ScheduleBody { at })
            .unwrap_err();
        let ServiceError::Conflict { reasons, .. } = e else {
            panic!("{e:?}")
        };
        assert!(reasons[0].contains("frozen"), "{reasons:?}");
        assert_eq!(w.state(c.id), "approved");
    }

    #[test]
    fn an_approved_change_is_scheduled_at_its_time() {
        let w = World::new(CHANGES);
        let c = w.submitted("staging", APP);
        let at = w.svc.now() + chrono::Duration::hours(1);
        let s = w
            .svc
            .schedule(&requester(), c.id, ScheduleBody { at })
            .unwrap();
        assert_eq!((s.state.as_str(), s.scheduled_at), ("scheduled", Some(at)));
        assert_eq!(w.last_action(), "change.schedule");
    }
}
