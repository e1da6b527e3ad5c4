//! Changes, their targets and evaluations, and approvals.

use chrono::{DateTime, Utc};

use super::{Arg, Db, Row, args, json_list, rows};
use crate::*;

const CHANGE_COLS: &str =
    "c.id, c.env, c.state, c.author, c.content_hash, c.revision, c.created_at, c.updated_at, c.doc";

fn change_row(mut r: Row) -> Result<ChangeRow, StoreError> {
    let id = r.int(0)?;
    let state = r.text(2)?;
    let doc = r.text(8)?;
    Ok(ChangeRow {
        id,
        env: r.text(1)?,
        state: State::from_name(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("change state `{state}`")))?,
        author: r.text(3)?,
        content_hash: r.text(4)?,
        revision: r.int(5)?,
        created_at: r.ts(6)?,
        updated_at: r.ts(7)?,
        doc: serde_json::from_str(&doc)
            .map_err(|e| StoreError::Corrupt(format!("change {id} document: {e}")))?,
    })
}

fn approval_row(mut r: Row) -> Result<ApprovalRow, StoreError> {
    let decision = r.text(4)?;
    Ok(ApprovalRow {
        id: r.int(0)?,
        change_id: r.int(1)?,
        user: r.text(2)?,
        groups: r.list(3)?,
        decision: match decision.as_str() {
            "approve" => Decision::Approve,
            "reject" => Decision::Reject,
            other => return Err(StoreError::Corrupt(format!("decision `{other}`"))),
        },
        comment: r.text(5)?,
        content_hash: r.text(6)?,
        at: r.ts(7)?,
        voided: r.opt_text(8)?,
    })
}

fn doc_json(c: &ChangeRow) -> Result<String, StoreError> {
    serde_json::to_string(&c.doc).map_err(|e| StoreError::Backend(e.to_string()))
}

pub(super) fn insert_change(db: &mut dyn Db, c: &ChangeRow) -> Result<i64, StoreError> {
    db.insert(
        "INSERT INTO changes (env, state, author, content_hash, revision, created_at, updated_at, doc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        args![
            &c.env,
            c.state.name(),
            &c.author,
            &c.content_hash,
            c.revision,
            c.created_at,
            c.updated_at,
            doc_json(c)?
        ],
    )
}

pub(super) fn update_change(db: &mut dyn Db, c: &ChangeRow) -> Result<(), StoreError> {
    let n = db.exec(
        "UPDATE changes SET state = ?2, content_hash = ?3, revision = ?4, updated_at = ?5, doc = ?6
         WHERE id = ?1",
        args![
            c.id,
            c.state.name(),
            &c.content_hash,
            c.revision,
            c.updated_at,
            doc_json(c)?
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

pub(super) fn change(db: &mut dyn Db, id: i64) -> Result<Option<ChangeRow>, StoreError> {
    db.query_opt(
        &format!("SELECT {CHANGE_COLS} FROM changes c WHERE c.id = ?1"),
        args![id],
    )?
    .map(change_row)
    .transpose()
}

pub(super) fn changes(db: &mut dyn Db, f: &ChangeFilter) -> Result<Vec<ChangeRow>, StoreError> {
    let mut sql = format!("SELECT {CHANGE_COLS} FROM changes c WHERE 1=1");
    let mut a: Vec<Arg<'_>> = Vec::new();
    if let Some(s) = f.state {
        a.push(s.name().into());
        sql.push_str(&format!(" AND c.state = ?{}", a.len()));
    }
    if let Some(e) = &f.env {
        a.push(e.into());
        sql.push_str(&format!(" AND c.env = ?{}", a.len()));
    }
    if let Some(t) = &f.target {
        a.push(t.into());
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM change_targets t WHERE t.change_id = c.id AND t.target = ?{})",
            a.len()
        ));
    }
    let limit = if f.limit == 0 { 100 } else { f.limit.min(1000) };
    sql.push_str(&format!(" ORDER BY c.id DESC LIMIT {limit}"));
    rows(db.query(&sql, &a)?, change_row)
}

