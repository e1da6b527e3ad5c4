//! Reads that change nothing: a change as the API shows it (`show`, `list`), freezes, retro
//! reviews, the audit log, and the gauges computed from the store before a scrape.

use chrono::{DateTime, Utc};

use super::api::*;
use super::gates::gate_of;
use super::{Result, Runtime, Service, ServiceError, require};
use guardrail_core::change::State;
use guardrail_store::{self as store, ChangeFilter, ChangeRow, FreezeRow, Identity, Role, Tx};

fn audit_view(r: guardrail_core::change::audit::AuditRecord) -> AuditRecordView {
    AuditRecordView {
        id: r.id,
        at: r.at,
        actor: r.actor,
        action: r.action,
        subject: r.subject,
        before: r.before,
        after: r.after,
        content_hash: r.content_hash,
        detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
        hash: r.hash,
    }
}

/// Change `id`, or 404.
pub(super) fn load_change(tx: &mut dyn Tx, id: i64) -> Result<ChangeRow> {
    tx.change(id)?
        .ok_or_else(|| ServiceError::NotFound(format!("change {id} does not exist")))
}

impl Service {
    /// `GET /v1/changes/{id}`.
    pub fn show(&self, id: i64, with_evaluation: bool) -> Result<ChangeView> {
        let rt = self.runtime();
        let now = self.now();
        store::read(self.store.as_ref(), |tx| {
            let c = load_change(tx, id)?;
            let mut v = view(&rt, tx, c, now)?;
            if with_evaluation {
                v.evaluation = tx
                    .change_evaluation(id)?
                    .and_then(|s| serde_json::from_str(&s).ok());
            }
            Ok(v)
        })
    }

    /// `GET /v1/changes`.
    pub fn list(&self, f: ChangeFilter) -> Result<Vec<ChangeView>> {
        let rt = self.runtime();
        let now = self.now();
        store::read(self.store.as_ref(), |tx| {
            let rows = tx.changes(&f)?;
            rows.into_iter().map(|c| view(&rt, tx, c, now)).collect()
        })
    }

    /// `GET /v1/freezes`: freezes in force or to come.
    pub fn freezes(&self) -> Result<Vec<FreezeView>> {
        let now = self.now();
        let rows = store::read(self.store.as_ref(), |tx| tx.freezes())?;
        Ok(rows
            .into_iter()
            .filter(|f| f.freeze.until.is_none_or(|u| u > now))
            .map(freeze_view)
            .collect())
    }

    /// `GET /v1/retro-reviews`.
    pub fn retros(&self, open_only: bool) -> Result<Vec<RetroView>> {
        let now = self.now();
        let rows = store::read(self.store.as_ref(), |tx| tx.retros(open_only))?;
        Ok(rows
            .into_iter()
            .map(|r| RetroView {
                overdue: r.closed_at.is_none() && r.due_at <= now,
                id: r.id,
                change_id: r.change_id,
                opened_by: r.opened_by,
                opened_at: r.opened_at,
                due_at: r.due_at,
                closed_at: r.closed_at,
                closed_by: r.closed_by,
                note: r.note,
            })
            .collect())
    }

    /// Audit records after `after`, oldest first.
    pub fn audit_records(&self, after: i64, limit: u32) -> Result<Vec<AuditRecordView>> {
        let recs = store::read(self.store.as_ref(), |tx| {
            tx.audit_records(after, limit.min(1000))
        })?;
        Ok(recs.into_iter().map(audit_view).collect())
    }

    /// `GET /v1/audit` and the web UI's audit log: role admin.
    pub fn audit_log_as(
        &self,
        who: &Identity,
        after: i64,
        limit: u32,
    ) -> Result<Vec<AuditRecordView>> {
        require(who, Role::Admin)?;
        self.audit_records(after, limit)
    }

    /// A change's timeline: the audit records about it, oldest first (any role, like the change).
    pub fn timeline(&self, change_id: i64) -> Result<Vec<AuditRecordView>> {
        let subject = format!("change/{change_id}");
        let recs = store::read(self.store.as_ref(), |tx| tx.audit_of(&subject))?;
        Ok(recs.into_iter().map(audit_view).collect())
    }

