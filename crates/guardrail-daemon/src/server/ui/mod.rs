//! The web UI under `/ui/`: server-rendered pages (askama templates in the crate's `templates/`,
//! checked at compile time, every value HTML-escaped) that work without JavaScript; one small
//! script and one stylesheet are served by the daemon itself.
//!
//! Who is signing in: a session (`service::sessions`) opened with an API token in the sign-in
//! form, or a user named by an authenticating proxy (`X-Forwarded-User`, `X-Forwarded-Groups`,
//! believed only from `server.trusted_proxies`, groups mapped to roles by `server.sso`). Every
//! form carries the session's CSRF token (a POST without it is 403); every page is sent with a
//! strict Content-Security-Policy. The pages call the same service operations as the API, so
//! the same authorization rules and audit records apply.

mod pages;
pub mod view;

use std::net::{IpAddr, SocketAddr};

use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use super::http::{ApiError, AppState, blocking};
use super::settings::{ServerSettings, parse_network};
use crate::service::sessions::{SignIn, same_token};
use guardrail_store::{Identity, Role};

pub use pages::router;

/// The browser's session cookie (its value is a random id; the store keeps its sha256).
pub const SESSION_COOKIE: &str = "guardrail_session";
/// The sign-in form's own CSRF cookie (before there is a session).
pub const LOGIN_COOKIE: &str = "guardrail_login";
/// The authenticating proxy's headers (oauth2-proxy's convention).
pub const USER_HEADER: &str = "x-forwarded-user";
pub const GROUPS_HEADER: &str = "x-forwarded-groups";

/// Every page's security headers: scripts and styles only from the daemon (no inline script),
/// forms only to the daemon, never framed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The web UI's settings, from `server:`.
#[derive(Debug, Clone, Default)]
pub struct UiConfig {
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub public_url: Option<String>,
    pub session_ttl: chrono::Duration,
    /// Group of the authenticating proxy → the roles its members get.
    pub group_roles: Vec<(String, Vec<Role>)>,
}

impl UiConfig {
    /// From validated settings (`server_settings` refused anything that does not parse).
    pub fn of(s: &ServerSettings) -> UiConfig {
        UiConfig {
            trusted_proxies: s
                .trusted_proxies
                .iter()
                .filter_map(|p| parse_network(p))
                .collect(),
            public_url: s
                .public_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_string()),
            session_ttl: guardrail_core::change::parse_duration(&s.session_ttl)
                .unwrap_or_else(|_| chrono::Duration::hours(12)),
            group_roles: s
                .sso
                .group_roles
                .iter()
                .map(|g| {
                    (
                        g.group.clone(),
                        g.roles.iter().filter_map(|r| Role::from_name(r)).collect(),
                    )
                })
                .collect(),
        }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.trusted_proxies.iter().any(|n| n.contains(&ip))
    }

    /// The user the authenticating proxy names on this request, if it comes from a trusted
    /// address and names one: groups from `X-Forwarded-Groups` (comma-separated), roles from
    /// `server.sso.group_roles`.
    pub fn proxied(&self, parts: &Parts) -> Option<Identity> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
        if !self.trusts(peer) {
            return None;
        }
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let user = header(USER_HEADER)?;
        if user.len() > 200 || user.chars().any(char::is_control) {
            return None;
        }
        let groups: Vec<String> = header(GROUPS_HEADER)
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty() && g.len() <= 200)
            .map(str::to_string)
            .collect();
        let mut roles: Vec<Role> = self
            .group_roles
            .iter()
            .filter(|(g, _)| groups.contains(g))
            .flat_map(|(_, r)| r.iter().copied())
            .collect();
        roles.sort_by_key(|r| r.name());
        roles.dedup();
        Some(Identity {
            user: user.to_string(),
            roles,
            groups,
        })
    }

    /// Cookies are `Secure` when people reach the daemon over https: `server.public_url` says
    /// so, or a trusted proxy says `X-Forwarded-Proto: https`.
    pub fn secure(&self, parts: &Parts) -> bool {
        if self
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
        {
            return true;
        }
        let trusted = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|c| self.trusts(c.0.ip()));
        trusted
            && parts
                .headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("https"))
    }
}

/// A cookie of the UI: only for `/ui`, never readable by scripts, never sent cross-site.
pub fn cookie(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/ui")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .build()
}

/// The signed-in viewer of a page.
pub struct Viewer {
    pub identity: Identity,
    /// The token every form of this session carries.
    pub csrf: String,
    /// The session cookie's value (for sign-out).
    pub cookie: String,
}

