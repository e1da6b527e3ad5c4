//! The routes of the API. Each handler is annotated for the OpenAPI document, which is
//! generated from these annotations and the body types (`service::api`), so it cannot drift
//! from the real routes. Roles: reading needs any valid token; the role each write needs is in
//! its description (admins hold every role).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::http::{ApiError, ApiJson, ApiResult, AppState, Auth, blocking};
use crate::service::api::*;
use guardrail_core::change::State as ChangeState;
use guardrail_store::{ChangeFilter, Role};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "guardrail",
        description = "Change requests, approval gates, staging proof, windows, break-glass and the audit log of guardrail's daemon."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every route of the daemon, with its OpenAPI description.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(evaluate))
        .routes(routes!(list_changes, submit_change))
        .routes(routes!(show_change))
        .routes(routes!(revise_change))
        .routes(routes!(add_approval))
        .routes(routes!(schedule_change))
        .routes(routes!(report_applied))
        .routes(routes!(report_verified))
        .routes(routes!(report_rolled_back))
        .routes(routes!(cancel_change))
        .routes(routes!(break_glass))
        .routes(routes!(gate))
        .routes(routes!(list_freezes, create_freeze))
        .routes(routes!(lift_freeze))
        .routes(routes!(list_retros))
        .routes(routes!(close_retro))
        .routes(routes!(audit_log))
        .routes(routes!(audit_verify))
        .routes(routes!(audit_head))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .merge(super::drift_routes::router())
}

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/healthz", security(()), responses((status = 200, description = "alive")))]
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: started, store reachable, not shutting down (503 from the moment shutdown
/// begins). The body says the process's role among those on one store (`role: leader` or
/// `role: follower`; with SQLite always `leader`).
#[utoipa::path(get, path = "/readyz", security(()), responses((status = 200, description = "ready"), (status = 503, description = "not ready")))]
async fn readyz(State(st): State<AppState>) -> Response {
    if !st.ready.load(std::sync::atomic::Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting or stopping\n").into_response();
    }
    let svc = st.service.clone();
    let role = if st.service.store.is_leader() {
        "leader"
    } else {
        "follower"
    };
    match tokio::task::spawn_blocking(move || svc.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, format!("ready\nrole: {role}\n")).into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response(),
    }
}

/// Prometheus metrics: OpenMetrics when the scraper asks for it, else the classic text format.
#[utoipa::path(get, path = "/metrics", security(()), responses((status = 200, description = "metrics", content_type = "text/plain")))]
async fn metrics(State(st): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let svc = st.service.clone();
    let _ = tokio::task::spawn_blocking(move || svc.refresh_gauges()).await;
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    if openmetrics {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            st.service.metrics.encode(),
        )
            .into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            st.service.metrics.encode_text(),
        )
            .into_response()
    }
}

/// Stateless evaluation of one change (what `guardrail check` does), any role.
#[utoipa::path(post, path = "/v1/evaluate", request_body = EvaluateBody,
    responses((status = 200, description = "the report, as `check --output json`", body = Object), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, description = "every evaluation slot taken and the queue full (Retry-After)", body = ErrorBody)))]
