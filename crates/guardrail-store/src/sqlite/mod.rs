//! The embedded SQLite store: one file in the data directory, WAL journal, `synchronous =
//! FULL` (a commit is on disk before the client hears of it), migrations embedded in the
//! binary and applied at open. One writer connection (SQLite serializes writers anyway) and a
//! small pool of reader connections that never block it.
//!
//! The store holds raw configs (secrets included), so the data directory is kept private: it is
//! created 0700 and the store file 0600 (SQLite gives its `-wal` and `-shm` files the store
//! file's mode), and opening refuses a directory or file that group or others may read, naming
//! the `chmod` that fixes it.
//!
//! One module per seam: `open` (the data directory, its privacy, connections, migrations),
//! `packing` (zstd for large texts), and the records by area — `changes` (changes, their
//! targets and evaluations, approvals), `baselines` (baselines and live verifications),
//! `freezes` (freezes and retro reviews), `tokens` (API tokens and the audit log), `drift`
//! (drifts and source health), `outbox` (alerts and the notification outbox). `SqlTx`
//! implements [`Tx`] by handing each operation to its area.

mod baselines;
mod changes;
mod drift;
mod freezes;
mod open;
mod outbox;
mod packing;
#[cfg(test)]
mod tests;
mod tokens;

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::*;
use open::open_conn;
pub use open::{FILE_NAME, check_private, create_data_dir};

pub struct SqliteStore {
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    path: std::path::PathBuf,
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        backend(e)
    }
}

impl Store for SqliteStore {
    fn write_tx(
        &self,
        key: &AuditKey,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut c = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut t = SqlTx { tx, key: Some(key) };
        f(&mut t)?;
        t.tx.commit()?;
        Ok(())
    }

    fn read_tx(
        &self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let conn = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut c = match conn {
            Some(c) => c,
            None => open_conn(&self.path)?,
        };
        let result = (|| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let mut t = SqlTx { tx, key: None };
            f(&mut t)?;
            t.tx.rollback()?;
            Ok(())
        })();
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 16 {
            pool.push(c);
        }
        result
    }

    fn ping(&self) -> Result<(), StoreError> {
        read(self, |tx| tx.audit_head().map(|_| ()))
    }
}

struct SqlTx<'c> {
    tx: Transaction<'c>,
    key: Option<&'c AuditKey>,
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn parse_list(s: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("list `{s}`: {e}")))
}

fn opt_ts(s: Option<String>) -> Result<Option<DateTime<Utc>>, StoreError> {
    s.map(|s| parse_ts(&s)).transpose()
}

fn collect<T>(
    rows: impl Iterator<Item = rusqlite::Result<Result<T, StoreError>>>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    for r in rows {
        out.push(r??);
    }
    Ok(out)
}

