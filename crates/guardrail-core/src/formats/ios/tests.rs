//! Unit tests of the IOS-style parser: hierarchy, banners, views, secrets, diagnostics.

use super::parse;
use crate::diff::identity_of;
use crate::document::{Document, Node, Severity, Value};
use crate::formats::MAX_DEPTH;

fn at<'a>(node: &'a Node, path: &str) -> &'a Node {
    node.at_path(path)
        .unwrap_or_else(|| panic!("no node at {path} in {:?}", node.value))
}

fn items<'a>(node: &'a Node, path: &str) -> &'a [Node] {
    match &at(node, path).value {
        Value::List(items) => items,
        other => panic!("{path}: not a list: {other:?}"),
    }
}

fn ints(node: &Node, path: &str) -> Vec<i64> {
    items(node, path)
        .iter()
        .map(|n| match n.value {
            Value::Int(i) => i,
            _ => panic!("not an int"),
        })
        .collect()
}

fn s<'a>(node: &'a Node, path: &str) -> &'a str {
    at(node, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path}: not a string"))
}

fn codes(doc: &Document) -> Vec<&'static str> {
    doc.diagnostics.iter().map(|d| d.code).collect()
}

fn clean(text: &str) -> Document {
    let doc = parse(text);
    assert!(doc.diagnostics.is_empty(), "{:?}", doc.diagnostics);
    doc
}

#[test]
fn indentation_builds_blocks_and_skips_comments() {
    let doc = clean(
        "Building configuration...\n\nCurrent configuration : 100 bytes\n! Last configuration change at 10:00\n# a comment\nhostname r1\nrouter ospf 1\n network 10.0.0.0 0.0.0.255 area 0\n !\n area 0 authentication\nntp clock-period 17179869\nntp server 10.0.0.1\nend\n",
    );
    let r = &doc.root;
    assert_eq!(s(r, "hostname"), "r1");
    assert_eq!(s(r, "lines.0.line"), "router ospf 1");
    assert_eq!(items(r, "lines.0.children").len(), 2);
    assert_eq!(s(r, "lines.1"), "ntp server 10.0.0.1");
    assert_eq!(items(r, "lines").len(), 2, "clock-period is volatile");
}

#[test]
fn tabs_and_mixed_indentation() {
    let doc = clean("interface Gi1\n\tdescription tabbed\n\tshutdown\n");
    assert_eq!(s(&doc.root, "interfaces.0.description"), "tabbed");
    assert_eq!(
        at(&doc.root, "interfaces.0.shutdown").value,
        Value::Bool(true)
    );
}

#[test]
fn end_stops_and_warns_about_what_follows() {
    let doc = parse("hostname a\nend\n!\nhostname b\n");
    assert_eq!(s(&doc.root, "hostname"), "a");
    assert_eq!(codes(&doc), ["ios.after-end"]);
    assert_eq!(doc.diagnostics[0].line, 4);
    assert_eq!(doc.diagnostics[0].severity, Severity::Warning);
}

#[test]
fn banners_any_delimiter_never_parsed_as_config() {
    let doc = clean(concat!(
        "banner motd ^C\n",
        "interface Gi0/1\n",
        " shutdown\n",
        "!\n",
        "^C\n",
        "banner login % one line %\n",
        "banner exec #first\n",
        "second#\n",
        "banner incoming \u{3}\n",
        "etx text\n",
        "\u{3}\n",
        "hostname after-banners\n",
    ));
    let r = &doc.root;
    assert_eq!(s(r, "banners.motd"), "interface Gi0/1\n shutdown\n!");
    assert_eq!(s(r, "banners.login"), "one line");
    assert_eq!(s(r, "banners.exec"), "first\nsecond");
    assert_eq!(s(r, "banners.incoming"), "etx text");
    assert_eq!(s(r, "hostname"), "after-banners");
    assert!(items(r, "interfaces").is_empty());
}

#[test]
fn eos_and_frr_banners() {
    let doc = clean(
        "banner login\nline one\n  line two\nEOF\nbanner motd line FRR says hi\nbanner exec default\n",
    );
    let r = &doc.root;
    assert_eq!(s(r, "banners.login"), "line one\n  line two");
    assert_eq!(s(r, "banners.motd"), "FRR says hi");
    assert_eq!(s(r, "lines.0"), "banner exec default");
}

