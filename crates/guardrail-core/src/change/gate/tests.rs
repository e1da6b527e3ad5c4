//! Table tests of the gate: each row is one situation a reviewer would recognise.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::change::settings::EnvSettings;
use crate::change::window::{Freeze, Window, WindowKind};
use crate::report::{ApprovalGate, Enforcement, Finding};

const HASH: &str = "sha256:new";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn now() -> DateTime<Utc> {
    // A Monday.
    t("2026-11-23T10:00:00Z")
}

fn finding(enf: Enforcement, gate: Option<(u32, &[&str])>) -> Finding {
    Finding {
        policy: "lb".into(),
        rule: if enf == Enforcement::Mandatory {
            "backend-exists".into()
        } else {
            "capacity".into()
        },
        enforcement: enf,
        target: "lb-mail".into(),
        env: "production".into(),
        message: "backend webmail loses 3 of 4 servers".into(),
        file: Some("haproxy.cfg".into()),
        line: Some(42),
        removed_from: None,
        docs: None,
        approvals: gate.map(|(count, groups)| ApprovalGate {
            count,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }),
        error: false,
        waived: None,
    }
}

fn approval(
    user: &str,
    groups: &[&str],
    decision: Decision,
    hash: &str,
    at: &str,
) -> ApprovalRecord {
    ApprovalRecord {
        user: user.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        decision,
        content_hash: hash.into(),
        at: t(at),
    }
}

fn approve(user: &str, groups: &[&str]) -> ApprovalRecord {
    approval(
        user,
        groups,
        Decision::Approve,
        HASH,
        "2026-11-23T09:00:00Z",
    )
}

fn env() -> EnvSettings {
    let mut e = EnvSettings::unconfigured("production");
    e.approvals = ApprovalGate {
        count: 1,
        groups: vec![],
    };
    e
}

struct Row {
    name: &'static str,
    findings: Vec<Finding>,
    approvals: Vec<ApprovalRecord>,
    satisfied: bool,
    expect_in_status: &'static str,
}

#[test]
fn approval_table() {
    for row in approval_rows() {
        let reqs = requirements(&row.findings, &env());
        let st = approval_status(
            &reqs,
            &row.approvals,
            "alice",
            HASH,
            Duration::hours(24),
            now(),
        );
        assert_eq!(st.satisfied, row.satisfied, "{}: {st:?}", row.name);
        let dump = format!("{st:?}");
        assert!(dump.contains(row.expect_in_status), "{}: {dump}", row.name);
    }
}

/// The cases of [`approval_table`]: the author is alice; approvals expire after 24 hours.
fn approval_rows() -> Vec<Row> {
    let two_netops = || vec![finding(Enforcement::Approval, Some((2, &["netops"])))];
    vec![
        Row {
            name: "self-approval never counts",
            findings: vec![],
            approvals: vec![approve("alice", &["netops"])],
            satisfied: false,
            expect_in_status: "alice: the author cannot approve",
        },
        Row {
            name: "one approver from anyone meets the environment default",
            findings: vec![],
            approvals: vec![approve("bob", &[])],
            satisfied: true,
            expect_in_status: "",
        },
        Row {
            name: "quorum by group: one netops approver is not two",
            findings: two_netops(),
            approvals: vec![approve("bob", &["netops"]), approve("carol", &["dba"])],
            satisfied: false,
            expect_in_status: "1 more approval(s) from netops needed (1 of 2; rule lb/capacity)",
        },
        Row {
            name: "quorum by group met",
            findings: two_netops(),
            approvals: vec![
                approve("bob", &["netops"]),
                approve("dave", &["netops", "sre"]),
            ],
            satisfied: true,
            expect_in_status: "",
        },
        Row {
            name: "an approver counts once",
            findings: two_netops(),
            approvals: vec![approve("bob", &["netops"]), approve("bob", &["netops"])],
            satisfied: false,
            expect_in_status: "(1 of 2;",
        },
        Row {
            name: "rejection wins over a met quorum",
            findings: two_netops(),
            approvals: vec![
                approve("bob", &["netops"]),
                approve("dave", &["netops"]),
                approval("erin", &[], Decision::Reject, HASH, "2026-11-23T09:30:00Z"),
            ],
            satisfied: false,
            expect_in_status: "rejected_by: Some(\"erin\")",
        },
        Row {
            name: "an approval of other content (stale hash) does not count",
            findings: vec![],
            approvals: vec![approval(
                "bob",
                &[],
                Decision::Approve,
                "sha256:old",
                "2026-11-23T09:00:00Z",
            )],
            satisfied: false,
            expect_in_status: "bob: approved other content (sha256:old)",
        },
        Row {
            name: "a rejection of older content does not stop the new revision",
            findings: vec![],
            approvals: vec![
                approval(
                    "erin",
                    &[],
                    Decision::Reject,
                    "sha256:old",
                    "2026-11-23T08:00:00Z",
                ),
                approve("bob", &[]),
            ],
            satisfied: true,
            expect_in_status: "",
        },
        Row {
            name: "an expired approval does not count",
            findings: vec![],
            approvals: vec![approval(
                "bob",
                &[],
                Decision::Approve,
                HASH,
                "2026-11-22T09:00:00Z",
            )],
            satisfied: false,
            expect_in_status: "bob: approval expired at 2026-11-23T09:00:00+00:00",
        },
        Row {
            name: "waived approval findings need nothing beyond the default",
            findings: {
                let mut f = two_netops();
                f[0].waived = Some(crate::report::WaiverRef {
                    rule: "lb/capacity".into(),
                    target: "*".into(),
                    reason: "r".into(),
                    owner: "o".into(),
                    expires: None,
                });
                f
            },
            approvals: vec![approve("bob", &[])],
            satisfied: true,
            expect_in_status: "",
        },
    ]
}

