//! The daemon's durable state behind one interface (the `Store`/`Tx` traits), implemented by
//! the embedded SQLite store ([`sqlite::SqliteStore`], the default: one process, one file) and
//! the PostgreSQL store ([`postgres::PgStore`]: any number of replicas on one database). Both
//! run the same records (`sql`); [`StoreUrl`] picks one.
//!
//! Callers run a closure in one transaction ([`write`] / [`read`]); the closure sees a [`Tx`]
//! with record-level operations and either commits as a whole or not at all. A write returns
//! only after the commit is durable (SQLite: WAL with `synchronous = FULL`), so whatever the
//! daemon acknowledged survives `kill -9`. Secrets: change and baseline content is stored as
//! submitted (a baseline must be restorable), and never leaves the store unredacted.

pub mod postgres;
mod sql;
pub mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use guardrail_core::change::audit::{AuditEntry, AuditKey, AuditRecord, GENESIS, Head};
use guardrail_core::change::{Decision, Freeze, State};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Backend(String),
    #[error("store: corrupt record: {0}")]
    Corrupt(String),
    /// The closure returned an error; the transaction was rolled back.
    #[error("transaction aborted")]
    Aborted,
    /// An audit record was appended in a transaction without the audit key (a read).
    #[error("store: an audit record needs a write transaction with the audit key")]
    NoAuditKey,
}

impl StoreError {
    /// The same error, said to have happened at `place` (a store's URL).
    pub fn within(self, place: &str) -> StoreError {
        match self {
            StoreError::Backend(m) => StoreError::Backend(format!("{place}: {m}")),
            StoreError::Corrupt(m) => StoreError::Corrupt(format!("{place}: {m}")),
            other => other,
        }
    }
}

/// A user's roles (docs/daemon.md, "Roles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Requester,
    Approver,
    Deployer,
    Admin,
    Breakglass,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Requester,
        Role::Approver,
        Role::Deployer,
        Role::Admin,
        Role::Breakglass,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Approver => "approver",
            Role::Deployer => "deployer",
            Role::Admin => "admin",
            Role::Breakglass => "breakglass",
        }
    }

    pub fn from_name(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == s)
    }
}

/// Who a bearer token stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub user: String,
    pub roles: Vec<Role>,
    pub groups: Vec<String>,
}

impl Identity {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role) || self.roles.contains(&Role::Admin)
    }
}

