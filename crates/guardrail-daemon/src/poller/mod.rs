//! The drift poller (shell): one task per watched target environment (`runtime.watches`),
//! each fetching its live config every `poll_interval` (±10% jitter, first poll at a random
//! point of the first interval so 1,000 targets do not fire together) and handing the result
//! to [`Service::record_poll`], which classifies and stores it. At most [`MAX_CONCURRENT`]
//! fetches and records run at once.
//!
//! Sources: `file` (relative to guardrail.yaml's directory), `http` (rustls, headers with
//! `${ENV}` expanded at each fetch, a size cap, 404/410 meaning the config disappeared),
//! `command` (argv without a shell, stdin closed, killed with its process group on timeout).
//! A reload that changes the watches restarts the tasks whose settings changed. Owns
//! `guardrail_source_up`, `guardrail_source_last_success_timestamp_seconds`,
//! `guardrail_unstaged_pushes_total` and `guardrail_drift_active` (set by the service after
//! each commit; initialised per target and environment at start and after a reload, removed
//! for a watch a reload removed).

pub mod fetch;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::service::Service;
use crate::service::drift::{Fetched, HashCache};
use guardrail_core::drift::{Source, Watch};

/// Fetches and records in flight at once, over all targets.
pub const MAX_CONCURRENT: usize = 32;
/// How often the poller looks for a reloaded config.
const RELOAD_CHECK: Duration = Duration::from_secs(2);

/// Shared by every watch task.
struct Shared {
    service: Arc<Service>,
    client: reqwest::Client,
    permits: Semaphore,
    cache: HashCache,
}

/// Starts the poller; it stops when `stop` turns true (or its sender is dropped).
pub fn spawn(service: Arc<Service>, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(supervise(service, stop))
}

/// What makes a watch task restart when it changes.
fn fingerprint(w: &Watch, root: &Option<PathBuf>) -> String {
    format!(
        "{:?}|{:?}|{:?}|{:?}|{}|{:?}|{:?}|{:?}|{:?}",
        w.source,
        w.interval,
        w.timeout,
        w.format,
        w.failures_before_alert,
        w.resolve_after,
        w.ignore,
        w.kind,
        root
    )
}

/// The polling task of each watch (by target and environment), with the fingerprint of the
/// watch it was started for.
type Tasks = HashMap<(String, String), (String, JoinHandle<()>)>;

/// Starts a task for each watch of `rt` that has none or whose source changed, and stops those
/// of watches it no longer has; returns the watches removed and how many were skipped.
fn reconcile(
    tasks: &mut Tasks,
    rt: &crate::service::Runtime,
    shared: &Arc<Shared>,
    stop: &watch::Receiver<bool>,
) -> (Vec<(String, String)>, usize) {
    let mut keep = std::collections::HashSet::new();
    let mut skipped = 0;
    for w in &rt.watches {
        if rt.root.is_none()
            && matches!(&w.source, Source::File { path } if !std::path::Path::new(path).is_absolute())
        {
            // Embedded defaults: no directory for relative paths to live in.
            skipped += 1;
            continue;
        }
        let key = w.key();
        let fp = fingerprint(w, &rt.root);
        keep.insert(key.clone());
        if tasks.get(&key).is_some_and(|(f, _)| *f == fp) {
            continue;
        }
        if let Some((_, old)) = tasks.remove(&key) {
            old.abort();
        }
        let h = tokio::spawn(poll_loop(
            shared.clone(),
            w.clone(),
            rt.root.clone(),
            stop.clone(),
        ));
        tasks.insert(key, (fp, h));
    }
    let mut removed = Vec::new();
    tasks.retain(|k, (_, h)| {
        let kept = keep.contains(k);
        if !kept {
            h.abort();
            removed.push(k.clone());
        }
        kept
    });
    (removed, skipped)
}

