//! Aggregates in SQLite, from the rollups: whole hours (or days) come from
//! the rollup tables, and only the partial buckets at a range's edges are
//! summed from the records, so every answer is exact for any range.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use heliport_core::analytics::{
    Bucket, Dimension, MetricsQuery, PropertyQuery, PropertySort, SessionQuery, UserQuery, UserSort,
};
use heliport_core::filter::{FilterNode, SortDirection};
use sqlx::sqlite::SqliteRow;

use super::{blob, int, opt_int, opt_text, sums, text, Reader, SqliteStore, DIALECT};
use crate::error::{StoreError, StoreResult};
use crate::model::{
    BreakdownRow, Metrics, Overview, Percentiles, PromptVersionStats, PropertyStats, SeriesPoint,
    SessionNode, SessionRequest, SessionSummary, SessionTree, UserStats,
};
use crate::rollup::{bucket_start, Histogram, RollupInput, Sums, DAY_MICROS, HOUR_MICROS};
use crate::sql::filter::{nested, split_time, unanswerable, windows, Nested, ROLLUP_FIELDS};
use crate::sql::queries::{self, Grain, HourGroup};
use crate::{from_micros, AnalyticsStore, BoxFuture};

/// Most requests a session tree shows.
pub const MAX_TREE_REQUESTS: i64 = 10_000;
/// Deepest path a session tree nests; deeper segments stay in the last node's name.
const MAX_TREE_DEPTH: usize = 64;
const MINUTE_MICROS: i64 = 60_000_000;

/// A group of a metrics read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum GroupKey {
    /// Everything.
    All,
    /// A bucket start (µs).
    At(i64),
    /// A model, provider or status (None: without one).
    Dim(Option<String>),
}

/// Measures and histograms of one group.
#[derive(Debug, Default, Clone)]
struct Agg {
    sums: Sums,
    latency: Histogram,
    ttft: Histogram,
}

impl Agg {
    fn percentiles(&self) -> Percentiles {
        Percentiles::of(&self.latency, &self.ttft)
    }
}

fn record_durations(agg: &mut Agg, row: &SqliteRow, from: usize) -> StoreResult<()> {
    if let Some(ms) = opt_int(row, from)?.and_then(|v| u64::try_from(v).ok()) {
        agg.latency.record(ms);
    }
    if let Some(ms) = opt_int(row, from + 1)?.and_then(|v| u64::try_from(v).ok()) {
        agg.ttft.record(ms);
    }
    Ok(())
}

/// A group key read from column 0: text, or an integer shown as text.
fn group_key(row: &SqliteRow, group: HourGroup) -> StoreResult<Option<String>> {
    match group {
        HourGroup::Status => Ok(opt_int(row, 0)?.filter(|s| *s != 0).map(|s| s.to_string())),
        _ => opt_text(row, 0),
    }
}

/// Where a bucket of `width` containing `t` starts, with day and week
/// buckets starting at midnight `tz` minutes east of UTC (weeks on Monday).
fn series_bucket(t: i64, bucket: Bucket, tz_minutes: i32) -> i64 {
    let tz = i64::from(tz_minutes) * MINUTE_MICROS;
    match bucket {
        Bucket::Minute => bucket_start(t, MINUTE_MICROS),
        Bucket::Hour => bucket_start(t, HOUR_MICROS),
        Bucket::Day => bucket_start(t.saturating_add(tz), DAY_MICROS).saturating_sub(tz),
        Bucket::Week => {
            // 1970-01-05 was a Monday.
            let monday = 4 * DAY_MICROS;
            bucket_start(t.saturating_add(tz).saturating_sub(monday), 7 * DAY_MICROS)
                .saturating_add(monday)
                .saturating_sub(tz)
        }
    }
}

