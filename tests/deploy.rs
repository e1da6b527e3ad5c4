//! The deployment files (deploy/, Dockerfile, .dockerignore, .pre-commit-hooks.yaml,
//! docs/runbook.md) stay valid, agree with each other and with the daemon's contract.
//!
//! Real tools, no mocks: promtool checks and unit-tests the alert rules and parses every dashboard
//! query, hadolint lints the Dockerfile, systemd-analyze verifies the unit, git and the real
//! `guardrail` binary run the CI examples' own scripts. A missing tool skips its test with a
//! message, except when `CI` is set: then it fails (`scripts/test.sh` installs the tools).
//! `systemd-analyze` is not installed by the script and often cannot run in containers, so its
//! check is skipped wherever it is not usable; the unit's settings are checked without it.
//!
//! `UPDATE_DEPLOY=1 cargo test --test deploy` rewrites deploy/kubernetes/prometheusrule.yaml from
//! deploy/prometheus/guardrail-alerts.yaml.

#![cfg(unix)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// The daemon's contract, in one place. Everything under deploy/ may use these names and nothing
// else. Flags come from the real binary's `--help`; the metric list below is checked against a
// running daemon's /metrics by tests/metrics_e2e.rs, so it cannot drift from what is exported.
// ---------------------------------------------------------------------------------------------

#[path = "common/metrics_contract.rs"]
mod contract;
use contract::*;

/// The daemon's port, health endpoints and metrics path.
const PORT: u16 = 8437;
const LIVENESS_PATH: &str = "/healthz";
const READINESS_PATH: &str = "/readyz";
const METRICS_PATH: &str = "/metrics";
const DATA_DIR: &str = "/var/lib/guardrail";
const CONFIG_FILE: &str = "/etc/guardrail/guardrail.yaml";

/// Labels Prometheus adds to every scraped series, and the series it makes itself.
const TARGET_LABELS: &[&str] = &["job", "instance"];
const PROMETHEUS_METRICS: &[Metric] = &[metric("up", Kind::Gauge, &[])];

// ---------------------------------------------------------------------------------------------
// Files and tools.
// ---------------------------------------------------------------------------------------------

const RULES: &str = "deploy/prometheus/guardrail-alerts.yaml";
const RULE_TESTS: &str = "deploy/prometheus/guardrail-alerts.test.yaml";
const PROMETHEUS_RULE: &str = "deploy/kubernetes/prometheusrule.yaml";
const DASHBOARD: &str = "deploy/grafana/guardrail-dashboard.json";
const KUBERNETES: &str = "deploy/kubernetes";
const RUNBOOK: &str = "docs/runbook.md";
const RUNBOOK_URL: &str = "https://github.com/guardrail-dev/guardrail/blob/main/docs/runbook.md#";
const SYSTEMD_UNIT: &str = "deploy/systemd/guardrail.service";
const GITHUB_WORKFLOW: &str = "deploy/ci/github-actions.yml";
const GITLAB_CI: &str = "deploy/ci/gitlab-ci.yml";
const PRE_COMMIT_HOOKS: &str = ".pre-commit-hooks.yaml";
const PRE_COMMIT_EXAMPLE: &str = "deploy/ci/pre-commit-config.example.yaml";
const ANSIBLE_GATE: &str = "deploy/ansible/gate-pretask.yml";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every YAML document of a file.
fn yaml_docs(rel: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml(rel: &str) -> Value {
    let mut docs = yaml_docs(rel);
    assert_eq!(docs.len(), 1, "{rel}: expected one YAML document");
    docs.remove(0)
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v}"))
}

fn array_at<'a>(v: &'a Value, pointer: &str) -> &'a Vec<Value> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("no list at {pointer}"))
}

/// Finds `name` on PATH. When it is missing, the test fails under CI and is skipped otherwise.
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is not installed; scripts/test.sh installs it (CI is set, so this fails)"
        );
        eprintln!("skipped: {name} is not installed (scripts/test.sh installs it)");
    }
    found
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The long flags that `guardrail <subcommand> --help` of the real binary lists.
fn help_flags(subcommand: &str) -> BTreeSet<String> {
    let out = run(Command::new(env!("CARGO_BIN_EXE_guardrail")).args([subcommand, "--help"]));
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == '<')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_string()
        })
        .collect()
}

/// `--flag value` and `--flag=value` pairs of an argument list (every flag here takes a value).
fn flag_values(args: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        assert!(a.starts_with("--"), "unexpected argument {a:?} in {args:?}");
        if let Some((flag, value)) = a.split_once('=') {
            out.push((flag.to_string(), value.to_string()));
            i += 1;
        } else {
            let value = args
                .get(i + 1)
                .unwrap_or_else(|| panic!("{a} has no value in {args:?}"));
            out.push((a.clone(), value.clone()));
            i += 2;
        }
    }
    out
}

/// Checks a `guardrail serve` argument list (after `serve`) against the contract; returns the
/// flags and values.
fn check_serve_args(origin: &str, args: &[String]) -> BTreeMap<String, String> {
    let pairs = flag_values(args);
    let mut map = BTreeMap::new();
    for (flag, value) in pairs {
        assert!(
            help_flags("serve").contains(&flag),
            "{origin}: `guardrail serve` has no flag {flag}"
        );
        assert!(
            map.insert(flag.clone(), value).is_none(),
            "{origin}: {flag} given twice"
        );
    }
    if let Some(listen) = map.get("--listen") {
        assert!(
            listen.ends_with(&format!(":{PORT}")),
            "{origin}: --listen {listen} is not port {PORT}"
        );
    }
    if let Some(format) = map.get("--log-format") {
        assert!(["text", "json"].contains(&format.as_str()), "{origin}");
    }
    map
}

// ---------------------------------------------------------------------------------------------
// Prometheus alert rules.
// ---------------------------------------------------------------------------------------------

/// One alerting rule: its name, static labels, annotations and expression.
struct Alert {
    name: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    expr: String,
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("a string").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn alerts() -> Vec<Alert> {
    let rules = yaml(RULES);
    let mut out = Vec::new();
    for group in array_at(&rules, "/groups") {
        for rule in array_at(group, "/rules") {
            let Some(name) = rule.get("alert").and_then(Value::as_str) else {
                continue;
            };
            out.push(Alert {
                name: name.to_string(),
                labels: string_map(rule.get("labels")),
                annotations: string_map(rule.get("annotations")),
                expr: str_at(rule, "/expr").to_string(),
            });
        }
    }
    assert!(!out.is_empty(), "{RULES} has no alert");
    out
}

#[test]
fn alert_rules_pass_promtool_check() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let out = run(Command::new(promtool)
        .args(["check", "rules", RULES])
        .current_dir(root()));
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn alert_rules_pass_their_promtool_unit_tests() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let out = run(Command::new(promtool)
        .args(["test", "rules", RULE_TESTS])
        .current_dir(root()));
    assert!(out.status.success(), "{}", text(&out));
}

const ALERTMANAGER_CONFIG: &str = "deploy/alertmanager/alertmanager.yml";

#[test]
fn alertmanager_config_passes_amtool() {
    let Some(amtool) = tool("amtool") else {
        return;
    };
    let out = run(Command::new(amtool)
        .args(["check-config", ALERTMANAGER_CONFIG])
        .current_dir(root()));
    assert!(out.status.success(), "{}", text(&out));
}

/// The shipped inhibit rule names exactly the alerts both the daemon and the Prometheus rules
/// raise, so a rename on either side cannot silently bring back double pages (or mute an alert
/// that has no daemon copy).
#[test]
fn the_inhibit_rule_covers_exactly_the_alerts_both_paths_raise() {
    let am = yaml(ALERTMANAGER_CONFIG);
    let rules = array_at(&am, "/inhibit_rules");
    assert_eq!(rules.len(), 1);
    let names = |side: &str| -> BTreeSet<String> {
        let matchers: Vec<&str> = array_at(&rules[0], side)
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        let re = matchers
            .iter()
            .find_map(|m| m.strip_prefix("alertname=~\""))
            .expect("an alertname matcher")
            .trim_end_matches('"');
        re.split('|').map(str::to_string).collect()
    };
    let daemon: BTreeSet<String> = guardrail::notify::EventKind::ALL
        .iter()
        .map(|k| k.alertname().to_string())
        .collect();
    let prometheus: BTreeSet<String> = alerts().into_iter().map(|a| a.name).collect();
    let both: BTreeSet<String> = daemon.intersection(&prometheus).cloned().collect();
    assert_eq!(names("/source_matchers"), both);
    assert_eq!(names("/target_matchers"), both);
    assert!(
        alerts()
            .iter()
            .all(|a| a.labels.get("origin").is_none_or(|o| o != "daemon"))
    );
}

