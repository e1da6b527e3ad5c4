//! Volatile lines: lines a device rewrites on its own (a clock estimate, the time of the last
//! save) are never drift. They are removed from the live text, and from every stored content it
//! is compared with, before parsing, hashing and diffing.
//!
//! Two sources of patterns: per-format defaults ([`defaults`]) and the target's own `ignore`
//! list in `guardrail.yaml` (regular expressions, matched anywhere in a line unless anchored).
//! An ignored line is blanked, not deleted, so line numbers in diffs and findings still point
//! at the fetched text.

use regex::RegexSet;

use crate::document::Format;

/// The default volatile-line patterns of a format.
pub fn defaults(format: Option<Format>) -> &'static [&'static str] {
    match format {
        Some(Format::Ios) => IOS,
        _ => &[],
    }
}

/// IOS-style (`show running-config` of Cisco IOS / IOS-XE, Arista EOS, FRR).
const IOS: &[&str] = &[
    // The NTP clock drift estimate, rewritten by the device every few minutes.
    r"^\s*ntp clock-period\b",
    r"^\s*!\s*Last configuration change\b",
    r"^\s*!\s*NVRAM config last updated\b",
    r"^\s*!\s*No configuration change since last restart\b",
    // The `show running-config` preamble.
    r"^\s*Current configuration\s*:\s*\d+\s*bytes\s*$",
    r"^\s*Building configuration\.\.\.\s*$",
];

/// The compiled patterns of one watched target.
#[derive(Debug, Clone)]
pub struct NoiseFilter {
    set: RegexSet,
    /// The patterns as written (defaults first), for docs, logs and the cache key.
    patterns: Vec<String>,
}

/// What [`NoiseFilter::apply`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filtered {
    pub text: String,
    /// 1-based numbers of the blanked lines.
    pub ignored: Vec<u32>,
}

impl NoiseFilter {
    /// The defaults of `format` plus the target's own patterns. Every invalid pattern is
    /// reported (`ignore[2]: ...`).
    pub fn new(format: Option<Format>, ignore: &[String]) -> Result<NoiseFilter, Vec<String>> {
        let mut problems = Vec::new();
        for (i, p) in ignore.iter().enumerate() {
            if let Err(e) = regex::Regex::new(p) {
                let first = e.to_string();
                let first = first.lines().last().unwrap_or("invalid pattern").trim();
                problems.push(format!(
                    "ignore[{i}]: `{p}` is not a valid pattern: {first}"
                ));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let patterns: Vec<String> = defaults(format)
            .iter()
            .map(|s| s.to_string())
            .chain(ignore.iter().cloned())
            .collect();
        let set = RegexSet::new(&patterns).map_err(|e| vec![format!("ignore: {e}")])?;
        Ok(NoiseFilter { set, patterns })
    }

    /// A filter that ignores nothing.
    pub fn none() -> NoiseFilter {
        NoiseFilter {
            set: RegexSet::empty(),
            patterns: Vec::new(),
        }
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// A short stable key of the pattern list, so cached hashes of stored contents are
    /// recomputed when the patterns change.
    pub fn key(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for p in &self.patterns {
            h.update(p.as_bytes());
            h.update([0]);
        }
        hex::encode(&h.finalize()[..8])
    }

    /// Blanks every line that matches a pattern. Line endings are kept as they were.
    pub fn apply(&self, text: &str) -> Filtered {
        if self.patterns.is_empty() {
            return Filtered {
                text: text.to_string(),
                ignored: Vec::new(),
            };
        }
        let mut out = String::with_capacity(text.len());
        let mut ignored = Vec::new();
        for (i, line) in text.split_inclusive('\n').enumerate() {
            let body = line.trim_end_matches(['\n', '\r']);
            if self.set.is_match(body) {
                ignored.push(i as u32 + 1);
                out.push_str(&line[body.len()..]);
            } else {
                out.push_str(line);
            }
        }
        Filtered { text: out, ignored }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ios_defaults_blank_volatile_lines_and_keep_line_numbers() {
        let f = NoiseFilter::new(Some(Format::Ios), &[]).unwrap();
        let text = "Building configuration...\n\nCurrent configuration : 1234 bytes\n! Last configuration change at 10:00:01 UTC Mon Nov 2 2026 by admin\n! NVRAM config last updated at 09:00:00 UTC\nhostname sw1\nntp clock-period 17179869\ninterface Gi0/1\n description uplink\n";
        let out = f.apply(text);
        assert_eq!(out.ignored, vec![1, 3, 4, 5, 7]);
        assert_eq!(
            out.text,
            "\n\n\n\n\nhostname sw1\n\ninterface Gi0/1\n description uplink\n"
        );
    }

    #[test]
    fn other_formats_have_no_defaults() {
        let f = NoiseFilter::new(Some(Format::Haproxy), &[]).unwrap();
        assert_eq!(f.apply("ntp clock-period 1\n").ignored, Vec::<u32>::new());
    }

    #[test]
    fn target_patterns_add_to_the_defaults() {
        let f = NoiseFilter::new(
            Some(Format::Yaml),
            &[r"^\s*generated_at:".to_string(), "# serial".to_string()],
        )
        .unwrap();
        let out = f.apply("a: 1\r\ngenerated_at: 2026-01-01\r\nb: 2 # serial 7\n");
        assert_eq!(out.text, "a: 1\r\n\r\n\n");
        assert_eq!(out.ignored, vec![2, 3]);
    }

    #[test]
    fn every_bad_pattern_is_reported() {
        let e = NoiseFilter::new(None, &["ok".into(), "(".into(), "[".into()]).unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].starts_with("ignore[1]: `(`"), "{}", e[0]);
        assert!(e[1].starts_with("ignore[2]: `[`"), "{}", e[1]);
    }

    #[test]
    fn the_key_follows_the_patterns() {
        let a = NoiseFilter::new(None, &["x".into()]).unwrap();
        let b = NoiseFilter::new(None, &["y".into()]).unwrap();
        assert_ne!(a.key(), b.key());
        assert_eq!(
            a.key(),
            NoiseFilter::new(None, &["x".into()]).unwrap().key()
        );
    }
}
