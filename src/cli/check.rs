//! `guardrail check`: the CI gate. Two ways in:
//!
//! - files: `guardrail check OLD NEW --kind K [--format F] [--env E] [--target NAME]`
//!   (`/dev/null` as OLD or NEW checks a created or deleted target);
//! - repo: `guardrail check --base GIT_REF | --base-dir DIR [--config guardrail.yaml]`, mapping
//!   changed files to the targets of `guardrail.yaml`.
//!
//! Exit codes: 0 pass (warnings allowed), 1 blocked, 2 bad input or usage, 3 approval required.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use globset::{Glob, GlobMatcher};

use super::input::{self, BadInput, Loaded};
use super::{Progress, bad_input, repo};
use crate::config::{Config, Target};
use crate::document::Format;
use crate::pipeline::{self, evaluate_target};
use crate::policy::{ChangeInfo, InventoryEntry, TargetInfo};
use crate::project::{self, ConfigFile, ConfigSource, Flags, Project};
use crate::report::{self, Notice, Output, RenderOptions, Report};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Old version of the config (files mode); `/dev/null` for a created target.
    pub old: Option<PathBuf>,
    /// New version of the config (files mode); `/dev/null` for a deleted target.
    pub new: Option<PathBuf>,
    /// Target kind (files mode): load_balancer, switch, email_connector, db_client, generic.
    #[arg(long)]
    pub kind: Option<String>,
    #[arg(long, value_parser = super::format_arg, help = super::FORMAT_HELP)]
    pub format: Option<crate::document::Format>,
    /// Environment the change goes to. Files mode defaults to `production` (the strictest);
    /// repo mode checks every environment a changed file belongs to unless this is given.
    #[arg(long)]
    pub env: Option<String>,
    /// Target name (files mode; defaults to the file name). When `guardrail.yaml` defines it,
    /// its kind, format, owners and critical flag are used.
    #[arg(long)]
    pub target: Option<String>,
    /// Policy directory (repeatable). Default: the `policies` of guardrail.yaml, else
    /// ./policies, else the embedded policy library.
    #[arg(long = "policies", value_name = "DIR")]
    pub policies: Vec<PathBuf>,
    /// Waiver file. Default: the `waivers` of guardrail.yaml, if any.
    #[arg(long)]
    pub waivers: Option<PathBuf>,
    /// Repo mode: compare against this git ref (its merge base with HEAD).
    #[arg(long, conflicts_with = "base_dir")]
    pub base: Option<String>,
    /// Repo mode: compare against this directory (a checkout of the base).
    #[arg(long)]
    pub base_dir: Option<PathBuf>,
    /// guardrail.yaml (default: ./guardrail.yaml). Its directory is the repository root.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output, repeatable: FORMAT or FORMAT=PATH (text, json, sarif, junit, markdown, github).
    #[arg(long, value_name = "FORMAT[=PATH]", default_value = "text")]
    pub output: Vec<String>,
    /// Show the semantic diff of each target in text output.
    #[arg(long)]
    pub show_diff: bool,
    /// Change author (rules see it as `change.author`).
    #[arg(long, default_value = "")]
    pub author: String,
    /// Change ticket (`change.ticket`).
    #[arg(long, default_value = "")]
    pub ticket: String,
    /// Change title (`change.title`).
    #[arg(long, default_value = "")]
    pub title: String,
    /// Evaluate waiver expiry at this instant (RFC 3339) instead of now.
    #[arg(long, hide = true)]
    pub now: Option<String>,
    /// Ask this guardrail daemon whether an approved change covers content that needs approval:
    /// exit 0 when one does for every such target, else 3.
    #[arg(long)]
    pub server: Option<String>,
    /// API token for --server.
    #[arg(long, env = "GUARDRAIL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

struct OutputSpec {
    output: Output,
    path: Option<PathBuf>,
}

