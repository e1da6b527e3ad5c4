//! Which parts of an IOS-style line are secrets: passwords, enable secrets, SNMP communities and
//! user keys, TACACS+/RADIUS keys, key-chain key strings, routing-protocol authentication keys,
//! IKE pre-shared keys.
//!
//! A type digit written before a secret (`0`, `5`, `6`, `7`, `8`, `9`, or EOS `sha512`) stays
//! visible; only the secret itself is redacted. Secrets that may contain spaces (passwords, keys)
//! run to the end of the line; single-token secrets (communities, ISAKMP keys, SNMP user keys,
//! NTP keys) are just that token, so the options after them stay visible. Over-redaction is the
//! safe side: a word such as `password` followed by anything is treated as a secret unless it is
//! one of a few known non-secret forms (`password encryption aes`).

use std::ops::Range;

use super::words::Words;

/// Appends to `out` the byte ranges (within `line`) of the secrets of `line`, in increasing
/// order and without overlap. `parent` is the header line of the enclosing block, if any.
pub(super) fn find(w: &Words<'_>, parent: Option<&str>, out: &mut Vec<Range<usize>>) {
    let n = w.len();
    let base = usize::from(w.get(0) == "no");
    if n < base + 2 {
        return;
    }
    let head = w.get(base);
    match head {
        "snmp-server" => {
            snmp(w, base, out);
            return;
        }
        "ntp" if w.get(base + 1) == "authentication-key" => {
            // ntp authentication-key N md5 SECRET [type]
            if n > base + 4 {
                out.push(w.range(base + 4));
            }
            return;
        }
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
    let key_introduces = matches!(head, "tacacs-server" | "radius-server" | "server-private")
        || (head == "key"
            && w.get(base + 1) != "chain"
            && !parent.is_some_and(|p| p.starts_with("key chain")));
    let redundancy = matches!(head, "standby" | "vrrp" | "glbp");
    for i in base..n {
        match w.get(i) {
            "password" => {
                if matches!(
                    w.get(i + 1),
                    "encryption" | "minimum" | "policy" | "min-length"
                ) {
                    continue;
                }
                tail(w, i + 1, out);
                return;
            }
            "secret" | "key-string" | "authentication-key" | "area-password"
            | "domain-password" | "server-key" => {
                tail(w, i + 1, out);
                return;
            }
            "key" if key_introduces && (i == base || head != "key") => {
                tail(w, i + 1, out);
                return;
            }
            "message-digest-key" => {
                // ip ospf message-digest-key N md5 [type] SECRET
                if w.get(i + 2) == "md5" {
                    tail(w, i + 3, out);
                } else {
                    tail(w, i + 2, out);
                }
                return;
            }
            "pre-shared-key" => {
                let mut j = i + 1;
                if matches!(w.get(j), "local" | "remote") {
                    j += 1;
                }
                if matches!(w.get(j), "address" | "hostname") {
                    if let Some(k) = (j..n).find(|&k| w.get(k) == "key") {
                        tail(w, k + 1, out);
                    }
                } else {
                    tail(w, j, out);
                }
                return;
            }
            "authentication" if redundancy => match w.get(i + 1) {
                // `md5 key-string X` is found by the key-string rule; `md5 key-chain NAME` names
                // a key chain, which is not a secret.
                "md5" => {}
                "text" => {
                    tail(w, i + 2, out);
                    return;
                }
                _ => {
                    tail(w, i + 1, out);
                    return;
                }
            },
            _ => {}
        }
    }
}

/// SNMP communities (`community X`, `host H [...] X`) and SNMPv3 user keys (`auth ALG X`,
/// `priv ALG [bits] Y`).
fn snmp(w: &Words<'_>, base: usize, out: &mut Vec<Range<usize>>) {
    let n = w.len();
    match w.get(base + 1) {
        "community" if n > base + 2 => out.push(w.range(base + 2)),
        "user" => {
            let mut i = base + 2;
            while i < n {
                match w.get(i) {
                    "auth" if i + 2 < n => {
                        out.push(w.range(i + 2));
                        i += 3;
                    }
                    "priv" => {
                        let mut j = i + 2;
                        if matches!(w.get(j), "128" | "192" | "256") && j + 1 < n {
                            j += 1;
                        }
                        if j < n {
                            out.push(w.range(j));
                        }
                        i = j + 1;
                    }
                    _ => i += 1,
                }
            }
        }
        "host" => {
            // snmp-server host H [vrf V] [traps|informs] [version 1|2c|3 [auth|noauth|priv]] COMMUNITY ...
            let mut i = base + 3;
            let mut v3 = false;
            while i < n {
                match w.get(i) {
                    "traps" | "informs" => i += 1,
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
            // With SNMPv3 the word is a user name, not a secret.
            if i < n && !v3 {
                out.push(w.range(i));
            }
        }
        _ => {}
    }
}

/// A secret that runs from word `j` to the end of the line, after an optional `level N` and an
/// optional type word, which stay visible.
fn tail(w: &Words<'_>, mut j: usize, out: &mut Vec<Range<usize>>) {
    let n = w.len();
    if j >= n {
        return;
    }
    if w.get(j) == "level" && j + 2 < n {
        j += 2;
    }
    if is_type(w.get(j)) && j + 1 < n {
        j += 1;
    }
    let start = w.start(j);
    let end = w.rest(0).len();
    if start < end {
        out.push(start..end);
    }
}

/// The encryption type word written before a secret: `0`, `5`, `7`, `8`, `9` (one or two digits),
/// or an EOS hash name.
pub(super) fn is_type(word: &str) -> bool {
    (!word.is_empty() && word.len() <= 2 && word.bytes().all(|b| b.is_ascii_digit()))
        || matches!(word, "sha512" | "sha256")
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
    fn type_digits_stay_visible() {
        let cases = [
            ("enable secret 9 $9$abc", "enable secret 9 <redacted>"),
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
                "username ops password 0 two words",
                "username ops password 0 <redacted>",
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
                "radius-server host 10.1.1.1 auth-port 1812 key 7 XYZ",
                "radius-server host 10.1.1.1 auth-port 1812 key 7 <redacted>",
            ),
            (
                "neighbor 10.0.0.2 password 7 ABC",
                "neighbor 10.0.0.2 password 7 <redacted>",
            ),
            (
                "ip ospf authentication-key 7 ABC",
                "ip ospf authentication-key 7 <redacted>",
            ),
            (
                "ip ospf message-digest-key 1 md5 7 ABC",
                "ip ospf message-digest-key 1 md5 7 <redacted>",
            ),
            ("password zebra", "password <redacted>"),
            ("key-string 7 0011", "key-string 7 <redacted>"),
            (
                "standby 1 authentication md5 key-string s3",
                "standby 1 authentication md5 key-string <redacted>",
            ),
            (
                "standby 1 authentication plain",
                "standby 1 authentication <redacted>",
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
                "snmp-server host 10.0.0.9 version 3 priv v3user",
                "snmp-server host 10.0.0.9 version 3 priv v3user",
            ),
            (
                "snmp-server user mon grp v3 auth sha AUTHKEY priv aes 128 PRIVKEY",
                "snmp-server user mon grp v3 auth sha <redacted> priv aes 128 <redacted>",
            ),
            (
                "crypto isakmp key 6 PSK address 0.0.0.0 0.0.0.0",
                "crypto isakmp key 6 <redacted> address 0.0.0.0 0.0.0.0",
            ),
            (
                "ntp authentication-key 1 md5 0822455D 7",
                "ntp authentication-key 1 md5 <redacted> 7",
            ),
            (
                "pre-shared-key address 192.0.2.1 key 0 psk1",
                "pre-shared-key address 192.0.2.1 key 0 <redacted>",
            ),
            (
                "pre-shared-key local psk2",
                "pre-shared-key local <redacted>",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(shown(line, None), want, "{line}");
        }
    }

    #[test]
    fn key_depends_on_context() {
        assert_eq!(shown("key 1", Some("key chain OSPF")), "key 1");
        assert_eq!(shown("key chain OSPF", None), "key chain OSPF");
        assert_eq!(
            shown("key 7 ABC", Some("tacacs server T1")),
            "key 7 <redacted>"
        );
        assert_eq!(shown("tunnel key 5", None), "tunnel key 5");
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
            "enable secret",
        ] {
            assert_eq!(shown(line, None), line);
        }
    }
}