#[test]
fn unterminated_banner_is_an_error() {
    let doc = parse("banner motd ^C\nno end in sight\n");
    assert_eq!(codes(&doc), ["ios.banner-unterminated"]);
    assert!(doc.has_errors());
}

#[test]
fn macro_bodies_are_kept_whole() {
    let doc = clean(
        "macro name ACCESS\nswitchport mode access\nswitchport access vlan $V\n@\nhostname x\n",
    );
    let r = &doc.root;
    assert_eq!(s(r, "lines.0.line"), "macro name ACCESS");
    assert_eq!(items(r, "lines.0.children").len(), 2);
    assert!(items(r, "interfaces").is_empty());
    assert_eq!(s(r, "hostname"), "x");
}

#[test]
fn frr_exit_lines_close_blocks() {
    let doc = clean(concat!(
        "interface eth0\n",
        " ip address 10.0.0.1/24\n",
        "exit\n",
        "router bgp 1\n",
        " address-family ipv4 unicast\n",
        "  network 10.0.0.0/24\n",
        " exit-address-family\n",
        " neighbor 10.0.0.2 remote-as 2\n",
        "exit\n",
        "ip route 0.0.0.0/0 10.0.0.254\n",
    ));
    let r = &doc.root;
    assert_eq!(s(r, "interfaces.0.ip_address"), "10.0.0.1/24");
    assert_eq!(
        s(r, "bgp.address_families.0.other.0"),
        "network 10.0.0.0/24"
    );
    assert_eq!(s(r, "bgp.neighbors.0.address"), "10.0.0.2");
    assert_eq!(s(r, "lines.0"), "ip route 0.0.0.0/0 10.0.0.254");
}

#[test]
fn quagga_address_family_at_same_indentation() {
    let doc = clean(concat!(
        "router bgp 65000\n",
        " neighbor 10.0.0.2 remote-as 65001\n",
        "!\n",
        " address-family ipv6\n",
        " network 2001:db8::/32\n",
        " neighbor 10.0.0.2 activate\n",
        " exit-address-family\n",
        " neighbor 10.0.0.3 remote-as 65002\n",
    ));
    let r = &doc.root;
    let afs = items(r, "bgp.address_families");
    assert_eq!(afs.len(), 1);
    assert_eq!(
        s(r, "bgp.address_families.0.other.0"),
        "network 2001:db8::/32"
    );
    assert_eq!(
        at(r, "bgp.address_families.0.neighbors.0.activate").value,
        Value::Bool(true)
    );
    assert_eq!(items(r, "bgp.neighbors").len(), 2);
}

#[test]
fn eos_sibling_address_families_without_exit() {
    let doc = clean(concat!(
        "router bgp 65000\n",
        "   address-family ipv4\n",
        "      neighbor A activate\n",
        "   address-family evpn\n",
        "      neighbor B activate\n",
        "   vrf RED\n",
        "      rd 1:1\n",
    ));
    let r = &doc.root;
    assert_eq!(items(r, "bgp.address_families").len(), 2);
    assert_eq!(s(r, "bgp.vrfs.0.name"), "RED");
    assert_eq!(s(r, "bgp.vrfs.0.other.0"), "rd 1:1");
}

#[test]
fn nesting_at_the_limit_is_fine_and_deeper_is_an_error() {
    let ok: String = (0..MAX_DEPTH)
        .map(|i| format!("{}l{i}\n", " ".repeat(i)))
        .collect();
    clean(&ok);
    let deep: String = (0..MAX_DEPTH + 5)
        .map(|i| format!("{}l{i}\n", " ".repeat(i)))
        .collect();
    let doc = parse(&deep);
    assert_eq!(codes(&doc), ["ios.too-deep"]);
    assert_eq!(doc.diagnostics[0].line as usize, MAX_DEPTH + 1);
    // A very deep file does not overflow the stack.
    let huge: String = (0..3000)
        .map(|i| format!("{}x\n", " ".repeat(i % 1000)))
        .collect();
    assert!(parse(&huge).has_errors());
}

