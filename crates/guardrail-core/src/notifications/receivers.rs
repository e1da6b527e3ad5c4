//! The `notifications:` receivers of `guardrail.yaml`, validated (every problem at once,
//! naming the field). Pure: secrets are named by environment variable (`secret_env`,
//! `url_env`) and read by the delivery loop, never stored here.
//!
//! ```yaml
//! notifications:
//!   - name: oncall
//!     alertmanager: {url: "http://127.0.0.1:9093"}
//!   - name: audit-hook
//!     webhook: {url: "https://hooks.example.net/guardrail", secret_env: GUARDRAIL_HOOK_SECRET}
//!     events: [unstaged_push, source_down]      # default: every event
//!     environments: [production]                # default: every environment
//!   - name: chat
//!     slack: {url_env: SLACK_WEBHOOK_URL}
//!     backoff_max: 5m                           # longest wait between retries (default 5m)
//!     give_up_after: 24h                        # undelivered this long: abandoned (default 24h)
//!     timeout: 10s                              # per request (default 10s)
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::event::{Event, EventKind};

pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(300);
pub const DEFAULT_GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a URL comes from: written in the config, or read from an environment variable (a Slack
/// webhook URL is itself a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlSource {
    Literal(String),
    Env(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiverKind {
    /// Alertmanager v2: `POST {url}/api/v2/alerts`.
    Alertmanager { url: UrlSource },
    /// JSON, signed: `X-Guardrail-Signature: sha256=<hex HMAC-SHA256 of the body>`.
    Webhook {
        url: UrlSource,
        secret_env: String,
        headers: Vec<(String, String)>,
    },
    /// A Slack-compatible incoming webhook (`{"text": ...}`).
    Slack { url: UrlSource },
}

impl ReceiverKind {
    pub fn name(&self) -> &'static str {
        match self {
            ReceiverKind::Alertmanager { .. } => "alertmanager",
            ReceiverKind::Webhook { .. } => "webhook",
            ReceiverKind::Slack { .. } => "slack",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receiver {
    pub name: String,
    pub kind: ReceiverKind,
    /// `None`: every event.
    pub events: Option<Vec<EventKind>>,
    /// `None`: every environment (events without an environment always pass).
    pub environments: Option<Vec<String>>,
    pub backoff_max: Duration,
    pub give_up_after: Duration,
    pub timeout: Duration,
}

impl Receiver {
    /// Whether this receiver gets `e` (a resolve follows its event's routing).
    pub fn routes(&self, e: &Event) -> bool {
        let kind_ok = self.events.as_ref().is_none_or(|l| l.contains(&e.event));
        let env_ok = match (&self.environments, &e.env) {
            (Some(list), Some(env)) => list.contains(env),
            _ => true,
        };
        kind_ok && env_ok
    }
}

/// Every receiver of the config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receivers {
    pub list: Vec<Receiver>,
}

impl Receivers {
    pub fn get(&self, name: &str) -> Option<&Receiver> {
        self.list.iter().find(|r| r.name == name)
    }

    /// The receivers that get `e`.
    pub fn route<'a>(&'a self, e: &'a Event) -> impl Iterator<Item = &'a Receiver> + 'a {
        self.list.iter().filter(move |r| r.routes(e))
    }

    /// Validates `notifications:`. `environments` are the config's declared environments.
    pub fn from_config(
        raw: &[serde_json::Value],
        environments: &[String],
    ) -> Result<Receivers, Vec<String>> {
        let mut problems = Vec::new();
        let mut list: Vec<Receiver> = Vec::new();
        for (i, v) in raw.iter().enumerate() {
            let at = match v.get("name").and_then(|n| n.as_str()) {
                Some(n) => format!("notifications[{i}] ({n})"),
                None => format!("notifications[{i}]"),
            };
            match receiver(v, environments) {
                Ok(r) => {
                    if list.iter().any(|x| x.name == r.name) {
                        problems.push(format!("{at}.name: `{}` is used twice", r.name));
                    }
                    list.push(r);
                }
                Err(es) => problems.extend(es.into_iter().map(|e| format!("{at}.{e}"))),
            }
        }
        if problems.is_empty() {
            Ok(Receivers { list })
        } else {
            Err(problems)
        }
    }

    /// The environment variables the receivers read (to check at start).
    pub fn env_vars(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for r in &self.list {
            let url = match &r.kind {
                ReceiverKind::Alertmanager { url } | ReceiverKind::Slack { url } => url,
                ReceiverKind::Webhook {
                    url, secret_env, ..
                } => {
                    out.push((r.name.clone(), secret_env.clone()));
                    url
                }
            };
            if let UrlSource::Env(v) = url {
                out.push((r.name.clone(), v.clone()));
            }
        }
        out
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReceiver {
    name: String,
    #[serde(default)]
    alertmanager: Option<RawUrl>,
    #[serde(default)]
    webhook: Option<RawWebhook>,
    #[serde(default)]
    slack: Option<RawUrl>,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    environments: Option<Vec<String>>,
    #[serde(default)]
    backoff_max: Option<String>,
    #[serde(default)]
    give_up_after: Option<String>,
    #[serde(default)]
    timeout: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUrl {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    url_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    url_env: Option<String>,
    secret_env: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

fn url_source(
    field: &str,
    url: Option<String>,
    url_env: Option<String>,
    problems: &mut Vec<String>,
) -> UrlSource {
    match (url, url_env) {
        (Some(u), None) => {
            let lower = u.to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                problems.push(format!(
                    "{field}.url: `{u}` must start with http:// or https://"
                ));
            }
            UrlSource::Literal(u)
        }
        (None, Some(v)) => {
            if !is_env_name(&v) {
                problems.push(format!(
                    "{field}.url_env: `{v}` is not an environment variable name"
                ));
            }
            UrlSource::Env(v)
        }
        _ => {
            problems.push(format!("{field}: needs exactly one of `url` or `url_env`"));
            UrlSource::Literal(String::new())
        }
    }
}

fn is_env_name(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn duration(
    field: &str,
    v: &Option<String>,
    default: Duration,
    problems: &mut Vec<String>,
) -> Duration {
    let Some(v) = v else { return default };
    match crate::change::parse_duration(v).map(|d| d.to_std()) {
        Ok(Ok(d)) if !d.is_zero() => d,
        Ok(_) => {
            problems.push(format!("{field}: `{v}` must be longer than zero"));
            default
        }
        Err(e) => {
            problems.push(format!("{field}: {e}"));
            default
        }
    }
}

/// A webhook receiver: its secret's variable and header names checked.
fn webhook(w: RawWebhook, problems: &mut Vec<String>) -> ReceiverKind {
    if !is_env_name(&w.secret_env) {
        problems.push(format!(
            "webhook.secret_env: `{}` is not an environment variable name",
            w.secret_env
        ));
    }
    for k in w.headers.keys() {
        if k.is_empty()
            || !k
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            problems.push(format!("webhook.headers: `{k}` is not a header name"));
        }
    }
    ReceiverKind::Webhook {
        url: url_source("webhook", w.url, w.url_env, problems),
        secret_env: w.secret_env,
        headers: w.headers.into_iter().collect(),
    }
}

/// The events a receiver takes; each unknown name is a problem.
fn event_kinds(list: &[String], problems: &mut Vec<String>) -> Vec<EventKind> {
    list.iter()
        .filter_map(|e| {
            let k = EventKind::from_name(e);
            if k.is_none() {
                problems.push(format!(
                    "events: unknown event `{e}`; expected one of {}",
                    EventKind::ALL.map(|k| k.name()).join(", ")
                ));
            }
            k
        })
        .collect()
}

fn receiver(v: &serde_json::Value, environments: &[String]) -> Result<Receiver, Vec<String>> {
    let raw: RawReceiver =
        serde_json::from_value(v.clone()).map_err(|e| {
            vec![format!(
            "{e}; expected {{name, alertmanager|webhook|slack: {{url}}, events, environments}}"
        )
        .trim_start_matches('.')
        .to_string()]
        })?;
    let mut problems = Vec::new();
    if raw.name.trim().is_empty() {
        problems.push("name: is empty".to_string());
    }
    let kinds = [
        raw.alertmanager.is_some(),
        raw.webhook.is_some(),
        raw.slack.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if kinds != 1 {
        problems.push(format!(
            "needs exactly one of `alertmanager`, `webhook` or `slack` (found {kinds})"
        ));
        return Err(problems);
    }
    let kind = if let Some(a) = raw.alertmanager {
        ReceiverKind::Alertmanager {
            url: url_source("alertmanager", a.url, a.url_env, &mut problems),
        }
    } else if let Some(w) = raw.webhook {
        webhook(w, &mut problems)
    } else {
        let s = raw.slack.expect("one kind is set");
        ReceiverKind::Slack {
            url: url_source("slack", s.url, s.url_env, &mut problems),
        }
    };
    let events = raw.events.map(|list| event_kinds(&list, &mut problems));
    if let Some(envs) = &raw.environments {
        for e in envs {
            if !environments.contains(e) {
                problems.push(format!(
                    "environments: `{e}` is not an environment of this config ({})",
                    environments.join(", ")
                ));
            }
        }
    }
    let backoff_max = duration(
        "backoff_max",
        &raw.backoff_max,
        DEFAULT_BACKOFF_MAX,
        &mut problems,
    );
    let give_up_after = duration(
        "give_up_after",
        &raw.give_up_after,
        DEFAULT_GIVE_UP_AFTER,
        &mut problems,
    );
    let timeout = duration("timeout", &raw.timeout, DEFAULT_TIMEOUT, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Receiver {
        name: raw.name,
        kind,
        events,
        environments: raw.environments,
        backoff_max,
        give_up_after,
        timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Receivers, Vec<String>> {
        let c = crate::config::Config::parse(yaml).unwrap();
        Receivers::from_config(&c.notifications, &["staging".into(), "production".into()])
    }

    #[test]
    fn the_documented_example_validates() {
        let r = parse(
            "notifications:\n  - name: oncall\n    alertmanager: {url: \"http://127.0.0.1:9093\"}\n  - name: audit-hook\n    webhook: {url: \"https://hooks.example.net/guardrail\", secret_env: GUARDRAIL_HOOK_SECRET}\n    events: [unstaged_push]\n    environments: [production]\n  - name: chat\n    slack: {url_env: SLACK_URL}\n    backoff_max: 2s\n",
        )
        .unwrap();
        assert_eq!(r.list.len(), 3);
        assert_eq!(r.list[2].backoff_max, Duration::from_secs(2));
        assert_eq!(
            r.env_vars(),
            vec![
                (
                    "audit-hook".to_string(),
                    "GUARDRAIL_HOOK_SECRET".to_string()
                ),
                ("chat".to_string(), "SLACK_URL".to_string())
            ]
        );
    }

    #[test]
    fn every_problem_is_reported() {
        let e = parse(
            "notifications:\n  - name: a\n    alertmanager: {url: \"ftp://x\"}\n    events: [unstaged_pushes]\n  - name: a\n    slack: {url: \"http://x\", url_env: X}\n  - name: c\n    webhook: {url: \"http://x\"}\n  - name: d\n    environments: [qa]\n    slack: {url: \"http://x\"}\n    backoff_max: soon\n  - name: e\n",
        )
        .unwrap_err();
        let all = e.join("\n");
        for want in [
            "notifications[0] (a).alertmanager.url: `ftp://x`",
            "notifications[0] (a).events: unknown event `unstaged_pushes`",
            "notifications[1] (a).slack: needs exactly one of `url` or `url_env`",
            "notifications[2] (c).missing field `secret_env`",
            "notifications[3] (d).environments: `qa`",
            "notifications[3] (d).backoff_max:",
            "notifications[4] (e).needs exactly one of `alertmanager`, `webhook` or `slack`",
        ] {
            assert!(all.contains(want), "missing {want:?} in\n{all}");
        }
    }
}