impl SqliteStore {
    async fn metrics_impl(&self, org: &str, q: &MetricsQuery) -> StoreResult<Metrics> {
        let split = split_time(&q.filter);
        if let Some(field) = unanswerable(&split.rest) {
            return Err(StoreError::Invalid(format!(
                "metrics cannot filter on `{}` (under an OR, or equals, for request_created_at); \
                 accepted: {ROLLUP_FIELDS}, the fields the rollups keep; use the request query \
                 for other fields",
                field.name()
            )));
        }
        let (rs, re) = q.range.micros();
        let (start, end) = (rs.max(split.start), re.min(split.end));
        let rest = &split.rest;
        let mut r = self.reader().await?;

        // Overview and series share one read: per-hour contributions when a
        // series is asked for, one group otherwise.
        let group = match q.series {
            Some(Bucket::Hour | Bucket::Day | Bucket::Week) => HourGroup::Hour,
            _ => HourGroup::None,
        };
        let mut buckets: HashMap<i64, Agg> = HashMap::new();
        let mut overview = Agg::default();
        let place = |t: i64| match q.series {
            Some(b) if group == HourGroup::Hour => series_bucket(t, b, q.tz_offset_minutes),
            _ => 0,
        };
        if q.series == Some(Bucket::Minute) {
            // Minute buckets are finer than the rollup: from the records.
            let sql = queries::raw_rows(&DIALECT, org, start, end, rest)?;
            for row in r.all(&sql, "reading minute metrics").await? {
                let at = int(&row, 0)?;
                let agg = buckets
                    .entry(series_bucket(at, Bucket::Minute, 0))
                    .or_default();
                add_raw_row(agg, &row)?;
                add_raw_row(&mut overview, &row)?;
            }
        } else {
            // Whole days serve day and week buckets only when days start at
            // UTC midnight, as the daily rollup's do.
            let days = match q.series {
                None => true,
                Some(Bucket::Day | Bucket::Week) => q.tz_offset_minutes == 0,
                Some(_) => false,
            };
            for (key, agg) in self
                .gather(&mut r, org, (start, end), rest, group, days)
                .await?
            {
                let at = match key {
                    GroupKey::At(t) => t,
                    _ => 0,
                };
                let b = buckets.entry(place(at)).or_default();
                b.sums.add(&agg.sums);
                b.latency.merge(&agg.latency);
                b.ttft.merge(&agg.ttft);
            }
            for agg in buckets.values() {
                overview.sums.add(&agg.sums);
                overview.latency.merge(&agg.latency);
                overview.ttft.merge(&agg.ttft);
            }
        }

        let series = q.series.map(|bucket| {
            let first = series_bucket(start, bucket, q.tz_offset_minutes);
            let mut out = Vec::new();
            let mut t = first;
            while t < end {
                let agg = buckets.remove(&t).unwrap_or_default();
                out.push(SeriesPoint {
                    start: from_micros(t),
                    sums: agg.sums,
                    percentiles: agg.percentiles(),
                });
                let next = series_bucket(
                    t.saturating_add(bucket.width().num_microseconds().unwrap_or(i64::MAX)),
                    bucket,
                    q.tz_offset_minutes,
                );
                if next <= t {
                    break;
                }
                t = next;
            }
            out
        });

        let breakdown = match &q.breakdown {
            None => None,
            Some(d) => Some(
                self.breakdown(&mut r, org, start, end, rest, d, q.breakdown_limit)
                    .await?,
            ),
        };
        Ok(Metrics {
            overview: Overview {
                sums: overview.sums,
                percentiles: overview.percentiles(),
            },
            series,
            breakdown,
        })
    }

    /// Measures and histograms of `[start, end)` through the rollup
    /// pyramid (whole days when `days`, whole hours, and the partial hours
    /// at the ends from the records), by `group`.
    async fn gather(
        &self,
        r: &mut Reader,
        org: &str,
        (start, end): (i64, i64),
        rest: &FilterNode,
        group: HourGroup,
        days: bool,
    ) -> StoreResult<HashMap<GroupKey, Agg>> {
        let mut out: HashMap<GroupKey, Agg> = HashMap::new();
        let parts = if days {
            nested(start, end)
        } else {
            let w = windows(start, end, HOUR_MICROS);
            Nested {
                days: None,
                hours: w.rollup.into_iter().collect(),
                raw: w.edges,
            }
        };
        let from = usize::from(group != HourGroup::None);
        let key = |row: &SqliteRow| -> StoreResult<GroupKey> {
            Ok(match group {
                HourGroup::None => GroupKey::All,
                HourGroup::Hour => GroupKey::At(int(row, 0)?),
                g => GroupKey::Dim(group_key(row, g)?),
            })
        };
        let levels = parts
            .days
            .map(|d| (Grain::Day, d))
            .into_iter()
            .chain(parts.hours.iter().map(|h| (Grain::Hour, *h)));
        for (grain, range) in levels {
            let sql = queries::rollup_sums(&DIALECT, org, grain, range, rest, group)?;
            for row in r.all(&sql, "reading metrics").await? {
                out.entry(key(&row)?)
                    .or_default()
                    .sums
                    .add(&sums(&row, from)?);
            }
            let sql = queries::rollup_histograms(&DIALECT, org, grain, range, rest, group)?;
            for row in r.all(&sql, "reading metrics").await? {
                let agg = out.entry(key(&row)?).or_default();
                agg.latency.merge_encoded(blob(&row, from)?);
                agg.ttft.merge_encoded(blob(&row, from + 1)?);
            }
        }
        for (s, e) in parts.raw {
            let sql = queries::raw_sums(&DIALECT, org, s, e, rest, group)?;
            for row in r.all(&sql, "reading metrics").await? {
                let sums = sums(&row, from)?;
                // An empty range sums to one row of zeros (and a NULL time).
                if sums.requests == 0 {
                    continue;
                }
                out.entry(key(&row)?).or_default().sums.add(&sums);
            }
            let sql = queries::raw_durations(&DIALECT, org, s, e, rest, group)?;
            for row in r.all(&sql, "reading metrics").await? {
                record_durations(out.entry(key(&row)?).or_default(), &row, from)?;
            }
        }
        Ok(out)
    }

