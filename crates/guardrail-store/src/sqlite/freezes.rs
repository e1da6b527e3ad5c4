//! Freezes and the retro reviews a break-glass opens.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::*;

const RETRO_COLS: &str = "id, change_id, opened_at, due_at, closed_at, closed_by, note, opened_by";

fn retro_row(r: &Row<'_>) -> rusqlite::Result<Result<RetroReview, StoreError>> {
    let opened: String = r.get(2)?;
    let due: String = r.get(3)?;
    let closed: Option<String> = r.get(4)?;
    let (id, change_id, closed_by, note, opened_by) =
        (r.get(0)?, r.get(1)?, r.get(5)?, r.get(6)?, r.get(7)?);
    Ok((|| {
        Ok(RetroReview {
            id,
            change_id,
            opened_by,
            opened_at: parse_ts(&opened)?,
            due_at: parse_ts(&due)?,
            closed_at: opt_ts(closed)?,
            closed_by,
            note,
        })
    })())
}

pub(super) fn insert_freeze(db: &Connection, f: &FreezeRow) -> Result<i64, StoreError> {
    db.execute(
        "INSERT INTO freezes (env, targets, reason, created_by, from_at, until)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            f.freeze.env,
            f.freeze.targets,
            f.freeze.reason,
            f.created_by,
            ts(f.freeze.from),
            f.freeze.until.map(ts)
        ],
    )?;
    Ok(db.last_insert_rowid())
}

pub(super) fn lift_freeze(
    db: &Connection,
    id: i64,
    by: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(db.execute(
        "UPDATE freezes SET lifted_at = ?2, lifted_by = ?3 WHERE id = ?1 AND lifted_at IS NULL",
        params![id, ts(at), by],
    )? == 1)
}

pub(super) fn freezes(db: &Connection) -> Result<Vec<FreezeRow>, StoreError> {
    let mut st = db.prepare_cached(
        "SELECT id, env, targets, reason, created_by, from_at, until, lifted_at, lifted_by
         FROM freezes WHERE lifted_at IS NULL ORDER BY id",
    )?;
    let rows = st.query_map([], |r| {
        let from: String = r.get(5)?;
        let until: Option<String> = r.get(6)?;
        let lifted: Option<String> = r.get(7)?;
        let (id, env, targets, reason, created_by, lifted_by) = (
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(8)?,
        );
        Ok((|| {
            Ok(FreezeRow {
                freeze: Freeze {
                    id,
                    env,
                    targets,
                    reason,
                    from: parse_ts(&from)?,
                    until: opt_ts(until)?,
                },
                created_by,
                lifted_at: opt_ts(lifted)?,
                lifted_by,
            })
        })())
    })?;
    collect(rows)
}

pub(super) fn insert_retro(db: &Connection, r: &RetroReview) -> Result<i64, StoreError> {
    db.execute(
        "INSERT INTO retro_reviews (change_id, opened_at, due_at, opened_by) VALUES (?1, ?2, ?3, ?4)",
        params![r.change_id, ts(r.opened_at), ts(r.due_at), r.opened_by],
    )?;
    Ok(db.last_insert_rowid())
}

pub(super) fn retro(db: &Connection, id: i64) -> Result<Option<RetroReview>, StoreError> {
    let mut st = db.prepare_cached(&format!(
        "SELECT {RETRO_COLS} FROM retro_reviews WHERE id = ?1"
    ))?;
    st.query_row([id], retro_row).optional()?.transpose()
}

pub(super) fn retros(db: &Connection, open_only: bool) -> Result<Vec<RetroReview>, StoreError> {
    let mut st = db.prepare_cached(&format!(
        "SELECT {RETRO_COLS} FROM retro_reviews
         WHERE (?1 = 0 OR closed_at IS NULL) ORDER BY id"
    ))?;
    let rows = st.query_map([open_only as i64], retro_row)?;
    collect(rows)
}

pub(super) fn close_retro(
    db: &Connection,
    id: i64,
    by: &str,
    note: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(db.execute(
        "UPDATE retro_reviews SET closed_at = ?2, closed_by = ?3, note = ?4
         WHERE id = ?1 AND closed_at IS NULL",
        params![id, ts(at), by, note],
    )? == 1)
}
