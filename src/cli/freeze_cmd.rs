//! `guardrail freeze list|create|lift` and `guardrail retro list|close`: clients of the daemon's
//! freeze and break-glass retro review API, with readable output and `--output json`.

use chrono::{DateTime, Utc};

use super::daemon_cmds::{Conn, api_error, show};
use crate::service::api::{CloseRetroBody, FreezeBody, FreezeView, RetroView};

#[derive(clap::Args, Debug)]
pub struct FreezeArgs {
    #[command(flatten)]
    pub conn: Conn,
    #[command(subcommand)]
    pub cmd: FreezeCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum FreezeCommand {
    /// Freezes in force or to come.
    List,
    /// Freeze the targets of an environment (admin): no change is allowed there until it ends
    /// or is lifted; break-glass still passes.
    Create {
        #[arg(long)]
        env: String,
        /// Why (shown in every gate answer the freeze refuses).
        #[arg(long)]
        reason: String,
        /// Target glob (default every target of the environment).
        #[arg(long, default_value = "*")]
        targets: String,
        /// End time (RFC 3339, e.g. 2026-12-27T06:00:00Z).
        #[arg(long, conflicts_with = "for")]
        until: Option<DateTime<Utc>>,
        /// Duration from now (30m, 8h, 3d). Without --until or --for the freeze lasts until
        /// lifted.
        #[arg(long = "for", value_name = "DURATION", value_parser = crate::change::parse_duration)]
        r#for: Option<chrono::Duration>,
    },
    /// Lift a freeze now (admin).
    Lift { id: i64 },
}

#[derive(clap::Args, Debug)]
pub struct RetroArgs {
    #[command(flatten)]
    pub conn: Conn,
    #[command(subcommand)]
    pub cmd: RetroCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum RetroCommand {
    /// Break-glass retro reviews (default: the open ones).
    List {
        /// Closed reviews too.
        #[arg(long)]
        all: bool,
    },
    /// Close a retro review with what it found (approver).
    Close {
        id: i64,
        #[arg(long)]
        note: String,
    },
}

fn time(t: Option<DateTime<Utc>>, none: &str) -> String {
    t.map_or_else(|| none.to_string(), |t| t.to_rfc3339())
}

fn print_freeze(f: &FreezeView) {
    println!(
        "{:>5}  {:<11} {:<16} from {}  until {}  by {}: {}",
        f.id,
        f.env,
        f.targets,
        f.from.to_rfc3339(),
        time(f.until, "lifted"),
        f.created_by,
        f.reason
    );
}

pub fn freeze(a: FreezeArgs) -> i32 {
    let client = match a.conn.client() {
        Ok(c) => c,
        Err(e) => return api_error(e),
    };
    let json = a.conn.json();
    match a.cmd {
        FreezeCommand::List => show(client.get::<Vec<FreezeView>>("/v1/freezes"), json, |list| {
            if list.is_empty() {
                println!("no freezes");
            }
            list.iter().for_each(print_freeze);
        }),
        FreezeCommand::Create {
            env,
            reason,
            targets,
            until,
            r#for,
        } => {
            let until = until.or_else(|| r#for.map(|d| Utc::now() + d));
            let body = FreezeBody {
                env,
                targets,
                reason,
                until,
            };
            show(
                client.post::<_, FreezeView>("/v1/freezes", &body),
                json,
                |f| {
                    print!("frozen: ");
                    print_freeze(f);
                },
            )
        }
        FreezeCommand::Lift { id } => show(
            client
                .delete::<serde_json::Value>(&format!("/v1/freezes/{id}"))
                .map(|_| serde_json::json!({"id": id, "lifted": true})),
            json,
            |_| println!("freeze {id} lifted"),
        ),
    }
}

pub fn retro(a: RetroArgs) -> i32 {
    let client = match a.conn.client() {
        Ok(c) => c,
        Err(e) => return api_error(e),
    };
    let json = a.conn.json();
    match a.cmd {
        RetroCommand::List { all } => {
            let path = if all {
                "/v1/retro-reviews"
            } else {
                "/v1/retro-reviews?open=true"
            };
            show(client.get::<Vec<RetroView>>(path), json, |list| {
                if list.is_empty() {
                    println!("no retro reviews");
                }
                for r in list {
                    let state = match (&r.closed_at, r.overdue) {
                        (Some(_), _) => "closed",
                        (None, true) => "OVERDUE",
                        (None, false) => "open",
                    };
                    println!(
                        "{:>5}  {:<7} change {:<5} opened {}  due {}{}",
                        r.id,
                        state,
                        r.change_id,
                        r.opened_at.to_rfc3339(),
                        r.due_at.to_rfc3339(),
                        match (&r.closed_by, &r.note) {
                            (Some(by), Some(n)) => format!("  closed by {by}: {n}"),
                            _ => String::new(),
                        }
                    );
                }
            })
        }
        RetroCommand::Close { id, note } => show(
            client
                .post::<_, serde_json::Value>(
                    &format!("/v1/retro-reviews/{id}/close"),
                    &CloseRetroBody { note },
                )
                .map(|_| serde_json::json!({"id": id, "closed": true})),
            json,
            |_| println!("retro review {id} closed"),
        ),
    }
}
