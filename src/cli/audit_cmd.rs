//! `guardrail audit verify|head`: the audit log's chain, offline on the store with the audit
//! key (`--data-dir`, `--key-file`), or through a running daemon (`--server`).
//!
//! `verify` checks every link and MAC and, with `--expect-head SEQ:HASH` (a head published
//! earlier: logs, the `guardrail_audit_head_seq` metric, `audit head`), that the chain still
//! reaches it: exit 0 intact, 1 tampered (the record and what is wrong are named), 2 bad input.
//! `head` prints the newest record as `SEQ:HASH` (offline, only when the chain verifies).

use std::path::PathBuf;

use super::daemon_cmds::escape;
use crate::change::audit::Anchor;
use crate::client::{Client, encode};
use crate::server::settings::DEFAULT_DATA_DIR;
use crate::service::api::{AuditHeadView, AuditVerifyView};

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub cmd: AuditCommand,
}

#[derive(clap::Args, Debug, Clone)]
pub struct Source {
    #[arg(long, env = "GUARDRAIL_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// The store's URL instead of the data directory's SQLite file:
    /// sqlite:///path/guardrail.sqlite or postgres://user@host:port/db.
    #[arg(long, env = "GUARDRAIL_STORE")]
    pub store: Option<String>,
    /// The audit key file (default: audit.key in the data directory).
    #[arg(long, env = "GUARDRAIL_AUDIT_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Ask a running daemon instead of reading the store.
    #[arg(long)]
    pub server: Option<String>,
    #[arg(long, env = "GUARDRAIL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[arg(long, default_value = "text")]
    pub output: String,
}

#[derive(clap::Subcommand, Debug)]
pub enum AuditCommand {
    /// Verify the audit log's chain: links, MACs, and that it still reaches --expect-head.
    /// Exit 0 intact, 1 tampered (the record is named).
    Verify {
        /// A head published earlier (SEQ:HASH) the chain must still contain.
        #[arg(long, value_name = "SEQ:HASH")]
        expect_head: Option<String>,
        #[command(flatten)]
        source: Source,
    },
    /// Print the newest audit record as SEQ:HASH, to pin outside the store.
    Head {
        #[command(flatten)]
        source: Source,
    },
}

/// The store's audit log verified offline: with the key file when it exists (a keyed chain
/// needs it; a store written before keyed chains verifies without).
fn verify_offline(s: &Source, anchor: Option<&Anchor>) -> Result<AuditVerifyView, String> {
    let url = super::daemon_cmds::store_url(&s.data_dir, s.store.as_deref())?;
    if let crate::store::StoreUrl::Sqlite(file) = &url
        && !file.is_file()
    {
        return Err(format!(
            "{}: no store here (pass --data-dir or --store)",
            file.display()
        ));
    }
    let store = url.open().map_err(|e| e.to_string())?;
    let path = crate::service::audit::key_path(&s.data_dir, s.key_file.as_deref());
    let key = if path.exists() {
        Some(crate::service::audit::read_key(&path)?)
    } else if s.key_file.is_some() {
        return Err(format!("{}: no such key file", path.display()));
    } else {
        None
    };
    crate::service::audit::verify_store(store.as_ref(), key.as_ref(), anchor)
        .map_err(|e| e.to_string())
}

pub fn run(a: AuditArgs) -> i32 {
    match a.cmd {
        AuditCommand::Verify {
            expect_head,
            source,
        } => {
            let anchor = match expect_head.as_deref().map(str::parse::<Anchor>) {
                None => None,
                Some(Ok(a)) => Some(a),
                Some(Err(e)) => {
                    eprintln!("guardrail: error[usage]: --expect-head {e}");
                    return super::EXIT_BAD_INPUT;
                }
            };
            let result = match &source.server {
                Some(url) => {
                    let q = anchor
                        .as_ref()
                        .map(|a| format!("?expect_head={}", encode(&a.to_string())))
                        .unwrap_or_default();
                    Client::new(url, source.token.clone())
                        .and_then(|c| c.get(&format!("/v1/audit/verify{q}")))
                        .map_err(|e| e.to_string())
                }
                None => verify_offline(&source, anchor.as_ref()),
            };
            match result {
                Err(e) => {
                    eprintln!("guardrail: {}", escape(&e));
                    super::EXIT_BAD_INPUT
                }
                Ok(v) => {
                    if source.output == "json" {
                        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                    } else if v.ok {
                        println!(
                            "audit log intact: {} records verified{}{}{}",
                            v.records,
                            match v.keyed_from {
                                Some(k) => format!(", MAC'd from record {k}"),
                                None => ", not keyed (plain SHA-256 chain)".to_string(),
                            },
                            anchor
                                .as_ref()
                                .map(|a| format!(", reaches the anchor {a}"))
                                .unwrap_or_default(),
                            v.head
                                .as_ref()
                                .map(|h| format!("; head {}", escape(h)))
                                .unwrap_or_default()
                        );
                    } else {
                        println!(
                            "audit log TAMPERED: record {}: {}",
                            v.broken_record.unwrap_or(0),
                            escape(v.reason.as_deref().unwrap_or_default())
                        );
                    }
                    if v.ok { 0 } else { 1 }
                }
            }
        }
        AuditCommand::Head { source } => {
            let head: Result<Option<String>, String> = match &source.server {
                Some(url) => Client::new(url, source.token.clone())
                    .and_then(|c| c.get::<AuditHeadView>("/v1/audit/head"))
                    .map(|v| v.head)
                    .map_err(|e| e.to_string()),
                None => match verify_offline(&source, None) {
                    Err(e) => Err(e),
                    Ok(v) if !v.ok => {
                        println!(
                            "audit log TAMPERED: record {}: {}",
                            v.broken_record.unwrap_or(0),
                            escape(v.reason.as_deref().unwrap_or_default())
                        );
                        return 1;
                    }
                    Ok(v) => Ok(v.head),
                },
            };
            match head {
                Err(e) => {
                    eprintln!("guardrail: {}", escape(&e));
                    super::EXIT_BAD_INPUT
                }
                Ok(h) => {
                    if source.output == "json" {
                        println!("{}", serde_json::json!({ "head": h }));
                    } else {
                        match h {
                            Some(h) => println!("{}", escape(&h)),
                            None => println!("empty audit log"),
                        }
                    }
                    0
                }
            }
        }
    }
}
