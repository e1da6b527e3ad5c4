//! What only the PostgreSQL store does, on the test cluster: replicas that start together
//! migrate once, writers on several replicas keep one audit chain, and large texts are
//! compressed in their `BYTEA` columns.

use std::sync::Arc;

use super::*;
use std::time::Duration;

use guardrail_core::change::audit::{AuditEntry, verify};

fn key() -> AuditKey {
    AuditKey::from_bytes(&[5u8; 32]).unwrap()
}

#[test]
fn replicas_starting_together_migrate_once() {
    let Some(url) = test_database() else { return };
    let opened: Vec<Result<PgStore, StoreError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| PgStore::open(&url))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &opened {
        assert!(o.is_ok(), "{:?}", o.as_ref().err());
    }
    let s = opened.into_iter().next().unwrap().unwrap();
    let versions: i64 = s.waiter().wait(async {
        let c = s.pool.get().await.unwrap();
        c.query_one("SELECT COUNT(*) FROM refinery_schema_history", &[])
            .await
            .unwrap()
            .get(0)
    });
    // Each embedded migration recorded once, not once per replica.
    let embedded = embedded::migrations::runner().get_migrations().len() as i64;
    assert_eq!(versions, embedded);
}

#[test]
fn writers_on_several_replicas_keep_one_audit_chain() {
    let Some(url) = test_database() else { return };
    let replicas: Vec<Arc<PgStore>> = (0..3)
        .map(|_| Arc::new(PgStore::open(&url).unwrap()))
        .collect();
    write(replicas[0].as_ref(), &key(), |tx| {
        tx.append_audit(
            &guardrail_core::change::audit::keyed_marker(&key(), 0),
            Utc::now(),
        )
        .map(|_| ())
    })
    .unwrap();
    std::thread::scope(|s| {
        for r in &replicas {
            for _ in 0..2 {
                let r = Arc::clone(r);
                s.spawn(move || {
                    for _ in 0..15 {
                        write(r.as_ref(), &key(), |tx| {
                            tx.append_audit(&AuditEntry::default(), Utc::now())
                                .map(|_| ())
                        })
                        .unwrap();
                    }
                });
            }
        }
    });
    let (log, head) = read(replicas[2].as_ref(), |tx| {
        Ok::<_, StoreError>((tx.audit_records(0, 1000)?, tx.audit_head()?))
    })
    .unwrap();
    assert_eq!(log.len(), 91);
    assert_eq!(
        verify(&log, head.as_ref(), Some(&key()), None).map(|v| v.records),
        Ok(91)
    );
}

#[test]
fn large_texts_are_compressed_in_bytea() {
    let Some(url) = test_database() else { return };
    let s = PgStore::open(&url).unwrap();
    let big = crate::sql::tests::big_config();
    let now = Utc::now();
    write(&s, &key(), |tx| {
        tx.insert_baseline(&BaselineRow {
            id: 0,
            target: "lb".into(),
            env: "production".into(),
            content: big.clone(),
            content_hash: "sha256:a".into(),
            format: "haproxy".into(),
            change_id: None,
            origin: "first_contact".into(),
            applied_at: now,
            rolled_back_at: None,
        })
        .map(|_| ())
    })
    .unwrap();
    let back = read(&s, |tx| tx.baseline("lb", "production"))
        .unwrap()
        .unwrap();
    assert_eq!(back.content, big);
    let stored: i32 = s.waiter().wait(async {
        let c = s.pool.get().await.unwrap();
        c.query_one("SELECT octet_length(content) FROM baselines", &[])
            .await
            .unwrap()
            .get(0)
    });
    assert!(
        (stored as usize) * 4 < big.len(),
        "{stored} of {}",
        big.len()
    );
}

