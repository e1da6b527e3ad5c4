//! Periodic housekeeping, as the daemon (`guardrail`): open changes past their `expire_after`
//! expire; approved or scheduled changes whose approvals lapsed (`approval_ttl`) go back to
//! `awaiting_approval`.

use super::super::context::OpContext;
use super::super::gates::gate_of;
use super::super::{Result, Service, fmt_duration};
use super::transition;
use guardrail_core::change::State;
use guardrail_store::{ChangeFilter, ChangeRow, Tx};

/// The states the sweep looks at: those a change can expire or lapse in.
const SWEPT: [State; 4] = [
    State::Proposed,
    State::AwaitingApproval,
    State::Approved,
    State::Scheduled,
];

impl Service {
    /// Periodic housekeeping: open changes past `expire_after` expire; approved changes whose
    /// approvals lapsed go back to `awaiting_approval`. Returns how many changes moved.
    pub fn sweep(&self) -> Result<usize> {
        let rt = self.runtime();
        self.transact("guardrail", &rt, |tx, cx| {
            let mut moved = 0;
            for state in SWEPT {
                for mut c in tx.changes(&ChangeFilter {
                    state: Some(state),
                    limit: 1000,
                    ..Default::default()
                })? {
                    if c.doc.expires_at.is_some_and(|e| e <= cx.now) {
                        expire(tx, cx, &mut c)?;
                        moved += 1;
                    } else if may_lapse(&c) && lapse(tx, cx, &mut c)? {
                        moved += 1;
                    }
                }
            }
            Ok(moved)
        })
    }
}

/// Whether a change's approvals can lapse: approved or scheduled, and not passed by a
/// break-glass (which needs no approval).
fn may_lapse(c: &ChangeRow) -> bool {
    matches!(c.state, State::Approved | State::Scheduled) && c.doc.break_glass.is_none()
}

fn expire(tx: &mut dyn Tx, cx: &mut OpContext<'_>, c: &mut ChangeRow) -> Result<()> {
    let detail = serde_json::json!({"expired_at": c.doc.expires_at});
    transition(tx, cx, c, State::Expired, "change.expire", detail)
}

/// Sends a change whose approvals no longer satisfy its requirements back to
/// `awaiting_approval` (unscheduled); returns whether it moved.
fn lapse(tx: &mut dyn Tx, cx: &mut OpContext<'_>, c: &mut ChangeRow) -> Result<bool> {
    let (status, _) = gate_of(tx, cx.rt, c, cx.now)?;
    if status.satisfied {
        return Ok(false);
    }
    let expired = status
        .ignored
        .iter()
        .filter(|i| i.contains("expired"))
        .count();
    cx.fx.invalidated.push(("expired", expired as u64));
    c.doc.scheduled_at = None;
    let ttl = fmt_duration(cx.rt.settings.env(&c.env).approval_ttl);
    let detail = serde_json::json!({"missing": status.missing, "approval_ttl": ttl});
    transition(
        tx,
        cx,
        c,
        State::AwaitingApproval,
        "change.approvals_lapsed",
        detail,
    )?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{APP, CHANGES, World};

    #[test]
    fn a_change_within_its_time_and_approvals_is_left_alone() {
        let w = World::new(CHANGES);
        let c = w.submitted("production", APP);
        w.approve(&c).unwrap();
        w.advance(3600);
        assert_eq!(w.svc.sweep().unwrap(), 0);
        assert_eq!(w.state(c.id), "approved");
        assert_eq!(w.last_action(), "change.approved");
    }

    #[test]
    fn an_old_change_expires_and_lapsed_approvals_send_it_back() {
        let w = World::new(CHANGES);
        let c = w.submitted("production", APP);
        w.approve(&c).unwrap();
        // approval_ttl is 24h by default.
        w.advance(25 * 3600);
        assert_eq!(w.svc.sweep().unwrap(), 1);
        assert_eq!(w.state(c.id), "awaiting_approval");
        assert_eq!(w.last_action(), "change.approvals_lapsed");
        // expire_after is 14d by default.
        w.advance(14 * 24 * 3600);
        assert_eq!(w.svc.sweep().unwrap(), 1);
        assert_eq!(w.state(c.id), "expired");
        assert_eq!(w.last_action(), "change.expire");
    }
}