/// promtool passes a test that names an alert that does not exist, and an alert nobody tests;
/// this test closes both holes. A firing case identifies the rule by its name and static labels
/// (GuardrailSourceDown has one rule per severity); a quiet case is an empty `exp_alerts`.
#[test]
fn every_alert_has_a_firing_and_a_quiet_test_case() {
    let alerts = alerts();
    let tests = yaml(RULE_TESTS);
    let rule_files: Vec<&str> = array_at(&tests, "/rule_files")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let rules_name = Path::new(RULES).file_name().unwrap().to_str().unwrap();
    assert_eq!(rule_files, [rules_name], "{RULE_TESTS} must test {RULES}");

    let mut fires = vec![false; alerts.len()];
    let mut quiet = BTreeSet::new();
    for case in array_at(&tests, "/tests") {
        let Some(checks) = case.get("alert_rule_test").and_then(Value::as_array) else {
            continue;
        };
        for check in checks {
            let name = str_at(check, "/alertname");
            assert!(
                alerts.iter().any(|a| a.name == name),
                "{RULE_TESTS}: test of {name}, which is no alert of {RULES}"
            );
            let expected = check
                .get("exp_alerts")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if expected.is_empty() {
                quiet.insert(name.to_string());
            }
            for exp in expected {
                let labels = string_map(exp.get("exp_labels"));
                for (i, alert) in alerts.iter().enumerate() {
                    if alert.name == name
                        && alert.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
                    {
                        fires[i] = true;
                    }
                }
            }
        }
    }
    let mut problems = Vec::new();
    for (alert, fired) in alerts.iter().zip(&fires) {
        if !fired {
            problems.push(format!(
                "{} {:?}: no test case where it fires",
                alert.name, alert.labels
            ));
        }
        if !quiet.contains(&alert.name) {
            problems.push(format!("{}: no test case where it stays quiet", alert.name));
        }
    }
    assert!(
        problems.is_empty(),
        "{RULE_TESTS}:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_alert_has_severity_summary_description_and_runbook() {
    for alert in alerts() {
        let severity = alert.labels.get("severity").map(String::as_str);
        assert!(
            matches!(severity, Some("critical" | "warning" | "info")),
            "{}: severity {severity:?}",
            alert.name
        );
        for key in ["summary", "description", "runbook_url"] {
            assert!(
                alert
                    .annotations
                    .get(key)
                    .is_some_and(|v| !v.trim().is_empty()),
                "{}: no {key} annotation",
                alert.name
            );
        }
        assert!(
            alert.annotations["runbook_url"].starts_with(RUNBOOK_URL),
            "{}: runbook_url must point to a section of {RUNBOOK}",
            alert.name
        );
    }
}

/// GitHub's anchor for a markdown heading: lower case, punctuation dropped, spaces to hyphens.
fn github_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The runbook's sections by anchor: (anchor, text up to the next heading of the same level).
fn runbook_sections() -> BTreeMap<String, String> {
    let runbook = read(RUNBOOK);
    let mut sections = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    let mut in_code = false;
    for line in runbook.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        let heading = (!in_code)
            .then(|| line.strip_prefix("## ").or_else(|| line.strip_prefix("# ")))
            .flatten();
        if let Some(h) = heading {
            if let Some((a, t)) = current.take() {
                sections.insert(a, t);
            }
            let anchor = github_anchor(h);
            assert!(
                !sections.contains_key(&anchor),
                "{RUNBOOK}: two headings make the anchor #{anchor}"
            );
            current = Some((anchor, String::new()));
        } else if let Some((_, t)) = current.as_mut() {
            t.push_str(line);
            t.push('\n');
        }
    }
    if let Some((a, t)) = current {
        sections.insert(a, t);
    }
    sections
}

#[test]
fn every_runbook_url_is_a_runbook_section_that_names_its_alert() {
    let sections = runbook_sections();
    let prometheus_rule = yaml_docs(PROMETHEUS_RULE);
    let mut urls: Vec<(String, String)> = alerts()
        .into_iter()
        .map(|a| (a.name, a.annotations["runbook_url"].clone()))
        .collect();
    // The Kubernetes copy too, in case it was edited by hand.
    for group in array_at(&prometheus_rule[0], "/spec/groups") {
        for rule in array_at(group, "/rules") {
            if let Some(url) = rule.pointer("/annotations/runbook_url") {
                urls.push((
                    str_at(rule, "/alert").to_string(),
                    url.as_str().unwrap().to_string(),
                ));
            }
        }
    }
    for (alert, url) in urls {
        let anchor = url
            .strip_prefix(RUNBOOK_URL)
            .unwrap_or_else(|| panic!("{alert}: {url} is not in {RUNBOOK}"));
        let section = sections.get(anchor).unwrap_or_else(|| {
            panic!(
                "{alert}: {RUNBOOK} has no heading for #{anchor} (anchors: {:?})",
                sections.keys().collect::<Vec<_>>()
            )
        });
        assert!(
            section.contains(&format!("`{alert}`")),
            "{RUNBOOK}#{anchor} does not name the alert `{alert}`"
        );
    }
}

