//! `guardrail serve`: the daemon. Owns start-up (settings validated before anything binds),
//! the tokio runtime, the HTTP API (axum; routes and OpenAPI in `routes`), hot reload of
//! policies and targets (file change or SIGHUP; a broken set is refused and the running one
//! kept), the periodic sweep, and graceful shutdown on SIGTERM/SIGINT (in-flight requests
//! finish). Business logic lives in `service`; this module only wires it to the network.

pub mod drift_routes;
pub mod http;
pub mod routes;
pub mod settings;
pub mod ui;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::service::{Service, system_clock};
use guardrail_store::Store;
use http::AppState;
use settings::{ConfigSource, Overrides, ServerSettings};

/// Exit code when the daemon cannot start (bad config, port taken, store unusable).
pub const EXIT_START_FAILED: i32 = 2;

/// Builds the runtime threads: big stacks (CEL recursion, see `policy::STACK_BYTES`), so policy
/// evaluation runs on them directly.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(guardrail_core::policy::STACK_BYTES)
        .on_thread_start(guardrail_core::policy::mark_big_stack_thread)
        .max_blocking_threads(64)
        .build()
}

/// Everything `serve` validated, ready to bind.
pub struct Prepared {
    pub settings: ServerSettings,
    pub source: ConfigSource,
    pub service: Arc<Service>,
    /// Warnings to print once logging is up (an audit key inside the data directory).
    pub warnings: Vec<String>,
    /// What opening the audit key did, for the start-up log.
    pub key_notes: Vec<String>,
}

/// Loads and validates everything; every problem at once.
pub fn prepare(config: Option<PathBuf>, flags: &Overrides) -> Result<Prepared, Vec<String>> {
    let source = ConfigSource::choose(config.as_deref());
    // guardrail.yaml is read once: the settings and the runtime both come from this read.
    let file = source.read().map_err(|e| e.lines)?;
    let mut problems = Vec::new();
    let server = settings::server_settings(&file.config, flags);
    let runtime = settings::runtime_of(file, &source);
    let server = match server {
        Ok(s) => Some(s),
        Err(e) => {
            problems.extend(e);
            None
        }
    };
    let runtime = match runtime {
        Ok(r) => Some(r),
        Err(e) => {
            problems.extend(e);
            None
        }
    };
    let (Some(server), Some(runtime)) = (server, runtime) else {
        return Err(problems);
    };
    let url = server
        .store_url()
        .map_err(|e| vec![format!("server.store: {e}")])?;
    let store: Arc<dyn Store> = url.open().map_err(|e| vec![e.to_string()])?;
    let key_path =
        crate::service::audit::key_path(&server.data_dir, server.audit_key_file.as_deref());
    let opened = crate::service::audit::open_key(store.as_ref(), &key_path, chrono::Utc::now())
        .map_err(|e| vec![format!("server.audit_key_file: {e}")])?;
    let mut warnings = Vec::new();
    if inside(&key_path, &server.data_dir) {
        warnings.push(format!(
            "the audit key {} lives inside the data directory: whoever can copy or rewrite the data directory can rewrite the audit log without detection. Move it outside (server.audit_key_file or GUARDRAIL_AUDIT_KEY_FILE), e.g. to a secret mounted read-only",
            key_path.display()
        ));
    }
    let mut key_notes = Vec::new();
    if opened.created {
        key_notes.push(format!(
            "created the audit key {} (mode 0600)",
            key_path.display()
        ));
    }
    if let Some(seq) = opened.keyed_now {
        key_notes.push(format!(
            "audit log keyed from record {seq} (HMAC-SHA256, key id {})",
            opened.key.id()
        ));
    }
    let mut service = Service::new(
        store,
        runtime,
        Arc::new(Metrics::new()),
        system_clock(),
        opened.key,
    );
    service.public_url = server.public_url.clone();
    service.limits = crate::service::limits::Limits {
        max_change_bytes: server.max_change_bytes,
        max_diff_entries: server.max_diff_entries,
        max_concurrent_evaluations: server.max_concurrent_evaluations,
        evaluation_queue: server.evaluation_queue,
    };
    Ok(Prepared {
        settings: server,
        source,
        service: Arc::new(service),
        warnings,
        key_notes,
    })
}

/// Whether `path` lies inside `dir` (both resolved when they exist).
fn inside(path: &std::path::Path, dir: &std::path::Path) -> bool {
    let abs = |p: &std::path::Path| {
        std::fs::canonicalize(p).unwrap_or_else(|_| {
            std::env::current_dir()
                .map(|c| c.join(p))
                .unwrap_or_else(|_| p.to_path_buf())
        })
    };
    abs(path).starts_with(abs(dir))
}

/// The per-token rate limiter of the settings (`None`: no limit).
pub fn rate_limiter(s: &ServerSettings) -> Option<Arc<http::RateLimiter>> {
    use std::num::NonZeroU32;
    let rate = settings::parse_rate(&s.rate_limit).ok().flatten()?;
    let burst = s
        .rate_burst
        .unwrap_or_else(|| rate.count.saturating_mul(2))
        .max(1);
    let period = rate.per / rate.count;
    let quota = governor::Quota::with_period(period)?
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
    Some(Arc::new(governor::RateLimiter::keyed(quota)))
}

