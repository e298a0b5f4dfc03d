//! The record writer's connection to SQLite: one synchronous connection owned
//! by the writer's thread. sqlx would send every statement to a worker thread
//! and copy every bound body on the way; at load that cost a third of
//! heliport's CPU per request. Here statements are prepared once and bind the
//! records' fields in place.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use heliport_core::record::RequestRecord;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::upsert;
use crate::error::StoreError;
use crate::rollup::{RollupBatch, RollupInput};
use crate::to_micros;

/// Where a `sqlite:` URL points.
fn sqlite_path(url: &str) -> Result<PathBuf, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::Invalid(format!("'{url}' is not a sqlite:// URL")))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path.contains(":memory:") {
        return Err(StoreError::Invalid(
            "the record writer needs a database file, not an in-memory database".into(),
        ));
    }
    Ok(PathBuf::from(path))
}

/// WAL written between automatic checkpoints.
const CHECKPOINT_WAL_BYTES: i64 = 32 << 20;

fn sql(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| StoreError::db(context, e)
}

/// Binds each value to the next parameter of a prepared statement, the
/// first to parameter `$first + 1`.
/// Each value is bound through its own type: `params!` goes through
/// `&dyn ToSql`, a dynamic call and a returned enum per parameter, which was
/// the record insert's largest cost outside SQLite (51 parameters a record).
macro_rules! bind_all {
    ($stmt:expr, $first:expr; $($value:expr),+ $(,)?) => {{
        let mut index = $first;
        $(
            index += 1;
            $stmt.raw_bind_parameter(index, &$value)?;
        )+
    }};
}

/// Inserts finalized records and keeps the rollups up to date in the same
/// transaction. Open it after the schema exists (`SqliteStore::open`);
/// opening rolls up records stored before the rollups existed.
pub struct SqliteRecordSink {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteRecordSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteRecordSink")
    }
}