/// The PrometheusRule is the rules file below its own header; UPDATE_DEPLOY=1 regenerates it.
fn regenerated_prometheus_rule(current: &str, rules: &str) -> String {
    let header_end = current
        .find("\nspec:\n")
        .map(|i| i + "\nspec:\n".len())
        .unwrap_or_else(|| panic!("{PROMETHEUS_RULE}: no `spec:` line"));
    let groups_start = rules
        .find("\ngroups:")
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{RULES}: no `groups:` line"));
    let mut out = current[..header_end].to_string();
    for line in rules[groups_start..].lines() {
        if !line.is_empty() {
            out.push_str("  ");
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn prometheus_rule_embeds_exactly_the_alert_rule_groups() {
    if std::env::var_os("UPDATE_DEPLOY").is_some() {
        let updated = regenerated_prometheus_rule(&read(PROMETHEUS_RULE), &read(RULES));
        std::fs::write(root().join(PROMETHEUS_RULE), updated).unwrap();
    }
    let docs = yaml_docs(PROMETHEUS_RULE);
    assert_eq!(docs.len(), 1, "{PROMETHEUS_RULE}: one document");
    let rule = &docs[0];
    assert_eq!(str_at(rule, "/apiVersion"), "monitoring.coreos.com/v1");
    assert_eq!(str_at(rule, "/kind"), "PrometheusRule");
    let rules = yaml(RULES);
    assert!(
        rule.pointer("/spec/groups") == rules.get("groups"),
        "{PROMETHEUS_RULE} holds other groups than {RULES}: run `UPDATE_DEPLOY=1 cargo test --test deploy`"
    );
    assert_eq!(
        rule.get("spec").and_then(Value::as_object).map(|m| m.len()),
        Some(1),
        "{PROMETHEUS_RULE}: spec holds only the groups"
    );
}

// ---------------------------------------------------------------------------------------------
// PromQL: the metric names and labels that alert rules and dashboard queries use.
// ---------------------------------------------------------------------------------------------

const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
];
const KEYWORDS: &[&str] = &["and", "or", "unless", "bool", "offset", "inf", "nan"];
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
const COUNTER_FUNCTIONS: &[&str] = &["rate", "irate", "increase"];

/// What a PromQL expression refers to. A scanner, not a parser: enough to find metric names,
/// label names and values, and what rate()/increase() are applied to.
#[derive(Debug, Default)]
struct PromqlRefs {
    metrics: Vec<String>,
    /// Metrics given directly to rate(), irate() or increase().
    counter_function_args: Vec<String>,
    /// Label names in matchers and grouping clauses.
    labels: BTreeSet<String>,
    /// Labels of `by (...)` clauses; None when there is none.
    by_labels: Option<BTreeSet<String>>,
    /// (label, operator, value) of every matcher.
    matchers: Vec<(String, String, String)>,
    /// Grafana variables (`$env`, `${datasource}`, `$__rate_interval`).
    variables: BTreeSet<String>,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn scan_promql(expr: &str) -> PromqlRefs {
    let chars: Vec<char> = expr.chars().collect();
    let mut refs = PromqlRefs::default();
    let mut i = 0;
    let mut functions: Vec<String> = Vec::new();
    let mut pending_function: Option<String> = None;
    let ident = |i: &mut usize| -> String {
        let start = *i;
        while *i < chars.len() && is_ident(chars[*i]) {
            *i += 1;
        }
        chars[start..*i].iter().collect()
    };
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    let string = |i: &mut usize| -> String {
        let quote = chars[*i];
        *i += 1;
        let mut s = String::new();
        while *i < chars.len() && chars[*i] != quote {
            if chars[*i] == '\\' && quote != '`' {
                *i += 1;
            }
            if *i < chars.len() {
                s.push(chars[*i]);
            }
            *i += 1;
        }
        *i += 1;
        s
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() || c == ',' || c == ']' {
            i += 1;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '"' || c == '\'' || c == '`' {
            string(&mut i);
        } else if c == '$' {
            i += 1;
            let braced = chars.get(i) == Some(&'{');
            if braced {
                i += 1;
            }
            refs.variables.insert(ident(&mut i));
            if braced {
                i += 1;
            }
        } else if c == '[' {
            // A range or subquery: durations and Grafana variables only.
            i += 1;
            while i < chars.len() && chars[i] != ']' {
                if chars[i] == '$' {
                    i += 1;
                    refs.variables.insert(ident(&mut i));
                } else {
                    i += 1;
                }
            }
        } else if c == '(' {
            functions.push(pending_function.take().unwrap_or_default());
            i += 1;
        } else if c == ')' {
            functions.pop();
            i += 1;
        } else if c == '{' {
            scan_matchers(&chars, &mut i, &mut refs, &string);
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (is_ident(chars[i]) || chars[i] == '.') {
                i += 1;
            }
        } else if is_ident_start(c) {
            let name = ident(&mut i);
            skip_ws(&mut i);
            let next = chars.get(i).copied();
            if GROUPING.contains(&name.as_str()) && next == Some('(') {
                i += 1;
                let mut labels = BTreeSet::new();
                while i < chars.len() && chars[i] != ')' {
                    if is_ident_start(chars[i]) {
                        labels.insert(ident(&mut i));
                    } else {
                        i += 1;
                    }
                }
                i += 1;
                refs.labels.extend(labels.iter().cloned());
                if name == "by" {
                    refs.by_labels.get_or_insert_default().extend(labels);
                }
            } else if next == Some('(') || AGGREGATIONS.contains(&name.as_str()) {
                pending_function = Some(name);
            } else if !KEYWORDS.contains(&name.as_str()) && !GROUPING.contains(&name.as_str()) {
                if functions
                    .last()
                    .is_some_and(|f| COUNTER_FUNCTIONS.contains(&f.as_str()))
                {
                    refs.counter_function_args.push(name.clone());
                }
                refs.metrics.push(name);
            }
        } else {
            // Operators.
            i += 1;
        }
    }
    refs
}

fn scan_matchers(
    chars: &[char],
    i: &mut usize,
    refs: &mut PromqlRefs,
    string: &dyn Fn(&mut usize) -> String,
) {
    *i += 1;
    loop {
        while *i < chars.len() && (chars[*i].is_whitespace() || chars[*i] == ',') {
            *i += 1;
        }
        if *i >= chars.len() || chars[*i] == '}' {
            *i += 1;
            return;
        }
        let start = *i;
        while *i < chars.len() && is_ident(chars[*i]) {
            *i += 1;
        }
        let label: String = chars[start..*i].iter().collect();
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
        let op_start = *i;
        while *i < chars.len() && "=!~".contains(chars[*i]) {
            *i += 1;
        }
        let op: String = chars[op_start..*i].iter().collect();
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
        assert!(
            !label.is_empty() && !op.is_empty() && matches!(chars.get(*i), Some('"' | '\'' | '`')),
            "cannot read the matcher at {:?}",
            chars[start..].iter().collect::<String>()
        );
        let value = string(i);
        for var in value.split('$').skip(1) {
            let name: String = var
                .trim_start_matches('{')
                .chars()
                .take_while(|c| is_ident(*c))
                .collect();
            refs.variables.insert(name);
        }
        refs.labels.insert(label.clone());
        refs.matchers.push((label, op, value));
    }
}

/// The contract metric a series name belongs to (histograms have `_bucket`, `_sum`, `_count`).
fn resolve_metric(name: &str) -> Option<(&'static Metric, &'static str)> {
    let all = || DAEMON_METRICS.iter().chain(PROMETHEUS_METRICS);
    if let Some(m) = all().find(|m| m.name == name) {
        return Some((m, ""));
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && let Some(m) = all().find(|m| m.name == base && m.kind == Kind::Histogram)
        {
            return Some((m, suffix));
        }
    }
    None
}

/// Problems of one expression: unknown metrics or labels, rate() over a gauge, label values
/// outside the contract, and output labels (legends, `$labels.x`) the result cannot have.
fn promql_problems(origin: &str, expr: &str, output_labels: &BTreeSet<String>) -> Vec<String> {
    let refs = scan_promql(expr);
    let mut problems = Vec::new();
    let mut allowed: BTreeSet<String> = TARGET_LABELS.iter().map(|s| s.to_string()).collect();
    if refs.metrics.is_empty() {
        problems.push(format!("{origin}: no metric in {expr:?}"));
    }
    for name in &refs.metrics {
        match resolve_metric(name) {
            None => problems.push(format!(
                "{origin}: {name} is not a metric of the contract (DAEMON_METRICS)"
            )),
            Some((m, suffix)) => {
                allowed.extend(m.labels.iter().map(|s| s.to_string()));
                if suffix == "_bucket" {
                    allowed.insert("le".to_string());
                }
            }
        }
    }
    for name in &refs.counter_function_args {
        if let Some((m, suffix)) = resolve_metric(name)
            && m.kind != Kind::Counter
            && suffix.is_empty()
        {
            problems.push(format!(
                "{origin}: rate()/increase() of {name}, which is a {:?}",
                m.kind
            ));
        }
    }
    for label in refs.labels.iter().chain(output_labels) {
        if !allowed.contains(label) {
            problems.push(format!(
                "{origin}: label {label:?} is not a label of {:?}",
                refs.metrics
            ));
        }
    }
    if let Some(by) = &refs.by_labels {
        for label in output_labels {
            if !by.contains(label) {
                problems.push(format!(
                    "{origin}: {label:?} is shown but aggregated away (by {by:?})"
                ));
            }
        }
    }
    for (label, op, value) in &refs.matchers {
        let Some((_, values)) = DAEMON_LABEL_VALUES.iter().find(|(l, _)| l == label) else {
            continue;
        };
        let alternatives: Vec<&str> = if op.contains('~') {
            value.split('|').collect()
        } else {
            vec![value.as_str()]
        };
        for alt in alternatives {
            if alt.chars().all(|c| c.is_ascii_lowercase() || c == '_') && !values.contains(&alt) {
                problems.push(format!(
                    "{origin}: {label}={alt:?} is not a value of the contract {values:?}"
                ));
            }
        }
    }
    problems
}

/// Names in `{{ $labels.x }}` (alert templates).
fn template_labels(text: &str) -> BTreeSet<String> {
    text.split("$labels.")
        .skip(1)
        .map(|rest| rest.chars().take_while(|c| is_ident(*c)).collect())
        .collect()
}

/// Names in Grafana's `{{x}}` legend placeholders.
fn legend_labels(text: &str) -> BTreeSet<String> {
    text.split("{{")
        .skip(1)
        .filter_map(|rest| rest.split_once("}}"))
        .map(|(name, _)| name.trim().to_string())
        .collect()
}

#[test]
fn promql_scanner_reads_names_labels_and_counters() {
    let refs = scan_promql(
        r#"histogram_quantile(0.99, sum by (le, route) (rate(guardrail_http_request_duration_seconds_bucket{instance=~"$instance"}[$__rate_interval])))
           / on (route) group_left sum(guardrail_changes{state!="applied"} offset 5m) > 4 * 3600 or absent(up{job="guardrail"})"#,
    );
    assert_eq!(
        refs.metrics,
        [
            "guardrail_http_request_duration_seconds_bucket",
            "guardrail_changes",
            "up"
        ]
    );
    assert_eq!(
        refs.counter_function_args,
        ["guardrail_http_request_duration_seconds_bucket"]
    );
    assert_eq!(
        refs.labels,
        BTreeSet::from(["instance", "job", "le", "route", "state"].map(String::from))
    );
    assert_eq!(
        refs.by_labels,
        Some(BTreeSet::from(["le", "route"].map(String::from)))
    );
    assert_eq!(
        refs.variables,
        BTreeSet::from(["instance", "__rate_interval"].map(String::from))
    );
    let problems = promql_problems(
        "t",
        r#"sum by (env) (increase(guardrail_drift_active{result="ok"}[5m])) + guardrail_nope"#,
        &BTreeSet::from(["target".to_string()]),
    );
    let joined = problems.join("\n");
    for expected in [
        "guardrail_nope is not a metric",
        "increase() of guardrail_drift_active",
        "label \"result\"",
        "\"target\" is shown but aggregated away",
    ] {
        assert!(joined.contains(expected), "{expected:?} not in:\n{joined}");
    }
}

#[test]
fn alert_rules_use_only_contract_metrics_and_labels() {
    let mut problems = Vec::new();
    for alert in alerts() {
        let shown: BTreeSet<String> = alert
            .annotations
            .values()
            .flat_map(|t| template_labels(t))
            .collect();
        problems.extend(promql_problems(&alert.name, &alert.expr, &shown));
    }
    assert!(problems.is_empty(), "{RULES}:\n{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Grafana dashboard.
// ---------------------------------------------------------------------------------------------

/// Grafana's own variables that queries may use.
const GRAFANA_BUILTINS: &[&str] = &["__rate_interval", "__interval", "__range"];

fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD)).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"))
}

/// Every query of the dashboard: (where, expr, legend).
fn dashboard_queries(d: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for panel in array_at(d, "/panels") {
        let title = panel["title"].as_str().unwrap_or_default();
        for t in panel
            .get("targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.push((
                format!("panel {title:?} query {}", t["refId"]),
                str_at(t, "/expr").to_string(),
                t.get("legendFormat")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            ));
        }
    }
    for a in array_at(d, "/annotations/list") {
        if let Some(expr) = a.get("expr").and_then(Value::as_str) {
            let legend = ["titleFormat", "textFormat"]
                .iter()
                .filter_map(|k| a.get(*k).and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" ");
            out.push((
                format!("annotation {}", a["name"]),
                expr.to_string(),
                legend,
            ));
        }
    }
    out
}

fn dashboard_variables(d: &Value) -> Vec<&Value> {
    array_at(d, "/templating/list").iter().collect()
}

#[test]
fn dashboard_is_a_grafana_dashboard_on_a_prometheus_variable() {
    let d = dashboard();
    assert_eq!(d["schemaVersion"], 39, "schemaVersion");
    assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()));
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    let datasource = dashboard_variables(&d)
        .into_iter()
        .find(|v| v["name"] == "datasource")
        .expect("a `datasource` variable");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");
    let expected_ds = serde_json::json!({"type": "prometheus", "uid": "${datasource}"});

    let mut ids = BTreeSet::new();
    let mut areas: Vec<(String, [i64; 4])> = Vec::new();
    for panel in array_at(&d, "/panels") {
        let title = str_at(panel, "/title").to_string();
        let id = panel["id"].as_i64().expect("a numeric panel id");
        assert!(ids.insert(id), "panel id {id} used twice");
        let g = &panel["gridPos"];
        let pos = ["x", "y", "w", "h"].map(|k| g[k].as_i64().expect("gridPos"));
        assert!(
            pos[0] >= 0 && pos[2] > 0 && pos[0] + pos[2] <= 24,
            "{title}: gridPos {g}"
        );
        for (other, o) in &areas {
            let overlap = pos[0] < o[0] + o[2]
                && o[0] < pos[0] + pos[2]
                && pos[1] < o[1] + o[3]
                && o[1] < pos[1] + pos[3];
            assert!(!overlap, "panels {title:?} and {other:?} overlap");
        }
        areas.push((title.clone(), pos));
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"], expected_ds, "{title}: datasource");
        let targets = array_at(panel, "/targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            assert_eq!(t["datasource"], expected_ds, "{title}: query datasource");
        }
    }
    for a in array_at(&d, "/annotations/list") {
        if a.get("expr").is_some() {
            assert_eq!(a["datasource"], expected_ds, "annotation {}", a["name"]);
        }
    }
}

