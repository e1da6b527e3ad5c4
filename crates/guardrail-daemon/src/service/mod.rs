//! The daemon's business logic, transport-free: each operation (`ops`, one module each) loads
//! records from the store, asks the pure core (`change`, `pipeline`, `drift`) what to do, and
//! stores the outcome with its audit record in one transaction over an `OpContext`
//! (`context`), whose metrics and notifications are applied after the commit. The HTTP server
//! and offline commands (`token create`, `audit verify`) call it; it never sees a socket.
//!
//! Runs on threads with a big stack (policy evaluation); the server calls it through
//! `spawn_blocking`.

mod alerts;
pub mod api;
pub mod audit;
mod context;
pub mod drift;
#[cfg(test)]
mod drift_tests;
mod evaluate;
mod gates;
pub mod input;
pub mod limits;
mod ops;
mod queries;
mod runtime;
pub mod sessions;
#[cfg(test)]
mod testing;
pub mod tokens;

use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

pub use runtime::{Runtime, TokenEntry};

use crate::metrics::Metrics;
use guardrail_core::change::audit::AuditKey;
use guardrail_store::{self as store, Identity, Role, Store, StoreError};

/// What went wrong, in the terms the API answers with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("missing or unknown bearer token")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The request is valid but the state does not allow it (409), with reasons.
    #[error("{message}")]
    Conflict {
        message: String,
        reasons: Vec<String>,
    },
    /// The request is well-formed but its content is not usable (422), naming the field.
    #[error("{message}")]
    Unprocessable {
        field: Option<String>,
        message: String,
    },
    /// The request costs more than one request may (413), naming the field.
    #[error("{message}")]
    TooLarge {
        field: Option<String>,
        message: String,
    },
    /// Every evaluation slot is taken and the queue is full (503 with `Retry-After`).
    #[error("{message}")]
    Busy { message: String, retry_after: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError {
    pub fn conflict(message: impl Into<String>) -> Self {
        ServiceError::Conflict {
            message: message.into(),
            reasons: Vec::new(),
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ServiceError::Unprocessable {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// How long a gate answer may be reused when nothing was written meanwhile.
pub const GATE_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// Per environment: (store generation, the parsed baselines of its targets), for the fan-in
/// rules of `POST /v1/evaluate`.
type InventoryCache = RwLock<
    std::collections::HashMap<
        String,
        (
            u64,
            Arc<
                Vec<(
                    guardrail_core::policy::TargetInfo,
                    guardrail_core::pipeline::Loaded,
                )>,
            >,
        ),
    >,
>;

/// Where "now" comes from (tests set it).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

pub struct Service {
    pub store: Arc<dyn Store>,
    runtime: RwLock<Arc<Runtime>>,
    /// Bumped after every committed write: cached answers from an older generation are stale.
    generation: std::sync::atomic::AtomicU64,
    /// Recent gate answers: (target, env, hash) → (generation, when, answer). An answer is reused
    /// only while no write happened since and for at most [`GATE_CACHE_TTL`] (time-dependent
    /// checks — soak, windows, expiry — are at most that stale).
    #[allow(clippy::type_complexity)]
    gate_cache: RwLock<
        std::collections::HashMap<
            (String, String, String),
            (u64, std::time::Instant, api::GateAnswer),
        >,
    >,
    /// Tokens authenticated recently (token hash → identity), each reused for at most
    /// [`tokens::TOKEN_CACHE_TTL`] and dropped at once when revoked through this service;
    /// cleared on reload.
    token_cache: RwLock<std::collections::HashMap<String, tokens::CachedToken>>,
    /// When each stored token was last used, not yet written to the store (flushed by the
    /// sweep: at most one write per token per sweep).
    token_used: Mutex<std::collections::HashMap<i64, DateTime<Utc>>>,
    /// The key audit records are sealed with (kept outside the store).
    audit_key: AuditKey,
    /// The newest head published (log line, metric).
    published_head: Mutex<i64>,
    /// What one request may cost, and the bound on concurrent evaluations.
    pub limits: limits::Limits,
    eval_gate: limits::EvalGate,
    /// Parsed baselines per environment for the fan-in rules of `POST /v1/evaluate`, with the
    /// generation they were read at; cleared on reload.
    inventory_cache: InventoryCache,
    pub metrics: Arc<Metrics>,
    clock: Clock,
    /// `server.public_url`: where people open the web UI (links in notifications).
    pub public_url: Option<String>,
}

impl Service {
    pub fn new(
        store: Arc<dyn Store>,
        runtime: Runtime,
        metrics: Arc<Metrics>,
        clock: Clock,
        audit_key: AuditKey,
    ) -> Self {
        Service {
            store,
            runtime: RwLock::new(Arc::new(runtime)),
            token_cache: RwLock::new(std::collections::HashMap::new()),
            token_used: Mutex::new(std::collections::HashMap::new()),
            audit_key,
            published_head: Mutex::new(0),
            limits: limits::Limits::default(),
            eval_gate: limits::EvalGate::default(),
            inventory_cache: RwLock::default(),
            generation: std::sync::atomic::AtomicU64::new(0),
            gate_cache: RwLock::new(std::collections::HashMap::new()),
            metrics,
            clock,
            public_url: None,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// One write transaction (see [`store::write`]), its audit records sealed with the audit
    /// key; a commit makes cached answers stale and publishes the audit head when it moved.
    pub fn write<R, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut dyn store::Tx) -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E> {
        let r = store::write(self.store.as_ref(), &self.audit_key, |tx| {
            let r = f(tx)?;
            let head = tx.audit_head().map_err(E::from)?;
            Ok::<_, E>((r, head))
        });
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let (r, head) = r?;
        self.publish_head(head.as_ref(), false);
        Ok(r)
    }

    /// This process's writes plus those other processes on the store announced: an answer
    /// cached under an older generation is stale.
    fn generation(&self) -> u64 {
        self.generation
            .load(std::sync::atomic::Ordering::SeqCst)
            .wrapping_add(self.store.foreign_writes())
    }

    /// The policies, targets and settings in force.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the runtime (a reload that validated).
    pub fn set_runtime(&self, rt: Runtime) {
        *self.runtime.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(rt);
        self.token_cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.inventory_cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// The stored form of a token: hex sha256.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// Requires a role; admins hold every role.
pub fn require(id: &Identity, role: Role) -> Result<()> {
    if id.has(role) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(format!(
            "{} lacks the `{}` role",
            id.user,
            role.name()
        )))
    }
}

/// The hash of several targets' contents: one target's own hash, else a hash over the sorted
/// `target=hash` lines.
pub fn combined_hash(parts: &[(String, String)]) -> String {
    if let [(_, h)] = parts {
        return h.clone();
    }
    let mut v: Vec<String> = parts.iter().map(|(t, h)| format!("{t}={h}\n")).collect();
    v.sort();
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(v.concat().as_bytes()))
    )
}

pub fn fmt_duration(d: Duration) -> String {
    humantime::format_duration(d.to_std().unwrap_or_default()).to_string()
}
