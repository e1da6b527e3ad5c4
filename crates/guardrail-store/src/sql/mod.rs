//! The records, written once for every SQL backend: each `Tx` operation is one SQL statement
//! (or a few) over the small [`Db`] interface that the SQLite and the PostgreSQL stores
//! implement. The SQL is the common dialect of both (`?N` placeholders, which the PostgreSQL
//! store numbers `$N`; `INSERT ... RETURNING id`; `ON CONFLICT`); what differs between the
//! backends is the schema's DDL (each has its migrations), the connections and the
//! transactions, never the records.
//!
//! One module per area: `changes` (changes, their targets and evaluations, approvals),
//! `baselines` (baselines and live verifications), `freezes` (freezes and retro reviews),
//! `tokens` (API tokens, web UI sessions and the audit log), `drift` (drifts and source health), `outbox`
//! (alerts and the notification outbox); `packing` (zstd for large texts); `copy` (every table
//! from one store into another, for `store migrate`). [`SqlTx`]
//! implements [`Tx`] by handing each call to its area.

mod baselines;
mod changes;
pub(crate) mod copy;
mod drift;
mod freezes;
pub(crate) mod outbox;
pub(crate) mod packing;
#[cfg(test)]
pub(crate) mod tests;
mod tokens;

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use crate::*;

/// A statement parameter.
#[derive(Debug)]
pub(crate) enum Arg<'a> {
    Null,
    Int(i64),
    Text(Cow<'a, str>),
    /// A large text, stored compressed when it is large ([`packing`]).
    Packed(&'a str),
    /// Bytes as stored (a packed text copied between stores).
    Bytes(&'a [u8]),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<u32> for Arg<'_> {
    fn from(v: u32) -> Self {
        Arg::Int(v.into())
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Int(v.into())
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Cow::Borrowed(v))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Cow::Borrowed(v))
    }
}

impl From<String> for Arg<'_> {
    fn from(v: String) -> Self {
        Arg::Text(Cow::Owned(v))
    }
}

impl<'a, T: Into<Arg<'a>>> From<Option<T>> for Arg<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Arg::Null, Into::into)
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        v.as_deref().into()
    }
}

impl From<DateTime<Utc>> for Arg<'_> {
    fn from(v: DateTime<Utc>) -> Self {
        Arg::Text(Cow::Owned(ts(v)))
    }
}

/// `args![a, b, c]`: a parameter list.
macro_rules! args {
    ($($e:expr),* $(,)?) => {
        &[$($crate::sql::Arg::from($e)),*][..]
    };
}
pub(crate) use args;

/// One value of a result row.
#[derive(Debug)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// One result row; getters take their column out (each column is read once).
#[derive(Debug)]
pub(crate) struct Row(pub(crate) Vec<Cell>);

impl Row {
    fn take(&mut self, i: usize) -> Result<Cell, StoreError> {
        match self.0.get_mut(i) {
            Some(c) => Ok(std::mem::replace(c, Cell::Null)),
            None => Err(StoreError::Corrupt(format!("no column {i} in a row"))),
        }
    }

    fn wrong(i: usize, want: &str, got: &Cell) -> StoreError {
        StoreError::Corrupt(format!("column {i}: expected {want}, found {got:?}"))
    }

    pub(crate) fn opt_int(&mut self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.take(i)? {
            Cell::Null => Ok(None),
            Cell::Int(v) => Ok(Some(v)),
            other => Err(Self::wrong(i, "an integer", &other)),
        }
    }

