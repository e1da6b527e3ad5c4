//! Change operations: submit, revise, approve, schedule, report applied / verified / rolled
//! back, cancel, break-glass, the gate query, freezes and retro reviews, plus the periodic
//! sweep (expiry, lapsed approvals).

use chrono::{DateTime, Utc};

use super::api::*;
use super::input::{Text, text_field, unknown_name};
use super::{
    Effects, Result, Runtime, Service, ServiceError, combined_hash, fmt_duration, require,
};
use guardrail_core::change::audit::AuditEntry;
use guardrail_core::change::gate::{self, mandatory_blockers, requirements};
use guardrail_core::change::{
    ApprovalRecord, ApprovalStatus, Decision, EnvSettings, GateDecision, GateInput, GateTarget,
    StagingApply, State, check_transition,
};
use guardrail_core::document::Format;
use guardrail_core::pipeline::{self, Loaded};
use guardrail_core::policy::{ChangeInfo, InventoryEntry, TargetInfo};
use guardrail_core::report::Report;
use guardrail_store::{
    self as store, ApprovalRow, BaselineRow, BreakGlass, ChangeDoc, ChangeFilter, ChangeRow,
    ChangeTarget, FreezeRow, Identity, RetroReview, Role, Tx,
};

/// A revision evaluated: what to store.
pub(super) struct Evaluated {
    targets: Vec<ChangeTarget>,
    content_hash: String,
    report_json: String,
    requirements: Vec<guardrail_core::change::Requirement>,
    mandatory: Vec<String>,
    verdict: String,
    state: State,
}

