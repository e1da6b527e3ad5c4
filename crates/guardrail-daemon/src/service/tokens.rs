//! API tokens: authentication (the config's hashed tokens first, then the store's), and the life
//! cycle of stored tokens — created with an optional expiry, listed (never the token: only its
//! sha256 is kept), revoked. A revoked or expired token is refused on its next request: a
//! revocation through this service drops the token from the cache at once, and a cached
//! identity is reused for at most [`TOKEN_CACHE_TTL`] (so a revocation written offline by
//! `guardrail token revoke --data-dir` reaches a running daemon within that time).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::api::{TokenCreateBody, TokenCreated, TokenView};
use super::{Result, Service, ServiceError, require, token_hash};
use guardrail_core::change::audit::AuditEntry;
use guardrail_store::{self as store, Identity, Role, StoreError, TokenRow};

/// How long an authenticated token is answered from memory before the store is asked again.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct CachedToken {
    /// The stored token's id (`None`: a token of `server.tokens` in guardrail.yaml).
    pub id: Option<i64>,
    pub identity: Identity,
    pub expires_at: Option<DateTime<Utc>>,
    pub cached_at: Instant,
}

/// Checks a token request: a user and known roles (422 naming the field).
fn identity_of(body: &TokenCreateBody) -> Result<Identity> {
    super::input::text_field("user", &body.user, super::input::Text::Line)?;
    if body.user.trim().is_empty() {
        return Err(ServiceError::invalid("user", "a token needs a user"));
    }
    if body.roles.is_empty() {
        return Err(ServiceError::invalid(
            "roles",
            format!(
                "a token needs at least one role: {}",
                Role::ALL.map(|r| r.name()).join(", ")
            ),
        ));
    }
    let mut roles = Vec::new();
    for (i, r) in body.roles.iter().enumerate() {
        match Role::from_name(r.trim()) {
            Some(r) => roles.push(r),
            None => {
                return Err(ServiceError::invalid(
                    &format!("roles[{i}]"),
                    super::input::unknown_name("role", r, Role::ALL.map(|r| r.name())),
                ));
            }
        }
    }
    for (i, g) in body.groups.iter().enumerate() {
        super::input::text_field(&format!("groups[{i}]"), g, super::input::Text::Line)?;
    }
    Ok(Identity {
        user: body.user.trim().to_string(),
        roles,
        groups: body.groups.clone(),
    })
}

fn view(t: TokenRow, now: DateTime<Utc>) -> TokenView {
    let state = if t.revoked_at.is_some() {
        "revoked"
    } else if t.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    };
    TokenView {
        id: t.id,
        user: t.identity.user,
        roles: t
            .identity
            .roles
            .iter()
            .map(|r| r.name().to_string())
            .collect(),
        groups: t.identity.groups,
        created_at: t.created_at,
        expires_at: t.expires_at,
        last_used_at: t.last_used_at,
        revoked_at: t.revoked_at,
        state: state.to_string(),
    }
}

