//! End-to-end tests of the web UI (`/ui/`) in a real headless Chromium against a real
//! `guardrail serve` on a loopback port (issue 17's acceptance): two approvers sign in with
//! their API tokens and approve a production change from its page, the author gets no decision
//! form and a forged decision is refused, a form post without its CSRF field is refused, an
//! approval of content that moved is refused, and every page is rendered for screenshots in
//! `target/ui-screenshots/`.
//!
//! Each test starts its own daemon and browser. Without Chromium the tests are skipped, except
//! under CI (see tests/common/browser.rs).

#[path = "common/browser.rs"]
mod browser;
#[path = "common/daemon.rs"]
mod daemon;
#[path = "common/ui_world.rs"]
mod ui_world;

use browser::Browser;
use serde_json::{Value, json};
use ui_world::{LB, NEW_LINE, OLD_LINE, World, change, submit_tweak, world};

const TITLE: &str = "raise server timeout";

/// Alice submits the one-line change to production: (id, content hash).
fn submit(w: &World) -> (i64, String) {
    let v = submit_tweak(w, TITLE);
    (
        v["id"].as_i64().unwrap(),
        v["content_hash"].as_str().unwrap().to_string(),
    )
}

fn approvers(v: &Value) -> Vec<String> {
    v["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["user"].as_str().unwrap().to_string())
        .collect()
}

/// Signs in on the login page with an API token and lands on the change list.
fn sign_in(b: &Browser, w: &World, token: &str) {
    b.goto(&format!("{}/ui/login", w.d.url));
    b.type_into("form#login input[name=token]", token);
    b.click("form#login button[type=submit]");
    b.wait_for("table#changes");
    assert_eq!(b.path_and_query(), "/ui/changes", "after signing in");
}

/// Opens a change's page from its row in the change list, by the title's link.
fn open_from_list(b: &Browser, w: &World, id: i64) {
    b.goto(&format!("{}/ui/changes", w.d.url));
    let link = b.wait_for(&format!(
        "table#changes tr[data-change-id=\"{id}\"] a[href=\"/ui/changes/{id}\"]"
    ));
    assert_eq!(b.text_of(&link), TITLE, "the link's text is the title");
    b.click_on(&link);
    assert_eq!(b.text("#change-id"), id.to_string());
    assert_eq!(b.path(), format!("/ui/changes/{id}"));
}

/// The value of the browser's session cookie, after checking its flags.
fn session_cookie(b: &Browser) -> String {
    let cookies = b.cookies();
    let c = cookies
        .iter()
        .find(|c| c.name() == "guardrail_session")
        .unwrap_or_else(|| panic!("no guardrail_session cookie in {cookies:?}"));
    assert_eq!(c.http_only(), Some(true), "HttpOnly: {c:?}");
    assert_eq!(
        c.same_site().map(|s| s.to_string()).as_deref(),
        Some("Strict"),
        "SameSite=Strict: {c:?}"
    );
    c.value().to_string()
}

/// An HTTP client that shows redirects instead of following them.
fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A form post outside the browser with a session cookie: (status, Location, body).
fn post_form(
    w: &World,
    path: &str,
    session: &str,
    fields: &[(&str, &str)],
) -> (u16, String, String) {
    let r = http()
        .post(format!("{}{path}", w.d.url))
        .header("cookie", format!("guardrail_session={session}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields).unwrap())
        .send()
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location, r.text().unwrap_or_default())
}

/// A page outside the browser, with a session cookie or none: (status, Location).
fn get_page(w: &World, path: &str, session: Option<&str>) -> (u16, String) {
    let mut r = http().get(format!("{}{path}", w.d.url));
    if let Some(s) = session {
        r = r.header("cookie", format!("guardrail_session={s}"));
    }
    let r = r.send().unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    (r.status().as_u16(), location)
}

/// Decodes `%XX` and `+` of a query value.
fn query_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// The `next` parameter of a `/ui/login?next=...` path, decoded; panics on any other path.
fn login_next(path_and_query: &str) -> String {
    let query = path_and_query
        .strip_prefix("/ui/login?")
        .unwrap_or_else(|| panic!("expected /ui/login?next=..., got {path_and_query}"));
    let next = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("next="))
        .unwrap_or_else(|| panic!("no next= in {path_and_query}"));
    query_decode(next)
}

#[test]
fn the_browser_reaches_a_started_daemon() {
    let Some(b) = Browser::start("the_browser_reaches_a_started_daemon") else {
        return;
    };
    let w = world();
    b.goto(&format!("{}/healthz", w.d.url));
    assert_eq!(b.text("body").trim(), "ok");
}

#[test]
fn two_approvers_approve_a_production_change_from_its_page() {
    let Some(b) = Browser::start("two_approvers_approve_a_production_change_from_its_page") else {
        return;
    };
    let w = world();
    let (id, hash) = submit(&w);

    // Bob signs in, finds the change in the list and opens it.
    sign_in(&b, &w, &w.bob);
    assert!(b.text("#whoami").contains("bob"), "#whoami names bob");
    let row = format!("table#changes tr[data-change-id=\"{id}\"]");
    let needs = b.text(&format!("{row} td.needs"));
    assert!(needs.contains("approval"), "td.needs: {needs}");
    open_from_list(&b, &w, id);

    // The page shows what is approved: the changed line in the semantic and the text diff,
    // and the content hash the API gave.
    assert_eq!(b.text("#content-hash"), hash);
    assert_eq!(b.text("#state"), "awaiting_approval");
    b.wait_for("table.semantic-diff");
    let entries = b.find_all("table.semantic-diff tr.diff-entry");
    let changed_line = LB
        .lines()
        .position(|l| l.trim() == OLD_LINE)
        .map(|i| (i + 1).to_string())
        .unwrap();
    let entry = entries
        .iter()
        .map(|e| (b.attr_of(e, "data-op"), b.text_of(e)))
        .find(|(_, text)| text.contains("45s"))
        .unwrap_or_else(|| panic!("no tr.diff-entry shows the new value 45s"));
    assert_eq!(entry.0.as_deref(), Some("changed"), "{}", entry.1);
    assert!(
        entry.1.contains("30s") && entry.1.contains(&changed_line),
        "the entry shows the old value and the line {changed_line}: {}",
        entry.1
    );
    let unified = b.text("pre.unified-diff");
    // Each rendered line may start with its old and new line numbers, then `-`/`+`.
    let marked = |sign: char, line: &str| {
        unified.lines().any(|l| {
            l.trim_start_matches(|c: char| c.is_ascii_digit() || c.is_whitespace())
                .strip_prefix(sign)
                .is_some_and(|rest| rest.trim() == line)
        })
    };
    assert!(
        marked('-', OLD_LINE) && marked('+', NEW_LINE),
        "the unified diff removes `{OLD_LINE}` and adds `{NEW_LINE}`:\n{unified}"
    );
    assert_eq!(
        b.attr("form#decision input[name=content_hash]", "value")
            .as_deref(),
        Some(hash.as_str()),
        "the decision names the content shown"
    );

    // Bob approves with a comment: one of two approvals.
    b.type_into(
        "form#decision textarea[name=comment]",
        "timeouts checked with the mail team",
    );
    b.click("form#decision button[name=decision][value=approve]");
    b.wait_for("#flash");
    assert_eq!(b.path(), format!("/ui/changes/{id}"));
    assert_eq!(b.text("#state"), "awaiting_approval");
    let listed: Vec<String> = b
        .find_all("ul#approvals > li")
        .iter()
        .map(|li| b.text_of(li))
        .collect();
    assert!(
        listed.len() == 1 && listed[0].contains("bob"),
        "ul#approvals: {listed:?}"
    );
    let v = change(&w, id);
    assert_eq!(v["state"], "awaiting_approval", "{v}");
    assert_eq!(approvers(&v), ["bob"], "{v}");
    assert_eq!(
        v["approvals"][0]["comment"], "timeouts checked with the mail team",
        "{v}"
    );

    // Bob signs out: the session ends on the server, not only in the browser.
    let bobs_session = session_cookie(&b);
    b.click("form#logout button, form#logout input[type=submit]");
    b.wait_for("form#login");
    b.goto(&format!("{}/ui/changes", w.d.url));
    b.wait_for("form#login");
    assert_eq!(login_next(&b.path_and_query()), "/ui/changes");
    let (status, location) = get_page(&w, "/ui/changes", Some(&bobs_session));
    assert!(
        (300..400).contains(&status)
            && location
                .trim_start_matches(&w.d.url)
                .starts_with("/ui/login"),
        "a signed-out session opens no page: {status} {location}"
    );

    // Carol approves: the second netops approval approves the change.
    sign_in(&b, &w, &w.carol);
    assert!(b.text("#whoami").contains("carol"), "#whoami names carol");
    open_from_list(&b, &w, id);
    b.click("form#decision button[name=decision][value=approve]");
    b.wait_for("#flash");
    assert_eq!(b.text("#state"), "approved");
    assert!(
        !b.exists("form#decision"),
        "an approved change takes no more decisions"
    );
    let v = change(&w, id);
    assert_eq!(v["state"], "approved", "{v}");
    assert_eq!(approvers(&v), ["bob", "carol"], "{v}");
}

#[test]
fn the_author_gets_no_decision_form_and_a_forged_decision_is_refused() {
    let Some(b) =
        Browser::start("the_author_gets_no_decision_form_and_a_forged_decision_is_refused")
    else {
        return;
    };
    let w = world();
    let (id, hash) = submit(&w);

    sign_in(&b, &w, &w.alice);
    open_from_list(&b, &w, id);
    assert_eq!(b.text("#state"), "awaiting_approval");
    assert!(!b.exists("form#decision"), "the author may not decide");

    // The author posts the form the page did not offer, with a valid session and CSRF token.
    let session = session_cookie(&b);
    let csrf = b
        .attr("form#logout input[name=csrf]", "value")
        .expect("the logout form carries the CSRF token");
    let (status, _, body) = post_form(
        &w,
        &format!("/ui/changes/{id}/decision"),
        &session,
        &[
            ("decision", "approve"),
            ("content_hash", &hash),
            ("csrf", &csrf),
            ("comment", "my own change"),
        ],
    );
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("error"),
        "the refusal is a page with .error: {body}"
    );
    let v = change(&w, id);
    assert_eq!(v["state"], "awaiting_approval", "{v}");
    assert!(approvers(&v).is_empty(), "{v}");
}

