//! The PostgreSQL store, for several guardrail replicas in front of one database.
//!
//! The driver is asynchronous (`tokio-postgres`, pooled by `deadpool-postgres`); the
//! [`Store`]/[`Tx`] interface is synchronous (the daemon runs store calls on its blocking pool,
//! and small evaluations on its async workers, beside the synchronous policy engine). So the
//! store owns a small runtime of its own (one thread) that drives the connections' sockets,
//! and each statement's future is polled to completion on the calling thread
//! (`futures_executor::block_on`, inside the store runtime's context for its timers and new
//! connections). That works from any thread, async worker or not, and blocks only the caller,
//! as a SQLite call blocks it on the disk.
//!
//! Consistency across replicas: every write transaction first takes one transaction-scoped
//! advisory lock (`pg_advisory_xact_lock`), so writers are serialized cluster-wide exactly as
//! SQLite serializes them in one process: the audit chain stays one chain, two approvals of
//! one change on two replicas are two approvals and one transition, and a change cannot be
//! applied twice. Reads run concurrently in `REPEATABLE READ, READ ONLY` snapshots. The
//! schema is migrated at open (refinery) under a session advisory lock, so replicas that start
//! together do not race.
//!
//! Leadership (`elect`): one connection per daemon, outside the pool, tries to hold a session
//! advisory lock; the holder is the leader and does the singleton work. It checks its
//! connection every third of the lease and steps down when a check fails or times out; the
//! server ends a dead leader's session (and so releases the lock) when its socket closes, at
//! once after `kill -9`, and within the lease after a network cut (the session's TCP keepalives
//! are set from the lease). The same connection `LISTEN`s to the `NOTIFY` every write
//! transaction sends, so each process learns of the others' writes (`foreign_writes`).

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::runtime::{Handle, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::sql::packing::{Packed, pack};
use crate::sql::{Arg, Cell, Db, Row, SqlTx};
use crate::*;

#[cfg(test)]
mod tests;
mod tls;

mod embedded {
    refinery::embed_migrations!("src/postgres/migrations");
}

/// The advisory lock every write transaction holds (`guardrail` in ASCII, as a number).
const WRITE_LOCK: i64 = 0x6775_6172_6472_6169;
/// The advisory lock held while the schema is migrated.
const MIGRATE_LOCK: i64 = WRITE_LOCK + 1;
/// The advisory lock the leader holds.
const LEADER_LOCK: i64 = WRITE_LOCK + 2;
/// The channel every write transaction notifies (its payload: the writer's instance).
const WRITES_CHANNEL: &str = "guardrail_writes";

/// Connections per replica.
const POOL_SIZE: usize = 16;

pub struct PgStore {
    /// Drives the connections; `None` only while dropping (see `Drop`).
    runtime: Option<Runtime>,
    pool: Pool,
    config: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    shown: String,
    /// This process among the store's (the payload of its write notifications).
    instance: String,
    shared: Arc<Election>,
}

/// What the election task shares with the store.
#[derive(Default)]
struct Election {
    started: AtomicBool,
    leader: AtomicBool,
    foreign_writes: AtomicU64,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // The last owner may be an async task: a runtime may not block there, so it is shut
        // down without waiting for its (idle) connection tasks.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Awaits a future on the calling thread, inside the store runtime's context.
#[derive(Clone, Copy)]
struct Waiter<'a>(&'a Handle);

impl Waiter<'_> {
    fn wait<F: std::future::Future>(self, f: F) -> F::Output {
        let _in = self.0.enter();
        futures_executor::block_on(f)
    }
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The driver's message names the server's error (and its code); never the password.
        match e.as_db_error() {
            Some(db) => {
                StoreError::Backend(format!("postgres: {} ({})", db.message(), db.code().code()))
            }
            None => {
                // The driver's message and its causes (a TLS handshake names the certificate).
                let mut text = format!("postgres: {e}");
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    text.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                StoreError::Backend(text)
            }
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StoreError::Backend(format!("postgres connection pool: {other}")),
        }
    }
}

