//! `guardrail drift list|show|adopt`: a client of the daemon's drift API, with readable output
//! and `--output json`.

use super::daemon_cmds::{Conn, api_error, show};
use crate::client::encode;
use crate::service::api::ChangeView;
use crate::service::drift::{AdoptBody, DriftView};

#[derive(clap::Args, Debug)]
pub struct DriftArgs {
    #[command(flatten)]
    pub conn: Conn,
    #[command(subcommand)]
    pub cmd: DriftCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum DriftCommand {
    /// List drifts, newest first (default: open ones).
    List {
        /// open, resolved or all.
        #[arg(long, default_value = "open")]
        status: String,
        #[arg(long)]
        target: Option<String>,
        #[arg(long)]
        env: Option<String>,
    },
    /// Show one drift with its diff, findings and the baseline to roll back to.
    Show { id: i64 },
    /// Submit a change with the drifted content; it goes through the normal gates, and the
    /// drift resolves once it is approved and seen live (or reported applied).
    Adopt {
        id: i64,
        #[arg(long)]
        title: Option<String>,
        #[arg(long, default_value = "")]
        ticket: String,
    },
}

fn print_one(d: &DriftView) {
    println!(
        "drift {} [{}] {} of {} in {}",
        d.id, d.status, d.kind, d.target, d.env
    );
    println!(
        "  first seen {}  last seen {}  flaps {}",
        d.first_seen.to_rfc3339(),
        d.last_seen.to_rfc3339(),
        d.flaps
    );
    println!("  live {}", d.live_hash);
    if let (Some(id), Some(h)) = (d.baseline_id, &d.baseline_hash) {
        println!("  roll back to baseline {id} ({h})");
    }
    if let Some(c) = d.change_id {
        println!("  applied change {c} does not show live");
    }
    if let Some(r) = &d.resolution {
        println!(
            "  resolved {} ({r})",
            d.resolved_at.map(|t| t.to_rfc3339()).unwrap_or_default()
        );
    }
    if let Some(c) = d.adopted_change_id {
        println!("  adopted by change {c}");
    }
    if let Some(m) = d.detail.get("matches_change") {
        println!(
            "  matches change {} but it may not be applied now: {}",
            m["id"],
            m["not_allowed_because"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join("; "))
                .unwrap_or_default()
        );
    }
    for f in &d.findings {
        println!(
            "  {} {}/{}: {}",
            f["enforcement"].as_str().unwrap_or(""),
            f["policy"].as_str().unwrap_or(""),
            f["rule"].as_str().unwrap_or(""),
            f["message"].as_str().unwrap_or("")
        );
    }
    if let Some(u) = &d.unified_diff
        && !u.is_empty()
    {
        println!();
        print!("{u}");
        if !u.ends_with('\n') {
            println!();
        }
    }
}

pub fn run(a: DriftArgs) -> i32 {
    let client = match a.conn.client() {
        Ok(c) => c,
        Err(e) => return api_error(e),
    };
    let json = a.conn.json();
    match a.cmd {
        DriftCommand::List {
            status,
            target,
            env,
        } => {
            let mut q = Vec::new();
            if status != "all" {
                q.push(format!("status={}", encode(&status)));
            }
            for (k, v) in [("target", target), ("env", env)] {
                if let Some(v) = v {
                    q.push(format!("{k}={}", encode(&v)));
                }
            }
            show(
                client.get::<Vec<DriftView>>(&format!("/v1/drift?{}", q.join("&"))),
                json,
                |list| {
                    if list.is_empty() {
                        println!("no drift");
                    }
                    for d in list {
                        println!(
                            "{:>5}  {:<9} {:<20} {:<20} {:<11} since {}  findings {}{}",
                            d.id,
                            d.status,
                            d.kind,
                            d.target,
                            d.env,
                            d.first_seen.to_rfc3339(),
                            d.findings.len(),
                            d.adopted_change_id
                                .map(|c| format!("  adopted by change {c}"))
                                .unwrap_or_default()
                        );
                    }
                },
            )
        }
        DriftCommand::Show { id } => show(
            client.get::<DriftView>(&format!("/v1/drift/{id}")),
            json,
            print_one,
        ),
        DriftCommand::Adopt { id, title, ticket } => {
            let body = AdoptBody { title, ticket };
            show(
                client.post::<_, ChangeView>(&format!("/v1/drift/{id}/adopt"), &body),
                json,
                |v| {
                    println!(
                        "drift {id} adopted: change {} [{}] {} ({})",
                        v.id, v.state, v.title, v.env
                    );
                    for m in &v.mandatory {
                        println!("  BLOCKED {m}");
                    }
                    for r in &v.gate.decision.reasons {
                        println!("  - {r}");
                    }
                },
            )
        }
    }
}
