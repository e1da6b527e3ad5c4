//! The embedded SQLite store: one file in the data directory, WAL journal, `synchronous =
//! FULL` (a commit is on disk before the client hears of it), migrations embedded in the
//! binary and applied at open. One writer connection (SQLite serializes writers anyway) and a
//! small pool of reader connections that never block it.
//!
//! The store holds raw configs (secrets included), so the data directory is kept private: it is
//! created 0700 and the store file 0600 (SQLite gives its `-wal` and `-shm` files the store
//! file's mode), and opening refuses a directory or file that group or others may read, naming
//! the `chmod` that fixes it.

use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use super::*;

/// Schema migrations, applied in order; `PRAGMA user_version` is the number applied.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_drift.sql"),
    include_str!("migrations/0003_integrity.sql"),
];

/// The store file's name inside the data directory.
pub const FILE_NAME: &str = "guardrail.sqlite";

pub struct SqliteStore {
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    path: std::path::PathBuf,
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        backend(e)
    }
}

fn open_conn(path: &Path) -> Result<Connection, StoreError> {
    let c = Connection::open(path)?;
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "FULL")?;
    c.pragma_update(None, "foreign_keys", "ON")?;
    Ok(c)
}

/// Creates the data directory (mode 0700) when missing.
pub fn create_data_dir(data_dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    if data_dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(|e| {
            StoreError::Backend(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })
}

/// Refuses a data directory that group or others may enter, or a file (or directory) in it
/// that they may read or write; the message names the fix.
pub fn check_private(data_dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| -> Result<u32, StoreError> {
        std::fs::symlink_metadata(p)
            .map(|m| m.permissions().mode() & 0o7777)
            .map_err(|e| StoreError::Backend(format!("{}: {e}", p.display())))
    };
    let dir = mode(data_dir)?;
    let mut problems = Vec::new();
    if dir & 0o077 != 0 {
        problems.push(format!(
            "the data directory {} is open to group or others (mode {dir:04o}); it holds raw configs and secrets: run `chmod 700 {}`",
            data_dir.display(),
            data_dir.display()
        ));
    }
    let mut open: Vec<String> = Vec::new();
    let entries = std::fs::read_dir(data_dir)
        .map_err(|e| StoreError::Backend(format!("{}: {e}", data_dir.display())))?;
    for e in entries.flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_symlink()) {
            continue;
        }
        let m = mode(&p)?;
        if m & 0o077 != 0 {
            open.push(format!("{} ({m:04o})", p.display()));
        }
    }
    if !open.is_empty() {
        open.sort();
        let names: Vec<&str> = open
            .iter()
            .map(|s| s.rsplit_once(" (").map_or(s.as_str(), |(p, _)| p))
            .collect();
        problems.push(format!(
            "files in the data directory are open to group or others: {}; run `chmod 600 {}` (directories: chmod 700)",
            open.join(", "),
            names.join(" ")
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Backend(problems.join("; ")))
    }
}

impl SqliteStore {
    /// Opens (creating when missing) the store in `data_dir`, and migrates it. The directory
    /// is created 0700 and the store file 0600; an existing directory or file that group or
    /// others may read is refused.
    pub fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        use std::os::unix::fs::OpenOptionsExt;
        create_data_dir(data_dir)?;
        check_private(data_dir)?;
        let path = data_dir.join(FILE_NAME);
        if !path.exists() {
            // Created here, private, before SQLite opens it (SQLite would create it 0644).
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))?;
        }
        let mut c = open_conn(&path)?;
        migrate(&mut c)?;
        Ok(SqliteStore {
            writer: Mutex::new(c),
            readers: Mutex::new(Vec::new()),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn migrate(c: &mut Connection) -> Result<(), StoreError> {
    let have: i64 = c.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if have as usize > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "the store has schema {have}, newer than this guardrail knows ({}); upgrade guardrail",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(have as usize) {
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

impl Store for SqliteStore {
    fn write_tx(
        &self,
        key: &AuditKey,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut c = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut t = SqlTx { tx, key: Some(key) };
        f(&mut t)?;
        t.tx.commit()?;
        Ok(())
    }

    fn read_tx(
        &self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let conn = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut c = match conn {
            Some(c) => c,
            None => open_conn(&self.path)?,
        };
        let result = (|| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let mut t = SqlTx { tx, key: None };
            f(&mut t)?;
            t.tx.rollback()?;
            Ok(())
        })();
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 16 {
            pool.push(c);
        }
        result
    }

    fn ping(&self) -> Result<(), StoreError> {
        read(self, |tx| tx.audit_head().map(|_| ()))
    }
}

struct SqlTx<'c> {
    tx: Transaction<'c>,
    key: Option<&'c AuditKey>,
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn parse_list(s: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("list `{s}`: {e}")))
}

fn opt_ts(s: Option<String>) -> Result<Option<DateTime<Utc>>, StoreError> {
    s.map(|s| parse_ts(&s)).transpose()
}

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

fn collect<T>(
    rows: impl Iterator<Item = rusqlite::Result<Result<T, StoreError>>>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    for r in rows {
        out.push(r??);
    }
    Ok(out)
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

/// Config contents and evaluations are stored compressed (zstd) when they are large: the commit
/// of a write transaction is what every other writer waits for, and a 10 MB config is ~1 MB
/// compressed. Small texts stay plain `TEXT`; a compressed one is a `BLOB`. Rows written before
/// compression read as they are (`TEXT`).
struct Packed(String);

/// Texts shorter than this are stored plain: compressing them saves nothing worth a frame.
const PACK_ABOVE: usize = 4096;
/// zstd's default level: ~8x on config text at hundreds of MB/s.
const PACK_LEVEL: i32 = 3;

/// Binds `text` as [`Packed`] without copying it when it stays plain.
struct PackRef<'a>(&'a str);

impl ToSql for PackRef<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        pack(self.0)
    }
}

