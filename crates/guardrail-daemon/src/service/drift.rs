//! Drift detection's API surface: what the poller hands over (`Fetched`, `SourceFailure`) and
//! gets back (`PollReport`), the normalized-hash cache polls share, the bodies of `GET
//! /v1/drift`, `drift adopt` and `GET /v1/drift/sources`, those reads, and the drift gauges at
//! start and after a reload.
//!
//! Recording a poll (`Service::record_poll`: classify with `drift::classify`, store the outcome
//! with its audit records and alerts in one transaction) and `drift adopt` are operations:
//! `service::ops::{drift_record, drift_inputs, drift_open, source_health, adopt}`.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{Result, Service, ServiceError};
use crate::metrics::TargetEnv;
use guardrail_core::document::Format;
use guardrail_core::drift;
use guardrail_core::pipeline::{self, Loaded};
use guardrail_store::{self as store, DriftFilter, DriftRow};

/// Why a fetch failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Connection refused, DNS, TLS, I/O.
    Unreachable,
    Timeout,
    /// The config is gone: HTTP 404 or 410, file not found.
    Missing,
    /// Another HTTP status.
    HttpStatus,
    /// The command exited non-zero or was killed.
    CommandFailed,
    /// The content is not a config guardrail can read (format, UTF-8, syntax).
    Unparsable,
}

impl FailureKind {
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Unreachable => "unreachable",
            FailureKind::Timeout => "timeout",
            FailureKind::Missing => "missing",
            FailureKind::HttpStatus => "http_status",
            FailureKind::CommandFailed => "command_failed",
            FailureKind::Unparsable => "unparsable",
        }
    }
}

/// A failed fetch. The message names the source, never a header value or token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFailure {
    pub kind: FailureKind,
    pub message: String,
}

/// What the poller got.
#[derive(Debug, Clone)]
pub enum Fetched {
    Content(Vec<u8>),
    Failed(SourceFailure),
}

/// What a poll amounted to (for logs and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollReport {
    /// `in_sync`, `first_contact`, `expected_apply`, `awaiting_deploy`, `drift_opened`,
    /// `drift_ongoing`, `drift_flap`, `drift_changed`, `drift_resolved`, `source_failed`.
    pub outcome: &'static str,
    pub drift_id: Option<i64>,
}

/// Normalized hashes of stored contents (baselines, changes), by the sha256 of the raw text,
/// the format and the noise patterns: polling 1,000 targets does not parse 1,000 baselines a
/// round.
#[derive(Default)]
pub struct HashCache {
    map: Mutex<HashMap<(String, Format, String), Option<String>>>,
}

impl HashCache {
    pub(super) fn get(
        &self,
        text: &str,
        format: Format,
        noise: &drift::NoiseFilter,
    ) -> Option<String> {
        let key = (
            hex::encode(Sha256::digest(text.as_bytes())),
            format,
            noise.key(),
        );
        if let Some(v) = self.map.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return v.clone();
        }
        let v = normalize(text, format, noise)
            .ok()
            .map(|l| l.doc.content_hash());
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 20_000 {
            m.clear();
        }
        m.insert(key, v.clone());
        v
    }
}

/// Noise removed, parsed.
fn normalize(
    text: &str,
    format: Format,
    noise: &drift::NoiseFilter,
) -> std::result::Result<Loaded, pipeline::BadInput> {
    let filtered = noise.apply(text);
    pipeline::parse("live", filtered.text.as_bytes(), Some(format))
}

// ---------------------------------------------------------------------------------------------
// API bodies.

