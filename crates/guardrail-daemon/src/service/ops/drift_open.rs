//! A drift's life in the store: opened (with its redacted diff, the findings the live content
//! raises, its audit record and its alert), changed (new live content, the alert refreshed
//! without a new notification), resolved (the alert's resolve sent).

use super::super::alerts;
use super::super::context::OpContext;
use super::super::evaluate::baseline_inventory;
use super::super::limits::render_bounded;
use super::super::{Result, Runtime};
use super::drift_inputs::Poll;
use crate::metrics::Metrics;
use crate::notify::{Event, EventKind, Status};
use guardrail_core::change::audit::AuditEntry;
use guardrail_core::document::Format;
use guardrail_core::drift::{DriftKind, NewDrift};
use guardrail_core::pipeline;
use guardrail_core::policy::{ChangeInfo, InventoryEntry, TargetInfo};
use guardrail_core::report::Report;
use guardrail_store::{BaselineRow, DriftRow, Tx};

fn drift_key(id: i64) -> String {
    format!("drift/{id}")
}

/// A drift judged: the redacted diff baseline → live, the findings, the verdict.
struct Judged {
    diff: serde_json::Value,
    findings: serde_json::Value,
    verdict: String,
}

/// Opens a drift: stored with its diff and findings, audited, alerted. Returns its id.
pub(super) fn open_drift(
    tx: &mut dyn Tx,
    cx: &mut OpContext<'_>,
    p: &Poll<'_>,
    nd: &NewDrift,
) -> Result<i64> {
    let (w, live, g) = (p.watch, p.live, &p.g);
    let j = judge(tx, cx, p)?;
    let mut detail = serde_json::json!({
        "source": w.source.describe(),
        "verdict": j.verdict,
        "ignored_lines": live.ignored_lines,
    });
    if let Some((cid, reasons)) = &nd.blocked_change {
        detail["matches_change"] = serde_json::json!({"id": cid, "not_allowed_because": reasons});
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
        first_seen: cx.now,
        last_seen: cx.now,
        live_hash: live.hash.clone(),
        live_content: live.raw.clone(),
        format: live.format.name().to_string(),
        baseline_id: g.baseline.as_ref().map(|b| b.id),
        baseline_hash: g.baseline.as_ref().map(|b| b.content_hash.clone()),
        change_id: nd.change_id,
        diff: j.diff.to_string(),
        findings: j.findings.to_string(),
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
                "findings": j.findings.as_array().map_or(0, |a| a.len()),
                "verdict": j.verdict,
                "detail": detail,
            }),
        },
        cx.now,
    )?;
    let e = drift_event(cx.rt, &d, &j);
    alerts::fire(tx, cx, &e)?;
    Ok(d.id)
}

/// The open drift shows new live content: stored with its new diff and findings, audited, and
/// its alert refreshed (no new notification).
pub(super) fn changed(
    tx: &mut dyn Tx,
    cx: &mut OpContext<'_>,
    p: &Poll<'_>,
    drift_id: i64,
) -> Result<()> {
    let Some(mut d) = p.g.open.clone() else {
        return Ok(());
    };
    let live = p.live;
    let j = judge(tx, cx, p)?;
    let before = d.live_hash.clone();
    d.last_seen = cx.now;
    d.in_sync_since = None;
    d.live_hash = live.hash.clone();
    d.live_content = live.raw.clone();
    d.format = live.format.name().to_string();
    d.diff = j.diff.to_string();
    d.findings = j.findings.to_string();
    tx.update_drift(&d)?;
    tx.append_audit(
        &AuditEntry {
            actor: "guardrail".into(),
            action: "drift.changed".into(),
            subject: format!("drift/{drift_id}"),
            before: Some(before),
            after: Some(d.live_hash.clone()),
            content_hash: Some(d.live_hash.clone()),
            detail: serde_json::json!({"target": d.target, "env": d.env, "findings": j.findings.as_array().map_or(0, |a| a.len())}),
        },
        cx.now,
    )?;
    alerts::refresh(tx, &drift_event(cx.rt, &d, &j))?;
    Ok(())
}