async fn supervise(service: Arc<Service>, mut stop: watch::Receiver<bool>) {
    let client = match reqwest::Client::builder()
        .user_agent(concat!("guardrail/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the HTTP client; drift polling is off");
            return;
        }
    };
    let s = service.clone();
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || s.init_drift_metrics()).await {
        tracing::warn!(error = %e, "cannot read drift state for the metrics");
    }
    let shared = Arc::new(Shared {
        service: service.clone(),
        client,
        permits: Semaphore::new(MAX_CONCURRENT),
        cache: HashCache::default(),
    });
    let mut tasks: Tasks = HashMap::new();
    let mut seen: Option<Arc<crate::service::Runtime>> = None;
    loop {
        let rt = service.runtime();
        if seen.as_ref().is_none_or(|s| !Arc::ptr_eq(s, &rt)) {
            let (removed, skipped) = reconcile(&mut tasks, &rt, &shared, &stop);
            for (target, env) in &removed {
                service.forget_drift_metrics(target, env);
            }
            if seen.is_some() {
                // A reload: watches it added get their series now, not at their first poll.
                let s = service.clone();
                if let Ok(Err(e)) =
                    tokio::task::spawn_blocking(move || s.init_drift_metrics()).await
                {
                    tracing::warn!(error = %e, "cannot read drift state for the metrics");
                }
            }
            if skipped > 0 {
                tracing::info!(
                    skipped,
                    "drift: relative file sources are not polled on the embedded defaults (pass --config)"
                );
            }
            tracing::info!(watches = tasks.len(), "drift polling");
            seen = Some(rt);
        }
        tokio::select! {
            _ = tokio::time::sleep(RELOAD_CHECK) => {}
            r = stop.changed() => if r.is_err() || *stop.borrow() { break },
        }
    }
    for (_, (_, h)) in tasks {
        h.abort();
    }
}

fn random_unit() -> f64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// `interval` ± 10%.
fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(0.9 + 0.2 * random_unit())
}

async fn poll_loop(
    shared: Arc<Shared>,
    w: Watch,
    root: Option<PathBuf>,
    mut stop: watch::Receiver<bool>,
) {
    let w = Arc::new(w);
    let mut next = tokio::time::Instant::now() + w.interval.mul_f64(random_unit());
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            r = stop.changed() => if r.is_err() || *stop.borrow() { return },
        }
        let started = tokio::time::Instant::now();
        next = started + jittered(w.interval);
        // Polling is singleton work: only the leader fetches and records.
        if !shared.service.store.is_leader() {
            continue;
        }
        let Ok(permit) = shared.permits.acquire().await else {
            return;
        };
        let fetched = fetch::fetch(&shared.client, &w, root.as_deref()).await;
        if let Fetched::Failed(f) = &fetched {
            tracing::warn!(target_name = %w.target, env = %w.env, source = %w.source.describe(), reason = f.kind.name(), error = %f.message, "live config fetch failed");
        }
        let sh = shared.clone();
        let wc = w.clone();
        let result =
            tokio::task::spawn_blocking(move || sh.service.record_poll(&wc, fetched, &sh.cache))
                .await;
        drop(permit);
        match result {
            Ok(Ok(r)) => match r.outcome {
                "drift_opened" => {
                    tracing::warn!(target_name = %w.target, env = %w.env, drift = r.drift_id, "drift: live config differs from its baseline")
                }
                "drift_resolved" | "expected_apply" | "first_contact" | "drift_changed" => {
                    tracing::info!(target_name = %w.target, env = %w.env, outcome = r.outcome, drift = r.drift_id, "drift poll")
                }
                _ => {
                    tracing::debug!(target_name = %w.target, env = %w.env, outcome = r.outcome, "drift poll")
                }
            },
            Ok(Err(e)) => {
                tracing::error!(target_name = %w.target, env = %w.env, error = %e, "cannot record a drift poll")
            }
            Err(e) => {
                tracing::error!(target_name = %w.target, env = %w.env, error = %e, "drift poll task failed")
            }
        }
        if tokio::time::Instant::now() > next {
            // The poll took longer than the interval: start the next one now, not in a burst.
            next = tokio::time::Instant::now();
        }
    }
}