impl SqliteRecordSink {
    /// Opens the writer's connection to the database at `url` (a file).
    pub fn open(url: &str) -> Result<SqliteRecordSink, StoreError> {
        let path = sqlite_path(url)?;
        let conn = Connection::open(&path).map_err(sql("opening the database"))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(sql("configuring the database"))?;
        // A checkpoint every 32 MiB of WAL instead of SQLite's 1000 pages:
        // checkpoints copy each hot index page once per interval, so rarer
        // ones write far less (writer_bench: 26k -> 41k records/s). The WAL
        // file is cut back to 64 MiB after each, so the interval is counted
        // in bytes whatever the page size: with 16 KiB pages 8000 pages let
        // the WAL reach 128 MiB and be cut and regrown every time. A 4 MiB
        // page cache (2 by default) keeps the indexes' upper levels resident;
        // a larger one measured no faster and stays in the resident set for
        // good. Statement journals (an upsert's) stay in memory rather than
        // in a temporary file written with a system call per page.
        let page: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(sql("configuring the database"))?;
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = {}; PRAGMA journal_size_limit = 67108864; \
             PRAGMA cache_size = -4096; PRAGMA temp_store = MEMORY;",
            CHECKPOINT_WAL_BYTES / page.max(512)
        ))
        .map_err(sql("configuring the database"))?;
        conn.set_prepared_statement_cache_capacity(64);
        let sink = SqliteRecordSink {
            conn: Mutex::new(conn),
        };
        sink.backfill()?;
        Ok(sink)
    }

    /// Insert records in one transaction, assigning prompt versions and
    /// updating keys' last use. Replays are idempotent by `uid`. Returns how
    /// many were new.
    pub fn insert(
        &self,
        records: &mut [RequestRecord],
        versions: &mut PromptVersionCache,
    ) -> Result<u64, StoreError> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| StoreError::Invalid("the writer connection is poisoned".into()))?;
        // IMMEDIATE: the write lock is taken first, so the rollup rows read
        // below (histograms) cannot change before they are written back.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql("starting a batch"))?;
        for r in records.iter_mut() {
            if let (Some(prompt_id), Some(template)) = (&r.prompt_id, &r.prompt_template) {
                r.prompt_version =
                    Some(versions.resolve(&tx, &r.org_id, prompt_id, template, r.created_at)?);
            }
        }
        let mut written = 0;
        let mut last_used: HashMap<&str, i64> = HashMap::new();
        let mut rollups = RollupBatch::default();
        {
            // OR IGNORE, not OR REPLACE: a REPLACE into a table with a
            // foreign key makes every row its own statement journal (pages
            // copied aside, to a file unless temp_store is memory), 30 % of
            // the writer's time with 50 properties a request. The row is new
            // (its `seq` is), so only a name repeated in one record could
            // conflict: written last first, the last value is kept, as in the
            // record's JSON.
            let mut insert_prop = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO request_properties (seq, org_id, key, value) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(sql("preparing the property insert"))?;
            let mut next = next_seq(&tx)?;
            let mut rest: &[RequestRecord] = records;
            while let Some((sql_text, rows)) = insert_for(rest) {
                let Some((chunk, tail)) = rest.split_at_checked(rows) else {
                    return Err(StoreError::Invalid(
                        "a record insert was chosen for more records than are left".into(),
                    ));
                };
                rest = tail;
                let first = next;
                next += rows as i64;
                let mut insert = tx
                    .prepare_cached(sql_text)
                    .map_err(sql("preparing the record insert"))?;
                let changed = (|| {
                    for (i, r) in chunk.iter().enumerate() {
                        bind_record(&mut insert, i * INSERT_COLUMNS, first + i as i64, r)?;
                    }
                    insert.raw_execute()
                })()
                .map_err(sql("inserting request records"))?;
                // A record an earlier replay stored is left out by its `uid`;
                // which ones were is read back only when some were.
                let stored = if changed == rows {
                    None
                } else {
                    Some(stored_rows(&tx, first, rows)?)
                };
                for (seq, r) in (first..).zip(chunk) {
                    if let Some(stored) = &stored {
                        match stored.iter().find(|(s, _)| *s == seq) {
                            None => continue,
                            // OR IGNORE also passes over a `seq` taken before:
                            // that row is another record's, and this one would
                            // be lost. `next_seq` rules it out; a batch that
                            // met it anyway fails whole and is spooled.
                            Some((_, uid)) if *uid != r.uid.as_hyphenated().to_string() => {
                                return Err(StoreError::Invalid(format!(
                                    "record number {seq} was already taken"
                                )));
                            }
                            Some(_) => {}
                        }
                    }
                    written += 1;
                    rollups.add(&RollupInput::from_record(r));
                    for (k, v) in r.properties.iter().rev() {
                        insert_prop
                            .execute(params![seq, r.org_id, k, v])
                            .map_err(sql("inserting a request property"))?;
                    }
                    if let Some(key) = &r.api_key_id {
                        let t = to_micros(r.created_at);
                        let e = last_used.entry(key.as_str()).or_insert(t);
                        *e = (*e).max(t);
                    }
                }
            }
            let mut touch = tx
                .prepare_cached(
                    "UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?1) WHERE id = ?2",
                )
                .map_err(sql("preparing the key update"))?;
            for (key, t) in last_used {
                touch
                    .execute(params![t, key])
                    .map_err(sql("updating a key's last use"))?;
            }
        }
        write_rollups(&tx, &rollups)?;
        tx.commit().map_err(sql("committing a batch"))?;
        Ok(written)
    }

    /// Rolls up the records stored before the rollups existed (migration
    /// 0003 noted how far), a batch per transaction, recording progress so
    /// an interrupted backfill resumes where it stopped.
    fn backfill(&self) -> Result<(), StoreError> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| StoreError::Invalid("the writer connection is poisoned".into()))?;
        let state: Option<(i64, i64)> = conn
            .query_row(
                "SELECT backfill_until, backfilled FROM rollup_state WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql("reading the rollup state"))?;
        let Some((until, mut done)) = state else {
            return Ok(());
        };
        if done >= until {
            return Ok(());
        }
        tracing::info!(
            records = until - done,
            "rolling up records stored before rollups existed"
        );
        while done < until {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(sql("starting a backfill batch"))?;
            // The rollup keys borrow the rows, so the rows are read first.
            let stored: Vec<StoredRow> = {
                let mut stmt = tx
                    .prepare_cached(BACKFILL_SQL)
                    .map_err(sql("reading records to roll up"))?;
                let rows = stmt
                    .query_map(params![done, until, BACKFILL_BATCH], StoredRow::read)
                    .map_err(sql("reading records to roll up"))?;
                rows.collect::<Result<_, _>>()
                    .map_err(sql("reading records to roll up"))?
            };
            let mut last = stored.last().map_or(done, |r| r.seq);
            let props: Vec<Vec<(String, String)>> =
                stored.iter().map(StoredRow::properties).collect();
            let mut batch = RollupBatch::default();
            for (row, props) in stored.iter().zip(&props) {
                batch.add(&row.input(props));
            }
            write_rollups(&tx, &batch)?;
            if last == done {
                // Nothing left below `until` (rows were deleted).
                last = until;
            }
            tx.execute(
                "UPDATE rollup_state SET backfilled = ?1 WHERE id = 1",
                params![last],
            )
            .map_err(sql("recording backfill progress"))?;
            tx.commit().map_err(sql("committing a backfill batch"))?;
            done = last;
        }
        tracing::info!("rollups are up to date");
        Ok(())
    }
}

