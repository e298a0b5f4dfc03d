//! The requests table (`/requests`): filters become a filter tree for
//! [`RecordStore::query_requests`], the same query the REST API runs; and
//! the live tail (`/live`), whose script polls `/live/rows` for rows newer
//! than the newest it shows.
//!
//! [`RecordStore::query_requests`]: heliport_store::RecordStore::query_requests

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use heliport_core::filter::{
    Condition, Field, FilterNode, FilterValue, Op, RequestQuery, SortDirection, SortField, SortSpec,
};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::auth::Viewer;
use super::format::{self, query};
use super::range::RangeParams;
use super::{layout, Dash, PageError};

/// Rows per page.
const PAGE: u64 = 50;

/// The requests page's filters, as the form sends them.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct Filters {
    #[serde(flatten)]
    range: RangeParams,
    #[serde(default)]
    model: String,
    #[serde(default)]
    provider: String,
    /// `200`, `4xx`, `5xx` or `failed` (no status: timeout, cancelled...).
    #[serde(default)]
    status: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    session: String,
    #[serde(default)]
    prop_name: String,
    #[serde(default)]
    prop_value: String,
    /// Text in the request or response body.
    #[serde(default)]
    text: String,
    #[serde(default)]
    cost_min: String,
    #[serde(default)]
    cost_max: String,
    #[serde(default)]
    latency_min: String,
    #[serde(default)]
    latency_max: String,
    /// `yes` / `no` / empty.
    #[serde(default)]
    cached: String,
    /// `yes` / `no` / empty.
    #[serde(default)]
    rate_limited: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    dir: String,
    #[serde(default)]
    offset: String,
}

const SORTS: &[(&str, &str, SortField)] = &[
    ("created_at", "Time", SortField::CreatedAt),
    ("cost", "Cost", SortField::Cost),
    ("latency", "Latency", SortField::Latency),
    ("total_tokens", "Tokens", SortField::TotalTokens),
    (
        "time_to_first_token",
        "Time to first token",
        SortField::TimeToFirstToken,
    ),
];

fn cond(field: Field, op: Op, value: FilterValue) -> Condition {
    Condition { field, op, value }
}

fn text(field: Field, v: &str) -> Condition {
    cond(field, Op::Equals, FilterValue::Text(v.trim().to_string()))
}

