//! Laws of the diff: a document never differs from itself, reordering identified items of
//! unordered lists (HAProxy backends and servers, IOS interfaces) is not a change, and
//! reordering first-match rules is the fewest `moved` entries.

mod common;

use guardrail::diff::{Op, diff};
use guardrail::document::Format;
use guardrail::formats;
use proptest::prelude::*;

#[test]
fn diff_of_every_golden_input_with_itself_is_empty() {
    let mut seen = 0;
    for (format, kind, path) in common::golden_inputs() {
        if kind != "ok" {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let a = formats::parse_bytes(format, &bytes);
        let b = formats::parse_bytes(format, &bytes);
        let d = diff(&a.root, &b.root);
        assert!(
            d.is_empty(),
            "{}: diff with itself: {:?}",
            path.display(),
            d.first().map(|e| e.path.to_string())
        );
        seen += 1;
    }
    assert!(
        seen >= 16,
        "expected golden inputs for every format, saw {seen}"
    );
}

fn backend(i: usize, servers: &[usize]) -> String {
    let mut s = format!("backend be_{i}\n    balance roundrobin\n");
    for n in servers {
        s.push_str(&format!(
            "    server s{n} 10.0.{i}.{n}:80 check weight {}\n",
            n + 1
        ));
    }
    s.push('\n');
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn reordered_haproxy_backends_and_servers_diff_as_empty(
        order in Just((0..8usize).collect::<Vec<_>>()).prop_shuffle(),
        server_order in Just((0..5usize).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        let head = "global\n    maxconn 100\n\nfrontend fe\n    bind :80\n    default_backend be_0\n\n";
        let original: String = head.to_string() + &(0..8).map(|i| backend(i, &[0, 1, 2, 3, 4])).collect::<String>();
        let shuffled: String = head.to_string() + &order.iter().map(|&i| backend(i, &server_order)).collect::<String>();
        let a = formats::parse(Format::Haproxy, &original);
        let b = formats::parse(Format::Haproxy, &shuffled);
        prop_assert!(!a.has_errors() && !b.has_errors());
        let d = diff(&a.root, &b.root);
        prop_assert!(d.is_empty(), "{:?}", d.iter().map(|e| e.path.to_string()).collect::<Vec<_>>());
    }
}

/// The fewest moves that turn `0..n` into `perm`: n minus its longest increasing run.
fn fewest_moves(perm: &[usize]) -> usize {
    let mut tails: Vec<usize> = Vec::new();
    for &x in perm {
        let k = tails.partition_point(|&t| t < x);
        if k == tails.len() {
            tails.push(x);
        } else {
            tails[k] = x;
        }
    }
    perm.len() - tails.len()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Reordering first-match rules (HAProxy `use_backend`, unnumbered ACL entries) is only
    /// ever `moved` entries, as few as explain the new order, and none when nothing moved; the
    /// unordered sections around them may move freely.
    #[test]
    fn reordered_rules_are_the_fewest_moves_and_sections_no_change(
        rules in Just((0..6usize).collect::<Vec<_>>()).prop_shuffle(),
        sections in Just((0..4usize).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        let fe = |order: &[usize]| {
            let mut s = "frontend fe\n    bind :80\n".to_string();
            for &r in order {
                s.push_str(&format!("    use_backend be_{} if {{ path_beg /p{r} }}\n", r % 4));
            }
            s.push('\n');
            s
        };
        let identity: Vec<usize> = (0..6).collect();
        let base: Vec<usize> = (0..4).collect();
        let old = fe(&identity) + &base.iter().map(|&i| backend(i, &[0, 1])).collect::<String>();
        let new = fe(&rules) + &sections.iter().map(|&i| backend(i, &[0, 1])).collect::<String>();
        let a = formats::parse(Format::Haproxy, &old);
        let b = formats::parse(Format::Haproxy, &new);
        prop_assert!(!a.has_errors() && !b.has_errors());
        let d = diff(&a.root, &b.root);
        prop_assert!(d.iter().all(|e| e.op == Op::Moved));
        prop_assert_eq!(d.len(), fewest_moves(&rules));

        let acl = |order: &[usize], ifaces: &[usize]| {
            let mut s = String::new();
            for &i in ifaces {
                s.push_str(&format!("interface Gi0/{i}\n description port {i}\n!\n"));
            }
            s.push_str("ip access-list extended EDGE\n");
            for &r in order {
                s.push_str(&format!(" permit tcp any host 10.0.0.{r} eq 443\n"));
            }
            s
        };
        let a = formats::parse(Format::Ios, &acl(&identity, &base));
        let b = formats::parse(Format::Ios, &acl(&rules, &sections));
        let d = diff(&a.root, &b.root);
        prop_assert!(d.iter().all(|e| e.op == Op::Moved));
        prop_assert_eq!(d.len(), fewest_moves(&rules));
    }
}