#[test]
fn identical_gates_merge_and_name_every_source() {
    let mut a = finding(Enforcement::Approval, Some((2, &["netops"])));
    let mut b = a.clone();
    b.rule = "routing".into();
    a.approvals.as_mut().unwrap().groups = vec!["netops".into(), "netops".into()];
    let reqs = requirements(&[a, b], &env());
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[0].source, "rule lb/capacity, rule lb/routing");
    assert_eq!(reqs[1].source, "environment production");
}

struct GateRow {
    name: &'static str,
    now: &'static str,
    findings: Vec<Finding>,
    staging: Vec<StagingApply>,
    windows: Vec<Window>,
    freezes: Vec<Freeze>,
    break_glass: bool,
    allow: bool,
    reason: &'static str,
}

fn staged(at: &str, rolled_back: bool) -> StagingApply {
    StagingApply {
        target: "lb-mail".into(),
        content_hash: HASH.into(),
        applied_at: t(at),
        rolled_back,
    }
}

fn allow_mornings() -> Window {
    Window::new(
        WindowKind::Allow,
        "0 9 * * 1-5",
        Duration::hours(4),
        "UTC",
        None,
        None,
    )
    .unwrap()
}

#[test]
fn gate_table() {
    for row in gate_rows() {
        let mut env = env();
        env.soak = Some(Duration::minutes(30));
        env.windows = row.windows.clone();
        let targets = [GateTarget {
            name: "lb-mail".into(),
            kind: "load_balancer".into(),
            content_hash: HASH.into(),
            soak: env.soak_for("load_balancer", None),
        }];
        let status = ApprovalStatus {
            satisfied: true,
            ..Default::default()
        };
        let d = decide(&GateInput {
            now: t(row.now),
            state: State::Approved,
            env: &env,
            targets: &targets,
            mandatory: &mandatory_blockers(&row.findings),
            approvals: &status,
            staging: &row.staging,
            freezes: &row.freezes,
            scheduled_at: None,
            break_glass: row.break_glass,
        });
        assert_eq!(d.allow, row.allow, "{}: {d:?}", row.name);
        if !row.reason.is_empty() {
            assert!(
                d.reasons.iter().any(|r| r.contains(row.reason)),
                "{}: want {:?} in {:?}",
                row.name,
                row.reason,
                d.reasons
            );
        }
        if row.break_glass {
            assert_eq!(d.overridden.len(), 3, "{}: {d:?}", row.name);
        }
    }
}

