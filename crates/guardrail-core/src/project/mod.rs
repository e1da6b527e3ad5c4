//! The project loader: guardrail.yaml, the policy directories (or the library embedded in the
//! binary), the waiver file and `policy_params` are read, validated and built here and nowhere
//! else. `guardrail check`, `guardrail policy test`, `guardrail serve` (start and hot reload) and
//! the daemon's evaluations all start from a [`Project`]. Every problem is reported at once, one
//! line each, naming the file and line (`file:line: error[code]: ...`), with the nearest valid
//! name for a name that names nothing.

pub mod policies;

use std::path::{Path, PathBuf};

use crate::config::{Config, Target};
use crate::document::Format;
use crate::drift::Watch;
use crate::notifications::Receivers;
use crate::pipeline::BadInput;
use crate::policy::{ParamOverrides, PolicySet, TargetInfo, Waivers};
pub use policies::Origin;

/// The guardrail.yaml that `guardrail serve` runs on when given none and none is in the working
/// directory: the example targets of examples/infra, with the embedded policy library.
pub const EMBEDDED_CONFIG: &str = include_str!("../../../../examples/infra/guardrail.yaml");
/// The name messages give the embedded guardrail.yaml.
pub const EMBEDDED_CONFIG_NAME: &str = "<embedded>/examples/infra/guardrail.yaml";

/// Where guardrail.yaml comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    /// [`EMBEDDED_CONFIG`].
    Embedded,
}

impl ConfigSource {
    /// `--config`, else ./guardrail.yaml when present, else the embedded defaults.
    pub fn choose(flag: Option<&Path>) -> ConfigSource {
        match flag {
            Some(p) => ConfigSource::File(p.to_path_buf()),
            None if Path::new("guardrail.yaml").is_file() => {
                ConfigSource::File(PathBuf::from("guardrail.yaml"))
            }
            None => ConfigSource::Embedded,
        }
    }

    /// The name messages use.
    pub fn describe(&self) -> String {
        match self {
            ConfigSource::File(p) => p.display().to_string(),
            ConfigSource::Embedded => EMBEDDED_CONFIG_NAME.into(),
        }
    }

    /// Reads and validates guardrail.yaml; errors name the file and line.
    pub fn read(&self) -> Result<ConfigFile, BadInput> {
        let name = self.describe();
        let (text, root) = match self {
            ConfigSource::Embedded => (EMBEDDED_CONFIG.to_string(), None),
            ConfigSource::File(p) => {
                let text = String::from_utf8(read(p)?).map_err(|_| {
                    BadInput::one(format!("{name}: error[input.utf8]: not valid UTF-8"))
                })?;
                (text, Some(parent_dir(p)))
            }
        };
        let config = Config::parse(&text).map_err(|diags| BadInput {
            lines: diags.iter().map(|d| d.render(&name)).collect(),
        })?;
        Ok(ConfigFile { config, name, root })
    }
}

/// The directory relative paths of a file are resolved against (`.` for a bare file name).
fn parent_dir(p: &Path) -> PathBuf {
    p.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A validated guardrail.yaml.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub config: Config,
    /// The name messages use (the path as given, or [`EMBEDDED_CONFIG_NAME`]).
    pub name: String,
    /// The directory its relative paths (policies, waivers) are resolved against; `None` for
    /// the embedded one, which names no file.
    pub root: Option<PathBuf>,
}

/// What command-line flags put in place of guardrail.yaml's settings.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--policies DIR` (repeatable): replaces the config's `policies`.
    pub policies: Vec<PathBuf>,
    /// `--waivers FILE`: replaces the config's `waivers`.
    pub waivers: Option<PathBuf>,
}

/// Everything a run of guardrail starts from, validated.
#[derive(Debug)]
pub struct Project {
    /// guardrail.yaml, when there is one (`guardrail check` on two files needs none).
    pub file: Option<ConfigFile>,
    pub policies: PolicySet,
    /// Where the policies came from.
    pub origin: Origin,
    pub waivers: Waivers,
    /// `policy_params`, each naming a policy and params that exist.
    pub params: ParamOverrides,
    /// The drift watches of the targets' environments that have a `source`.
    pub watches: Vec<Watch>,
    /// The notification receivers.
    pub receivers: Receivers,
    /// What loading found odd but usable (policy warnings), one line each, for the caller to
    /// print or log: the core prints nothing.
    pub warnings: Vec<String>,
}

