//! Where a change stands now: its approval status and apply decision, from what the store holds
//! (approvals, staging applies, freezes), decided by the pure gate (`change::gate`). Read by
//! `show`, the gate query, the operations that check the gate (apply, approve, sweep) and drift
//! polling (does an approved change explain the live content?).

use chrono::{DateTime, Utc};

use super::{Result, Runtime};
use guardrail_core::change::gate;
use guardrail_core::change::{
    ApprovalRecord, ApprovalStatus, EnvSettings, GateDecision, GateInput, GateTarget, StagingApply,
};
use guardrail_store::{ChangeRow, Tx};

/// The approval status and apply decision of change `c` at `now`.
pub(super) fn gate_of(
    tx: &mut dyn Tx,
    rt: &Runtime,
    c: &ChangeRow,
    now: DateTime<Utc>,
) -> Result<(ApprovalStatus, GateDecision)> {
    let env = rt.settings.env(&c.env);
    let approvals: Vec<ApprovalRecord> = tx
        .approvals(c.id)?
        .into_iter()
        .map(|a| ApprovalRecord {
            user: a.user,
            groups: a.groups,
            decision: a.decision,
            content_hash: a.content_hash,
            at: a.at,
        })
        .collect();
    let status = gate::approval_status(
        &c.doc.requirements,
        &approvals,
        &c.author,
        &c.content_hash,
        env.approval_ttl,
        now,
    );
    let targets = gate_targets(tx, rt, c, &env)?;
    let staging = staging_applies(tx, &env, &targets)?;
    let freezes: Vec<_> = tx.freezes()?.into_iter().map(|f| f.freeze).collect();
    let decision = gate::decide(&GateInput {
        now,
        state: c.state,
        env: &env,
        targets: &targets,
        mandatory: &c.doc.mandatory,
        approvals: &status,
        staging: &staging,
        freezes: &freezes,
        scheduled_at: c.doc.scheduled_at,
        break_glass: c.doc.break_glass.is_some(),
    });
    Ok((status, decision))
}

/// The targets of a change as the gate sees them: kind, content and the soak each needs.
fn gate_targets(
    tx: &mut dyn Tx,
    rt: &Runtime,
    c: &ChangeRow,
    env: &EnvSettings,
) -> Result<Vec<GateTarget>> {
    Ok(tx
        .change_targets(c.id)?
        .into_iter()
        .map(|t| {
            let kind = rt
                .config
                .target(&t.target)
                .map(|x| x.kind.clone())
                .unwrap_or_else(|| "generic".into());
            let own = rt
                .settings
                .target_soak
                .get(&(t.target.clone(), c.env.clone()))
                .copied();
            GateTarget {
                soak: env.soak_for(&kind, own),
                name: t.target,
                kind,
                content_hash: t.content_hash,
            }
        })
        .collect())
}

/// The staging proof of the targets that need a soak: every apply of the same content in the
/// environment's staging environment.
fn staging_applies(
    tx: &mut dyn Tx,
    env: &EnvSettings,
    targets: &[GateTarget],
) -> Result<Vec<StagingApply>> {
    let mut staging = Vec::new();
    for t in targets.iter().filter(|t| t.soak.is_some()) {
        for b in tx.baselines_with_hash(&t.name, &env.staging, &t.content_hash)? {
            staging.push(StagingApply {
                target: b.target,
                content_hash: b.content_hash,
                applied_at: b.applied_at,
                rolled_back: b.rolled_back_at.is_some(),
            });
        }
    }
    Ok(staging)
}
