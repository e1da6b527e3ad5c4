//! Changes, their targets and evaluations, and approvals.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::packing::{PackRef, Packed, PackedOpt};
use super::*;

const CHANGE_COLS: &str =
    "id, env, state, author, content_hash, revision, created_at, updated_at, doc";

fn change_row(r: &Row<'_>) -> rusqlite::Result<Result<ChangeRow, StoreError>> {
    let state: String = r.get(2)?;
    let created: String = r.get(6)?;
    let updated: String = r.get(7)?;
    let doc: String = r.get(8)?;
    let (id, env, author, content_hash, revision) =
        (r.get(0)?, r.get(1)?, r.get(3)?, r.get(4)?, r.get(5)?);
    Ok((|| {
        Ok(ChangeRow {
            id,
            env,
            state: State::from_name(&state)
                .ok_or_else(|| StoreError::Corrupt(format!("change state `{state}`")))?,
            author,
            content_hash,
            revision,
            created_at: parse_ts(&created)?,
            updated_at: parse_ts(&updated)?,
            doc: serde_json::from_str(&doc)
                .map_err(|e| StoreError::Corrupt(format!("change {id} document: {e}")))?,
        })
    })())
}

fn approval_row(r: &Row<'_>) -> rusqlite::Result<Result<ApprovalRow, StoreError>> {
    let groups: String = r.get(3)?;
    let decision: String = r.get(4)?;
    let at: String = r.get(7)?;
    let (id, change_id, user, comment, content_hash, voided) = (
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(5)?,
        r.get(6)?,
        r.get(8)?,
    );
    Ok((|| {
        Ok(ApprovalRow {
            id,
            change_id,
            user,
            groups: parse_list(&groups)?,
            decision: match decision.as_str() {
                "approve" => Decision::Approve,
                "reject" => Decision::Reject,
                other => return Err(StoreError::Corrupt(format!("decision `{other}`"))),
            },
            comment,
            content_hash,
            at: parse_ts(&at)?,
            voided,
        })
    })())
}

pub(super) fn insert_change(db: &Connection, c: &ChangeRow) -> Result<i64, StoreError> {
    db.execute(
        "INSERT INTO changes (env, state, author, content_hash, revision, created_at, updated_at, doc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            c.env,
            c.state.name(),
            c.author,
            c.content_hash,
            c.revision,
            ts(c.created_at),
            ts(c.updated_at),
            serde_json::to_string(&c.doc).map_err(|e| StoreError::Backend(e.to_string()))?
        ],
    )?;
    Ok(db.last_insert_rowid())
}

pub(super) fn update_change(db: &Connection, c: &ChangeRow) -> Result<(), StoreError> {
    let n = db.execute(
        "UPDATE changes SET state = ?2, content_hash = ?3, revision = ?4, updated_at = ?5, doc = ?6
         WHERE id = ?1",
        params![
            c.id,
            c.state.name(),
            c.content_hash,
            c.revision,
            ts(c.updated_at),
            serde_json::to_string(&c.doc).map_err(|e| StoreError::Backend(e.to_string()))?
        ],
    )?;
    if n != 1 {
        return Err(StoreError::Backend(format!(
            "change {} does not exist",
            c.id
        )));
    }
    Ok(())
}

pub(super) fn change(db: &Connection, id: i64) -> Result<Option<ChangeRow>, StoreError> {
    let mut st = db.prepare_cached(&format!("SELECT {CHANGE_COLS} FROM changes WHERE id = ?1"))?;
    let r = st.query_row([id], change_row).optional()?;
    r.transpose()
}

pub(super) fn changes(db: &Connection, f: &ChangeFilter) -> Result<Vec<ChangeRow>, StoreError> {
    let mut sql = format!("SELECT {CHANGE_COLS} FROM changes c WHERE 1=1");
    let mut args: Vec<String> = Vec::new();
    if let Some(s) = f.state {
        args.push(s.name().into());
        sql.push_str(&format!(" AND state = ?{}", args.len()));
    }
    if let Some(e) = &f.env {
        args.push(e.clone());
        sql.push_str(&format!(" AND env = ?{}", args.len()));
    }
    if let Some(t) = &f.target {
        args.push(t.clone());
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM change_targets t WHERE t.change_id = c.id AND t.target = ?{})",
            args.len()
        ));
    }
    let limit = if f.limit == 0 { 100 } else { f.limit.min(1000) };
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
    let mut st = db.prepare(&sql)?;
    let rows = st.query_map(rusqlite::params_from_iter(args.iter()), change_row)?;
    collect(rows)
}

