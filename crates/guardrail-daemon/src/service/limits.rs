//! What one request may cost: the size of a submission (`server.max_change_bytes`, 413 above
//! it), how much of a diff is stored and returned per target (`server.max_diff_entries`, with
//! the count and a summary of the rest), and how many evaluations run at once
//! (`server.max_concurrent_evaluations`, with a bounded queue: `server.evaluation_queue`;
//! beyond it, 503 with `Retry-After`). Also where a change that only touched secrets is made
//! visible: "secret changed at PATH (line N)" rather than an empty text diff.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::{Result, Service, ServiceError};
use guardrail_core::report::Report;

pub const DEFAULT_MAX_CHANGE_BYTES: usize = 8 * 1024 * 1024;
pub const DEFAULT_MAX_DIFF_ENTRIES: usize = 1000;
/// Queued evaluations wait at most this long for a slot.
pub const EVALUATION_WAIT: Duration = Duration::from_secs(30);
/// Longest unified diff stored per target, in bytes.
pub const MAX_UNIFIED_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest content of one target, and of all targets of one submission together.
    pub max_change_bytes: usize,
    /// Diff entries stored and returned per target.
    pub max_diff_entries: usize,
    /// Evaluations (submit, revise, evaluate) running at once.
    pub max_concurrent_evaluations: usize,
    /// Evaluations waiting for a slot; beyond it, 503.
    pub evaluation_queue: usize,
}

/// Evaluation slots: one per CPU, at least two.
pub fn default_concurrency() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2)
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_change_bytes: DEFAULT_MAX_CHANGE_BYTES,
            max_diff_entries: DEFAULT_MAX_DIFF_ENTRIES,
            max_concurrent_evaluations: default_concurrency(),
            evaluation_queue: 32,
        }
    }
}

/// The evaluation semaphore: running and waiting counts under one lock.
#[derive(Default)]
pub struct EvalGate {
    state: Mutex<(usize, usize)>,
    freed: Condvar,
}

/// A running evaluation; its slot is freed on drop.
pub struct EvalPermit<'a> {
    svc: &'a Service,
}

impl Drop for EvalPermit<'_> {
    fn drop(&mut self) {
        let g = &self.svc.eval_gate;
        let mut st = g.state.lock().unwrap_or_else(|p| p.into_inner());
        st.0 = st.0.saturating_sub(1);
        self.svc.metrics.limits.evaluations_running.set(st.0 as i64);
        drop(st);
        g.freed.notify_one();
    }
}

fn busy(svc: &Service, why: &str) -> ServiceError {
    svc.metrics.limits.evaluations_refused.inc();
    ServiceError::Busy {
        message: format!(
            "{why}: {} evaluations are running and the queue ({}) is full; retry shortly",
            svc.limits.max_concurrent_evaluations, svc.limits.evaluation_queue
        ),
        retry_after: 1,
    }
}

impl Service {
    /// A slot if one is free now (no waiting).
    pub fn try_eval_permit(&self) -> Option<EvalPermit<'_>> {
        let mut st = self
            .eval_gate
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if st.0 < self.limits.max_concurrent_evaluations.max(1) {
            st.0 += 1;
            self.metrics.limits.evaluations_running.set(st.0 as i64);
            Some(EvalPermit { svc: self })
        } else {
            None
        }
    }

    /// A slot, waiting in the bounded queue (blocking: call on the blocking pool); 503 when the
    /// queue is full or the wait exceeds [`EVALUATION_WAIT`].
    pub fn eval_permit(&self) -> Result<EvalPermit<'_>> {
        let g = &self.eval_gate;
        let max = self.limits.max_concurrent_evaluations.max(1);
        let mut st = g.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.0 < max {
            st.0 += 1;
            self.metrics.limits.evaluations_running.set(st.0 as i64);
            return Ok(EvalPermit { svc: self });
        }
        if st.1 >= self.limits.evaluation_queue {
            return Err(busy(self, "too many evaluations"));
        }
        st.1 += 1;
        let deadline = std::time::Instant::now() + EVALUATION_WAIT;
        while st.0 >= max {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                st.1 -= 1;
                return Err(busy(self, "no evaluation slot within 30 s"));
            }
            st = g
                .freed
                .wait_timeout(st, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        st.1 -= 1;
        st.0 += 1;
        self.metrics.limits.evaluations_running.set(st.0 as i64);
        Ok(EvalPermit { svc: self })
    }

    /// Refuses (413) content larger than one target or one submission may be.
    pub fn check_sizes<'a>(
        &self,
        parts: impl IntoIterator<Item = (String, &'a str)>,
        total_field: &str,
    ) -> Result<()> {
        let max = self.limits.max_change_bytes;
        let mut total = 0usize;
        for (field, text) in parts {
            if text.len() > max {
                return Err(ServiceError::TooLarge {
                    field: Some(field.clone()),
                    message: format!(
                        "{field} is {} bytes; one target may be at most {max} bytes (server.max_change_bytes)",
                        text.len()
                    ),
                });
            }
            total += text.len();
        }
        if total > max {
            return Err(ServiceError::TooLarge {
                field: Some(total_field.to_string()),
                message: format!(
                    "the change is {total} bytes in all; one submission may be at most {max} bytes (server.max_change_bytes)"
                ),
            });
        }
        Ok(())
    }
}

