//! The audit log's chain. Each record carries the previous record's hash and its own, so
//! editing a record breaks its own hash, deleting one breaks the next record's link (and the id
//! sequence).
//!
//! Records are **keyed**: a record's hash is the HMAC-SHA256 of its fields under the audit key,
//! which is kept outside the store ([`AuditKey`]). Someone who can write the store but does not
//! hold the key cannot rewrite a record and recompute its hash. What a key cannot show is a cut:
//! deleting the newest records (or all of them) leaves a shorter chain that is still valid. So
//! the head (`SEQ:HASH`) is published outside the store (logs, a metric, `guardrail audit head`)
//! and [`verify`] checks the chain against such an [`Anchor`].
//!
//! Stores written before keyed chains hold plain SHA-256 records. The first keyed record of a
//! chain is a marker ([`KEYED_ACTION`], MAC'd like every record after it) that names the key
//! ([`AuditKey::id`]) and links to the last plain record: from it on every record must carry a
//! valid MAC, and the plain records before it are fixed by its link. Pure: the store feeds the
//! records in id order and the shell passes the key.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The action of the record from which a chain is keyed.
pub const KEYED_ACTION: &str = "audit.keyed";

/// Domain separation of record MACs and of the key id.
const MAC_CONTEXT: &[u8] = b"guardrail-audit-record-v2\0";
const KEY_ID_CONTEXT: &[u8] = b"guardrail-audit-key-id\0";

/// Length of a generated key, in bytes.
pub const KEY_BYTES: usize = 32;

/// The audit key: the HMAC-SHA256 key records are chained with. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct AuditKey(Vec<u8>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKey(id {})", self.id())
    }
}

impl AuditKey {
    /// A key from raw bytes (at least 16).
    pub fn from_bytes(bytes: &[u8]) -> Result<AuditKey, String> {
        if bytes.len() < 16 {
            return Err(format!(
                "an audit key needs at least 16 bytes, got {}",
                bytes.len()
            ));
        }
        Ok(AuditKey(bytes.to_vec()))
    }

    /// Reads the key file format: hex digits (64 for a generated key), surrounding whitespace
    /// ignored.
    pub fn parse(text: &str) -> Result<AuditKey, String> {
        let t = text.trim();
        let bytes = hex::decode(t)
            .map_err(|_| "expected hex digits (as `guardrail serve` writes it)".to_string())?;
        AuditKey::from_bytes(&bytes)
    }

    /// The key file's text for these bytes.
    pub fn to_file_text(&self) -> String {
        format!("{}\n", hex::encode(&self.0))
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key length")
    }

    /// A public name of the key (16 hex digits of a MAC under it): the marker record carries it,
    /// so a store opened with the wrong key is told so.
    pub fn id(&self) -> String {
        let mut m = self.mac();
        m.update(KEY_ID_CONTEXT);
        hex::encode(&m.finalize().into_bytes()[..8])
    }
}

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
    /// Chains the entry after the record with `prev_hash`, as record `id`, MAC'd with `key`.
    pub fn seal(&self, id: i64, at: &str, prev_hash: &str, key: &AuditKey) -> AuditRecord {
        let mut r = self.unsealed(id, at, prev_hash);
        r.hash = record_mac(&r, key);
        r
    }

    /// Chains the entry with a plain SHA-256 hash, as stores did before keyed chains (only
    /// tests and the migration tests write such records).
    pub fn seal_plain(&self, id: i64, at: &str, prev_hash: &str) -> AuditRecord {
        let mut r = self.unsealed(id, at, prev_hash);
        r.hash = record_hash(&r);
        r
    }

    fn unsealed(&self, id: i64, at: &str, prev_hash: &str) -> AuditRecord {
        let detail = if self.detail.is_null() {
            "{}".to_string()
        } else {
            self.detail.to_string()
        };
        AuditRecord {
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
        }
    }
}

/// The marker that keys a chain from the next record on: it names the key and how many plain
/// records come before it (its `prev_hash` fixes them).
pub fn keyed_marker(key: &AuditKey, plain_records: i64) -> AuditEntry {
    AuditEntry {
        actor: "guardrail".into(),
        action: KEYED_ACTION.into(),
        subject: "audit".into(),
        detail: serde_json::json!({
            "key_id": key.id(),
            "plain_records": plain_records,
            "mac": "hmac-sha256",
        }),
        ..Default::default()
    }
}

/// The key id a marker record names.
pub fn marker_key_id(r: &AuditRecord) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(&r.detail).ok()?;
    v["key_id"].as_str().map(str::to_string)
}

