//! Which parts of an IOS-style line (Cisco IOS / IOS-XE, NX-OS, IOS-XR, ASA, Arista EOS, FRR)
//! are secrets: passwords, enable secrets, SNMP communities and user keys, TACACS+/RADIUS keys,
//! key-chain key strings, routing-protocol authentication keys (OSPF, OSPFv3 IPsec, IS-IS, BGP,
//! EIGRP, RIP, NHRP, HSRP/VRRP/GLBP), IKE pre-shared keys, credentials in URLs.
//!
//! The rules are tables, in [`rules`]: [`KEYWORDS`] (a keyword anywhere on the line, in a
//! context, followed by the secret) and [`COMMANDS`](rules::COMMANDS) (commands with a grammar
//! of their own: `snmp-server`, `ntp authentication-key`, `crypto isakmp key`, IPsec `spi`
//! lines). Every rule carries an example line and its redaction, which the tests check and
//! docs/formats.md lists. This module applies them to a line.
//!
//! Words written before a secret that say how it is stored (`0`, `5`, `7`, `8`, `9`, `10`,
//! `sha512`, `encrypted`, `clear`...) stay visible; only the secret itself is redacted. Secrets
//! that may contain spaces run to the end of the line; single-word secrets (communities, SNMP,
//! ISAKMP, NTP and IPsec keys) are that word, so the options after them stay visible.
//! Over-redaction is the safe side: a `password` word followed by anything is a secret unless
//! the next word is one of a few known non-secret forms (`password encryption aes`).

mod rules;
#[cfg(test)]
mod tests;

use std::ops::Range;

use super::words::Words;
use crate::document::secret::{merge_ranges, url_credential_ranges};

pub(super) use rules::rules_markdown;
use rules::{KEYWORDS, KeywordRule, Take, When};

/// True for words that may start a keyword rule (a cheap filter before the table).
#[inline]
fn candidate(word: &str) -> bool {
    matches!(
        word,
        "password"
            | "secret"
            | "passwd"
            | "key-string"
            | "authentication-key"
            | "message-digest-key"
            | "area-password"
            | "domain-password"
            | "lsp-password"
            | "hello-password"
            | "server-key"
            | "key"
            | "password-encrypt"
            | "pre-shared-key"
            | "authentication"
            | "text-authentication"
            | "string"
            | "hmac-sha-256"
            | "wpa-psk"
            | "ldap-login-password"
    )
}

/// Appends to `out` the byte ranges (within `line`) of the secrets of `line`, in increasing
/// order and without overlap. `parent` is the header line of the enclosing block, if any.
pub(super) fn find(w: &Words<'_>, parent: Option<&str>, out: &mut Vec<Range<usize>>) {
    let start = out.len();
    find_unmerged(w, parent, out);
    if out.len() - start > 1 {
        let mut mine: Vec<Range<usize>> = out.drain(start..).collect();
        merge_ranges(&mut mine);
        out.extend(mine);
    }
}

fn find_unmerged(w: &Words<'_>, parent: Option<&str>, out: &mut Vec<Range<usize>>) {
    let n = w.len();
    let base = usize::from(w.get(0) == "no");
    if n < base + 2 {
        return;
    }
    // Ranges are offsets in the whole line (which may start with whitespace before word 0).
    let line = w.line();
    if line.contains("://") {
        out.extend(url_credential_ranges(line));
    }
    let head = w.get(base);
    match head {
        "snmp-server" => return snmp(w, base, out),
        "ntp" if w.get(base + 1) == "authentication-key" => return ntp_key(w, base, out),
        "crypto" if w.get(base + 1) == "isakmp" && w.get(base + 2) == "key" => {
            // crypto isakmp key [type] SECRET address A [mask] | hostname H
            let mut j = base + 3;
            if is_type(w.get(j)) && j + 1 < n && !matches!(w.get(j + 1), "address" | "hostname") {
                j += 1;
            }
            if j < n {
                out.push(w.range(j));
            }
            return;
        }
        _ => {}
    }
    if let Some(spi) = (base..n).find(|&i| w.get(i) == "spi" && i > 0 && w.get(i - 1) == "ipsec") {
        return ipsec(w, spi + 2, out);
    }
    let parent_head = parent.map(|p| p.split_ascii_whitespace().next().unwrap_or(""));
    for i in base..n {
        let word = w.get(i);
        if !candidate(word) {
            continue;
        }
        for rule in KEYWORDS.iter().filter(|r| r.word == word) {
            let applies = match rule.when {
                When::Anywhere => true,
                When::Context(heads) => {
                    (heads.contains(&head) && (i > base || head == word))
                        || (i == base && parent_head.is_some_and(|p| heads.contains(&p)))
                }
                When::After(prev) => i > 0 && w.get(i - 1) == prev,
                When::AfterNext(prev) => i > 1 && w.get(i - 2) == prev,
            };
            if !applies || rule.not_before.contains(&w.get(i + 1)) {
                continue;
            }
            // `key` of a key chain (`key 1`) is an id, not a secret.
            if word == "key" && parent.is_some_and(|p| p.starts_with("key chain")) {
                continue;
            }
            match rule.take {
                Take::PreShared => pre_shared(w, i, out),
                Take::Tail | Take::Word => {
                    let j = skip_options(w, i + 1, rule);
                    if j < n {
                        if rule.take == Take::Word {
                            out.push(w.range(j));
                        } else {
                            tail_from(w, j, out);
                        }
                    }
                }
            }
            return;
        }
    }
}

