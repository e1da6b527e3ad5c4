//! The SQLite store against a real file: round trips, compression, the audit chain, rollback
//! and the private data directory.

use std::path::Path;

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
