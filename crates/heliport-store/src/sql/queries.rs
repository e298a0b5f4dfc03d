//! Every read's SQL, built over a [`Dialect`]. A store executes these and
//! maps the columns (in the order each builder documents); it never writes
//! a query of its own.

use heliport_core::analytics::{PropertyQuery, SessionQuery, SessionSort, UserQuery, UserSort};
use heliport_core::filter::{Field, FilterNode, RequestQuery, SortDirection, MAX_LIMIT};

use super::filter::{order_by, render, render_planned, Target};
use super::{Dialect, Sql};
use crate::error::StoreError;
use crate::model::{ExportCursor, ExportOrder};
use crate::rollup::MEASURES;

/// Columns a request row is read from, in this order; the row mapper reads
/// them by name.
pub const REQUEST_COLUMNS: &str = "seq, request_id, org_id, created_at, response_created_at, \
    provider, target_url, path, method, status, failure, request_model, response_model, model, \
    model_override, stream, latency_ms, time_to_first_token_ms, prompt_tokens, completion_tokens, \
    total_tokens, prompt_cache_read_tokens, prompt_cache_write_tokens, reasoning_tokens, \
    usage_estimated, cost_nano_usd, user_id, session_id, session_path, session_name, prompt_id, \
    prompt_version, prompt_inputs, properties, cache_enabled, cached, cache_reference_id, \
    cache_bucket_idx, attempts, fallback_index, api_key_id, request_body, response_body, \
    request_body_truncated, response_body_truncated, body_cap_bytes, threat, flagged, scores, \
    feedback_rating, parent_request_id, cache_saved_nano_usd";

