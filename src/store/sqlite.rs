//! The embedded SQLite store: one file in the data directory, WAL journal, `synchronous =
//! FULL` (a commit is on disk before the client hears of it), migrations embedded in the
//! binary and applied at open. One writer connection (SQLite serializes writers anyway) and a
//! small pool of reader connections that never block it.

use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use super::*;
use crate::change::audit::GENESIS;

/// Schema migrations, applied in order; `PRAGMA user_version` is the number applied.
const MIGRATIONS: &[&str] = &[include_str!("migrations/0001_init.sql")];

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

impl SqliteStore {
    /// Opens (creating when missing) the store in `data_dir`, and migrates it.
    pub fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Backend(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(FILE_NAME);
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
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut c = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut t = SqlTx { tx };
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
            let mut t = SqlTx { tx };
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

const BASELINE_COLS: &str =
    "id, target, env, content, content_hash, format, change_id, origin, applied_at, rolled_back_at";

fn baseline_row(r: &Row<'_>) -> rusqlite::Result<Result<BaselineRow, StoreError>> {
    let applied: String = r.get(8)?;
    let rolled: Option<String> = r.get(9)?;
    let (id, target, env, content, content_hash, format, change_id, origin) = (
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

fn retro_row(r: &Row<'_>) -> rusqlite::Result<Result<RetroReview, StoreError>> {
    let opened: String = r.get(2)?;
    let due: String = r.get(3)?;
    let closed: Option<String> = r.get(4)?;
    let (id, change_id, closed_by, note) = (r.get(0)?, r.get(1)?, r.get(5)?, r.get(6)?);
    Ok((|| {
        Ok(RetroReview {
            id,
            change_id,
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

impl Tx for SqlTx<'_> {
    fn insert_token(
        &mut self,
        hash: &str,
        id: &Identity,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let roles: Vec<String> = id.roles.iter().map(|r| r.name().to_string()).collect();
        self.tx.execute(
            "INSERT INTO tokens (hash, user, roles, groups_, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![hash, id.user, json_list(&roles), json_list(&id.groups), ts(at)],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    fn token_identity(&mut self, hash: &str) -> Result<Option<Identity>, StoreError> {
        let row: Option<(String, String, String)> = self
            .tx
            .prepare_cached(
                "SELECT user, roles, groups_ FROM tokens WHERE hash = ?1 AND revoked_at IS NULL",
            )?
            .query_row([hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((user, roles, groups)) = row else {
            return Ok(None);
        };
        let roles = parse_list(&roles)?
            .iter()
            .map(|r| Role::from_name(r).ok_or_else(|| StoreError::Corrupt(format!("role `{r}`"))))
            .collect::<Result<_, _>>()?;
        Ok(Some(Identity {
            user,
            roles,
            groups: parse_list(&groups)?,
        }))
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
                params![id, x.target, x.content_hash, x.format, x.content],
            )?;
        }
        Ok(())
    }

    fn set_change_evaluation(&mut self, id: i64, json: &str) -> Result<(), StoreError> {
        self.tx.execute(
            "UPDATE changes SET evaluation = ?2 WHERE id = ?1",
            params![id, json],
        )?;
        Ok(())
    }

    fn change_evaluation(&mut self, id: i64) -> Result<Option<String>, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT evaluation FROM changes WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?)
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
                content: r.get(3)?,
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
                b.content,
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
            "INSERT INTO retro_reviews (change_id, opened_at, due_at) VALUES (?1, ?2, ?3)",
            params![r.change_id, ts(r.opened_at), ts(r.due_at)],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    fn retros(&mut self, open_only: bool) -> Result<Vec<RetroReview>, StoreError> {
        let mut st = self.tx.prepare_cached(
            "SELECT id, change_id, opened_at, due_at, closed_at, closed_by, note FROM retro_reviews
             WHERE (?1 = 0 OR closed_at IS NULL) ORDER BY id",
        )?;
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

    fn append_audit(
        &mut self,
        e: &AuditEntry,
        at: DateTime<Utc>,
    ) -> Result<AuditRecord, StoreError> {
        let head = self.audit_head()?;
        let (id, prev) = match head {
            Some(h) => (h.id + 1, h.hash),
            None => (1, GENESIS.to_string()),
        };
        let r = e.seal(id, &ts(at), &prev);
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
        Ok(r)
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_chains_audit() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path()).unwrap();
        let now = Utc::now();
        let id: i64 = write(&s, |tx| {
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
            for _ in 0..3 {
                tx.append_audit(&AuditEntry::default(), now)?;
            }
            Ok::<_, StoreError>(id)
        })
        .unwrap();
        // Reopen: migrations are idempotent, data is there.
        drop(s);
        let s = SqliteStore::open(dir.path()).unwrap();
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
        assert_eq!(crate::change::audit::verify(&log, head.as_ref()), Ok(3));
    }

    #[test]
    fn an_error_rolls_everything_back() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path()).unwrap();
        let r: Result<(), StoreError> = write(&s, |tx| {
            tx.append_audit(&AuditEntry::default(), Utc::now())?;
            Err(StoreError::Backend("boom".into()))
        });
        assert!(r.is_err());
        let head = read(&s, |tx| tx.audit_head()).unwrap();
        assert_eq!(head, None);
    }
}
