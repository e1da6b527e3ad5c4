//! `guardrail.yaml`: the targets guardrail manages, where their files and live configs are, and
//! the settings of environments, policies and notifications.
//!
//! Owns the raw serde structs (unknown keys refused), validation that reports every problem at
//! once with its line, and the validated [`Config`]. Pure: the caller reads the file and passes
//! its text. May depend on `document` only. Key names are a contract (docs/config.md): keys may be
//! added, never renamed.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::document::{Diagnostic, Format, config_yaml};

/// Target kinds (one list for the whole crate: `document::TARGET_KINDS`).
pub use crate::document::TARGET_KINDS as KINDS;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    policies: Vec<String>,
    #[serde(default)]
    waivers: Option<String>,
    #[serde(default)]
    targets: Vec<Spanned<RawTarget>>,
    #[serde(default)]
    environments: BTreeMap<String, Environment>,
    /// Per-policy parameter overrides: `policy_params: {lb-capacity: {max_removed_share: 0.3}}`.
    #[serde(default)]
    policy_params: BTreeMap<String, Spanned<BTreeMap<String, Spanned<serde_json::Value>>>>,
    /// Receivers; validated by the daemon.
    #[serde(default)]
    notifications: Vec<serde_json::Value>,
    /// Daemon settings (`guardrail serve`); read by the daemon with `GUARDRAIL_*` overrides.
    #[serde(default)]
    server: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: Spanned<String>,
    kind: Spanned<String>,
    #[serde(default)]
    format: Option<Spanned<String>>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    owners: Vec<String>,
    #[serde(default)]
    critical: bool,
    #[serde(default)]
    environments: BTreeMap<String, TargetEnvironment>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TargetEnvironment {
    /// A path for this environment only, overriding the target's `path`.
    pub path: Option<String>,
    /// Where the live config is read for drift (validated by the daemon).
    #[serde(default)]
    pub source: Option<serde_json::Value>,
    #[serde(default)]
    pub poll_interval: Option<String>,
    /// Patterns of volatile lines to ignore before hashing and diffing.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Staging soak time required before production, for this target.
    #[serde(default)]
    pub soak: Option<String>,
}

/// Settings of an environment (validated by the daemon, which uses them).
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Staging soak time required before a change reaches this environment.
    #[serde(default)]
    pub soak: Option<String>,
    /// Soak per target kind (`{switch: 2h}`), overriding `soak`.
    #[serde(default)]
    pub soak_by_kind: BTreeMap<String, String>,
    /// The environment whose applies prove a change (default `staging`).
    #[serde(default)]
    pub staging: Option<String>,
    /// Default approval gate of every change: `{count, groups}`.
    #[serde(default)]
    pub approvals: Option<serde_json::Value>,
    /// How long an approval stays valid (default 24h).
    #[serde(default)]
    pub approval_ttl: Option<String>,
    /// Allow and deny windows: `[{allow|deny: CRON, duration, tz, targets}]`.
    #[serde(default)]
    pub windows: Option<serde_json::Value>,
    /// An open change not applied within this time expires (default 14d).
    #[serde(default)]
    pub expire_after: Option<String>,
    /// After an apply, the live config must equal the approved content within this time
    /// (default 30m).
    #[serde(default)]
    pub verify_within: Option<String>,
}

/// A validated `guardrail.yaml`.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Policy directories, relative to the config file's directory.
    pub policies: Vec<String>,
    pub waivers: Option<String>,
    pub targets: Vec<Target>,
    /// Declared environment names (from `environments:` and every target's environments).
    pub environments: Vec<String>,
    pub environment_settings: BTreeMap<String, Environment>,
    /// Per-policy parameter overrides (the shape of `policy::ParamOverrides`). Checked against
    /// the loaded policies by whoever loads them ([`Config::param_line`] gives their lines).
    pub policy_params: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
    /// The line of each policy's overrides and of each param in them.
    pub policy_param_lines: BTreeMap<String, (u32, BTreeMap<String, u32>)>,
    /// Notification receivers, as written (validated by the daemon).
    pub notifications: Vec<serde_json::Value>,
    /// The `server:` section as written (validated by the daemon).
    pub server: Option<serde_json::Value>,
}

