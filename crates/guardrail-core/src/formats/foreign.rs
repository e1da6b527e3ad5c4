//! Configs of software guardrail does not read, recognised so that they are refused with a
//! sentence naming what they look like instead of being read as a format they resemble: a
//! Junos config is valid nginx syntax (`system { host-name r1; }`), an F5 BIG-IP config too,
//! and a Junos `set` config has the indentation-free lines of an IOS-style one.
//!
//! Only the first [`LINES`] meaningful lines are looked at, so this costs next to nothing on a
//! large file.

/// How many meaningful (non-blank, non-comment) lines are looked at.
const LINES: usize = 300;

/// Top-level Junos statements that open a block (`system {`).
const JUNOS_STANZAS: &[&str] = &[
    "system",
    "interfaces",
    "protocols",
    "routing-options",
    "policy-options",
    "security",
    "firewall",
    "snmp",
    "chassis",
    "routing-instances",
    "class-of-service",
    "forwarding-options",
    "vlans",
    "groups",
    "apply-groups",
    "event-options",
    "services",
    "access",
];

/// The software a config looks like, when it is one guardrail does not read, and the line
/// that shows it: `("Junos", 3)`.
pub fn looks_like(text: &str) -> Option<(&'static str, u32)> {
    let mut junos_blocks: Vec<&str> = Vec::new();
    let mut junos_first = 0;
    let mut junos_leaf = 0;
    let mut junos_set = 0;
    let mut junos_set_first = 0;
    let mut panos_set = 0;
    let mut forti = 0;
    let mut forti_first = 0;
    let mut mikrotik = 0;
    let mut mikrotik_first = 0;
    let mut seen = 0;
    for (i, line) in text.lines().enumerate() {
        let number = i as u32 + 1;
        let t = line.trim();
        if t.is_empty() || t.starts_with('!') || t.starts_with("/*") {
            continue;
        }
        // F5 BIG-IP (tmsh): `#TMSH-VERSION: 15.1.0`, `ltm virtual /Common/vs_web {`.
        if t.starts_with("#TMSH-VERSION") {
            return Some(("F5 BIG-IP", number));
        }
        if t.starts_with("#config-version=") {
            return Some(("Fortinet FortiOS", number));
        }
        if t.starts_with('#') {
            continue;
        }
        seen += 1;
        if seen > LINES {
            break;
        }
        let indented = line.starts_with([' ', '\t']);
        let mut words = t.split_whitespace();
        let w0 = words.next().unwrap_or("");
        let w1 = words.next().unwrap_or("");
        if !indented
            && matches!(
                w0,
                "ltm" | "gtm" | "net" | "sys" | "auth" | "apm" | "asm" | "security"
            )
            && (w1 == "virtual"
                || w1 == "pool"
                || w1 == "node"
                || w1 == "profile"
                || w1 == "monitor"
                || w1 == "vlan"
                || w1 == "self"
                || w1 == "global-settings"
                || w1 == "management-ip"
                || w1 == "wideip")
            && (t.contains("/Common/") || t.ends_with('{'))
        {
            return Some(("F5 BIG-IP", number));
        }
        if !indented && t.ends_with('{') && JUNOS_STANZAS.contains(&w0) && (w1 == "{") {
            if junos_blocks.is_empty() {
                junos_first = number;
            }
            if !junos_blocks.contains(&w0) {
                junos_blocks.push(w0);
            }
        }
        if t.ends_with(';') && matches!(w0, "host-name" | "version" | "domain-name" | "unit") {
            junos_leaf += 1;
        }
        if !indented && w0 == "set" {
            if matches!(
                w1,
                "deviceconfig" | "network" | "rulebase" | "mgt-config" | "shared"
            ) {
                panos_set += 1;
            } else if JUNOS_STANZAS.contains(&w1) {
                if junos_set == 0 {
                    junos_set_first = number;
                }
                junos_set += 1;
            }
        }
        if !indented && w0 == "config" && matches!(w1, "system" | "firewall" | "router" | "vpn") {
            if forti == 0 {
                forti_first = number;
            }
            forti += 1;
        }
        if !indented
            && (t.starts_with("/ip ")
                || t.starts_with("/interface ")
                || t.starts_with("/system ")
                || t.starts_with("/routing "))
        {
            if mikrotik == 0 {
                mikrotik_first = number;
            }
            mikrotik += 1;
        }
    }
    if junos_blocks.len() >= 2 || (junos_blocks.len() == 1 && junos_leaf > 0) {
        return Some(("Junos", junos_first));
    }
    if panos_set >= 2 {
        return Some(("Palo Alto PAN-OS", 1));
    }
    if junos_set >= 2 && junos_set * 3 >= seen {
        return Some(("Junos", junos_set_first));
    }
    if forti >= 2 {
        return Some(("Fortinet FortiOS", forti_first));
    }
    if mikrotik >= 2 {
        return Some(("MikroTik RouterOS", mikrotik_first));
    }
    None
}

/// The sentence of the error for a config that [`looks_like`] another vendor's.
pub fn message(vendor: &str, read_as: &str) -> String {
    format!(
        "this looks like {vendor}: not a supported format (guardrail reads {read_as} here); check the file or its --format"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_other_vendors() {
        let junos = "## Last commit: 2026-01-01 by admin\nversion 20.4R3.8;\nsystem {\n    host-name r1;\n}\ninterfaces {\n    ge-0/0/0 {\n        unit 0;\n    }\n}\n";
        assert_eq!(looks_like(junos), Some(("Junos", 3)));
        let set = "set system host-name r1\nset interfaces ge-0/0/0 unit 0 family inet address 10.0.0.1/24\nset protocols ospf area 0 interface ge-0/0/0.0\n";
        assert_eq!(looks_like(set), Some(("Junos", 1)));
        let f5 = "ltm pool /Common/web_pool {\n    members {\n        /Common/10.0.0.1:80 { address 10.0.0.1 }\n    }\n}\nltm virtual /Common/vs_web {\n    pool /Common/web_pool\n}\n";
        assert_eq!(looks_like(f5), Some(("F5 BIG-IP", 1)));
        let forti = "config system global\n    set hostname fw1\nend\nconfig firewall policy\n    edit 1\n    next\nend\n";
        assert_eq!(looks_like(forti), Some(("Fortinet FortiOS", 1)));
        let pan = "set deviceconfig system hostname pa1\nset network interface ethernet ethernet1/1 layer3 ip 10.0.0.1/24\n";
        assert_eq!(looks_like(pan), Some(("Palo Alto PAN-OS", 1)));
    }

    #[test]
    fn supported_formats_are_not_foreign() {
        for text in [
            "hostname sw1\ninterface Gi1\n shutdown\nroute-map X permit 10\n set local-preference 200\n",
            "http {\n  server {\n    listen 80;\n  }\n}\n",
            "events {\n}\nstream {\n  server { listen 53 udp; proxy_pass dns; }\n}\n",
            "global\n  maxconn 10\nfrontend f\n  bind :80\n",
            "system:\n  host-name: r1\n",
            "frr version 8.4\nrouter bgp 65000\n neighbor 10.0.0.1 remote-as 65001\n",
        ] {
            assert_eq!(looks_like(text), None, "{text}");
        }
    }
}
