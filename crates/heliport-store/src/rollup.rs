//! Rollups: the aggregates the record writer keeps beside the records, so
//! analytics read a few thousand summed rows instead of scanning a million
//! records. This module is database-free: it turns records into per-batch
//! deltas ([`RollupBatch`]); each store writes them with its own upserts.
//!
//! Tables (see migration 0003): `rollup_hourly` and `rollup_daily` (org,
//! bucket, model, provider, status, cached; with latency and TTFT
//! histograms), `rollup_user_hourly`, `rollup_user_daily` and
//! `rollup_users` (all time), `rollup_sessions` and `rollup_session_users`,
//! `rollup_property_hourly` and `_daily` (per value),
//! `rollup_property_key_hourly` and `_daily`, and `rollup_prompt_versions`.
//! Every one carries the same [`MEASURES`].
//! Attempts (records with a parent request) are not requests and are left
//! out, as queries leave them out.

use std::collections::{HashMap, HashSet};

use heliport_core::record::RequestRecord;

/// One hour in microseconds (the store's time unit).
pub const HOUR_MICROS: i64 = 3_600_000_000;
/// One day in microseconds.
pub const DAY_MICROS: i64 = 24 * HOUR_MICROS;

/// The start of the unit-wide bucket holding `micros` (floor, also for times
/// before 1970).
pub fn bucket_start(micros: i64, unit: i64) -> i64 {
    micros.div_euclid(unit).saturating_mul(unit)
}

/// The summed columns every rollup table carries, in this order.
pub const MEASURES: [&str; 15] = [
    "requests",
    "errors",
    "rate_limited",
    "streams",
    "cache_hits",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_nano_usd",
    "priced",
    "cache_saved_nano_usd",
    "latency_ms_sum",
    "latency_count",
    "ttft_ms_sum",
    "ttft_count",
];

/// Summed measures of a set of requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums {
    /// Requests counted.
    pub requests: i64,
    /// Requests without a status or with a status of 400 or more.
    pub errors: i64,
    /// Requests refused by a rate limit.
    pub rate_limited: i64,
    /// Streamed requests.
    pub streams: i64,
    /// Requests answered from the cache.
    pub cache_hits: i64,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Total tokens.
    pub total_tokens: i64,
    /// Cost of the priced requests.
    pub cost_nano_usd: i64,
    /// Requests with a known cost (the rest are unpriced).
    pub priced: i64,
    /// What cache hits saved.
    pub cache_saved_nano_usd: i64,
    /// Sum of latencies.
    pub latency_ms_sum: i64,
    /// Requests with a latency.
    pub latency_count: i64,
    /// Sum of times to first token.
    pub ttft_ms_sum: i64,
    /// Requests with a time to first token.
    pub ttft_count: i64,
}

impl Sums {
    /// The measures in [`MEASURES`] order.
    pub fn to_array(&self) -> [i64; 15] {
        [
            self.requests,
            self.errors,
            self.rate_limited,
            self.streams,
            self.cache_hits,
            self.prompt_tokens,
            self.completion_tokens,
            self.total_tokens,
            self.cost_nano_usd,
            self.priced,
            self.cache_saved_nano_usd,
            self.latency_ms_sum,
            self.latency_count,
            self.ttft_ms_sum,
            self.ttft_count,
        ]
    }

    /// From measures in [`MEASURES`] order.
    pub fn from_array(a: [i64; 15]) -> Sums {
        let [requests, errors, rate_limited, streams, cache_hits, prompt_tokens, completion_tokens, total_tokens, cost_nano_usd, priced, cache_saved_nano_usd, latency_ms_sum, latency_count, ttft_ms_sum, ttft_count] =
            a;
        Sums {
            requests,
            errors,
            rate_limited,
            streams,
            cache_hits,
            prompt_tokens,
            completion_tokens,
            total_tokens,
            cost_nano_usd,
            priced,
            cache_saved_nano_usd,
            latency_ms_sum,
            latency_count,
            ttft_ms_sum,
            ttft_count,
        }
    }

