//! Notifications: the receivers of `guardrail.yaml` (`config`) and the event model (`event`), both
//! re-exported from `guardrail_core::notifications`; the
//! request bodies per receiver kind and the webhook signature (`render`), and the wake-up signal
//! of the delivery loop (`crate::delivery`, which drains the durable outbox).
//!
//! Every notification is first written to the store's outbox, in the transaction of the state
//! change that caused it (`service::alerts`); the loop posts due rows in order per receiver,
//! retries with exponential backoff and jitter, and marks them delivered. Rows survive receiver
//! outages and daemon restarts. Owns `guardrail_notifications_pending` and
//! `guardrail_notification_failures_total`. Events are redacted before they get here: no
//! secret from a config ever reaches a receiver.

pub mod render;

// The receivers and the event model are pure and live in the core; re-exported here under the
// names the daemon uses.
pub use guardrail_core::notifications::event;
pub use guardrail_core::notifications::receivers as config;
pub use guardrail_core::notifications::{
    Event, EventKind, Receiver, ReceiverKind, Receivers, Severity, Status, UrlSource,
};

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