/// The summed measures of a rollup table, in [`MEASURES`] order.
pub fn rollup_measures() -> String {
    MEASURES
        .iter()
        .map(|m| format!("COALESCE(SUM({m}), 0)"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The same measures computed from records (alias `r` when given), in
/// [`MEASURES`] order; they mean exactly what [`crate::rollup::Sums::of`]
/// counts.
pub fn raw_measures(alias: Option<&str>) -> String {
    let c = |col: &str| alias.map_or(col.to_string(), |a| format!("{a}.{col}"));
    [
        "COUNT(*)".to_string(),
        format!(
            "COALESCE(SUM(CASE WHEN {s} IS NULL OR {s} >= 400 THEN 1 ELSE 0 END), 0)",
            s = c("status")
        ),
        format!(
            "COALESCE(SUM(CASE WHEN {} = 'rate_limited' THEN 1 ELSE 0 END), 0)",
            c("failure")
        ),
        format!("COALESCE(SUM({}), 0)", c("stream")),
        format!("COALESCE(SUM({}), 0)", c("cached")),
        format!("COALESCE(SUM({}), 0)", c("prompt_tokens")),
        format!("COALESCE(SUM({}), 0)", c("completion_tokens")),
        format!("COALESCE(SUM({}), 0)", c("total_tokens")),
        format!("COALESCE(SUM({}), 0)", c("cost_nano_usd")),
        format!("COUNT({})", c("cost_nano_usd")),
        format!("COALESCE(SUM({}), 0)", c("cache_saved_nano_usd")),
        format!("COALESCE(SUM({}), 0)", c("latency_ms")),
        format!("COUNT({})", c("latency_ms")),
        format!("COALESCE(SUM({}), 0)", c("time_to_first_token_ms")),
        format!("COUNT({})", c("time_to_first_token_ms")),
    ]
    .join(", ")
}

/// The measure columns themselves (for rows that are already sums).
pub fn measure_columns(alias: Option<&str>) -> String {
    MEASURES
        .iter()
        .map(|m| alias.map_or(m.to_string(), |a| format!("{a}.{m}")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// ` AND col >= start AND col < end`, each side only when bounded.
fn push_range(sql: &mut Sql<'_>, col: &str, start: i64, end: i64) {
    if start != i64::MIN {
        sql.push(" AND ").push(col).push(" >= ").bind(start);
    }
    if end != i64::MAX {
        sql.push(" AND ").push(col).push(" < ").bind(end);
    }
}

/// Upstream attempts that did not answer a request are records of their
/// own; queries see requests only unless they ask for attempts by their
/// `parent_request_id`.
fn requests_only(filter: &FilterNode) -> bool {
    !filter.mentions(&Field::ParentRequestId)
}

fn limit_offset(sql: &mut Sql<'_>, limit: u64, offset: u64) -> Result<(), StoreError> {
    if limit > MAX_LIMIT {
        return Err(StoreError::Invalid(format!(
            "limit {limit} exceeds {MAX_LIMIT}"
        )));
    }
    let to_i64 = |v: u64, what: &str| {
        i64::try_from(v).map_err(|_| StoreError::Invalid(format!("{what} {v} is too large")))
    };
    sql.push(" LIMIT ")
        .bind(to_i64(limit, "limit")?)
        .push(" OFFSET ")
        .bind(to_i64(offset, "offset")?);
    Ok(())
}

fn dir(d: SortDirection) -> &'static str {
    match d {
        SortDirection::Asc => "ASC",
        SortDirection::Desc => "DESC",
    }
}

/// How one page of requests is read, chosen from the rollups' counts
/// before the query is built (see heliport-store's `sqlite::records`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PagePlan {
    /// Property values (`key`, `value`) looked up row by row rather than
    /// read as a set of matches.
    pub per_row: Vec<(String, String)>,
}

/// One page of requests ([`REQUEST_COLUMNS`]).
///
/// The page's `seq`s are chosen first and the rows read after: sorting
/// whole records (bodies included) would move every matching body through
/// the sorter, where the keys and `seq`s are a few bytes each.
pub fn request_page<'d>(
    d: &'d dyn Dialect,
    org: &str,
    q: &RequestQuery,
    plan: &PagePlan,
) -> Result<Sql<'d>, StoreError> {
    let mut sql = Sql::new(d);
    sql.push("SELECT ")
        .push(REQUEST_COLUMNS)
        .push(" FROM requests WHERE seq IN (SELECT seq FROM requests WHERE org_id = ")
        .bind(org);
    if requests_only(&q.filter) {
        sql.push(" AND parent_request_id IS NULL");
    }
    sql.push(" AND ");
    let target = Target::Requests { alias: None, org };
    render_planned(&q.filter, target, &plan.per_row, &mut sql)?;
    sql.push(" ORDER BY ");
    order_by(&q.sort, &mut sql);
    limit_offset(&mut sql, q.limit, q.offset)?;
    sql.push(") ORDER BY ");
    order_by(&q.sort, &mut sql);
    Ok(sql)
}

/// `COUNT(*)` of matching requests created in `[start, end)` (one column).
pub fn request_count<'d>(
    d: &'d dyn Dialect,
    org: &str,
    filter: &FilterNode,
    start: i64,
    end: i64,
) -> Result<Sql<'d>, StoreError> {
    let mut sql = Sql::new(d);
    sql.push("SELECT COUNT(*) FROM requests WHERE org_id = ")
        .bind(org);
    if requests_only(filter) {
        sql.push(" AND parent_request_id IS NULL");
    }
    push_range(&mut sql, "created_at", start, end);
    sql.push(" AND ");
    render(filter, Target::Requests { alias: None, org }, &mut sql)?;
    Ok(sql)
}

/// The newest record with this request id ([`REQUEST_COLUMNS`]); ids may
/// repeat, and the latest `created_at` (then the one recorded last) wins.
pub fn request_by_id<'d>(d: &'d dyn Dialect, org: &str, request_id: &str) -> Sql<'d> {
    let mut sql = Sql::new(d);
    sql.push("SELECT ")
        .push(REQUEST_COLUMNS)
        .push(" FROM requests WHERE org_id = ")
        .bind(org)
        .push(" AND request_id = ")
        .bind(request_id)
        .push(" ORDER BY created_at DESC, seq DESC LIMIT 1");
    sql
}

/// The `seq` of the record [`request_by_id`] returns, as a scalar subquery
/// for updates.
pub fn push_request_seq(sql: &mut Sql<'_>, org: &str, request_id: &str) {
    sql.push("(SELECT seq FROM requests WHERE org_id = ")
        .bind(org)
        .push(" AND request_id = ")
        .bind(request_id)
        .push(" ORDER BY created_at DESC, seq DESC LIMIT 1)");
}

