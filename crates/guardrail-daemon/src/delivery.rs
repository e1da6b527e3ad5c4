//! The notification delivery loop, a task of `guardrail serve` over the service and the
//! notification model (`notify`): every [`TICK`], the oldest undelivered outbox row of each receiver, if
//! due, is posted; a 2xx marks it delivered, anything else schedules the next attempt with
//! exponential backoff and jitter (capped at the receiver's `backoff_max`); a row older than
//! `give_up_after`, or for a receiver no longer configured, is abandoned (and logged). Rows of
//! one receiver go out in order, so a resolve never overtakes its alert.
//!
//! Alertmanager forgets an alert it has not heard of for its `resolve_timeout`, so every
//! [`RESEND_EVERY`] the active alerts (open drifts, sources down, overdue retro reviews) are
//! posted again to each Alertmanager receiver whose queue is empty, as Prometheus does.
//!
//! Delivery is at least once: a crash between a receiver's 2xx and the commit that marks the
//! row delivered sends it again after the restart. The webhook's `delivery` id (and the
//! `X-Guardrail-Delivery` header) is the same on every attempt, so a receiver can drop the
//! duplicate.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::metrics::ReceiverLabel;
use crate::notify::config::{Receiver, ReceiverKind, UrlSource};
use crate::notify::event::{Event, Status};
use crate::notify::{self, render};
use crate::service::Service;
use guardrail_store::{self as store, OutboxAttempt, OutboxRow, StoreError};

/// How often the outbox is checked for due rows.
pub const TICK: Duration = Duration::from_millis(500);
/// How often active alerts are posted again to Alertmanager.
pub const RESEND_EVERY: Duration = Duration::from_secs(60);
/// The first retry waits about this long; each failure doubles it.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// Starts the delivery loop; it stops when `stop` turns true (or its sender is dropped).
pub fn spawn(service: Arc<Service>, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    for (receiver, var) in service.runtime().receivers.env_vars() {
        if std::env::var_os(&var).is_none() {
            tracing::error!(
                receiver = %receiver,
                variable = %var,
                "notification receiver reads an environment variable that is not set; its deliveries will fail until it is"
            );
        }
    }
    tokio::spawn(run(service, stop))
}

async fn run(svc: Arc<Service>, mut stop: watch::Receiver<bool>) {
    let client = match reqwest::Client::builder()
        .user_agent(concat!("guardrail/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the notification HTTP client; notifications stay in the outbox");
            return;
        }
    };
    let mut last_resend: Option<tokio::time::Instant> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        // The outbox is singleton work: only the leader delivers (the others wait their turn).
        if !svc.store.is_leader() {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                r = stop.changed() => if r.is_err() || *stop.borrow() { return },
            }
            continue;
        }
        if let Err(e) = deliver_due(&svc, &client).await {
            tracing::warn!(error = %e, "notification outbox unavailable");
        }
        if last_resend.is_none_or(|t| t.elapsed() >= RESEND_EVERY) {
            last_resend = Some(tokio::time::Instant::now());
            if let Err(e) = resend_active(&svc, &client).await {
                tracing::warn!(error = %e, "cannot re-send active alerts");
            }
            let s = svc.clone();
            match tokio::task::spawn_blocking(move || s.check_retro_reviews()).await {
                Ok(Err(e)) => tracing::warn!(error = %e, "retro review check failed"),
                Err(e) => tracing::warn!(error = %e, "retro review check failed"),
                Ok(Ok(())) => {}
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = notify::woken() => {}
            r = stop.changed() => if r.is_err() || *stop.borrow() { return },
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Backend(format!("task failed: {e}")))?
}

