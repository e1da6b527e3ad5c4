//! The policy engine end to end: loading and lint, evaluation, fail-closed errors, waivers,
//! for_each findings, the inventory, and the policy test cases in tests/data/policy.
//!
//! Documents are built from YAML text by a small test-only loader (`yamldoc`) that gives every
//! node its real line, so the format parsers are not needed here.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use guardrail::diff::{DiffEntry, Op, Path, Segment};
use guardrail::document::{Document, Format, Node};
use guardrail::policy::{
    ChangeInfo, InventoryEntry, ParamOverrides, PolicyDiagnostic, PolicySet, TargetInfo,
    TargetInput, TargetOutcome, TestFile, Waivers, has_errors, run_file,
};
use guardrail::report::{Outcome, Report, Verdict};

/// YAML text to a document with real line numbers (test-only; the real YAML parser lives in
/// `formats`). Keys that name secrets hold `Secret` values, as the real parsers do.
mod yamldoc {
    use guardrail::document::{
        Diagnostic, Document, Format, Map, Node, Secret, Value, is_secret_key,
    };
    use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde_saphyr::Spanned;
    use std::fmt;

    struct Y(Value);

    fn line<T>(s: &Spanned<T>) -> u32 {
        s.referenced.line() as u32
    }

    impl<'de> Deserialize<'de> for Y {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(V)
        }
    }

    struct V;

    impl<'de> Visitor<'de> for V {
        type Value = Y;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any YAML value")
        }
        fn visit_bool<E>(self, b: bool) -> Result<Y, E> {
            Ok(Y(Value::Bool(b)))
        }
        fn visit_i64<E>(self, i: i64) -> Result<Y, E> {
            Ok(Y(Value::Int(i)))
        }
        fn visit_u64<E>(self, u: u64) -> Result<Y, E> {
            Ok(Y(match i64::try_from(u) {
                Ok(i) => Value::Int(i),
                Err(_) => Value::Float(u as f64),
            }))
        }
        fn visit_f64<E>(self, f: f64) -> Result<Y, E> {
            Ok(Y(Value::Float(f)))
        }
        fn visit_str<E>(self, s: &str) -> Result<Y, E> {
            Ok(Y(Value::Str(s.to_string())))
        }
        fn visit_unit<E>(self) -> Result<Y, E> {
            Ok(Y(Value::Null))
        }
        fn visit_none<E>(self) -> Result<Y, E> {
            Ok(Y(Value::Null))
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Y, D::Error> {
            Y::deserialize(d)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Y, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element::<Spanned<Y>>()? {
                items.push(Node::new(line(&item), item.value.0));
            }
            Ok(Y(Value::List(guardrail::document::List::of_data(items))))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Y, A::Error> {
            let mut m = Map::new();
            while let Some(k) = map.next_key::<Spanned<String>>()? {
                let v: Spanned<Y> = map.next_value()?;
                let value = match v.value.0 {
                    Value::Str(s) if is_secret_key(&k.value) => Value::Secret(Secret::whole(&s)),
                    other => other,
                };
                m.push(k.value.clone(), Node::new(line(&k), value));
            }
            Ok(Y(Value::Map(m)))
        }
    }

    pub fn parse(text: &str) -> Document {
        let mut doc = Document::empty(Format::Yaml);
        match serde_saphyr::from_str::<Spanned<Y>>(text) {
            Ok(root) => doc.root = Node::new(1, root.value.0),
            Err(e) => doc.diagnostics.push(Diagnostic::error(
                "yaml.syntax",
                e.location().map(|l| l.line() as u32).unwrap_or(0),
                e.without_snippet().to_string(),
            )),
        }
        doc
    }
}

fn doc(text: &str) -> Document {
    let d = yamldoc::parse(text);
    assert!(!d.has_errors(), "{:?}", d.diagnostics);
    d
}

fn load(policies: &[&str]) -> PolicySet {
    let files: Vec<(String, String)> = policies
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("p{i}.yaml"), t.to_string()))
        .collect();
    let (set, diags) = PolicySet::load(&files);
    assert!(
        !has_errors(&diags),
        "{}",
        diags
            .iter()
            .map(|d| d.render())
            .collect::<Vec<_>>()
            .join("\n")
    );
    set
}

fn target(kind: &str, name: &str) -> TargetInfo {
    TargetInfo {
        name: name.to_string(),
        kind: kind.to_string(),
        env: "production".to_string(),
        owners: vec!["netops".to_string()],
        critical: true,
        format: "yaml".to_string(),
    }
}

/// Evaluates with no diff entries.
fn check(set: &PolicySet, t: &TargetInfo, old: Option<&str>, new: Option<&str>) -> TargetOutcome {
    check_with(set, t, old, new, &ParamOverrides::new())
}

fn check_with(
    set: &PolicySet,
    t: &TargetInfo,
    old: Option<&str>,
    new: Option<&str>,
    params: &ParamOverrides,
) -> TargetOutcome {
    let old = old.map(doc);
    let new = new.map(doc);
    let mut input = TargetInput::new(
        t,
        old.as_ref().map(|d| &d.root),
        new.as_ref().map(|d| &d.root),
        &[],
    );
    input.params = params;
    input.new_file = Some("new.yaml");
    input.old_file = Some("old.yaml");
    set.evaluate(&input)
}

fn outcome_of(out: &TargetOutcome, rule: &str) -> Outcome {
    out.evaluations
        .iter()
        .find(|e| format!("{}/{}", e.policy, e.rule) == rule)
        .unwrap_or_else(|| panic!("no evaluation of {rule}: {:?}", out.evaluations))
        .outcome
}

fn findings_of<'o>(out: &'o TargetOutcome, rule: &str) -> Vec<&'o guardrail::report::Finding> {
    out.findings
        .iter()
        .filter(|f| format!("{}/{}", f.policy, f.rule) == rule)
        .collect()
}