/// One export page ([`REQUEST_COLUMNS`]), walked by `(created_at, seq)` so
/// every page is a short indexed read however deep the export is.
pub fn export_page<'d>(
    d: &'d dyn Dialect,
    org: &str,
    filter: &FilterNode,
    order: ExportOrder,
    after: Option<ExportCursor>,
    limit: u32,
) -> Result<Sql<'d>, StoreError> {
    let mut sql = Sql::new(d);
    sql.push("SELECT ")
        .push(REQUEST_COLUMNS)
        .push(" FROM requests WHERE org_id = ")
        .bind(org);
    if requests_only(filter) {
        sql.push(" AND parent_request_id IS NULL");
    }
    let (cmp, direction) = match order {
        ExportOrder::Asc => (">", "ASC"),
        ExportOrder::Desc => ("<", "DESC"),
    };
    if let Some(c) = after {
        // `created_at <= t AND (created_at < t OR seq < s)` (for a newest-first
        // walk): the first term is a range on the time index, so each page
        // starts where the last ended instead of scanning from the top.
        sql.push(" AND created_at ")
            .push(cmp)
            .push("= ")
            .bind(c.created_at)
            .push(" AND (created_at ")
            .push(cmp)
            .push(" ")
            .bind(c.created_at)
            .push(" OR seq ")
            .push(cmp)
            .push(" ")
            .bind(c.seq)
            .push(")");
    }
    sql.push(" AND ");
    render(filter, Target::Requests { alias: None, org }, &mut sql)?;
    sql.push(" ORDER BY created_at ")
        .push(direction)
        .push(", seq ")
        .push(direction)
        .push(" LIMIT ")
        .bind(i64::from(limit));
    Ok(sql)
}

/// Which level of the rollup pyramid a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    /// The hourly tables (`hour` column).
    Hour,
    /// The daily tables (`day` column).
    Day,
}

impl Grain {
    /// The time column.
    pub fn column(self) -> &'static str {
        match self {
            Grain::Hour => "hour",
            Grain::Day => "day",
        }
    }

    /// `table` (`rollup_x_hourly`) at this grain.
    fn table(self, hourly: &'static str, daily: &'static str) -> &'static str {
        match self {
            Grain::Hour => hourly,
            Grain::Day => daily,
        }
    }
}

/// Dimensions the time rollups group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HourGroup {
    /// One group.
    None,
    /// By bucket start (the hour or the day, integer µs).
    Hour,
    /// By model (text or NULL).
    Model,
    /// By provider (text).
    Provider,
    /// By status (integer or NULL).
    Status,
}

impl HourGroup {
    fn rollup_expr(self, grain: Grain) -> Option<&'static str> {
        match self {
            HourGroup::None => None,
            HourGroup::Hour => Some(grain.column()),
            HourGroup::Model => Some("NULLIF(model, '')"),
            HourGroup::Provider => Some("provider"),
            HourGroup::Status => Some("NULLIF(status, 0)"),
        }
    }

    fn raw_expr(self) -> Option<&'static str> {
        match self {
            HourGroup::None => None,
            // Edges sit inside one hour each; the caller places them.
            HourGroup::Hour => Some("created_at"),
            HourGroup::Model => Some("model"),
            HourGroup::Provider => Some("provider"),
            HourGroup::Status => Some("status"),
        }
    }
}

fn push_group_select(sql: &mut Sql<'_>, expr: Option<&str>) {
    sql.push("SELECT ");
    if let Some(g) = expr {
        sql.push(g).push(", ");
    }
}

fn push_group_by(sql: &mut Sql<'_>, expr: Option<&str>) {
    if let Some(g) = expr {
        sql.push(" GROUP BY ").push(g);
    }
}

/// Summed measures from `rollup_hourly` (or `rollup_daily`) over buckets
/// `[lo, hi)`: columns are the group (if any), then [`MEASURES`].
pub fn rollup_sums<'d>(
    d: &'d dyn Dialect,
    org: &str,
    grain: Grain,
    (lo, hi): (i64, i64),
    rest: &FilterNode,
    group: HourGroup,
) -> Result<Sql<'d>, StoreError> {
    let mut sql = Sql::new(d);
    push_group_select(&mut sql, group.rollup_expr(grain));
    sql.push(&rollup_measures())
        .push(" FROM ")
        .push(grain.table("rollup_hourly", "rollup_daily"))
        .push(" WHERE org_id = ")
        .bind(org);
    push_range(&mut sql, grain.column(), lo, hi);
    sql.push(" AND ");
    render(rest, Target::Rollup, &mut sql)?;
    push_group_by(&mut sql, group.rollup_expr(grain));
    Ok(sql)
}

