//! Which parts of an IOS-style line (Cisco IOS / IOS-XE, NX-OS, IOS-XR, ASA, Arista EOS, FRR)
//! are secrets: passwords, enable secrets, SNMP communities and user keys, TACACS+/RADIUS keys,
//! key-chain key strings, routing-protocol authentication keys (OSPF, OSPFv3 IPsec, IS-IS, BGP,
//! EIGRP, RIP, NHRP, HSRP/VRRP/GLBP), IKE pre-shared keys, credentials in URLs.
//!
//! The rules are tables: [`KEYWORDS`] (a keyword anywhere on the line, in a context, followed
//! by the secret) and [`COMMANDS`] (commands with a grammar of their own: `snmp-server`,
//! `ntp authentication-key`, `crypto isakmp key`, IPsec `spi` lines). Every rule carries an
//! example line and its redaction, which the tests check and docs/formats.md lists.
//!
//! Words written before a secret that say how it is stored (`0`, `5`, `7`, `8`, `9`, `10`,
//! `sha512`, `encrypted`, `clear`...) stay visible; only the secret itself is redacted. Secrets
//! that may contain spaces run to the end of the line; single-word secrets (communities, SNMP,
//! ISAKMP, NTP and IPsec keys) are that word, so the options after them stay visible.
//! Over-redaction is the safe side: a `password` word followed by anything is a secret unless
//! the next word is one of a few known non-secret forms (`password encryption aes`).

use std::ops::Range;

use super::words::Words;
use crate::document::secret::{merge_ranges, url_credential_ranges};

/// How much of the line after a keyword (and its skipped option words) is the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Take {
    /// From the secret word to the end of the line.
    Tail,
    /// The secret word only.
    Word,
    /// `pre-shared-key [local|remote] [address A | hostname H] [key] [TYPE] KEY`.
    PreShared,
}

/// Where a keyword rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum When {
    /// Anywhere on the line.
    Anywhere,
    /// The line's command (first word, after `no`) is one of these, or the line sits in a block
    /// whose header starts with one of these and the keyword is the line's first word.
    Context(&'static [&'static str]),
    /// The word right before the keyword is this one.
    After(&'static str),
    /// The word two before the keyword is this one (`hash-algo md5 key KEY`).
    AfterNext(&'static str),
}

/// A keyword followed by a secret.
pub(super) struct KeywordRule {
    pub word: &'static str,
    pub when: When,
    /// The line is no secret when the word after the keyword is one of these.
    pub not_before: &'static [&'static str],
    /// Option words between the keyword and the secret, kept visible (type words such as `7`
    /// or `encrypted` always are).
    pub skip: &'static [&'static str],
    /// Also skip numbers (key ids) before the secret.
    pub skip_numbers: bool,
    pub take: Take,
    /// Platforms whose command references name the construct (for the docs).
    pub platforms: &'static str,
    /// A line and how it is shown.
    pub example: (&'static str, &'static str),
}

const NONE: &[&str] = &[];
const REDUNDANCY: &[&str] = &["standby", "vrrp", "glbp", "hsrp", "vrrpv3"];
const KEY_CONTEXTS: &[&str] = &[
    "tacacs-server",
    "radius-server",
    "server-private",
    "key",
    "failover",
    "tacacs",
    "radius",
    "aaa-server",
];