impl Project {
    /// Loads the policies and waivers `file` and `flags` name and checks every name the
    /// configuration uses against them: `policy_params` for a policy or param that does not
    /// exist, a waiver of a rule that does not exist, and the `source` and `notifications`
    /// sections. Every problem at once.
    pub fn load(file: Option<ConfigFile>, flags: &Flags) -> Result<Project, BadInput> {
        let mut lines = Vec::new();
        let set = policies::load_set(&policy_dirs(file.as_ref(), &flags.policies))
            .map_err(|e| lines.extend(e.lines))
            .ok();
        let waivers = match waiver_path(file.as_ref(), flags) {
            Some(p) => policies::load_waivers(&p)
                .map_err(|e| lines.extend(e.lines))
                .ok(),
            None => Some(Waivers::empty("waivers.yaml")),
        };
        let (Some((policies, origin, warnings)), Some(waivers)) = (set, waivers) else {
            return Err(BadInput { lines });
        };
        let mut params = ParamOverrides::default();
        let mut watches = Vec::new();
        let mut receivers = Receivers::default();
        if let Some(f) = &file {
            let c = &f.config;
            for p in policies.check_overrides(&c.policy_params) {
                let line = c.param_line(&p.policy, p.param.as_deref());
                lines.push(format!(
                    "{}:{line}: error[config.policy-params]: {}",
                    f.name, p.message
                ));
            }
            params = c.policy_params.clone();
            match crate::drift::watches(c) {
                Ok(w) => watches = w,
                Err(ps) => lines.extend(
                    ps.iter()
                        .map(|p| format!("{}: error[config.source]: {p}", f.name)),
                ),
            }
            match Receivers::from_config(&c.notifications, &c.environments) {
                Ok(r) => receivers = r,
                Err(ps) => lines.extend(
                    ps.iter()
                        .map(|p| format!("{}: error[config.notifications]: {p}", f.name)),
                ),
            }
        }
        lines.extend(
            waivers
                .lint(&policies)
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.render()),
        );
        if !lines.is_empty() {
            return Err(BadInput { lines });
        }
        Ok(Project {
            file,
            policies,
            origin,
            waivers,
            params,
            watches,
            receivers,
            warnings,
        })
    }

    /// guardrail.yaml's settings, when there is one.
    pub fn config(&self) -> Option<&Config> {
        self.file.as_ref().map(|f| &f.config)
    }

    /// The files and directories a reload depends on: guardrail.yaml, its policy directories
    /// and its waiver file.
    pub fn watched_paths(source: &ConfigSource) -> Vec<PathBuf> {
        let ConfigSource::File(path) = source else {
            return Vec::new();
        };
        let mut paths = vec![path.clone()];
        if let Ok(file) = source.read() {
            paths.extend(policy_dirs(Some(&file), &[]));
            paths.extend(waiver_path(Some(&file), &Flags::default()));
        }
        paths
    }
}

/// The policy directories: the flags', else the config's `policies` (relative to its
/// directory), else `policies/` beside it (or in the working directory without a config) when
/// it exists, else none: the embedded library. The embedded guardrail.yaml always runs on the
/// embedded library.
pub fn policy_dirs(file: Option<&ConfigFile>, flags: &[PathBuf]) -> Vec<PathBuf> {
    if !flags.is_empty() {
        return flags.to_vec();
    }
    let root = match file {
        None => PathBuf::from("."),
        Some(ConfigFile { root: None, .. }) => return Vec::new(),
        Some(ConfigFile {
            root: Some(root),
            config,
            ..
        }) => {
            if !config.policies.is_empty() {
                return config.policies.iter().map(|p| root.join(p)).collect();
            }
            root.clone()
        }
    };
    let local = root.join("policies");
    if local.is_dir() {
        vec![local]
    } else {
        Vec::new()
    }
}

