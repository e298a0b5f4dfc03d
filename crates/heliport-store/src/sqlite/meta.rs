//! Organizations, keys and prompt versions in SQLite.

use chrono::Utc;
use heliport_core::analytics::PromptQuery;
use sqlx::Row;

use super::{db, int, opt_text, query, SqliteStore, DIALECT};
use crate::error::{StoreError, StoreResult};
use crate::keys::{
    generate_key, hash_key, KeyInfo, Organization, Permissions, DEFAULT_ORG_NAME, KEY_PREFIX,
};
use crate::model::{PromptSummary, PromptVersion};
use crate::sql::queries;
use crate::{from_micros, to_micros, BoxFuture, MetaStore};

fn org_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Organization, sqlx::Error> {
    Ok(Organization {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        is_default: row.try_get::<i64, _>("is_default")? != 0,
        created_at: from_micros(row.try_get("created_at")?),
    })
}

fn key_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<KeyInfo, sqlx::Error> {
    let perms: String = row.try_get("permissions")?;
    Ok(KeyInfo {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        key_hash: row.try_get("key_hash")?,
        permissions: Permissions::parse(&perms).unwrap_or(Permissions {
            read: false,
            write: false,
        }),
        created_at: from_micros(row.try_get("created_at")?),
        last_used_at: row
            .try_get::<Option<i64>, _>("last_used_at")?
            .map(from_micros),
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at")?
            .map(from_micros),
    })
}

const KEY_COLUMNS: &str =
    "id, org_id, name, prefix, key_hash, permissions, created_at, last_used_at, revoked_at";

impl SqliteStore {
    /// The default organization, created on first start.
    pub(crate) async fn ensure_default_org(&self) -> Result<Organization, StoreError> {
        if let Some(org) = sqlx::query(
            "SELECT id, name, is_default, created_at FROM organizations WHERE is_default = 1",
        )
        .fetch_optional(self.pool())
        .await
        .map_err(db("reading the default organization"))?
        {
            return org_from_row(&org).map_err(db("reading the default organization"));
        }
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query("INSERT OR IGNORE INTO organizations (id, name, is_default, created_at) VALUES (?, ?, 1, ?)")
            .bind(&id)
            .bind(DEFAULT_ORG_NAME)
            .bind(to_micros(Utc::now()))
            .execute(self.pool())
            .await
            .map_err(db("creating the default organization"))?;
        // Another process may have won the race: read back whichever exists.
        let row = sqlx::query(
            "SELECT id, name, is_default, created_at FROM organizations WHERE is_default = 1",
        )
        .fetch_one(self.pool())
        .await
        .map_err(db("reading the default organization"))?;
        org_from_row(&row).map_err(db("reading the default organization"))
    }

