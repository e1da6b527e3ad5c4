//! The output formats of `guardrail check`, pinned by expected files in tests/data/report/.
//!
//! Regenerate with `UPDATE_GOLDEN=1 cargo test --test report_render`, then READ every changed
//! file before committing. Two hand-made reports: `full` (every kind of finding, notices, a
//! modified and a deleted target) and `escaping` (pipes, newlines, `%`, backticks, HTML,
//! commas and colons where they could break a format).

mod common;

use std::path::PathBuf;

use guardrail::report::{
    self, ApprovalGate, Enforcement, Evaluation, Finding, Notice, Outcome, Output, RenderOptions,
    Report, TargetReport, TargetStatus, Verdict, WaiverRef, github, json, junit, markdown, sarif,
    text,
};
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// Fixtures

fn finding(policy: &str, rule: &str, e: Enforcement, target: &str, message: &str) -> Finding {
    Finding {
        policy: policy.into(),
        rule: rule.into(),
        enforcement: e,
        target: target.into(),
        env: "production".into(),
        message: message.into(),
        file: None,
        line: None,
        removed_from: None,
        docs: None,
        approvals: None,
        error: false,
        waived: None,
    }
}

fn evaluation(f: &Finding, outcome: Outcome, index: Option<usize>) -> Evaluation {
    Evaluation {
        policy: f.policy.clone(),
        rule: f.rule.clone(),
        enforcement: f.enforcement,
        target: f.target.clone(),
        env: f.env.clone(),
        outcome,
        finding: index,
    }
}

fn passed(policy: &str, rule: &str, e: Enforcement, target: &str) -> Evaluation {
    Evaluation {
        policy: policy.into(),
        rule: rule.into(),
        enforcement: e,
        target: target.into(),
        env: "production".into(),
        outcome: Outcome::Passed,
        finding: None,
    }
}

const MAIL_DIFF: &str = "\
--- a/lb/mail/haproxy.cfg
+++ b/lb/mail/haproxy.cfg
@@ -36,9 +36,8 @@ frontend mail-in
     default_backend mail
 \n backend mail
     balance roundrobin
     option httpchk GET /health
-    server mail1 10.0.0.11:993 check
-    server mail2 10.0.0.12:993 check
+    server mail1 10.0.0.11:993 check disabled
     stats auth admin:<redacted>
";

const CALENDAR_DIFF: &str = "\
--- a/lb/calendar/haproxy.cfg
+++ /dev/null
@@ -1,6 +0,0 @@
-frontend cal-in
-    bind :443
-    default_backend calendar
-\n-backend calendar
-    server cal1 10.0.1.21:8443 check
";

