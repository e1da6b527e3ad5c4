//! HTTP plumbing shared by every route: the state, bearer-token authentication, JSON bodies
//! with field-precise errors, error responses, and the middleware that gives each request an
//! id, a log line and its metrics (labelled by route template, never by raw URI).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::metrics::{RouteLabels, RouteTiming};
use crate::service::api::ErrorBody;
use crate::service::{Service, ServiceError};
use guardrail_store::Identity;

/// The per-token request rate limit (governor's GCRA, keyed by the token's hash).
pub type RateLimiter = governor::DefaultKeyedRateLimiter<String>;

#[derive(Clone)]
pub struct AppState {
    pub service: Arc<Service>,
    /// False until start-up finished and from the moment shutdown begins (`/readyz`).
    pub ready: Arc<AtomicBool>,
    /// `None`: no rate limit (`server.rate_limit: 0`).
    pub limiter: Option<Arc<RateLimiter>>,
    /// The web UI's settings (trusted proxies, sessions, public address).
    pub ui: Arc<super::ui::UiConfig>,
}

/// An error answered as JSON.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    /// Seconds for `Retry-After` (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                error: error.into(),
                field: None,
                reasons: Vec::new(),
            },
            retry_after: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string())
        {
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        r
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let (status, field, reasons) = match &e {
            ServiceError::Unauthorized => (StatusCode::UNAUTHORIZED, None, Vec::new()),
            ServiceError::Forbidden(_) => (StatusCode::FORBIDDEN, None, Vec::new()),
            ServiceError::NotFound(_) => (StatusCode::NOT_FOUND, None, Vec::new()),
            ServiceError::Conflict { reasons, .. } => (StatusCode::CONFLICT, None, reasons.clone()),
            ServiceError::Unprocessable { field, .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, field.clone(), Vec::new())
            }
            ServiceError::TooLarge { field, .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, field.clone(), Vec::new())
            }
            ServiceError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, None, Vec::new()),
            ServiceError::Store(err) => {
                tracing::error!(error = %err, "store error");
                (StatusCode::SERVICE_UNAVAILABLE, None, Vec::new())
            }
        };
        let retry_after = match &e {
            ServiceError::Busy { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        ApiError {
            status,
            body: ErrorBody {
                error: e.to_string(),
                field,
                reasons,
            },
            retry_after,
        }
    }
}

pub type ApiResult<T> = Result<Json<T>, ApiError>;

/// Runs a service call on the blocking pool (the store and the policy engine are synchronous).
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => {
            tracing::error!(error = %e, "request task failed");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; see the daemon log",
            ))
        }
    }
}

/// The caller, from `Authorization: Bearer <token>`.
pub struct Auth(pub Identity);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "missing bearer token (Authorization: Bearer <token>)",
                )
            })?
            .to_string();
        let service = state.service.clone();
        let key = crate::service::token_hash(&token);
        let id = match service.cached_identity(&token) {
            Some(id) => id,
            None => blocking(move || service.authenticate(&token)).await?,
        };
        if let Some(limiter) = &state.limiter
            && let Err(not_until) = limiter.check_key(&key)
        {
            use governor::clock::Clock;
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            state.service.metrics.limits.rate_limited.inc();
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "rate limit of this token exceeded (server.rate_limit); retry in {} ms",
                    wait.as_millis().max(1)
                ),
            );
            e.retry_after = Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
            return Err(e);
        }
        Ok(Auth(id))
    }
}

/// A JSON body: malformed JSON is 400, a wrong or unknown field is 422 naming the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send a JSON body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            ApiError::new(
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    StatusCode::BAD_REQUEST
                },
                e.body_text(),
            )
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Deserializes a body; syntax errors are 400, data errors 422 with the field path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("malformed JSON: {inner}"),
                ))
            } else {
                let mut err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, inner.to_string());
                // For an unknown or missing field the path stops at its parent; name the field.
                let msg = inner.to_string();
                let named = msg.split('`').nth(1).filter(|_| {
                    msg.starts_with("unknown field") || msg.starts_with("missing field")
                });
                err.body.field = Some(match (path.as_str(), named) {
                    (".", Some(f)) => f.to_string(),
                    (p, Some(f)) if !p.ends_with(f) => format!("{p}.{f}"),
                    (p, _) => p.to_string(),
                });
                Err(err)
            }
        }
    }
}

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(1);

/// Request id, log line and metrics for every request.
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().as_str().to_string();
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| format!("req-{:x}", REQUEST_SEQ.fetch_add(1, Ordering::Relaxed)));
    let mut resp = next.run(req).await;
    let status = resp.status().as_u16();
    let secs = started.elapsed().as_secs_f64();
    let http = &state.service.metrics.http;
    http.requests
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
            status: status.to_string(),
        })
        .inc();
    http.duration
        .get_or_create(&RouteTiming {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(secs);
    if status >= 500 {
        tracing::warn!(request_id = %id, %method, %route, status, ms = secs * 1000.0, "request failed");
    } else {
        tracing::debug!(request_id = %id, %method, %route, status, ms = secs * 1000.0, "request");
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}