pub(super) fn changes_with_target(
    db: &Connection,
    env: &str,
    target: &str,
    hash: Option<&str>,
    states: &[State],
) -> Result<Vec<ChangeRow>, StoreError> {
    let cols = CHANGE_COLS
        .split(", ")
        .map(|c| format!("c.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut st = db.prepare_cached(&format!(
        "SELECT {cols} FROM changes c JOIN change_targets t ON t.change_id = c.id
         WHERE c.env = ?1 AND t.target = ?2 AND (?3 IS NULL OR t.content_hash = ?3)
         ORDER BY c.id DESC"
    ))?;
    let rows = st.query_map(params![env, target, hash], change_row)?;
    let all = collect(rows)?;
    Ok(all
        .into_iter()
        .filter(|c| states.contains(&c.state))
        .collect())
}

pub(super) fn change_counts(db: &Connection) -> Result<Vec<(State, String, i64)>, StoreError> {
    let mut st =
        db.prepare_cached("SELECT state, env, COUNT(*) FROM changes GROUP BY state, env")?;
    let rows = st.query_map([], |r| {
        let s: String = r.get(0)?;
        let env: String = r.get(1)?;
        let n: i64 = r.get(2)?;
        Ok(State::from_name(&s)
            .map(|st| (st, env, n))
            .ok_or_else(|| StoreError::Corrupt(format!("change state `{s}`"))))
    })?;
    collect(rows)
}

pub(super) fn set_change_targets(
    db: &Connection,
    id: i64,
    t: &[ChangeTarget],
) -> Result<(), StoreError> {
    db.execute("DELETE FROM change_targets WHERE change_id = ?1", [id])?;
    for x in t {
        db.execute(
            "INSERT INTO change_targets (change_id, target, content_hash, format, content)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, x.target, x.content_hash, x.format, PackRef(&x.content)],
        )?;
    }
    Ok(())
}

pub(super) fn set_change_evaluation(
    db: &Connection,
    id: i64,
    json: &str,
) -> Result<(), StoreError> {
    db.execute(
        "UPDATE changes SET evaluation = ?2 WHERE id = ?1",
        params![id, PackRef(json)],
    )?;
    Ok(())
}

pub(super) fn change_evaluation(db: &Connection, id: i64) -> Result<Option<String>, StoreError> {
    Ok(db
        .prepare_cached("SELECT evaluation FROM changes WHERE id = ?1")?
        .query_row([id], |r| r.get::<_, PackedOpt>(0))
        .optional()?
        .and_then(|p| p.0))
}

pub(super) fn change_targets(db: &Connection, id: i64) -> Result<Vec<ChangeTarget>, StoreError> {
    let mut st = db.prepare_cached(
        "SELECT target, content_hash, format, content FROM change_targets
         WHERE change_id = ?1 ORDER BY target",
    )?;
    let rows = st.query_map([id], |r| {
        Ok(ChangeTarget {
            target: r.get(0)?,
            content_hash: r.get(1)?,
            format: r.get(2)?,
            content: r.get::<_, Packed>(3)?.0,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn insert_approval(db: &Connection, a: &ApprovalRow) -> Result<i64, StoreError> {
    db.execute(
        "INSERT INTO approvals (change_id, user, groups_, decision, comment, content_hash, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            a.change_id,
            a.user,
            json_list(&a.groups),
            a.decision.name(),
            a.comment,
            a.content_hash,
            ts(a.at)
        ],
    )?;
    Ok(db.last_insert_rowid())
}

pub(super) fn approvals(db: &Connection, change_id: i64) -> Result<Vec<ApprovalRow>, StoreError> {
    let mut st = db.prepare_cached(
        "SELECT id, change_id, user, groups_, decision, comment, content_hash, at, void_reason
         FROM approvals WHERE change_id = ?1 AND voided_at IS NULL ORDER BY id",
    )?;
    let rows = st.query_map([change_id], approval_row)?;
    collect(rows)
}

pub(super) fn void_approvals(
    db: &Connection,
    change_id: i64,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(db.execute(
        "UPDATE approvals SET voided_at = ?2, void_reason = ?3
         WHERE change_id = ?1 AND voided_at IS NULL",
        params![change_id, ts(at), reason],
    )?)
}