/// The URL as it may be shown: everything but the password.
pub fn shown_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl PgStore {
    /// Connects to the database at `url` (a libpq URL: `postgres://user@host:port/db`, with
    /// libpq's `sslmode` and `sslrootcert`: see `tls`), and migrates its schema. The password
    /// comes from the URL, else `PGPASSWORD`, else the file named by
    /// `GUARDRAIL_STORE_PASSWORD_FILE`; it is never shown. Errors do not repeat the URL:
    /// [`crate::StoreUrl::open`] names it.
    pub fn open(url: &str) -> Result<PgStore, StoreError> {
        let shown = shown_url(url);
        let (url, ssl_mode, tls) = tls::configure(url).map_err(StoreError::Backend)?;
        let mut config = tokio_postgres::Config::from_str(&url)
            .map_err(|e| StoreError::Backend(format!("not a PostgreSQL URL: {e}")))?;
        config.ssl_mode(ssl_mode);
        if config.get_password().is_none() {
            if let Ok(p) = std::env::var("PGPASSWORD") {
                config.password(p);
            } else if let Ok(path) = std::env::var("GUARDRAIL_STORE_PASSWORD_FILE") {
                let p = std::fs::read_to_string(&path).map_err(|e| {
                    StoreError::Backend(format!("GUARDRAIL_STORE_PASSWORD_FILE {path}: {e}"))
                })?;
                config.password(p.trim_end_matches(['\r', '\n']));
            }
        }
        if config.get_application_name().is_none() {
            config.application_name("guardrail");
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("guardrail-postgres")
            .enable_all()
            .build()
            .map_err(backend)?;
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = {
            let _in = runtime.enter();
            Pool::builder(manager)
                .max_size(POOL_SIZE)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                // A database that does not answer fails the request instead of hanging it.
                .create_timeout(Some(std::time::Duration::from_secs(10)))
                .wait_timeout(Some(std::time::Duration::from_secs(30)))
                .build()
                .map_err(backend)?
        };
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).map_err(backend)?;
        let store = PgStore {
            runtime: Some(runtime),
            pool,
            config,
            tls,
            shown,
            instance: hex::encode(id),
            shared: Arc::new(Election::default()),
        };
        store.migrate()?;
        Ok(store)
    }

    fn waiter(&self) -> Waiter<'_> {
        Waiter(
            self.runtime
                .as_ref()
                .expect("the runtime lives as long as the store")
                .handle(),
        )
    }

    /// Applies the embedded migrations under a session advisory lock.
    fn migrate(&self) -> Result<(), StoreError> {
        self.waiter().wait(async {
            let mut client = self.pool.get().await?;
            client
                .execute("SELECT pg_advisory_lock($1)", &[&MIGRATE_LOCK])
                .await?;
            let result = embedded::migrations::runner()
                .set_abort_divergent(true)
                .set_abort_missing(true)
                .run_async(&mut **client)
                .await;
            client
                .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK])
                .await?;
            result
                .map(|_| ())
                .map_err(|e| StoreError::Backend(format!("migrating the schema: {e}")))
        })
    }
}

impl PgStore {
    /// Runs `f` on this store's [`Db`] in one transaction (a write takes the write lock and
    /// commits).
    pub(crate) fn with_db(
        &self,
        write: bool,
        f: &mut dyn FnMut(&mut dyn Db) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mode = if write { Mode::Write } else { Mode::Read };
        self.in_tx(mode, &mut |db| f(db))
    }

    /// Runs `f` in one transaction of `mode` (see [`Mode`]); an error rolls it back.
    fn in_tx(
        &self,
        mode: Mode,
        f: &mut dyn FnMut(&mut Pg<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let w = self.waiter();
        let mut client = w.wait(self.pool.get())?;
        let builder = client.build_transaction();
        let builder = match mode {
            Mode::Read => builder
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true),
            Mode::Write | Mode::Claim => {
                builder.isolation_level(tokio_postgres::IsolationLevel::ReadCommitted)
            }
        };
        let tx = w.wait(builder.start())?;
        if mode == Mode::Write {
            w.wait(tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK]))?;
        }
        f(&mut Pg { tx: &tx, w })?;
        match mode {
            Mode::Read => w.wait(tx.rollback())?,
            Mode::Write => {
                // Delivered to the other processes when (and only if) the transaction commits.
                w.wait(tx.execute(
                    "SELECT pg_notify($1, $2)",
                    &[&WRITES_CHANNEL, &self.instance],
                ))?;
                w.wait(tx.commit())?;
            }
            Mode::Claim => w.wait(tx.commit())?,
        }
        Ok(())
    }

    /// Moves the id sequences past the ids copied in (`store migrate`).
    pub(crate) fn after_copy(&self) -> Result<(), StoreError> {
        self.with_db(true, &mut |db| {
            for t in crate::sql::copy::IDENTITY_TABLES {
                db.query(
                    &format!(
                        "SELECT setval(pg_get_serial_sequence('{t}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {t}"
                    ),
                    &[],
                )?;
            }
            Ok(())
        })
    }
}