/// Every kind of finding: blocked mandatory with a line, approval with a gate, advisory
/// without a line, waived, errored; two notices; a modified and a deleted target.
fn full_report() -> Report {
    let mut blocked = finding(
        "lb-invariants",
        "backend-has-enabled-server",
        Enforcement::Mandatory,
        "lb-mail",
        "Backend mail has no enabled server left: mail1 is disabled and mail2 is removed.",
    );
    blocked.file = Some("lb/mail/haproxy.cfg".into());
    blocked.line = Some(41);
    blocked.docs = Some("https://docs.example.net/guardrail/lb#backend-has-enabled-server".into());

    let mut approval = finding(
        "lb-invariants",
        "capacity-drop",
        Enforcement::Approval,
        "lb-mail",
        "Backend mail loses 100% of its capacity (2 of 2 servers); the limit is 50%.",
    );
    // About the removed server mail2 (old line 42): shown where it was removed in the new file.
    approval.file = Some("lb/mail/haproxy.cfg".into());
    approval.line = Some(41);
    approval.removed_from = Some(("a/lb/mail/haproxy.cfg".into(), 42));
    approval.approvals = Some(ApprovalGate {
        count: 2,
        groups: vec!["netops".into(), "mail-admins".into()],
    });

    let mut advisory = finding(
        "lb-hygiene",
        "health-check-interval",
        Enforcement::Advisory,
        "lb-mail",
        "Server mail1 in backend mail has no `inter`; the default of 2s applies.",
    );
    advisory.file = Some("lb/mail/haproxy.cfg".into());

    let mut waived = finding(
        "lb-hygiene",
        "timeouts-set",
        Enforcement::Advisory,
        "lb-mail",
        "Backend mail sets no `timeout server`.",
    );
    waived.file = Some("lb/mail/haproxy.cfg".into());
    waived.line = Some(38);
    waived.waived = Some(WaiverRef {
        rule: "lb-hygiene/timeouts-set".into(),
        target: "lb-mail".into(),
        reason: "Timeouts come from the defaults section until the Q3 cleanup.".into(),
        owner: "netops".into(),
        expires: Some("2026-09-30".into()),
    });

    let mut errored = finding(
        "deletions",
        "owner-approval",
        Enforcement::Mandatory,
        "lb-calendar",
        "The rule failed to run and counts as failed: no such key: owners.",
    );
    errored.file = Some("lb/calendar/haproxy.cfg".into());
    errored.error = true;

    let evaluations = vec![
        evaluation(&blocked, Outcome::Failed, Some(0)),
        evaluation(&approval, Outcome::Failed, Some(1)),
        evaluation(&advisory, Outcome::Failed, Some(2)),
        evaluation(&waived, Outcome::Waived, Some(3)),
        passed(
            "lb-invariants",
            "frontend-routes-exist",
            Enforcement::Mandatory,
            "lb-mail",
        ),
        passed(
            "lb-invariants",
            "frontend-routes-exist",
            Enforcement::Mandatory,
            "lb-calendar",
        ),
        evaluation(&errored, Outcome::Errored, Some(4)),
    ];

    Report {
        targets: vec![
            TargetReport {
                name: "lb-mail".into(),
                kind: "load_balancer".into(),
                env: "production".into(),
                format: "haproxy".into(),
                status: TargetStatus::Modified,
                old_file: Some("lb/mail/haproxy.cfg".into()),
                new_file: Some("lb/mail/haproxy.cfg".into()),
                diff: vec![
                    json!({"op": "changed", "path": "backends[mail].servers[mail1].disabled",
                           "old": false, "new": true, "old_line": 41, "new_line": 41}),
                    json!({"op": "removed", "path": "backends[mail].servers[mail2]",
                           "old": {"name": "mail2", "address": "10.0.0.12", "port": 993,
                                   "check": true, "disabled": false},
                           "new": null, "old_line": 42, "new_line": null}),
                ],
                unified_diff: MAIL_DIFF.into(),
                changed_lines: vec![41],
            },
            TargetReport {
                name: "lb-calendar".into(),
                kind: "load_balancer".into(),
                env: "production".into(),
                format: "haproxy".into(),
                status: TargetStatus::Deleted,
                old_file: Some("lb/calendar/haproxy.cfg".into()),
                new_file: None,
                diff: vec![json!({"op": "removed", "path": ".",
                                  "old": {"frontends": {"cal-in": {"bind": ":443"}}},
                                  "new": null, "old_line": 1, "new_line": null})],
                unified_diff: CALENDAR_DIFF.into(),
                changed_lines: vec![],
            },
        ],
        findings: vec![blocked, approval, advisory, waived, errored],
        evaluations,
        notices: vec![
            Notice {
                code: "waiver.expired".into(),
                message: "The waiver of lb-hygiene/maxconn-set on lb-mail expired on 2025-01-31; \
                          the finding it covered counts again."
                    .into(),
                file: Some("waivers.yaml".into()),
                line: Some(12),
            },
            Notice {
                code: "file.unclaimed".into(),
                message: "lb/mail/errors.http changed but no target claims it; it was not checked."
                    .into(),
                file: Some("lb/mail/errors.http".into()),
                line: None,
            },
        ],
    }
}

