//! `guardrail store migrate --from URL --to URL`: moves the daemon's state from one store to
//! another (from SQLite to PostgreSQL, the usual way), then verifies the audit chain on the far
//! side with the audit key. Run it with the daemon stopped.

use std::path::PathBuf;

use super::daemon_cmds::escape;
use crate::server::settings::DEFAULT_DATA_DIR;
use crate::store::StoreUrl;

#[derive(clap::Subcommand, Debug)]
pub enum StoreCommand {
    /// Copy every record of one store into a new, empty one (ids kept), then verify the audit
    /// chain there. Exit 0 copied and intact, 1 the copy's chain does not verify, 2 refused.
    Migrate {
        /// The store to copy: sqlite:///path/guardrail.sqlite or postgres://user@host:port/db.
        #[arg(long)]
        from: String,
        /// The new store (created and migrated when absent; it must hold no record).
        #[arg(long)]
        to: String,
        /// The audit key file (default: audit.key in the data directory).
        #[arg(long, env = "GUARDRAIL_AUDIT_KEY_FILE")]
        key_file: Option<PathBuf>,
        /// The data directory holding the default audit key.
        #[arg(long, env = "GUARDRAIL_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
}

pub fn run(cmd: StoreCommand) -> i32 {
    let StoreCommand::Migrate {
        from,
        to,
        key_file,
        data_dir,
    } = cmd;
    let urls = StoreUrl::parse(&from)
        .map_err(|e| format!("--from: {e}"))
        .and_then(|f| Ok((f, StoreUrl::parse(&to).map_err(|e| format!("--to: {e}"))?)));
    let (from, to) = match urls {
        Ok(u) => u,
        Err(e) => {
            eprintln!("guardrail: error[usage]: {}", escape(&e));
            return super::EXIT_BAD_INPUT;
        }
    };
    if let StoreUrl::Sqlite(p) = &from
        && !p.is_file()
    {
        eprintln!("guardrail: --from: {}: no store here", p.display());
        return super::EXIT_BAD_INPUT;
    }
    let key_path = crate::service::audit::key_path(&data_dir, key_file.as_deref());
    let key = if key_path.exists() {
        match crate::service::audit::read_key(&key_path) {
            Ok(k) => Some(k),
            Err(e) => {
                eprintln!("guardrail: {}", escape(&e));
                return super::EXIT_BAD_INPUT;
            }
        }
    } else {
        None
    };
    let (copied, store) = match crate::store::migrate_store(&from, &to) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "guardrail: store migrate {} -> {}: {}",
                from.shown(),
                to.shown(),
                escape(&e.to_string())
            );
            return super::EXIT_BAD_INPUT;
        }
    };
    for (table, n) in &copied {
        println!("{table}: {n} rows");
    }
    match crate::service::audit::verify_store(store.as_ref(), key.as_ref(), None) {
        Ok(v) if v.ok => {
            println!(
                "copied into {}; audit log intact there: {} records verified{}",
                to.shown(),
                v.records,
                if key.is_some() {
                    ""
                } else {
                    " (no key file: links only, not the MACs)"
                }
            );
            0
        }
        Ok(v) => {
            println!(
                "copied into {}, but its audit log does NOT verify: record {}: {}",
                to.shown(),
                v.broken_record.unwrap_or(0),
                escape(v.reason.as_deref().unwrap_or(""))
            );
            1
        }
        Err(e) => {
            eprintln!(
                "guardrail: verifying {}: {}",
                to.shown(),
                escape(&e.to_string())
            );
            super::EXIT_BAD_INPUT
        }
    }
}
