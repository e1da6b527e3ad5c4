//! Drifts and the health of polled sources.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::packing::{Packed, PackedText};
use super::*;

const DRIFT_COLS: &str = "id, target, env, kind, status, first_seen, last_seen, live_hash, live_content, format, baseline_id, baseline_hash, change_id, diff, findings, detail, flaps, in_sync_since, resolved_at, resolution, adopted_change_id";

fn drift_params(d: &DriftRow) -> Vec<Box<dyn rusqlite::ToSql>> {
    vec![
        Box::new(d.target.clone()),
        Box::new(d.env.clone()),
        Box::new(d.kind.clone()),
        Box::new(d.status.clone()),
        Box::new(ts(d.first_seen)),
        Box::new(ts(d.last_seen)),
        Box::new(d.live_hash.clone()),
        Box::new(PackedText(d.live_content.clone())),
        Box::new(d.format.clone()),
        Box::new(d.baseline_id),
        Box::new(d.baseline_hash.clone()),
        Box::new(d.change_id),
        Box::new(d.diff.clone()),
        Box::new(d.findings.clone()),
        Box::new(d.detail.clone()),
        Box::new(d.flaps),
        Box::new(d.in_sync_since.map(ts)),
        Box::new(d.resolved_at.map(ts)),
        Box::new(d.resolution.clone()),
        Box::new(d.adopted_change_id),
    ]
}

fn drift_row(r: &Row<'_>) -> rusqlite::Result<Result<DriftRow, StoreError>> {
    let first: String = r.get(5)?;
    let last: String = r.get(6)?;
    let in_sync: Option<String> = r.get(17)?;
    let resolved: Option<String> = r.get(18)?;
    let d = DriftRow {
        id: r.get(0)?,
        target: r.get(1)?,
        env: r.get(2)?,
        kind: r.get(3)?,
        status: r.get(4)?,
        first_seen: DateTime::<Utc>::MIN_UTC,
        last_seen: DateTime::<Utc>::MIN_UTC,
        live_hash: r.get(7)?,
        live_content: r.get::<_, Packed>(8)?.0,
        format: r.get(9)?,
        baseline_id: r.get(10)?,
        baseline_hash: r.get(11)?,
        change_id: r.get(12)?,
        diff: r.get(13)?,
        findings: r.get(14)?,
        detail: r.get(15)?,
        flaps: r.get(16)?,
        in_sync_since: None,
        resolved_at: None,
        resolution: r.get(19)?,
        adopted_change_id: r.get(20)?,
    };
    Ok((|| {
        Ok(DriftRow {
            first_seen: parse_ts(&first)?,
            last_seen: parse_ts(&last)?,
            in_sync_since: opt_ts(in_sync)?,
            resolved_at: opt_ts(resolved)?,
            ..d
        })
    })())
}

fn source_status_row(r: &Row<'_>) -> rusqlite::Result<Result<SourceStatusRow, StoreError>> {
    let attempt: Option<String> = r.get(4)?;
    let success: Option<String> = r.get(5)?;
    let (target, env, up, consecutive_failures, last_error) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(6)?);
    Ok((|| {
        Ok(SourceStatusRow {
            target,
            env,
            up,
            consecutive_failures,
            last_attempt: opt_ts(attempt)?,
            last_success: opt_ts(success)?,
            last_error,
        })
    })())
}

pub(super) fn insert_drift(db: &Connection, d: &DriftRow) -> Result<i64, StoreError> {
    db.execute(
        &format!(
            "INSERT INTO drifts ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
            &DRIFT_COLS[4..]
        ),
        rusqlite::params_from_iter(drift_params(d)),
    )?;
    Ok(db.last_insert_rowid())
}

pub(super) fn update_drift(db: &Connection, d: &DriftRow) -> Result<(), StoreError> {
    let sets = DRIFT_COLS[4..]
        .split(", ")
        .enumerate()
        .map(|(i, c)| format!("{c} = ?{}", i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let mut args = drift_params(d);
    args.push(Box::new(d.id));
    let n = db.execute(
        &format!("UPDATE drifts SET {sets} WHERE id = ?21"),
        rusqlite::params_from_iter(args),
    )?;
    if n != 1 {
        return Err(StoreError::Backend(format!(
            "drift {} does not exist",
            d.id
        )));
    }
    Ok(())
}

pub(super) fn drift(db: &Connection, id: i64) -> Result<Option<DriftRow>, StoreError> {
    let mut st = db.prepare_cached(&format!("SELECT {DRIFT_COLS} FROM drifts WHERE id = ?1"))?;
    st.query_row([id], drift_row).optional()?.transpose()
}

pub(super) fn open_drift(
    db: &Connection,
    target: &str,
    env: &str,
) -> Result<Option<DriftRow>, StoreError> {
    let mut st = db.prepare_cached(&format!(
        "SELECT {DRIFT_COLS} FROM drifts WHERE target = ?1 AND env = ?2 AND status = 'open'"
    ))?;
    st.query_row([target, env], drift_row)
        .optional()?
        .transpose()
}

pub(super) fn drifts(db: &Connection, f: &DriftFilter) -> Result<Vec<DriftRow>, StoreError> {
    let mut st = db.prepare_cached(&format!(
        "SELECT {DRIFT_COLS} FROM drifts
         WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR target = ?2) AND (?3 IS NULL OR env = ?3)
         ORDER BY id DESC LIMIT ?4"
    ))?;
    let limit = if f.limit == 0 { 100 } else { f.limit.min(1000) };
    let rows = st.query_map(params![f.status, f.target, f.env, limit], drift_row)?;
    collect(rows)
}

pub(super) fn source_status(
    db: &Connection,
    target: &str,
    env: &str,
) -> Result<Option<SourceStatusRow>, StoreError> {
    let mut st = db.prepare_cached(
        "SELECT target, env, up, consecutive_failures, last_attempt, last_success, last_error
         FROM source_status WHERE target = ?1 AND env = ?2",
    )?;
    st.query_row([target, env], source_status_row)
        .optional()?
        .transpose()
}

pub(super) fn set_source_status(db: &Connection, s: &SourceStatusRow) -> Result<(), StoreError> {
    db
        .prepare_cached(
            "INSERT INTO source_status (target, env, up, consecutive_failures, last_attempt, last_success, last_error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(target, env) DO UPDATE SET up = excluded.up,
               consecutive_failures = excluded.consecutive_failures, last_attempt = excluded.last_attempt,
               last_success = excluded.last_success, last_error = excluded.last_error",
        )?
        .execute(params![
            s.target,
            s.env,
            s.up,
            s.consecutive_failures,
            s.last_attempt.map(ts),
            s.last_success.map(ts),
            s.last_error
        ])?;
    Ok(())
}

pub(super) fn source_statuses(db: &Connection) -> Result<Vec<SourceStatusRow>, StoreError> {
    let mut st = db.prepare_cached(
        "SELECT target, env, up, consecutive_failures, last_attempt, last_success, last_error
         FROM source_status ORDER BY target, env",
    )?;
    let rows = st.query_map([], source_status_row)?;
    collect(rows)
}
