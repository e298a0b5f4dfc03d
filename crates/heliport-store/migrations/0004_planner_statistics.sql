-- Planner statistics for the records table, fixed rather than measured.
-- SQLite plans without statistics as if no index were selective, so a
-- query for one user's or one session's requests walked the whole time
-- index. A real ANALYZE holds the write lock while it reads every index
-- (seconds at millions of records) and, sampled, misjudges a table whose
-- leading org_id column has one value. The planner needs only the shape:
-- request ids are unique, a session holds a handful of requests, a user a
-- few hundred, and the time index spreads records evenly. (Property
-- filters never drive a query: see the `+seq IN` in sql/filter.rs.)
-- Running ANALYZE later replaces these with measured numbers.
ANALYZE sqlite_schema;
DELETE FROM sqlite_stat1 WHERE tbl = 'requests';
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('requests', 'requests_org_created_requests', '1000000 1000000 2'),
    ('requests', 'requests_org_request_id', '1000000 1000000 1'),
    ('requests', 'requests_org_user', '1000000 1000000 100'),
    ('requests', 'requests_org_session', '1000000 1000000 10'),
    ('requests', 'requests_org_parent', '10000 10000 2'),
    ('requests', 'sqlite_autoindex_requests_1', '1000000 1');
-- Load them into this connection too.
ANALYZE sqlite_schema;