/// Text that tries to break every format.
fn escaping_report() -> Report {
    let mut f = finding(
        "odd|policy",
        "rule_with*stars*",
        Enforcement::Approval,
        "edge,target:1",
        "100% of a|b is gone\nsecond line: ```code``` and <b>bold</b>\r\n::error::injected",
    );
    f.file = Some("dir/a file,v1:2.cfg".into());
    f.line = Some(3);
    f.docs = Some("https://docs.example.net/a b|c".into());
    f.approvals = Some(ApprovalGate {
        count: 1,
        groups: vec!["team|x".into()],
    });
    let eval = evaluation(&f, Outcome::Failed, Some(0));
    Report {
        targets: vec![TargetReport {
            name: "edge,target:1".into(),
            kind: "generic".into(),
            env: "production".into(),
            format: "yaml".into(),
            status: TargetStatus::Modified,
            old_file: Some("dir/a file,v1:2.cfg".into()),
            new_file: Some("dir/a file,v1:2.cfg".into()),
            diff: vec![
                json!({"op": "changed", "path": "notes", "old": "```", "new": "````",
                              "old_line": 3, "new_line": 3}),
            ],
            unified_diff: "--- a/dir/a file,v1:2.cfg\n+++ b/dir/a file,v1:2.cfg\n@@ -3 +3 @@\n\
                           -notes: |\n-  ```\n+notes: |\n+  ````\n"
                .into(),
            changed_lines: vec![3],
        }],
        findings: vec![f],
        evaluations: vec![eval],
        notices: vec![Notice {
            code: "file.unclaimed".into(),
            message: "50%0A literal, 50% real\nnext line \u{1b}[31mred".into(),
            file: Some("x,y:z.cfg".into()),
            line: Some(2),
        }],
    }
}

// ---------------------------------------------------------------------------------------------
// Expected files

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/report")
        .join(name)
}

/// Compares `actual` with tests/data/report/`name`, or writes it under UPDATE_GOLDEN=1.
fn expect_file(name: &str, actual: &str) {
    let path = data(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the output, first at line {}:\nexpected: {:?}\nactual:   {:?}\n\
             (UPDATE_GOLDEN=1 rewrites it; read the result before committing)",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

/// SARIF with the crate version replaced, so the expected file survives version bumps.
fn sarif_stable(report: &Report) -> String {
    sarif::render(report, &sarif::Options::default())
        .replace(env!("CARGO_PKG_VERSION"), "{VERSION}")
}

// ---------------------------------------------------------------------------------------------
// The full report in every format

#[test]
fn full_report_is_blocked() {
    let r = full_report();
    assert_eq!(r.verdict(), Verdict::Blocked);
    let s = r.summary();
    assert_eq!(
        (s.mandatory, s.approval, s.advisory, s.waived, s.errored),
        (2, 1, 1, 1, 1)
    );
}

#[test]
fn full_text() {
    let r = full_report();
    expect_file("full.txt", &text::render(&r, &text::Options::default()));
    expect_file(
        "full.diff.txt",
        &text::render(
            &r,
            &text::Options {
                color: false,
                show_diff: true,
            },
        ),
    );
}

#[test]
fn text_is_coloured_only_for_a_terminal() {
    let r = full_report();
    let plain = text::render(&r, &text::Options::default());
    assert!(
        !plain.contains('\u{1b}'),
        "no escape codes without a terminal"
    );
    let coloured = text::render(
        &r,
        &text::Options {
            color: true,
            show_diff: true,
        },
    );
    assert!(
        coloured.contains("\u{1b}[1m\u{1b}[31mBLOCKED\u{1b}[0m"),
        "{coloured}"
    );
    // Colour changes nothing but the escape codes.
    let stripped = strip_ansi(&coloured);
    let plain_diff = text::render(
        &r,
        &text::Options {
            color: false,
            show_diff: true,
        },
    );
    assert_eq!(stripped, plain_diff);
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn full_json() {
    let r = full_report();
    let out = json::render(&r, &json::Options::default());
    expect_file("full.json", &out);

    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["verdict"], "blocked");
    assert_eq!(v["exit_code"], 1);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "version",
            "verdict",
            "exit_code",
            "findings",
            "evaluations",
            "targets",
            "notices",
            "summary"
        ]
    );
    assert_eq!(v["findings"][1]["approvals"]["count"], 2);
    assert_eq!(v["findings"][0]["approvals"], serde_json::Value::Null);
    assert_eq!(v["findings"][3]["waived"]["owner"], "netops");
    assert_eq!(v["findings"][4]["error"], true);
    assert_eq!(v["targets"][1]["status"], "deleted");
    assert_eq!(v["summary"]["mandatory"], 2);

    let compact = json::render(&r, &json::Options { compact: true });
    assert_eq!(compact.lines().count(), 1);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&compact).unwrap(),
        v
    );
}

