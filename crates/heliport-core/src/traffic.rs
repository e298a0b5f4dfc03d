//! The arithmetic of the traffic features (SPEC §3.1–§3.4), kept pure so it
//! can be tested exhaustively: retry backoff, which answers are retried, the
//! cache key digest, fallback body overrides, and rate-limit units.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::options::{RateLimitPolicy, RateLimitUnit, RetryOptions};

/// Statuses retried with `Helicone-Retry-Enabled` (SPEC §3.1): rate limited,
/// server errors and Anthropic's "overloaded".
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504 | 529)
}

/// The wait before retry `k` (1, 2, ...): `min(min_timeout × factor^(k−1),
/// max_timeout)`; a longer `Retry-After` from the upstream replaces it, still
/// capped at the maximum.
pub fn retry_delay(opts: &RetryOptions, k: u32, retry_after: Option<Duration>) -> Duration {
    let max = Duration::from_millis(opts.max_timeout_ms);
    let exp = i32::try_from(k.saturating_sub(1)).unwrap_or(i32::MAX);
    let computed_ms = (opts.min_timeout_ms as f64) * opts.factor.powi(exp);
    let computed = if computed_ms.is_finite() && computed_ms < max.as_millis() as f64 {
        Duration::from_millis(computed_ms as u64)
    } else {
        max
    };
    match retry_after {
        Some(ra) if ra > computed => ra.min(max),
        _ => computed,
    }
}

/// `Retry-After` as seconds or an HTTP date, relative to `now`.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        // An upstream may send anything here (`1e20`): it saturates, and the
        // caller caps it at the maximum delay.
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let ms = (at.with_timezone(&chrono::Utc) - now).num_milliseconds();
    Some(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

/// The digest that, with the organization, keys a cached answer (SPEC §3.4):
/// upstream URL, method, request body without the top-level JSON fields named
/// in `Helicone-Cache-Ignore-Keys`, and `Helicone-Cache-Seed`. The provider key
/// is not part of it: one organization shares its cache.
pub fn cache_digest(
    upstream_url: &str,
    method: &str,
    body: &[u8],
    ignore_keys: &[String],
    seed: Option<&str>,
) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    // Lengths before each part: no two different keys hash the same bytes.
    for part in [upstream_url.as_bytes(), method.as_bytes()] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part);
    }
    let stripped = (!ignore_keys.is_empty())
        .then(|| without_keys(body, ignore_keys))
        .flatten();
    let body = stripped.as_deref().unwrap_or(body);
    h.update(&(body.len() as u64).to_le_bytes());
    h.update(body);
    match seed {
        Some(s) => {
            h.update(&[1]);
            h.update(s.as_bytes());
        }
        None => {
            h.update(&[0]);
        }
    }
    *h.finalize().as_bytes()
}

/// The body re-serialised without the named top-level fields; `None` when it
/// is not a JSON object (then it is keyed as it is).
fn without_keys(body: &[u8], keys: &[String]) -> Option<Vec<u8>> {
    let mut v: Map<String, Value> = serde_json::from_slice(body).ok()?;
    for k in keys {
        v.remove(k);
    }
    serde_json::to_vec(&v).ok()
}

/// Deep-merge `overrides` into the JSON object `body` (a fallback entry's
/// `bodyKeyOverride`): objects merge key by key, anything else replaces.
/// `None` when the body is not a JSON object.
pub fn merge_body(body: &[u8], overrides: &Map<String, Value>) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    if !v.is_object() {
        return None;
    }
    merge_into(&mut v, overrides);
    serde_json::to_vec(&v).ok()
}

