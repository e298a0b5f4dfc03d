-- heliport's embedded schema (SQLite). Times are integer microseconds since the Unix epoch (UTC);
-- cost is integer nano-USD (NULL = unpriced). Booleans are 0/1.

CREATE TABLE IF NOT EXISTS organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    is_default  INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS api_keys (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id),
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    permissions   TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
);

-- One row per recorded request. `seq` orders rows; `uid` (a UUIDv7, so its index grows at the end)
-- makes spool replays idempotent;
-- `request_id` (Helicone-Id) is not unique: a client may reuse one.
CREATE TABLE IF NOT EXISTS requests (
    seq                        INTEGER PRIMARY KEY AUTOINCREMENT,
    uid                        TEXT NOT NULL UNIQUE,
    request_id                 TEXT NOT NULL,
    org_id                     TEXT NOT NULL,
    created_at                 INTEGER NOT NULL,
    response_created_at        INTEGER,
    provider                   TEXT NOT NULL,
    target_url                 TEXT NOT NULL,
    path                       TEXT NOT NULL,
    method                     TEXT NOT NULL,
    status                     INTEGER,
    failure                    TEXT,
    request_model              TEXT,
    response_model             TEXT,
    model                      TEXT,
    model_override             TEXT,
    stream                     INTEGER NOT NULL DEFAULT 0,
    latency_ms                 INTEGER,
    time_to_first_token_ms     INTEGER,
    prompt_tokens              INTEGER,
    completion_tokens          INTEGER,
    total_tokens               INTEGER,
    prompt_cache_read_tokens   INTEGER,
    prompt_cache_write_tokens  INTEGER,
    reasoning_tokens           INTEGER,
    usage_estimated            INTEGER NOT NULL DEFAULT 0,
    cost_nano_usd              INTEGER,
    user_id                    TEXT,
    session_id                 TEXT,
    session_path               TEXT,
    session_name               TEXT,
    prompt_id                  TEXT,
    prompt_version             INTEGER,
    prompt_inputs              TEXT,
    properties                 TEXT NOT NULL DEFAULT '{}',
    cache_enabled              INTEGER NOT NULL DEFAULT 0,
    cached                     INTEGER NOT NULL DEFAULT 0,
    cache_reference_id         TEXT,
    cache_bucket_idx           INTEGER,
    attempts                   INTEGER NOT NULL DEFAULT 1,
    fallback_index             INTEGER,
    api_key_id                 TEXT,
    request_body               TEXT,
    response_body              TEXT,
    request_body_truncated     INTEGER NOT NULL DEFAULT 0,
    response_body_truncated    INTEGER NOT NULL DEFAULT 0,
    body_cap_bytes             INTEGER NOT NULL,
    threat                     INTEGER NOT NULL DEFAULT 0,
    flagged                    INTEGER NOT NULL DEFAULT 0,
    scores                     TEXT NOT NULL DEFAULT '{}',
    feedback_rating            INTEGER
);

CREATE INDEX IF NOT EXISTS requests_org_created ON requests (org_id, created_at);
CREATE INDEX IF NOT EXISTS requests_org_request_id ON requests (org_id, request_id);
-- Partial: most requests carry no user or session, and an index a row is not in costs it nothing.
CREATE INDEX IF NOT EXISTS requests_org_user ON requests (org_id, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS requests_org_session ON requests (org_id, session_id) WHERE session_id IS NOT NULL;

-- Custom properties, one row each, so property filters and group-bys use an index.
CREATE TABLE IF NOT EXISTS request_properties (
    seq     INTEGER NOT NULL REFERENCES requests(seq) ON DELETE CASCADE,
    org_id  TEXT NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (seq, key)
);
CREATE INDEX IF NOT EXISTS request_properties_lookup ON request_properties (org_id, key, value);

-- Prompt versions: each distinct template under one prompt id is a new version.
CREATE TABLE IF NOT EXISTS prompt_versions (
    org_id         TEXT NOT NULL,
    prompt_id      TEXT NOT NULL,
    version        INTEGER NOT NULL,
    template_hash  TEXT NOT NULL,
    template       TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (org_id, prompt_id, version),
    UNIQUE (org_id, prompt_id, template_hash)
);
