//! The web UI over real HTTP on loopback, at the level of requests and headers (the browser
//! tests in tests/ui_browser.rs drive the same pages in Chromium): sign-in and its CSRF token,
//! sessions that end with sign-out or with their token, the form token on every action, the
//! author who may not approve, the security headers, escaping, trusted proxy headers believed
//! only from `server.trusted_proxies`, and every UI action in the audit log under the user's name.

#[path = "common/daemon.rs"]
mod daemon;
#[path = "common/ui_world.rs"]
mod ui_world;

use std::net::IpAddr;

use daemon::{BIN, wait_until};
use reqwest::blocking::{Client, Response};
use reqwest::redirect::Policy;
use serde_json::Value;
use ui_world::{LB, OLD_LINE, World, submit_tweak as submit, world};

/// A browser without JavaScript: no redirects followed, cookies kept by hand.
struct Browser {
    base: String,
    client: Client,
    cookies: Vec<(String, String)>,
    headers: Vec<(&'static str, String)>,
}

impl Browser {
    fn new(w: &World) -> Browser {
        Browser::from(w, None)
    }

    fn from(w: &World, addr: Option<IpAddr>) -> Browser {
        let mut b = Client::builder().redirect(Policy::none());
        if let Some(a) = addr {
            b = b.local_address(a);
        }
        Browser {
            base: w.d.url.clone(),
            client: b.build().unwrap(),
            cookies: Vec::new(),
            headers: Vec::new(),
        }
    }

    fn keep(&mut self, r: &Response) {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.cookies.push((name.to_string(), value.to_string()));
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn get(&mut self, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
        let mut req = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header());
        for (k, v) in &self.headers {
            req = req.header(*k, v);
        }
        let r = req.send().unwrap();
        self.keep(&r);
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        (status, r.text().unwrap(), headers)
    }

    fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (u16, String, Option<String>) {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap());
        for (k, v) in &self.headers {
            req = req.header(*k, v);
        }
        let r = req.send().unwrap();
        self.keep(&r);
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        (status, r.text().unwrap(), location)
    }

    /// Signs in with an API token through the form; returns the session's form token.
    fn sign_in(&mut self, token: &str) -> String {
        let (s, page, _) = self.get("/ui/login");
        assert_eq!(s, 200);
        let csrf = input(&page, "csrf");
        let (s, body, to) = self.post(
            "/ui/login",
            &[("token", token), ("csrf", &csrf), ("next", "/ui/changes")],
        );
        assert_eq!(s, 303, "{body}");
        assert_eq!(to.as_deref(), Some("/ui/changes"));
        self.form_token()
    }

    /// The session's form token, from the sign-out form of any page.
    fn form_token(&mut self) -> String {
        let (s, page, _) = self.get("/ui/changes");
        assert_eq!(s, 200, "{page}");
        input(&page, "csrf")
    }
}

