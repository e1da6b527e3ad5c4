//! The records on every backend: SQLite in a temporary directory, and PostgreSQL on the test
//! cluster (a new database per test; `scripts/postgres.sh`). Round trips, compression, the
//! audit chain, rollback, drifts and the outbox.

use std::sync::Arc;

use crate::*;

pub(crate) fn key() -> AuditKey {
    AuditKey::from_bytes(&[3u8; 32]).unwrap()
}

/// One backend under test; its temporary directory lives as long as it does.
pub(crate) struct Backend {
    pub(crate) name: &'static str,
    pub(crate) url: StoreUrl,
    _dir: tempfile::TempDir,
}

impl Backend {
    pub(crate) fn open(&self) -> Arc<dyn Store> {
        self.url
            .open()
            .unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }
}

pub(crate) fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let mut out = vec![Backend {
        name: "sqlite",
        url: StoreUrl::in_data_dir(&dir.path().join("data")),
        _dir: dir,
    }];
    if let Some(url) = postgres::test_database() {
        out.push(Backend {
            name: "postgres",
            url: StoreUrl::Postgres(url),
            _dir: tempfile::tempdir().unwrap(),
        });
    }
    out
}

pub(crate) fn change(now: DateTime<Utc>) -> ChangeRow {
    ChangeRow {
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
    }
}

pub(crate) fn target(name: &str, content: &str) -> ChangeTarget {
    ChangeTarget {
        target: name.into(),
        content_hash: "sha256:a".into(),
        format: "haproxy".into(),
        content: content.into(),
    }
}

/// A config of about 760 KB (20,000 server lines): stored compressed.
pub(crate) fn big_config() -> String {
    (0..20_000)
        .map(|i| format!("    server web{i} 10.0.{}.{}:80 check\n", i / 250, i % 250))
        .collect()
}

#[test]
fn large_and_small_contents_read_back_whole() {
    let big = big_config();
    let small = "backend a\n".to_string();
    for b in backends() {
        let s = b.open();
        let now = Utc::now();
        let id: i64 = write(s.as_ref(), &key(), |tx| {
            let id = tx.insert_change(&change(now))?;
            tx.set_change_targets(id, &[target("big", &big), target("small", &small)])?;
            tx.set_change_evaluation(id, &big)?;
            Ok::<_, StoreError>(id)
        })
        .unwrap();
        let (targets, evaluation) = read(s.as_ref(), |tx| {
            Ok::<_, StoreError>((tx.change_targets(id)?, tx.change_evaluation(id)?))
        })
        .unwrap();
        assert_eq!(targets[0].content, big, "{}", b.name);
        assert_eq!(targets[1].content, small, "{}", b.name);
        assert_eq!(evaluation.as_deref(), Some(big.as_str()), "{}", b.name);
    }
}

#[test]
fn round_trips_and_chains_audit() {
    for b in backends() {
        let s = b.open();
        let now = Utc::now();
        let id: i64 = write(s.as_ref(), &key(), |tx| {
            let id = tx.insert_change(&change(now))?;
            tx.set_change_targets(id, &[target("lb", "x")])?;
            tx.append_audit(&guardrail_core::change::audit::keyed_marker(&key(), 0), now)?;
            for _ in 0..3 {
                tx.append_audit(&AuditEntry::default(), now)?;
            }
            Ok::<_, StoreError>(id)
        })
        .unwrap();
        // Reopen: migrations are idempotent, data is there.
        drop(s);
        let s = b.open();
        let (c, found, log, head) = read(s.as_ref(), |tx| {
            Ok::<_, StoreError>((
                tx.change(id)?.unwrap(),
                tx.changes_with_target("production", "lb", Some("sha256:a"), &[State::Proposed])?,
                tx.audit_records(0, 100)?,
                tx.audit_head()?,
            ))
        })
        .unwrap();
        assert_eq!(c.doc.title, "t", "{}", b.name);
        assert_eq!(ts(c.created_at), ts(now), "{}", b.name);
        assert_eq!(found.len(), 1, "{}", b.name);
        assert_eq!(
            guardrail_core::change::audit::verify(&log, head.as_ref(), Some(&key()), None)
                .map(|v| (v.records, v.keyed_from)),
            Ok((4, Some(1))),
            "{}",
            b.name
        );
    }
}