/// Records rolled up per backfill transaction.
const BACKFILL_BATCH: i64 = 5000;

const BACKFILL_SQL: &str = "SELECT seq, org_id, created_at, model, provider, status, failure, \
    stream, cached, prompt_tokens, completion_tokens, total_tokens, cost_nano_usd, \
    cache_saved_nano_usd, latency_ms, time_to_first_token_ms, user_id, session_id, session_name, \
    properties, prompt_id, prompt_version, parent_request_id FROM requests \
    WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3";

/// A stored record as the backfill reads it.
struct StoredRow {
    seq: i64,
    org_id: String,
    created_at: i64,
    model: Option<String>,
    provider: String,
    status: Option<i64>,
    failure: Option<String>,
    stream: bool,
    cached: bool,
    tokens: [Option<i64>; 3],
    cost: Option<i64>,
    saved: Option<i64>,
    latency: Option<i64>,
    ttft: Option<i64>,
    user_id: Option<String>,
    session_id: Option<String>,
    session_name: Option<String>,
    properties: String,
    prompt_id: Option<String>,
    prompt_version: Option<i64>,
    parent: bool,
}

impl StoredRow {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRow> {
        Ok(StoredRow {
            seq: r.get(0)?,
            org_id: r.get(1)?,
            created_at: r.get(2)?,
            model: r.get(3)?,
            provider: r.get(4)?,
            status: r.get(5)?,
            failure: r.get(6)?,
            stream: r.get::<_, Option<i64>>(7)?.unwrap_or(0) != 0,
            cached: r.get::<_, Option<i64>>(8)?.unwrap_or(0) != 0,
            tokens: [r.get(9)?, r.get(10)?, r.get(11)?],
            cost: r.get(12)?,
            saved: r.get(13)?,
            latency: r.get(14)?,
            ttft: r.get(15)?,
            user_id: r.get(16)?,
            session_id: r.get(17)?,
            session_name: r.get(18)?,
            properties: r.get::<_, Option<String>>(19)?.unwrap_or_default(),
            prompt_id: r.get(20)?,
            prompt_version: r.get(21)?,
            parent: r.get::<_, Option<String>>(22)?.is_some(),
        })
    }

    /// The stored properties (a JSON object of strings; anything else reads
    /// as none).
    fn properties(&self) -> Vec<(String, String)> {
        match serde_json::from_str::<serde_json::Value>(&self.properties) {
            Ok(serde_json::Value::Object(m)) => m
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_string())))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn input<'a>(&'a self, props: &'a [(String, String)]) -> RollupInput<'a> {
        let u = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok());
        RollupInput {
            org_id: &self.org_id,
            created_at: self.created_at,
            model: self.model.as_deref(),
            provider: &self.provider,
            status: self.status.and_then(|s| u16::try_from(s).ok()),
            failure: self.failure.as_deref(),
            stream: self.stream,
            cached: self.cached,
            prompt_tokens: u(self.tokens[0]),
            completion_tokens: u(self.tokens[1]),
            total_tokens: u(self.tokens[2]),
            cost_nano_usd: self.cost,
            cache_saved_nano_usd: self.saved,
            latency_ms: u(self.latency),
            ttft_ms: u(self.ttft),
            user_id: self.user_id.as_deref(),
            session_id: self.session_id.as_deref(),
            session_name: self.session_name.as_deref(),
            properties: props
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            prompt_id: self.prompt_id.as_deref(),
            prompt_version: self.prompt_version,
            is_attempt: self.parent,
        }
    }
}

