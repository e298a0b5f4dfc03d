//! The bodies of heliport's aggregate queries: users, sessions, properties
//! and prompts (SPEC §7), and heliport's own metrics query (overview, time
//! series, breakdowns), parsed and validated without any SQL, as
//! [`crate::filter`] does for request queries.
//!
//! Unknown top-level keys are ignored, as in request queries (Helicone
//! clients send extras such as `timezoneDifference`); a known key with a
//! wrong value is a [`FilterError`] naming it.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use crate::filter::{
    describe, join, parse_filter, parse_time, FilterError, FilterNode, SortDirection, MAX_LIMIT,
};

/// Rows an aggregate list returns when the body names no limit.
pub const DEFAULT_LIST_LIMIT: u64 = 100;
/// Most user ids one `userIds` list may hold.
pub const MAX_USER_IDS: usize = 1000;
/// Longest search text accepted, in bytes.
pub const MAX_SEARCH_BYTES: usize = 1000;
/// Widest range a per-minute series may cover: minute buckets are counted
/// from the raw records (the rollups are hourly).
pub const MAX_MINUTE_SERIES: Duration = Duration::hours(6);
/// Most buckets one time series may hold.
pub const MAX_SERIES_BUCKETS: i64 = 5000;

/// A half-open time range `[start, end)`; either side may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    /// First instant included, or unbounded.
    pub start: Option<DateTime<Utc>>,
    /// First instant excluded, or unbounded.
    pub end: Option<DateTime<Utc>>,
}

impl TimeRange {
    /// Every instant.
    pub const ALL: TimeRange = TimeRange {
        start: None,
        end: None,
    };

    /// `[start, end)`, refused when it is empty the wrong way round.
    pub fn new(
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> Result<TimeRange, FilterError> {
        if let (Some(s), Some(e)) = (start, end) {
            if s > e {
                return Err(FilterError::BadParam(format!(
                    "`timeFilter` starts after it ends ({} > {})",
                    s.to_rfc3339(),
                    e.to_rfc3339()
                )));
            }
        }
        Ok(TimeRange { start, end })
    }

    /// Whether `t` lies in the range.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start.is_none_or(|s| t >= s) && self.end.is_none_or(|e| t < e)
    }

    /// The range's start and end in microseconds, open sides as the
    /// extreme values.
    pub fn micros(&self) -> (i64, i64) {
        (
            self.start.map_or(i64::MIN, |t| t.timestamp_micros()),
            self.end.map_or(i64::MAX, |t| t.timestamp_micros()),
        )
    }
}

/// A page of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows skipped; at most `i64::MAX`.
    pub offset: u64,
    /// Rows returned at most; at most [`MAX_LIMIT`].
    pub limit: u64,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            offset: 0,
            limit: DEFAULT_LIST_LIMIT,
        }
    }
}

/// Parses a time filter. Accepted spellings (each side optional):
/// Helicone's `{startTimeUnixSeconds, endTimeUnixSeconds}` (users) and
/// `{startTimeUnixMs, endTimeUnixMs}` (sessions), and heliport's
/// `{start, end}` with RFC 3339 times or epoch milliseconds.
pub fn parse_time_filter(v: &Value) -> Result<TimeRange, FilterError> {
    let obj = match v {
        Value::Null => return Ok(TimeRange::ALL),
        Value::Object(o) => o,
        other => {
            return Err(FilterError::BadParam(format!(
                "`timeFilter` must be an object such as {{\"start\": \"2026-01-01T00:00:00Z\", \"end\": ...}}, got {}",
                describe(other)
            )))
        }
    };
    const KEYS: [&str; 6] = [
        "start",
        "end",
        "startTimeUnixMs",
        "endTimeUnixMs",
        "startTimeUnixSeconds",
        "endTimeUnixSeconds",
    ];
    if let Some(k) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(FilterError::BadParam(format!(
            "unknown key `timeFilter.{k}`; accepted: {}",
            join(KEYS)
        )));
    }
    let bound = |names: [&str; 3]| -> Result<Option<DateTime<Utc>>, FilterError> {
        let mut found = None;
        for (i, name) in names.iter().enumerate() {
            let Some(v) = obj.get(*name).filter(|v| !v.is_null()) else {
                continue;
            };
            if found.is_some() {
                return Err(FilterError::BadParam(format!(
                    "`timeFilter` names one start and one end, got several spellings of `{}`",
                    names[0]
                )));
            }
            let t = match i {
                // `start` / `end`: a time string or epoch milliseconds.
                0 => parse_time(v),
                1 => v.as_f64().and_then(|ms| parse_time(&Value::from(ms))),
                _ => v
                    .as_f64()
                    .and_then(|s| parse_time(&Value::from(s * 1000.0))),
            };
            found = Some(t.ok_or_else(|| {
                FilterError::BadParam(format!(
                    "`timeFilter.{name}` must be {}, got {}",
                    match i {
                        0 => "an RFC 3339 time string or epoch milliseconds",
                        1 => "epoch milliseconds",
                        _ => "epoch seconds",
                    },
                    describe(v)
                ))
            })?);
        }
        Ok(found)
    };
    let start = bound(["start", "startTimeUnixMs", "startTimeUnixSeconds"])?;
    let end = bound(["end", "endTimeUnixMs", "endTimeUnixSeconds"])?;
    TimeRange::new(start, end)
}

