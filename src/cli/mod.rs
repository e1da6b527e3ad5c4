//! The command-line shell: flags, file reading, printing, exit codes.
//!
//! Owns the `guardrail` subcommands. Each command gathers input (files, git, flags), calls the
//! pure core (`formats`, `diff`, `policy`, `report`) and prints what it returns. Exit codes:
//! 0 success/pass, 1 a semantic change (`diff`) or a block (`check`), 2 bad input or usage,
//! 3 approval required (`check`).

mod audit_cmd;
mod check;
mod daemon_cmds;
mod diff_cmd;
mod drift_cmd;
mod freeze_cmd;
pub mod input;
mod parse_cmd;
pub use crate::project::policies;
mod policy_cmd;
pub mod repo;
mod store_cmd;
mod token_cmd;

use std::io::{IsTerminal, Write};

use clap::{Parser, Subcommand};

use crate::document::Format;

/// Exit code for bad input or usage.
pub const EXIT_BAD_INPUT: i32 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "guardrail",
    version,
    about = "Change-management guardrail for infrastructure configuration",
    long_about = "Parses infrastructure configs (HAProxy, nginx, IOS-style, fetchmail, YAML, JSON, TOML, INI), \
diffs them semantically and gates changes with policies."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check a change against the policies: the CI gate (exit 0 pass, 1 blocked, 2 bad input, 3 approval required).
    Check(Box<check::Args>),
    /// Semantic diff of two configs (exit 0: no change, 1: changed, 2: bad input).
    Diff(diff_cmd::Args),
    /// Test and lint policies.
    #[command(subcommand)]
    Policy(policy_cmd::Command),
    /// Print the document tree of a config, as policies see it.
    Parse(parse_cmd::Args),
    /// Print the content hash of a config (what approvals and the gate name).
    Hash(daemon_cmds::HashArgs),
    /// Run the daemon: change requests, approvals, gates, drift, metrics.
    Serve(daemon_cmds::ServeArgs),
    /// API tokens of the daemon: create, list, revoke.
    #[command(subcommand)]
    Token(token_cmd::TokenCommand),
    /// Changes held by the daemon (a client of its API).
    Change(daemon_cmds::ChangeArgs),
    /// The daemon's audit log: verify its chain, print its head.
    Audit(audit_cmd::AuditArgs),
    /// The daemon's store: `migrate` copies it into another (SQLite to PostgreSQL).
    #[command(subcommand)]
    Store(store_cmd::StoreCommand),
    /// Drift of live configs from their baselines (a client of the daemon's API).
    Drift(drift_cmd::DriftArgs),
    /// Change freezes of the daemon: list, create, lift.
    Freeze(freeze_cmd::FreezeArgs),
    /// Break-glass retro reviews of the daemon: list, close.
    Retro(freeze_cmd::RetroArgs),
    /// Exit 0 when the daemon answers /healthz.
    Healthcheck(daemon_cmds::HealthArgs),
}

/// The value parser of every `--format` flag: the names and aliases of `Format::NAMES` (the
/// same list guardrail.yaml and the API accept), an unknown one refused with the nearest name.
pub fn format_arg(s: &str) -> Result<Format, String> {
    Format::parse_name(s)
}

/// The help of `--format`: [`Format::accepted_names`] (a test keeps the two equal).
pub const FORMAT_HELP: &str = "Format: yaml (yml), json, toml, ini, haproxy, nginx, ios (eos, frr, arista, cisco), fetchmail (fetchmailrc); detected from the name and content when absent";

/// Runs the CLI and returns the process exit code. Commands run on the main thread: the
/// policy engine evaluates CEL on its own large-stack thread (`PolicySet::evaluate`), and the
/// parsers use explicit stacks and depth limits. (Running everything on a spawned thread made
/// glibc grow a secondary heap arena with `mprotect`, which cost a third of a large check.)
pub fn main() -> i32 {
    run()
}

fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_BAD_INPUT } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Check(args) => check::run(*args),
        Command::Diff(args) => diff_cmd::run(args),
        Command::Policy(cmd) => policy_cmd::run(cmd),
        Command::Parse(args) => parse_cmd::run(args),
        Command::Hash(args) => daemon_cmds::hash(args),
        Command::Serve(args) => daemon_cmds::serve(args),
        Command::Token(cmd) => token_cmd::run(cmd),
        Command::Change(args) => daemon_cmds::change(args),
        Command::Audit(args) => audit_cmd::run(args),
        Command::Store(cmd) => store_cmd::run(cmd),
        Command::Drift(args) => drift_cmd::run(args),
        Command::Freeze(args) => freeze_cmd::freeze(args),
        Command::Retro(args) => freeze_cmd::retro(args),
        Command::Healthcheck(args) => daemon_cmds::healthcheck(args),
    }
}

/// Prints bad-input lines to stderr and returns exit code 2.
pub(crate) fn bad_input(err: input::BadInput) -> i32 {
    for line in err.lines {
        eprintln!("guardrail: {line}");
    }
    EXIT_BAD_INPUT
}

/// Progress of a long run (`checking 12/40 lb-mail…`): one line on stderr, rewritten in place
/// and cleared when the run ends. Shown only when stderr is a terminal and `CI` is not set, so
/// piped output and CI logs never contain it.
pub(crate) struct Progress {
    enabled: bool,
    shown: bool,
}

impl Progress {
    pub(crate) fn new() -> Self {
        Progress {
            enabled: progress_wanted(
                std::io::stderr().is_terminal(),
                std::env::var_os("CI").is_some(),
            ),
            shown: false,
        }
    }

    /// Shows `{verb} {done}/{total} {what}…` in place of the previous line.
    pub(crate) fn show(&mut self, verb: &str, done: usize, total: usize, what: &str) {
        if !self.enabled {
            return;
        }
        let mut err = std::io::stderr().lock();
        // `\r` goes back to the start of the line, `ESC [ 2 K` erases it.
        let _ = write!(err, "\r\x1b[2K{verb} {done}/{total} {what}\u{2026}");
        let _ = err.flush();
        self.shown = true;
    }

    /// Erases the progress line, if one is shown.
    pub(crate) fn clear(&mut self) {
        if self.shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.shown = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Progress is for people watching a terminal: not for pipes, files or CI logs.
fn progress_wanted(stderr_is_terminal: bool, ci_set: bool) -> bool {
    stderr_is_terminal && !ci_set
}

#[cfg(test)]
mod tests {
    use super::progress_wanted;

    #[test]
    fn progress_only_on_a_terminal_outside_ci() {
        assert!(progress_wanted(true, false));
        assert!(!progress_wanted(true, true));
        assert!(!progress_wanted(false, false));
        assert!(!progress_wanted(false, true));
    }
}
