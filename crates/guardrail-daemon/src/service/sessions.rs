//! Web UI sessions: sign-in with an API token or as a user the authenticating proxy named, the
//! identity of a session on each request, sign-out. The browser holds only a random id; the store
//! keeps its sha256, the form (CSRF) token and, for a token sign-in, the token's hash, which is
//! authenticated again on every request, so revoking or expiring a token ends its sessions.
//! Signing in and out are audit records.

use chrono::Duration;
use sha2::{Digest, Sha256};

use super::{Result, Service, ServiceError, token_hash};
use guardrail_core::change::audit::AuditEntry;
use guardrail_store::{self as store, Identity, SessionRow, StoreError};

/// A signed-in browser: who, and the token its forms must carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub identity: Identity,
    pub csrf: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// How a session was opened.
#[derive(Debug, Clone)]
pub enum SignIn<'a> {
    /// An API token typed into the sign-in form.
    Token(&'a str),
    /// A user the authenticating proxy named (its headers, from a trusted address).
    Proxy(&'a Identity),
}

fn random_hex(what: &str) -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::Backend(format!("no randomness for a {what}: {e}")))?;
    Ok(hex::encode(bytes))
}

/// The stored form of a session id.
fn id_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// Equal form tokens, compared through their digests (no early exit on the secret's bytes).
pub fn same_token(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

impl Service {
    /// Opens a session lasting `ttl`: returns the id for the browser's cookie and the session.
    /// A bad token is `Unauthorized`. Expired sessions are purged in the same transaction.
    pub fn sign_in(&self, how: SignIn<'_>, ttl: Duration) -> Result<(String, Session)> {
        let (identity, token, method) = match how {
            SignIn::Token(t) => (self.authenticate(t)?, Some(token_hash(t)), "token"),
            SignIn::Proxy(id) => (id.clone(), None, "proxy"),
        };
        let id = random_hex("session id")?;
        let now = self.now();
        let row = SessionRow {
            id_hash: id_hash(&id),
            csrf: random_hex("form token")?,
            token_hash: token,
            user: identity.user.clone(),
            created_at: now,
            expires_at: now + ttl,
        };
        self.write(|tx| {
            tx.purge_sessions(now)?;
            tx.insert_session(&row)?;
            tx.append_audit(
                &AuditEntry {
                    actor: identity.user.clone(),
                    action: "ui.sign_in".into(),
                    subject: format!("user/{}", identity.user),
                    detail: serde_json::json!({"method": method, "expires_at": row.expires_at}),
                    ..Default::default()
                },
                now,
            )?;
            Ok::<_, ServiceError>(())
        })?;
        Ok((
            id,
            Session {
                identity,
                csrf: row.csrf,
                expires_at: row.expires_at,
            },
        ))
    }

    /// The session of a browser's cookie, or `None` (unknown, expired, its token revoked or
    /// expired, or a proxy session without the proxy naming the same user now). `proxied` is
    /// the user the trusted proxy names on this request, whose groups give the roles.
    pub fn session(&self, cookie: &str, proxied: Option<&Identity>) -> Result<Option<Session>> {
        let now = self.now();
        let hash = id_hash(cookie);
        let Some(row) = store::read(self.store.as_ref(), |tx| tx.session(&hash, now))? else {
            return Ok(None);
        };
        let identity = match (&row.token_hash, proxied) {
            (Some(token), _) => match self.authenticate_hash(token.clone()) {
                Ok(id) => id,
                Err(ServiceError::Unauthorized) => return Ok(None),
                Err(e) => return Err(e),
            },
            (None, Some(p)) if p.user == row.user => p.clone(),
            (None, _) => return Ok(None),
        };
        Ok(Some(Session {
            identity,
            csrf: row.csrf,
            expires_at: row.expires_at,
        }))
    }

    /// Ends the session of a browser's cookie.
    pub fn sign_out(&self, cookie: &str, who: &Identity) -> Result<()> {
        let hash = id_hash(cookie);
        let now = self.now();
        self.write(|tx| {
            if tx.delete_session(&hash)? {
                tx.append_audit(
                    &AuditEntry {
                        actor: who.user.clone(),
                        action: "ui.sign_out".into(),
                        subject: format!("user/{}", who.user),
                        ..Default::default()
                    },
                    now,
                )?;
            }
            Ok::<_, ServiceError>(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::api::TokenCreateBody;
    use crate::service::testing::World;

    fn token(w: &World, user: &str) -> (i64, String) {
        let t = w
            .svc
            .create_token(
                "admin",
                &TokenCreateBody {
                    user: user.into(),
                    roles: vec!["approver".into()],
                    groups: vec!["netops".into()],
                    expires: None,
                },
            )
            .unwrap();
        (t.id, t.token)
    }

    #[test]
    fn a_token_session_lasts_until_sign_out_expiry_or_revocation() {
        let w = World::new(crate::service::testing::CHANGES);
        let (tid, tok) = token(&w, "alice");
        let (cookie, s) = w
            .svc
            .sign_in(SignIn::Token(&tok), Duration::hours(1))
            .unwrap();
        assert_eq!(s.identity.user, "alice");
        let again = w.svc.session(&cookie, None).unwrap().unwrap();
        assert_eq!(again.csrf, s.csrf, "the form token stays with the session");
        assert!(w.svc.session("not-a-session", None).unwrap().is_none());
        assert_eq!(w.last_action(), "ui.sign_in");

        // Revoking the token ends the session.
        w.svc.revoke_token("admin", tid).unwrap();
        assert!(w.svc.session(&cookie, None).unwrap().is_none());

        // Expiry.
        let (_, tok) = token(&w, "bob");
        let (cookie, _) = w
            .svc
            .sign_in(SignIn::Token(&tok), Duration::hours(1))
            .unwrap();
        w.advance(3601);
        assert!(w.svc.session(&cookie, None).unwrap().is_none());

        // Sign-out.
        let (cookie, s) = w
            .svc
            .sign_in(SignIn::Token(&tok), Duration::hours(1))
            .unwrap();
        w.svc.sign_out(&cookie, &s.identity).unwrap();
        assert!(w.svc.session(&cookie, None).unwrap().is_none());
        assert_eq!(w.last_action(), "ui.sign_out");

        // A bad token opens nothing.
        assert!(matches!(
            w.svc.sign_in(SignIn::Token("grd_nope"), Duration::hours(1)),
            Err(ServiceError::Unauthorized)
        ));
    }

    #[test]
    fn a_proxy_session_needs_the_proxy_to_name_the_same_user() {
        let w = World::new(crate::service::testing::CHANGES);
        let carol = Identity {
            user: "carol".into(),
            roles: vec![],
            groups: vec!["netops".into()],
        };
        let (cookie, _) = w
            .svc
            .sign_in(SignIn::Proxy(&carol), Duration::hours(1))
            .unwrap();
        assert!(w.svc.session(&cookie, Some(&carol)).unwrap().is_some());
        assert!(w.svc.session(&cookie, None).unwrap().is_none());
        let dave = Identity {
            user: "dave".into(),
            ..carol.clone()
        };
        assert!(w.svc.session(&cookie, Some(&dave)).unwrap().is_none());
    }

    #[test]
    fn form_tokens_compare_by_value() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", ""));
    }
}