/// The part of a path that groups omitted entries: its first segment (`backends`,
/// `interfaces`, `lines`).
fn prefix(path: &str) -> String {
    let end = path
        .char_indices()
        .skip(1)
        .find(|(_, c)| matches!(c, '.' | '['))
        .map_or(path.len(), |(i, _)| i);
    path[..end].to_string()
}

/// Notes for diff entries whose only difference is a secret: a `changed` entry whose two sides
/// render the same (secrets render redacted; their digests differ), in the words every output
/// uses (`diff::sentence`).
pub fn secret_changes(diff: &[serde_json::Value]) -> Vec<String> {
    diff.iter()
        .filter(|e| e["op"] == "changed" && e["old"] == e["new"])
        .map(guardrail_core::diff::sentence)
        .collect()
}

/// Notes for reorders of ordered lists (first-match rules), which a line diff shows as a
/// removal plus an addition: "PATH moved from position 2 to 1 (line 6 -> 5)".
pub fn moves(diff: &[serde_json::Value]) -> Vec<String> {
    diff.iter()
        .filter(|e| e["op"] == "moved")
        .map(guardrail_core::diff::sentence)
        .collect()
}

/// What [`bound_report`] left out of one target.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Omitted {
    /// Diff entries not stored.
    pub entries: usize,
    pub by_op: BTreeMap<String, usize>,
    /// By the first segment of their path.
    pub by_path: BTreeMap<String, usize>,
    /// Lines of the unified diff not stored.
    pub unified_lines: usize,
}

/// Bounds what is stored and returned per target: at most `max_entries` diff entries (the rest
/// counted and summarized), a unified diff of at most [`MAX_UNIFIED_BYTES`], the changed lines
/// of the kept entries; and names secret-only changes and moves in the unified diff. Returns,
/// per target, those notes and what was left out.
pub fn bound_report(report: &mut Report, max_entries: usize) -> Vec<TargetNotes> {
    let mut out = Vec::new();
    for t in &mut report.targets {
        let secrets = secret_changes(&t.diff);
        let moved = moves(&t.diff);
        let mut omitted = Omitted::default();
        if t.diff.len() > max_entries {
            for e in t.diff.drain(max_entries..) {
                omitted.entries += 1;
                *omitted
                    .by_op
                    .entry(e["op"].as_str().unwrap_or("?").to_string())
                    .or_default() += 1;
                *omitted
                    .by_path
                    .entry(prefix(e["path"].as_str().unwrap_or(".")))
                    .or_default() += 1;
            }
            t.diff.shrink_to_fit();
        }
        if t.changed_lines.len() > max_entries {
            t.changed_lines.truncate(max_entries);
        }
        if t.unified_diff.len() > MAX_UNIFIED_BYTES {
            let mut cut = MAX_UNIFIED_BYTES;
            while !t.unified_diff.is_char_boundary(cut) {
                cut -= 1;
            }
            let cut = t.unified_diff[..cut].rfind('\n').map_or(0, |i| i + 1);
            omitted.unified_lines = t.unified_diff[cut..].lines().count();
            t.unified_diff.truncate(cut);
            t.unified_diff.push_str(&format!(
                "... ({} more lines of the unified diff not stored)\n",
                omitted.unified_lines
            ));
        }
        for s in secrets.iter().chain(&moved) {
            t.unified_diff.push_str(s);
            t.unified_diff.push('\n');
        }
        let omitted = (omitted.entries > 0 || omitted.unified_lines > 0).then_some(omitted);
        out.push(TargetNotes {
            secrets,
            moves: moved,
            omitted,
        });
    }
    out
}

