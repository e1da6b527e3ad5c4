//! State alerts by key and the durable notification outbox.

use chrono::{DateTime, Utc};

use super::{Db, Row, args, rows};
use crate::*;

const ALERT_COLS: &str = "key, event, payload, fired_at, resolved_at";

fn alert_row(mut r: Row) -> Result<AlertRow, StoreError> {
    Ok(AlertRow {
        key: r.text(0)?,
        event: r.text(1)?,
        payload: r.text(2)?,
        fired_at: r.ts(3)?,
        resolved_at: r.opt_ts(4)?,
    })
}

const OUTBOX_COLS: &str = "id, receiver, event, payload, created_at, attempts, next_attempt_at, delivered_at, abandoned_at, last_error";

fn outbox_row(mut r: Row) -> Result<OutboxRow, StoreError> {
    Ok(OutboxRow {
        id: r.int(0)?,
        receiver: r.text(1)?,
        event: r.text(2)?,
        payload: r.text(3)?,
        created_at: r.ts(4)?,
        attempts: r.int(5)?,
        next_attempt_at: r.ts(6)?,
        delivered_at: r.opt_ts(7)?,
        abandoned_at: r.opt_ts(8)?,
        last_error: r.opt_text(9)?,
    })
}

pub(super) fn alert(db: &mut dyn Db, key: &str) -> Result<Option<AlertRow>, StoreError> {
    db.query_opt(
        &format!("SELECT {ALERT_COLS} FROM alerts WHERE key = ?1"),
        args![key],
    )?
    .map(alert_row)
    .transpose()
}

pub(super) fn put_alert(db: &mut dyn Db, a: &AlertRow) -> Result<(), StoreError> {
    db.exec(
        &format!(
            "INSERT INTO alerts ({ALERT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(key) DO UPDATE SET event = excluded.event, payload = excluded.payload,
               fired_at = excluded.fired_at, resolved_at = excluded.resolved_at"
        ),
        args![&a.key, &a.event, &a.payload, a.fired_at, a.resolved_at],
    )?;
    Ok(())
}

pub(super) fn active_alerts(db: &mut dyn Db) -> Result<Vec<AlertRow>, StoreError> {
    rows(
        db.query(
            &format!(
                "SELECT {ALERT_COLS} FROM alerts WHERE resolved_at IS NULL ORDER BY fired_at, key"
            ),
            &[],
        )?,
        alert_row,
    )
}

pub(super) fn insert_outbox(db: &mut dyn Db, o: &OutboxRow) -> Result<i64, StoreError> {
    db.insert(
        "INSERT INTO outbox (receiver, event, payload, created_at, attempts, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        args![
            &o.receiver,
            &o.event,
            &o.payload,
            o.created_at,
            o.attempts,
            o.next_attempt_at
        ],
    )
}

/// The oldest undelivered row of each receiver, when due; `claim` locks them for this
/// transaction and skips rows another transaction holds (PostgreSQL's `FOR UPDATE SKIP
/// LOCKED`: another process delivering a row is passed over, not waited for, and the
/// receiver's next row is not taken in its place).
pub(crate) fn outbox_due(
    db: &mut dyn Db,
    now: DateTime<Utc>,
    claim: bool,
) -> Result<Vec<OutboxRow>, StoreError> {
    let lock = if claim { " FOR UPDATE SKIP LOCKED" } else { "" };
    rows(
        db.query(
            &format!(
                "SELECT {OUTBOX_COLS} FROM outbox WHERE id IN (
                     SELECT MIN(id) FROM outbox WHERE delivered_at IS NULL AND abandoned_at IS NULL
                     GROUP BY receiver)
                 AND next_attempt_at <= ?1 ORDER BY id{lock}"
            ),
            args![now],
        )?,
        outbox_row,
    )
}

pub(super) fn outbox_pending(db: &mut dyn Db, limit: u32) -> Result<Vec<OutboxRow>, StoreError> {
    rows(
        db.query(
            &format!(
                "SELECT {OUTBOX_COLS} FROM outbox WHERE delivered_at IS NULL AND abandoned_at IS NULL
                 ORDER BY id LIMIT ?1"
            ),
            args![limit],
        )?,
        outbox_row,
    )
}

pub(super) fn outbox_pending_count(db: &mut dyn Db) -> Result<i64, StoreError> {
    match db.query_opt(
        "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND abandoned_at IS NULL",
        &[],
    )? {
        Some(mut r) => r.int(0),
        None => Ok(0),
    }
}

pub(crate) fn outbox_attempted(
    db: &mut dyn Db,
    id: i64,
    at: DateTime<Utc>,
    result: &OutboxAttempt,
) -> Result<(), StoreError> {
    let (delivered, abandoned, next, error) = match result {
        OutboxAttempt::Delivered => (Some(at), None, None, None),
        OutboxAttempt::Failed {
            error,
            next_attempt_at,
        } => (None, None, Some(*next_attempt_at), Some(error.as_str())),
        OutboxAttempt::Abandoned { error } => (None, Some(at), None, Some(error.as_str())),
    };
    db.exec(
        "UPDATE outbox SET attempts = attempts + 1, delivered_at = ?2, abandoned_at = ?3,
           next_attempt_at = COALESCE(?4, next_attempt_at), last_error = COALESCE(?5, last_error)
         WHERE id = ?1",
        args![id, delivered, abandoned, next, error],
    )?;
    Ok(())
}
