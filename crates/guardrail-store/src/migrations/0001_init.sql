-- guardrail store, schema 1. Timestamps are RFC 3339 UTC strings with microseconds (sortable).
CREATE TABLE tokens (
    id INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,          -- sha256 of the token; the token itself is never stored
    user TEXT NOT NULL,
    roles TEXT NOT NULL,                -- JSON array
    groups_ TEXT NOT NULL,              -- JSON array
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE TABLE changes (
    id INTEGER PRIMARY KEY,
    env TEXT NOT NULL,
    state TEXT NOT NULL,
    author TEXT NOT NULL,
    content_hash TEXT NOT NULL,         -- of the current revision (all targets)
    revision INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    doc TEXT NOT NULL,                  -- JSON: title, ticket, source, gates, schedule, ...
    evaluation TEXT NOT NULL DEFAULT '{}' -- JSON report of the current revision (redacted)
);
CREATE INDEX changes_state_env ON changes(state, env);

CREATE TABLE change_targets (
    change_id INTEGER NOT NULL REFERENCES changes(id),
    target TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    format TEXT NOT NULL,
    content TEXT NOT NULL,              -- as submitted; never returned by the API unredacted
    PRIMARY KEY (change_id, target)
);
CREATE INDEX change_targets_hash ON change_targets(target, content_hash);

CREATE TABLE approvals (
    id INTEGER PRIMARY KEY,
    change_id INTEGER NOT NULL REFERENCES changes(id),
    user TEXT NOT NULL,
    groups_ TEXT NOT NULL,
    decision TEXT NOT NULL,             -- approve | reject
    comment TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    at TEXT NOT NULL,
    voided_at TEXT,
    void_reason TEXT
);
CREATE INDEX approvals_change ON approvals(change_id);

CREATE TABLE baselines (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    env TEXT NOT NULL,
    content TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    format TEXT NOT NULL,
    change_id INTEGER,
    origin TEXT NOT NULL,               -- change | first_contact | rollback
    applied_at TEXT NOT NULL,
    rolled_back_at TEXT
);
CREATE INDEX baselines_target_env ON baselines(target, env, id);
CREATE INDEX baselines_hash ON baselines(target, env, content_hash);

CREATE TABLE freezes (
    id INTEGER PRIMARY KEY,
    env TEXT NOT NULL,
    targets TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    from_at TEXT NOT NULL,
    until TEXT,
    lifted_at TEXT,
    lifted_by TEXT
);

CREATE TABLE retro_reviews (
    id INTEGER PRIMARY KEY,
    change_id INTEGER NOT NULL REFERENCES changes(id),
    opened_at TEXT NOT NULL,
    due_at TEXT NOT NULL,
    closed_at TEXT,
    closed_by TEXT,
    note TEXT
);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    before TEXT,
    after TEXT,
    content_hash TEXT,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

CREATE TABLE audit_head (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    id INTEGER NOT NULL,
    hash TEXT NOT NULL
);