/// One pass: posts every receiver's due head row and records the attempts, through the store's
/// claim (`Store::claim_outbox`: on PostgreSQL the rows are locked while they are delivered,
/// so no other process delivers them meanwhile).
pub async fn deliver_due(svc: &Arc<Service>, client: &reqwest::Client) -> Result<(), StoreError> {
    let now = svc.now();
    let s = svc.clone();
    let client = client.clone();
    let handle = tokio::runtime::Handle::current();
    let results = blocking(move || {
        let rt = s.runtime();
        s.store.claim_outbox(s.audit_key(), now, &mut |rows| {
            // On the blocking pool: the webhooks are posted concurrently on the runtime.
            handle.block_on(async {
                let mut tasks = tokio::task::JoinSet::new();
                for (i, row) in rows.iter().enumerate() {
                    let receiver = rt.receivers.get(&row.receiver).cloned();
                    let client = client.clone();
                    let row = row.clone();
                    let public_url = s.public_url.clone();
                    tasks.spawn(async move {
                        let at =
                            attempt(&client, receiver.as_ref(), &row, now, public_url.as_deref());
                        (i, at.await)
                    });
                }
                let mut out: Vec<Option<OutboxAttempt>> = vec![None; rows.len()];
                while let Some(r) = tasks.join_next().await {
                    if let Ok((i, a)) = r {
                        out[i] = Some(a);
                    }
                }
                out.into_iter()
                    .map(|a| {
                        a.unwrap_or(OutboxAttempt::Failed {
                            error: "the delivery task failed".into(),
                            next_attempt_at: now,
                        })
                    })
                    .collect()
            })
        })
    })
    .await?;
    if !results.is_empty() {
        for (row, result) in &results {
            match result {
                OutboxAttempt::Delivered => tracing::info!(
                    receiver = %row.receiver, event = %row.event, delivery = row.id,
                    attempts = row.attempts + 1, "notification delivered"
                ),
                OutboxAttempt::Failed {
                    error,
                    next_attempt_at,
                } => {
                    svc.metrics
                        .notify
                        .failures
                        .get_or_create(&ReceiverLabel {
                            receiver: row.receiver.clone(),
                        })
                        .inc();
                    tracing::warn!(
                        receiver = %row.receiver, event = %row.event, delivery = row.id,
                        attempts = row.attempts + 1, error = %error,
                        retry_at = %next_attempt_at.to_rfc3339(), "notification delivery failed"
                    );
                }
                OutboxAttempt::Abandoned { error } => {
                    svc.metrics
                        .notify
                        .failures
                        .get_or_create(&ReceiverLabel {
                            receiver: row.receiver.clone(),
                        })
                        .inc();
                    tracing::error!(
                        receiver = %row.receiver, event = %row.event, delivery = row.id,
                        error = %error, "notification abandoned"
                    );
                }
            }
        }
    }
    let s = svc.clone();
    let pending =
        blocking(move || store::read(s.store.as_ref(), |tx| tx.outbox_pending_count())).await?;
    svc.metrics.notify.pending.set(pending);
    Ok(())
}

/// Posts one row and says what became of it.
async fn attempt(
    client: &reqwest::Client,
    receiver: Option<&Receiver>,
    row: &OutboxRow,
    now: DateTime<Utc>,
    public_url: Option<&str>,
) -> OutboxAttempt {
    let Some(r) = receiver else {
        return OutboxAttempt::Abandoned {
            error: format!("receiver `{}` is no longer in guardrail.yaml", row.receiver),
        };
    };
    let age = (now - row.created_at).to_std().unwrap_or_default();
    if age > r.give_up_after {
        return OutboxAttempt::Abandoned {
            error: format!(
                "not delivered within give_up_after ({}); last error: {}",
                humantime::format_duration(r.give_up_after),
                row.last_error.as_deref().unwrap_or("none")
            ),
        };
    }
    let event: Event = match serde_json::from_str(&row.payload) {
        Ok(e) => e,
        Err(e) => {
            return OutboxAttempt::Abandoned {
                error: format!("unreadable payload: {e}"),
            };
        }
    };
    match send(client, r, &event, row.id, now, public_url).await {
        Ok(()) => OutboxAttempt::Delivered,
        Err(error) => {
            let wait = backoff(row.attempts + 1, r.backoff_max, random_unit());
            OutboxAttempt::Failed {
                error,
                next_attempt_at: now
                    + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(1)),
            }
        }
    }
}

/// The wait before attempt `attempt + 1`: `FIRST_BACKOFF` doubled per failure, capped at
/// `max`, half of it fixed and half random ("equal jitter") so receivers coming back are not
/// hit by every daemon at once. `unit` is a random number in [0, 1).
pub fn backoff(attempt: i64, max: Duration, unit: f64) -> Duration {
    let exp = attempt.clamp(1, 30) as u32 - 1;
    let full = FIRST_BACKOFF.saturating_mul(1u32 << exp.min(20)).min(max);
    full / 2 + full.mul_f64(unit.clamp(0.0, 1.0) / 2.0)
}

