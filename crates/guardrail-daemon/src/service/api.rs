//! The request and response bodies of the HTTP API (`/v1`), shared by the server, the
//! generated OpenAPI document and the command-line client. Unknown fields are refused.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use guardrail_core::change::{ApprovalStatus, GateDecision, Requirement};

/// New content for one target.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetContent {
    /// A target name of `guardrail.yaml`.
    pub target: String,
    /// The whole new config, as text.
    pub content: String,
    /// Format override (default: the target's format, else detected).
    #[serde(default)]
    pub format: Option<String>,
}

/// `POST /v1/changes`: move one or more targets of one environment to new content. The
/// author is the token's user.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitChange {
    pub env: String,
    pub title: String,
    #[serde(default)]
    pub ticket: String,
    #[serde(default)]
    pub source_url: String,
    #[serde(default)]
    pub commit: String,
    pub targets: Vec<TargetContent>,
}

/// `POST /v1/changes/{id}/revisions`: new content; voids every approval.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviseChange {
    pub targets: Vec<TargetContent>,
    #[serde(default)]
    pub commit: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionBody {
    Approve,
    Reject,
}

/// `POST /v1/changes/{id}/approvals`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalBody {
    pub decision: DecisionBody,
    #[serde(default)]
    pub comment: String,
    /// The content hash the approver reviewed; refused (409) if the change moved on.
    pub content_hash: String,
}

/// `POST /v1/changes/{id}/schedule`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    /// When the change will be applied (RFC 3339); must fall in an open window.
    pub at: DateTime<Utc>,
}

/// `POST /v1/changes/{id}/{applied|verified|rolled_back|cancel}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    #[serde(default)]
    pub note: String,
}

/// `POST /v1/changes/{id}/break-glass`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassBody {
    pub reason: String,
    pub incident: String,
}

/// `POST /v1/freezes`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeBody {
    pub env: String,
    /// Target glob (default every target).
    #[serde(default = "all_targets")]
    pub targets: String,
    pub reason: String,
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
}

fn all_targets() -> String {
    "*".into()
}

/// `POST /v1/retro-reviews/{id}/close`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRetroBody {
    pub note: String,
}

/// `POST /v1/evaluate`: the stateless check of one change, as `guardrail check` does it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateBody {
    /// load_balancer, switch, email_connector, db_client or generic (default: the target's).
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default = "production")]
    pub env: String,
    /// A target of `guardrail.yaml` (its kind, owners and critical flag apply), or a name.
    #[serde(default)]
    pub target: Option<String>,
    /// Old content; absent for a created target.
    #[serde(default)]
    pub old: Option<String>,
    /// New content; absent for a deleted target.
    #[serde(default)]
    pub new: Option<String>,
}

fn production() -> String {
    "production".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChangeTargetView {
    pub target: String,
    pub format: String,
    pub content_hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    pub id: i64,
    pub user: String,
    pub decision: String,
    pub comment: String,
    pub content_hash: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BreakGlassView {
    pub by: String,
    pub reason: String,
    pub incident: String,
    pub at: DateTime<Utc>,
}

/// Where a change's gate stands now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GateView {
    #[schema(value_type = Object)]
    pub approvals: ApprovalStatus,
    /// Whether the change may be applied now, and why not.
    #[schema(value_type = Object)]
    pub decision: GateDecision,
}

/// A change as the API shows it: never the raw content (secrets), only hashes, findings and
/// redacted diffs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChangeView {
    pub id: i64,
    pub env: String,
    pub state: String,
    pub author: String,
    pub title: String,
    pub ticket: String,
    pub source_url: String,
    pub commit: String,
    pub revision: i64,
    pub content_hash: String,
    pub verdict: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub applied_at: Option<DateTime<Utc>>,
    pub verified_at: Option<DateTime<Utc>>,
    pub rolled_back_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub break_glass: Option<BreakGlassView>,
    pub targets: Vec<ChangeTargetView>,
    #[schema(value_type = Vec<Object>)]
    pub requirements: Vec<Requirement>,
    pub mandatory: Vec<String>,
    pub approvals: Vec<ApprovalView>,
    pub gate: GateView,
    /// The full evaluation report (`guardrail check --output json` shape), on `show` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub evaluation: Option<serde_json::Value>,
}

/// `GET /v1/gate`: may this content be pushed to this target now?
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GateAnswer {
    pub allow: bool,
    pub target: String,
    pub env: String,
    pub hash: String,
    /// The change that covers the content, if any.
    pub change_id: Option<i64>,
    /// Why not (or, when allowed by break-glass, what was overridden).
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FreezeView {
    pub id: i64,
    pub env: String,
    pub targets: String,
    pub reason: String,
    pub created_by: String,
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RetroView {
    pub id: i64,
    pub change_id: i64,
    /// Who used the break-glass (they may not close the review).
    #[serde(default)]
    pub opened_by: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub overdue: bool,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
    pub note: Option<String>,
}

/// `GET /v1/audit/verify`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditVerifyView {
    pub ok: bool,
    pub records: u64,
    /// The first record that does not verify.
    pub broken_record: Option<i64>,
    pub reason: Option<String>,
    /// The newest record, `SEQ:HASH` (pin it and pass it to `--expect-head` later).
    #[serde(default)]
    pub head: Option<String>,
    /// The record from which records are MAC'd with the audit key.
    #[serde(default)]
    pub keyed_from: Option<i64>,
}

/// `GET /v1/audit/head`: the newest audit record.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditHeadView {
    /// `SEQ:HASH`, what `--expect-head` takes (`null` for an empty log).
    pub head: Option<String>,
    pub seq: i64,
    pub hash: Option<String>,
}

/// `POST /v1/tokens`: a token for a user (admin).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreateBody {
    pub user: String,
    /// requester, approver, deployer, admin, breakglass.
    pub roles: Vec<String>,
    /// Groups approval gates name.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Lifetime (`90d`, `12h`); none: until revoked.
    #[serde(default)]
    pub expires: Option<String>,
}

/// A token just created: the only time it is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    pub id: i64,
    pub token: String,
    pub user: String,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A stored token (never the token itself).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub user: String,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// active, expired or revoked.
    pub state: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditRecordView {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub content_hash: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub hash: String,
}

/// Every error body: a message and, for bad requests, the field at fault.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}
