//! Drift detection's business logic: one poll result recorded in one transaction (with its
//! audit records and notifications), `GET /v1/drift`, `drift adopt`, and source health.
//!
//! The poller (`poller`) fetches a live config and calls [`Service::record_poll`]; this module
//! removes the noise, parses and hashes the content, loads the baseline, the approved changes
//! and the open drift, asks the pure core ([`guardrail_core::drift::classify`]) what it means, and
//! stores the outcome. Metrics are set after the commit.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::alerts;
use super::api::{ChangeView, SubmitChange, TargetContent};
use super::{Effects, Result, Runtime, Service, ServiceError, require};
use crate::metrics::TargetEnv;
use crate::notify::{Event, EventKind, Status};
use guardrail_core::change::State;
use guardrail_core::change::audit::AuditEntry;
use guardrail_core::document::Format;
use guardrail_core::drift::{
    self, BaselineRef, Candidate, DriftKind, Inputs, NewDrift, OpenDrift, Outcome, Pending, Settle,
    Watch,
};
use guardrail_core::pipeline::{self, Loaded};
use guardrail_core::policy::{ChangeInfo, InventoryEntry, TargetInfo};
use guardrail_core::report::Report;
use guardrail_store::{
    self as store, BaselineRow, ChangeFilter, DriftFilter, DriftRow, Identity, Role,
    SourceStatusRow, Tx,
};

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
    fn get(&self, text: &str, format: Format, noise: &drift::NoiseFilter) -> Option<String> {
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

// ---------------------------------------------------------------------------------------------
// Metrics applied after commit.

#[derive(Default)]
struct DriftEffects {
    source_up: Option<bool>,
    last_success: Option<DateTime<Utc>>,
    drift_active: Option<bool>,
    unstaged_push: bool,
}

/// Everything the classification needs, loaded in one transaction.
struct Gathered {
    baseline: Option<BaselineRow>,
    baseline_ref: Option<BaselineRef>,
    candidates: Vec<Candidate>,
    pending: Option<Pending>,
    open: Option<DriftRow>,
    open_ref: Option<OpenDrift>,
    status: Option<SourceStatusRow>,
}

impl Gathered {
    fn inputs<'a>(&'a self, live: &'a str, now: DateTime<Utc>, w: &Watch) -> Inputs<'a> {
        Inputs {
            now,
            live,
            baseline: self.baseline_ref.as_ref(),
            candidates: &self.candidates,
            pending: self.pending.as_ref(),
            open: self.open_ref.as_ref(),
            resolve_after: chrono::Duration::from_std(w.resolve_after)
                .unwrap_or(chrono::Duration::zero()),
        }
    }
}

/// The live content of one poll, parsed.
struct Live {
    /// As fetched (for first contact and `drift adopt`).
    raw: String,
    format: Format,
    /// Noise removed and parsed.
    loaded: Loaded,
    hash: String,
    ignored_lines: usize,
}

/// How often a healthy source's `last_success` is written to the store (the metric is live).
const PERSIST_SUCCESS_EVERY: chrono::Duration = chrono::Duration::minutes(10);

fn drift_key(id: i64) -> String {
    format!("drift/{id}")
}

fn source_key(target: &str, env: &str) -> String {
    format!("source_down/{target}/{env}")
}

fn subject(target: &str, env: &str) -> String {
    format!("target/{target}@{env}")
}

impl Service {
    /// Records one poll of `watch`: a failed fetch counts toward `source_down`; content is
    /// classified against the baseline and the outcome stored with its audit records and
    /// notifications, in one transaction.
    pub fn record_poll(
        &self,
        watch: &Watch,
        fetched: Fetched,
        cache: &HashCache,
    ) -> Result<PollReport> {
        let rt = self.runtime();
        let now = self.now();
        let bytes = match fetched {
            Fetched::Failed(f) => return self.source_failed(&rt, watch, f, now),
            Fetched::Content(b) => b,
        };
        let live = match self.read_live(watch, bytes) {
            Ok(l) => l,
            Err(f) => return self.source_failed(&rt, watch, f, now),
        };
        let gathered = store::read(self.store.as_ref(), |tx| {
            self.gather(&rt, tx, watch, &live, cache, now)
        })?;
        let outcome = drift::classify(&gathered.inputs(&live.hash, now, watch));
        let status_stale = match &gathered.status {
            None => true,
            Some(s) => {
                !s.up
                    || s.consecutive_failures > 0
                    || s.last_success
                        .is_none_or(|t| now - t >= PERSIST_SUCCESS_EVERY)
            }
        };
        let mut dx = DriftEffects {
            source_up: Some(true),
            last_success: Some(now),
            ..Default::default()
        };
        let quiet = outcome.is_quiet() || matches!(outcome, Outcome::AwaitingDeploy { .. });
        if quiet && !status_stale {
            dx.drift_active = Some(gathered.open.is_some());
            self.apply_drift(watch, dx);
            return Ok(PollReport {
                outcome: outcome_name(&outcome),
                drift_id: gathered.open.map(|d| d.id),
            });
        }
        let mut fx = Effects::default();
        let report = self.write(|tx| {
            // Load again under the write lock: an API call may have moved things meanwhile.
            let g = self.gather(&rt, tx, watch, &live, cache, now)?;
            let outcome = drift::classify(&g.inputs(&live.hash, now, watch));
            self.source_ok(tx, &rt, watch, g.status.as_ref(), now)?;
            self.act(tx, &rt, &mut fx, &mut dx, watch, &g, &live, outcome, now)
        })?;
        self.apply(fx);
        self.apply_drift(watch, dx);
        crate::notify::wake();
        Ok(report)
    }

    fn apply_drift(&self, w: &Watch, dx: DriftEffects) {
        let m = &self.metrics.drift;
        let l = TargetEnv {
            target: w.target.clone(),
            env: w.env.clone(),
        };
        if let Some(up) = dx.source_up {
            m.source_up.get_or_create(&l).set(up as i64);
        }
        if let Some(t) = dx.last_success {
            m.source_last_success.get_or_create(&l).set(t.timestamp());
        }
        if let Some(a) = dx.drift_active {
            m.drift_active.get_or_create(&l).set(a as i64);
        }
        if dx.unstaged_push {
            m.unstaged_pushes.get_or_create(&l).inc();
        }
    }

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

    fn read_live(&self, w: &Watch, bytes: Vec<u8>) -> std::result::Result<Live, SourceFailure> {
        let unparsable = |message: String| SourceFailure {
            kind: FailureKind::Unparsable,
            message,
        };
        let raw = String::from_utf8(bytes)
            .map_err(|_| unparsable("the content is not valid UTF-8".into()))?;
        let name = match &w.source {
            drift::Source::File { path } => path.clone(),
            _ => w.target.clone(),
        };
        let format = pipeline::choose_format(w.format, &name, &raw)
            .map_err(|e| unparsable(e.lines.join("; ")))?;
        let noise = w.noise_for(format);
        let filtered = noise.apply(&raw);
        let label = format!("{}@{} (live)", w.target, w.env);
        let loaded =
            pipeline::parse(&label, filtered.text.as_bytes(), Some(format)).map_err(|e| {
                let mut lines = e.lines;
                let more = lines.len().saturating_sub(3);
                lines.truncate(3);
                if more > 0 {
                    lines.push(format!("... and {more} more"));
                }
                unparsable(lines.join("; "))
            })?;
        let hash = loaded.doc.content_hash();
        Ok(Live {
            raw,
            format,
            hash,
            loaded,
            ignored_lines: filtered.ignored.len(),
        })
    }

    fn gather(
        &self,
        rt: &Runtime,
        tx: &mut dyn Tx,
        w: &Watch,
        live: &Live,
        cache: &HashCache,
        now: DateTime<Utc>,
    ) -> Result<Gathered> {
        let noise = w.noise_for(live.format);
        let norm = |text: &str, format: &str| -> String {
            let f = Format::from_name(format).unwrap_or(live.format);
            cache
                .get(text, f, &noise)
                .unwrap_or_else(|| format!("unparsable:{}", hex::encode(Sha256::digest(text))))
        };
        let baseline = tx.baseline(&w.target, &w.env)?;
        let baseline_ref = baseline.as_ref().map(|b| BaselineRef {
            id: b.id,
            hash: norm(&b.content, &b.format),
        });
        let mut candidates = Vec::new();
        for state in [State::Approved, State::Scheduled] {
            for c in tx.changes(&ChangeFilter {
                state: Some(state),
                env: Some(w.env.clone()),
                target: Some(w.target.clone()),
                limit: 100,
            })? {
                let Some(t) = tx
                    .change_targets(c.id)?
                    .into_iter()
                    .find(|t| t.target == w.target)
                else {
                    continue;
                };
                let hash = norm(&t.content, &t.format);
                // The gate is only asked about a change that explains this exact content.
                let (allowed, reasons) = if hash == live.hash {
                    let (_, d) = self.gate_of(rt, tx, &c, now)?;
                    (d.allow, d.reasons)
                } else {
                    (false, Vec::new())
                };
                candidates.push(Candidate {
                    change_id: c.id,
                    hash,
                    allowed,
                    reasons,
                });
            }
        }
        let mut pending = None;
        if let (Some(b), Some(bref)) = (&baseline, &baseline_ref)
            && let Some(cid) = b.change_id
            && let Some(c) = tx.change(cid)?
            && c.state == State::Applied
            && !tx.verified_targets(cid)?.contains(&w.target)
        {
            let previous = tx
                .recent_baselines(&w.target, &w.env, 2)?
                .get(1)
                .map(|p| norm(&p.content, &p.format));
            let applied_at = c.doc.applied_at.unwrap_or(c.updated_at);
            pending = Some(Pending {
                change_id: cid,
                hash: bref.hash.clone(),
                previous,
                deadline: applied_at + rt.settings.env(&w.env).verify_within,
            });
        }
        let open = tx.open_drift(&w.target, &w.env)?;
        let open_ref = open.as_ref().map(|d| OpenDrift {
            id: d.id,
            kind: DriftKind::from_name(&d.kind).unwrap_or(DriftKind::UnstagedPush),
            hash: d.live_hash.clone(),
            in_sync_since: d.in_sync_since,
        });
        let status = tx.source_status(&w.target, &w.env)?;
        Ok(Gathered {
            baseline,
            baseline_ref,
            candidates,
            pending,
            open,
            open_ref,
            status,
        })
    }

    /// A successful fetch: the source is up again (and its `source_down` resolved).
    fn source_ok(
        &self,
        tx: &mut dyn Tx,
        rt: &Runtime,
        w: &Watch,
        before: Option<&SourceStatusRow>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        tx.set_source_status(&SourceStatusRow {
            target: w.target.clone(),
            env: w.env.clone(),
            up: true,
            consecutive_failures: 0,
            last_attempt: Some(now),
            last_success: Some(now),
            last_error: None,
        })?;
        let was_down = before.is_some_and(|s| !s.up);
        let resolved = alerts::resolve(
            tx,
            rt,
            &source_key(&w.target, &w.env),
            format!(
                "the live config of {} in {} is readable again ({})",
                w.target,
                w.env,
                w.source.describe()
            ),
            serde_json::json!({"source": w.source.describe()}),
            now,
        )?;
        if was_down || resolved {
            tx.append_audit(
                &AuditEntry {
                    actor: "guardrail".into(),
                    action: "source.up".into(),
                    subject: subject(&w.target, &w.env),
                    before: Some("down".into()),
                    after: Some("up".into()),
                    detail: serde_json::json!({
                        "source": w.source.describe(),
                        "failures": before.map(|s| s.consecutive_failures),
                    }),
                    ..Default::default()
                },
                now,
            )?;
        }
        Ok(())
    }

    /// A failed fetch: counted; after `failures_before_alert` in a row, `source_down` fires
    /// (once) and is audited.
    fn source_failed(
        &self,
        rt: &Runtime,
        w: &Watch,
        f: SourceFailure,
        now: DateTime<Utc>,
    ) -> Result<PollReport> {
        self.write(|tx| {
            let before = tx.source_status(&w.target, &w.env)?;
            let failures = before.as_ref().map_or(0, |s| s.consecutive_failures) + 1;
            let last_success = before.as_ref().and_then(|s| s.last_success);
            let message = format!("{}: {}", f.kind.name(), f.message);
            tx.set_source_status(&SourceStatusRow {
                target: w.target.clone(),
                env: w.env.clone(),
                up: false,
                consecutive_failures: failures,
                last_attempt: Some(now),
                last_success,
                last_error: Some(message.clone()),
            })?;
            if failures >= w.failures_before_alert as i64 {
                let what = if f.kind == FailureKind::Missing {
                    "disappeared"
                } else {
                    "cannot be read"
                };
                let e = Event {
                    event: EventKind::SourceDown,
                    status: Status::Firing,
                    key: source_key(&w.target, &w.env),
                    severity: alerts::target_severity(rt, &w.target, &w.env),
                    summary: format!(
                        "the live config of {} in {} {what} ({} failures in a row): {message}",
                        w.target, w.env, failures
                    ),
                    target: Some(w.target.clone()),
                    env: Some(w.env.clone()),
                    starts_at: now,
                    ends_at: None,
                    labels: [("reason".to_string(), f.kind.name().to_string())].into(),
                    details: serde_json::json!({
                        "source": w.source.describe(),
                        "reason": f.kind.name(),
                        "error": f.message,
                        "consecutive_failures": failures,
                        "last_success": last_success,
                    }),
                };
                if alerts::fire(tx, rt, &e, now)? {
                    tx.append_audit(
                        &AuditEntry {
                            actor: "guardrail".into(),
                            action: "source.down".into(),
                            subject: subject(&w.target, &w.env),
                            before: Some("up".into()),
                            after: Some("down".into()),
                            detail: serde_json::json!({
                                "source": w.source.describe(),
                                "reason": f.kind.name(),
                                "error": f.message,
                                "consecutive_failures": failures,
                            }),
                            ..Default::default()
                        },
                        now,
                    )?;
                }
            }
            Ok::<_, ServiceError>(())
        })?;
        self.apply_drift(
            w,
            DriftEffects {
                source_up: Some(false),
                ..Default::default()
            },
        );
        crate::notify::wake();
        Ok(PollReport {
            outcome: "source_failed",
            drift_id: None,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn act(
        &self,
        tx: &mut dyn Tx,
        rt: &Runtime,
        fx: &mut Effects,
        dx: &mut DriftEffects,
        w: &Watch,
        g: &Gathered,
        live: &Live,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Result<PollReport> {
        let name = outcome_name(&outcome);
        let report = |drift_id: Option<i64>| PollReport {
            outcome: name,
            drift_id,
        };
        dx.drift_active = Some(g.open.is_some());
        match outcome {
            Outcome::FirstContact => {
                // The baseline's hash is the hash `guardrail hash` and the gate use: of the
                // content as fetched (noise included).
                let hash = pipeline::parse(&w.target, live.raw.as_bytes(), Some(live.format))
                    .map(|l| l.doc.content_hash())
                    .unwrap_or_else(|_| live.hash.clone());
                let id = tx.insert_baseline(&BaselineRow {
                    id: 0,
                    target: w.target.clone(),
                    env: w.env.clone(),
                    content: live.raw.clone(),
                    content_hash: hash.clone(),
                    format: live.format.name().to_string(),
                    change_id: None,
                    origin: "first_contact".into(),
                    applied_at: now,
                    rolled_back_at: None,
                })?;
                tx.append_audit(
                    &AuditEntry {
                        actor: "guardrail".into(),
                        action: "baseline.first_contact".into(),
                        subject: subject(&w.target, &w.env),
                        before: None,
                        after: Some(hash.clone()),
                        content_hash: Some(hash),
                        detail: serde_json::json!({
                            "baseline": id,
                            "source": w.source.describe(),
                            "format": live.format.name(),
                            "ignored_lines": live.ignored_lines,
                        }),
                    },
                    now,
                )?;
                Ok(report(None))
            }
            Outcome::InSync { verified, settle } => {
                if let Some(cid) = verified {
                    self.verify_target(tx, rt, fx, w, cid, now)?;
                }
                let mut drift_id = None;
                match settle {
                    None => {}
                    Some(Settle::Hold {
                        drift_id: id,
                        since,
                    }) => {
                        drift_id = Some(id);
                        if let Some(mut d) = g.open.clone() {
                            d.in_sync_since = Some(since);
                            d.last_seen = now;
                            tx.update_drift(&d)?;
                        }
                    }
                    Some(Settle::Resolve { drift_id: id }) => {
                        drift_id = Some(id);
                        if let Some(d) = g.open.clone() {
                            let (resolution, adopted) = match &g.baseline {
                                _ if d.kind == DriftKind::VerificationFailed.name() => {
                                    ("verified", None)
                                }
                                Some(b) if Some(b.id) != d.baseline_id => ("adopted", b.change_id),
                                _ => ("reverted", None),
                            };
                            self.resolve_drift(tx, rt, d, resolution, adopted, now)?;
                            dx.drift_active = Some(false);
                        }
                    }
                }
                Ok(report(drift_id))
            }
            Outcome::ExpectedApply {
                change_id,
                resolves,
            } => {
                let mut c = tx.change(change_id)?.ok_or_else(|| {
                    ServiceError::NotFound(format!("change {change_id} does not exist"))
                })?;
                let (_, decision) = self.gate_of(rt, tx, &c, now)?;
                self.record_applied(
                    tx,
                    fx,
                    &mut c,
                    "guardrail",
                    &format!(
                        "seen live on {} in {} by drift polling ({})",
                        w.target,
                        w.env,
                        w.source.describe()
                    ),
                    &decision.overridden,
                    now,
                )?;
                self.verify_target(tx, rt, fx, w, change_id, now)?;
                if let (Some(_), Some(d)) = (resolves, g.open.clone()) {
                    self.resolve_drift(tx, rt, d, "applied", Some(change_id), now)?;
                    dx.drift_active = Some(false);
                }
                Ok(report(resolves))
            }
            Outcome::AwaitingDeploy { .. } => Ok(report(None)),
            Outcome::Open(nd) => {
                let id = self.open_drift(tx, rt, w, g, live, &nd, now)?;
                dx.drift_active = Some(true);
                dx.unstaged_push = nd.kind == DriftKind::UnstagedPush;
                Ok(report(Some(id)))
            }
            Outcome::Ongoing { drift_id } => {
                if let Some(mut d) = g.open.clone() {
                    d.last_seen = now;
                    tx.update_drift(&d)?;
                }
                Ok(report(Some(drift_id)))
            }
            Outcome::Flap { drift_id } => {
                if let Some(mut d) = g.open.clone() {
                    d.last_seen = now;
                    d.in_sync_since = None;
                    d.flaps += 1;
                    tx.update_drift(&d)?;
                    tx.append_audit(
                        &AuditEntry {
                            actor: "guardrail".into(),
                            action: "drift.flap".into(),
                            subject: format!("drift/{drift_id}"),
                            content_hash: Some(d.live_hash.clone()),
                            detail: serde_json::json!({"target": w.target, "env": w.env, "flaps": d.flaps}),
                            ..Default::default()
                        },
                        now,
                    )?;
                }
                Ok(report(Some(drift_id)))
            }
            Outcome::Changed { drift_id } => {
                if let Some(mut d) = g.open.clone() {
                    let (diff, findings, _) = self.drift_diff(tx, rt, w, g, live)?;
                    let before = d.live_hash.clone();
                    d.last_seen = now;
                    d.in_sync_since = None;
                    d.live_hash = live.hash.clone();
                    d.live_content = live.raw.clone();
                    d.format = live.format.name().to_string();
                    d.diff = diff.to_string();
                    d.findings = findings.to_string();
                    tx.update_drift(&d)?;
                    tx.append_audit(
                        &AuditEntry {
                            actor: "guardrail".into(),
                            action: "drift.changed".into(),
                            subject: format!("drift/{drift_id}"),
                            before: Some(before),
                            after: Some(d.live_hash.clone()),
                            content_hash: Some(d.live_hash.clone()),
                            detail: serde_json::json!({"target": w.target, "env": w.env, "findings": findings.as_array().map_or(0, |a| a.len())}),
                        },
                        now,
                    )?;
                    let e = self.drift_event(rt, &d, &diff, &findings);
                    alerts::refresh(tx, &e)?;
                }
                Ok(report(Some(drift_id)))
            }
        }
    }

    /// Records that `w`'s live config shows change `cid`; when every watched target of the
    /// change does, the change is `verified`.
    fn verify_target(
        &self,
        tx: &mut dyn Tx,
        rt: &Runtime,
        fx: &mut Effects,
        w: &Watch,
        cid: i64,
        now: DateTime<Utc>,
    ) -> Result<()> {
        tx.insert_verification(cid, &w.target, &w.env, now)?;
        let Some(mut c) = tx.change(cid)? else {
            return Ok(());
        };
        if c.state != State::Applied {
            return Ok(());
        }
        let verified = tx.verified_targets(cid)?;
        let watched: Vec<String> = tx
            .change_targets(cid)?
            .into_iter()
            .map(|t| t.target)
            .filter(|t| rt.watches.iter().any(|x| &x.target == t && x.env == c.env))
            .collect();
        if watched.iter().all(|t| verified.contains(t)) {
            self.record_verified(
                tx,
                fx,
                &mut c,
                "guardrail",
                &format!("the live config of {} shows the change", watched.join(", ")),
                now,
            )?;
        }
        Ok(())
    }

    /// The semantic and unified diff baseline → live (redacted) and the findings the live
    /// content raises (fan-in rules against the other targets' baselines); returns (diff JSON,
    /// findings JSON, verdict).
    fn drift_diff(
        &self,
        tx: &mut dyn Tx,
        rt: &Runtime,
        w: &Watch,
        g: &Gathered,
        live: &Live,
    ) -> Result<(serde_json::Value, serde_json::Value, String)> {
        let old = g.baseline.as_ref().and_then(|b| {
            let f = Format::from_name(&b.format).unwrap_or(live.format);
            let filtered = w.noise_for(f).apply(&b.content);
            pipeline::parse(
                &format!("{}@{} (baseline {})", w.target, w.env, b.id),
                filtered.text.as_bytes(),
                Some(f),
            )
            .ok()
        });
        let t = rt.config.target(&w.target);
        let info = TargetInfo {
            name: w.target.clone(),
            kind: w.kind.clone(),
            env: w.env.clone(),
            owners: t.map(|t| t.owners.clone()).unwrap_or_default(),
            critical: w.critical,
            format: live.format.name().to_string(),
        };
        let change = ChangeInfo {
            author: "(unknown: not submitted through guardrail)".into(),
            ticket: String::new(),
            title: format!("live change of {} in {}", w.target, w.env),
        };
        // Fan-in rules see the live content beside the other targets' baselines.
        let others = if rt.policies.uses_inventory_for(&w.kind, &w.target, &w.env) {
            super::changes::baseline_inventory(tx, rt, &w.env, |name| name == w.target)?
        } else {
            Vec::new()
        };
        let inventory = pipeline::inventory(
            [InventoryEntry {
                target: info.clone(),
                doc: Some(&live.loaded.doc.root),
            }],
            &others,
        );
        let mut rep = Report::default();
        pipeline::evaluate_target(
            &rt.policies,
            &info,
            old.as_ref(),
            Some(&live.loaded),
            &change,
            &inventory,
            &rt.params,
            &mut rep,
        );
        rt.waivers.apply(&rt.policies, &mut rep, self.now());
        self.metrics.record_evaluations(&rep);
        // Bounded like a change's evaluation; a change of secrets only is named ("secret
        // changed at PATH (line N)") in the unified diff, which would otherwise be empty, and so
        // is a reorder of first-match rules ("PATH moved from position 2 to 1 ...").
        let json: serde_json::Value = serde_json::from_str(&super::limits::render_bounded(
            &mut rep,
            self.limits.max_diff_entries,
        ))
        .unwrap_or_default();
        let target = &json["targets"][0];
        let mut diff = serde_json::json!({
            "semantic": target["diff"],
            "unified": target["unified_diff"],
        });
        for key in ["secret_changes", "moves"] {
            if target.get(key).is_some() {
                diff[key] = target[key].clone();
            }
        }
        if target.get("diff_omitted").is_some() {
            diff["omitted"] = target["diff_omitted"].clone();
        }
        Ok((
            diff,
            json["findings"].clone(),
            json["verdict"].as_str().unwrap_or("pass").to_string(),
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn open_drift(
        &self,
        tx: &mut dyn Tx,
        rt: &Runtime,
        w: &Watch,
        g: &Gathered,
        live: &Live,
        nd: &NewDrift,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let (diff, findings, verdict) = self.drift_diff(tx, rt, w, g, live)?;
        let mut detail = serde_json::json!({
            "source": w.source.describe(),
            "verdict": verdict,
            "ignored_lines": live.ignored_lines,
        });
        if let Some((cid, reasons)) = &nd.blocked_change {
            detail["matches_change"] =
                serde_json::json!({"id": cid, "not_allowed_because": reasons});
        }
        if nd.kind == DriftKind::VerificationFailed {
            detail["timed_out"] = serde_json::json!(nd.timed_out);
        }
        let mut d = DriftRow {
            id: 0,
            target: w.target.clone(),
            env: w.env.clone(),
            kind: nd.kind.name().to_string(),
            status: "open".into(),
            first_seen: now,
            last_seen: now,
            live_hash: live.hash.clone(),
            live_content: live.raw.clone(),
            format: live.format.name().to_string(),
            baseline_id: g.baseline.as_ref().map(|b| b.id),
            baseline_hash: g.baseline.as_ref().map(|b| b.content_hash.clone()),
            change_id: nd.change_id,
            diff: diff.to_string(),
            findings: findings.to_string(),
            detail: detail.to_string(),
            flaps: 0,
            in_sync_since: None,
            resolved_at: None,
            resolution: None,
            adopted_change_id: None,
        };
        d.id = tx.insert_drift(&d)?;
        tx.append_audit(
            &AuditEntry {
                actor: "guardrail".into(),
                action: format!("drift.{}", nd.kind.name()),
                subject: format!("drift/{}", d.id),
                before: d.baseline_hash.clone(),
                after: Some(d.live_hash.clone()),
                content_hash: Some(d.live_hash.clone()),
                detail: serde_json::json!({
                    "target": w.target,
                    "env": w.env,
                    "baseline": d.baseline_id,
                    "change": d.change_id,
                    "findings": findings.as_array().map_or(0, |a| a.len()),
                    "verdict": verdict,
                    "detail": detail,
                }),
            },
            now,
        )?;
        let e = self.drift_event(rt, &d, &diff, &findings);
        alerts::fire(tx, rt, &e, now)?;
        Ok(d.id)
    }

    /// The notification of a drift (redacted: hashes, the redacted diff and the findings).
    fn drift_event(
        &self,
        rt: &Runtime,
        d: &DriftRow,
        diff: &serde_json::Value,
        findings: &serde_json::Value,
    ) -> Event {
        let (event, summary) = if d.kind == DriftKind::VerificationFailed.name() {
            (
                EventKind::VerificationFailed,
                format!(
                    "the live config of {} in {} does not show applied change {}",
                    d.target,
                    d.env,
                    d.change_id.unwrap_or(0)
                ),
            )
        } else {
            (
                EventKind::UnstagedPush,
                format!(
                    "unstaged push: the live config of {} in {} changed without an approved change",
                    d.target, d.env
                ),
            )
        };
        Event {
            event,
            status: Status::Firing,
            key: drift_key(d.id),
            severity: alerts::target_severity(rt, &d.target, &d.env),
            summary,
            target: Some(d.target.clone()),
            env: Some(d.env.clone()),
            starts_at: d.first_seen,
            ends_at: None,
            labels: [("drift".to_string(), d.id.to_string())].into(),
            details: serde_json::json!({
                "drift": d.id,
                "kind": d.kind,
                "live_hash": d.live_hash,
                "baseline_id": d.baseline_id,
                "baseline_hash": d.baseline_hash,
                "rollback": d.baseline_id.map(|b| format!("restore baseline {b} (content hash {})", d.baseline_hash.clone().unwrap_or_default())),
                "change": d.change_id,
                "unified_diff": diff["unified"],
                "diff": diff["semantic"],
                "findings": findings,
                "detail": serde_json::from_str::<serde_json::Value>(&d.detail).unwrap_or_default(),
            }),
        }
    }

    fn resolve_drift(
        &self,
        tx: &mut dyn Tx,
        rt: &Runtime,
        mut d: DriftRow,
        resolution: &str,
        change: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        d.status = "resolved".into();
        d.resolved_at = Some(now);
        d.last_seen = now;
        d.resolution = Some(resolution.to_string());
        if resolution == "adopted" || resolution == "applied" {
            d.adopted_change_id = change.or(d.adopted_change_id);
        }
        tx.update_drift(&d)?;
        tx.append_audit(
            &AuditEntry {
                actor: "guardrail".into(),
                action: "drift.resolve".into(),
                subject: format!("drift/{}", d.id),
                before: Some("open".into()),
                after: Some("resolved".into()),
                content_hash: Some(d.live_hash.clone()),
                detail: serde_json::json!({"target": d.target, "env": d.env, "resolution": resolution, "change": change, "flaps": d.flaps}),
            },
            now,
        )?;
        let how = match resolution {
            "reverted" => "is back at its baseline".to_string(),
            "verified" => format!("shows applied change {}", d.change_id.unwrap_or_default()),
            _ => format!(
                "is explained by change {} (now the baseline)",
                change.unwrap_or_default()
            ),
        };
        alerts::resolve(
            tx,
            rt,
            &drift_key(d.id),
            format!(
                "resolved: the live config of {} in {} {how}",
                d.target, d.env
            ),
            serde_json::json!({"drift": d.id, "resolution": resolution, "change": change}),
            now,
        )?;
        Ok(())
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

    /// `POST /v1/drift/{id}/adopt`: a change with the drifted content, through the normal
    /// gates (`submit`). When it is approved and its window open, the poller records it as
    /// applied on its next poll (or a deployer reports it applied) and the drift resolves.
    pub fn adopt(&self, who: &Identity, id: i64, body: AdoptBody) -> Result<ChangeView> {
        require(who, Role::Requester)?;
        super::input::text_field("ticket", &body.ticket, super::input::Text::Line)?;
        if let Some(t) = &body.title {
            super::input::text_field("title", t, super::input::Text::Line)?;
        }
        let rt = self.runtime();
        // Whether the drift may be adopted: checked before the (costly) evaluation, and again in
        // the one transaction that creates the change, so two adopts of one drift cannot both
        // create a change and the change never exists without the drift's link to it.
        let adoptable = |tx: &mut dyn Tx| -> Result<DriftRow> {
            let d = tx
                .drift(id)?
                .ok_or_else(|| ServiceError::NotFound(format!("drift {id} does not exist")))?;
            if d.status != "open" {
                return Err(ServiceError::conflict(format!(
                    "drift {id} is {}; only an open drift can be adopted",
                    d.status
                )));
            }
            if let Some(c) = d.adopted_change_id
                && let Some(existing) = tx.change(c)?
                && existing.state.accepts_revision()
            {
                return Err(ServiceError::Conflict {
                    message: format!("drift {id} is already being adopted by change {c}"),
                    reasons: vec![format!("change {c} is {}", existing.state)],
                });
            }
            Ok(d)
        };
        let seen = store::read(self.store.as_ref(), |tx| adoptable(tx))?;
        let title = body
            .title
            .clone()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| format!("Adopt drift {id} of {} in {}", seen.target, seen.env));
        let req = SubmitChange {
            env: seen.env.clone(),
            title,
            ticket: body.ticket.clone(),
            source_url: String::new(),
            commit: String::new(),
            targets: vec![TargetContent {
                target: seen.target.clone(),
                content: seen.live_content.clone(),
                format: Some(seen.format.clone()),
            }],
        };
        let info = ChangeInfo {
            author: who.user.clone(),
            ticket: req.ticket.clone(),
            title: req.title.clone(),
        };
        let now = self.now();
        let change_id = self.with_fresh_bases(
            &rt,
            &req.env,
            std::slice::from_ref(&seen.target),
            || self.evaluate_revision(&rt, &req.env, &info, &req.targets),
            |tx, fx, ev| {
                let mut d = adoptable(tx)?;
                if d.live_hash != seen.live_hash {
                    return Err(ServiceError::conflict(format!(
                        "drift {id} moved to live content {} while it was being adopted; adopt it again",
                        d.live_hash
                    )));
                }
                let change_id = self.submit_in(tx, &rt, fx, who, &req, ev)?;
                d.adopted_change_id = Some(change_id);
                tx.update_drift(&d)?;
                tx.append_audit(
                    &AuditEntry {
                        actor: who.user.clone(),
                        action: "drift.adopt".into(),
                        subject: format!("drift/{id}"),
                        content_hash: Some(d.live_hash.clone()),
                        detail: serde_json::json!({"change": change_id, "target": d.target, "env": d.env}),
                        ..Default::default()
                    },
                    now,
                )?;
                Ok(change_id)
            },
        )?;
        let view = self.show(change_id, false)?;
        Ok(view)
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

fn outcome_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::FirstContact => "first_contact",
        Outcome::InSync {
            settle: Some(Settle::Resolve { .. }),
            ..
        } => "drift_resolved",
        Outcome::InSync { .. } => "in_sync",
        Outcome::ExpectedApply { .. } => "expected_apply",
        Outcome::AwaitingDeploy { .. } => "awaiting_deploy",
        Outcome::Open(_) => "drift_opened",
        Outcome::Ongoing { .. } => "drift_ongoing",
        Outcome::Flap { .. } => "drift_flap",
        Outcome::Changed { .. } => "drift_changed",
    }
}