fn object(body: &Value) -> Result<&Map<String, Value>, FilterError> {
    match body {
        Value::Object(o) => Ok(o),
        other => Err(FilterError::BadBody(describe(other))),
    }
}

/// `limit` and `offset` of a list body.
fn parse_page(obj: &Map<String, Value>) -> Result<Page, FilterError> {
    let mut page = Page::default();
    if let Some(v) = obj.get("limit").filter(|v| !v.is_null()) {
        page.limit = v
            .as_u64()
            .filter(|l| *l <= MAX_LIMIT)
            .ok_or_else(|| FilterError::BadLimit(describe(v)))?;
    }
    if let Some(v) = obj.get("offset").filter(|v| !v.is_null()) {
        page.offset = v
            .as_u64()
            .filter(|o| i64::try_from(*o).is_ok())
            .ok_or_else(|| FilterError::BadOffset(describe(v)))?;
    }
    Ok(page)
}

fn parse_range(obj: &Map<String, Value>) -> Result<TimeRange, FilterError> {
    obj.get("timeFilter")
        .map_or(Ok(TimeRange::ALL), parse_time_filter)
}

/// A non-empty string of at most [`MAX_SEARCH_BYTES`], or nothing.
fn parse_text(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, FilterError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() > MAX_SEARCH_BYTES => Err(FilterError::BadParam(
            format!("`{key}` is longer than {MAX_SEARCH_BYTES} bytes"),
        )),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(FilterError::BadParam(format!(
            "`{key}` must be a string, got {}",
            describe(other)
        ))),
    }
}

/// `{"<field>": "asc" | "desc"}` over the fields `accepted` names.
fn parse_sort<T: Copy>(
    obj: &Map<String, Value>,
    accepted: &[(&str, T)],
    default: (T, SortDirection),
) -> Result<(T, SortDirection), FilterError> {
    let v = match obj.get("sort") {
        None | Some(Value::Null) => return Ok(default),
        Some(v) => v,
    };
    let names = || join(accepted.iter().map(|(n, _)| *n));
    let Some(sort) = v.as_object() else {
        return Err(FilterError::BadParam(format!(
            "`sort` must be an object with one field, e.g. {{\"{}\": \"desc\"}}; got {}",
            accepted.first().map_or("", |(n, _)| *n),
            describe(v)
        )));
    };
    let mut entries = sort.iter();
    let Some((name, dir)) = entries.next() else {
        return Ok(default);
    };
    if entries.next().is_some() {
        return Err(FilterError::BadParam(format!(
            "`sort` names exactly one field; got {}",
            describe(v)
        )));
    }
    let field = accepted
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .ok_or_else(|| {
            FilterError::BadParam(format!("cannot sort by `{name}`; accepted: {}", names()))
        })?;
    let direction = match dir.as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("asc") => SortDirection::Asc,
        Some("desc") => SortDirection::Desc,
        _ => {
            return Err(FilterError::BadSortDirection {
                field: name.clone(),
                got: describe(dir),
            })
        }
    };
    Ok((field, direction))
}

/// How a user list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSort {
    /// Most recent request.
    LastActive,
    /// First request.
    FirstActive,
    /// Number of requests.
    Requests,
    /// Total cost.
    Cost,
    /// Total tokens.
    TotalTokens,
    /// The user id itself.
    UserId,
}

