//! Start-up configuration of `guardrail serve`: the daemon settings (listen address, data
//! directory, log format, body limit) layered with the `config` crate — defaults, then the
//! `server:` section of guardrail.yaml, then `GUARDRAIL_*` environment variables, then flags —
//! and the runtime (targets, environments, policies, waivers, tokens) loaded from files or from
//! the embedded defaults. Every problem is collected and reported at once, before anything
//! binds.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Deserialize;

use crate::service::Runtime;
use guardrail_core::config::Config;
use guardrail_core::project::{ConfigFile, Flags, Project};
/// Where the runtime comes from; the embedded guardrail.yaml when none is given.
pub use guardrail_core::project::{ConfigSource, EMBEDDED_CONFIG};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8437";
pub const DEFAULT_DATA_DIR: &str = "./guardrail-data";
/// Largest request body: a change carries whole configs (the parsers accept up to 64 MiB per
/// file; 32 MiB per request is plenty for a batch of real configs).
pub const DEFAULT_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// The `server:` keys guardrail.yaml may carry (typos are errors).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ServerSection {
    listen: Option<String>,
    data_dir: Option<String>,
    store: Option<String>,
    leader_lease: Option<String>,
    log_format: Option<String>,
    body_limit: Option<usize>,
    tokens: Option<serde_json::Value>,
    retro_due: Option<String>,
    sweep_interval: Option<String>,
    audit_key_file: Option<String>,
    audit_head_interval: Option<String>,
    max_change_bytes: Option<usize>,
    max_diff_entries: Option<usize>,
    max_concurrent_evaluations: Option<usize>,
    evaluation_queue: Option<usize>,
    rate_limit: Option<serde_json::Value>,
    rate_burst: Option<u32>,
    shutdown_delay: Option<String>,
    public_url: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    session_ttl: Option<String>,
    sso: Option<SsoSettings>,
}

/// `server.sso`: users named by an authenticating proxy (oauth2-proxy's `X-Forwarded-User` and
/// `X-Forwarded-Groups`), believed only from `server.trusted_proxies`; each group the proxy
/// names gives the roles listed for it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoSettings {
    #[serde(default)]
    pub group_roles: Vec<GroupRoles>,
}

/// One group of the authenticating proxy and the roles its members get.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRoles {
    pub group: String,
    pub roles: Vec<String>,
}

/// The merged daemon settings.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub listen: String,
    pub data_dir: PathBuf,
    /// The store's URL (default: the SQLite file in the data directory).
    #[serde(default)]
    pub store: Option<String>,
    /// How long a leader that stopped answering keeps the singleton work from the others.
    pub leader_lease: String,
    pub log_format: String,
    pub body_limit: usize,
    pub sweep_interval: String,
    /// The audit key (default `audit.key` in the data directory).
    #[serde(default)]
    pub audit_key_file: Option<PathBuf>,
    /// How often the audit head is logged even when it did not move.
    pub audit_head_interval: String,
    pub max_change_bytes: usize,
    pub max_diff_entries: usize,
    pub max_concurrent_evaluations: usize,
    pub evaluation_queue: usize,
    /// Requests per token: `50/s`, `600/min`, `0` (off).
    pub rate_limit: String,
    /// Requests a token may send at once above the rate (default twice the rate's count).
    #[serde(default)]
    pub rate_burst: Option<u32>,
    /// How long `/readyz` answers 503 after SIGTERM before the listener closes.
    pub shutdown_delay: String,
    /// The address people reach the daemon at (`https://guardrail.example.com`): links in alerts
    /// and the web UI's secure cookies.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Addresses or networks (`10.0.0.0/8`, `127.0.0.1`) of the authenticating proxy whose
    /// `X-Forwarded-User`/`X-Forwarded-Groups`/`X-Forwarded-Proto` headers are believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// How long a web UI sign-in lasts.
    pub session_ttl: String,
    #[serde(default)]
    pub sso: SsoSettings,
}

/// A per-token rate: requests per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: std::time::Duration,
}

