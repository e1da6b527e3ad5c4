//! The `guardrail` binary: parses flags and hands over to the library.
#![forbid(unsafe_code)]

fn main() {
    std::process::exit(guardrail::cli::main());
}