#[test]
fn interface_fields() {
    let doc = clean(concat!(
        "interface GigabitEthernet0/1\n",
        " description uplink to core\n",
        " switchport mode trunk\n",
        " channel-group 5 mode active\n",
        " shutdown\n",
        " service instance 10 ethernet\n",
        "  encapsulation dot1q 10\n",
        "interface Vlan10\n",
        " ip vrf forwarding RED\n",
        " ip address 10.0.0.1 255.255.255.0\n",
        " ip address 10.0.1.1 255.255.255.0 secondary\n",
        " no shutdown\n",
        "interface  Ethernet 1/1\n",
    ));
    let r = &doc.root;
    assert_eq!(s(r, "interfaces.0.name"), "GigabitEthernet0/1");
    assert_eq!(s(r, "interfaces.0.description"), "uplink to core");
    assert_eq!(at(r, "interfaces.0.shutdown").value, Value::Bool(true));
    assert_eq!(s(r, "interfaces.0.switchport.mode"), "trunk");
    assert_eq!(
        at(r, "interfaces.0.channel_group.group").value,
        Value::Int(5)
    );
    assert_eq!(s(r, "interfaces.0.channel_group.mode"), "active");
    assert_eq!(
        s(r, "interfaces.0.other.0.line"),
        "service instance 10 ethernet"
    );
    assert_eq!(s(r, "interfaces.1.vrf"), "RED");
    assert_eq!(s(r, "interfaces.1.ip_address"), "10.0.0.1 255.255.255.0");
    assert_eq!(
        s(r, "interfaces.1.other.0"),
        "ip address 10.0.1.1 255.255.255.0 secondary"
    );
    assert_eq!(at(r, "interfaces.1.shutdown").value, Value::Bool(false));
    assert_eq!(at(r, "interfaces.1.switchport").value, Value::Null);
    assert_eq!(s(r, "interfaces.2.name"), "Ethernet 1/1");
    assert_eq!(at(r, "interfaces.2.shutdown").value, Value::Bool(false));
}

#[test]
fn duplicate_interface_blocks_merge() {
    let doc = clean("interface Gi1\n description a\ninterface Gi2\ninterface Gi1\n shutdown\n");
    let r = &doc.root;
    assert_eq!(items(r, "interfaces").len(), 2);
    assert_eq!(s(r, "interfaces.0.description"), "a");
    assert_eq!(at(r, "interfaces.0.shutdown").value, Value::Bool(true));
}

#[test]
fn trunk_allowed_vlans_add_remove_all_none_except() {
    let cfg = |lines: &str| {
        let doc = clean(&format!("interface Po1\n switchport mode trunk\n{lines}"));
        let r = doc.root.clone();
        (
            ints(&r, "interfaces.0.switchport.trunk_allowed_vlans"),
            at(&r, "interfaces.0.switchport.trunk_allowed_all")
                .value
                .clone(),
        )
    };
    assert_eq!(cfg(""), (vec![], Value::Bool(true)));
    assert_eq!(
        cfg(
            " switchport trunk allowed vlan 10,20-22\n switchport trunk allowed vlan add 30\n switchport trunk allowed vlan remove 21\n"
        ),
        (vec![10, 20, 22, 30], Value::Bool(false))
    );
    assert_eq!(
        cfg(" switchport trunk allowed vlan 10\n switchport trunk allowed vlan all\n"),
        (vec![], Value::Bool(true))
    );
    assert_eq!(
        cfg(" switchport trunk allowed vlan none\n switchport trunk allowed vlan add 5\n"),
        (vec![5], Value::Bool(false))
    );
    let (vlans, all) = cfg(" switchport trunk allowed vlan except 2-4093\n");
    assert_eq!((vlans, all), (vec![1, 4094], Value::Bool(false)));
    let (vlans, _) = cfg(" switchport trunk allowed vlan remove 1-4093\n");
    assert_eq!(vlans, vec![4094]);
}

#[test]
fn malformed_vlan_lists_warn_and_stay_raw() {
    let doc = parse(concat!(
        "interface Gi1\n",
        " switchport trunk allowed vlan 10,abc\n",
        " switchport access vlan 5000\n",
        " switchport access vlan dynamic\n",
    ));
    assert_eq!(codes(&doc), ["ios.vlan-syntax", "ios.vlan-syntax"]);
    assert!(!doc.has_errors());
    let other = items(&doc.root, "interfaces.0.switchport.other");
    assert_eq!(other.len(), 3);
    assert_eq!(
        at(&doc.root, "interfaces.0.switchport.access_vlan").value,
        Value::Null
    );
}