/// The dashboard shows what the design asks to watch.
#[test]
fn dashboard_covers_drift_changes_policies_notifications_and_http() {
    let d = dashboard();
    let used: BTreeSet<String> = dashboard_queries(&d)
        .iter()
        .flat_map(|(_, expr, _)| scan_promql(expr).metrics)
        .filter_map(|m| resolve_metric(&m).map(|(m, _)| m.name.to_string()))
        .collect();
    for name in [
        "guardrail_changes",
        "guardrail_approval_oldest_wait_seconds",
        "guardrail_change_transitions_total",
        "guardrail_unstaged_pushes_total",
        "guardrail_drift_active",
        "guardrail_source_up",
        "guardrail_policy_evaluations_total",
        "guardrail_notifications_pending",
        "guardrail_notification_failures_total",
        "guardrail_http_requests_total",
        "guardrail_http_request_duration_seconds",
        "guardrail_break_glass_total",
    ] {
        assert!(used.contains(name), "{DASHBOARD}: no panel shows {name}");
    }
}

#[test]
fn dashboard_queries_use_only_contract_metrics_labels_and_variables() {
    let d = dashboard();
    let mut problems = Vec::new();
    let variables: BTreeSet<String> = dashboard_variables(&d)
        .iter()
        .map(|v| str_at(v, "/name").to_string())
        .collect();
    for (origin, expr, legend) in dashboard_queries(&d) {
        problems.extend(promql_problems(&origin, &expr, &legend_labels(&legend)));
        for var in scan_promql(&expr).variables {
            if !variables.contains(&var) && !GRAFANA_BUILTINS.contains(&var.as_str()) {
                problems.push(format!("{origin}: unknown variable ${var}"));
            }
        }
    }
    // Query variables: label_values(metric, label).
    for v in dashboard_variables(&d) {
        if v["type"] != "query" {
            continue;
        }
        let query = v["query"]["query"]
            .as_str()
            .or(v["query"].as_str())
            .unwrap();
        let args = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .unwrap_or_else(|| panic!("variable {}: unsupported query {query}", v["name"]));
        let (metric, label) = args.split_once(',').expect("label_values(metric, label)");
        let origin = format!("variable {}", v["name"]);
        problems.extend(promql_problems(
            &origin,
            metric.trim(),
            &BTreeSet::from([label.trim().to_string()]),
        ));
        assert_eq!(v["datasource"]["uid"], "${datasource}", "{origin}");
    }
    assert!(problems.is_empty(), "{DASHBOARD}:\n{}", problems.join("\n"));
}

/// promtool parses every dashboard query, written as a recording rule with Grafana's
/// variables replaced by what Grafana would put there.
#[test]
fn dashboard_queries_are_valid_promql() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let d = dashboard();
    let variables: Vec<String> = dashboard_variables(&d)
        .iter()
        .map(|v| str_at(v, "/name").to_string())
        .collect();
    let mut file = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (n, (origin, expr, _)) in dashboard_queries(&d).iter().enumerate() {
        let mut expr = expr
            .replace("$__rate_interval", "5m")
            .replace("$__interval", "1m")
            .replace("$__range", "1h");
        for v in &variables {
            // Query variables are only used in regex matchers; `All` is `.*`.
            expr = expr.replace(&format!("${v}"), ".*");
        }
        assert!(!expr.contains('$'), "{origin}: variable left in {expr}");
        file.push_str(&format!(
            "      # {origin}\n      - record: dashboard:query_{n}\n        expr: {}\n",
            serde_json::to_string(&expr).unwrap()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dashboard-queries.yaml");
    std::fs::write(&path, &file).unwrap();
    let out = run(Command::new(promtool).arg("check").arg("rules").arg(&path));
    assert!(out.status.success(), "{}\n{file}", text(&out));
}

// ---------------------------------------------------------------------------------------------
// Kubernetes.
// ---------------------------------------------------------------------------------------------

/// Every manifest of deploy/kubernetes but the kustomization: (file, document).
fn manifests() -> Vec<(String, Value)> {
    let mut files: Vec<String> = std::fs::read_dir(root().join(KUBERNETES))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        for doc in yaml_docs(&format!("{KUBERNETES}/{f}")) {
            if doc.is_null() {
                continue;
            }
            out.push((f.clone(), doc));
        }
    }
    out
}

fn one_of_kind(kind: &str) -> Value {
    let mut found: Vec<Value> = manifests()
        .into_iter()
        .filter(|(_, d)| d["kind"] == kind)
        .map(|(_, d)| d)
        .collect();
    assert_eq!(found.len(), 1, "expected one {kind} in {KUBERNETES}");
    found.remove(0)
}

#[test]
fn kubernetes_manifests_parse_and_the_kustomization_lists_them_all() {
    let manifests = manifests();
    let mut files = BTreeSet::new();
    for (file, doc) in &manifests {
        for key in ["/apiVersion", "/kind", "/metadata/name"] {
            str_at(doc, key);
        }
        assert_ne!(
            doc["kind"], "Secret",
            "{file}: secrets are never committed; reference guardrail-secrets instead"
        );
        files.insert(file.clone());
    }
    let k = yaml(&format!("{KUBERNETES}/kustomization.yaml"));
    assert_eq!(str_at(&k, "/kind"), "Kustomization");
    let listed: BTreeSet<String> = array_at(&k, "/resources")
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, files, "kustomization resources vs files");
    let deployment = one_of_kind("Deployment");
    let image = str_at(&deployment, "/spec/template/spec/containers/0/image");
    let images = array_at(&k, "/images");
    assert!(
        images
            .iter()
            .any(|i| image.starts_with(&format!("{}:", str_at(i, "/name")))),
        "the kustomization's images do not name the Deployment's image {image}"
    );
}