#[test]
fn an_error_rolls_everything_back() {
    for b in backends() {
        let s = b.open();
        let r: Result<(), StoreError> = write(s.as_ref(), &key(), |tx| {
            tx.append_audit(&AuditEntry::default(), Utc::now())?;
            tx.insert_change(&change(Utc::now()))?;
            Err(StoreError::Backend("boom".into()))
        });
        assert!(r.is_err());
        let (head, changes) = read(s.as_ref(), |tx| {
            Ok::<_, StoreError>((tx.audit_head()?, tx.changes(&ChangeFilter::default())?))
        })
        .unwrap();
        assert_eq!(head, None, "{}", b.name);
        assert!(changes.is_empty(), "{}", b.name);
    }
}

#[test]
fn tokens_approvals_freezes_and_retros_round_trip() {
    for b in backends() {
        let s = b.open();
        let now = Utc::now();
        let alice = Identity {
            user: "alice".into(),
            roles: vec![Role::Approver, Role::Admin],
            groups: vec!["netops".into()],
        };
        let (tok, cid) = write(s.as_ref(), &key(), |tx| {
            let tok = tx.insert_token("sha256:t", &alice, now, None)?;
            let cid = tx.insert_change(&change(now))?;
            tx.insert_approval(&ApprovalRow {
                id: 0,
                change_id: cid,
                user: "alice".into(),
                groups: vec!["netops".into()],
                decision: Decision::Approve,
                comment: "ok".into(),
                content_hash: "sha256:a".into(),
                at: now,
                voided: None,
            })?;
            tx.insert_freeze(&FreezeRow {
                freeze: Freeze {
                    id: 0,
                    env: "production".into(),
                    targets: "lb-*".into(),
                    reason: "holiday".into(),
                    from: now,
                    until: None,
                },
                created_by: "alice".into(),
                lifted_at: None,
                lifted_by: None,
            })?;
            tx.insert_retro(&RetroReview {
                id: 0,
                change_id: cid,
                opened_by: Some("bob".into()),
                opened_at: now,
                due_at: now,
                closed_at: None,
                closed_by: None,
                note: None,
            })?;
            Ok::<_, StoreError>((tok, cid))
        })
        .unwrap();
        let (who, approvals, freezes, retros) = read(s.as_ref(), |tx| {
            Ok::<_, StoreError>((
                tx.token_identity("sha256:t", now)?,
                tx.approvals(cid)?,
                tx.freezes()?,
                tx.retros(true)?,
            ))
        })
        .unwrap();
        assert_eq!(who.map(|(id, i, _)| (id, i)), Some((tok, alice.clone())));
        assert_eq!(approvals.len(), 1, "{}", b.name);
        assert_eq!(approvals[0].groups, ["netops"]);
        assert_eq!(freezes[0].freeze.targets, "lb-*");
        assert_eq!(retros[0].opened_by.as_deref(), Some("bob"));
        let (voided, revoked, closed) = write(s.as_ref(), &key(), |tx| {
            Ok::<_, StoreError>((
                tx.void_approvals(cid, "content moved", now)?,
                tx.revoke_token(tok, now)?,
                tx.close_retro(retros[0].id, "carol", "fine", now)?,
            ))
        })
        .unwrap();
        assert_eq!((voided, revoked, closed), (1, true, true), "{}", b.name);
        let (who, approvals, open) = read(s.as_ref(), |tx| {
            Ok::<_, StoreError>((
                tx.token_identity("sha256:t", now)?,
                tx.approvals(cid)?,
                tx.retros(true)?,
            ))
        })
        .unwrap();
        assert!(
            who.is_none() && approvals.is_empty() && open.is_empty(),
            "{}",
            b.name
        );
    }
}

#[test]
fn drifts_and_the_outbox_round_trip() {
    for b in backends() {
        drifts_and_the_outbox_on(b.open().as_ref());
    }
}

