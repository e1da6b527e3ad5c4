//! Request bodies per receiver kind, and the webhook signature. Pure: the delivery loop passes
//! the time and the secret it read.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;

use super::event::{Event, Status};

/// The version of the webhook payload (bumped only when a key changes meaning or disappears).
pub const WEBHOOK_VERSION: u32 = 1;
/// How long Alertmanager keeps a firing state alert without hearing from guardrail again
/// (guardrail re-sends active alerts every [`crate::delivery::RESEND_EVERY`]).
pub const ALERT_HOLD: Duration = Duration::minutes(5);
/// How long a one-off notice (break-glass) stays firing in Alertmanager.
pub const NOTICE_HOLD: Duration = Duration::hours(1);
/// Longest diff excerpt put in a chat message or an Alertmanager annotation.
const EXCERPT_CHARS: usize = 3000;

/// `X-Guardrail-Signature`: `sha256=` and the hex HMAC-SHA256 of the body with the secret.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The web UI page of what an event is about (its drift, else its change), under
/// `server.public_url`: `https://guardrail.example.com/ui/drift/4`.
pub fn page_link(e: &Event, public_url: Option<&str>) -> Option<String> {
    let base = public_url?.trim_end_matches('/');
    if let Some(d) = e.labels.get("drift") {
        Some(format!("{base}/ui/drift/{d}"))
    } else {
        e.labels
            .get("change")
            .map(|c| format!("{base}/ui/changes/{c}"))
    }
}

