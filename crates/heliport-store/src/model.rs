//! What the stores return besides request rows: aggregates (users,
//! sessions, properties, prompts, metrics) as plain values, serialised in
//! the REST API's shape. Costs are kept as integer nano-USD and shown in USD
//! beside them; an unpriced request is counted, never shown as $0.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::rollup::{Histogram, Sums};

/// USD from nano-USD, for display (exact below ~9 million USD).
pub fn usd(nano: i64) -> f64 {
    nano as f64 / 1e9
}

/// RFC 3339 with milliseconds, the API's time format.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn ser_time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

/// Writes the aggregate fields of `sums` into a JSON map being serialised.
fn put_sums<M: SerializeMap>(m: &mut M, sums: &Sums) -> Result<(), M::Error> {
    let ratio = |n: i64| {
        if sums.requests > 0 {
            n as f64 / sums.requests as f64
        } else {
            0.0
        }
    };
    let avg = |sum: i64, n: i64| (n > 0).then(|| sum as f64 / n as f64);
    m.serialize_entry("requests", &sums.requests)?;
    m.serialize_entry("errors", &sums.errors)?;
    m.serialize_entry("error_rate", &ratio(sums.errors))?;
    m.serialize_entry("rate_limited", &sums.rate_limited)?;
    m.serialize_entry("streams", &sums.streams)?;
    m.serialize_entry("cache_hits", &sums.cache_hits)?;
    m.serialize_entry("cache_hit_rate", &ratio(sums.cache_hits))?;
    m.serialize_entry("prompt_tokens", &sums.prompt_tokens)?;
    m.serialize_entry("completion_tokens", &sums.completion_tokens)?;
    m.serialize_entry("total_tokens", &sums.total_tokens)?;
    m.serialize_entry("cost", &usd(sums.cost_nano_usd))?;
    m.serialize_entry("cost_nano_usd", &sums.cost_nano_usd)?;
    m.serialize_entry("unpriced_requests", &(sums.requests - sums.priced))?;
    m.serialize_entry("cache_saved", &usd(sums.cache_saved_nano_usd))?;
    m.serialize_entry("cache_saved_nano_usd", &sums.cache_saved_nano_usd)?;
    m.serialize_entry(
        "avg_latency_ms",
        &avg(sums.latency_ms_sum, sums.latency_count),
    )?;
    m.serialize_entry("avg_ttft_ms", &avg(sums.ttft_ms_sum, sums.ttft_count))?;
    Ok(())
}

/// Latency and time-to-first-token percentiles, in milliseconds (None
/// without data). Estimated from 5 %-wide histogram buckets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median latency.
    pub latency_p50_ms: Option<f64>,
    /// 95th percentile latency.
    pub latency_p95_ms: Option<f64>,
    /// Median time to first token (streams).
    pub ttft_p50_ms: Option<f64>,
    /// 95th percentile time to first token.
    pub ttft_p95_ms: Option<f64>,
}

impl Percentiles {
    /// From latency and time-to-first-token histograms.
    pub fn of(latency: &Histogram, ttft: &Histogram) -> Percentiles {
        Percentiles {
            latency_p50_ms: latency.percentile(0.5),
            latency_p95_ms: latency.percentile(0.95),
            ttft_p50_ms: ttft.percentile(0.5),
            ttft_p95_ms: ttft.percentile(0.95),
        }
    }
}

fn put_percentiles<M: SerializeMap>(m: &mut M, p: &Percentiles) -> Result<(), M::Error> {
    m.serialize_entry("latency_p50_ms", &p.latency_p50_ms)?;
    m.serialize_entry("latency_p95_ms", &p.latency_p95_ms)?;
    m.serialize_entry("ttft_p50_ms", &p.ttft_p50_ms)?;
    m.serialize_entry("ttft_p95_ms", &p.ttft_p95_ms)?;
    Ok(())
}

/// Totals over a range: what the dashboard's overview shows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Overview {
    /// The summed measures.
    pub sums: Sums,
    /// Latency and TTFT percentiles.
    pub percentiles: Percentiles,
}

impl Serialize for Overview {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        put_sums(&mut m, &self.sums)?;
        put_percentiles(&mut m, &self.percentiles)?;
        m.end()
    }
}

/// One bucket of a time series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesPoint {
    /// The bucket's first instant.
    pub start: DateTime<Utc>,
    /// Totals of the bucket.
    pub sums: Sums,
    /// Percentiles of the bucket.
    pub percentiles: Percentiles,
}

impl Serialize for SeriesPoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("start", &rfc3339(self.start))?;
        put_sums(&mut m, &self.sums)?;
        put_percentiles(&mut m, &self.percentiles)?;
        m.end()
    }
}

