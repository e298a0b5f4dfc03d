//! The embedded SQLite store (WAL, one writer), its schema and record inserts.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use heliport_core::record::RequestRecord;
use sha2::{Digest, Sha256};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;

/// A store failure, with the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error while {context}: {source}")]
    Db {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
}

pub(crate) fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Db { context, source }
}

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/0001_init.sql")];

/// Microseconds since the Unix epoch, the store's time unit.
pub fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default()
}

/// The SQLite store. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

/// Accept `sqlite://file`, `sqlite:file` and `sqlite::memory:`.
fn connect_options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    let opts = SqliteConnectOptions::from_str(url).map_err(|e| {
        StoreError::Invalid(format!(
            "database URL '{url}' is not a SQLite URL (expected sqlite://FILE): {e}"
        ))
    })?;
    Ok(opts
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true))
}

impl SqliteStore {
    /// Open (creating if missing) and migrate the database at `url`.
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        Self::open_with(url, 4).await
    }

    /// Open with at most `max_connections` connections (the record writer
    /// needs one: SQLite has one writer, and each connection has its own cache).
    pub async fn open_with(url: &str, max_connections: u32) -> Result<SqliteStore, StoreError> {
        let opts = connect_options(url)?;
        let memory = url.contains(":memory:");
        let pool = SqlitePoolOptions::new()
            // An in-memory database exists per connection: keep exactly one.
            .max_connections(if memory { 1 } else { max_connections.max(1) })
            .min_connections(if memory { 1 } else { 0 })
            .idle_timeout(if memory {
                None
            } else {
                Some(Duration::from_secs(600))
            })
            .max_lifetime(if memory {
                None
            } else {
                Some(Duration::from_secs(3600))
            })
            .connect_with(opts)
            .await
            .map_err(db("opening the database"))?;
        let store = SqliteStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db("migrating"))?;
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut *conn)
            .await
            .map_err(db("reading the schema version"))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            let mut tx = sqlx::Connection::begin(&mut *conn)
                .await
                .map_err(db("migrating"))?;
            sqlx::raw_sql(sql)
                .execute(&mut *tx)
                .await
                .map_err(db("applying a migration"))?;
            sqlx::raw_sql(&format!("PRAGMA user_version = {}", i + 1))
                .execute(&mut *tx)
                .await
                .map_err(db("recording the schema version"))?;
            tx.commit().await.map_err(db("migrating"))?;
        }
        Ok(())
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(db("checking the database"))
    }

    /// Insert records in one transaction, assigning prompt versions and
    /// updating keys' last use. Replays are idempotent by `uid`. Rows go in
    /// multi-row statements: each statement is a round trip to SQLite's worker
    /// thread, and one per record would cap the writer far below the proxy.
    pub async fn insert_records(
        &self,
        records: &mut [RequestRecord],
        versions: &mut PromptVersionCache,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db("starting a batch"))?;
        for r in records.iter_mut() {
            if let (Some(prompt_id), Some(template)) = (&r.prompt_id, &r.prompt_template) {
                r.prompt_version = Some(
                    versions
                        .resolve(&mut tx, &r.org_id, prompt_id, template, r.created_at)
                        .await?,
                );
            }
        }
        let records: &[RequestRecord] = records;
        let mut inserted: HashMap<String, i64> = HashMap::new();
        for chunk in records.chunks(ROWS_PER_INSERT) {
            let sql = insert_sql(chunk.len());
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = bind_record(q, r);
            }
            let rows = q
                .fetch_all(&mut *tx)
                .await
                .map_err(db("inserting request records"))?;
            for row in rows {
                let seq: i64 = row.try_get(0).map_err(db("inserting request records"))?;
                let uid: String = row.try_get(1).map_err(db("inserting request records"))?;
                inserted.insert(uid, seq);
            }
        }
        // Properties of the rows actually inserted (a replay skips stored ones).
        let props: Vec<(i64, &str, &str, &str)> = records
            .iter()
            .filter_map(|r| inserted.get(&r.uid.to_string()).map(|seq| (*seq, r)))
            .flat_map(|(seq, r)| {
                r.properties
                    .iter()
                    .map(move |(k, v)| (seq, r.org_id.as_str(), k.as_str(), v.as_str()))
            })
            .collect();
        for chunk in props.chunks(ROWS_PER_INSERT) {
            let mut sql = String::from(
                "INSERT OR REPLACE INTO request_properties (seq, org_id, key, value) VALUES ",
            );
            sql.push_str(&vec!["(?, ?, ?, ?)"; chunk.len()].join(", "));
            let mut q = sqlx::query(&sql);
            for (seq, org, k, v) in chunk {
                q = q.bind(*seq).bind(*org).bind(*k).bind(*v);
            }
            q.execute(&mut *tx)
                .await
                .map_err(db("inserting request properties"))?;
        }
        let mut last_used: HashMap<&str, i64> = HashMap::new();
        for r in records {
            if let Some(key) = &r.api_key_id {
                let t = to_micros(r.created_at);
                let e = last_used.entry(key.as_str()).or_insert(t);
                *e = (*e).max(t);
            }
        }
        for (key, t) in last_used {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?",
            )
            .bind(t)
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(db("updating a key's last use"))?;
        }
        tx.commit().await.map_err(db("committing a batch"))?;
        Ok(inserted.len() as u64)
    }
}

