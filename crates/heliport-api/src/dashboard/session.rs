//! Dashboard sign-in sessions: kept on the server, bounded in bytes, named
//! by a random token in an HttpOnly cookie. Signing out removes the session,
//! so a copied cookie stops working at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const COOKIE: &str = "heliport_session";

/// One signed-in browser.
#[derive(Clone)]
pub struct Session {
    /// The key it signed in with, kept only here (never in the cookie), so
    /// every page re-checks it: revoking the key ends the session.
    pub key: String,
    /// The key's shown prefix (keys are never shown whole).
    pub key_prefix: String,
    /// The key's name.
    pub key_name: String,
    /// Token that every form of this session posts back (CSRF).
    pub csrf: String,
    last_seen: Instant,
}

impl Session {
    fn bytes(&self, token: &str) -> usize {
        // The map's own overhead per entry, roughly, besides the strings.
        const ENTRY: usize = 96;
        ENTRY
            + token.len()
            + self.key.len()
            + self.key_prefix.len()
            + self.key_name.len()
            + self.csrf.len()
    }
}

/// Sessions by token, at most `budget` bytes of them: when full, the least
/// recently used one is dropped (its browser signs in again).
pub struct SessionStore {
    inner: Mutex<Inner>,
    budget: usize,
    idle: Duration,
}

#[derive(Default)]
struct Inner {
    by_token: HashMap<String, Session>,
    bytes: usize,
}

/// A random 256-bit token, hex.
pub fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl SessionStore {
    /// A store holding at most `budget` bytes of sessions, each ending after
    /// `idle` without a page view.
    pub fn new(budget: usize, idle: Duration) -> SessionStore {
        SessionStore {
            inner: Mutex::new(Inner::default()),
            budget,
            idle,
        }
    }

    /// Starts a session; returns its token (for the cookie).
    pub fn create(&self, key: String, key_prefix: String, key_name: String) -> String {
        let token = random_token();
        let session = Session {
            key,
            key_prefix,
            key_name,
            csrf: random_token(),
            last_seen: Instant::now(),
        };
        let size = session.bytes(&token);
        let Ok(mut inner) = self.inner.lock() else {
            return token;
        };
        let idle = self.idle;
        let before = inner.by_token.len();
        inner.by_token.retain(|_, s| s.last_seen.elapsed() < idle);
        if inner.by_token.len() != before {
            inner.bytes = inner.by_token.iter().map(|(t, s)| s.bytes(t)).sum();
        }
        while inner.bytes + size > self.budget {
            let oldest = inner
                .by_token
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(t, _)| t.clone());
            let Some(oldest) = oldest else { break };
            if let Some(s) = inner.by_token.remove(&oldest) {
                inner.bytes -= s.bytes(&oldest);
            }
        }
        inner.bytes += size;
        inner.by_token.insert(token.clone(), session);
        token
    }

    /// The live session with this token (marking it used).
    pub fn get(&self, token: &str) -> Option<Session> {
        let mut inner = self.inner.lock().ok()?;
        let expired = inner
            .by_token
            .get(token)
            .is_some_and(|s| s.last_seen.elapsed() >= self.idle);
        if expired {
            if let Some(s) = inner.by_token.remove(token) {
                inner.bytes -= s.bytes(token);
            }
            return None;
        }
        let s = inner.by_token.get_mut(token)?;
        s.last_seen = Instant::now();
        Some(s.clone())
    }

    /// Ends a session (sign-out).
    pub fn remove(&self, token: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            if let Some(s) = inner.by_token.remove(token) {
                inner.bytes -= s.bytes(token);
            }
        }
    }

    /// Bytes the sessions take now.
    pub fn bytes(&self) -> usize {
        self.inner.lock().map(|i| i.bytes).unwrap_or(0)
    }
}

/// The session token in a `Cookie` header, if any.
pub fn token_from_cookies(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `Set-Cookie` value that starts (or, with `None`, clears) a session.
pub fn set_cookie(token: Option<&str>, secure: bool, max_age: Duration) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match token {
        Some(t) => format!(
            "{COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            max_age.as_secs()
        ),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_stay_within_their_byte_budget() {
        let store = SessionStore::new(2000, Duration::from_secs(60));
        let mut tokens = Vec::new();
        for i in 0..50 {
            tokens.push(store.create(format!("key-{i}"), "hp_abc".into(), "n".into()));
            assert!(store.bytes() <= 2000, "{}", store.bytes());
        }
        // The newest is there, the oldest was dropped.
        assert!(store.get(tokens.last().unwrap()).is_some());
        assert!(store.get(&tokens[0]).is_none());
        store.remove(tokens.last().unwrap());
        assert!(store.get(tokens.last().unwrap()).is_none());
    }

    #[test]
    fn idle_sessions_end() {
        let store = SessionStore::new(1 << 20, Duration::from_millis(0));
        let t = store.create("k".into(), "p".into(), "n".into());
        assert!(store.get(&t).is_none());
        assert_eq!(store.bytes(), 0);
    }

    #[test]
    fn cookies_and_secrets() {
        let mut h = axum::http::HeaderMap::new();
        let t = random_token();
        h.insert(
            axum::http::header::COOKIE,
            format!("a=b; {COOKIE}={t}; c=d").parse().unwrap(),
        );
        assert_eq!(token_from_cookies(&h), Some(t.clone()));
        h.insert(
            axum::http::header::COOKIE,
            format!("{COOKIE}=<script>").parse().unwrap(),
        );
        assert_eq!(token_from_cookies(&h), None);
        assert!(same_secret(&t, &t));
        assert!(!same_secret(&t, "x"));
        let c = set_cookie(Some(&t), true, Duration::from_secs(10));
        for flag in [
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Secure",
            "Max-Age=10",
        ] {
            assert!(c.contains(flag), "{c}");
        }
        assert!(!set_cookie(None, false, Duration::ZERO).contains("Secure"));
    }
}
