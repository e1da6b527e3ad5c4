//! API tokens (only their sha256), web UI sessions (only the sha256 of their id) and the
//! chained audit log.

use chrono::{DateTime, Utc};

use super::{Db, Row, args, json_list, parse_list, rows};
use crate::*;

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

const AUDIT_COLS: &str =
    "id, at, actor, action, subject, before, after, content_hash, detail, prev_hash, hash";

fn audit_row(mut r: Row) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        id: r.int(0)?,
        at: r.text(1)?,
        actor: r.text(2)?,
        action: r.text(3)?,
        subject: r.text(4)?,
        before: r.opt_text(5)?,
        after: r.opt_text(6)?,
        content_hash: r.opt_text(7)?,
        detail: r.text(8)?,
        prev_hash: r.text(9)?,
        hash: r.text(10)?,
    })
}

pub(super) fn insert_token(
    db: &mut dyn Db,
    hash: &str,
    id: &Identity,
    at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<i64, StoreError> {
    let roles: Vec<String> = id.roles.iter().map(|r| r.name().to_string()).collect();
    db.insert(
        "INSERT INTO tokens (hash, \"user\", roles, groups_, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        args![
            hash,
            &id.user,
            json_list(&roles),
            json_list(&id.groups),
            at,
            expires_at
        ],
    )
}

pub(super) fn token_identity(
    db: &mut dyn Db,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<TokenIdentity>, StoreError> {
    let Some(mut r) = db.query_opt(
        "SELECT id, \"user\", roles, groups_, expires_at FROM tokens
         WHERE hash = ?1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)",
        args![hash, now],
    )?
    else {
        return Ok(None);
    };
    let (id, user, roles, groups) = (r.int(0)?, r.text(1)?, r.text(2)?, r.text(3)?);
    Ok(Some((id, identity(user, &roles, &groups)?, r.opt_ts(4)?)))
}

pub(super) fn tokens(db: &mut dyn Db) -> Result<Vec<TokenRow>, StoreError> {
    rows(
        db.query(
            "SELECT id, \"user\", roles, groups_, created_at, expires_at, last_used_at, revoked_at
             FROM tokens ORDER BY id",
            &[],
        )?,
        |mut r| {
            let (id, user, roles, groups) = (r.int(0)?, r.text(1)?, r.text(2)?, r.text(3)?);
            Ok(TokenRow {
                id,
                identity: identity(user, &roles, &groups)?,
                created_at: r.ts(4)?,
                expires_at: r.opt_ts(5)?,
                last_used_at: r.opt_ts(6)?,
                revoked_at: r.opt_ts(7)?,
            })
        },
    )
}

pub(super) fn revoke_token(
    db: &mut dyn Db,
    id: i64,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(db.exec(
        "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        args![id, at],
    )? == 1)
}

pub(super) fn touch_tokens(
    db: &mut dyn Db,
    used: &[(i64, DateTime<Utc>)],
) -> Result<(), StoreError> {
    for (id, at) in used {
        db.exec(
            "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1",
            args![*id, *at],
        )?;
    }
    Ok(())
}

pub(super) fn insert_session(db: &mut dyn Db, s: &SessionRow) -> Result<(), StoreError> {
    db.exec(
        "INSERT INTO ui_sessions (id_hash, csrf, token_hash, \"user\", created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        args![
            &s.id_hash,
            &s.csrf,
            &s.token_hash,
            &s.user,
            s.created_at,
            s.expires_at
        ],
    )?;
    Ok(())
}

pub(super) fn session(
    db: &mut dyn Db,
    id_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<SessionRow>, StoreError> {
    let Some(mut r) = db.query_opt(
        "SELECT id_hash, csrf, token_hash, \"user\", created_at, expires_at FROM ui_sessions
         WHERE id_hash = ?1 AND expires_at > ?2",
        args![id_hash, now],
    )?
    else {
        return Ok(None);
    };
    Ok(Some(SessionRow {
        id_hash: r.text(0)?,
        csrf: r.text(1)?,
        token_hash: r.opt_text(2)?,
        user: r.text(3)?,
        created_at: r.ts(4)?,
        expires_at: r.ts(5)?,
    }))
}

pub(super) fn delete_session(db: &mut dyn Db, id_hash: &str) -> Result<bool, StoreError> {
    Ok(db.exec("DELETE FROM ui_sessions WHERE id_hash = ?1", args![id_hash])? == 1)
}

pub(super) fn purge_sessions(db: &mut dyn Db, now: DateTime<Utc>) -> Result<u64, StoreError> {
    db.exec("DELETE FROM ui_sessions WHERE expires_at <= ?1", args![now])
}

pub(super) fn insert_audit(db: &mut dyn Db, r: &AuditRecord) -> Result<(), StoreError> {
    db.exec(
        &format!(
            "INSERT INTO audit ({AUDIT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ),
        args![
            r.id,
            &r.at,
            &r.actor,
            &r.action,
            &r.subject,
            &r.before,
            &r.after,
            &r.content_hash,
            &r.detail,
            &r.prev_hash,
            &r.hash
        ],
    )?;
    db.exec(
        "INSERT INTO audit_head (one, id, hash) VALUES (1, ?1, ?2)
         ON CONFLICT(one) DO UPDATE SET id = excluded.id, hash = excluded.hash",
        args![r.id, &r.hash],
    )?;
    Ok(())
}

pub(super) fn audit_first(
    db: &mut dyn Db,
    action: &str,
) -> Result<Option<AuditRecord>, StoreError> {
    db.query_opt(
        &format!("SELECT {AUDIT_COLS} FROM audit WHERE action = ?1 ORDER BY id LIMIT 1"),
        args![action],
    )?
    .map(audit_row)
    .transpose()
}

pub(super) fn audit_records(
    db: &mut dyn Db,
    after: i64,
    limit: u32,
) -> Result<Vec<AuditRecord>, StoreError> {
    rows(
        db.query(
            &format!("SELECT {AUDIT_COLS} FROM audit WHERE id > ?1 ORDER BY id LIMIT ?2"),
            args![after, limit],
        )?,
        audit_row,
    )
}

pub(super) fn audit_of(db: &mut dyn Db, subject: &str) -> Result<Vec<AuditRecord>, StoreError> {
    rows(
        db.query(
            &format!("SELECT {AUDIT_COLS} FROM audit WHERE subject = ?1 ORDER BY id"),
            args![subject],
        )?,
        audit_row,
    )
}

pub(super) fn audit_head(db: &mut dyn Db) -> Result<Option<Head>, StoreError> {
    db.query_opt("SELECT id, hash FROM audit_head WHERE one = 1", &[])?
        .map(|mut r| {
            Ok(Head {
                id: r.int(0)?,
                hash: r.text(1)?,
            })
        })
        .transpose()
}
