-- guardrail store, schema 4: the web UI's sessions and the audit log by subject.

-- Sessions are server-side: the browser holds only a random
-- id, of which the store keeps the sha256. A session signed in with an API token keeps that
-- token's hash, so revoking or expiring the token ends the session; a session of a user the
-- authenticating proxy named (trusted headers) keeps no token. Sessions are not copied by
-- `store migrate`: people sign in again.
CREATE TABLE ui_sessions (
    id_hash TEXT PRIMARY KEY,
    csrf TEXT NOT NULL,
    token_hash TEXT,
    "user" TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX ui_sessions_expiry ON ui_sessions(expires_at);

-- A change's timeline on its web page: the audit records about one subject.
CREATE INDEX audit_subject ON audit(subject);