/// A drift as the API shows it: hashes, redacted diffs and findings, never the content.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DriftView {
    pub id: i64,
    pub target: String,
    pub env: String,
    /// `unstaged_push` or `verification_failed`.
    pub kind: String,
    /// `open` or `resolved`.
    pub status: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Normalized content hash of the drifted live config.
    pub live_hash: String,
    pub format: String,
    /// The baseline to roll back to (its content is the last approved config).
    pub baseline_id: Option<i64>,
    pub baseline_hash: Option<String>,
    /// `verification_failed`: the applied change the live config does not show.
    pub change_id: Option<i64>,
    /// How often the live config went back to the baseline and drifted again.
    pub flaps: i64,
    pub resolved_at: Option<DateTime<Utc>>,
    /// `reverted`, `adopted`, `applied` or `verified`.
    pub resolution: Option<String>,
    /// The change created by `drift adopt`.
    pub adopted_change_id: Option<i64>,
    /// Why (a change that carries this content but may not be applied now, a timeout, ...).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// Findings the drifted content raises against the policies.
    #[schema(value_type = Vec<Object>)]
    pub findings: Vec<serde_json::Value>,
    /// The semantic diff baseline → live (JSON entries, as `guardrail diff --output json`), on
    /// `GET /v1/drift/{id}` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub diff: Option<Vec<serde_json::Value>>,
    /// The unified diff of the redacted sources, on `GET /v1/drift/{id}` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unified_diff: Option<String>,
}

/// `POST /v1/drift/{id}/adopt`: make the drifted content a change (it goes through the normal
/// gates).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdoptBody {
    /// Default: "Adopt drift N of TARGET in ENV".
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub ticket: String,
}

/// The health of one polled source.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SourceView {
    pub target: String,
    pub env: String,
    /// `file`, `http` or `command`.
    pub kind: String,
    /// The source without header values.
    pub source: String,
    pub poll_interval_seconds: f64,
    pub up: Option<bool>,
    pub consecutive_failures: i64,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

fn drift_view(d: DriftRow, full: bool) -> DriftView {
    let diff: serde_json::Value = serde_json::from_str(&d.diff).unwrap_or_default();
    DriftView {
        id: d.id,
        target: d.target,
        env: d.env,
        kind: d.kind,
        status: d.status,
        first_seen: d.first_seen,
        last_seen: d.last_seen,
        live_hash: d.live_hash,
        format: d.format,
        baseline_id: d.baseline_id,
        baseline_hash: d.baseline_hash,
        change_id: d.change_id,
        flaps: d.flaps,
        resolved_at: d.resolved_at,
        resolution: d.resolution,
        adopted_change_id: d.adopted_change_id,
        detail: serde_json::from_str(&d.detail).unwrap_or_default(),
        findings: serde_json::from_str(&d.findings).unwrap_or_default(),
        diff: full.then(|| diff["semantic"].as_array().cloned().unwrap_or_default()),
        unified_diff: full.then(|| diff["unified"].as_str().unwrap_or("").to_string()),
    }
}

impl Service {
    /// Sets the drift gauges of every watch from the store (at start, so a restarted daemon
    /// reports the drifts still open) at 0 or 1, and `source_up` from the stored health.
    pub fn init_drift_metrics(&self) -> Result<()> {
        let rt = self.runtime();
        let (open, statuses) = store::read(self.store.as_ref(), |tx| {
            Ok::<_, ServiceError>((
                tx.drifts(&DriftFilter {
                    status: Some("open".into()),
                    limit: 1000,
                    ..Default::default()
                })?,
                tx.source_statuses()?,
            ))
        })?;
        let m = &self.metrics.drift;
        for w in &rt.watches {
            let l = TargetEnv {
                target: w.target.clone(),
                env: w.env.clone(),
            };
            let active = open.iter().any(|d| d.target == w.target && d.env == w.env);
            m.drift_active.get_or_create(&l).set(active as i64);
            m.unstaged_pushes.get_or_create(&l).inc_by(0);
            let st = statuses
                .iter()
                .find(|s| s.target == w.target && s.env == w.env);
            m.source_up
                .get_or_create(&l)
                .set(st.is_some_and(|s| s.up) as i64);
            let last = st.and_then(|s| s.last_success).map(|t| t.timestamp());
            m.source_last_success
                .get_or_create(&l)
                .set(last.unwrap_or(0));
        }
        Ok(())
    }