fn parse_outputs(specs: &[String]) -> Result<Vec<OutputSpec>, BadInput> {
    specs
        .iter()
        .map(|s| {
            let (name, path) = match s.split_once('=') {
                Some((n, p)) => (n, Some(PathBuf::from(p))),
                None => (s.as_str(), None),
            };
            Output::from_name(name)
                .map(|output| OutputSpec { output, path })
                .ok_or_else(|| {
                    BadInput::one(format!(
                        "error[usage.output]: unknown output `{name}`; use text, json, sarif, junit, markdown or github"
                    ))
                })
        })
        .collect()
}

pub fn run(args: Args) -> i32 {
    match check(&args) {
        Ok(code) => code,
        Err(e) => bad_input(e),
    }
}

fn check(args: &Args) -> Result<i32, BadInput> {
    let outputs = parse_outputs(&args.output)?;
    let now: DateTime<Utc> = match &args.now {
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|e| BadInput::one(format!("error[usage.now]: --now `{s}`: {e}")))?,
        None => Utc::now(),
    };
    let change = ChangeInfo {
        author: args.author.clone(),
        ticket: args.ticket.clone(),
        title: args.title.clone(),
    };
    let repo_mode = args.base.is_some() || args.base_dir.is_some();
    if repo_mode && (args.old.is_some() || args.new.is_some()) {
        return Err(BadInput::one(
            "error[usage]: give either OLD NEW (files mode) or --base/--base-dir (repo mode), not both"
                .into(),
        ));
    }
    let report = if repo_mode {
        check_repo(args, &change, now)?
    } else {
        check_files(args, &change, now)?
    };
    write_outputs(&report, &outputs)?;
    let verdict = report.verdict();
    match &args.server {
        Some(server) if verdict == report::Verdict::ApprovalRequired => {
            ask_server(args, server, &report)
        }
        _ => Ok(verdict.exit_code()),
    }
}

/// `--server`: for every target whose findings need approval, asks the daemon's gate whether an
/// approved change carries exactly this content. Exit 0 when all are covered, else 3.
fn ask_server(args: &Args, server: &str, report: &Report) -> Result<i32, BadInput> {
    let client = crate::client::Client::new(server, args.token.clone())
        .map_err(|e| BadInput::one(format!("error[server]: {e}")))?;
    let root = if args.base.is_some() || args.base_dir.is_some() {
        config_file(args, false)?
            .and_then(|f| f.root)
            .unwrap_or_else(|| PathBuf::from("."))
    } else {
        PathBuf::new()
    };
    let mut covered = true;
    for t in &report.targets {
        let needs = report.findings.iter().any(|f| {
            f.target == t.name
                && f.env == t.env
                && f.waived.is_none()
                && f.enforcement == report::Enforcement::Approval
        });
        if !needs {
            continue;
        }
        let Some(file) = &t.new_file else { continue };
        let loaded = input::load(
            &root.join(file),
            crate::document::Format::from_name(&t.format),
        )?;
        let hash = loaded.doc.content_hash();
        std::mem::forget(loaded);
        let name = t.name.split('[').next().unwrap_or(&t.name);
        let path = format!(
            "/v1/gate?target={}&env={}&hash={}",
            crate::client::encode(name),
            crate::client::encode(&t.env),
            crate::client::encode(&hash)
        );
        let answer = client.get::<crate::service::api::GateAnswer>(&path);
        // The change's page in the web UI, for the CI log a reviewer opens.
        if let Ok(crate::service::api::GateAnswer {
            change_id: Some(id),
            ..
        }) = &answer
        {
            eprintln!(
                "guardrail: {name} ({}): change {id}: {}/ui/changes/{id}",
                t.env,
                server.trim_end_matches('/')
            );
        }
        match answer {
            Ok(g) if g.allow => eprintln!(
                "guardrail: {name} ({}): approved change {} covers {hash}",
                t.env,
                g.change_id
                    .map(|i| i.to_string())
                    .unwrap_or_else(|| "-".into())
            ),
            Ok(g) => {
                covered = false;
                eprintln!(
                    "guardrail: {name} ({}): not covered by an approved change:",
                    t.env
                );
                for r in g.reasons {
                    eprintln!("  - {}", super::daemon_cmds::escape(&r));
                }
            }
            Err(e) => {
                covered = false;
                eprintln!(
                    "guardrail: {name} ({}): cannot ask {server}: {}",
                    t.env,
                    super::daemon_cmds::escape(&e.to_string())
                );
            }
        }
    }
    Ok(if covered {
        0
    } else {
        report::Verdict::ApprovalRequired.exit_code()
    })
}