#[test]
fn a_form_post_without_its_csrf_field_is_refused() {
    let Some(b) = Browser::start("a_form_post_without_its_csrf_field_is_refused") else {
        return;
    };
    let w = world();
    let (id, hash) = submit(&w);

    // Bob may decide: only the CSRF field stands between his session and a decision.
    sign_in(&b, &w, &w.bob);
    open_from_list(&b, &w, id);
    let csrf = b
        .attr("form#decision input[name=csrf]", "value")
        .expect("the decision form carries the CSRF token");
    let session = session_cookie(&b);
    let decision = format!("/ui/changes/{id}/decision");
    let without: &[(&str, &str)] = &[("decision", "approve"), ("content_hash", &hash)];
    let (status, _, body) = post_form(&w, &decision, &session, without);
    assert_eq!(status, 403, "no csrf field: {body}");
    let wrong = [without, &[("csrf", "0123456789abcdef")]].concat();
    let (status, _, body) = post_form(&w, &decision, &session, &wrong);
    assert_eq!(status, 403, "a wrong csrf field: {body}");
    let (status, _, body) = post_form(&w, "/ui/logout", &session, &[]);
    assert_eq!(status, 403, "logout without csrf: {body}");
    let (status, _) = get_page(&w, "/ui/changes", Some(&session));
    assert_eq!(status, 200, "the session still works");
    assert!(approvers(&change(&w, id)).is_empty());

    // The same post with the page's token is a decision.
    let with = [without, &[("csrf", csrf.as_str())]].concat();
    let (status, location, body) = post_form(&w, &decision, &session, &with);
    let page = location.trim_start_matches(&w.d.url);
    let page = page.split_once('?').map_or(page, |(path, _)| path);
    assert_eq!(
        (status, page),
        (303, format!("/ui/changes/{id}").as_str()),
        "{body}"
    );
    assert_eq!(approvers(&change(&w, id)), ["bob"]);
}

