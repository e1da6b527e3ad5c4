//! The daemon's commands: `serve`, `healthcheck`, `hash`, and `change ...`, a client of the API
//! with readable output and `--output json`; the result printer every client command shares,
//! which never prints a control character that came from the daemon (`escape`).

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::input;
use crate::client::{Client, ClientError, DEFAULT_SERVER, encode};
use crate::server::settings::Overrides;
use crate::service::api::*;

/// Exit code of a client command the daemon refused (or could not be reached for).
pub const EXIT_API_ERROR: i32 = 1;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// guardrail.yaml (default ./guardrail.yaml, else embedded defaults: the example targets and
    /// the built-in policy library).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Listen address (default 127.0.0.1:8437; env GUARDRAIL_LISTEN).
    #[arg(long)]
    pub listen: Option<String>,
    /// Data directory holding the SQLite store and the audit key (default ./guardrail-data; env
    /// GUARDRAIL_DATA_DIR).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The store: sqlite:///path/guardrail.sqlite (default: the data directory's file) or
    /// postgres://user@host:port/db (env GUARDRAIL_STORE; password from PGPASSWORD or
    /// GUARDRAIL_STORE_PASSWORD_FILE).
    #[arg(long)]
    pub store: Option<String>,
    /// Log format: text or json (env GUARDRAIL_LOG_FORMAT).
    #[arg(long)]
    pub log_format: Option<String>,
}

pub fn serve(a: ServeArgs) -> i32 {
    crate::server::serve(
        a.config,
        Overrides {
            listen: a.listen,
            data_dir: a.data_dir,
            store: a.store,
            log_format: a.log_format,
        },
    )
}

/// The store an offline command opens: `--store` (env GUARDRAIL_STORE), else the SQLite file in
/// `data_dir`.
pub(super) fn store_url(
    data_dir: &std::path::Path,
    store: Option<&str>,
) -> Result<crate::store::StoreUrl, String> {
    match store {
        Some(u) => crate::store::StoreUrl::parse(u).map_err(|e| format!("--store: {e}")),
        None => Ok(crate::store::StoreUrl::in_data_dir(data_dir)),
    }
}

/// Opens the store (`--store`, else the data directory's) with the embedded runtime, for offline
/// commands: with the audit key of `key_file` (default `audit.key` in the data directory),
/// created with the chain's key marker when neither exists yet.
pub(super) fn offline_service(
    data_dir: &std::path::Path,
    store: Option<&str>,
    key_file: Option<&std::path::Path>,
) -> Result<crate::service::Service, String> {
    let url = store_url(data_dir, store)?;
    let store = url.open().map_err(|e| e.to_string())?;
    let key_path = crate::service::audit::key_path(data_dir, key_file);
    let opened = crate::service::audit::open_key(store.as_ref(), &key_path, Utc::now())?;
    let rt =
        crate::server::settings::load_runtime(&crate::server::settings::ConfigSource::Embedded)
            .map_err(|e| e.join("; "))?;
    Ok(crate::service::Service::new(
        store,
        rt,
        std::sync::Arc::new(crate::metrics::Metrics::new()),
        crate::service::system_clock(),
        opened.key,
    ))
}

#[derive(clap::Args, Debug, Clone)]
pub struct Conn {
    /// The daemon's URL.
    #[arg(long, env = "GUARDRAIL_SERVER", default_value = DEFAULT_SERVER, global = true)]
    pub server: String,
    /// API token (env GUARDRAIL_TOKEN).
    #[arg(long, env = "GUARDRAIL_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Output: text or json.
    #[arg(long, default_value = "text", global = true)]
    pub output: String,
}

impl Conn {
    pub(super) fn client(&self) -> Result<Client, ClientError> {
        Client::new(&self.server, self.token.clone())
    }

    pub(super) fn json(&self) -> bool {
        self.output == "json"
    }
}

