//! Waivers: time-boxed, owned exceptions that cover findings of one rule on matching targets.
//!
//! A waiver file is a YAML list:
//!
//! ```yaml
//! - rule: lb-capacity/max-removed-share     # <policy-id>/<rule-id>
//!   target: "lb-*"                           # glob over target names
//!   env: production                          # optional: only this environment
//!   reason: "decommissioning rack 4, CHG-1234"
//!   owner: netops
//!   expires: 2026-12-01                      # date (valid through that day, UTC) or RFC 3339
//! ```
//!
//! Applied to a whole report with `now`: an active waiver covering a finding marks it waived
//! (it no longer counts toward the verdict). Expired waivers never apply and yield a
//! `waiver.expired` notice; an active waiver that covered nothing yields `waiver.stale`.
//! A mandatory rule accepts a waiver only when its policy file declares the rule
//! `waivable: true`; otherwise the waiver is refused with `waiver.not-allowed`.

use chrono::{DateTime, NaiveDate, Utc};
use globset::{Glob, GlobMatcher};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::load::valid_id;
use super::{PolicyDiagnostic, PolicySet};
use crate::document::Diagnostic;
use crate::document::config_yaml::{self as yaml, WAIVER_CODES, line_of};
use crate::report::{Enforcement, Finding, Notice, Outcome, Report, WaiverRef};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWaiver {
    rule: Spanned<String>,
    target: Spanned<String>,
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    expires: Option<Spanned<String>>,
}

/// One waiver.
#[derive(Debug, Clone)]
pub struct Waiver {
    /// `<policy-id>/<rule-id>` as written.
    pub rule: String,
    pub policy_id: String,
    pub rule_id: String,
    /// The target glob as written.
    pub target: String,
    pub env: Option<String>,
    pub reason: String,
    pub owner: String,
    /// The expiry as written.
    pub expires: Option<String>,
    /// The first instant the waiver no longer applies.
    pub expires_at: Option<DateTime<Utc>>,
    /// The line of the waiver in its file.
    pub line: u32,
    glob: GlobMatcher,
}

impl Waiver {
    /// True when the waiver has not expired at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }

    /// True when the waiver names the finding's rule, target and environment (expiry aside).
    pub fn covers(&self, f: &Finding) -> bool {
        f.policy == self.policy_id
            && f.rule == self.rule_id
            && self.glob.is_match(&f.target)
            && self.env.as_ref().is_none_or(|e| *e == f.env)
    }

    fn waiver_ref(&self) -> WaiverRef {
        WaiverRef {
            rule: self.rule.clone(),
            target: self.target.clone(),
            reason: self.reason.clone(),
            owner: self.owner.clone(),
            expires: self.expires.clone(),
        }
    }
}

/// The waivers of one file.
#[derive(Debug, Clone, Default)]
pub struct Waivers {
    /// The file they were loaded from (notices point at it).
    pub file: String,
    pub waivers: Vec<Waiver>,
}

/// Parses an expiry: an RFC 3339 date-time, or a date meaning "through the end of that day, UTC".
pub fn parse_expiry(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    date.succ_opt()?.and_hms_opt(0, 0, 0).map(|n| n.and_utc())
}

impl Waivers {
    /// No waivers.
    pub fn empty(file: impl Into<String>) -> Self {
        Waivers {
            file: file.into(),
            waivers: Vec::new(),
        }
    }

    /// Loads a waiver file (a YAML list). Waivers with problems are dropped and reported; callers
    /// should refuse the file when any diagnostic is an error.
    pub fn load(file: &str, text: &str) -> (Waivers, Vec<PolicyDiagnostic>) {
        let mut diags = Vec::new();
        let raws: Vec<Spanned<RawWaiver>> = match yaml::parse(text, &WAIVER_CODES) {
            Ok(r) => r,
            Err(d) => {
                diags.push(d);
                Vec::new()
            }
        };
        let waivers = Self::from_raw(file, raws, &mut diags);
        (waivers, wrap(file, diags))
    }