async fn evaluate(
    State(st): State<AppState>,
    Auth(_who): Auth,
    ApiJson(body): ApiJson<EvaluateBody>,
) -> Result<Response, ApiError> {
    // CPU work of a few hundred microseconds, with no store access except a read of the
    // environment's baselines for fan-in rules once per store write (`Service::evaluate`): run
    // on the worker thread (started with the stack CEL needs) instead of paying two thread
    // hand-offs on the blocking pool, which cost more than the evaluation under load. Only a
    // large one, or one that must wait for an evaluation slot, goes to the blocking pool.
    st.service.check_evaluate(&body).map_err(ApiError::from)?;
    let big = body.old.as_ref().map_or(0, String::len) + body.new.as_ref().map_or(0, String::len)
        > 256 * 1024;
    let permit = if big {
        None
    } else {
        st.service.try_eval_permit()
    };
    let json = match permit {
        Some(_permit) => st.service.evaluate(&body).map_err(ApiError::from)?,
        None => {
            let svc = st.service.clone();
            blocking(move || {
                let _permit = svc.eval_permit()?;
                svc.evaluate(&body)
            })
            .await?
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Lifecycle state (e.g. awaiting_approval).
    state: Option<String>,
    env: Option<String>,
    target: Option<String>,
    /// At most this many, newest first (default 100, max 1000).
    limit: Option<u32>,
}

/// List changes, newest first; any role.
#[utoipa::path(get, path = "/v1/changes", params(ListQuery), responses((status = 200, body = Vec<ChangeView>)))]
async fn list_changes(
    State(st): State<AppState>,
    Auth(_who): Auth,
    Query(q): Query<ListQuery>,
) -> ApiResult<Vec<ChangeView>> {
    let state = match &q.state {
        Some(s) => Some(ChangeState::from_name(s).ok_or_else(|| {
            let mut e = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("unknown state `{s}`"),
            );
            e.body.field = Some("state".into());
            e
        })?),
        None => None,
    };
    let svc = st.service.clone();
    let f = ChangeFilter {
        state,
        env: q.env,
        target: q.target,
        limit: q.limit.unwrap_or(100),
    };
    blocking(move || svc.list(f)).await.map(Json)
}

/// Submit a change (role requester): parsed, diffed against the baselines, evaluated.
#[utoipa::path(post, path = "/v1/changes", request_body = SubmitChange,
    responses((status = 201, body = ChangeView), (status = 422, body = ErrorBody)))]
async fn submit_change(
    State(st): State<AppState>,
    Auth(who): Auth,
    ApiJson(body): ApiJson<SubmitChange>,
) -> Result<(StatusCode, Json<ChangeView>), ApiError> {
    let svc = st.service.clone();
    let v = blocking(move || svc.submit(&who, body)).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// Show a change with its gate and full evaluation; any role.
#[utoipa::path(get, path = "/v1/changes/{id}", params(("id" = i64, Path)), responses((status = 200, body = ChangeView), (status = 404, body = ErrorBody)))]
async fn show_change(
    State(st): State<AppState>,
    Auth(_who): Auth,
    Path(id): Path<i64>,
) -> ApiResult<ChangeView> {
    let svc = st.service.clone();
    blocking(move || svc.show(id, true)).await.map(Json)
}

/// New revision (role requester; the author or an admin): approvals are voided.
#[utoipa::path(post, path = "/v1/changes/{id}/revisions", params(("id" = i64, Path)), request_body = ReviseChange,
    responses((status = 200, body = ChangeView), (status = 409, body = ErrorBody)))]
async fn revise_change(
    State(st): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<ReviseChange>,
) -> ApiResult<ChangeView> {
    let svc = st.service.clone();
    blocking(move || svc.revise(&who, id, body)).await.map(Json)
}

/// Approve or reject (role approver) the content hash you reviewed; 409 if it moved.
#[utoipa::path(post, path = "/v1/changes/{id}/approvals", params(("id" = i64, Path)), request_body = ApprovalBody,
    responses((status = 200, body = ChangeView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn add_approval(
    State(st): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<ApprovalBody>,
) -> ApiResult<ChangeView> {
    let svc = st.service.clone();
    blocking(move || svc.approve(&who, id, body))
        .await
        .map(Json)
}

/// Schedule an approved change into an open window (role requester).
#[utoipa::path(post, path = "/v1/changes/{id}/schedule", params(("id" = i64, Path)), request_body = ScheduleBody,
    responses((status = 200, body = ChangeView), (status = 409, body = ErrorBody)))]
async fn schedule_change(
    State(st): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<ScheduleBody>,
) -> ApiResult<ChangeView> {
    let svc = st.service.clone();
    blocking(move || svc.schedule(&who, id, body))
        .await
        .map(Json)
}

/// Report the change applied (role deployer); refused unless the gate allows it now. The
/// baselines move.
#[utoipa::path(post, path = "/v1/changes/{id}/applied", params(("id" = i64, Path)), request_body = NoteBody,
    responses((status = 200, body = ChangeView), (status = 409, body = ErrorBody)))]
async fn report_applied(
    State(st): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<NoteBody>,
) -> ApiResult<ChangeView> {
    let svc = st.service.clone();
    blocking(move || svc.applied(&who, id, body))
        .await
        .map(Json)
}