/// The histograms of `rollup_hourly` (or `rollup_daily`) rows over buckets
/// `[lo, hi)`: columns are the group (if any), `latency_hist`, `ttft_hist`
/// (blobs, merged by the caller).
pub fn rollup_histograms<'d>(
    d: &'d dyn Dialect,
    org: &str,
    grain: Grain,
    (lo, hi): (i64, i64),
    rest: &FilterNode,
    group: HourGroup,
) -> Result<Sql<'d>, StoreError> {
    let mut sql = Sql::new(d);
    push_group_select(&mut sql, group.rollup_expr(grain));
    sql.push("latency_hist, ttft_hist FROM ")
        .push(grain.table("rollup_hourly", "rollup_daily"))
        .push(" WHERE org_id = ")
        .bind(org);
    push_range(&mut sql, grain.column(), lo, hi);
    sql.push(" AND ");
    render(rest, Target::Rollup, &mut sql)?;
    Ok(sql)
}

/// Requests counted in `rollup_hourly` (or `rollup_daily`) over buckets
/// `[lo, hi)` (one column).
pub fn rollup_count<'d>(
    d: &'d dyn Dialect,
    org: &str,
    grain: Grain,
    (lo, hi): (i64, i64),
    rest: &FilterNode,
) -> Result<Sql<'d>, StoreError> {
    let mut sql = Sql::new(d);
    sql.push("SELECT COALESCE(SUM(requests), 0) FROM ")
        .push(grain.table("rollup_hourly", "rollup_daily"))
        .push(" WHERE org_id = ")
        .bind(org);
    push_range(&mut sql, grain.column(), lo, hi);
    sql.push(" AND ");
    render(rest, Target::Rollup, &mut sql)?;
    Ok(sql)
}

/// Summed measures of the requests created in `[start, end)`: columns are
/// the group (if any; for [`HourGroup::Hour`] `MIN(created_at)`, the
/// caller's edge lies in one hour), then [`MEASURES`].
pub fn raw_sums<'d>(
    d: &'d dyn Dialect,
    org: &str,
    start: i64,
    end: i64,
    filter: &FilterNode,
    group: HourGroup,
) -> Result<Sql<'d>, StoreError> {
    let mut sql = Sql::new(d);
    let (select, by) = match group {
        HourGroup::Hour => (Some("MIN(created_at)"), None),
        g => (g.raw_expr(), g.raw_expr()),
    };
    push_group_select(&mut sql, select);
    sql.push(&raw_measures(None))
        .push(" FROM requests WHERE org_id = ")
        .bind(org)
        .push(" AND parent_request_id IS NULL");
    push_range(&mut sql, "created_at", start, end);
    sql.push(" AND ");
    render(filter, Target::Requests { alias: None, org }, &mut sql)?;
    push_group_by(&mut sql, by);
    Ok(sql)
}

/// Durations of the requests created in `[start, end)`: columns are the
/// group (if any; `created_at` for [`HourGroup::Hour`]), `latency_ms`,
/// `time_to_first_token_ms`.
pub fn raw_durations<'d>(
    d: &'d dyn Dialect,
    org: &str,
    start: i64,
    end: i64,
    filter: &FilterNode,
    group: HourGroup,
) -> Result<Sql<'d>, StoreError> {
    let mut sql = Sql::new(d);
    push_group_select(&mut sql, group.raw_expr());
    sql.push("latency_ms, time_to_first_token_ms FROM requests WHERE org_id = ")
        .bind(org)
        .push(" AND parent_request_id IS NULL");
    push_range(&mut sql, "created_at", start, end);
    sql.push(" AND (latency_ms IS NOT NULL OR time_to_first_token_ms IS NOT NULL) AND ");
    render(filter, Target::Requests { alias: None, org }, &mut sql)?;
    Ok(sql)
}

/// Per-minute measures of the requests created in `[start, end)` (minute
/// series come from the records): columns `created_at`, `model`,
/// `provider`, `status`, `failure`, `stream`, `cached`, `prompt_tokens`,
/// `completion_tokens`, `total_tokens`, `cost_nano_usd`,
/// `cache_saved_nano_usd`, `latency_ms`, `time_to_first_token_ms`.
pub fn raw_rows<'d>(
    d: &'d dyn Dialect,
    org: &str,
    start: i64,
    end: i64,
    filter: &FilterNode,
) -> Result<Sql<'d>, StoreError> {
    let mut sql = Sql::new(d);
    sql.push(
        "SELECT created_at, model, provider, status, failure, stream, cached, prompt_tokens, \
         completion_tokens, total_tokens, cost_nano_usd, cache_saved_nano_usd, latency_ms, \
         time_to_first_token_ms FROM requests WHERE org_id = ",
    )
    .bind(org)
    .push(" AND parent_request_id IS NULL");
    push_range(&mut sql, "created_at", start, end);
    sql.push(" AND ");
    render(filter, Target::Requests { alias: None, org }, &mut sql)?;
    Ok(sql)
}

