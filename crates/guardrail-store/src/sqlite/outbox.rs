//! State alerts by key and the durable notification outbox.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::*;

fn alert_row(r: &Row<'_>) -> rusqlite::Result<Result<AlertRow, StoreError>> {
    let fired: String = r.get(3)?;
    let resolved: Option<String> = r.get(4)?;
    let (key, event, payload) = (r.get(0)?, r.get(1)?, r.get(2)?);
    Ok((|| {
        Ok(AlertRow {
            key,
            event,
            payload,
            fired_at: parse_ts(&fired)?,
            resolved_at: opt_ts(resolved)?,
        })
    })())
}

const OUTBOX_COLS: &str = "id, receiver, event, payload, created_at, attempts, next_attempt_at, delivered_at, abandoned_at, last_error";

fn outbox_row(r: &Row<'_>) -> rusqlite::Result<Result<OutboxRow, StoreError>> {
    let created: String = r.get(4)?;
    let next: String = r.get(6)?;
    let delivered: Option<String> = r.get(7)?;
    let abandoned: Option<String> = r.get(8)?;
    let (id, receiver, event, payload, attempts, last_error) = (
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(5)?,
        r.get(9)?,
    );
    Ok((|| {
        Ok(OutboxRow {
            id,
            receiver,
            event,
            payload,
            created_at: parse_ts(&created)?,
            attempts,
            next_attempt_at: parse_ts(&next)?,
            delivered_at: opt_ts(delivered)?,
            abandoned_at: opt_ts(abandoned)?,
            last_error,
        })
    })())
}

pub(super) fn alert(db: &Connection, key: &str) -> Result<Option<AlertRow>, StoreError> {
    let mut st = db.prepare_cached(
        "SELECT key, event, payload, fired_at, resolved_at FROM alerts WHERE key = ?1",
    )?;
    st.query_row([key], alert_row).optional()?.transpose()
}

pub(super) fn put_alert(db: &Connection, a: &AlertRow) -> Result<(), StoreError> {
    db
        .prepare_cached(
            "INSERT INTO alerts (key, event, payload, fired_at, resolved_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(key) DO UPDATE SET event = excluded.event, payload = excluded.payload,
               fired_at = excluded.fired_at, resolved_at = excluded.resolved_at",
        )?
        .execute(params![
            a.key,
            a.event,
            a.payload,
            ts(a.fired_at),
            a.resolved_at.map(ts)
        ])?;
    Ok(())
}

pub(super) fn active_alerts(db: &Connection) -> Result<Vec<AlertRow>, StoreError> {
    let mut st = db.prepare_cached(
        "SELECT key, event, payload, fired_at, resolved_at FROM alerts
         WHERE resolved_at IS NULL ORDER BY fired_at, key",
    )?;
    let rows = st.query_map([], alert_row)?;
    collect(rows)
}

pub(super) fn insert_outbox(db: &Connection, o: &OutboxRow) -> Result<i64, StoreError> {
    db.prepare_cached(
        "INSERT INTO outbox (receiver, event, payload, created_at, attempts, next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        o.receiver,
        o.event,
        o.payload,
        ts(o.created_at),
        o.attempts,
        ts(o.next_attempt_at)
    ])?;
    Ok(db.last_insert_rowid())
}

pub(super) fn outbox_due(
    db: &Connection,
    now: DateTime<Utc>,
) -> Result<Vec<OutboxRow>, StoreError> {
    let mut st = db.prepare_cached(&format!(
        "SELECT {OUTBOX_COLS} FROM outbox WHERE id IN (
             SELECT MIN(id) FROM outbox WHERE delivered_at IS NULL AND abandoned_at IS NULL
             GROUP BY receiver)
         AND next_attempt_at <= ?1 ORDER BY id"
    ))?;
    let rows = st.query_map([ts(now)], outbox_row)?;
    collect(rows)
}

pub(super) fn outbox_pending(db: &Connection, limit: u32) -> Result<Vec<OutboxRow>, StoreError> {
    let mut st = db.prepare_cached(&format!(
        "SELECT {OUTBOX_COLS} FROM outbox WHERE delivered_at IS NULL AND abandoned_at IS NULL
         ORDER BY id LIMIT ?1"
    ))?;
    let rows = st.query_map([limit], outbox_row)?;
    collect(rows)
}

pub(super) fn outbox_pending_count(db: &Connection) -> Result<i64, StoreError> {
    Ok(db
        .prepare_cached(
            "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND abandoned_at IS NULL",
        )?
        .query_row([], |r| r.get(0))?)
}

pub(super) fn outbox_attempted(
    db: &Connection,
    id: i64,
    at: DateTime<Utc>,
    result: &OutboxAttempt,
) -> Result<(), StoreError> {
    let (delivered, abandoned, next, error) = match result {
        OutboxAttempt::Delivered => (Some(ts(at)), None, None, None),
        OutboxAttempt::Failed {
            error,
            next_attempt_at,
        } => (None, None, Some(ts(*next_attempt_at)), Some(error.clone())),
        OutboxAttempt::Abandoned { error } => (None, Some(ts(at)), None, Some(error.clone())),
    };
    db
        .prepare_cached(
            "UPDATE outbox SET attempts = attempts + 1, delivered_at = ?2, abandoned_at = ?3,
               next_attempt_at = COALESCE(?4, next_attempt_at), last_error = COALESCE(?5, last_error)
             WHERE id = ?1",
        )?
        .execute(params![id, delivered, abandoned, next, error])?;
    Ok(())
}
