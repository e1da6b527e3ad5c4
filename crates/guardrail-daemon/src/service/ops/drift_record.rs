//! Recording one poll of a watch (`Service::record_poll`, called by the poller): a failed
//! fetch counts toward `source_down` (`source_health`); content is read (`drift_inputs`),
//! classified against what the store holds by the pure core (`drift::classify`), and the
//! outcome stored with its audit records and alerts in one transaction. A quiet poll (in sync,
//! awaiting a deploy) whose source health is fresh writes nothing.

use chrono::{DateTime, Utc};

use super::super::context::{DriftGauges, Effects, OpContext};
use super::super::drift::{Fetched, HashCache, PollReport};
use super::super::queries::load_change;
use super::super::{Result, Service};
use super::apply::record_applied;
use super::drift_inputs::{Gathered, Poll, gather, read_live};
use super::drift_open::{changed, open_drift, resolution_of, resolve_drift};
use super::source_health::{source_failed, source_ok};
use super::target_subject;
use super::verify::verify_target;
use guardrail_core::change::audit::AuditEntry;
use guardrail_core::drift::{self, DriftKind, Outcome, Settle, Watch};
use guardrail_core::pipeline;
use guardrail_store::{BaselineRow, SourceStatusRow, Tx};

/// How often a healthy source's `last_success` is written to the store (the metric is live).
const PERSIST_SUCCESS_EVERY: chrono::Duration = chrono::Duration::minutes(10);

impl Service {
    /// Records one poll of `watch`: a failed fetch counts toward `source_down`; content is
    /// classified against the baseline and the outcome stored with its audit records and
    /// notifications, in one transaction.
    pub fn record_poll(
        &self,
        watch: &Watch,
        fetched: Fetched,
        cache: &HashCache,
    ) -> Result<PollReport> {
        let rt = self.runtime();
        let now = self.now();
        let bytes = match fetched {
            Fetched::Failed(f) => return source_failed(self, &rt, watch, f, now),
            Fetched::Content(b) => b,
        };
        let live = match read_live(watch, bytes) {
            Ok(l) => l,
            Err(f) => return source_failed(self, &rt, watch, f, now),
        };
        let gathered = guardrail_store::read(self.store.as_ref(), |tx| {
            gather(tx, &rt, now, watch, &live, cache)
        })?;
        let outcome = drift::classify(&gathered.inputs(&live.hash, now, watch));
        let quiet = outcome.is_quiet() || matches!(outcome, Outcome::AwaitingDeploy { .. });
        if quiet && !status_stale(gathered.status.as_ref(), now) {
            let mut fx = Effects::default();
            let gauges = fx.drift_of(watch);
            healthy(gauges, now);
            gauges.drift_active = Some(gathered.open.is_some());
            self.apply(fx);
            return Ok(PollReport {
                outcome: outcome_name(&outcome),
                drift_id: gathered.open.map(|d| d.id),
            });
        }
        self.transact_at("guardrail", &rt, now, |tx, cx| {
            healthy(cx.fx.drift_of(watch), now);
            // Load again under the write lock: an API call may have moved things meanwhile.
            let g = gather(tx, cx.rt, now, watch, &live, cache)?;
            let outcome = drift::classify(&g.inputs(&live.hash, now, watch));
            source_ok(tx, cx, watch, g.status.as_ref())?;
            let poll = Poll {
                watch,
                live: &live,
                g,
            };
            act(tx, cx, &poll, outcome)
        })
    }
}

/// The gauges of a source just read successfully.
fn healthy(gauges: &mut DriftGauges, now: DateTime<Utc>) {
    gauges.source_up = Some(true);
    gauges.last_success = Some(now);
}

/// Whether the stored health of a source that was just read needs a write: it was down,
/// failing, or its last success is older than [`PERSIST_SUCCESS_EVERY`].
fn status_stale(status: Option<&SourceStatusRow>, now: DateTime<Utc>) -> bool {
    match status {
        None => true,
        Some(s) => {
            !s.up
                || s.consecutive_failures > 0
                || s.last_success
                    .is_none_or(|t| now - t >= PERSIST_SUCCESS_EVERY)
        }
    }
}

