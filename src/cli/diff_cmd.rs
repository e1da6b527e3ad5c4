//! `guardrail diff OLD NEW`: the semantic diff, text or JSON, secrets redacted.

use std::io::Write;
use std::path::PathBuf;

use super::{bad_input, input};
use crate::diff::{self, DiffEntry, Op};
use crate::document::Format;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The old version of the config.
    pub old: PathBuf,
    /// The new version of the config.
    pub new: PathBuf,
    #[arg(long, value_parser = super::format_arg, help = super::FORMAT_HELP)]
    pub format: Option<crate::document::Format>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    /// Also print the unified text diff (redacted) after the semantic entries.
    #[arg(long)]
    pub unified: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

pub fn run(args: Args) -> i32 {
    let explicit: Option<Format> = args.format;
    // Detect from the new file when not explicit, and read the old one the same way, so both
    // sides are always parsed with one format.
    let new_bytes = match input::read(&args.new) {
        Ok(b) => b,
        Err(e) => return bad_input(e),
    };
    let old_bytes = match input::read(&args.old) {
        Ok(b) => b,
        Err(e) => return bad_input(e),
    };
    let new_name = args.new.display().to_string();
    let old_name = args.old.display().to_string();
    let format = match input::choose_pair_format(
        explicit,
        &[
            (&new_name, Some(&new_bytes[..])),
            (&old_name, Some(&old_bytes[..])),
        ],
    ) {
        Ok(f) => f,
        Err(e) => return bad_input(e),
    };
    let (old, new) = match input::parse_pair(
        (&old_name, Some(&old_bytes[..])),
        (&new_name, Some(&new_bytes[..])),
        format,
    ) {
        Ok((Some(old), Some(new))) => (old, new),
        Ok(_) => unreachable!("both sides were given"),
        Err(e) => return bad_input(e),
    };

    let entries = diff::diff(&old.doc.root, &new.doc.root);
    let unified = if args.unified || args.output == Output::Json {
        diff::text::unified(&old.name, &new.name, &old.redacted(), &new.redacted())
    } else {
        String::new()
    };
    let mut stdout = std::io::stdout().lock();
    let result = match args.output {
        Output::Text => write_text(&mut stdout, &entries, args.unified.then_some(&unified)),
        Output::Json => {
            let doc = serde_json::json!({
                "version": 1,
                "format": format.name(),
                "old": { "file": old.name, "hash": old.doc.content_hash() },
                "new": { "file": new.name, "hash": new.doc.content_hash() },
                "changed": !entries.is_empty(),
                "entries": entries.iter().map(DiffEntry::to_json).collect::<Vec<_>>(),
                "unified": unified,
            });
            writeln!(
                stdout,
                "{}",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            )
        }
    };
    let code = match (result, entries.is_empty()) {
        // Broken pipe or closed stdout: nothing more to say.
        (Err(_), _) => super::EXIT_BAD_INPUT,
        (Ok(()), true) => 0,
        (Ok(()), false) => 1,
    };
    drop(entries);
    // The process exits next: freeing the two trees node by node would only cost time.
    std::mem::forget((old, new));
    code
}

fn write_text(
    out: &mut impl Write,
    entries: &[DiffEntry<'_>],
    unified: Option<&String>,
) -> std::io::Result<()> {
    if entries.is_empty() {
        writeln!(out, "no semantic change")?;
    }
    for e in entries {
        writeln!(out, "{}", describe(e))?;
    }
    if !entries.is_empty() {
        let count = |op| entries.iter().filter(|e| e.op == op).count();
        write!(
            out,
            "{} change(s): {} added, {} removed, {} changed",
            entries.len(),
            count(Op::Added),
            count(Op::Removed),
            count(Op::Changed)
        )?;
        match count(Op::Moved) {
            0 => writeln!(out)?,
            n => writeln!(out, ", {n} moved")?,
        }
    }
    if let Some(u) = unified.filter(|u| !u.is_empty()) {
        writeln!(out)?;
        out.write_all(u.as_bytes())?;
    }
    Ok(())
}

/// One line per entry: `changed backends[web].servers[web1].weight: 1 -> 5 (line 12 -> 12)`.
pub fn describe(e: &DiffEntry<'_>) -> String {
    let short = |n: Option<&crate::document::Node>| {
        n.map(|n| truncate(&n.value.display_short(), 80))
            .unwrap_or_default()
    };
    let same_shown = match (e.old, e.new) {
        (Some(o), Some(n)) => o.value.display_short() == n.value.display_short(),
        _ => true,
    };
    if e.is_secret() && e.op != Op::Moved && same_shown {
        // Both sides render as `<redacted>`, which reads as no change: say what happened and
        // show no value.
        return format!(
            "{:<7} {}: secret {}, value not shown (line {} -> {})",
            e.op.name(),
            e.path,
            e.op.name(),
            line(e.old_line()),
            line(e.new_line())
        );
    }
    match e.op {
        Op::Added => format!(
            "added   {}: {} (new line {})",
            e.path,
            short(e.new),
            line(e.new_line())
        ),
        Op::Removed => format!(
            "removed {}: {} (old line {})",
            e.path,
            short(e.old),
            line(e.old_line())
        ),
        Op::Changed => format!(
            "changed {}: {} -> {} (line {} -> {})",
            e.path,
            short(e.old),
            short(e.new),
            line(e.old_line()),
            line(e.new_line())
        ),
        Op::Moved => {
            let (from, to) = e.moved.map(|m| (m.from, m.to)).unwrap_or_default();
            format!(
                "moved   {}: {} (position {from} -> {to}, line {} -> {})",
                e.path,
                short(e.new),
                line(e.old_line()),
                line(e.new_line())
            )
        }
    }
}

fn line(l: Option<u32>) -> String {
    l.map(|l| l.to_string()).unwrap_or_else(|| "?".into())
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max).collect();
    t.push('…');
    t
}