    /// Adds `other` in (saturating: a corrupt row cannot overflow a total).
    pub fn add(&mut self, other: &Sums) {
        let mut a = self.to_array();
        for (x, y) in a.iter_mut().zip(other.to_array()) {
            *x = x.saturating_add(y);
        }
        *self = Sums::from_array(a);
    }

    /// The negation (to take a request out of a rollup).
    pub fn negated(&self) -> Sums {
        Sums::from_array(self.to_array().map(|x| x.saturating_neg()))
    }

    /// The measures of one request.
    pub fn of(r: &RollupInput<'_>) -> Sums {
        let clamp = |v: Option<u64>| v.map_or(0, |v| i64::try_from(v).unwrap_or(i64::MAX));
        Sums {
            requests: 1,
            errors: i64::from(r.status.is_none_or(|s| s >= 400)),
            rate_limited: i64::from(r.failure == Some("rate_limited")),
            streams: i64::from(r.stream),
            cache_hits: i64::from(r.cached),
            prompt_tokens: clamp(r.prompt_tokens),
            completion_tokens: clamp(r.completion_tokens),
            total_tokens: clamp(r.total_tokens),
            cost_nano_usd: r.cost_nano_usd.unwrap_or(0),
            priced: i64::from(r.cost_nano_usd.is_some()),
            cache_saved_nano_usd: r.cache_saved_nano_usd.unwrap_or(0),
            latency_ms_sum: clamp(r.latency_ms),
            latency_count: i64::from(r.latency_ms.is_some()),
            ttft_ms_sum: clamp(r.ttft_ms),
            ttft_count: i64::from(r.ttft_ms.is_some()),
        }
    }
}

/// Growth factor of a histogram bucket: each covers 5 % more than the one
/// before, so a percentile read from it is within ~2.5 % (interpolated).
const BUCKET_BASE: f64 = 1.05;

/// The histogram bucket of a duration: 0 holds [0, 1) ms, bucket b ≥ 1
/// holds [1.05^(b-1), 1.05^b) ms.
pub fn latency_bucket(ms: u64) -> u32 {
    if ms == 0 {
        return 0;
    }
    // ln(u64::MAX) / ln(1.05) ≈ 909: always fits.
    ((ms as f64).ln() / BUCKET_BASE.ln()).floor() as u32 + 1
}

fn bucket_bounds(b: u32) -> (f64, f64) {
    if b == 0 {
        (0.0, 1.0)
    } else {
        (BUCKET_BASE.powi(b as i32 - 1), BUCKET_BASE.powi(b as i32))
    }
}

/// A histogram of durations in milliseconds, in 5 %-wide buckets. Stored as
/// a small blob (LEB128 pairs of bucket delta and count), so one rollup row
/// holds a whole hour's distribution and percentiles merge exactly. Kept
/// dense in memory (a count per bucket; a duration of u64::MAX ms is bucket
/// 910), so merging thousands of rows is additions, not allocations.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    counts: Vec<u64>,
}

/// More buckets than any duration reaches (u64::MAX ms is bucket 910).
const MAX_BUCKETS: usize = 1024;

impl PartialEq for Histogram {
    fn eq(&self, other: &Histogram) -> bool {
        let n = self.counts.len().max(other.counts.len());
        (0..n).all(|i| self.counts.get(i).unwrap_or(&0) == other.counts.get(i).unwrap_or(&0))
    }
}

impl Eq for Histogram {}

impl Histogram {
    fn add(&mut self, bucket: usize, n: u64) {
        if bucket >= MAX_BUCKETS {
            return;
        }
        if self.counts.len() <= bucket {
            self.counts.resize(bucket + 1, 0);
        }
        if let Some(c) = self.counts.get_mut(bucket) {
            *c = c.saturating_add(n);
        }
    }

