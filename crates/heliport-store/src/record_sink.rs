//! The record writer's connection to SQLite: one synchronous connection owned
//! by the writer's thread. sqlx would send every statement to a worker thread
//! and copy every bound body on the way; at load that cost a third of
//! heliport's CPU per request. Here statements are prepared once and bind the
//! records' fields in place.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use heliport_core::record::RequestRecord;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};

use crate::sqlite::{to_micros, StoreError};

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

fn sql(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| StoreError::Invalid(format!("database error while {context}: {e}"))
}

/// Inserts finalized records. Open it after the schema exists (`SqliteStore::open`).
pub struct SqliteRecordSink {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteRecordSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteRecordSink")
    }
}

impl SqliteRecordSink {
    pub fn open(url: &str) -> Result<SqliteRecordSink, StoreError> {
        let path = sqlite_path(url)?;
        let conn = Connection::open(&path).map_err(sql("opening the database"))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(sql("configuring the database"))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(sql("configuring the database"))?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(SqliteRecordSink {
            conn: Mutex::new(conn),
        })
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
        let tx = conn.transaction().map_err(sql("starting a batch"))?;
        for r in records.iter_mut() {
            if let (Some(prompt_id), Some(template)) = (&r.prompt_id, &r.prompt_template) {
                r.prompt_version =
                    Some(versions.resolve(&tx, &r.org_id, prompt_id, template, r.created_at)?);
            }
        }
        let mut written = 0;
        let mut last_used: HashMap<&str, i64> = HashMap::new();
        {
            let mut insert = tx
                .prepare_cached(INSERT_SQL)
                .map_err(sql("preparing the record insert"))?;
            let mut insert_prop = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO request_properties (seq, org_id, key, value) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(sql("preparing the property insert"))?;
            for r in records.iter() {
                let usage = r.usage;
                let tokens = |f: fn(&heliport_core::usage::Usage) -> u64| {
                    usage.as_ref().map(|u| clamp(f(u)))
                };
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
                let changed = insert
                    .execute(params![
                        r.uid.to_string(),
                        r.request_id.to_string(),
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
                        r.parent_request_id.map(|p| p.to_string()),
                        r.cache_saved_nano_usd,
                    ])
                    .map_err(sql("inserting a request record"))?;
                if changed == 0 {
                    continue; // stored by an earlier replay
                }
                written += 1;
                let seq = tx.last_insert_rowid();
                for (k, v) in &r.properties {
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
        tx.commit().map_err(sql("committing a batch"))?;
        Ok(written)
    }
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

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

const INSERT_SQL: &str = "INSERT OR IGNORE INTO requests (uid, request_id, org_id, created_at, response_created_at, provider, target_url, path, method, status, failure, \
     request_model, response_model, model, model_override, stream, latency_ms, time_to_first_token_ms, \
     prompt_tokens, completion_tokens, total_tokens, prompt_cache_read_tokens, prompt_cache_write_tokens, reasoning_tokens, usage_estimated, cost_nano_usd, \
     user_id, session_id, session_path, session_name, prompt_id, prompt_version, prompt_inputs, properties, \
     cache_enabled, cached, cache_reference_id, cache_bucket_idx, attempts, fallback_index, api_key_id, \
     request_body, response_body, request_body_truncated, response_body_truncated, body_cap_bytes, threat, flagged, \
     parent_request_id, cache_saved_nano_usd) \
     VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,?27,?28,?29,?30,?31,?32,?33,?34,?35,?36,?37,?38,?39,?40,?41,?42,?43,?44,?45,?46,?47,?48,?49,?50)";

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
}
