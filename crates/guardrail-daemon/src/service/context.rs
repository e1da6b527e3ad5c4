//! What every operation's steps take instead of long argument lists ([`OpContext`]: who acts,
//! when, under which runtime), and what an operation does once its transaction committed
//! ([`Effects`]: metric updates and the delivery loop's wake-up).
//!
//! Steps inside a write transaction never touch a metric or the delivery loop: they note what
//! to do in `cx.fx`, and [`Service::transact`] carries it out after the commit — never for a
//! rolled-back transaction.

use chrono::{DateTime, Utc};

use super::limits::Limits;
use super::{Result, Runtime, Service, ServiceError};
use crate::metrics::{DecisionLabel, FromTo, ReasonLabel, RuleLabels, TargetEnv};
use guardrail_core::drift::Watch;
use guardrail_store::Tx;

/// One operation in progress: who acts, at which instant, under which runtime and limits, and
/// the effects to apply once its transaction committed.
pub(crate) struct OpContext<'a> {
    /// The token's user, or `guardrail` for the daemon's own moves (sweep, drift polling).
    pub actor: &'a str,
    /// The operation's one instant: every record it writes carries it.
    pub now: DateTime<Utc>,
    pub rt: &'a Runtime,
    pub limits: &'a Limits,
    pub fx: Effects,
}

