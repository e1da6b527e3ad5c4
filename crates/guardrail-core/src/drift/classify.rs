//! The drift decision: what one fetched live config means, given the target's baseline, the
//! approved changes that carry it, the change applied last and not yet verified, and the open
//! drift. A step function over hashes and instants: the shell gathers the inputs (normalized
//! hashes: noise removed, parsed, [`crate::document::Document::content_hash`]), calls
//! [`classify`], and carries out the [`Outcome`].
//!
//! Comparing normalized hashes is what makes whitespace- and comment-only edits in sync: the
//! parsed tree, and so its hash, does not change.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The baseline of the target in the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineRef {
    pub id: i64,
    /// Normalized hash of the baseline content.
    pub hash: String,
}

/// An approved (or scheduled) change that carries this target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub change_id: i64,
    /// Normalized hash of the change's content for this target.
    pub hash: String,
    /// Whether its gate allows applying it now (approvals, staging proof, open window, no
    /// freeze); `reasons` says why not.
    pub allowed: bool,
    pub reasons: Vec<String>,
}

/// The change applied last (whose content is the baseline), not yet seen live on this target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub change_id: i64,
    /// Normalized hash of the content the change applied (the baseline).
    pub hash: String,
    /// Normalized hash of the baseline before it: the content still live while the deploy runs.
    pub previous: Option<String>,
    /// When the live config must show the change (applied time + `verify_within`).
    pub deadline: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// The live config changed without an approved change that explains it.
    UnstagedPush,
    /// A change was applied but the live config does not show it (post-apply verification).
    VerificationFailed,
}

impl DriftKind {
    pub fn name(self) -> &'static str {
        match self {
            DriftKind::UnstagedPush => "unstaged_push",
            DriftKind::VerificationFailed => "verification_failed",
        }
    }

    pub fn from_name(s: &str) -> Option<DriftKind> {
        [DriftKind::UnstagedPush, DriftKind::VerificationFailed]
            .into_iter()
            .find(|k| k.name() == s)
    }
}

/// The open drift of the target in the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenDrift {
    pub id: i64,
    pub kind: DriftKind,
    /// Normalized hash of the drifted content last seen.
    pub hash: String,
    /// Since when the live config is back at the baseline (the drift resolves after
    /// `resolve_after`; a return to the drifted content before that is a flap).
    pub in_sync_since: Option<DateTime<Utc>>,
}

pub struct Inputs<'a> {
    pub now: DateTime<Utc>,
    /// Normalized hash of the live config.
    pub live: &'a str,
    pub baseline: Option<&'a BaselineRef>,
    pub candidates: &'a [Candidate],
    pub pending: Option<&'a Pending>,
    pub open: Option<&'a OpenDrift>,
    pub resolve_after: Duration,
}

/// What happens to an open drift when the live config is back at the baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// Back at the baseline since now (or earlier): wait `resolve_after` before resolving.
    Hold {
        drift_id: i64,
        since: DateTime<Utc>,
    },
    Resolve {
        drift_id: i64,
    },
}

/// Why a new drift was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDrift {
    pub kind: DriftKind,
    /// VerificationFailed: the applied change the live config does not show.
    pub change_id: Option<i64>,
    /// VerificationFailed: the live config is still the content from before the change and
    /// the deadline passed.
    pub timed_out: bool,
    /// UnstagedPush: an approved change carries this exact content but may not be applied now
    /// (its id and the gate's reasons).
    pub blocked_change: Option<(i64, Vec<String>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No baseline yet: the live content becomes the baseline (audited).
    FirstContact,
    /// The live config equals the baseline. `verified`: the applied change now seen live.
    InSync {
        verified: Option<i64>,
        settle: Option<Settle>,
    },
    /// The live config equals an approved change whose gate allows it now: the deploy
    /// happened; the change is recorded as applied (the baseline moves) and verified, and an
    /// open drift is resolved by it.
    ExpectedApply {
        change_id: i64,
        resolves: Option<i64>,
    },
    /// A change was applied and the live config still shows the content from before it;
    /// the deadline has not passed.
    AwaitingDeploy { change_id: i64 },
    /// A new drift: record it and alert.
    Open(NewDrift),
    /// The open drift continues with the same content.
    Ongoing { drift_id: i64 },
    /// The live config went back to the baseline and, before the drift resolved, came back to
    /// the same drifted content: the same drift, counted as a flap, no new alert.
    Flap { drift_id: i64 },
    /// The open drift continues with other undeclared content: the drift's diff and findings
    /// are updated, no new alert.
    Changed { drift_id: i64 },
}