/// What a change is, beyond its indexed columns (stored as JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangeDoc {
    pub title: String,
    #[serde(default)]
    pub ticket: String,
    #[serde(default)]
    pub source_url: String,
    #[serde(default)]
    pub commit: String,
    /// The approval gates of the current revision (from its findings and the environment).
    #[serde(default)]
    pub requirements: Vec<guardrail_core::change::Requirement>,
    /// Its unwaived mandatory findings, worded for the gate.
    #[serde(default)]
    pub mandatory: Vec<String>,
    /// Its verdict (`pass`, `warn`, `approval`, `blocked`).
    #[serde(default)]
    pub verdict: String,
    #[serde(default)]
    pub scheduled_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub applied_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub verified_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub rolled_back_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub break_glass: Option<BreakGlass>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakGlass {
    pub by: String,
    pub reason: String,
    pub incident: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRow {
    pub id: i64,
    pub env: String,
    pub state: State,
    pub author: String,
    pub content_hash: String,
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub doc: ChangeDoc,
}

/// One target's content in a change (the current revision).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeTarget {
    pub target: String,
    pub content_hash: String,
    pub format: String,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRow {
    pub id: i64,
    pub change_id: i64,
    pub user: String,
    pub groups: Vec<String>,
    pub decision: Decision,
    pub comment: String,
    pub content_hash: String,
    pub at: DateTime<Utc>,
    pub voided: Option<String>,
}

/// A content that became a target's baseline in an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineRow {
    pub id: i64,
    pub target: String,
    pub env: String,
    pub content: String,
    pub content_hash: String,
    pub format: String,
    pub change_id: Option<i64>,
    /// `change`, `first_contact` or `rollback`.
    pub origin: String,
    pub applied_at: DateTime<Utc>,
    pub rolled_back_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreezeRow {
    pub freeze: Freeze,
    pub created_by: String,
    pub lifted_at: Option<DateTime<Utc>>,
    pub lifted_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetroReview {
    pub id: i64,
    pub change_id: i64,
    /// The user whose break-glass opened it (`None` in stores older than schema 3).
    pub opened_by: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
    pub note: Option<String>,
}

/// A stored API token (never the token itself: only its sha256 is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub id: i64,
    pub identity: Identity,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A web UI session: the sha256 of the browser's random session id, its form (CSRF) token, the
/// API token's hash it was signed in with (`None` for a user named by the authenticating proxy)
/// and who. The identity is never stored: it is looked up from the token (or the proxy's
/// headers) on every request, so a revoked token ends its sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id_hash: String,
    pub csrf: String,
    pub token_hash: Option<String>,
    pub user: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Filters of `GET /v1/changes`.
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter {
    pub state: Option<State>,
    pub env: Option<String>,
    pub target: Option<String>,
    pub limit: u32,
}

/// A drift: a live config that differs from its baseline without an approved change (or that
/// does not show an applied change).
#[derive(Debug, Clone, PartialEq)]
pub struct DriftRow {
    pub id: i64,
    pub target: String,
    pub env: String,
    /// `unstaged_push` or `verification_failed`.
    pub kind: String,
    /// `open` or `resolved`.
    pub status: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Normalized hash of the drifted content last seen.
    pub live_hash: String,
    /// The drifted content as fetched (for `drift adopt`); never leaves the store unredacted.
    pub live_content: String,
    pub format: String,
    /// The baseline to roll back to.
    pub baseline_id: Option<i64>,
    pub baseline_hash: Option<String>,
    /// `verification_failed`: the applied change the live config does not show.
    pub change_id: Option<i64>,
    /// JSON `{semantic, unified}`, redacted.
    pub diff: String,
    /// JSON array of the findings the drifted content would raise.
    pub findings: String,
    /// JSON object: why (a blocked change, a timeout, ...).
    pub detail: String,
    pub flaps: i64,
    pub in_sync_since: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// `reverted`, `adopted` (the baseline moved to it), `applied` (an approved change
    /// explained it) or `verified` (the applied change showed up).
    pub resolution: Option<String>,
    pub adopted_change_id: Option<i64>,
}

/// Filters of `GET /v1/drift`.
#[derive(Debug, Clone, Default)]
pub struct DriftFilter {
    /// `open` or `resolved`.
    pub status: Option<String>,
    pub target: Option<String>,
    pub env: Option<String>,
    pub limit: u32,
}

/// The health of a polled source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStatusRow {
    pub target: String,
    pub env: String,
    pub up: bool,
    pub consecutive_failures: i64,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    /// Why the last poll failed (never a secret: header values are not in messages).
    pub last_error: Option<String>,
}

/// An alert that fires and resolves, by key (`unstaged_push/lb-mail/production`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    pub key: String,
    pub event: String,
    /// The firing event (JSON, redacted).
    pub payload: String,
    pub fired_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// One notification to deliver to one receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub receiver: String,
    pub event: String,
    /// The event (JSON, redacted), rendered per receiver at delivery.
    pub payload: String,
    pub created_at: DateTime<Utc>,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub abandoned_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// Record operations inside one transaction.
pub trait Tx {
    /// The key audit records are sealed with: the one the write transaction was opened with
    /// (`None` in a read transaction).
    fn audit_key(&self) -> Option<&AuditKey>;

    fn insert_token(
        &mut self,
        hash: &str,
        id: &Identity,
        at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<i64, StoreError>;
    /// The token with this hash if it is neither revoked nor expired at `now`: (id, identity,
    /// expiry).
    #[allow(clippy::type_complexity)]
    fn token_identity(
        &mut self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(i64, Identity, Option<DateTime<Utc>>)>, StoreError>;
    /// Every stored token, oldest first.
    fn tokens(&mut self) -> Result<Vec<TokenRow>, StoreError>;
    /// Revokes a token not yet revoked; false when there is none with this id.
    fn revoke_token(&mut self, id: i64, at: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Records when tokens were last used.
    fn touch_tokens(&mut self, used: &[(i64, DateTime<Utc>)]) -> Result<(), StoreError>;

    /// Stores a new web UI session.
    fn insert_session(&mut self, s: &SessionRow) -> Result<(), StoreError>;
    /// The session with this id hash, unless it expired before `now`.
    fn session(
        &mut self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRow>, StoreError>;
    /// Ends a session (sign-out); false when there was none.
    fn delete_session(&mut self, id_hash: &str) -> Result<bool, StoreError>;
    /// Deletes the sessions expired before `now`; returns how many.
    fn purge_sessions(&mut self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Inserts a change with id 0 replaced; returns the id.
    fn insert_change(&mut self, c: &ChangeRow) -> Result<i64, StoreError>;
    fn update_change(&mut self, c: &ChangeRow) -> Result<(), StoreError>;
    fn change(&mut self, id: i64) -> Result<Option<ChangeRow>, StoreError>;
    fn changes(&mut self, f: &ChangeFilter) -> Result<Vec<ChangeRow>, StoreError>;
    /// Changes in `states` of `env` that carry `target` (any content when `hash` is `None`).
    fn changes_with_target(
        &mut self,
        env: &str,
        target: &str,
        hash: Option<&str>,
        states: &[State],
    ) -> Result<Vec<ChangeRow>, StoreError>;
    /// Counts of changes per (state, env).
    fn change_counts(&mut self) -> Result<Vec<(State, String, i64)>, StoreError>;
    fn set_change_targets(&mut self, id: i64, t: &[ChangeTarget]) -> Result<(), StoreError>;
    /// The JSON report of a change's current revision (kept apart: only `show` reads it).
    fn set_change_evaluation(&mut self, id: i64, json: &str) -> Result<(), StoreError>;
    fn change_evaluation(&mut self, id: i64) -> Result<Option<String>, StoreError>;
    fn change_targets(&mut self, id: i64) -> Result<Vec<ChangeTarget>, StoreError>;

    fn insert_approval(&mut self, a: &ApprovalRow) -> Result<i64, StoreError>;
    /// Approvals of a change not voided.
    fn approvals(&mut self, change_id: i64) -> Result<Vec<ApprovalRow>, StoreError>;
    /// Voids every live approval of a change; returns how many.
    fn void_approvals(
        &mut self,
        change_id: i64,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError>;

    fn insert_baseline(&mut self, b: &BaselineRow) -> Result<i64, StoreError>;
    /// The newest baseline not rolled back.
    fn baseline(&mut self, target: &str, env: &str) -> Result<Option<BaselineRow>, StoreError>;
    /// Every baseline of a target in an environment with this content hash.
    fn baselines_with_hash(
        &mut self,
        target: &str,
        env: &str,
        hash: &str,
    ) -> Result<Vec<BaselineRow>, StoreError>;
    fn mark_rolled_back(&mut self, baseline_id: i64, at: DateTime<Utc>) -> Result<(), StoreError>;

    fn insert_freeze(&mut self, f: &FreezeRow) -> Result<i64, StoreError>;
    fn lift_freeze(&mut self, id: i64, by: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Freezes not lifted (expired ones included; the gate checks `until`).
    fn freezes(&mut self) -> Result<Vec<FreezeRow>, StoreError>;

    fn insert_retro(&mut self, r: &RetroReview) -> Result<i64, StoreError>;
    fn retro(&mut self, id: i64) -> Result<Option<RetroReview>, StoreError>;
    fn retros(&mut self, open_only: bool) -> Result<Vec<RetroReview>, StoreError>;
    fn close_retro(
        &mut self,
        id: i64,
        by: &str,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Stores a sealed record as the new head of the log (the record and the head move
    /// together).
    fn insert_audit(&mut self, r: &AuditRecord) -> Result<(), StoreError>;
    /// Records with `id > after`, oldest first, at most `limit`.
    fn audit_records(&mut self, after: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError>;
    /// The audit records about one subject (`change/42`), oldest first.
    fn audit_of(&mut self, subject: &str) -> Result<Vec<AuditRecord>, StoreError>;
    fn audit_head(&mut self) -> Result<Option<Head>, StoreError>;
    /// The oldest record with this action (the chain's key marker).
    fn audit_first(&mut self, action: &str) -> Result<Option<AuditRecord>, StoreError>;

    /// Appends one record to the chained audit log: sealed after the head with the
    /// transaction's audit key (the MAC is computed by `change::audit`, not by the backend).
    fn append_audit(
        &mut self,
        e: &AuditEntry,
        at: DateTime<Utc>,
    ) -> Result<AuditRecord, StoreError> {
        let key = self.audit_key().cloned().ok_or(StoreError::NoAuditKey)?;
        let (id, prev) = match self.audit_head()? {
            Some(h) => (h.id + 1, h.hash),
            None => (1, GENESIS.to_string()),
        };
        let r = e.seal(id, &ts(at), &prev, &key);
        self.insert_audit(&r)?;
        Ok(r)
    }

    // Drift detection, source health and the notification outbox (schema 2).

    /// Inserts a drift with id 0 replaced; returns the id.
    fn insert_drift(&mut self, d: &DriftRow) -> Result<i64, StoreError>;
    fn update_drift(&mut self, d: &DriftRow) -> Result<(), StoreError>;
    fn drift(&mut self, id: i64) -> Result<Option<DriftRow>, StoreError>;
    fn open_drift(&mut self, target: &str, env: &str) -> Result<Option<DriftRow>, StoreError>;
    /// Drifts newest first.
    fn drifts(&mut self, f: &DriftFilter) -> Result<Vec<DriftRow>, StoreError>;

    fn source_status(
        &mut self,
        target: &str,
        env: &str,
    ) -> Result<Option<SourceStatusRow>, StoreError>;
    fn set_source_status(&mut self, s: &SourceStatusRow) -> Result<(), StoreError>;
    fn source_statuses(&mut self) -> Result<Vec<SourceStatusRow>, StoreError>;

    fn alert(&mut self, key: &str) -> Result<Option<AlertRow>, StoreError>;
    fn put_alert(&mut self, a: &AlertRow) -> Result<(), StoreError>;
    /// Alerts fired and not resolved.
    fn active_alerts(&mut self) -> Result<Vec<AlertRow>, StoreError>;

    /// Inserts an outbox row with id 0 replaced; returns the id.
    fn insert_outbox(&mut self, o: &OutboxRow) -> Result<i64, StoreError>;
    /// For each receiver, its oldest undelivered row, if that row is due at `now` (rows of one
    /// receiver are delivered in order).
    fn outbox_due(&mut self, now: DateTime<Utc>) -> Result<Vec<OutboxRow>, StoreError>;
    /// Rows neither delivered nor abandoned, oldest first.
    fn outbox_pending(&mut self, limit: u32) -> Result<Vec<OutboxRow>, StoreError>;
    fn outbox_pending_count(&mut self) -> Result<i64, StoreError>;
    /// Records a delivery attempt: delivered, or failed with the time of the next attempt
    /// (abandoned when `abandon` is set).
    fn outbox_attempted(
        &mut self,
        id: i64,
        at: DateTime<Utc>,
        result: &OutboxAttempt,
    ) -> Result<(), StoreError>;

    fn insert_verification(
        &mut self,
        change_id: i64,
        target: &str,
        env: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The targets of a change seen live with its content.
    fn verified_targets(&mut self, change_id: i64) -> Result<Vec<String>, StoreError>;
    /// The newest baselines of a target (not rolled back), newest first.
    fn recent_baselines(
        &mut self,
        target: &str,
        env: &str,
        limit: u32,
    ) -> Result<Vec<BaselineRow>, StoreError>;
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxAttempt {
    Delivered,
    Failed {
        error: String,
        next_attempt_at: DateTime<Utc>,
    },
    Abandoned {
        error: String,
    },
}

/// A transactional store. Implementations serialize writers; readers may run concurrently.
pub trait Store: Send + Sync {
    /// Runs `f` in a write transaction: committed (durably) when `f` returns `Ok`, rolled back
    /// otherwise. Audit records appended in it are sealed with `key`.
    fn write_tx(
        &self,
        key: &AuditKey,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// Runs `f` in a read-only snapshot.
    fn read_tx(
        &self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// Whether the store answers (for `/readyz`).
    fn ping(&self) -> Result<(), StoreError>;

    /// Starts taking part in the election of the process that does singleton work (the drift
    /// poller, the expiry sweep, the notification outbox) among the processes on this store;
    /// a leader that stops answering loses the role within `lease`. Only `guardrail serve`
    /// calls it (offline commands never lead). SQLite: nothing to elect.
    fn elect(&self, _lease: std::time::Duration) {}

    /// Whether this process may do singleton work now. SQLite: always (one process).
    fn is_leader(&self) -> bool {
        true
    }

    /// A count that moves when another process on this store commits a write, so that answers
    /// cached from earlier reads are known stale. SQLite: never (one process).
    fn foreign_writes(&self) -> u64 {
        0
    }

    /// Delivers the outbox's due rows (the oldest undelivered row of each receiver, when due):
    /// `deliver` gets them and returns each one's attempt, in order, and the attempts are
    /// recorded. Returns the rows with their attempts. The default reads, delivers outside any
    /// transaction and records in a write (SQLite: one process, and its one writer must not
    /// wait on a webhook); PostgreSQL claims the rows `FOR UPDATE SKIP LOCKED` and records the
    /// attempts in the transaction that claimed them.
    fn claim_outbox(
        &self,
        key: &AuditKey,
        now: DateTime<Utc>,
        deliver: &mut dyn FnMut(&[OutboxRow]) -> Vec<OutboxAttempt>,
    ) -> Result<Vec<(OutboxRow, OutboxAttempt)>, StoreError> {
        let mut rows = Vec::new();
        self.read_tx(&mut |tx| {
            rows = tx.outbox_due(now)?;
            Ok(())
        })?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let attempts = deliver(&rows);
        let done: Vec<(OutboxRow, OutboxAttempt)> = rows.into_iter().zip(attempts).collect();
        self.write_tx(key, &mut |tx| {
            for (row, a) in &done {
                tx.outbox_attempted(row.id, now, a)?;
            }
            Ok(())
        })?;
        Ok(done)
    }
}

fn run<R, E: From<StoreError>>(
    store: &dyn Store,
    write: Option<&AuditKey>,
    f: impl FnOnce(&mut dyn Tx) -> Result<R, E>,
) -> Result<R, E> {
    let mut f = Some(f);
    let mut out: Option<Result<R, E>> = None;
    let mut body = |tx: &mut dyn Tx| -> Result<(), StoreError> {
        let f = f.take().ok_or(StoreError::Aborted)?;
        let r = f(tx);
        let failed = r.is_err();
        out = Some(r);
        if failed {
            Err(StoreError::Aborted)
        } else {
            Ok(())
        }
    };
    let res = match write {
        Some(key) => store.write_tx(key, &mut body),
        None => store.read_tx(&mut body),
    };
    match (res, out) {
        (_, Some(Err(e))) => Err(e),
        (Err(e), _) => Err(e.into()),
        (Ok(()), Some(Ok(v))) => Ok(v),
        (Ok(()), None) => Err(StoreError::Aborted.into()),
    }
}

/// Runs `f` in one write transaction whose audit records are sealed with `key`; its error (any
/// type that a store error converts into) rolls everything back.
pub fn write<R, E: From<StoreError>>(
    store: &dyn Store,
    key: &AuditKey,
    f: impl FnOnce(&mut dyn Tx) -> Result<R, E>,
) -> Result<R, E> {
    run(store, Some(key), f)
}

/// Runs `f` in one read transaction.
pub fn read<R, E: From<StoreError>>(
    store: &dyn Store,
    f: impl FnOnce(&mut dyn Tx) -> Result<R, E>,
) -> Result<R, E> {
    run(store, None, f)
}

/// The stored form of an instant: RFC 3339 UTC with microseconds, so strings sort in time
/// order.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp `{s}`: {e}")))
}

/// Where the store is: `sqlite:///path/guardrail.sqlite` (the default: the data directory's
/// file) or `postgres://user@host:port/db` (also `postgresql://`; libpq's URL form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl StoreUrl {
    /// Parses a store URL; an unknown scheme is an error naming the two there are.
    pub fn parse(s: &str) -> Result<StoreUrl, String> {
        let t = s.trim();
        if t.starts_with("postgres://") || t.starts_with("postgresql://") {
            return Ok(StoreUrl::Postgres(t.to_string()));
        }
        if let Some(path) = t.strip_prefix("sqlite://") {
            if path.is_empty() || path.ends_with('/') {
                return Err(format!(
                    "`{t}`: a SQLite store URL names the file, such as sqlite:///var/lib/guardrail/guardrail.sqlite"
                ));
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        let scheme = t.split_once("://").map_or(t, |(s, _)| s);
        let nearest = if scheme.to_ascii_lowercase().starts_with('p') {
            "postgres://user@host:5432/db"
        } else {
            "sqlite:///path/guardrail.sqlite"
        };
        Err(format!(
            "`{}`: not a store URL; expected sqlite:///path/file.sqlite or postgres://user@host:port/db (did you mean {nearest}?)",
            postgres::shown_url(t)
        ))
    }

    /// The data directory's SQLite file.
    pub fn in_data_dir(data_dir: &std::path::Path) -> StoreUrl {
        StoreUrl::Sqlite(data_dir.join(sqlite::FILE_NAME))
    }

    /// The URL as it may be logged: never a password.
    pub fn shown(&self) -> String {
        match self {
            StoreUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
            StoreUrl::Postgres(u) => postgres::shown_url(u),
        }
    }

    /// Opens (and migrates) the store; an error names its URL.
    pub fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        Opened::open(self).map(Opened::into_store)
    }
}

/// An opened store as its backend: `StoreUrl::open` hands it out as a `Store`, `store migrate`
/// reaches its records through the shared SQL.
enum Opened {
    Sqlite(sqlite::SqliteStore),
    Postgres(Box<postgres::PgStore>),
}

impl Opened {
    /// Opens the store; an error names its URL (without a password).
    fn open(url: &StoreUrl) -> Result<Opened, StoreError> {
        let opened = match url {
            StoreUrl::Sqlite(p) => sqlite::SqliteStore::open_file(p).map(Opened::Sqlite),
            StoreUrl::Postgres(u) => {
                postgres::PgStore::open(u).map(|s| Opened::Postgres(Box::new(s)))
            }
        };
        opened.map_err(|e| e.within(&url.shown()))
    }

    fn into_store(self) -> Arc<dyn Store> {
        match self {
            Opened::Sqlite(s) => Arc::new(s),
            Opened::Postgres(p) => Arc::new(*p),
        }
    }

    fn with_db(
        &self,
        write: bool,
        f: &mut dyn FnMut(&mut dyn sql::Db) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        match self {
            Opened::Sqlite(s) => s.with_db(write, f),
            Opened::Postgres(s) => s.with_db(write, f),
        }
    }
}

/// Rows copied per table, in copy order.
pub type Copied = Vec<(&'static str, i64)>;

/// Copies every record of the store at `from` into the store at `to` (created and migrated
/// when new; it must hold no record), ids kept, in one transaction on each side; returns the
/// rows copied per table and the new store. Verifying the audit chain on the far side is the
/// caller's (it has the key).
pub fn migrate_store(
    from: &StoreUrl,
    to: &StoreUrl,
) -> Result<(Copied, Arc<dyn Store>), StoreError> {
    if from == to {
        return Err(StoreError::Backend(
            "--from and --to name the same store".into(),
        ));
    }
    let src = Opened::open(from)?;
    let dst = Opened::open(to)?;
    let mut copied = Vec::new();
    src.with_db(false, &mut |s| {
        dst.with_db(true, &mut |d| {
            copied = sql::copy::copy(s, d)?;
            Ok(())
        })
    })?;
    if let Opened::Postgres(p) = &dst {
        p.after_copy()?;
    }
    Ok((copied, dst.into_store()))
}