// ---------------------------------------------------------------------------------------------

const LEVELS: &str = r#"
id: levels
params: {advisory_ok: true, approval_ok: true, mandatory_ok: true}
rules:
  - id: adv
    enforcement: advisory
    condition: params.advisory_ok
    message: advisory failed
  - id: appr
    enforcement: approval
    approvals: {count: 2, groups: [netops]}
    condition: params.approval_ok
    message: approval failed
  - id: mand
    enforcement: mandatory
    condition: params.mandatory_ok
    message: mandatory failed
"#;

#[test]
fn the_worst_failing_enforcement_decides_the_verdict() {
    let set = load(&[LEVELS]);
    let t = target("generic", "svc");
    let table = [
        ((true, true, true), Verdict::Pass),
        ((false, true, true), Verdict::Warn),
        ((true, false, true), Verdict::ApprovalRequired),
        ((false, false, true), Verdict::ApprovalRequired),
        ((true, true, false), Verdict::Blocked),
        ((false, false, false), Verdict::Blocked),
    ];
    for ((adv, appr, mand), verdict) in table {
        let mut params = ParamOverrides::new();
        params.insert(
            "levels".to_string(),
            serde_json::json!({"advisory_ok": adv, "approval_ok": appr, "mandatory_ok": mand})
                .as_object()
                .unwrap()
                .clone(),
        );
        let out = check_with(&set, &t, None, Some("a: 1\n"), &params);
        assert_eq!(out.verdict(), verdict, "{adv} {appr} {mand}");
        assert_eq!(out.evaluations.len(), 3);
        let failed = out
            .evaluations
            .iter()
            .filter(|e| e.outcome == Outcome::Failed)
            .count();
        assert_eq!(failed, [adv, appr, mand].iter().filter(|ok| !**ok).count());
        if !appr {
            let f = findings_of(&out, "levels/appr")[0];
            let gate = f.approvals.as_ref().unwrap();
            assert_eq!(
                (gate.count, gate.groups.clone()),
                (2, vec!["netops".to_string()])
            );
            assert_eq!(f.message, "approval failed");
        }
    }
}