#[test]
fn kubernetes_deployment_serves_on_8437_with_probes_and_contract_args() {
    let d = one_of_kind("Deployment");
    let pod = &d["spec"]["template"]["spec"];
    let containers = array_at(pod, "/containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];

    let ports = array_at(c, "/ports");
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["containerPort"], PORT);
    assert_eq!(ports[0]["name"], "http");
    let probe_port_ok = |p: &Value| p == "http" || p == PORT;
    for (probe, path) in [
        ("livenessProbe", LIVENESS_PATH),
        ("readinessProbe", READINESS_PATH),
        ("startupProbe", LIVENESS_PATH),
    ] {
        let Some(p) = c.get(probe) else {
            assert_ne!(probe, "livenessProbe", "no liveness probe");
            assert_ne!(probe, "readinessProbe", "no readiness probe");
            continue;
        };
        assert_eq!(p["httpGet"]["path"], path, "{probe}");
        assert!(probe_port_ok(&p["httpGet"]["port"]), "{probe} port");
    }

    let args: Vec<String> = array_at(c, "/args")
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(args[0], "serve", "the container runs `guardrail serve`");
    let flags = check_serve_args("deployment.yaml", &args[1..]);
    assert_eq!(
        flags.get("--listen").map(String::as_str),
        Some("0.0.0.0:8437")
    );
    assert_eq!(flags.get("--log-format").map(String::as_str), Some("json"));

    // --data-dir is the PersistentVolumeClaim's mount, --config the ConfigMap's guardrail.yaml,
    // /tmp an emptyDir.
    let volumes = array_at(pod, "/volumes");
    let volume = |name: &str| -> &Value {
        volumes
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no volume {name}"))
    };
    let mounts = array_at(c, "/volumeMounts");
    let mount_at = |path: &str| -> &Value {
        mounts
            .iter()
            .find(|m| m["mountPath"] == path)
            .unwrap_or_else(|| panic!("nothing mounted at {path}"))
    };
    // The data directory is inside the volume, not its root: with fsGroup the volume's root is
    // open to the group, and guardrail refuses a data directory open to group or others.
    let data_dir = &flags["--data-dir"];
    assert!(
        data_dir.starts_with(&format!("{DATA_DIR}/")),
        "--data-dir {data_dir} is not a directory inside the volume at {DATA_DIR}"
    );
    let data = volume(str_at(mount_at(DATA_DIR), "/name"));
    let pvc = one_of_kind("PersistentVolumeClaim");
    assert_eq!(
        data["persistentVolumeClaim"]["claimName"],
        pvc["metadata"]["name"]
    );
    assert_eq!(flags["--config"], CONFIG_FILE);
    let config_mount = mount_at(CONFIG_FILE);
    let config = volume(str_at(config_mount, "/name"));
    let configmap = one_of_kind("ConfigMap");
    assert_eq!(config["configMap"]["name"], configmap["metadata"]["name"]);
    assert_eq!(config_mount["subPath"], "guardrail.yaml");
    assert!(
        volume(str_at(mount_at("/tmp"), "/name"))
            .get("emptyDir")
            .is_some()
    );
    assert_eq!(
        mounts.len(),
        3,
        "with a read-only root, every writable path is a volume"
    );
}

#[test]
fn kubernetes_deployment_is_hardened_and_single_replica() {
    let d = one_of_kind("Deployment");
    assert_eq!(d["spec"]["replicas"], 1, "SQLite: one replica");
    assert_eq!(d["spec"]["strategy"]["type"], "Recreate");
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(
        pod["enableServiceLinks"], false,
        "GUARDRAIL_* service links"
    );
    let psc = &pod["securityContext"];
    assert_eq!(psc["runAsNonRoot"], true);
    assert!(psc["runAsUser"].as_u64().is_some_and(|u| u > 0));
    assert_eq!(psc["seccompProfile"]["type"], "RuntimeDefault");
    let c = &pod["containers"][0];
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                c["resources"][kind].get(resource).is_some(),
                "resources.{kind}.{resource}"
            );
        }
    }
}

/// Secrets come from the existing Secret guardrail-secrets, and every secret the ConfigMap's
/// guardrail.yaml names (`${VAR}`, `secret_env`) is in the container's environment.
#[test]
fn kubernetes_config_is_valid_and_its_secrets_come_from_guardrail_secrets() {
    let configmap = one_of_kind("ConfigMap");
    let text = str_at(&configmap, "/data/guardrail.yaml");
    let config = guardrail::config::Config::parse(text)
        .unwrap_or_else(|e| panic!("configmap.yaml guardrail.yaml: {e:?}"));
    assert!(!config.targets.is_empty());

    let d = one_of_kind("Deployment");
    let env = array_at(&d, "/spec/template/spec/containers/0/env");
    let mut names = BTreeSet::new();
    for e in env {
        let name = str_at(e, "/name");
        names.insert(name.to_string());
        if let Some(from) = e.get("valueFrom") {
            assert_eq!(
                from["secretKeyRef"]["name"], "guardrail-secrets",
                "env {name} must come from the Secret guardrail-secrets"
            );
        } else {
            assert!(
                !name.contains("SECRET") && !name.contains("TOKEN"),
                "env {name}: a secret written in the manifest"
            );
        }
    }
    let mut needed = BTreeSet::new();
    for part in text.split("${").skip(1) {
        needed.insert(part.split('}').next().unwrap().to_string());
    }
    for part in text.split("secret_env:").skip(1) {
        let name: String = part
            .trim_start()
            .chars()
            .take_while(|c| is_ident(*c))
            .collect();
        needed.insert(name);
    }
    assert!(!needed.is_empty());
    for n in &needed {
        assert!(
            names.contains(n),
            "guardrail.yaml uses ${n}, which the Deployment does not set"
        );
    }
}

#[test]
fn kubernetes_service_and_servicemonitor_scrape_metrics_on_the_http_port() {
    let d = one_of_kind("Deployment");
    let pod_labels = d["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .unwrap()
        .clone();
    let service = one_of_kind("Service");
    for (k, v) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(pod_labels.get(k), Some(v), "Service selector {k}");
    }
    let ports = array_at(&service, "/spec/ports");
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["port"], PORT);
    assert_eq!(ports[0]["name"], "http");
    assert!(ports[0]["targetPort"] == "http" || ports[0]["targetPort"] == PORT);

    let monitor = one_of_kind("ServiceMonitor");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    let service_labels = service["metadata"]["labels"].as_object().unwrap();
    for (k, v) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            service_labels.get(k),
            Some(v),
            "ServiceMonitor selector {k}"
        );
    }
    for e in array_at(&monitor, "/spec/endpoints") {
        assert_eq!(e["port"], "http");
        assert_eq!(e["path"], METRICS_PATH);
    }
    // Without `jobLabel`, the job is the Service's name: the one GuardrailDown watches.
    assert!(monitor["spec"].get("jobLabel").is_none());
    let down = alerts()
        .into_iter()
        .find(|a| a.name == "GuardrailDown")
        .expect("GuardrailDown");
    let job = format!("job=\"{}\"", str_at(&service, "/metadata/name"));
    assert!(down.expr.contains(&job), "GuardrailDown must watch {job}");
}

// ---------------------------------------------------------------------------------------------
// Dockerfile.
// ---------------------------------------------------------------------------------------------

/// The Dockerfile's instructions: (INSTRUCTION, arguments), continuation lines joined.
fn dockerfile() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in read("Dockerfile").lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(body) = trimmed.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let (instruction, args) = current.split_once(' ').unwrap_or((&current, ""));
        out.push((instruction.to_uppercase(), args.trim().to_string()));
        current.clear();
    }
    out
}

fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("not an exec-form array: {args}: {e}"))
}

#[test]
fn dockerfile_passes_hadolint() {
    let Some(hadolint) = tool("hadolint") else {
        return;
    };
    // Warnings fail too: an unavoidable one must be ignored inline with its reason.
    let out = run(Command::new(hadolint)
        .args(["--failure-threshold", "warning", "Dockerfile"])
        .current_dir(root()));
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn dockerfile_builds_locked_and_runs_guardrail_serve_as_contracted() {
    let instructions = dockerfile();
    let all = |name: &str| -> Vec<String> {
        instructions
            .iter()
            .filter(|(i, _)| i == name)
            .map(|(_, a)| a.clone())
            .collect()
    };
    let last = |name: &str| -> String {
        all(name)
            .pop()
            .unwrap_or_else(|| panic!("Dockerfile: no {name}"))
    };

    // The builder's Rust is at least the crate's rust-version.
    let manifest: toml::Table = read("Cargo.toml").parse().unwrap();
    let rust_version = manifest["workspace"]["package"]["rust-version"]
        .as_str()
        .unwrap();
    let from = all("FROM");
    assert_eq!(from.len(), 2, "a builder and a runtime stage");
    let builder = from[0]
        .strip_prefix("rust:")
        .expect("the builder is a rust image");
    assert!(
        version_at_least(builder, rust_version),
        "builder {builder} is older than rust-version {rust_version}"
    );
    assert!(
        all("RUN")
            .iter()
            .any(|r| r.contains("cargo build --locked --release")),
        "the binary is built with --locked --release"
    );

    let user = last("USER");
    let uid = user.split(':').next().unwrap();
    assert!(!["root", "0"].contains(&uid), "runs as root");
    assert_eq!(last("EXPOSE"), PORT.to_string());
    assert_eq!(last("VOLUME"), DATA_DIR);

    let entrypoint = exec_form(&last("ENTRYPOINT"));
    assert_eq!(entrypoint.len(), 1);
    let binary = &entrypoint[0];
    assert!(
        all("COPY")
            .iter()
            .any(|c| c.starts_with("--from=builder") && c.ends_with(&format!(" {binary}"))),
        "no COPY puts the binary at {binary}"
    );
    let cmd = exec_form(&last("CMD"));
    assert_eq!(cmd[0], "serve");
    let flags = check_serve_args("Dockerfile CMD", &cmd[1..]);
    assert_eq!(flags.get("--data-dir").map(String::as_str), Some(DATA_DIR));
    assert_eq!(
        flags.get("--listen").map(String::as_str),
        Some("0.0.0.0:8437")
    );
    let config = flags.get("--config").expect("CMD names its config");
    assert!(
        all("COPY")
            .iter()
            .any(|c| c.ends_with(&format!(" {config}"))),
        "the image has no {config}"
    );

    let healthcheck = last("HEALTHCHECK");
    let exec = healthcheck
        .split_once("CMD ")
        .map(|(_, c)| exec_form(c))
        .expect("HEALTHCHECK CMD");
    assert_eq!(exec[0], *binary);
    assert_eq!(exec[1], "healthcheck");
    for (flag, value) in flag_values(&exec[2..]) {
        assert!(
            help_flags("healthcheck").contains(&flag),
            "`guardrail healthcheck` has no flag {flag}"
        );
        if flag == "--server" {
            assert!(value.ends_with(&format!(":{PORT}")), "{value}");
        }
    }
}

/// The default configuration of the image is valid.
#[test]
fn docker_default_config_is_valid() {
    let text = read("deploy/docker/guardrail.yaml");
    guardrail::config::Config::parse(&text).unwrap_or_else(|e| panic!("{e:?}"));
}

/// `rust:1.95-slim-bookworm` has at least `1.89`.
fn version_at_least(tag: &str, min: &str) -> bool {
    let parse =
        |s: &str| -> Vec<u32> { s.split(['.', '-']).map_while(|p| p.parse().ok()).collect() };
    parse(tag) >= parse(min)
}

/// A .dockerignore as Docker reads it: the last matching pattern wins, `!` re-includes, and a
/// pattern matches a path or any of its parent directories.
struct DockerIgnore(Vec<(bool, Vec<String>)>);

impl DockerIgnore {
    fn parse(text: &str) -> DockerIgnore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (include, pattern) = match line.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, line),
            };
            assert!(
                !pattern.contains('['),
                ".dockerignore: character classes are not understood by this test"
            );
            let pattern = pattern.trim_start_matches('/').trim_end_matches('/');
            patterns.push((include, pattern.split('/').map(String::from).collect()));
        }
        DockerIgnore(patterns)
    }

    fn excludes(&self, path: &str) -> bool {
        let segments: Vec<&str> = path.split('/').collect();
        let mut excluded = false;
        for (include, pattern) in &self.0 {
            if (1..=segments.len()).any(|n| glob_path(pattern, &segments[..n])) {
                excluded = !include;
            }
        }
        excluded
    }
}