#[test]
fn approving_content_that_moved_since_the_page_was_read_is_refused() {
    let Some(b) = Browser::start("approving_content_that_moved_since_the_page_was_read_is_refused")
    else {
        return;
    };
    let w = world();
    let (id, old_hash) = submit(&w);

    sign_in(&b, &w, &w.bob);
    open_from_list(&b, &w, id);
    assert_eq!(b.text("#content-hash"), old_hash);
    // Alice revises the change while Bob reads it.
    let (s, v) = w.d.api(&w.alice).post(
        &format!("/v1/changes/{id}/revisions"),
        json!({"targets": [{"target": "lb-mail",
                            "content": LB.replacen(OLD_LINE, "timeout server 60s", 1)}]}),
    );
    assert_eq!(s, 200, "{v}");
    let new_hash = v["content_hash"].as_str().unwrap().to_string();
    assert_ne!(new_hash, old_hash);

    b.click("form#decision button[name=decision][value=approve]");
    b.wait_for(".error");
    assert!(!b.exists("#flash"), "no success message");
    assert!(approvers(&change(&w, id)).is_empty());

    // Outside the browser the same refusal is a 409.
    let session = session_cookie(&b);
    open_from_list(&b, &w, id);
    assert_eq!(
        b.text("#content-hash"),
        new_hash,
        "the page shows the new content"
    );
    let csrf = b.attr("form#decision input[name=csrf]", "value").unwrap();
    let (status, _, body) = post_form(
        &w,
        &format!("/ui/changes/{id}/decision"),
        &session,
        &[
            ("decision", "approve"),
            ("content_hash", &old_hash),
            ("csrf", &csrf),
        ],
    );
    assert_eq!(status, 409, "{body}");
    assert!(approvers(&change(&w, id)).is_empty());
}