pub(super) fn changes_with_target(
    db: &mut dyn Db,
    env: &str,
    target: &str,
    hash: Option<&str>,
    states: &[State],
) -> Result<Vec<ChangeRow>, StoreError> {
    let all = match hash {
        Some(h) => db.query(
            &format!(
                "SELECT {CHANGE_COLS} FROM changes c JOIN change_targets t ON t.change_id = c.id
                 WHERE c.env = ?1 AND t.target = ?2 AND t.content_hash = ?3 ORDER BY c.id DESC"
            ),
            args![env, target, h],
        )?,
        None => db.query(
            &format!(
                "SELECT {CHANGE_COLS} FROM changes c JOIN change_targets t ON t.change_id = c.id
                 WHERE c.env = ?1 AND t.target = ?2 ORDER BY c.id DESC"
            ),
            args![env, target],
        )?,
    };
    let all = rows(all, change_row)?;
    Ok(all
        .into_iter()
        .filter(|c| states.contains(&c.state))
        .collect())
}

pub(super) fn change_counts(db: &mut dyn Db) -> Result<Vec<(State, String, i64)>, StoreError> {
    rows(
        db.query(
            "SELECT state, env, COUNT(*) FROM changes GROUP BY state, env",
            &[],
        )?,
        |mut r| {
            let s = r.text(0)?;
            let st = State::from_name(&s)
                .ok_or_else(|| StoreError::Corrupt(format!("change state `{s}`")))?;
            Ok((st, r.text(1)?, r.int(2)?))
        },
    )
}

pub(super) fn set_change_targets(
    db: &mut dyn Db,
    id: i64,
    t: &[ChangeTarget],
) -> Result<(), StoreError> {
    db.exec("DELETE FROM change_targets WHERE change_id = ?1", args![id])?;
    for x in t {
        db.exec(
            "INSERT INTO change_targets (change_id, target, content_hash, format, content)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            &[
                id.into(),
                (&x.target).into(),
                (&x.content_hash).into(),
                (&x.format).into(),
                Arg::Packed(&x.content),
            ],
        )?;
    }
    Ok(())
}

pub(super) fn set_change_evaluation(
    db: &mut dyn Db,
    id: i64,
    json: &str,
) -> Result<(), StoreError> {
    db.exec(
        "UPDATE changes SET evaluation = ?2 WHERE id = ?1",
        &[id.into(), Arg::Packed(json)],
    )?;
    Ok(())
}

pub(super) fn change_evaluation(db: &mut dyn Db, id: i64) -> Result<Option<String>, StoreError> {
    match db.query_opt("SELECT evaluation FROM changes WHERE id = ?1", args![id])? {
        Some(mut r) => r.opt_packed(0),
        None => Ok(None),
    }
}

pub(super) fn change_targets(db: &mut dyn Db, id: i64) -> Result<Vec<ChangeTarget>, StoreError> {
    rows(
        db.query(
            "SELECT target, content_hash, format, content FROM change_targets
             WHERE change_id = ?1 ORDER BY target",
            args![id],
        )?,
        |mut r| {
            Ok(ChangeTarget {
                target: r.text(0)?,
                content_hash: r.text(1)?,
                format: r.text(2)?,
                content: r.packed(3)?,
            })
        },
    )
}

pub(super) fn insert_approval(db: &mut dyn Db, a: &ApprovalRow) -> Result<i64, StoreError> {
    db.insert(
        "INSERT INTO approvals (change_id, \"user\", groups_, decision, comment, content_hash, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        args![
            a.change_id,
            &a.user,
            json_list(&a.groups),
            a.decision.name(),
            &a.comment,
            &a.content_hash,
            a.at
        ],
    )
}

pub(super) fn approvals(db: &mut dyn Db, change_id: i64) -> Result<Vec<ApprovalRow>, StoreError> {
    rows(
        db.query(
            "SELECT id, change_id, \"user\", groups_, decision, comment, content_hash, at, void_reason
             FROM approvals WHERE change_id = ?1 AND voided_at IS NULL ORDER BY id",
            args![change_id],
        )?,
        approval_row,
    )
}

pub(super) fn void_approvals(
    db: &mut dyn Db,
    change_id: i64,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(db.exec(
        "UPDATE approvals SET voided_at = ?2, void_reason = ?3
         WHERE change_id = ?1 AND voided_at IS NULL",
        args![change_id, at, reason],
    )? as usize)
}
