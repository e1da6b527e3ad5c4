-- The web UI's sessions, as in the SQLite store's migration 4: the sha256 of the browser's
-- random session id, the form token, the API token's hash a session was signed in with (none for
-- a user named by the authenticating proxy), and the expiry. Not copied by `store migrate`.
CREATE TABLE ui_sessions (
    id_hash TEXT COLLATE "C" PRIMARY KEY,
    csrf TEXT COLLATE "C" NOT NULL,
    token_hash TEXT COLLATE "C",
    "user" TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    expires_at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX ui_sessions_expiry ON ui_sessions(expires_at);

-- A change's timeline on its web page: the audit records about one subject.
CREATE INDEX audit_subject ON audit(subject);