/// Keyword rules, in no particular order (a line may match several; their ranges are merged).
pub(super) const KEYWORDS: &[KeywordRule] = &[
    KeywordRule {
        word: "password",
        when: When::Anywhere,
        not_before: &[
            "encryption",
            "minimum",
            "minimum-length",
            "min-length",
            "policy",
            "strength-check",
            "recovery",
            "inheritance-disable",
            "keychain",
            "max-retries",
        ],
        skip: &["level"],
        skip_numbers: false,
        take: Take::Tail,
        platforms: "IOS, NX-OS, IOS-XR, ASA, EOS, FRR",
        example: (
            "username ops privilege 15 password 0 two words",
            "username ops privilege 15 password 0 <redacted>",
        ),
    },
    KeywordRule {
        word: "secret",
        when: When::Anywhere,
        not_before: NONE,
        skip: &["level"],
        skip_numbers: false,
        take: Take::Tail,
        platforms: "IOS, IOS-XR, EOS (`sha512`)",
        example: ("enable secret 9 $9$abc", "enable secret 9 <redacted>"),
    },
    KeywordRule {
        word: "passwd",
        when: When::Context(&["passwd"]),
        not_before: NONE,
        skip: NONE,
        skip_numbers: false,
        take: Take::Word,
        platforms: "ASA",
        example: (
            "passwd 2KFQnbNIdI.2KYOU encrypted",
            "passwd <redacted> encrypted",
        ),
    },
    KeywordRule {
        word: "key-string",
        when: When::Anywhere,
        not_before: NONE,
        skip: &["password"],
        skip_numbers: false,
        take: Take::Tail,
        platforms: "IOS, NX-OS, IOS-XR (`key-string password X`), EOS, FRR",
        example: ("key-string 7 0011", "key-string 7 <redacted>"),
    },
    KeywordRule {
        word: "authentication-key",
        when: When::Anywhere,
        not_before: NONE,
        skip: &["md5", "sha1"],
        skip_numbers: true,
        take: Take::Tail,
        platforms: "IOS, NX-OS, IOS-XR (also `authentication-key N md5 encrypted K` under `ntp`), EOS, FRR",
        example: (
            "ip ospf authentication-key 7 ABC",
            "ip ospf authentication-key 7 <redacted>",
        ),
    },
    KeywordRule {
        word: "message-digest-key",
        when: When::Anywhere,
        not_before: NONE,
        skip: &["md5"],
        skip_numbers: true,
        take: Take::Tail,
        platforms: "IOS, NX-OS, IOS-XR, ASA, EOS, FRR",
        example: (
            "ip ospf message-digest-key 1 md5 7 ABC",
            "ip ospf message-digest-key 1 md5 7 <redacted>",
        ),
    },
    KeywordRule {
        word: "area-password",
        when: When::Anywhere,
        not_before: NONE,
        skip: &["hmac-md5", "text", "md5"],
        skip_numbers: false,
        take: Take::Tail,
        platforms: "IOS, IOS-XR, FRR (IS-IS)",
        example: (
            "area-password clear s3cret",
            "area-password clear <redacted>",
        ),
    },
    KeywordRule {
        word: "domain-password",
        when: When::Anywhere,
        not_before: NONE,
        skip: &["hmac-md5", "text", "md5"],
        skip_numbers: false,
        take: Take::Tail,
        platforms: "IOS, IOS-XR, FRR (IS-IS)",
        example: ("domain-password d0main", "domain-password <redacted>"),
    },
    KeywordRule {
        word: "lsp-password",
        when: When::Anywhere,
        not_before: &["keychain"],
        skip: &["hmac-md5", "text", "md5", "level"],
        skip_numbers: true,
        take: Take::Tail,
        platforms: "IOS-XR (IS-IS)",
        example: (
            "lsp-password hmac-md5 encrypted 0822455D0A16 level 2",
            "lsp-password hmac-md5 encrypted <redacted>",
        ),
    },
    KeywordRule {
        word: "hello-password",
        when: When::Anywhere,
        not_before: &["keychain"],
        skip: &["hmac-md5", "text", "md5", "level"],
        skip_numbers: true,
        take: Take::Tail,
        platforms: "IOS-XR (IS-IS interfaces)",
        example: (
            "hello-password hmac-md5 encrypted 13061E010803",
            "hello-password hmac-md5 encrypted <redacted>",
        ),
    },
    KeywordRule {
        word: "server-key",
        when: When::Anywhere,
        not_before: NONE,
        skip: NONE,
        skip_numbers: false,
        take: Take::Tail,
        platforms: "IOS (RADIUS dynamic authorization)",
        example: (
            "client 10.0.0.5 server-key 7 0822455D",
            "client 10.0.0.5 server-key 7 <redacted>",
        ),
    },
    KeywordRule {
        word: "key",
        when: When::Context(KEY_CONTEXTS),
        not_before: &["chain", "config-key", "source"],
        skip: NONE,
        skip_numbers: false,
        take: Take::Tail,
        platforms: "IOS, NX-OS, IOS-XR, ASA, EOS (TACACS+, RADIUS servers; ASA `failover key`)",
        example: (
            "radius-server host 10.1.1.1 auth-port 1812 key 7 XYZ",
            "radius-server host 10.1.1.1 auth-port 1812 key 7 <redacted>",
        ),
    },
    KeywordRule {
        word: "key",
        when: When::After("authentication"),
        not_before: NONE,
        skip: NONE,
        skip_numbers: false,
        take: Take::Tail,
        platforms: "EOS (IS-IS `authentication key`, `isis authentication key`)",
        example: (
            "isis authentication key 7 0822455D",
            "isis authentication key 7 <redacted>",
        ),
    },
    KeywordRule {
        word: "key",
        when: When::AfterNext("hash-algo"),
        not_before: NONE,
        skip: NONE,
        skip_numbers: false,
        take: Take::Tail,
        platforms: "FRR (`ipv6 ospf6 authentication key-id N hash-algo A key KEY`)",
        example: (
            "ipv6 ospf6 authentication key-id 1 hash-algo hmac-sha-256 key s3cret",
            "ipv6 ospf6 authentication key-id 1 hash-algo hmac-sha-256 key <redacted>",
        ),
    },
    KeywordRule {
        word: "password-encrypt",
        when: When::Anywhere,
        not_before: NONE,
        skip: NONE,
        skip_numbers: false,
        take: Take::Tail,
        platforms: "IOS (`key config-key password-encrypt`)",
        example: (
            "key config-key password-encrypt M4ster",
            "key config-key password-encrypt <redacted>",
        ),
    },
    KeywordRule {
        word: "pre-shared-key",
        when: When::Anywhere,
        not_before: NONE,
        skip: NONE,
        skip_numbers: false,
        take: Take::PreShared,
        platforms: "IOS (keyrings, IKEv2), ASA (tunnel groups)",
        example: (
            "pre-shared-key address 192.0.2.1 key 0 psk1",
            "pre-shared-key address 192.0.2.1 key 0 <redacted>",
        ),
    },
    KeywordRule {
        word: "authentication",
        when: When::Context(REDUNDANCY),
        not_before: &["md5", "ietf-md5", "key-chain"],
        skip: &["text"],
        skip_numbers: false,
        take: Take::Tail,
        platforms: "IOS, NX-OS, IOS-XR, EOS (HSRP, VRRP, GLBP)",
        example: (
            "standby 1 authentication text plain",
            "standby 1 authentication text <redacted>",
        ),
    },
    KeywordRule {
        word: "text-authentication",
        when: When::Anywhere,
        not_before: NONE,
        skip: NONE,
        skip_numbers: false,
        take: Take::Tail,
        platforms: "IOS-XR (VRRP)",
        example: ("text-authentication vr1", "text-authentication <redacted>"),
    },
    KeywordRule {
        word: "authentication",
        when: When::After("nhrp"),
        not_before: NONE,
        skip: NONE,
        skip_numbers: false,
        take: Take::Tail,
        platforms: "IOS (`ip nhrp authentication`)",
        example: (
            "ip nhrp authentication DMVPN1",
            "ip nhrp authentication <redacted>",
        ),
    },
    KeywordRule {
        word: "string",
        when: When::After("authentication"),
        not_before: NONE,
        skip: NONE,
        skip_numbers: false,
        take: Take::Tail,
        platforms: "FRR (`ip rip authentication string`)",
        example: (
            "ip rip authentication string r1p",
            "ip rip authentication string <redacted>",
        ),
    },
    KeywordRule {
        word: "hmac-sha-256",
        when: When::After("mode"),
        not_before: NONE,
        skip: NONE,
        skip_numbers: false,
        take: Take::Tail,
        platforms: "IOS (EIGRP named mode `authentication mode hmac-sha-256`)",
        example: (
            "authentication mode hmac-sha-256 0 eigrpKey",
            "authentication mode hmac-sha-256 0 <redacted>",
        ),
    },
    KeywordRule {
        word: "wpa-psk",
        when: When::Anywhere,
        not_before: NONE,
        skip: &["ascii", "hex"],
        skip_numbers: false,
        take: Take::Tail,
        platforms: "IOS (wireless)",
        example: ("wpa-psk ascii 0 wifiPass", "wpa-psk ascii 0 <redacted>"),
    },
    KeywordRule {
        word: "ldap-login-password",
        when: When::Anywhere,
        not_before: NONE,
        skip: NONE,
        skip_numbers: false,
        take: Take::Tail,
        platforms: "ASA",
        example: ("ldap-login-password B1nd", "ldap-login-password <redacted>"),
    },
];

