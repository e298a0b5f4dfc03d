//! Organizations and heliport API keys. Keys are shown once and stored only
//! as SHA-256 hashes.

use chrono::{DateTime, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::error::StoreError;

/// The organization requests without a key are logged under in `optional` auth mode.
pub const DEFAULT_ORG_NAME: &str = "default";

/// What a key may do: proxying needs `w`, REST reads `r`, REST writes `w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions {
    /// REST reads.
    pub read: bool,
    /// Proxying and REST writes.
    pub write: bool,
}

impl Permissions {
    /// `rw`, `r` or `w` (any case).
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

    /// `rw`, `r` or `w`.
    pub fn as_str(self) -> &'static str {
        match (self.read, self.write) {
            (true, true) => "rw",
            (true, false) => "r",
            _ => "w",
        }
    }
}

/// A tenant: everything stored belongs to one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// UUID.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Requests without a key are logged here in `optional` auth mode.
    pub is_default: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A key as listed: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// UUID.
    pub id: String,
    /// The organization it belongs to.
    pub org_id: String,
    /// A name for people.
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    /// SHA-256 of the key (or of `Bearer <key>` for imported Helicone keys).
    pub key_hash: String,
    /// What it may do.
    pub permissions: Permissions,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last authenticated a recorded request.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// SHA-256 of a key, hex; how heliport stores keys.
pub fn hash_key(key: &str) -> String {
    hex::encode(digest_key(key))
}

/// SHA-256 of `Bearer <key>`, the form Helicone stored its keys' hashes in, so imported
/// Helicone hashes still match.
pub fn hash_key_helicone(key: &str) -> String {
    hex::encode(digest_key_helicone(key))
}

/// The SHA-256 digest behind [`hash_key`], for lookups that need no hex.
pub fn digest_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The SHA-256 digest behind [`hash_key_helicone`].
pub fn digest_key_helicone(key: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"Bearer ");
    h.update(key.as_bytes());
    h.finalize().into()
}

/// Every key heliport generates starts with this.
pub const KEY_PREFIX: &str = "sk-heliport-";
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A new random key.
pub fn generate_key() -> String {
    let mut rng = rand::rng();
    let body: String = (0..40)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{KEY_PREFIX}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;

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