#[test]
fn vlans_expand_lists_and_warn_on_garbage() {
    let doc = parse(concat!(
        "vlan 10,20-21\n",
        " name SHARED\n",
        "vlan internal allocation policy ascending\n",
        "vlan abc\n",
        " name X\n",
        "vlan 10\n",
        " state active\n",
    ));
    let r = &doc.root;
    assert_eq!(codes(&doc), ["ios.vlan-syntax"]);
    assert_eq!(doc.diagnostics[0].line, 4);
    let ids: Vec<i64> = items(r, "vlans")
        .iter()
        .map(|v| match at(v, "id").value {
            Value::Int(i) => i,
            _ => 0,
        })
        .collect();
    assert_eq!(ids, [10, 20, 21]);
    assert_eq!(s(r, "vlans.0.vlan_name"), "SHARED");
    assert_eq!(s(r, "vlans.0.other.0"), "state active");
    assert_eq!(s(r, "lines.0"), "vlan internal allocation policy ascending");
    assert_eq!(s(r, "lines.1.line"), "vlan abc");
}

#[test]
fn acl_sequence_numbers() {
    let doc = clean(concat!(
        "access-list 101 remark web\n",
        "hostname interleaved\n",
        "access-list 101 permit tcp any any eq 80\n",
        "ip access-list extended EDGE\n",
        " 15 permit ip host 10.0.0.1 any\n",
        " deny ip any any\n",
        " statistics per-entry\n",
        "ipv6 access-list V6\n",
        " permit ipv6 any any\n",
        "access-list FRR seq 7 permit 10.0.0.0/8\n",
        "ip access-list logging interval 10\n",
    ));
    let r = &doc.root;
    assert_eq!(s(r, "acls.0.name"), "101");
    assert_eq!(s(r, "acls.0.type"), "extended");
    // Without a written number an entry is placed by the file: no `seq`, its text identifies it.
    assert_eq!(at(r, "acls.0.entries.1.seq").value, Value::Null);
    assert_eq!(s(r, "acls.0.entries.1.text"), "tcp any any eq 80");
    assert_eq!(s(r, "acls.0.entries.1.line"), "permit tcp any any eq 80");
    assert_eq!(at(r, "acls.1.entries.0.seq").value, Value::Int(15));
    assert_eq!(at(r, "acls.1.entries.1.seq").value, Value::Null);
    assert_eq!(s(r, "acls.1.entries.1.action"), "deny");
    assert_eq!(s(r, "acls.1.other.0"), "statistics per-entry");
    assert_eq!(s(r, "acls.2.type"), "ipv6");
    assert_eq!(at(r, "acls.3.entries.0.seq").value, Value::Int(7));
    assert_eq!(s(r, "lines.0"), "ip access-list logging interval 10");
}

#[test]
fn acl_problems_are_warnings() {
    let doc = parse(
        "access-list 10 allow any\nip access-list standard X\n 10 permit any\n 10 deny any\n",
    );
    assert_eq!(codes(&doc), ["ios.acl-syntax", "ios.acl-duplicate-seq"]);
    assert!(!doc.has_errors());
    assert_eq!(s(&doc.root, "lines.0"), "access-list 10 allow any");
}

#[test]
fn bgp_neighbors_merge_by_address() {
    let doc = clean(concat!(
        "router bgp 65000\n",
        " neighbor 10.0.0.1 remote-as 65001\n",
        " neighbor 10.0.0.1 description uplink to core\n",
        " neighbor 10.0.0.1 shutdown\n",
        " neighbor 10.0.0.1 password 7 0822455D0A16\n",
        " neighbor 10.0.0.1 route-map IN in\n",
        " neighbor 2001:db8::1 remote-as 4200000000\n",
        " neighbor 10.9.9.9\n",
        "  remote-as 65009\n",
        "  description xr style\n",
        " address-family ipv4\n",
        "  no neighbor 10.0.0.1 activate\n",
        "router bgp 65000\n",
        " neighbor 10.0.0.2 remote-as 65000.10\n",
    ));
    let r = &doc.root;
    let n = items(r, "bgp.neighbors");
    assert_eq!(n.len(), 4);
    assert_eq!(at(r, "bgp.neighbors.0.remote_as").value, Value::Int(65001));
    assert_eq!(s(r, "bgp.neighbors.0.description"), "uplink to core");
    assert_eq!(at(r, "bgp.neighbors.0.shutdown").value, Value::Bool(true));
    assert_eq!(
        at(r, "bgp.neighbors.0.password").value.display_short(),
        "7 <redacted>"
    );
    assert_eq!(
        s(r, "bgp.neighbors.0.other.0"),
        "neighbor 10.0.0.1 route-map IN in"
    );
    assert_eq!(
        at(r, "bgp.neighbors.1.remote_as").value,
        Value::Int(4_200_000_000)
    );
    assert_eq!(at(r, "bgp.neighbors.2.remote_as").value, Value::Int(65009));
    assert_eq!(s(r, "bgp.neighbors.2.description"), "xr style");
    assert_eq!(s(r, "bgp.neighbors.3.remote_as"), "65000.10");
    assert_eq!(
        at(r, "bgp.address_families.0.neighbors.0.activate").value,
        Value::Bool(false)
    );
}