/// The value of the first `<input name=NAME>` of a page.
fn input(page: &str, name: &str) -> String {
    let at = page
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no input {name} in:\n{page}"));
    let rest = &page[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_string()
}

fn audit(w: &World) -> Vec<Value> {
    let (s, v) = w.d.api(&w.olga).get("/v1/audit?limit=1000");
    assert_eq!(s, 200, "{v}");
    v.as_array().unwrap().clone()
}

#[test]
fn two_approvers_approve_in_the_browser_and_the_author_cannot() {
    let w = world();
    let c = submit(&w, "raise the <b>server</b> timeout & more");
    let id = c["id"].as_i64().unwrap();
    let hash = c["content_hash"].as_str().unwrap().to_string();
    let page_path = format!("/ui/changes/{id}");

    // Signed out: pages send to the sign-in form and come back after it.
    let mut bob = Browser::new(&w);
    let (s, _, h) = bob.get(&page_path);
    assert_eq!(s, 303);
    assert_eq!(
        h["location"].to_str().unwrap(),
        format!("/ui/login?next=%2Fui%2Fchanges%2F{id}")
    );
    let csrf = bob.sign_in(&w.bob);

    // The list shows the change and what it needs; user text is escaped.
    let (s, list, headers) = bob.get("/ui/changes?env=production");
    assert_eq!(s, 200);
    assert!(list.contains(&format!("data-change-id=\"{id}\"")), "{list}");
    assert!(
        list.contains("2 more approval(s) from netops needed"),
        "{list}"
    );
    assert!(
        !list.contains("<b>server</b>"),
        "a title is text, not markup"
    );
    assert!(list.contains("&#60;b&#62;server&#60;/b&#62;"), "{list}");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));

    // The change page: the diff line that changed, the hash, the decision form.
    let (_, page, _) = bob.get(&page_path);
    assert!(page.contains(&format!("<span id=\"change-id\">{id}</span>")));
    assert!(page.contains(&format!("id=\"content-hash\">{hash}<")));
    assert!(page.contains("data-op=\"changed\""), "{page}");
    assert!(page.contains("45s"));
    assert!(page.contains("name=\"decision\" value=\"approve\""));
    assert!(
        page.contains("<span class=\"add\">"),
        "the text diff, line by line"
    );

    // Without the form token: 403, and nothing recorded.
    let (s, _, _) = bob.post(
        &format!("{page_path}/decision"),
        &[("decision", "approve"), ("content_hash", &hash)],
    );
    assert_eq!(s, 403);
    let (s, _, _) = bob.post(
        &format!("{page_path}/decision"),
        &[
            ("decision", "approve"),
            ("content_hash", &hash),
            ("csrf", "0000"),
        ],
    );
    assert_eq!(s, 403);
    assert!(c_state(&w, id).1.is_empty(), "no approval was recorded");

    // Approval of content that moved on is refused with a message that says so.
    let (s, body, _) = bob.post(
        &format!("{page_path}/decision"),
        &[
            ("decision", "approve"),
            ("content_hash", "sha256:0000"),
            ("csrf", &csrf),
        ],
    );
    assert_eq!(s, 409, "{body}");
    assert!(body.contains("class=\"error\""), "{body}");

    // Bob approves.
    let (s, _, to) = bob.post(
        &format!("{page_path}/decision"),
        &[
            ("decision", "approve"),
            ("content_hash", &hash),
            ("csrf", &csrf),
            ("comment", "looks right"),
        ],
    );
    assert_eq!(s, 303);
    assert_eq!(to.unwrap(), format!("{page_path}?done=approve"));
    let (_, page, _) = bob.get(&format!("{page_path}?done=approve"));
    assert!(page.contains("id=\"flash\""));
    assert!(page.contains("looks right"));

    // The author signs in: no decision form, and a forged decision is refused.
    let mut alice = Browser::new(&w);
    let csrf_a = alice.sign_in(&w.alice);
    let (_, page, _) = alice.get(&page_path);
    assert!(!page.contains("id=\"decision\""), "{page}");
    let (s, body, _) = alice.post(
        &format!("{page_path}/decision"),
        &[
            ("decision", "approve"),
            ("content_hash", &hash),
            ("csrf", &csrf_a),
        ],
    );
    assert_eq!(s, 403, "{body}");

    // Carol approves: the change is approved, as the API says.
    let mut carol = Browser::new(&w);
    let csrf_c = carol.sign_in(&w.carol);
    let (s, _, _) = carol.post(
        &format!("{page_path}/decision"),
        &[
            ("decision", "approve"),
            ("content_hash", &hash),
            ("csrf", &csrf_c),
        ],
    );
    assert_eq!(s, 303);
    let (state, approvers) = c_state(&w, id);
    assert_eq!(state, "approved");
    assert_eq!(approvers, vec!["bob", "carol"]);

    // Every UI action is in the audit log under the user's name.
    let log = audit(&w);
    let did = |actor: &str, action: &str| {
        log.iter()
            .any(|r| r["actor"] == actor && r["action"] == action)
    };
    assert!(did("bob", "ui.sign_in") && did("carol", "ui.sign_in") && did("alice", "ui.sign_in"));
    assert!(
        did("bob", "change.approve") && did("carol", "change.approve"),
        "{log:?}"
    );
}

