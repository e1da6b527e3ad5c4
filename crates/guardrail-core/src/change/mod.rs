//! The change pipeline's pure core: the lifecycle, the gates (approvals, staging proof,
//! windows, freezes, break-glass), the typed environment settings and the audit hash chain.
//!
//! Pure like the rest of the core: no IO, clock or store; every function takes the instant it
//! decides about and the records it needs. The daemon (`service`, `server`) loads records,
//! calls these functions and stores the outcome. May depend on `document`, `config` and
//! `report`.

pub mod audit;
pub mod gate;
pub mod lifecycle;
pub mod settings;
pub mod window;

pub use gate::{
    ApprovalRecord, ApprovalStatus, Decision, GateDecision, GateInput, GateTarget, Requirement,
    StagingApply,
};
pub use lifecycle::{State, TransitionError, check_transition};
pub use settings::{EnvSettings, Settings, parse_duration};
pub use window::{Freeze, Window, WindowKind};
