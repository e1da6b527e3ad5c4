//! The drift routes: `GET /v1/drift` (filter open / resolved, target, env), `GET
//! /v1/drift/{id}` (with the redacted diff), `POST /v1/drift/{id}/adopt` (a change with the
//! drifted content, through the normal gates) and `GET /v1/drift/sources` (source health). Reading
//! needs any valid token; adopting needs the requester role.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::http::{ApiError, ApiJson, ApiResult, AppState, Auth, blocking};
use crate::service::api::{ChangeView, ErrorBody};
use crate::service::drift::{AdoptBody, DriftView, SourceView};
use guardrail_store::DriftFilter;

/// The drift routes, merged into the daemon's router.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_drift))
        .routes(routes!(show_drift))
        .routes(routes!(adopt_drift))
        .routes(routes!(list_sources))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct DriftQuery {
    /// `open` or `resolved` (default both).
    status: Option<String>,
    target: Option<String>,
    env: Option<String>,
    /// At most this many, newest first (default 100, max 1000).
    limit: Option<u32>,
}

/// Drifts, newest first: live configs that differ from their baseline without an approved
/// change (`unstaged_push`) or that do not show an applied change (`verification_failed`).
/// Any role.
#[utoipa::path(get, path = "/v1/drift", params(DriftQuery),
    responses((status = 200, body = Vec<DriftView>), (status = 422, body = ErrorBody)))]
async fn list_drift(
    State(st): State<AppState>,
    Auth(_who): Auth,
    Query(q): Query<DriftQuery>,
) -> ApiResult<Vec<DriftView>> {
    let svc = st.service.clone();
    let f = DriftFilter {
        status: q.status,
        target: q.target,
        env: q.env,
        limit: q.limit.unwrap_or(100),
    };
    blocking(move || svc.drift_list(f)).await.map(Json)
}

/// One drift with its redacted semantic and unified diff, the findings the drifted content
/// raises, and the baseline to roll back to. Any role.
#[utoipa::path(get, path = "/v1/drift/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = DriftView), (status = 404, body = ErrorBody)))]
async fn show_drift(
    State(st): State<AppState>,
    Auth(_who): Auth,
    Path(id): Path<i64>,
) -> ApiResult<DriftView> {
    let svc = st.service.clone();
    blocking(move || svc.drift_show(id)).await.map(Json)
}

/// Adopt an open drift (role requester): submits a change with the drifted content, which
/// goes through the normal gates. When it is approved and may be applied, the next poll
/// records it as applied and the drift resolves.
#[utoipa::path(post, path = "/v1/drift/{id}/adopt", params(("id" = i64, Path)), request_body = AdoptBody,
    responses((status = 201, body = ChangeView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn adopt_drift(
    State(st): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<AdoptBody>,
) -> Result<(StatusCode, Json<ChangeView>), ApiError> {
    let svc = st.service.clone();
    let v = blocking(move || svc.adopt(&who, id, body)).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// Every polled source and its health. Any role.
#[utoipa::path(get, path = "/v1/drift/sources", responses((status = 200, body = Vec<SourceView>)))]
async fn list_sources(State(st): State<AppState>, Auth(_who): Auth) -> ApiResult<Vec<SourceView>> {
    let svc = st.service.clone();
    blocking(move || svc.sources()).await.map(Json)
}
