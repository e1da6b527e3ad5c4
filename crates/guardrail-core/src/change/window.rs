//! Change windows: cron-style allow and deny windows with a duration and a time zone, and
//! freezes. Pure: every question takes the instant it is asked about.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use globset::{Glob, GlobMatcher};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    Allow,
    Deny,
}

/// One window: opens at every occurrence of `cron` (in `tz`) and stays open for `duration`.
#[derive(Debug, Clone)]
pub struct Window {
    pub kind: WindowKind,
    /// The cron expression as written (five fields: minute hour day month weekday).
    pub cron_text: String,
    cron: Cron,
    pub duration: Duration,
    pub tz: Tz,
    /// Target name glob; `None` applies to every target of the environment.
    pub targets: Option<(String, GlobMatcher)>,
    pub name: String,
}

impl Window {
    /// Builds a window; errors name the field at fault.
    pub fn new(
        kind: WindowKind,
        cron_text: &str,
        duration: Duration,
        tz: &str,
        targets: Option<&str>,
        name: Option<&str>,
    ) -> Result<Window, String> {
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .build()
            .parse(cron_text)
            .map_err(|e| format!("cron `{cron_text}`: {e}"))?;
        let tz: Tz = tz
            .parse()
            .map_err(|_| format!("tz `{tz}` is not an IANA time zone (e.g. Europe/Berlin, UTC)"))?;
        if duration <= Duration::zero() {
            return Err("duration must be positive".into());
        }
        let targets = match targets {
            Some(g) => Some((
                g.to_string(),
                Glob::new(g)
                    .map_err(|e| format!("targets `{g}`: {e}"))?
                    .compile_matcher(),
            )),
            None => None,
        };
        let kind_name = match kind {
            WindowKind::Allow => "allow",
            WindowKind::Deny => "deny",
        };
        Ok(Window {
            kind,
            cron_text: cron_text.to_string(),
            cron,
            duration,
            tz,
            targets,
            name: name
                .map(str::to_string)
                .unwrap_or_else(|| format!("{kind_name} `{cron_text}` ({tz})")),
        })
    }

    pub fn applies_to(&self, target: &str) -> bool {
        self.targets
            .as_ref()
            .is_none_or(|(_, m)| m.is_match(target))
    }

    /// The occurrence that contains `at` (its start in UTC), if the window is open then.
    pub fn open_occurrence(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(&self.tz);
        let start = self.cron.find_previous_occurrence(&local, true).ok()?;
        let start = start.with_timezone(&Utc);
        (at < start + self.duration).then_some(start)
    }

    /// The next instant at or after `from` when the window opens (for messages).
    pub fn next_opening(&self, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = from.with_timezone(&self.tz);
        self.cron
            .find_next_occurrence(&local, true)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// A freeze set through the API: no change to matching targets of `env` until lifted or
/// until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freeze {
    pub id: i64,
    pub env: String,
    /// Target glob (`*` for all).
    pub targets: String,
    pub reason: String,
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

impl Freeze {
    pub fn active(&self, env: &str, target: &str, at: DateTime<Utc>) -> bool {
        self.env == env
            && at >= self.from
            && self.until.is_none_or(|u| at < u)
            && Glob::new(&self.targets).is_ok_and(|g| g.compile_matcher().is_match(target))
    }
}

/// Why the windows are closed for a target at an instant, or `None` when they are open.
/// Deny wins over allow; with no allow window for the target, it is open unless denied.
pub fn closed_reason(windows: &[Window], target: &str, at: DateTime<Utc>) -> Option<String> {
    let relevant: Vec<&Window> = windows.iter().filter(|w| w.applies_to(target)).collect();
    if let Some(w) = relevant
        .iter()
        .find(|w| w.kind == WindowKind::Deny && w.open_occurrence(at).is_some())
    {
        return Some(format!("deny window {} is in force", w.name));
    }
    let allows: Vec<&&Window> = relevant
        .iter()
        .filter(|w| w.kind == WindowKind::Allow)
        .collect();
    if allows.is_empty() || allows.iter().any(|w| w.open_occurrence(at).is_some()) {
        return None;
    }
    let next = allows.iter().filter_map(|w| w.next_opening(at)).min();
    Some(match next {
        Some(n) => format!(
            "outside every allow window for {target}; the next opens at {}",
            n.to_rfc3339()
        ),
        None => format!("outside every allow window for {target}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn weekday_mornings() -> Window {
        // Mon-Thu 09:00-15:00 Berlin time.
        Window::new(
            WindowKind::Allow,
            "0 9 * * 1-4",
            Duration::hours(6),
            "Europe/Berlin",
            None,
            None,
        )
        .unwrap()
    }

    #[test]
    fn allow_window_open_and_closed() {
        let w = [weekday_mornings()];
        // 2026-11-23 is a Monday; 10:00 Berlin = 09:00 UTC in winter.
        assert_eq!(closed_reason(&w, "lb", t("2026-11-23T09:00:00Z")), None);
        // 16:00 Berlin: closed.
        let r = closed_reason(&w, "lb", t("2026-11-23T15:00:00Z")).unwrap();
        assert!(r.contains("next opens at 2026-11-24T08:00:00+00:00"), "{r}");
        // Friday: closed.
        assert!(closed_reason(&w, "lb", t("2026-11-27T09:00:00Z")).is_some());
    }

    #[test]
    fn deny_wins_over_allow() {
        let deny = Window::new(
            WindowKind::Deny,
            "0 0 23 11 *",
            Duration::days(2),
            "UTC",
            Some("lb-*"),
            Some("thanksgiving freeze"),
        )
        .unwrap();
        let w = [weekday_mornings(), deny];
        let monday = t("2026-11-23T09:00:00Z");
        assert_eq!(
            closed_reason(&w, "lb-mail", monday).unwrap(),
            "deny window thanksgiving freeze is in force"
        );
        // Another target is not covered by the deny window.
        assert_eq!(closed_reason(&w, "core-sw-1", monday), None);
    }

    #[test]
    fn no_allow_windows_means_open() {
        assert_eq!(closed_reason(&[], "x", t("2026-11-21T03:00:00Z")), None);
    }

    #[test]
    fn bad_window_fields_are_named() {
        let e = Window::new(
            WindowKind::Allow,
            "61 * * * *",
            Duration::hours(1),
            "UTC",
            None,
            None,
        )
        .unwrap_err();
        assert!(e.starts_with("cron `61 * * * *`"), "{e}");
        let e = Window::new(
            WindowKind::Allow,
            "0 * * * *",
            Duration::hours(1),
            "Mars/Olympus",
            None,
            None,
        )
        .unwrap_err();
        assert!(e.contains("tz `Mars/Olympus`"), "{e}");
    }

    #[test]
    fn freeze_covers_its_targets_until_lifted() {
        let f = Freeze {
            id: 1,
            env: "production".into(),
            targets: "lb-*".into(),
            reason: "peak".into(),
            from: t("2026-11-20T00:00:00Z"),
            until: Some(t("2026-11-30T00:00:00Z")),
        };
        assert!(f.active("production", "lb-mail", t("2026-11-21T00:00:00Z")));
        assert!(!f.active("production", "sw-1", t("2026-11-21T00:00:00Z")));
        assert!(!f.active("staging", "lb-mail", t("2026-11-21T00:00:00Z")));
        assert!(!f.active("production", "lb-mail", t("2026-12-01T00:00:00Z")));
    }
}