/// One managed config.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    pub kind: String,
    pub format: Option<Format>,
    pub owners: Vec<String>,
    pub critical: bool,
    /// Repository paths or globs per environment. A target with a top-level `path` and no
    /// per-environment path uses it for every environment it lists (or `production` when it
    /// lists none).
    pub paths: Vec<(String, String)>,
    /// Per-environment settings as written.
    pub environments: BTreeMap<String, TargetEnvironment>,
    pub line: u32,
}

impl Config {
    /// Parses and validates `guardrail.yaml` text. Returns every problem at once.
    pub fn parse(text: &str) -> Result<Config, Vec<Diagnostic>> {
        let raw: RawConfig = serde_saphyr::from_str(text)
            .map_err(|e| vec![config_yaml::to_diagnostic(&e, &config_yaml::CONFIG_CODES)])?;
        let mut problems = Vec::new();
        let mut targets = Vec::new();
        let mut env_names: Vec<String> = raw.environments.keys().cloned().collect();
        let mut seen = std::collections::HashMap::new();
        for t in &raw.targets {
            let target = check_target(t, &mut seen, &mut env_names, &mut problems);
            targets.push(target);
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut policy_params = BTreeMap::new();
        let mut policy_param_lines = BTreeMap::new();
        for (policy, params) in raw.policy_params {
            let mut map = serde_json::Map::new();
            let mut lines = BTreeMap::new();
            for (name, value) in params.value {
                lines.insert(name.clone(), value.referenced.line() as u32);
                map.insert(name, value.value);
            }
            policy_param_lines.insert(policy.clone(), (params.referenced.line() as u32, lines));
            policy_params.insert(policy, map);
        }
        Ok(Config {
            policies: raw.policies,
            waivers: raw.waivers,
            targets,
            environments: env_names,
            environment_settings: raw.environments,
            policy_params,
            policy_param_lines,
            notifications: raw.notifications,
            server: raw.server,
        })
    }

    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }

    /// The line of a policy's overrides in `policy_params`, or of one param in them (0 when
    /// unknown).
    pub fn param_line(&self, policy: &str, param: Option<&str>) -> u32 {
        let Some((line, params)) = self.policy_param_lines.get(policy) else {
            return 0;
        };
        param.and_then(|p| params.get(p).copied()).unwrap_or(*line)
    }

    /// Refuses an environment name the file does not declare, naming the nearest one. A file
    /// that declares none knows only `production`, the default environment.
    pub fn check_environment(&self, env: &str) -> Result<(), String> {
        let default = ["production".to_string()];
        let known: &[String] = if self.environments.is_empty() {
            &default
        } else {
            &self.environments
        };
        if known.iter().any(|e| e == env) {
            return Ok(());
        }
        Err(crate::document::names::unknown_name(
            "environment",
            env,
            known.iter().map(String::as_str),
        ))
    }
}

/// Checks one target of the raw config into a [`Target`]. `seen` holds the names (and lines)
/// of the targets before it; the environments it names are added to `env_names`.
fn check_target(
    t: &Spanned<RawTarget>,
    seen: &mut std::collections::HashMap<String, u32>,
    env_names: &mut Vec<String>,
    problems: &mut Vec<Diagnostic>,
) -> Target {
    let line = t.referenced.line() as u32;
    let t = &t.value;
    let name_line = t.name.referenced.line() as u32;
    if t.name.value.trim().is_empty() {
        problems.push(Diagnostic::error(
            "config.target-name",
            name_line,
            "target name is empty",
        ));
    }
    if let Some(prev) = seen.insert(t.name.value.clone(), name_line) {
        problems.push(Diagnostic::error(
            "config.duplicate-target",
            name_line,
            format!(
                "target `{}` is defined twice (first at line {prev})",
                t.name.value
            ),
        ));
    }
    if !KINDS.contains(&t.kind.value.as_str()) {
        problems.push(Diagnostic::error(
            "config.target-kind",
            t.kind.referenced.line() as u32,
            format!(
                "target `{}`: {}",
                t.name.value,
                crate::document::names::unknown_name("kind", &t.kind.value, KINDS)
            ),
        ));
    }
    let format = match &t.format {
        None => None,
        Some(f) => match Format::parse_name(&f.value) {
            Ok(f) => Some(f),
            Err(e) => {
                problems.push(Diagnostic::error(
                    "config.target-format",
                    f.referenced.line() as u32,
                    format!("target `{}`: {e}", t.name.value),
                ));
                None
            }
        },
    };
    let paths = target_paths(t, env_names);
    for (_, p) in &paths {
        if let Err(e) = globset::Glob::new(p) {
            problems.push(Diagnostic::error(
                "config.target-path",
                line,
                format!(
                    "target `{}` has an invalid path glob `{p}`: {e}",
                    t.name.value
                ),
            ));
        }
    }
    Target {
        name: t.name.value.clone(),
        kind: t.kind.value.clone(),
        format,
        owners: t.owners.clone(),
        critical: t.critical,
        paths,
        environments: t.environments.clone(),
        line,
    }
}