fn glob_path(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((p, rest)) if p == "**" => (0..=path.len()).any(|i| glob_path(rest, &path[i..])),
        Some((p, rest)) => {
            !path.is_empty()
                && glob_segment(p.as_bytes(), path[0].as_bytes())
                && glob_path(rest, &path[1..])
        }
    }
}

fn glob_segment(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob_segment(&p[1..], s) || (!s.is_empty() && glob_segment(p, &s[1..])),
        (Some(b'?'), Some(_)) => glob_segment(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => glob_segment(&p[1..], &s[1..]),
        _ => false,
    }
}

#[test]
fn docker_build_context_holds_what_the_build_needs_and_nothing_else() {
    let ignore = DockerIgnore::parse(&read(".dockerignore"));
    let out = run(Command::new("git")
        .args(["ls-files", "--cached", "--others", "--exclude-standard"])
        .current_dir(root()));
    assert!(out.status.success(), "{}", text(&out));
    // Files of the working tree that git does not ignore: what `docker build .` would send.
    let tracked: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();

    // What `cargo build --release --bin guardrail` reads: the manifests, the lock file, the
    // workspace's crates (sources, build script, migrations), the embedded policy library and
    // example config, and every declared target's file (cargo refuses to start without them,
    // even those it does not build).
    let manifest: toml::Table = read("Cargo.toml").parse().unwrap();
    let mut needed: Vec<String> = vec!["Cargo.toml".into(), "Cargo.lock".into()];
    for section in ["bin", "bench", "test", "example"] {
        let dir = match section {
            "bin" => "src/bin",
            "bench" => "benches",
            "test" => "tests",
            _ => "examples",
        };
        for target in manifest
            .get(section)
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
        {
            let path = target.get("path").and_then(|p| p.as_str()).map_or_else(
                || format!("{dir}/{}.rs", target["name"].as_str().unwrap()),
                String::from,
            );
            needed.push(path);
        }
    }
    for file in &tracked {
        if ["src/", "crates/", "policies/"]
            .iter()
            .any(|dir| file.starts_with(dir))
            || file == "examples/infra/guardrail.yaml"
        {
            needed.push(file.clone());
        }
    }
    // And what the Dockerfile copies from the context.
    for (instruction, args) in dockerfile() {
        if instruction != "COPY" || args.starts_with("--from") {
            continue;
        }
        let parts: Vec<&str> = args.split_whitespace().collect();
        for source in &parts[..parts.len() - 1] {
            if *source == "." {
                continue;
            }
            let source = source.trim_end_matches('/');
            let matching: Vec<&String> = tracked
                .iter()
                .filter(|f| *f == source || f.starts_with(&format!("{source}/")))
                .collect();
            assert!(!matching.is_empty(), "COPY {source}: no such file");
            needed.extend(matching.into_iter().cloned());
        }
    }
    for file in &needed {
        assert!(
            !ignore.excludes(file),
            ".dockerignore leaves {file} out of the build context"
        );
    }
    for file in [
        ".git/HEAD",
        "target/release/guardrail",
        "guardrail-data/guardrail.db",
        "tests/deploy.rs",
        "docs/runbook.md",
        "deploy/kubernetes/deployment.yaml",
    ] {
        assert!(ignore.excludes(file), ".dockerignore lets {file} in");
    }
}

// ---------------------------------------------------------------------------------------------
// systemd.
// ---------------------------------------------------------------------------------------------

/// A unit file as sections of (key, value), repeated keys kept in order.
fn unit_sections(text: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut sections: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut section: Option<String> = None;
    let mut pending = String::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with(';'))
        {
            continue;
        }
        if let Some(body) = line.strip_suffix('\\') {
            pending.push_str(body);
            pending.push(' ');
            continue;
        }
        let line = format!("{pending}{line}");
        pending.clear();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.to_string());
            sections.entry(name.to_string()).or_default();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{SYSTEMD_UNIT}:{}: not key=value: {raw}", n + 1));
        let section = section
            .as_ref()
            .unwrap_or_else(|| panic!("{SYSTEMD_UNIT}:{}: key outside a section", n + 1));
        sections
            .get_mut(section)
            .unwrap()
            .push((key.trim().to_string(), value.trim().to_string()));
    }
    sections
}