    #[expect(clippy::too_many_arguments, reason = "one query's parts, read once")]
    async fn breakdown(
        &self,
        r: &mut Reader,
        org: &str,
        start: i64,
        end: i64,
        rest: &FilterNode,
        dimension: &Dimension,
        limit: u64,
    ) -> StoreResult<Vec<BreakdownRow>> {
        let group = match dimension {
            Dimension::Model => HourGroup::Model,
            Dimension::Provider => HourGroup::Provider,
            Dimension::Status => HourGroup::Status,
            Dimension::User | Dimension::Property(_) => {
                if !matches_everything(rest) {
                    return Err(StoreError::Invalid(
                        "a breakdown by user or property cannot be filtered by model, provider, \
                         status or cached (those rollups do not keep them); drop the filter or \
                         break down by model, provider or status"
                            .into(),
                    ));
                }
                return self
                    .breakdown_daily(r, org, start, end, dimension, limit)
                    .await;
            }
        };
        let mut groups: HashMap<Option<String>, Agg> = HashMap::new();
        for (key, agg) in self.gather(r, org, (start, end), rest, group, true).await? {
            if let GroupKey::Dim(k) = key {
                let g = groups.entry(k).or_default();
                g.sums.add(&agg.sums);
                g.latency.merge(&agg.latency);
                g.ttft.merge(&agg.ttft);
            }
        }
        let mut rows: Vec<BreakdownRow> = groups
            .into_iter()
            .filter(|(_, a)| a.sums.requests > 0)
            .map(|(key, a)| BreakdownRow {
                key,
                sums: a.sums,
                percentiles: Some(a.percentiles()),
            })
            .collect();
        sort_breakdown(&mut rows, limit);
        Ok(rows)
    }

    /// Breakdowns by user or property value, from the daily rollups.
    async fn breakdown_daily(
        &self,
        r: &mut Reader,
        org: &str,
        start: i64,
        end: i64,
        dimension: &Dimension,
        limit: u64,
    ) -> StoreResult<Vec<BreakdownRow>> {
        let mut groups: HashMap<String, Sums> = HashMap::new();
        match dimension {
            Dimension::Property(name) => {
                let pq = PropertyQuery {
                    range: heliport_core::analytics::TimeRange::ALL,
                    search: None,
                    sort: (PropertySort::Requests, SortDirection::Desc),
                    page: heliport_core::analytics::Page::default(),
                };
                for (k, s) in self
                    .property_groups(r, org, Some(name), start, end, &pq)
                    .await?
                {
                    groups.entry(k).or_default().add(&s);
                }
            }
            _ => {
                let uq = UserQuery {
                    user_ids: None,
                    range: heliport_core::analytics::TimeRange::ALL,
                    search: None,
                    sort: (UserSort::Requests, SortDirection::Desc),
                    page: heliport_core::analytics::Page::default(),
                };
                for (user, (s, _, _)) in self.user_groups(r, org, start, end, &uq).await? {
                    groups.insert(user, s);
                }
            }
        }
        let mut rows: Vec<BreakdownRow> = groups
            .into_iter()
            .map(|(k, sums)| BreakdownRow {
                key: Some(k),
                sums,
                percentiles: None,
            })
            .collect();
        sort_breakdown(&mut rows, limit);
        Ok(rows)
    }