/// Stores what `outcome` means for the poll; returns what it amounted to.
fn act(
    tx: &mut dyn Tx,
    cx: &mut OpContext<'_>,
    p: &Poll<'_>,
    outcome: Outcome,
) -> Result<PollReport> {
    let name = outcome_name(&outcome);
    cx.fx.drift_of(p.watch).drift_active = Some(p.g.open.is_some());
    let drift_id = match outcome {
        Outcome::FirstContact => {
            first_contact(tx, cx, p)?;
            None
        }
        Outcome::InSync { verified, settle } => in_sync(tx, cx, p, verified, settle)?,
        Outcome::ExpectedApply {
            change_id,
            resolves,
        } => {
            expected_apply(tx, cx, p, change_id, resolves.is_some())?;
            resolves
        }
        Outcome::AwaitingDeploy { .. } => None,
        Outcome::Open(nd) => {
            let id = open_drift(tx, cx, p, &nd)?;
            let gauges = cx.fx.drift_of(p.watch);
            gauges.drift_active = Some(true);
            gauges.unstaged_push = nd.kind == DriftKind::UnstagedPush;
            Some(id)
        }
        Outcome::Ongoing { drift_id } => {
            if let Some(mut d) = p.g.open.clone() {
                d.last_seen = cx.now;
                tx.update_drift(&d)?;
            }
            Some(drift_id)
        }
        Outcome::Flap { drift_id } => {
            flap(tx, cx, &p.g, drift_id)?;
            Some(drift_id)
        }
        Outcome::Changed { drift_id } => {
            changed(tx, cx, p, drift_id)?;
            Some(drift_id)
        }
    };
    Ok(PollReport {
        outcome: name,
        drift_id,
    })
}

/// The first content seen of a target without a baseline becomes its baseline.
fn first_contact(tx: &mut dyn Tx, cx: &mut OpContext<'_>, p: &Poll<'_>) -> Result<()> {
    let (w, live) = (p.watch, p.live);
    // The baseline's hash is the hash `guardrail hash` and the gate use: of the content as
    // fetched (noise included).
    let hash = pipeline::parse(&w.target, live.raw.as_bytes(), Some(live.format))
        .map(|l| l.doc.content_hash())
        .unwrap_or_else(|_| live.hash.clone());
    let id = tx.insert_baseline(&BaselineRow {
        id: 0,
        target: w.target.clone(),
        env: w.env.clone(),
        content: live.raw.clone(),
        content_hash: hash.clone(),
        format: live.format.name().to_string(),
        change_id: None,
        origin: "first_contact".into(),
        applied_at: cx.now,
        rolled_back_at: None,
    })?;
    tx.append_audit(
        &AuditEntry {
            actor: "guardrail".into(),
            action: "baseline.first_contact".into(),
            subject: target_subject(&w.target, &w.env),
            before: None,
            after: Some(hash.clone()),
            content_hash: Some(hash),
            detail: serde_json::json!({
                "baseline": id,
                "source": w.source.describe(),
                "format": live.format.name(),
                "ignored_lines": live.ignored_lines,
            }),
        },
        cx.now,
    )?;
    Ok(())
}

/// The live config is the baseline: a pending change is verified by it, and an open drift is
/// held (in sync since when) or resolved (in sync for `resolve_after`).
fn in_sync(
    tx: &mut dyn Tx,
    cx: &mut OpContext<'_>,
    p: &Poll<'_>,
    verified: Option<i64>,
    settle: Option<Settle>,
) -> Result<Option<i64>> {
    if let Some(cid) = verified {
        verify_target(tx, cx, p.watch, cid)?;
    }
    match settle {
        None => Ok(None),
        Some(Settle::Hold { drift_id, since }) => {
            if let Some(mut d) = p.g.open.clone() {
                d.in_sync_since = Some(since);
                d.last_seen = cx.now;
                tx.update_drift(&d)?;
            }
            Ok(Some(drift_id))
        }
        Some(Settle::Resolve { drift_id }) => {
            if let Some(d) = p.g.open.clone() {
                let (resolution, adopted) = resolution_of(&d, p.g.baseline.as_ref());
                resolve_drift(tx, cx, d, resolution, adopted)?;
                cx.fx.drift_of(p.watch).drift_active = Some(false);
            }
            Ok(Some(drift_id))
        }
    }
}

