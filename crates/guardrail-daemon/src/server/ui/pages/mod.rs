//! The pages and form actions of the web UI. Each handler reads through the service (the same
//! calls as the API) and renders a template; each form action checks the session's CSRF token,
//! calls the service operation as the signed-in user, and answers 303 to the page it came from
//! (or the page with the service's refusal, under the status the API would use).

mod changes;
mod drift;
mod records;
mod signin;

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::CookieJar;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

use super::view::{self, DiffRow, FindingRow, TargetSection, Time, UniLine};
use super::{LOGIN_COOKIE, SESSION_COOKIE, Viewer, cookie, html, safe_next, status_of};
use crate::server::http::{ApiError, AppState, blocking};
use crate::service::ServiceError;
use crate::service::api::*;
use crate::service::sessions::{SignIn, same_token};
use guardrail_core::change::State as ChangeState;
use guardrail_core::change::WindowKind;
use guardrail_store::{ChangeFilter, DriftFilter, Role};

/// Every route of the UI (merged into the daemon's router; security headers on all of them).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/changes") }))
        .route("/ui/", get(|| async { Redirect::to("/ui/changes") }))
        .route("/ui/static/app.css", get(css))
        .route("/ui/static/app.js", get(js))
        .route("/ui/login", get(signin::login_page).post(signin::login))
        .route("/ui/logout", post(signin::logout))
        .route("/ui/changes", get(changes::changes))
        .route("/ui/changes/{id}", get(changes::change))
        .route("/ui/changes/{id}/decision", post(changes::decide))
        .route("/ui/changes/{id}/schedule", post(changes::schedule))
        .route("/ui/changes/{id}/break-glass", post(changes::break_glass))
        .route("/ui/changes/{id}/cancel", post(changes::cancel))
        .route("/ui/drift", get(drift::drift))
        .route("/ui/drift/{id}", get(drift::drift_one))
        .route("/ui/drift/{id}/baseline", get(drift::drift_baseline))
        .route(
            "/ui/freezes",
            get(records::freezes).post(records::create_freeze),
        )
        .route("/ui/freezes/{id}/lift", post(records::lift_freeze))
        .route("/ui/retros", get(records::retros))
        .route("/ui/retros/{id}/close", post(records::close_retro))
        .route("/ui/audit", get(records::audit))
        .layer(axum::middleware::from_fn(super::security_headers))
}

/// What every page shows around its content.
pub struct Page {
    pub title: String,
    pub user: Option<String>,
    pub csrf: String,
    pub nav: &'static str,
    pub flash: Option<String>,
    pub error: Option<String>,
}

impl Page {
    fn new(v: Option<&Viewer>, nav: &'static str, title: impl Into<String>) -> Page {
        Page {
            title: title.into(),
            user: v.map(|v| v.identity.user.clone()),
            csrf: v.map(|v| v.csrf.clone()).unwrap_or_default(),
            nav,
            flash: None,
            error: None,
        }
    }

    fn with_flash(mut self, done: Option<&str>) -> Page {
        self.flash = done.and_then(flash_text).map(str::to_string);
        self
    }
}

/// The message after an action (`?done=`): a fixed text per action, never the query's text.
fn flash_text(done: &str) -> Option<&'static str> {
    Some(match done {
        "approve" => "Approved. Your approval counts for the content hash shown below.",
        "reject" => "Rejected. The change cannot proceed until it is revised.",
        "schedule" => "Scheduled.",
        "break-glass" => {
            "Break-glass recorded: the gates are overridden and a retro review is open."
        }
        "cancel" => "Cancelled.",
        "freeze" => "Freeze created.",
        "lift" => "Freeze lifted.",
        "close" => "Retro review closed.",
        _ => return None,
    })
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    page: Page,
    back: String,
}

/// A page that says what went wrong, with its status.
pub fn error_page(v: Option<&Viewer>, status: StatusCode, msg: &str, back: &str) -> Response {
    let mut page = Page::new(v, "", status.canonical_reason().unwrap_or("Error"));
    page.error = Some(msg.to_string());
    html(
        status,
        &ErrorPage {
            page,
            back: back.to_string(),
        },
    )
}

/// A service error as a page, under the status the API answers it with.
pub fn api_error_page(v: Option<&Viewer>, e: ApiError, back: &str) -> Response {
    let (status, msg) = status_of(e);
    error_page(v, status, &msg, back)
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../../../../static/app.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../../../../static/app.js"),
    )
        .into_response()
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

/// Runs one form action as the viewer: CSRF first, then the service call; 303 to `back` with
/// `?done=WHAT`, or the refusal as a page.
async fn act<T: Send + 'static>(
    v: Viewer,
    csrf: &str,
    back: String,
    done: &str,
    f: impl FnOnce(&guardrail_store::Identity) -> Result<T, ServiceError> + Send + 'static,
) -> Response {
    if let Some(r) = v.refuse_form(csrf) {
        return r;
    }
    let who = v.identity.clone();
    match blocking(move || f(&who)).await {
        Ok(_) => Redirect::to(&format!("{back}?done={done}")).into_response(),
        Err(e) => api_error_page(Some(&v), e, &back),
    }
}

/// A `datetime-local` value (no zone) read as UTC, as the form's label says; RFC 3339 too.
fn utc_input(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
                .ok()
                .map(|n| n.and_utc())
        })
}

#[derive(Deserialize)]
struct NoteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_times_are_read_as_utc() {
        let t = utc_input("2026-12-08T22:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-08T22:00:00+00:00");
        let t = utc_input("2026-12-08T23:00:00+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-08T22:00:00+00:00");
        assert!(utc_input("tomorrow").is_none());
    }

    #[test]
    fn flash_messages_are_fixed_texts() {
        assert!(flash_text("approve").is_some());
        assert!(flash_text("<script>").is_none());
    }
}