#[test]
fn bgp_problems() {
    let doc = parse("router bgp\n neighbor 1.1.1.1 remote-as 1\nrouter bgp 1\nrouter bgp 2\n");
    assert_eq!(codes(&doc), ["ios.bgp-syntax", "ios.bgp-duplicate"]);
    assert_eq!(at(&doc.root, "bgp.asn").value, Value::Int(1));
    assert_eq!(s(&doc.root, "lines.0.line"), "router bgp");
}

#[test]
fn secrets_are_redacted_with_spans() {
    let text = concat!(
        "enable secret 5 $1$abcd$efgh\n",
        "username ops password 0 my pass phrase\n",
        "snmp-server community Pub1ic RO\n",
        "router bgp 1\n",
        " neighbor 10.0.0.1 password Bgp-Secret\n",
        "key chain K\n",
        " key 1\n",
        "  key-string Chain-Secret\n",
        "interface Gi1\n",
        " ip ospf authentication-key Ospf-Secret\n",
    );
    let doc = clean(text);
    let dump = doc.dump();
    let redacted = doc.redact_source(text);
    for secret in [
        "$1$abcd$efgh",
        "my pass phrase",
        "Pub1ic",
        "Bgp-Secret",
        "Chain-Secret",
        "Ospf-Secret",
    ] {
        assert!(!dump.contains(secret), "dump shows {secret}");
        assert!(!redacted.contains(secret), "source shows {secret}");
    }
    assert!(redacted.contains("enable secret 5 <redacted>"));
    assert!(redacted.contains("\n key 1\n"), "key ids are not secrets");
    assert!(redacted.contains("snmp-server community <redacted> RO"));
    assert_eq!(doc.secret_spans.len(), 6);
}

#[test]
fn changed_secret_changes_the_value() {
    let a = parse("enable secret 9 aaa\n");
    let b = parse("enable secret 9 bbb\n");
    assert_ne!(a.root.value, b.root.value);
    assert_ne!(a.content_hash(), b.content_hash());
}

#[test]
fn not_ios_text_is_an_error() {
    for text in [
        "a: 1\nb:\n  - c\n  - d\n",
        "{\n  \"hostname\": \"x\"\n}\n",
        "[section]\nkey = value\nother=1\n",
    ] {
        let doc = parse(text);
        assert_eq!(codes(&doc)[0], "ios.not-ios", "{text}");
        assert!(doc.has_errors());
    }
    // A few odd lines in a real config are not enough.
    let doc = parse("hostname a\ninterface Gi1\n description x\n- stray\n");
    assert!(!doc.has_errors());
}

#[test]
fn list_items_carry_identity_keys() {
    let doc = clean(concat!(
        "interface Gi1\n",
        "vlan 10\n",
        " name USERS\n",
        "ip access-list standard A\n",
        " permit any\n",
        "router bgp 1\n",
        " neighbor 10.0.0.1 remote-as 2\n",
        " address-family ipv4\n",
        "  network 10.0.0.0\n",
        "router ospf 1\n",
        " network 10.0.0.0 0.0.0.255 area 0\n",
        "ip routing\n",
    ));
    let r = &doc.root;
    let id = |path: &str| identity_of(at(r, path));
    assert_eq!(id("interfaces.0").as_deref(), Some("Gi1"));
    assert_eq!(id("vlans.0").as_deref(), Some("10"));
    assert_eq!(id("acls.0").as_deref(), Some("A"));
    assert_eq!(id("acls.0.entries.0").as_deref(), Some("permit any"));
    assert_eq!(id("bgp.neighbors.0").as_deref(), Some("10.0.0.1"));
    assert_eq!(
        id("bgp.address_families.0").as_deref(),
        Some("address-family ipv4")
    );
    assert_eq!(id("lines.0").as_deref(), Some("router ospf 1"));
    assert_eq!(id("lines.1").as_deref(), Some("ip routing"));
}