#[test]
fn urls_and_passwords_are_never_shown() {
    assert_eq!(
        shown_url("postgres://guardrail:s3cret@db.example:5432/guardrail"),
        "postgres://guardrail@db.example:5432/guardrail"
    );
    let err = StoreUrl::parse("postgress://guardrail:s3cret@db/x").unwrap_err();
    assert!(!err.contains("s3cret"), "{err}");
    assert!(err.contains("postgres://"), "{err}");
    // An unknown sslmode is refused, naming the valid ones; the error names the store by its
    // URL, without the password.
    let url = StoreUrl::Postgres("postgres://guardrail:s3cret@127.0.0.1:1/x?sslmode=requir".into());
    let err = url.open().err().unwrap().to_string();
    assert!(!err.contains("s3cret"), "{err}");
    assert!(err.contains("postgres://guardrail@127.0.0.1:1/x"), "{err}");
    assert!(err.contains("sslmode=requir: expected disable"), "{err}");
    assert!(err.contains("verify-full"), "{err}");
    // A server that cannot be reached: the error says so, and names the store once.
    let url =
        StoreUrl::Postgres("postgres://guardrail:s3cret@127.0.0.1:1/x?sslmode=disable".into());
    let err = url.open().err().unwrap().to_string();
    assert!(!err.contains("s3cret"), "{err}");
    assert_eq!(err.matches("127.0.0.1:1").count(), 1, "{err}");
    assert!(err.contains("connect"), "{err}");
}

/// A row one process is delivering is skipped by another (not waited for, not taken twice),
/// and the attempt is recorded in the claiming transaction.
#[test]
fn outbox_rows_being_delivered_are_skipped_by_another_process() {
    let Some(url) = test_database() else { return };
    let a = PgStore::open(&url).unwrap();
    let b = PgStore::open(&url).unwrap();
    let now = Utc::now();
    let row = |receiver: &str| OutboxRow {
        id: 0,
        receiver: receiver.into(),
        event: "unstaged_push".into(),
        payload: "{}".into(),
        created_at: now,
        attempts: 0,
        next_attempt_at: now,
        delivered_at: None,
        abandoned_at: None,
        last_error: None,
    };
    write(&a, &key(), |tx| {
        tx.insert_outbox(&row("hook"))?;
        tx.insert_outbox(&row("hook"))?;
        tx.insert_outbox(&row("pager"))
    })
    .unwrap();
    let (claimed_tx, claimed_rx) = std::sync::mpsc::channel::<Vec<String>>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        let a = &a;
        let delivering = s.spawn(move || {
            a.claim_outbox(&key(), now, &mut |rows| {
                claimed_tx
                    .send(rows.iter().map(|r| r.receiver.clone()).collect())
                    .unwrap();
                release_rx.recv().unwrap();
                rows.iter().map(|_| OutboxAttempt::Delivered).collect()
            })
            .unwrap()
        });
        let mut first = claimed_rx.recv().unwrap();
        first.sort();
        assert_eq!(first, ["hook", "pager"]);
        // While A delivers, B finds nothing to take: not the claimed heads, and not the hook's
        // second row in place of its first.
        let seen = b
            .claim_outbox(&key(), now, &mut |rows| {
                panic!("claimed rows another process holds: {rows:?}")
            })
            .unwrap();
        assert!(seen.is_empty());
        release_tx.send(()).unwrap();
        assert_eq!(delivering.join().unwrap().len(), 2);
    });
    // The hook's second row is next, once.
    let next = b
        .claim_outbox(&key(), now, &mut |rows| {
            rows.iter().map(|_| OutboxAttempt::Delivered).collect()
        })
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].0.receiver, "hook");
    assert_eq!(read(&b, |tx| tx.outbox_pending_count()).unwrap(), 0);
}

/// Whether the store's connections use TLS, with `params` added to the test database's URL.
fn ssl_with(url: &str, params: &str) -> Result<bool, String> {
    let s = PgStore::open(&format!("{url}?{params}")).map_err(|e| e.to_string())?;
    s.waiter().wait(async {
        let c = s.pool.get().await.map_err(|e| e.to_string())?;
        let row = c
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(row.get(0))
    })
}