/// The router with every route, the OpenAPI document and the middleware.
pub fn app(state: AppState, body_limit: usize) -> axum::Router {
    let (router, api) = routes::router().split_for_parts();
    let api = Arc::new(api);
    router
        .merge(ui::router())
        .route(
            "/v1/openapi.json",
            axum::routing::get(move || {
                let api = api.clone();
                async move { axum::Json(api.as_ref().clone()) }
            }),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::observe,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

fn init_logging(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("GUARDRAIL_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,hyper=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
    };
}

/// Runs the daemon until SIGTERM/SIGINT. Returns the exit code.
pub fn serve(config: Option<PathBuf>, flags: Overrides) -> i32 {
    let prepared = match prepare(config, &flags) {
        Ok(p) => p,
        Err(problems) => {
            eprintln!("guardrail serve: cannot start:");
            for p in problems {
                eprintln!("  {p}");
            }
            return EXIT_START_FAILED;
        }
    };
    init_logging(&prepared.settings.log_format);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("guardrail serve: cannot start the runtime: {e}");
            return EXIT_START_FAILED;
        }
    };
    rt.block_on(run(prepared))
}

async fn run(p: Prepared) -> i32 {
    let addr: SocketAddr = match p.settings.listen.parse() {
        Ok(a) => a,
        Err(_) => return EXIT_START_FAILED,
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("guardrail serve: cannot listen on {addr}: {e}");
            return EXIT_START_FAILED;
        }
    };
    let bound = listener.local_addr().unwrap_or(addr);
    let ready = Arc::new(AtomicBool::new(false));
    let limiter = rate_limiter(&p.settings);
    let state = AppState {
        service: p.service.clone(),
        ready: ready.clone(),
        limiter: limiter.clone(),
        ui: Arc::new(ui::UiConfig::of(&p.settings)),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    announce(&p, bound);
    spawn_background(&p, limiter, &stop_rx);
    let shutdown_delay = setting_duration(&p.settings.shutdown_delay, Duration::from_secs(1));

    let app = app(state, p.settings.body_limit);
    ready.store(true, Ordering::Relaxed);
    println!("guardrail: listening on http://{bound}");
    let shutdown = {
        let ready = ready.clone();
        async move {
            wait_for_stop().await;
            // From here /readyz answers 503, while the listener still accepts for
            // `server.shutdown_delay`, so load balancers see the daemon leave before it stops.
            ready.store(false, Ordering::Relaxed);
            tracing::info!(
                delay_ms = shutdown_delay.as_millis() as u64,
                "shutting down: not ready; finishing in-flight requests"
            );
            let _ = stop_tx.send(true);
            tokio::time::sleep(shutdown_delay).await;
        }
    };
    // The peer's address decides whether an authenticating proxy's headers are believed.
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    match served {
        Ok(()) => {
            tracing::info!("stopped");
            0
        }
        Err(e) => {
            tracing::error!(error = %e, "server error");
            1
        }
    }
}

/// Logs what the daemon serves and warns about what an operator should know at start (no
/// token yet, embedded defaults, key notes, settings warnings).
fn announce(p: &Prepared, bound: SocketAddr) {
    let rt = p.service.runtime();
    tracing::info!(
        listen = %bound,
        data_dir = %p.settings.data_dir.display(),
        store = %p.settings.store_url().map(|u| u.shown()).unwrap_or_default(),
        config = %rt.origin,
        targets = rt.config.targets.len(),
        policies = rt.policies.policies().len(),
        "guardrail serve started"
    );
    if rt.tokens.is_empty() && !has_store_tokens(&p.service) {
        eprintln!(
            "guardrail: no API tokens yet. Create one (printed once) with:\n  guardrail token create --user you --roles admin --data-dir {}",
            p.settings.data_dir.display()
        );
    }
    for n in &p.key_notes {
        tracing::info!("{n}");
    }
    for w in &p.warnings {
        tracing::warn!("{w}");
        eprintln!("guardrail: warning: {w}");
    }
    if matches!(p.source, ConfigSource::Embedded) {
        eprintln!(
            "guardrail: running on embedded defaults: the example targets of examples/infra and the policy library built into the binary (pass --config guardrail.yaml for your own)"
        );
    }
}

/// A duration setting (`30s`, `15m`), or `default` when it does not parse.
fn setting_duration(s: &str, default: Duration) -> Duration {
    guardrail_core::change::parse_duration(s)
        .ok()
        .and_then(|d| d.to_std().ok())
        .unwrap_or(default)
}

