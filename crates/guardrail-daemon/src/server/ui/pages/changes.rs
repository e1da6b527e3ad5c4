//! The change list, a change's page, and the actions on a change (decide, schedule,
//! break-glass, cancel).

use super::*;

pub(super) struct ChangeRow {
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
pub(super) struct ChangesQuery {
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
pub(super) struct ChangesPage {
    page: Page,
    filter: ChangesQuery,
    envs: Vec<String>,
    states: Vec<String>,
    rows: Vec<ChangeRow>,
}

pub(super) async fn changes(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<ChangesQuery>,
) -> Response {
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

pub(super) struct ApprovalLine {
    user: String,
    decision: String,
    comment: String,
    at: Time,
    current: bool,
}

pub(super) struct TimelineLine {
    at: Time,
    actor: String,
    action: String,
    note: String,
}

/// What the viewer may try (the service decides; these only choose the forms shown).
pub(super) struct Actions {
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
pub(super) struct ChangePage {
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

pub(super) async fn change(
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

#[derive(Deserialize)]
pub(super) struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    content_hash: String,
}

pub(super) async fn decide(
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
pub(super) struct ScheduleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    at: String,
}

pub(super) async fn schedule(
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
pub(super) struct BreakGlassForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    incident: String,
}

pub(super) async fn break_glass(
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

pub(super) async fn cancel(
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