/// Parses `50/s`, `600/min`, `1000/h` (`0` or `off`: no limit).
pub fn parse_rate(s: &str) -> Result<Option<Rate>, String> {
    let t = s.trim();
    if t == "0" || t.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let (n, unit) = t
        .split_once('/')
        .ok_or_else(|| format!("`{s}`: expected a rate like 50/s, 600/min or 0 (off)"))?;
    let count: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{s}`: `{n}` is not a whole number of requests"))?;
    let per = match unit.trim() {
        "s" | "sec" | "second" => std::time::Duration::from_secs(1),
        "m" | "min" | "minute" => std::time::Duration::from_secs(60),
        "h" | "hour" => std::time::Duration::from_secs(3600),
        u => return Err(format!("`{s}`: unknown unit `{u}`; expected s, min or h")),
    };
    if count == 0 {
        return Ok(None);
    }
    Ok(Some(Rate { count, per }))
}

/// Flags of `guardrail serve` that override everything.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub store: Option<String>,
    pub log_format: Option<String>,
}

/// Builds the daemon settings from defaults, the config's `server:` section, `GUARDRAIL_*`
/// environment variables and flags, in that order of precedence (last wins).
pub fn server_settings(config: &Config, flags: &Overrides) -> Result<ServerSettings, Vec<String>> {
    let mut problems = Vec::new();
    let section = config.server.clone().unwrap_or(serde_json::json!({}));
    if let Err(e) = serde_json::from_value::<ServerSection>(section.clone()) {
        problems.push(format!("server: {e}"));
    }
    // The section minus keys that are not settings (tokens are read by the runtime).
    let mut plain = section.as_object().cloned().unwrap_or_default();
    plain.remove("tokens");
    plain.remove("retro_due");
    // A rate may be written as a bare number (requests per second).
    if let Some(v) = plain.get_mut("rate_limit")
        && let Some(n) = v.as_u64()
    {
        *v = serde_json::Value::String(format!("{n}/s"));
    }
    let built = config::Config::builder()
        .set_default("listen", DEFAULT_LISTEN)
        .and_then(|b| b.set_default("data_dir", DEFAULT_DATA_DIR))
        .and_then(|b| b.set_default("log_format", "text"))
        .and_then(|b| b.set_default("body_limit", DEFAULT_BODY_LIMIT as i64))
        .and_then(|b| b.set_default("sweep_interval", "30s"))
        .and_then(|b| b.set_default("audit_head_interval", "15m"))
        .and_then(|b| {
            b.set_default(
                "max_change_bytes",
                crate::service::limits::DEFAULT_MAX_CHANGE_BYTES as i64,
            )
        })
        .and_then(|b| {
            b.set_default(
                "max_diff_entries",
                crate::service::limits::DEFAULT_MAX_DIFF_ENTRIES as i64,
            )
        })
        .and_then(|b| {
            b.set_default(
                "max_concurrent_evaluations",
                crate::service::limits::default_concurrency() as i64,
            )
        })
        .and_then(|b| b.set_default("evaluation_queue", 32))
        .and_then(|b| b.set_default("rate_limit", "50/s"))
        .and_then(|b| b.set_default("shutdown_delay", "1s"))
        .and_then(|b| b.set_default("leader_lease", "15s"))
        .and_then(|b| b.set_default("session_ttl", "12h"))
        .map(|b| {
            // JSON is YAML: the section is handed over as text.
            b.add_source(config::File::from_str(
                &serde_json::Value::Object(plain).to_string(),
                config::FileFormat::Yaml,
            ))
            .add_source(
                config::Environment::with_prefix("GUARDRAIL")
                    .try_parsing(true)
                    .ignore_empty(true),
            )
        })
        .and_then(|b| b.set_override_option("listen", flags.listen.clone()))
        .and_then(|b| {
            b.set_override_option(
                "data_dir",
                flags.data_dir.as_ref().map(|p| p.display().to_string()),
            )
        })
        .and_then(|b| b.set_override_option("store", flags.store.clone()))
        .and_then(|b| b.set_override_option("log_format", flags.log_format.clone()))
        .and_then(|b| b.build());
    let settings = match built.and_then(|c| c.try_deserialize::<ServerSettings>()) {
        Ok(s) => Some(s),
        Err(e) => {
            problems.push(format!("server settings: {e}"));
            None
        }
    };
    if let Some(s) = &settings {
        if s.listen.parse::<std::net::SocketAddr>().is_err() {
            problems.push(format!(
                "server.listen: `{}` is not an address like 127.0.0.1:8437",
                s.listen
            ));
        }
        if let Some(url) = &s.store
            && let Err(e) = guardrail_store::StoreUrl::parse(url)
        {
            problems.push(format!("server.store: {e}"));
        }
        match guardrail_core::change::parse_duration(&s.leader_lease) {
            Ok(d) if d >= chrono::Duration::seconds(3) => {}
            _ => problems.push(format!(
                "server.leader_lease: `{}`; expected a duration of at least 3s, such as 15s",
                s.leader_lease
            )),
        }
        if !matches!(s.log_format.as_str(), "text" | "json") {
            problems.push(format!(
                "server.log_format: `{}`; expected text or json",
                s.log_format
            ));
        }
        if let Err(e) = guardrail_core::change::parse_duration(&s.sweep_interval) {
            problems.push(format!("server.sweep_interval: {e}"));
        }
        match guardrail_core::change::parse_duration(&s.audit_head_interval) {
            Ok(d) if d > chrono::Duration::zero() => {}
            Ok(_) => problems.push("server.audit_head_interval: must be positive".into()),
            Err(e) => problems.push(format!("server.audit_head_interval: {e}")),
        }
        if let Err(e) = guardrail_core::change::parse_duration(&s.shutdown_delay) {
            problems.push(format!("server.shutdown_delay: {e}"));
        }
        if let Err(e) = parse_rate(&s.rate_limit) {
            problems.push(format!("server.rate_limit: {e}"));
        }
        if s.rate_burst == Some(0) {
            problems.push("server.rate_burst: must be at least 1".into());
        }
        if let Some(url) = &s.public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            problems.push(format!(
                "server.public_url: `{url}`; expected an http:// or https:// address such as https://guardrail.example.com"
            ));
        }
        for (i, p) in s.trusted_proxies.iter().enumerate() {
            if parse_network(p).is_none() {
                problems.push(format!(
                    "server.trusted_proxies[{i}]: `{p}` is not an address or a network like 10.0.0.0/8"
                ));
            }
        }
        match guardrail_core::change::parse_duration(&s.session_ttl) {
            Ok(d) if d >= chrono::Duration::minutes(1) => {}
            _ => problems.push(format!(
                "server.session_ttl: `{}`; expected a duration of at least 1m, such as 12h",
                s.session_ttl
            )),
        }
        for (i, g) in s.sso.group_roles.iter().enumerate() {
            for r in &g.roles {
                if guardrail_store::Role::from_name(r).is_none() {
                    let names = guardrail_store::Role::ALL.map(|r| r.name());
                    problems.push(format!(
                        "server.sso.group_roles[{i}].roles: {}",
                        guardrail_core::document::names::unknown_name("role", r, names)
                    ));
                }
            }
        }
        if s.max_change_bytes == 0 {
            problems.push("server.max_change_bytes: must be positive".into());
        }
        if s.max_diff_entries == 0 {
            problems.push("server.max_diff_entries: must be positive".into());
        }
        if s.max_concurrent_evaluations == 0 {
            problems.push("server.max_concurrent_evaluations: must be at least 1".into());
        }
    }
    match settings {
        Some(s) if problems.is_empty() => Ok(s),
        _ => Err(problems),
    }
}

/// Loads everything the daemon runs on (the project, then what only the daemon reads); every
/// problem at once.
pub fn load_runtime(src: &ConfigSource) -> Result<Runtime, Vec<String>> {
    runtime_of(src.read().map_err(|e| e.lines)?, src)
}

/// [`load_runtime`] of a guardrail.yaml already read from `src`.
pub fn runtime_of(file: ConfigFile, src: &ConfigSource) -> Result<Runtime, Vec<String>> {
    let project = Project::load(Some(file), &Flags::default()).map_err(|e| e.lines)?;
    for w in &project.warnings {
        tracing::warn!(warning = %w, "policy warning");
    }
    Runtime::new(project).map_err(|ps| {
        ps.into_iter()
            .map(|p| format!("{}: {p}", src.describe()))
            .collect()
    })
}

/// The files and directories a reload depends on: the config file, the waiver file and the
/// policy directories. Parsing the config to find them happens only when this is called (at
/// start and after each reload), not on every check.
pub fn watched_paths(src: &ConfigSource) -> Vec<PathBuf> {
    Project::watched_paths(src)
}

/// A cheap fingerprint of `paths` (sizes and mtimes; directories walked, so an added, removed or
/// edited policy file shows), to notice edits without a file-watching dependency.
pub fn fingerprint(paths: &[PathBuf]) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    fn walk(p: &Path, out: &mut Vec<(PathBuf, u64, Option<SystemTime>)>) {
        let meta = std::fs::metadata(p).ok();
        out.push((
            p.to_path_buf(),
            meta.as_ref().map(|m| m.len()).unwrap_or(0),
            meta.as_ref().and_then(|m| m.modified().ok()),
        ));
        if meta.is_some_and(|m| m.is_dir())
            && let Ok(rd) = std::fs::read_dir(p)
        {
            let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
            entries.sort();
            for e in entries {
                walk(&e, out);
            }
        }
    }
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out);
    }
    out
}

/// An address (`127.0.0.1`, `::1`) or a network (`10.0.0.0/8`).
pub fn parse_network(s: &str) -> Option<ipnet::IpNet> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

impl ServerSettings {
    /// Where the store is: `server.store`, else the data directory's SQLite file.
    pub fn store_url(&self) -> Result<guardrail_store::StoreUrl, String> {
        match &self.store {
            Some(u) => guardrail_store::StoreUrl::parse(u),
            None => Ok(guardrail_store::StoreUrl::in_data_dir(&self.data_dir)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_their_unit_and_zero_is_off() {
        let r = parse_rate("50/s").unwrap().unwrap();
        assert_eq!((r.count, r.per.as_secs()), (50, 1));
        let r = parse_rate("600/min").unwrap().unwrap();
        assert_eq!((r.count, r.per.as_secs()), (600, 60));
        assert_eq!(parse_rate("0").unwrap(), None);
        assert_eq!(parse_rate("off").unwrap(), None);
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("5/week").is_err());
    }
}