/// Which users a user list covers.
fn push_user_filters(sql: &mut Sql<'_>, col: &str, q: &UserQuery) {
    if let Some(ids) = &q.user_ids {
        sql.push(" AND ").push(col).push(" IN ").bind_list(ids);
    }
    if let Some(s) = &q.search {
        sql.push(" AND ");
        let d = sql.dialect();
        d.contains(sql, col, s);
    }
}

/// Users from the all-time rollup, sorted and paged: columns `user_id`,
/// `first_at`, `last_at`, then [`MEASURES`].
pub fn users_all_time<'d>(
    d: &'d dyn Dialect,
    org: &str,
    q: &UserQuery,
) -> Result<Sql<'d>, StoreError> {
    let mut sql = Sql::new(d);
    sql.push("SELECT user_id, first_at, last_at, ")
        .push(&measure_columns(None))
        .push(" FROM rollup_users WHERE org_id = ")
        .bind(org);
    push_user_filters(&mut sql, "user_id", q);
    let col = match q.sort.0 {
        UserSort::LastActive => "last_at",
        UserSort::FirstActive => "first_at",
        UserSort::Requests => "requests",
        UserSort::Cost => "cost_nano_usd",
        UserSort::TotalTokens => "total_tokens",
        UserSort::UserId => "user_id",
    };
    sql.push(" ORDER BY ")
        .push(col)
        .push(" ")
        .push(dir(q.sort.1))
        .push(", user_id ASC");
    limit_offset(&mut sql, q.page.limit, q.page.offset)?;
    Ok(sql)
}

/// Users from the daily (or hourly) rollup over buckets `[lo, hi)`, one row
/// each (the caller merges the rest of the range, sorts and pages): columns
/// `user_id`, `MIN(first_at)`, `MAX(last_at)`, then [`MEASURES`].
pub fn users_rollup<'d>(
    d: &'d dyn Dialect,
    org: &str,
    grain: Grain,
    (lo, hi): (i64, i64),
    q: &UserQuery,
) -> Sql<'d> {
    let mut sql = Sql::new(d);
    sql.push("SELECT user_id, MIN(first_at), MAX(last_at), ")
        .push(&rollup_measures())
        .push(" FROM ")
        .push(grain.table("rollup_user_hourly", "rollup_user_daily"))
        .push(" WHERE org_id = ")
        .bind(org);
    push_range(&mut sql, grain.column(), lo, hi);
    push_user_filters(&mut sql, "user_id", q);
    sql.push(" GROUP BY user_id");
    sql
}

/// Users from the records created in `[start, end)`: the columns of
/// [`users_rollup`].
pub fn users_raw<'d>(
    d: &'d dyn Dialect,
    org: &str,
    start: i64,
    end: i64,
    q: &UserQuery,
) -> Sql<'d> {
    let mut sql = Sql::new(d);
    sql.push("SELECT user_id, MIN(created_at), MAX(created_at), ")
        .push(&raw_measures(None))
        .push(" FROM requests WHERE org_id = ")
        .bind(org)
        .push(" AND parent_request_id IS NULL AND user_id IS NOT NULL");
    push_range(&mut sql, "created_at", start, end);
    push_user_filters(&mut sql, "user_id", q);
    sql.push(" GROUP BY user_id");
    sql
}

/// The columns of a session summary row: `session_id`, `name`,
/// `first_at`, `last_at`, then [`MEASURES`].
fn session_columns() -> String {
    format!(
        "s.session_id, s.name, s.first_at, s.last_at, {}",
        measure_columns(Some("s"))
    )
}