    /// Users active in `[start, end)` with their totals and first and last
    /// request there: whole days from the daily rollup, edges from records.
    async fn user_groups(
        &self,
        r: &mut Reader,
        org: &str,
        start: i64,
        end: i64,
        q: &UserQuery,
    ) -> StoreResult<HashMap<String, (Sums, i64, i64)>> {
        let mut users: HashMap<String, (Sums, i64, i64)> = HashMap::new();
        let mut add = |row: &SqliteRow| -> StoreResult<()> {
            let s = sums(row, 3)?;
            if s.requests == 0 {
                return Ok(());
            }
            let (first, last) = (int(row, 1)?, int(row, 2)?);
            let e = users
                .entry(text(row, 0)?)
                .or_insert((Sums::default(), first, last));
            e.0.add(&s);
            e.1 = e.1.min(first);
            e.2 = e.2.max(last);
            Ok(())
        };
        let parts = nested(start, end);
        let levels = parts
            .days
            .map(|d| (Grain::Day, d))
            .into_iter()
            .chain(parts.hours.iter().map(|h| (Grain::Hour, *h)));
        for (grain, range) in levels {
            let sql = queries::users_rollup(&DIALECT, org, grain, range, q);
            for row in r.all(&sql, "reading users").await? {
                add(&row)?;
            }
        }
        for (s, e) in parts.raw {
            let sql = queries::users_raw(&DIALECT, org, s, e, q);
            for row in r.all(&sql, "reading users").await? {
                add(&row)?;
            }
        }
        Ok(users)
    }

    async fn users_impl(&self, org: &str, q: &UserQuery) -> StoreResult<Vec<UserStats>> {
        let mut r = self.reader().await?;
        if q.range.start.is_none() && q.range.end.is_none() {
            // All time: one sorted, paged read of the per-user rollup.
            let sql = queries::users_all_time(&DIALECT, org, q)?;
            return r
                .all(&sql, "reading users")
                .await?
                .iter()
                .map(|row| {
                    Ok(UserStats {
                        user_id: text(row, 0)?,
                        first_active: from_micros(int(row, 1)?),
                        last_active: from_micros(int(row, 2)?),
                        sums: sums(row, 3)?,
                    })
                })
                .collect();
        }
        let (start, end) = q.range.micros();
        let users = self.user_groups(&mut r, org, start, end, q).await?;
        let mut list: Vec<UserStats> = users
            .into_iter()
            .map(|(user_id, (sums, first, last))| UserStats {
                user_id,
                sums,
                first_active: from_micros(first),
                last_active: from_micros(last),
            })
            .collect();
        list.sort_by(|a, b| {
            let ord = match q.sort.0 {
                UserSort::LastActive => a.last_active.cmp(&b.last_active),
                UserSort::FirstActive => a.first_active.cmp(&b.first_active),
                UserSort::Requests => a.sums.requests.cmp(&b.sums.requests),
                UserSort::Cost => a.sums.cost_nano_usd.cmp(&b.sums.cost_nano_usd),
                UserSort::TotalTokens => a.sums.total_tokens.cmp(&b.sums.total_tokens),
                UserSort::UserId => a.user_id.cmp(&b.user_id),
            };
            let ord = if q.sort.1 == SortDirection::Desc {
                ord.reverse()
            } else {
                ord
            };
            ord.then_with(|| a.user_id.cmp(&b.user_id))
        });
        Ok(page(list, q.page.offset, q.page.limit))
    }

    async fn session_users(
        &self,
        r: &mut Reader,
        org: &str,
        ids: &[String],
    ) -> StoreResult<HashMap<String, Vec<String>>> {
        let mut users: HashMap<String, Vec<String>> = HashMap::new();
        if ids.is_empty() {
            return Ok(users);
        }
        let sql = queries::session_users(&DIALECT, org, ids);
        for row in r.all(&sql, "reading session users").await? {
            users
                .entry(text(&row, 0)?)
                .or_default()
                .push(text(&row, 1)?);
        }
        Ok(users)
    }