/// `groups: [target.owners]` in an approval gate names the checked target's owners: each finding
/// carries the gate with the placeholder replaced, without repeats; the rule keeps it as written.
#[test]
fn an_approval_gate_names_the_target_owners() {
    let set = load(&[r#"
id: owned
rules:
  - id: owners-only
    enforcement: approval
    approvals: {count: 1, groups: [target.owners]}
    condition: "false"
    message: an owner must approve
  - id: netops-or-owners
    enforcement: approval
    approvals: {count: 2, groups: [netops, target.owners]}
    condition: "false"
    message: netops or an owner must approve
"#]);
    let gate = |t: &TargetInfo, rule: &str| {
        let out = check(&set, t, None, Some("a: 1"));
        let g = findings_of(&out, rule)[0].approvals.clone().unwrap();
        (g.count, g.groups)
    };
    let mut t = target("generic", "calendar");
    t.owners = vec!["collab-team".into(), "netops".into()];
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        gate(&t, "owned/owners-only"),
        (1, names(&["collab-team", "netops"]))
    );
    assert_eq!(
        gate(&t, "owned/netops-or-owners"),
        (2, names(&["netops", "collab-team"])),
        "netops is listed once"
    );
    // No owners recorded: the placeholder adds no group (an empty list means any approver).
    t.owners.clear();
    assert_eq!(gate(&t, "owned/owners-only"), (1, vec![]));
    assert_eq!(gate(&t, "owned/netops-or-owners"), (2, names(&["netops"])));
    let (_, rule) = set.rule("owned", "owners-only").unwrap();
    assert_eq!(
        rule.approvals.as_ref().unwrap().groups,
        names(&[guardrail::policy::OWNERS_GROUP])
    );
}

#[test]
fn policies_match_by_kind_target_glob_and_environment() {
    let set = load(&[r#"
id: scoped
match: {kinds: [load_balancer], targets: ["lb-*"], environments: [production]}
rules:
  - {id: r, enforcement: advisory, condition: "false", message: m}
"#]);
    let mut t = target("load_balancer", "lb-mail");
    assert_eq!(check(&set, &t, None, Some("a: 1")).evaluations.len(), 1);
    t.name = "db-main".into();
    assert!(check(&set, &t, None, Some("a: 1")).evaluations.is_empty());
    t.name = "lb-web".into();
    t.env = "staging".into();
    assert!(check(&set, &t, None, Some("a: 1")).evaluations.is_empty());
    t.env = "production".into();
    t.kind = "switch".into();
    assert!(check(&set, &t, None, Some("a: 1")).evaluations.is_empty());
}

// ---------------------------------------------------------------------------------------------

#[test]
fn rule_errors_fail_closed() {
    let set = load(&[r#"
id: broken
rules:
  - id: missing-key
    enforcement: approval
    condition: new.nope == 1
    message: never shown
  - id: type-error
    enforcement: advisory
    condition: new.name + 1 == 2
    message: never shown
  - id: not-a-bool
    enforcement: mandatory
    condition: new.count
    message: never shown
  - id: when-errors
    enforcement: advisory
    when: new.nope
    condition: "true"
    message: never shown
  - id: null-old
    enforcement: advisory
    condition: has(old.x)
    message: never shown
"#]);
    let out = check(
        &set,
        &target("generic", "svc"),
        None,
        Some("name: web\ncount: 3\n"),
    );
    for rule in [
        "broken/missing-key",
        "broken/type-error",
        "broken/not-a-bool",
        "broken/when-errors",
        "broken/null-old",
    ] {
        assert_eq!(outcome_of(&out, rule), Outcome::Errored, "{rule}");
        let f = findings_of(&out, rule);
        assert_eq!(f.len(), 1, "{rule}");
        assert!(f[0].error);
        assert!(
            f[0].message
                .starts_with(&format!("rule {rule} failed closed: ")),
            "{}",
            f[0].message
        );
    }
    let msg = |r: &str| findings_of(&out, r)[0].message.clone();
    assert!(
        msg("broken/missing-key").contains("nope"),
        "{}",
        msg("broken/missing-key")
    );
    assert!(
        msg("broken/not-a-bool").contains("condition returned int `3`, not a bool"),
        "{}",
        msg("broken/not-a-bool")
    );
    assert!(msg("broken/when-errors").contains("when could not be evaluated"));
    // An errored mandatory rule blocks, like a failed one.
    assert_eq!(out.verdict(), Verdict::Blocked);
}

#[test]
fn integers_are_ints_so_arithmetic_works() {
    let set = load(&[r#"
id: ints
params: {limit: 5}
rules:
  - {id: plus-one, enforcement: mandatory, condition: "new.replicas + 1 == 4", message: m}
  - {id: param-plus-one, enforcement: mandatory, condition: "params.limit + 1 == 6", message: m}
  - {id: big, enforcement: mandatory, condition: "new.big - 1 == 9223372036854775806", message: m}
  - {id: float, enforcement: mandatory, condition: "new.ratio * 2.0 == 1.0", message: m}
"#]);
    let out = check(
        &set,
        &target("generic", "svc"),
        None,
        Some("replicas: 3\nbig: 9223372036854775807\nratio: 0.5\n"),
    );
    assert!(out.findings.is_empty(), "{:?}", out.findings);
    assert_eq!(out.evaluations.len(), 4);
}

#[test]
fn document_values_compare_with_literals_and_iterate_in_order() {
    let set = load(&[r#"
id: values
rules:
  - {id: empty, enforcement: mandatory, condition: "[] == new.none && new.none == []", message: m}
  - {id: list, enforcement: mandatory, condition: "new.tags == ['a', 'b'] && ['a', 'b'] == new.tags", message: m}
  - {id: map, enforcement: mandatory, condition: "{'x': 1} == new.m && new.m == {'x': 1}", message: m}
  - {id: order, enforcement: mandatory, condition: "new.keys.map(k, k).join(',') == 'b,a,c'", message: m}
  - {id: in, enforcement: mandatory, condition: "'a' in new.tags && 'x' in new.m && !('z' in new.m)", message: m}
  - {id: optional, enforcement: mandatory, condition: "new.?absent.orValue(7) == 7 && !has(new.absent)", message: m}
  - {id: size, enforcement: mandatory, condition: "size(new.tags) == 2 && new.keys.size() == 3", message: m}
  - {id: concat, enforcement: mandatory, condition: "new.tags + ['c'] == ['a', 'b', 'c']", message: m}
  - {id: strings, enforcement: mandatory, condition: "new.name.lowerAscii().startsWith('web')", message: m}
"#]);
    let out = check(
        &set,
        &target("generic", "svc"),
        None,
        Some("none: []\ntags: [a, b]\nm: {x: 1}\nkeys: {b: 1, a: 2, c: 3}\nname: WEB-1\n"),
    );
    assert!(out.findings.is_empty(), "{:#?}", out.findings);
}

#[test]
fn secrets_are_never_visible_to_rules() {
    let set = load(&[r#"
id: secrets
rules:
  - id: shows
    enforcement: advisory
    condition: "new.password == 'hunter2'"
    message: "password is {{ new.password }}; doc {{ new }}"
"#]);
    let out = check(
        &set,
        &target("generic", "svc"),
        None,
        Some("user: bob\npassword: hunter2\n"),
    );
    let f = &findings_of(&out, "secrets/shows")[0];
    assert!(!f.message.contains("hunter2"), "{}", f.message);
    assert!(f.message.contains("<redacted>"), "{}", f.message);
}

// ---------------------------------------------------------------------------------------------

const SERVERS: &str = "\
backends:
  - name: web
    servers:
      - name: web1
        weight: 10
      - name: web2
        weight: 0
      - name: web3
        disabled: true
";

#[test]
fn for_each_reports_one_finding_per_failing_element_with_its_line() {
    let set = load(&[r#"
id: servers
rules:
  - id: takes-traffic
    enforcement: approval
    for_each: new.backends[0].servers
    condition: item.?weight.orValue(1) > 0 && !item.?disabled.orValue(false)
    message: "server {{ item.name }} of {{ new.backends[0].name }} takes no traffic (weight {{ item.weight }})"
  - id: weight-line
    enforcement: advisory
    for_each: new.backends[0].servers
    condition: item.?weight.orValue(1) > 0
    line: line(item, "weight")
    message: "{{ item.name }}"
  - id: scalars
    enforcement: advisory
    for_each: new.backends[0].servers.map(s, s.name)
    condition: item != "web2"
    message: "{{ item }}"
"#]);
    let out = check(&set, &target("generic", "lb"), None, Some(SERVERS));
    assert_eq!(outcome_of(&out, "servers/takes-traffic"), Outcome::Failed);
    let f = findings_of(&out, "servers/takes-traffic");
    let got: Vec<(Option<u32>, &str)> = f.iter().map(|f| (f.line, f.message.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (Some(6), "server web2 of web takes no traffic (weight 0)"),
            // A missing value renders as `?` rather than failing the finding.
            (Some(8), "server web3 of web takes no traffic (weight ?)"),
        ]
    );
    assert!(f.iter().all(|f| f.file.as_deref() == Some("new.yaml")));
    // `line:` points at the weight entry itself.
    assert_eq!(findings_of(&out, "servers/weight-line")[0].line, Some(7));
    // A mapped list has no lines; the finding has none (no diff entries either).
    let s = findings_of(&out, "servers/scalars");
    assert_eq!(
        (s.len(), s[0].line, s[0].message.as_str()),
        (1, None, "web2")
    );
    // The evaluation points at the rule's first finding.
    let e = out
        .evaluations
        .iter()
        .find(|e| e.rule == "takes-traffic")
        .unwrap();
    assert_eq!(out.findings[e.finding.unwrap()].message, f[0].message);
}

#[test]
fn for_each_errors_fail_closed_per_element() {
    let set = load(&[r#"
id: each
rules:
  - id: weights
    enforcement: approval
    for_each: new.backends[0].servers
    condition: item.weight > 0
    message: "{{ item.name }} has weight {{ item.weight }}"
  - id: not-a-list
    enforcement: approval
    for_each: new.backends[0].name
    condition: "true"
    message: m
"#]);
    let out = check(&set, &target("generic", "lb"), None, Some(SERVERS));
    assert_eq!(outcome_of(&out, "each/weights"), Outcome::Errored);
    let f = findings_of(&out, "each/weights");
    assert_eq!(f.len(), 2);
    assert!(!f[0].error && f[0].message == "web2 has weight 0");
    assert!(f[1].error);
    assert!(
        f[1].message
            .starts_with("rule each/weights failed closed on element `web3`"),
        "{}",
        f[1].message
    );
    assert_eq!(f[1].line, Some(8));
    let nl = findings_of(&out, "each/not-a-list")[0];
    assert!(
        nl.error && nl.message.contains("not a list or map"),
        "{}",
        nl.message
    );
}

#[test]
fn findings_without_an_item_point_at_the_first_diff_entry() {
    let set = load(&[r#"
id: diffs
rules:
  - id: weights-changed
    enforcement: advisory
    condition: "diff_under(diff, 'backends').all(d, d.op != 'changed')"
    message: "{{ size(diff_under(diff, 'backends')) }} backend changes, first at {{ diff[0].path }}"
  - id: each-change
    enforcement: advisory
    for_each: diff_under(diff, "backends[web].servers")
    condition: "false"
    message: "{{ item.op }} {{ item.path }} ({{ item.segments.join('/') }}) {{ item.old }} -> {{ item.new }}"
  - id: removed
    enforcement: approval
    condition: removed_share(old.backends[0].servers, new.backends[0].servers) < 0.3
    message: "{{ removed_share(old.backends[0].servers, new.backends[0].servers) }} removed"
"#]);
    let old = doc(SERVERS);
    let new_text = SERVERS
        .replace("weight: 0", "weight: 5")
        .replace("      - name: web3\n        disabled: true\n", "");
    let new = doc(&new_text);
    let web2_old = old.root.get("backends").unwrap();
    fn entry(node: &Node) -> Option<&Node> {
        match &node.value {
            guardrail::document::Value::List(items) => items.first(),
            _ => None,
        }
    }
    let old_servers = entry(web2_old).unwrap().get("servers").unwrap();
    let new_servers = entry(new.root.get("backends").unwrap())
        .unwrap()
        .get("servers")
        .unwrap();
    let items = |n: &Node| match &n.value {
        guardrail::document::Value::List(items) => items.to_vec(),
        _ => Vec::new(),
    };
    let (old_items, new_items) = (items(old_servers), items(new_servers));
    let path = |server: &str, key: Option<&str>| {
        let mut p = vec![
            Segment::Key("backends".into()),
            Segment::Item("web".into()),
            Segment::Key("servers".into()),
            Segment::Item(server.into()),
        ];
        if let Some(k) = key {
            p.push(Segment::Key(k.into()));
        }
        Path(p)
    };
    let diff = vec![
        DiffEntry {
            op: Op::Changed,
            path: path("web2", Some("weight")),
            old: old_items[1].get("weight"),
            new: new_items[1].get("weight"),
            moved: None,
        },
        DiffEntry {
            op: Op::Removed,
            path: path("web3", None),
            old: Some(&old_items[2]),
            new: None,
            moved: None,
        },
    ];
    let t = target("generic", "lb");
    let mut input = TargetInput::new(&t, Some(&old.root), Some(&new.root), &diff);
    input.new_file = Some("new.yaml");
    input.old_file = Some("old.yaml");
    let out = set.evaluate(&input);

    let f = findings_of(&out, "diffs/weights-changed");
    assert_eq!(
        (f[0].line, f[0].message.as_str()),
        (
            Some(7),
            "2 backend changes, first at backends[web].servers[web2].weight"
        )
    );
    let each = findings_of(&out, "diffs/each-change");
    let got: Vec<(Option<u32>, Option<&str>, &str)> = each
        .iter()
        .map(|f| (f.line, f.file.as_deref(), f.message.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                Some(7),
                Some("new.yaml"),
                "changed backends[web].servers[web2].weight (backends/web/servers/web2/weight) 0 -> 5"
            ),
            (
                Some(8),
                Some("old.yaml"),
                r#"removed backends[web].servers[web3] (backends/web/servers/web3) {"name": "web3", "disabled": true} -> null"#
            ),
        ]
    );
    let removed = findings_of(&out, "diffs/removed");
    assert_eq!(removed[0].message, "0.3333333333333333 removed");
}

// ---------------------------------------------------------------------------------------------

#[test]
fn fan_in_sums_client_pools_over_the_inventory() {
    let set = load(&[include_str!("data/policy/db/db-fanin.yaml")]);
    let db = doc("engine: postgres\nmax_connections: 100\n");
    let client = |pool: i64| doc(&format!("database: db-main\npool: {{max_size: {pool}}}\n"));
    let clients = [client(40), client(40), client(10), client(900)];
    let mut entries: Vec<InventoryEntry<'_>> = clients
        .iter()
        .enumerate()
        .map(|(i, d)| InventoryEntry {
            target: TargetInfo {
                name: format!("app-{i}"),
                kind: "db_client".into(),
                env: "production".into(),
                ..TargetInfo::default()
            },
            doc: Some(&d.root),
        })
        .collect();
    // The 900-connection client lives in staging: it does not count against production.
    entries[3].target.env = "staging".into();
    let t = target("generic", "db-main");
    let mut input = TargetInput::new(&t, None, Some(&db.root), &[]);
    input.inventory = &entries;
    let out = set.evaluate(&input);
    assert_eq!(
        outcome_of(&out, "db-fanin/pools-fit-max-connections"),
        Outcome::Passed
    );

    let db_small = doc("engine: postgres\nmax_connections: 80\n");
    input.new = Some(&db_small.root);
    let out = set.evaluate(&input);
    let f = findings_of(&out, "db-fanin/pools-fit-max-connections");
    assert_eq!(
        (f[0].line, f[0].message.as_str()),
        (
            Some(2),
            "the clients of db-main may open 90 connections but max_connections is 80"
        )
    );
    assert_eq!(out.verdict(), Verdict::Blocked);
}

#[test]
fn change_and_target_are_visible() {
    let set = load(&[r#"
id: ctx
rules:
  - id: all
    enforcement: advisory
    condition: "false"
    message: "{{ change.author }}|{{ change.ticket }}|{{ target.name }}|{{ target.kind }}|{{ target.env }}|{{ target.owners }}|{{ target.critical }}|{{ target.format }}|{{ old }}"
"#]);
    let t = target("switch", "core-sw-1");
    let new = doc("a: 1");
    let change = ChangeInfo {
        author: "alice".into(),
        ticket: "CHG-1".into(),
        title: "t".into(),
    };
    let mut input = TargetInput::new(&t, None, Some(&new.root), &[]);
    input.change = &change;
    let out = set.evaluate(&input);
    assert_eq!(
        out.findings[0].message,
        r#"alice|CHG-1|core-sw-1|switch|production|["netops"]|true|yaml|null"#
    );
}

// ---------------------------------------------------------------------------------------------

fn lint(files: &[(&str, &str)]) -> Vec<(String, &'static str, u32)> {
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    let (_, diags) = PolicySet::load(&files);
    diags
        .iter()
        .map(|d: &PolicyDiagnostic| (d.file.clone(), d.diagnostic.code, d.diagnostic.line))
        .collect()
}

#[test]
fn lint_reports_every_problem_with_its_line() {
    let many = r#"id: many
rules:
  - id: syntax
    enforcement: mandatory
    condition: |
      new.backends.all(b,
        b.servers.size() > )
    message: m
  - id: unknown-var
    enforcement: advisory
    condition: neww.x == 1
    message: m
  - id: bad-enforcement
    enforcement: blocking
    condition: "true"
    message: m
  - id: unknown-var
    enforcement: advisory
    condition: "true"
    message: "value {{ item.x }} and {{ new.( }}"
  - id: no-condition
    enforcement: advisory
    message: m
"#;
    let got = lint(&[("many.yaml", many)]);
    assert_eq!(
        got,
        vec![
            ("many.yaml".to_string(), "policy.cel-syntax", 7),
            ("many.yaml".to_string(), "policy.unknown-variable", 11),
            ("many.yaml".to_string(), "policy.bad-enforcement", 14),
            ("many.yaml".to_string(), "policy.duplicate-rule", 17),
            ("many.yaml".to_string(), "policy.unknown-variable", 20),
            ("many.yaml".to_string(), "policy.bad-placeholder", 20),
            ("many.yaml".to_string(), "policy.missing-field", 21),
        ]
    );

    let unknown_field = "id: u\nrules:\n  - id: r\n    enforcement: advisory\n    conditon: \"true\"\n    message: m\n";
    let bad_kind = "id: k\nmatch:\n  kinds: [router]\nrules: []\n";
    let dup = "id: u\nrules: []\n";
    let got = lint(&[
        ("a.yaml", unknown_field),
        ("b.yaml", bad_kind),
        ("c.yaml", dup),
        ("d.yaml", "id: [\n"),
    ]);
    assert_eq!(
        got,
        vec![
            ("a.yaml".to_string(), "policy.unknown-field", 5),
            ("b.yaml".to_string(), "policy.bad-kind", 3),
            ("b.yaml".to_string(), "policy.no-rules", 1),
            ("c.yaml".to_string(), "policy.no-rules", 1),
            ("d.yaml".to_string(), "policy.yaml", 1),
        ]
    );

    let (_, diags) = PolicySet::load(&[("many.yaml".to_string(), many.to_string())]);
    let rendered = diags[1].render();
    assert!(
        rendered.starts_with(
            "many.yaml:11: error[policy.unknown-variable]: condition uses unknown variable `neww`"
        ),
        "{rendered}"
    );
    let item_hint = &diags[4].diagnostic.message;
    assert!(
        item_hint.contains("only bound in rules with `for_each`"),
        "{item_hint}"
    );
}

#[test]
fn duplicate_policy_ids_and_overlong_expressions_are_refused() {
    let ok =
        "id: same\nrules:\n  - {id: r, enforcement: advisory, condition: 'true', message: m}\n";
    let chain = vec!["new.a"; 300].join(" + ");
    let deep = format!(
        "id: deep\nrules:\n  - id: r\n    enforcement: advisory\n    condition: \"{chain} > 0\"\n    message: m\n"
    );
    let got = lint(&[("1.yaml", ok), ("2.yaml", ok), ("3.yaml", &deep)]);
    assert_eq!(
        got,
        vec![
            ("2.yaml".to_string(), "policy.duplicate-id", 1),
            ("3.yaml".to_string(), "policy.expr-too-deep", 5),
        ]
    );
    let files = vec![
        ("1.yaml".to_string(), ok.to_string()),
        ("2.yaml".to_string(), ok.to_string()),
    ];
    let (set, _) = PolicySet::load(&files);
    assert_eq!(set.policies().len(), 1);
    assert_eq!(set.policies()[0].file, "1.yaml");
}

// ---------------------------------------------------------------------------------------------

const WAIVABLE: &str = r#"
id: p
rules:
  - {id: adv, enforcement: advisory, condition: "false", message: adv fails}
  - {id: mand, enforcement: mandatory, condition: "false", message: mand fails}
  - {id: mandw, enforcement: mandatory, waivable: true, condition: "false", message: mandw fails}
"#;

const WAIVERS: &str = r#"
- rule: p/adv
  target: "lb-*"
  reason: known noise
  owner: netops
  expires: 2030-01-01
- rule: p/mand
  target: "*"
  reason: trying to bypass
  owner: someone
- rule: p/mandw
  target: lb-mail
  reason: expired exception
  owner: netops
  expires: 2026-05-31
- rule: p/mandw
  target: lb-mail
  reason: planned decommission
  owner: netops
  expires: "2026-06-30T12:00:00Z"
- rule: p/adv
  target: "db-*"
  reason: old exception
  owner: dba
"#;

fn now(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn waivers_cover_findings_by_rule_target_and_time() {
    let set = load(&[WAIVABLE]);
    let (waivers, diags) = Waivers::load("waivers.yaml", WAIVERS);
    assert!(diags.is_empty(), "{diags:?}");
    let lint: Vec<(&str, u32)> = waivers
        .lint(&set)
        .iter()
        .map(|d| (d.diagnostic.code, d.diagnostic.line))
        .collect();
    assert_eq!(lint, vec![("waiver.not-allowed", 7)]);

    let out = check(
        &set,
        &target("load_balancer", "lb-mail"),
        None,
        Some("a: 1"),
    );
    let mut report = Report::default();
    out.append_to(&mut report);
    waivers.apply(&set, &mut report, now("2026-06-01T00:00:00Z"));

    let outcome = |rule: &str| {
        report
            .evaluations
            .iter()
            .find(|e| e.rule == rule)
            .unwrap()
            .outcome
    };
    assert_eq!(outcome("adv"), Outcome::Waived);
    assert_eq!(outcome("mand"), Outcome::Failed);
    assert_eq!(outcome("mandw"), Outcome::Waived);
    let mandw = report.findings.iter().find(|f| f.rule == "mandw").unwrap();
    assert_eq!(
        mandw.waived.as_ref().unwrap().reason,
        "planned decommission"
    );
    assert_eq!(report.verdict(), Verdict::Blocked);

    let notices: Vec<(&str, Option<u32>)> = report
        .notices
        .iter()
        .map(|n| (n.code.as_str(), n.line))
        .collect();
    assert_eq!(
        notices,
        vec![
            ("waiver.not-allowed", Some(7)),
            ("waiver.expired", Some(11)),
            ("waiver.stale", Some(21)),
        ]
    );
    assert!(
        report.notices[1]
            .message
            .contains("the finding it covered now counts")
    );

    // After the last waiver expires, the mandatory finding counts again.
    let out = check(
        &set,
        &target("load_balancer", "lb-mail"),
        None,
        Some("a: 1"),
    );
    let mut later = Report::default();
    out.append_to(&mut later);
    waivers.apply(&set, &mut later, now("2026-06-30T12:00:00Z"));
    let mandw = later.findings.iter().find(|f| f.rule == "mandw").unwrap();
    assert!(mandw.waived.is_none());
    let expired = later
        .notices
        .iter()
        .filter(|n| n.code == "waiver.expired")
        .count();
    assert_eq!(expired, 2);
}

#[test]
fn waiver_files_need_reason_and_owner() {
    let (w, d) = Waivers::load(
        "w.yaml",
        "- rule: p/adv\n  target: x\n  owner: o\n- rule: p/adv\n  target: x\n  reason: r\n  bogus: 1\n",
    );
    assert!(w.waivers.is_empty());
    let codes: Vec<(&str, u32)> = d
        .iter()
        .map(|d| (d.diagnostic.code, d.diagnostic.line))
        .collect();
    assert_eq!(codes, vec![("waiver.unknown-field", 7)]);
    let (w, d) = Waivers::load("w.yaml", "- rule: p/adv\n  target: x\n  owner: o\n");
    assert!(w.waivers.is_empty());
    assert_eq!(
        d[0].render(),
        "w.yaml:1: error[waiver.missing-reason]: waiver for `p/adv` needs a `reason` (why the finding is acceptable)"
    );
}

// ---------------------------------------------------------------------------------------------

fn parse_for_tests(format: Format, text: &str) -> Document {
    assert_eq!(format, Format::Yaml, "the sample cases use YAML documents");
    yamldoc::parse(text)
}

fn run_suite(dir: &str) -> Vec<guardrail::policy::CaseResult> {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/policy")
        .join(dir);
    let mut policies = Vec::new();
    let mut tests = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for path in names {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        if guardrail::policy::is_test_file(&name) {
            tests.push((name, text));
        } else if name.ends_with(".yaml") {
            policies.push((name, text));
        }
    }
    let (set, diags) = PolicySet::load(&policies);
    assert!(diags.is_empty(), "{diags:?}");
    let read = |p: &str| std::fs::read_to_string(base.join(p)).map_err(|e| e.to_string());
    let mut results = Vec::new();
    for (name, text) in tests {
        let (file, diags) = TestFile::load(&name, &text);
        assert!(diags.is_empty(), "{diags:?}");
        assert!(!file.cases.is_empty());
        results.extend(run_file(&file, &set, &parse_for_tests, &read));
    }
    results
}

#[test]
fn sample_policy_test_cases_pass() {
    for dir in ["lb", "db", "change"] {
        let results = run_suite(dir);
        let failed: Vec<String> = results
            .iter()
            .filter(|r| !r.passed)
            .map(|r| format!("{}:{} {}: {:#?}", r.file, r.line, r.name, r.mismatches))
            .collect();
        assert!(failed.is_empty(), "{}", failed.join("\n"));
    }
}

#[test]
fn a_wrong_expectation_is_reported_as_a_mismatch() {
    let set = load(&[LEVELS]);
    let text = r#"
cases:
  - name: wrong
    new: "a: 1"
    params:
      levels: {mandatory_ok: false}
    expect:
      levels/mand: pass
      levels/adv: waived
      levels/nope: pass
      verdict: warn
      message_contains:
        levels/mand: something else
"#;
    let (file, diags) = TestFile::load("t.test.yaml", text);
    assert!(diags.is_empty(), "{diags:?}");
    let read = |_: &str| Err("no files".to_string());
    let results = run_file(&file, &set, &parse_for_tests, &read);
    let r = &results[0];
    assert!(!r.passed);
    let got: BTreeMap<String, (String, String)> = r
        .mismatches
        .iter()
        .map(|m| (m.key.clone(), (m.expected.clone(), m.actual.clone())))
        .collect();
    assert_eq!(got["levels/mand"], ("pass".into(), "fail".into()));
    assert_eq!(got["levels/adv"], ("waived".into(), "pass".into()));
    assert_eq!(got["levels/nope"], ("pass".into(), "no such rule".into()));
    assert_eq!(
        got["verdict"],
        (
            "warn".into(),
            "blocked (from levels/mand (mandatory))".into()
        )
    );
    assert_eq!(
        got["message_contains levels/mand"].1,
        "\"mandatory failed\"".to_string()
    );
}

#[test]
fn test_files_report_problems_with_lines() {
    let text = "cases:\n  - name: a\n    new: x\n    expect:\n      verdict: maybe\n      p/r: great\n      other: 1\n  - name: b\n    kind: router\n    expect: {verdict: pass}\n";
    let (file, diags) = TestFile::load("t.test.yaml", text);
    assert!(file.cases.is_empty());
    let got: Vec<(&str, u32)> = diags
        .iter()
        .map(|d| (d.diagnostic.code, d.diagnostic.line))
        .collect();
    assert_eq!(
        got,
        vec![
            ("test.bad-expect", 7),
            ("test.bad-expect", 6),
            ("test.bad-expect", 5),
            ("test.bad-kind", 9),
            ("test.schema", 8),
        ]
    );
}

#[test]
fn a_large_document_is_only_converted_where_rules_look() {
    // 20,000 servers; the rule reads one of them. This is not a timing test (benchmarks measure
    // the budget), but it would take seconds in a debug build if the document were copied per rule.
    let mut text = String::from("backends:\n  - name: big\n    servers:\n");
    for i in 0..20_000 {
        text.push_str(&format!("      - {{name: s{i}, weight: {i}}}\n"));
    }
    let big = doc(&text);
    let mut rules = String::from("id: big\nrules:\n");
    for i in 0..50 {
        rules.push_str(&format!(
            "  - {{id: r{i}, enforcement: advisory, condition: \"new.backends[0].servers[{i}].weight == {i}\", message: m}}\n"
        ));
    }
    let set = load(&[&rules]);
    let t = target("generic", "lb");
    let input = TargetInput::new(&t, Some(&big.root), Some(&big.root), &[]);
    let out = set.evaluate(&input);
    assert!(out.findings.is_empty(), "{:?}", out.findings.first());
    assert_eq!(out.evaluations.len(), 50);
}

#[test]
fn the_deepest_accepted_expression_evaluates() {
    // 195 terms is just under the nesting limit of 200: it must parse and run (on the engine's own
    // large-stack thread), even in a debug build.
    let chain = vec!["new.a"; 195].join(" + ");
    let set = load(&[&format!(
        "id: deep\nrules:\n  - id: r\n    enforcement: advisory\n    condition: \"{chain} == 195\"\n    message: m\n"
    )]);
    let out = check(&set, &target("generic", "x"), None, Some("a: 1\n"));
    assert_eq!(outcome_of(&out, "deep/r"), Outcome::Passed);
}

#[test]
fn unquoted_yaml_scalars_are_accepted_as_expressions() {
    let set = load(&[
        "id: plain\nrules:\n  - {id: t, enforcement: advisory, condition: true, message: m}\n  - {id: n, enforcement: advisory, condition: 1 == 1, message: 42}\n",
    ]);
    let out = check(&set, &target("generic", "x"), None, Some("a: 1\n"));
    assert!(out.findings.is_empty(), "{:?}", out.findings);
}

#[test]
fn iterating_a_map_points_findings_at_its_keys() {
    let set = load(&[r#"
id: keys
rules:
  - id: no-debug
    enforcement: advisory
    for_each: new.global
    condition: "!item.startsWith('debug')"
    message: "{{ item }} = {{ new.global[item] }}"
"#]);
    let out = check(
        &set,
        &target("generic", "x"),
        None,
        Some("global:\n  maxconn: 100\n  debug_level: 3\n  log: on\n"),
    );
    let f = findings_of(&out, "keys/no-debug");
    assert_eq!(
        (f.len(), f[0].line, f[0].message.as_str()),
        (1, Some(3), "debug_level = 3")
    );
}

#[test]
fn overrides_for_unknown_policies_or_params_are_reported() {
    let set = load(&[LEVELS]);
    let mut overrides = ParamOverrides::new();
    overrides.insert("levels".into(), serde_json::Map::new());
    overrides
        .get_mut("levels")
        .unwrap()
        .insert("advisory_okk".into(), serde_json::json!(true));
    overrides.insert("nope".into(), serde_json::Map::new());
    let problems = set.check_overrides(&overrides);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].message.starts_with(
            "policy `levels`: unknown param `advisory_okk` (did you mean `advisory_ok`?)"
        ),
        "{}",
        problems[0].message
    );
    assert_eq!(problems[0].param.as_deref(), Some("advisory_okk"));
    assert!(
        problems[1]
            .message
            .starts_with("params given for unknown policy `nope`"),
        "{}",
        problems[1].message
    );
    assert_eq!(
        (problems[1].policy.as_str(), problems[1].param.as_deref()),
        ("nope", None)
    );
}

/// The YAML blocks of docs/policies.md that follow `heading`.
fn doc_block(heading: &str) -> String {
    let text = include_str!("../docs/policies.md");
    let from = text.find(heading).expect("heading in docs/policies.md");
    let rest = &text[from..];
    let start = rest.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let end = rest[start..].find("```").expect("closed block");
    rest[start..start + end].to_string()
}

#[test]
fn the_examples_in_the_docs_load() {
    let policy = doc_block("## The policy file");
    let (set, diags) = PolicySet::load(&[("example.yaml".to_string(), policy)]);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(set.rule_count(), 3);

    let (waivers, diags) = Waivers::load("waivers.yaml", &doc_block("## Waivers"));
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(waivers.waivers.len(), 1);
    assert!(waivers.lint(&set).is_empty());

    let (tests, diags) = TestFile::load("example.test.yaml", &doc_block("## Test cases"));
    assert!(diags.is_empty(), "{diags:?}");
    let case = &tests.cases[0];
    assert_eq!(case.format, Format::Haproxy);
    assert_eq!(case.inventory.len(), 2);
    assert_eq!(case.expect.verdict, Some(Verdict::ApprovalRequired));
}

// ---------------------------------------------------------------------------------------------
// Rules judge what the change introduces.

const POOLS: &str = r#"
id: pools
match:
  kinds: [db_client]
rules:
  - id: capped
    enforcement: mandatory
    for_each: new.pools
    condition: has(item.max)
    message: "pool {{ item.name }} has no max"
  - id: capped-strict
    enforcement: mandatory
    existing: enforce
    for_each: new.pools
    condition: has(item.max)
    message: "pool {{ item.name }} has no max"
"#;

/// Evaluates with the real semantic diff of the two documents.
fn check_diffed(set: &PolicySet, t: &TargetInfo, old: &str, new: &str) -> TargetOutcome {
    let (old, new) = (doc(old), doc(new));
    let diff = guardrail::diff::diff(&old.root, &new.root);
    let mut input = TargetInput::new(t, Some(&old.root), Some(&new.root), &diff);
    input.new_file = Some("new.yaml");
    input.old_file = Some("old.yaml");
    set.evaluate(&input)
}

#[test]
fn a_finding_the_change_did_not_introduce_is_a_notice_unless_the_rule_enforces_it() {
    let set = load(&[POOLS]);
    let t = target("db_client", "app");
    let old = "pools:\n  - name: a\n  - name: b\n    max: 5\nport: 1\n";
    // An unrelated edit: pool `a` was uncapped before and the change does not touch it.
    let out = check_diffed(
        &set,
        &t,
        old,
        "pools:\n  - name: a\n  - name: b\n    max: 5\nport: 2\n",
    );
    assert!(
        findings_of(&out, "pools/capped").is_empty(),
        "{:?}",
        out.findings
    );
    assert_eq!(outcome_of(&out, "pools/capped"), Outcome::Passed);
    let notice = out
        .notices
        .iter()
        .find(|n| n.code == "finding.preexisting")
        .expect("a pre-existing notice");
    assert!(
        notice
            .message
            .starts_with("pools/capped: pool a has no max (already so"),
        "{}",
        notice.message
    );
    assert_eq!(notice.line, Some(2));
    // `existing: enforce` keeps it a finding.
    assert_eq!(findings_of(&out, "pools/capped-strict").len(), 1);
    assert_eq!(outcome_of(&out, "pools/capped-strict"), Outcome::Failed);

    // A change that introduces the problem (pool b loses its max) is a finding; a problem at a
    // line the change touches (a's entry edited) is one too.
    let out = check_diffed(
        &set,
        &t,
        old,
        "pools:\n  - name: a\n    min: 1\n  - name: b\nport: 1\n",
    );
    let msgs: Vec<&str> = findings_of(&out, "pools/capped")
        .iter()
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(
        msgs,
        vec!["pool a has no max", "pool b has no max"],
        "{:?}",
        out.notices
    );
    assert!(out.notices.iter().all(|n| n.code != "finding.preexisting"));

    // A created target has no before: everything counts.
    let new = doc("pools:\n  - name: a\n");
    let diff = guardrail::policy::target_diff(None, Some(&new.root));
    let input = TargetInput::new(&t, None, Some(&new.root), &diff);
    let out = set.evaluate(&input);
    assert_eq!(findings_of(&out, "pools/capped").len(), 1);
}

#[test]
fn an_unknown_existing_value_names_the_nearest() {
    let bad = POOLS.replace("existing: enforce", "existing: enforced");
    let (_, diags) = PolicySet::load(&[("p.yaml".to_string(), bad)]);
    assert!(
        diags.iter().any(|d| d.diagnostic.code == "policy.schema"
            && d.diagnostic.line == 13
            && d.diagnostic
                .message
                .contains("unknown value `enforced` (did you mean `enforce`?)")),
        "{:?}",
        diags
            .iter()
            .map(PolicyDiagnostic::render)
            .collect::<Vec<_>>()
    );
}
