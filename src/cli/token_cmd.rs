//! `guardrail token create|list|revoke`: the life cycle of API tokens, offline on the store
//! (`--data-dir`, the default) or through a running daemon's admin API (`--server`). A token is
//! printed once, when created; only its sha256 is stored.

use std::path::PathBuf;

use super::daemon_cmds::{EXIT_API_ERROR, api_error, escape, offline_service, show};
use crate::client::{Client, ClientError};
use crate::server::settings::DEFAULT_DATA_DIR;
use crate::service::api::{TokenCreateBody, TokenCreated, TokenView};

/// Where the command acts: the store offline, or a daemon.
#[derive(clap::Args, Debug, Clone)]
pub struct Target {
    /// The data directory holding the store (offline; the default).
    #[arg(long, env = "GUARDRAIL_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// The store's URL instead of the data directory's SQLite file:
    /// sqlite:///path/guardrail.sqlite or postgres://user@host:port/db.
    #[arg(long, env = "GUARDRAIL_STORE")]
    pub store: Option<String>,
    /// The audit key file (default: audit.key in the data directory).
    #[arg(long, env = "GUARDRAIL_AUDIT_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Act through this daemon's API instead (needs an admin --token).
    #[arg(long)]
    pub server: Option<String>,
    /// Admin API token for --server (env GUARDRAIL_TOKEN).
    #[arg(long, env = "GUARDRAIL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Output: text or json.
    #[arg(long, default_value = "text")]
    pub output: String,
}

#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an API token and print it once; only its hash is kept.
    Create {
        #[arg(long)]
        user: String,
        /// Comma-separated: requester, approver, deployer, admin, breakglass.
        #[arg(long, value_delimiter = ',', required = true)]
        roles: Vec<String>,
        /// Comma-separated groups (approval gates name groups).
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        /// Lifetime, e.g. 90d or 12h (default: until revoked).
        #[arg(long)]
        expires: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// List stored tokens: id, user, roles, created, expires, last used (never the token).
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Revoke a token by id: refused from its next request on.
    Revoke {
        id: i64,
        #[command(flatten)]
        target: Target,
    },
}

fn time(t: Option<chrono::DateTime<chrono::Utc>>, none: &str) -> String {
    t.map_or_else(|| none.to_string(), |t| t.to_rfc3339())
}

fn print_tokens(list: &Vec<TokenView>) {
    if list.is_empty() {
        println!("no tokens");
        return;
    }
    println!(
        "{:>5}  {:<16} {:<28} {:<8} {:<26} {:<26} last used",
        "id", "user", "roles", "state", "created", "expires"
    );
    for t in list {
        println!(
            "{:>5}  {:<16} {:<28} {:<8} {:<26} {:<26} {}",
            t.id,
            t.user,
            t.roles.join(","),
            t.state,
            t.created_at.to_rfc3339(),
            time(t.expires_at, "never"),
            time(t.last_used_at, "never"),
        );
    }
}

/// Runs `f` offline on the store, or returns `None` to go through the API.
fn offline<T>(
    t: &Target,
    f: impl FnOnce(&crate::service::Service) -> Result<T, crate::service::ServiceError>,
) -> Option<Result<T, ClientError>> {
    if t.server.is_some() {
        return None;
    }
    Some(
        offline_service(&t.data_dir, t.store.as_deref(), t.key_file.as_deref())
            .map_err(ClientError::Store)
            .and_then(|svc| {
                f(&svc).map_err(|e| ClientError::Api {
                    status: 0,
                    message: e.to_string(),
                    field: match &e {
                        crate::service::ServiceError::Unprocessable { field, .. } => field.clone(),
                        _ => None,
                    },
                    reasons: Vec::new(),
                })
            }),
    )
}

fn client(t: &Target) -> Result<Client, ClientError> {
    Client::new(t.server.as_deref().unwrap_or_default(), t.token.clone())
}

pub fn run(cmd: TokenCommand) -> i32 {
    match cmd {
        TokenCommand::Create {
            user,
            roles,
            groups,
            expires,
            target,
        } => {
            let body = TokenCreateBody {
                user: user.clone(),
                roles: roles.iter().map(|r| r.trim().to_string()).collect(),
                groups,
                expires,
            };
            let r = offline(&target, |svc| {
                svc.create_token("guardrail token create", &body)
            })
            .unwrap_or_else(|| client(&target).and_then(|c| c.post("/v1/tokens", &body)));
            match r {
                Ok(t) if target.output == "json" => show::<TokenCreated>(Ok(t), true, |_| {}),
                Ok(t) => {
                    println!("{}", t.token);
                    eprintln!(
                        "guardrail: token {} for {} created{}; it is shown only this once (export GUARDRAIL_TOKEN=...)",
                        t.id,
                        escape(&t.user),
                        t.expires_at
                            .map(|e| format!(", expires {}", e.to_rfc3339()))
                            .unwrap_or_default()
                    );
                    0
                }
                Err(e) => usage_or_api(e),
            }
        }
        TokenCommand::List { target } => {
            let r = offline(&target, |svc| svc.tokens())
                .unwrap_or_else(|| client(&target).and_then(|c| c.get("/v1/tokens")));
            show(r, target.output == "json", print_tokens)
        }
        TokenCommand::Revoke { id, target } => {
            let r = offline(&target, |svc| {
                svc.revoke_token("guardrail token revoke", id)
            })
            .unwrap_or_else(|| client(&target).and_then(|c| c.delete(&format!("/v1/tokens/{id}"))));
            show::<TokenView>(r, target.output == "json", |t| {
                println!(
                    "token {} of {} revoked at {}",
                    t.id,
                    t.user,
                    time(t.revoked_at, "now")
                )
            })
        }
    }
}

/// A refused request is exit 1; bad input given offline (an unknown role) is exit 2, as before.
fn usage_or_api(e: ClientError) -> i32 {
    match &e {
        ClientError::Api {
            status: 0,
            field: Some(_),
            ..
        } => {
            api_error(e);
            super::EXIT_BAD_INPUT
        }
        ClientError::Decode(m) => {
            eprintln!("guardrail: {}", escape(m));
            super::EXIT_BAD_INPUT
        }
        _ => {
            api_error(e);
            EXIT_API_ERROR
        }
    }
}