/// An approved change the gate lets through is live: recorded as applied (by `guardrail`) and
/// verified on this target; the open drift it explains, if any, resolves.
fn expected_apply(
    tx: &mut dyn Tx,
    cx: &mut OpContext<'_>,
    p: &Poll<'_>,
    change_id: i64,
    resolves: bool,
) -> Result<()> {
    let w = p.watch;
    let mut c = load_change(tx, change_id)?;
    let (_, decision) = super::super::gates::gate_of(tx, cx.rt, &c, cx.now)?;
    let note = format!(
        "seen live on {} in {} by drift polling ({})",
        w.target,
        w.env,
        w.source.describe()
    );
    record_applied(tx, cx, &mut c, &note, &decision.overridden)?;
    verify_target(tx, cx, w, change_id)?;
    if let (true, Some(d)) = (resolves, p.g.open.clone()) {
        resolve_drift(tx, cx, d, "applied", Some(change_id))?;
        cx.fx.drift_of(w).drift_active = Some(false);
    }
    Ok(())
}

/// The live config went back to the baseline and drifted again: the same drift, one more
/// flap, no new alert.
fn flap(tx: &mut dyn Tx, cx: &OpContext<'_>, g: &Gathered, drift_id: i64) -> Result<()> {
    let Some(mut d) = g.open.clone() else {
        return Ok(());
    };
    d.last_seen = cx.now;
    d.in_sync_since = None;
    d.flaps += 1;
    tx.update_drift(&d)?;
    tx.append_audit(
        &AuditEntry {
            actor: "guardrail".into(),
            action: "drift.flap".into(),
            subject: format!("drift/{drift_id}"),
            content_hash: Some(d.live_hash.clone()),
            detail: serde_json::json!({"target": d.target, "env": d.env, "flaps": d.flaps}),
            ..Default::default()
        },
        cx.now,
    )?;
    Ok(())
}

fn outcome_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::FirstContact => "first_contact",
        Outcome::InSync {
            settle: Some(Settle::Resolve { .. }),
            ..
        } => "drift_resolved",
        Outcome::InSync { .. } => "in_sync",
        Outcome::ExpectedApply { .. } => "expected_apply",
        Outcome::AwaitingDeploy { .. } => "awaiting_deploy",
        Outcome::Open(_) => "drift_opened",
        Outcome::Ongoing { .. } => "drift_ongoing",
        Outcome::Flap { .. } => "drift_flap",
        Outcome::Changed { .. } => "drift_changed",
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{WATCHED, World, at};
    use super::*;

    #[test]
    fn the_health_of_a_source_is_written_when_it_changed_or_grew_old() {
        let now = at("2026-11-21T10:00:00Z");
        let healthy = SourceStatusRow {
            target: "app".into(),
            env: "lab".into(),
            up: true,
            consecutive_failures: 0,
            last_attempt: Some(now),
            last_success: Some(now),
            last_error: None,
        };
        assert!(status_stale(None, now));
        assert!(!status_stale(
            Some(&healthy),
            now + chrono::Duration::minutes(9)
        ));
        assert!(status_stale(Some(&healthy), now + PERSIST_SUCCESS_EVERY));
        let failing = SourceStatusRow {
            consecutive_failures: 1,
            ..healthy.clone()
        };
        assert!(status_stale(Some(&failing), now));
    }

    #[test]
    fn a_quiet_poll_of_a_fresh_source_writes_nothing() {
        let w = World::new(WATCHED);
        assert_eq!(w.poll("app", "replicas: 2\n").outcome, "first_contact");
        let head = w.svc.audit_head().unwrap();
        w.advance(1);
        assert_eq!(w.poll("app", "replicas: 2\n").outcome, "in_sync");
        assert_eq!(w.svc.audit_head().unwrap(), head, "nothing was written");
        let l = crate::metrics::TargetEnv {
            target: "app".into(),
            env: "lab".into(),
        };
        let m = &w.svc.metrics.drift;
        assert_eq!(m.source_up.get_or_create(&l).get(), 1);
        assert_eq!(m.drift_active.get_or_create(&l).get(), 0);
    }

    #[test]
    fn a_new_drift_is_recorded_with_its_audit_record_and_counted_once_committed() {
        let w = World::new(WATCHED);
        w.poll("app", "replicas: 2\n");
        let evaluations = || {
            w.svc
                .metrics
                .encode()
                .lines()
                .filter(|l| l.starts_with("guardrail_policy_evaluations_total{"))
                .count()
        };
        assert_eq!(evaluations(), 0, "a first contact evaluates nothing");
        let r = w.poll("app", "replicas: 5\n");
        assert_eq!(r.outcome, "drift_opened");
        assert_eq!(w.last_action(), "drift.unstaged_push");
        assert!(evaluations() > 0, "the drift's evaluation is counted");
    }
}