fn write_outputs(report: &Report, outputs: &[OutputSpec]) -> Result<(), BadInput> {
    let tty = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    for spec in outputs {
        let opts = RenderOptions {
            color: tty && spec.path.is_none(),
            show_diff: false,
        };
        let text = report::render(report, spec.output, &opts);
        match &spec.path {
            None => print!("{text}"),
            Some(p) => std::fs::write(p, text).map_err(|e| {
                BadInput::one(format!(
                    "{}: error[output.write]: cannot write output: {e}",
                    p.display()
                ))
            })?,
        }
    }
    Ok(())
}

/// guardrail.yaml: `--config`, else ./guardrail.yaml when it exists (repo mode needs one);
/// `check` never runs on the embedded example.
fn config_file(args: &Args, required: bool) -> Result<Option<ConfigFile>, BadInput> {
    match ConfigSource::choose(args.config.as_deref()) {
        ConfigSource::Embedded if required => Err(BadInput::one(
            "guardrail.yaml: error[config.missing]: repo mode needs guardrail.yaml (or --config FILE)".into(),
        )),
        ConfigSource::Embedded => Ok(None),
        file => file.read().map(Some),
    }
}

/// The project this check runs on (the one loader every command and the daemon share: it
/// fails closed on `policy_params`, waivers and sections that name nothing), and the `--env`
/// flag checked against the environments guardrail.yaml declares. Every problem at once.
fn load_project(args: &Args, required: bool) -> Result<Project, BadInput> {
    let file = config_file(args, required)?;
    let env_problem = match (&file, &args.env) {
        (Some(f), Some(env)) => f
            .config
            .check_environment(env)
            .err()
            .map(|e| format!("{}: error[usage.env]: --env: {e}", f.name)),
        _ => None,
    };
    let flags = Flags {
        policies: args.policies.clone(),
        waivers: args.waivers.clone(),
    };
    match (Project::load(file, &flags), env_problem) {
        (Ok(p), None) => {
            for w in &p.warnings {
                eprintln!("guardrail: {w}");
            }
            Ok(p)
        }
        (Ok(_), Some(line)) => Err(BadInput::one(line)),
        (Err(mut e), Some(line)) => {
            e.lines.push(line);
            Err(e)
        }
        (Err(e), None) => Err(e),
    }
}

/// guardrail.yaml's settings and directory, when there is one.
fn config_of(project: &Project) -> Option<(&Config, &Path)> {
    let f = project.file.as_ref()?;
    Some((&f.config, f.root.as_deref()?))
}

fn is_dev_null(p: &Path) -> bool {
    p == Path::new("/dev/null")
}