#[test]
fn never_panics_on_odd_input() {
    for text in [
        "banner",
        "banner motd",
        "banner motd ^",
        "banner motd é text é",
        "interface",
        "vlan",
        "access-list",
        "access-list 1 seq",
        "access-list 1 seq x permit",
        "ipv6 access-list X seq",
        "router bgp 1\n neighbor\n no neighbor\n neighbor x password\n",
        "exit\nexit-address-family\nend",
        "interface Gi1\n switchport trunk allowed vlan\n switchport trunk allowed vlan add\n channel-group\n",
        "\u{feff}hostname bom",
        " leading indent\nhostname x\n",
        "macro name X\n",
    ] {
        let _ = parse(text);
    }
}

#[test]
fn duplicate_acl_seqs_are_found_in_any_order() {
    let doc = parse(concat!(
        "ip access-list extended X\n",
        " 30 permit tcp any any\n",
        " 10 permit udp any any\n",
        " 20 deny ip any any\n",
        " 10 deny icmp any any\n",
        " permit ip any host 10.0.0.1\n",
        " 40 permit ip any any\n",
    ));
    let dups: Vec<u32> = doc
        .diagnostics
        .iter()
        .filter(|d| d.code == "ios.acl-duplicate-seq")
        .map(|d| d.line)
        .collect();
    // Line 5 repeats 10; line 7 repeats 40, the number IOS gave line 6 (highest so far + 10).
    assert_eq!(dups, [5, 7]);
    assert_eq!(at(&doc.root, "acls.0.entries.4.seq").value, Value::Null);
}

/// A range block's lines are copied into each of its ids; a file cannot use that to grow a
/// tree of millions of nodes from a few kilobytes (a fuzz finding: 3 KB gave an 11 MB dump).
#[test]
fn vlan_range_expansion_is_bounded_per_file() {
    let mut text = String::from("vlan 1-4094\n");
    for i in 0..40 {
        text.push_str(&format!(" description line {i}\n"));
    }
    text.push_str("vlan 10,10-12\n name DUP\n");
    let doc = parse(&text);
    assert_eq!(codes(&doc), ["ios.expansion-limit"]);
    assert_eq!(doc.diagnostics[0].line, 1);
    // The big block is kept as written, once; the small one is expanded, each id once.
    assert_eq!(items(&doc.root, "lines").len(), 1);
    assert_eq!(s(&doc.root, "lines.0.line"), "vlan 1-4094");
    let vlans = items(&doc.root, "vlans");
    assert_eq!(vlans.len(), 3);
    assert_eq!(s(&doc.root, "vlans.0.vlan_name"), "DUP");
    assert!(doc.dump().len() < 20 * text.len());
}

/// Trunk lines that fill every VLAN count against the same limit: past it, a line is kept
/// in the switchport's `other` as written.
#[test]
fn trunk_fills_are_bounded_per_file() {
    let mut text = String::new();
    for i in 0..300 {
        text.push_str(&format!(
            "interface Gi1/0/{i}\n switchport mode trunk\n switchport trunk allowed vlan except 1\n"
        ));
    }
    let doc = parse(&text);
    assert_eq!(codes(&doc), ["ios.expansion-limit"]);
    let ifaces = items(&doc.root, "interfaces");
    assert_eq!(
        ints(&ifaces[0], "switchport.trunk_allowed_vlans").len(),
        4093
    );
    let last = &ifaces[299];
    assert!(ints(last, "switchport.trunk_allowed_vlans").is_empty());
    assert_eq!(
        s(last, "switchport.other.0"),
        "switchport trunk allowed vlan except 1"
    );
}

/// Secret ranges are offsets in the whole line: a line that starts with whitespace the block
/// structure does not take (carriage returns) is redacted where its secret is, not a few bytes
/// before it (a fuzz finding: the range ended inside a multi-byte character and `parse`
/// panicked).
#[test]
fn secrets_after_leading_carriage_returns_are_redacted_in_place() {
    let doc = parse(concat!(
        "\r\rusername ops secret 5 Sekr3tKey\u{fffd}\n",
        "\r\r\r\rarchive path http://ops:Pa55word@x/ ok\n",
    ));
    let text = doc.dump();
    assert!(!text.contains("Sekr3t"), "{text}");
    assert!(!text.contains("Pa55word"), "{text}");
}
