//! What the daemon runs on, rebuilt on every reload: the validated `guardrail.yaml`, the typed
//! environment settings, the policy set and waivers, and the tokens listed (hashed) in the
//! config. Building one is pure; a reload that fails keeps the old one.

use std::path::PathBuf;

use serde::Deserialize;

use guardrail_core::change::Settings;
use guardrail_core::config::Config;
use guardrail_core::policy::{ParamOverrides, PolicySet, Waivers};
use guardrail_core::project::Project;
use guardrail_store::{Identity, Role};

/// A token listed in `server.tokens` by its sha256 (hex).
#[derive(Debug, Clone)]
pub struct TokenEntry {
    pub sha256: String,
    pub identity: Identity,
}

pub struct Runtime {
    pub config: Config,
    pub settings: Settings,
    pub policies: PolicySet,
    pub waivers: Waivers,
    pub params: ParamOverrides,
    /// Whether any rule reads `inventory` (otherwise no other target is parsed).
    pub uses_inventory: bool,
    pub tokens: Vec<TokenEntry>,
    /// The config file's directory (relative paths resolve there); `None` on embedded defaults.
    pub root: Option<PathBuf>,
    /// Where the config came from, for logs.
    pub origin: String,
    /// How long a break-glass retro review may stay open (`server.retro_due`, default 72h).
    pub retro_due: chrono::Duration,
    /// The live configs to poll for drift (targets' `source`, `poll_interval`, `ignore`).
    pub watches: Vec<guardrail_core::drift::Watch>,
    /// The notification receivers (`notifications:`).
    pub receivers: crate::notify::Receivers,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    user: String,
    roles: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    sha256: String,
}

impl Runtime {
    /// The runtime of a loaded project (which checked the policies, waivers, `policy_params`,
    /// watches and receivers): validates what only the daemon reads (environment settings,
    /// `server.tokens`, `server.retro_due`); every problem at once. A project without
    /// guardrail.yaml runs on an empty one.
    pub fn new(project: Project) -> Result<Runtime, Vec<String>> {
        let Project {
            file,
            policies,
            waivers,
            params,
            watches,
            receivers,
            ..
        } = project;
        let (config, root, origin) = match file {
            Some(f) => (f.config, f.root, f.name),
            None => (Config::default(), None, "(no guardrail.yaml)".to_string()),
        };
        let mut problems = Vec::new();
        let settings = Settings::from_config(&config).unwrap_or_else(|e| {
            problems.extend(e);
            Settings::default()
        });
        let mut tokens = Vec::new();
        let mut retro_due = chrono::Duration::hours(72);
        if let Some(server) = &config.server {
            if let Some(list) = server.get("tokens") {
                tokens = server_tokens(list, &mut problems);
            }
            if let Some(v) = server.get("retro_due") {
                match v.as_str().map(guardrail_core::change::parse_duration) {
                    Some(Ok(d)) => retro_due = d,
                    Some(Err(e)) => problems.push(format!("server.retro_due: {e}")),
                    None => problems.push("server.retro_due: expected a duration like 72h".into()),
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let uses_inventory = policies.uses_inventory();
        Ok(Runtime {
            config,
            settings,
            policies,
            waivers,
            params,
            uses_inventory,
            tokens,
            root,
            origin,
            retro_due,
            watches,
            receivers,
        })
    }
}

/// The tokens of `server.tokens`; each problem (an unknown role, a hash that is not 64 hex
/// digits) is added to `problems`.
fn server_tokens(list: &serde_json::Value, problems: &mut Vec<String>) -> Vec<TokenEntry> {
    let list = match serde_json::from_value::<Vec<RawToken>>(list.clone()) {
        Ok(list) => list,
        Err(e) => {
            problems.push(format!("server.tokens: {e}"));
            return Vec::new();
        }
    };
    let mut tokens = Vec::new();
    for (i, t) in list.into_iter().enumerate() {
        let mut roles = Vec::new();
        for r in &t.roles {
            match Role::from_name(r) {
                Some(r) => roles.push(r),
                None => problems.push(format!(
                    "server.tokens[{i}].roles: unknown role `{r}`; expected one of {}",
                    Role::ALL.map(|r| r.name()).join(", ")
                )),
            }
        }
        let h = t.sha256.trim().to_ascii_lowercase();
        if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            problems.push(format!(
                "server.tokens[{i}].sha256: expected 64 hex digits (sha256 of the token)"
            ));
        }
        tokens.push(TokenEntry {
            sha256: h,
            identity: Identity {
                user: t.user,
                roles,
                groups: t.groups,
            },
        });
    }
    tokens
}