#[test]
fn full_sarif() {
    let r = full_report();
    let out = sarif_stable(&r);
    expect_file("full.sarif", &out);

    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "guardrail");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 5, "one descriptor per policy/rule");
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    let levels: Vec<&str> = results
        .iter()
        .map(|r| r["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["error", "warning", "note", "note", "error"]);
    for (i, res) in results.iter().enumerate() {
        let loc = &res["locations"][0]["physicalLocation"];
        assert!(
            loc["region"]["startLine"].as_i64().unwrap() >= 1,
            "result {i}"
        );
        assert!(
            !loc["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .starts_with('/')
        );
        let rule = &rules[res["ruleIndex"].as_u64().unwrap() as usize];
        assert_eq!(rule["id"], res["ruleId"]);
        assert_eq!(
            res["partialFingerprints"][sarif::FINGERPRINT_KEY]
                .as_str()
                .unwrap()
                .len(),
            64
        );
    }
    // No line: the target's first changed line, or line 1 for a deleted target.
    assert_eq!(
        results[2]["locations"][0]["physicalLocation"]["region"]["startLine"],
        41
    );
    assert_eq!(
        results[4]["locations"][0]["physicalLocation"]["region"]["startLine"],
        1
    );
    assert_eq!(results[3]["suppressions"][0]["kind"], "external");
    assert!(results[0].get("suppressions").is_none());
}

#[test]
fn sarif_is_valid_against_the_2_1_0_schema() {
    for r in [full_report(), escaping_report(), Report::default()] {
        let out = sarif::render(&r, &sarif::Options::default());
        common::assert_valid_sarif(&out);
    }
}

#[test]
fn sarif_fingerprints_follow_the_finding_not_the_line() {
    let a = full_report();
    let mut b = full_report();
    b.findings[0].line = Some(99);
    let fp = |r: &Report| -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_str(&sarif::render(r, &sarif::Options::default())).unwrap();
        v["runs"][0]["results"][0]["partialFingerprints"].clone()
    };
    assert_eq!(fp(&a), fp(&b));
    b.findings[0].message.push('!');
    assert_ne!(fp(&a), fp(&b));
}

#[test]
fn full_junit() {
    let r = full_report();
    let out = junit::render(&r, &junit::Options::default());
    expect_file("full.junit.xml", &out);

    let parsed = quick_junit::Report::deserialize_from_str(&out).unwrap();
    let names: Vec<&str> = parsed.test_suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "lb-mail (production)",
            "lb-calendar (production)",
            junit::NOTICES_SUITE
        ]
    );
    assert_eq!((parsed.tests, parsed.failures, parsed.skipped), (7, 4, 1));
    let mail = &parsed.test_suites[0];
    assert_eq!((mail.tests, mail.failures, mail.skipped), (5, 3, 1));
    let calendar = &parsed.test_suites[1];
    assert_eq!((calendar.tests, calendar.failures), (2, 1));
    let case = &mail.test_cases[0];
    assert_eq!(
        case.name.as_str(),
        "lb-invariants/backend-has-enabled-server"
    );
    assert_eq!(case.classname.as_ref().unwrap().as_str(), "lb-mail");
    match &case.status {
        quick_junit::TestCaseStatus::NonSuccess { message, ty, .. } => {
            assert_eq!(ty.as_ref().unwrap().as_str(), "mandatory");
            assert!(
                message
                    .as_ref()
                    .unwrap()
                    .as_str()
                    .starts_with("Backend mail")
            );
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    match &mail.test_cases[3].status {
        quick_junit::TestCaseStatus::Skipped { message, .. } => {
            assert!(message.as_ref().unwrap().as_str().contains("Q3 cleanup"));
        }
        other => panic!("expected skipped, got {other:?}"),
    }
    assert_eq!(parsed.test_suites[2].tests, 0);
}

#[test]
fn full_markdown() {
    let r = full_report();
    let out = markdown::render(&r, &markdown::Options::default());
    expect_file("full.md", &out);
    assert!(out.starts_with("## guardrail check: BLOCKED\n"));
    assert!(out.len() < markdown::GITHUB_COMMENT_LIMIT);
}

#[test]
fn full_github() {
    let r = full_report();
    let out = github::render(&r, &github::Options::default());
    expect_file("full.github.txt", &out);
    let kinds: Vec<&str> = out
        .lines()
        .map(|l| l.split([' ', ':']).nth(2).unwrap())
        .collect();
    // Waived finding not annotated; two notices; the verdict last.
    assert_eq!(
        kinds,
        [
            "error", "warning", "notice", "error", "notice", "notice", "notice"
        ]
    );
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("::notice title=guardrail%3A BLOCKED::")
    );
}

