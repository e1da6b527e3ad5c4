//! Drift detection's pure core: which target environments to poll and how (`watch`), which
//! lines of a live config are noise (`noise`), and what a fetched live config means against the
//! baseline, the approved changes and the open drift (`classify`).
//!
//! Pure like the rest of the core: no IO, clock, environment or async. The poller (`poller`)
//! fetches, the service (`service::drift`) loads records, calls [`classify`] and stores the
//! outcome with its audit records and notifications. May depend on `document`, `config`,
//! `change`, `diff` and `report`; must not touch `formats`, `policy`, the store or metrics.

pub mod classify;
pub mod noise;
pub mod watch;

pub use classify::{
    BaselineRef, Candidate, DriftKind, Inputs, NewDrift, OpenDrift, Outcome, Pending, Settle,
    classify,
};
pub use noise::{Filtered, NoiseFilter};
pub use watch::{Source, Watch, expand, watches};