impl Store for PgStore {
    fn write_tx(
        &self,
        key: &AuditKey,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.in_tx(Mode::Write, &mut |db| {
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
        self.in_tx(Mode::Read, &mut |db| f(&mut SqlTx { db: *db, key: None }))
    }

    fn ping(&self) -> Result<(), StoreError> {
        read(self, |tx| tx.audit_head().map(|_| ()))
    }

    fn elect(&self, lease: Duration) {
        if self.shared.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let task = election(
            self.config.clone(),
            self.tls.clone(),
            lease,
            self.instance.clone(),
            Arc::clone(&self.shared),
            self.shown.clone(),
        );
        if let Some(rt) = &self.runtime {
            rt.spawn(task);
        }
    }

    fn claim_outbox(
        &self,
        _key: &AuditKey,
        now: chrono::DateTime<chrono::Utc>,
        deliver: &mut dyn FnMut(&[OutboxRow]) -> Vec<OutboxAttempt>,
    ) -> Result<Vec<(OutboxRow, OutboxAttempt)>, StoreError> {
        // Not under the write lock: the transaction stays open while the webhooks answer, and
        // only the claimed rows are locked (writers that add rows are not held up).
        let mut done: Vec<(OutboxRow, OutboxAttempt)> = Vec::new();
        self.in_tx(Mode::Claim, &mut |db| {
            let rows = crate::sql::outbox::outbox_due(db, now, true)?;
            if rows.is_empty() {
                return Ok(());
            }
            let attempts = deliver(&rows);
            done = rows.into_iter().zip(attempts).collect();
            for (row, a) in &done {
                crate::sql::outbox::outbox_attempted(db, row.id, now, a)?;
            }
            Ok(())
        })?;
        Ok(done)
    }

    fn is_leader(&self) -> bool {
        self.shared.leader.load(Ordering::SeqCst)
    }

    fn foreign_writes(&self) -> u64 {
        self.shared.foreign_writes.load(Ordering::SeqCst)
    }
}

/// The election: connect, listen for writes, try to take the leader lock, and keep checking the
/// connection; any failure ends the session (and the role) and starts over.
async fn election(
    config: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    lease: Duration,
    instance: String,
    shared: Arc<Election>,
    shown: String,
) {
    let check_every = (lease / 3).max(Duration::from_millis(200));
    loop {
        if let Err(e) =
            lead_while_connected(&config, &tls, lease, check_every, &instance, &shared).await
        {
            if shared.leader.swap(false, Ordering::SeqCst) {
                tracing::warn!(store = %shown, error = %e, "lost the leader role: the store connection failed");
            } else {
                tracing::debug!(store = %shown, error = %e, "leader election connection failed");
            }
        }
        shared.leader.store(false, Ordering::SeqCst);
        // Writes may have gone unheard while disconnected.
        shared.foreign_writes.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(check_every).await;
    }
}

/// One session of the election: returns (with the reason) when the connection fails.
async fn lead_while_connected(
    config: &tokio_postgres::Config,
    tls: &tokio_postgres_rustls::MakeRustlsConnect,
    lease: Duration,
    check_every: Duration,
    instance: &str,
    shared: &Arc<Election>,
) -> Result<(), StoreError> {
    let (client, mut conn) = tokio::time::timeout(lease, config.connect(tls.clone()))
        .await
        .map_err(|_| StoreError::Backend("connecting timed out".into()))??;
    // The connection's messages: notifications of other processes' writes; its end is the end
    // of this session.
    let listener = {
        let shared = Arc::clone(shared);
        let me = instance.to_string();
        tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                    Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                        if n.payload() != me {
                            shared.foreign_writes.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return,
                }
            }
        })
    };
    let result = async {
        // The server notices a vanished leader within the lease (idle + interval x count).
        let probe = (lease / 6).as_secs().max(1);
        client
            .batch_execute(&format!(
                "SET tcp_keepalives_idle = {probe}; SET tcp_keepalives_interval = {probe}; SET tcp_keepalives_count = 3; LISTEN {WRITES_CHANNEL}"
            ))
            .await?;
        loop {
            if listener.is_finished() {
                return Err(StoreError::Backend("the connection closed".into()));
            }
            let leading = shared.leader.load(Ordering::SeqCst);
            let check = async {
                if leading {
                    client.query_one("SELECT true", &[]).await
                } else {
                    client
                        .query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])
                        .await
                }
            };
            let row = tokio::time::timeout(check_every, check)
                .await
                .map_err(|_| StoreError::Backend("the leader check timed out".into()))??;
            let holds: bool = row.get(0);
            if holds && !shared.leader.swap(true, Ordering::SeqCst) {
                tracing::info!("took the leader role: this process runs the drift poller, the sweep and the notification outbox");
            }
            tokio::time::sleep(check_every).await;
        }
    }
    .await;
    listener.abort();
    result
}