/// `POST /v1/user/query`.
#[derive(Debug, Clone, PartialEq)]
pub struct UserQuery {
    /// Only these users (Helicone's `userIds`).
    pub user_ids: Option<Vec<String>>,
    /// Requests counted (Helicone's `timeFilter`); users without requests
    /// in the range are left out.
    pub range: TimeRange,
    /// Only user ids containing this text.
    pub search: Option<String>,
    /// Order of the list; default most recently active first.
    pub sort: (UserSort, SortDirection),
    /// Which part of the list.
    pub page: Page,
}

/// Parses a `POST /v1/user/query` body (`{}` lists every user).
pub fn parse_user_query(body: &Value) -> Result<UserQuery, FilterError> {
    let obj = object(body)?;
    let user_ids = match obj.get("userIds") {
        None | Some(Value::Null) => None,
        Some(Value::Array(ids)) => {
            if ids.len() > MAX_USER_IDS {
                return Err(FilterError::BadParam(format!(
                    "`userIds` holds at most {MAX_USER_IDS} ids, got {}",
                    ids.len()
                )));
            }
            let ids = ids
                .iter()
                .map(|id| {
                    id.as_str()
                        .filter(|s| s.len() <= crate::filter::MAX_TEXT_BYTES)
                        .map(str::to_string)
                        .ok_or_else(|| {
                            FilterError::BadParam(format!(
                                "`userIds` must hold strings of at most {} bytes, got {}",
                                crate::filter::MAX_TEXT_BYTES,
                                describe(id)
                            ))
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Some(ids)
        }
        Some(other) => {
            return Err(FilterError::BadParam(format!(
                "`userIds` must be an array of strings, got {}",
                describe(other)
            )))
        }
    };
    Ok(UserQuery {
        user_ids,
        range: parse_range(obj)?,
        search: parse_text(obj, "search")?,
        sort: parse_sort(
            obj,
            &[
                ("last_active", UserSort::LastActive),
                ("first_active", UserSort::FirstActive),
                ("requests", UserSort::Requests),
                ("cost", UserSort::Cost),
                ("total_tokens", UserSort::TotalTokens),
                ("user_id", UserSort::UserId),
            ],
            (UserSort::LastActive, SortDirection::Desc),
        )?,
        page: parse_page(obj)?,
    })
}

/// How a session list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionSort {
    /// The session's most recent request.
    LastActive,
    /// The session's first request.
    CreatedAt,
    /// Number of requests.
    Requests,
    /// Total cost.
    Cost,
    /// Total tokens.
    TotalTokens,
    /// Average latency of its requests.
    AvgLatency,
}

/// `POST /v1/session/query`.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionQuery {
    /// Sessions with a request in this range (Helicone's `timeFilter`).
    pub range: TimeRange,
    /// Sessions whose id or name contains this text (Helicone's `search`).
    pub search: Option<String>,
    /// Sessions with exactly this name (Helicone's `nameEquals`).
    pub name_equals: Option<String>,
    /// Sessions in which this user made a request.
    pub user_id: Option<String>,
    /// Sessions holding at least one request that matches.
    pub filter: FilterNode,
    /// Order of the list; default most recently active first.
    pub sort: (SessionSort, SortDirection),
    /// Which part of the list.
    pub page: Page,
}

/// Parses a `POST /v1/session/query` body (`{}` lists every session).
pub fn parse_session_query(body: &Value) -> Result<SessionQuery, FilterError> {
    let obj = object(body)?;
    Ok(SessionQuery {
        range: parse_range(obj)?,
        search: parse_text(obj, "search")?,
        name_equals: parse_text(obj, "nameEquals")?,
        user_id: parse_text(obj, "userId")?,
        filter: match obj.get("filter") {
            None | Some(Value::Null) => FilterNode::All,
            Some(f) => parse_filter(f)?,
        },
        sort: parse_sort(
            obj,
            &[
                ("last_active", SessionSort::LastActive),
                ("created_at", SessionSort::CreatedAt),
                ("requests", SessionSort::Requests),
                ("cost", SessionSort::Cost),
                ("total_tokens", SessionSort::TotalTokens),
                ("avg_latency", SessionSort::AvgLatency),
            ],
            (SessionSort::LastActive, SortDirection::Desc),
        )?,
        page: parse_page(obj)?,
    })
}

/// How a list of property names or values is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertySort {
    /// Number of requests.
    Requests,
    /// Total cost.
    Cost,
    /// The name (or value) itself.
    Name,
}

/// `POST /v1/property/query` (names) and `POST /v1/property/{name}/query`
/// (one property's values).
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyQuery {
    /// Requests counted.
    pub range: TimeRange,
    /// Only names (or values) containing this text (also Helicone's
    /// `searchTerm`).
    pub search: Option<String>,
    /// Order; default most requests first.
    pub sort: (PropertySort, SortDirection),
    /// Which part of the list.
    pub page: Page,
}

/// Parses a property names or values body.
pub fn parse_property_query(body: &Value) -> Result<PropertyQuery, FilterError> {
    let obj = object(body)?;
    let search = match parse_text(obj, "search")? {
        Some(s) => Some(s),
        None => parse_text(obj, "searchTerm")?,
    };
    Ok(PropertyQuery {
        range: parse_range(obj)?,
        search,
        sort: parse_sort(
            obj,
            &[
                ("requests", PropertySort::Requests),
                ("cost", PropertySort::Cost),
                ("name", PropertySort::Name),
                ("value", PropertySort::Name),
            ],
            (PropertySort::Requests, SortDirection::Desc),
        )?,
        page: parse_page(obj)?,
    })
}

/// `POST /v1/prompt/query`.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptQuery {
    /// Only prompt ids containing this text.
    pub search: Option<String>,
    /// Which part of the list (most recently used first).
    pub page: Page,
}

