//! The embedded SQLite store: one file in the data directory, WAL journal, `synchronous =
//! FULL` (a commit is on disk before the client hears of it), migrations embedded in the
//! binary and applied at open. One writer connection (SQLite serializes writers anyway) and a
//! small pool of reader connections that never block it.
//!
//! The store holds raw configs (secrets included), so the data directory is kept private: it is
//! created 0700 and the store file 0600 (SQLite gives its `-wal` and `-shm` files the store
//! file's mode), and opening refuses a directory or file that group or others may read, naming
//! the `chmod` that fixes it.
//!
//! `open` holds the data directory, its privacy, connections and migrations; the records are
//! the shared SQL of [`crate::sql`], run here through [`Lite`], this backend's [`Db`].

mod open;
#[cfg(test)]
mod tests;

use std::sync::Mutex;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::sql::packing::{Packed, pack};
use crate::sql::{Arg, Cell, Db, Row, SqlTx};
use crate::*;
use open::open_conn;
pub use open::{FILE_NAME, check_private, create_data_dir};

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

impl Store for SqliteStore {
    fn write_tx(
        &self,
        key: &AuditKey,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.in_write(&mut |db| {
            f(&mut SqlTx {
                db: *db,
                key: Some(key),
            })
        })
    }

    fn read_tx(
        &self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.in_read(&mut |db| f(&mut SqlTx { db: *db, key: None }))
    }

    fn ping(&self) -> Result<(), StoreError> {
        read(self, |tx| tx.audit_head().map(|_| ()))
    }
}

impl SqliteStore {
    /// Runs `f` on this store's [`Db`] in one transaction (a write commits).
    pub(crate) fn with_db(
        &self,
        write: bool,
        f: &mut dyn FnMut(&mut dyn Db) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if write {
            self.in_write(&mut |db| f(db))
        } else {
            self.in_read(&mut |db| f(db))
        }
    }

    /// A write transaction on the one writer connection, committed when `f` succeeds.
    fn in_write(
        &self,
        f: &mut dyn FnMut(&mut Lite<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut c = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        f(&mut Lite(&tx))?;
        tx.commit()?;
        Ok(())
    }

    /// A read transaction on a pooled reader connection (opened when none is free).
    fn in_read(
        &self,
        f: &mut dyn FnMut(&mut Lite<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let conn = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut c = match conn {
            Some(c) => c,
            None => open_conn(&self.path)?,
        };
        let result = (|| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Deferred)?;
            f(&mut Lite(&tx))?;
            tx.rollback()?;
            Ok(())
        })();
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 16 {
            pool.push(c);
        }
        result
    }
}

/// One SQLite transaction as the records' [`Db`]; statements are prepared once per connection
/// (`prepare_cached`).
#[derive(Clone, Copy)]
struct Lite<'t>(&'t Transaction<'t>);

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Arg::Null => ToSqlOutput::Owned(rusqlite::types::Value::Null),
            Arg::Int(v) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*v)),
            Arg::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Arg::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Arg::Packed(t) => {
                match pack(t).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))? {
                    Packed::Plain(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
                    Packed::Zstd(b) => ToSqlOutput::Owned(rusqlite::types::Value::Blob(b)),
                }
            }
        })
    }
}

impl Db for Lite<'_> {
    fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let mut st = self.0.prepare_cached(sql)?;
        Ok(st.execute(rusqlite::params_from_iter(args.iter()))? as u64)
    }

    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        let mut st = self.0.prepare_cached(sql)?;
        let n = st.column_count();
        let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut cells = Vec::with_capacity(n);
            for i in 0..n {
                cells.push(match r.get_ref(i)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(v) => Cell::Int(v),
                    ValueRef::Real(v) => Cell::Text(v.to_string()),
                    ValueRef::Text(t) => Cell::Text(
                        std::str::from_utf8(t)
                            .map_err(|e| StoreError::Corrupt(format!("column {i}: {e}")))?
                            .to_string(),
                    ),
                    ValueRef::Blob(b) => Cell::Bytes(b.to_vec()),
                });
            }
            out.push(Row(cells));
        }
        Ok(out)
    }
}
