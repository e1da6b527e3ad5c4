//! `POST /v1/evaluate`: the stateless check of one change — the same pipeline as `guardrail
//! check` in files mode, on content sent in the request. It writes nothing; it reads the store
//! only for fan-in rules (the other targets' baselines), once per environment and store
//! generation.

use std::sync::Arc;

use super::api::EvaluateBody;
use super::{Result, Runtime, Service, ServiceError};
use guardrail_core::config::{KINDS, Target};
use guardrail_core::document::Format;
use guardrail_core::pipeline::{self, Loaded};
use guardrail_core::policy::{ChangeInfo, InventoryEntry, TargetInfo};
use guardrail_core::project;
use guardrail_core::report::Report;
use guardrail_store::{self as store, Tx};

/// For fan-in rules: the stored baselines of the environment's targets (parsed), except those
/// `skip` names (the ones being evaluated, whose new content the caller has). Empty when no
/// rule reads `inventory`. Shared with change submission and drift recording.
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
            let info = project::target_info(Some(t), &t.name, &t.kind, env, l.doc.format);
            others.push((info, l));
        }
    }
    Ok(others)
}

impl Service {
    /// The parsed baselines of `env`'s targets, from the cache while nothing was written since.
    fn env_baselines(&self, rt: &Runtime, env: &str) -> Result<Arc<Vec<(TargetInfo, Loaded)>>> {
        // Unknown environments have no baselines; they are not cached (the key space stays the
        // declared environments).
        if !rt.config.environments.iter().any(|e| e == env) {
            return Ok(Arc::default());
        }
        // Read before the store: a write meanwhile leaves an entry one generation behind, which
        // the next call reloads.
        let generation = self.generation();
        let cache = &self.inventory_cache;
        if let Some((g, docs)) = cache.read().unwrap_or_else(|p| p.into_inner()).get(env)
            && *g == generation
        {
            return Ok(docs.clone());
        }
        let docs = Arc::new(store::read(self.store.as_ref(), |tx| {
            baseline_inventory(tx, rt, env, |_| false)
        })?);
        cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(env.to_string(), (generation, docs.clone()));
        Ok(docs)
    }

    /// The checks of an evaluation request that need no parsing: a declared environment (422
    /// naming `env`, the nearest and the declared names; `production` when none is declared),
    /// the size of each side (413 above `server.max_change_bytes`).
    pub fn check_evaluate(&self, body: &EvaluateBody) -> Result<()> {
        let rt = self.runtime();
        // A guardrail.yaml that declares no environment at all (policies only) still evaluates
        // in the default one, as `guardrail check` does.
        if !(rt.config.environments.is_empty() && body.env == "production") {
            super::input::known_env(&rt, &body.env)?;
        }
        // Old and new are two versions of one target: each may be as large as a target.
        for (field, side) in [("old", &body.old), ("new", &body.new)] {
            if let Some(text) = side {
                self.check_sizes([(field.to_string(), text.as_str())], field)?;
            }
        }
        Ok(())
    }

    /// Evaluates and returns the report as JSON text (`check --output json` shape), its diffs
    /// bounded per target (`server.max_diff_entries`).
    pub fn evaluate(&self, body: &EvaluateBody) -> Result<String> {
        self.check_evaluate(body)?;
        let started = std::time::Instant::now();
        let rt = self.runtime();
        let known = body.target.as_deref().and_then(|t| rt.config.target(t));
        let kind = kind_of(body, known)?;
        let (old, new) = parse_pair(body, known)?;
        let info = TargetInfo {
            name: body.target.clone().unwrap_or_else(|| "change".to_string()),
            kind,
            env: body.env.clone(),
            owners: known.map(|t| t.owners.clone()).unwrap_or_default(),
            critical: known.is_some_and(|t| t.critical),
            format: new
                .as_ref()
                .or(old.as_ref())
                .map(|l| l.doc.format.name().to_string())
                .unwrap_or_default(),
        };
        // Fan-in rules see the other targets' baselines, as for a submitted change.
        let others = if rt
            .policies
            .uses_inventory_for(&info.kind, &info.name, &info.env)
        {
            self.env_baselines(&rt, &info.env)?
        } else {
            Arc::default()
        };
        // The cached baselines include this target's: its sent content supersedes it.
        let inventory = pipeline::inventory(
            [InventoryEntry {
                target: info.clone(),
                doc: new.as_ref().map(|n| &n.doc.root),
            }],
            &others,
        );
        let mut report = Report::default();
        pipeline::evaluate_target(
            &rt.policies,
            &info,
            old.as_ref(),
            new.as_ref(),
            &ChangeInfo::default(),
            &inventory,
            &rt.params,
            &mut report,
        );
        rt.waivers.apply(&rt.policies, &mut report, self.now());
        // Nothing is written: the evaluation counts at once.
        self.metrics.record_evaluations(&report);
        self.metrics
            .policy
            .check_duration
            .observe(started.elapsed().as_secs_f64());
        Ok(super::limits::render_bounded(
            &mut report,
            self.limits.max_diff_entries,
        ))
    }
}

/// The kind of target evaluated: the body's, else the named target's (422 naming `kind` when
/// there is neither, or it is unknown).
fn kind_of(body: &EvaluateBody, known: Option<&Target>) -> Result<String> {
    let kind = match (&body.kind, known) {
        (Some(k), _) => k.clone(),
        (None, Some(t)) => t.kind.clone(),
        (None, None) => {
            return Err(ServiceError::invalid(
                "kind",
                "give `kind` (or a `target` of guardrail.yaml)",
            ));
        }
    };
    if !KINDS.contains(&kind.as_str()) {
        return Err(ServiceError::invalid(
            "kind",
            format!(
                "unknown kind `{kind}`; expected one of {}",
                KINDS.join(", ")
            ),
        ));
    }
    Ok(kind)
}

/// The old and new sides parsed (at least one given), both with one format: the explicit one
/// (the body's, else the named target's), else the new side's. 422 naming the side that does
/// not parse.
fn parse_pair(
    body: &EvaluateBody,
    known: Option<&Target>,
) -> Result<(Option<Loaded>, Option<Loaded>)> {
    let name = body.target.as_deref().unwrap_or("change");
    let explicit = match &body.format {
        Some(f) => Some(Format::parse_name(f).map_err(|e| ServiceError::invalid("format", e))?),
        None => known.and_then(|t| t.format),
    };
    if body.old.is_none() && body.new.is_none() {
        return Err(ServiceError::invalid("new", "give `old`, `new` or both"));
    }
    let parse = |field: &str, label: &str, text: &str, f: Option<Format>| {
        pipeline::parse(label, text.as_bytes(), f)
            .map_err(|e| ServiceError::invalid(field, e.lines.join("; ")))
    };
    let new = match &body.new {
        Some(t) => Some(parse("new", name, t, explicit)?),
        None => None,
    };
    let fmt = explicit.or(new.as_ref().map(|n| n.doc.format));
    let old = match &body.old {
        Some(t) => Some(parse("old", &format!("{name} (old)"), t, fmt)?),
        None => None,
    };
    Ok((old, new))
}