#[test]
fn systemd_unit_runs_guardrail_serve_hardened() {
    let sections = unit_sections(&read(SYSTEMD_UNIT));
    let get = |section: &str, key: &str| -> Vec<String> {
        sections
            .get(section)
            .unwrap_or_else(|| panic!("no [{section}]"))
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let one = |section: &str, key: &str| -> String {
        let values = get(section, key);
        assert_eq!(values.len(), 1, "[{section}] {key}: {values:?}");
        values[0].clone()
    };
    assert!(!one("Unit", "Description").is_empty());
    assert_eq!(one("Install", "WantedBy"), "multi-user.target");

    let expected = [
        ("Type", "exec"),
        ("User", "guardrail"),
        ("StateDirectory", "guardrail"),
        ("EnvironmentFile", "-/etc/guardrail/env"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("KillSignal", "SIGTERM"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("CapabilityBoundingSet", ""),
        ("MemoryDenyWriteExecute", "yes"),
        ("LockPersonality", "yes"),
        ("RestrictNamespaces", "yes"),
        ("RestrictRealtime", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("SystemCallArchitectures", "native"),
    ];
    for (key, value) in expected {
        assert_eq!(one("Service", key), value, "[Service] {key}");
    }
    assert!(
        get("Service", "SystemCallFilter").contains(&"@system-service".to_string()),
        "SystemCallFilter=@system-service"
    );

    let exec_start = one("Service", "ExecStart");
    let args: Vec<String> = exec_start.split_whitespace().map(String::from).collect();
    assert_eq!(args[0], "/usr/local/bin/guardrail");
    assert_eq!(args[1], "serve");
    let flags = check_serve_args("ExecStart", &args[2..]);
    assert_eq!(flags.get("--data-dir").map(String::as_str), Some(DATA_DIR));
    assert_eq!(flags.get("--config").map(String::as_str), Some(CONFIG_FILE));
    // StateDirectory=guardrail is /var/lib/guardrail.
    assert_eq!(
        format!("/var/lib/{}", one("Service", "StateDirectory")),
        DATA_DIR
    );
}

/// `systemd-analyze verify` needs the unit's programs to exist, so it verifies a copy whose
/// ExecStart names the binary built for this test. It passes only with no warning about the
/// unit (an unknown key or a bad value is only a warning to systemd).
#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let Some(analyze) = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("systemd-analyze"))
            .find(|p| p.is_file())
    }) else {
        eprintln!(
            "skipped: systemd-analyze is not installed; the unit's settings are checked by systemd_unit_runs_guardrail_serve_hardened"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let binary = env!("CARGO_BIN_EXE_guardrail");

    // Is verify usable here at all? A trivial unit must pass.
    let probe = dir.path().join("guardrail-probe.service");
    std::fs::write(
        &probe,
        format!("[Unit]\nDescription=probe\n[Service]\nExecStart={binary} --version\n"),
    )
    .unwrap();
    let out = run(Command::new(&analyze)
        .args(["verify", "--man=no"])
        .arg(&probe));
    if !out.status.success() {
        eprintln!(
            "skipped: `systemd-analyze verify` does not work on this machine (a trivial unit fails):\n{}",
            text(&out)
        );
        return;
    }

    let unit = read(SYSTEMD_UNIT).replace("/usr/local/bin/guardrail", binary);
    let path = dir.path().join("guardrail.service");
    std::fs::write(&path, unit).unwrap();
    let out = run(Command::new(&analyze)
        .args(["verify", "--man=no"])
        .arg(&path));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let about_unit: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("guardrail.service"))
        .collect();
    assert!(
        out.status.success() && about_unit.is_empty(),
        "{SYSTEMD_UNIT}:\n{}",
        text(&out)
    );

    // The sandbox's exposure score (0 best, 10 worst) stays at "OK" or better (<= 2.0).
    let out = run(Command::new(&analyze)
        .args(["security", "--offline=yes", "--threshold=20"])
        .arg(&path));
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("unrecognized option") || stderr.contains("Unknown command") {
        eprintln!("skipped: this systemd-analyze has no offline security check");
        return;
    }
    assert!(out.status.success(), "{}", text(&out));
}

// ---------------------------------------------------------------------------------------------
// CI examples: their own scripts, run with the real binary on the quick-start repository.
// ---------------------------------------------------------------------------------------------

fn git(dir: &Path, args: &[&str]) {
    let out = run(Command::new("git")
        .args([
            "-c",
            "user.name=guardrail test",
            "-c",
            "user.email=test@example.net",
        ])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1"));
    assert!(out.status.success(), "git {args:?}: {}", text(&out));
}

/// A git repository of the quick-start example: `main` holds the base, and the checked-out branch
/// `change` commits the risky load-balancer change that guardrail blocks (exit 1). The remote
/// `origin` is the repository itself, so `origin/main` exists and can be fetched.
fn quickstart_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let example = root().join("examples/quickstart");
    let write = |rel: &str, from: &Path| {
        let to = repo.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    };
    git(repo, &["init", "--quiet"]);
    write("guardrail.yaml", &example.join("guardrail.yaml"));
    write(
        "lb/mail/haproxy.cfg",
        &example.join("base/lb/mail/haproxy.cfg"),
    );
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "--quiet", "-m", "base"]);
    git(repo, &["remote", "add", "origin", repo.to_str().unwrap()]);
    git(repo, &["fetch", "--quiet", "origin", "main"]);
    git(repo, &["checkout", "--quiet", "-b", "change"]);
    write("lb/mail/haproxy.cfg", &example.join("lb/mail/haproxy.cfg"));
    git(
        repo,
        &["commit", "--quiet", "-am", "Routine load balancer update"],
    );
    dir
}

/// PATH with the test's `guardrail` first, as a CI runner that installed it would have.
fn path_with_guardrail(bin_dir: &Path) -> std::ffi::OsString {
    let link = bin_dir.join("guardrail");
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_guardrail"), &link).unwrap();
    }
    let mut paths = vec![bin_dir.to_path_buf()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).unwrap()
}

/// Runs a CI script the way GitHub Actions and GitLab run `bash` steps.
fn bash(script: &str, dir: &Path, env: &[(&str, &str)], path: &std::ffi::OsStr) -> Output {
    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

/// Every `guardrail check` command line in a text, as words (quotes and line continuations
/// removed; good enough for the flags).
fn check_command_lines(text: &str) -> Vec<Vec<String>> {
    let joined = text.replace("\\\n", " ");
    joined
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once("guardrail check").map(|(_, rest)| rest))
        .map(|rest| {
            rest.split_whitespace()
                .map(|w| w.trim_matches('"').to_string())
                .collect()
        })
        .collect()
}

#[test]
fn ci_examples_call_guardrail_check_with_flags_it_has() {
    let flags = help_flags("check");
    let mut seen = 0;
    for file in [GITHUB_WORKFLOW, GITLAB_CI, PRE_COMMIT_HOOKS] {
        for words in check_command_lines(&read(file)) {
            seen += 1;
            for w in words.iter().filter(|w| w.starts_with("--")) {
                let flag = w.split('=').next().unwrap();
                assert!(
                    flags.contains(flag),
                    "{file}: `guardrail check` has no flag {flag}"
                );
            }
        }
    }
    assert!(seen >= 3, "expected a `guardrail check` in each CI example");
}

#[test]
fn github_workflow_uploads_and_comments_before_it_enforces_the_verdict() {
    let wf = yaml(GITHUB_WORKFLOW);
    assert!(
        wf["on"].get("pull_request").is_some(),
        "runs on pull_request"
    );
    assert_eq!(wf["permissions"]["security-events"], "write");
    let steps = array_at(&wf, "/jobs/check/steps");
    let index = |what: &str, f: &dyn Fn(&Value) -> bool| -> usize {
        steps
            .iter()
            .position(f)
            .unwrap_or_else(|| panic!("{GITHUB_WORKFLOW}: no step that {what}"))
    };
    let uses = |prefix: &'static str| {
        move |s: &Value| s["uses"].as_str().is_some_and(|u| u.starts_with(prefix))
    };
    let checkout = index("checks out", &uses("actions/checkout@"));
    assert_eq!(steps[checkout]["with"]["fetch-depth"], 0);
    let check = index("runs guardrail check", &|s| {
        s["run"]
            .as_str()
            .is_some_and(|r| r.contains("guardrail check"))
    });
    let sarif = index(
        "uploads SARIF",
        &uses("github/codeql-action/upload-sarif@v3"),
    );
    let comment = index("comments", &uses("marocchino/sticky-pull-request-comment@"));
    let enforce = steps.len() - 1;
    assert!(check < sarif && check < comment && sarif < enforce && comment < enforce);
    for step in &steps[check + 1..] {
        assert!(
            step["if"].as_str().is_some_and(|c| c.contains("always()")),
            "{GITHUB_WORKFLOW}: step {} after the check must run always()",
            step["name"]
        );
    }
    let lines = check_command_lines(str_at(&steps[check], "/run"));
    let words = &lines[0];
    let output_path = |format: &str| -> String {
        words
            .iter()
            .find_map(|w| w.strip_prefix(&format!("{format}=")))
            .unwrap_or_else(|| panic!("no --output {format}=PATH"))
            .to_string()
    };
    assert_eq!(steps[sarif]["with"]["sarif_file"], output_path("sarif"));
    assert_eq!(steps[comment]["with"]["path"], output_path("markdown"));
    assert!(words.contains(&"github".to_string()), "--output github");
}

