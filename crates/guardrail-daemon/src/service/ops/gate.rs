//! `GET /v1/gate?target=&env=&hash=`: may this content be pushed to this target now? Yes when
//! it is the baseline already, or when an approved or scheduled change carries it and the gate
//! (`change::gate::decide`) lets that change through. Answers are cached per store generation
//! for at most [`GATE_CACHE_TTL`].

use chrono::{DateTime, Utc};

use super::super::api::GateAnswer;
use super::super::gates::gate_of;
use super::super::input::{known_env, unknown_name};
use super::super::{GATE_CACHE_TTL, Result, Runtime, Service, ServiceError};
use super::open_states;
use guardrail_core::change::State;
use guardrail_store::{self as store, ChangeRow, Tx};

/// What the gate is asked about.
type GateKey = (String, String, String);

/// The answer about (target, env, hash).
fn answer(key: &GateKey, allow: bool, change_id: Option<i64>, reasons: Vec<String>) -> GateAnswer {
    GateAnswer {
        allow,
        target: key.0.clone(),
        env: key.1.clone(),
        hash: key.2.clone(),
        change_id,
        reasons,
    }
}

impl Service {
    /// `GET /v1/gate?target=&env=&hash=`: may this content be pushed now?
    pub fn gate(&self, target: &str, env: &str, hash: &str) -> Result<GateAnswer> {
        let rt = self.runtime();
        let now = self.now();
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
        let result = store::read(self.store.as_ref(), |tx| decide(tx, &rt, &key, now))?;
        self.cache_gate(key, generation, &result);
        Ok(result)
    }

    /// A cached gate answer still valid, if any.
    fn cached_gate(&self, key: &GateKey) -> Option<GateAnswer> {
        let cache = self.gate_cache.read().unwrap_or_else(|p| p.into_inner());
        let (generation, at, answer) = cache.get(key)?;
        (*generation == self.generation() && at.elapsed() < GATE_CACHE_TTL).then(|| answer.clone())
    }

    fn cache_gate(&self, key: GateKey, generation: u64, answer: &GateAnswer) {
        let mut cache = self.gate_cache.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(key, (generation, std::time::Instant::now(), answer.clone()));
    }
}

/// The gate's answer from the store: the baseline, else the first approved or scheduled change
/// carrying the content that the gate lets through, else every reason why not.
fn decide(tx: &mut dyn Tx, rt: &Runtime, key: &GateKey, now: DateTime<Utc>) -> Result<GateAnswer> {
    let (target, env, hash) = (key.0.as_str(), key.1.as_str(), key.2.as_str());
    if let Some(b) = tx.baseline(target, env)?
        && b.content_hash == hash
    {
        let why = format!("{hash} is already the baseline of {target} in {env}");
        return Ok(answer(key, true, b.change_id, vec![why]));
    }
    let candidates = tx.changes_with_target(
        env,
        target,
        Some(hash),
        &[State::Approved, State::Scheduled],
    )?;
    let mut why = Vec::new();
    for c in &candidates {
        let (_, d) = gate_of(tx, rt, c, now)?;
        if d.allow {
            let overridden = d
                .overridden
                .iter()
                .map(|o| format!("passed by break-glass: {o}"))
                .collect();
            return Ok(answer(key, true, Some(c.id), overridden));
        }
        why.extend(
            d.reasons
                .into_iter()
                .map(|r| format!("change {}: {r}", c.id)),
        );
    }
    if candidates.is_empty() {
        why.extend(no_candidate(tx, key)?);
    }
    Ok(answer(key, false, candidates.first().map(|c| c.id), why))
}

/// Why no change explains the content: none approved carries it, and which carry it still
/// waiting.
fn no_candidate(tx: &mut dyn Tx, key: &GateKey) -> Result<Vec<String>> {
    let (target, env, hash) = (key.0.as_str(), key.1.as_str(), key.2.as_str());
    let pending: Vec<ChangeRow> =
        tx.changes_with_target(env, target, Some(hash), &open_states())?;
    let mut why = vec![format!(
        "no approved change of {target} in {env} carries content {hash}"
    )];
    for c in pending {
        why.push(format!("change {} with this content is {}", c.id, c.state));
    }
    Ok(why)
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{APP, CHANGES, World};
    use super::*;

    #[test]
    fn the_gate_refuses_unknown_names_and_content_no_approved_change_carries() {
        let w = World::new(CHANGES);
        let e = w.svc.gate("ap", "staging", "sha256:00").unwrap_err();
        assert!(
            matches!(&e, ServiceError::Unprocessable { field: Some(f), .. } if f == "target"),
            "{e:?}"
        );
        let waiting = w.submitted("production", APP);
        let g = w
            .svc
            .gate("app", "production", &waiting.content_hash)
            .unwrap();
        assert!(!g.allow);
        assert!(
            g.reasons
                .iter()
                .any(|r| r.contains("no approved change") || r.contains("awaiting_approval")),
            "{g:?}"
        );
        assert!(
            g.reasons
                .iter()
                .any(|r| r.contains(&format!("change {}", waiting.id)))
        );
    }

    #[test]
    fn the_gate_lets_an_approved_change_through() {
        let w = World::new(CHANGES);
        let c = w.submitted("staging", APP);
        let g = w.svc.gate("app", "staging", &c.content_hash).unwrap();
        assert!(g.allow, "{g:?}");
        assert_eq!(g.change_id, Some(c.id));
        // A write makes a cached answer stale at once.
        w.svc
            .cancel(
                &super::super::super::testing::requester(),
                c.id,
                Default::default(),
            )
            .unwrap();
        assert!(!w.svc.gate("app", "staging", &c.content_hash).unwrap().allow);
    }
}