fn canonical(r: &AuditRecord) -> String {
    serde_json::json!([
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
    ])
    .to_string()
}

/// The plain SHA-256 hash of a record's fields (everything but `hash`): records written before
/// the chain was keyed.
pub fn record_hash(r: &AuditRecord) -> String {
    hex::encode(Sha256::digest(canonical(r).as_bytes()))
}

/// The HMAC-SHA256 of a record's fields under the key.
pub fn record_mac(r: &AuditRecord, key: &AuditKey) -> String {
    let mut m = key.mac();
    m.update(MAC_CONTEXT);
    m.update(canonical(r).as_bytes());
    hex::encode(m.finalize().into_bytes())
}

fn mac_matches(r: &AuditRecord, key: &AuditKey) -> bool {
    let Ok(expected) = hex::decode(&r.hash) else {
        return false;
    };
    let mut m = key.mac();
    m.update(MAC_CONTEXT);
    m.update(canonical(r).as_bytes());
    m.verify_slice(&expected).is_ok()
}

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("audit record {id}: {reason}")]
pub struct AuditBreak {
    /// The first record that does not verify (for a deleted tail, the first missing id).
    pub id: i64,
    pub reason: String,
}

/// The newest record (as stored beside the log, or as published).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub id: i64,
    pub hash: String,
}

impl std::fmt::Display for Head {
    /// `SEQ:HASH`, the form `--expect-head` takes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.id, self.hash)
    }
}

/// A head published outside the store (`SEQ:HASH`), which the chain must still contain.
pub type Anchor = Head;

impl std::str::FromStr for Head {
    type Err = String;

    fn from_str(s: &str) -> Result<Head, String> {
        let (seq, hash) = s.trim().split_once(':').ok_or_else(|| {
            format!("`{s}`: expected SEQ:HASH (as `guardrail audit head` prints)")
        })?;
        let id: i64 =
            seq.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                format!("`{seq}`: the sequence number must be a positive integer")
            })?;
        let hash = hash.trim().to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("`{hash}`: the hash must be 64 hex digits"));
        }
        Ok(Head { id, hash })
    }
}

/// What a chain that verifies looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub records: u64,
    /// The id of the marker record from which records are MAC'd (`None`: not keyed).
    pub keyed_from: Option<i64>,
    /// The newest record.
    pub head: Option<Head>,
}