impl Tx for SqlTx<'_> {
    fn audit_key(&self) -> Option<&AuditKey> {
        self.key
    }

    fn insert_token(
        &mut self,
        hash: &str,
        id: &Identity,
        at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<i64, StoreError> {
        tokens::insert_token(&self.tx, hash, id, at, expires_at)
    }

    fn token_identity(
        &mut self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(i64, Identity, Option<DateTime<Utc>>)>, StoreError> {
        tokens::token_identity(&self.tx, hash, now)
    }

    fn tokens(&mut self) -> Result<Vec<TokenRow>, StoreError> {
        tokens::tokens(&self.tx)
    }

    fn revoke_token(&mut self, id: i64, at: DateTime<Utc>) -> Result<bool, StoreError> {
        tokens::revoke_token(&self.tx, id, at)
    }

    fn touch_tokens(&mut self, used: &[(i64, DateTime<Utc>)]) -> Result<(), StoreError> {
        tokens::touch_tokens(&self.tx, used)
    }

    fn insert_change(&mut self, c: &ChangeRow) -> Result<i64, StoreError> {
        changes::insert_change(&self.tx, c)
    }

    fn update_change(&mut self, c: &ChangeRow) -> Result<(), StoreError> {
        changes::update_change(&self.tx, c)
    }

    fn change(&mut self, id: i64) -> Result<Option<ChangeRow>, StoreError> {
        changes::change(&self.tx, id)
    }

    fn changes(&mut self, f: &ChangeFilter) -> Result<Vec<ChangeRow>, StoreError> {
        changes::changes(&self.tx, f)
    }

    fn changes_with_target(
        &mut self,
        env: &str,
        target: &str,
        hash: Option<&str>,
        states: &[State],
    ) -> Result<Vec<ChangeRow>, StoreError> {
        changes::changes_with_target(&self.tx, env, target, hash, states)
    }

    fn change_counts(&mut self) -> Result<Vec<(State, String, i64)>, StoreError> {
        changes::change_counts(&self.tx)
    }

    fn set_change_targets(&mut self, id: i64, t: &[ChangeTarget]) -> Result<(), StoreError> {
        changes::set_change_targets(&self.tx, id, t)
    }

    fn set_change_evaluation(&mut self, id: i64, json: &str) -> Result<(), StoreError> {
        changes::set_change_evaluation(&self.tx, id, json)
    }

    fn change_evaluation(&mut self, id: i64) -> Result<Option<String>, StoreError> {
        changes::change_evaluation(&self.tx, id)
    }

    fn change_targets(&mut self, id: i64) -> Result<Vec<ChangeTarget>, StoreError> {
        changes::change_targets(&self.tx, id)
    }

    fn insert_approval(&mut self, a: &ApprovalRow) -> Result<i64, StoreError> {
        changes::insert_approval(&self.tx, a)
    }

    fn approvals(&mut self, change_id: i64) -> Result<Vec<ApprovalRow>, StoreError> {
        changes::approvals(&self.tx, change_id)
    }

    fn void_approvals(
        &mut self,
        change_id: i64,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        changes::void_approvals(&self.tx, change_id, reason, at)
    }

    fn insert_baseline(&mut self, b: &BaselineRow) -> Result<i64, StoreError> {
        baselines::insert_baseline(&self.tx, b)
    }

    fn baseline(&mut self, target: &str, env: &str) -> Result<Option<BaselineRow>, StoreError> {
        baselines::baseline(&self.tx, target, env)
    }

    fn baselines_with_hash(
        &mut self,
        target: &str,
        env: &str,
        hash: &str,
    ) -> Result<Vec<BaselineRow>, StoreError> {
        baselines::baselines_with_hash(&self.tx, target, env, hash)
    }

    fn mark_rolled_back(&mut self, baseline_id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        baselines::mark_rolled_back(&self.tx, baseline_id, at)
    }

    fn insert_freeze(&mut self, f: &FreezeRow) -> Result<i64, StoreError> {
        freezes::insert_freeze(&self.tx, f)
    }

    fn lift_freeze(&mut self, id: i64, by: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        freezes::lift_freeze(&self.tx, id, by, at)
    }

    fn freezes(&mut self) -> Result<Vec<FreezeRow>, StoreError> {
        freezes::freezes(&self.tx)
    }

    fn insert_retro(&mut self, r: &RetroReview) -> Result<i64, StoreError> {
        freezes::insert_retro(&self.tx, r)
    }

    fn retro(&mut self, id: i64) -> Result<Option<RetroReview>, StoreError> {
        freezes::retro(&self.tx, id)
    }

    fn retros(&mut self, open_only: bool) -> Result<Vec<RetroReview>, StoreError> {
        freezes::retros(&self.tx, open_only)
    }

    fn close_retro(
        &mut self,
        id: i64,
        by: &str,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        freezes::close_retro(&self.tx, id, by, note, at)
    }

    fn insert_audit(&mut self, r: &AuditRecord) -> Result<(), StoreError> {
        tokens::insert_audit(&self.tx, r)
    }

    fn audit_first(&mut self, action: &str) -> Result<Option<AuditRecord>, StoreError> {
        tokens::audit_first(&self.tx, action)
    }

    fn audit_records(&mut self, after: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        tokens::audit_records(&self.tx, after, limit)
    }

    fn audit_head(&mut self) -> Result<Option<Head>, StoreError> {
        tokens::audit_head(&self.tx)
    }

    fn insert_drift(&mut self, d: &DriftRow) -> Result<i64, StoreError> {
        drift::insert_drift(&self.tx, d)
    }

    fn update_drift(&mut self, d: &DriftRow) -> Result<(), StoreError> {
        drift::update_drift(&self.tx, d)
    }

    fn drift(&mut self, id: i64) -> Result<Option<DriftRow>, StoreError> {
        drift::drift(&self.tx, id)
    }

    fn open_drift(&mut self, target: &str, env: &str) -> Result<Option<DriftRow>, StoreError> {
        drift::open_drift(&self.tx, target, env)
    }

    fn drifts(&mut self, f: &DriftFilter) -> Result<Vec<DriftRow>, StoreError> {
        drift::drifts(&self.tx, f)
    }

    fn source_status(
        &mut self,
        target: &str,
        env: &str,
    ) -> Result<Option<SourceStatusRow>, StoreError> {
        drift::source_status(&self.tx, target, env)
    }

    fn set_source_status(&mut self, s: &SourceStatusRow) -> Result<(), StoreError> {
        drift::set_source_status(&self.tx, s)
    }

    fn source_statuses(&mut self) -> Result<Vec<SourceStatusRow>, StoreError> {
        drift::source_statuses(&self.tx)
    }

    fn alert(&mut self, key: &str) -> Result<Option<AlertRow>, StoreError> {
        outbox::alert(&self.tx, key)
    }

    fn put_alert(&mut self, a: &AlertRow) -> Result<(), StoreError> {
        outbox::put_alert(&self.tx, a)
    }

    fn active_alerts(&mut self) -> Result<Vec<AlertRow>, StoreError> {
        outbox::active_alerts(&self.tx)
    }

    fn insert_outbox(&mut self, o: &OutboxRow) -> Result<i64, StoreError> {
        outbox::insert_outbox(&self.tx, o)
    }

    fn outbox_due(&mut self, now: DateTime<Utc>) -> Result<Vec<OutboxRow>, StoreError> {
        outbox::outbox_due(&self.tx, now)
    }

    fn outbox_pending(&mut self, limit: u32) -> Result<Vec<OutboxRow>, StoreError> {
        outbox::outbox_pending(&self.tx, limit)
    }

    fn outbox_pending_count(&mut self) -> Result<i64, StoreError> {
        outbox::outbox_pending_count(&self.tx)
    }

    fn outbox_attempted(
        &mut self,
        id: i64,
        at: DateTime<Utc>,
        result: &OutboxAttempt,
    ) -> Result<(), StoreError> {
        outbox::outbox_attempted(&self.tx, id, at, result)
    }

    fn insert_verification(
        &mut self,
        change_id: i64,
        target: &str,
        env: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        baselines::insert_verification(&self.tx, change_id, target, env, at)
    }

    fn verified_targets(&mut self, change_id: i64) -> Result<Vec<String>, StoreError> {
        baselines::verified_targets(&self.tx, change_id)
    }

    fn recent_baselines(
        &mut self,
        target: &str,
        env: &str,
        limit: u32,
    ) -> Result<Vec<BaselineRow>, StoreError> {
        baselines::recent_baselines(&self.tx, target, env, limit)
    }
}