/// Parses a prompt list body.
pub fn parse_prompt_query(body: &Value) -> Result<PromptQuery, FilterError> {
    let obj = object(body)?;
    Ok(PromptQuery {
        search: parse_text(obj, "search")?,
        page: parse_page(obj)?,
    })
}

/// Width of a time-series bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// One minute (counted from raw records; ranges up to
    /// [`MAX_MINUTE_SERIES`]).
    Minute,
    /// One hour.
    Hour,
    /// One day, starting at midnight in the query's time zone.
    Day,
    /// Seven days, starting on Monday at midnight in the query's time zone.
    Week,
}

impl Bucket {
    /// The bucket's width.
    pub fn width(self) -> Duration {
        match self {
            Bucket::Minute => Duration::minutes(1),
            Bucket::Hour => Duration::hours(1),
            Bucket::Day => Duration::days(1),
            Bucket::Week => Duration::weeks(1),
        }
    }
}

/// What a breakdown groups by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dimension {
    /// The model used.
    Model,
    /// The provider.
    Provider,
    /// The end user.
    User,
    /// The HTTP status (0: none, a named failure).
    Status,
    /// A custom property's values (name lowercase).
    Property(String),
}

/// Most rows a breakdown returns.
pub const MAX_BREAKDOWN: u64 = 1000;

/// heliport's `POST /v1/request/metrics/query`: overview numbers for a
/// range, optionally a time series and a breakdown.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsQuery {
    /// Requests counted.
    pub range: TimeRange,
    /// Only matching requests; the store says which fields it can
    /// aggregate by.
    pub filter: FilterNode,
    /// A time series of this bucket width.
    pub series: Option<Bucket>,
    /// A breakdown by this dimension.
    pub breakdown: Option<Dimension>,
    /// Rows of the breakdown (largest first).
    pub breakdown_limit: u64,
    /// Minutes east of UTC where day and week buckets start (Helicone's
    /// `timezoneDifference` is minutes *west*, as JavaScript's
    /// `getTimezoneOffset` gives it; both are accepted).
    pub tz_offset_minutes: i32,
}

