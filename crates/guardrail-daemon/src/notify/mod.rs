//! Notifications: the receivers of `guardrail.yaml` (`config`), the event model (`event`), the
//! request bodies per receiver kind and the webhook signature (`render`), and the delivery loop
//! that drains the durable outbox (`deliver`).
//!
//! Every notification is first written to the store's outbox, in the transaction of the state
//! change that caused it (`service::alerts`); the loop posts due rows in order per receiver,
//! retries with exponential backoff and jitter, and marks them delivered. Rows survive receiver
//! outages and daemon restarts. Owns `guardrail_notifications_pending` and
//! `guardrail_notification_failures_total`. Events are redacted before they get here: no
//! secret from a config ever reaches a receiver.

pub mod config;
pub mod deliver;
pub mod event;
pub mod render;

pub use config::{Receiver, ReceiverKind, Receivers, UrlSource};
pub use deliver::{spawn, wake};
pub use event::{Event, EventKind, Severity, Status};
