//! The evaluation every revision goes through (submit, revise, adopt): the targets checked by
//! name and format, the content parsed, diffed and evaluated against the baselines read in a
//! snapshot — outside any write transaction, holding an evaluation slot — and then stored by
//! the caller in a write transaction that first checks the baselines did not move.

use super::super::api::{SubmitChange, TargetContent};
use super::super::context::OpContext;
use super::super::evaluate::baseline_inventory;
use super::super::input::{known_env, unknown_name};
use super::super::limits::render_bounded;
use super::super::{Result, Runtime, Service, ServiceError, combined_hash};
use crate::metrics::{Metrics, RuleLabels};
use guardrail_core::change::gate::{mandatory_blockers, requirements};
use guardrail_core::change::{Requirement, State};
use guardrail_core::config::Target;
use guardrail_core::document::Format;
use guardrail_core::pipeline::{self, Loaded};
use guardrail_core::policy::{ChangeInfo, InventoryEntry, TargetInfo};
use guardrail_core::project;
use guardrail_core::report::Report;
use guardrail_store::{self as store, BaselineRow, ChangeTarget, Tx};

/// What a revision is: its environment, who wrote it and the new content of its targets.
pub(super) struct Revision<'a> {
    pub env: &'a str,
    pub info: ChangeInfo,
    pub contents: &'a [TargetContent],
}

impl<'a> Revision<'a> {
    /// The first revision of a new change, `author`'s.
    pub fn submitted(author: &str, req: &'a SubmitChange) -> Revision<'a> {
        Revision {
            env: &req.env,
            info: ChangeInfo {
                author: author.to_string(),
                ticket: req.ticket.clone(),
                title: req.title.clone(),
            },
            contents: &req.targets,
        }
    }
}

/// A revision evaluated: what to store.
pub(super) struct Evaluated {
    pub targets: Vec<ChangeTarget>,
    pub content_hash: String,
    pub report_json: String,
    pub requirements: Vec<Requirement>,
    pub mandatory: Vec<String>,
    pub verdict: String,
    pub state: State,
    /// Counted once the revision is stored (after the commit).
    evaluations: Vec<RuleLabels>,
    check_seconds: f64,
}

impl Evaluated {
    /// Notes the evaluation's metrics for after the commit of the transaction storing it.
    pub fn count(&mut self, cx: &mut OpContext<'_>) {
        cx.fx.evaluations.append(&mut self.evaluations);
        cx.fx.check_seconds.push(self.check_seconds);
    }
}

/// What a revision was evaluated against: the id of the baseline of each target it names and,
/// when a rule reads `inventory`, of every target of the environment (`None`: no baseline).
type Bases = Vec<(String, Option<i64>)>;

/// A target of the revision checked: its config entry and the format asked for, if any.
type Checked<'r> = (&'r Target, Option<Format>);

/// One target parsed: who it is, its baseline (if any) and its new content.
type Sides = (TargetInfo, Option<Loaded>, Loaded);

/// The state a revision's evaluation leaves it in: denied by a mandatory finding, else
/// awaiting the approvals its findings and environment require, else approved.
pub(super) fn evaluated_state(mandatory: &[String], reqs: &[Requirement]) -> State {
    if !mandatory.is_empty() {
        State::Denied
    } else if !reqs.is_empty() {
        State::AwaitingApproval
    } else {
        State::Approved
    }
}

/// The baselines a revision of `names` in `env` depends on, now.
fn current_bases(tx: &mut dyn Tx, rt: &Runtime, env: &str, names: &[String]) -> Result<Bases> {
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

/// Names and formats of the targets, checked before anything is parsed: each a target of
/// guardrail.yaml, listed once, with the environment (422 naming the field otherwise).
fn check_targets<'r>(
    rt: &'r Runtime,
    env: &str,
    contents: &[TargetContent],
) -> Result<Vec<Checked<'r>>> {
    let mut checked: Vec<Checked<'r>> = Vec::new();
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
        let in_env =
            t.environments.contains_key(env) || (t.environments.is_empty() && env == "production");
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
    Ok(checked)
}

/// Parses each target's new content (422 naming it when it does not parse) and its stored
/// baseline (409 when that no longer parses).
fn parse_sides(
    env: &str,
    checked: &[Checked<'_>],
    contents: &[TargetContent],
    olds: Vec<Option<BaselineRow>>,
) -> Result<Vec<Sides>> {
    let mut news = Vec::new();
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
        let info = project::target_info(Some(t), &t.name, &t.kind, env, new.doc.format);
        news.push((info, old, new));
    }
    Ok(news)
}