/// The first word at or after `j` that is not an option word of `rule` nor a type word, as
/// long as a word follows it (the last word is the secret itself).
fn skip_options(w: &Words<'_>, mut j: usize, rule: &KeywordRule) -> usize {
    let n = w.len();
    while j + 1 < n {
        let word = w.get(j);
        if word == "level" && rule.skip.contains(&"level") {
            j += 2;
            continue;
        }
        let number = rule.skip_numbers && word.bytes().all(|b| b.is_ascii_digit());
        if rule.skip.contains(&word) || is_type(word) || number {
            j += 1;
            continue;
        }
        break;
    }
    j
}

fn tail_from(w: &Words<'_>, j: usize, out: &mut Vec<Range<usize>>) {
    let start = w.start(j);
    let end = w.line().len();
    if start < end {
        out.push(start..end);
    }
}

fn pre_shared(w: &Words<'_>, i: usize, out: &mut Vec<Range<usize>>) {
    let n = w.len();
    let mut j = i + 1;
    if matches!(w.get(j), "local" | "remote") {
        j += 1;
    }
    if matches!(w.get(j), "address" | "hostname") {
        if let Some(k) = (j..n).find(|&k| w.get(k) == "key") {
            let k = skip_type(w, k + 1);
            tail_from(w, k, out);
        }
    } else {
        let j = skip_type(w, j);
        tail_from(w, j, out);
    }
}

/// Skips one type word at `j` when a word follows it.
fn skip_type(w: &Words<'_>, j: usize) -> usize {
    if is_type(w.get(j)) && j + 1 < w.len() {
        j + 1
    } else {
        j
    }
}

/// `ntp authentication-key N ALG [TYPE] KEY [TYPE]`: IOS and NX-OS write the type after the
/// key, EOS before it, IOS-XR as `encrypted`/`clear` before it.
fn ntp_key(w: &Words<'_>, base: usize, out: &mut Vec<Range<usize>>) {
    let j = skip_type(w, base + 4);
    if j < w.len() {
        out.push(w.range(j));
    }
}

/// OSPFv3 / OSPF-for-IPv6 IPsec: `... ipsec spi N [esp CIPHER [BITS] [TYPE] KEY|null]
/// [md5|sha1 [TYPE] KEY]`, EOS with `passphrase` before the type. `j` is past the SPI.
fn ipsec(w: &Words<'_>, mut j: usize, out: &mut Vec<Range<usize>>) {
    let n = w.len();
    while j < n {
        let word = w.get(j);
        let keyed = matches!(
            word,
            "md5" | "sha1" | "sha256" | "des" | "3des" | "aes-cbc" | "aes-128-cbc" | "aes-256-cbc"
        );
        if !keyed {
            j += 1;
            continue;
        }
        let mut k = j + 1;
        if word == "aes-cbc" && matches!(w.get(k), "128" | "192" | "256") {
            k += 1;
        }
        if w.get(k) == "passphrase" {
            k += 1;
        }
        k = skip_type(w, k);
        if k < n {
            out.push(w.range(k));
        }
        j = k + 1;
    }
}