impl Viewer {
    /// The refusal (403) of a form whose CSRF token is not this session's; `None` when it is.
    pub fn refuse_form(&self, csrf: &str) -> Option<Response> {
        if !csrf.is_empty() && same_token(csrf, &self.csrf) {
            None
        } else {
            Some(pages::error_page(
                Some(self),
                StatusCode::FORBIDDEN,
                "This form's security token is missing or stale (it belongs to another session). Reload the page and try again.",
                "/ui/changes",
            ))
        }
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    /// The session of the request's cookie. Without one: a user named by a trusted proxy gets a
    /// session and the page again (GET); anyone else is sent to the sign-in form (GET) or
    /// refused (POST, 403).
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        let proxied = st.ui.proxied(parts);
        let jar = CookieJar::from_headers(&parts.headers);
        if let Some(cookie) = jar.get(SESSION_COOKIE).map(|c| c.value().to_string()) {
            let svc = st.service.clone();
            let (c, p) = (cookie.clone(), proxied.clone());
            match blocking(move || svc.session(&c, p.as_ref())).await {
                Ok(Some(s)) => {
                    return Ok(Viewer {
                        identity: s.identity,
                        csrf: s.csrf,
                        cookie,
                    });
                }
                Ok(None) => {}
                Err(e) => return Err(pages::api_error_page(None, e, "/ui/changes")),
            }
        }
        let here = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/ui/changes".into());
        if parts.method != Method::GET {
            return Err(pages::error_page(
                None,
                StatusCode::FORBIDDEN,
                "You are not signed in (or your session ended). Sign in and try again.",
                "/ui/login",
            ));
        }
        if let Some(p) = proxied {
            let svc = st.service.clone();
            let ttl = st.ui.session_ttl;
            let secure = st.ui.secure(parts);
            return match blocking(move || svc.sign_in(SignIn::Proxy(&p), ttl)).await {
                Ok((id, _)) => {
                    let jar = CookieJar::new().add(cookie(SESSION_COOKIE, id, secure));
                    Err((jar, Redirect::to(&here)).into_response())
                }
                Err(e) => Err(pages::api_error_page(None, e, "/ui/login")),
            };
        }
        let query = serde_urlencoded::to_string([("next", here.as_str())]).unwrap_or_default();
        Err(Redirect::to(&format!("/ui/login?{query}")).into_response())
    }
}

/// Where to go after signing in: a page of the UI, never another site.
pub fn safe_next(next: &str) -> String {
    if next.starts_with("/ui/") && !next.starts_with("//") && !next.contains('\\') {
        next.to_string()
    } else {
        "/ui/changes".to_string()
    }
}

/// Sets the security headers on every response under `/ui/`.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// A rendered template as an HTML response.
pub fn html<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "page rendering failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; see the daemon log\n",
            )
                .into_response()
        }
    }
}

/// The status and message of a service error, as the API answers it (one mapping for both).
pub fn status_of(api: ApiError) -> (StatusCode, String) {
    let mut msg = api.body.error;
    if !api.body.reasons.is_empty() {
        msg.push_str(": ");
        msg.push_str(&api.body.reasons.join("; "));
    }
    (api.status, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(peer: &str, headers: &[(&str, &str)]) -> Parts {
        let mut req = axum::http::Request::builder().uri("/ui/changes");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let (mut parts, _) = req.body(()).unwrap().into_parts();
        parts
            .extensions
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        parts
    }

    fn config() -> UiConfig {
        UiConfig {
            trusted_proxies: vec![parse_network("10.0.0.0/8").unwrap()],
            group_roles: vec![
                ("netops".into(), vec![Role::Approver]),
                ("sre".into(), vec![Role::Requester, Role::Approver]),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn proxy_headers_count_only_from_trusted_addresses() {
        let h = [(USER_HEADER, "carol"), (GROUPS_HEADER, "netops, sre,other")];
        let id = config().proxied(&parts("10.1.2.3:5000", &h)).unwrap();
        assert_eq!(id.user, "carol");
        assert_eq!(id.groups, vec!["netops", "sre", "other"]);
        assert_eq!(id.roles, vec![Role::Approver, Role::Requester]);
        assert!(config().proxied(&parts("192.168.1.1:5000", &h)).is_none());
        assert!(
            config()
                .proxied(&parts("[::ffff:10.0.0.1]:5000", &h))
                .is_some(),
            "an IPv4 proxy seen through an IPv6 socket"
        );
        assert!(config().proxied(&parts("10.1.2.3:5000", &[])).is_none());
    }

    #[test]
    fn cookies_are_secure_when_people_reach_us_over_https() {
        let mut c = config();
        assert!(!c.secure(&parts("127.0.0.1:1", &[])));
        assert!(c.secure(&parts("10.0.0.5:1", &[("x-forwarded-proto", "https")])));
        assert!(!c.secure(&parts("127.0.0.1:1", &[("x-forwarded-proto", "https")])));
        c.public_url = Some("https://guardrail.example.com".into());
        assert!(c.secure(&parts("127.0.0.1:1", &[])));
    }

    #[test]
    fn sign_in_only_returns_to_pages_of_the_ui() {
        assert_eq!(safe_next("/ui/changes/4"), "/ui/changes/4");
        assert_eq!(safe_next("https://evil.example"), "/ui/changes");
        assert_eq!(safe_next("//evil.example/ui/"), "/ui/changes");
        assert_eq!(safe_next("/v1/tokens"), "/ui/changes");
    }
}