/// The cases of [`gate_table`]: an approved production change of lb-mail (30m soak); each row
/// sets what differs from `base`, a change in order.
fn gate_rows() -> Vec<GateRow> {
    let base = || GateRow {
        name: "",
        now: "2026-11-23T10:00:00Z",
        findings: vec![],
        staging: vec![staged("2026-11-23T08:00:00Z", false)],
        windows: vec![],
        freezes: vec![],
        break_glass: false,
        allow: true,
        reason: "",
    };
    vec![
        GateRow {
            name: "everything in order",
            ..base()
        },
        GateRow {
            name: "staging soak not met",
            staging: vec![staged("2026-11-23T09:45:00Z", false)],
            allow: false,
            reason: "staging proof: lb-mail: in staging since 2026-11-23T09:45:00+00:00; the soak of 30m ends at 2026-11-23T10:15:00+00:00",
            ..base()
        },
        GateRow {
            name: "never staged",
            staging: vec![],
            allow: false,
            reason: "was never applied in staging",
            ..base()
        },
        GateRow {
            name: "staged content was rolled back",
            staging: vec![staged("2026-11-22T08:00:00Z", true)],
            allow: false,
            reason: "rolled back in staging",
            ..base()
        },
        GateRow {
            name: "window open",
            windows: vec![allow_mornings()],
            ..base()
        },
        GateRow {
            name: "window closed",
            now: "2026-11-23T14:00:00Z",
            windows: vec![allow_mornings()],
            allow: false,
            reason: "window: outside every allow window for lb-mail; the next opens at 2026-11-24T09:00:00+00:00",
            ..base()
        },
        GateRow {
            name: "deny window wins over an open allow window",
            windows: vec![
                allow_mornings(),
                Window::new(
                    WindowKind::Deny,
                    "0 0 * * 1",
                    Duration::days(1),
                    "UTC",
                    None,
                    Some("monday-freeze"),
                )
                .unwrap(),
            ],
            allow: false,
            reason: "window: deny window monday-freeze is in force",
            ..base()
        },
        GateRow {
            name: "freeze",
            freezes: vec![Freeze {
                id: 7,
                env: "production".into(),
                targets: "*".into(),
                reason: "black friday".into(),
                from: t("2026-11-20T00:00:00Z"),
                until: None,
            }],
            allow: false,
            reason: "window: lb-mail: frozen in production (black friday; freeze 7)",
            ..base()
        },
        GateRow {
            name: "mandatory finding blocks",
            findings: vec![finding(Enforcement::Mandatory, None)],
            allow: false,
            reason: "mandatory rule lb/backend-exists: backend webmail loses 3 of 4 servers (haproxy.cfg:42)",
            ..base()
        },
        GateRow {
            name: "break-glass passes a mandatory finding, a freeze and a missing soak",
            findings: vec![finding(Enforcement::Mandatory, None)],
            staging: vec![],
            freezes: vec![Freeze {
                id: 7,
                env: "production".into(),
                targets: "*".into(),
                reason: "black friday".into(),
                from: t("2026-11-20T00:00:00Z"),
                until: None,
            }],
            break_glass: true,
            allow: true,
            reason: "",
            ..base()
        },
    ]
}

#[test]
fn a_change_not_approved_is_denied_whatever_else_holds() {
    let env = env();
    let status = ApprovalStatus {
        satisfied: true,
        ..Default::default()
    };
    for state in [
        State::Proposed,
        State::AwaitingApproval,
        State::Rejected,
        State::Applied,
    ] {
        let d = decide(&GateInput {
            now: now(),
            state,
            env: &env,
            targets: &[],
            mandatory: &[],
            approvals: &status,
            staging: &[],
            freezes: &[],
            scheduled_at: None,
            break_glass: true,
        });
        assert!(!d.allow, "{state}");
    }
}

#[test]
fn a_scheduled_change_waits_for_its_time() {
    let env = env();
    let status = ApprovalStatus {
        satisfied: true,
        ..Default::default()
    };
    let mk = |now: &str| {
        decide(&GateInput {
            now: t(now),
            state: State::Scheduled,
            env: &env,
            targets: &[],
            mandatory: &[],
            approvals: &status,
            staging: &[],
            freezes: &[],
            scheduled_at: Some(t("2026-11-24T09:00:00Z")),
            break_glass: false,
        })
    };
    assert!(!mk("2026-11-24T08:59:00Z").allow);
    assert!(mk("2026-11-24T09:00:00Z").allow);
}