    async fn sessions_impl(&self, org: &str, q: &SessionQuery) -> StoreResult<Vec<SessionSummary>> {
        let sql = queries::sessions(&DIALECT, org, q)?;
        let mut r = self.reader().await?;
        let mut list = r
            .all(&sql, "reading sessions")
            .await?
            .iter()
            .map(session_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let ids: Vec<String> = list.iter().map(|s| s.session_id.clone()).collect();
        let mut users = self.session_users(&mut r, org, &ids).await?;
        for s in &mut list {
            s.user_ids = users.remove(&s.session_id).unwrap_or_default();
        }
        Ok(list)
    }

    async fn session_tree_impl(&self, org: &str, id: &str) -> StoreResult<Option<SessionTree>> {
        let mut r = self.reader().await?;
        let sql = queries::session_one(&DIALECT, org, id);
        let Some(row) = r.one(&sql, "reading a session").await? else {
            return Ok(None);
        };
        let mut session = session_row(&row)?;
        session.user_ids = self
            .session_users(&mut r, org, &[id.to_string()])
            .await?
            .remove(id)
            .unwrap_or_default();
        let sql = queries::session_requests(&DIALECT, org, id, MAX_TREE_REQUESTS + 1);
        let rows = r.all(&sql, "reading a session's requests").await?;
        let truncated = rows.len() as i64 > MAX_TREE_REQUESTS;
        let first = session.created_at;
        let mut requests = Vec::with_capacity(rows.len());
        for row in rows.iter().take(MAX_TREE_REQUESTS as usize) {
            requests.push(session_request(row, first)?);
        }
        Ok(Some(SessionTree {
            session,
            truncated,
            tree: build_tree(requests),
        }))
    }

    /// Property names (or one property's values) in `[start, end)` with
    /// their totals: whole days from the daily rollups, edges from records.
    async fn property_groups(
        &self,
        r: &mut Reader,
        org: &str,
        key: Option<&str>,
        start: i64,
        end: i64,
        q: &PropertyQuery,
    ) -> StoreResult<HashMap<String, Sums>> {
        let mut groups: HashMap<String, Sums> = HashMap::new();
        let parts = nested(start, end);
        let levels = parts
            .days
            .map(|d| (Grain::Day, d))
            .into_iter()
            .chain(parts.hours.iter().map(|h| (Grain::Hour, *h)));
        for (grain, range) in levels {
            let sql = queries::property_rollup(&DIALECT, org, key, grain, range, q);
            for row in r.all(&sql, "reading properties").await? {
                groups
                    .entry(text(&row, 0)?)
                    .or_default()
                    .add(&sums(&row, 1)?);
            }
        }
        for (s, e) in parts.raw {
            let sql = queries::property_raw(&DIALECT, org, key, s, e, q);
            for row in r.all(&sql, "reading properties").await? {
                groups
                    .entry(text(&row, 0)?)
                    .or_default()
                    .add(&sums(&row, 1)?);
            }
        }
        groups.retain(|_, s| s.requests > 0);
        Ok(groups)
    }

    async fn properties_impl(
        &self,
        org: &str,
        key: Option<&str>,
        q: &PropertyQuery,
    ) -> StoreResult<Vec<PropertyStats>> {
        let (start, end) = q.range.micros();
        let mut r = self.reader().await?;
        let groups = self
            .property_groups(&mut r, org, key, start, end, q)
            .await?;
        let mut list: Vec<PropertyStats> = groups
            .into_iter()
            .map(|(name, sums)| match key {
                None => PropertyStats {
                    property: name,
                    value: None,
                    sums,
                },
                Some(k) => PropertyStats {
                    property: k.to_string(),
                    value: Some(name),
                    sums,
                },
            })
            .collect();
        let name = |p: &PropertyStats| p.value.clone().unwrap_or_else(|| p.property.clone());
        list.sort_by(|a, b| {
            let ord = match q.sort.0 {
                PropertySort::Requests => a.sums.requests.cmp(&b.sums.requests),
                PropertySort::Cost => a.sums.cost_nano_usd.cmp(&b.sums.cost_nano_usd),
                PropertySort::Name => name(a).cmp(&name(b)),
            };
            let ord = if q.sort.1 == SortDirection::Desc {
                ord.reverse()
            } else {
                ord
            };
            ord.then_with(|| name(a).cmp(&name(b)))
        });
        Ok(page(list, q.page.offset, q.page.limit))
    }

    async fn prompt_stats_impl(&self, org: &str, id: &str) -> StoreResult<Vec<PromptVersionStats>> {
        let sql = queries::prompt_stats(&DIALECT, org, id);
        let mut r = self.reader().await?;
        r.all(&sql, "reading prompt usage")
            .await?
            .iter()
            .map(|row| {
                Ok(PromptVersionStats {
                    version: int(row, 0)?,
                    first_used: Some(from_micros(int(row, 1)?)),
                    last_used: Some(from_micros(int(row, 2)?)),
                    sums: sums(row, 3)?,
                })
            })
            .collect()
    }
}

/// Adds one record read by [`queries::raw_rows`].
fn add_raw_row(agg: &mut Agg, row: &SqliteRow) -> StoreResult<()> {
    let u = |i: usize| -> StoreResult<Option<u64>> {
        Ok(opt_int(row, i)?.and_then(|v| u64::try_from(v).ok()))
    };
    let model = opt_text(row, 1)?;
    let provider = text(row, 2)?;
    let failure = opt_text(row, 4)?;
    let input = RollupInput {
        created_at: int(row, 0)?,
        model: model.as_deref(),
        provider: &provider,
        status: opt_int(row, 3)?.and_then(|s| u16::try_from(s).ok()),
        failure: failure.as_deref(),
        stream: int(row, 5)? != 0,
        cached: int(row, 6)? != 0,
        prompt_tokens: u(7)?,
        completion_tokens: u(8)?,
        total_tokens: u(9)?,
        cost_nano_usd: opt_int(row, 10)?,
        cache_saved_nano_usd: opt_int(row, 11)?,
        latency_ms: u(12)?,
        ttft_ms: u(13)?,
        ..RollupInput::default()
    };
    agg.sums.add(&Sums::of(&input));
    if let Some(ms) = input.latency_ms {
        agg.latency.record(ms);
    }
    if let Some(ms) = input.ttft_ms {
        agg.ttft.record(ms);
    }
    Ok(())
}

/// Whether `node` has no condition left (what remains of a filter that
/// held only time bounds).
fn matches_everything(node: &FilterNode) -> bool {
    match node {
        FilterNode::All => true,
        FilterNode::Leaf(c) => c.is_empty(),
        FilterNode::And(a, b) | FilterNode::Or(a, b) => {
            matches_everything(a) && matches_everything(b)
        }
    }
}

fn sort_breakdown(rows: &mut Vec<BreakdownRow>, limit: u64) {
    rows.sort_by(|a, b| {
        b.sums
            .requests
            .cmp(&a.sums.requests)
            .then_with(|| a.key.cmp(&b.key))
    });
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
}

fn page<T>(list: Vec<T>, offset: u64, limit: u64) -> Vec<T> {
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    list.into_iter().skip(offset).take(limit).collect()
}

fn session_row(row: &SqliteRow) -> StoreResult<SessionSummary> {
    Ok(SessionSummary {
        session_id: text(row, 0)?,
        session_name: opt_text(row, 1)?,
        created_at: from_micros(int(row, 2)?),
        latest_request_created_at: from_micros(int(row, 3)?),
        sums: sums(row, 4)?,
        user_ids: Vec::new(),
    })
}

fn session_request(row: &SqliteRow, first: DateTime<Utc>) -> StoreResult<SessionRequest> {
    let created = int(row, 1)?;
    let cost = opt_int(row, 12)?;
    Ok(SessionRequest {
        request_id: text(row, 0)?,
        created_at: from_micros(created),
        start_offset_ms: (created - first.timestamp_micros()) / 1000,
        session_path: opt_text(row, 2)?,
        model: opt_text(row, 3)?,
        provider: text(row, 4)?,
        status: opt_int(row, 5)?,
        failure: opt_text(row, 6)?,
        latency_ms: opt_int(row, 7)?,
        time_to_first_token: opt_int(row, 8)?,
        prompt_tokens: opt_int(row, 9)?,
        completion_tokens: opt_int(row, 10)?,
        total_tokens: opt_int(row, 11)?,
        cost: cost.map(crate::model::usd),
        cost_nano_usd: cost,
        user_id: opt_text(row, 13)?,
    })
}

/// The measures of one request of a session tree.
fn request_sums(r: &SessionRequest) -> Sums {
    let u = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok());
    Sums::of(&RollupInput {
        created_at: r.created_at.timestamp_micros(),
        status: r.status.and_then(|s| u16::try_from(s).ok()),
        failure: r.failure.as_deref(),
        prompt_tokens: u(r.prompt_tokens),
        completion_tokens: u(r.completion_tokens),
        total_tokens: u(r.total_tokens),
        cost_nano_usd: r.cost_nano_usd,
        latency_ms: u(r.latency_ms),
        ttft_ms: u(r.time_to_first_token),
        ..RollupInput::default()
    })
}