/// What [`bound_report`] says of one target beside its bounded diff.
#[derive(Debug, Clone, Default)]
pub struct TargetNotes {
    /// "secret changed at PATH (line N)" per secret-only change.
    pub secrets: Vec<String>,
    /// "PATH moved from position A to B (line X -> Y)" per reorder of an ordered list.
    pub moves: Vec<String>,
    pub omitted: Option<Omitted>,
}

/// Renders a bounded report as compact JSON, each target carrying `secret_changes`, `moves` and,
/// when entries were left out, `diff_omitted` (each only when not empty).
pub fn render_bounded(report: &mut Report, max_entries: usize) -> String {
    let notes = bound_report(report, max_entries);
    let json = guardrail_core::report::json::render(
        report,
        &guardrail_core::report::json::Options { compact: true },
    );
    if notes
        .iter()
        .all(|n| n.secrets.is_empty() && n.moves.is_empty() && n.omitted.is_none())
    {
        return json;
    }
    let mut v: serde_json::Value = match serde_json::from_str(&json) {
        Ok(v) => v,
        Err(_) => return json,
    };
    if let Some(targets) = v["targets"].as_array_mut() {
        for (t, n) in targets.iter_mut().zip(notes) {
            if !n.secrets.is_empty() {
                t["secret_changes"] = serde_json::json!(n.secrets);
            }
            if !n.moves.is_empty() {
                t["moves"] = serde_json::json!(n.moves);
            }
            if let Some(o) = n.omitted {
                t["diff_omitted"] = serde_json::to_value(o).unwrap_or_default();
            }
        }
    }
    let mut s = v.to_string();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_secret_only_change_is_named_with_its_path_and_line() {
        let diff = vec![
            json!({"op": "changed", "path": "db.password", "old": "<redacted>", "new": "<redacted>", "old_line": 2, "new_line": 2, "secret": true}),
            json!({"op": "changed", "path": "db.port", "old": 1, "new": 2, "old_line": 3, "new_line": 3}),
        ];
        assert_eq!(
            secret_changes(&diff),
            vec!["secret changed at db.password (line 2)".to_string()]
        );
    }

    #[test]
    fn entries_beyond_the_bound_are_counted_and_summarized() {
        let mut r = Report::default();
        let mut t = guardrail_core::report::TargetReport {
            name: "lb".into(),
            kind: "load_balancer".into(),
            env: "production".into(),
            format: "haproxy".into(),
            status: guardrail_core::report::TargetStatus::Modified,
            old_file: None,
            new_file: None,
            diff: Vec::new(),
            unified_diff: String::new(),
            changed_lines: Vec::new(),
        };
        for i in 0..10 {
            t.diff.push(json!({"op": if i % 2 == 0 { "added" } else { "removed" }, "path": format!("backends[b{i}].servers[s]")}));
        }
        t.diff
            .push(json!({"op": "changed", "path": "defaults.timeout"}));
        r.targets.push(t);
        let notes = bound_report(&mut r, 4);
        assert_eq!(r.targets[0].diff.len(), 4);
        let o = notes[0].omitted.clone().unwrap();
        assert_eq!(o.entries, 7);
        assert_eq!(
            o.by_op["added"] + o.by_op["removed"] + o.by_op["changed"],
            7
        );
        assert_eq!(o.by_path["backends"], 6);
        assert_eq!(o.by_path["defaults"], 1);
        let json: serde_json::Value = serde_json::from_str(&render_bounded(&mut r, 4)).unwrap();
        assert_eq!(json["targets"][0]["diff"].as_array().unwrap().len(), 4);
    }
}