/// Writes one batch's rollup deltas: a few upserts per distinct key, not
/// per record, so a busy hour costs one row update per batch.
fn write_rollups(tx: &Transaction<'_>, b: &RollupBatch<'_>) -> Result<(), StoreError> {
    use rusqlite::types::Value as V;
    if b.is_empty() {
        return Ok(());
    }
    let measures = |s: &crate::rollup::Sums| s.to_array().map(V::Integer);
    let prepare = |q: &str| tx.prepare_cached(q).map_err(sql("updating rollups"));
    // The time rollups keep histograms: read, merge, write back (the
    // transaction holds the write lock, so nothing changes in between).
    for (aggs, read_sql, write_sql) in [
        (
            &b.hourly,
            upsert::HOURLY_HISTOGRAMS,
            upsert::HOURLY.as_str(),
        ),
        (&b.daily, upsert::DAILY_HISTOGRAMS, upsert::DAILY.as_str()),
    ] {
        let mut read = prepare(read_sql)?;
        let mut write = prepare(write_sql)?;
        for (k, agg) in aggs {
            let key = params![k.org_id, k.hour, k.model, k.provider, k.status, k.cached];
            let stored: Option<(Vec<u8>, Vec<u8>)> = read
                .query_row(key, |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(sql("reading rollup histograms"))?;
            let (mut latency, mut ttft) = (agg.latency.clone(), agg.ttft.clone());
            if let Some((l, t)) = stored {
                latency.merge_encoded(&l);
                ttft.merge_encoded(&t);
            }
            let mut values: Vec<V> = vec![
                V::Text(k.org_id.to_string()),
                V::Integer(k.hour),
                V::Text(k.model.to_string()),
                V::Text(k.provider.to_string()),
                V::Integer(k.status),
                V::Integer(i64::from(k.cached)),
                V::Blob(latency.encode()),
                V::Blob(ttft.encode()),
            ];
            values.extend(measures(&agg.sums));
            write
                .execute(params_from_iter(values))
                .map_err(sql("updating the time rollups"))?;
        }
    }
    for (aggs, upsert_sql) in [
        (&b.user_hourly, upsert::USER_HOURLY.as_str()),
        (&b.user_daily, upsert::USER_DAILY.as_str()),
    ] {
        let mut stmt = prepare(upsert_sql)?;
        for ((org, at, user), a) in aggs {
            let mut values = vec![
                V::Text(org.to_string()),
                V::Integer(*at),
                V::Text(user.to_string()),
                V::Integer(a.first_at),
                V::Integer(a.last_at),
            ];
            values.extend(measures(&a.sums));
            stmt.execute(params_from_iter(values))
                .map_err(sql("updating the user rollups"))?;
        }
    }
    let mut stmt = prepare(&upsert::USERS)?;
    for ((org, user), a) in &b.users {
        let mut values = vec![
            V::Text(org.to_string()),
            V::Text(user.to_string()),
            V::Integer(a.first_at),
            V::Integer(a.last_at),
        ];
        values.extend(measures(&a.sums));
        stmt.execute(params_from_iter(values))
            .map_err(sql("updating rollup_users"))?;
    }
    let mut stmt = prepare(&upsert::SESSIONS)?;
    for ((org, session), a) in &b.sessions {
        let (name_at, name) = match &a.name {
            Some((at, n)) => (V::Integer(*at), V::Text(n.to_string())),
            None => (V::Integer(0), V::Null),
        };
        let mut values = vec![
            V::Text(org.to_string()),
            V::Text(session.to_string()),
            name,
            name_at,
            V::Integer(a.span.first_at),
            V::Integer(a.span.last_at),
        ];
        values.extend(measures(&a.span.sums));
        stmt.execute(params_from_iter(values))
            .map_err(sql("updating rollup_sessions"))?;
    }
    let mut stmt = prepare(upsert::SESSION_USERS)?;
    for (org, session, user) in &b.session_users {
        stmt.execute(params![org, session, user])
            .map_err(sql("updating rollup_session_users"))?;
    }
    for (aggs, upsert_sql) in [
        (&b.property_hourly, upsert::PROPERTY_HOURLY.as_str()),
        (&b.property_daily, upsert::PROPERTY_DAILY.as_str()),
    ] {
        let mut stmt = prepare(upsert_sql)?;
        for ((org, key, at, value), s) in aggs {
            let mut values = vec![
                V::Text(org.to_string()),
                V::Text(key.to_string()),
                V::Integer(*at),
                V::Text(value.to_string()),
            ];
            values.extend(measures(s));
            stmt.execute(params_from_iter(values))
                .map_err(sql("updating the property rollups"))?;
        }
    }
    for (aggs, upsert_sql) in [
        (&b.property_key_hourly, upsert::PROPERTY_KEY_HOURLY.as_str()),
        (&b.property_key_daily, upsert::PROPERTY_KEY_DAILY.as_str()),
    ] {
        let mut stmt = prepare(upsert_sql)?;
        for ((org, key, at), s) in aggs {
            let mut values = vec![
                V::Text(org.to_string()),
                V::Text(key.to_string()),
                V::Integer(*at),
            ];
            values.extend(measures(s));
            stmt.execute(params_from_iter(values))
                .map_err(sql("updating the property rollups"))?;
        }
    }
    let mut stmt = prepare(&upsert::PROMPTS)?;
    for ((org, prompt, version), a) in &b.prompts {
        let mut values = vec![
            V::Text(org.to_string()),
            V::Text(prompt.to_string()),
            V::Integer(*version),
            V::Integer(a.first_at),
            V::Integer(a.last_at),
        ];
        values.extend(measures(&a.sums));
        stmt.execute(params_from_iter(values))
            .map_err(sql("updating rollup_prompt_versions"))?;
    }
    Ok(())
}

impl crate::writer::RecordSink for SqliteRecordSink {
    async fn insert_records(
        &self,
        records: &mut [RequestRecord],
        versions: &mut PromptVersionCache,
    ) -> Result<u64, StoreError> {
        // Synchronous on purpose: the writer owns its thread and runtime.
        self.insert(records, versions)
    }
}

/// Name/value pairs as the JSON object the record stores (keys sorted, the
/// last of a repeated name kept); no map is built for none.
fn pairs_json(pairs: &[(String, String)]) -> Cow<'static, str> {
    if pairs.is_empty() {
        return Cow::Borrowed("{}");
    }
    let map = pairs
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    Cow::Owned(serde_json::Value::Object(map).to_string())
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The columns a record fills, in the order [`bind_record`] binds them.
const INSERT_COLUMN_LIST: &str = "seq, uid, request_id, org_id, created_at, response_created_at, provider, target_url, path, method, status, failure, \
     request_model, response_model, model, model_override, stream, latency_ms, time_to_first_token_ms, \
     prompt_tokens, completion_tokens, total_tokens, prompt_cache_read_tokens, prompt_cache_write_tokens, reasoning_tokens, usage_estimated, cost_nano_usd, \
     user_id, session_id, session_path, session_name, prompt_id, prompt_version, prompt_inputs, properties, \
     cache_enabled, cached, cache_reference_id, cache_bucket_idx, attempts, fallback_index, api_key_id, \
     request_body, response_body, request_body_truncated, response_body_truncated, body_cap_bytes, threat, flagged, \
     parent_request_id, cache_saved_nano_usd";

/// Parameters a record takes in an insert.
const INSERT_COLUMNS: usize = 51;

/// Records a multi-row insert takes, largest first. SQLite's work for a
/// statement (starting it, AUTOINCREMENT's `sqlite_sequence` read and
/// written back, closing its cursors, resetting it) is paid once for all
/// its rows: a batch of 512 goes in 32 statements, not 512.
const ROWS_PER_INSERT: [usize; 3] = [16, 4, 1];

/// The insert statements, one per [`ROWS_PER_INSERT`].
static INSERT_SQL: LazyLock<[String; 3]> = LazyLock::new(|| {
    ROWS_PER_INSERT.map(|rows| {
        let row = format!("({})", vec!["?"; INSERT_COLUMNS].join(","));
        format!(
            "INSERT OR IGNORE INTO requests ({INSERT_COLUMN_LIST}) VALUES {}",
            vec![row; rows].join(",")
        )
    })
});

/// Body bytes one statement binds at most: SQLite copies every bound value
/// before the statement runs, and sixteen records with bodies at the record
/// cap would be 32 MiB at once. Records this large go in one at a time.
const INSERT_BODY_BYTES: usize = 256 << 10;

/// The statement for the next records of `left`, and how many it takes: the
/// largest whose records' bodies fit [`INSERT_BODY_BYTES`] (one always does).
fn insert_for(left: &[RequestRecord]) -> Option<(&'static str, usize)> {
    if left.is_empty() {
        return None;
    }
    let body_bytes = |r: &RequestRecord| {
        r.request_body.as_ref().map_or(0, String::len)
            + r.response_body.as_ref().map_or(0, String::len)
    };
    ROWS_PER_INSERT
        .iter()
        .zip(INSERT_SQL.iter())
        .find(|(rows, _)| {
            **rows == 1
                || left.get(..**rows).is_some_and(|chunk| {
                    chunk.iter().map(body_bytes).sum::<usize>() <= INSERT_BODY_BYTES
                })
        })
        .map(|(rows, sql)| (sql.as_str(), *rows))
}

/// The `seq` the next record gets: past the highest ever given (what
/// AUTOINCREMENT keeps in `sqlite_sequence`) and the highest stored. Read
/// in the batch's write transaction, so nobody else takes it meanwhile.
/// Records given their `seq` here keep AUTOINCREMENT's promise: never
/// reused, always growing (a record a replay finds stored leaves a gap).
fn next_seq(tx: &Transaction<'_>) -> Result<i64, StoreError> {
    tx.query_row(
        "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'requests'), 0), \
                    COALESCE((SELECT MAX(seq) FROM requests), 0)) + 1",
        [],
        |r| r.get(0),
    )
    .map_err(sql("reading the next record number"))
}

/// The rows stored under the `rows` numbers from `first` on, with their
/// `uid` (the numbers missing were records stored before, under another).
fn stored_rows(
    tx: &Transaction<'_>,
    first: i64,
    rows: usize,
) -> Result<Vec<(i64, String)>, StoreError> {
    let mut stmt = tx
        .prepare_cached("SELECT seq, uid FROM requests WHERE seq >= ?1 AND seq < ?2")
        .map_err(sql("reading back stored records"))?;
    let stored = stmt
        .query_map(params![first, first + rows as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(sql("reading back stored records"))?;
    stored
        .collect::<Result<_, _>>()
        .map_err(sql("reading back stored records"))
}

/// Binds record `r`, numbered `seq`, to the parameters after `first`.
fn bind_record(
    insert: &mut rusqlite::Statement<'_>,
    first: usize,
    seq: i64,
    r: &RequestRecord,
) -> rusqlite::Result<()> {
    let usage = r.usage;
    let tokens = |f: fn(&heliport_core::usage::Usage) -> u64| usage.as_ref().map(|u| clamp(f(u)));
    let props = pairs_json(&r.properties);
    // Ids are written from stack buffers: no allocation per record.
    let (mut uid, mut request_id) = (Uuid::encode_buffer(), Uuid::encode_buffer());
    let mut parent = Uuid::encode_buffer();
    let inputs = r.prompt_inputs.as_deref().map(pairs_json);
    bind_all!(insert, first;
        seq,
        &*r.uid.as_hyphenated().encode_lower(&mut uid),
        &*r.request_id.as_hyphenated().encode_lower(&mut request_id),
        r.org_id,
        to_micros(r.created_at),
        r.response_created_at.map(to_micros),
        r.provider,
        r.target_url,
        r.path,
        r.method,
        r.status.map(i64::from),
        r.failure,
        r.request_model,
        r.response_model,
        r.model,
        r.model_override,
        r.stream,
        r.latency_ms.map(clamp),
        r.time_to_first_token_ms.map(clamp),
        tokens(|u| u.prompt_tokens),
        tokens(|u| u.completion_tokens),
        tokens(|u| u.total_tokens()),
        tokens(|u| u.prompt_cache_read_tokens),
        tokens(|u| u.prompt_cache_write_tokens),
        tokens(|u| u.reasoning_tokens),
        r.usage_estimated,
        r.cost_nano_usd,
        r.user_id,
        r.session_id,
        r.session_path,
        r.session_name,
        r.prompt_id,
        r.prompt_version,
        inputs,
        props,
        r.cache_enabled,
        r.cached,
        r.cache_reference_id,
        r.cache_bucket_idx.map(i64::from),
        i64::from(r.attempts),
        r.fallback_index.map(i64::from),
        r.api_key_id,
        r.request_body,
        r.response_body,
        r.request_body_truncated,
        r.response_body_truncated,
        clamp(r.body_cap_bytes),
        r.threat,
        r.flagged,
        r.parent_request_id
            .map(|p| &*p.as_hyphenated().encode_lower(&mut parent)),
        r.cache_saved_nano_usd
    );
    Ok(())
}

/// Prompt versions already resolved by this writer, so a busy prompt costs no lookups.
#[derive(Debug, Default)]
pub struct PromptVersionCache {
    known: HashMap<(String, String, String), i64>,
}

impl PromptVersionCache {
    fn resolve(
        &mut self,
        tx: &Transaction<'_>,
        org_id: &str,
        prompt_id: &str,
        template: &str,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let hash = hex::encode(Sha256::digest(template.as_bytes()));
        let key = (org_id.to_string(), prompt_id.to_string(), hash);
        if let Some(v) = self.known.get(&key) {
            return Ok(*v);
        }
        let existing: Option<i64> = tx
            .query_row(
                "SELECT version FROM prompt_versions WHERE org_id = ?1 AND prompt_id = ?2 AND template_hash = ?3",
                params![org_id, prompt_id, key.2],
                |row| row.get(0),
            )
            .optional()
            .map_err(sql("looking up a prompt version"))?;
        let version = match existing {
            Some(v) => v,
            None => tx
                .query_row(
                    "INSERT INTO prompt_versions (org_id, prompt_id, version, template_hash, template, created_at) \
                     SELECT ?1, ?2, COALESCE(MAX(version), 0) + 1, ?3, ?4, ?5 FROM prompt_versions WHERE org_id = ?1 AND prompt_id = ?2 \
                     RETURNING version",
                    params![org_id, prompt_id, key.2, template, to_micros(at)],
                    |row| row.get(0),
                )
                .map_err(sql("creating a prompt version"))?,
        };
        self.known.insert(key, version);
        Ok(version)
    }

    /// Forget everything (after a failed batch whose versions were rolled back).
    pub fn clear(&mut self) {
        self.known.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            sqlite_path("sqlite://heliport.db").unwrap(),
            PathBuf::from("heliport.db")
        );
        assert_eq!(
            sqlite_path("sqlite:///tmp/x.db?mode=rwc").unwrap(),
            PathBuf::from("/tmp/x.db")
        );
        assert!(sqlite_path("sqlite::memory:").is_err());
        assert!(sqlite_path("postgres://x").is_err());
    }

    #[test]
    fn an_insert_binds_one_parameter_per_column() {
        assert_eq!(INSERT_COLUMN_LIST.split(',').count(), INSERT_COLUMNS);
    }

    #[test]
    fn records_with_large_bodies_go_in_fewer_at_a_time() {
        let with_body = |len: usize| RequestRecord {
            request_body: Some("x".repeat(len)),
            ..RequestRecord::default()
        };
        let rows = |records: Vec<RequestRecord>| insert_for(&records).map(|(_, n)| n);
        assert_eq!(rows((0..20).map(|_| with_body(1000)).collect()), Some(16));
        assert_eq!(rows((0..15).map(|_| with_body(1000)).collect()), Some(4));
        assert_eq!(
            rows((0..16).map(|_| with_body(50 << 10)).collect()),
            Some(4)
        );
        assert_eq!(
            rows((0..16).map(|_| with_body(100 << 10)).collect()),
            Some(1)
        );
        assert_eq!(rows(vec![with_body(1 << 20)]), Some(1));
        assert_eq!(rows(Vec::new()), None);
    }

    fn numbered(i: usize) -> RequestRecord {
        RequestRecord {
            uid: Uuid::now_v7(),
            request_id: Uuid::new_v4(),
            org_id: "org".into(),
            created_at: Utc::now(),
            path: format!("/r/{i}"),
            properties: vec![("n".into(), i.to_string())],
            ..RequestRecord::default()
        }
    }

    #[tokio::test]
    async fn records_go_in_several_at_a_statement_each_with_its_own_number_and_properties() {
        let db = crate::sqlite::tests::TempDb::new();
        let store = crate::SqliteStore::open(&db.url).await.unwrap();
        let sink = SqliteRecordSink::open(&db.url).unwrap();
        let mut versions = PromptVersionCache::default();
        let all: Vec<RequestRecord> = (0..23).map(numbered).collect();
        // A replay: five of the records were stored before, in statements
        // of every size (16, 4 and 1 records) the next batch uses.
        let mut before: Vec<RequestRecord> =
            [0, 7, 16, 20, 22].iter().map(|&i| all[i].clone()).collect();
        assert_eq!(sink.insert(&mut before, &mut versions).unwrap(), 5);
        let mut batch = all.clone();
        assert_eq!(sink.insert(&mut batch, &mut versions).unwrap(), 18);
        assert_eq!(sink.insert(&mut batch, &mut versions).unwrap(), 0);
        let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
            "SELECT r.seq, r.path, r.properties, p.value FROM requests r \
             JOIN request_properties p ON p.seq = r.seq ORDER BY r.seq",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(rows.len(), 23, "every record once, with its property");
        for (_, path, json, value) in &rows {
            assert_eq!(path, &format!("/r/{value}"));
            assert_eq!(json, &format!(r#"{{"n":"{value}"}}"#));
        }
        let order: Vec<&str> = rows.iter().map(|r| r.3.as_str()).collect();
        let expected: Vec<String> = [0, 7, 16, 20, 22]
            .into_iter()
            .chain((0..23).filter(|i| ![0, 7, 16, 20, 22].contains(i)))
            .map(|i| i.to_string())
            .collect();
        assert_eq!(order, expected, "numbered in the order stored");
        // A number is never given twice, even after the newest records go.
        let newest = rows.last().unwrap().0;
        sqlx::query("DELETE FROM request_properties WHERE seq > ?1")
            .bind(newest - 3)
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query("DELETE FROM requests WHERE seq > ?1")
            .bind(newest - 3)
            .execute(store.pool())
            .await
            .unwrap();
        let mut later = vec![numbered(99)];
        assert_eq!(sink.insert(&mut later, &mut versions).unwrap(), 1);
        let seq: i64 = sqlx::query_scalar("SELECT seq FROM requests WHERE path = '/r/99'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(seq > newest, "{seq} after {newest}");
    }

    #[tokio::test]
    async fn a_property_repeated_in_a_record_is_stored_once_with_its_last_value() {
        let db = crate::sqlite::tests::TempDb::new();
        let store = crate::SqliteStore::open(&db.url).await.unwrap();
        let sink = SqliteRecordSink::open(&db.url).unwrap();
        let mut records = vec![RequestRecord {
            uid: Uuid::new_v4(),
            request_id: Uuid::new_v4(),
            org_id: "org".into(),
            created_at: Utc::now(),
            properties: vec![
                ("team".into(), "a".into()),
                ("env".into(), "prod".into()),
                ("team".into(), "b".into()),
            ],
            ..RequestRecord::default()
        }];
        let mut versions = PromptVersionCache::default();
        assert_eq!(sink.insert(&mut records, &mut versions).unwrap(), 1);
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT key, value FROM request_properties ORDER BY key")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert_eq!(
            rows,
            [("env".into(), "prod".into()), ("team".into(), "b".into())]
        );
        let json: String = sqlx::query_scalar("SELECT properties FROM requests")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(json, r#"{"env":"prod","team":"b"}"#);
        // The writer's statement journals never touch the disk.
        let temp_store: i64 = sink
            .conn
            .lock()
            .unwrap()
            .query_row("PRAGMA temp_store", [], |r| r.get(0))
            .unwrap();
        assert_eq!(temp_store, 2, "MEMORY");
    }

    #[tokio::test]
    async fn checkpoints_come_every_32_mib_of_wal_whatever_the_page_size() {
        for page in [4096, 8192, 16384] {
            let dir = std::env::temp_dir().join(format!("heliport-sink-{}", Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("t.db");
            Connection::open(&path)
                .unwrap()
                .execute_batch(&format!("PRAGMA page_size = {page}; CREATE TABLE t (x)"))
                .unwrap();
            let url = format!("sqlite://{}", path.display());
            drop(crate::SqliteStore::open(&url).await.unwrap());
            let sink = SqliteRecordSink::open(&url).unwrap();
            let pages: i64 = sink
                .conn
                .lock()
                .unwrap()
                .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
                .unwrap();
            assert_eq!(pages * page, 32 << 20, "page size {page}");
            drop(sink);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