/// A node while the tree is built: children by index into the arena.
#[derive(Default)]
struct Building {
    name: String,
    path: String,
    requests: Vec<SessionRequest>,
    children: Vec<usize>,
    by_name: HashMap<String, usize>,
}

/// The session's requests as a tree by path: `/a/b` places a request under
/// `a`, then `b`; empty segments are ignored; a request without a path sits
/// at the root.
pub(crate) fn build_tree(requests: Vec<SessionRequest>) -> SessionNode {
    let mut arena = vec![Building {
        path: "/".into(),
        ..Building::default()
    }];
    for req in requests {
        let path = req.session_path.clone().unwrap_or_default();
        let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if segments.len() > MAX_TREE_DEPTH {
            // Fold the deepest segments into the last node's name.
            let tail = segments.split_off(MAX_TREE_DEPTH - 1);
            let joined = tail.join("/");
            let mut node = 0;
            for seg in segments
                .iter()
                .copied()
                .chain(std::iter::once(joined.as_str()))
            {
                node = child(&mut arena, node, seg);
            }
            if let Some(n) = arena.get_mut(node) {
                n.requests.push(req);
            }
            continue;
        }
        let mut node = 0;
        for seg in segments {
            node = child(&mut arena, node, seg);
        }
        if let Some(n) = arena.get_mut(node) {
            n.requests.push(req);
        }
    }
    finish(&mut arena, 0)
}