fn drifts_and_the_outbox_on(s: &dyn Store) {
    // Stored to the microsecond.
    let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 6);
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
    d.id = write(s, &key(), |tx| tx.insert_drift(&d)).unwrap();
    // Only one open drift per target and environment.
    assert!(write(s, &key(), |tx| tx.insert_drift(&d)).is_err());
    d.flaps = 2;
    d.in_sync_since = Some(now);
    write(s, &key(), |tx| tx.update_drift(&d)).unwrap();
    let back = read(s, |tx| tx.open_drift("lb", "production"))
        .unwrap()
        .unwrap();
    assert_eq!(back.flaps, 2);
    assert_eq!(back.in_sync_since.map(ts), Some(ts(now)));
    let filtered = read(s, |tx| {
        tx.drifts(&DriftFilter {
            status: Some("open".into()),
            target: Some("lb".into()),
            env: None,
            limit: 0,
        })
    })
    .unwrap();
    assert_eq!(filtered.len(), 1);

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
    let ids = write(s, &key(), |tx| {
        Ok::<_, StoreError>(vec![
            tx.insert_outbox(&row("a", now))?,
            tx.insert_outbox(&row("a", now))?,
            tx.insert_outbox(&row("b", later))?,
        ])
    })
    .unwrap();
    // One row per receiver, oldest first, and only when due.
    let due = read(s, |tx| tx.outbox_due(now)).unwrap();
    assert_eq!(due.iter().map(|r| r.id).collect::<Vec<_>>(), vec![ids[0]]);
    write(s, &key(), |tx| {
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
    assert!(read(s, |tx| tx.outbox_due(now)).unwrap().is_empty());
    let due = read(s, |tx| tx.outbox_due(later)).unwrap();
    assert_eq!(
        due.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[0], ids[2]]
    );
    assert_eq!(due[0].attempts, 1);
    assert_eq!(due[0].last_error.as_deref(), Some("503"));
    write(s, &key(), |tx| {
        tx.outbox_attempted(ids[0], later, &OutboxAttempt::Delivered)
    })
    .unwrap();
    let due = read(s, |tx| tx.outbox_due(later)).unwrap();
    assert_eq!(
        due.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[1], ids[2]]
    );
    assert_eq!(read(s, |tx| tx.outbox_pending_count()).unwrap(), 2);
    // Source health upserts.
    let mut st = SourceStatusRow {
        target: "lb".into(),
        env: "production".into(),
        up: false,
        consecutive_failures: 1,
        last_attempt: Some(now),
        last_success: None,
        last_error: Some("timeout".into()),
    };
    write(s, &key(), |tx| tx.set_source_status(&st)).unwrap();
    st.up = true;
    st.consecutive_failures = 0;
    write(s, &key(), |tx| tx.set_source_status(&st)).unwrap();
    assert_eq!(read(s, |tx| tx.source_statuses()).unwrap(), vec![st]);
}

#[test]
fn ui_sessions_expire_end_and_purge() {
    for b in backends() {
        let s = b.open();
        // Stored instants keep microseconds.
        let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 6);
        let row = |id: &str, expires: DateTime<Utc>| SessionRow {
            id_hash: id.into(),
            csrf: format!("csrf-{id}"),
            token_hash: (id == "a").then(|| "sha256:t".to_string()),
            user: "alice".into(),
            created_at: now,
            expires_at: expires,
        };
        write(s.as_ref(), &key(), |tx| {
            tx.insert_session(&row("a", now + chrono::Duration::hours(1)))?;
            tx.insert_session(&row("b", now - chrono::Duration::seconds(1)))
        })
        .unwrap();
        let (a, b_) = read(s.as_ref(), |tx| {
            Ok::<_, StoreError>((tx.session("a", now)?, tx.session("b", now)?))
        })
        .unwrap();
        assert_eq!(
            a,
            Some(row("a", now + chrono::Duration::hours(1))),
            "{}",
            b.name
        );
        assert_eq!(b_, None, "an expired session is no session ({})", b.name);
        let purged = write(s.as_ref(), &key(), |tx| tx.purge_sessions(now)).unwrap();
        assert_eq!(purged, 1, "{}", b.name);
        let (ended, again) = write(s.as_ref(), &key(), |tx| {
            Ok::<_, StoreError>((tx.delete_session("a")?, tx.delete_session("a")?))
        })
        .unwrap();
        assert!(ended && !again, "{}", b.name);
        assert_eq!(read(s.as_ref(), |tx| tx.session("a", now)).unwrap(), None);
    }
}