/// Report the applied change verified live (role deployer).
#[utoipa::path(post, path = "/v1/changes/{id}/verified", params(("id" = i64, Path)), request_body = NoteBody,
    responses((status = 200, body = ChangeView), (status = 409, body = ErrorBody)))]
async fn report_verified(
    State(st): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<NoteBody>,
) -> ApiResult<ChangeView> {
    let svc = st.service.clone();
    blocking(move || svc.verified(&who, id, body))
        .await
        .map(Json)
}

/// Report the change rolled back (role deployer): the previous baseline is restored.
#[utoipa::path(post, path = "/v1/changes/{id}/rolled_back", params(("id" = i64, Path)), request_body = NoteBody,
    responses((status = 200, body = ChangeView), (status = 409, body = ErrorBody)))]
async fn report_rolled_back(
    State(st): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<NoteBody>,
) -> ApiResult<ChangeView> {
    let svc = st.service.clone();
    blocking(move || svc.rolled_back(&who, id, body))
        .await
        .map(Json)
}

/// Cancel a change not yet applied (role requester; the author or an admin).
#[utoipa::path(post, path = "/v1/changes/{id}/cancel", params(("id" = i64, Path)), request_body = NoteBody,
    responses((status = 200, body = ChangeView), (status = 409, body = ErrorBody)))]
async fn cancel_change(
    State(st): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<NoteBody>,
) -> ApiResult<ChangeView> {
    let svc = st.service.clone();
    blocking(move || svc.cancel(&who, id, body)).await.map(Json)
}

/// Break-glass (role breakglass): passes every gate, mandatory findings included; recorded,
/// counted, and opens a retro review.
#[utoipa::path(post, path = "/v1/changes/{id}/break-glass", params(("id" = i64, Path)), request_body = BreakGlassBody,
    responses((status = 200, body = ChangeView), (status = 422, body = ErrorBody)))]
