use super::rules::COMMANDS;
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