/// Side effects to apply after a transaction commits (never for a rolled-back one).
#[derive(Default)]
pub(crate) struct Effects {
    /// Change state transitions (from, to).
    pub transitions: Vec<(String, String)>,
    /// Approval decisions recorded (`approve`, `reject`).
    pub approvals: Vec<&'static str>,
    /// Approvals voided or lapsed, by reason.
    pub invalidated: Vec<(&'static str, u64)>,
    pub break_glass: u64,
    /// The rule evaluations whose outcome the transaction stored.
    pub evaluations: Vec<RuleLabels>,
    /// How long the stored checks took, in seconds.
    pub check_seconds: Vec<f64>,
    /// The drift gauges of the watch a poll recorded.
    pub drift: Option<DriftGauges>,
    /// Outbox rows were written: the delivery loop should look now, not at its next tick.
    pub wake: bool,
}

/// The drift metrics of one watch, set after a poll.
pub(crate) struct DriftGauges {
    labels: TargetEnv,
    pub source_up: Option<bool>,
    pub last_success: Option<DateTime<Utc>>,
    pub drift_active: Option<bool>,
    pub unstaged_push: bool,
}

impl DriftGauges {
    pub fn of(w: &Watch) -> DriftGauges {
        DriftGauges {
            labels: TargetEnv {
                target: w.target.clone(),
                env: w.env.clone(),
            },
            source_up: None,
            last_success: None,
            drift_active: None,
            unstaged_push: false,
        }
    }
}

impl Effects {
    /// The drift gauges of `w` (created on first use).
    pub fn drift_of(&mut self, w: &Watch) -> &mut DriftGauges {
        self.drift.get_or_insert_with(|| DriftGauges::of(w))
    }
}

impl Service {
    /// Runs one operation's effect as one write transaction over a context made inside it (so
    /// `now` is read under the write lock and audit times follow the chain), then applies its
    /// effects after the commit.
    pub(super) fn transact<R>(
        &self,
        actor: &str,
        rt: &Runtime,
        f: impl FnOnce(&mut dyn Tx, &mut OpContext<'_>) -> Result<R>,
    ) -> Result<R> {
        self.transact_with(actor, rt, None, f)
    }

    /// [`Service::transact`] at an instant the operation read before (its checks used it).
    pub(super) fn transact_at<R>(
        &self,
        actor: &str,
        rt: &Runtime,
        now: DateTime<Utc>,
        f: impl FnOnce(&mut dyn Tx, &mut OpContext<'_>) -> Result<R>,
    ) -> Result<R> {
        self.transact_with(actor, rt, Some(now), f)
    }

    fn transact_with<R>(
        &self,
        actor: &str,
        rt: &Runtime,
        now: Option<DateTime<Utc>>,
        f: impl FnOnce(&mut dyn Tx, &mut OpContext<'_>) -> Result<R>,
    ) -> Result<R> {
        let (r, fx) = self.write(|tx| {
            let mut cx = OpContext {
                actor,
                now: now.unwrap_or_else(|| self.now()),
                rt,
                limits: &self.limits,
                fx: Effects::default(),
            };
            let r = f(tx, &mut cx)?;
            Ok::<_, ServiceError>((r, cx.fx))
        })?;
        self.apply(fx);
        Ok(r)
    }

    /// Carries out the effects of a committed transaction (or of a poll that wrote nothing).
    pub(super) fn apply(&self, e: Effects) {
        let m = &self.metrics.changes;
        for (from, to) in e.transitions {
            m.transitions.get_or_create(&FromTo { from, to }).inc();
        }
        for d in e.approvals {
            let decision = d.to_string();
            m.approvals.get_or_create(&DecisionLabel { decision }).inc();
        }
        for (reason, n) in e.invalidated {
            let reason = reason.to_string();
            m.approvals_invalidated
                .get_or_create(&ReasonLabel { reason })
                .inc_by(n);
        }
        m.break_glass.inc_by(e.break_glass);
        self.metrics.count_evaluations(&e.evaluations);
        for s in e.check_seconds {
            self.metrics.policy.check_duration.observe(s);
        }
        if let Some(g) = e.drift {
            self.apply_drift(g);
        }
        if e.wake {
            crate::notify::wake();
        }
    }

    fn apply_drift(&self, g: DriftGauges) {
        let m = &self.metrics.drift;
        let l = &g.labels;
        if let Some(up) = g.source_up {
            m.source_up.get_or_create(l).set(up as i64);
        }
        if let Some(t) = g.last_success {
            m.source_last_success.get_or_create(l).set(t.timestamp());
        }
        if let Some(a) = g.drift_active {
            m.drift_active.get_or_create(l).set(a as i64);
        }
        if g.unstaged_push {
            m.unstaged_pushes.get_or_create(l).inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{CHANGES, World};
    use super::*;

    /// Notes one effect of every kind.
    fn note_effects(cx: &mut OpContext<'_>) {
        cx.fx
            .transitions
            .push(("approved".into(), "applied".into()));
        cx.fx.approvals.push("approve");
        cx.fx.break_glass += 1;
        cx.fx.evaluations.push(RuleLabels {
            policy: "p".into(),
            rule: "r".into(),
            result: "pass".into(),
        });
    }

    fn counted(w: &World) -> (u64, u64, u64, u64) {
        let m = &w.svc.metrics;
        let t = FromTo {
            from: "approved".into(),
            to: "applied".into(),
        };
        let d = DecisionLabel {
            decision: "approve".into(),
        };
        let e = RuleLabels {
            policy: "p".into(),
            rule: "r".into(),
            result: "pass".into(),
        };
        (
            m.changes.transitions.get_or_create(&t).get(),
            m.changes.approvals.get_or_create(&d).get(),
            m.changes.break_glass.get(),
            m.policy.evaluations.get_or_create(&e).get(),
        )
    }

    #[test]
    fn a_rolled_back_transaction_applies_no_effect() {
        let w = World::new(CHANGES);
        let rt = w.svc.runtime();
        let r: Result<()> = w.svc.transact("t", &rt, |_, cx| {
            note_effects(cx);
            Err(ServiceError::conflict("refused"))
        });
        assert!(r.is_err());
        assert_eq!(counted(&w), (0, 0, 0, 0));
    }

    #[test]
    fn a_committed_transaction_applies_its_effects_once() {
        let w = World::new(CHANGES);
        let rt = w.svc.runtime();
        let now = w.svc.now();
        let seen = w
            .svc
            .transact_at("t", &rt, now, |_, cx| {
                note_effects(cx);
                Ok((cx.actor.to_string(), cx.now))
            })
            .unwrap();
        assert_eq!(seen, ("t".to_string(), now));
        assert_eq!(counted(&w), (1, 1, 1, 1));
    }
}