impl Service {
    /// The identity of a token authenticated within [`TOKEN_CACHE_TTL`] and not expired (no
    /// store access).
    pub fn cached_identity(&self, token: &str) -> Option<Identity> {
        let hash = token_hash(token);
        let now = self.now();
        let hit = self
            .token_cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash)
            .filter(|c| {
                c.cached_at.elapsed() < TOKEN_CACHE_TTL && c.expires_at.is_none_or(|e| e > now)
            })
            .cloned()?;
        self.note_use(hit.id, now);
        Some(hit.identity)
    }

    fn note_use(&self, id: Option<i64>, now: DateTime<Utc>) {
        if let Some(id) = id {
            self.token_used
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id, now);
        }
    }

    /// The identity of a bearer token: the config's hashed tokens first, then the store's
    /// (neither revoked nor expired).
    pub fn authenticate(&self, token: &str) -> Result<Identity> {
        self.authenticate_hash(token_hash(token))
    }

    /// [`Service::authenticate`] of a token known by its hash (a web UI session keeps only the
    /// hash of the token it was signed in with).
    pub fn authenticate_hash(&self, hash: String) -> Result<Identity> {
        let now = self.now();
        let found = match self.runtime().tokens.iter().find(|t| t.sha256 == hash) {
            Some(t) => (None, t.identity.clone(), None),
            None => {
                let (id, identity, expires) =
                    store::read(self.store.as_ref(), |tx| tx.token_identity(&hash, now))?
                        .ok_or(ServiceError::Unauthorized)?;
                (Some(id), identity, expires)
            }
        };
        self.note_use(found.0, now);
        let mut cache = self.token_cache.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(
            hash,
            CachedToken {
                id: found.0,
                identity: found.1.clone(),
                expires_at: found.2,
                cached_at: Instant::now(),
            },
        );
        Ok(found.1)
    }

    /// Creates a token (offline `guardrail token create`, or `POST /v1/tokens` by an admin).
    /// Returns it once; only its hash is stored.
    pub fn create_token(&self, actor: &str, body: &TokenCreateBody) -> Result<TokenCreated> {
        let id = identity_of(body)?;
        let now = self.now();
        let expires_at = match &body.expires {
            None => None,
            Some(s) => {
                let d = guardrail_core::change::parse_duration(s)
                    .map_err(|e| ServiceError::invalid("expires", e))?;
                if d <= chrono::Duration::zero() {
                    return Err(ServiceError::invalid(
                        "expires",
                        "the lifetime must be positive (e.g. 90d)",
                    ));
                }
                Some(now + d)
            }
        };
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| StoreError::Backend(format!("no randomness for a token: {e}")))?;
        let token = format!("grd_{}", hex::encode(bytes));
        let hash = token_hash(&token);
        let tid = self.write(|tx| {
            let tid = tx.insert_token(&hash, &id, now, expires_at)?;
            tx.append_audit(
                &AuditEntry {
                    actor: actor.to_string(),
                    action: "token.create".into(),
                    subject: format!("token/{tid}"),
                    detail: serde_json::json!({
                        "user": id.user,
                        "roles": id.roles.iter().map(|r| r.name()).collect::<Vec<_>>(),
                        "groups": id.groups,
                        "expires_at": expires_at,
                    }),
                    ..Default::default()
                },
                now,
            )?;
            Ok::<_, ServiceError>(tid)
        })?;
        Ok(TokenCreated {
            id: tid,
            token,
            user: id.user,
            roles: id.roles.iter().map(|r| r.name().to_string()).collect(),
            groups: id.groups,
            expires_at,
        })
    }

    /// `POST /v1/tokens` (admin).
    pub fn create_token_as(&self, who: &Identity, body: TokenCreateBody) -> Result<TokenCreated> {
        require(who, Role::Admin)?;
        self.create_token(&who.user, &body)
    }

    /// Every stored token (never the token itself).
    pub fn tokens(&self) -> Result<Vec<TokenView>> {
        let now = self.now();
        let rows = store::read(self.store.as_ref(), |tx| tx.tokens())?;
        Ok(rows.into_iter().map(|t| view(t, now)).collect())
    }

    /// `GET /v1/tokens` (admin).
    pub fn tokens_as(&self, who: &Identity) -> Result<Vec<TokenView>> {
        require(who, Role::Admin)?;
        self.tokens()
    }

    /// Revokes a stored token: refused on its next request.
    pub fn revoke_token(&self, actor: &str, id: i64) -> Result<TokenView> {
        let now = self.now();
        let row = self.write(|tx| {
            if !tx.revoke_token(id, now)? {
                let exists = tx.tokens()?.into_iter().any(|t| t.id == id);
                return Err(if exists {
                    ServiceError::conflict(format!("token {id} is already revoked"))
                } else {
                    ServiceError::NotFound(format!("no token {id}"))
                });
            }
            tx.append_audit(
                &AuditEntry {
                    actor: actor.to_string(),
                    action: "token.revoke".into(),
                    subject: format!("token/{id}"),
                    ..Default::default()
                },
                now,
            )?;
            tx.tokens()?
                .into_iter()
                .find(|t| t.id == id)
                .ok_or_else(|| ServiceError::NotFound(format!("no token {id}")))
        })?;
        self.token_cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, c| c.id != Some(id));
        Ok(view(row, now))
    }

    /// `DELETE /v1/tokens/{id}` (admin).
    pub fn revoke_token_as(&self, who: &Identity, id: i64) -> Result<TokenView> {
        require(who, Role::Admin)?;
        self.revoke_token(&who.user, id)
    }

    /// Writes when tokens were last used (called by the sweep).
    pub fn flush_token_use(&self) -> Result<()> {
        let used: Vec<(i64, DateTime<Utc>)> =
            std::mem::take(&mut *self.token_used.lock().unwrap_or_else(|p| p.into_inner()))
                .into_iter()
                .collect();
        if used.is_empty() {
            return Ok(());
        }
        Ok(store::write(self.store.as_ref(), &self.audit_key, |tx| {
            tx.touch_tokens(&used)
        })?)
    }
}