#[test]
fn a_bad_token_is_refused_and_pages_without_a_session_go_to_the_login() {
    let Some(b) =
        Browser::start("a_bad_token_is_refused_and_pages_without_a_session_go_to_the_login")
    else {
        return;
    };
    let w = world();

    for page in ["/ui/changes", "/ui/drift", "/ui/audit"] {
        let (status, location) = get_page(&w, page, None);
        assert!(
            (300..400).contains(&status),
            "{page} without a session redirects: {status} {location}"
        );
        assert_eq!(login_next(location.trim_start_matches(&w.d.url)), page);
    }
    b.goto(&format!("{}/ui/freezes", w.d.url));
    b.wait_for("form#login");
    assert_eq!(login_next(&b.path_and_query()), "/ui/freezes");
    assert_eq!(
        b.attr("form#login input[name=token]", "type").as_deref(),
        Some("password")
    );
    assert!(
        b.attr("form#login input[name=csrf]", "value")
            .is_some_and(|v| !v.is_empty()),
        "the login form carries a CSRF token"
    );

    b.type_into("form#login input[name=token]", "not-a-token");
    b.click("form#login button[type=submit]");
    b.wait_for(".error");
    assert!(b.exists("form#login"), "the form is shown again");
    assert!(
        !b.cookies().iter().any(|c| c.name() == "guardrail_session"),
        "no session for a bad token"
    );

    // The right token, on the form shown again, signs in.
    b.type_into("form#login input[name=token]", &w.bob);
    b.click("form#login button[type=submit]");
    b.wait_for("#whoami");
    assert!(b.text("#whoami").contains("bob"));
    session_cookie(&b);
}

#[test]
fn every_page_renders_for_the_screenshots() {
    let Some(b) = Browser::start("every_page_renders_for_the_screenshots") else {
        return;
    };
    let w = world();
    let (id, _) = submit(&w);
    let until = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let (s, v) = w.d.api(&w.olga).post(
        "/v1/freezes",
        json!({"env": "staging", "reason": "year-end", "until": until}),
    );
    assert_eq!(s, 201, "{v}");

    b.goto(&format!("{}/ui/login", w.d.url));
    b.wait_for("form#login");
    b.screenshot("login");

    sign_in(&b, &w, &w.olga);
    b.wait_for(&format!("table#changes tr[data-change-id=\"{id}\"]"));
    assert!(b.exists("form#filters"), "the change list has its filters");
    b.screenshot("changes");
    b.phone_width();
    b.screenshot("changes-phone");
    b.desktop_width();

    open_from_list(&b, &w, id);
    b.wait_for("form#decision");
    b.screenshot("change");
    let diff = b.wait_for("table.semantic-diff");
    b.screenshot_of(&diff, "change-semantic-diff");

    for page in ["drift", "freezes", "retros", "audit"] {
        b.goto(&format!("{}/ui/{page}", w.d.url));
        b.wait_for("h1");
        assert_eq!(b.path_and_query(), format!("/ui/{page}"));
        assert!(b.exists("form#logout"), "{page} has the logout form");
        assert!(b.text("#whoami").contains("olga"), "{page} names the user");
        if page == "freezes" {
            assert!(b.text("body").contains("year-end"), "the freeze is listed");
        }
        b.screenshot(page);
    }
}
