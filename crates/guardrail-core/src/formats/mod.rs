//! Parsers from config text to the one [`Document`] tree, and format detection.
//!
//! Owns: one module per format (its parser, its tree shape, its secret rules, its diagnostics,
//! side by side), the input guards every format shares ([`parse_bytes`]: binary data, invalid
//! UTF-8, empty input, over-long lines, oversize input) and [`detect`].
//!
//! Invariants: a parser never panics and never fails; it returns a tree plus diagnostics, keeping
//! what it does not understand as opaque nodes. Nesting deeper than [`MAX_DEPTH`] is an error
//! diagnostic, never a stack overflow. Pure: no IO, no clock, no environment. May depend on
//! `document` only.

pub mod fetchmail;
pub mod foreign;
pub mod haproxy;
pub mod ini;
pub mod ios;
pub mod json;
pub mod lines;
pub mod nginx;
pub mod toml;
pub mod yaml;

use crate::document::{Diagnostic, Document, Format};

/// Deepest nesting any parser accepts (YAML/JSON/TOML containers, nginx blocks, IOS indentation).
pub const MAX_DEPTH: usize = 64;

/// Longest line accepted, in bytes. Config files are edited by people; a longer line is
/// almost always binary junk or a generated blob and is refused rather than parsed.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Largest input accepted, in bytes.
pub const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;

/// Checks raw input bytes and parses them as `format`. Binary data, invalid UTF-8, empty
/// input, over-long lines and oversize input give a document whose diagnostics hold the error.
pub fn parse_bytes(format: Format, bytes: &[u8]) -> Document {
    match check_input(bytes) {
        Ok(text) => parse(format, text),
        Err(diag) => {
            let mut doc = Document::empty(format);
            doc.diagnostics.push(diag);
            doc
        }
    }
}

/// Parses text already known to be valid UTF-8. Runs the same emptiness and line-length guards
/// as [`parse_bytes`].
pub fn parse(format: Format, text: &str) -> Document {
    if let Err(diag) = check_text(text) {
        let mut doc = Document::empty(format);
        doc.diagnostics.push(diag);
        return doc;
    }
    match format {
        Format::Yaml => yaml::parse(text),
        Format::Json => json::parse(text),
        Format::Toml => toml::parse(text),
        Format::Ini => ini::parse(text),
        Format::Haproxy => haproxy::parse(text),
        Format::Nginx => nginx::parse(text),
        Format::Ios => ios::parse(text),
        Format::Fetchmail => fetchmail::parse(text),
    }
}

/// Validates raw bytes as config text: not too large, not binary, valid UTF-8.
pub fn check_input(bytes: &[u8]) -> Result<&str, Diagnostic> {
    check_size_and_nul(bytes)?;
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.strip_prefix('\u{feff}').unwrap_or(text)),
        Err(e) => Err(utf8_error(bytes, e.valid_up_to())),
    }
}

/// [`check_input`] for bytes the caller owns: the text (byte-order mark removed) is made from
/// the same buffer, validated once and not copied. Same checks, same diagnostics.
pub fn check_input_owned(bytes: Vec<u8>) -> Result<String, Diagnostic> {
    check_size_and_nul(&bytes)?;
    match String::from_utf8(bytes) {
        Ok(mut text) => {
            if text.starts_with('\u{feff}') {
                text.drain(..'\u{feff}'.len_utf8());
            }
            Ok(text)
        }
        Err(e) => Err(utf8_error(e.as_bytes(), e.utf8_error().valid_up_to())),
    }
}

fn check_size_and_nul(bytes: &[u8]) -> Result<(), Diagnostic> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(Diagnostic::error(
            "input.too-large",
            0,
            format!(
                "input is {} bytes; the limit is {} bytes",
                bytes.len(),
                MAX_INPUT_BYTES
            ),
        ));
    }
    // The position is only needed on failure.
    if lines::contains_byte(bytes, 0) {
        let pos = bytes.iter().position(|&b| b == 0).unwrap_or(0);
        return Err(Diagnostic::error(
            "input.binary",
            line_of_offset(bytes, pos),
            "input contains NUL bytes: this is binary data, not a config file",
        ));
    }
    Ok(())
}

fn utf8_error(bytes: &[u8], pos: usize) -> Diagnostic {
    Diagnostic::error(
        "input.utf8",
        line_of_offset(bytes, pos),
        format!("input is not valid UTF-8 (first bad byte at offset {pos})"),
    )
}

