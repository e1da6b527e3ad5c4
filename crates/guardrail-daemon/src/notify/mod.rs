//! Notifications: the receivers of `guardrail.yaml` (`config`), the event model (`event`), the
//! request bodies per receiver kind and the webhook signature (`render`), and the wake-up signal
//! of the delivery loop (`crate::delivery`, which drains the durable outbox).
//!
//! Every notification is first written to the store's outbox, in the transaction of the state
//! change that caused it (`service::alerts`); the loop posts due rows in order per receiver,
//! retries with exponential backoff and jitter, and marks them delivered. Rows survive receiver
//! outages and daemon restarts. Owns `guardrail_notifications_pending` and
//! `guardrail_notification_failures_total`. Events are redacted before they get here: no
//! secret from a config ever reaches a receiver.

pub mod config;
pub mod event;
pub mod render;

pub use config::{Receiver, ReceiverKind, Receivers, UrlSource};
pub use event::{Event, EventKind, Severity, Status};

/// Wakes the delivery loop early (new rows were committed), so an alert leaves right after
/// the poll that raised it instead of at the next tick.
static WAKE: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Tells the delivery loop that outbox rows were committed. Callable from any thread.
pub fn wake() {
    WAKE.notify_one();
}

/// Resolves when [`wake`] was called (since the last time this resolved).
pub async fn woken() {
    WAKE.notified().await;
}