    /// Counts one duration.
    pub fn record(&mut self, ms: u64) {
        self.add(latency_bucket(ms) as usize, 1);
    }

    /// Adds another histogram in.
    pub fn merge(&mut self, other: &Histogram) {
        for (b, n) in other.counts.iter().enumerate() {
            if *n > 0 {
                self.add(b, *n);
            }
        }
    }

    /// Adds a histogram in its blob form (see [`Histogram::encode`]); a
    /// malformed blob adds what is valid of it.
    pub fn merge_encoded(&mut self, bytes: &[u8]) {
        let mut it = bytes.iter().copied();
        let mut bucket = 0u64;
        while let (Some(delta), Some(n)) = (read_leb128(&mut it), read_leb128(&mut it)) {
            bucket = bucket.saturating_add(delta);
            match usize::try_from(bucket) {
                Ok(b) if b < MAX_BUCKETS => self.add(b, n),
                _ => break,
            }
        }
    }

    /// Durations counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// The `q` quantile (0..=1), interpolated inside its bucket; None when empty.
    pub fn percentile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        // The rank of the wanted value among 0..total.
        let rank = q.clamp(0.0, 1.0) * (total - 1) as f64;
        let mut below = 0u64;
        let mut last = 0usize;
        for (b, n) in self.counts.iter().enumerate().filter(|(_, n)| **n > 0) {
            last = b;
            if rank < (below + n) as f64 {
                let (lo, hi) = bucket_bounds(b as u32);
                let frac = (rank - below as f64 + 0.5) / *n as f64;
                let v = lo + (hi - lo) * frac.clamp(0.0, 1.0);
                // Two decimals: finer is noise at 5 % buckets.
                return Some((v * 100.0).round() / 100.0);
            }
            below += n;
        }
        Some((bucket_bounds(last as u32).1 * 100.0).round() / 100.0)
    }

    /// The blob form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        let mut prev = 0usize;
        for (b, n) in self.counts.iter().enumerate().filter(|(_, n)| **n > 0) {
            leb128(&mut out, (b - prev) as u64);
            leb128(&mut out, *n);
            prev = b;
        }
        out
    }

    /// Reads the blob form; a malformed blob reads as far as it is valid.
    pub fn decode(bytes: &[u8]) -> Histogram {
        let mut h = Histogram::default();
        h.merge_encoded(bytes);
        h
    }
}

fn leb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_leb128(it: &mut impl Iterator<Item = u8>) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = it.next()?;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// What rollups read from one record, borrowed from a [`RequestRecord`]
/// (the writer) or a stored row (the backfill and property edits).
#[derive(Debug, Clone, Default)]
pub struct RollupInput<'a> {
    /// Organization.
    pub org_id: &'a str,
    /// `created_at` in µs.
    pub created_at: i64,
    /// Model used.
    pub model: Option<&'a str>,
    /// Provider.
    pub provider: &'a str,
    /// HTTP status.
    pub status: Option<u16>,
    /// Named failure.
    pub failure: Option<&'a str>,
    /// Streamed.
    pub stream: bool,
    /// Served from the cache.
    pub cached: bool,
    /// Prompt tokens.
    pub prompt_tokens: Option<u64>,
    /// Completion tokens.
    pub completion_tokens: Option<u64>,
    /// Total tokens.
    pub total_tokens: Option<u64>,
    /// Cost (None: unpriced).
    pub cost_nano_usd: Option<i64>,
    /// What a cache hit saved.
    pub cache_saved_nano_usd: Option<i64>,
    /// Latency.
    pub latency_ms: Option<u64>,
    /// Time to first token.
    pub ttft_ms: Option<u64>,
    /// End user.
    pub user_id: Option<&'a str>,
    /// Session.
    pub session_id: Option<&'a str>,
    /// Session name.
    pub session_name: Option<&'a str>,
    /// Custom properties.
    pub properties: Vec<(&'a str, &'a str)>,
    /// Prompt id.
    pub prompt_id: Option<&'a str>,
    /// Prompt version (0 when unknown).
    pub prompt_version: Option<i64>,
    /// An attempt made for another request (not counted).
    pub is_attempt: bool,
}

