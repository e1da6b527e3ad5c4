//! Signing in with an API token (the form and its own CSRF cookie) and signing out.

use super::*;

#[derive(Template)]
#[template(path = "login.html")]
pub(super) struct LoginPage {
    page: Page,
    next: String,
    sso: bool,
}

#[derive(Deserialize)]
pub(super) struct NextQuery {
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
pub(super) async fn login_page(
    State(st): State<AppState>,
    parts: axum::http::request::Parts,
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
    let secure = st.ui.secure(&parts);
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
pub(super) struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

pub(super) async fn login(
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

pub(super) async fn logout(
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
