//! The pages and form actions of the web UI. Each handler reads through the service (the same
//! calls as the API) and renders a template; each form action checks the session's CSRF token,
//! calls the service operation as the signed-in user, and answers 303 to the page it came from
//! (or the page with the service's refusal, under the status the API would use).

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
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
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/changes", get(changes))
        .route("/ui/changes/{id}", get(change))
        .route("/ui/changes/{id}/decision", post(decide))
        .route("/ui/changes/{id}/schedule", post(schedule))
        .route("/ui/changes/{id}/break-glass", post(break_glass))
        .route("/ui/changes/{id}/cancel", post(cancel))
        .route("/ui/drift", get(drift))
        .route("/ui/drift/{id}", get(drift_one))
        .route("/ui/drift/{id}/baseline", get(drift_baseline))
        .route("/ui/freezes", get(freezes).post(create_freeze))
        .route("/ui/freezes/{id}/lift", post(lift_freeze))
        .route("/ui/retros", get(retros))
        .route("/ui/retros/{id}/close", post(close_retro))
        .route("/ui/audit", get(audit))
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
        include_str!("../../../static/app.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../../../static/app.js"),
    )
        .into_response()
}

// --- sign-in ------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Page,
    next: String,
    sso: bool,
}

#[derive(Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

/// 32 random bytes in hex; `None` when the system has no randomness to give.
fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(hex::encode(bytes))
}