fn random_unit() -> f64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

fn url_of(u: &UrlSource) -> Result<String, String> {
    match u {
        UrlSource::Literal(s) => Ok(s.clone()),
        UrlSource::Env(v) => {
            std::env::var(v).map_err(|_| format!("environment variable {v} is not set"))
        }
    }
}

/// Posts an event to a receiver, with a link to its page under `server.public_url` when set.
/// Errors never carry the URL (it may hold a token) or a secret.
pub async fn send(
    client: &reqwest::Client,
    r: &Receiver,
    e: &Event,
    delivery: i64,
    now: DateTime<Utc>,
    public_url: Option<&str>,
) -> Result<(), String> {
    let link = render::page_link(e, public_url);
    let req = match &r.kind {
        ReceiverKind::Alertmanager { url } => {
            let base = url_of(url)?;
            let base = base.trim_end_matches('/');
            let endpoint = if base.ends_with("/api/v2/alerts") {
                base.to_string()
            } else {
                format!("{base}/api/v2/alerts")
            };
            client
                .post(endpoint)
                .header("content-type", "application/json")
                .body(render::alertmanager(e, now, link.as_deref()))
        }
        ReceiverKind::Webhook {
            url,
            secret_env,
            headers,
        } => {
            let secret = std::env::var(secret_env)
                .map_err(|_| format!("environment variable {secret_env} is not set"))?;
            let body = render::webhook(e, delivery, link.as_deref());
            let mut req = client
                .post(url_of(url)?)
                .header("content-type", "application/json")
                .header("x-guardrail-event", e.event.name())
                .header("x-guardrail-delivery", delivery.to_string())
                .header(
                    "x-guardrail-signature",
                    render::signature(secret.as_bytes(), &body),
                );
            for (k, v) in headers {
                req = req.header(k.as_str(), v.as_str());
            }
            req.body(body)
        }
        ReceiverKind::Slack { url } => client
            .post(url_of(url)?)
            .header("content-type", "application/json")
            .body(render::slack(e, link.as_deref())),
    };
    let resp = req
        .timeout(r.timeout)
        .send()
        .await
        .map_err(|err| err.without_url().to_string())?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {status}"))
    }
}

/// Posts the active alerts again to every Alertmanager receiver with nothing queued.
async fn resend_active(svc: &Arc<Service>, client: &reqwest::Client) -> Result<(), StoreError> {
    let rt = svc.runtime();
    let managers: Vec<Receiver> = rt
        .receivers
        .list
        .iter()
        .filter(|r| matches!(r.kind, ReceiverKind::Alertmanager { .. }))
        .cloned()
        .collect();
    if managers.is_empty() {
        return Ok(());
    }
    let s = svc.clone();
    let (active, pending) = blocking(move || {
        store::read(s.store.as_ref(), |tx| {
            Ok::<_, StoreError>((tx.active_alerts()?, tx.outbox_pending(10_000)?))
        })
    })
    .await?;
    let now = svc.now();
    for r in &managers {
        if pending.iter().any(|p| p.receiver == r.name) {
            continue;
        }
        for a in &active {
            let Ok(e) = serde_json::from_str::<Event>(&a.payload) else {
                continue;
            };
            if e.status != Status::Firing || !r.routes(&e) {
                continue;
            }
            if let Err(err) = send(client, r, &e, 0, now, svc.public_url.as_deref()).await {
                svc.metrics
                    .notify
                    .failures
                    .get_or_create(&ReceiverLabel {
                        receiver: r.name.clone(),
                    })
                    .inc();
                tracing::warn!(receiver = %r.name, error = %err, "re-sending active alerts failed");
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let max = Duration::from_secs(300);
        assert_eq!(backoff(1, max, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(1, max, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(4, max, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(4, max, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(40, max, 1.0), max);
        assert_eq!(backoff(40, max, 0.0), max / 2);
        assert_eq!(
            backoff(3, Duration::from_secs(2), 1.0),
            Duration::from_secs(2)
        );
    }
}
