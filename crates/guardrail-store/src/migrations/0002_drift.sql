-- guardrail store, schema 2: drift detection, source health and the notification outbox.

-- A live config that differs from its baseline without an approved change (or that does not
-- show an applied change). At most one open drift per target and environment.
CREATE TABLE drifts (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    env TEXT NOT NULL,
    kind TEXT NOT NULL,                 -- unstaged_push | verification_failed
    status TEXT NOT NULL,               -- open | resolved
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    live_hash TEXT NOT NULL,            -- normalized hash of the drifted content last seen
    live_content TEXT NOT NULL,         -- as fetched; for `drift adopt`; never returned by the API
    format TEXT NOT NULL,
    baseline_id INTEGER,                -- the baseline to roll back to
    baseline_hash TEXT,
    change_id INTEGER,                  -- verification_failed: the applied change
    diff TEXT NOT NULL,                 -- JSON {semantic, unified}: redacted
    findings TEXT NOT NULL,             -- JSON array of findings the content would raise
    detail TEXT NOT NULL DEFAULT '{}',  -- JSON: why (blocked change, timed out, ...)
    flaps INTEGER NOT NULL DEFAULT 0,
    in_sync_since TEXT,
    resolved_at TEXT,
    resolution TEXT,                    -- reverted | adopted | applied | verified
    adopted_change_id INTEGER
);
CREATE INDEX drifts_target_env ON drifts(target, env, status);
CREATE UNIQUE INDEX drifts_one_open ON drifts(target, env) WHERE status = 'open';

-- The health of each polled source.
CREATE TABLE source_status (
    target TEXT NOT NULL,
    env TEXT NOT NULL,
    up INTEGER NOT NULL,
    consecutive_failures INTEGER NOT NULL,
    last_attempt TEXT,
    last_success TEXT,
    last_error TEXT,
    PRIMARY KEY (target, env)
);

-- Alerts that fire and resolve (unstaged_push, verification_failed, source_down,
-- retro_overdue), by key: whether one is active, and what it said when it fired.
CREATE TABLE alerts (
    key TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,              -- the firing event (JSON, redacted)
    fired_at TEXT NOT NULL,
    resolved_at TEXT
);
CREATE INDEX alerts_active ON alerts(resolved_at);

-- Notifications waiting for delivery: one row per receiver, written in the transaction that
-- caused it, delivered in order per receiver.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    receiver TEXT NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,              -- the event (JSON, redacted); rendered per receiver
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    delivered_at TEXT,
    abandoned_at TEXT,
    last_error TEXT
);
CREATE INDEX outbox_pending ON outbox(receiver, id) WHERE delivered_at IS NULL AND abandoned_at IS NULL;

-- Targets of an applied change seen live with the change's content (post-apply verification).
CREATE TABLE verifications (
    change_id INTEGER NOT NULL,
    target TEXT NOT NULL,
    env TEXT NOT NULL,
    verified_at TEXT NOT NULL,
    PRIMARY KEY (change_id, target)
);