    pub(crate) fn int(&mut self, i: usize) -> Result<i64, StoreError> {
        self.opt_int(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {i}: null integer")))
    }

    pub(crate) fn bool(&mut self, i: usize) -> Result<bool, StoreError> {
        Ok(self.int(i)? != 0)
    }

    pub(crate) fn opt_text(&mut self, i: usize) -> Result<Option<String>, StoreError> {
        match self.take(i)? {
            Cell::Null => Ok(None),
            Cell::Text(s) => Ok(Some(s)),
            other => Err(Self::wrong(i, "text", &other)),
        }
    }

    pub(crate) fn text(&mut self, i: usize) -> Result<String, StoreError> {
        self.opt_text(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {i}: null text")))
    }

    pub(crate) fn opt_ts(&mut self, i: usize) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.opt_text(i)?.map(|s| parse_ts(&s)).transpose()
    }

    pub(crate) fn ts(&mut self, i: usize) -> Result<DateTime<Utc>, StoreError> {
        parse_ts(&self.text(i)?)
    }

    /// A text stored with [`Arg::Packed`]: plain, or a zstd frame.
    pub(crate) fn opt_packed(&mut self, i: usize) -> Result<Option<String>, StoreError> {
        match self.take(i)? {
            Cell::Null => Ok(None),
            Cell::Text(s) => Ok(Some(s)),
            Cell::Bytes(b) => packing::unpack(b).map(Some),
            other => Err(Self::wrong(i, "a text", &other)),
        }
    }

    pub(crate) fn packed(&mut self, i: usize) -> Result<String, StoreError> {
        self.opt_packed(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {i}: null text")))
    }

    /// A JSON list of strings.
    pub(crate) fn list(&mut self, i: usize) -> Result<Vec<String>, StoreError> {
        parse_list(&self.text(i)?)
    }
}

/// What a backend gives the records: statements in one open transaction.
pub(crate) trait Db {
    /// Runs a statement; the number of rows it changed.
    fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError>;
    /// Runs a query; its rows.
    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError>;

    /// The first row of a query, if any.
    fn query_opt(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// Runs an `INSERT ... RETURNING id`; the new row's id.
    fn insert(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<i64, StoreError> {
        match self.query_opt(sql, args)? {
            Some(mut r) => r.int(0),
            None => Err(StoreError::Backend("an insert returned no id".into())),
        }
    }
}

/// Maps each row with `f`.
pub(crate) fn rows<T>(
    rows: Vec<Row>,
    f: impl Fn(Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(f).collect()
}

pub(crate) fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn parse_list(s: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("list `{s}`: {e}")))
}

/// A transaction of a SQL backend as a [`Tx`].
pub(crate) struct SqlTx<'k, D> {
    pub(crate) db: D,
    pub(crate) key: Option<&'k AuditKey>,
}

impl<D: Db> Tx for SqlTx<'_, D> {
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
        tokens::insert_token(&mut self.db, hash, id, at, expires_at)
    }