    /// Removes the drift series of a watch that a reload removed, so that dashboards and alerts
    /// do not keep reading its last values (a stale `guardrail_drift_active 1` would page forever).
    pub fn forget_drift_metrics(&self, target: &str, env: &str) {
        let l = TargetEnv {
            target: target.to_string(),
            env: env.to_string(),
        };
        let m = &self.metrics.drift;
        m.drift_active.remove(&l);
        m.source_up.remove(&l);
        m.source_last_success.remove(&l);
        m.unstaged_pushes.remove(&l);
    }

    /// `GET /v1/drift`.
    pub fn drift_list(&self, f: DriftFilter) -> Result<Vec<DriftView>> {
        if let Some(s) = &f.status
            && s != "open"
            && s != "resolved"
        {
            return Err(ServiceError::invalid(
                "status",
                format!("unknown status `{s}`; expected open or resolved"),
            ));
        }
        let rows = store::read(self.store.as_ref(), |tx| tx.drifts(&f))?;
        Ok(rows.into_iter().map(|d| drift_view(d, false)).collect())
    }

    /// `GET /v1/drift/{id}`.
    pub fn drift_show(&self, id: i64) -> Result<DriftView> {
        store::read(self.store.as_ref(), |tx| tx.drift(id))?
            .map(|d| drift_view(d, true))
            .ok_or_else(|| ServiceError::NotFound(format!("drift {id} does not exist")))
    }

    /// The baseline a drift rolls back to, as text with its secrets masked (the web UI's
    /// download): `(file name, text)`. The masked lines name what to fill in from the secret
    /// store; the config itself is never shown with its secrets.
    pub fn drift_baseline_masked(&self, id: i64) -> Result<(String, String)> {
        let (d, rows) = store::read(self.store.as_ref(), |tx| {
            let Some(d) = tx.drift(id)? else {
                return Ok((None, Vec::new()));
            };
            let rows = match &d.baseline_hash {
                Some(h) => tx.baselines_with_hash(&d.target, &d.env, h)?,
                None => Vec::new(),
            };
            Ok::<_, store::StoreError>((Some(d), rows))
        })?;
        let d = d.ok_or_else(|| ServiceError::NotFound(format!("drift {id} does not exist")))?;
        let b = rows
            .into_iter()
            .find(|b| Some(b.id) == d.baseline_id)
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "drift {id} of {} in {} has no approved baseline to roll back to",
                    d.target, d.env
                ))
            })?;
        // Masking needs the format's secret rules: fail closed on one this build does not know.
        let format = Format::from_name(&b.format).ok_or_else(|| {
            ServiceError::conflict(format!(
                "baseline {} has format `{}`, which this guardrail cannot mask",
                b.id, b.format
            ))
        })?;
        let doc = guardrail_core::formats::parse(format, &b.content);
        Ok((
            format!("{}-{}-baseline-{}.txt", d.target, d.env, b.id),
            doc.redact_source(&b.content).into_owned(),
        ))
    }

    /// `GET /v1/drift/sources`: every polled source and its health.
    pub fn sources(&self) -> Result<Vec<SourceView>> {
        let rt = self.runtime();
        let statuses = store::read(self.store.as_ref(), |tx| tx.source_statuses())?;
        Ok(rt
            .watches
            .iter()
            .map(|w| {
                let s = statuses
                    .iter()
                    .find(|s| s.target == w.target && s.env == w.env);
                SourceView {
                    target: w.target.clone(),
                    env: w.env.clone(),
                    kind: w.source.kind().to_string(),
                    source: w.source.describe(),
                    poll_interval_seconds: w.interval.as_secs_f64(),
                    up: s.map(|s| s.up),
                    consecutive_failures: s.map_or(0, |s| s.consecutive_failures),
                    last_attempt: s.and_then(|s| s.last_attempt),
                    last_success: s.and_then(|s| s.last_success),
                    last_error: s.and_then(|s| s.last_error.clone()),
                }
            })
            .collect())
    }
}