/// One row of a breakdown (by model, provider, user, status or a property).
#[derive(Debug, Clone, PartialEq)]
pub struct BreakdownRow {
    /// The group (None: requests without a value, e.g. no model known).
    pub key: Option<String>,
    /// Totals of the group.
    pub sums: Sums,
    /// Percentiles of the group (model, provider and status breakdowns).
    pub percentiles: Option<Percentiles>,
}

impl Serialize for BreakdownRow {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("key", &self.key)?;
        put_sums(&mut m, &self.sums)?;
        if let Some(p) = &self.percentiles {
            put_percentiles(&mut m, p)?;
        }
        m.end()
    }
}

/// The answer of a metrics query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// Totals over the range.
    pub overview: Overview,
    /// Buckets, oldest first, every bucket of the range present (zeros
    /// included), when a bucket width was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<SeriesPoint>>,
    /// Groups, most requests first, when a dimension was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<Vec<BreakdownRow>>,
}

/// One end user's activity (`POST /v1/user/query`).
#[derive(Debug, Clone, PartialEq)]
pub struct UserStats {
    /// The user id (`Helicone-User-Id`).
    pub user_id: String,
    /// Totals of the user's requests.
    pub sums: Sums,
    /// The user's first request (in the range).
    pub first_active: DateTime<Utc>,
    /// The user's latest request (in the range).
    pub last_active: DateTime<Utc>,
}

impl Serialize for UserStats {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("user_id", &self.user_id)?;
        // Helicone's name for the request count.
        m.serialize_entry("count", &self.sums.requests)?;
        put_sums(&mut m, &self.sums)?;
        m.serialize_entry("first_active", &rfc3339(self.first_active))?;
        m.serialize_entry("last_active", &rfc3339(self.last_active))?;
        m.end()
    }
}

/// One session (`POST /v1/session/query`).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSummary {
    /// `Helicone-Session-Id`.
    pub session_id: String,
    /// The latest `Helicone-Session-Name` given.
    pub session_name: Option<String>,
    /// The session's first request.
    pub created_at: DateTime<Utc>,
    /// The session's latest request.
    pub latest_request_created_at: DateTime<Utc>,
    /// Totals of the session's requests (all of them, whatever the range).
    pub sums: Sums,
    /// Users who made requests in the session.
    pub user_ids: Vec<String>,
}

impl Serialize for SessionSummary {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("session_id", &self.session_id)?;
        m.serialize_entry("session_name", &self.session_name)?;
        m.serialize_entry("created_at", &rfc3339(self.created_at))?;
        m.serialize_entry(
            "latest_request_created_at",
            &rfc3339(self.latest_request_created_at),
        )?;
        // Helicone's names.
        m.serialize_entry("total_requests", &self.sums.requests)?;
        m.serialize_entry("total_cost", &usd(self.sums.cost_nano_usd))?;
        let avg = (self.sums.latency_count > 0)
            .then(|| self.sums.latency_ms_sum as f64 / self.sums.latency_count as f64);
        m.serialize_entry("avg_latency", &avg)?;
        put_sums(&mut m, &self.sums)?;
        m.serialize_entry("user_ids", &self.user_ids)?;
        m.end()
    }
}

/// A request as a session tree shows it: timing and cost, no bodies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionRequest {
    /// `Helicone-Id`.
    pub request_id: String,
    /// When it started.
    #[serde(serialize_with = "ser_time")]
    pub created_at: DateTime<Utc>,
    /// Milliseconds after the session's first request started.
    pub start_offset_ms: i64,
    /// `Helicone-Session-Path`, as given.
    pub session_path: Option<String>,
    /// Model used.
    pub model: Option<String>,
    /// Provider.
    pub provider: String,
    /// HTTP status (None: a named failure).
    pub status: Option<i64>,
    /// The named failure, if any.
    pub failure: Option<String>,
    /// Total latency.
    pub latency_ms: Option<i64>,
    /// Time to first token.
    pub time_to_first_token: Option<i64>,
    /// Prompt tokens.
    pub prompt_tokens: Option<i64>,
    /// Completion tokens.
    pub completion_tokens: Option<i64>,
    /// Total tokens.
    pub total_tokens: Option<i64>,
    /// Cost in USD (None: unpriced).
    pub cost: Option<f64>,
    /// Cost in nano-USD (None: unpriced).
    pub cost_nano_usd: Option<i64>,
    /// The end user.
    pub user_id: Option<String>,
}

/// A node of a session's trace tree: one path segment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionNode {
    /// The segment (`""` for the root).
    pub name: String,
    /// The whole path up to here (`/` for the root).
    pub path: String,
    /// Requests made at exactly this path, in time order.
    pub requests: Vec<SessionRequest>,
    /// Child segments, in order of their first request.
    pub children: Vec<SessionNode>,
    /// Totals of this node and everything below it.
    pub sums: Sums,
    /// First start below this node.
    pub start: Option<DateTime<Utc>>,
    /// Last end (start + latency) below this node.
    pub end: Option<DateTime<Utc>>,
}