    pub(crate) async fn create_org(&self, name: &str) -> Result<Organization, StoreError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::Invalid("an organization needs a name".into()));
        }
        let org = Organization {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
            is_default: false,
            created_at: Utc::now(),
        };
        sqlx::query(
            "INSERT INTO organizations (id, name, is_default, created_at) VALUES (?, ?, 0, ?)",
        )
        .bind(&org.id)
        .bind(&org.name)
        .bind(to_micros(org.created_at))
        .execute(self.pool())
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Invalid(format!("an organization named '{name}' already exists"))
            }
            _ => StoreError::db("creating an organization", e),
        })?;
        Ok(org)
    }

    pub(crate) async fn list_orgs(&self) -> Result<Vec<Organization>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, is_default, created_at FROM organizations ORDER BY created_at",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db("listing organizations"))?;
        rows.iter()
            .map(org_from_row)
            .collect::<Result<_, _>>()
            .map_err(db("listing organizations"))
    }

    /// An organization by name or id.
    pub(crate) async fn find_org(&self, name_or_id: &str) -> Result<Organization, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, is_default, created_at FROM organizations WHERE name = ? OR id = ?",
        )
        .bind(name_or_id)
        .bind(name_or_id)
        .fetch_optional(self.pool())
        .await
        .map_err(db("finding an organization"))?
        .ok_or_else(|| StoreError::NotFound(format!("organization '{name_or_id}'")))?;
        org_from_row(&row).map_err(db("finding an organization"))
    }

    /// Create a key; returns its info and the key itself, which is never stored.
    pub(crate) async fn create_key(
        &self,
        org_id: &str,
        name: &str,
        permissions: Permissions,
    ) -> Result<(KeyInfo, String), StoreError> {
        let key = generate_key();
        let prefix: String = key.chars().take(KEY_PREFIX.len() + 4).collect();
        let info = self
            .insert_key(org_id, name, &prefix, &hash_key(&key), permissions)
            .await?;
        Ok((info, key))
    }

    /// Import a key made elsewhere (Helicone) by its SHA-256 hash.
    pub(crate) async fn import_key(
        &self,
        org_id: &str,
        name: &str,
        hash: &str,
        permissions: Permissions,
    ) -> Result<KeyInfo, StoreError> {
        let hash = hash.trim().to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::Invalid(
                "a key hash is 64 hexadecimal characters (SHA-256)".into(),
            ));
        }
        let prefix = format!("(imported {})", &hash[..8]);
        self.insert_key(org_id, name, &prefix, &hash, permissions)
            .await
    }

    async fn insert_key(
        &self,
        org_id: &str,
        name: &str,
        prefix: &str,
        hash: &str,
        permissions: Permissions,
    ) -> Result<KeyInfo, StoreError> {
        let info = KeyInfo {
            id: uuid::Uuid::new_v4().to_string(),
            org_id: org_id.to_string(),
            name: name.to_string(),
            prefix: prefix.to_string(),
            key_hash: hash.to_string(),
            permissions,
            created_at: Utc::now(),
            last_used_at: None,
            revoked_at: None,
        };
        sqlx::query("INSERT INTO api_keys (id, org_id, name, prefix, key_hash, permissions, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(&info.id)
            .bind(&info.org_id)
            .bind(&info.name)
            .bind(&info.prefix)
            .bind(&info.key_hash)
            .bind(permissions.as_str())
            .bind(to_micros(info.created_at))
            .execute(self.pool())
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(d) if d.is_unique_violation() => {
                    StoreError::Invalid("a key with this hash already exists".into())
                }
                _ => StoreError::db("creating a key", e),
            })?;
        Ok(info)
    }

    /// Every key, revoked ones included, newest first.
    pub(crate) async fn list_keys(&self) -> Result<Vec<KeyInfo>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC"
        ))
        .fetch_all(self.pool())
        .await
        .map_err(db("listing keys"))?;
        rows.iter()
            .map(key_from_row)
            .collect::<Result<_, _>>()
            .map_err(db("listing keys"))
    }

    /// Keys that authenticate requests (not revoked), for the gateway's in-memory cache.
    pub(crate) async fn active_keys(&self) -> Result<Vec<KeyInfo>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE revoked_at IS NULL"
        ))
        .fetch_all(self.pool())
        .await
        .map_err(db("loading keys"))?;
        rows.iter()
            .map(key_from_row)
            .collect::<Result<_, _>>()
            .map_err(db("loading keys"))
    }

    /// The active key with one of these hashes, if any.
    pub(crate) async fn active_key_by_hash(
        &self,
        hashes: &[String],
    ) -> Result<Option<KeyInfo>, StoreError> {
        for h in hashes {
            let row = sqlx::query(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL"
            ))
            .bind(h)
            .fetch_optional(self.pool())
            .await
            .map_err(db("looking up a key"))?;
            if let Some(row) = row {
                return key_from_row(&row).map(Some).map_err(db("looking up a key"));
            }
        }
        Ok(None)
    }

    /// Revoke a key by id, name or shown prefix; it must match exactly one active key.
    pub(crate) async fn revoke_key(&self, which: &str) -> Result<KeyInfo, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE revoked_at IS NULL AND (id = ? OR name = ? OR prefix = ?)"
        ))
        .bind(which)
        .bind(which)
        .bind(which)
        .fetch_all(self.pool())
        .await
        .map_err(db("finding a key"))?;
        let mut keys: Vec<KeyInfo> = rows
            .iter()
            .map(key_from_row)
            .collect::<Result<_, _>>()
            .map_err(db("finding a key"))?;
        let mut key = match keys.len() {
            0 => {
                return Err(StoreError::NotFound(format!(
                    "no active key with id, name or prefix '{which}'"
                )))
            }
            1 => keys.remove(0),
            n => {
                return Err(StoreError::Invalid(format!(
                    "{n} active keys match '{which}': revoke by id instead"
                )))
            }
        };
        let now = Utc::now();
        sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ?")
            .bind(to_micros(now))
            .bind(&key.id)
            .execute(self.pool())
            .await
            .map_err(db("revoking a key"))?;
        key.revoked_at = Some(now);
        Ok(key)
    }
}

