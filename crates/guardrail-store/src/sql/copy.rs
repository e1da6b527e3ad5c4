//! `guardrail store migrate`: every record of one store copied into another, ids kept (audit
//! records name changes by id), in one write transaction on the far side, and counted on both
//! sides afterwards.

use super::{Arg, Cell, Db};
use crate::StoreError;

/// Each table, its columns (the same on both backends), and the integer column it is read in
/// pages by (`None`: read whole; small tables). In an order that keeps references valid.
const TABLES: &[(&str, &[&str], Option<&str>)] = &[
    (
        "tokens",
        &[
            "id",
            "hash",
            "user",
            "roles",
            "groups_",
            "created_at",
            "revoked_at",
            "expires_at",
            "last_used_at",
        ],
        Some("id"),
    ),
    (
        "changes",
        &[
            "id",
            "env",
            "state",
            "author",
            "content_hash",
            "revision",
            "created_at",
            "updated_at",
            "doc",
            "evaluation",
        ],
        Some("id"),
    ),
    (
        "change_targets",
        &["change_id", "target", "content_hash", "format", "content"],
        Some("change_id"),
    ),
    (
        "approvals",
        &[
            "id",
            "change_id",
            "user",
            "groups_",
            "decision",
            "comment",
            "content_hash",
            "at",
            "voided_at",
            "void_reason",
        ],
        Some("id"),
    ),
    (
        "baselines",
        &[
            "id",
            "target",
            "env",
            "content",
            "content_hash",
            "format",
            "change_id",
            "origin",
            "applied_at",
            "rolled_back_at",
        ],
        Some("id"),
    ),
    (
        "freezes",
        &[
            "id",
            "env",
            "targets",
            "reason",
            "created_by",
            "from_at",
            "until",
            "lifted_at",
            "lifted_by",
        ],
        Some("id"),
    ),
    (
        "retro_reviews",
        &[
            "id",
            "change_id",
            "opened_at",
            "due_at",
            "closed_at",
            "closed_by",
            "note",
            "opened_by",
        ],
        Some("id"),
    ),
    (
        "audit",
        &[
            "id",
            "at",
            "actor",
            "action",
            "subject",
            "before",
            "after",
            "content_hash",
            "detail",
            "prev_hash",
            "hash",
        ],
        Some("id"),
    ),
    ("audit_head", &["one", "id", "hash"], None),
    (
        "drifts",
        &[
            "id",
            "target",
            "env",
            "kind",
            "status",
            "first_seen",
            "last_seen",
            "live_hash",
            "live_content",
            "format",
            "baseline_id",
            "baseline_hash",
            "change_id",
            "diff",
            "findings",
            "detail",
            "flaps",
            "in_sync_since",
            "resolved_at",
            "resolution",
            "adopted_change_id",
        ],
        Some("id"),
    ),
    (
        "source_status",
        &[
            "target",
            "env",
            "up",
            "consecutive_failures",
            "last_attempt",
            "last_success",
            "last_error",
        ],
        None,
    ),
    (
        "alerts",
        &["key", "event", "payload", "fired_at", "resolved_at"],
        None,
    ),
    (
        "outbox",
        &[
            "id",
            "receiver",
            "event",
            "payload",
            "created_at",
            "attempts",
            "next_attempt_at",
            "delivered_at",
            "abandoned_at",
            "last_error",
        ],
        Some("id"),
    ),
    (
        "verifications",
        &["change_id", "target", "env", "verified_at"],
        Some("change_id"),
    ),
];

/// The tables with a generated id (their sequences move past the copied ids).
pub(crate) const IDENTITY_TABLES: &[&str] = &[
    "tokens",
    "changes",
    "approvals",
    "baselines",
    "freezes",
    "retro_reviews",
    "drifts",
    "outbox",
];

/// Rows per page of a paged table.
const PAGE: i64 = 200;

fn quoted(cols: &[&str]) -> String {
    cols.iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn arg(c: &Cell) -> Arg<'_> {
    match c {
        Cell::Null => Arg::Null,
        Cell::Int(v) => Arg::Int(*v),
        Cell::Text(t) => Arg::from(t.as_str()),
        Cell::Bytes(b) => Arg::Bytes(b),
    }
}

fn count(db: &mut dyn Db, table: &str) -> Result<i64, StoreError> {
    match db.query_opt(&format!("SELECT COUNT(*) FROM {table}"), &[])? {
        Some(mut r) => r.int(0),
        None => Ok(0),
    }
}

/// Copies every table of `from` into `to`, which must hold no record yet; the rows per table.
pub(crate) fn copy(
    from: &mut dyn Db,
    to: &mut dyn Db,
) -> Result<Vec<(&'static str, i64)>, StoreError> {
    for (table, _, _) in TABLES {
        let n = count(to, table)?;
        if n > 0 {
            return Err(StoreError::Backend(format!(
                "the destination is not empty ({n} rows in {table}); migrate into a new, empty database"
            )));
        }
    }
    let mut out = Vec::new();
    for (table, cols, page_by) in TABLES {
        let list = quoted(cols);
        let places: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
        let insert = format!(
            "INSERT INTO {table} ({list}) VALUES ({})",
            places.join(", ")
        );
        let mut copied = 0i64;
        let mut put = |rows: Vec<super::Row>| -> Result<(), StoreError> {
            for r in rows {
                let args: Vec<Arg<'_>> = r.0.iter().map(arg).collect();
                to.exec(&insert, &args)?;
                copied += 1;
            }
            Ok(())
        };
        match page_by {
            None => put(from.query(&format!("SELECT {list} FROM {table}"), &[])?)?,
            Some(col) => {
                let mut after = i64::MIN;
                loop {
                    // Whole values of the page column at a time (a change's targets together).
                    let max = match from.query_opt(
                        &format!(
                            "SELECT MAX(\"{col}\") FROM (SELECT \"{col}\" FROM {table} WHERE \"{col}\" > ?1 ORDER BY \"{col}\" LIMIT {PAGE}) page"
                        ),
                        &[Arg::Int(after)],
                    )? {
                        Some(mut r) => r.opt_int(0)?,
                        None => None,
                    };
                    let Some(max) = max else { break };
                    put(from.query(
                        &format!(
                            "SELECT {list} FROM {table} WHERE \"{col}\" > ?1 AND \"{col}\" <= ?2 ORDER BY \"{col}\""
                        ),
                        &[Arg::Int(after), Arg::Int(max)],
                    )?)?;
                    after = max;
                }
            }
        }
        let there = count(to, table)?;
        if there != copied || count(from, table)? != copied {
            return Err(StoreError::Backend(format!(
                "{table}: copied {copied} rows but the destination holds {there}"
            )));
        }
        out.push((*table, copied));
    }
    Ok(out)
}
