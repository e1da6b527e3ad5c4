//! Opening the store: the private data directory (0700, files 0600, refused when open to group
//! or others), connections (WAL, `synchronous = FULL`, foreign keys), and the schema
//! migrations embedded in the binary, applied at open.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, TransactionBehavior};

use super::{SqliteStore, StoreError};

/// Schema migrations, applied in order; `PRAGMA user_version` is the number applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_drift.sql"),
    include_str!("../migrations/0003_integrity.sql"),
    include_str!("../migrations/0004_ui_sessions.sql"),
];

/// The store file's name inside the data directory.
pub const FILE_NAME: &str = "guardrail.sqlite";

pub(super) fn open_conn(path: &Path) -> Result<Connection, StoreError> {
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
        Self::open_file(&data_dir.join(FILE_NAME))
    }

    /// [`Self::open`] for a store file of any name; its directory is the data directory.
    pub fn open_file(path: &Path) -> Result<SqliteStore, StoreError> {
        use std::os::unix::fs::OpenOptionsExt;
        let data_dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        create_data_dir(data_dir)?;
        check_private(data_dir)?;
        let path = path.to_path_buf();
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
