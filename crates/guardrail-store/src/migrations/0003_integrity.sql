-- guardrail store, schema 3: the token life cycle and who opened a break-glass retro review.

-- A token may expire; `last_used_at` is written at most once a minute per token (not on every
-- request). Revoked tokens keep their row (and `revoked_at`) for the audit trail.
ALTER TABLE tokens ADD COLUMN expires_at TEXT;
ALTER TABLE tokens ADD COLUMN last_used_at TEXT;

-- The user whose break-glass opened the review: they may not close it (four eyes).
ALTER TABLE retro_reviews ADD COLUMN opened_by TEXT;

-- The key marker of the audit chain is looked up by action at start.
CREATE INDEX audit_action ON audit(action);