/// Sessions, filtered, sorted and paged (columns as [`session_one`]).
pub fn sessions<'d>(
    d: &'d dyn Dialect,
    org: &str,
    q: &SessionQuery,
) -> Result<Sql<'d>, StoreError> {
    let mut sql = Sql::new(d);
    sql.push("SELECT ")
        .push(&session_columns())
        .push(" FROM rollup_sessions s WHERE s.org_id = ")
        .bind(org);
    // A session overlaps the range when it ends after the start and starts
    // before the end.
    let (start, end) = q.range.micros();
    if start != i64::MIN {
        sql.push(" AND s.last_at >= ").bind(start);
    }
    if end != i64::MAX {
        sql.push(" AND s.first_at < ").bind(end);
    }
    if let Some(text) = &q.search {
        sql.push(" AND (");
        d.contains(&mut sql, "s.session_id", text);
        sql.push(" OR ");
        d.contains(&mut sql, "s.name", text);
        sql.push(")");
    }
    if let Some(name) = &q.name_equals {
        sql.push(" AND s.name = ").bind(name);
    }
    if let Some(user) = &q.user_id {
        sql.push(
            " AND s.session_id IN (SELECT su.session_id FROM rollup_session_users su \
             WHERE su.org_id = ",
        )
        .bind(org)
        .push(" AND su.user_id = ")
        .bind(user)
        .push(")");
    }
    if q.filter != FilterNode::All {
        sql.push(" AND s.session_id IN (SELECT r.session_id FROM requests r WHERE r.org_id = ")
            .bind(org)
            .push(" AND r.session_id IS NOT NULL");
        if requests_only(&q.filter) {
            sql.push(" AND r.parent_request_id IS NULL");
        }
        sql.push(" AND ");
        render(
            &q.filter,
            Target::Requests {
                alias: Some("r"),
                org,
            },
            &mut sql,
        )?;
        sql.push(")");
    }
    let direction = dir(q.sort.1);
    let key = match q.sort.0 {
        SessionSort::LastActive => "s.last_at",
        SessionSort::CreatedAt => "s.first_at",
        SessionSort::Requests => "s.requests",
        SessionSort::Cost => "s.cost_nano_usd",
        SessionSort::TotalTokens => "s.total_tokens",
        SessionSort::AvgLatency => {
            "(CASE WHEN s.latency_count > 0 THEN s.latency_ms_sum * 1.0 / s.latency_count END)"
        }
    };
    sql.push(" ORDER BY (")
        .push(key)
        .push(" IS NULL), ")
        .push(key)
        .push(" ")
        .push(direction)
        .push(", s.session_id ASC");
    limit_offset(&mut sql, q.page.limit, q.page.offset)?;
    Ok(sql)
}

/// One session's summary: columns `session_id`, `name`, `first_at`,
/// `last_at`, then [`MEASURES`].
pub fn session_one<'d>(d: &'d dyn Dialect, org: &str, session_id: &str) -> Sql<'d> {
    let mut sql = Sql::new(d);
    sql.push("SELECT ")
        .push(&session_columns())
        .push(" FROM rollup_sessions s WHERE s.org_id = ")
        .bind(org)
        .push(" AND s.session_id = ")
        .bind(session_id);
    sql
}

/// The users of these sessions: columns `session_id`, `user_id`.
pub fn session_users<'d>(d: &'d dyn Dialect, org: &str, session_ids: &[String]) -> Sql<'d> {
    let mut sql = Sql::new(d);
    sql.push("SELECT session_id, user_id FROM rollup_session_users WHERE org_id = ")
        .bind(org)
        .push(" AND session_id IN ")
        .bind_list(session_ids)
        .push(" ORDER BY session_id, user_id");
    sql
}

/// A session's requests in time order, at most `limit`: columns
/// `request_id`, `created_at`, `session_path`, `model`, `provider`,
/// `status`, `failure`, `latency_ms`, `time_to_first_token_ms`,
/// `prompt_tokens`, `completion_tokens`, `total_tokens`, `cost_nano_usd`,
/// `user_id`, `stream`, `cached`, `cache_saved_nano_usd`.
pub fn session_requests<'d>(
    d: &'d dyn Dialect,
    org: &str,
    session_id: &str,
    limit: i64,
) -> Sql<'d> {
    let mut sql = Sql::new(d);
    sql.push(
        "SELECT request_id, created_at, session_path, model, provider, status, failure, \
         latency_ms, time_to_first_token_ms, prompt_tokens, completion_tokens, total_tokens, \
         cost_nano_usd, user_id, stream, cached, cache_saved_nano_usd FROM requests \
         WHERE org_id = ",
    )
    .bind(org)
    .push(" AND session_id = ")
    .bind(session_id)
    .push(" AND parent_request_id IS NULL ORDER BY created_at, seq LIMIT ")
    .bind(limit);
    sql
}