/// The generic webhook body: the event plus `version`, `delivery` (the outbox id, the same
/// on every retry, so a receiver can drop duplicates) and `url` (the event's page, when
/// `server.public_url` is set).
pub fn webhook(e: &Event, delivery: i64, link: Option<&str>) -> Vec<u8> {
    let mut v = serde_json::to_value(e).unwrap_or_else(|_| json!({}));
    if let Some(o) = v.as_object_mut() {
        let mut out = serde_json::Map::new();
        out.insert("version".into(), json!(WEBHOOK_VERSION));
        out.insert("delivery".into(), json!(delivery));
        if let Some(l) = link {
            out.insert("url".into(), json!(l));
        }
        out.extend(std::mem::take(o));
        v = serde_json::Value::Object(out);
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

/// The body of `POST /api/v2/alerts`: one alert; `generatorURL` is the event's page.
pub fn alertmanager(e: &Event, now: DateTime<Utc>, generator_url: Option<&str>) -> Vec<u8> {
    let ends_at = match e.status {
        Status::Resolved => e.ends_at.unwrap_or(now),
        Status::Firing if e.event.resolves() => now + ALERT_HOLD,
        Status::Firing => now.max(e.starts_at) + NOTICE_HOLD,
    };
    let mut annotations = serde_json::Map::new();
    annotations.insert("summary".into(), json!(e.summary));
    annotations.insert("guardrail_key".into(), json!(e.key));
    if let Some(d) = excerpt(e) {
        annotations.insert("description".into(), json!(d));
    }
    if let Some(b) = e.details.get("baseline_hash").and_then(|v| v.as_str()) {
        annotations.insert("baseline_hash".into(), json!(b));
    }
    let mut alert = json!({
        "labels": e.alert_labels(),
        "annotations": annotations,
        "startsAt": e.starts_at.to_rfc3339(),
        "endsAt": ends_at.to_rfc3339(),
    });
    if let Some(u) = generator_url {
        alert["generatorURL"] = json!(u);
    }
    serde_json::to_vec(&json!([alert])).unwrap_or_default()
}

/// A Slack-compatible incoming-webhook body (`text` in Slack's mrkdwn), ending with a link to
/// the event's page when there is one.
pub fn slack(e: &Event, link: Option<&str>) -> Vec<u8> {
    let icon = match e.status {
        Status::Resolved => ":white_check_mark:",
        Status::Firing => match e.severity {
            super::event::Severity::Critical => ":rotating_light:",
            _ => ":warning:",
        },
    };
    let state = match e.status {
        Status::Resolved => "RESOLVED",
        Status::Firing => "FIRING",
    };
    let mut text = format!("{icon} *[{state}] {}* {}", e.event.name(), e.summary);
    if let Some(d) = excerpt(e).filter(|_| e.status == Status::Firing) {
        text.push_str(&format!("\n```\n{d}\n```"));
    }
    if let Some(l) = link {
        text.push_str(&format!("\n<{l}|Open in guardrail>"));
    }
    serde_json::to_vec(&json!({ "text": text })).unwrap_or_default()
}

/// The start of the event's redacted unified diff, cut at a line boundary.
fn excerpt(e: &Event) -> Option<String> {
    let diff = e.details.get("unified_diff")?.as_str()?;
    if diff.is_empty() {
        return None;
    }
    if diff.len() <= EXCERPT_CHARS {
        return Some(diff.trim_end().to_string());
    }
    let mut cut = EXCERPT_CHARS;
    while !diff.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = &diff[..cut];
    let head = head.rfind('\n').map(|i| &head[..i]).unwrap_or(head);
    Some(format!(
        "{head}\n... (diff truncated; see the drift record)"
    ))
}

#[cfg(test)]
mod tests {
    use super::super::event::{EventKind, Severity};
    use super::*;

    fn event(status: Status) -> Event {
        let at = DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Event {
            event: EventKind::UnstagedPush,
            status,
            key: "unstaged_push/lb-mail/production".into(),
            severity: Severity::Critical,
            summary: "lb-mail in production changed without an approved change".into(),
            target: Some("lb-mail".into()),
            env: Some("production".into()),
            starts_at: at,
            ends_at: (status == Status::Resolved).then(|| at + Duration::minutes(3)),
            labels: [("drift".to_string(), "4".to_string())].into(),
            details: json!({"unified_diff": "--- a\n+++ b\n-x\n+y\n", "baseline_hash": "sha256:a"}),
        }
    }

    #[test]
    fn signature_is_the_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn alertmanager_alert_has_the_labels_and_ends_on_resolve() {
        let now = event(Status::Firing).starts_at + Duration::minutes(1);
        let v: serde_json::Value =
            serde_json::from_slice(&alertmanager(&event(Status::Firing), now, None)).unwrap();
        let a = &v[0];
        assert_eq!(a["labels"]["alertname"], "GuardrailUnstagedPush");
        assert_eq!(a["labels"]["target"], "lb-mail");
        assert_eq!(a["labels"]["env"], "production");
        assert_eq!(a["labels"]["severity"], "critical");
        assert_eq!(a["labels"]["origin"], "daemon");
        assert_eq!(a["labels"]["drift"], "4");
        assert_eq!(a["endsAt"], (now + ALERT_HOLD).to_rfc3339());
        assert!(
            a["annotations"]["description"]
                .as_str()
                .unwrap()
                .contains("+y")
        );
        let r: serde_json::Value =
            serde_json::from_slice(&alertmanager(&event(Status::Resolved), now, None)).unwrap();
        assert_eq!(
            r[0]["endsAt"],
            (event(Status::Firing).starts_at + Duration::minutes(3)).to_rfc3339()
        );
    }

    #[test]
    fn webhook_body_carries_version_delivery_and_the_event() {
        let v: serde_json::Value =
            serde_json::from_slice(&webhook(&event(Status::Firing), 17, None)).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["delivery"], 17);
        assert_eq!(v["event"], "unstaged_push");
        assert_eq!(v["status"], "firing");
        assert_eq!(v["details"]["baseline_hash"], "sha256:a");
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys[..3], ["version", "delivery", "event"]);
    }

    #[test]
    fn slack_text_is_short() {
        let v: serde_json::Value =
            serde_json::from_slice(&slack(&event(Status::Firing), None)).unwrap();
        let t = v["text"].as_str().unwrap();
        assert!(
            t.starts_with(":rotating_light: *[FIRING] unstaged_push*"),
            "{t}"
        );
        assert!(t.contains("+y"));
        let long = Event {
            details: json!({"unified_diff": "+line\n".repeat(2000)}),
            ..event(Status::Firing)
        };
        let v: serde_json::Value = serde_json::from_slice(&slack(&long, None)).unwrap();
        let t = v["text"].as_str().unwrap();
        assert!(
            t.len() < 3300 && t.contains("diff truncated"),
            "{}",
            t.len()
        );
    }

    #[test]
    fn each_body_links_to_the_event_page_under_the_public_url() {
        let e = event(Status::Firing);
        let link = page_link(&e, Some("https://guardrail.example.com/")).unwrap();
        assert_eq!(link, "https://guardrail.example.com/ui/drift/4");
        assert_eq!(page_link(&e, None), None);
        let now = e.starts_at;
        let am: serde_json::Value =
            serde_json::from_slice(&alertmanager(&e, now, Some(&link))).unwrap();
        assert_eq!(am[0]["generatorURL"], link.as_str());
        let hook: serde_json::Value = serde_json::from_slice(&webhook(&e, 1, Some(&link))).unwrap();
        assert_eq!(hook["url"], link.as_str());
        let chat: serde_json::Value = serde_json::from_slice(&slack(&e, Some(&link))).unwrap();
        assert!(
            chat["text"]
                .as_str()
                .unwrap()
                .ends_with(&format!("<{link}|Open in guardrail>"))
        );
        let mut change = e.clone();
        change.labels = [("change".to_string(), "12".to_string())].into();
        assert_eq!(
            page_link(&change, Some("https://g.example")).as_deref(),
            Some("https://g.example/ui/changes/12")
        );
    }
}
