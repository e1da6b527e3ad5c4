//! Drifts and the health of polled sources.

use super::{Arg, Db, Row, args, rows};
use crate::*;

const DRIFT_COLS: &str = "id, target, env, kind, status, first_seen, last_seen, live_hash, live_content, format, baseline_id, baseline_hash, change_id, diff, findings, detail, flaps, in_sync_since, resolved_at, resolution, adopted_change_id";

/// Every column but `id`, in [`DRIFT_COLS`] order.
fn drift_args(d: &DriftRow) -> Vec<Arg<'_>> {
    vec![
        (&d.target).into(),
        (&d.env).into(),
        (&d.kind).into(),
        (&d.status).into(),
        d.first_seen.into(),
        d.last_seen.into(),
        (&d.live_hash).into(),
        Arg::Packed(&d.live_content),
        (&d.format).into(),
        d.baseline_id.into(),
        (&d.baseline_hash).into(),
        d.change_id.into(),
        (&d.diff).into(),
        (&d.findings).into(),
        (&d.detail).into(),
        d.flaps.into(),
        d.in_sync_since.into(),
        d.resolved_at.into(),
        (&d.resolution).into(),
        d.adopted_change_id.into(),
    ]
}

fn drift_row(mut r: Row) -> Result<DriftRow, StoreError> {
    Ok(DriftRow {
        id: r.int(0)?,
        target: r.text(1)?,
        env: r.text(2)?,
        kind: r.text(3)?,
        status: r.text(4)?,
        first_seen: r.ts(5)?,
        last_seen: r.ts(6)?,
        live_hash: r.text(7)?,
        live_content: r.packed(8)?,
        format: r.text(9)?,
        baseline_id: r.opt_int(10)?,
        baseline_hash: r.opt_text(11)?,
        change_id: r.opt_int(12)?,
        diff: r.text(13)?,
        findings: r.text(14)?,
        detail: r.text(15)?,
        flaps: r.int(16)?,
        in_sync_since: r.opt_ts(17)?,
        resolved_at: r.opt_ts(18)?,
        resolution: r.opt_text(19)?,
        adopted_change_id: r.opt_int(20)?,
    })
}

const SOURCE_COLS: &str =
    "target, env, up, consecutive_failures, last_attempt, last_success, last_error";

fn source_status_row(mut r: Row) -> Result<SourceStatusRow, StoreError> {
    Ok(SourceStatusRow {
        target: r.text(0)?,
        env: r.text(1)?,
        up: r.bool(2)?,
        consecutive_failures: r.int(3)?,
        last_attempt: r.opt_ts(4)?,
        last_success: r.opt_ts(5)?,
        last_error: r.opt_text(6)?,
    })
}

pub(super) fn insert_drift(db: &mut dyn Db, d: &DriftRow) -> Result<i64, StoreError> {
    let places: Vec<String> = (1..=20).map(|i| format!("?{i}")).collect();
    db.insert(
        &format!(
            "INSERT INTO drifts ({}) VALUES ({}) RETURNING id",
            &DRIFT_COLS[4..],
            places.join(", ")
        ),
        &drift_args(d),
    )
}

pub(super) fn update_drift(db: &mut dyn Db, d: &DriftRow) -> Result<(), StoreError> {
    let sets = DRIFT_COLS[4..]
        .split(", ")
        .enumerate()
        .map(|(i, c)| format!("{c} = ?{}", i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let mut a = drift_args(d);
    a.push(d.id.into());
    let n = db.exec(&format!("UPDATE drifts SET {sets} WHERE id = ?21"), &a)?;
    if n != 1 {
        return Err(StoreError::Backend(format!(
            "drift {} does not exist",
            d.id
        )));
    }
    Ok(())
}

pub(super) fn drift(db: &mut dyn Db, id: i64) -> Result<Option<DriftRow>, StoreError> {
    db.query_opt(
        &format!("SELECT {DRIFT_COLS} FROM drifts WHERE id = ?1"),
        args![id],
    )?
    .map(drift_row)
    .transpose()
}

pub(super) fn open_drift(
    db: &mut dyn Db,
    target: &str,
    env: &str,
) -> Result<Option<DriftRow>, StoreError> {
    db.query_opt(
        &format!(
            "SELECT {DRIFT_COLS} FROM drifts WHERE target = ?1 AND env = ?2 AND status = 'open'"
        ),
        args![target, env],
    )?
    .map(drift_row)
    .transpose()
}

pub(super) fn drifts(db: &mut dyn Db, f: &DriftFilter) -> Result<Vec<DriftRow>, StoreError> {
    let mut sql = format!("SELECT {DRIFT_COLS} FROM drifts WHERE 1=1");
    let mut a: Vec<Arg<'_>> = Vec::new();
    for (col, v) in [
        ("status", &f.status),
        ("target", &f.target),
        ("env", &f.env),
    ] {
        if let Some(v) = v {
            a.push(v.into());
            sql.push_str(&format!(" AND {col} = ?{}", a.len()));
        }
    }
    let limit = if f.limit == 0 { 100 } else { f.limit.min(1000) };
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
    rows(db.query(&sql, &a)?, drift_row)
}

pub(super) fn source_status(
    db: &mut dyn Db,
    target: &str,
    env: &str,
) -> Result<Option<SourceStatusRow>, StoreError> {
    db.query_opt(
        &format!("SELECT {SOURCE_COLS} FROM source_status WHERE target = ?1 AND env = ?2"),
        args![target, env],
    )?
    .map(source_status_row)
    .transpose()
}

pub(super) fn set_source_status(db: &mut dyn Db, s: &SourceStatusRow) -> Result<(), StoreError> {
    db.exec(
        &format!(
            "INSERT INTO source_status ({SOURCE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(target, env) DO UPDATE SET up = excluded.up,
               consecutive_failures = excluded.consecutive_failures, last_attempt = excluded.last_attempt,
               last_success = excluded.last_success, last_error = excluded.last_error"
        ),
        args![
            &s.target,
            &s.env,
            s.up,
            s.consecutive_failures,
            s.last_attempt,
            s.last_success,
            &s.last_error
        ],
    )?;
    Ok(())
}

pub(super) fn source_statuses(db: &mut dyn Db) -> Result<Vec<SourceStatusRow>, StoreError> {
    rows(
        db.query(
            &format!("SELECT {SOURCE_COLS} FROM source_status ORDER BY target, env"),
            &[],
        )?,
        source_status_row,
    )
}
