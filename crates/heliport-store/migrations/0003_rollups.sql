-- Rollups the record writer keeps up to date (in the same transaction as the
-- records), so aggregates read summed rows instead of scanning records.
-- Every rollup table carries the same measures (see heliport-store's
-- rollup.rs); upstream attempts (parent_request_id set) are not counted.
-- Times are µs; `hour` and `day` are the bucket's first µs (UTC).
--
-- Daily and hourly tables form a pyramid: a range is read as whole days
-- from the daily table, the whole hours at its ends from the hourly one,
-- and only the partial hours at its very ends from the records.

CREATE TABLE IF NOT EXISTS rollup_hourly (
    org_id                TEXT NOT NULL,
    hour                  INTEGER NOT NULL,
    model                 TEXT NOT NULL,      -- '' when unknown
    provider              TEXT NOT NULL,
    status                INTEGER NOT NULL,   -- 0 when none (a named failure)
    cached                INTEGER NOT NULL,
    requests              INTEGER NOT NULL DEFAULT 0,
    errors                INTEGER NOT NULL DEFAULT 0,
    rate_limited          INTEGER NOT NULL DEFAULT 0,
    streams               INTEGER NOT NULL DEFAULT 0,
    cache_hits            INTEGER NOT NULL DEFAULT 0,
    prompt_tokens         INTEGER NOT NULL DEFAULT 0,
    completion_tokens     INTEGER NOT NULL DEFAULT 0,
    total_tokens          INTEGER NOT NULL DEFAULT 0,
    cost_nano_usd         INTEGER NOT NULL DEFAULT 0,
    priced                INTEGER NOT NULL DEFAULT 0,
    cache_saved_nano_usd  INTEGER NOT NULL DEFAULT 0,
    latency_ms_sum        INTEGER NOT NULL DEFAULT 0,
    latency_count         INTEGER NOT NULL DEFAULT 0,
    ttft_ms_sum           INTEGER NOT NULL DEFAULT 0,
    ttft_count            INTEGER NOT NULL DEFAULT 0,
    -- Histograms of the hour's latencies and times to first token (5 % buckets).
    latency_hist          BLOB NOT NULL DEFAULT x'',
    ttft_hist             BLOB NOT NULL DEFAULT x'',
    PRIMARY KEY (org_id, hour, model, provider, status, cached)
) WITHOUT ROWID;