async fn break_glass(
    State(st): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<BreakGlassBody>,
) -> ApiResult<ChangeView> {
    let svc = st.service.clone();
    blocking(move || svc.break_glass(&who, id, body))
        .await
        .map(Json)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct GateQuery {
    target: String,
    env: String,
    /// Content hash of what the deploy job is about to push (`guardrail hash FILE`).
    hash: String,
}

/// May this content be pushed now? For deploy jobs (any role): allow or deny with reasons.
#[utoipa::path(get, path = "/v1/gate", params(GateQuery), responses((status = 200, body = GateAnswer)))]
async fn gate(
    State(st): State<AppState>,
    Auth(_who): Auth,
    Query(q): Query<GateQuery>,
) -> ApiResult<GateAnswer> {
    let svc = st.service.clone();
    blocking(move || svc.gate(&q.target, &q.env, &q.hash))
        .await
        .map(Json)
}

/// Freezes in force or to come; any role.
#[utoipa::path(get, path = "/v1/freezes", responses((status = 200, body = Vec<FreezeView>)))]
async fn list_freezes(State(st): State<AppState>, Auth(_who): Auth) -> ApiResult<Vec<FreezeView>> {
    let svc = st.service.clone();
    blocking(move || svc.freezes()).await.map(Json)
}

/// Freeze an environment's targets (role admin).
#[utoipa::path(post, path = "/v1/freezes", request_body = FreezeBody, responses((status = 201, body = FreezeView)))]
async fn create_freeze(
    State(st): State<AppState>,
    Auth(who): Auth,
    ApiJson(body): ApiJson<FreezeBody>,
) -> Result<(StatusCode, Json<FreezeView>), ApiError> {
    let svc = st.service.clone();
    let v = blocking(move || svc.freeze(&who, body)).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// Lift a freeze (role admin).
#[utoipa::path(delete, path = "/v1/freezes/{id}", params(("id" = i64, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn lift_freeze(
    State(st): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let svc = st.service.clone();
    blocking(move || svc.lift_freeze(&who, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct RetroQuery {
    /// Only reviews not closed yet.
    open: Option<bool>,
}

/// Break-glass retro reviews; `overdue` once past their due time. Any role.
#[utoipa::path(get, path = "/v1/retro-reviews", params(RetroQuery), responses((status = 200, body = Vec<RetroView>)))]
async fn list_retros(
    State(st): State<AppState>,
    Auth(_who): Auth,
    Query(q): Query<RetroQuery>,
) -> ApiResult<Vec<RetroView>> {
    let svc = st.service.clone();
    blocking(move || svc.retros(q.open.unwrap_or(false)))
        .await
        .map(Json)
}

/// Close a retro review with its findings (role approver).
#[utoipa::path(post, path = "/v1/retro-reviews/{id}/close", params(("id" = i64, Path)), request_body = CloseRetroBody, responses((status = 204), (status = 404, body = ErrorBody)))]
async fn close_retro(
    State(st): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<CloseRetroBody>,
) -> Result<StatusCode, ApiError> {
    let svc = st.service.clone();
    blocking(move || svc.close_retro(&who, id, body)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// Records after this id (default 0).
    after: Option<i64>,
    /// At most this many (default 100, max 1000).
    limit: Option<u32>,
}

/// The audit log (role admin).
#[utoipa::path(get, path = "/v1/audit", params(AuditQuery), responses((status = 200, body = Vec<AuditRecordView>)))]
async fn audit_log(
    State(st): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Vec<AuditRecordView>> {
    let svc = st.service.clone();
    blocking(move || svc.audit_log_as(&who, q.after.unwrap_or(0), q.limit.unwrap_or(100)))
        .await
        .map(Json)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct VerifyQuery {
    /// A head published earlier (`SEQ:HASH`) the log must still contain.
    expect_head: Option<String>,
}

/// Verify the audit log's chain: links, MACs under the audit key, and an anchor when given
/// (role admin).
#[utoipa::path(get, path = "/v1/audit/verify", params(VerifyQuery), responses((status = 200, body = AuditVerifyView), (status = 422, body = ErrorBody)))]
async fn audit_verify(
    State(st): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<VerifyQuery>,
) -> ApiResult<AuditVerifyView> {
    crate::service::require(&who, Role::Admin)?;
    let anchor = match &q.expect_head {
        Some(h) => Some(
            h.parse::<guardrail_core::change::audit::Anchor>()
                .map_err(|e| {
                    let mut err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e);
                    err.body.field = Some("expect_head".into());
                    err
                })?,
        ),
        None => None,
    };
    let svc = st.service.clone();
    blocking(move || svc.verify_audit(anchor.as_ref()))
        .await
        .map(Json)
}

/// The newest audit record, `SEQ:HASH`: pin it outside the store and pass it to `guardrail
/// audit verify --expect-head` later. Any role.
#[utoipa::path(get, path = "/v1/audit/head", responses((status = 200, body = AuditHeadView)))]
async fn audit_head(State(st): State<AppState>, Auth(_who): Auth) -> ApiResult<AuditHeadView> {
    let svc = st.service.clone();
    let h = blocking(move || svc.audit_head()).await?;
    Ok(Json(AuditHeadView {
        head: h.as_ref().map(|h| h.to_string()),
        seq: h.as_ref().map_or(0, |h| h.id),
        hash: h.map(|h| h.hash),
    }))
}

/// Stored API tokens: id, user, roles, created, expires, last used (never the token; role
/// admin).
#[utoipa::path(get, path = "/v1/tokens", responses((status = 200, body = Vec<TokenView>)))]
async fn list_tokens(State(st): State<AppState>, Auth(who): Auth) -> ApiResult<Vec<TokenView>> {
    let svc = st.service.clone();
    blocking(move || svc.tokens_as(&who)).await.map(Json)
}

/// Create a token (role admin); the answer is the only time it is shown.
#[utoipa::path(post, path = "/v1/tokens", request_body = TokenCreateBody, responses((status = 201, body = TokenCreated), (status = 422, body = ErrorBody)))]
async fn create_token(
    State(st): State<AppState>,
    Auth(who): Auth,
    ApiJson(body): ApiJson<TokenCreateBody>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    let svc = st.service.clone();
    let t = blocking(move || svc.create_token_as(&who, body)).await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// Revoke a token (role admin): refused from its next request on.
#[utoipa::path(delete, path = "/v1/tokens/{id}", params(("id" = i64, Path)), responses((status = 200, body = TokenView), (status = 404, body = ErrorBody)))]
async fn revoke_token(
    State(st): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<i64>,
) -> ApiResult<TokenView> {
    let svc = st.service.clone();
    blocking(move || svc.revoke_token_as(&who, id))
        .await
        .map(Json)
}