#[test]
fn tls_is_used_and_checked_as_sslmode_says() {
    let Some(url) = test_database() else { return };
    let (Ok(ca), Ok(other)) = (
        std::env::var("GUARDRAIL_TEST_PG_CA"),
        std::env::var("GUARDRAIL_TEST_PG_OTHER_CA"),
    ) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "the test cluster has no CA (scripts/postgres.sh exports GUARDRAIL_TEST_PG_CA)"
        );
        return;
    };
    assert_eq!(ssl_with(&url, "sslmode=disable"), Ok(false));
    assert_eq!(ssl_with(&url, "sslmode=require"), Ok(true));
    assert_eq!(
        ssl_with(&url, &format!("sslmode=verify-full&sslrootcert={ca}")),
        Ok(true)
    );
    assert_eq!(
        ssl_with(&url, &format!("sslmode=verify-ca&sslrootcert={ca}")),
        Ok(true)
    );
    // A certificate from another CA is refused, whether the mode says verify or names a root.
    for params in [
        format!("sslmode=verify-full&sslrootcert={other}"),
        format!("sslmode=require&sslrootcert={other}"),
    ] {
        let err = ssl_with(&url, &params).unwrap_err();
        assert!(err.contains("certificate"), "{params}: {err}");
    }
    let err = ssl_with(&url, "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem").unwrap_err();
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
}

/// Waits for `f` under a generous deadline; failing at the deadline names `what` (nothing here
/// measures how long it took).
fn wait_for(what: &str, f: &dyn Fn() -> bool) {
    let give_up = std::time::Instant::now() + Duration::from_secs(60);
    while !f() {
        if std::time::Instant::now() >= give_up {
            panic!("gave up waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A process learns of another's committed writes (its cached answers are then stale), and
/// not of its own or of a write that rolled back.
#[test]
fn writes_of_other_processes_are_announced() {
    let Some(url) = test_database() else { return };
    let a = PgStore::open(&url).unwrap();
    let b = PgStore::open(&url).unwrap();
    b.elect(Duration::from_secs(3));
    // B listens once its election session is up (it leads: it is alone).
    wait_for("B to lead", &|| b.is_leader());
    let before = b.foreign_writes();
    write(&a, &key(), |tx| {
        tx.append_audit(&AuditEntry::default(), Utc::now())
            .map(|_| ())
    })
    .unwrap();
    wait_for("B to hear of A's write", &|| b.foreign_writes() > before);
    // Its own writes and a rolled-back one are not news.
    let heard = b.foreign_writes();
    write(&b, &key(), |tx| {
        tx.append_audit(&AuditEntry::default(), Utc::now())
            .map(|_| ())
    })
    .unwrap();
    let _ = write(&a, &key(), |tx| {
        tx.append_audit(&AuditEntry::default(), Utc::now())?;
        Err::<(), _>(StoreError::Backend("rolled back".into()))
    });
    // A later write of A's arrives after those would have: only it is counted.
    write(&a, &key(), |tx| {
        tx.append_audit(&AuditEntry::default(), Utc::now())
            .map(|_| ())
    })
    .unwrap();
    wait_for("B to hear of A's second write", &|| {
        b.foreign_writes() > heard
    });
    assert_eq!(b.foreign_writes(), heard + 1);
}

/// When the server ends the leader's session (what it does once TCP keepalives find a leader
/// cut off), the leader steps down and the role is taken again: by the other process, or by the
/// same one once it reconnects; never by both.
#[test]
fn a_leader_whose_session_ends_steps_down_and_one_leader_follows() {
    let Some(url) = test_database() else { return };
    let a = PgStore::open(&url).unwrap();
    let b = PgStore::open(&url).unwrap();
    a.elect(Duration::from_secs(3));
    wait_for("A to lead", &|| a.is_leader());
    b.elect(Duration::from_secs(3));
    // B cannot lead while A holds the lock.
    let admin = std::env::var("GUARDRAIL_TEST_POSTGRES").unwrap();
    let terminate = || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (c, conn) = tokio_postgres::connect(&admin, NoTls).await.unwrap();
            let task = tokio::spawn(conn);
            let n = c
                .query_one(
                    "SELECT COUNT(pg_terminate_backend(l.pid)) FROM pg_locks l
                     WHERE l.locktype = 'advisory' AND l.granted
                       AND ((l.classid::bigint << 32) | l.objid::bigint) = $1",
                    &[&LEADER_LOCK],
                )
                .await
                .unwrap()
                .get::<_, i64>(0);
            drop(c);
            let _ = task.await;
            n
        })
    };
    assert!(!b.is_leader());
    assert_eq!(terminate(), 1, "one session holds the leader lock");
    wait_for("A to step down", &|| !a.is_leader());
    wait_for("a leader again", &|| a.is_leader() || b.is_leader());
    assert!(!(a.is_leader() && b.is_leader()));
}