/// Starts the background tasks: the sweep, the audit head timer, hot reload, the drift poller
/// and the notification delivery loop; each stops when `stop` turns true.
fn spawn_background(
    p: &Prepared,
    limiter: Option<Arc<http::RateLimiter>>,
    stop: &watch::Receiver<bool>,
) {
    let lease = setting_duration(&p.settings.leader_lease, Duration::from_secs(15));
    p.service.store.elect(lease);
    tokio::spawn(leader_loop(p.service.clone(), lease, stop.clone()));
    let sweep_every = setting_duration(&p.settings.sweep_interval, Duration::from_secs(30));
    tokio::spawn(sweep_loop(
        p.service.clone(),
        sweep_every,
        limiter,
        stop.clone(),
    ));
    // A zero interval would spin: the default instead.
    let head_every = match setting_duration(&p.settings.audit_head_interval, Duration::ZERO) {
        d if d.is_zero() => Duration::from_secs(900),
        d => d,
    };
    tokio::spawn(audit_head_loop(p.service.clone(), head_every, stop.clone()));
    tokio::spawn(reload_loop(
        p.service.clone(),
        p.source.clone(),
        stop.clone(),
    ));
    crate::poller::spawn(p.service.clone(), stop.clone());
    crate::delivery::spawn(p.service.clone(), stop.clone());
}

fn has_store_tokens(svc: &Service) -> bool {
    guardrail_store::read(svc.store.as_ref(), |tx| tx.tokens().map(|t| !t.is_empty()))
        .unwrap_or(true)
}

/// Logs the audit head on a timer (and at start), even when it did not move, so logs always
/// hold a recent head to pin.
async fn audit_head_loop(svc: Arc<Service>, every: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        let s = svc.clone();
        match tokio::task::spawn_blocking(move || s.audit_head()).await {
            Ok(Ok(h)) => svc.publish_head(h.as_ref(), true),
            Ok(Err(e)) => tracing::warn!(error = %e, "reading the audit head failed"),
            Err(_) => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {},
            _ = stop.changed() => return,
        }
    }
}

/// Publishes this process's role (`guardrail_leader`, `guardrail_leader_changes_total`, a log
/// line at each change) as the store's election decides it.
async fn leader_loop(svc: Arc<Service>, lease: Duration, mut stop: watch::Receiver<bool>) {
    let mut was: Option<bool> = None;
    let every = (lease / 15).clamp(Duration::from_millis(200), Duration::from_secs(1));
    loop {
        let now = svc.store.is_leader();
        if was.is_some_and(|w| w != now) {
            svc.metrics.leader.changes.inc();
            tracing::info!(leader = now, "leader role changed");
        }
        was = Some(now);
        svc.metrics.leader.leader.set(i64::from(now));
        tokio::select! {
            _ = tokio::time::sleep(every) => {},
            _ = stop.changed() => return,
        }
    }
}

async fn wait_for_stop() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

async fn sweep_loop(
    svc: Arc<Service>,
    every: Duration,
    limiter: Option<Arc<http::RateLimiter>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        // Expiry is singleton work: the leader sweeps.
        if svc.store.is_leader() {
            let s = svc.clone();
            match tokio::task::spawn_blocking(move || s.sweep()).await {
                Ok(Ok(n)) if n > 0 => tracing::info!(changes = n, "sweep moved changes"),
                Ok(Err(e)) => tracing::warn!(error = %e, "sweep failed"),
                _ => {}
            }
        }
        let s = svc.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || s.flush_token_use()).await {
            tracing::warn!(error = %e, "recording token use failed");
        }
        if let Some(l) = &limiter {
            l.retain_recent();
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {},
            _ = stop.changed() => return,
        }
    }
}

/// Reloads policies and targets on SIGHUP or when their files change (checked every 2 s). A
/// set with errors is refused: the running one stays, the errors are logged and counted.
async fn reload_loop(svc: Arc<Service>, source: ConfigSource, mut stop: watch::Receiver<bool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).ok();
    let mut watched = settings::watched_paths(&source);
    let mut seen = settings::fingerprint(&watched);
    loop {
        let by_signal = tokio::select! {
            _ = async { match hup.as_mut() { Some(h) => { h.recv().await; } None => std::future::pending::<()>().await } } => true,
            _ = tokio::time::sleep(Duration::from_secs(2)) => false,
            _ = stop.changed() => return,
        };
        let now = settings::fingerprint(&watched);
        if !by_signal && now == seen {
            continue;
        }
        // The config may name other policy directories now.
        watched = settings::watched_paths(&source);
        seen = settings::fingerprint(&watched);
        let src = source.clone();
        let loaded = tokio::task::spawn_blocking(move || settings::load_runtime(&src)).await;
        match loaded {
            Ok(Ok(rt)) => {
                tracing::info!(
                    config = %rt.origin,
                    targets = rt.config.targets.len(),
                    policies = rt.policies.policies().len(),
                    "reloaded policies and targets"
                );
                svc.set_runtime(rt);
            }
            Ok(Err(problems)) => {
                svc.metrics.policy.reload_errors.inc();
                tracing::error!(
                    errors = %problems.join("; "),
                    "reload refused; keeping the running policies and targets"
                );
            }
            Err(e) => tracing::error!(error = %e, "reload task failed"),
        }
    }
}
