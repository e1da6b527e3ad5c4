//! The audit key and the published head. The key file lives outside the store
//! (`server.audit_key_file`); it is created (0600) the first time a store is opened without one,
//! together with the chain's key marker, and refused when it does not belong to the store's
//! chain. The head (`SEQ:HASH`) is published outside the store after every write that moves it
//! (a log line and `guardrail_audit_head_seq`) and on a timer by the daemon, so an operator can
//! pin one and pass it to `guardrail audit verify --expect-head`.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::{Result, Service, api};
use guardrail_core::change::audit::{self, Anchor, AuditKey, Head, KEYED_ACTION};
use guardrail_store::{self as store, Store};

/// The default key file: `audit.key` in the data directory (with a start-up warning: the key
/// should live where a copy of the data directory does not reach).
pub const KEY_FILE_NAME: &str = "audit.key";

/// The key file to use: the one given, else `audit.key` in the data directory.
pub fn key_path(data_dir: &Path, given: Option<&Path>) -> PathBuf {
    given
        .map(Path::to_path_buf)
        .unwrap_or_else(|| data_dir.join(KEY_FILE_NAME))
}

/// What opening the audit key did.
#[derive(Debug)]
pub struct OpenedKey {
    pub key: AuditKey,
    /// The key file was created now.
    pub created: bool,
    /// The chain was keyed now (a marker record was appended): a new store, or one whose records
    /// were plain SHA-256 (written before keyed chains).
    pub keyed_now: Option<i64>,
}

/// Refuses a key file others may read or anyone but its owner may write. Group read is allowed:
/// a Kubernetes Secret mounted with `fsGroup` is group-readable whatever its `defaultMode`.
fn check_key_file_mode(path: &Path) -> std::result::Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o027 != 0 {
        return Err(format!(
            "the audit key file {} is open to others or writable by its group (mode {mode:04o}): run `chmod 600 {}`",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

/// Reads an existing key file (refusing one that group or others may read).
pub fn read_key(path: &Path) -> std::result::Result<AuditKey, String> {
    check_key_file_mode(path)?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    AuditKey::parse(&text).map_err(|e| format!("{}: not an audit key: {e}", path.display()))
}

fn create_key(path: &Path) -> std::result::Result<AuditKey, String> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut bytes = [0u8; audit::KEY_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for the audit key: {e}"))?;
    let key = AuditKey::from_bytes(&bytes)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create the audit key {}: {e}", path.display()))?;
    f.write_all(key.to_file_text().as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("cannot write the audit key {}: {e}", path.display()))?;
    Ok(key)
}

/// Opens the audit key of `store` at `path`: reads it, or creates it when absent and the chain
/// is not keyed yet; checks that it is the key the chain names; keys the chain (appends the
/// marker) when it is not keyed yet. A keyed chain whose key file is missing, or a key file
/// that is not the chain's, is refused with what to do.
pub fn open_key(
    store: &dyn Store,
    path: &Path,
    now: DateTime<Utc>,
) -> std::result::Result<OpenedKey, String> {
    let marker = store::read(store, |tx| tx.audit_first(KEYED_ACTION))
        .map_err(|e| format!("reading the audit log: {e}"))?;
    let (key, created) = if path.exists() {
        (read_key(path)?, false)
    } else if let Some(m) = &marker {
        return Err(format!(
            "the audit log of this store is keyed (key id {}, from record {}), but the key file {} does not exist: restore it, or point server.audit_key_file (GUARDRAIL_AUDIT_KEY_FILE, --key-file) at it",
            audit::marker_key_id(m).unwrap_or_default(),
            m.id,
            path.display()
        ));
    } else {
        (create_key(path)?, true)
    };
    if let Some(m) = &marker {
        let named = audit::marker_key_id(m).unwrap_or_default();
        if named != key.id() {
            return Err(format!(
                "{} is not the audit key of this store: its audit log is keyed with key id {named} (record {}), the file holds key id {}",
                path.display(),
                m.id,
                key.id()
            ));
        }
        return Ok(OpenedKey {
            key,
            created,
            keyed_now: None,
        });
    }
    let keyed_now = store::write(store, &key, |tx| {
        if tx.audit_first(KEYED_ACTION)?.is_some() {
            // Keyed meanwhile by another process with the same key file.
            return Ok::<_, store::StoreError>(None);
        }
        let plain = tx.audit_head()?.map_or(0, |h| h.id);
        let r = tx.append_audit(&audit::keyed_marker(&key, plain), now)?;
        Ok(Some(r.id))
    })
    .map_err(|e| format!("keying the audit log: {e}"))?;
    Ok(OpenedKey {
        key,
        created,
        keyed_now,
    })
}

impl Service {
    /// The key this service seals audit records with.
    pub fn audit_key(&self) -> &AuditKey {
        &self.audit_key
    }

    /// Publishes the head outside the store when it moved: a log line and
    /// `guardrail_audit_head_seq`. `force` logs it even when it did not move (the timer).
    pub fn publish_head(&self, head: Option<&Head>, force: bool) {
        let Some(h) = head else { return };
        let moved = {
            let mut last = self
                .published_head
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let moved = *last < h.id;
            if moved {
                *last = h.id;
            }
            moved
        };
        if moved || force {
            self.metrics.audit.head_seq.set(h.id);
            tracing::info!(audit_head = %h, seq = h.id, "audit head");
        }
    }

    /// The newest audit record (`SEQ:HASH`), read from the store.
    pub fn audit_head(&self) -> Result<Option<Head>> {
        Ok(store::read(self.store.as_ref(), |tx| tx.audit_head())?)
    }

    /// Walks the whole audit log and checks its chain with the service's key, against `anchor`
    /// (a head published earlier) when given.
    pub fn verify_audit(&self, anchor: Option<&Anchor>) -> Result<api::AuditVerifyView> {
        verify_store(self.store.as_ref(), Some(&self.audit_key), anchor)
    }
}

/// Verifies the audit log of `store` (offline with the key file, or in the daemon).
pub fn verify_store(
    store: &dyn Store,
    key: Option<&AuditKey>,
    anchor: Option<&Anchor>,
) -> Result<api::AuditVerifyView> {
    let (records, head) = store::read(store, |tx| {
        let mut all = Vec::new();
        loop {
            let after = all.last().map(|r: &audit::AuditRecord| r.id).unwrap_or(0);
            let batch = tx.audit_records(after, 10_000)?;
            if batch.is_empty() {
                break;
            }
            all.extend(batch);
        }
        Ok::<_, super::ServiceError>((all, tx.audit_head()?))
    })?;
    Ok(match audit::verify(&records, head.as_ref(), key, anchor) {
        Ok(v) => api::AuditVerifyView {
            ok: true,
            records: v.records,
            broken_record: None,
            reason: None,
            head: v.head.map(|h| h.to_string()),
            keyed_from: v.keyed_from,
        },
        Err(b) => api::AuditVerifyView {
            ok: false,
            records: records.len() as u64,
            broken_record: Some(b.id),
            reason: Some(b.reason),
            head: head.map(|h| h.to_string()),
            keyed_from: None,
        },
    })
}
