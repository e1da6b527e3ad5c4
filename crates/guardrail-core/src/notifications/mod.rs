//! The notification model, pure: the receivers of guardrail.yaml's `notifications:` (validated,
//! with routing by event and environment: `receivers`) and the events sent to them (`event`).
//! Bodies, signatures and delivery belong to the daemon (`guardrail_daemon::notify`,
//! `guardrail_daemon::delivery`). May depend on `change` (durations) only.

pub mod event;
pub mod receivers;

pub use event::{Event, EventKind, Severity, Status};
pub use receivers::{Receiver, ReceiverKind, Receivers, UrlSource};