/// The sign-in form, with a CSRF token of its own (a cookie for `/ui`, the same value in the
/// form).
async fn login_page(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let Some(csrf) = random_token() else {
        return error_page(
            None,
            StatusCode::SERVICE_UNAVAILABLE,
            "no randomness available; try again",
            "/ui/login",
        );
    };
    let mut page = Page::new(None, "", "Sign in");
    page.csrf = csrf.clone();
    let secure = st
        .ui
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let jar = CookieJar::new().add(cookie(LOGIN_COOKIE, csrf, secure));
    let body = html(
        StatusCode::OK,
        &LoginPage {
            page,
            next: safe_next(&q.next),
            sso: !st.ui.trusted_proxies.is_empty(),
        },
    );
    (jar, body).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

async fn login(
    State(st): State<AppState>,
    jar: CookieJar,
    req_parts: axum::extract::Request,
) -> Response {
    let (parts, body) = req_parts.into_parts();
    let secure = st.ui.secure(&parts);
    let form: LoginForm = match axum::body::to_bytes(body, 64 * 1024)
        .await
        .ok()
        .and_then(|b| serde_urlencoded::from_bytes(&b).ok())
    {
        Some(f) => f,
        None => {
            return error_page(
                None,
                StatusCode::BAD_REQUEST,
                "The sign-in form could not be read.",
                "/ui/login",
            );
        }
    };
    let expected = jar.get(LOGIN_COOKIE).map(|c| c.value().to_string());
    if form.csrf.is_empty() || !expected.is_some_and(|e| same_token(&e, &form.csrf)) {
        return error_page(
            None,
            StatusCode::FORBIDDEN,
            "This sign-in form's security token is missing or stale. Open the sign-in page again.",
            "/ui/login",
        );
    }
    let svc = st.service.clone();
    let ttl = st.ui.session_ttl;
    let token = form.token.trim().to_string();
    match blocking(move || svc.sign_in(SignIn::Token(&token), ttl)).await {
        Ok((id, _)) => {
            let jar = jar
                .remove(cookie(LOGIN_COOKIE, String::new(), secure))
                .add(cookie(SESSION_COOKIE, id, secure));
            (jar, Redirect::to(&safe_next(&form.next))).into_response()
        }
        Err(e) => {
            let (status, _) = status_of(e);
            let mut page = Page::new(None, "", "Sign in");
            page.csrf = expected_or_new(&jar);
            page.error = Some(if status == StatusCode::UNAUTHORIZED {
                "That token is not valid: unknown, revoked or expired.".into()
            } else {
                "Signing in failed; try again.".into()
            });
            html(
                status,
                &LoginPage {
                    page,
                    next: safe_next(&form.next),
                    sso: !st.ui.trusted_proxies.is_empty(),
                },
            )
        }
    }
}

fn expected_or_new(jar: &CookieJar) -> String {
    jar.get(LOGIN_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default()
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(st): State<AppState>,
    v: Viewer,
    jar: CookieJar,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(r) = v.refuse_form(&f.csrf) {
        return r;
    }
    let svc = st.service.clone();
    let (c, who) = (v.cookie.clone(), v.identity.clone());
    if let Err(e) = blocking(move || svc.sign_out(&c, &who)).await {
        return api_error_page(Some(&v), e, "/ui/changes");
    }
    // Removed from the request's jar, so the answer carries the expired cookie.
    let jar = jar.remove(cookie(SESSION_COOKIE, String::new(), false));
    (jar, Redirect::to("/ui/login")).into_response()
}

// --- changes ------------------------------------------------------------------------------

struct ChangeRow {
    id: i64,
    title: String,
    state: String,
    env: String,
    targets: String,
    author: String,
    created: Time,
    age: String,
    needs: String,
}

#[derive(Default, Deserialize)]
struct ChangesQuery {
    #[serde(default)]
    env: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    author: String,
    #[serde(default)]
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "changes.html")]
struct ChangesPage {
    page: Page,
    filter: ChangesQuery,
    envs: Vec<String>,
    states: Vec<String>,
    rows: Vec<ChangeRow>,
}

async fn changes(State(st): State<AppState>, v: Viewer, Query(q): Query<ChangesQuery>) -> Response {
    let mut page = Page::new(Some(&v), "changes", "Changes").with_flash(q.done.as_deref());
    let rt = st.service.runtime();
    let envs: Vec<String> = rt.settings.envs.keys().cloned().collect();
    let states: Vec<String> = ChangeState::ALL
        .iter()
        .map(|s| s.name().to_string())
        .collect();
    let state = if q.state.is_empty() {
        None
    } else {
        match ChangeState::from_name(&q.state) {
            Some(s) => Some(s),
            None => {
                page.error = Some(guardrail_core::document::names::unknown_name(
                    "state",
                    &q.state,
                    states.iter().map(String::as_str),
                ));
                return html(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &ChangesPage {
                        page,
                        filter: q,
                        envs,
                        states,
                        rows: Vec::new(),
                    },
                );
            }
        }
    };
    let f = ChangeFilter {
        state,
        env: Some(q.env.clone()).filter(|e| !e.is_empty()),
        target: Some(q.target.clone()).filter(|t| !t.is_empty()),
        limit: 200,
    };
    let svc = st.service.clone();
    let list = match blocking(move || svc.list(f)).await {
        Ok(l) => l,
        Err(e) => return api_error_page(Some(&v), e, "/ui/changes"),
    };
    let now = st.service.now();
    let rows = list
        .iter()
        .filter(|c| q.author.is_empty() || c.author == q.author)
        .map(|c| ChangeRow {
            id: c.id,
            title: c.title.clone(),
            state: c.state.clone(),
            env: c.env.clone(),
            targets: c
                .targets
                .iter()
                .map(|t| t.target.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            author: c.author.clone(),
            created: Time::of(c.created_at),
            age: view::age(c.created_at, now),
            needs: view::needs(c),
        })
        .collect();
    html(
        StatusCode::OK,
        &ChangesPage {
            page,
            filter: q,
            envs,
            states,
            rows,
        },
    )
}

struct ApprovalLine {
    user: String,
    decision: String,
    comment: String,
    at: Time,
    current: bool,
}

struct TimelineLine {
    at: Time,
    actor: String,
    action: String,
    note: String,
}

/// What the viewer may try (the service decides; these only choose the forms shown).
struct Actions {
    decide: bool,
    schedule: bool,
    break_glass: bool,
    cancel: bool,
}

fn actions(v: &Viewer, c: &ChangeView) -> Actions {
    let id = &v.identity;
    let state = ChangeState::from_name(&c.state);
    let open = state.is_some_and(|s| s.is_open());
    Actions {
        decide: id.has(Role::Approver)
            && id.user != c.author
            && state == Some(ChangeState::AwaitingApproval),
        schedule: id.has(Role::Requester) && state == Some(ChangeState::Approved),
        break_glass: id.has(Role::Breakglass) && open && c.break_glass.is_none(),
        cancel: id.has(Role::Requester) && (id.user == c.author || id.has(Role::Admin)) && open,
    }
}

#[derive(Template)]
#[template(path = "change.html")]
struct ChangePage {
    page: Page,
    c: ChangeView,
    created: Time,
    scheduled: Option<Time>,
    expires: Option<Time>,
    ticket_link: bool,
    source_link: bool,
    needs: String,
    gate_reasons: Vec<String>,
    requirements: Vec<String>,
    approvals: Vec<ApprovalLine>,
    ignored: Vec<String>,
    break_glass: Option<BreakGlassView>,
    freezes: Vec<String>,
    windows: Vec<String>,
    actions: Actions,
    targets: Vec<TargetSection>,
    findings: Vec<FindingRow>,
    timeline: Vec<TimelineLine>,
}

#[derive(Deserialize)]
struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

async fn change(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<DoneQuery>,
) -> Response {
    let svc = st.service.clone();
    let loaded = blocking(move || {
        let c = svc.show(id, true)?;
        let timeline = svc.timeline(id)?;
        let freezes = svc.freezes()?;
        Ok((c, timeline, freezes))
    })
    .await;
    let (c, timeline, freezes) = match loaded {
        Ok(x) => x,
        Err(e) => return api_error_page(Some(&v), e, "/ui/changes"),
    };
    let page = Page::new(Some(&v), "changes", format!("Change {}: {}", c.id, c.title))
        .with_flash(q.done.as_deref());
    let report = c.evaluation.clone().unwrap_or_default();
    let rt = st.service.runtime();
    let env = rt.settings.env(&c.env);
    let windows = env
        .windows
        .iter()
        .map(|w| {
            format!(
                "{} {}: cron `{}` for {} ({}){}",
                match w.kind {
                    WindowKind::Allow => "allow",
                    WindowKind::Deny => "deny",
                },
                w.name,
                w.cron_text,
                crate::service::fmt_duration(w.duration),
                w.tz,
                w.targets
                    .as_ref()
                    .map(|(g, _)| format!(", targets {g}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    let freezes = freezes
        .into_iter()
        .filter(|f| f.env == c.env)
        .map(|f| {
            format!(
                "{} (targets {}), by {}{}",
                f.reason,
                f.targets,
                f.created_by,
                f.until
                    .map(|u| format!(", until {}", Time::of(u).utc))
                    .unwrap_or_else(|| ", until lifted".into())
            )
        })
        .collect();
    let requirements = c
        .requirements
        .iter()
        .map(|r| {
            format!(
                "{} approval(s){} ({})",
                r.count,
                if r.groups.is_empty() {
                    String::new()
                } else {
                    format!(" from {}", r.groups.join(" or "))
                },
                r.source
            )
        })
        .collect();
    let approvals = c
        .approvals
        .iter()
        .map(|a| ApprovalLine {
            user: a.user.clone(),
            decision: if a.decision == "approve" {
                "approved".into()
            } else {
                "rejected".into()
            },
            comment: a.comment.clone(),
            at: Time::of(a.at),
            current: a.content_hash == c.content_hash,
        })
        .collect();
    let timeline = timeline
        .into_iter()
        .map(|r| TimelineLine {
            at: Time::of_text(&r.at),
            actor: r.actor,
            note: r
                .detail
                .get("note")
                .or_else(|| r.detail.get("comment"))
                .or_else(|| r.detail.get("reason"))
                .and_then(|n| n.as_str())
                .unwrap_or("")
                .to_string(),
            action: r.action,
        })
        .collect();
    let gate_reasons = if matches!(c.state.as_str(), "approved" | "scheduled") {
        c.gate.decision.reasons.clone()
    } else {
        Vec::new()
    };
    let t = ChangePage {
        page,
        created: Time::of(c.created_at),
        scheduled: c.scheduled_at.map(Time::of),
        expires: c.expires_at.map(Time::of),
        ticket_link: view::is_web_link(&c.ticket),
        source_link: view::is_web_link(&c.source_url),
        needs: view::needs(&c),
        gate_reasons,
        requirements,
        approvals,
        ignored: c.gate.approvals.ignored.clone(),
        break_glass: c.break_glass.clone(),
        freezes,
        windows,
        actions: actions(&v, &c),
        targets: view::target_sections(&report),
        findings: view::report_findings(&report),
        timeline,
        c,
    };
    html(StatusCode::OK, &t)
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

#[derive(Deserialize)]
struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    content_hash: String,
}

async fn decide(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<DecisionForm>,
) -> Response {
    let back = format!("/ui/changes/{id}");
    let decision = match f.decision.as_str() {
        "approve" => DecisionBody::Approve,
        "reject" => DecisionBody::Reject,
        other => {
            if let Some(r) = v.refuse_form(&f.csrf) {
                return r;
            }
            return error_page(
                Some(&v),
                StatusCode::UNPROCESSABLE_ENTITY,
                &guardrail_core::document::names::unknown_name(
                    "decision",
                    other,
                    ["approve", "reject"],
                ),
                &back,
            );
        }
    };
    let done = f.decision.clone();
    let svc = st.service.clone();
    let body = ApprovalBody {
        decision,
        comment: f.comment,
        content_hash: f.content_hash,
    };
    act(v, &f.csrf, back, &done, move |who| {
        svc.approve(who, id, body)
    })
    .await
}

#[derive(Deserialize)]
struct ScheduleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    at: String,
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

async fn schedule(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<ScheduleForm>,
) -> Response {
    let back = format!("/ui/changes/{id}");
    let Some(at) = utc_input(&f.at) else {
        if let Some(r) = v.refuse_form(&f.csrf) {
            return r;
        }
        return error_page(
            Some(&v),
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!(
                "`{}` is not a date and time such as 2026-12-08T22:00 (UTC)",
                f.at
            ),
            &back,
        );
    };
    let svc = st.service.clone();
    act(v, &f.csrf, back, "schedule", move |who| {
        svc.schedule(who, id, ScheduleBody { at })
    })
    .await
}

#[derive(Deserialize)]
struct BreakGlassForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    incident: String,
}

async fn break_glass(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<BreakGlassForm>,
) -> Response {
    let svc = st.service.clone();
    let body = BreakGlassBody {
        reason: f.reason,
        incident: f.incident,
    };
    act(
        v,
        &f.csrf,
        format!("/ui/changes/{id}"),
        "break-glass",
        move |who| svc.break_glass(who, id, body),
    )
    .await
}

#[derive(Deserialize)]
struct NoteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
}

async fn cancel(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<NoteForm>,
) -> Response {
    let svc = st.service.clone();
    let body = NoteBody { note: f.note };
    act(
        v,
        &f.csrf,
        format!("/ui/changes/{id}"),
        "cancel",
        move |who| svc.cancel(who, id, body),
    )
    .await
}

// --- drift --------------------------------------------------------------------------------

struct DriftRow {
    id: i64,
    target: String,
    env: String,
    kind: String,
    first_seen: Time,
    baseline: String,
}

struct SourceRow {
    target: String,
    env: String,
    source: String,
    health: String,
    last_success: Option<Time>,
}

#[derive(Template)]
#[template(path = "drift.html")]
struct DriftPage {
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

async fn drift(State(st): State<AppState>, v: Viewer) -> Response {
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
struct DriftOnePage {
    page: Page,
    d: crate::service::drift::DriftView,
    first_seen: Time,
    last_seen: Time,
    baseline: String,
    target: Option<TargetSection>,
    findings: Vec<FindingRow>,
}

async fn drift_one(State(st): State<AppState>, v: Viewer, Path(id): Path<i64>) -> Response {
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
async fn drift_baseline(State(st): State<AppState>, v: Viewer, Path(id): Path<i64>) -> Response {
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

// --- freezes, retro reviews, audit ----------------------------------------------------------

struct FreezeRow {
    id: i64,
    env: String,
    targets: String,
    reason: String,
    by: String,
    from: Time,
    until: Option<Time>,
}

#[derive(Template)]
#[template(path = "freezes.html")]
struct FreezesPage {
    page: Page,
    admin: bool,
    envs: Vec<String>,
    freezes: Vec<FreezeRow>,
}

async fn freezes(State(st): State<AppState>, v: Viewer, Query(q): Query<DoneQuery>) -> Response {
    let svc = st.service.clone();
    let list = match blocking(move || svc.freezes()).await {
        Ok(l) => l,
        Err(e) => return api_error_page(Some(&v), e, "/ui/changes"),
    };
    let t = FreezesPage {
        page: Page::new(Some(&v), "freezes", "Freezes").with_flash(q.done.as_deref()),
        admin: v.identity.has(Role::Admin),
        envs: st.service.runtime().settings.envs.keys().cloned().collect(),
        freezes: list
            .into_iter()
            .map(|f| FreezeRow {
                id: f.id,
                env: f.env,
                targets: f.targets,
                reason: f.reason,
                by: f.created_by,
                from: Time::of(f.from),
                until: f.until.map(Time::of),
            })
            .collect(),
    };
    html(StatusCode::OK, &t)
}

#[derive(Deserialize)]
struct FreezeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    env: String,
    #[serde(default)]
    targets: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    until: String,
}

async fn create_freeze(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<FreezeForm>,
) -> Response {
    let until = if f.until.trim().is_empty() {
        None
    } else {
        match utc_input(&f.until) {
            Some(t) => Some(t),
            None => {
                if let Some(r) = v.refuse_form(&f.csrf) {
                    return r;
                }
                return error_page(
                    Some(&v),
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!(
                        "until: `{}` is not a date and time such as 2026-12-24T08:00 (UTC)",
                        f.until
                    ),
                    "/ui/freezes",
                );
            }
        }
    };
    let svc = st.service.clone();
    let body = FreezeBody {
        env: f.env,
        targets: if f.targets.trim().is_empty() {
            "*".into()
        } else {
            f.targets
        },
        reason: f.reason,
        until,
    };
    act(v, &f.csrf, "/ui/freezes".into(), "freeze", move |who| {
        svc.freeze(who, body)
    })
    .await
}

async fn lift_freeze(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let svc = st.service.clone();
    act(v, &f.csrf, "/ui/freezes".into(), "lift", move |who| {
        svc.lift_freeze(who, id)
    })
    .await
}

struct RetroRow {
    id: i64,
    change_id: i64,
    opened_by: String,
    due: Time,
    open: bool,
    overdue: bool,
    closed_by: String,
    note: String,
}

#[derive(Template)]
#[template(path = "retros.html")]
struct RetrosPage {
    page: Page,
    retros: Vec<RetroRow>,
}

async fn retros(State(st): State<AppState>, v: Viewer, Query(q): Query<DoneQuery>) -> Response {
    let svc = st.service.clone();
    let list = match blocking(move || svc.retros(false)).await {
        Ok(l) => l,
        Err(e) => return api_error_page(Some(&v), e, "/ui/changes"),
    };
    let t = RetrosPage {
        page: Page::new(Some(&v), "retros", "Retro reviews").with_flash(q.done.as_deref()),
        retros: list
            .into_iter()
            .map(|r| RetroRow {
                id: r.id,
                change_id: r.change_id,
                opened_by: r.opened_by.unwrap_or_default(),
                due: Time::of(r.due_at),
                open: r.closed_at.is_none(),
                overdue: r.overdue,
                closed_by: r.closed_by.unwrap_or_default(),
                note: r.note.unwrap_or_default(),
            })
            .collect(),
    };
    html(StatusCode::OK, &t)
}

async fn close_retro(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<NoteForm>,
) -> Response {
    let svc = st.service.clone();
    let body = CloseRetroBody { note: f.note };
    act(v, &f.csrf, "/ui/retros".into(), "close", move |who| {
        svc.close_retro(who, id, body)
    })
    .await
}

struct AuditRow {
    id: i64,
    at: Time,
    actor: String,
    action: String,
    subject: String,
    link: Option<String>,
    detail: String,
}

#[derive(Default, Deserialize)]
struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    subject: String,
    /// The page: records after this id (default: the newest page).
    #[serde(default)]
    after: Option<i64>,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    page: Page,
    filter: AuditQuery,
    filtered: bool,
    records: Vec<AuditRow>,
    first: i64,
    last: i64,
    head: i64,
    newer: Option<String>,
    older: Option<String>,
}

/// Records per page of the audit log.
const AUDIT_PAGE: i64 = 100;

async fn audit(State(st): State<AppState>, v: Viewer, Query(q): Query<AuditQuery>) -> Response {
    let svc = st.service.clone();
    let who = v.identity.clone();
    let asked = q.after;
    let loaded = blocking(move || {
        // The audit log's rule (role admin) before its head is read.
        crate::service::require(&who, Role::Admin)?;
        let head = svc.audit_head()?.map(|h| h.id).unwrap_or(0);
        let after = asked.unwrap_or(head - AUDIT_PAGE).clamp(0, head.max(0));
        let recs = svc.audit_log_as(&who, after, AUDIT_PAGE as u32)?;
        Ok((head, after, recs))
    })
    .await;
    let (head, after, recs) = match loaded {
        Ok(x) => x,
        Err(e) => return api_error_page(Some(&v), e, "/ui/changes"),
    };
    let matches = |have: &str, want: &str| want.is_empty() || have.contains(want);
    let first = after + 1;
    let last = recs.last().map(|r| r.id).unwrap_or(after);
    let filtered = !(q.actor.is_empty() && q.action.is_empty() && q.subject.is_empty());
    let mut records: Vec<AuditRow> = recs
        .into_iter()
        .filter(|r| {
            matches(&r.actor, &q.actor)
                && matches(&r.action, &q.action)
                && matches(&r.subject, &q.subject)
        })
        .map(|r| AuditRow {
            link: audit_link(&r.subject),
            id: r.id,
            at: Time::of_text(&r.at),
            actor: r.actor,
            action: r.action,
            subject: r.subject,
            detail: r.detail.to_string(),
        })
        .collect();
    records.reverse();
    let page_link = |after: i64| {
        let query = serde_urlencoded::to_string([
            ("actor", q.actor.as_str()),
            ("action", q.action.as_str()),
            ("subject", q.subject.as_str()),
            ("after", after.to_string().as_str()),
        ])
        .unwrap_or_default();
        format!("/ui/audit?{query}")
    };
    let older = (after > 0).then(|| page_link((after - AUDIT_PAGE).max(0)));
    let newer = (last < head).then(|| page_link(last));
    let t = AuditPage {
        page: Page::new(Some(&v), "audit", "Audit log"),
        filtered,
        records,
        first,
        last,
        head,
        newer,
        older,
        filter: q,
    };
    html(StatusCode::OK, &t)
}

/// The page of an audit record's subject (`change/42`, `drift/3`), if it has one.
fn audit_link(subject: &str) -> Option<String> {
    let (kind, id) = subject.split_once('/')?;
    let id: i64 = id.parse().ok()?;
    match kind {
        "change" => Some(format!("/ui/changes/{id}")),
        "drift" => Some(format!("/ui/drift/{id}")),
        _ => None,
    }
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

    #[test]
    fn audit_subjects_link_to_their_pages() {
        assert_eq!(audit_link("change/42").as_deref(), Some("/ui/changes/42"));
        assert_eq!(audit_link("drift/3").as_deref(), Some("/ui/drift/3"));
        assert_eq!(audit_link("token/3"), None);
        assert_eq!(audit_link("change/x"), None);
    }
}
