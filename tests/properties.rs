//! Laws of the diff: a document never differs from itself, and reordering identified items
//! (HAProxy backends and servers) is not a change.

mod common;

use guardrail::diff::diff;
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