fn check_files(args: &Args, change: &ChangeInfo, now: DateTime<Utc>) -> Result<Report, BadInput> {
    let (Some(old_path), Some(new_path)) = (&args.old, &args.new) else {
        return Err(BadInput::one(
            "error[usage]: give OLD NEW files, or --base REF / --base-dir DIR for repo mode".into(),
        ));
    };
    let project = load_project(args, false)?;
    let config = config_of(&project);
    let known = args
        .target
        .as_ref()
        .and_then(|t| config.and_then(|(c, _)| c.target(t)).cloned());
    let kind = args
        .kind
        .clone()
        .or_else(|| known.as_ref().map(|t| t.kind.clone()))
        .ok_or_else(|| {
            BadInput::one(
                "error[usage.kind]: files mode needs --kind (load_balancer, switch, email_connector, db_client, generic)"
                    .into(),
            )
        })?;
    if !crate::config::KINDS.contains(&kind.as_str()) {
        return Err(BadInput::one(format!(
            "error[usage.kind]: --kind: {}",
            crate::document::names::unknown_name("kind", &kind, crate::config::KINDS)
        )));
    }
    let explicit: Option<Format> = args
        .format
        .or_else(|| known.as_ref().and_then(|t| t.format));
    let old_bytes = (!is_dev_null(old_path))
        .then(|| input::read(old_path))
        .transpose()?;
    let new_bytes = (!is_dev_null(new_path))
        .then(|| input::read(new_path))
        .transpose()?;
    let old_name = old_path.display().to_string();
    let new_name = new_path.display().to_string();
    let format = input::choose_pair_format(
        explicit,
        &[
            (&new_name, new_bytes.as_deref()),
            (&old_name, old_bytes.as_deref()),
        ],
    )?;
    // The bytes are handed over: they become the documents' texts without a copy.
    let (old, new) = input::parse_pair((&old_name, old_bytes), (&new_name, new_bytes), format)?;
    let env = args.env.clone().unwrap_or_else(|| "production".to_string());
    let name = args.target.clone().unwrap_or_else(|| {
        new_path
            .file_name()
            .or(old_path.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "target".into())
    });
    let info = project::target_info(known.as_ref(), &name, &kind, &env, format);
    let (set, waivers, overrides) = (&project.policies, &project.waivers, &project.params);
    let mut report = Report::default();
    // Fan-in rules see the other targets of the environment when guardrail.yaml describes
    // them: their files as they are in the repository, this target's new file in place of its
    // own (the instance whose file is OLD; every instance of the target when OLD is not in the
    // repository, so that nothing is counted twice).
    let others = match (config, &known) {
        (Some((config, root)), Some(target))
            if set.uses_inventory_for(&info.kind, &info.name, &info.env) =>
        {
            let matchers = matchers(config, Some(&info.env));
            let old_in_repo = repo_path(root, old_path);
            let mut errors = Vec::new();
            let docs = read_inventory(
                root,
                &matchers,
                |c| {
                    c.target.name == target.name
                        && old_in_repo
                            .as_deref()
                            .is_none_or(|p| claims(&matchers, p).iter().any(|o| o.name == c.name))
                },
                &mut Progress::new(),
                &mut errors,
            );
            if !errors.is_empty() {
                return Err(BadInput { lines: errors });
            }
            docs
        }
        _ => Vec::new(),
    };
    let inventory = pipeline::inventory(
        [InventoryEntry {
            target: info.clone(),
            doc: new.as_ref().map(|l| &l.doc.root),
        }],
        &others,
    );
    evaluate_target(
        set,
        &info,
        old.as_ref(),
        new.as_ref(),
        change,
        &inventory,
        overrides,
        &mut report,
    );
    waivers.apply(set, &mut report, now);
    drop(inventory);
    // The process exits right after the report is written: freeing large trees node by node
    // would cost more than the rest of a check on a big file.
    std::mem::forget((old, new, others));
    Ok(report)
}

/// `path` relative to the repository `root` (`/`-separated), when it is inside it.
fn repo_path(root: &Path, path: &Path) -> Option<String> {
    let root = root.canonicalize().ok()?;
    let path = path.canonicalize().ok()?;
    let rel = path.strip_prefix(&root).ok()?;
    Some(rel.to_string_lossy().replace('\\', "/"))
}

/// One target instance in one environment that a file belongs to.
struct Claim<'c> {
    target: &'c Target,
    env: String,
    /// The instance name: the target name, or `name[path]` when a glob matches several files.
    name: String,
}

struct Matcher<'c> {
    target: &'c Target,
    env: String,
    glob: GlobMatcher,
    literal: bool,
}

fn matchers<'c>(config: &'c Config, env_filter: Option<&str>) -> Vec<Matcher<'c>> {
    let mut out = Vec::new();
    for t in &config.targets {
        for (env, pattern) in &t.paths {
            if env_filter.is_some_and(|e| e != env) {
                continue;
            }
            if let Ok(g) = Glob::new(pattern) {
                out.push(Matcher {
                    target: t,
                    env: env.clone(),
                    glob: g.compile_matcher(),
                    literal: !pattern.contains(['*', '?', '[', '{']),
                });
            }
        }
    }
    out
}

