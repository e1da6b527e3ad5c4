//! Baselines (what each target runs, by environment) and the live verifications of applied
//! changes.

use chrono::{DateTime, Utc};

use super::{Arg, Db, Row, args, rows};
use crate::*;

const BASELINE_COLS: &str =
    "id, target, env, content, content_hash, format, change_id, origin, applied_at, rolled_back_at";

fn baseline_row(mut r: Row) -> Result<BaselineRow, StoreError> {
    Ok(BaselineRow {
        id: r.int(0)?,
        target: r.text(1)?,
        env: r.text(2)?,
        content: r.packed(3)?,
        content_hash: r.text(4)?,
        format: r.text(5)?,
        change_id: r.opt_int(6)?,
        origin: r.text(7)?,
        applied_at: r.ts(8)?,
        rolled_back_at: r.opt_ts(9)?,
    })
}

pub(super) fn insert_baseline(db: &mut dyn Db, b: &BaselineRow) -> Result<i64, StoreError> {
    db.insert(
        "INSERT INTO baselines (target, env, content, content_hash, format, change_id, origin, applied_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        &[
            (&b.target).into(),
            (&b.env).into(),
            Arg::Packed(&b.content),
            (&b.content_hash).into(),
            (&b.format).into(),
            b.change_id.into(),
            (&b.origin).into(),
            b.applied_at.into(),
        ],
    )
}

pub(super) fn baseline(
    db: &mut dyn Db,
    target: &str,
    env: &str,
) -> Result<Option<BaselineRow>, StoreError> {
    db.query_opt(
        &format!(
            "SELECT {BASELINE_COLS} FROM baselines
             WHERE target = ?1 AND env = ?2 AND rolled_back_at IS NULL ORDER BY id DESC LIMIT 1"
        ),
        args![target, env],
    )?
    .map(baseline_row)
    .transpose()
}

pub(super) fn baselines_with_hash(
    db: &mut dyn Db,
    target: &str,
    env: &str,
    hash: &str,
) -> Result<Vec<BaselineRow>, StoreError> {
    rows(
        db.query(
            &format!(
                "SELECT {BASELINE_COLS} FROM baselines
                 WHERE target = ?1 AND env = ?2 AND content_hash = ?3 ORDER BY id"
            ),
            args![target, env, hash],
        )?,
        baseline_row,
    )
}

pub(super) fn mark_rolled_back(
    db: &mut dyn Db,
    baseline_id: i64,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    db.exec(
        "UPDATE baselines SET rolled_back_at = ?2 WHERE id = ?1",
        args![baseline_id, at],
    )?;
    Ok(())
}

pub(super) fn insert_verification(
    db: &mut dyn Db,
    change_id: i64,
    target: &str,
    env: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    db.exec(
        "INSERT INTO verifications (change_id, target, env, verified_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
        args![change_id, target, env, at],
    )?;
    Ok(())
}

pub(super) fn verified_targets(db: &mut dyn Db, change_id: i64) -> Result<Vec<String>, StoreError> {
    rows(
        db.query(
            "SELECT target FROM verifications WHERE change_id = ?1 ORDER BY target",
            args![change_id],
        )?,
        |mut r| r.text(0),
    )
}

pub(super) fn recent_baselines(
    db: &mut dyn Db,
    target: &str,
    env: &str,
    limit: u32,
) -> Result<Vec<BaselineRow>, StoreError> {
    rows(
        db.query(
            &format!(
                "SELECT {BASELINE_COLS} FROM baselines
                 WHERE target = ?1 AND env = ?2 AND rolled_back_at IS NULL ORDER BY id DESC LIMIT ?3"
            ),
            args![target, env, limit],
        )?,
        baseline_row,
    )
}