/// The `(environment, path or glob)` pairs of a target: each environment's own path, else the
/// target's; a target with a path and no environments is in `production`. Adds the
/// environments to `env_names`.
fn target_paths(t: &RawTarget, env_names: &mut Vec<String>) -> Vec<(String, String)> {
    let mut paths = Vec::new();
    for (env, te) in &t.environments {
        if !env_names.contains(env) {
            env_names.push(env.clone());
        }
        if let Some(p) = te.path.as_ref().or(t.path.as_ref()) {
            paths.push((env.clone(), p.clone()));
        }
    }
    if t.environments.is_empty()
        && let Some(p) = &t.path
    {
        paths.push(("production".to_string(), p.clone()));
        if !env_names.iter().any(|e| e == "production") {
            env_names.push("production".to_string());
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
policies: [policies/]
waivers: waivers.yaml
targets:
  - name: lb-mail
    kind: load_balancer
    format: haproxy
    path: lb/mail/haproxy.cfg
    owners: [netops]
    critical: true
    environments:
      staging:
        source: {file: /srv/staging/haproxy.cfg}
      production:
        source: {http: {url: "https://lb1.example.net/config", headers: {Authorization: "Bearer ${LB_TOKEN}"}}}
        poll_interval: 30s
  - name: core-sw-1
    kind: switch
    format: ios
    environments:
      production:
        source: {command: ["/usr/local/bin/fetch-running-config", "core-sw-1"]}
environments:
  production: {soak: 30m, approvals: {count: 2}}
notifications:
  - name: oncall
    alertmanager: {url: "http://127.0.0.1:9093"}
  - name: audit-hook
    webhook: {url: "https://hooks.example.net/guardrail", secret_env: GUARDRAIL_HOOK_SECRET}
"#;

    #[test]
    fn design_example_parses() {
        let c = Config::parse(EXAMPLE).unwrap();
        assert_eq!(c.targets.len(), 2);
        let lb = c.target("lb-mail").unwrap();
        assert_eq!(lb.format, Some(Format::Haproxy));
        assert!(lb.critical);
        assert_eq!(
            lb.paths,
            vec![
                ("production".to_string(), "lb/mail/haproxy.cfg".to_string()),
                ("staging".to_string(), "lb/mail/haproxy.cfg".to_string())
            ]
        );
        assert!(c.target("core-sw-1").unwrap().paths.is_empty());
        assert!(c.environments.contains(&"staging".to_string()));
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let text = "targets:\n  - name: a\n    kind: toaster\n  - name: a\n    kind: switch\n    format: xml\n";
        let errs = Config::parse(text).unwrap_err();
        let codes: Vec<_> = errs.iter().map(|d| (d.code, d.line)).collect();
        assert_eq!(
            codes,
            vec![
                ("config.target-kind", 3),
                ("config.duplicate-target", 4),
                ("config.target-format", 6)
            ]
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_a_line() {
        let errs =
            Config::parse("targets:\n  - name: a\n    kind: switch\n    pathh: x\n").unwrap_err();
        assert_eq!(errs[0].code, "config.unknown-field");
        assert_eq!(errs[0].line, 4, "{:?}", errs[0]);
        assert!(
            errs[0]
                .message
                .contains("unknown field `pathh` (did you mean `path`?)"),
            "{}",
            errs[0].message
        );
    }
}