impl Service {
    /// Parses, diffs and evaluates the content of a revision against the baselines, outside any
    /// write transaction: the baselines are read in a snapshot, and the write transaction of
    /// [`Service::store_revision`] checks that they did not move meanwhile. Holds an evaluation
    /// slot while it works. Refuses (413) content over `server.max_change_bytes`.
    fn evaluate_revision(&self, rt: &Runtime, r: &Revision<'_>) -> Result<(Evaluated, Bases)> {
        let (env, contents) = (r.env, r.contents);
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
        let checked = check_targets(rt, env, contents)?;
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
        let news = parse_sides(env, &checked, contents, olds)?;
        let mut ev = self.judge(rt, r, news, &others);
        ev.check_seconds = started.elapsed().as_secs_f64();
        Ok((ev, bases))
    }

    /// Evaluates the parsed revision (fan-in rules see this change's new content beside the
    /// other targets' baselines) and decides what to store: requirements, mandatory blockers,
    /// verdict and state, the report bounded per target (`server.max_diff_entries`).
    fn judge(
        &self,
        rt: &Runtime,
        r: &Revision<'_>,
        news: Vec<Sides>,
        others: &[(TargetInfo, Loaded)],
    ) -> Evaluated {
        let inventory = pipeline::inventory(
            news.iter().map(|(i, _, n)| InventoryEntry {
                target: i.clone(),
                doc: Some(&n.doc.root),
            }),
            others,
        );
        let mut report = Report::default();
        for (info, old, new) in &news {
            pipeline::evaluate_target(
                &rt.policies,
                info,
                old.as_ref(),
                Some(new),
                &r.info,
                &inventory,
                &rt.params,
                &mut report,
            );
        }
        rt.waivers.apply(&rt.policies, &mut report, self.now());
        let evaluations = Metrics::evaluation_results(&report);
        let reqs = requirements(&report.findings, &rt.settings.env(r.env));
        let mandatory = mandatory_blockers(&report.findings);
        let verdict = report.verdict().name().to_string();
        let parts: Vec<(String, String)> = news
            .iter()
            .map(|(i, _, n)| (i.name.clone(), n.doc.content_hash()))
            .collect();
        let targets = news
            .iter()
            .zip(r.contents)
            .map(|((i, _, n), tc)| ChangeTarget {
                target: i.name.clone(),
                content_hash: n.doc.content_hash(),
                format: n.doc.format.name().to_string(),
                content: tc.content.clone(),
            })
            .collect();
        // The parsed documents go before the report is rendered: a large change holds both.
        drop(inventory);
        drop(news);
        Evaluated {
            targets,
            content_hash: combined_hash(&parts),
            report_json: render_bounded(&mut report, self.limits.max_diff_entries),
            state: evaluated_state(&mandatory, &reqs),
            requirements: reqs,
            mandatory,
            verdict,
            evaluations,
            check_seconds: 0.0,
        }
    }

    /// Evaluates revision `r` outside the write transaction, then stores it with `store` in
    /// one (acting as `actor`); when a baseline moved in between, evaluates again (three
    /// tries, then 409).
    pub(super) fn store_revision<R>(
        &self,
        actor: &str,
        r: &Revision<'_>,
        store: impl Fn(&mut dyn Tx, &mut OpContext<'_>, Evaluated) -> Result<R>,
    ) -> Result<R> {
        let rt = self.runtime();
        let names: Vec<String> = r.contents.iter().map(|t| t.target.clone()).collect();
        for _ in 0..3 {
            let (ev, bases) = self.evaluate_revision(&rt, r)?;
            let stored = self.transact(actor, &rt, |tx, cx| {
                if current_bases(tx, cx.rt, r.env, &names)? != bases {
                    return Ok(None);
                }
                store(tx, cx, ev).map(Some)
            })?;
            if let Some(v) = stored {
                return Ok(v);
            }
        }
        Err(ServiceError::Conflict {
            message: format!(
                "the baselines of {} moved three times while this change was evaluated",
                r.env
            ),
            reasons: vec!["changes are being applied in this environment now; submit again".into()],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mandatory_finding_denies_before_any_approval_is_asked() {
        let req = Requirement {
            count: 1,
            groups: vec![],
            source: "environment production".into(),
        };
        let blocked = vec!["lb-invariants/y: blocked".to_string()];
        assert_eq!(
            evaluated_state(&blocked, std::slice::from_ref(&req)),
            State::Denied
        );
        assert_eq!(evaluated_state(&[], &[req]), State::AwaitingApproval);
        assert_eq!(evaluated_state(&[], &[]), State::Approved);
    }
}