fn check_text(text: &str) -> Result<(), Diagnostic> {
    if text.trim().is_empty() {
        return Err(Diagnostic::error(
            "input.empty",
            0,
            "input is empty; an empty config is refused because it is almost always a truncated or missing file",
        ));
    }
    match long_line(text.as_bytes()) {
        None => Ok(()),
        Some(start) => {
            let len = text.as_bytes()[start..]
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(text.len() - start);
            Err(Diagnostic::error(
                "input.line-too-long",
                line_of_offset(text.as_bytes(), start),
                format!(
                    "line is {len} bytes long; the limit is {} bytes",
                    MAX_LINE_BYTES
                ),
            ))
        }
    }
}

/// The start of the first line longer than [`MAX_LINE_BYTES`] (lines end at `\n`), if any.
/// Looks only at the last newline of each window of `MAX_LINE_BYTES + 1` bytes, so it costs
/// next to nothing instead of a pass over every line.
fn long_line(bytes: &[u8]) -> Option<usize> {
    let mut start = 0;
    while bytes.len() - start > MAX_LINE_BYTES {
        let window = &bytes[start..=start + MAX_LINE_BYTES];
        match window.iter().rposition(|&b| b == b'\n') {
            // Every line that starts before the window's last newline ends inside the window.
            Some(last) => start += last + 1,
            // The line at `start` runs past the window: it is too long.
            None => return Some(start),
        }
    }
    None
}

fn line_of_offset(bytes: &[u8], pos: usize) -> u32 {
    1 + bytes[..pos.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u32
}

/// Guesses the format of a file from its name, then its content. `None` when neither decides.
/// An explicit `--format` or a `format:` in `guardrail.yaml` always wins over this.
pub fn detect(path: Option<&str>, text: &str) -> Option<Format> {
    path.and_then(detect_from_name)
        .or_else(|| detect_from_content(text))
}

/// Detects the format from a file name alone.
pub fn detect_from_name(path: &str) -> Option<Format> {
    let name = path
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(path)
        .to_ascii_lowercase();
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "yaml" | "yml" => return Some(Format::Yaml),
        "json" => return Some(Format::Json),
        "toml" => return Some(Format::Toml),
        "ini" => return Some(Format::Ini),
        "ios" | "eos" | "frr" => return Some(Format::Ios),
        _ => {}
    }
    if name.contains("fetchmailrc") {
        return Some(Format::Fetchmail);
    }
    if name.contains("haproxy") {
        return Some(Format::Haproxy);
    }
    if name.contains("nginx") {
        return Some(Format::Nginx);
    }
    if name.contains("running-config")
        || name.contains("startup-config")
        || name == "frr.conf"
        || name.ends_with(".ios.txt")
    {
        return Some(Format::Ios);
    }
    None
}

/// Detects the format from content: the first meaningful lines decide.
pub fn detect_from_content(text: &str) -> Option<Format> {
    // Other vendors' router, firewall and load balancer configs are read as IOS-style, whose
    // parser refuses them naming what they look like (Junos, F5 BIG-IP...).
    if foreign::looks_like(text).is_some() {
        return Some(Format::Ios);
    }
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') && looks_like_json_array(trimmed) {
        return Some(Format::Json);
    }
    let mut scores = [0u32; 8];
    let idx = |f: Format| Format::ALL.iter().position(|&g| g == f).unwrap_or(0);
    for line in text.lines().take(400) {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        let first = t.split_whitespace().next().unwrap_or("");
        match first {
            "global" | "defaults" | "frontend" | "backend" | "listen" | "userlist" => {
                scores[idx(Format::Haproxy)] += 3
            }
            "poll" | "skip" => scores[idx(Format::Fetchmail)] += 3,
            "interface" | "hostname" | "router" | "vlan" | "ip" | "ipv6" | "access-list"
            | "line" | "spanning-tree" | "snmp-server" | "ntp" | "logging" | "aaa" | "version"
            | "service" | "end" | "!" | "enable" | "username" | "banner" | "frr" => {
                scores[idx(Format::Ios)] += 2
            }
            "http" | "events" | "server" | "upstream" | "location" | "worker_processes"
            | "include" | "stream" | "user" | "error_log" | "pid"
                if t.ends_with('{') || t.ends_with(';') =>
            {
                scores[idx(Format::Nginx)] += 3
            }
            _ => {}
        }
        if t.starts_with('[') && t.ends_with(']') {
            if t.starts_with("[[") {
                scores[idx(Format::Toml)] += 3;
            } else {
                scores[idx(Format::Ini)] += 2;
                scores[idx(Format::Toml)] += 1;
            }
        } else if let Some((_, v)) = t.split_once('=') {
            let v = v.trim();
            if v.starts_with('"') || v.starts_with('[') || v == "true" || v == "false" {
                scores[idx(Format::Toml)] += 1;
            } else {
                scores[idx(Format::Ini)] += 1;
            }
        }
        if t.starts_with("- ") || t == "---" || t.split_once(": ").is_some() || t.ends_with(':') {
            scores[idx(Format::Yaml)] += 1;
        }
        if t.ends_with('{') || t.ends_with(';') || t == "}" {
            scores[idx(Format::Nginx)] += 1;
        }
    }
    let (best, score) = scores
        .iter()
        .enumerate()
        .max_by_key(|(i, s)| (**s, std::cmp::Reverse(*i)))?;
    if *score == 0 {
        return None;
    }
    Some(Format::ALL[best])
}