/// The waiver file: the flag's, else the config's `waivers` (relative to its directory).
fn waiver_path(file: Option<&ConfigFile>, flags: &Flags) -> Option<PathBuf> {
    flags.waivers.clone().or_else(|| {
        let f = file?;
        Some(f.root.as_ref()?.join(f.config.waivers.as_ref()?))
    })
}

/// What rules see of a target: built here for every caller, so the CLI, the daemon and drift
/// describe a target the same way. `target` is the declared target when there is one (owners,
/// criticality); `name` and `kind` are used as given.
pub fn target_info(
    target: Option<&Target>,
    name: &str,
    kind: &str,
    env: &str,
    format: Format,
) -> TargetInfo {
    TargetInfo {
        name: name.to_string(),
        kind: kind.to_string(),
        env: env.to_string(),
        owners: target.map(|t| t.owners.clone()).unwrap_or_default(),
        critical: target.is_some_and(|t| t.critical),
        format: format.name().to_string(),
    }
}

/// Reads a file from disk; a missing or unreadable file is bad input naming the file.
pub fn read(path: &Path) -> Result<Vec<u8>, BadInput> {
    std::fs::read(path).map_err(|e| {
        BadInput::one(format!(
            "{}: error[input.unreadable]: cannot read file: {}",
            path.display(),
            io_reason(&e)
        ))
    })
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "is a directory".to_string(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A guardrail.yaml that names no file on disk: the project runs on the embedded library.
    fn load(text: &str) -> Result<Project, BadInput> {
        let config = Config::parse(text).unwrap_or_else(|d| panic!("{d:?}"));
        let file = ConfigFile {
            config,
            name: "guardrail.yaml".into(),
            root: None,
        };
        Project::load(Some(file), &Flags::default())
    }

    #[test]
    fn a_valid_project_loads_the_embedded_library_and_its_params() {
        let p = load(
            "environments: {production: {}}\npolicy_params:\n  connection-storms:\n    headroom: 2\n",
        )
        .unwrap_or_else(|e| panic!("{:?}", e.lines));
        assert!(matches!(p.origin, Origin::Embedded));
        assert!(p.policies.rule_count() > 10);
        assert_eq!(p.params["connection-storms"]["headroom"], 2);
        assert!(p.watches.is_empty() && p.receivers.list.is_empty());
    }

    #[test]
    fn every_name_that_names_nothing_is_reported_at_once_with_file_and_line() {
        let e = load(
            "environments: {production: {}}\npolicy_params:\n  connection-storms:\n    headrom: 2\nnotifications:\n  - name: chat\n    slak: {url_env: SLACK_URL}\n",
        )
        .unwrap_err();
        let all = e.lines.join("\n");
        assert!(
            all.contains("guardrail.yaml:4: error[config.policy-params]")
                && all.contains("(did you mean `headroom`?)"),
            "{all}"
        );
        assert!(
            all.contains("guardrail.yaml: error[config.notifications]"),
            "{all}"
        );
    }

    #[test]
    fn flags_replace_the_configured_policy_directories_and_the_embedded_config_has_none() {
        let config = Config::parse("policies: [mine]\n").unwrap();
        let on_disk = ConfigFile {
            config: config.clone(),
            name: "repo/guardrail.yaml".into(),
            root: Some(PathBuf::from("repo")),
        };
        assert_eq!(
            policy_dirs(Some(&on_disk), &[]),
            vec![PathBuf::from("repo/mine")]
        );
        assert_eq!(
            policy_dirs(Some(&on_disk), &[PathBuf::from("flag")]),
            vec![PathBuf::from("flag")]
        );
        let embedded = ConfigFile {
            config,
            name: EMBEDDED_CONFIG_NAME.into(),
            root: None,
        };
        assert!(policy_dirs(Some(&embedded), &[]).is_empty());
    }

    #[test]
    fn the_embedded_config_loads_as_a_project() {
        let file = ConfigSource::Embedded
            .read()
            .unwrap_or_else(|e| panic!("{:?}", e.lines));
        assert_eq!(file.name, EMBEDDED_CONFIG_NAME);
        let p = Project::load(Some(file), &Flags::default())
            .unwrap_or_else(|e| panic!("{:?}", e.lines));
        assert!(!p.config().unwrap().targets.is_empty());
    }
}