/// The change's state and who approved it, from the API.
fn c_state(w: &World, id: i64) -> (String, Vec<String>) {
    let v = ui_world::change(w, id);
    let mut who: Vec<String> = v["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["decision"] == "approve")
        .map(|a| a["user"].as_str().unwrap().to_string())
        .collect();
    who.sort();
    (v["state"].as_str().unwrap().to_string(), who)
}

#[test]
fn sessions_end_with_sign_out_and_with_their_token() {
    let w = world();
    let mut bob = Browser::new(&w);

    // A bad token, and a sign-in form without its own token.
    let (_, page, _) = bob.get("/ui/login");
    let csrf = input(&page, "csrf");
    let (s, body, _) = bob.post("/ui/login", &[("token", "grd_nope"), ("csrf", &csrf)]);
    assert_eq!(s, 401);
    assert!(body.contains("not valid"), "{body}");
    assert!(
        !body.contains("grd_nope"),
        "the token typed is never echoed"
    );
    let (s, _, _) = bob.post("/ui/login", &[("token", &w.bob)]);
    assert_eq!(s, 403, "a sign-in without the form's token is refused");

    // The session cookie is HttpOnly and SameSite=Strict, for /ui only.
    let (_, page, _) = bob.get("/ui/login");
    let csrf = input(&page, "csrf");
    let r = bob
        .client
        .post(format!("{}/ui/login", bob.base))
        .header("cookie", bob.cookie_header())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("token", w.bob.as_str()), ("csrf", &csrf)]).unwrap())
        .send()
        .unwrap();
    let set: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let session = set
        .iter()
        .find(|c| c.starts_with("guardrail_session="))
        .unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(session.contains(attr), "{session}");
    }
    assert!(!session.contains(&w.bob), "the cookie is not the token");
    bob.keep(&r);
    let csrf = bob.form_token();

    // Sign-out ends the session on the server: the old cookie, sent again, signs in no one.
    let cookie = bob.cookies.clone();
    let (s, _, to) = bob.post("/ui/logout", &[("csrf", &csrf)]);
    assert_eq!((s, to.as_deref()), (303, Some("/ui/login")));
    bob.cookies = cookie;
    let (s, _, _) = bob.get("/ui/changes");
    assert_eq!(s, 303, "the old cookie no longer signs in");

    // Revoking the token ends its sessions.
    let mut carol = Browser::new(&w);
    carol.sign_in(&w.carol);
    let (_, tokens) = w.d.api(&w.olga).get("/v1/tokens");
    let id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["user"] == "carol")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (s, _) =
        w.d.api(&w.olga)
            .req("DELETE", &format!("/v1/tokens/{id}"), None);
    assert_eq!(s, 200);
    let (s, _, _) = carol.get("/ui/changes");
    assert_eq!(s, 303, "a revoked token's session is over");
    assert!(
        audit(&w)
            .iter()
            .any(|r| r["actor"] == "bob" && r["action"] == "ui.sign_out")
    );
}

#[test]
fn proxy_headers_sign_in_only_from_a_trusted_address() {
    let w = world();
    submit(&w, "one change");
    let proxy: IpAddr = "127.0.0.2".parse().unwrap();
    let named = [
        ("x-forwarded-user", "dora".to_string()),
        ("x-forwarded-groups", "netops,readers".to_string()),
    ];

    // From the trusted proxy: a session for dora, with netops' role.
    let mut via_proxy = Browser::from(&w, Some(proxy));
    via_proxy.headers = named.to_vec();
    let (s, _, h) = via_proxy.get("/ui/changes");
    assert_eq!(s, 303, "a session is opened and the page asked again");
    assert_eq!(h["location"].to_str().unwrap(), "/ui/changes");
    let (s, page, _) = via_proxy.get("/ui/changes/2");
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("<span id=\"whoami\">dora</span>"));
    assert!(page.contains("id=\"decision\""), "netops members approve");

    // From another address the same headers are ignored.
    let mut direct = Browser::new(&w);
    direct.headers = named.to_vec();
    let (s, _, h) = direct.get("/ui/changes");
    assert_eq!(s, 303);
    assert!(h["location"].to_str().unwrap().starts_with("/ui/login"));

    // The proxy session needs the proxy to keep naming dora: with another name it is no
    // session of hers.
    via_proxy.headers = vec![("x-forwarded-user", "eve".to_string())];
    let (_, page, _) = via_proxy.get("/ui/changes");
    assert!(!page.contains(">dora<"), "{page}");
    assert!(audit(&w).iter().any(|r| r["actor"] == "dora"
        && r["action"] == "ui.sign_in"
        && r["detail"]["method"] == "proxy"));
}