impl Serialize for SessionNode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry("path", &self.path)?;
        m.serialize_entry("start", &self.start.map(rfc3339))?;
        m.serialize_entry("end", &self.end.map(rfc3339))?;
        let duration = match (self.start, self.end) {
            (Some(s), Some(e)) => Some((e - s).num_milliseconds()),
            _ => None,
        };
        m.serialize_entry("duration_ms", &duration)?;
        put_sums(&mut m, &self.sums)?;
        m.serialize_entry("requests_here", &self.requests)?;
        m.serialize_entry("children", &self.children)?;
        m.end()
    }
}

/// One session with its requests as a tree by path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionTree {
    /// The session's summary.
    pub session: SessionSummary,
    /// Whether the session holds more requests than the tree shows.
    pub truncated: bool,
    /// The root (`/`); requests without a path are placed here.
    pub tree: SessionNode,
}

/// One custom property's name with its totals.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyStats {
    /// The property (lowercase).
    pub property: String,
    /// The value, for a list of one property's values.
    pub value: Option<String>,
    /// Totals of requests carrying it.
    pub sums: Sums,
}

impl Serialize for PropertyStats {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("property", &self.property)?;
        if let Some(v) = &self.value {
            m.serialize_entry("value", v)?;
        }
        put_sums(&mut m, &self.sums)?;
        m.end()
    }
}

/// A prompt id with its versions (`POST /v1/prompt/query`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptSummary {
    /// `Helicone-Prompt-Id`.
    pub prompt_id: String,
    /// How many versions it has.
    pub versions: i64,
    /// Its newest version.
    pub latest_version: i64,
    /// When its first version was seen.
    #[serde(serialize_with = "ser_time")]
    pub created_at: DateTime<Utc>,
    /// When its newest version was seen.
    #[serde(serialize_with = "ser_time")]
    pub updated_at: DateTime<Utc>,
}

/// One version of a prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptVersion {
    /// `Helicone-Prompt-Id`.
    pub prompt_id: String,
    /// 1, 2, 3, ...
    pub version: i64,
    /// When the version was first seen.
    #[serde(serialize_with = "ser_time")]
    pub created_at: DateTime<Utc>,
    /// The template (JSON when it parses; a SHA-256 for requests whose body
    /// was omitted).
    pub template: serde_json::Value,
}

/// Requests made with one prompt version.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptVersionStats {
    /// The version (0: requests whose template could not be read).
    pub version: i64,
    /// Totals of its requests.
    pub sums: Sums,
    /// First request with it.
    pub first_used: Option<DateTime<Utc>>,
    /// Latest request with it.
    pub last_used: Option<DateTime<Utc>>,
}

impl Serialize for PromptVersionStats {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("version", &self.version)?;
        put_sums(&mut m, &self.sums)?;
        m.serialize_entry("first_used", &self.first_used.map(rfc3339))?;
        m.serialize_entry("last_used", &self.last_used.map(rfc3339))?;
        m.end()
    }
}

/// Which way an export walks the records (by creation time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportOrder {
    /// Oldest first.
    Asc,
    /// Newest first.
    Desc,
}

/// Where an export page starts: after the record with this creation time
/// and sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportCursor {
    /// `created_at` of the last record sent (µs).
    pub created_at: i64,
    /// Its sequence number (ties on `created_at`).
    pub seq: i64,
}

/// One page of an export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportPage {
    /// Rows in Helicone's shape.
    pub rows: Vec<serde_json::Value>,
    /// Where the next page starts; None after the last page.
    pub next: Option<ExportCursor>,
}

/// A score value: integers and booleans (SPEC §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreValue {
    /// An integer score.
    Int(i64),
    /// A pass/fail score.
    Bool(bool),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sums_serialise_with_rates_and_usd() {
        let sums = Sums {
            requests: 4,
            errors: 1,
            cache_hits: 2,
            cost_nano_usd: 1_500_000_000,
            priced: 3,
            latency_ms_sum: 300,
            latency_count: 3,
            ..Sums::default()
        };
        let v = serde_json::to_value(Overview {
            sums,
            percentiles: Percentiles::default(),
        })
        .unwrap();
        assert_eq!(v["error_rate"], json!(0.25));
        assert_eq!(v["cache_hit_rate"], json!(0.5));
        assert_eq!(v["cost"], json!(1.5));
        assert_eq!(v["unpriced_requests"], json!(1));
        assert_eq!(v["avg_latency_ms"], json!(100.0));
        assert_eq!(v["avg_ttft_ms"], json!(null));
        assert_eq!(v["latency_p95_ms"], json!(null));
        let empty = serde_json::to_value(Overview::default()).unwrap();
        assert_eq!(empty["error_rate"], json!(0.0));
    }
}