impl<'a> RollupInput<'a> {
    /// What rollups read from a finalized record.
    pub fn from_record(r: &'a RequestRecord) -> RollupInput<'a> {
        RollupInput {
            org_id: &r.org_id,
            created_at: r.created_at.timestamp_micros(),
            model: r.model.as_deref(),
            provider: &r.provider,
            status: r.status,
            failure: r.failure.as_deref(),
            stream: r.stream,
            cached: r.cached,
            prompt_tokens: r.usage.map(|u| u.prompt_tokens),
            completion_tokens: r.usage.map(|u| u.completion_tokens),
            total_tokens: r.usage.map(|u| u.total_tokens()),
            cost_nano_usd: r.cost_nano_usd,
            cache_saved_nano_usd: r.cache_saved_nano_usd,
            latency_ms: r.latency_ms,
            ttft_ms: r.time_to_first_token_ms,
            user_id: r.user_id.as_deref(),
            session_id: r.session_id.as_deref(),
            session_name: r.session_name.as_deref(),
            properties: r
                .properties
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            prompt_id: r.prompt_id.as_deref(),
            prompt_version: r.prompt_version,
            is_attempt: r.parent_request_id.is_some(),
        }
    }
}

/// Key of `rollup_hourly` (and `rollup_daily`, with the day's start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HourKey<'a> {
    /// Organization.
    pub org_id: &'a str,
    /// Start of the hour (or day), µs.
    pub hour: i64,
    /// Model, `""` when unknown.
    pub model: &'a str,
    /// Provider.
    pub provider: &'a str,
    /// HTTP status, 0 when none.
    pub status: i64,
    /// Served from the cache.
    pub cached: bool,
}

/// An hour's measures with its latency and TTFT histograms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HourAgg {
    /// Summed measures.
    pub sums: Sums,
    /// Latencies.
    pub latency: Histogram,
    /// Times to first token.
    pub ttft: Histogram,
}

/// Measures with the first and last request time (µs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpanAgg {
    /// Summed measures.
    pub sums: Sums,
    /// Earliest request.
    pub first_at: i64,
    /// Latest request.
    pub last_at: i64,
}

impl SpanAgg {
    fn add(&mut self, sums: &Sums, at: i64) {
        if self.sums.requests == 0 {
            self.first_at = at;
            self.last_at = at;
        } else {
            self.first_at = self.first_at.min(at);
            self.last_at = self.last_at.max(at);
        }
        self.sums.add(sums);
    }
}

/// A session's measures, span and latest name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionAgg<'a> {
    /// Measures and span.
    pub span: SpanAgg,
    /// The name given by the latest request that named the session, with that request's time.
    pub name: Option<(i64, &'a str)>,
}