    /// Validates raw waivers (shared with test cases, whose waivers are inline).
    pub(crate) fn from_raw(
        file: &str,
        raws: Vec<Spanned<RawWaiver>>,
        diags: &mut Vec<Diagnostic>,
    ) -> Waivers {
        let mut waivers = Vec::new();
        for raw in raws {
            let line = line_of(&raw);
            let r = raw.value;
            let mut ok = true;
            let rule = r.rule.value.trim().to_string();
            let (policy_id, rule_id) = match rule.split_once('/') {
                Some((p, ru)) if valid_id(p) && valid_id(ru) => (p.to_string(), ru.to_string()),
                _ => {
                    ok = false;
                    diags.push(Diagnostic::error(
                        "waiver.bad-rule",
                        line_of(&r.rule),
                        format!("rule `{rule}` must be `<policy-id>/<rule-id>`"),
                    ));
                    (String::new(), String::new())
                }
            };
            let target = r.target.value.trim().to_string();
            let glob = match Glob::new(&target) {
                Ok(g) => Some(g.compile_matcher()),
                Err(e) => {
                    ok = false;
                    diags.push(Diagnostic::error(
                        "waiver.bad-glob",
                        line_of(&r.target),
                        format!("target pattern `{target}` is not a valid glob: {e}"),
                    ));
                    None
                }
            };
            let reason = r.reason.unwrap_or_default().trim().to_string();
            if reason.is_empty() {
                ok = false;
                diags.push(Diagnostic::error(
                    "waiver.missing-reason",
                    line,
                    format!("waiver for `{rule}` needs a `reason` (why the finding is acceptable)"),
                ));
            }
            let owner = r.owner.unwrap_or_default().trim().to_string();
            if owner.is_empty() {
                ok = false;
                diags.push(Diagnostic::error(
                    "waiver.missing-owner",
                    line,
                    format!("waiver for `{rule}` needs an `owner` (who answers for it)"),
                ));
            }
            let mut expires_at = None;
            if let Some(e) = &r.expires {
                expires_at = parse_expiry(&e.value);
                if expires_at.is_none() {
                    ok = false;
                    diags.push(Diagnostic::error(
                        "waiver.bad-expires",
                        line_of(e),
                        format!(
                            "expires `{}` is neither a date (2026-12-31) nor an RFC 3339 date-time (2026-12-31T18:00:00Z)",
                            e.value.trim()
                        ),
                    ));
                }
            }
            if let (true, Some(glob)) = (ok, glob) {
                waivers.push(Waiver {
                    rule,
                    policy_id,
                    rule_id,
                    target,
                    env: r.env.map(|e| e.trim().to_string()),
                    reason,
                    owner,
                    expires: r.expires.map(|e| e.value.trim().to_string()),
                    expires_at,
                    line,
                    glob,
                });
            }
        }
        Waivers {
            file: file.to_string(),
            waivers,
        }
    }

    /// Checks the waivers against a policy set: a waiver of a rule no loaded policy has is an
    /// error naming the nearest rule (a typo would otherwise waive nothing, silently); a waiver
    /// of a mandatory rule that does not accept waivers is a warning (it will be refused, with
    /// a notice, when it would apply).
    pub fn lint(&self, policies: &PolicySet) -> Vec<PolicyDiagnostic> {
        let mut diags = Vec::new();
        let mut refs: Option<Vec<String>> = None;
        for w in &self.waivers {
            match policies.rule(&w.policy_id, &w.rule_id) {
                None => {
                    let refs = refs.get_or_insert_with(|| policies.rule_refs());
                    diags.push(Diagnostic::error(
                        "waiver.unknown-rule",
                        w.line,
                        format!(
                            "no loaded policy has rule `{}`{}",
                            w.rule,
                            crate::document::names::did_you_mean(
                                &w.rule,
                                refs.iter().map(String::as_str)
                            )
                        ),
                    ))
                }
                Some((_, rule)) if !rule.accepts_waivers() => diags.push(Diagnostic::warning(
                    "waiver.not-allowed",
                    w.line,
                    format!(
                        "rule `{}` is mandatory and its policy does not declare it `waivable: true`: this waiver will be refused",
                        w.rule
                    ),
                )),
                Some(_) => {}
            }
        }
        wrap(&self.file, diags)
    }