fn audit_change(
    tx: &mut dyn Tx,
    actor: &str,
    action: &str,
    c: &ChangeRow,
    before: Option<State>,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<()> {
    tx.append_audit(
        &AuditEntry {
            actor: actor.to_string(),
            action: action.to_string(),
            subject: format!("change/{}", c.id),
            before: before.map(|s| s.name().to_string()),
            after: Some(c.state.name().to_string()),
            content_hash: Some(c.content_hash.clone()),
            detail,
        },
        now,
    )?;
    Ok(())
}

/// Moves a change to `to` (validated), stores it and appends the audit record.
#[allow(clippy::too_many_arguments)]
fn transition(
    tx: &mut dyn Tx,
    fx: &mut Effects,
    c: &mut ChangeRow,
    to: State,
    actor: &str,
    action: &str,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<()> {
    check_transition(c.state, to).map_err(|e| ServiceError::conflict(e.to_string()))?;
    let from = c.state;
    c.state = to;
    c.updated_at = now;
    tx.update_change(c)?;
    audit_change(tx, actor, action, c, Some(from), detail, now)?;
    fx.transitions
        .push((from.name().to_string(), to.name().to_string()));
    Ok(())
}

/// For fan-in rules: the stored baselines of the environment's targets (parsed), except those
/// `skip` names (the ones being evaluated, whose new content the caller has). Empty when no
/// rule reads `inventory`.
pub(super) fn baseline_inventory(
    tx: &mut dyn Tx,
    rt: &Runtime,
    env: &str,
    skip: impl Fn(&str) -> bool,
) -> Result<Vec<(TargetInfo, Loaded)>> {
    let mut others = Vec::new();
    if !rt.uses_inventory {
        return Ok(others);
    }
    for t in &rt.config.targets {
        if skip(&t.name) {
            continue;
        }
        if let Some(b) = tx.baseline(&t.name, env)?
            && let Ok(l) =
                pipeline::parse(&t.name, b.content.as_bytes(), Format::from_name(&b.format))
        {
            let info = TargetInfo {
                name: t.name.clone(),
                kind: t.kind.clone(),
                env: env.to_string(),
                owners: t.owners.clone(),
                critical: t.critical,
                format: l.doc.format.name().to_string(),
            };
            others.push((info, l));
        }
    }
    Ok(others)
}

/// Refuses an environment guardrail.yaml does not declare (a typo must not create a change or a
/// freeze that applies to nothing, nor get a gate answer or an evaluation for nothing): 422
/// naming the field, the nearest name and the declared ones.
pub(super) fn known_env(rt: &Runtime, env: &str) -> Result<()> {
    if rt.config.environments.iter().any(|e| e == env) {
        return Ok(());
    }
    Err(ServiceError::invalid(
        "env",
        unknown_name(
            "environment",
            env,
            rt.config.environments.iter().map(String::as_str),
        ) + " (guardrail.yaml declares them)",
    ))
}

/// What a revision was evaluated against: the id of the baseline of each target it names and,
/// when a rule reads `inventory`, of every target of the environment (`None`: no baseline).
pub(super) type Bases = Vec<(String, Option<i64>)>;

/// The baselines a revision of `names` in `env` depends on, now.
pub(super) fn current_bases(
    tx: &mut dyn Tx,
    rt: &Runtime,
    env: &str,
    names: &[String],
) -> Result<Bases> {
    let mut all: Vec<String> = names.to_vec();
    if rt.uses_inventory {
        all.extend(rt.config.targets.iter().map(|t| t.name.clone()));
    }
    all.sort();
    all.dedup();
    let mut out = Vec::new();
    for n in all {
        let id = tx.baseline(&n, env)?.map(|b| b.id);
        out.push((n, id));
    }
    Ok(out)
}

/// Refuses control characters in the free text of a submission (422 naming the field).
fn check_submit_text(req: &SubmitChange) -> Result<()> {
    text_field("title", &req.title, Text::Line)?;
    text_field("ticket", &req.ticket, Text::Line)?;
    text_field("source_url", &req.source_url, Text::Line)?;
    text_field("commit", &req.commit, Text::Line)?;
    text_field("env", &req.env, Text::Line)?;
    Ok(())
}

fn load_change(tx: &mut dyn Tx, id: i64) -> Result<ChangeRow> {
    tx.change(id)?
        .ok_or_else(|| ServiceError::NotFound(format!("change {id} does not exist")))
}

impl Service {
    /// Runs one write transaction on change `id` with the effects to apply after the commit,
    /// then shows the change as it is now.
    fn change_op(
        &self,
        id: i64,
        f: impl FnOnce(&mut dyn Tx, &mut Effects) -> Result<()>,
    ) -> Result<ChangeView> {
        let mut fx = Effects::default();
        self.write(|tx| f(tx, &mut fx))?;
        self.apply(fx);
        self.show(id, false)
    }

    /// Parses, diffs and evaluates the content of a revision against the baselines, outside any
    /// write transaction: the baselines are read in a snapshot, and the caller's write
    /// transaction checks with [`bases_moved`] that they did not move meanwhile. Holds an
    /// evaluation slot while it works. Refuses (413) content over `server.max_change_bytes`.
    pub(super) fn evaluate_revision(
        &self,
        rt: &Runtime,
        env: &str,
        change: &ChangeInfo,
        contents: &[TargetContent],
    ) -> Result<(Evaluated, Bases)> {
        known_env(rt, env)?;
        if contents.is_empty() {
            return Err(ServiceError::invalid(
                "targets",
                "a change needs at least one target",
            ));
        }
        self.check_sizes(
            contents
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("targets[{i}].content"), t.content.as_str())),
            "targets",
        )?;
        // Names and formats first: nothing is parsed for a request that names a wrong target.
        let mut checked: Vec<(&guardrail_core::config::Target, Option<Format>)> = Vec::new();
        for (i, tc) in contents.iter().enumerate() {
            let field = format!("targets[{i}]");
            let t = rt.config.target(&tc.target).ok_or_else(|| {
                ServiceError::invalid(
                    &format!("{field}.target"),
                    unknown_name(
                        "target",
                        &tc.target,
                        rt.config.targets.iter().map(|t| t.name.as_str()),
                    ),
                )
            })?;
            if checked.iter().any(|(c, _)| c.name == t.name) {
                return Err(ServiceError::invalid(
                    &format!("{field}.target"),
                    format!("target `{}` is listed twice", t.name),
                ));
            }
            let in_env = t.environments.contains_key(env)
                || (t.environments.is_empty() && env == "production");
            if !in_env {
                return Err(ServiceError::invalid(
                    &format!("{field}.target"),
                    format!("target `{}` has no environment `{env}`", t.name),
                ));
            }
            let explicit = match &tc.format {
                Some(f) => Some(
                    Format::parse_name(f)
                        .map_err(|e| ServiceError::invalid(&format!("{field}.format"), e))?,
                ),
                None => t.format,
            };
            checked.push((t, explicit));
        }
        let _slot = self.eval_permit()?;
        let started = std::time::Instant::now();
        let names: Vec<String> = checked.iter().map(|(t, _)| t.name.clone()).collect();
        // One snapshot: the baselines diffed against, the others' for fan-in rules, and what
        // the write transaction will compare.
        let (olds, others, bases) = store::read(self.store.as_ref(), |tx| {
            let mut olds = Vec::new();
            for n in &names {
                olds.push(tx.baseline(n, env)?);
            }
            let others = baseline_inventory(tx, rt, env, |name| names.iter().any(|n| n == name))?;
            Ok::<_, ServiceError>((olds, others, current_bases(tx, rt, env, &names)?))
        })?;
        let mut news: Vec<(TargetInfo, Option<Loaded>, Loaded)> = Vec::new();
        for (i, ((t, explicit), (tc, base))) in
            checked.iter().zip(contents.iter().zip(olds)).enumerate()
        {
            let new = pipeline::parse(&t.name, tc.content.as_bytes(), *explicit).map_err(|e| {
                ServiceError::invalid(&format!("targets[{i}].content"), e.lines.join("; "))
            })?;
            let old = match base {
                Some(b) => Some(
                    pipeline::parse(
                        &format!("{} (baseline)", t.name),
                        b.content.as_bytes(),
                        Format::from_name(&b.format),
                    )
                    .map_err(|e| {
                        ServiceError::conflict(format!(
                            "the stored baseline of {} in {env} no longer parses: {}",
                            t.name,
                            e.lines.join("; ")
                        ))
                    })?,
                ),
                None => None,
            };
            let info = TargetInfo {
                name: t.name.clone(),
                kind: t.kind.clone(),
                env: env.to_string(),
                owners: t.owners.clone(),
                critical: t.critical,
                format: new.doc.format.name().to_string(),
            };
            news.push((info, old, new));
        }
        // Fan-in rules see every target of the environment: this change's new content, the
        // baselines of the others.
        let inventory = pipeline::inventory(
            news.iter().map(|(i, _, n)| InventoryEntry {
                target: i.clone(),
                doc: Some(&n.doc.root),
            }),
            &others,
        );
        let mut report = Report::default();
        for (info, old, new) in &news {
            pipeline::evaluate_target(
                &rt.policies,
                info,
                old.as_ref(),
                Some(new),
                change,
                &inventory,
                &rt.params,
                &mut report,
            );
        }
        let now = self.now();
        rt.waivers.apply(&rt.policies, &mut report, now);
        self.metrics.record_evaluations(&report);
        let env_settings = rt.settings.env(env);
        let reqs = requirements(&report.findings, &env_settings);
        let mandatory = mandatory_blockers(&report.findings);
        let verdict = report.verdict();
        let parts: Vec<(String, String)> = news
            .iter()
            .map(|(i, _, n)| (i.name.clone(), n.doc.content_hash()))
            .collect();
        let targets = news
            .iter()
            .zip(contents)
            .map(|((i, _, n), tc)| ChangeTarget {
                target: i.name.clone(),
                content_hash: n.doc.content_hash(),
                format: n.doc.format.name().to_string(),
                content: tc.content.clone(),
            })
            .collect();
        drop(inventory);
        drop(news);
        // What is stored and shown is bounded per target (`server.max_diff_entries`).
        let report_json = super::limits::render_bounded(&mut report, self.limits.max_diff_entries);
        let state = if !mandatory.is_empty() {
            State::Denied
        } else if !reqs.is_empty() {
            State::AwaitingApproval
        } else {
            State::Approved
        };
        self.metrics
            .policy
            .check_duration
            .observe(started.elapsed().as_secs_f64());
        Ok((
            Evaluated {
                targets,
                content_hash: combined_hash(&parts),
                report_json,
                requirements: reqs,
                mandatory,
                verdict: verdict.name().to_string(),
                state,
            },
            bases,
        ))
    }

    /// Evaluates outside the write transaction, then stores with `store` inside it; when a
    /// baseline moved in between, evaluates again (three tries, then 409).
    pub(super) fn with_fresh_bases<R>(
        &self,
        rt: &Runtime,
        env: &str,
        names: &[String],
        evaluate: impl Fn() -> Result<(Evaluated, Bases)>,
        store: impl Fn(&mut dyn Tx, &mut Effects, Evaluated) -> Result<R>,
    ) -> Result<R> {
        for _ in 0..3 {
            let (ev, bases) = evaluate()?;
            let mut fx = Effects::default();
            let stored = self.write(|tx| {
                if current_bases(tx, rt, env, names)? != bases {
                    return Ok(None);
                }
                store(tx, &mut fx, ev).map(Some)
            })?;
            if let Some(r) = stored {
                self.apply(fx);
                return Ok(r);
            }
        }
        Err(ServiceError::Conflict {
            message: format!(
                "the baselines of {env} moved three times while this change was evaluated"
            ),
            reasons: vec!["changes are being applied in this environment now; submit again".into()],
        })
    }

    /// `POST /v1/changes`.
    pub fn submit(&self, who: &Identity, req: SubmitChange) -> Result<ChangeView> {
        require(who, Role::Requester)?;
        check_submit_text(&req)?;
        if req.title.trim().is_empty() {
            return Err(ServiceError::invalid("title", "a change needs a title"));
        }
        let rt = self.runtime();
        let names: Vec<String> = req.targets.iter().map(|t| t.target.clone()).collect();
        let info = ChangeInfo {
            author: who.user.clone(),
            ticket: req.ticket.clone(),
            title: req.title.clone(),
        };
        let id = self.with_fresh_bases(
            &rt,
            &req.env,
            &names,
            || self.evaluate_revision(&rt, &req.env, &info, &req.targets),
            |tx, fx, ev| self.submit_in(tx, &rt, fx, who, &req, ev),
        )?;
        self.show(id, false)
    }

    /// Stores a new change evaluated as `ev` inside the caller's transaction; returns its id.
    /// The caller applies `fx` after the commit.
    pub(super) fn submit_in(
        &self,
        tx: &mut dyn store::Tx,
        rt: &Runtime,
        fx: &mut Effects,
        who: &Identity,
        req: &SubmitChange,
        ev: Evaluated,
    ) -> Result<i64> {
        let now = self.now();
        let env = rt.settings.env(&req.env);
        let mut c = ChangeRow {
            id: 0,
            env: req.env.clone(),
            state: State::Proposed,
            author: who.user.clone(),
            content_hash: ev.content_hash.clone(),
            revision: 1,
            created_at: now,
            updated_at: now,
            doc: ChangeDoc {
                title: req.title.clone(),
                ticket: req.ticket.clone(),
                source_url: req.source_url.clone(),
                commit: req.commit.clone(),
                requirements: ev.requirements.clone(),
                mandatory: ev.mandatory.clone(),
                verdict: ev.verdict.clone(),
                expires_at: Some(now + env.expire_after),
                ..Default::default()
            },
        };
        c.id = tx.insert_change(&c)?;
        tx.set_change_targets(c.id, &ev.targets)?;
        tx.set_change_evaluation(c.id, &ev.report_json)?;
        audit_change(
            tx,
            &who.user,
            "change.submit",
            &c,
            None,
            serde_json::json!({
                "title": req.title,
                "ticket": req.ticket,
                "source_url": req.source_url,
                "commit": req.commit,
                "targets": ev.targets.iter().map(|t| serde_json::json!({"target": t.target, "content_hash": t.content_hash})).collect::<Vec<_>>(),
                "verdict": ev.verdict,
            }),
            now,
        )?;
        transition(
            tx,
            fx,
            &mut c,
            ev.state,
            &who.user,
            "change.evaluate",
            serde_json::json!({"verdict": ev.verdict}),
            now,
        )?;
        Ok(c.id)
    }

    /// `POST /v1/changes/{id}/revisions`: new content, approvals voided, evaluated again.
    pub fn revise(&self, who: &Identity, id: i64, req: ReviseChange) -> Result<ChangeView> {
        require(who, Role::Requester)?;
        text_field("commit", &req.commit, Text::Line)?;
        let rt = self.runtime();
        // Who may revise, checked before the (costly) evaluation and again inside the write.
        let may_revise = |c: &ChangeRow| -> Result<()> {
            if c.author != who.user && !who.has(Role::Admin) {
                return Err(ServiceError::Forbidden(
                    "only the author (or an admin) may revise a change".into(),
                ));
            }
            if !c.state.accepts_revision() {
                return Err(ServiceError::conflict(format!(
                    "a change in state {} takes no new revision",
                    c.state
                )));
            }
            Ok(())
        };
        let before = store::read(self.store.as_ref(), |tx| load_change(tx, id))?;
        may_revise(&before)?;
        let names: Vec<String> = req.targets.iter().map(|t| t.target.clone()).collect();
        let info = ChangeInfo {
            author: before.author.clone(),
            ticket: before.doc.ticket.clone(),
            title: before.doc.title.clone(),
        };
        self.with_fresh_bases(
            &rt,
            &before.env,
            &names,
            || self.evaluate_revision(&rt, &before.env, &info, &req.targets),
            |tx, fx, ev| {
                let mut c = load_change(tx, id)?;
                may_revise(&c)?;
                if c.revision != before.revision {
                    return Err(ServiceError::conflict(format!(
                        "change {id} got revision {} while this one was evaluated; revise it again",
                        c.revision
                    )));
                }
                let now = self.now();
                let voided = tx.void_approvals(id, "new revision", now)?;
                if voided > 0 {
                    fx.invalidated.push(("new_revision", voided as u64));
                }
                c.revision += 1;
                c.content_hash = ev.content_hash.clone();
                c.doc.requirements = ev.requirements.clone();
                c.doc.mandatory = ev.mandatory.clone();
                c.doc.verdict = ev.verdict.clone();
                c.doc.scheduled_at = None;
                c.doc.break_glass = None;
                if !req.commit.is_empty() {
                    c.doc.commit = req.commit.clone();
                }
                tx.set_change_targets(id, &ev.targets)?;
                tx.set_change_evaluation(id, &ev.report_json)?;
                let detail =
                    serde_json::json!({"revision": c.revision, "approvals_voided": voided});
                transition(
                    tx,
                    fx,
                    &mut c,
                    State::Proposed,
                    &who.user,
                    "change.revise",
                    detail,
                    now,
                )?;
                transition(
                    tx,
                    fx,
                    &mut c,
                    ev.state,
                    &who.user,
                    "change.evaluate",
                    serde_json::json!({"verdict": ev.verdict}),
                    now,
                )?;
                Ok(())
            },
        )?;
        self.show(id, false)
    }

    /// The approval status and apply decision of a change, now.
    pub(super) fn gate_of(
        &self,
        rt: &Runtime,
        tx: &mut dyn Tx,
        c: &ChangeRow,
        now: DateTime<Utc>,
    ) -> Result<(ApprovalStatus, GateDecision)> {
        let env = rt.settings.env(&c.env);
        let approvals: Vec<ApprovalRecord> = tx
            .approvals(c.id)?
            .into_iter()
            .map(|a| ApprovalRecord {
                user: a.user,
                groups: a.groups,
                decision: a.decision,
                content_hash: a.content_hash,
                at: a.at,
            })
            .collect();
        let status = gate::approval_status(
            &c.doc.requirements,
            &approvals,
            &c.author,
            &c.content_hash,
            env.approval_ttl,
            now,
        );
        let targets = self.gate_targets(rt, tx, c, &env)?;
        let mut staging = Vec::new();
        for t in targets.iter().filter(|t| t.soak.is_some()) {
            for b in tx.baselines_with_hash(&t.name, &env.staging, &t.content_hash)? {
                staging.push(StagingApply {
                    target: b.target,
                    content_hash: b.content_hash,
                    applied_at: b.applied_at,
                    rolled_back: b.rolled_back_at.is_some(),
                });
            }
        }
        let freezes: Vec<_> = tx.freezes()?.into_iter().map(|f| f.freeze).collect();
        let decision = gate::decide(&GateInput {
            now,
            state: c.state,
            env: &env,
            targets: &targets,
            mandatory: &c.doc.mandatory,
            approvals: &status,
            staging: &staging,
            freezes: &freezes,
            scheduled_at: c.doc.scheduled_at,
            break_glass: c.doc.break_glass.is_some(),
        });
        Ok((status, decision))
    }

    fn gate_targets(
        &self,
        rt: &Runtime,
        tx: &mut dyn Tx,
        c: &ChangeRow,
        env: &EnvSettings,
    ) -> Result<Vec<GateTarget>> {
        Ok(tx
            .change_targets(c.id)?
            .into_iter()
            .map(|t| {
                let kind = rt
                    .config
                    .target(&t.target)
                    .map(|x| x.kind.clone())
                    .unwrap_or_else(|| "generic".into());
                let own = rt
                    .settings
                    .target_soak
                    .get(&(t.target.clone(), c.env.clone()))
                    .copied();
                GateTarget {
                    soak: env.soak_for(&kind, own),
                    name: t.target,
                    kind,
                    content_hash: t.content_hash,
                }
            })
            .collect())
    }

    /// `POST /v1/changes/{id}/approvals`.
    pub fn approve(&self, who: &Identity, id: i64, body: ApprovalBody) -> Result<ChangeView> {
        require(who, Role::Approver)?;
        text_field("comment", &body.comment, Text::Lines)?;
        let rt = self.runtime();
        let decision = match body.decision {
            DecisionBody::Approve => Decision::Approve,
            DecisionBody::Reject => Decision::Reject,
        };
        self.change_op(id, |tx, fx| {
            let mut c = load_change(tx, id)?;
            if body.content_hash != c.content_hash {
                return Err(ServiceError::Conflict {
                    message: format!(
                        "change {id} moved to content {} (revision {}); you reviewed {}",
                        c.content_hash, c.revision, body.content_hash
                    ),
                    reasons: vec!["review the new revision and approve its content hash".into()],
                });
            }
            if decision == Decision::Approve && c.author == who.user {
                return Err(ServiceError::Forbidden(
                    "the author cannot approve their own change".into(),
                ));
            }
            if !matches!(
                c.state,
                State::AwaitingApproval | State::Approved | State::Scheduled
            ) {
                return Err(ServiceError::conflict(format!(
                    "change {id} is {}; it takes no approvals",
                    c.state
                )));
            }
            let now = self.now();
            let row = ApprovalRow {
                id: 0,
                change_id: id,
                user: who.user.clone(),
                groups: who.groups.clone(),
                decision,
                comment: body.comment.clone(),
                content_hash: body.content_hash.clone(),
                at: now,
                voided: None,
            };
            let aid = tx.insert_approval(&row)?;
            fx.approvals.push(decision.name());
            let before = c.state;
            audit_change(
                tx,
                &who.user,
                &format!("change.{}", decision.name()),
                &c,
                Some(before),
                serde_json::json!({"approval": aid, "comment": body.comment, "groups": who.groups}),
                now,
            )?;
            let (status, _) = self.gate_of(&rt, tx, &c, now)?;
            if status.rejected_by.is_some() {
                transition(
                    tx,
                    fx,
                    &mut c,
                    State::Rejected,
                    &who.user,
                    "change.rejected",
                    serde_json::json!({"by": who.user}),
                    now,
                )?;
            } else if status.satisfied && c.state == State::AwaitingApproval {
                transition(
                    tx,
                    fx,
                    &mut c,
                    State::Approved,
                    &who.user,
                    "change.approved",
                    serde_json::json!({"counted": status.counted}),
                    now,
                )?;
            }
            Ok(())
        })
    }

    /// `POST /v1/changes/{id}/schedule`.
    pub fn schedule(&self, who: &Identity, id: i64, body: ScheduleBody) -> Result<ChangeView> {
        require(who, Role::Requester)?;
        let rt = self.runtime();
        self.change_op(id, |tx, fx| {
            let mut c = load_change(tx, id)?;
            if !matches!(c.state, State::Approved | State::Scheduled) {
                return Err(ServiceError::conflict(format!(
                    "change {id} is {}; only an approved change is scheduled",
                    c.state
                )));
            }
            let now = self.now();
            if body.at < now - chrono::Duration::minutes(1) {
                return Err(ServiceError::invalid("at", "the time is in the past"));
            }
            let env = rt.settings.env(&c.env);
            let freezes: Vec<_> = tx.freezes()?.into_iter().map(|f| f.freeze).collect();
            let mut reasons = Vec::new();
            for t in tx.change_targets(id)? {
                if let Err(e) = gate::window_open(&env, &freezes, &t.target, body.at) {
                    reasons.push(e);
                }
            }
            if !reasons.is_empty() {
                return Err(ServiceError::Conflict {
                    message: format!("{} is not inside an open window", body.at.to_rfc3339()),
                    reasons,
                });
            }
            c.doc.scheduled_at = Some(body.at);
            transition(
                tx,
                fx,
                &mut c,
                State::Scheduled,
                &who.user,
                "change.schedule",
                serde_json::json!({"at": body.at}),
                now,
            )?;
            Ok(())
        })
    }

    /// `POST /v1/changes/{id}/applied`: the deploy happened; the baselines move. Refused (409)
    /// unless the gate allows the change now.
    pub fn applied(&self, who: &Identity, id: i64, body: NoteBody) -> Result<ChangeView> {
        require(who, Role::Deployer)?;
        text_field("note", &body.note, Text::Lines)?;
        let rt = self.runtime();
        self.change_op(id, |tx, fx| {
            let now = self.now();
            let mut c = load_change(tx, id)?;
            let (_, decision) = self.gate_of(&rt, tx, &c, now)?;
            if !decision.allow {
                return Err(ServiceError::Conflict {
                    message: format!("change {id} may not be applied now"),
                    reasons: decision.reasons,
                });
            }
            self.record_applied(
                tx,
                fx,
                &mut c,
                &who.user,
                &body.note,
                &decision.overridden,
                now,
            )
        })
    }

    /// Moves a change to `applied`, its content to the baselines, and supersedes the other open
    /// changes of its targets (whose base has moved). Shared with drift detection.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record_applied(
        &self,
        tx: &mut dyn Tx,
        fx: &mut Effects,
        c: &mut ChangeRow,
        actor: &str,
        note: &str,
        overridden: &[String],
        now: DateTime<Utc>,
    ) -> Result<()> {
        c.doc.applied_at = Some(now);
        let targets = tx.change_targets(c.id)?;
        transition(
            tx,
            fx,
            c,
            State::Applied,
            actor,
            "change.applied",
            serde_json::json!({"note": note, "overridden": overridden}),
            now,
        )?;
        for t in &targets {
            tx.insert_baseline(&BaselineRow {
                id: 0,
                target: t.target.clone(),
                env: c.env.clone(),
                content: t.content.clone(),
                content_hash: t.content_hash.clone(),
                format: t.format.clone(),
                change_id: Some(c.id),
                origin: "change".into(),
                applied_at: now,
                rolled_back_at: None,
            })?;
            let open: Vec<State> = State::ALL
                .into_iter()
                .filter(|s| s.accepts_revision())
                .collect();
            for mut other in tx.changes_with_target(&c.env, &t.target, None, &open)? {
                if other.id == c.id {
                    continue;
                }
                transition(
                    tx,
                    fx,
                    &mut other,
                    State::Superseded,
                    actor,
                    "change.superseded",
                    serde_json::json!({"by_change": c.id, "target": t.target}),
                    now,
                )?;
            }
        }
        Ok(())
    }

    /// `POST /v1/changes/{id}/verified`.
    pub fn verified(&self, who: &Identity, id: i64, body: NoteBody) -> Result<ChangeView> {
        require(who, Role::Deployer)?;
        text_field("note", &body.note, Text::Lines)?;
        self.change_op(id, |tx, fx| {
            let now = self.now();
            let mut c = load_change(tx, id)?;
            self.record_verified(tx, fx, &mut c, &who.user, &body.note, now)
        })
    }

    /// Moves an applied change to `verified`. Shared with drift detection (post-apply
    /// verification).
    pub(super) fn record_verified(
        &self,
        tx: &mut dyn Tx,
        fx: &mut Effects,
        c: &mut ChangeRow,
        actor: &str,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        c.doc.verified_at = Some(now);
        transition(
            tx,
            fx,
            c,
            State::Verified,
            actor,
            "change.verified",
            serde_json::json!({"note": note}),
            now,
        )
    }

    /// `POST /v1/changes/{id}/rolled_back`: the previous baseline is restored.
    pub fn rolled_back(&self, who: &Identity, id: i64, body: NoteBody) -> Result<ChangeView> {
        require(who, Role::Deployer)?;
        text_field("note", &body.note, Text::Lines)?;
        self.change_op(id, |tx, fx| {
            let now = self.now();
            let mut c = load_change(tx, id)?;
            check_transition(c.state, State::RolledBack)
                .map_err(|e| ServiceError::conflict(e.to_string()))?;
            let mut restored = Vec::new();
            for t in tx.change_targets(id)? {
                if let Some(b) = tx.baseline(&t.target, &c.env)?
                    && b.change_id == Some(id)
                {
                    tx.mark_rolled_back(b.id, now)?;
                    let back = tx.baseline(&t.target, &c.env)?;
                    tx.append_audit(
                        &AuditEntry {
                            actor: who.user.clone(),
                            action: "baseline.restore".into(),
                            subject: format!("target/{}@{}", t.target, c.env),
                            before: Some(b.content_hash.clone()),
                            after: back.as_ref().map(|x| x.content_hash.clone()),
                            content_hash: back.as_ref().map(|x| x.content_hash.clone()),
                            detail: serde_json::json!({"change": id, "restored_baseline": back.as_ref().map(|x| x.id)}),
                        },
                        now,
                    )?;
                    restored.push(serde_json::json!({"target": t.target, "baseline": back.map(|x| x.content_hash)}));
                }
            }
            c.doc.rolled_back_at = Some(now);
            transition(
                tx,
                fx,
                &mut c,
                State::RolledBack,
                &who.user,
                "change.rolled_back",
                serde_json::json!({"note": body.note, "restored": restored}),
                now,
            )
        })
    }

    /// `POST /v1/changes/{id}/cancel`: by the author or an admin.
    pub fn cancel(&self, who: &Identity, id: i64, body: NoteBody) -> Result<ChangeView> {
        require(who, Role::Requester)?;
        text_field("note", &body.note, Text::Lines)?;
        self.change_op(id, |tx, fx| {
            let now = self.now();
            let mut c = load_change(tx, id)?;
            if c.author != who.user && !who.has(Role::Admin) {
                return Err(ServiceError::Forbidden(
                    "only the author (or an admin) may cancel a change".into(),
                ));
            }
            transition(
                tx,
                fx,
                &mut c,
                State::Cancelled,
                &who.user,
                "change.cancel",
                serde_json::json!({"note": body.note}),
                now,
            )
        })
    }

    /// `POST /v1/changes/{id}/break-glass`: passes every gate, opens a retro review.
    pub fn break_glass(&self, who: &Identity, id: i64, body: BreakGlassBody) -> Result<ChangeView> {
        require(who, Role::Breakglass)?;
        text_field("reason", &body.reason, Text::Line)?;
        text_field("incident", &body.incident, Text::Line)?;
        if body.reason.trim().is_empty() {
            return Err(ServiceError::invalid(
                "reason",
                "break-glass needs a reason",
            ));
        }
        if body.incident.trim().is_empty() {
            return Err(ServiceError::invalid(
                "incident",
                "break-glass needs an incident id",
            ));
        }
        let rt = self.runtime();
        self.change_op(id, |tx, fx| {
            let now = self.now();
            let mut c = load_change(tx, id)?;
            // Every state a change can still be pushed from: open (scheduled included),
            // rejected, denied. An applied change has passed its gate; the other states are
            // closed.
            if !c.state.accepts_revision() {
                return Err(ServiceError::conflict(format!(
                    "change {id} is {}; break-glass applies to a change not yet applied",
                    c.state
                )));
            }
            c.doc.break_glass = Some(BreakGlass {
                by: who.user.clone(),
                reason: body.reason.clone(),
                incident: body.incident.clone(),
                at: now,
            });
            let due = now + rt.retro_due;
            let rid = tx.insert_retro(&RetroReview {
                id: 0,
                change_id: id,
                opened_by: Some(who.user.clone()),
                opened_at: now,
                due_at: due,
                closed_at: None,
                closed_by: None,
                note: None,
            })?;
            let detail = serde_json::json!({"reason": body.reason, "incident": body.incident, "retro_review": rid, "retro_due": due, "mandatory_overridden": c.doc.mandatory});
            // An approved or scheduled change stays where it is (the gate lets break-glass pass
            // the schedule too); any other moves to approved.
            if matches!(c.state, State::Approved | State::Scheduled) {
                tx.update_change(&c)?;
                audit_change(
                    tx,
                    &who.user,
                    "change.break_glass",
                    &c,
                    Some(c.state),
                    detail,
                    now,
                )?;
            } else {
                transition(
                    tx,
                    fx,
                    &mut c,
                    State::Approved,
                    &who.user,
                    "change.break_glass",
                    detail,
                    now,
                )?;
            }
            fx.break_glass += 1;
            super::alerts::break_glass_notices(tx, &rt, &c, now)?;
            Ok(())
        })
    }

    /// `GET /v1/changes/{id}`.
    pub fn show(&self, id: i64, with_evaluation: bool) -> Result<ChangeView> {
        let rt = self.runtime();
        let now = self.now();
        store::read(self.store.as_ref(), |tx| {
            let c = load_change(tx, id)?;
            let mut v = self.view(&rt, tx, c, now)?;
            if with_evaluation {
                v.evaluation = tx
                    .change_evaluation(id)?
                    .and_then(|s| serde_json::from_str(&s).ok());
            }
            Ok(v)
        })
    }

    /// `GET /v1/changes`.
    pub fn list(&self, f: ChangeFilter) -> Result<Vec<ChangeView>> {
        let rt = self.runtime();
        let now = self.now();
        store::read(self.store.as_ref(), |tx| {
            let rows = tx.changes(&f)?;
            rows.into_iter()
                .map(|c| self.view(&rt, tx, c, now))
                .collect()
        })
    }

    fn view(
        &self,
        rt: &Runtime,
        tx: &mut dyn Tx,
        c: ChangeRow,
        now: DateTime<Utc>,
    ) -> Result<ChangeView> {
        let (status, decision) = self.gate_of(rt, tx, &c, now)?;
        let approvals = tx
            .approvals(c.id)?
            .into_iter()
            .map(|a| ApprovalView {
                id: a.id,
                user: a.user,
                decision: a.decision.name().to_string(),
                comment: a.comment,
                content_hash: a.content_hash,
                at: a.at,
            })
            .collect();
        let targets = tx
            .change_targets(c.id)?
            .into_iter()
            .map(|t| ChangeTargetView {
                target: t.target,
                format: t.format,
                content_hash: t.content_hash,
            })
            .collect();
        Ok(ChangeView {
            id: c.id,
            env: c.env,
            state: c.state.name().to_string(),
            author: c.author,
            title: c.doc.title,
            ticket: c.doc.ticket,
            source_url: c.doc.source_url,
            commit: c.doc.commit,
            revision: c.revision,
            content_hash: c.content_hash,
            verdict: c.doc.verdict,
            created_at: c.created_at,
            updated_at: c.updated_at,
            scheduled_at: c.doc.scheduled_at,
            applied_at: c.doc.applied_at,
            verified_at: c.doc.verified_at,
            rolled_back_at: c.doc.rolled_back_at,
            expires_at: c.doc.expires_at,
            break_glass: c.doc.break_glass.map(|b| BreakGlassView {
                by: b.by,
                reason: b.reason,
                incident: b.incident,
                at: b.at,
            }),
            targets,
            requirements: c.doc.requirements,
            mandatory: c.doc.mandatory,
            approvals,
            gate: GateView {
                approvals: status,
                decision,
            },
            evaluation: None,
        })
    }

    /// `GET /v1/gate?target=&env=&hash=`: may this content be pushed now?
    pub fn gate(&self, target: &str, env: &str, hash: &str) -> Result<GateAnswer> {
        let rt = self.runtime();
        let now = self.now();
        let answer = |allow: bool, change_id: Option<i64>, reasons: Vec<String>| GateAnswer {
            allow,
            target: target.to_string(),
            env: env.to_string(),
            hash: hash.to_string(),
            change_id,
            reasons,
        };
        if rt.config.target(target).is_none() {
            return Err(ServiceError::invalid(
                "target",
                unknown_name(
                    "target",
                    target,
                    rt.config.targets.iter().map(|t| t.name.as_str()),
                ),
            ));
        }
        known_env(&rt, env)?;
        let key = (target.to_string(), env.to_string(), hash.to_string());
        if let Some(a) = self.cached_gate(&key) {
            return Ok(a);
        }
        // The generation is read before the data: a write racing with this read makes the
        // cached answer stale at once rather than never.
        let generation = self.generation();
        let result: GateAnswer = store::read(self.store.as_ref(), |tx| -> Result<GateAnswer> {
            if let Some(b) = tx.baseline(target, env)?
                && b.content_hash == hash
            {
                return Ok(answer(
                    true,
                    b.change_id,
                    vec![format!(
                        "{hash} is already the baseline of {target} in {env}"
                    )],
                ));
            }
            let candidates = tx.changes_with_target(
                env,
                target,
                Some(hash),
                &[State::Approved, State::Scheduled],
            )?;
            let mut why = Vec::new();
            for c in &candidates {
                let (_, d) = self.gate_of(&rt, tx, c, now)?;
                if d.allow {
                    return Ok(answer(
                        true,
                        Some(c.id),
                        d.overridden
                            .iter()
                            .map(|o| format!("passed by break-glass: {o}"))
                            .collect(),
                    ));
                }
                why.extend(
                    d.reasons
                        .into_iter()
                        .map(|r| format!("change {}: {r}", c.id)),
                );
            }
            if candidates.is_empty() {
                let others: Vec<State> = State::ALL
                    .into_iter()
                    .filter(|s| s.accepts_revision())
                    .collect();
                let pending = tx.changes_with_target(env, target, Some(hash), &others)?;
                why.push(format!(
                    "no approved change of {target} in {env} carries content {hash}"
                ));
                for c in pending {
                    why.push(format!("change {} with this content is {}", c.id, c.state));
                }
            }
            Ok(answer(false, candidates.first().map(|c| c.id), why))
        })?;
        self.cache_gate(key, generation, &result);
        Ok(result)
    }

    /// `POST /v1/freezes`.
    pub fn freeze(&self, who: &Identity, body: FreezeBody) -> Result<FreezeView> {
        require(who, Role::Admin)?;
        text_field("reason", &body.reason, Text::Line)?;
        text_field("targets", &body.targets, Text::Line)?;
        if body.reason.trim().is_empty() {
            return Err(ServiceError::invalid("reason", "a freeze needs a reason"));
        }
        if let Err(e) = globset::Glob::new(&body.targets) {
            return Err(ServiceError::invalid("targets", format!("not a glob: {e}")));
        }
        known_env(&self.runtime(), &body.env)?;
        let now = self.now();
        if let Some(until) = body.until
            && until <= now
        {
            return Err(ServiceError::invalid(
                "until",
                format!(
                    "{} is not in the future (now is {})",
                    until.to_rfc3339(),
                    now.to_rfc3339()
                ),
            ));
        }
        let mut row = FreezeRow {
            freeze: guardrail_core::change::Freeze {
                id: 0,
                env: body.env.clone(),
                targets: body.targets.clone(),
                reason: body.reason.clone(),
                from: now,
                until: body.until,
            },
            created_by: who.user.clone(),
            lifted_at: None,
            lifted_by: None,
        };
        row.freeze.id = self.write(|tx| {
            let id = tx.insert_freeze(&row)?;
            tx.append_audit(
                &AuditEntry {
                    actor: who.user.clone(),
                    action: "freeze.create".into(),
                    subject: format!("freeze/{id}"),
                    detail: serde_json::json!({"env": body.env, "targets": body.targets, "reason": body.reason, "until": body.until}),
                    ..Default::default()
                },
                now,
            )?;
            Ok::<_, ServiceError>(id)
        })?;
        Ok(freeze_view(row))
    }

    /// `DELETE /v1/freezes/{id}`.
    pub fn lift_freeze(&self, who: &Identity, id: i64) -> Result<()> {
        require(who, Role::Admin)?;
        let now = self.now();
        self.write(|tx| {
            if !tx.lift_freeze(id, &who.user, now)? {
                return Err(ServiceError::NotFound(format!("no active freeze {id}")));
            }
            tx.append_audit(
                &AuditEntry {
                    actor: who.user.clone(),
                    action: "freeze.lift".into(),
                    subject: format!("freeze/{id}"),
                    ..Default::default()
                },
                now,
            )?;
            Ok(())
        })
    }

    /// `GET /v1/freezes`: freezes in force or to come.
    pub fn freezes(&self) -> Result<Vec<FreezeView>> {
        let now = self.now();
        let rows = store::read(self.store.as_ref(), |tx| tx.freezes())?;
        Ok(rows
            .into_iter()
            .filter(|f| f.freeze.until.is_none_or(|u| u > now))
            .map(freeze_view)
            .collect())
    }

    /// `GET /v1/retro-reviews`.
    pub fn retros(&self, open_only: bool) -> Result<Vec<RetroView>> {
        let now = self.now();
        let rows = store::read(self.store.as_ref(), |tx| tx.retros(open_only))?;
        Ok(rows
            .into_iter()
            .map(|r| RetroView {
                overdue: r.closed_at.is_none() && r.due_at <= now,
                id: r.id,
                change_id: r.change_id,
                opened_by: r.opened_by,
                opened_at: r.opened_at,
                due_at: r.due_at,
                closed_at: r.closed_at,
                closed_by: r.closed_by,
                note: r.note,
            })
            .collect())
    }

    /// `POST /v1/retro-reviews/{id}/close`: by an approver who neither used the break-glass
    /// nor wrote the change (four eyes; the admin role does not lift it).
    pub fn close_retro(&self, who: &Identity, id: i64, body: CloseRetroBody) -> Result<()> {
        require(who, Role::Approver)?;
        text_field("note", &body.note, Text::Lines)?;
        if body.note.trim().is_empty() {
            return Err(ServiceError::invalid(
                "note",
                "closing a retro review needs a note (findings, follow-ups)",
            ));
        }
        let now = self.now();
        self.write(|tx| {
            let r = tx
                .retro(id)?
                .filter(|r| r.closed_at.is_none())
                .ok_or_else(|| ServiceError::NotFound(format!("no open retro review {id}")))?;
            let c = load_change(tx, r.change_id)?;
            // Stores older than schema 3 did not record who opened the review: the change's
            // break-glass names them (unless a new revision cleared it).
            let broke_glass = r
                .opened_by
                .clone()
                .or_else(|| c.doc.break_glass.as_ref().map(|b| b.by.clone()));
            if broke_glass.as_deref() == Some(who.user.as_str()) {
                return Err(ServiceError::Forbidden(format!(
                    "{} used the break-glass of change {} and cannot close its retro review; another approver must (four eyes)",
                    who.user, c.id
                )));
            }
            if c.author == who.user {
                return Err(ServiceError::Forbidden(format!(
                    "{} wrote change {} and cannot close its retro review; another approver must (four eyes)",
                    who.user, c.id
                )));
            }
            if !tx.close_retro(id, &who.user, &body.note, now)? {
                return Err(ServiceError::NotFound(format!("no open retro review {id}")));
            }
            tx.append_audit(
                &AuditEntry {
                    actor: who.user.clone(),
                    action: "retro.close".into(),
                    subject: format!("retro/{id}"),
                    detail: serde_json::json!({
                        "note": body.note,
                        "change": c.id,
                        "author": c.author,
                        "break_glass_by": broke_glass,
                    }),
                    ..Default::default()
                },
                now,
            )?;
            Ok(())
        })
    }

    /// Periodic housekeeping: open changes past `expire_after` expire; approved changes whose
    /// approvals lapsed go back to `awaiting_approval`. Returns how many changes moved.
    pub fn sweep(&self) -> Result<usize> {
        let rt = self.runtime();
        let mut fx = Effects::default();
        let moved = self.write(|tx| {
            let now = self.now();
            let mut moved = 0;
            for state in [
                State::Proposed,
                State::AwaitingApproval,
                State::Approved,
                State::Scheduled,
            ] {
                for mut c in tx.changes(&ChangeFilter {
                    state: Some(state),
                    limit: 1000,
                    ..Default::default()
                })? {
                    if c.doc.expires_at.is_some_and(|e| e <= now) {
                        let detail = serde_json::json!({"expired_at": c.doc.expires_at});
                        transition(
                            tx,
                            &mut fx,
                            &mut c,
                            State::Expired,
                            "guardrail",
                            "change.expire",
                            detail,
                            now,
                        )?;
                        moved += 1;
                        continue;
                    }
                    if matches!(state, State::Approved | State::Scheduled)
                        && c.doc.break_glass.is_none()
                    {
                        let (status, _) = self.gate_of(&rt, tx, &c, now)?;
                        if !status.satisfied {
                            fx.invalidated.push((
                                "expired",
                                status
                                    .ignored
                                    .iter()
                                    .filter(|i| i.contains("expired"))
                                    .count() as u64,
                            ));
                            c.doc.scheduled_at = None;
                            let ttl = fmt_duration(rt.settings.env(&c.env).approval_ttl);
                            transition(
                                tx,
                                &mut fx,
                                &mut c,
                                State::AwaitingApproval,
                                "guardrail",
                                "change.approvals_lapsed",
                                serde_json::json!({"missing": status.missing, "approval_ttl": ttl}),
                                now,
                            )?;
                            moved += 1;
                        }
                    }
                }
            }
            Ok::<_, ServiceError>(moved)
        })?;
        self.apply(fx);
        Ok(moved)
    }
}

fn freeze_view(f: FreezeRow) -> FreezeView {
    FreezeView {
        id: f.freeze.id,
        env: f.freeze.env,
        targets: f.freeze.targets,
        reason: f.freeze.reason,
        created_by: f.created_by,
        from: f.freeze.from,
        until: f.freeze.until,
    }
}
