-- Retries and fallbacks record every upstream attempt; an attempt that did not
-- answer the request points at the request it was made for.
ALTER TABLE requests ADD COLUMN parent_request_id TEXT;
-- A cache hit costs nothing; what it saved is kept beside it.
ALTER TABLE requests ADD COLUMN cache_saved_nano_usd INTEGER;
CREATE INDEX IF NOT EXISTS requests_org_parent ON requests (org_id, parent_request_id)
    WHERE parent_request_id IS NOT NULL;