fn pack(text: &str) -> rusqlite::Result<ToSqlOutput<'_>> {
    if text.len() < PACK_ABOVE {
        return Ok(ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())));
    }
    let packed = zstd::bulk::compress(text.as_bytes(), PACK_LEVEL)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    Ok(ToSqlOutput::Owned(rusqlite::types::Value::Blob(packed)))
}

/// The most a packed text may expand to (the largest accepted config is 64 MiB).
const UNPACK_LIMIT: usize = 256 * 1024 * 1024;

impl FromSql for Packed {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        match v {
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(|s| Packed(s.to_string()))
                .map_err(|e| FromSqlError::Other(Box::new(e))),
            ValueRef::Blob(b) => {
                let bytes = zstd::bulk::decompress(b, UNPACK_LIMIT)
                    .map_err(|e| FromSqlError::Other(Box::new(e)))?;
                String::from_utf8(bytes)
                    .map(Packed)
                    .map_err(|e| FromSqlError::Other(Box::new(e)))
            }
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

impl FromSql for PackedOpt {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        match v {
            ValueRef::Null => Ok(PackedOpt(None)),
            other => Packed::column_result(other).map(|p| PackedOpt(Some(p.0))),
        }
    }
}

/// An owned text bound as [`PackRef`] (for parameter lists of boxed values).
struct PackedText(String);

impl ToSql for PackedText {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        pack(&self.0)
    }
}

/// A nullable [`Packed`] column.
struct PackedOpt(Option<String>);

const BASELINE_COLS: &str =
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

const RETRO_COLS: &str = "id, change_id, opened_at, due_at, closed_at, closed_by, note, opened_by";