    /// Refreshes the gauges computed from the store (changes by state, oldest wait, overdue
    /// retro reviews), before a scrape.
    pub fn refresh_gauges(&self) -> Result<()> {
        let now = self.now();
        let rt = self.runtime();
        let (counts, waiting, retros) = store::read(self.store.as_ref(), |tx| {
            let waiting = tx.changes(&ChangeFilter {
                state: Some(State::AwaitingApproval),
                limit: 1000,
                ..Default::default()
            })?;
            Ok::<_, ServiceError>((tx.change_counts()?, waiting, tx.retros(true)?))
        })?;
        let m = &self.metrics.changes;
        let mut envs: Vec<String> = rt.config.environments.clone();
        for (_, e, _) in &counts {
            if !envs.contains(e) {
                envs.push(e.clone());
            }
        }
        for env in &envs {
            for s in State::ALL {
                let n = counts
                    .iter()
                    .find(|(st, e, _)| *st == s && e == env)
                    .map(|c| c.2)
                    .unwrap_or(0);
                m.changes
                    .get_or_create(&crate::metrics::StateEnv {
                        state: s.name().to_string(),
                        env: env.clone(),
                    })
                    .set(n);
            }
            let oldest = waiting
                .iter()
                .filter(|c| &c.env == env)
                .map(|c| (now - c.updated_at).num_seconds().max(0))
                .max()
                .unwrap_or(0);
            m.oldest_wait
                .get_or_create(&crate::metrics::EnvLabel { env: env.clone() })
                .set(oldest);
        }
        m.retro_overdue
            .set(retros.iter().filter(|r| r.due_at <= now).count() as i64);
        Ok(())
    }
}

/// A change as the API shows it, with its gate now.
fn view(rt: &Runtime, tx: &mut dyn Tx, c: ChangeRow, now: DateTime<Utc>) -> Result<ChangeView> {
    let (status, decision) = gate_of(tx, rt, &c, now)?;
    let approvals = tx
        .approvals(c.id)?
        .into_iter()
        .map(|a| ApprovalView {
            id: a.id,
            user: a.user,
            decision: a.decision.name().to_string(),
            comment: a.comment,
            content_hash: a.content_hash,
            at: a.at,
        })
        .collect();
    let targets = tx
        .change_targets(c.id)?
        .into_iter()
        .map(|t| ChangeTargetView {
            target: t.target,
            format: t.format,
            content_hash: t.content_hash,
        })
        .collect();
    Ok(ChangeView {
        id: c.id,
        env: c.env,
        state: c.state.name().to_string(),
        author: c.author,
        title: c.doc.title,
        ticket: c.doc.ticket,
        source_url: c.doc.source_url,
        commit: c.doc.commit,
        revision: c.revision,
        content_hash: c.content_hash,
        verdict: c.doc.verdict,
        created_at: c.created_at,
        updated_at: c.updated_at,
        scheduled_at: c.doc.scheduled_at,
        applied_at: c.doc.applied_at,
        verified_at: c.doc.verified_at,
        rolled_back_at: c.doc.rolled_back_at,
        expires_at: c.doc.expires_at,
        break_glass: c.doc.break_glass.map(|b| BreakGlassView {
            by: b.by,
            reason: b.reason,
            incident: b.incident,
            at: b.at,
        }),
        targets,
        requirements: c.doc.requirements,
        mandatory: c.doc.mandatory,
        approvals,
        gate: GateView {
            approvals: status,
            decision,
        },
        evaluation: None,
    })
}

pub(super) fn freeze_view(f: FreezeRow) -> FreezeView {
    FreezeView {
        id: f.freeze.id,
        env: f.freeze.env,
        targets: f.freeze.targets,
        reason: f.freeze.reason,
        created_by: f.created_by,
        from: f.freeze.from,
        until: f.freeze.until,
    }
}