/// Requests carrying property `key` = `value` in the daily (or hourly)
/// rollup over buckets `[lo, hi)` (one column).
pub fn property_value_count<'d>(
    d: &'d dyn Dialect,
    org: &str,
    (key, value): (&str, &str),
    grain: Grain,
    (lo, hi): (i64, i64),
) -> Sql<'d> {
    let mut sql = Sql::new(d);
    sql.push("SELECT COALESCE(SUM(requests), 0) FROM ")
        .push(grain.table("rollup_property_hourly", "rollup_property_daily"))
        .push(" WHERE org_id = ")
        .bind(org)
        .push(" AND key = ")
        .bind(key);
    push_range(&mut sql, grain.column(), lo, hi);
    sql.push(" AND value = ").bind(value);
    sql
}

/// Property names (or one property's values) from the daily (or hourly)
/// rollups over buckets `[lo, hi)`: columns the name (or value), then
/// [`MEASURES`].
pub fn property_rollup<'d>(
    d: &'d dyn Dialect,
    org: &str,
    key: Option<&str>,
    grain: Grain,
    (lo, hi): (i64, i64),
    q: &PropertyQuery,
) -> Sql<'d> {
    let mut sql = Sql::new(d);
    let (col, table) = match key {
        None => (
            "key",
            grain.table("rollup_property_key_hourly", "rollup_property_key_daily"),
        ),
        Some(_) => (
            "value",
            grain.table("rollup_property_hourly", "rollup_property_daily"),
        ),
    };
    sql.push("SELECT ")
        .push(col)
        .push(", ")
        .push(&rollup_measures())
        .push(" FROM ")
        .push(table)
        .push(" WHERE org_id = ")
        .bind(org);
    if let Some(k) = key {
        sql.push(" AND key = ").bind(k);
    }
    push_range(&mut sql, grain.column(), lo, hi);
    if let Some(s) = &q.search {
        sql.push(" AND ");
        d.contains(&mut sql, col, s);
    }
    sql.push(" GROUP BY ").push(col);
    sql
}

/// Property names (or one property's values) from the records created in
/// `[start, end)`: the columns of [`property_rollup`].
pub fn property_raw<'d>(
    d: &'d dyn Dialect,
    org: &str,
    key: Option<&str>,
    start: i64,
    end: i64,
    q: &PropertyQuery,
) -> Sql<'d> {
    let mut sql = Sql::new(d);
    let col = if key.is_none() { "p.key" } else { "p.value" };
    sql.push("SELECT ")
        .push(col)
        .push(", ")
        .push(&raw_measures(Some("r")))
        .push(" FROM requests r JOIN request_properties p ON p.seq = r.seq WHERE r.org_id = ")
        .bind(org)
        .push(" AND r.parent_request_id IS NULL");
    push_range(&mut sql, "r.created_at", start, end);
    if let Some(k) = key {
        sql.push(" AND p.key = ").bind(k);
    }
    if let Some(s) = &q.search {
        sql.push(" AND ");
        d.contains(&mut sql, col, s);
    }
    sql.push(" GROUP BY ").push(col);
    sql
}

/// Prompt ids with their versions, newest first: columns `prompt_id`,
/// `COUNT(*)`, `MAX(version)`, `MIN(created_at)`, `MAX(created_at)`.
pub fn prompts<'d>(
    d: &'d dyn Dialect,
    org: &str,
    search: Option<&str>,
    limit: u64,
    offset: u64,
) -> Result<Sql<'d>, StoreError> {
    let mut sql = Sql::new(d);
    sql.push(
        "SELECT prompt_id, COUNT(*), MAX(version), MIN(created_at), MAX(created_at) \
         FROM prompt_versions WHERE org_id = ",
    )
    .bind(org);
    if let Some(s) = search {
        sql.push(" AND ");
        d.contains(&mut sql, "prompt_id", s);
    }
    sql.push(" GROUP BY prompt_id ORDER BY MAX(created_at) DESC, prompt_id ASC");
    limit_offset(&mut sql, limit, offset)?;
    Ok(sql)
}

