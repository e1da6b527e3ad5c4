//! Freezes and the retro reviews a break-glass opens.

use chrono::{DateTime, Utc};

use super::{Db, Row, args, rows};
use crate::*;

const RETRO_COLS: &str = "id, change_id, opened_at, due_at, closed_at, closed_by, note, opened_by";

fn retro_row(mut r: Row) -> Result<RetroReview, StoreError> {
    Ok(RetroReview {
        id: r.int(0)?,
        change_id: r.int(1)?,
        opened_at: r.ts(2)?,
        due_at: r.ts(3)?,
        closed_at: r.opt_ts(4)?,
        closed_by: r.opt_text(5)?,
        note: r.opt_text(6)?,
        opened_by: r.opt_text(7)?,
    })
}

pub(super) fn insert_freeze(db: &mut dyn Db, f: &FreezeRow) -> Result<i64, StoreError> {
    db.insert(
        "INSERT INTO freezes (env, targets, reason, created_by, from_at, until)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        args![
            &f.freeze.env,
            &f.freeze.targets,
            &f.freeze.reason,
            &f.created_by,
            f.freeze.from,
            f.freeze.until
        ],
    )
}

pub(super) fn lift_freeze(
    db: &mut dyn Db,
    id: i64,
    by: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(db.exec(
        "UPDATE freezes SET lifted_at = ?2, lifted_by = ?3 WHERE id = ?1 AND lifted_at IS NULL",
        args![id, at, by],
    )? == 1)
}

pub(super) fn freezes(db: &mut dyn Db) -> Result<Vec<FreezeRow>, StoreError> {
    rows(
        db.query(
            "SELECT id, env, targets, reason, created_by, from_at, until, lifted_at, lifted_by
             FROM freezes WHERE lifted_at IS NULL ORDER BY id",
            &[],
        )?,
        |mut r| {
            Ok(FreezeRow {
                freeze: Freeze {
                    id: r.int(0)?,
                    env: r.text(1)?,
                    targets: r.text(2)?,
                    reason: r.text(3)?,
                    from: r.ts(5)?,
                    until: r.opt_ts(6)?,
                },
                created_by: r.text(4)?,
                lifted_at: r.opt_ts(7)?,
                lifted_by: r.opt_text(8)?,
            })
        },
    )
}

pub(super) fn insert_retro(db: &mut dyn Db, r: &RetroReview) -> Result<i64, StoreError> {
    db.insert(
        "INSERT INTO retro_reviews (change_id, opened_at, due_at, opened_by) VALUES (?1, ?2, ?3, ?4)
         RETURNING id",
        args![r.change_id, r.opened_at, r.due_at, &r.opened_by],
    )
}

pub(super) fn retro(db: &mut dyn Db, id: i64) -> Result<Option<RetroReview>, StoreError> {
    db.query_opt(
        &format!("SELECT {RETRO_COLS} FROM retro_reviews WHERE id = ?1"),
        args![id],
    )?
    .map(retro_row)
    .transpose()
}

pub(super) fn retros(db: &mut dyn Db, open_only: bool) -> Result<Vec<RetroReview>, StoreError> {
    let filter = if open_only {
        "WHERE closed_at IS NULL"
    } else {
        ""
    };
    rows(
        db.query(
            &format!("SELECT {RETRO_COLS} FROM retro_reviews {filter} ORDER BY id"),
            &[],
        )?,
        retro_row,
    )
}

pub(super) fn close_retro(
    db: &mut dyn Db,
    id: i64,
    by: &str,
    note: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(db.exec(
        "UPDATE retro_reviews SET closed_at = ?2, closed_by = ?3, note = ?4
         WHERE id = ?1 AND closed_at IS NULL",
        args![id, at, by, note],
    )? == 1)
}
