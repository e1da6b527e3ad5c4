//! The audit log's hash chain. Each record's hash covers its fields and the previous record's
//! hash, so editing a record breaks its own hash, deleting one breaks the next record's link
//! (and the id sequence), and deleting the newest ones disagrees with the stored head. Pure:
//! the store feeds the records in id order.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit record. `detail` is a JSON object with redacted content only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: i64,
    /// RFC 3339, UTC.
    pub at: String,
    pub actor: String,
    pub action: String,
    /// What the action is about: `change/12`, `target/lb-mail@production`, `token/3`.
    pub subject: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub content_hash: Option<String>,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The fields of a record before it is chained.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditEntry {
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub content_hash: Option<String>,
    pub detail: serde_json::Value,
}

impl AuditEntry {
    /// Chains the entry after the record with `prev_hash`, as record `id`.
    pub fn seal(&self, id: i64, at: &str, prev_hash: &str) -> AuditRecord {
        let detail = if self.detail.is_null() {
            "{}".to_string()
        } else {
            self.detail.to_string()
        };
        let mut r = AuditRecord {
            id,
            at: at.to_string(),
            actor: self.actor.clone(),
            action: self.action.clone(),
            subject: self.subject.clone(),
            before: self.before.clone(),
            after: self.after.clone(),
            content_hash: self.content_hash.clone(),
            detail,
            prev_hash: prev_hash.to_string(),
            hash: String::new(),
        };
        r.hash = record_hash(&r);
        r
    }
}

/// The hash of a record's fields (everything but `hash`).
pub fn record_hash(r: &AuditRecord) -> String {
    let canonical = serde_json::json!([
        r.id,
        r.at,
        r.actor,
        r.action,
        r.subject,
        r.before,
        r.after,
        r.content_hash,
        r.detail,
        r.prev_hash
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("audit record {id}: {reason}")]
pub struct AuditBreak {
    /// The first record that does not verify (for a deleted tail, the first missing id).
    pub id: i64,
    pub reason: String,
}

/// The newest record as stored beside the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub id: i64,
    pub hash: String,
}

/// Verifies a whole log in id order against its head. Returns the number of records.
pub fn verify<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
    head: Option<&Head>,
) -> Result<u64, AuditBreak> {
    let mut expect_id = 1;
    let mut prev = GENESIS.to_string();
    let mut n = 0;
    for r in records {
        if r.id != expect_id {
            return Err(AuditBreak {
                id: expect_id,
                reason: format!("missing (the next record present is {})", r.id),
            });
        }
        if r.prev_hash != prev {
            return Err(AuditBreak {
                id: r.id,
                reason: "does not link to the record before it (a record was removed or rewritten)"
                    .into(),
            });
        }
        if record_hash(r) != r.hash {
            return Err(AuditBreak {
                id: r.id,
                reason: "its content does not match its hash (the record was edited)".into(),
            });
        }
        prev = r.hash.clone();
        expect_id += 1;
        n += 1;
    }
    let last = expect_id - 1;
    match head {
        Some(h) if h.id > last => Err(AuditBreak {
            id: last + 1,
            reason: format!(
                "missing: the log ends at {last} but its head is record {}",
                h.id
            ),
        }),
        Some(h) if h.id == last && h.hash != prev => Err(AuditBreak {
            id: last,
            reason: "does not match the stored head hash".into(),
        }),
        None if last > 0 => Err(AuditBreak {
            id: last,
            reason: "the stored head is missing".into(),
        }),
        _ => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(n: i64) -> Vec<AuditRecord> {
        let mut out: Vec<AuditRecord> = Vec::new();
        for i in 1..=n {
            let prev = out.last().map(|r| r.hash.clone()).unwrap_or(GENESIS.into());
            let e = AuditEntry {
                actor: "alice".into(),
                action: "change.approve".into(),
                subject: format!("change/{i}"),
                before: Some("awaiting_approval".into()),
                after: Some("approved".into()),
                content_hash: Some("sha256:x".into()),
                detail: serde_json::json!({"comment": "ok"}),
            };
            out.push(e.seal(i, "2026-11-21T10:00:00Z", &prev));
        }
        out
    }

    fn head(l: &[AuditRecord]) -> Head {
        let r = l.last().unwrap();
        Head {
            id: r.id,
            hash: r.hash.clone(),
        }
    }

    #[test]
    fn an_untouched_log_verifies() {
        let l = log(5);
        assert_eq!(verify(&l, Some(&head(&l))), Ok(5));
        assert_eq!(verify(&[], None), Ok(0));
    }

    #[test]
    fn an_edited_record_is_named() {
        let mut l = log(5);
        let h = head(&l);
        l[2].actor = "mallory".into();
        assert_eq!(verify(&l, Some(&h)).unwrap_err().id, 3);
    }

    #[test]
    fn a_rehashed_edit_breaks_the_next_link() {
        let mut l = log(5);
        let h = head(&l);
        l[2].after = Some("rejected".into());
        l[2].hash = record_hash(&l[2]);
        let e = verify(&l, Some(&h)).unwrap_err();
        assert_eq!(e.id, 4, "{e}");
    }

    #[test]
    fn a_deleted_record_is_found() {
        let mut l = log(5);
        let h = head(&l);
        l.remove(1);
        let e = verify(&l, Some(&h)).unwrap_err();
        assert_eq!(e.id, 2, "{e}");
    }

    #[test]
    fn a_deleted_tail_disagrees_with_the_head() {
        let mut l = log(5);
        let h = head(&l);
        l.truncate(3);
        let e = verify(&l, Some(&h)).unwrap_err();
        assert_eq!(e.id, 4, "{e}");
    }
}
