//! The in-memory key cache that authenticates requests without a database
//! round trip. It reloads from the store periodically (revocations), and
//! looks a key it does not know up once (a key created a moment ago works).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use std::sync::Arc;

use crate::error::StoreError;
use crate::keys::{digest_key, digest_key_helicone, KeyInfo, Permissions};
use crate::MetaStore;

/// What a valid key grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    /// The key's id.
    pub key_id: String,
    /// The organization everything it does belongs to.
    pub org_id: String,
    /// What it may do.
    pub permissions: Permissions,
}

/// A key's SHA-256 digest: the cache compares digests, not their hex, so a
/// lookup on every request hashes without building strings.
type Digest = [u8; 32];

#[derive(Debug)]
struct Snapshot {
    by_hash: HashMap<Digest, KeyGrant>,
}

impl Snapshot {
    /// The grant of `key`, stored by heliport's hash or by Helicone's.
    fn get(&self, key: &str) -> Option<&KeyGrant> {
        self.by_hash
            .get(&digest_key(key))
            .or_else(|| self.by_hash.get(&digest_key_helicone(key)))
    }
}

/// Keys by hash, refreshed from the store.
pub struct KeyCache {
    store: Arc<dyn MetaStore>,
    snapshot: RwLock<Snapshot>,
    miss_lookups: tokio::sync::Semaphore,
    /// Hashes recently looked up and not found, so one client retrying a bad
    /// key costs one query a second, not one per request.
    unknown: std::sync::Mutex<HashMap<Digest, std::time::Instant>>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCache")
    }
}

/// How long an unknown key is remembered as unknown.
const UNKNOWN_TTL: Duration = Duration::from_secs(1);
/// Unknown keys remembered at most (the map is cleared when full).
const UNKNOWN_MAX: usize = 10_000;

impl KeyCache {
    /// Loads every active key from `store`.
    pub async fn load(store: Arc<dyn MetaStore>) -> Result<KeyCache, StoreError> {
        let by_hash = Self::fetch(&store).await?;
        Ok(KeyCache {
            store,
            snapshot: RwLock::new(Snapshot { by_hash }),
            miss_lookups: tokio::sync::Semaphore::new(4),
            unknown: std::sync::Mutex::new(HashMap::new()),
        })
    }

    async fn fetch(store: &Arc<dyn MetaStore>) -> Result<HashMap<Digest, KeyGrant>, StoreError> {
        let keys: Vec<KeyInfo> = store.active_keys().await?;
        Ok(keys.into_iter().filter_map(entry).collect())
    }

    /// Reload every key (revocations take effect here).
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let by_hash = Self::fetch(&self.store).await?;
        if let Ok(mut s) = self.snapshot.write() {
            *s = Snapshot { by_hash };
        }
        if let Ok(mut m) = self.unknown.lock() {
            m.clear();
        }
        Ok(())
    }

    fn lookup(&self, key: &str) -> Option<KeyGrant> {
        self.snapshot.read().ok()?.get(key).cloned()
    }

    /// Whether `key` is a heliport key this instance holds in memory (no
    /// database lookup: this runs on every proxied request).
    pub fn knows(&self, key: &str) -> bool {
        self.snapshot.read().is_ok_and(|s| s.get(key).is_some())
    }

    /// Authenticate a key. A key not in memory is looked up once in the store
    /// (a key created a moment ago works at once); at most a few such lookups
    /// run at a time, so a flood of bad keys cannot swamp the database.
    pub async fn authenticate(&self, key: &str) -> Option<KeyGrant> {
        if let Some(g) = self.lookup(key) {
            return Some(g);
        }
        let digest = digest_key(key);
        if self.recently_unknown(&digest) {
            return None;
        }
        let hashes = [hex::encode(digest), hex::encode(digest_key_helicone(key))];
        let _permit = self.miss_lookups.acquire().await.ok()?;
        let found = match self.store.active_key_by_hash(&hashes).await {
            Ok(Some(found)) => found,
            Ok(None) => {
                self.remember_unknown(digest);
                return None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot look up a key");
                return None;
            }
        };
        // Found by one of the two hashes just computed, so it parses.
        let (digest, grant) = entry(found)?;
        if let Ok(mut s) = self.snapshot.write() {
            s.by_hash.insert(digest, grant.clone());
        }
        Some(grant)
    }

    fn recently_unknown(&self, hash: &Digest) -> bool {
        self.unknown
            .lock()
            .ok()
            .and_then(|m| m.get(hash).map(|t| t.elapsed() < UNKNOWN_TTL))
            .unwrap_or(false)
    }

    fn remember_unknown(&self, hash: Digest) {
        if let Ok(mut m) = self.unknown.lock() {
            if m.len() >= UNKNOWN_MAX {
                m.clear();
            }
            m.insert(hash, std::time::Instant::now());
        }
    }

    /// Reload periodically so revocations reach every instance.
    pub fn spawn_refresher(
        self: &std::sync::Arc<Self>,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let weak = std::sync::Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(cache) = weak.upgrade() else { break };
                if let Err(e) = cache.refresh().await {
                    tracing::warn!(error = %e, "cannot reload keys");
                }
            }
        })
    }
}

/// A stored key's cache entry. A stored hash that is not a SHA-256 digest in
/// hex can match no key, so it is left out.
fn entry(k: KeyInfo) -> Option<(Digest, KeyGrant)> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(&k.key_hash, &mut digest).ok()?;
    Some((
        digest,
        KeyGrant {
            key_id: k.id,
            org_id: k.org_id,
            permissions: k.permissions,
        },
    ))
}

/// The key in `Bearer <key>` (case-insensitive scheme).
pub fn bearer(value: &str) -> Option<&str> {
    let v = value.trim();
    let (scheme, rest) = v.split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let key = rest.trim();
    (!key.is_empty() && !key.contains(char::is_whitespace)).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::hash_key_helicone;

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer("Bearer sk-1"), Some("sk-1"));
        assert_eq!(bearer("bearer   sk-1 "), Some("sk-1"));
        assert_eq!(bearer("sk-1"), None);
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }

    #[tokio::test]
    async fn new_and_revoked_keys() {
        let store = crate::SqliteStore::open("sqlite::memory:").await.unwrap();
        let org = store.ensure_default_org().await.unwrap();
        let cache = KeyCache::load(Arc::new(store.clone())).await.unwrap();
        let (_, key) = store
            .create_key(&org.id, "k", Permissions::parse("w").unwrap())
            .await
            .unwrap();
        // Created after load: found by the lookup on a miss.
        let g = cache.authenticate(&key).await.unwrap();
        assert_eq!(g.org_id, org.id);
        assert!(g.permissions.write && !g.permissions.read);
        assert!(cache.authenticate("sk-heliport-nope").await.is_none());
        store.revoke_key("k").await.unwrap();
        cache.refresh().await.unwrap();
        assert!(cache.authenticate(&key).await.is_none());
    }

    #[tokio::test]
    async fn helicone_hashes_match() {
        let store = crate::SqliteStore::open("sqlite::memory:").await.unwrap();
        let org = store.ensure_default_org().await.unwrap();
        store
            .import_key(
                &org.id,
                "h",
                &hash_key_helicone("sk-helicone-abc"),
                Permissions::parse("rw").unwrap(),
            )
            .await
            .unwrap();
        let cache = KeyCache::load(Arc::new(store)).await.unwrap();
        assert!(cache.authenticate("sk-helicone-abc").await.is_some());
    }
}
