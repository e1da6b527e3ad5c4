//! What to poll: the `source`, `poll_interval` and `ignore` of every target environment in
//! `guardrail.yaml`, validated (every problem at once, naming the field). Pure: environment
//! variables in URLs and headers are expanded by the poller through [`expand`], with a lookup
//! it passes in.
//!
//! ```yaml
//! source: {file: live/production/lb-mail.cfg}            # relative to guardrail.yaml's directory
//! source: {http: "https://lb1.example.net/config"}
//! source:
//!   http: {url: "https://lb1.example.net/config", headers: {Authorization: "Bearer ${LB_TOKEN}"}}
//!   timeout: 10s                 # per fetch (default 10s)
//!   failures_before_alert: 3     # consecutive failures before `source_down` (default 3)
//!   resolve_after: 1m            # back at the baseline this long before a drift resolves
//! source: {command: ["/usr/local/bin/fetch-running-config", "core-sw-1"]}
//! ```

use std::time::Duration;

use serde::Deserialize;

use super::noise::NoiseFilter;
use crate::config::{Config, Target, TargetEnvironment};
use crate::document::Format;

pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_FAILURES_BEFORE_ALERT: u32 = 3;
/// The shortest poll interval accepted.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Where a live config is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A path, relative to the config file's directory unless absolute.
    File { path: String },
    /// `GET url` with headers; `${NAME}` in the URL and header values comes from the environment.
    Http {
        url: String,
        headers: Vec<(String, String)>,
    },
    /// A program and its arguments, run without a shell; its standard output is the config.
    Command { argv: Vec<String> },
}

impl Source {
    pub fn kind(&self) -> &'static str {
        match self {
            Source::File { .. } => "file",
            Source::Http { .. } => "http",
            Source::Command { .. } => "command",
        }
    }

    /// A description for logs and the API, without header values.
    pub fn describe(&self) -> String {
        match self {
            Source::File { path } => format!("file {path}"),
            Source::Http { url, .. } => format!("http {url}"),
            Source::Command { argv } => format!("command {}", argv.join(" ")),
        }
    }
}

/// One target environment to poll.
#[derive(Debug, Clone)]
pub struct Watch {
    pub target: String,
    pub env: String,
    pub kind: String,
    pub critical: bool,
    /// The target's declared format (`None`: detected from the content).
    pub format: Option<Format>,
    pub source: Source,
    pub interval: Duration,
    pub timeout: Duration,
    pub failures_before_alert: u32,
    /// How long the live config must stay back at the baseline before an open drift resolves,
    /// so a config that flaps stays one drift (default: two poll intervals).
    pub resolve_after: Duration,
    /// The target's own `ignore` patterns (validated).
    pub ignore: Vec<String>,
    /// The format defaults plus `ignore`, for the declared format.
    pub noise: NoiseFilter,
}

impl Watch {
    /// The noise filter for content read as `format` (the declared one is precompiled).
    pub fn noise_for(&self, format: Format) -> NoiseFilter {
        if self.format == Some(format) {
            return self.noise.clone();
        }
        // The patterns were validated when the config was loaded.
        NoiseFilter::new(Some(format), &self.ignore).unwrap_or_else(|_| NoiseFilter::none())
    }