/// Parses a metrics body.
pub fn parse_metrics_query(body: &Value) -> Result<MetricsQuery, FilterError> {
    let obj = object(body)?;
    let series = match obj.get("bucket") {
        None | Some(Value::Null) => None,
        Some(v) => Some(match v.as_str() {
            Some("minute") => Bucket::Minute,
            Some("hour") => Bucket::Hour,
            Some("day") => Bucket::Day,
            Some("week") => Bucket::Week,
            _ => {
                return Err(FilterError::BadParam(format!(
                    "`bucket` must be one of minute, hour, day, week; got {}",
                    describe(v)
                )))
            }
        }),
    };
    let breakdown = match obj.get("groupBy") {
        None | Some(Value::Null) => None,
        Some(v) => Some(match v.as_str() {
            Some("model") => Dimension::Model,
            Some("provider") => Dimension::Provider,
            Some("user") | Some("user_id") => Dimension::User,
            Some("status") => Dimension::Status,
            Some(s) if s.starts_with("property:") && s.len() > "property:".len() => {
                Dimension::Property(s.trim_start_matches("property:").to_lowercase())
            }
            _ => {
                return Err(FilterError::BadParam(format!(
                "`groupBy` must be one of model, provider, user, status, property:<name>; got {}",
                describe(v)
            )))
            }
        }),
    };
    let breakdown_limit = match obj.get("limit") {
        None | Some(Value::Null) => 10,
        Some(v) => v
            .as_u64()
            .filter(|l| *l >= 1 && *l <= MAX_BREAKDOWN)
            .ok_or_else(|| {
                FilterError::BadParam(format!(
                    "`limit` (rows of the breakdown) must be an integer between 1 and {MAX_BREAKDOWN}, got {}",
                    describe(v)
                ))
            })?,
    };
    let east = obj.get("tzOffsetMinutes").filter(|v| !v.is_null());
    let west = obj.get("timezoneDifference").filter(|v| !v.is_null());
    let tz_offset_minutes = match (east, west) {
        (Some(_), Some(_)) => {
            return Err(FilterError::BadParam(
                "give either `tzOffsetMinutes` or `timezoneDifference`, not both".into(),
            ))
        }
        (Some(v), None) => offset_minutes(v, "tzOffsetMinutes")?,
        (None, Some(v)) => -offset_minutes(v, "timezoneDifference")?,
        (None, None) => 0,
    };
    let q = MetricsQuery {
        range: parse_range(obj)?,
        filter: match obj.get("filter") {
            None | Some(Value::Null) => FilterNode::All,
            Some(f) => parse_filter(f)?,
        },
        series,
        breakdown,
        breakdown_limit,
        tz_offset_minutes,
    };
    if let Some(bucket) = q.series {
        check_series(&q.range, bucket)?;
    }
    Ok(q)
}

fn offset_minutes(v: &Value, key: &str) -> Result<i32, FilterError> {
    v.as_i64()
        .filter(|m| m.abs() <= 14 * 60)
        .and_then(|m| i32::try_from(m).ok())
        .ok_or_else(|| {
            FilterError::BadParam(format!(
                "`{key}` must be whole minutes between -840 and 840, got {}",
                describe(v)
            ))
        })
}

