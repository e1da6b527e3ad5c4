//! The notification event: what happened, receiver-agnostic. The service writes it (as JSON)
//! to the outbox in the transaction that caused it; the delivery loop renders it for each kind
//! of receiver. Everything in it is already redacted: diffs come from the redacted sources,
//! findings never carry secrets, and no config value is copied in.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The `origin` label of the alerts the daemon sends.
pub const ORIGIN: &str = "daemon";

/// The kinds of event receivers route on (`events:` of a receiver).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A production config changed without an approved change.
    UnstagedPush,
    /// An applied change does not show in the live config (mismatch or timeout).
    VerificationFailed,
    /// A source failed `failures_before_alert` times in a row, or the config disappeared.
    SourceDown,
    /// A change passed its gates with break-glass.
    BreakGlass,
    /// Break-glass passed a change that a mandatory rule blocked.
    MandatoryOverridden,
    /// A break-glass retro review is past its due time and still open.
    RetroOverdue,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::UnstagedPush,
        EventKind::VerificationFailed,
        EventKind::SourceDown,
        EventKind::BreakGlass,
        EventKind::MandatoryOverridden,
        EventKind::RetroOverdue,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventKind::UnstagedPush => "unstaged_push",
            EventKind::VerificationFailed => "verification_failed",
            EventKind::SourceDown => "source_down",
            EventKind::BreakGlass => "break_glass",
            EventKind::MandatoryOverridden => "mandatory_overridden",
            EventKind::RetroOverdue => "retro_overdue",
        }
    }

    pub fn from_name(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The Alertmanager `alertname`.
    pub fn alertname(self) -> &'static str {
        match self {
            EventKind::UnstagedPush => "GuardrailUnstagedPush",
            EventKind::VerificationFailed => "GuardrailVerificationFailed",
            EventKind::SourceDown => "GuardrailSourceDown",
            EventKind::BreakGlass => "GuardrailBreakGlass",
            EventKind::MandatoryOverridden => "GuardrailMandatoryOverridden",
            EventKind::RetroOverdue => "GuardrailRetroReviewOverdue",
        }
    }

    /// Whether the event is a state that later resolves (the others are one-off notices).
    pub fn resolves(self) -> bool {
        !matches!(self, EventKind::BreakGlass | EventKind::MandatoryOverridden)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Firing,
    Resolved,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event: EventKind,
    pub status: Status,
    /// The alert's identity: a resolve carries the key of what it resolves
    /// (`unstaged_push/lb-mail/production`, `break_glass/change/12`).
    pub key: String,
    pub severity: Severity,
    /// One line for humans.
    pub summary: String,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub env: Option<String>,
    /// When the condition started.
    pub starts_at: DateTime<Utc>,
    /// When it ended (resolved events).
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// Extra identifying labels (`change`, `drift`, `retro`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Event-specific detail (redacted): for drift the unified diff, the semantic diff, the
    /// findings and the baseline to roll back to.
    #[serde(default)]
    pub details: serde_json::Value,
}

impl Event {
    /// The resolution of a firing event.
    pub fn resolved(
        &self,
        at: DateTime<Utc>,
        summary: String,
        details: serde_json::Value,
    ) -> Event {
        Event {
            status: Status::Resolved,
            ends_at: Some(at),
            summary,
            details,
            ..self.clone()
        }
    }

    /// The Alertmanager labels: `alertname`, `severity`, `target`, `env`, `origin="daemon"`
    /// and the extra labels. `origin` tells these apart from the Prometheus rules' backstop
    /// alerts of the same name (deploy/alertmanager/alertmanager.yml inhibits those while the
    /// daemon's fire, so one event pages once).
    pub fn alert_labels(&self) -> BTreeMap<String, String> {
        let mut l = self.labels.clone();
        l.insert("origin".into(), ORIGIN.into());
        l.insert("alertname".into(), self.event.alertname().into());
        l.insert("severity".into(), self.severity.name().into());
        if let Some(t) = &self.target {
            l.insert("target".into(), t.clone());
        }
        if let Some(e) = &self.env {
            l.insert("env".into(), e.clone());
        }
        l
    }
}
