//! The metrics `guardrail serve` exports (name, type, labels): the contract deploy/ is checked
//! against (tests/deploy.rs) and that a running daemon is checked against (tests/metrics_e2e.rs).
#![allow(dead_code)]

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Debug)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
}

pub const fn metric(name: &'static str, kind: Kind, labels: &'static [&'static str]) -> Metric {
    Metric { name, kind, labels }
}

/// The metrics `guardrail serve` exports: name, type and labels.
pub const DAEMON_METRICS: &[Metric] = &[
    metric(
        "guardrail_policy_evaluations_total",
        Kind::Counter,
        &["policy", "rule", "result"],
    ),
    metric("guardrail_check_duration_seconds", Kind::Histogram, &[]),
    metric("guardrail_changes", Kind::Gauge, &["state", "env"]),
    metric(
        "guardrail_change_transitions_total",
        Kind::Counter,
        &["from", "to"],
    ),
    metric("guardrail_approvals_total", Kind::Counter, &["decision"]),
    metric(
        "guardrail_approvals_invalidated_total",
        Kind::Counter,
        &["reason"],
    ),
    metric(
        "guardrail_approval_oldest_wait_seconds",
        Kind::Gauge,
        &["env"],
    ),
    metric(
        "guardrail_unstaged_pushes_total",
        Kind::Counter,
        &["target", "env"],
    ),
    metric("guardrail_drift_active", Kind::Gauge, &["target", "env"]),
    metric("guardrail_source_up", Kind::Gauge, &["target", "env"]),
    metric(
        "guardrail_source_last_success_timestamp_seconds",
        Kind::Gauge,
        &["target", "env"],
    ),
    metric("guardrail_break_glass_total", Kind::Counter, &[]),
    metric("guardrail_retro_reviews_overdue", Kind::Gauge, &[]),
    metric("guardrail_policy_reload_errors_total", Kind::Counter, &[]),
    metric("guardrail_notifications_pending", Kind::Gauge, &[]),
    metric(
        "guardrail_notification_failures_total",
        Kind::Counter,
        &["receiver"],
    ),
    metric(
        "guardrail_http_requests_total",
        Kind::Counter,
        &["method", "route", "status"],
    ),
    metric(
        "guardrail_http_request_duration_seconds",
        Kind::Histogram,
        &["method", "route"],
    ),
    metric("guardrail_build_info", Kind::Gauge, &["version"]),
    metric("guardrail_audit_head_seq", Kind::Gauge, &[]),
    metric("guardrail_rate_limited_total", Kind::Counter, &[]),
    metric("guardrail_evaluations_running", Kind::Gauge, &[]),
    metric("guardrail_evaluations_refused_total", Kind::Counter, &[]),
    metric("guardrail_leader", Kind::Gauge, &[]),
    metric("guardrail_leader_changes_total", Kind::Counter, &[]),
];

/// Label values the contract enumerates (a matcher on one of these labels must use them).
pub const DAEMON_LABEL_VALUES: &[(&str, &[&str])] = &[
    ("result", &["pass", "fail", "error", "waived"]),
    ("decision", &["approve", "reject"]),
    (
        "state",
        &[
            "proposed",
            "awaiting_approval",
            "approved",
            "scheduled",
            "applied",
            "verified",
            "rejected",
            "denied",
            "cancelled",
            "expired",
            "superseded",
            "rolled_back",
        ],
    ),
];
