//! The rollup upserts (SQLite): measures are added to a row's, first and
//! last times widened. Shared by the record writer and by property edits.

use std::sync::LazyLock;

use crate::rollup::MEASURES;

/// `INSERT INTO table (keys, extra, measures) VALUES (?, ...) ON CONFLICT
/// (keys) DO UPDATE SET measure = measure + excluded.measure, ...`; `extra`
/// are further columns with their update expressions.
fn upsert(table: &str, keys: &[&str], extra: &[(&str, &str)]) -> String {
    let cols: Vec<&str> = keys
        .iter()
        .copied()
        .chain(extra.iter().map(|(c, _)| *c))
        .chain(MEASURES)
        .collect();
    let values = vec!["?"; cols.len()].join(", ");
    let updates: Vec<String> = extra
        .iter()
        .filter(|(_, e)| !e.is_empty())
        .map(|(c, e)| format!("{c} = {e}"))
        .chain(MEASURES.iter().map(|m| format!("{m} = {m} + excluded.{m}")))
        .collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({values}) ON CONFLICT ({}) DO UPDATE SET {}",
        cols.join(", "),
        keys.join(", "),
        updates.join(", ")
    )
}

const FIRST: (&str, &str) = ("first_at", "MIN(first_at, excluded.first_at)");
const LAST: (&str, &str) = ("last_at", "MAX(last_at, excluded.last_at)");

/// Binds: org, hour, model, provider, status, cached, latency_hist,
/// ttft_hist (already merged with the row's), measures.
pub(crate) static HOURLY: LazyLock<String> = LazyLock::new(|| {
    upsert(
        "rollup_hourly",
        &["org_id", "hour", "model", "provider", "status", "cached"],
        &[
            ("latency_hist", "excluded.latency_hist"),
            ("ttft_hist", "excluded.ttft_hist"),
        ],
    )
});

/// The histograms of one `rollup_hourly` row (binds: its key).
pub(crate) const HOURLY_HISTOGRAMS: &str = "SELECT latency_hist, ttft_hist FROM rollup_hourly \
    WHERE org_id = ? AND hour = ? AND model = ? AND provider = ? AND status = ? AND cached = ?";

/// Binds: org, day, model, provider, status, cached, latency_hist,
/// ttft_hist (already merged with the row's), measures.
pub(crate) static DAILY: LazyLock<String> = LazyLock::new(|| {
    upsert(
        "rollup_daily",
        &["org_id", "day", "model", "provider", "status", "cached"],
        &[
            ("latency_hist", "excluded.latency_hist"),
            ("ttft_hist", "excluded.ttft_hist"),
        ],
    )
});

/// The histograms of one `rollup_daily` row (binds: its key).
pub(crate) const DAILY_HISTOGRAMS: &str = "SELECT latency_hist, ttft_hist FROM rollup_daily \
    WHERE org_id = ? AND day = ? AND model = ? AND provider = ? AND status = ? AND cached = ?";

/// Binds: org, hour, user, first, last, measures.
pub(crate) static USER_HOURLY: LazyLock<String> = LazyLock::new(|| {
    upsert(
        "rollup_user_hourly",
        &["org_id", "hour", "user_id"],
        &[FIRST, LAST],
    )
});

/// Binds: org, day, user, first, last, measures.
pub(crate) static USER_DAILY: LazyLock<String> = LazyLock::new(|| {
    upsert(
        "rollup_user_daily",
        &["org_id", "day", "user_id"],
        &[FIRST, LAST],
    )
});

/// Binds: org, user, first, last, measures.
pub(crate) static USERS: LazyLock<String> =
    LazyLock::new(|| upsert("rollup_users", &["org_id", "user_id"], &[FIRST, LAST]));

/// The latest name wins; a request without a name keeps the one there.
const NAME_NEWER: &str =
    "excluded.name IS NOT NULL AND (name IS NULL OR excluded.name_at >= name_at)";

/// Binds: org, session, name, name_at, first, last, measures.
pub(crate) static SESSIONS: LazyLock<String> = LazyLock::new(|| {
    let name = format!("CASE WHEN {NAME_NEWER} THEN excluded.name ELSE name END");
    let name_at = format!("CASE WHEN {NAME_NEWER} THEN excluded.name_at ELSE name_at END");
    upsert(
        "rollup_sessions",
        &["org_id", "session_id"],
        // Every SET expression reads the row as it was before the update,
        // so `name` and `name_at` decide on the same old values.
        &[("name", &name), ("name_at", &name_at), FIRST, LAST],
    )
});

/// Binds: org, session, user.
pub(crate) const SESSION_USERS: &str =
    "INSERT OR IGNORE INTO rollup_session_users (org_id, session_id, user_id) VALUES (?, ?, ?)";

/// Binds: org, key, day, value, measures.
pub(crate) static PROPERTY_DAILY: LazyLock<String> = LazyLock::new(|| {
    upsert(
        "rollup_property_daily",
        &["org_id", "key", "day", "value"],
        &[],
    )
});

/// Binds: org, key, hour, value, measures.
pub(crate) static PROPERTY_HOURLY: LazyLock<String> = LazyLock::new(|| {
    upsert(
        "rollup_property_hourly",
        &["org_id", "key", "hour", "value"],
        &[],
    )
});

/// Binds: org, key, hour, measures.
pub(crate) static PROPERTY_KEY_HOURLY: LazyLock<String> = LazyLock::new(|| {
    upsert(
        "rollup_property_key_hourly",
        &["org_id", "key", "hour"],
        &[],
    )
});

/// Binds: org, key, day, measures.
pub(crate) static PROPERTY_KEY_DAILY: LazyLock<String> =
    LazyLock::new(|| upsert("rollup_property_key_daily", &["org_id", "key", "day"], &[]));

/// Binds: org, prompt, version, first, last, measures.
pub(crate) static PROMPTS: LazyLock<String> = LazyLock::new(|| {
    upsert(
        "rollup_prompt_versions",
        &["org_id", "prompt_id", "version"],
        &[FIRST, LAST],
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upserts_add_measures_and_widen_spans() {
        let s = USER_DAILY.as_str();
        assert!(s.starts_with(
            "INSERT INTO rollup_user_daily (org_id, day, user_id, first_at, last_at, requests, "
        ));
        assert!(s.contains("ON CONFLICT (org_id, day, user_id) DO UPDATE SET first_at = MIN(first_at, excluded.first_at), last_at = MAX(last_at, excluded.last_at), requests = requests + excluded.requests"));
        assert_eq!(s.matches('?').count(), 5 + MEASURES.len());
        assert_eq!(HOURLY.matches('?').count(), 8 + MEASURES.len());
        assert_eq!(SESSIONS.matches('?').count(), 6 + MEASURES.len());
        assert!(!PROPERTY_KEY_DAILY.contains("first_at"));
    }
}