/// A series needs a closed range that is not too many buckets wide.
fn check_series(range: &TimeRange, bucket: Bucket) -> Result<(), FilterError> {
    let (Some(start), Some(end)) = (range.start, range.end) else {
        return Err(FilterError::BadParam(
            "a time series (`bucket`) needs a `timeFilter` with a start and an end".into(),
        ));
    };
    let span = end - start;
    if bucket == Bucket::Minute && span > MAX_MINUTE_SERIES {
        return Err(FilterError::BadParam(format!(
            "minute buckets cover at most {} hours; use hour buckets for a wider range",
            MAX_MINUTE_SERIES.num_hours()
        )));
    }
    let width = bucket.width().num_seconds().max(1);
    if span.num_seconds() / width > MAX_SERIES_BUCKETS {
        return Err(FilterError::BadParam(format!(
            "the series would hold more than {MAX_SERIES_BUCKETS} buckets; use wider buckets"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn time_filters_in_every_spelling() {
        let want = TimeRange {
            start: Some(t("2026-01-01T00:00:00Z")),
            end: Some(t("2026-01-02T00:00:00Z")),
        };
        for v in [
            json!({"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}),
            json!({"start": 1767225600000i64, "end": "2026-01-02"}),
            json!({"startTimeUnixMs": 1767225600000i64, "endTimeUnixMs": 1767312000000i64}),
            json!({"startTimeUnixSeconds": 1767225600, "endTimeUnixSeconds": 1767312000}),
        ] {
            assert_eq!(parse_time_filter(&v).unwrap(), want, "{v}");
        }
        let open = parse_time_filter(&json!({"start": "2026-01-01T00:00:00Z"})).unwrap();
        assert_eq!(open.end, None);
        assert!(open.contains(t("2030-01-01T00:00:00Z")));
        assert!(!open.contains(t("2025-12-31T23:59:59Z")));
        assert_eq!(parse_time_filter(&Value::Null).unwrap(), TimeRange::ALL);
        assert_eq!(TimeRange::ALL.micros(), (i64::MIN, i64::MAX));
    }

    #[test]
    fn time_filter_errors_name_the_key() {
        let e = |v: Value| parse_time_filter(&v).unwrap_err().to_string();
        assert!(e(json!({"from": 1})).contains("timeFilter.from"));
        assert!(e(json!({"start": "yesterday"})).contains("timeFilter.start"));
        assert!(e(json!({"startTimeUnixSeconds": "1"})).contains("epoch seconds"));
        assert!(e(json!({"start": 5, "startTimeUnixMs": 5})).contains("several"));
        assert!(e(json!({"start": 10, "end": 5})).contains("starts after"));
        assert!(e(json!([1])).contains("must be an object"));
    }

    #[test]
    fn user_queries() {
        let q = parse_user_query(&json!({})).unwrap();
        assert_eq!(q.user_ids, None);
        assert_eq!(q.page, Page::default());
        assert_eq!(q.sort, (UserSort::LastActive, SortDirection::Desc));
        let q = parse_user_query(&json!({
            "userIds": ["a", "b"],
            "timeFilter": {"startTimeUnixSeconds": 0, "endTimeUnixSeconds": 60},
            "sort": {"cost": "asc"},
            "limit": 5, "offset": 10,
        }))
        .unwrap();
        assert_eq!(q.user_ids.unwrap(), ["a", "b"]);
        assert_eq!(q.sort, (UserSort::Cost, SortDirection::Asc));
        assert_eq!(
            q.page,
            Page {
                offset: 10,
                limit: 5
            }
        );
        let e = |v: Value| parse_user_query(&v).unwrap_err().to_string();
        assert!(e(json!({"userIds": "a"})).contains("`userIds`"));
        assert!(e(json!({"userIds": [1]})).contains("`userIds`"));
        assert!(e(json!({"limit": 1001})).contains("`limit`"));
        assert!(e(json!({"sort": {"model": "asc"}})).contains("last_active"));
        assert!(e(json!({"sort": {"cost": "up"}})).contains("\"up\""));
        assert!(e(json!({"search": 3})).contains("`search`"));
        assert!(e(json!([])).contains("JSON object"));
        let many: Vec<String> = (0..=MAX_USER_IDS).map(|i| i.to_string()).collect();
        assert!(e(json!({ "userIds": many })).contains("at most"));
    }

    #[test]
    fn session_property_prompt_queries() {
        let q = parse_session_query(&json!({
            "search": "abc", "nameEquals": "agent", "timezoneDifference": 0,
            "filter": "all", "timeFilter": {"startTimeUnixMs": 0, "endTimeUnixMs": 1000},
            "sort": {"cost": "desc"},
        }))
        .unwrap();
        assert_eq!(q.search.as_deref(), Some("abc"));
        assert_eq!(q.name_equals.as_deref(), Some("agent"));
        assert_eq!(q.filter, FilterNode::All);
        assert_eq!(q.sort.0, SessionSort::Cost);
        assert!(parse_session_query(&json!({"filter": {"x": {}}})).is_err());
        let p = parse_property_query(&json!({"searchTerm": "pro"})).unwrap();
        assert_eq!(p.search.as_deref(), Some("pro"));
        assert_eq!(p.sort, (PropertySort::Requests, SortDirection::Desc));
        let p = parse_prompt_query(&json!({"search": "greet", "limit": 3})).unwrap();
        assert_eq!(p.page.limit, 3);
    }

    #[test]
    fn metrics_queries() {
        let q = parse_metrics_query(&json!({
            "timeFilter": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-08T00:00:00Z"},
            "bucket": "day", "groupBy": "property:Env", "limit": 5, "timezoneDifference": 120,
        }))
        .unwrap();
        assert_eq!(q.series, Some(Bucket::Day));
        assert_eq!(q.breakdown, Some(Dimension::Property("env".into())));
        assert_eq!(q.breakdown_limit, 5);
        assert_eq!(q.tz_offset_minutes, -120);
        let e = |v: Value| parse_metrics_query(&v).unwrap_err().to_string();
        assert!(e(json!({"bucket": "hour"})).contains("start and an end"));
        assert!(e(json!({"bucket": "second"})).contains("`bucket`"));
        assert!(e(json!({"groupBy": "property:"})).contains("`groupBy`"));
        assert!(e(json!({"limit": 0})).contains("`limit`"));
        assert!(e(json!({"tzOffsetMinutes": 5000})).contains("tzOffsetMinutes"));
        let wide = json!({"bucket": "minute", "timeFilter": {"start": 0, "end": 86_400_000}});
        assert!(e(wide).contains("minute buckets"));
        let huge = json!({"bucket": "hour", "timeFilter": {"start": 0, "end": 86_400_000_000i64}});
        assert!(e(huge).contains("more than"));
    }
}