/// A prompt's versions (one when `version` is given): columns `version`,
/// `created_at`, `template`.
pub fn prompt_versions<'d>(
    d: &'d dyn Dialect,
    org: &str,
    prompt_id: &str,
    version: Option<i64>,
) -> Sql<'d> {
    let mut sql = Sql::new(d);
    sql.push("SELECT version, created_at, template FROM prompt_versions WHERE org_id = ")
        .bind(org)
        .push(" AND prompt_id = ")
        .bind(prompt_id);
    if let Some(v) = version {
        sql.push(" AND version = ").bind(v);
    }
    sql.push(" ORDER BY version");
    sql
}

/// Requests per version of a prompt: columns `version`, `first_at`,
/// `last_at`, then [`MEASURES`].
pub fn prompt_stats<'d>(d: &'d dyn Dialect, org: &str, prompt_id: &str) -> Sql<'d> {
    let mut sql = Sql::new(d);
    sql.push("SELECT version, first_at, last_at, ")
        .push(&measure_columns(None))
        .push(" FROM rollup_prompt_versions WHERE org_id = ")
        .bind(org)
        .push(" AND prompt_id = ")
        .bind(prompt_id)
        .push(" ORDER BY version");
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::{PostgresDialect, SqliteDialect};
    use heliport_core::analytics::parse_session_query;
    use heliport_core::filter::parse_query;
    use serde_json::json;

    #[test]
    fn request_pages_in_both_dialects() {
        let q = parse_query(&json!({
            "filter": {"request_response_rmt": {"model": {"equals": "gpt-4o"}}},
            "sort": {"cost": "desc"}, "limit": 5, "offset": 10,
        }))
        .unwrap();
        let s = request_page(&SqliteDialect, "o", &q, &PagePlan::default()).unwrap();
        let p = request_page(&PostgresDialect, "o", &q, &PagePlan::default()).unwrap();
        let tail = " AND parent_request_id IS NULL AND (model = ?) ORDER BY cost_nano_usd DESC \
                    NULLS LAST, seq DESC LIMIT ? OFFSET ?) ORDER BY cost_nano_usd DESC NULLS LAST, \
                    seq DESC";
        assert!(s.text().ends_with(tail), "{}", s.text());
        assert!(
            p.text().ends_with(
                " AND parent_request_id IS NULL AND (model = $2) ORDER BY cost_nano_usd DESC \
                 NULLS LAST, seq DESC LIMIT $3 OFFSET $4) ORDER BY cost_nano_usd DESC NULLS LAST, \
                 seq DESC"
            ),
            "{}",
            p.text()
        );
        assert_eq!(s.binds(), p.binds());
    }

    #[test]
    fn aggregates_in_both_dialects() {
        let rest = FilterNode::All;
        let s = rollup_sums(
            &SqliteDialect,
            "o",
            Grain::Hour,
            (0, 100),
            &rest,
            HourGroup::Model,
        )
        .unwrap();
        let p = rollup_sums(
            &PostgresDialect,
            "o",
            Grain::Hour,
            (0, 100),
            &rest,
            HourGroup::Model,
        )
        .unwrap();
        assert!(s
            .text()
            .starts_with("SELECT NULLIF(model, ''), COALESCE(SUM(requests), 0), "));
        assert!(s.text().ends_with(
            " FROM rollup_hourly WHERE org_id = ? AND hour >= ? AND hour < ? AND 1 = 1 GROUP BY NULLIF(model, '')"
        ));
        assert!(p.text().ends_with(
            " FROM rollup_hourly WHERE org_id = $1 AND hour >= $2 AND hour < $3 AND 1 = 1 GROUP BY NULLIF(model, '')"
        ));
        let q = parse_session_query(
            &json!({"search": "x", "userId": "u", "sort": {"avg_latency": "asc"}}),
        )
        .unwrap();
        let p = sessions(&PostgresDialect, "o", &q).unwrap();
        assert!(
            p.text()
                .contains("(strpos(s.session_id, $2) > 0 OR strpos(s.name, $3) > 0)"),
            "{}",
            p.text()
        );
        assert!(p.text().contains("su.user_id = $5"), "{}", p.text());
        // Open ranges add no bounds.
        let s = raw_sums(
            &SqliteDialect,
            "o",
            i64::MIN,
            i64::MAX,
            &rest,
            HourGroup::None,
        )
        .unwrap();
        assert!(!s.text().contains("created_at >="), "{}", s.text());
    }
}