/// Verifies a whole log in id order: links, hashes (plain before the marker, MACs from it on,
/// which needs `key`), the head stored beside the log, and `anchor` (a head published earlier,
/// which the chain must still contain). With a key, a chain must be keyed: an empty chain or
/// one without a marker means its keyed records were removed.
pub fn verify<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
    head: Option<&Head>,
    key: Option<&AuditKey>,
    anchor: Option<&Anchor>,
) -> Result<Verified, AuditBreak> {
    let mut expect_id = 1;
    let mut prev = GENESIS.to_string();
    let mut n = 0;
    let mut keyed_from: Option<i64> = None;
    let mut anchor_seen = false;
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
        if keyed_from.is_none() && r.action == KEYED_ACTION {
            check_key_marker(r, key)?;
            keyed_from = Some(r.id);
        }
        check_content(r, keyed_from.is_some(), key)?;
        if let Some(a) = anchor
            && a.id == r.id
        {
            if a.hash != r.hash {
                return Err(AuditBreak {
                    id: r.id,
                    reason: format!(
                        "does not match the anchor {a} (the chain was rewritten from here)"
                    ),
                });
            }
            anchor_seen = true;
        }
        prev = r.hash.clone();
        expect_id += 1;
        n += 1;
    }
    let last = expect_id - 1;
    check_tail(
        last,
        anchor.filter(|_| !anchor_seen),
        key.is_some() && keyed_from.is_none(),
    )?;
    match head {
        Some(h) if h.id > last => Err(AuditBreak {
            id: last + 1,
            reason: format!(
                "missing: the log ends at {last} but its stored head is record {}",
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
        _ => Ok(Verified {
            records: n,
            keyed_from,
            head: (last > 0).then_some(Head {
                id: last,
                hash: prev,
            }),
        }),
    }
}

/// The key marker record `r`: verifying from it on needs the key it names.
fn check_key_marker(r: &AuditRecord, key: Option<&AuditKey>) -> Result<(), AuditBreak> {
    let Some(k) = key else {
        return Err(AuditBreak {
            id: r.id,
            reason: "records from here on are MAC'd with the audit key; give the key (--key-file or GUARDRAIL_AUDIT_KEY_FILE) to verify them".into(),
        });
    };
    let named = marker_key_id(r).unwrap_or_default();
    if named != k.id() {
        return Err(AuditBreak {
            id: r.id,
            reason: format!(
                "the chain is keyed with key id {named}, but the key given has id {}",
                k.id()
            ),
        });
    }
    Ok(())
}

/// The record's content against its MAC (`keyed`, with the key) or its plain hash.
fn check_content(r: &AuditRecord, keyed: bool, key: Option<&AuditKey>) -> Result<(), AuditBreak> {
    match (keyed, key) {
        (true, Some(k)) => {
            if !mac_matches(r, k) {
                return Err(AuditBreak {
                    id: r.id,
                    reason: "its MAC does not match (the record was edited or forged without the audit key)".into(),
                });
            }
        }
        _ => {
            if record_hash(r) != r.hash {
                return Err(AuditBreak {
                    id: r.id,
                    reason: "its content does not match its hash (the record was edited)".into(),
                });
            }
        }
    }
    Ok(())
}

/// Records missing at the end of a chain whose last record is `last`: the ones an anchor the
/// chain never reached (`unreached`) says existed, or the keyed ones when an audit key exists
/// but no record is keyed (`keyed_missing`).
fn check_tail(
    last: i64,
    unreached: Option<&Anchor>,
    keyed_missing: bool,
) -> Result<(), AuditBreak> {
    if let Some(a) = unreached {
        return Err(AuditBreak {
            id: last + 1,
            reason: if last == 0 {
                format!(
                    "missing: the chain is empty, but the anchor {a} says it had {} records",
                    a.id
                )
            } else {
                format!(
                    "missing: the chain ends at record {last}, but the anchor {a} says it reached {}",
                    a.id
                )
            },
        });
    }
    if keyed_missing {
        return Err(AuditBreak {
            id: last + 1,
            reason: if last == 0 {
                "missing: the chain is empty, but an audit key exists; a keyed chain starts with its key record, so its records were deleted".into()
            } else {
                format!(
                    "missing: no record after {last} carries a MAC, but an audit key exists; the keyed records were deleted"
                )
            },
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AuditKey {
        AuditKey::from_bytes(&[7u8; 32]).unwrap()
    }

    fn entry(i: i64) -> AuditEntry {
        AuditEntry {
            actor: "alice".into(),
            action: "change.approve".into(),
            subject: format!("change/{i}"),
            before: Some("awaiting_approval".into()),
            after: Some("approved".into()),
            content_hash: Some("sha256:x".into()),
            detail: serde_json::json!({"comment": "ok"}),
        }
    }

    fn push(l: &mut Vec<AuditRecord>, e: &AuditEntry, k: Option<&AuditKey>) {
        let prev = l.last().map(|r| r.hash.clone()).unwrap_or(GENESIS.into());
        let id = l.len() as i64 + 1;
        let at = "2026-11-21T10:00:00Z";
        l.push(match k {
            Some(k) => e.seal(id, at, &prev, k),
            None => e.seal_plain(id, at, &prev),
        });
    }

    /// A keyed log: the marker, then `n` records.
    fn log(n: i64) -> Vec<AuditRecord> {
        let k = key();
        let mut out = Vec::new();
        push(&mut out, &keyed_marker(&k, 0), Some(&k));
        for i in 1..=n {
            push(&mut out, &entry(i), Some(&k));
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

    fn check(l: &[AuditRecord], h: Option<&Head>, a: Option<&Anchor>) -> Result<u64, AuditBreak> {
        verify(l, h, Some(&key()), a).map(|v| v.records)
    }

    #[test]
    fn an_untouched_log_verifies_with_and_without_its_anchor() {
        let l = log(5);
        let h = head(&l);
        assert_eq!(check(&l, Some(&h), None), Ok(6));
        assert_eq!(check(&l, Some(&h), Some(&h)), Ok(6));
        let mid = Head {
            id: 3,
            hash: l[2].hash.clone(),
        };
        assert_eq!(check(&l, Some(&h), Some(&mid)), Ok(6));
        assert_eq!(verify(&[], None, None, None).map(|v| v.records), Ok(0));
    }

    #[test]
    fn an_edited_record_is_named() {
        let mut l = log(5);
        let h = head(&l);
        l[2].actor = "mallory".into();
        assert_eq!(check(&l, Some(&h), None).unwrap_err().id, 3);
    }

    #[test]
    fn a_record_rewritten_with_a_recomputed_hash_fails_its_mac() {
        let mut l = log(5);
        l[2].after = Some("rejected".into());
        l[2].hash = record_hash(&l[2]);
        // Even with every later link and the stored head rewritten to match.
        for i in 3..l.len() {
            l[i].prev_hash = l[i - 1].hash.clone();
            l[i].hash = record_hash(&l[i]);
        }
        let h = head(&l);
        let e = check(&l, Some(&h), None).unwrap_err();
        assert_eq!(e.id, 3, "{e}");
        assert!(e.reason.contains("MAC"), "{e}");
    }

    #[test]
    fn a_deleted_record_is_found() {
        let mut l = log(5);
        let h = head(&l);
        l.remove(1);
        let e = check(&l, Some(&h), None).unwrap_err();
        assert_eq!(e.id, 2, "{e}");
    }

    #[test]
    fn a_cut_tail_with_a_rewritten_head_is_found_by_the_anchor_only() {
        let mut l = log(5);
        let anchor = head(&l);
        l.truncate(4);
        let h = head(&l);
        assert_eq!(
            check(&l, Some(&h), None),
            Ok(4),
            "the cut is invisible alone"
        );
        let e = check(&l, Some(&h), Some(&anchor)).unwrap_err();
        assert_eq!(e.id, 5, "{e}");
        assert!(e.reason.contains("anchor"), "{e}");
    }

    #[test]
    fn an_empty_chain_that_had_records_is_found() {
        let anchor = head(&log(5));
        let e = check(&[], None, Some(&anchor)).unwrap_err();
        assert!(e.reason.contains("empty"), "{e}");
        // With the key alone: a keyed chain is never empty.
        let e = check(&[], None, None).unwrap_err();
        assert!(e.reason.contains("empty"), "{e}");
    }

    #[test]
    fn the_wrong_key_and_no_key_are_named() {
        let l = log(2);
        let other = AuditKey::from_bytes(&[8u8; 32]).unwrap();
        let e = verify(&l, Some(&head(&l)), Some(&other), None).unwrap_err();
        assert!(e.reason.contains("key id"), "{e}");
        let e = verify(&l, Some(&head(&l)), None, None).unwrap_err();
        assert!(e.reason.contains("--key-file"), "{e}");
    }

    #[test]
    fn plain_records_before_the_marker_verify_and_are_fixed_by_it() {
        let k = key();
        let mut l = Vec::new();
        for i in 1..=3 {
            push(&mut l, &entry(i), None);
        }
        // An old store verifies without a key.
        assert_eq!(
            verify(&l, Some(&head(&l)), None, None).map(|v| v.keyed_from),
            Ok(None)
        );
        // With the key, a chain never keyed is refused.
        assert!(verify(&l, Some(&head(&l)), Some(&k), None).is_err());
        push(&mut l, &keyed_marker(&k, 3), Some(&k));
        push(&mut l, &entry(4), Some(&k));
        let v = verify(&l, Some(&head(&l)), Some(&k), None).unwrap();
        assert_eq!((v.records, v.keyed_from), (5, Some(4)));
        // Rewriting a plain record (and its plain successors) breaks the marker's link.
        l[1].actor = "mallory".into();
        l[1].hash = record_hash(&l[1]);
        l[2].prev_hash = l[1].hash.clone();
        l[2].hash = record_hash(&l[2]);
        let e = verify(&l, Some(&head(&l)), Some(&k), None).unwrap_err();
        assert_eq!(e.id, 4, "{e}");
    }

    #[test]
    fn a_forged_plain_record_after_the_marker_is_refused() {
        let k = key();
        let mut l = log(2);
        push(&mut l, &entry(9), None);
        let e = verify(&l, Some(&head(&l)), Some(&k), None).unwrap_err();
        assert_eq!(e.id, 4, "{e}");
    }

    #[test]
    fn heads_parse_and_print_as_seq_colon_hash() {
        let l = log(1);
        let h = head(&l);
        assert_eq!(h.to_string().parse::<Head>(), Ok(h.clone()));
        assert!("12".parse::<Head>().is_err());
        assert!("0:ab".parse::<Head>().is_err());
        assert!(format!("3:{}", "z".repeat(64)).parse::<Head>().is_err());
    }

    #[test]
    fn the_key_file_round_trips_and_the_key_never_prints() {
        let k = key();
        assert_eq!(AuditKey::parse(&k.to_file_text()), Ok(k.clone()));
        assert!(AuditKey::parse("abcd").is_err());
        assert!(!format!("{k:?}").contains("0707"));
    }
}