/// Whether the CLI must not print `c` as is: C0 controls other than newline and tab (terminal
/// escape sequences start with ESC), DEL and C1 controls.
fn unprintable(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// `s` with every control character the terminal could act on shown as `\u{1b}` instead.
/// Input validation refuses them in the daemon already; this is the second line of defense
/// for whatever reaches the CLI anyway (an older daemon, a drifted config's diff).
pub(crate) fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(unprintable) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unprintable(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Every string of a JSON value escaped (see [`escape`]).
fn escape_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => {
            if let std::borrow::Cow::Owned(e) = escape(s) {
                *s = e;
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(escape_json),
        serde_json::Value::Object(m) => m.values_mut().for_each(escape_json),
        _ => {}
    }
}

/// A value with every string escaped, for the text printers.
fn escaped<T: serde::Serialize + serde::de::DeserializeOwned>(v: &T) -> Option<T> {
    let mut j = serde_json::to_value(v).ok()?;
    escape_json(&mut j);
    serde_json::from_value(j).ok()
}

/// JSON text with DEL and C1 controls escaped too (serde_json escapes only C0).
fn safe_json(text: String) -> String {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return text;
    }
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' {
                format!("\\u{:04x}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Prints a refused or failed API call (with the field and reasons the daemon gave) and
/// returns [`EXIT_API_ERROR`].
pub(super) fn api_error(e: ClientError) -> i32 {
    match &e {
        ClientError::Api { field, reasons, .. } => {
            eprintln!("guardrail: {}", escape(&e.to_string()));
            if let Some(f) = field {
                eprintln!("  field: {}", escape(f));
            }
            for r in reasons {
                eprintln!("  - {}", escape(r));
            }
        }
        _ => eprintln!("guardrail: {}", escape(&e.to_string())),
    }
    EXIT_API_ERROR
}

/// Prints the result of an API call, as JSON (`--output json`) or with `text` (every string
/// from the daemon escaped); an error is printed by [`api_error`]. Returns the exit code.
pub(super) fn show<T: serde::Serialize + serde::de::DeserializeOwned>(
    r: Result<T, ClientError>,
    json: bool,
    text: impl FnOnce(&T),
) -> i32 {
    match r {
        Ok(v) if json => {
            println!(
                "{}",
                safe_json(serde_json::to_string_pretty(&v).unwrap_or_default())
            );
            0
        }
        Ok(v) => match escaped(&v) {
            Some(v) => {
                text(&v);
                0
            }
            None => {
                println!(
                    "{}",
                    safe_json(serde_json::to_string_pretty(&v).unwrap_or_default())
                );
                0
            }
        },
        Err(e) => api_error(e),
    }
}

#[derive(clap::Args, Debug)]
pub struct HealthArgs {
    #[arg(long, env = "GUARDRAIL_SERVER", default_value = DEFAULT_SERVER)]
    pub server: String,
}

/// `guardrail healthcheck`: exit 0 when `/healthz` answers 200 (for container health checks).
pub fn healthcheck(a: HealthArgs) -> i32 {
    let url = format!("{}/healthz", a.server.trim_end_matches('/'));
    match reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .and_then(|c| c.get(&url).send())
    {
        Ok(r) if r.status().is_success() => 0,
        Ok(r) => {
            eprintln!("guardrail: {url}: {}", r.status());
            1
        }
        Err(e) => {
            eprintln!("guardrail: {url}: {e}");
            1
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct HashArgs {
    pub file: PathBuf,

    #[arg(long, value_parser = super::format_arg, help = super::FORMAT_HELP)]
    pub format: Option<crate::document::Format>,
}

/// `guardrail hash FILE`: the content hash the gate and approvals use (whitespace and
/// comments do not change it).
pub fn hash(a: HashArgs) -> i32 {
    match input::load(&a.file, a.format) {
        Ok(l) => {
            println!("{}", l.doc.content_hash());
            0
        }
        Err(e) => super::bad_input(e),
    }
}

#[derive(clap::Args, Debug)]
pub struct ChangeArgs {
    #[command(flatten)]
    pub conn: Conn,
    #[command(subcommand)]
    pub cmd: ChangeCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ChangeCommand {
    /// Submit new content for targets of one environment: TARGET=FILE ...
    Submit {
        #[arg(long)]
        env: String,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        ticket: String,
        #[arg(long, default_value = "")]
        source_url: String,
        #[arg(long, default_value = "")]
        commit: String,
        /// TARGET=FILE pairs.
        #[arg(required = true, value_name = "TARGET=FILE")]
        files: Vec<String>,
    },
    /// List changes.
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        env: Option<String>,
        #[arg(long)]
        target: Option<String>,
    },
    /// Show one change with its gate and findings.
    Show { id: i64 },
    /// Approve the content you reviewed (default: the change's current content hash).
    Approve {
        id: i64,
        #[arg(long, default_value = "")]
        comment: String,
        #[arg(long)]
        hash: Option<String>,
    },
    /// Reject a change.
    Reject {
        id: i64,
        #[arg(long)]
        comment: String,
        #[arg(long)]
        hash: Option<String>,
    },
    /// Schedule an approved change (RFC 3339 time inside an open window).
    Schedule {
        id: i64,
        #[arg(long)]
        at: DateTime<Utc>,
    },
    /// Report the change applied (deployer).
    Applied {
        id: i64,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Report the change verified live (deployer).
    Verified {
        id: i64,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Report the change rolled back (deployer); the previous baseline is restored.
    RolledBack {
        id: i64,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Cancel a change.
    Cancel {
        id: i64,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Pass every gate in an emergency (breakglass role); opens a retro review.
    BreakGlass {
        id: i64,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        incident: String,
    },
}

fn print_change(v: &ChangeView) {
    println!("change {} [{}] {} ({})", v.id, v.state, v.title, v.env);
    println!(
        "  author {}  revision {}  content {}",
        v.author, v.revision, v.content_hash
    );
    for t in &v.targets {
        println!("  target {} ({}) {}", t.target, t.format, t.content_hash);
    }
    if !v.ticket.is_empty() {
        println!("  ticket {}", v.ticket);
    }
    for m in &v.mandatory {
        println!("  BLOCKED {m}");
    }
    for r in &v.requirements {
        let groups = if r.groups.is_empty() {
            String::new()
        } else {
            format!(" from {}", r.groups.join(" or "))
        };
        println!("  needs {} approval(s){groups} ({})", r.count, r.source);
    }
    for a in &v.approvals {
        println!(
            "  {} by {} at {}: {}",
            a.decision,
            a.user,
            a.at.to_rfc3339(),
            a.comment
        );
    }
    if let Some(b) = &v.break_glass {
        println!(
            "  BREAK-GLASS by {} ({}; incident {})",
            b.by, b.reason, b.incident
        );
    }
    if let Some(s) = v.scheduled_at {
        println!("  scheduled for {}", s.to_rfc3339());
    }
    if v.gate.decision.allow {
        println!("  gate: may be applied now");
    } else {
        println!("  gate: may not be applied now:");
        for r in &v.gate.decision.reasons {
            println!("    - {r}");
        }
    }
    for o in &v.gate.decision.overridden {
        println!("    (overridden by break-glass) {o}");
    }
}

fn current_hash(c: &Client, id: i64) -> Result<String, ClientError> {
    let v: ChangeView = c.get(&format!("/v1/changes/{id}"))?;
    Ok(v.content_hash)
}

/// The `TARGET=FILE` arguments of `change submit`, read; a bad one is printed and its exit code
/// returned.
fn read_targets(files: &[String]) -> Result<Vec<TargetContent>, i32> {
    let mut targets = Vec::new();
    for f in files {
        let Some((t, path)) = f.split_once('=') else {
            eprintln!("guardrail: error[usage]: `{f}`: expected TARGET=FILE");
            return Err(super::EXIT_BAD_INPUT);
        };
        let bytes = input::read(std::path::Path::new(path)).map_err(super::bad_input)?;
        let Ok(content) = String::from_utf8(bytes) else {
            eprintln!("guardrail: {path}: error[input.utf8]: not valid UTF-8");
            return Err(super::EXIT_BAD_INPUT);
        };
        targets.push(TargetContent {
            target: t.to_string(),
            content,
            format: None,
        });
    }
    Ok(targets)
}

/// `change list`: one line per change.
fn print_change_list(list: &Vec<ChangeView>) {
    if list.is_empty() {
        println!("no changes");
    }
    for v in list {
        let targets: Vec<&str> = v.targets.iter().map(|t| t.target.as_str()).collect();
        println!(
            "{:>5}  {:<18} {:<11} {:<12} {}  [{}]",
            v.id,
            v.state,
            v.env,
            v.author,
            v.title,
            targets.join(", ")
        );
    }
}

pub fn change(a: ChangeArgs) -> i32 {
    let conn = a.conn.clone();
    let client = match conn.client() {
        Ok(c) => c,
        Err(e) => return api_error(e),
    };
    let json = conn.json();
    let one = |r: Result<ChangeView, ClientError>| show(r, json, print_change);
    let is_approve = matches!(a.cmd, ChangeCommand::Approve { .. });
    match a.cmd {
        ChangeCommand::Submit {
            env,
            title,
            ticket,
            source_url,
            commit,
            files,
        } => {
            let targets = match read_targets(&files) {
                Ok(t) => t,
                Err(code) => return code,
            };
            let body = SubmitChange {
                env,
                title,
                ticket,
                source_url,
                commit,
                targets,
            };
            one(client.post("/v1/changes", &body))
        }
        ChangeCommand::List { state, env, target } => {
            let mut q = Vec::new();
            for (k, v) in [("state", state), ("env", env), ("target", target)] {
                if let Some(v) = v {
                    q.push(format!("{k}={}", encode(&v)));
                }
            }
            let path = format!("/v1/changes?{}", q.join("&"));
            show(
                client.get::<Vec<ChangeView>>(&path),
                json,
                print_change_list,
            )
        }
        ChangeCommand::Show { id } => one(client.get(&format!("/v1/changes/{id}"))),
        ChangeCommand::Approve { id, comment, hash }
        | ChangeCommand::Reject { id, comment, hash } => {
            let decision = if is_approve {
                DecisionBody::Approve
            } else {
                DecisionBody::Reject
            };
            let hash = match hash {
                Some(h) => h,
                None => match current_hash(&client, id) {
                    Ok(h) => {
                        eprintln!(
                            "guardrail: deciding on content {h} (pass --hash to pin what you reviewed)"
                        );
                        h
                    }
                    Err(e) => return api_error(e),
                },
            };
            let body = ApprovalBody {
                decision,
                comment,
                content_hash: hash,
            };
            one(client.post(&format!("/v1/changes/{id}/approvals"), &body))
        }
        ChangeCommand::Schedule { id, at } => {
            one(client.post(&format!("/v1/changes/{id}/schedule"), &ScheduleBody { at }))
        }
        ChangeCommand::Applied { id, note } => {
            one(client.post(&format!("/v1/changes/{id}/applied"), &NoteBody { note }))
        }
        ChangeCommand::Verified { id, note } => {
            one(client.post(&format!("/v1/changes/{id}/verified"), &NoteBody { note }))
        }
        ChangeCommand::RolledBack { id, note } => {
            one(client.post(&format!("/v1/changes/{id}/rolled_back"), &NoteBody { note }))
        }
        ChangeCommand::Cancel { id, note } => {
            one(client.post(&format!("/v1/changes/{id}/cancel"), &NoteBody { note }))
        }
        ChangeCommand::BreakGlass {
            id,
            reason,
            incident,
        } => one(client.post(
            &format!("/v1/changes/{id}/break-glass"),
            &BreakGlassBody { reason, incident },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_from_the_daemon_are_shown_escaped() {
        assert_eq!(escape("plain\nlines\tok"), "plain\nlines\tok");
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("c1\u{9b}x\u{7f}"), "c1\\u{9b}x\\u{7f}");
        let v: ChangeTargetView = escaped(&ChangeTargetView {
            target: "t\u{7}".into(),
            format: "haproxy".into(),
            content_hash: "sha256:x".into(),
        })
        .unwrap();
        assert_eq!(v.target, "t\\u{7}");
        let json =
            safe_json(serde_json::to_string(&serde_json::json!({"t": "a\u{9b}\u{1b}"})).unwrap());
        assert!(!json.chars().any(|c| c.is_control()), "{json}");
    }
}
