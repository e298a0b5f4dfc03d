//! The in-memory key cache that authenticates requests without a database
//! round trip. It reloads from the store periodically (revocations), and
//! looks a key it does not know up once (a key created a moment ago works).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::RwLock;
use std::time::Duration;

use crate::error::StoreError;
use crate::key_digests::{key_digests, Digest, KeyDigests};
use crate::keys::{KeyInfo, Permissions};
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

/// Hashes a SHA-256 digest by its first bytes: they are uniform already, and
/// only stored keys' digests are ever inserted, so nobody can crowd a bucket.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut first = [0u8; 8];
        for (to, from) in first.iter_mut().zip(bytes) {
            *to = *from;
        }
        self.0 ^= u64::from_le_bytes(first);
    }
}

type ByDigest = HashMap<Digest, KeyGrant, BuildHasherDefault<DigestHasher>>;

#[derive(Debug)]
struct Snapshot {
    by_hash: ByDigest,
}

impl Snapshot {
    /// The grant of a key, stored by heliport's hash or by Helicone's.
    fn get(&self, d: &KeyDigests) -> Option<&KeyGrant> {
        self.by_hash
            .get(&d.heliport)
            .or_else(|| self.by_hash.get(&d.helicone))
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

    async fn fetch(store: &Arc<dyn MetaStore>) -> Result<ByDigest, StoreError> {
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

    fn lookup(&self, d: &KeyDigests) -> Option<KeyGrant> {
        self.snapshot.read().ok()?.get(d).cloned()
    }

    /// Whether `key` is a heliport key this instance holds in memory (no
    /// database lookup: this runs on every proxied request).
    pub fn knows(&self, key: &str) -> bool {
        let d = key_digests(key);
        self.snapshot.read().is_ok_and(|s| s.get(&d).is_some())
    }

    /// Authenticate a key. A key not in memory is looked up once in the store
    /// (a key created a moment ago works at once); at most a few such lookups
    /// run at a time, so a flood of bad keys cannot swamp the database.
    pub async fn authenticate(&self, key: &str) -> Option<KeyGrant> {
        let d = key_digests(key);
        if let Some(g) = self.lookup(&d) {
            return Some(g);
        }
        if self.recently_unknown(&d.heliport) {
            return None;
        }
        let hashes = [hex::encode(d.heliport), hex::encode(d.helicone)];
        let _permit = self.miss_lookups.acquire().await.ok()?;
        let found = match self.store.active_key_by_hash(&hashes).await {
            Ok(Some(found)) => found,
            Ok(None) => {
                self.remember_unknown(d.heliport);
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

/// The key in `Bearer <key>` (case-insensitive scheme). Header values are
/// ASCII (`HeaderValue::to_str`), so only ASCII whitespace separates: byte
/// scans, as this runs up to three times a request.
pub fn bearer(value: &str) -> Option<&str> {
    let v = value.trim_ascii();
    let split = v.bytes().position(|b| b.is_ascii_whitespace())?;
    let (scheme, rest) = v.split_at_checked(split)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let key = rest.trim_ascii();
    (!key.is_empty() && !key.bytes().any(|b| b.is_ascii_whitespace())).then_some(key)
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
        assert_eq!(bearer("Bearer\tsk-1"), Some("sk-1"));
        assert_eq!(bearer("Bearer sk-1 sk-2"), None);
        assert_eq!(bearer("Bearers sk-1"), None);
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
