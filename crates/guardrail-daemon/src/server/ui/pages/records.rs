//! Freezes (create, lift), retro reviews (close) and the audit log (admins).

use super::*;

pub(super) struct FreezeRow {
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
pub(super) struct FreezesPage {
    page: Page,
    admin: bool,
    envs: Vec<String>,
    freezes: Vec<FreezeRow>,
}

pub(super) async fn freezes(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<DoneQuery>,
) -> Response {
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
pub(super) struct FreezeForm {
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

pub(super) async fn create_freeze(
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

pub(super) async fn lift_freeze(
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

pub(super) struct RetroRow {
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
pub(super) struct RetrosPage {
    page: Page,
    retros: Vec<RetroRow>,
}

pub(super) async fn retros(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<DoneQuery>,
) -> Response {
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

pub(super) async fn close_retro(
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

pub(super) struct AuditRow {
    id: i64,
    at: Time,
    actor: String,
    action: String,
    subject: String,
    link: Option<String>,
    detail: String,
}

#[derive(Default, Deserialize)]
pub(super) struct AuditQuery {
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
pub(super) struct AuditPage {
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

pub(super) async fn audit(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<AuditQuery>,
) -> Response {
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
    fn audit_subjects_link_to_their_pages() {
        assert_eq!(audit_link("change/42").as_deref(), Some("/ui/changes/42"));
        assert_eq!(audit_link("drift/3").as_deref(), Some("/ui/drift/3"));
        assert_eq!(audit_link("token/3"), None);
        assert_eq!(audit_link("change/x"), None);
    }
}
