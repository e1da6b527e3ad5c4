//! The gate of a change: what it needs before it may be applied (docs/daemon.md), decided
//! by pure functions over records the daemon loads. Table tests cover every rule below.
//!
//! - **Approvals**: the union of the gates of the change's `approval` findings and the
//!   environment's default gate. Each gate `{count, groups}` needs `count` distinct approvers,
//!   each in one of `groups` (any group when empty); every gate must hold at once, and one
//!   approver may count towards several gates. The author never counts; an approval counts only
//!   for the content hash it names and until it expires; any rejection of the current content
//!   wins.
//! - **Staging proof**: for an environment with a soak, each target's content must have been
//!   applied in the staging environment with the same content hash at least the soak earlier,
//!   and not rolled back since.
//! - **Windows and freezes**: deny windows and freezes close; with allow windows, one must be
//!   open; a scheduled change may not be applied before its time.
//! - **Mandatory findings** block; only break-glass passes them (and every other check).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::lifecycle::State;
use super::settings::EnvSettings;
use super::window::{Freeze, closed_reason};
use crate::report::{ApprovalGate, Enforcement, Finding};

/// One approval gate and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Requirement {
    pub count: u32,
    pub groups: Vec<String>,
    /// `rule <policy>/<rule>` or `environment <name>`.
    pub source: String,
}

/// The gates a change needs: one per distinct gate of its unwaived `approval` findings, plus
/// the environment's default gate when it asks for any approval.
pub fn requirements(findings: &[Finding], env: &EnvSettings) -> Vec<Requirement> {
    let mut out: Vec<Requirement> = Vec::new();
    let mut push = |gate: &ApprovalGate, source: String| {
        let mut groups = gate.groups.clone();
        groups.sort();
        groups.dedup();
        if let Some(r) = out
            .iter_mut()
            .find(|r| r.groups == groups && r.count == gate.count)
        {
            if !r.source.split(", ").any(|s| s == source) {
                r.source.push_str(", ");
                r.source.push_str(&source);
            }
            return;
        }
        out.push(Requirement {
            count: gate.count,
            groups,
            source,
        });
    };
    for f in findings
        .iter()
        .filter(|f| f.enforcement == Enforcement::Approval && f.waived.is_none())
    {
        let gate = f.approvals.clone().unwrap_or(ApprovalGate {
            count: 1,
            groups: Vec::new(),
        });
        push(&gate, format!("rule {}/{}", f.policy, f.rule));
    }
    if env.approvals.count > 0 {
        push(&env.approvals, format!("environment {}", env.name));
    }
    out
}

/// The unwaived mandatory findings that block a change, as messages.
pub fn mandatory_blockers(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f.enforcement == Enforcement::Mandatory && f.waived.is_none())
        .map(|f| {
            let at = match (&f.file, f.line) {
                (Some(file), Some(line)) => format!(" ({file}:{line})"),
                _ => String::new(),
            };
            format!("mandatory rule {}/{}: {}{at}", f.policy, f.rule, f.message)
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    pub fn name(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        }
    }
}

/// An approval or rejection as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRecord {
    pub user: String,
    pub groups: Vec<String>,
    pub decision: Decision,
    /// The content hash the approver saw.
    pub content_hash: String,
    pub at: DateTime<Utc>,
}

/// Where the approvals of a change stand.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct ApprovalStatus {
    pub satisfied: bool,
    /// The user whose rejection of the current content stops the change.
    pub rejected_by: Option<String>,
    /// What is still missing, one line per unmet gate.
    pub missing: Vec<String>,
    /// Users whose approval counts.
    pub counted: Vec<String>,
    /// Approvals that do not count, with the reason.
    pub ignored: Vec<String>,
}

/// Counts the approvals of a change whose current content hash is `content_hash`.
pub fn approval_status(
    reqs: &[Requirement],
    approvals: &[ApprovalRecord],
    author: &str,
    content_hash: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> ApprovalStatus {
    let mut st = ApprovalStatus::default();
    let mut valid: Vec<&ApprovalRecord> = Vec::new();
    for a in approvals {
        if a.content_hash != content_hash {
            st.ignored.push(format!(
                "{}: approved other content ({})",
                a.user, a.content_hash
            ));
        } else if a.decision == Decision::Reject {
            st.rejected_by.get_or_insert_with(|| a.user.clone());
        } else if a.user == author {
            st.ignored.push(format!(
                "{}: the author cannot approve their own change",
                a.user
            ));
        } else if a.at + ttl <= now {
            st.ignored.push(format!(
                "{}: approval expired at {}",
                a.user,
                (a.at + ttl).to_rfc3339()
            ));
        } else if !valid.iter().any(|v| v.user == a.user) {
            valid.push(a);
        }
    }
    for r in reqs {
        let eligible: Vec<&str> = valid
            .iter()
            .filter(|a| r.groups.is_empty() || a.groups.iter().any(|g| r.groups.contains(g)))
            .map(|a| a.user.as_str())
            .collect();
        for u in &eligible {
            if !st.counted.iter().any(|c| c == u) {
                st.counted.push(u.to_string());
            }
        }
        if (eligible.len() as u32) < r.count {
            let who = if r.groups.is_empty() {
                String::new()
            } else {
                format!(" from {}", r.groups.join(" or "))
            };
            st.missing.push(format!(
                "{} more approval(s){who} needed ({} of {}; {})",
                r.count - eligible.len() as u32,
                eligible.len(),
                r.count,
                r.source
            ));
        }
    }
    st.satisfied = st.rejected_by.is_none() && st.missing.is_empty();
    st
}

/// A content applied in the proving (staging) environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagingApply {
    pub target: String,
    pub content_hash: String,
    pub applied_at: DateTime<Utc>,
    pub rolled_back: bool,
}