fn claims<'c>(matchers: &[Matcher<'c>], path: &str) -> Vec<Claim<'c>> {
    matchers
        .iter()
        .filter(|m| m.glob.is_match(path))
        .map(|m| Claim {
            target: m.target,
            env: m.env.clone(),
            name: if m.literal {
                m.target.name.clone()
            } else {
                format!("{}[{path}]", m.target.name)
            },
        })
        .collect()
}

fn target_info(claim: &Claim<'_>, format: Format) -> TargetInfo {
    project::target_info(
        Some(claim.target),
        &claim.name,
        &claim.target.kind,
        &claim.env,
        format,
    )
}

fn check_repo(args: &Args, change: &ChangeInfo, now: DateTime<Utc>) -> Result<Report, BadInput> {
    let project = load_project(args, true)?;
    let (config, root) = config_of(&project)
        .ok_or_else(|| BadInput::one("error[config.missing]: no guardrail.yaml".into()))?;
    let changed = match (&args.base, &args.base_dir) {
        (Some(base), _) => repo::from_git(root, base)?,
        (None, Some(dir)) => repo::from_base_dir(root, dir)?,
        (None, None) => unreachable!("repo mode has --base or --base-dir"),
    };
    let (set, waivers, overrides) = (&project.policies, &project.waivers, &project.params);
    let matchers = matchers(config, args.env.as_deref());

    let mut report = Report::default();
    let mut errors = Vec::new();
    let work = parse_changed(
        args,
        config,
        root,
        &changed,
        &matchers,
        &mut report,
        &mut errors,
    );

    // The inventory: every target instance's new document, per environment. Changed files were
    // parsed above; only the other target files are read and parsed here.
    let uses_inventory = set.uses_inventory();
    let already_parsed = |claim: &Claim<'_>| {
        work.iter()
            .any(|(c, _, _, new)| c.name == claim.name && c.env == claim.env && new.is_some())
    };
    let mut progress = Progress::new();
    let inventory_docs = if uses_inventory {
        read_inventory(root, &matchers, already_parsed, &mut progress, &mut errors)
    } else {
        Vec::new()
    };
    if !errors.is_empty() {
        errors.dedup();
        return Err(BadInput { lines: errors });
    }
    let inventory: Vec<InventoryEntry<'_>> = if uses_inventory {
        let changed = work.iter().filter_map(|(claim, format, _, new)| {
            new.as_ref().map(|l| InventoryEntry {
                target: target_info(claim, *format),
                doc: Some(&l.doc.root),
            })
        });
        pipeline::inventory(changed, &inventory_docs)
    } else {
        Vec::new()
    };
    let mut by_env: BTreeMap<&str, Vec<InventoryEntry<'_>>> = BTreeMap::new();
    for e in &inventory {
        by_env
            .entry(e.target.env.as_str())
            .or_default()
            .push(e.clone());
    }
    for (i, (claim, format, old, new)) in work.iter().enumerate() {
        progress.show("checking", i + 1, work.len(), &claim.name);
        let info = target_info(claim, *format);
        let env_inventory = by_env
            .get(claim.env.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        evaluate_target(
            set,
            &info,
            old.as_ref(),
            new.as_ref(),
            change,
            env_inventory,
            overrides,
            &mut report,
        );
    }
    progress.clear();
    waivers.apply(set, &mut report, now);
    drop(by_env);
    drop(inventory);
    // See check_files: the process exits next, so the trees are not freed one by one.
    std::mem::forget((work, inventory_docs));
    Ok(report)
}

/// One changed file of one claiming target instance, parsed: (claim, format, old, new).
type Work<'c> = (Claim<'c>, Format, Option<Loaded>, Option<Loaded>);