/// The rollup maps: every record is hashed into several of them, which with
/// std's SipHash cost the writer 1,800 instructions a record. They live for
/// one batch of records, so a randomly seeded fast hash is enough.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Rollup deltas of one batch of records, keyed as the tables are. The keys
/// borrow the batch's records: adding a record allocates only for a key the
/// batch has not seen.
#[derive(Debug, Default)]
pub struct RollupBatch<'a> {
    /// `rollup_hourly`.
    pub hourly: Map<HourKey<'a>, HourAgg>,
    /// `rollup_daily`.
    pub daily: Map<HourKey<'a>, HourAgg>,
    /// `rollup_user_hourly`: (org, hour, user).
    pub user_hourly: Map<(&'a str, i64, &'a str), SpanAgg>,
    /// `rollup_user_daily`: (org, day, user).
    pub user_daily: Map<(&'a str, i64, &'a str), SpanAgg>,
    /// `rollup_users`: (org, user).
    pub users: Map<(&'a str, &'a str), SpanAgg>,
    /// `rollup_sessions`: (org, session).
    pub sessions: Map<(&'a str, &'a str), SessionAgg<'a>>,
    /// `rollup_session_users`: (org, session, user).
    pub session_users: HashSet<(&'a str, &'a str, &'a str), foldhash::fast::RandomState>,
    /// `rollup_property_hourly`: (org, key, hour, value).
    pub property_hourly: Map<(&'a str, &'a str, i64, &'a str), Sums>,
    /// `rollup_property_daily`: (org, key, day, value).
    pub property_daily: Map<(&'a str, &'a str, i64, &'a str), Sums>,
    /// `rollup_property_key_hourly`: (org, key, hour).
    pub property_key_hourly: Map<(&'a str, &'a str, i64), Sums>,
    /// `rollup_property_key_daily`: (org, key, day).
    pub property_key_daily: Map<(&'a str, &'a str, i64), Sums>,
    /// `rollup_prompt_versions`: (org, prompt, version).
    pub prompts: Map<(&'a str, &'a str, i64), SpanAgg>,
}

impl<'a> RollupBatch<'a> {
    /// Adds one record's measures to every rollup it belongs to.
    pub fn add(&mut self, r: &RollupInput<'a>) {
        if r.is_attempt {
            return;
        }
        let sums = Sums::of(r);
        let org = r.org_id;
        let hour_start = bucket_start(r.created_at, HOUR_MICROS);
        let day = bucket_start(r.created_at, DAY_MICROS);
        let key = HourKey {
            org_id: org,
            hour: hour_start,
            model: r.model.unwrap_or_default(),
            provider: r.provider,
            status: r.status.map_or(0, i64::from),
            cached: r.cached,
        };
        for (table, at) in [(&mut self.hourly, hour_start), (&mut self.daily, day)] {
            let agg = table.entry(HourKey { hour: at, ..key }).or_default();
            agg.sums.add(&sums);
            if let Some(ms) = r.latency_ms {
                agg.latency.record(ms);
            }
            if let Some(ms) = r.ttft_ms {
                agg.ttft.record(ms);
            }
        }
        if let Some(user) = r.user_id {
            self.user_hourly
                .entry((org, hour_start, user))
                .or_default()
                .add(&sums, r.created_at);
            self.user_daily
                .entry((org, day, user))
                .or_default()
                .add(&sums, r.created_at);
            self.users
                .entry((org, user))
                .or_default()
                .add(&sums, r.created_at);
        }
        if let Some(session) = r.session_id {
            let s = self.sessions.entry((org, session)).or_default();
            s.span.add(&sums, r.created_at);
            if let Some(name) = r.session_name {
                if s.name.as_ref().is_none_or(|(at, _)| r.created_at >= *at) {
                    s.name = Some((r.created_at, name));
                }
            }
            if let Some(user) = r.user_id {
                self.session_users.insert((org, session, user));
            }
        }
        for &(k, v) in &r.properties {
            self.property_hourly
                .entry((org, k, hour_start, v))
                .or_default()
                .add(&sums);
            self.property_key_hourly
                .entry((org, k, hour_start))
                .or_default()
                .add(&sums);
            self.property_daily
                .entry((org, k, day, v))
                .or_default()
                .add(&sums);
            self.property_key_daily
                .entry((org, k, day))
                .or_default()
                .add(&sums);
        }
        if let Some(prompt) = r.prompt_id {
            self.prompts
                .entry((org, prompt, r.prompt_version.unwrap_or(0)))
                .or_default()
                .add(&sums, r.created_at);
        }
    }

    /// Whether the batch holds nothing to write.
    pub fn is_empty(&self) -> bool {
        self.hourly.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_grow_by_five_percent() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(1), 1);
        for ms in [1u64, 2, 10, 99, 100, 101, 1000, 123_456, 10_000_000] {
            let (lo, hi) = bucket_bounds(latency_bucket(ms));
            let v = ms as f64;
            assert!(
                lo <= v * 1.000_001 && v < hi * 1.000_001,
                "{ms}: [{lo}, {hi})"
            );
            assert!(hi / lo.max(1.0) <= 1.051 || lo < 1.0);
        }
    }

    #[test]
    fn percentiles_are_within_the_bucket_width() {
        let mut h = Histogram::default();
        for ms in 1..=1000u64 {
            h.record(ms);
        }
        let p50 = h.percentile(0.5).unwrap();
        let p95 = h.percentile(0.95).unwrap();
        assert!((p50 - 500.0).abs() / 500.0 < 0.05, "{p50}");
        assert!((p95 - 950.0).abs() / 950.0 < 0.05, "{p95}");
        assert_eq!(Histogram::default().percentile(0.5), None);
        let mut one = Histogram::default();
        one.record(200);
        let p = one.percentile(0.95).unwrap();
        assert!((p - 200.0).abs() / 200.0 < 0.05, "{p}");
    }

    #[test]
    fn histograms_round_trip_and_merge() {
        let mut a = Histogram::default();
        for ms in [0u64, 5, 5, 80, 12_000, u64::MAX] {
            a.record(ms);
        }
        let blob = a.encode();
        assert_eq!(Histogram::decode(&blob), a);
        let mut b = Histogram::decode(&blob);
        b.merge(&a);
        assert_eq!(b.count(), 12);
        // Garbage decodes to what is valid, never panics.
        let _ = Histogram::decode(&[0xff; 20]);
        assert!(Histogram::decode(&[]).is_empty());
    }

    #[test]
    fn batch_counts_requests_not_attempts() {
        let mut batch = RollupBatch::default();
        let base = RollupInput {
            org_id: "o",
            created_at: 5 * HOUR_MICROS + 10,
            model: Some("m"),
            provider: "openai",
            status: Some(200),
            cost_nano_usd: Some(100),
            latency_ms: Some(50),
            user_id: Some("u"),
            session_id: Some("s"),
            session_name: Some("first"),
            properties: vec![("env", "prod")],
            prompt_id: Some("p"),
            prompt_version: Some(2),
            ..RollupInput::default()
        };
        batch.add(&base);
        let later = RollupInput {
            created_at: 5 * HOUR_MICROS + 20,
            status: None,
            cost_nano_usd: None,
            session_name: Some("second"),
            ..base.clone()
        };
        batch.add(&later);
        batch.add(&RollupInput {
            is_attempt: true,
            ..base.clone()
        });
        assert_eq!(batch.hourly.len(), 2, "status 200 and none are two rows");
        assert_eq!(batch.daily.len(), 2);
        assert_eq!(batch.user_hourly.len(), 1);
        assert_eq!(batch.property_hourly.len(), 1);
        let u = batch.users[&("o", "u")];
        assert_eq!(u.sums.requests, 2);
        assert_eq!(u.sums.errors, 1);
        assert_eq!(u.sums.priced, 1);
        assert_eq!(
            (u.first_at, u.last_at),
            (5 * HOUR_MICROS + 10, 5 * HOUR_MICROS + 20)
        );
        let s = &batch.sessions[&("o", "s")];
        assert_eq!(s.name.as_ref().unwrap().1, "second");
        assert_eq!(batch.session_users.len(), 1);
        assert_eq!(batch.property_daily[&("o", "env", 0, "prod")].requests, 2);
        assert_eq!(batch.prompts[&("o", "p", 2)].sums.requests, 2);
    }

    #[test]
    fn sums_negate_and_add_back_to_zero() {
        let s = Sums::of(&RollupInput {
            status: Some(500),
            stream: true,
            cost_nano_usd: Some(7),
            prompt_tokens: Some(3),
            ..RollupInput::default()
        });
        let mut t = s;
        t.add(&s.negated());
        assert_eq!(t, Sums::default());
        assert_eq!(bucket_start(-1, HOUR_MICROS), -HOUR_MICROS);
    }
}