    /// Applies the waivers to a whole report (every target of the check, so that staleness is
    /// judged on all of them) at `now`: marks covered findings waived, turns evaluations whose
    /// findings are all waived into [`Outcome::Waived`], and adds notices for expired, stale and
    /// refused waivers.
    pub fn apply(&self, policies: &PolicySet, report: &mut Report, now: DateTime<Utc>) {
        let n = self.waivers.len();
        let mut used = vec![false; n];
        let mut refused = vec![0usize; n];
        let mut expired_hits = vec![0usize; n];
        for f in report.findings.iter_mut().filter(|f| f.waived.is_none()) {
            let accepts = match policies.rule(&f.policy, &f.rule) {
                Some((_, r)) => r.accepts_waivers(),
                None => f.enforcement != Enforcement::Mandatory,
            };
            for (i, w) in self.waivers.iter().enumerate() {
                if !w.covers(f) {
                    continue;
                }
                if !w.is_active(now) {
                    expired_hits[i] += 1;
                    continue;
                }
                if !accepts {
                    refused[i] += 1;
                    continue;
                }
                f.waived = Some(w.waiver_ref());
                used[i] = true;
                break;
            }
        }
        for e in report.evaluations.iter_mut() {
            if !matches!(e.outcome, Outcome::Failed | Outcome::Errored) {
                continue;
            }
            let mut of_rule = report.findings.iter().filter(|f| {
                f.policy == e.policy && f.rule == e.rule && f.target == e.target && f.env == e.env
            });
            let mut any = false;
            let all_waived = of_rule.all(|f| {
                any = true;
                f.waived.is_some()
            });
            if any && all_waived {
                e.outcome = Outcome::Waived;
            }
        }
        for (i, w) in self.waivers.iter().enumerate() {
            let notice = |code: &str, message: String| Notice {
                code: code.to_string(),
                message,
                file: Some(self.file.clone()),
                line: Some(w.line),
            };
            if !w.is_active(now) {
                let hits = match expired_hits[i] {
                    0 => String::new(),
                    1 => "; the finding it covered now counts".to_string(),
                    k => format!("; the {k} findings it covered now count"),
                };
                report.notices.push(notice(
                    "waiver.expired",
                    format!(
                        "waiver for {} on `{}` (owner {}) expired on {}; it no longer applies{hits}",
                        w.rule,
                        w.target,
                        w.owner,
                        w.expires.as_deref().unwrap_or("?")
                    ),
                ));
            } else if refused[i] > 0 {
                report.notices.push(notice(
                    "waiver.not-allowed",
                    format!(
                        "waiver for {} on `{}` refused: the rule is mandatory and its policy does not declare it `waivable: true` (only break-glass passes it)",
                        w.rule, w.target
                    ),
                ));
            } else if !used[i] {
                report.notices.push(notice(
                    "waiver.stale",
                    format!(
                        "waiver for {} on `{}` (owner {}) matched no finding; remove it if the problem is fixed",
                        w.rule, w.target, w.owner
                    ),
                ));
            }
        }
    }
}

fn wrap(file: &str, diags: Vec<Diagnostic>) -> Vec<PolicyDiagnostic> {
    diags
        .into_iter()
        .map(|d| PolicyDiagnostic {
            file: file.to_string(),
            diagnostic: d,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_dates_last_through_the_day() {
        let at = parse_expiry("2026-12-01").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-12-02T00:00:00+00:00");
        let at = parse_expiry("2026-12-01T10:00:00+02:00").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-12-01T08:00:00+00:00");
        assert!(parse_expiry("next week").is_none());
    }

    #[test]
    fn load_reports_every_problem_with_lines() {
        let text = "- rule: a/b\n  target: x\n  reason: r\n  owner: o\n- rule: nope\n  target: '['\n  expires: soon\n";
        let (w, d) = Waivers::load("w.yaml", text);
        assert_eq!(w.waivers.len(), 1);
        let codes: Vec<(&str, u32)> = d
            .iter()
            .map(|d| (d.diagnostic.code, d.diagnostic.line))
            .collect();
        assert_eq!(
            codes,
            vec![
                ("waiver.bad-rule", 5),
                ("waiver.bad-glob", 6),
                ("waiver.missing-reason", 5),
                ("waiver.missing-owner", 5),
                ("waiver.bad-expires", 7)
            ]
        );
    }
}
