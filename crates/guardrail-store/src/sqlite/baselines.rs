//! Baselines (what each target runs, by environment) and the live verifications of applied
//! changes.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::packing::{PackRef, Packed};
use super::*;

pub(super) const BASELINE_COLS: &str =
    "id, target, env, content, content_hash, format, change_id, origin, applied_at, rolled_back_at";

fn baseline_row(r: &Row<'_>) -> rusqlite::Result<Result<BaselineRow, StoreError>> {
    let applied: String = r.get(8)?;
    let rolled: Option<String> = r.get(9)?;
    let (id, target, env, Packed(content), content_hash, format, change_id, origin) = (
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    );
    Ok((|| {
        Ok(BaselineRow {
            id,
            target,
            env,
            content,
            content_hash,
            format,
            change_id,
            origin,
            applied_at: parse_ts(&applied)?,
            rolled_back_at: opt_ts(rolled)?,
        })
    })())
}

pub(super) fn insert_baseline(db: &Connection, b: &BaselineRow) -> Result<i64, StoreError> {
    db.execute(
        "INSERT INTO baselines (target, env, content, content_hash, format, change_id, origin, applied_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            b.target,
            b.env,
            PackRef(&b.content),
            b.content_hash,
            b.format,
            b.change_id,
            b.origin,
            ts(b.applied_at)
        ],
    )?;
    Ok(db.last_insert_rowid())
}

pub(super) fn baseline(
    db: &Connection,
    target: &str,
    env: &str,
) -> Result<Option<BaselineRow>, StoreError> {
    let mut st = db.prepare_cached(&format!(
        "SELECT {BASELINE_COLS} FROM baselines
         WHERE target = ?1 AND env = ?2 AND rolled_back_at IS NULL ORDER BY id DESC LIMIT 1"
    ))?;
    st.query_row([target, env], baseline_row)
        .optional()?
        .transpose()
}

pub(super) fn baselines_with_hash(
    db: &Connection,
    target: &str,
    env: &str,
    hash: &str,
) -> Result<Vec<BaselineRow>, StoreError> {
    let mut st = db.prepare_cached(&format!(
        "SELECT {BASELINE_COLS} FROM baselines
         WHERE target = ?1 AND env = ?2 AND content_hash = ?3 ORDER BY id"
    ))?;
    let rows = st.query_map([target, env, hash], baseline_row)?;
    collect(rows)
}

pub(super) fn mark_rolled_back(
    db: &Connection,
    baseline_id: i64,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    db.execute(
        "UPDATE baselines SET rolled_back_at = ?2 WHERE id = ?1",
        params![baseline_id, ts(at)],
    )?;
    Ok(())
}

pub(super) fn insert_verification(
    db: &Connection,
    change_id: i64,
    target: &str,
    env: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    db.prepare_cached(
        "INSERT OR IGNORE INTO verifications (change_id, target, env, verified_at)
             VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![change_id, target, env, ts(at)])?;
    Ok(())
}

pub(super) fn verified_targets(db: &Connection, change_id: i64) -> Result<Vec<String>, StoreError> {
    let mut st =
        db.prepare_cached("SELECT target FROM verifications WHERE change_id = ?1 ORDER BY target")?;
    let rows = st.query_map([change_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn recent_baselines(
    db: &Connection,
    target: &str,
    env: &str,
    limit: u32,
) -> Result<Vec<BaselineRow>, StoreError> {
    let mut st = db.prepare_cached(&format!(
        "SELECT {BASELINE_COLS} FROM baselines
         WHERE target = ?1 AND env = ?2 AND rolled_back_at IS NULL ORDER BY id DESC LIMIT ?3"
    ))?;
    let rows = st.query_map(params![target, env, limit], baseline_row)?;
    collect(rows)
}
