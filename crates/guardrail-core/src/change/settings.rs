//! The typed view of `guardrail.yaml`'s `environments:` that the change gates use. Pure:
//! built from a parsed [`Config`]; every problem is reported at once, naming the field.

use std::collections::BTreeMap;

use chrono::Duration;
use serde::Deserialize;

use super::window::{Window, WindowKind};
use crate::config::{Config, Environment};
use crate::report::ApprovalGate;

pub const DEFAULT_APPROVAL_TTL: &str = "24h";
pub const DEFAULT_EXPIRE_AFTER: &str = "14d";
pub const DEFAULT_VERIFY_WITHIN: &str = "30m";
pub const DEFAULT_STAGING_ENV: &str = "staging";

/// The gates of one environment.
#[derive(Debug, Clone)]
pub struct EnvSettings {
    pub name: String,
    /// Applies to every change of the environment (count 0: none).
    pub approvals: ApprovalGate,
    pub approval_ttl: Duration,
    /// Staging soak; `None` when this environment needs no staging proof.
    pub soak: Option<Duration>,
    pub soak_by_kind: BTreeMap<String, Duration>,
    /// The environment whose applies count as staging proof.
    pub staging: String,
    pub windows: Vec<Window>,
    pub expire_after: Duration,
    pub verify_within: Duration,
}

impl EnvSettings {
    /// Settings of an environment that `guardrail.yaml` does not configure: no default
    /// approvals, no soak, no windows.
    pub fn unconfigured(name: &str) -> EnvSettings {
        EnvSettings {
            name: name.to_string(),
            approvals: ApprovalGate {
                count: 0,
                groups: Vec::new(),
            },
            approval_ttl: parse_duration(DEFAULT_APPROVAL_TTL).expect("default"),
            soak: None,
            soak_by_kind: BTreeMap::new(),
            staging: DEFAULT_STAGING_ENV.to_string(),
            windows: Vec::new(),
            expire_after: parse_duration(DEFAULT_EXPIRE_AFTER).expect("default"),
            verify_within: parse_duration(DEFAULT_VERIFY_WITHIN).expect("default"),
        }
    }

    /// The soak a target of `kind` needs here: the target's own (`target_soak`), else the
    /// kind's, else the environment's. `None`: no staging proof needed.
    pub fn soak_for(&self, kind: &str, target_soak: Option<Duration>) -> Option<Duration> {
        if self.name == self.staging {
            return None;
        }
        target_soak
            .or_else(|| self.soak_by_kind.get(kind).copied())
            .or(self.soak)
    }
}

/// Every environment's settings, plus each target's own soak per environment.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub envs: BTreeMap<String, EnvSettings>,
    /// (target, env) → soak written on the target.
    pub target_soak: BTreeMap<(String, String), Duration>,
}

impl Settings {
    pub fn env(&self, name: &str) -> EnvSettings {
        self.envs
            .get(name)
            .cloned()
            .unwrap_or_else(|| EnvSettings::unconfigured(name))
    }