impl Outcome {
    /// Whether the outcome changes nothing stored (a plain in-sync poll).
    pub fn is_quiet(&self) -> bool {
        matches!(
            self,
            Outcome::InSync {
                verified: None,
                settle: None
            }
        )
    }
}

/// Classifies one fetched live config.
pub fn classify(i: &Inputs<'_>) -> Outcome {
    let Some(baseline) = i.baseline else {
        return Outcome::FirstContact;
    };
    if i.live == baseline.hash {
        let verified = i
            .pending
            .filter(|p| p.hash == baseline.hash)
            .map(|p| p.change_id);
        let settle = i.open.map(|d| {
            let since = d.in_sync_since.unwrap_or(i.now);
            // A verification failure is settled by the change showing up: nothing to wait for.
            if d.kind == DriftKind::VerificationFailed || i.now - since >= i.resolve_after {
                Settle::Resolve { drift_id: d.id }
            } else {
                Settle::Hold {
                    drift_id: d.id,
                    since,
                }
            }
        });
        return Outcome::InSync { verified, settle };
    }
    if let Some(c) = i.candidates.iter().find(|c| c.allowed && c.hash == i.live) {
        return Outcome::ExpectedApply {
            change_id: c.change_id,
            resolves: i.open.map(|d| d.id),
        };
    }
    if let Some(d) = i.open {
        return if d.hash != i.live {
            Outcome::Changed { drift_id: d.id }
        } else if d.in_sync_since.is_some() {
            Outcome::Flap { drift_id: d.id }
        } else {
            Outcome::Ongoing { drift_id: d.id }
        };
    }
    if let Some(p) = i.pending.filter(|p| p.hash == baseline.hash) {
        let still_old = p.previous.as_deref() == Some(i.live);
        if still_old && i.now < p.deadline {
            return Outcome::AwaitingDeploy {
                change_id: p.change_id,
            };
        }
        return Outcome::Open(NewDrift {
            kind: DriftKind::VerificationFailed,
            change_id: Some(p.change_id),
            timed_out: still_old,
            blocked_change: None,
        });
    }
    let blocked = i
        .candidates
        .iter()
        .find(|c| c.hash == i.live)
        .map(|c| (c.change_id, c.reasons.clone()));
    Outcome::Open(NewDrift {
        kind: DriftKind::UnstagedPush,
        change_id: None,
        timed_out: false,
        blocked_change: blocked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Format;
    use crate::drift::NoiseFilter;

    fn at(min: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::minutes(min)
    }

    /// Normalized hash of a text as the poller computes it: noise removed, parsed, hashed.
    fn norm(format: Format, text: &str) -> String {
        let filtered = NoiseFilter::new(Some(format), &[]).unwrap().apply(text);
        let doc = crate::formats::parse(format, &filtered.text);
        assert!(!doc.has_errors(), "{:?}", doc.diagnostics);
        doc.content_hash()
    }

    const LB: &str = "frontend www\n    bind :80\n    default_backend web\n\nbackend web\n    server web1 10.0.0.1:80 check\n    server web2 10.0.0.2:80 check\n";
    const LB_PUSHED: &str = "frontend www\n    bind :80\n    default_backend web\n\nbackend web\n    server web1 10.0.0.1:80 check\n    server web2 10.0.0.2:80 check disabled\n";

    struct World {
        baseline: Option<BaselineRef>,
        candidates: Vec<Candidate>,
        pending: Option<Pending>,
        open: Option<OpenDrift>,
    }

    impl World {
        fn with_baseline(text: &str) -> World {
            World {
                baseline: Some(BaselineRef {
                    id: 7,
                    hash: norm(Format::Haproxy, text),
                }),
                candidates: Vec::new(),
                pending: None,
                open: None,
            }
        }

        fn poll(&self, live: &str, now: DateTime<Utc>) -> Outcome {
            self.poll_hash(&norm(Format::Haproxy, live), now)
        }

        fn poll_hash(&self, live: &str, now: DateTime<Utc>) -> Outcome {
            classify(&Inputs {
                now,
                live,
                baseline: self.baseline.as_ref(),
                candidates: &self.candidates,
                pending: self.pending.as_ref(),
                open: self.open.as_ref(),
                resolve_after: Duration::minutes(1),
            })
        }
    }

    #[test]
    fn in_sync() {
        let w = World::with_baseline(LB);
        let o = w.poll(LB, at(0));
        assert!(o.is_quiet(), "{o:?}");
    }

    #[test]
    fn comment_only_edit_is_not_drift() {
        let w = World::with_baseline(LB);
        let edited = format!(
            "# managed by ansible\n{}",
            LB.replace("    bind :80\n", "    bind :80      # public\n\n")
        );
        assert_ne!(edited, LB);
        assert!(w.poll(&edited, at(0)).is_quiet());
    }

    #[test]
    fn volatile_line_only_edit_is_not_drift() {
        let base = "Current configuration : 1200 bytes\n! Last configuration change at 09:00:00 UTC by admin\nhostname sw1\nntp clock-period 17179860\ninterface Gi0/1\n description uplink\n";
        let live = "Current configuration : 1203 bytes\n! Last configuration change at 10:42:17 UTC by netconf\nhostname sw1\nntp clock-period 17179873\ninterface Gi0/1\n description uplink\n";
        let w = World {
            baseline: Some(BaselineRef {
                id: 1,
                hash: norm(Format::Ios, base),
            }),
            candidates: Vec::new(),
            pending: None,
            open: None,
        };
        assert!(w.poll_hash(&norm(Format::Ios, live), at(0)).is_quiet());
        // A target pattern silences lines the format does not know about.
        let f = NoiseFilter::new(Some(Format::Ios), &[r"^snmp-server location".into()]).unwrap();
        let a = crate::formats::parse(
            Format::Ios,
            &f.apply("hostname sw1\nsnmp-server location rack 4\n").text,
        );
        let b = crate::formats::parse(
            Format::Ios,
            &f.apply("hostname sw1\nsnmp-server location rack 5\n").text,
        );
        assert_eq!(a.content_hash(), b.content_hash());
        // A real change next to volatile lines is still drift.
        let pushed = live.replace("uplink", "uplink-to-dc2");
        assert!(matches!(
            w.poll_hash(&norm(Format::Ios, &pushed), at(0)),
            Outcome::Open(NewDrift {
                kind: DriftKind::UnstagedPush,
                ..
            })
        ));
    }

    #[test]
    fn first_contact_takes_the_live_config() {
        let mut w = World::with_baseline(LB);
        w.baseline = None;
        assert_eq!(w.poll(LB, at(0)), Outcome::FirstContact);
    }

    #[test]
    fn unstaged_push() {
        let w = World::with_baseline(LB);
        assert_eq!(
            w.poll(LB_PUSHED, at(0)),
            Outcome::Open(NewDrift {
                kind: DriftKind::UnstagedPush,
                change_id: None,
                timed_out: false,
                blocked_change: None,
            })
        );
    }

    #[test]
    fn expected_apply_of_an_approved_change_in_its_window() {
        let mut w = World::with_baseline(LB);
        w.candidates = vec![
            Candidate {
                change_id: 3,
                hash: "sha256:other".into(),
                allowed: true,
                reasons: vec![],
            },
            Candidate {
                change_id: 4,
                hash: norm(Format::Haproxy, LB_PUSHED),
                allowed: true,
                reasons: vec![],
            },
        ];
        assert_eq!(
            w.poll(LB_PUSHED, at(0)),
            Outcome::ExpectedApply {
                change_id: 4,
                resolves: None
            }
        );
    }

    #[test]
    fn an_approved_change_outside_its_window_is_still_an_unstaged_push() {
        let mut w = World::with_baseline(LB);
        w.candidates = vec![Candidate {
            change_id: 4,
            hash: norm(Format::Haproxy, LB_PUSHED),
            allowed: false,
            reasons: vec!["outside every allow window".into()],
        }];
        match w.poll(LB_PUSHED, at(0)) {
            Outcome::Open(d) => {
                assert_eq!(d.kind, DriftKind::UnstagedPush);
                assert_eq!(
                    d.blocked_change,
                    Some((4, vec!["outside every allow window".into()]))
                );
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn flapping_is_grouped_into_the_open_drift() {
        let mut w = World::with_baseline(LB);
        let pushed = norm(Format::Haproxy, LB_PUSHED);
        w.open = Some(OpenDrift {
            id: 9,
            kind: DriftKind::UnstagedPush,
            hash: pushed.clone(),
            in_sync_since: None,
        });
        // Still drifted: the same drift, nothing new.
        assert_eq!(w.poll(LB_PUSHED, at(1)), Outcome::Ongoing { drift_id: 9 });
        // Back at the baseline: held, not yet resolved.
        assert_eq!(
            w.poll(LB, at(2)),
            Outcome::InSync {
                verified: None,
                settle: Some(Settle::Hold {
                    drift_id: 9,
                    since: at(2)
                })
            }
        );
        // ... and drifted again before `resolve_after`: a flap of the same drift.
        w.open.as_mut().unwrap().in_sync_since = Some(at(2));
        assert_eq!(w.poll(LB_PUSHED, at(2)), Outcome::Flap { drift_id: 9 });
        // Other undeclared content: still the same drift, updated.
        assert_eq!(
            w.poll(&LB_PUSHED.replace("web1", "web9"), at(3)),
            Outcome::Changed { drift_id: 9 }
        );
        // Back at the baseline for `resolve_after`: resolved.
        assert_eq!(
            w.poll(LB, at(3)),
            Outcome::InSync {
                verified: None,
                settle: Some(Settle::Resolve { drift_id: 9 })
            }
        );
    }

    #[test]
    fn an_open_drift_explained_by_an_approved_change_resolves() {
        let mut w = World::with_baseline(LB);
        let pushed = norm(Format::Haproxy, LB_PUSHED);
        w.open = Some(OpenDrift {
            id: 9,
            kind: DriftKind::UnstagedPush,
            hash: pushed.clone(),
            in_sync_since: None,
        });
        // `drift adopt` created change 12 with the drifted content; it was approved.
        w.candidates = vec![Candidate {
            change_id: 12,
            hash: pushed,
            allowed: true,
            reasons: vec![],
        }];
        assert_eq!(
            w.poll(LB_PUSHED, at(5)),
            Outcome::ExpectedApply {
                change_id: 12,
                resolves: Some(9)
            }
        );
    }

    #[test]
    fn applied_change_seen_live_is_verified() {
        let mut w = World::with_baseline(LB_PUSHED);
        w.pending = Some(Pending {
            change_id: 5,
            hash: norm(Format::Haproxy, LB_PUSHED),
            previous: Some(norm(Format::Haproxy, LB)),
            deadline: at(30),
        });
        assert_eq!(
            w.poll(LB_PUSHED, at(1)),
            Outcome::InSync {
                verified: Some(5),
                settle: None
            }
        );
    }

    #[test]
    fn applied_but_live_differs() {
        let mut w = World::with_baseline(LB_PUSHED);
        w.pending = Some(Pending {
            change_id: 5,
            hash: norm(Format::Haproxy, LB_PUSHED),
            previous: Some(norm(Format::Haproxy, LB)),
            deadline: at(30),
        });
        // The deploy has not happened yet: wait until the deadline.
        assert_eq!(w.poll(LB, at(10)), Outcome::AwaitingDeploy { change_id: 5 });
        // Past the deadline, still the old content: verification failed (timed out).
        assert_eq!(
            w.poll(LB, at(30)),
            Outcome::Open(NewDrift {
                kind: DriftKind::VerificationFailed,
                change_id: Some(5),
                timed_out: true,
                blocked_change: None,
            })
        );
        // Something else than what was approved is live: verification failed at once.
        assert_eq!(
            w.poll(&LB.replace("web2", "web3"), at(1)),
            Outcome::Open(NewDrift {
                kind: DriftKind::VerificationFailed,
                change_id: Some(5),
                timed_out: false,
                blocked_change: None,
            })
        );
        // When the approved content finally shows up, the change is verified and the
        // verification drift resolves without waiting.
        w.open = Some(OpenDrift {
            id: 2,
            kind: DriftKind::VerificationFailed,
            hash: norm(Format::Haproxy, LB),
            in_sync_since: None,
        });
        assert_eq!(
            w.poll(LB_PUSHED, at(40)),
            Outcome::InSync {
                verified: Some(5),
                settle: Some(Settle::Resolve { drift_id: 2 })
            }
        );
    }
}