fn retro_row(r: &Row<'_>) -> rusqlite::Result<Result<RetroReview, StoreError>> {
    let opened: String = r.get(2)?;
    let due: String = r.get(3)?;
    let closed: Option<String> = r.get(4)?;
    let (id, change_id, closed_by, note, opened_by) =
        (r.get(0)?, r.get(1)?, r.get(5)?, r.get(6)?, r.get(7)?);
    Ok((|| {
        Ok(RetroReview {
            id,
            change_id,
            opened_by,
            opened_at: parse_ts(&opened)?,
            due_at: parse_ts(&due)?,
            closed_at: opt_ts(closed)?,
            closed_by,
            note,
        })
    })())
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

impl Tx for SqlTx<'_> {
    fn audit_key(&self) -> Option<&AuditKey> {
        self.key
    }

    fn insert_token(
        &mut self,
        hash: &str,
        id: &Identity,
        at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<i64, StoreError> {
        let roles: Vec<String> = id.roles.iter().map(|r| r.name().to_string()).collect();
        self.tx.execute(
            "INSERT INTO tokens (hash, user, roles, groups_, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![hash, id.user, json_list(&roles), json_list(&id.groups), ts(at), expires_at.map(ts)],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    fn token_identity(
        &mut self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(i64, Identity, Option<DateTime<Utc>>)>, StoreError> {
        let row: Option<(i64, String, String, String, Option<String>)> = self
            .tx
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

    fn tokens(&mut self) -> Result<Vec<TokenRow>, StoreError> {
        let mut st = self.tx.prepare_cached(
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

    fn revoke_token(&mut self, id: i64, at: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(self.tx.execute(
            "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, ts(at)],
        )? == 1)
    }

    fn touch_tokens(&mut self, used: &[(i64, DateTime<Utc>)]) -> Result<(), StoreError> {
        let mut st = self
            .tx
            .prepare_cached("UPDATE tokens SET last_used_at = ?2 WHERE id = ?1")?;
        for (id, at) in used {
            st.execute(params![id, ts(*at)])?;
        }
        Ok(())
    }

    fn insert_change(&mut self, c: &ChangeRow) -> Result<i64, StoreError> {
        self.tx.execute(
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
        Ok(self.tx.last_insert_rowid())
    }

    fn update_change(&mut self, c: &ChangeRow) -> Result<(), StoreError> {
        let n = self.tx.execute(
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

    fn change(&mut self, id: i64) -> Result<Option<ChangeRow>, StoreError> {
        let mut st = self
            .tx
            .prepare_cached(&format!("SELECT {CHANGE_COLS} FROM changes WHERE id = ?1"))?;
        let r = st.query_row([id], change_row).optional()?;
        r.transpose()
    }

    fn changes(&mut self, f: &ChangeFilter) -> Result<Vec<ChangeRow>, StoreError> {
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
        let mut st = self.tx.prepare(&sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(args.iter()), change_row)?;
        collect(rows)
    }

    fn changes_with_target(
        &mut self,
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
        let mut st = self.tx.prepare_cached(&format!(
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

    fn change_counts(&mut self) -> Result<Vec<(State, String, i64)>, StoreError> {
        let mut st = self
            .tx
            .prepare_cached("SELECT state, env, COUNT(*) FROM changes GROUP BY state, env")?;
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

    fn set_change_targets(&mut self, id: i64, t: &[ChangeTarget]) -> Result<(), StoreError> {
        self.tx
            .execute("DELETE FROM change_targets WHERE change_id = ?1", [id])?;
        for x in t {
            self.tx.execute(
                "INSERT INTO change_targets (change_id, target, content_hash, format, content)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, x.target, x.content_hash, x.format, PackRef(&x.content)],
            )?;
        }
        Ok(())
    }

    fn set_change_evaluation(&mut self, id: i64, json: &str) -> Result<(), StoreError> {
        self.tx.execute(
            "UPDATE changes SET evaluation = ?2 WHERE id = ?1",
            params![id, PackRef(json)],
        )?;
        Ok(())
    }

    fn change_evaluation(&mut self, id: i64) -> Result<Option<String>, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT evaluation FROM changes WHERE id = ?1")?
            .query_row([id], |r| r.get::<_, PackedOpt>(0))
            .optional()?
            .and_then(|p| p.0))
    }

    fn change_targets(&mut self, id: i64) -> Result<Vec<ChangeTarget>, StoreError> {
        let mut st = self.tx.prepare_cached(
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

    fn insert_approval(&mut self, a: &ApprovalRow) -> Result<i64, StoreError> {
        self.tx.execute(
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
        Ok(self.tx.last_insert_rowid())
    }

    fn approvals(&mut self, change_id: i64) -> Result<Vec<ApprovalRow>, StoreError> {
        let mut st = self.tx.prepare_cached(
            "SELECT id, change_id, user, groups_, decision, comment, content_hash, at, void_reason
             FROM approvals WHERE change_id = ?1 AND voided_at IS NULL ORDER BY id",
        )?;
        let rows = st.query_map([change_id], approval_row)?;
        collect(rows)
    }

    fn void_approvals(
        &mut self,
        change_id: i64,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        Ok(self.tx.execute(
            "UPDATE approvals SET voided_at = ?2, void_reason = ?3
             WHERE change_id = ?1 AND voided_at IS NULL",
            params![change_id, ts(at), reason],
        )?)
    }

    fn insert_baseline(&mut self, b: &BaselineRow) -> Result<i64, StoreError> {
        self.tx.execute(
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
        Ok(self.tx.last_insert_rowid())
    }

    fn baseline(&mut self, target: &str, env: &str) -> Result<Option<BaselineRow>, StoreError> {
        let mut st = self.tx.prepare_cached(&format!(
            "SELECT {BASELINE_COLS} FROM baselines
             WHERE target = ?1 AND env = ?2 AND rolled_back_at IS NULL ORDER BY id DESC LIMIT 1"
        ))?;
        st.query_row([target, env], baseline_row)
            .optional()?
            .transpose()
    }

    fn baselines_with_hash(
        &mut self,
        target: &str,
        env: &str,
        hash: &str,
    ) -> Result<Vec<BaselineRow>, StoreError> {
        let mut st = self.tx.prepare_cached(&format!(
            "SELECT {BASELINE_COLS} FROM baselines
             WHERE target = ?1 AND env = ?2 AND content_hash = ?3 ORDER BY id"
        ))?;
        let rows = st.query_map([target, env, hash], baseline_row)?;
        collect(rows)
    }

    fn mark_rolled_back(&mut self, baseline_id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.tx.execute(
            "UPDATE baselines SET rolled_back_at = ?2 WHERE id = ?1",
            params![baseline_id, ts(at)],
        )?;
        Ok(())
    }

    fn insert_freeze(&mut self, f: &FreezeRow) -> Result<i64, StoreError> {
        self.tx.execute(
            "INSERT INTO freezes (env, targets, reason, created_by, from_at, until)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                f.freeze.env,
                f.freeze.targets,
                f.freeze.reason,
                f.created_by,
                ts(f.freeze.from),
                f.freeze.until.map(ts)
            ],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    fn lift_freeze(&mut self, id: i64, by: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(self.tx.execute(
            "UPDATE freezes SET lifted_at = ?2, lifted_by = ?3 WHERE id = ?1 AND lifted_at IS NULL",
            params![id, ts(at), by],
        )? == 1)
    }

    fn freezes(&mut self) -> Result<Vec<FreezeRow>, StoreError> {
        let mut st = self.tx.prepare_cached(
            "SELECT id, env, targets, reason, created_by, from_at, until, lifted_at, lifted_by
             FROM freezes WHERE lifted_at IS NULL ORDER BY id",
        )?;
        let rows = st.query_map([], |r| {
            let from: String = r.get(5)?;
            let until: Option<String> = r.get(6)?;
            let lifted: Option<String> = r.get(7)?;
            let (id, env, targets, reason, created_by, lifted_by) = (
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(8)?,
            );
            Ok((|| {
                Ok(FreezeRow {
                    freeze: Freeze {
                        id,
                        env,
                        targets,
                        reason,
                        from: parse_ts(&from)?,
                        until: opt_ts(until)?,
                    },
                    created_by,
                    lifted_at: opt_ts(lifted)?,
                    lifted_by,
                })
            })())
        })?;
        collect(rows)
    }

    fn insert_retro(&mut self, r: &RetroReview) -> Result<i64, StoreError> {
        self.tx.execute(
            "INSERT INTO retro_reviews (change_id, opened_at, due_at, opened_by) VALUES (?1, ?2, ?3, ?4)",
            params![r.change_id, ts(r.opened_at), ts(r.due_at), r.opened_by],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    fn retro(&mut self, id: i64) -> Result<Option<RetroReview>, StoreError> {
        let mut st = self.tx.prepare_cached(&format!(
            "SELECT {RETRO_COLS} FROM retro_reviews WHERE id = ?1"
        ))?;
        st.query_row([id], retro_row).optional()?.transpose()
    }

    fn retros(&mut self, open_only: bool) -> Result<Vec<RetroReview>, StoreError> {
        let mut st = self.tx.prepare_cached(&format!(
            "SELECT {RETRO_COLS} FROM retro_reviews
             WHERE (?1 = 0 OR closed_at IS NULL) ORDER BY id"
        ))?;
        let rows = st.query_map([open_only as i64], retro_row)?;
        collect(rows)
    }

    fn close_retro(
        &mut self,
        id: i64,
        by: &str,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self.tx.execute(
            "UPDATE retro_reviews SET closed_at = ?2, closed_by = ?3, note = ?4
             WHERE id = ?1 AND closed_at IS NULL",
            params![id, ts(at), by, note],
        )? == 1)
    }

    fn insert_audit(&mut self, r: &AuditRecord) -> Result<(), StoreError> {
        self.tx
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
        self.tx
            .prepare_cached(
                "INSERT INTO audit_head (one, id, hash) VALUES (1, ?1, ?2)
                 ON CONFLICT(one) DO UPDATE SET id = excluded.id, hash = excluded.hash",
            )?
            .execute(params![r.id, r.hash])?;
        Ok(())
    }

    fn audit_first(&mut self, action: &str) -> Result<Option<AuditRecord>, StoreError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT id, at, actor, action, subject, before, after, content_hash, detail, prev_hash, hash
                 FROM audit WHERE action = ?1 ORDER BY id LIMIT 1",
            )?
            .query_row([action], audit_row)
            .optional()?)
    }

    fn audit_records(&mut self, after: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        let mut st = self.tx.prepare_cached(
            "SELECT id, at, actor, action, subject, before, after, content_hash, detail, prev_hash, hash
             FROM audit WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = st.query_map(params![after, limit], audit_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn audit_head(&mut self) -> Result<Option<Head>, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT id, hash FROM audit_head WHERE one = 1")?
            .query_row([], |r| {
                Ok(Head {
                    id: r.get(0)?,
                    hash: r.get(1)?,
                })
            })
            .optional()?)
    }

    fn insert_drift(&mut self, d: &DriftRow) -> Result<i64, StoreError> {
        self.tx.execute(
            &format!(
                "INSERT INTO drifts ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
                &DRIFT_COLS[4..]
            ),
            rusqlite::params_from_iter(drift_params(d)),
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    fn update_drift(&mut self, d: &DriftRow) -> Result<(), StoreError> {
        let sets = DRIFT_COLS[4..]
            .split(", ")
            .enumerate()
            .map(|(i, c)| format!("{c} = ?{}", i + 1))
            .collect::<Vec<_>>()
            .join(", ");
        let mut args = drift_params(d);
        args.push(Box::new(d.id));
        let n = self.tx.execute(
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

    fn drift(&mut self, id: i64) -> Result<Option<DriftRow>, StoreError> {
        let mut st = self
            .tx
            .prepare_cached(&format!("SELECT {DRIFT_COLS} FROM drifts WHERE id = ?1"))?;
        st.query_row([id], drift_row).optional()?.transpose()
    }

    fn open_drift(&mut self, target: &str, env: &str) -> Result<Option<DriftRow>, StoreError> {
        let mut st = self.tx.prepare_cached(&format!(
            "SELECT {DRIFT_COLS} FROM drifts WHERE target = ?1 AND env = ?2 AND status = 'open'"
        ))?;
        st.query_row([target, env], drift_row)
            .optional()?
            .transpose()
    }

    fn drifts(&mut self, f: &DriftFilter) -> Result<Vec<DriftRow>, StoreError> {
        let mut st = self.tx.prepare_cached(&format!(
            "SELECT {DRIFT_COLS} FROM drifts
             WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR target = ?2) AND (?3 IS NULL OR env = ?3)
             ORDER BY id DESC LIMIT ?4"
        ))?;
        let limit = if f.limit == 0 { 100 } else { f.limit.min(1000) };
        let rows = st.query_map(params![f.status, f.target, f.env, limit], drift_row)?;
        collect(rows)
    }

    fn source_status(
        &mut self,
        target: &str,
        env: &str,
    ) -> Result<Option<SourceStatusRow>, StoreError> {
        let mut st = self.tx.prepare_cached(
            "SELECT target, env, up, consecutive_failures, last_attempt, last_success, last_error
             FROM source_status WHERE target = ?1 AND env = ?2",
        )?;
        st.query_row([target, env], source_status_row)
            .optional()?
            .transpose()
    }

    fn set_source_status(&mut self, s: &SourceStatusRow) -> Result<(), StoreError> {
        self.tx
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

    fn source_statuses(&mut self) -> Result<Vec<SourceStatusRow>, StoreError> {
        let mut st = self.tx.prepare_cached(
            "SELECT target, env, up, consecutive_failures, last_attempt, last_success, last_error
             FROM source_status ORDER BY target, env",
        )?;
        let rows = st.query_map([], source_status_row)?;
        collect(rows)
    }

    fn alert(&mut self, key: &str) -> Result<Option<AlertRow>, StoreError> {
        let mut st = self.tx.prepare_cached(
            "SELECT key, event, payload, fired_at, resolved_at FROM alerts WHERE key = ?1",
        )?;
        st.query_row([key], alert_row).optional()?.transpose()
    }

    fn put_alert(&mut self, a: &AlertRow) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO alerts (key, event, payload, fired_at, resolved_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(key) DO UPDATE SET event = excluded.event, payload = excluded.payload,
                   fired_at = excluded.fired_at, resolved_at = excluded.resolved_at",
            )?
            .execute(params![
                a.key,
                a.event,
                a.payload,
                ts(a.fired_at),
                a.resolved_at.map(ts)
            ])?;
        Ok(())
    }

    fn active_alerts(&mut self) -> Result<Vec<AlertRow>, StoreError> {
        let mut st = self.tx.prepare_cached(
            "SELECT key, event, payload, fired_at, resolved_at FROM alerts
             WHERE resolved_at IS NULL ORDER BY fired_at, key",
        )?;
        let rows = st.query_map([], alert_row)?;
        collect(rows)
    }

    fn insert_outbox(&mut self, o: &OutboxRow) -> Result<i64, StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO outbox (receiver, event, payload, created_at, attempts, next_attempt_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                o.receiver,
                o.event,
                o.payload,
                ts(o.created_at),
                o.attempts,
                ts(o.next_attempt_at)
            ])?;
        Ok(self.tx.last_insert_rowid())
    }

    fn outbox_due(&mut self, now: DateTime<Utc>) -> Result<Vec<OutboxRow>, StoreError> {
        let mut st = self.tx.prepare_cached(&format!(
            "SELECT {OUTBOX_COLS} FROM outbox WHERE id IN (
                 SELECT MIN(id) FROM outbox WHERE delivered_at IS NULL AND abandoned_at IS NULL
                 GROUP BY receiver)
             AND next_attempt_at <= ?1 ORDER BY id"
        ))?;
        let rows = st.query_map([ts(now)], outbox_row)?;
        collect(rows)
    }

    fn outbox_pending(&mut self, limit: u32) -> Result<Vec<OutboxRow>, StoreError> {
        let mut st = self.tx.prepare_cached(&format!(
            "SELECT {OUTBOX_COLS} FROM outbox WHERE delivered_at IS NULL AND abandoned_at IS NULL
             ORDER BY id LIMIT ?1"
        ))?;
        let rows = st.query_map([limit], outbox_row)?;
        collect(rows)
    }

    fn outbox_pending_count(&mut self) -> Result<i64, StoreError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND abandoned_at IS NULL",
            )?
            .query_row([], |r| r.get(0))?)
    }

    fn outbox_attempted(
        &mut self,
        id: i64,
        at: DateTime<Utc>,
        result: &OutboxAttempt,
    ) -> Result<(), StoreError> {
        let (delivered, abandoned, next, error) = match result {
            OutboxAttempt::Delivered => (Some(ts(at)), None, None, None),
            OutboxAttempt::Failed {
                error,
                next_attempt_at,
            } => (None, None, Some(ts(*next_attempt_at)), Some(error.clone())),
            OutboxAttempt::Abandoned { error } => (None, Some(ts(at)), None, Some(error.clone())),
        };
        self.tx
            .prepare_cached(
                "UPDATE outbox SET attempts = attempts + 1, delivered_at = ?2, abandoned_at = ?3,
                   next_attempt_at = COALESCE(?4, next_attempt_at), last_error = COALESCE(?5, last_error)
                 WHERE id = ?1",
            )?
            .execute(params![id, delivered, abandoned, next, error])?;
        Ok(())
    }

    fn insert_verification(
        &mut self,
        change_id: i64,
        target: &str,
        env: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO verifications (change_id, target, env, verified_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![change_id, target, env, ts(at)])?;
        Ok(())
    }

    fn verified_targets(&mut self, change_id: i64) -> Result<Vec<String>, StoreError> {
        let mut st = self.tx.prepare_cached(
            "SELECT target FROM verifications WHERE change_id = ?1 ORDER BY target",
        )?;
        let rows = st.query_map([change_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn recent_baselines(
        &mut self,
        target: &str,
        env: &str,
        limit: u32,
    ) -> Result<Vec<BaselineRow>, StoreError> {
        let mut st = self.tx.prepare_cached(&format!(
            "SELECT {BASELINE_COLS} FROM baselines
             WHERE target = ?1 AND env = ?2 AND rolled_back_at IS NULL ORDER BY id DESC LIMIT ?3"
        ))?;
        let rows = st.query_map(params![target, env, limit], baseline_row)?;
        collect(rows)
    }
}

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

fn alert_row(r: &Row<'_>) -> rusqlite::Result<Result<AlertRow, StoreError>> {
    let fired: String = r.get(3)?;
    let resolved: Option<String> = r.get(4)?;
    let (key, event, payload) = (r.get(0)?, r.get(1)?, r.get(2)?);
    Ok((|| {
        Ok(AlertRow {
            key,
            event,
            payload,
            fired_at: parse_ts(&fired)?,
            resolved_at: opt_ts(resolved)?,
        })
    })())
}

const OUTBOX_COLS: &str = "id, receiver, event, payload, created_at, attempts, next_attempt_at, delivered_at, abandoned_at, last_error";

fn outbox_row(r: &Row<'_>) -> rusqlite::Result<Result<OutboxRow, StoreError>> {
    let created: String = r.get(4)?;
    let next: String = r.get(6)?;
    let delivered: Option<String> = r.get(7)?;
    let abandoned: Option<String> = r.get(8)?;
    let (id, receiver, event, payload, attempts, last_error) = (
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(5)?,
        r.get(9)?,
    );
    Ok((|| {
        Ok(OutboxRow {
            id,
            receiver,
            event,
            payload,
            created_at: parse_ts(&created)?,
            attempts,
            next_attempt_at: parse_ts(&next)?,
            delivered_at: opt_ts(delivered)?,
            abandoned_at: opt_ts(abandoned)?,
            last_error,
        })
    })())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AuditKey {
        AuditKey::from_bytes(&[3u8; 32]).unwrap()
    }

    #[test]
    fn large_contents_are_stored_compressed_and_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("data")).unwrap();
        let now = Utc::now();
        let big: String = (0..20_000)
            .map(|i| format!("    server web{i} 10.0.{}.{}:80 check\n", i / 250, i % 250))
            .collect();
        let small = "backend a\n".to_string();
        let id: i64 = write(&s, &key(), |tx| {
            let c = ChangeRow {
                id: 0,
                env: "production".into(),
                state: State::Proposed,
                author: "alice".into(),
                content_hash: "sha256:a".into(),
                revision: 1,
                created_at: now,
                updated_at: now,
                doc: ChangeDoc::default(),
            };
            let id = tx.insert_change(&c)?;
            let target = |name: &str, content: &str| ChangeTarget {
                target: name.into(),
                content_hash: "sha256:a".into(),
                format: "haproxy".into(),
                content: content.into(),
            };
            tx.set_change_targets(id, &[target("big", &big), target("small", &small)])?;
            tx.set_change_evaluation(id, &big)?;
            Ok::<_, StoreError>(id)
        })
        .unwrap();
        let (targets, evaluation) = read(&s, |tx| {
            Ok::<_, StoreError>((tx.change_targets(id)?, tx.change_evaluation(id)?))
        })
        .unwrap();
        assert_eq!(targets[0].content, big);
        assert_eq!(targets[1].content, small);
        assert_eq!(evaluation.as_deref(), Some(big.as_str()));
        // On disk: the large text is a much smaller BLOB, the small one plain TEXT.
        let conn = Connection::open(dir.path().join("data").join("guardrail.sqlite")).unwrap();
        let (kind, len): (String, i64) = conn
            .query_row(
                "SELECT typeof(content), length(content) FROM change_targets WHERE target = 'big'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(kind, "blob");
        assert!((len as usize) * 4 < big.len(), "{len} of {}", big.len());
        let kind: String = conn
            .query_row(
                "SELECT typeof(content) FROM change_targets WHERE target = 'small'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(kind, "text");
        // A row written before compression (plain TEXT, whatever its size) reads as it is.
        conn.execute(
            "UPDATE change_targets SET content = ?1 WHERE target = 'big'",
            [big.as_str()],
        )
        .unwrap();
        drop(conn);
        let targets = read(&s, |tx| tx.change_targets(id)).unwrap();
        assert_eq!(targets[0].content, big);
    }

    #[test]
    fn round_trips_and_chains_audit() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("data")).unwrap();
        let now = Utc::now();
        let id: i64 = write(&s, &key(), |tx| {
            let c = ChangeRow {
                id: 0,
                env: "production".into(),
                state: State::Proposed,
                author: "alice".into(),
                content_hash: "sha256:a".into(),
                revision: 1,
                created_at: now,
                updated_at: now,
                doc: ChangeDoc {
                    title: "t".into(),
                    ..Default::default()
                },
            };
            let id = tx.insert_change(&c)?;
            tx.set_change_targets(
                id,
                &[ChangeTarget {
                    target: "lb".into(),
                    content_hash: "sha256:a".into(),
                    format: "haproxy".into(),
                    content: "x".into(),
                }],
            )?;
            tx.append_audit(&guardrail_core::change::audit::keyed_marker(&key(), 0), now)?;
            for _ in 0..3 {
                tx.append_audit(&AuditEntry::default(), now)?;
            }
            Ok::<_, StoreError>(id)
        })
        .unwrap();
        // Reopen: migrations are idempotent, data is there.
        drop(s);
        let s = SqliteStore::open(&dir.path().join("data")).unwrap();
        let (c, found, log, head) = read(&s, |tx| {
            Ok::<_, StoreError>((
                tx.change(id)?.unwrap(),
                tx.changes_with_target("production", "lb", Some("sha256:a"), &[State::Proposed])?,
                tx.audit_records(0, 100)?,
                tx.audit_head()?,
            ))
        })
        .unwrap();
        assert_eq!(c.doc.title, "t");
        assert_eq!(found.len(), 1);
        assert_eq!(
            guardrail_core::change::audit::verify(&log, head.as_ref(), Some(&key()), None)
                .map(|v| (v.records, v.keyed_from)),
            Ok((4, Some(1)))
        );
    }

    #[test]
    fn the_store_is_private_and_an_open_directory_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let s = SqliteStore::open(&data).unwrap();
        write(&s, &key(), |tx| {
            tx.append_audit(&AuditEntry::default(), Utc::now())
                .map(|_| ())
        })
        .unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        for e in std::fs::read_dir(&data).unwrap().flatten() {
            assert_eq!(mode(&e.path()), 0o600, "{}", e.path().display());
        }
        drop(s);
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = SqliteStore::open(&data).err().unwrap().to_string();
        assert!(err.contains("chmod 700"), "{err}");
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        let file = data.join(FILE_NAME);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = SqliteStore::open(&data).err().unwrap().to_string();
        assert!(
            err.contains("chmod 600") && err.contains(FILE_NAME),
            "{err}"
        );
    }

    #[test]
    fn an_error_rolls_everything_back() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("data")).unwrap();
        let r: Result<(), StoreError> = write(&s, &key(), |tx| {
            tx.append_audit(&AuditEntry::default(), Utc::now())?;
            Err(StoreError::Backend("boom".into()))
        });
        assert!(r.is_err());
        let head = read(&s, |tx| tx.audit_head()).unwrap();
        assert_eq!(head, None);
    }

    #[test]
    fn drifts_and_the_outbox_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("data")).unwrap();
        let now = Utc::now();
        let mut d = DriftRow {
            id: 0,
            target: "lb".into(),
            env: "production".into(),
            kind: "unstaged_push".into(),
            status: "open".into(),
            first_seen: now,
            last_seen: now,
            live_hash: "sha256:b".into(),
            live_content: "x".into(),
            format: "haproxy".into(),
            baseline_id: Some(1),
            baseline_hash: Some("sha256:a".into()),
            change_id: None,
            diff: "{}".into(),
            findings: "[]".into(),
            detail: "{}".into(),
            flaps: 0,
            in_sync_since: None,
            resolved_at: None,
            resolution: None,
            adopted_change_id: None,
        };
        d.id = write(&s, &key(), |tx| tx.insert_drift(&d)).unwrap();
        // Only one open drift per target and environment.
        assert!(write(&s, &key(), |tx| tx.insert_drift(&d)).is_err());
        d.flaps = 2;
        d.in_sync_since = Some(now);
        write(&s, &key(), |tx| tx.update_drift(&d)).unwrap();
        let back = read(&s, |tx| tx.open_drift("lb", "production"))
            .unwrap()
            .unwrap();
        assert_eq!(back.flaps, 2);
        assert_eq!(back.in_sync_since.map(ts), Some(ts(now)));

        let row = |receiver: &str, at: DateTime<Utc>| OutboxRow {
            id: 0,
            receiver: receiver.into(),
            event: "unstaged_push".into(),
            payload: "{}".into(),
            created_at: at,
            attempts: 0,
            next_attempt_at: at,
            delivered_at: None,
            abandoned_at: None,
            last_error: None,
        };
        let later = now + chrono::Duration::seconds(60);
        let ids = write(&s, &key(), |tx| {
            Ok::<_, StoreError>(vec![
                tx.insert_outbox(&row("a", now))?,
                tx.insert_outbox(&row("a", now))?,
                tx.insert_outbox(&row("b", later))?,
            ])
        })
        .unwrap();
        // One row per receiver, oldest first, and only when due.
        let due = read(&s, |tx| tx.outbox_due(now)).unwrap();
        assert_eq!(due.iter().map(|r| r.id).collect::<Vec<_>>(), vec![ids[0]]);
        write(&s, &key(), |tx| {
            tx.outbox_attempted(
                ids[0],
                now,
                &OutboxAttempt::Failed {
                    error: "503".into(),
                    next_attempt_at: later,
                },
            )
        })
        .unwrap();
        // The failed head blocks the receiver's next row until it is due again.
        assert!(read(&s, |tx| tx.outbox_due(now)).unwrap().is_empty());
        let due = read(&s, |tx| tx.outbox_due(later)).unwrap();
        assert_eq!(
            due.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![ids[0], ids[2]]
        );
        assert_eq!(due[0].attempts, 1);
        write(&s, &key(), |tx| {
            tx.outbox_attempted(ids[0], later, &OutboxAttempt::Delivered)
        })
        .unwrap();
        let due = read(&s, |tx| tx.outbox_due(later)).unwrap();
        assert_eq!(
            due.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![ids[1], ids[2]]
        );
        assert_eq!(read(&s, |tx| tx.outbox_pending_count()).unwrap(), 2);
    }
}
