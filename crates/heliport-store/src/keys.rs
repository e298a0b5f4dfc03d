//! Organizations and heliport API keys. Keys are shown once and stored only
//! as SHA-256 hashes.

use chrono::{DateTime, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::sqlite::{db, from_micros, to_micros, SqliteStore, StoreError};

/// The organization requests without a key are logged under in `optional` auth mode.
pub const DEFAULT_ORG_NAME: &str = "default";

/// What a key may do: proxying needs `w`, REST reads `r`, REST writes `w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions {
    pub read: bool,
    pub write: bool,
}

impl Permissions {
    pub fn parse(s: &str) -> Result<Permissions, StoreError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rw" | "wr" => Ok(Permissions {
                read: true,
                write: true,
            }),
            "r" => Ok(Permissions {
                read: true,
                write: false,
            }),
            "w" => Ok(Permissions {
                read: false,
                write: true,
            }),
            other => Err(StoreError::Invalid(format!(
                "permissions must be rw, r or w, got '{other}'"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match (self.read, self.write) {
            (true, true) => "rw",
            (true, false) => "r",
            _ => "w",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
}

/// A key as listed: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub prefix: String,
    pub key_hash: String,
    pub permissions: Permissions,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// SHA-256 of a key, hex; how heliport stores keys.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// SHA-256 of `Bearer <key>`, the form Helicone stored its keys' hashes in, so imported
/// Helicone hashes still match.
pub fn hash_key_helicone(key: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"Bearer ");
    h.update(key.as_bytes());
    hex::encode(h.finalize())
}

/// Every key heliport generates starts with this.
pub const KEY_PREFIX: &str = "sk-heliport-";
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn generate_key() -> String {
    let mut rng = rand::rng();
    let body: String = (0..40)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{KEY_PREFIX}{body}")
}

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
    pub async fn ensure_default_org(&self) -> Result<Organization, StoreError> {
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

    pub async fn create_org(&self, name: &str) -> Result<Organization, StoreError> {
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
            _ => StoreError::Db {
                context: "creating an organization",
                source: e,
            },
        })?;
        Ok(org)
    }

    pub async fn list_orgs(&self) -> Result<Vec<Organization>, StoreError> {
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
    pub async fn find_org(&self, name_or_id: &str) -> Result<Organization, StoreError> {
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
    pub async fn create_key(
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
    pub async fn import_key(
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
                _ => StoreError::Db { context: "creating a key", source: e },
            })?;
        Ok(info)
    }

    /// Every key, revoked ones included, newest first.
    pub async fn list_keys(&self) -> Result<Vec<KeyInfo>, StoreError> {
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
    pub async fn active_keys(&self) -> Result<Vec<KeyInfo>, StoreError> {
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
    pub async fn active_key_by_hash(
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
    pub async fn revoke_key(&self, which: &str) -> Result<KeyInfo, StoreError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_lifecycle() {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        let org = store.ensure_default_org().await.unwrap();
        assert_eq!(store.ensure_default_org().await.unwrap(), org);
        let (info, key) = store
            .create_key(&org.id, "ci", Permissions::parse("rw").unwrap())
            .await
            .unwrap();
        assert!(key.starts_with("sk-heliport-"));
        assert_eq!(info.key_hash, hash_key(&key));
        assert!(key.starts_with(&info.prefix));
        assert_ne!(info.key_hash, key);
        let active = store.active_keys().await.unwrap();
        assert_eq!(active.len(), 1);
        store.revoke_key("ci").await.unwrap();
        assert!(store.active_keys().await.unwrap().is_empty());
        assert_eq!(store.list_keys().await.unwrap().len(), 1);
        assert!(store.revoke_key("ci").await.is_err());
    }

    #[tokio::test]
    async fn import_validates_hashes() {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        let org = store.ensure_default_org().await.unwrap();
        let rw = Permissions::parse("rw").unwrap();
        assert!(store.import_key(&org.id, "h", "abc", rw).await.is_err());
        let h = hash_key_helicone("sk-helicone-123");
        let k = store
            .import_key(&org.id, "h", &h.to_uppercase(), rw)
            .await
            .unwrap();
        assert_eq!(k.key_hash, h);
        assert!(store.import_key(&org.id, "h2", &h, rw).await.is_err());
    }

    #[test]
    fn permissions_parse() {
        assert_eq!(Permissions::parse("r").unwrap().as_str(), "r");
        assert_eq!(Permissions::parse("W").unwrap().as_str(), "w");
        assert!(Permissions::parse("x").is_err());
    }
}
