//! Drift polling at scale: `guardrail serve` (the real binary) polls N targets (default 1,000)
//! served by a loopback HTTP server in this process, every `--interval` (default 30s), and the
//! daemon's CPU time and memory are read from /proc over a steady-state window.
//!
//! ```text
//! cargo bench --bench drift_poll -- --bench [--targets 1000] [--interval 30s] [--duration 90s]
//! ```
//!
//! Reports the daemon's CPU share of one core (steady state, after every target's first
//! contact), peak and current RSS, and the polls the server answered. With a shorter interval
//! the CPU share is also extrapolated linearly to 30 s (CPU per poll × polls per second).
//! Without `--bench` (as under `cargo test --all-targets`) it runs a small smoke version.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_guardrail");

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn duration(name: &str, default: Duration) -> Duration {
    arg(name)
        .map(|v| humantime::parse_duration(&v).expect("a duration like 30s"))
        .unwrap_or(default)
}

/// One target's live config: a small HAProxy load balancer (about 1 KB).
fn config(i: usize) -> String {
    let mut s = format!(
        "global\n    maxconn 2000\n    log 127.0.0.1 local0\n\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\nfrontend fe_{i}\n    bind :80\n    default_backend be_{i}\n\nbackend be_{i}\n    balance roundrobin\n    option httpchk GET /health\n"
    );
    for s_ in 1..=8 {
        s.push_str(&format!(
            "    server app{s_} 10.{}.{}.{s_}:8080 check inter 2s weight 10\n",
            i / 250,
            i % 250
        ));
    }
    s
}

/// (utime + stime) in clock ticks; VmRSS, VmHWM, RssAnon, RssFile in KiB.
fn proc_all(pid: u32) -> (u64, [u64; 4]) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may contain spaces) start after ") ".
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (
        ticks,
        [
            kib("VmRSS:"),
            kib("VmHWM:"),
            kib("RssAnon:"),
            kib("RssFile:"),
        ],
    )
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Serves `/t/{i}` on loopback from its own thread; counts the requests.
fn serve(n: usize, hits: Arc<AtomicU64>) -> u16 {
    let configs: Arc<Vec<String>> = Arc::new((0..n).map(config).collect());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/t/{i}",
                axum::routing::get(move |axum::extract::Path(i): axum::extract::Path<usize>| {
                    let configs = configs.clone();
                    let hits = hits.clone();
                    async move {
                        hits.fetch_add(1, Ordering::Relaxed);
                        configs.get(i).cloned().unwrap_or_default()
                    }
                }),
            );
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    port
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n: usize = arg("--targets")
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(if full { 1000 } else { 20 });
    let interval = duration(
        "--interval",
        if full {
            Duration::from_secs(30)
        } else {
            Duration::from_secs(1)
        },
    );
    let window = duration("--duration", interval * 3);

    let hits = Arc::new(AtomicU64::new(0));
    let port = serve(n, hits.clone());
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = String::from("targets:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "  - name: lb-{i}\n    kind: load_balancer\n    format: haproxy\n    environments:\n      production:\n        source: {{http: \"http://127.0.0.1:{port}/t/{i}\"}}\n        poll_interval: {}\n",
            humantime::format_duration(interval)
        ));
    }
    let cfg = dir.path().join("guardrail.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    let daemon_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let mut child = Command::new(BIN)
        .arg("serve")
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{daemon_port}"))
        .env("GUARDRAIL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let pid = child.id();
    let url = format!("http://127.0.0.1:{daemon_port}");
    let started = Instant::now();
    let up = |metrics: &str| {
        metrics
            .lines()
            .filter(|l| l.starts_with("guardrail_source_up{") && l.ends_with(" 1"))
            .count()
    };
    // Warm-up: every target's first poll (first contact, a baseline each).
    loop {
        let m = reqwest::blocking::get(format!("{url}/metrics"))
            .and_then(|r| r.text())
            .unwrap_or_default();
        if up(&m) >= n {
            break;
        }
        if let Ok(Some(s)) = child.try_wait() {
            panic!(
                "daemon exited with {s}: {}",
                std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default()
            );
        }
        assert!(
            started.elapsed() < interval * 3 + Duration::from_secs(60),
            "not every source came up: {}",
            std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let warm = started.elapsed();
    let (t0, _) = proc_all(pid);
    let h0 = hits.load(Ordering::Relaxed);
    let w0 = Instant::now();
    std::thread::sleep(window);
    let (t1, [rss, hwm, anon, file]) = proc_all(pid);
    let polls = hits.load(Ordering::Relaxed) - h0;
    let wall = w0.elapsed().as_secs_f64();
    let cpu = (t1 - t0) as f64 / clock_ticks();
    let share = cpu / wall;
    let per_poll_ms = if polls > 0 {
        cpu * 1000.0 / polls as f64
    } else {
        0.0
    };
    let _ = child.kill();
    let _ = child.wait();
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "drift polling: {n} targets over loopback HTTP, poll_interval {}, {profile} build",
        humantime::format_duration(interval)
    );
    println!(
        "  first contact of every target: {:.1} s",
        warm.as_secs_f64()
    );
    println!(
        "  steady state over {wall:.0} s: {polls} polls ({:.1}/s), daemon CPU {cpu:.2} s = {:.2}% of one core, {per_poll_ms:.3} ms CPU per poll",
        polls as f64 / wall,
        share * 100.0
    );
    if interval != Duration::from_secs(30) {
        let at30 = per_poll_ms / 1000.0 * n as f64 / 30.0;
        println!(
            "  extrapolated to poll_interval 30s: {:.1} polls/s, {:.2}% of one core",
            n as f64 / 30.0,
            at30 * 100.0
        );
    }
    println!(
        "  daemon RSS: {:.1} MiB now ({:.1} MiB heap and stacks, {:.1} MiB mapped binary and libraries), {:.1} MiB peak",
        rss as f64 / 1024.0,
        anon as f64 / 1024.0,
        file as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    if !full {
        assert!(polls > 0, "the smoke run saw no polls");
    }
}