    fn token_identity(
        &mut self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(i64, Identity, Option<DateTime<Utc>>)>, StoreError> {
        tokens::token_identity(&mut self.db, hash, now)
    }

    fn tokens(&mut self) -> Result<Vec<TokenRow>, StoreError> {
        tokens::tokens(&mut self.db)
    }

    fn revoke_token(&mut self, id: i64, at: DateTime<Utc>) -> Result<bool, StoreError> {
        tokens::revoke_token(&mut self.db, id, at)
    }

    fn touch_tokens(&mut self, used: &[(i64, DateTime<Utc>)]) -> Result<(), StoreError> {
        tokens::touch_tokens(&mut self.db, used)
    }

    fn insert_session(&mut self, s: &SessionRow) -> Result<(), StoreError> {
        tokens::insert_session(&mut self.db, s)
    }

    fn session(
        &mut self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRow>, StoreError> {
        tokens::session(&mut self.db, id_hash, now)
    }

    fn delete_session(&mut self, id_hash: &str) -> Result<bool, StoreError> {
        tokens::delete_session(&mut self.db, id_hash)
    }

    fn purge_sessions(&mut self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        tokens::purge_sessions(&mut self.db, now)
    }

    fn insert_change(&mut self, c: &ChangeRow) -> Result<i64, StoreError> {
        changes::insert_change(&mut self.db, c)
    }

    fn update_change(&mut self, c: &ChangeRow) -> Result<(), StoreError> {
        changes::update_change(&mut self.db, c)
    }

    fn change(&mut self, id: i64) -> Result<Option<ChangeRow>, StoreError> {
        changes::change(&mut self.db, id)
    }

    fn changes(&mut self, f: &ChangeFilter) -> Result<Vec<ChangeRow>, StoreError> {
        changes::changes(&mut self.db, f)
    }

    fn changes_with_target(
        &mut self,
        env: &str,
        target: &str,
        hash: Option<&str>,
        states: &[State],
    ) -> Result<Vec<ChangeRow>, StoreError> {
        changes::changes_with_target(&mut self.db, env, target, hash, states)
    }

    fn change_counts(&mut self) -> Result<Vec<(State, String, i64)>, StoreError> {
        changes::change_counts(&mut self.db)
    }

    fn set_change_targets(&mut self, id: i64, t: &[ChangeTarget]) -> Result<(), StoreError> {
        changes::set_change_targets(&mut self.db, id, t)
    }

    fn set_change_evaluation(&mut self, id: i64, json: &str) -> Result<(), StoreError> {
        changes::set_change_evaluation(&mut self.db, id, json)
    }

    fn change_evaluation(&mut self, id: i64) -> Result<Option<String>, StoreError> {
        changes::change_evaluation(&mut self.db, id)
    }

    fn change_targets(&mut self, id: i64) -> Result<Vec<ChangeTarget>, StoreError> {
        changes::change_targets(&mut self.db, id)
    }

    fn insert_approval(&mut self, a: &ApprovalRow) -> Result<i64, StoreError> {
        changes::insert_approval(&mut self.db, a)
    }

    fn approvals(&mut self, change_id: i64) -> Result<Vec<ApprovalRow>, StoreError> {
        changes::approvals(&mut self.db, change_id)
    }

    fn void_approvals(
        &mut self,
        change_id: i64,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        changes::void_approvals(&mut self.db, change_id, reason, at)
    }

    fn insert_baseline(&mut self, b: &BaselineRow) -> Result<i64, StoreError> {
        baselines::insert_baseline(&mut self.db, b)
    }

    fn baseline(&mut self, target: &str, env: &str) -> Result<Option<BaselineRow>, StoreError> {
        baselines::baseline(&mut self.db, target, env)
    }

    fn baselines_with_hash(
        &mut self,
        target: &str,
        env: &str,
        hash: &str,
    ) -> Result<Vec<BaselineRow>, StoreError> {
        baselines::baselines_with_hash(&mut self.db, target, env, hash)
    }

    fn mark_rolled_back(&mut self, baseline_id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        baselines::mark_rolled_back(&mut self.db, baseline_id, at)
    }

    fn insert_freeze(&mut self, f: &FreezeRow) -> Result<i64, StoreError> {
        freezes::insert_freeze(&mut self.db, f)
    }

    fn lift_freeze(&mut self, id: i64, by: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        freezes::lift_freeze(&mut self.db, id, by, at)
    }

    fn freezes(&mut self) -> Result<Vec<FreezeRow>, StoreError> {
        freezes::freezes(&mut self.db)
    }

    fn insert_retro(&mut self, r: &RetroReview) -> Result<i64, StoreError> {
        freezes::insert_retro(&mut self.db, r)
    }

    fn retro(&mut self, id: i64) -> Result<Option<RetroReview>, StoreError> {
        freezes::retro(&mut self.db, id)
    }

    fn retros(&mut self, open_only: bool) -> Result<Vec<RetroReview>, StoreError> {
        freezes::retros(&mut self.db, open_only)
    }

    fn close_retro(
        &mut self,
        id: i64,
        by: &str,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        freezes::close_retro(&mut self.db, id, by, note, at)
    }

    fn insert_audit(&mut self, r: &AuditRecord) -> Result<(), StoreError> {
        tokens::insert_audit(&mut self.db, r)
    }

    fn audit_first(&mut self, action: &str) -> Result<Option<AuditRecord>, StoreError> {
        tokens::audit_first(&mut self.db, action)
    }

    fn audit_records(&mut self, after: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        tokens::audit_records(&mut self.db, after, limit)
    }

    fn audit_of(&mut self, subject: &str) -> Result<Vec<AuditRecord>, StoreError> {
        tokens::audit_of(&mut self.db, subject)
    }

    fn audit_head(&mut self) -> Result<Option<Head>, StoreError> {
        tokens::audit_head(&mut self.db)
    }

    fn insert_drift(&mut self, d: &DriftRow) -> Result<i64, StoreError> {
        drift::insert_drift(&mut self.db, d)
    }

    fn update_drift(&mut self, d: &DriftRow) -> Result<(), StoreError> {
        drift::update_drift(&mut self.db, d)
    }

    fn drift(&mut self, id: i64) -> Result<Option<DriftRow>, StoreError> {
        drift::drift(&mut self.db, id)
    }

    fn open_drift(&mut self, target: &str, env: &str) -> Result<Option<DriftRow>, StoreError> {
        drift::open_drift(&mut self.db, target, env)
    }

    fn drifts(&mut self, f: &DriftFilter) -> Result<Vec<DriftRow>, StoreError> {
        drift::drifts(&mut self.db, f)
    }

    fn source_status(
        &mut self,
        target: &str,
        env: &str,
    ) -> Result<Option<SourceStatusRow>, StoreError> {
        drift::source_status(&mut self.db, target, env)
    }

    fn set_source_status(&mut self, s: &SourceStatusRow) -> Result<(), StoreError> {
        drift::set_source_status(&mut self.db, s)
    }

    fn source_statuses(&mut self) -> Result<Vec<SourceStatusRow>, StoreError> {
        drift::source_statuses(&mut self.db)
    }

    fn alert(&mut self, key: &str) -> Result<Option<AlertRow>, StoreError> {
        outbox::alert(&mut self.db, key)
    }

    fn put_alert(&mut self, a: &AlertRow) -> Result<(), StoreError> {
        outbox::put_alert(&mut self.db, a)
    }

    fn active_alerts(&mut self) -> Result<Vec<AlertRow>, StoreError> {
        outbox::active_alerts(&mut self.db)
    }

    fn insert_outbox(&mut self, o: &OutboxRow) -> Result<i64, StoreError> {
        outbox::insert_outbox(&mut self.db, o)
    }

    fn outbox_due(&mut self, now: DateTime<Utc>) -> Result<Vec<OutboxRow>, StoreError> {
        outbox::outbox_due(&mut self.db, now, false)
    }

    fn outbox_pending(&mut self, limit: u32) -> Result<Vec<OutboxRow>, StoreError> {
        outbox::outbox_pending(&mut self.db, limit)
    }

    fn outbox_pending_count(&mut self) -> Result<i64, StoreError> {
        outbox::outbox_pending_count(&mut self.db)
    }

    fn outbox_attempted(
        &mut self,
        id: i64,
        at: DateTime<Utc>,
        result: &OutboxAttempt,
    ) -> Result<(), StoreError> {
        outbox::outbox_attempted(&mut self.db, id, at, result)
    }

    fn insert_verification(
        &mut self,
        change_id: i64,
        target: &str,
        env: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        baselines::insert_verification(&mut self.db, change_id, target, env, at)
    }

    fn verified_targets(&mut self, change_id: i64) -> Result<Vec<String>, StoreError> {
        baselines::verified_targets(&mut self.db, change_id)
    }

    fn recent_baselines(
        &mut self,
        target: &str,
        env: &str,
        limit: u32,
    ) -> Result<Vec<BaselineRow>, StoreError> {
        baselines::recent_baselines(&mut self.db, target, env, limit)
    }
}