/// SNMP communities (`community X`, `host H [...] X`) and SNMPv3 user keys (`auth ALG X`,
/// `priv [ALG [bits]] Y`).
fn snmp(w: &Words<'_>, base: usize, out: &mut Vec<Range<usize>>) {
    let n = w.len();
    match w.get(base + 1) {
        "community" if n > base + 2 => {
            let j = skip_community_type(w, base + 2);
            out.push(w.range(j));
        }
        "user" => {
            let mut i = base + 2;
            while i < n {
                match w.get(i) {
                    "auth" if i + 1 < n => {
                        // auth ALG [clear|encrypted] KEY
                        let mut j = i + 1;
                        if is_snmp_auth_alg(w.get(j)) && j + 1 < n {
                            j += 1;
                        }
                        j = skip_community_type(w, j);
                        out.push(w.range(j));
                        i = j + 1;
                    }
                    "priv" if i + 1 < n => {
                        // priv [ALG [BITS]] [clear|encrypted] KEY (NX-OS: `priv KEY`, DES)
                        let mut j = i + 1;
                        if is_snmp_priv_alg(w.get(j)) && j + 1 < n {
                            j += 1;
                            if matches!(w.get(j), "128" | "192" | "256") && j + 1 < n {
                                j += 1;
                            }
                        }
                        j = skip_community_type(w, j);
                        out.push(w.range(j));
                        i = j + 1;
                    }
                    _ => i += 1,
                }
            }
        }
        "host" => {
            // ASA: snmp-server host IF ADDR [community X] ...
            if let Some(c) = (base + 3..n).find(|&k| w.get(k) == "community") {
                if c + 1 < n {
                    let j = skip_community_type(w, c + 1);
                    out.push(w.range(j));
                }
                return;
            }
            // snmp-server host H [vrf V] [clear|encrypted] [traps|informs] [version 1|2c|3
            // [auth|noauth|priv]] COMMUNITY ...
            let mut i = base + 3;
            let mut v3 = false;
            while i < n {
                match w.get(i) {
                    "traps" | "informs" | "clear" | "encrypted" => i += 1,
                    "vrf" => i += 2,
                    "version" => {
                        v3 = w.get(i + 1) == "3";
                        i += 2;
                        if v3 && matches!(w.get(i), "auth" | "noauth" | "priv") {
                            i += 1;
                        }
                    }
                    _ => break,
                }
            }
            // NX-OS writes a host's other settings on lines of their own.
            let setting = matches!(
                w.get(i),
                "use-vrf" | "filter-vrf" | "source-interface" | "udp-port"
            );
            // With SNMPv3 the word is a user name, not a secret.
            if i < n && !v3 && !setting {
                out.push(w.range(i));
            }
        }
        _ => {}
    }
}

fn is_snmp_auth_alg(word: &str) -> bool {
    matches!(
        word,
        "md5"
            | "sha"
            | "sha-224"
            | "sha-256"
            | "sha-384"
            | "sha-512"
            | "sha224"
            | "sha256"
            | "sha384"
            | "sha512"
    )
}

fn is_snmp_priv_alg(word: &str) -> bool {
    matches!(
        word,
        "des"
            | "3des"
            | "aes"
            | "aes-128"
            | "aes-192"
            | "aes-256"
            | "aes128"
            | "aes192"
            | "aes256"
            | "des56"
    )
}

/// Skips `clear` / `encrypted` / a type digit before a single-word secret at `j` when another
/// word follows.
fn skip_community_type(w: &Words<'_>, j: usize) -> usize {
    let word = w.get(j);
    if (matches!(word, "clear" | "encrypted") || is_type(word)) && j + 1 < w.len() {
        j + 1
    } else {
        j
    }
}

/// The word written before a secret that says how it is stored: `0`, `5`, `7`, `8`, `9`
/// (one or two digits), an EOS hash name, IOS-XR's `encrypted` / `clear`.
pub(super) fn is_type(word: &str) -> bool {
    (!word.is_empty() && word.len() <= 2 && word.bytes().all(|b| b.is_ascii_digit()))
        || matches!(word, "sha512" | "sha256" | "encrypted" | "clear")
}

/// `line` with each range replaced by `<redacted>`.
pub(super) fn redact(line: &str, ranges: &[Range<usize>]) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    let mut pos = 0;
    for r in ranges {
        if r.start < pos || r.end > line.len() {
            continue;
        }
        out.push_str(&line[pos..r.start]);
        out.push_str(crate::document::REDACTED);
        pos = r.end;
    }
    out.push_str(&line[pos..]);
    out
}