/// Commands with a grammar of their own.
pub(super) struct CommandRule {
    /// What the rule reads (for the docs).
    pub syntax: &'static str,
    pub platforms: &'static str,
    pub example: (&'static str, &'static str),
}

/// The command rules (implemented in [`find`]; listed here with examples for tests and docs).
pub(super) const COMMANDS: &[CommandRule] = &[
    CommandRule {
        syntax: "snmp-server community [clear|encrypted|0|7] COMMUNITY ...",
        platforms: "IOS, NX-OS, IOS-XR, ASA, EOS",
        example: (
            "snmp-server community encrypted 0822455D RO",
            "snmp-server community encrypted <redacted> RO",
        ),
    },
    CommandRule {
        syntax: "snmp-server host H [vrf V] [clear|encrypted] [traps|informs] [version 1|2c|3 [auth|noauth|priv]] COMMUNITY [udp-port N] [types]",
        platforms: "IOS, NX-OS, IOS-XR, EOS (SNMPv3: the word is a user name, not a secret)",
        example: (
            "snmp-server host 10.0.0.9 informs version 2c trapcomm udp-port 162 bgp",
            "snmp-server host 10.0.0.9 informs version 2c <redacted> udp-port 162 bgp",
        ),
    },
    CommandRule {
        syntax: "snmp-server host IF ADDR ... community COMMUNITY ...",
        platforms: "ASA",
        example: (
            "snmp-server host inside 10.1.1.1 community asaComm version 2c",
            "snmp-server host inside 10.1.1.1 community <redacted> version 2c",
        ),
    },
    CommandRule {
        syntax: "snmp-server user U [G] [v3] [encrypted] [localized ID] auth ALG [clear|encrypted] KEY [priv [ALG [BITS]] [clear|encrypted] KEY] ...",
        platforms: "IOS, NX-OS (`priv KEY` without an algorithm, `localizedkey`), IOS-XR, EOS",
        example: (
            "snmp-server user admin network-admin auth md5 0xA1B2 priv 0xC3D4 localizedkey",
            "snmp-server user admin network-admin auth md5 <redacted> priv <redacted> localizedkey",
        ),
    },
    CommandRule {
        syntax: "ntp authentication-key N md5|sha1|... [TYPE] KEY [TYPE]",
        platforms: "IOS, NX-OS (type after), EOS (type before), IOS-XR (`encrypted`), ASA",
        example: (
            "ntp authentication-key 1 md5 7 0207165218120E",
            "ntp authentication-key 1 md5 7 <redacted>",
        ),
    },
    CommandRule {
        syntax: "crypto isakmp key [TYPE] KEY address A [MASK] | hostname H",
        platforms: "IOS, ASA (old form)",
        example: (
            "crypto isakmp key 6 PSK address 0.0.0.0 0.0.0.0",
            "crypto isakmp key 6 <redacted> address 0.0.0.0 0.0.0.0",
        ),
    },
    CommandRule {
        syntax: "... ipsec spi N [esp CIPHER [BITS] [passphrase] [TYPE] KEY] md5|sha1 [passphrase] [TYPE] KEY",
        platforms: "IOS, EOS (`ospfv3 authentication|encryption`, `ipv6 ospf ...`, `area N ...`)",
        example: (
            "ospfv3 encryption ipsec spi 1001 esp aes-cbc 128 0 0123456789ABCDEF sha1 0 FEDCBA9876543210",
            "ospfv3 encryption ipsec spi 1001 esp aes-cbc 128 0 <redacted> sha1 0 <redacted>",
        ),
    },
    CommandRule {
        syntax: "scheme://user:PASS@host (in any word)",
        platforms: "all (`archive path`, `boot system`, `ip http client`...)",
        example: (
            "archive path scp://backup:S3cr3t@10.0.0.9/cfg/",
            "archive path scp://backup:<redacted>@10.0.0.9/cfg/",
        ),
    },
];