fn looks_like_json_array(t: &str) -> bool {
    // `[section]` is INI/TOML; a JSON array starts with `[` followed by a value or whitespace.
    let rest = t[1..].trim_start();
    rest.starts_with(['{', '[', '"', ']'])
        || rest.starts_with(|c: char| c.is_ascii_digit() || c == '-')
        || rest.starts_with("true")
        || rest.starts_with("false")
        || rest.starts_with("null")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_name() {
        assert_eq!(detect_from_name("lb/haproxy.cfg"), Some(Format::Haproxy));
        assert_eq!(
            detect_from_name("/etc/nginx/nginx.conf"),
            Some(Format::Nginx)
        );
        assert_eq!(detect_from_name("x/core-sw-1.ios"), Some(Format::Ios));
        assert_eq!(detect_from_name(".fetchmailrc"), Some(Format::Fetchmail));
        assert_eq!(detect_from_name("pgbouncer.ini"), Some(Format::Ini));
        assert_eq!(detect_from_name("a.yml"), Some(Format::Yaml));
        assert_eq!(detect_from_name("a.conf"), None);
    }

    #[test]
    fn detects_by_content() {
        assert_eq!(
            detect_from_content("global\n  maxconn 100\nfrontend fe\n  bind :80\n"),
            Some(Format::Haproxy)
        );
        assert_eq!(
            detect_from_content("hostname sw1\n!\ninterface Gi0/1\n shutdown\n"),
            Some(Format::Ios)
        );
        assert_eq!(
            detect_from_content("http {\n  upstream x {\n    server a:80;\n  }\n}\n"),
            Some(Format::Nginx)
        );
        assert_eq!(
            detect_from_content("poll mail.example.net protocol imap\n"),
            Some(Format::Fetchmail)
        );
        assert_eq!(detect_from_content("{\"a\": 1}"), Some(Format::Json));
        assert_eq!(
            detect_from_content("[databases]\nx = host=db\n"),
            Some(Format::Ini)
        );
        assert_eq!(detect_from_content("a: 1\nb:\n  - c\n"), Some(Format::Yaml));
    }

    #[test]
    fn input_guards() {
        assert_eq!(check_input(b"a\0b").unwrap_err().code, "input.binary");
        assert_eq!(
            check_input(b"ok\n\xff\xfe").unwrap_err().line,
            2,
            "invalid UTF-8 is located"
        );
        let doc = parse(Format::Yaml, "  \n\n");
        assert_eq!(doc.first_error().unwrap().code, "input.empty");
        let long = "x".repeat(MAX_LINE_BYTES + 1);
        let doc = parse(Format::Haproxy, &long);
        assert_eq!(doc.first_error().unwrap().code, "input.line-too-long");
    }

    #[test]
    fn owned_input_is_checked_like_borrowed_input() {
        let cases: [&[u8]; 6] = [
            b"a: 1\n",
            b"\xef\xbb\xbfa: 1\n",
            b"a\0b",
            b"ok\n\xff\xfe",
            b"\xef\xbb\xbf",
            b"",
        ];
        for bytes in cases {
            let owned = check_input_owned(bytes.to_vec());
            match check_input(bytes) {
                Ok(text) => assert_eq!(owned.as_deref(), Ok(text)),
                Err(d) => assert_eq!(owned, Err(d)),
            }
        }
    }

    #[test]
    fn finds_the_first_long_line() {
        let short = "a\n".repeat(MAX_LINE_BYTES);
        let exact = "y".repeat(MAX_LINE_BYTES);
        let long = "x".repeat(MAX_LINE_BYTES + 1);
        // Many short lines, then a line of exactly the limit: accepted.
        assert!(check_text(&format!("{short}{exact}\n{short}")).is_ok());
        // The long line after many short ones is found with its line and length.
        let err = check_text(&format!("{short}{exact}\n{long}\r\nz\n")).unwrap_err();
        assert_eq!(err.code, "input.line-too-long");
        assert_eq!(err.line, MAX_LINE_BYTES as u32 + 2);
        assert!(
            err.message
                .starts_with(&format!("line is {} bytes", MAX_LINE_BYTES + 2))
        );
        // A long last line without a newline.
        let err = check_text(&format!("a\n{long}")).unwrap_err();
        assert_eq!(err.line, 2);
    }
}
