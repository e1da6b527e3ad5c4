//! Prometheus metrics (the list is in docs/daemon.md), with `prometheus-client`: the Prometheus
//! organisation's client, maintained and OpenMetrics-native, where the `prometheus` crate has had
//! no release since March 2025 (ARCHITECTURE.md, "Dependencies").
//!
//! Each subsystem owns a group of metrics and registers it here; label sets are bounded (policy
//! and rule ids, states, environments, target names from `guardrail.yaml`, route templates),
//! never change ids or raw paths.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use guardrail_core::report::Outcome;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub policy: String,
    pub rule: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateEnv {
    pub state: String,
    pub env: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FromTo {
    pub from: String,
    pub to: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabel {
    pub decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EnvLabel {
    pub env: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetEnv {
    pub target: String,
    pub env: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReceiverLabel {
    pub receiver: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteTiming {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabel {
    pub version: String,
}

fn latency_histogram() -> Histogram {
    // 100 µs .. ~6.5 s
    Histogram::new(exponential_buckets(0.0001, 3.0, 11))
}

/// Policy evaluation (the engine, used by `check` semantics in the daemon).
pub struct PolicyMetrics {
    pub evaluations: Family<RuleLabels, Counter>,
    pub check_duration: Histogram,
    pub reload_errors: Counter,
}

/// The change pipeline.
pub struct ChangeMetrics {
    pub changes: Family<StateEnv, Gauge>,
    pub transitions: Family<FromTo, Counter>,
    pub approvals: Family<DecisionLabel, Counter>,
    pub approvals_invalidated: Family<ReasonLabel, Counter>,
    pub oldest_wait: Family<EnvLabel, Gauge>,
    pub break_glass: Counter,
    pub retro_overdue: Gauge,
}

/// Drift detection and sources.
pub struct DriftMetrics {
    pub unstaged_pushes: Family<TargetEnv, Counter>,
    pub drift_active: Family<TargetEnv, Gauge>,
    pub source_up: Family<TargetEnv, Gauge>,
    pub source_last_success: Family<TargetEnv, Gauge>,
}

/// Notification delivery.
pub struct NotifyMetrics {
    pub pending: Gauge,
    pub failures: Family<ReceiverLabel, Counter>,
}

/// The HTTP API.
pub struct HttpMetrics {
    pub requests: Family<RouteLabels, Counter>,
    pub duration: Family<RouteTiming, Histogram>,
}

/// The audit log's head, published outside the store.
pub struct AuditMetrics {
    pub head_seq: Gauge,
}

/// The daemon among the processes on one store: whether it leads the singleton work.
pub struct LeaderMetrics {
    pub leader: Gauge,
    pub changes: Counter,
}

impl LeaderMetrics {
    fn register(r: &mut Registry) -> Self {
        let m = LeaderMetrics {
            leader: Gauge::default(),
            changes: Counter::default(),
        };
        r.register(
            "guardrail_leader",
            "1 while this process leads the singleton work (drift poller, sweep, notification outbox), 0 otherwise",
            m.leader.clone(),
        );
        r.register(
            "guardrail_leader_changes",
            "Times this process took or lost the leader role",
            m.changes.clone(),
        );
        m
    }
}

/// What the daemon refuses to protect itself: rate limits and the evaluation bound.
pub struct LimitMetrics {
    pub rate_limited: Counter,
    pub evaluations_running: Gauge,
    pub evaluations_refused: Counter,
}

pub struct Metrics {
    pub registry: Registry,
    pub policy: PolicyMetrics,
    pub changes: ChangeMetrics,
    pub drift: DriftMetrics,
    pub notify: NotifyMetrics,
    pub http: HttpMetrics,
    pub audit: AuditMetrics,
    pub limits: LimitMetrics,
    pub leader: LeaderMetrics,
}

impl AuditMetrics {
    fn register(r: &mut Registry) -> Self {
        let m = AuditMetrics {
            head_seq: Gauge::default(),
        };
        r.register(
            "guardrail_audit_head_seq",
            "Sequence number of the newest audit record (its hash is logged with it: `audit head`)",
            m.head_seq.clone(),
        );
        m
    }
}

impl LimitMetrics {
    fn register(r: &mut Registry) -> Self {
        let m = LimitMetrics {
            rate_limited: Counter::default(),
            evaluations_running: Gauge::default(),
            evaluations_refused: Counter::default(),
        };
        r.register(
            "guardrail_rate_limited",
            "Requests refused with 429 by the per-token rate limit",
            m.rate_limited.clone(),
        );
        r.register(
            "guardrail_evaluations_running",
            "Policy evaluations (submit, revise, evaluate) running now",
            m.evaluations_running.clone(),
        );
        r.register(
            "guardrail_evaluations_refused",
            "Evaluations refused with 503 because every slot was taken and the queue was full",
            m.evaluations_refused.clone(),
        );
        m
    }
}

impl PolicyMetrics {
    fn register(r: &mut Registry) -> Self {
        let m = PolicyMetrics {
            evaluations: Family::default(),
            check_duration: latency_histogram(),
            reload_errors: Counter::default(),
        };
        r.register(
            "guardrail_policy_evaluations",
            "Policy rule evaluations by policy, rule and result (pass, fail, error, waived)",
            m.evaluations.clone(),
        );
        r.register_with_unit(
            "guardrail_check_duration",
            "Time to parse, diff and evaluate one change (all its targets)",
            Unit::Seconds,
            m.check_duration.clone(),
        );
        r.register(
            "guardrail_policy_reload_errors",
            "Policy or config reloads refused because the new set has errors",
            m.reload_errors.clone(),
        );
        m
    }
}

impl ChangeMetrics {
    fn register(r: &mut Registry) -> Self {
        let m = ChangeMetrics {
            changes: Family::default(),
            transitions: Family::default(),
            approvals: Family::default(),
            approvals_invalidated: Family::default(),
            oldest_wait: Family::default(),
            break_glass: Counter::default(),
            retro_overdue: Gauge::default(),
        };
        r.register(
            "guardrail_changes",
            "Changes by lifecycle state and environment",
            m.changes.clone(),
        );
        r.register(
            "guardrail_change_transitions",
            "Change lifecycle transitions",
            m.transitions.clone(),
        );
        r.register(
            "guardrail_approvals",
            "Approval decisions recorded (approve, reject)",
            m.approvals.clone(),
        );
        r.register(
            "guardrail_approvals_invalidated",
            "Approvals voided (new_revision) or lapsed (expired)",
            m.approvals_invalidated.clone(),
        );
        r.register_with_unit(
            "guardrail_approval_oldest_wait",
            "Age of the oldest change waiting for approval, per environment (0 when none)",
            Unit::Seconds,
            m.oldest_wait.clone(),
        );
        r.register(
            "guardrail_break_glass",
            "Gates passed with break-glass",
            m.break_glass.clone(),
        );
        r.register(
            "guardrail_retro_reviews_overdue",
            "Break-glass retro reviews past their due time and not closed",
            m.retro_overdue.clone(),
        );
        m
    }
}

impl DriftMetrics {
    fn register(r: &mut Registry) -> Self {
        let m = DriftMetrics {
            unstaged_pushes: Family::default(),
            drift_active: Family::default(),
            source_up: Family::default(),
            source_last_success: Family::default(),
        };
        r.register(
            "guardrail_unstaged_pushes",
            "Live configs found changed without an approved change",
            m.unstaged_pushes.clone(),
        );
        r.register(
            "guardrail_drift_active",
            "1 while a target's live config differs from its baseline",
            m.drift_active.clone(),
        );
        r.register(
            "guardrail_source_up",
            "1 when the last poll of a target's live config succeeded",
            m.source_up.clone(),
        );
        r.register_with_unit(
            "guardrail_source_last_success_timestamp",
            "Unix time of the last successful poll of a target's live config",
            Unit::Seconds,
            m.source_last_success.clone(),
        );
        m
    }
}

impl NotifyMetrics {
    fn register(r: &mut Registry) -> Self {
        let m = NotifyMetrics {
            pending: Gauge::default(),
            failures: Family::default(),
        };
        r.register(
            "guardrail_notifications_pending",
            "Notifications in the outbox not yet delivered",
            m.pending.clone(),
        );
        r.register(
            "guardrail_notification_failures",
            "Failed notification delivery attempts per receiver",
            m.failures.clone(),
        );
        m
    }
}

impl HttpMetrics {
    fn register(r: &mut Registry) -> Self {
        let m = HttpMetrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
        };
        r.register(
            "guardrail_http_requests",
            "HTTP requests by method, route template and status",
            m.requests.clone(),
        );
        r.register_with_unit(
            "guardrail_http_request_duration",
            "HTTP request latency by method and route template",
            Unit::Seconds,
            m.duration.clone(),
        );
        m
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let build = Family::<VersionLabel, Gauge>::default();
        build
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
        registry.register("guardrail_build_info", "guardrail version", build);
        let policy = PolicyMetrics::register(&mut registry);
        let changes = ChangeMetrics::register(&mut registry);
        let drift = DriftMetrics::register(&mut registry);
        let notify = NotifyMetrics::register(&mut registry);
        let http = HttpMetrics::register(&mut registry);
        let audit = AuditMetrics::register(&mut registry);
        let limits = LimitMetrics::register(&mut registry);
        let leader = LeaderMetrics::register(&mut registry);
        Metrics {
            registry,
            policy,
            changes,
            drift,
            notify,
            http,
            audit,
            limits,
            leader,
        }
    }

    /// The exposition text (OpenMetrics).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The exposition in the classic Prometheus text format (0.0.4), for scrapers and tools
    /// that do not ask for OpenMetrics (`promtool check metrics`, older Prometheus servers).
    pub fn encode_text(&self) -> String {
        openmetrics_to_text(&self.encode())
    }

    /// Counts the outcome of a policy evaluation report.
    pub fn record_evaluations(&self, report: &guardrail_core::report::Report) {
        self.count_evaluations(&Metrics::evaluation_results(report));
    }

    /// The label set of each rule evaluation in `report`, to count once what they decided is
    /// committed ([`Metrics::count_evaluations`]).
    pub fn evaluation_results(report: &guardrail_core::report::Report) -> Vec<RuleLabels> {
        report
            .evaluations
            .iter()
            .map(|e| RuleLabels {
                policy: e.policy.clone(),
                rule: e.rule.clone(),
                result: match e.outcome {
                    Outcome::Passed => "pass",
                    Outcome::Failed => "fail",
                    Outcome::Waived => "waived",
                    Outcome::Errored => "error",
                }
                .to_string(),
            })
            .collect()
    }

    /// Counts rule evaluations in `guardrail_policy_evaluations_total`.
    pub fn count_evaluations(&self, results: &[RuleLabels]) {
        for r in results {
            self.policy.evaluations.get_or_create(r).inc();
        }
    }
}

/// Rewrites OpenMetrics text as Prometheus text format 0.0.4: a counter family `x` becomes
/// `x_total` in its HELP and TYPE lines (its samples already carry `_total`), and `# UNIT` and
/// `# EOF` lines go. Gauges and histograms read the same in both.
pub fn openmetrics_to_text(om: &str) -> String {
    let mut out = String::with_capacity(om.len());
    let mut help: Option<(&str, &str)> = None;
    for line in om.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            help = Some((name, text));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let family = if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_string()
            };
            if let Some((h, text)) = help.take()
                && h == name
            {
                out.push_str(&format!("# HELP {family} {text}\n"));
            }
            out.push_str(&format!("# TYPE {family} {kind}\n"));
        } else if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
