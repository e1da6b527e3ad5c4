//! Open drifts and source health, one drift, and the download of its baseline with its secrets
//! masked.

use super::*;

pub(super) struct DriftRow {
    id: i64,
    target: String,
    env: String,
    kind: String,
    first_seen: Time,
    baseline: String,
}

pub(super) struct SourceRow {
    target: String,
    env: String,
    source: String,
    health: String,
    last_success: Option<Time>,
}

#[derive(Template)]
#[template(path = "drift.html")]
pub(super) struct DriftPage {
    page: Page,
    drifts: Vec<DriftRow>,
    sources: Vec<SourceRow>,
}

fn baseline_text(id: Option<i64>, hash: Option<&str>) -> String {
    match (id, hash) {
        (Some(id), Some(h)) => format!("baseline {id} ({h})"),
        _ => "no approved baseline yet".into(),
    }
}

pub(super) async fn drift(State(st): State<AppState>, v: Viewer) -> Response {
    let svc = st.service.clone();
    let loaded = blocking(move || {
        let drifts = svc.drift_list(DriftFilter {
            status: Some("open".into()),
            target: None,
            env: None,
            limit: 500,
        })?;
        Ok((drifts, svc.sources()?))
    })
    .await;
    let (drifts, sources) = match loaded {
        Ok(x) => x,
        Err(e) => return api_error_page(Some(&v), e, "/ui/changes"),
    };
    let t = DriftPage {
        page: Page::new(Some(&v), "drift", "Drift"),
        drifts: drifts
            .into_iter()
            .map(|d| DriftRow {
                baseline: baseline_text(d.baseline_id, d.baseline_hash.as_deref()),
                id: d.id,
                target: d.target,
                env: d.env,
                kind: d.kind,
                first_seen: Time::of(d.first_seen),
            })
            .collect(),
        sources: sources
            .into_iter()
            .map(|s| SourceRow {
                health: match s.up {
                    Some(true) => "up".into(),
                    Some(false) => format!(
                        "DOWN ({} failures{})",
                        s.consecutive_failures,
                        s.last_error
                            .as_deref()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    ),
                    None => "not polled yet".into(),
                },
                target: s.target,
                env: s.env,
                source: s.source,
                last_success: s.last_success.map(Time::of),
            })
            .collect(),
    };
    html(StatusCode::OK, &t)
}

#[derive(Template)]
#[template(path = "drift_one.html")]
pub(super) struct DriftOnePage {
    page: Page,
    d: crate::service::drift::DriftView,
    first_seen: Time,
    last_seen: Time,
    baseline: String,
    target: Option<TargetSection>,
    findings: Vec<FindingRow>,
}

pub(super) async fn drift_one(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
) -> Response {
    let svc = st.service.clone();
    let d = match blocking(move || svc.drift_show(id)).await {
        Ok(d) => d,
        Err(e) => return api_error_page(Some(&v), e, "/ui/drift"),
    };
    let entries: Vec<DiffRow> = d.diff.iter().flatten().map(view::diff_row).collect();
    let unified: Vec<UniLine> = view::unified_lines(d.unified_diff.as_deref().unwrap_or(""));
    let t = DriftOnePage {
        page: Page::new(
            Some(&v),
            "drift",
            format!("Drift {}: {} in {}", d.id, d.target, d.env),
        ),
        first_seen: Time::of(d.first_seen),
        last_seen: Time::of(d.last_seen),
        baseline: baseline_text(d.baseline_id, d.baseline_hash.as_deref()),
        target: Some(TargetSection {
            name: d.target.clone(),
            kind: String::new(),
            format: d.format.clone(),
            status: d.status.clone(),
            entries,
            unified,
            old_label: "Baseline",
            new_label: "Live",
            empty: "No semantic difference: only volatile lines (timestamps, counters) differ.",
        }),
        findings: view::findings(&d.findings),
        d,
    };
    html(StatusCode::OK, &t)
}

/// The baseline to roll back to, secrets masked, as a download.
pub(super) async fn drift_baseline(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
) -> Response {
    let svc = st.service.clone();
    match blocking(move || svc.drift_baseline_masked(id)).await {
        Ok((name, text)) => {
            let name: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            (
                [
                    (
                        header::CONTENT_TYPE,
                        "text/plain; charset=utf-8".to_string(),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                ],
                text,
            )
                .into_response()
        }
        Err(e) => api_error_page(Some(&v), e, &format!("/ui/drift/{id}")),
    }
}