#[test]
fn the_audit_log_page_is_for_admins_and_bad_settings_are_refused() {
    let w = world();
    let mut bob = Browser::new(&w);
    bob.sign_in(&w.bob);
    let (s, _, _) = bob.get("/ui/audit");
    assert_eq!(s, 403);
    let mut olga = Browser::new(&w);
    olga.sign_in(&w.olga);
    let (s, page, _) = olga.get("/ui/audit?action=ui.sign_in");
    assert_eq!(s, 200);
    assert!(page.contains("<td data-label=\"Actor\">bob</td>"), "{page}");
    for p in ["/ui/drift", "/ui/freezes", "/ui/retros"] {
        let (s, page, _) = olga.get(p);
        assert_eq!(s, 200, "{p}: {page}");
        assert!(page.contains("<h1>"));
    }
    let (s, page, _) = olga.get("/ui/changes?state=aproved");
    assert_eq!(s, 422);
    assert!(page.contains("did you mean `approved`"), "{page}");

    // Start-up refuses a bad proxy address or role, naming the key.
    let dir = w.tmp.path().join("bad");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("guardrail.yaml");
    std::fs::write(
        &cfg,
        "server:\n  trusted_proxies: [10.0.0.0/33]\n  sso:\n    group_roles:\n      - {group: netops, roles: [aprover]}\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("server.trusted_proxies[0]"), "{err}");
    assert!(err.contains("did you mean `approver`"), "{err}");
}

#[test]
fn drift_pages_show_the_redacted_diff_and_the_baseline_to_roll_back_to() {
    let w = world();
    // Someone edits production by hand: a timeout and the stats password.
    let secret_line = LB
        .lines()
        .find(|l| l.trim_start().starts_with("stats auth"))
        .unwrap();
    let drifted = LB.replacen(OLD_LINE, "timeout server 99s", 1).replacen(
        secret_line,
        "    stats auth admin:hunter2-live",
        1,
    );
    std::fs::write(w.tmp.path().join("live/lb.cfg"), drifted).unwrap();
    let (id, kind) = wait_until(
        "the drift to open",
        std::time::Duration::from_secs(60),
        || {
            let (_, v) = w.d.api(&w.olga).get("/v1/drift?status=open");
            let d = v.as_array()?.first()?.clone();
            Some((d["id"].as_i64()?, d["kind"].as_str()?.to_string()))
        },
    );
    let mut olga = Browser::new(&w);
    olga.sign_in(&w.olga);
    let (s, list, _) = olga.get("/ui/drift");
    assert_eq!(s, 200);
    assert!(list.contains(&format!("data-drift-id=\"{id}\"")), "{list}");
    // Whether the poller saw the applied change live before the edit decides the kind: a failed
    // verification, or an unstaged push after a verified one. Either way the page says which.
    assert!(
        ["verification_failed", "unstaged_push"].contains(&kind.as_str()),
        "{kind}"
    );
    assert!(
        list.contains(&format!("<td data-label=\"Kind\">{kind}</td>")),
        "{list}"
    );
    assert!(
        list.contains("<td data-label=\"Roll back to\" class=\"mono\">baseline "),
        "the baseline to roll back to: {list}"
    );
    let (s, page, _) = olga.get(&format!("/ui/drift/{id}"));
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("99s"), "{page}");
    assert!(
        page.contains("(secret)"),
        "a secret shows only that it changed"
    );
    assert!(!page.contains("hunter2"), "no secret on the page: {page}");
    assert!(page.contains("<th scope=\"col\">Baseline</th>"));

    // The baseline to roll back to, as a download: the approved config, its secret masked.
    let (s, file, headers) = olga.get(&format!("/ui/drift/{id}/baseline"));
    assert_eq!(s, 200);
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"lb-mail-production-baseline-"),
        "{headers:?}"
    );
    assert!(file.contains(OLD_LINE), "the approved timeout: {file}");
    assert!(file.contains("stats auth admin:<redacted>"), "{file}");
    assert!(
        !file.contains("St4ts") && !file.contains("hunter2"),
        "{file}"
    );
}