/// One target of a change as the gate sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateTarget {
    pub name: String,
    pub kind: String,
    pub content_hash: String,
    /// The soak needed for this target in this environment (`None`: no staging proof).
    pub soak: Option<Duration>,
}

/// Everything the apply gate looks at.
#[derive(Debug, Clone)]
pub struct GateInput<'a> {
    pub now: DateTime<Utc>,
    pub state: State,
    pub env: &'a EnvSettings,
    pub targets: &'a [GateTarget],
    /// Unwaived mandatory findings, as [`mandatory_blockers`] words them.
    pub mandatory: &'a [String],
    pub approvals: &'a ApprovalStatus,
    pub staging: &'a [StagingApply],
    pub freezes: &'a [Freeze],
    pub scheduled_at: Option<DateTime<Utc>>,
    pub break_glass: bool,
}

/// The answer of the gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct GateDecision {
    pub allow: bool,
    /// Why not (empty when allowed).
    pub reasons: Vec<String>,
    /// Checks passed only by break-glass.
    pub overridden: Vec<String>,
}

/// Whether the staging proof holds for one target; `Err` says why not.
pub fn staging_proof(
    t: &GateTarget,
    env: &EnvSettings,
    staging: &[StagingApply],
    now: DateTime<Utc>,
) -> Result<(), String> {
    let Some(soak) = t.soak else { return Ok(()) };
    let applies: Vec<&StagingApply> = staging
        .iter()
        .filter(|s| s.target == t.name && s.content_hash == t.content_hash)
        .collect();
    if applies.is_empty() {
        return Err(format!(
            "{}: this content ({}) was never applied in {}",
            t.name, t.content_hash, env.staging
        ));
    }
    if applies.iter().any(|s| s.rolled_back) {
        return Err(format!(
            "{}: this content was rolled back in {} since it was applied",
            t.name, env.staging
        ));
    }
    let first = applies
        .iter()
        .map(|s| s.applied_at)
        .min()
        .expect("non-empty");
    if first + soak > now {
        return Err(format!(
            "{}: in {} since {}; the soak of {} ends at {}",
            t.name,
            env.staging,
            first.to_rfc3339(),
            humantime::format_duration(soak.to_std().unwrap_or_default()),
            (first + soak).to_rfc3339()
        ));
    }
    Ok(())
}

/// Whether the windows and freezes let `target` change at `at`; `Err` says why not.
pub fn window_open(
    env: &EnvSettings,
    freezes: &[Freeze],
    target: &str,
    at: DateTime<Utc>,
) -> Result<(), String> {
    if let Some(f) = freezes.iter().find(|f| f.active(&env.name, target, at)) {
        return Err(format!(
            "{target}: frozen in {} ({}; freeze {})",
            env.name, f.reason, f.id
        ));
    }
    match closed_reason(&env.windows, target, at) {
        Some(r) => Err(r),
        None => Ok(()),
    }
}

/// Decides whether the change may be applied now.
pub fn decide(input: &GateInput<'_>) -> GateDecision {
    let mut blockers = Vec::new();
    if !matches!(input.state, State::Approved | State::Scheduled) {
        // State is never overridden: break-glass moves the change to `approved` first.
        let mut reasons = vec![format!("the change is {}, not approved", input.state)];
        if input.state == State::AwaitingApproval {
            reasons.extend(input.approvals.missing.iter().cloned());
        }
        return GateDecision {
            allow: false,
            reasons,
            overridden: Vec::new(),
        };
    }
    blockers.extend(input.mandatory.iter().cloned());
    if let Some(u) = &input.approvals.rejected_by {
        blockers.push(format!("rejected by {u}"));
    }
    blockers.extend(input.approvals.missing.iter().cloned());
    for t in input.targets {
        if let Err(e) = staging_proof(t, input.env, input.staging, input.now) {
            blockers.push(format!("staging proof: {e}"));
        }
        if let Err(e) = window_open(input.env, input.freezes, &t.name, input.now) {
            blockers.push(format!("window: {e}"));
        }
    }
    if let Some(at) = input.scheduled_at
        && at > input.now
    {
        blockers.push(format!("scheduled for {}", at.to_rfc3339()));
    }
    if input.break_glass {
        GateDecision {
            allow: true,
            reasons: Vec::new(),
            overridden: blockers,
        }
    } else {
        GateDecision {
            allow: blockers.is_empty(),
            reasons: blockers,
            overridden: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