-- rollup_hourly by day (UTC), for long ranges.
CREATE TABLE IF NOT EXISTS rollup_daily (
    org_id TEXT NOT NULL, day INTEGER NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL,
    status INTEGER NOT NULL, cached INTEGER NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0, streams INTEGER NOT NULL DEFAULT 0,
    cache_hits INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, total_tokens INTEGER NOT NULL DEFAULT 0,
    cost_nano_usd INTEGER NOT NULL DEFAULT 0, priced INTEGER NOT NULL DEFAULT 0,
    cache_saved_nano_usd INTEGER NOT NULL DEFAULT 0, latency_ms_sum INTEGER NOT NULL DEFAULT 0,
    latency_count INTEGER NOT NULL DEFAULT 0, ttft_ms_sum INTEGER NOT NULL DEFAULT 0,
    ttft_count INTEGER NOT NULL DEFAULT 0,
    latency_hist BLOB NOT NULL DEFAULT x'',
    ttft_hist BLOB NOT NULL DEFAULT x'',
    PRIMARY KEY (org_id, day, model, provider, status, cached)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS rollup_user_hourly (
    org_id TEXT NOT NULL, hour INTEGER NOT NULL, user_id TEXT NOT NULL,
    first_at INTEGER NOT NULL, last_at INTEGER NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0, streams INTEGER NOT NULL DEFAULT 0,
    cache_hits INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, total_tokens INTEGER NOT NULL DEFAULT 0,
    cost_nano_usd INTEGER NOT NULL DEFAULT 0, priced INTEGER NOT NULL DEFAULT 0,
    cache_saved_nano_usd INTEGER NOT NULL DEFAULT 0, latency_ms_sum INTEGER NOT NULL DEFAULT 0,
    latency_count INTEGER NOT NULL DEFAULT 0, ttft_ms_sum INTEGER NOT NULL DEFAULT 0,
    ttft_count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, hour, user_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS rollup_user_daily (
    org_id TEXT NOT NULL, day INTEGER NOT NULL, user_id TEXT NOT NULL,
    first_at INTEGER NOT NULL, last_at INTEGER NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0, streams INTEGER NOT NULL DEFAULT 0,
    cache_hits INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, total_tokens INTEGER NOT NULL DEFAULT 0,
    cost_nano_usd INTEGER NOT NULL DEFAULT 0, priced INTEGER NOT NULL DEFAULT 0,
    cache_saved_nano_usd INTEGER NOT NULL DEFAULT 0, latency_ms_sum INTEGER NOT NULL DEFAULT 0,
    latency_count INTEGER NOT NULL DEFAULT 0, ttft_ms_sum INTEGER NOT NULL DEFAULT 0,
    ttft_count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, day, user_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS rollup_users (
    org_id TEXT NOT NULL, user_id TEXT NOT NULL,
    first_at INTEGER NOT NULL, last_at INTEGER NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0, streams INTEGER NOT NULL DEFAULT 0,
    cache_hits INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, total_tokens INTEGER NOT NULL DEFAULT 0,
    cost_nano_usd INTEGER NOT NULL DEFAULT 0, priced INTEGER NOT NULL DEFAULT 0,
    cache_saved_nano_usd INTEGER NOT NULL DEFAULT 0, latency_ms_sum INTEGER NOT NULL DEFAULT 0,
    latency_count INTEGER NOT NULL DEFAULT 0, ttft_ms_sum INTEGER NOT NULL DEFAULT 0,
    ttft_count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollup_users_last ON rollup_users (org_id, last_at);

CREATE TABLE IF NOT EXISTS rollup_sessions (
    org_id TEXT NOT NULL, session_id TEXT NOT NULL,
    name TEXT,                                 -- the latest Helicone-Session-Name given
    name_at INTEGER NOT NULL DEFAULT 0,        -- when that name was given
    first_at INTEGER NOT NULL, last_at INTEGER NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0, streams INTEGER NOT NULL DEFAULT 0,
    cache_hits INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, total_tokens INTEGER NOT NULL DEFAULT 0,
    cost_nano_usd INTEGER NOT NULL DEFAULT 0, priced INTEGER NOT NULL DEFAULT 0,
    cache_saved_nano_usd INTEGER NOT NULL DEFAULT 0, latency_ms_sum INTEGER NOT NULL DEFAULT 0,
    latency_count INTEGER NOT NULL DEFAULT 0, ttft_ms_sum INTEGER NOT NULL DEFAULT 0,
    ttft_count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, session_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollup_sessions_last ON rollup_sessions (org_id, last_at);

CREATE TABLE IF NOT EXISTS rollup_session_users (
    org_id TEXT NOT NULL, session_id TEXT NOT NULL, user_id TEXT NOT NULL,
    PRIMARY KEY (org_id, session_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollup_session_users_user ON rollup_session_users (org_id, user_id);

CREATE TABLE IF NOT EXISTS rollup_property_daily (
    org_id TEXT NOT NULL, key TEXT NOT NULL, day INTEGER NOT NULL, value TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0, streams INTEGER NOT NULL DEFAULT 0,
    cache_hits INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, total_tokens INTEGER NOT NULL DEFAULT 0,
    cost_nano_usd INTEGER NOT NULL DEFAULT 0, priced INTEGER NOT NULL DEFAULT 0,
    cache_saved_nano_usd INTEGER NOT NULL DEFAULT 0, latency_ms_sum INTEGER NOT NULL DEFAULT 0,
    latency_count INTEGER NOT NULL DEFAULT 0, ttft_ms_sum INTEGER NOT NULL DEFAULT 0,
    ttft_count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, key, day, value)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS rollup_property_hourly (
    org_id TEXT NOT NULL, key TEXT NOT NULL, hour INTEGER NOT NULL, value TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0, streams INTEGER NOT NULL DEFAULT 0,
    cache_hits INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, total_tokens INTEGER NOT NULL DEFAULT 0,
    cost_nano_usd INTEGER NOT NULL DEFAULT 0, priced INTEGER NOT NULL DEFAULT 0,
    cache_saved_nano_usd INTEGER NOT NULL DEFAULT 0, latency_ms_sum INTEGER NOT NULL DEFAULT 0,
    latency_count INTEGER NOT NULL DEFAULT 0, ttft_ms_sum INTEGER NOT NULL DEFAULT 0,
    ttft_count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, key, hour, value)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS rollup_property_key_hourly (
    org_id TEXT NOT NULL, key TEXT NOT NULL, hour INTEGER NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0, streams INTEGER NOT NULL DEFAULT 0,
    cache_hits INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, total_tokens INTEGER NOT NULL DEFAULT 0,
    cost_nano_usd INTEGER NOT NULL DEFAULT 0, priced INTEGER NOT NULL DEFAULT 0,
    cache_saved_nano_usd INTEGER NOT NULL DEFAULT 0, latency_ms_sum INTEGER NOT NULL DEFAULT 0,
    latency_count INTEGER NOT NULL DEFAULT 0, ttft_ms_sum INTEGER NOT NULL DEFAULT 0,
    ttft_count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, hour, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS rollup_property_key_daily (
    org_id TEXT NOT NULL, key TEXT NOT NULL, day INTEGER NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0, streams INTEGER NOT NULL DEFAULT 0,
    cache_hits INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, total_tokens INTEGER NOT NULL DEFAULT 0,
    cost_nano_usd INTEGER NOT NULL DEFAULT 0, priced INTEGER NOT NULL DEFAULT 0,
    cache_saved_nano_usd INTEGER NOT NULL DEFAULT 0, latency_ms_sum INTEGER NOT NULL DEFAULT 0,
    latency_count INTEGER NOT NULL DEFAULT 0, ttft_ms_sum INTEGER NOT NULL DEFAULT 0,
    ttft_count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, day, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS rollup_prompt_versions (
    org_id TEXT NOT NULL, prompt_id TEXT NOT NULL, version INTEGER NOT NULL,
    first_at INTEGER NOT NULL, last_at INTEGER NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0, streams INTEGER NOT NULL DEFAULT 0,
    cache_hits INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, total_tokens INTEGER NOT NULL DEFAULT 0,
    cost_nano_usd INTEGER NOT NULL DEFAULT 0, priced INTEGER NOT NULL DEFAULT 0,
    cache_saved_nano_usd INTEGER NOT NULL DEFAULT 0, latency_ms_sum INTEGER NOT NULL DEFAULT 0,
    latency_count INTEGER NOT NULL DEFAULT 0, ttft_ms_sum INTEGER NOT NULL DEFAULT 0,
    ttft_count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, prompt_id, version)
) WITHOUT ROWID;

-- Records stored before this migration are rolled up once by the writer
-- when it next opens (every record with seq <= backfill_until), in batches,
-- recording its progress so an interrupted backfill resumes.
CREATE TABLE IF NOT EXISTS rollup_state (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    backfill_until  INTEGER NOT NULL,
    backfilled      INTEGER NOT NULL
);
INSERT OR IGNORE INTO rollup_state (id, backfill_until, backfilled)
    SELECT 1, COALESCE(MAX(seq), 0), 0 FROM requests;

-- Requests' own time index: queries see requests (parent_request_id IS NULL)
-- unless they ask for attempts, which have their own index.
CREATE INDEX IF NOT EXISTS requests_org_created_requests ON requests (org_id, created_at)
    WHERE parent_request_id IS NULL;
DROP INDEX IF EXISTS requests_org_created;

-- Property filters read (org, key, value) and get seq from the index itself.
CREATE INDEX IF NOT EXISTS request_properties_by_value ON request_properties (org_id, key, value, seq);
DROP INDEX IF EXISTS request_properties_lookup;
