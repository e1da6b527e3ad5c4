//! `guardrail policy test` and `guardrail policy lint` with the real binary: exit codes, and
//! unknown names in policy, test and waiver files refused with the nearest valid name.

mod common;

use common::{run_in, temp_files};

const POLICY: &str = "\
id: pools
description: Pools stay small.
match:
  kinds: [db_client]
params:
  max_size: 20
rules:
  - id: pool-small
    enforcement: mandatory
    condition: new == null || new.pool.max_size <= params.max_size
    message: pool too large
";

const TESTS: &str = "\
cases:
  - name: a small pool passes
    kind: db_client
    target: {name: app}
    format: yaml
    new: 'pool: {max_size: 10}'
    expect: {verdict: pass}
  - name: a raised limit lets a larger pool pass
    kind: db_client
    target: {name: app}
    format: yaml
    new: 'pool: {max_size: 30}'
    params:
      pools: {max_size: 40}
    expect: {verdict: pass}
";

#[test]
fn a_good_library_tests_and_lints_clean() {
    let dir = temp_files(&[
        ("p/pools.yaml", POLICY.as_bytes()),
        ("p/pools.test.yaml", TESTS.as_bytes()),
    ]);
    let (code, out, err) = run_in(dir.path(), &["policy", "test", "p"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 passed, 0 failed"), "{out}");
    let (code, out, err) = run_in(dir.path(), &["policy", "lint", "p"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn unknown_keys_in_policy_test_and_waiver_files_name_the_nearest_key() {
    let cases = [
        (
            "p/pools.yaml",
            POLICY.replace("enforcement: mandatory", "enforcment: mandatory"),
            "pools.yaml:9: error[policy.unknown-field]: unknown field `enforcment` (did you mean `enforcement`?)",
        ),
        (
            "p/pools.test.yaml",
            TESTS.replace("expect: {verdict: pass}\n  - name: a raised", "expct: {verdict: pass}\n  - name: a raised"),
            "error[test.unknown-field]: unknown field `expct` (did you mean `expect`?)",
        ),
        (
            "p/waivers.yaml",
            "- rule: pools/pool-small\n  target: app\n  reson: x\n  owner: dba\n  expires: 2099-01-01\n"
                .to_string(),
            "waivers.yaml:3: error[waiver.unknown-field]: unknown field `reson` (did you mean `reason`?)",
        ),
    ];
    for (name, text, expected) in cases {
        let mut files: Vec<(&str, &[u8])> = vec![
            ("p/pools.yaml", POLICY.as_bytes()),
            ("p/pools.test.yaml", TESTS.as_bytes()),
        ];
        files.retain(|(n, _)| *n != name);
        files.push((name, text.as_bytes()));
        let dir = temp_files(&files);
        let (code, out, err) = run_in(dir.path(), &["policy", "lint", "p"]);
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(out.contains(expected), "{name}: {out}");
        let (code, out, err) = run_in(dir.path(), &["policy", "test", "p"]);
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(err.contains(expected), "{name}: {err}");
    }
}

#[test]
fn test_params_and_waivers_that_name_nothing_are_exit_two() {
    let typo_param = TESTS.replace("pools: {max_size: 40}", "pools: {max_sise: 40}");
    let typo_policy = TESTS.replace("pools: {max_size: 40}", "pool: {max_size: 40}");
    let typo_rule = "- rule: pools/pool-smal\n  target: app\n  reason: x\n  owner: dba\n  expires: 2099-01-01\n";
    for (files, expected) in [
        (
            vec![("p/pools.test.yaml", typo_param.as_str())],
            "pools.test.yaml:14: error[test.unknown-param]: case `a raised limit lets a larger pool pass`: policy `pools`: unknown param `max_sise` (did you mean `max_size`?)",
        ),
        (
            vec![("p/pools.test.yaml", typo_policy.as_str())],
            "params given for unknown policy `pool` (did you mean `pools`?)",
        ),
        (
            vec![("p/pools.test.yaml", TESTS), ("p/waivers.yaml", typo_rule)],
            "waivers.yaml:1: error[waiver.unknown-rule]: no loaded policy has rule `pools/pool-smal` (did you mean `pools/pool-small`?)",
        ),
    ] {
        let mut all: Vec<(&str, &[u8])> = vec![("p/pools.yaml", POLICY.as_bytes())];
        all.extend(files.iter().map(|(n, t)| (*n, t.as_bytes())));
        let dir = temp_files(&all);
        let (code, out, err) = run_in(dir.path(), &["policy", "test", "p"]);
        assert_eq!(code, 2, "{out}{err}");
        assert!(err.contains(expected), "{err}");
        let (code, out, _) = run_in(dir.path(), &["policy", "lint", "p"]);
        assert_eq!(code, 2, "{out}");
        assert!(out.contains(expected), "{out}");
    }
}
