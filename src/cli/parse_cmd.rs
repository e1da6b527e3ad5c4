//! `guardrail parse FILE`: prints the document tree as policies see it (secrets redacted), for
//! policy authors. Exit 0, or 2 on bad input.

use std::path::PathBuf;

use super::{bad_input, input};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The config file.
    pub file: PathBuf,
    #[arg(long, value_parser = super::format_arg, help = super::FORMAT_HELP)]
    pub format: Option<crate::document::Format>,
    /// `tree` (with line numbers) or `json` (the values policies see).
    #[arg(long, value_enum, default_value = "tree")]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Tree,
    Json,
}

pub fn run(args: Args) -> i32 {
    let loaded = match input::load(&args.file, args.format) {
        Ok(l) => l,
        Err(e) => return bad_input(e),
    };
    for w in input::warnings(&loaded) {
        eprintln!("guardrail: {w}");
    }
    match args.output {
        Output::Tree => print!("{}", loaded.doc.dump()),
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&loaded.doc.root.value.to_json()).unwrap_or_default()
        ),
    }
    0
}
