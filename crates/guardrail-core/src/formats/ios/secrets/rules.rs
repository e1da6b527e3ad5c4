//! The secret rules of IOS-style lines as tables, each rule with the platforms that have it
//! and an example, and the tables as the Markdown of docs/formats.md.

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

/// The command rules (implemented in [`find`](super::find); listed here with examples for tests and docs).
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
pub(in crate::formats::ios) fn rules_markdown() -> String {
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
