//! What the classification of one poll needs: the live content read (noise removed, parsed,
//! hashed) and what the store holds about the watch (baseline, approved changes carrying the
//! target, an applied change awaiting verification, the open drift, the source's health), with
//! every stored content reduced to its normalized hash.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::super::drift::{FailureKind, HashCache, SourceFailure};
use super::super::gates::gate_of;
use super::super::{Result, Runtime};
use guardrail_core::change::State;
use guardrail_core::document::Format;
use guardrail_core::drift::{
    self, BaselineRef, Candidate, DriftKind, Inputs, OpenDrift, Pending, Watch,
};
use guardrail_core::pipeline::{self, Loaded};
use guardrail_store::{BaselineRow, ChangeFilter, DriftRow, SourceStatusRow, Tx};

/// The live content of one poll, parsed.
pub(super) struct Live {
    /// As fetched (for first contact and `drift adopt`).
    pub raw: String,
    pub format: Format,
    /// Noise removed and parsed.
    pub loaded: Loaded,
    pub hash: String,
    pub ignored_lines: usize,
}

/// Everything the classification needs, loaded in one transaction.
pub(super) struct Gathered {
    pub baseline: Option<BaselineRow>,
    baseline_ref: Option<BaselineRef>,
    candidates: Vec<Candidate>,
    pending: Option<Pending>,
    pub open: Option<DriftRow>,
    open_ref: Option<OpenDrift>,
    pub status: Option<SourceStatusRow>,
}

impl Gathered {
    /// The classification's inputs (`drift::classify`).
    pub fn inputs<'a>(&'a self, live: &'a str, now: DateTime<Utc>, w: &Watch) -> Inputs<'a> {
        Inputs {
            now,
            live,
            baseline: self.baseline_ref.as_ref(),
            candidates: &self.candidates,
            pending: self.pending.as_ref(),
            open: self.open_ref.as_ref(),
            resolve_after: chrono::Duration::from_std(w.resolve_after)
                .unwrap_or(chrono::Duration::zero()),
        }
    }
}

/// Reads fetched bytes as `w`'s config: UTF-8, its format, noise removed, parsed (the first
/// problems named, as an `unparsable` source failure otherwise).
pub(super) fn read_live(w: &Watch, bytes: Vec<u8>) -> std::result::Result<Live, SourceFailure> {
    let unparsable = |message: String| SourceFailure {
        kind: FailureKind::Unparsable,
        message,
    };
    let raw = String::from_utf8(bytes)
        .map_err(|_| unparsable("the content is not valid UTF-8".into()))?;
    let name = match &w.source {
        drift::Source::File { path } => path.clone(),
        _ => w.target.clone(),
    };
    let format = pipeline::choose_format(w.format, &name, &raw)
        .map_err(|e| unparsable(e.lines.join("; ")))?;
    let filtered = w.noise_for(format).apply(&raw);
    let label = format!("{}@{} (live)", w.target, w.env);
    let loaded = pipeline::parse(&label, filtered.text.as_bytes(), Some(format)).map_err(|e| {
        let mut lines = e.lines;
        let more = lines.len().saturating_sub(3);
        lines.truncate(3);
        if more > 0 {
            lines.push(format!("... and {more} more"));
        }
        unparsable(lines.join("; "))
    })?;
    Ok(Live {
        raw,
        format,
        hash: loaded.doc.content_hash(),
        loaded,
        ignored_lines: filtered.ignored.len(),
    })
}

/// Loads what the store holds about watch `w`, for the live content `live`, at `now`.
pub(super) fn gather(
    tx: &mut dyn Tx,
    rt: &Runtime,
    now: DateTime<Utc>,
    w: &Watch,
    live: &Live,
    cache: &HashCache,
) -> Result<Gathered> {
    let noise = w.noise_for(live.format);
    let norm = |text: &str, format: &str| -> String {
        let f = Format::from_name(format).unwrap_or(live.format);
        cache
            .get(text, f, &noise)
            .unwrap_or_else(|| format!("unparsable:{}", hex::encode(Sha256::digest(text))))
    };
    let baseline = tx.baseline(&w.target, &w.env)?;
    let baseline_ref = baseline.as_ref().map(|b| BaselineRef {
        id: b.id,
        hash: norm(&b.content, &b.format),
    });
    let candidates = candidates(tx, rt, now, w, &live.hash, &norm)?;
    let pending = match (&baseline, &baseline_ref) {
        (Some(b), Some(bref)) => pending(tx, rt, w, b, bref, &norm)?,
        _ => None,
    };
    let open = tx.open_drift(&w.target, &w.env)?;
    let open_ref = open.as_ref().map(|d| OpenDrift {
        id: d.id,
        kind: DriftKind::from_name(&d.kind).unwrap_or(DriftKind::UnstagedPush),
        hash: d.live_hash.clone(),
        in_sync_since: d.in_sync_since,
    });
    let status = tx.source_status(&w.target, &w.env)?;
    Ok(Gathered {
        baseline,
        baseline_ref,
        candidates,
        pending,
        open,
        open_ref,
        status,
    })
}

/// The approved and scheduled changes of `w`'s target, each with its normalized hash; the gate
/// is asked only about a change that explains the live content exactly.
fn candidates(
    tx: &mut dyn Tx,
    rt: &Runtime,
    now: DateTime<Utc>,
    w: &Watch,
    live_hash: &str,
    norm: &dyn Fn(&str, &str) -> String,
) -> Result<Vec<Candidate>> {
    let mut candidates = Vec::new();
    for state in [State::Approved, State::Scheduled] {
        for c in tx.changes(&ChangeFilter {
            state: Some(state),
            env: Some(w.env.clone()),
            target: Some(w.target.clone()),
            limit: 100,
        })? {
            let Some(t) = tx
                .change_targets(c.id)?
                .into_iter()
                .find(|t| t.target == w.target)
            else {
                continue;
            };
            let hash = norm(&t.content, &t.format);
            let (allowed, reasons) = if hash == live_hash {
                let (_, d) = gate_of(tx, rt, &c, now)?;
                (d.allow, d.reasons)
            } else {
                (false, Vec::new())
            };
            candidates.push(Candidate {
                change_id: c.id,
                hash,
                allowed,
                reasons,
            });
        }
    }
    Ok(candidates)
}

/// The applied change whose content is the baseline `b` and that `w`'s target has not shown
/// yet (with the previous baseline's hash and the deadline of its verification), if any.
fn pending(
    tx: &mut dyn Tx,
    rt: &Runtime,
    w: &Watch,
    b: &BaselineRow,
    bref: &BaselineRef,
    norm: &dyn Fn(&str, &str) -> String,
) -> Result<Option<Pending>> {
    let Some(cid) = b.change_id else {
        return Ok(None);
    };
    let Some(c) = tx.change(cid)? else {
        return Ok(None);
    };
    if c.state != State::Applied || tx.verified_targets(cid)?.contains(&w.target) {
        return Ok(None);
    }
    let previous = tx
        .recent_baselines(&w.target, &w.env, 2)?
        .get(1)
        .map(|p| norm(&p.content, &p.format));
    let applied_at = c.doc.applied_at.unwrap_or(c.updated_at);
    Ok(Some(Pending {
        change_id: cid,
        hash: bref.hash.clone(),
        previous,
        deadline: applied_at + rt.settings.env(&w.env).verify_within,
    }))
}

/// One poll being recorded: the watch, its live content and what the store held (loaded again
/// inside the write transaction).
pub(super) struct Poll<'a> {
    pub watch: &'a Watch,
    pub live: &'a Live,
    pub g: Gathered,
}
