//! The change lifecycle (docs/daemon.md): states and the transitions the daemon allows.
//!
//! ```text
//! proposed → awaiting_approval → approved → scheduled → applied → verified
//!     exits: rejected, denied, cancelled, expired, superseded, rolled_back
//! ```
//!
//! A new revision sends an open change (or a rejected or denied one) back to `proposed`, where
//! it is evaluated again. Break-glass moves any open change to `approved`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Proposed,
    AwaitingApproval,
    Approved,
    Scheduled,
    Applied,
    Verified,
    Rejected,
    Denied,
    Cancelled,
    Expired,
    Superseded,
    RolledBack,
}

impl State {
    pub const ALL: [State; 12] = [
        State::Proposed,
        State::AwaitingApproval,
        State::Approved,
        State::Scheduled,
        State::Applied,
        State::Verified,
        State::Rejected,
        State::Denied,
        State::Cancelled,
        State::Expired,
        State::Superseded,
        State::RolledBack,
    ];

    pub fn name(self) -> &'static str {
        match self {
            State::Proposed => "proposed",
            State::AwaitingApproval => "awaiting_approval",
            State::Approved => "approved",
            State::Scheduled => "scheduled",
            State::Applied => "applied",
            State::Verified => "verified",
            State::Rejected => "rejected",
            State::Denied => "denied",
            State::Cancelled => "cancelled",
            State::Expired => "expired",
            State::Superseded => "superseded",
            State::RolledBack => "rolled_back",
        }
    }

    pub fn from_name(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.name() == s)
    }

    /// Not yet applied and still able to move forward: the states a change waits in.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            State::Proposed | State::AwaitingApproval | State::Approved | State::Scheduled
        )
    }

    /// A new revision may be submitted (open, or stopped by a rejection or a mandatory rule).
    pub fn accepts_revision(self) -> bool {
        self.is_open() || matches!(self, State::Rejected | State::Denied)
    }

    /// No transition leaves this state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            State::Cancelled | State::Expired | State::Superseded | State::RolledBack
        )
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a transition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a change in state {from} cannot move to {to}")]
pub struct TransitionError {
    pub from: State,
    pub to: State,
}

/// Whether `from → to` is a transition of the lifecycle. Every state change the daemon makes
/// goes through here.
pub fn check_transition(from: State, to: State) -> Result<(), TransitionError> {
    use State::*;
    let ok = match (from, to) {
        // Evaluation of a (new) revision.
        (Proposed, AwaitingApproval | Approved | Denied) => true,
        // New revision, or break-glass, or cancel, from anything that accepts a revision.
        (f, Proposed) if f.accepts_revision() => true,
        (f, Approved) if f.accepts_revision() && f != Scheduled => true,
        (f, Cancelled | Superseded | Expired) if f.accepts_revision() => true,
        (AwaitingApproval, Rejected) | (Approved | Scheduled, Rejected) => true,
        // An approval expired or was voided.
        (Approved | Scheduled, AwaitingApproval) => true,
        (Approved, Scheduled) | (Scheduled, Scheduled) => true,
        (Approved | Scheduled, Applied) => true,
        (Applied, Verified) => true,
        (Applied | Verified, RolledBack) => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(TransitionError { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::State::*;
    use super::*;

    #[test]
    fn the_happy_path_is_allowed() {
        let path = [
            Proposed,
            AwaitingApproval,
            Approved,
            Scheduled,
            Applied,
            Verified,
        ];
        for w in path.windows(2) {
            assert!(check_transition(w[0], w[1]).is_ok(), "{} -> {}", w[0], w[1]);
        }
    }

    #[test]
    fn terminal_states_never_move() {
        for from in State::ALL.into_iter().filter(|s| s.is_terminal()) {
            for to in State::ALL {
                assert!(check_transition(from, to).is_err(), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn nothing_is_applied_without_approval() {
        for from in [Proposed, AwaitingApproval, Rejected, Denied] {
            assert!(check_transition(from, Applied).is_err(), "{from}");
        }
    }

    #[test]
    fn applied_changes_do_not_take_revisions_or_cancel() {
        for to in [Proposed, Cancelled, Approved, Rejected] {
            assert!(check_transition(Applied, to).is_err(), "{to}");
            assert!(check_transition(Verified, to).is_err(), "{to}");
        }
    }

    #[test]
    fn rejected_and_denied_take_a_new_revision() {
        assert!(check_transition(Rejected, Proposed).is_ok());
        assert!(check_transition(Denied, Proposed).is_ok());
        assert!(check_transition(Denied, Approved).is_ok(), "break-glass");
    }

    #[test]
    fn names_round_trip() {
        for s in State::ALL {
            assert_eq!(State::from_name(s.name()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
        }
    }
}