impl SqliteStore {
    pub(crate) async fn prompts(
        &self,
        org_id: &str,
        q: &PromptQuery,
    ) -> StoreResult<Vec<PromptSummary>> {
        let sql = queries::prompts(
            &DIALECT,
            org_id,
            q.search.as_deref(),
            q.page.limit,
            q.page.offset,
        )?;
        let rows = query(&sql)
            .fetch_all(self.pool())
            .await
            .map_err(db("listing prompts"))?;
        rows.iter()
            .map(|r| {
                Ok(PromptSummary {
                    prompt_id: opt_text(r, 0)?.unwrap_or_default(),
                    versions: int(r, 1)?,
                    latest_version: int(r, 2)?,
                    created_at: from_micros(int(r, 3)?),
                    updated_at: from_micros(int(r, 4)?),
                })
            })
            .collect()
    }

    pub(crate) async fn prompt_versions(
        &self,
        org_id: &str,
        prompt_id: &str,
        version: Option<i64>,
    ) -> StoreResult<Vec<PromptVersion>> {
        let sql = queries::prompt_versions(&DIALECT, org_id, prompt_id, version);
        let rows = query(&sql)
            .fetch_all(self.pool())
            .await
            .map_err(db("reading prompt versions"))?;
        rows.iter()
            .map(|r| {
                let template = opt_text(r, 2)?.unwrap_or_default();
                Ok(PromptVersion {
                    prompt_id: prompt_id.to_string(),
                    version: int(r, 0)?,
                    created_at: from_micros(int(r, 1)?),
                    template: serde_json::from_str(&template)
                        .unwrap_or(serde_json::Value::String(template)),
                })
            })
            .collect()
    }
}

impl MetaStore for SqliteStore {
    fn ping(&self) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            sqlx::query("SELECT 1")
                .execute(self.pool())
                .await
                .map(|_| ())
                .map_err(db("checking the database"))
        })
    }

    fn ensure_default_org(&self) -> BoxFuture<'_, StoreResult<Organization>> {
        Box::pin(SqliteStore::ensure_default_org(self))
    }

    fn create_org<'a>(&'a self, name: &'a str) -> BoxFuture<'a, StoreResult<Organization>> {
        Box::pin(SqliteStore::create_org(self, name))
    }

    fn list_orgs(&self) -> BoxFuture<'_, StoreResult<Vec<Organization>>> {
        Box::pin(SqliteStore::list_orgs(self))
    }

    fn find_org<'a>(&'a self, name_or_id: &'a str) -> BoxFuture<'a, StoreResult<Organization>> {
        Box::pin(SqliteStore::find_org(self, name_or_id))
    }

    fn create_key<'a>(
        &'a self,
        org_id: &'a str,
        name: &'a str,
        permissions: Permissions,
    ) -> BoxFuture<'a, StoreResult<(KeyInfo, String)>> {
        Box::pin(SqliteStore::create_key(self, org_id, name, permissions))
    }

    fn import_key<'a>(
        &'a self,
        org_id: &'a str,
        name: &'a str,
        hash: &'a str,
        permissions: Permissions,
    ) -> BoxFuture<'a, StoreResult<KeyInfo>> {
        Box::pin(SqliteStore::import_key(
            self,
            org_id,
            name,
            hash,
            permissions,
        ))
    }

    fn list_keys(&self) -> BoxFuture<'_, StoreResult<Vec<KeyInfo>>> {
        Box::pin(SqliteStore::list_keys(self))
    }

    fn active_keys(&self) -> BoxFuture<'_, StoreResult<Vec<KeyInfo>>> {
        Box::pin(SqliteStore::active_keys(self))
    }

    fn active_key_by_hash<'a>(
        &'a self,
        hashes: &'a [String],
    ) -> BoxFuture<'a, StoreResult<Option<KeyInfo>>> {
        Box::pin(SqliteStore::active_key_by_hash(self, hashes))
    }

    fn revoke_key<'a>(&'a self, which: &'a str) -> BoxFuture<'a, StoreResult<KeyInfo>> {
        Box::pin(SqliteStore::revoke_key(self, which))
    }

    fn prompts<'a>(
        &'a self,
        org_id: &'a str,
        q: &'a PromptQuery,
    ) -> BoxFuture<'a, StoreResult<Vec<PromptSummary>>> {
        Box::pin(SqliteStore::prompts(self, org_id, q))
    }

    fn prompt_versions<'a>(
        &'a self,
        org_id: &'a str,
        prompt_id: &'a str,
        version: Option<i64>,
    ) -> BoxFuture<'a, StoreResult<Vec<PromptVersion>>> {
        Box::pin(SqliteStore::prompt_versions(
            self, org_id, prompt_id, version,
        ))
    }
}