/// What a transaction is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A read-only `REPEATABLE READ` snapshot, rolled back.
    Read,
    /// A write: the cluster-wide write lock first, a notification to the other processes on
    /// commit.
    Write,
    /// The outbox's claim: row locks only, committed (no write lock: it stays open while
    /// webhooks answer).
    Claim,
}

/// One PostgreSQL transaction as the records' [`Db`]: `?N` placeholders become `$N`, and
/// statements are prepared once per connection.
#[derive(Clone, Copy)]
struct Pg<'t> {
    tx: &'t deadpool_postgres::Transaction<'t>,
    w: Waiter<'t>,
}

/// `?N` placeholders as PostgreSQL's `$N` (the records' SQL has no `?` anywhere else).
fn numbered(sql: &str) -> String {
    sql.replace('?', "$")
}

/// A parameter converted to the type the server inferred for its placeholder.
#[derive(Debug)]
struct PgArg<'a>(&'a Arg<'a>);

impl ToSql for PgArg<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Arg::Null => Ok(IsNull::Yes),
            Arg::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                _ => Err(format!("an integer for a parameter of type {ty}").into()),
            },
            Arg::Text(t) => match *ty {
                Type::BYTEA => t.as_bytes().to_sql(ty, out),
                _ => t.as_ref().to_sql(ty, out),
            },
            Arg::Bytes(b) => b.to_sql(ty, out),
            Arg::Packed(t) => match *ty {
                Type::BYTEA => match pack(t)? {
                    Packed::Plain(t) => t.as_bytes().to_sql(ty, out),
                    Packed::Zstd(b) => b.as_slice().to_sql(ty, out),
                },
                _ => t.to_sql(ty, out),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn cells(row: &tokio_postgres::Row) -> Result<Row, StoreError> {
    let mut out = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let cell = match *col.type_() {
            Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Cell::Int),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(i)?
                .map(|v| Cell::Int(v.into())),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(i)?
                .map(|v| Cell::Int(v.into())),
            Type::BOOL => row
                .try_get::<_, Option<bool>>(i)?
                .map(|v| Cell::Int(v.into())),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
                row.try_get::<_, Option<String>>(i)?.map(Cell::Text)
            }
            Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Cell::Bytes),
            ref other => {
                return Err(StoreError::Corrupt(format!(
                    "column {}: unexpected type {other}",
                    col.name()
                )));
            }
        };
        out.push(cell.unwrap_or(Cell::Null));
    }
    Ok(Row(out))
}

impl Db for Pg<'_> {
    fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let params: Vec<PgArg<'_>> = args.iter().map(PgArg).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let sql = numbered(sql);
        self.w.wait(async {
            let st = self.tx.prepare_cached(&sql).await?;
            Ok(self.tx.execute(&st, &refs).await?)
        })
    }

    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        let params: Vec<PgArg<'_>> = args.iter().map(PgArg).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let sql = numbered(sql);
        let rows = self.w.wait(async {
            let st = self.tx.prepare_cached(&sql).await?;
            self.tx.query(&st, &refs).await
        })?;
        rows.iter().map(cells).collect()
    }
}

/// For tests: a new, empty database on the throw-away cluster that `scripts/postgres.sh`
/// started (its URL in `GUARDRAIL_TEST_POSTGRES`), as a URL. `None` when no cluster was
/// started, outside CI; in CI (`CI` set) that is a failure, since the test command starts one.
pub fn test_database() -> Option<String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let Ok(admin) = std::env::var("GUARDRAIL_TEST_POSTGRES") else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "GUARDRAIL_TEST_POSTGRES is not set: run the tests with `bash scripts/test.sh`, which starts a PostgreSQL cluster"
            );
        }
        eprintln!(
            "GUARDRAIL_TEST_POSTGRES is not set: the PostgreSQL half of this test is skipped"
        );
        return None;
    };
    let name = format!(
        "guardrail_t{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&admin, NoTls)
            .await
            .unwrap_or_else(|e| panic!("the test cluster at {admin}: {e}"));
        let task = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        drop(client);
        let _ = task.await;
    });
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    Some(format!("{base}/{name}"))
}
