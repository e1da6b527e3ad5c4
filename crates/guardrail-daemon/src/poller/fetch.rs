//! Reading a live config from its source. Errors say what failed and where, never a header
//! value, an expanded URL (it may carry a token) or the content.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::service::drift::{FailureKind, Fetched, SourceFailure};
use guardrail_core::drift::{Source, Watch, expand};

/// The largest live config accepted (the parsers' own limit).
pub const MAX_BYTES: usize = 64 * 1024 * 1024;

fn fail(kind: FailureKind, message: impl Into<String>) -> Fetched {
    Fetched::Failed(SourceFailure {
        kind,
        message: message.into(),
    })
}

/// Fetches `w`'s live config within its timeout.
pub async fn fetch(client: &reqwest::Client, w: &Watch, root: Option<&Path>) -> Fetched {
    let timeout = w.timeout;
    let work = async {
        match &w.source {
            Source::File { path } => file(path, root).await,
            Source::Http { url, headers } => http(client, url, headers).await,
            Source::Command { argv } => command(argv, root, timeout).await,
        }
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(f) => f,
        Err(_) => fail(
            FailureKind::Timeout,
            format!(
                "{} did not answer within {}",
                w.source.describe(),
                humantime::format_duration(timeout)
            ),
        ),
    }
}

async fn file(path: &str, root: Option<&Path>) -> Fetched {
    let p = Path::new(path);
    let full = match root {
        Some(r) if p.is_relative() => r.join(p),
        _ => p.to_path_buf(),
    };
    match tokio::fs::File::open(&full).await {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fail(
            FailureKind::Missing,
            format!("{}: the file does not exist", full.display()),
        ),
        Err(e) => fail(FailureKind::Unreachable, format!("{}: {e}", full.display())),
        Ok(f) => {
            let mut buf = Vec::new();
            match f.take(MAX_BYTES as u64 + 1).read_to_end(&mut buf).await {
                Err(e) => fail(FailureKind::Unreachable, format!("{}: {e}", full.display())),
                Ok(_) if buf.len() > MAX_BYTES => fail(
                    FailureKind::Unparsable,
                    format!("{}: larger than 64 MiB", full.display()),
                ),
                Ok(_) => Fetched::Content(buf),
            }
        }
    }
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

async fn http(client: &reqwest::Client, url: &str, headers: &[(String, String)]) -> Fetched {
    let full = match expand(url, env_lookup) {
        Ok(u) => u,
        Err(e) => return fail(FailureKind::Unreachable, format!("{url}: {e}")),
    };
    let mut req = client.get(&full);
    for (k, v) in headers {
        match expand(v, env_lookup) {
            Ok(v) => req = req.header(k.as_str(), v),
            Err(e) => {
                return fail(FailureKind::Unreachable, format!("{url}: header {k}: {e}"));
            }
        }
    }
    let mut resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            let kind = if e.is_timeout() {
                FailureKind::Timeout
            } else {
                FailureKind::Unreachable
            };
            return fail(kind, format!("{url}: {}", e.without_url()));
        }
    };
    let status = resp.status();
    if status.as_u16() == 404 || status.as_u16() == 410 {
        return fail(
            FailureKind::Missing,
            format!("{url}: HTTP {status}: the config is gone"),
        );
    }
    if !status.is_success() {
        return fail(FailureKind::HttpStatus, format!("{url}: HTTP {status}"));
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if body.len() + c.len() > MAX_BYTES {
                    return fail(
                        FailureKind::Unparsable,
                        format!("{url}: larger than 64 MiB"),
                    );
                }
                body.extend_from_slice(&c);
            }
            Ok(None) => return Fetched::Content(body),
            Err(e) => {
                return fail(
                    FailureKind::Unreachable,
                    format!("{url}: {}", e.without_url()),
                );
            }
        }
    }
}

async fn command(argv: &[String], root: Option<&Path>, timeout: Duration) -> Fetched {
    let Some((program, args)) = argv.split_first() else {
        return fail(FailureKind::CommandFailed, "empty command");
    };
    let shown = argv.join(" ");
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group, so a timeout kills what it started too.
        .process_group(0);
    if let Some(r) = root {
        cmd.current_dir(r);
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let kind = if e.kind() == std::io::ErrorKind::NotFound {
                FailureKind::Missing
            } else {
                FailureKind::CommandFailed
            };
            return fail(kind, format!("{shown}: cannot start: {e}"));
        }
    };
    let pid = child.id();
    // Leave a moment of the overall timeout to kill the group and report.
    let budget = timeout
        .saturating_sub(Duration::from_millis(50))
        .max(Duration::from_millis(10));
    match tokio::time::timeout(budget, child.wait_with_output()).await {
        Err(_) => {
            if let Some(pid) = pid {
                kill_group(pid).await;
            }
            fail(
                FailureKind::Timeout,
                format!(
                    "{shown}: killed after {}",
                    humantime::format_duration(timeout)
                ),
            )
        }
        Ok(Err(e)) => fail(FailureKind::CommandFailed, format!("{shown}: {e}")),
        Ok(Ok(out)) if !out.status.success() => {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            let last: String = last.chars().take(200).collect();
            fail(
                FailureKind::CommandFailed,
                format!(
                    "{shown}: {}{}",
                    out.status,
                    if last.is_empty() {
                        String::new()
                    } else {
                        format!(": {last}")
                    }
                ),
            )
        }
        Ok(Ok(out)) if out.stdout.len() > super::fetch::MAX_BYTES => fail(
            FailureKind::Unparsable,
            format!("{shown}: output larger than 64 MiB"),
        ),
        Ok(Ok(out)) => Fetched::Content(out.stdout),
    }
}

/// Kills a process group (the child was started as its leader). Without `unsafe` there is no
/// `kill(2)` here, so `kill` the program does it; the child itself is killed on drop anyway.
async fn kill_group(pid: u32) {
    let _ = tokio::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}
