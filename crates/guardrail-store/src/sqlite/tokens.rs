//! API tokens (only their sha256) and the chained audit log.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::*;

/// A live token: its id, who it stands for, when it expires.
type TokenIdentity = (i64, Identity, Option<DateTime<Utc>>);

fn identity(user: String, roles: &str, groups: &str) -> Result<Identity, StoreError> {
    let roles = parse_list(roles)?
        .iter()
        .map(|r| Role::from_name(r).ok_or_else(|| StoreError::Corrupt(format!("role `{r}`"))))
        .collect::<Result<_, _>>()?;
    Ok(Identity {
        user,
        roles,
        groups: parse_list(groups)?,
    })
}

fn audit_row(r: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        id: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        subject: r.get(4)?,
        before: r.get(5)?,
        after: r.get(6)?,
        content_hash: r.get(7)?,
        detail: r.get(8)?,
        prev_hash: r.get(9)?,
        hash: r.get(10)?,
    })
}

pub(super) fn insert_token(
    db: &Connection,
    hash: &str,
    id: &Identity,
    at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<i64, StoreError> {
    let roles: Vec<String> = id.roles.iter().map(|r| r.name().to_string()).collect();
    db.execute(
        "INSERT INTO tokens (hash, user, roles, groups_, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![hash, id.user, json_list(&roles), json_list(&id.groups), ts(at), expires_at.map(ts)],
    )?;
    Ok(db.last_insert_rowid())
}

pub(super) fn token_identity(
    db: &Connection,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<TokenIdentity>, StoreError> {
    let row: Option<(i64, String, String, String, Option<String>)> = db
        .prepare_cached(
            "SELECT id, user, roles, groups_, expires_at FROM tokens
             WHERE hash = ?1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)",
        )?
        .query_row(params![hash, ts(now)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let Some((id, user, roles, groups, expires)) = row else {
        return Ok(None);
    };
    Ok(Some((
        id,
        identity(user, &roles, &groups)?,
        opt_ts(expires)?,
    )))
}

pub(super) fn tokens(db: &Connection) -> Result<Vec<TokenRow>, StoreError> {
    let mut st = db.prepare_cached(
        "SELECT id, user, roles, groups_, created_at, expires_at, last_used_at, revoked_at
         FROM tokens ORDER BY id",
    )?;
    let rows = st.query_map([], |r| {
        let (id, user, roles, groups): (i64, String, String, String) =
            (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        let created: String = r.get(4)?;
        let (expires, used, revoked): (Option<String>, Option<String>, Option<String>) =
            (r.get(5)?, r.get(6)?, r.get(7)?);
        Ok((|| {
            Ok(TokenRow {
                id,
                identity: identity(user, &roles, &groups)?,
                created_at: parse_ts(&created)?,
                expires_at: opt_ts(expires)?,
                last_used_at: opt_ts(used)?,
                revoked_at: opt_ts(revoked)?,
            })
        })())
    })?;
    collect(rows)
}

pub(super) fn revoke_token(
    db: &Connection,
    id: i64,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(db.execute(
        "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, ts(at)],
    )? == 1)
}

pub(super) fn touch_tokens(
    db: &Connection,
    used: &[(i64, DateTime<Utc>)],
) -> Result<(), StoreError> {
    let mut st = db.prepare_cached("UPDATE tokens SET last_used_at = ?2 WHERE id = ?1")?;
    for (id, at) in used {
        st.execute(params![id, ts(*at)])?;
    }
    Ok(())
}

pub(super) fn insert_audit(db: &Connection, r: &AuditRecord) -> Result<(), StoreError> {
    db
        .prepare_cached(
            "INSERT INTO audit (id, at, actor, action, subject, before, after, content_hash, detail, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            r.id,
            r.at,
            r.actor,
            r.action,
            r.subject,
            r.before,
            r.after,
            r.content_hash,
            r.detail,
            r.prev_hash,
            r.hash
        ])?;
    db.prepare_cached(
        "INSERT INTO audit_head (one, id, hash) VALUES (1, ?1, ?2)
             ON CONFLICT(one) DO UPDATE SET id = excluded.id, hash = excluded.hash",
    )?
    .execute(params![r.id, r.hash])?;
    Ok(())
}

pub(super) fn audit_first(
    db: &Connection,
    action: &str,
) -> Result<Option<AuditRecord>, StoreError> {
    Ok(db
        .prepare_cached(
            "SELECT id, at, actor, action, subject, before, after, content_hash, detail, prev_hash, hash
             FROM audit WHERE action = ?1 ORDER BY id LIMIT 1",
        )?
        .query_row([action], audit_row)
        .optional()?)
}

pub(super) fn audit_records(
    db: &Connection,
    after: i64,
    limit: u32,
) -> Result<Vec<AuditRecord>, StoreError> {
    let mut st = db.prepare_cached(
        "SELECT id, at, actor, action, subject, before, after, content_hash, detail, prev_hash, hash
         FROM audit WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = st.query_map(params![after, limit], audit_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn audit_head(db: &Connection) -> Result<Option<Head>, StoreError> {
    Ok(db
        .prepare_cached("SELECT id, hash FROM audit_head WHERE one = 1")?
        .query_row([], |r| {
            Ok(Head {
                id: r.get(0)?,
                hash: r.get(1)?,
            })
        })
        .optional()?)
}