impl Filters {
    /// The pairs that reproduce these filters in a link, minus `offset`.
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        let mut v = self.range.pairs();
        v.extend([
            ("model", self.model.as_str()),
            ("provider", self.provider.as_str()),
            ("status", self.status.as_str()),
            ("user", self.user.as_str()),
            ("session", self.session.as_str()),
            ("prop_name", self.prop_name.as_str()),
            ("prop_value", self.prop_value.as_str()),
            ("text", self.text.as_str()),
            ("cost_min", self.cost_min.as_str()),
            ("cost_max", self.cost_max.as_str()),
            ("latency_min", self.latency_min.as_str()),
            ("latency_max", self.latency_max.as_str()),
            ("cached", self.cached.as_str()),
            ("rate_limited", self.rate_limited.as_str()),
            ("sort", self.sort.as_str()),
            ("dir", self.dir.as_str()),
        ]);
        v
    }

    /// The store query, or the messages of the fields that do not parse.
    fn to_query(&self, now: DateTime<Utc>) -> Result<RequestQuery, Vec<String>> {
        let mut errors = Vec::new();
        let mut cs = Vec::new();
        // The last day unless told, so a filter that matches little scans
        // a day of records, not the whole table; `all` has no bound.
        if self.range.range != "all" {
            match self.range.resolve(now, "24h") {
                Ok(r) => {
                    if let Some(s) = r.range.start {
                        cs.push(cond(Field::RequestCreatedAt, Op::Gte, FilterValue::Time(s)));
                    }
                    if let Some(e) = r.range.end {
                        cs.push(cond(Field::RequestCreatedAt, Op::Lte, FilterValue::Time(e)));
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        for (v, field) in [
            (&self.model, Field::Model),
            (&self.provider, Field::Provider),
            (&self.user, Field::UserId),
            (&self.session, Field::SessionId),
        ] {
            if !v.trim().is_empty() {
                cs.push(text(field, v));
            }
        }
        match self.status.trim() {
            "" => {}
            // A named failure (timeout, cancelled, rate limited) has no status.
            "failed" => cs.push(cond(
                Field::Failure,
                Op::Like,
                FilterValue::Text("%".into()),
            )),
            s if s.len() == 3 && s.ends_with("xx") => match s[..1].parse::<u8>() {
                Ok(d @ 1..=5) => {
                    let lo = f64::from(d) * 100.0;
                    cs.push(cond(Field::Status, Op::Gte, FilterValue::Number(lo)));
                    cs.push(cond(Field::Status, Op::Lt, FilterValue::Number(lo + 100.0)));
                }
                _ => errors.push(format!("Status: {s} is not a status class such as 4xx")),
            },
            s => match s.parse::<u16>() {
                Ok(n) => cs.push(cond(
                    Field::Status,
                    Op::Equals,
                    FilterValue::Number(f64::from(n)),
                )),
                Err(_) => errors.push(format!("Status: give a status such as 200 or 5xx, not {s}")),
            },
        }
        match (self.prop_name.trim(), self.prop_value.trim()) {
            ("", "") => {}
            ("", _) => errors.push("Property: give the property's name too".into()),
            (name, "") => cs.push(cond(
                Field::Property(name.to_lowercase()),
                Op::Like,
                FilterValue::Text("%".into()),
            )),
            (name, value) => cs.push(text(Field::Property(name.to_lowercase()), value)),
        }
        let mut number = |v: &str, label: &str, field: Field, op: Op| {
            let v = v.trim();
            if v.is_empty() {
                return;
            }
            match v.parse::<f64>() {
                Ok(n) if n.is_finite() && n >= 0.0 => {
                    cs.push(cond(field, op, FilterValue::Number(n)))
                }
                _ => errors.push(format!("{label}: {v} is not a number")),
            }
        };
        number(&self.cost_min, "Cost from", Field::Cost, Op::Gte);
        number(&self.cost_max, "Cost to", Field::Cost, Op::Lte);
        number(&self.latency_min, "Latency from", Field::Latency, Op::Gte);
        number(&self.latency_max, "Latency to", Field::Latency, Op::Lte);
        match self.cached.as_str() {
            "yes" => cs.push(cond(Field::Cached, Op::Equals, FilterValue::Bool(true))),
            "no" => cs.push(cond(Field::Cached, Op::Equals, FilterValue::Bool(false))),
            _ => {}
        }
        match self.rate_limited.as_str() {
            "yes" => cs.push(text(Field::Failure, "rate_limited")),
            "no" => cs.push(cond(
                Field::Failure,
                Op::NotEquals,
                FilterValue::Text("rate_limited".into()),
            )),
            _ => {}
        }
        let mut filter = FilterNode::Leaf(cs);
        let t = self.text.trim();
        if !t.is_empty() {
            let body = |field| {
                FilterNode::Leaf(vec![cond(
                    field,
                    Op::Contains,
                    FilterValue::Text(t.to_string()),
                )])
            };
            filter = FilterNode::And(
                Box::new(filter),
                Box::new(FilterNode::Or(
                    Box::new(body(Field::RequestBody)),
                    Box::new(body(Field::ResponseBody)),
                )),
            );
        }
        let field = SORTS
            .iter()
            .find(|(k, _, _)| *k == self.sort)
            .map(|(_, _, f)| *f)
            .unwrap_or(SortField::CreatedAt);
        let direction = if self.dir == "asc" {
            SortDirection::Asc
        } else {
            SortDirection::Desc
        };
        let offset = match self.offset.trim() {
            "" => 0,
            o => o
                .parse::<u64>()
                .ok()
                .filter(|o| *o <= 1_000_000)
                .unwrap_or_else(|| {
                    errors.push("Page: bad offset".into());
                    0
                }),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(RequestQuery {
            filter,
            offset,
            // One more than shown tells whether there is a next page
            // without counting every match.
            limit: PAGE + 1,
            sort: SortSpec { field, direction },
            raw_bodies: false,
        })
    }
}

fn filter_form(f: &Filters) -> Markup {
    let sel = |v: &str, options: &[(&str, &str)]| {
        html! {
            @for (k, label) in options {
                option value=(k) selected[*k == v] { (label) }
            }
        }
    };
    let any_yes_no = [("", "any"), ("yes", "yes"), ("no", "no")];
    html! {
        form.filters method="get" action="/requests" aria-label="Filter requests" {
            label { "Range"
                select name="range" {
                    (sel(f.range.key("24h"), &[("1h", "Last hour"), ("24h", "Last day"), ("7d", "Last week"), ("30d", "Last month"), ("all", "All time"), ("custom", "Custom")]))
                }
            }
            label { "From (UTC)" input type="datetime-local" name="from" value=(f.range.from); }
            label { "To (UTC)" input type="datetime-local" name="to" value=(f.range.to); }
            label { "Model" input name="model" value=(f.model) size="14"; }
            label { "Provider" input name="provider" value=(f.provider) size="10"; }
            label { "Status" input name="status" value=(f.status) size="6" placeholder="200, 4xx, failed"; }
            label { "User" input name="user" value=(f.user) size="12"; }
            label { "Session" input name="session" value=(f.session) size="12"; }
            label { "Property" input name="prop_name" value=(f.prop_name) size="10" placeholder="name"; }
            label { "= value" input name="prop_value" value=(f.prop_value) size="10"; }
            label { "Text in bodies" input name="text" value=(f.text) size="16"; }
            label { "Cost ≥ $" input type="number" step="any" min="0" name="cost_min" value=(f.cost_min); }
            label { "Cost ≤ $" input type="number" step="any" min="0" name="cost_max" value=(f.cost_max); }
            label { "Latency ≥ ms" input type="number" min="0" name="latency_min" value=(f.latency_min); }
            label { "Latency ≤ ms" input type="number" min="0" name="latency_max" value=(f.latency_max); }
            label { "Cached" select name="cached" { (sel(&f.cached, &any_yes_no)) } }
            label { "Rate limited" select name="rate_limited" { (sel(&f.rate_limited, &any_yes_no)) } }
            label { "Sort by"
                select name="sort" {
                    @for (k, label, _) in SORTS {
                        option value=(k) selected[*k == f.sort || (f.sort.is_empty() && *k == "created_at")] { (label) }
                    }
                }
            }
            label { "Order" select name="dir" { (sel(&f.dir, &[("desc", "descending"), ("asc", "ascending")])) } }
            button type="submit" { "Filter" }
            a href="/requests" { "Clear" }
        }
    }
}

fn s<'a>(row: &'a Value, key: &str) -> Option<&'a str> {
    row.get(key)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
}

/// One table row (also what the live tail inserts).
fn row_html(row: &Value) -> Markup {
    let id = s(row, "request_id").unwrap_or_default();
    let created = s(row, "request_created_at").unwrap_or_default();
    let status = row.get("response_status").and_then(Value::as_i64);
    let failure = s(row, "failure");
    let ok = matches!(status, Some(200..=399));
    let props = row
        .get("request_properties")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    html! {
        tr data-t=(created) {
            td.nowrap { a href=(format!("/requests/{}", format::url_encode(id))) { (format::time_str(created)) } }
            td {
                @match (status, failure) {
                    (_, Some(f)) => span.badge.bad { (f) },
                    (Some(st), None) => span class=(if ok { "badge good" } else { "badge bad" }) { (st) },
                    (None, None) => span.muted { "—" },
                }
                @if row.get("cached").and_then(Value::as_bool) == Some(true) { " " span.badge { "cached" } }
            }
            td.trunc { (s(row, "model").unwrap_or("—")) }
            td { (s(row, "provider").unwrap_or("—")) }
            td.trunc { @if let Some(u) = s(row, "request_user_id") { a href=(format!("/requests{}", query([("range", "all"), ("user", u)]))) { (u) } } }
            td.trunc { @if let Some(sid) = s(row, "session_id") { a href=(format!("/sessions/{}", format::url_encode(sid))) { (sid) } } }
            td.trunc.muted { (props) }
            td.num { (format::ms(row.get("delay_ms").and_then(Value::as_f64))) }
            td.num { (row.get("total_tokens").and_then(Value::as_i64).map(format::int).unwrap_or_else(|| "—".into())) }
            td.num { (format::row_cost(row.get("cost").and_then(Value::as_f64))) }
        }
    }
}

fn table(rows: &[Value], tbody_id: Option<&str>, since: &str) -> Markup {
    html! {
        table {
            thead { tr {
                th { "Time (UTC)" } th { "Status" } th { "Model" } th { "Provider" } th { "User" } th { "Session" }
                th { "Properties" } th.num { "Latency" } th.num { "Tokens" } th.num { "Cost" }
            } }
            tbody id=[tbody_id] data-since=(since) {
                @for r in rows { (row_html(r)) }
            }
        }
    }
}

/// `GET /requests`.
pub(crate) async fn page(
    State(state): State<Dash>,
    viewer: Viewer,
    Query(f): Query<Filters>,
) -> Result<Response, PageError> {
    let q = match f.to_query(Utc::now()) {
        Ok(q) => q,
        Err(errors) => {
            let body = html! {
                h1 { "Requests" }
                (filter_form(&f))
                @for e in &errors { p.error role="alert" { (e) } }
            };
            return Ok((
                StatusCode::BAD_REQUEST,
                layout::page(&viewer, "/requests", "Requests", body),
            )
                .into_response());
        }
    };
    let mut rows = state.api.records.query_requests(&viewer.org_id, &q).await?;
    let more = rows.len() as u64 > PAGE;
    rows.truncate(PAGE as usize);
    let pairs = f.pairs();
    let page_link = |offset: u64| {
        let o = offset.to_string();
        let mut p = pairs.clone();
        p.push(("offset", o.as_str()));
        format!("/requests{}", query(p))
    };
    let body = html! {
        h1 { "Requests" }
        (filter_form(&f))
        @if rows.is_empty() {
            p.muted { "No request matches." }
        } @else {
            (table(&rows, None, ""))
        }
        nav.pager aria-label="Pages" {
            @if q.offset > 0 { a href=(page_link(q.offset.saturating_sub(PAGE))) rel="prev" { "← Newer page" } }
            span.muted { "Rows " (q.offset + 1) "–" (q.offset + rows.len() as u64) }
            @if more { a href=(page_link(q.offset + PAGE)) rel="next" { "Next page →" } }
        }
    };
    Ok(layout::page(&viewer, "/requests", "Requests", body).into_response())
}

/// `GET /live`: the newest requests, then new ones as they arrive.
pub(crate) async fn live(State(state): State<Dash>, viewer: Viewer) -> Result<Response, PageError> {
    let q = RequestQuery {
        limit: PAGE,
        ..RequestQuery::default()
    };
    let rows = state.api.records.query_requests(&viewer.org_id, &q).await?;
    let since = heliport_store::model::rfc3339(Utc::now());
    let body = html! {
        h1 { "Live" }
        div.actions {
            p.muted #live-status aria-live="polite" { "Waiting for new requests…" }
            button #live-pause type="button" hidden { "Pause" }
        }
        @if rows.is_empty() { p.muted #live-empty { "No requests yet." } }
        (table(&rows, Some("live-rows"), &since))
    };
    Ok(layout::page(&viewer, "/live", "Live", body).into_response())
}

/// `?after=` of the live tail.
#[derive(Deserialize)]
pub(crate) struct After {
    #[serde(default)]
    after: String,
}

/// `GET /live/rows?after=<time>`: rows created after `after`, newest first,
/// as table rows.
pub(crate) async fn live_rows(
    State(state): State<Dash>,
    viewer: Viewer,
    Query(a): Query<After>,
) -> Result<Response, PageError> {
    let after = DateTime::parse_from_rfc3339(a.after.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| PageError::new(StatusCode::BAD_REQUEST, "after: give an RFC 3339 time"))?;
    let q = RequestQuery {
        filter: FilterNode::Leaf(vec![cond(
            Field::RequestCreatedAt,
            Op::Gt,
            FilterValue::Time(after),
        )]),
        limit: PAGE,
        ..RequestQuery::default()
    };
    let rows = state.api.records.query_requests(&viewer.org_id, &q).await?;
    let html = html! { @for r in &rows { (row_html(r)) } };
    Ok(html.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_build_a_store_query() {
        let f = Filters {
            model: "gpt-4o".into(),
            status: "5xx".into(),
            prop_name: "Env".into(),
            prop_value: "prod".into(),
            text: "hello".into(),
            cost_min: "0.01".into(),
            cached: "yes".into(),
            rate_limited: "no".into(),
            sort: "cost".into(),
            dir: "asc".into(),
            offset: "50".into(),
            ..Filters::default()
        };
        let q = f.to_query(Utc::now()).unwrap();
        assert_eq!(q.offset, 50);
        assert_eq!(q.limit, PAGE + 1);
        assert_eq!(q.sort.field, SortField::Cost);
        assert!(q.filter.mentions(&Field::Property("env".into())));
        assert!(q.filter.mentions(&Field::RequestBody));
        assert!(q.filter.mentions(&Field::Failure));
        let bad = Filters {
            status: "abc".into(),
            cost_max: "x".into(),
            ..Filters::default()
        };
        assert_eq!(bad.to_query(Utc::now()).unwrap_err().len(), 2);
    }
}