#[test]
fn github_workflow_scripts_gate_a_real_pull_request() {
    let wf = yaml(GITHUB_WORKFLOW);
    let steps = array_at(&wf, "/jobs/check/steps");
    let repo = quickstart_repo();
    let bin = tempfile::tempdir().unwrap();
    let path = path_with_guardrail(bin.path());
    let github_output = repo.path().join(".github-output");

    // The check step, with the values GitHub would put in its environment.
    let step = steps
        .iter()
        .find(|s| {
            s["run"]
                .as_str()
                .is_some_and(|r| r.contains("guardrail check"))
        })
        .unwrap();
    let mut env: Vec<(&str, &str)> = vec![("GITHUB_OUTPUT", github_output.to_str().unwrap())];
    for key in step["env"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
    {
        let value = match key.as_str() {
            "BASE_REF" => "main",
            "PR_AUTHOR" => "alice",
            "PR_TITLE" => "Routine load balancer update; $(touch pwned) `touch pwned`",
            other => panic!("{GITHUB_WORKFLOW}: set a test value for the step's env {other}"),
        };
        env.push((key.as_str(), value));
    }
    let out = bash(str_at(step, "/run"), repo.path(), &env, &path);
    assert!(
        out.status.success(),
        "the check step must not fail before the uploads: {}",
        text(&out)
    );
    assert!(
        !repo.path().join("pwned").exists(),
        "the PR title was executed"
    );
    let outputs = std::fs::read_to_string(&github_output).unwrap();
    assert_eq!(
        outputs.trim(),
        "exit-code=1",
        "the quick-start change is blocked"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("::error file=lb/mail/haproxy.cfg"),
        "{stdout}"
    );
    let sarif: Value = serde_json::from_str(
        &std::fs::read_to_string(repo.path().join("guardrail.sarif")).unwrap(),
    )
    .unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let markdown = std::fs::read_to_string(repo.path().join("guardrail.md")).unwrap();
    assert!(markdown.contains("be_calendar"), "{markdown}");

    // The last step turns the exit code into the job's result.
    let enforce = steps.last().unwrap();
    for (code, passes) in [
        ("0", true),
        ("1", false),
        ("2", false),
        ("3", false),
        ("", false),
    ] {
        let out = bash(
            str_at(enforce, "/run"),
            repo.path(),
            &[("CODE", code)],
            &path,
        );
        assert_eq!(
            out.status.success(),
            passes,
            "exit code {code:?}: {}",
            text(&out)
        );
    }
}

#[test]
fn gitlab_job_script_writes_the_junit_report_and_fails_the_job() {
    let ci = yaml(GITLAB_CI);
    let job = &ci["guardrail"];
    assert_eq!(
        job["rules"][0]["if"],
        "$CI_PIPELINE_SOURCE == \"merge_request_event\""
    );
    assert_eq!(job["variables"]["GIT_DEPTH"], "0");
    assert_eq!(job["artifacts"]["when"], "always");
    let junit = str_at(job, "/artifacts/reports/junit");
    let image = str_at(job, "/image");
    let manifest: toml::Table = read("Cargo.toml").parse().unwrap();
    assert!(version_at_least(
        image.strip_prefix("rust:").unwrap(),
        manifest["workspace"]["package"]["rust-version"]
            .as_str()
            .unwrap()
    ));

    let repo = quickstart_repo();
    // The job finds guardrail where its cached `cargo install` put it.
    let cargo_bin = repo.path().join(".cargo/bin");
    std::fs::create_dir_all(&cargo_bin).unwrap();
    let path = path_with_guardrail(&cargo_bin);
    let env = [
        ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
        ("CI_MERGE_REQUEST_TITLE", "Routine load balancer update"),
        ("CI_PROJECT_DIR", repo.path().to_str().unwrap()),
    ];
    // Every script item but the installation, in order; all but the check must succeed.
    let items: Vec<&str> = array_at(job, "/script")
        .iter()
        .map(|i| i.as_str().unwrap())
        .filter(|i| !i.contains("cargo install"))
        .collect();
    let (check, before) = items.split_last().expect("a script");
    assert!(check.contains("guardrail check"), "the check runs last");
    for item in before {
        let out = bash(item, repo.path(), &env, &path);
        assert!(out.status.success(), "{item}: {}", text(&out));
    }
    let out = bash(check, repo.path(), &env, &path);
    assert_eq!(
        out.status.code(),
        Some(1),
        "blocked fails the job: {}",
        text(&out)
    );
    let xml =
        std::fs::read_to_string(repo.path().join(junit)).unwrap_or_else(|e| panic!("{junit}: {e}"));
    assert!(
        xml.contains("<testsuites") && xml.contains("<failure"),
        "{xml}"
    );
    for path in array_at(job, "/artifacts/paths") {
        assert!(
            repo.path().join(path.as_str().unwrap()).is_file(),
            "artifact {path}"
        );
    }
}

#[test]
fn pre_commit_hook_blocks_a_staged_change_and_passes_a_clean_tree() {
    let hooks = yaml(PRE_COMMIT_HOOKS);
    let hook = array_at(&hooks, "")
        .iter()
        .find(|h| h["id"] == "guardrail-check")
        .expect("hook guardrail-check");
    assert_eq!(hook["language"], "system");
    assert_eq!(hook["pass_filenames"], false);
    let entry = str_at(hook, "/entry");
    let example = yaml(PRE_COMMIT_EXAMPLE);
    let example_hook = &example["repos"][0]["hooks"][0];
    assert_eq!(example_hook["id"], "guardrail-check");

    let repo = quickstart_repo();
    let bin = tempfile::tempdir().unwrap();
    let path = path_with_guardrail(bin.path());
    // pre-commit runs the entry with no file names (pass_filenames: false).
    let out = bash(entry, repo.path(), &[], &path);
    assert_eq!(out.status.code(), Some(0), "nothing staged: {}", text(&out));
    git(repo.path(), &["checkout", "--quiet", "main"]);
    std::fs::copy(
        root().join("examples/quickstart/lb/mail/haproxy.cfg"),
        repo.path().join("lb/mail/haproxy.cfg"),
    )
    .unwrap();
    git(repo.path(), &["add", "lb/mail/haproxy.cfg"]);
    let out = bash(entry, repo.path(), &[], &path);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a blocked change: {}",
        text(&out)
    );
}

/// The Ansible tasks ask the gate for the hash that `guardrail diff FILE FILE --output json`
/// prints, with a bearer token, and stop unless `allow` is true. (Ansible itself is not run.)
#[test]
fn ansible_gate_asks_for_the_content_hash_guardrail_prints() {
    let tasks = yaml(ANSIBLE_GATE);
    let tasks = tasks.as_array().expect("a task list");
    let command = tasks
        .iter()
        .find_map(|t| t.get("ansible.builtin.command"))
        .expect("a command task");
    let argv = str_at(command, "/argv");
    assert!(argv.contains("'guardrail', 'diff'") && argv.contains("'--output', 'json'"));
    let uri = tasks
        .iter()
        .find_map(|t| t.get("ansible.builtin.uri"))
        .expect("a uri task");
    let url: String = str_at(uri, "/url").split_whitespace().collect();
    for part in ["/v1/gate?target=", "&env=", "&hash=", ".new.hash"] {
        assert!(url.contains(part), "gate url lacks {part}: {url}");
    }
    assert!(str_at(uri, "/headers/Authorization").starts_with("Bearer "));
    let assertion = tasks
        .iter()
        .find_map(|t| t.get("ansible.builtin.assert"))
        .expect("an assert task");
    assert!(
        array_at(assertion, "/that")
            .iter()
            .any(|c| c == "guardrail_gate.json.allow is sameas true")
    );

    let file = root().join("examples/quickstart/lb/mail/haproxy.cfg");
    let out = run(Command::new(env!("CARGO_BIN_EXE_guardrail"))
        .arg("diff")
        .arg(&file)
        .arg(&file)
        .args(["--output", "json"]));
    assert!(out.status.success(), "{}", text(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        json["new"]["hash"]
            .as_str()
            .is_some_and(|h| h.starts_with("sha256:")),
        "{json}"
    );
}

/// The high-availability overlay (deploy/kubernetes/ha): the base, three replicas on
/// PostgreSQL with the store URL from the Secret, the audit key every replica shares from a
/// Secret, no PersistentVolumeClaim, a PodDisruptionBudget that keeps two up. (The overlay is
/// checked as written: no kustomize binary is installed here to render it.)
#[test]
fn kubernetes_ha_overlay_runs_three_replicas_on_postgresql_with_no_volume() {
    let dir = format!("{KUBERNETES}/ha");
    let k = yaml(&format!("{dir}/kustomization.yaml"));
    let resources: Vec<&str> = array_at(&k, "/resources")
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(resources, ["../", "pdb.yaml"]);
    let patches: Vec<&str> = array_at(&k, "/patches")
        .iter()
        .map(|p| str_at(p, "/path"))
        .collect();
    assert_eq!(patches, ["deployment-patch.yaml", "no-pvc.yaml"]);

    let base = one_of_kind("Deployment");
    let patch = yaml(&format!("{dir}/deployment-patch.yaml"));
    assert_eq!(patch["metadata"]["name"], base["metadata"]["name"]);
    assert_eq!(patch["spec"]["replicas"], 3);
    assert_eq!(patch["spec"]["strategy"]["type"], "RollingUpdate");
    let c = &patch["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c["name"],
        base["spec"]["template"]["spec"]["containers"][0]["name"]
    );
    let env = array_at(c, "/env");
    let var = |name: &str| -> &Value {
        env.iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in the HA patch"))
    };
    assert_eq!(
        var("GUARDRAIL_STORE")["valueFrom"]["secretKeyRef"]["name"],
        "guardrail-secrets"
    );
    let key_file = str_at(var("GUARDRAIL_AUDIT_KEY_FILE"), "/value");
    let mount = array_at(c, "/volumeMounts")
        .iter()
        .find(|m| key_file.starts_with(str_at(m, "/mountPath")))
        .expect("the audit key file is mounted");
    let volumes = array_at(&patch, "/spec/template/spec/volumes");
    let key_volume = volumes
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the audit key's volume");
    assert!(key_volume["secret"]["secretName"].is_string());
    let data = volumes.iter().find(|v| v["name"] == "data").unwrap();
    assert!(data["persistentVolumeClaim"].is_null() && data["emptyDir"].is_object());
    // Every setting the patch passes by environment is one the daemon reads.
    let names: Vec<&str> = env.iter().map(|e| str_at(e, "/name")).collect();
    for n in &names {
        assert!(
            [
                "GUARDRAIL_STORE",
                "PGPASSWORD",
                "GUARDRAIL_AUDIT_KEY_FILE",
                "GUARDRAIL_LEADER_LEASE"
            ]
            .contains(n),
            "{n}"
        );
    }

    let no_pvc = yaml(&format!("{dir}/no-pvc.yaml"));
    assert_eq!(no_pvc["$patch"], "delete");
    assert_eq!(
        no_pvc["metadata"]["name"],
        one_of_kind("PersistentVolumeClaim")["metadata"]["name"]
    );

    let pdb = yaml(&format!("{dir}/pdb.yaml"));
    assert_eq!(pdb["kind"], "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 2);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        base["spec"]["selector"]["matchLabels"]
    );
}