/// Parses every changed file once per target instance that claims it. A file no target claims
/// becomes a notice in `report` (guardrail's own inputs apart from unclaimed files); problems
/// go to `errors`.
fn parse_changed<'c>(
    args: &Args,
    config: &Config,
    root: &Path,
    changed: &[repo::ChangedFile],
    matchers: &[Matcher<'c>],
    report: &mut Report,
    errors: &mut Vec<String>,
) -> Vec<Work<'c>> {
    let own_inputs: Vec<String> =
        std::iter::once(rel_name(args.config.as_deref(), root, "guardrail.yaml"))
            .chain(config.waivers.clone())
            .collect();
    let policy_prefixes: Vec<String> = config
        .policies
        .iter()
        .map(|p| p.trim_end_matches('/').to_string() + "/")
        .chain(std::iter::once("policies/".to_string()))
        .collect();
    let mut work = Vec::new();
    for file in changed {
        let claimed = claims(matchers, &file.path);
        if claimed.is_empty() {
            let own = own_inputs.contains(&file.path)
                || policy_prefixes
                    .iter()
                    .any(|p| file.path.starts_with(p.as_str()));
            report.notices.push(unclaimed_notice(&file.path, own));
            continue;
        }
        for claim in claimed {
            let format = match input::choose_pair_format(
                claim.target.format,
                &[
                    (&file.path, file.new.as_deref()),
                    (&file.path, file.old.as_deref()),
                ],
            ) {
                Ok(f) => f,
                Err(e) => {
                    errors.extend(e.lines);
                    continue;
                }
            };
            let old_label = format!("a/{}", file.path);
            match input::parse_pair(
                (&old_label, file.old.as_deref()),
                (&file.path, file.new.as_deref()),
                format,
            ) {
                Ok((old, new)) => work.push((claim, format, old, new)),
                Err(e) => errors.extend(e.lines),
            }
        }
    }
    work
}

/// The notice for a changed file no target claims: guardrail's own input, or unclaimed.
fn unclaimed_notice(path: &str, own: bool) -> Notice {
    Notice {
        code: if own {
            "file.guardrail-input"
        } else {
            "file.unclaimed"
        }
        .to_string(),
        message: if own {
            format!("{path} changed: it configures guardrail itself and is not checked as a target")
        } else {
            format!(
                "{path} changed but no target in guardrail.yaml claims it, so no policy checked it"
            )
        },
        file: Some(path.to_string()),
        line: None,
    }
}

/// Reads and parses, for the inventory, every file of the repository at `root` that a target
/// instance claims, except the instances `skip` names (the ones being checked, whose new
/// documents the caller has). Problems go to `errors`.
fn read_inventory(
    root: &Path,
    matchers: &[Matcher<'_>],
    skip: impl Fn(&Claim<'_>) -> bool,
    progress: &mut Progress,
    errors: &mut Vec<String>,
) -> Vec<(TargetInfo, Loaded)> {
    let mut docs = Vec::new();
    let files = repo::all_files(root);
    let to_read: Vec<(&String, Vec<Claim<'_>>)> = files
        .iter()
        .map(|path| {
            let mut claimed = claims(matchers, path);
            claimed.retain(|c| !skip(c));
            (path, claimed)
        })
        .filter(|(_, claimed)| !claimed.is_empty())
        .collect();
    let total = to_read.len();
    for (i, (path, claimed)) in to_read.into_iter().enumerate() {
        progress.show("reading", i + 1, total, path);
        for claim in claimed {
            let loaded = input::read(&root.join(path))
                .and_then(|bytes| input::parse(path, &bytes, claim.target.format));
            match loaded {
                Ok(l) => docs.push((target_info(&claim, l.doc.format), l)),
                Err(e) => errors.extend(e.lines),
            }
        }
    }
    progress.clear();
    docs
}

fn rel_name(config: Option<&Path>, root: &Path, default: &str) -> String {
    config
        .and_then(|c| c.strip_prefix(root).ok())
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .unwrap_or_else(|| default.to_string())
}