#[test]
fn dispatch_renders_every_output() {
    let r = full_report();
    for o in Output::ALL {
        assert_eq!(Output::from_name(o.name()), Some(o));
        let out = report::render(&r, o, &RenderOptions::default());
        assert!(!out.is_empty(), "{o}");
    }
    assert_eq!(Output::from_name("yaml"), None);
}

#[test]
fn empty_report_passes_in_every_output() {
    let r = Report::default();
    assert_eq!(r.verdict(), Verdict::Pass);
    let t = text::render(&r, &text::Options::default());
    assert!(t.starts_with("PASS: "), "{t}");
    let j: serde_json::Value =
        serde_json::from_str(&json::render(&r, &json::Options::default())).unwrap();
    assert_eq!(
        (j["verdict"].as_str(), j["exit_code"].as_i64()),
        (Some("pass"), Some(0))
    );
    let m = markdown::render(&r, &markdown::Options::default());
    assert!(m.contains("No findings."));
    let g = github::render(&r, &github::Options::default());
    assert_eq!(g.lines().count(), 1);
    let x = junit::render(&r, &junit::Options::default());
    assert_eq!(
        quick_junit::Report::deserialize_from_str(&x).unwrap().tests,
        0
    );
}

// ---------------------------------------------------------------------------------------------
// Escaping

#[test]
fn escaping_text() {
    let out = text::render(
        &escaping_report(),
        &text::Options {
            color: false,
            show_diff: true,
        },
    );
    expect_file("escaping.txt", &out);
    assert!(
        !out.contains('\u{1b}'),
        "terminal escapes from the report are neutralised"
    );
}

#[test]
fn escaping_github() {
    let out = github::render(&escaping_report(), &github::Options::default());
    expect_file("escaping.github.txt", &out);
    // One command per line: the message's newlines cannot start a new command.
    assert_eq!(out.lines().count(), 3);
    for line in out.lines() {
        assert!(line.starts_with("::"), "{line}");
        assert!(!line.contains('\r'));
    }
    let first = out.lines().next().unwrap();
    assert!(first.starts_with(
        "::warning file=dir/a file%2Cv1%3A2.cfg,line=3,title=guardrail approval odd|policy/rule_with*stars*::"
    ));
    assert!(first.contains("100%25 of a|b is gone%0Asecond line"));
    assert!(first.contains("%0D%0A::error::injected"));
}

