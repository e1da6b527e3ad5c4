//! guardrail's pure core: configs turned into one document tree whatever their format, the
//! semantic diff of two trees, policies evaluated over them into a report, and the pure
//! decisions of the change pipeline and drift detection.
//!
//! Nothing here does network or database IO, spawns tasks or reads the clock: time enters as a
//! `now` argument. The one module that reads files is [`project`] (policy directories, waiver
//! files), with `std::fs` only. ARCHITECTURE.md names which module may depend on which.
#![forbid(unsafe_code)]

pub mod change;
pub mod config;
pub mod diff;
pub mod document;
pub mod drift;
pub mod formats;
pub mod notifications;
pub mod pipeline;
pub mod policy;
pub mod project;
pub mod report;