fn child(arena: &mut Vec<Building>, parent: usize, name: &str) -> usize {
    if let Some(i) = arena.get(parent).and_then(|p| p.by_name.get(name)) {
        return *i;
    }
    let path = match arena.get(parent) {
        Some(p) if p.path == "/" => format!("/{name}"),
        Some(p) => format!("{}/{name}", p.path),
        None => format!("/{name}"),
    };
    let i = arena.len();
    arena.push(Building {
        name: name.to_string(),
        path,
        ..Building::default()
    });
    if let Some(p) = arena.get_mut(parent) {
        p.children.push(i);
        p.by_name.insert(name.to_string(), i);
    }
    i
}

/// Turns the arena into nodes with subtree totals (depth at most
/// [`MAX_TREE_DEPTH`], so the recursion is bounded).
fn finish(arena: &mut Vec<Building>, i: usize) -> SessionNode {
    let Some(b) = arena.get_mut(i) else {
        return SessionNode::default();
    };
    let b = std::mem::take(b);
    let mut node = SessionNode {
        name: b.name,
        path: b.path,
        ..SessionNode::default()
    };
    for req in &b.requests {
        node.sums.add(&request_sums(req));
        let start = req.created_at;
        let end = start + chrono::Duration::milliseconds(req.latency_ms.unwrap_or(0));
        node.start = Some(node.start.map_or(start, |s| s.min(start)));
        node.end = Some(node.end.map_or(end, |e| e.max(end)));
    }
    node.requests = b.requests;
    for c in b.children {
        let child = finish(arena, c);
        node.sums.add(&child.sums);
        if let Some(s) = child.start {
            node.start = Some(node.start.map_or(s, |x| x.min(s)));
        }
        if let Some(e) = child.end {
            node.end = Some(node.end.map_or(e, |x| x.max(e)));
        }
        node.children.push(child);
    }
    node
}