#[test]
fn escaping_markdown() {
    let out = markdown::render(&escaping_report(), &markdown::Options::default());
    expect_file("escaping.md", &out);
    // The table row has exactly six unescaped pipes (five cells).
    let row = out
        .lines()
        .find(|l| l.starts_with("| approval"))
        .expect("finding row");
    let unescaped = row
        .char_indices()
        .filter(|&(i, c)| c == '|' && (i == 0 || row.as_bytes()[i - 1] != b'\\'))
        .count();
    assert_eq!(unescaped, 6, "{row}");
    assert!(!row.contains("<b>"), "HTML is escaped: {row}");
    // The diff's ```` cannot close the fence: the fence is five backticks.
    assert!(out.contains("\n`````diff\n"), "{out}");
    assert!(out.contains("\n`````\n"));
}

#[test]
fn escaping_sarif_and_junit_round_trip() {
    let r = escaping_report();
    let v: serde_json::Value =
        serde_json::from_str(&sarif::render(&r, &sarif::Options::default())).unwrap();
    let res = &v["runs"][0]["results"][0];
    assert!(
        res["message"]["text"]
            .as_str()
            .unwrap()
            .starts_with(&r.findings[0].message)
    );
    assert_eq!(
        res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "dir/a%20file%2Cv1%3A2.cfg"
    );
    let x = junit::render(&r, &junit::Options::default());
    let parsed = quick_junit::Report::deserialize_from_str(&x).unwrap();
    assert_eq!(
        parsed.test_suites[0].name.as_str(),
        "edge,target:1 (production)"
    );
    match &parsed.test_suites[0].test_cases[0].status {
        quick_junit::TestCaseStatus::NonSuccess { message, .. } => {
            assert!(message.as_ref().unwrap().as_str().contains("<b>bold</b>"));
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    let j: serde_json::Value =
        serde_json::from_str(&json::render(&r, &json::Options::default())).unwrap();
    assert_eq!(j["findings"][0]["message"], r.findings[0].message.as_str());
}

// ---------------------------------------------------------------------------------------------
// Size limit of the pull request comment

#[test]
fn markdown_stays_under_the_comment_limit() {
    let mut r = full_report();
    let mut huge = String::from("--- a/lb/mail/haproxy.cfg\n+++ b/lb/mail/haproxy.cfg\n");
    for i in 0..20_000 {
        huge.push_str(&format!(
            "+    server s{i} 10.1.{}.{}:993 check\n",
            i / 250,
            i % 250
        ));
    }
    r.targets[0].unified_diff = huge.clone();
    r.targets[1].unified_diff = huge;
    let out = markdown::render(&r, &markdown::Options::default());
    assert!(
        out.len() <= markdown::Options::default().max_len,
        "{}",
        out.len()
    );
    assert!(out.contains("Diff truncated to "), "the cut is said");
    assert_eq!(
        out.matches("```diff\n").count(),
        out.matches("\n```\n").count()
    );
    assert!(
        out.ends_with(&format!("{}.\n", r.summary())),
        "the summary survives"
    );

    // Thousands of findings: rows are cut too, and the limit holds.
    let template = r.findings[0].clone();
    for i in 0..5_000 {
        let mut f = template.clone();
        f.message = format!("finding number {i} with some words to take room in the table");
        r.findings.push(f);
    }
    let out = markdown::render(&r, &markdown::Options::default());
    assert!(
        out.len() <= markdown::Options::default().max_len,
        "{}",
        out.len()
    );
    assert!(out.contains("more findings not shown"));

    let small = markdown::Options {
        max_len: 4_000,
        show_diff: true,
    };
    let out = markdown::render(&r, &small);
    assert!(out.len() <= 4_000, "{}", out.len());
}