    pub fn key(&self) -> (String, String) {
        (self.target.clone(), self.env.clone())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    http: Option<serde_json::Value>,
    #[serde(default)]
    command: Option<Vec<String>>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    failures_before_alert: Option<u32>,
    #[serde(default)]
    resolve_after: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpFull {
    url: String,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
}

fn duration(v: &str) -> Result<Duration, String> {
    crate::change::parse_duration(v)?
        .to_std()
        .map_err(|_| format!("`{v}` is negative"))
}

/// Every watched target environment of a config; every problem at once.
pub fn watches(config: &Config) -> Result<Vec<Watch>, Vec<String>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for t in &config.targets {
        for (env, te) in &t.environments {
            if let Some(w) = watch(t, env, te, &mut problems) {
                out.push(w);
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// The watch of one target environment: `None` when it has no `source`, or when something in
/// it is wrong (each problem is pushed to `problems`, naming the field).
fn watch(
    t: &Target,
    env: &str,
    te: &TargetEnvironment,
    problems: &mut Vec<String>,
) -> Option<Watch> {
    let field = format!("targets.{}.environments.{env}", t.name);
    let Some(raw) = &te.source else {
        if te.poll_interval.is_some() {
            problems.push(format!(
                "{field}.poll_interval: set without a `source` to poll (line {})",
                t.line
            ));
        }
        return None;
    };
    let before = problems.len();
    let mut problem = |p: String| problems.push(format!("{field}.{p} (line {})", t.line));
    let interval = poll_interval(te.poll_interval.as_deref(), &mut problem);
    let noise = match NoiseFilter::new(t.format, &te.ignore) {
        Ok(n) => n,
        Err(es) => {
            for e in es {
                problem(e);
            }
            NoiseFilter::none()
        }
    };
    let parsed = match serde_json::from_value::<RawSource>(raw.clone()) {
        Ok(r) => r,
        Err(e) => {
            problem(format!(
                "source: {e}; expected {{file: PATH}}, {{http: URL}}, {{http: {{url, headers}}}} or {{command: [PROGRAM, ARG, ...]}}"
            ));
            return None;
        }
    };
    let source = watch_source(parsed.file, parsed.http, parsed.command, &mut problem)?;
    let timeout = match &parsed.timeout {
        None => DEFAULT_TIMEOUT,
        Some(v) => duration(v).unwrap_or_else(|e| {
            problem(format!("source.timeout: {e}"));
            DEFAULT_TIMEOUT
        }),
    };
    let resolve_after = match &parsed.resolve_after {
        None => interval * 2,
        Some(v) => duration(v).unwrap_or_else(|e| {
            problem(format!("source.resolve_after: {e}"));
            interval * 2
        }),
    };
    let failures_before_alert = parsed
        .failures_before_alert
        .unwrap_or(DEFAULT_FAILURES_BEFORE_ALERT);
    if failures_before_alert == 0 {
        problem("source.failures_before_alert: must be at least 1".into());
    }
    if problems.len() > before {
        return None;
    }
    Some(Watch {
        target: t.name.clone(),
        env: env.to_string(),
        kind: t.kind.clone(),
        critical: t.critical,
        format: t.format,
        source,
        interval,
        timeout,
        failures_before_alert,
        resolve_after,
        ignore: te.ignore.clone(),
        noise,
    })
}

/// The `poll_interval` (the default when it is not set, or not a duration of at least
/// [`MIN_POLL_INTERVAL`]: a problem).
fn poll_interval(v: Option<&str>, problem: &mut impl FnMut(String)) -> Duration {
    match v {
        None => DEFAULT_POLL_INTERVAL,
        Some(v) => match duration(v) {
            Ok(d) if d >= MIN_POLL_INTERVAL => d,
            Ok(_) => {
                problem(format!("poll_interval: `{v}` is shorter than 100ms"));
                DEFAULT_POLL_INTERVAL
            }
            Err(e) => {
                problem(format!("poll_interval: {e}"));
                DEFAULT_POLL_INTERVAL
            }
        },
    }
}

/// The `source`: exactly one of `file`, `http` or `command`. `None` when it is none of them or
/// when an `http` source cannot be read (problems go to `problem`); other problems are reported
/// and the source returned, so the caller reports the rest of the environment's too.
fn watch_source(
    file: Option<String>,
    http: Option<serde_json::Value>,
    command: Option<Vec<String>>,
    problem: &mut impl FnMut(String),
) -> Option<Source> {
    let n = [file.is_some(), http.is_some(), command.is_some()]
        .iter()
        .filter(|x| **x)
        .count();
    if n != 1 {
        problem(format!(
            "source: needs exactly one of `file`, `http` or `command` (found {n})"
        ));
        return None;
    }
    if let Some(path) = file {
        if path.trim().is_empty() {
            problem("source.file: the path is empty".into());
        }
        Some(Source::File { path })
    } else if let Some(http) = http {
        http_source(http, problem)
    } else {
        let argv = command.unwrap_or_default();
        if argv.first().is_none_or(|p| p.trim().is_empty()) {
            problem("source.command: needs a program (the first element)".into());
        }
        Some(Source::Command { argv })
    }
}

/// An `http` source: a URL, or `{url, headers}`; `${NAME}` placeholders are checked, header
/// values are never quoted in problems (they may be secrets).
fn http_source(http: serde_json::Value, problem: &mut impl FnMut(String)) -> Option<Source> {
    let (url, headers) = match http {
        serde_json::Value::String(u) => (u, Default::default()),
        other => match serde_json::from_value::<RawHttpFull>(other) {
            Ok(f) => (f.url, f.headers),
            Err(e) => {
                problem(format!(
                    "source.http: {e}; expected a URL or {{url, headers}}"
                ));
                return None;
            }
        },
    };
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        problem(format!(
            "source.http.url: `{url}` must start with http:// or https://"
        ));
    }
    if let Err(e) = check_placeholders(&url) {
        problem(format!("source.http.url: {e}"));
    }
    for (k, v) in &headers {
        if k.is_empty() || !k.bytes().all(is_token_byte) {
            problem(format!("source.http.headers: `{k}` is not a header name"));
        }
        if let Err(e) = check_placeholders(v) {
            // The value may be a secret: name the header only.
            problem(format!("source.http.headers.{k}: {e}"));
        }
    }
    Some(Source::Http {
        url,
        headers: headers.into_iter().collect(),
    })
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_var_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Checks the `${NAME}` placeholders of a string.
fn check_placeholders(s: &str) -> Result<(), String> {
    expand(s, |_| Some(String::new())).map(|_| ())
}

/// Replaces every `${NAME}` with `lookup(NAME)`. A `$` not followed by `{` is kept. Errors name
/// the variable (never a value).
pub fn expand(s: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            return Err("`${` without a closing `}`".into());
        };
        let name = &after[..end];
        if !is_var_name(name) {
            return Err(format!("`${{{name}}}` is not a variable name"));
        }
        match lookup(name) {
            Some(v) => out.push_str(&v),
            None => return Err(format!("environment variable {name} is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(envs: &str) -> Config {
        Config::parse(&format!(
            "targets:\n  - name: lb\n    kind: load_balancer\n    format: ios\n    environments:\n{envs}"
        ))
        .unwrap()
    }

    #[test]
    fn the_three_kinds_of_source() {
        let c = config(
            "      staging:\n        source: {file: live/lb.cfg}\n      production:\n        source:\n          http: {url: \"https://lb/config?t=${TOKEN}\", headers: {Authorization: \"Bearer ${LB_TOKEN}\"}}\n          timeout: 3s\n        poll_interval: 30s\n        ignore: ['^! serial']\n      lab:\n        source: {command: [/bin/cat, x]}\n",
        );
        let w = watches(&c).unwrap();
        assert_eq!(w.len(), 3);
        let lab = &w[0];
        assert_eq!(lab.env, "lab");
        assert_eq!(
            lab.source,
            Source::Command {
                argv: vec!["/bin/cat".into(), "x".into()]
            }
        );
        assert_eq!(lab.interval, DEFAULT_POLL_INTERVAL);
        assert_eq!(lab.resolve_after, DEFAULT_POLL_INTERVAL * 2);
        let prod = &w[1];
        assert_eq!(prod.interval, Duration::from_secs(30));
        assert_eq!(prod.timeout, Duration::from_secs(3));
        assert!(prod.noise.patterns().iter().any(|p| p == "^! serial"));
        assert!(
            matches!(&prod.source, Source::Http { headers, .. } if headers[0].0 == "Authorization")
        );
        assert_eq!(
            w[2].source,
            Source::File {
                path: "live/lb.cfg".into()
            }
        );
    }

    #[test]
    fn every_source_problem_is_reported() {
        let c = config(
            "      a:\n        source: {file: x, http: \"http://y\"}\n      b:\n        source: {http: \"ftp://x\"}\n      c:\n        source: {command: []}\n        poll_interval: 10ms\n      d:\n        source: {file: x}\n        ignore: ['(']\n      e:\n        poll_interval: 1m\n      f:\n        source: {fil: x}\n      g:\n        source: {http: {urll: x}}\n",
        );
        let e = watches(&c).unwrap_err();
        let joined = e.join("\n");
        for want in [
            "environments.a.source: needs exactly one",
            "environments.b.source.http.url: `ftp://x`",
            "environments.c.poll_interval: `10ms` is shorter",
            "environments.c.source.command: needs a program",
            "environments.d.ignore[0]",
            "environments.e.poll_interval: set without a `source`",
            "environments.f.source: unknown field `fil`",
            "environments.g.source.http: unknown field `urll`",
        ] {
            assert!(joined.contains(want), "missing {want:?} in\n{joined}");
        }
    }

    #[test]
    fn placeholders_expand_from_the_lookup() {
        let look = |n: &str| (n == "T").then(|| "s3cret".to_string());
        assert_eq!(expand("Bearer ${T}", look).unwrap(), "Bearer s3cret");
        assert_eq!(expand("$5 ${T}$", look).unwrap(), "$5 s3cret$");
        let e = expand("${NOPE}", look).unwrap_err();
        assert!(e.contains("NOPE") && !e.contains("s3cret"), "{e}");
        assert!(expand("${T", look).is_err());
        assert!(expand("${1x}", look).is_err());
    }
}