/// The rules as the Markdown table of docs/formats.md (a test keeps the two equal).
pub(super) fn rules_markdown() -> String {
    let mut out =
        String::from("| construct | platforms | example (as shown) |\n| --- | --- | --- |\n");
    let when = |r: &KeywordRule| match r.when {
        When::Anywhere => String::new(),
        When::Context(heads) => format!(" (in `{}` lines or blocks)", heads.join("`, `")),
        When::After(w) => format!(" (after `{w}`)"),
        When::AfterNext(w) => format!(" (after `{w} X`)"),
    };
    for r in KEYWORDS {
        let take = match r.take {
            Take::Tail => "rest of the line",
            Take::Word => "one word",
            Take::PreShared => "the key",
        };
        out.push_str(&format!(
            "| `{}`{}: {} | {} | `{}` |\n",
            r.word,
            when(r),
            take,
            cell(r.platforms),
            r.example.1
        ));
    }
    for r in COMMANDS {
        out.push_str(&format!(
            "| `{}` | {} | `{}` |\n",
            cell(r.syntax),
            cell(r.platforms),
            r.example.1
        ));
    }
    out
}

/// Text for a Markdown table cell (`|` escaped).
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

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
    let line = w.rest(0);
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
    let end = w.rest(0).len();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(line: &str, parent: Option<&str>) -> String {
        let w = Words::new(line);
        let mut out = Vec::new();
        find(&w, parent, &mut out);
        redact(line, &out)
    }

    #[test]
    fn every_rule_redacts_its_example() {
        for r in KEYWORDS {
            assert_eq!(shown(r.example.0, None), r.example.1, "rule {}", r.word);
        }
        for r in COMMANDS {
            assert_eq!(shown(r.example.0, None), r.example.1, "rule {}", r.syntax);
        }
    }

    #[test]
    fn type_digits_stay_visible() {
        let cases = [
            (
                "enable secret level 15 5 $1$x",
                "enable secret level 15 5 <redacted>",
            ),
            ("enable password plain", "enable password <redacted>"),
            (
                "username admin privilege 15 secret 9 $9$xyz",
                "username admin privilege 15 secret 9 <redacted>",
            ),
            (
                "username admin privilege 15 role network-admin secret sha512 $6$a",
                "username admin privilege 15 role network-admin secret sha512 <redacted>",
            ),
            (
                "tacacs-server key 7 0822455D0A16",
                "tacacs-server key 7 <redacted>",
            ),
            (
                "neighbor 10.0.0.2 password 7 ABC",
                "neighbor 10.0.0.2 password 7 <redacted>",
            ),
            ("password zebra", "password <redacted>"),
            ("password encrypted 0822", "password encrypted <redacted>"),
            (
                "standby 1 authentication md5 key-string s3",
                "standby 1 authentication md5 key-string <redacted>",
            ),
            (
                "standby 1 authentication plain",
                "standby 1 authentication <redacted>",
            ),
            (
                "key-string password 1304181E",
                "key-string password <redacted>",
            ),
            ("ppp chap password 7 0405", "ppp chap password 7 <redacted>"),
            (
                "ip ospf message-digest-key 1 md5 encrypted 0822",
                "ip ospf message-digest-key 1 md5 encrypted <redacted>",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(shown(line, None), want, "{line}");
        }
    }

    #[test]
    fn single_token_secrets_keep_options() {
        let cases = [
            (
                "snmp-server community s3cret RO 10",
                "snmp-server community <redacted> RO 10",
            ),
            (
                "no snmp-server community old RW",
                "no snmp-server community <redacted> RW",
            ),
            (
                "snmp-server host 10.0.0.9 traps version 2c trapcomm",
                "snmp-server host 10.0.0.9 traps version 2c <redacted>",
            ),
            (
                "snmp-server host 10.0.0.9 traps trapcomm",
                "snmp-server host 10.0.0.9 traps <redacted>",
            ),
            (
                "snmp-server host 10.0.0.9 informs version 1 trapcomm udp-port 2162",
                "snmp-server host 10.0.0.9 informs version 1 <redacted> udp-port 2162",
            ),
            (
                "snmp-server host 10.0.0.9 vrf MGMT version 2c eosComm",
                "snmp-server host 10.0.0.9 vrf MGMT version 2c <redacted>",
            ),
            (
                "snmp-server host 10.0.0.9 traps encrypted 0822455D version 2c",
                "snmp-server host 10.0.0.9 traps encrypted <redacted> version 2c",
            ),
            (
                "snmp-server host 10.0.0.9 version 3 priv v3user",
                "snmp-server host 10.0.0.9 version 3 priv v3user",
            ),
            (
                "snmp-server host 10.0.0.9 use-vrf management",
                "snmp-server host 10.0.0.9 use-vrf management",
            ),
            (
                "snmp-server user mon grp v3 auth sha AUTHKEY priv aes 128 PRIVKEY",
                "snmp-server user mon grp v3 auth sha <redacted> priv aes 128 <redacted>",
            ),
            (
                "snmp-server user mon grp v3 auth sha encrypted AK priv aes 128 encrypted PK",
                "snmp-server user mon grp v3 auth sha encrypted <redacted> priv aes 128 encrypted <redacted>",
            ),
            (
                "snmp-server user admin network-admin auth sha AK priv aes-128 PK localizedkey",
                "snmp-server user admin network-admin auth sha <redacted> priv aes-128 <redacted> localizedkey",
            ),
            (
                "snmp-server community clear pub RO",
                "snmp-server community clear <redacted> RO",
            ),
            (
                "ntp authentication-key 1 md5 0822455D 7",
                "ntp authentication-key 1 md5 <redacted> 7",
            ),
            (
                "ntp authentication-key 1 md5 encrypted 0822455D",
                "ntp authentication-key 1 md5 encrypted <redacted>",
            ),
            (
                "pre-shared-key local psk2",
                "pre-shared-key local <redacted>",
            ),
            (
                "ikev1 pre-shared-key asaPsk",
                "ikev1 pre-shared-key <redacted>",
            ),
            (
                "ospfv3 authentication ipsec spi 300 md5 0 0123456789ABCDEF",
                "ospfv3 authentication ipsec spi 300 md5 0 <redacted>",
            ),
            (
                "ipv6 ospf authentication ipsec spi 3 sha1 passphrase 0 eosKey",
                "ipv6 ospf authentication ipsec spi 3 sha1 passphrase 0 <redacted>",
            ),
            (
                "area 1 encryption ipsec spi 5 esp null md5 1234ABCD",
                "area 1 encryption ipsec spi 5 esp null md5 <redacted>",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(shown(line, None), want, "{line}");
        }
    }

    #[test]
    fn key_and_authentication_depend_on_context() {
        assert_eq!(shown("key 1", Some("key chain OSPF")), "key 1");
        assert_eq!(shown("key chain OSPF", None), "key chain OSPF");
        assert_eq!(
            shown("key 7 ABC", Some("tacacs server T1")),
            "key 7 <redacted>"
        );
        assert_eq!(
            shown("key 7 ABC", Some("radius server R1")),
            "key 7 <redacted>"
        );
        assert_eq!(
            shown("key 7 ABC", Some("aaa-server ISE (inside) host 10.0.0.1")),
            "key 7 <redacted>"
        );
        assert_eq!(
            shown("failover key fo-secret", None),
            "failover key <redacted>"
        );
        assert_eq!(shown("tunnel key 5", None), "tunnel key 5");
        assert_eq!(
            shown("authentication text hsrpKey", Some("hsrp 10")),
            "authentication text <redacted>"
        );
        assert_eq!(
            shown("authentication text vrrpKey", Some("vrrp 10")),
            "authentication text <redacted>"
        );
        assert_eq!(
            shown("authentication md5 key-chain HS", Some("hsrp 10")),
            "authentication md5 key-chain HS"
        );
        assert_eq!(
            shown("vrrp 1 peer authentication ietf-md5 key-string 7 ABC", None),
            "vrrp 1 peer authentication ietf-md5 key-string 7 <redacted>"
        );
        assert_eq!(
            shown(
                "authentication key 0 isisKey level-1",
                Some("router isis CORE")
            ),
            "authentication key 0 <redacted>"
        );
    }

    #[test]
    fn non_secrets_are_left_alone() {
        for line in [
            "service password-encryption",
            "password encryption aes",
            "aaa authentication login default group tacacs+ local",
            "security passwords min-length 8",
            "snmp-server group G v3 priv",
            "standby 1 authentication md5 key-chain HSRP",
            "ip ospf authentication message-digest",
            "ip ospf authentication key-chain OSPF",
            "lsp-password keychain ISIS-KC",
            "authentication mode md5",
            "enable secret",
            "ip rip authentication key-chain RIP",
            "tacacs source-interface Loopback0",
        ] {
            assert_eq!(shown(line, None), line);
        }
    }
}