fn merge_into(target: &mut Value, overrides: &Map<String, Value>) {
    let Value::Object(obj) = target else {
        *target = Value::Object(overrides.clone());
        return;
    };
    for (k, v) in overrides {
        match (obj.get_mut(k), v) {
            (Some(existing @ Value::Object(_)), Value::Object(inner)) => {
                merge_into(existing, inner)
            }
            _ => {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Nano-USD in one cent.
pub const NANO_USD_PER_CENT: u64 = 10_000_000;

/// A policy's quota in the limiter's integer unit (1 per request, nano-USD
/// for cents): a request is admitted while usage is below it, so a quota of
/// 2.5 requests admits three.
pub fn quota_units(policy: &RateLimitPolicy) -> u64 {
    let scale = match policy.unit {
        RateLimitUnit::Request => 1.0,
        RateLimitUnit::Cents => NANO_USD_PER_CENT as f64,
    };
    let q = (policy.quota * scale).ceil();
    if q.is_finite() && q < u64::MAX as f64 {
        q as u64
    } else {
        u64::MAX
    }
}

/// What one request adds when it is admitted: 1 for `u=request`; nothing
/// for `u=cents`, whose real cost is added when the response ends.
pub fn admission_units(policy: &RateLimitPolicy) -> u64 {
    match policy.unit {
        RateLimitUnit::Request => 1,
        RateLimitUnit::Cents => 0,
    }
}

/// `Helicone-RateLimit-Remaining`: `floor(quota − used)` in the policy's unit.
pub fn remaining(policy: &RateLimitPolicy, used_units: u64) -> u64 {
    let used = match policy.unit {
        RateLimitUnit::Request => used_units as f64,
        RateLimitUnit::Cents => used_units as f64 / NANO_USD_PER_CENT as f64,
    };
    let left = (policy.quota - used).floor();
    if left > 0.0 {
        left as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::RateLimitSegment;

    fn retry(min: u64, max: u64, factor: f64) -> RetryOptions {
        RetryOptions {
            enabled: true,
            num: 3,
            factor,
            min_timeout_ms: min,
            max_timeout_ms: max,
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let o = retry(1000, 10_000, 2.0);
        let ms = |k, ra| retry_delay(&o, k, ra).as_millis();
        assert_eq!((ms(1, None), ms(2, None), ms(3, None)), (1000, 2000, 4000));
        assert_eq!(ms(4, None), 8000);
        assert_eq!(ms(5, None), 10_000);
        assert_eq!(ms(60, None), 10_000);
        // A longer Retry-After wins, capped at the maximum; a shorter one does not.
        assert_eq!(ms(1, Some(Duration::from_secs(3))), 3000);
        assert_eq!(ms(1, Some(Duration::from_secs(30))), 10_000);
        assert_eq!(ms(3, Some(Duration::from_millis(10))), 4000);
        let huge = retry(1, u64::MAX, 1e300);
        assert_eq!(retry_delay(&huge, 9, None), Duration::from_millis(u64::MAX));
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("0.5", now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_retry_after("Mon, 30 Nov 2026 10:00:05 GMT", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        // Hostile values never panic; huge ones are capped by `retry_delay`.
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
        let huge = parse_retry_after("1e20", now).unwrap();
        let o = retry(1000, 10_000, 2.0);
        assert_eq!(
            retry_delay(&o, 1, Some(huge)),
            Duration::from_millis(10_000)
        );
        assert_eq!(parse_retry_after("1e400", now), None);
    }

    #[test]
    fn retryable_statuses() {
        for s in [429, 500, 502, 503, 504, 529] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [200, 400, 401, 404, 501] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }

    #[test]
    fn cache_digests_cover_every_part_of_the_key() {
        let body = br#"{"model":"gpt-4o","user":"u1","messages":[]}"#;
        let base = cache_digest("https://x/v1/chat", "POST", body, &[], None);
        assert_eq!(
            base,
            cache_digest("https://x/v1/chat", "POST", body, &[], None)
        );
        assert_ne!(
            base,
            cache_digest("https://y/v1/chat", "POST", body, &[], None)
        );
        assert_ne!(
            base,
            cache_digest("https://x/v1/chat", "PUT", body, &[], None)
        );
        assert_ne!(
            base,
            cache_digest("https://x/v1/chat", "POST", b"{}", &[], None)
        );
        assert_ne!(
            base,
            cache_digest("https://x/v1/chat", "POST", body, &[], Some("s"))
        );
        assert_ne!(
            cache_digest("https://x/v1/chat", "POST", body, &[], Some("a")),
            cache_digest("https://x/v1/chat", "POST", body, &[], Some("b"))
        );
        // Ignored keys do not split the cache.
        let other_user = br#"{"model":"gpt-4o","user":"u2","messages":[]}"#;
        let ignore = vec!["user".to_string()];
        assert_eq!(
            cache_digest("https://x/v1/chat", "POST", body, &ignore, None),
            cache_digest("https://x/v1/chat", "POST", other_user, &ignore, None)
        );
        assert_ne!(
            base,
            cache_digest("https://x/v1/chat", "POST", other_user, &[], None)
        );
        // Part boundaries are part of the key.
        assert_ne!(
            cache_digest("https://x/a", "POST", b"b", &[], None),
            cache_digest("https://x/", "aPOST", b"b", &[], None)
        );
    }

    #[test]
    fn body_overrides_merge_deeply() {
        let body = br#"{"model":"gpt-4o","metadata":{"a":1,"b":2},"n":1}"#;
        let o: Map<String, Value> =
            serde_json::from_str(r#"{"model":"claude","metadata":{"b":3},"extra":[1]}"#).unwrap();
        let merged: Value = serde_json::from_slice(&merge_body(body, &o).unwrap()).unwrap();
        assert_eq!(
            merged,
            serde_json::json!({"model":"claude","metadata":{"a":1,"b":3},"n":1,"extra":[1]})
        );
        assert_eq!(merge_body(b"not json", &o), None);
        assert_eq!(merge_body(b"[1]", &o), None);
    }

    #[test]
    fn rate_limit_units() {
        let p = |quota: f64, unit| RateLimitPolicy {
            quota,
            window_secs: 60,
            unit,
            segment: RateLimitSegment::Organization,
        };
        assert_eq!(quota_units(&p(5.0, RateLimitUnit::Request)), 5);
        assert_eq!(quota_units(&p(2.5, RateLimitUnit::Request)), 3);
        assert_eq!(quota_units(&p(10.0, RateLimitUnit::Cents)), 100_000_000);
        assert_eq!(quota_units(&p(1e300, RateLimitUnit::Cents)), u64::MAX);
        assert_eq!(admission_units(&p(5.0, RateLimitUnit::Request)), 1);
        assert_eq!(admission_units(&p(5.0, RateLimitUnit::Cents)), 0);
        assert_eq!(remaining(&p(5.0, RateLimitUnit::Request), 1), 4);
        assert_eq!(remaining(&p(5.0, RateLimitUnit::Request), 9), 0);
        assert_eq!(remaining(&p(10.0, RateLimitUnit::Cents), 25_000_000), 7);
    }
}