/// Rows per multi-row INSERT: 64 × 48 columns stays far below SQLite's
/// 32766-variable limit, and few distinct statement sizes stay prepared.
const ROWS_PER_INSERT: usize = 64;

const INSERT_COLUMNS: &str = "uid, request_id, org_id, created_at, response_created_at, provider, target_url, path, method, status, failure, \
     request_model, response_model, model, model_override, stream, latency_ms, time_to_first_token_ms, \
     prompt_tokens, completion_tokens, total_tokens, prompt_cache_read_tokens, prompt_cache_write_tokens, reasoning_tokens, usage_estimated, cost_nano_usd, \
     user_id, session_id, session_path, session_name, prompt_id, prompt_version, prompt_inputs, properties, \
     cache_enabled, cached, cache_reference_id, cache_bucket_idx, attempts, fallback_index, api_key_id, \
     request_body, response_body, request_body_truncated, response_body_truncated, body_cap_bytes, threat, flagged";
const INSERT_COLUMN_COUNT: usize = 48;

fn insert_sql(rows: usize) -> String {
    let one = format!("({})", vec!["?"; INSERT_COLUMN_COUNT].join(","));
    format!(
        "INSERT OR IGNORE INTO requests ({INSERT_COLUMNS}) VALUES {} RETURNING seq, uid",
        vec![one.as_str(); rows].join(",")
    )
}

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// Bind one record's values, in `INSERT_COLUMNS` order.
fn bind_record<'q>(q: SqliteQuery<'q>, r: &'q RequestRecord) -> SqliteQuery<'q> {
    let usage = r.usage;
    let props = serde_json::Value::Object(
        r.properties
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
    .to_string();
    let inputs = r.prompt_inputs.as_ref().map(|i| {
        serde_json::Value::Object(
            i.iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        )
        .to_string()
    });
    q.bind(r.uid.to_string())
        .bind(r.request_id.to_string())
        .bind(&r.org_id)
        .bind(to_micros(r.created_at))
        .bind(r.response_created_at.map(to_micros))
        .bind(&r.provider)
        .bind(&r.target_url)
        .bind(&r.path)
        .bind(&r.method)
        .bind(r.status.map(i64::from))
        .bind(&r.failure)
        .bind(&r.request_model)
        .bind(&r.response_model)
        .bind(&r.model)
        .bind(&r.model_override)
        .bind(r.stream)
        .bind(r.latency_ms.map(clamp_i64))
        .bind(r.time_to_first_token_ms.map(clamp_i64))
        .bind(usage.map(|u| clamp_i64(u.prompt_tokens)))
        .bind(usage.map(|u| clamp_i64(u.completion_tokens)))
        .bind(usage.map(|u| clamp_i64(u.total_tokens())))
        .bind(usage.map(|u| clamp_i64(u.prompt_cache_read_tokens)))
        .bind(usage.map(|u| clamp_i64(u.prompt_cache_write_tokens)))
        .bind(usage.map(|u| clamp_i64(u.reasoning_tokens)))
        .bind(r.usage_estimated)
        .bind(r.cost_nano_usd)
        .bind(&r.user_id)
        .bind(&r.session_id)
        .bind(&r.session_path)
        .bind(&r.session_name)
        .bind(&r.prompt_id)
        .bind(r.prompt_version)
        .bind(inputs)
        .bind(props)
        .bind(r.cache_enabled)
        .bind(r.cached)
        .bind(&r.cache_reference_id)
        .bind(r.cache_bucket_idx.map(i64::from))
        .bind(i64::from(r.attempts))
        .bind(r.fallback_index.map(i64::from))
        .bind(&r.api_key_id)
        .bind(&r.request_body)
        .bind(&r.response_body)
        .bind(r.request_body_truncated)
        .bind(r.response_body_truncated)
        .bind(clamp_i64(r.body_cap_bytes))
        .bind(r.threat)
        .bind(r.flagged)
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Prompt versions already resolved by this writer, so a busy prompt costs no lookups.
#[derive(Debug, Default)]
pub struct PromptVersionCache {
    known: HashMap<(String, String, String), i64>,
}

impl PromptVersionCache {
    async fn resolve(
        &mut self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
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
        let existing: Option<i64> = sqlx::query_scalar(
            "SELECT version FROM prompt_versions WHERE org_id = ? AND prompt_id = ? AND template_hash = ?",
        )
        .bind(org_id)
        .bind(prompt_id)
        .bind(&key.2)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db("looking up a prompt version"))?;
        let version = match existing {
            Some(v) => v,
            None => {
                let row = sqlx::query(
                    "INSERT INTO prompt_versions (org_id, prompt_id, version, template_hash, template, created_at) \
                     SELECT ?, ?, COALESCE(MAX(version), 0) + 1, ?, ?, ? FROM prompt_versions WHERE org_id = ? AND prompt_id = ? \
                     RETURNING version",
                )
                .bind(org_id)
                .bind(prompt_id)
                .bind(&key.2)
                .bind(template)
                .bind(to_micros(at))
                .bind(org_id)
                .bind(prompt_id)
                .fetch_one(&mut **tx)
                .await
                .map_err(db("creating a prompt version"))?;
                row.try_get::<i64, _>(0)
                    .map_err(db("creating a prompt version"))?
            }
        };
        self.known.insert(key, version);
        Ok(version)
    }

    /// Forget everything (after a failed batch whose versions were rolled back).
    pub fn clear(&mut self) {
        self.known.clear();
    }
}