/// How an open drift `d` resolves now that the live config is the baseline `baseline`: a
/// failed verification is `verified`; a baseline that moved since the drift opened `adopted`
/// it (by the change that moved it); else the live config was `reverted`.
pub(super) fn resolution_of(
    d: &DriftRow,
    baseline: Option<&BaselineRow>,
) -> (&'static str, Option<i64>) {
    match baseline {
        _ if d.kind == DriftKind::VerificationFailed.name() => ("verified", None),
        Some(b) if Some(b.id) != d.baseline_id => ("adopted", b.change_id),
        _ => ("reverted", None),
    }
}

/// The semantic and unified diff baseline → live (redacted) and the findings the live content
/// raises (fan-in rules against the other targets' baselines). Its rule evaluations are
/// counted after the commit.
fn judge(tx: &mut dyn Tx, cx: &mut OpContext<'_>, p: &Poll<'_>) -> Result<Judged> {
    let (w, live, rt) = (p.watch, p.live, cx.rt);
    let old = p.g.baseline.as_ref().and_then(|b| {
        let f = Format::from_name(&b.format).unwrap_or(live.format);
        let filtered = w.noise_for(f).apply(&b.content);
        let label = format!("{}@{} (baseline {})", w.target, w.env, b.id);
        pipeline::parse(&label, filtered.text.as_bytes(), Some(f)).ok()
    });
    let info = TargetInfo {
        name: w.target.clone(),
        kind: w.kind.clone(),
        env: w.env.clone(),
        owners: rt
            .config
            .target(&w.target)
            .map(|t| t.owners.clone())
            .unwrap_or_default(),
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
        baseline_inventory(tx, rt, &w.env, |name| name == w.target)?
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
    rt.waivers.apply(&rt.policies, &mut rep, cx.now);
    cx.fx.evaluations.extend(Metrics::evaluation_results(&rep));
    Ok(bounded_diff(&mut rep, cx.limits.max_diff_entries))
}

/// The report of one target, bounded like a change's evaluation: a change of secrets only is
/// named ("secret changed at PATH (line N)") in the unified diff, which would otherwise be
/// empty, and so is a reorder of first-match rules ("PATH moved from position 2 to 1 ...").
fn bounded_diff(rep: &mut Report, max_entries: usize) -> Judged {
    let json: serde_json::Value =
        serde_json::from_str(&render_bounded(rep, max_entries)).unwrap_or_default();
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
    Judged {
        diff,
        findings: json["findings"].clone(),
        verdict: json["verdict"].as_str().unwrap_or("pass").to_string(),
    }
}

/// The notification of a drift (redacted: hashes, the redacted diff and the findings).
fn drift_event(rt: &Runtime, d: &DriftRow, j: &Judged) -> Event {
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
            "unified_diff": j.diff["unified"],
            "diff": j.diff["semantic"],
            "findings": j.findings,
            "detail": serde_json::from_str::<serde_json::Value>(&d.detail).unwrap_or_default(),
        }),
    }
}

/// Resolves drift `d` (`reverted`, `adopted`, `applied` or `verified`, by `change` if any):
/// stored, audited, and its alert's resolve sent.
pub(super) fn resolve_drift(
    tx: &mut dyn Tx,
    cx: &mut OpContext<'_>,
    mut d: DriftRow,
    resolution: &str,
    change: Option<i64>,
) -> Result<()> {
    d.status = "resolved".into();
    d.resolved_at = Some(cx.now);
    d.last_seen = cx.now;
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
        cx.now,
    )?;
    let how = match resolution {
        "reverted" => "is back at its baseline".to_string(),
        "verified" => format!("shows applied change {}", d.change_id.unwrap_or_default()),
        _ => format!(
            "is explained by change {} (now the baseline)",
            change.unwrap_or_default()
        ),
    };
    let summary = format!(
        "resolved: the live config of {} in {} {how}",
        d.target, d.env
    );
    let details = serde_json::json!({"drift": d.id, "resolution": resolution, "change": change});
    alerts::resolve(tx, cx, &drift_key(d.id), summary, details)?;
    Ok(())
}
