//! The `guardrail` binary: parses flags and hands over to the library.
#![forbid(unsafe_code)]

fn main() {
    // A closed stdout (`guardrail parse big.cfg | head`) is not an error worth a panic report:
    // exit quietly as a shell tool would on SIGPIPE.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
    std::process::exit(guardrail::cli::main());
}