    /// Builds the settings of every declared environment. Errors name the field:
    /// `environments.production.windows[1].cron: ...`.
    pub fn from_config(config: &Config) -> Result<Settings, Vec<String>> {
        let mut problems = Vec::new();
        let mut envs = BTreeMap::new();
        for name in &config.environments {
            let raw = config.environment_settings.get(name);
            let s = match raw {
                None => EnvSettings::unconfigured(name),
                Some(raw) => env_settings(name, raw, &mut problems),
            };
            envs.insert(name.clone(), s);
        }
        let mut target_soak = BTreeMap::new();
        for t in &config.targets {
            for (env, te) in &t.environments {
                if let Some(s) = &te.soak {
                    match parse_duration(s) {
                        Ok(d) => {
                            target_soak.insert((t.name.clone(), env.clone()), d);
                        }
                        Err(e) => problems.push(format!(
                            "targets.{}.environments.{env}.soak: {e} (line {})",
                            t.name, t.line
                        )),
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(Settings { envs, target_soak })
        } else {
            Err(problems)
        }
    }
}

/// `30s`, `15m`, `2h`, `14d`, `1h 30m` (humantime syntax).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let std = humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not a duration like 30s, 15m, 2h or 7d ({e})"))?;
    Duration::from_std(std).map_err(|_| format!("`{s}` is too long"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGate {
    #[serde(default = "one")]
    count: u32,
    #[serde(default)]
    groups: Vec<String>,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    #[serde(default)]
    allow: Option<String>,
    #[serde(default)]
    deny: Option<String>,
    duration: String,
    #[serde(default = "utc")]
    tz: String,
    #[serde(default)]
    targets: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

fn utc() -> String {
    "UTC".into()
}

fn env_settings(name: &str, raw: &Environment, problems: &mut Vec<String>) -> EnvSettings {
    let mut s = EnvSettings::unconfigured(name);
    let mut dur = |field: &str, v: &Option<String>, slot: &mut Duration| {
        if let Some(v) = v {
            match parse_duration(v) {
                Ok(d) => *slot = d,
                Err(e) => problems.push(format!("environments.{name}.{field}: {e}")),
            }
        }
    };
    dur("approval_ttl", &raw.approval_ttl, &mut s.approval_ttl);
    dur("expire_after", &raw.expire_after, &mut s.expire_after);
    dur("verify_within", &raw.verify_within, &mut s.verify_within);
    if let Some(v) = &raw.soak {
        match parse_duration(v) {
            Ok(d) => s.soak = Some(d),
            Err(e) => problems.push(format!("environments.{name}.soak: {e}")),
        }
    }
    for (kind, v) in &raw.soak_by_kind {
        if !crate::config::KINDS.contains(&kind.as_str()) {
            problems.push(format!(
                "environments.{name}.soak_by_kind.{kind}: unknown target kind; expected one of {}",
                crate::config::KINDS.join(", ")
            ));
        }
        match parse_duration(v) {
            Ok(d) => {
                s.soak_by_kind.insert(kind.clone(), d);
            }
            Err(e) => problems.push(format!("environments.{name}.soak_by_kind.{kind}: {e}")),
        }
    }
    if let Some(st) = &raw.staging {
        s.staging = st.clone();
    }
    if let Some(v) = &raw.approvals {
        match serde_json::from_value::<RawGate>(v.clone()) {
            Ok(g) => {
                s.approvals = ApprovalGate {
                    count: g.count,
                    groups: g.groups,
                }
            }
            Err(e) => problems.push(format!("environments.{name}.approvals: {e}")),
        }
    }
    if let Some(v) = &raw.windows {
        match serde_json::from_value::<Vec<RawWindow>>(v.clone()) {
            Err(e) => problems.push(format!("environments.{name}.windows: {e}")),
            Ok(ws) => {
                for (i, w) in ws.iter().enumerate() {
                    let at = format!("environments.{name}.windows[{i}]");
                    let (kind, cron) = match (&w.allow, &w.deny) {
                        (Some(c), None) => (WindowKind::Allow, c),
                        (None, Some(c)) => (WindowKind::Deny, c),
                        _ => {
                            problems.push(format!(
                                "{at}: give exactly one of `allow: CRON` or `deny: CRON`"
                            ));
                            continue;
                        }
                    };
                    let d = match parse_duration(&w.duration) {
                        Ok(d) => d,
                        Err(e) => {
                            problems.push(format!("{at}.duration: {e}"));
                            continue;
                        }
                    };
                    match Window::new(
                        kind,
                        cron,
                        d,
                        &w.tz,
                        w.targets.as_deref(),
                        w.name.as_deref(),
                    ) {
                        Ok(w) => s.windows.push(w),
                        Err(e) => problems.push(format!("{at}: {e}")),
                    }
                }
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> Result<Settings, Vec<String>> {
        Settings::from_config(&Config::parse(yaml).unwrap())
    }

    #[test]
    fn typed_environment_settings() {
        let s = settings(
            r#"
targets:
  - name: sw
    kind: switch
    environments:
      staging: {}
      production: {soak: 4h}
environments:
  production:
    soak: 30m
    soak_by_kind: {load_balancer: 1h}
    approvals: {count: 2, groups: [netops]}
    windows:
      - {allow: "0 9 * * 1-4", duration: 6h, tz: Europe/Berlin}
      - {deny: "0 0 20 12 *", duration: 14d, name: year-end}
"#,
        )
        .unwrap();
        let p = s.env("production");
        assert_eq!(p.approvals.count, 2);
        assert_eq!(p.approvals.groups, ["netops"]);
        assert_eq!(p.windows.len(), 2);
        assert_eq!(p.soak_for("switch", None), Some(Duration::minutes(30)));
        assert_eq!(p.soak_for("load_balancer", None), Some(Duration::hours(1)));
        let sw = s
            .target_soak
            .get(&("sw".into(), "production".into()))
            .copied();
        assert_eq!(p.soak_for("switch", sw), Some(Duration::hours(4)));
        assert_eq!(s.env("staging").soak_for("switch", None), None);
        assert_eq!(p.approval_ttl, Duration::hours(24));
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let e = settings(
            r#"
environments:
  production:
    soak: soon
    approval_ttl: 3 fortnights
    soak_by_kind: {router: 1h}
    windows:
      - {allow: "0 9 * * *", deny: "0 1 * * *", duration: 1h}
      - {allow: "0 99 * * *", duration: 1h}
      - {allow: "0 9 * * *", duration: forever}
"#,
        )
        .unwrap_err();
        let all = e.join("\n");
        for needle in [
            "environments.production.soak: `soon`",
            "environments.production.approval_ttl:",
            "environments.production.soak_by_kind.router: unknown target kind",
            "environments.production.windows[0]: give exactly one",
            "environments.production.windows[1]: cron `0 99 * * *`",
            "environments.production.windows[2].duration:",
        ] {
            assert!(all.contains(needle), "missing {needle} in\n{all}");
        }
    }
}