impl AnalyticsStore for SqliteStore {
    fn metrics<'a>(
        &'a self,
        org_id: &'a str,
        q: &'a MetricsQuery,
    ) -> BoxFuture<'a, StoreResult<Metrics>> {
        Box::pin(self.metrics_impl(org_id, q))
    }

    fn users<'a>(
        &'a self,
        org_id: &'a str,
        q: &'a UserQuery,
    ) -> BoxFuture<'a, StoreResult<Vec<UserStats>>> {
        Box::pin(self.users_impl(org_id, q))
    }

    fn sessions<'a>(
        &'a self,
        org_id: &'a str,
        q: &'a SessionQuery,
    ) -> BoxFuture<'a, StoreResult<Vec<SessionSummary>>> {
        Box::pin(self.sessions_impl(org_id, q))
    }

    fn session_tree<'a>(
        &'a self,
        org_id: &'a str,
        session_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<SessionTree>>> {
        Box::pin(self.session_tree_impl(org_id, session_id))
    }

    fn property_names<'a>(
        &'a self,
        org_id: &'a str,
        q: &'a PropertyQuery,
    ) -> BoxFuture<'a, StoreResult<Vec<PropertyStats>>> {
        Box::pin(self.properties_impl(org_id, None, q))
    }

    fn property_values<'a>(
        &'a self,
        org_id: &'a str,
        property: &'a str,
        q: &'a PropertyQuery,
    ) -> BoxFuture<'a, StoreResult<Vec<PropertyStats>>> {
        Box::pin(self.properties_impl(org_id, Some(property), q))
    }

    fn prompt_stats<'a>(
        &'a self,
        org_id: &'a str,
        prompt_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Vec<PromptVersionStats>>> {
        Box::pin(self.prompt_stats_impl(org_id, prompt_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: Option<&str>, at_ms: i64, latency: i64, cost: Option<i64>) -> SessionRequest {
        SessionRequest {
            request_id: format!("r{at_ms}"),
            created_at: from_micros(at_ms * 1000),
            start_offset_ms: at_ms,
            session_path: path.map(str::to_string),
            model: None,
            provider: "openai".into(),
            status: Some(200),
            failure: None,
            latency_ms: Some(latency),
            time_to_first_token: None,
            prompt_tokens: Some(1),
            completion_tokens: Some(2),
            total_tokens: Some(3),
            cost: cost.map(crate::model::usd),
            cost_nano_usd: cost,
            user_id: None,
        }
    }

    #[test]
    fn session_trees_nest_by_path_with_subtree_totals() {
        let t = build_tree(vec![
            req(Some("/plan"), 0, 100, Some(10)),
            req(Some("/plan/search"), 50, 500, Some(20)),
            req(Some("//plan//search/"), 60, 10, None),
            req(None, 700, 5, Some(1)),
            req(Some("/answer"), 600, 50, Some(5)),
        ]);
        assert_eq!(t.path, "/");
        assert_eq!(t.requests.len(), 1);
        assert_eq!(t.sums.requests, 5);
        assert_eq!(t.sums.cost_nano_usd, 36);
        assert_eq!(t.sums.priced, 4);
        assert_eq!(t.children.len(), 2);
        let plan = &t.children[0];
        assert_eq!((plan.name.as_str(), plan.path.as_str()), ("plan", "/plan"));
        assert_eq!(plan.sums.requests, 3);
        let search = &plan.children[0];
        assert_eq!(search.path, "/plan/search");
        assert_eq!(search.requests.len(), 2);
        assert_eq!(plan.start, Some(from_micros(0)));
        assert_eq!(plan.end, Some(from_micros(550_000)));
        assert_eq!(t.children[1].path, "/answer");
    }

    #[test]
    fn deep_paths_are_folded() {
        let deep = format!("/{}", vec!["x"; 500].join("/"));
        let t = build_tree(vec![req(Some(&deep), 0, 1, None)]);
        let mut depth = 0;
        let mut n = &t;
        while let Some(c) = n.children.first() {
            n = c;
            depth += 1;
        }
        assert_eq!(depth, MAX_TREE_DEPTH);
        assert_eq!(n.requests.len(), 1);
    }

    #[test]
    fn series_buckets_start_at_local_midnight_and_monday() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-01-07T01:30:00Z")
            .unwrap()
            .timestamp_micros();
        let at = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_micros()
        };
        assert_eq!(
            series_bucket(t, Bucket::Hour, 0),
            at("2026-01-07T01:00:00Z")
        );
        assert_eq!(series_bucket(t, Bucket::Day, 0), at("2026-01-07T00:00:00Z"));
        // 02:00 east of UTC: local 03:30, the day began at 22:00 UTC.
        assert_eq!(
            series_bucket(t, Bucket::Day, 120),
            at("2026-01-06T22:00:00Z")
        );
        assert_eq!(
            series_bucket(t, Bucket::Day, -120),
            at("2026-01-06T02:00:00Z")
        );
        // 2026-01-05 is a Monday.
        assert_eq!(
            series_bucket(t, Bucket::Week, 0),
            at("2026-01-05T00:00:00Z")
        );
        assert_eq!(
            series_bucket(t, Bucket::Minute, 0),
            at("2026-01-07T01:30:00Z")
        );
    }
}
