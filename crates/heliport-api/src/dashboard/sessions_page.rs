//! Sessions (`/sessions`) and one session's requests as a tree by path and
//! a waterfall by time (`/sessions/{id}`), from
//! [`AnalyticsStore::sessions`] and [`AnalyticsStore::session_tree`].
//!
//! [`AnalyticsStore::sessions`]: heliport_store::AnalyticsStore::sessions
//! [`AnalyticsStore::session_tree`]: heliport_store::AnalyticsStore::session_tree

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use heliport_core::analytics::{SessionQuery, SessionSort};
use heliport_core::filter::{FilterNode, SortDirection};
use heliport_store::model::{SessionNode, SessionTree};
use maud::{html, Markup};

use super::auth::Viewer;
use super::chart::{self, WaterfallRow};
use super::format::{self, query};
use super::pages::{ListParams, PAGE, USERS_DEFAULT};
use super::{layout, Dash, PageError};

const SORTS: &[(&str, &str, SessionSort)] = &[
    ("last_active", "Last active", SessionSort::LastActive),
    ("created_at", "Started", SessionSort::CreatedAt),
    ("requests", "Requests", SessionSort::Requests),
    ("cost", "Cost", SessionSort::Cost),
    ("avg_latency", "Average latency", SessionSort::AvgLatency),
];

/// `GET /sessions?range=..&search=..&sort=..&offset=..`.
pub(crate) async fn list(
    State(state): State<Dash>,
    viewer: Viewer,
    Query(p): Query<ListParams>,
) -> Result<Response, PageError> {
    let resolved = p.resolve(USERS_DEFAULT)?;
    let sort = SORTS
        .iter()
        .find(|(k, _, _)| *k == p.sort)
        .map_or(SessionSort::LastActive, |(_, _, s)| *s);
    let q = SessionQuery {
        range: resolved.range,
        search: p.search(),
        name_equals: None,
        user_id: None,
        filter: FilterNode::All,
        sort: (sort, SortDirection::Desc),
        page: p.page(),
    };
    let mut sessions = state.api.analytics.sessions(&viewer.org_id, &q).await?;
    let more = sessions.len() as u64 > PAGE;
    sessions.truncate(PAGE as usize);
    let sorts: Vec<(&str, &str)> = SORTS.iter().map(|(k, l, _)| (*k, *l)).collect();
    let body = html! {
        h1 { "Sessions" }
        (p.form("/sessions", USERS_DEFAULT, "Id or name contains", &sorts))
        @if sessions.is_empty() { p.muted { "No sessions in this range (requests with Helicone-Session-Id)." } }
        @else {
            table {
                thead { tr {
                    th { "Session" } th { "Name" } th.num { "Requests" } th.num { "Cost" } th.num { "Tokens" }
                    th.num { "Avg latency" } th { "Users" } th { "Started (UTC)" } th { "Last request" }
                } }
                tbody { @for s in &sessions {
                    tr {
                        td.trunc { a href=(format!("/sessions/{}", format::url_encode(&s.session_id))) { (s.session_id) } }
                        td.trunc { (s.session_name.as_deref().unwrap_or("")) }
                        td.num { (format::int(s.sums.requests)) }
                        td.num { (format::cost(&s.sums)) }
                        td.num { (format::int(s.sums.total_tokens)) }
                        td.num { (format::avg_latency(&s.sums)) }
                        td.trunc { (s.user_ids.join(", ")) }
                        td.nowrap { (format::time(s.created_at)) }
                        td.nowrap { (format::time(s.latest_request_created_at)) }
                    }
                } }
            }
        }
        (p.pager("/sessions", sessions.len(), more))
    };
    Ok(layout::page(&viewer, "/sessions", "Sessions", body).into_response())
}

/// The tree as nested lists: each path with its totals, its requests, then
/// its children.
fn tree(node: &SessionNode) -> Markup {
    let duration = match (node.start, node.end) {
        (Some(s), Some(e)) => Some((e - s).num_milliseconds() as f64),
        _ => None,
    };
    html! {
        li {
            strong { code { (node.path) } }
            " " span.muted { (format::int(node.sums.requests)) " requests · " (format::cost(&node.sums)) " · " (format::ms(duration)) }
            @if !node.requests.is_empty() || !node.children.is_empty() {
                ul {
                    @for r in &node.requests {
                        li {
                            a href=(format!("/requests/{}", format::url_encode(&r.request_id))) { (r.model.as_deref().unwrap_or("request")) }
                            " " span.muted {
                                "+" (r.start_offset_ms) " ms · " (format::ms(r.latency_ms.map(|v| v as f64)))
                                " · " (format::row_cost(r.cost))
                                @if let Some(f) = &r.failure { " · " (f) }
                                @else if let Some(s) = r.status { " · " (s) }
                            }
                        }
                    }
                    @for c in &node.children { (tree(c)) }
                }
            }
        }
    }
}

/// Rows of the waterfall, depth first.
fn waterfall_rows(
    node: &SessionNode,
    t0: chrono::DateTime<Utc>,
    depth: usize,
    out: &mut Vec<WaterfallRow>,
) {
    if let (Some(s), Some(e)) = (node.start, node.end) {
        out.push(WaterfallRow {
            label: node.path.clone(),
            depth,
            start_ms: (s - t0).num_milliseconds() as f64,
            duration_ms: (e - s).num_milliseconds() as f64,
            node: true,
            failed: false,
            href: None,
            note: format!(
                "{} · {}",
                format::ms(Some((e - s).num_milliseconds() as f64)),
                format::cost(&node.sums)
            ),
        });
    }
    for r in &node.requests {
        out.push(WaterfallRow {
            label: r.model.clone().unwrap_or_else(|| r.request_id.clone()),
            depth: depth + 1,
            start_ms: r.start_offset_ms as f64,
            duration_ms: r.latency_ms.unwrap_or(0) as f64,
            node: false,
            failed: r.failure.is_some() || r.status.is_none_or(|s| s >= 400),
            href: Some(format!("/requests/{}", format::url_encode(&r.request_id))),
            note: format!(
                "{} · {}",
                format::ms(r.latency_ms.map(|v| v as f64)),
                format::row_cost(r.cost)
            ),
        });
    }
    for c in &node.children {
        waterfall_rows(c, t0, depth + 1, out);
    }
}

fn session_page(t: &SessionTree) -> Markup {
    let s = &t.session;
    let mut rows = Vec::new();
    waterfall_rows(&t.tree, s.created_at, 0, &mut rows);
    html! {
        h1 { "Session " code { (s.session_id) } }
        dl.fields {
            dt { "Name" } dd { (s.session_name.as_deref().unwrap_or("—")) }
            dt { "Requests" } dd { (format::int(s.sums.requests)) " · " a href=(format!("/requests{}", query([("range", "all"), ("session", s.session_id.as_str())]))) { "show in the requests table" } }
            dt { "Cost" } dd { (format::cost(&s.sums)) }
            dt { "Tokens" } dd { (format::int(s.sums.total_tokens)) }
            dt { "Users" } dd { (s.user_ids.join(", ")) }
            dt { "Started (UTC)" } dd { (format::time(s.created_at)) }
            dt { "Last request" } dd { (format::time(s.latest_request_created_at)) }
        }
        @if t.truncated { p.warn { "This session holds more requests than the tree shows." } }
        h2 { "Waterfall" }
        (chart::waterfall(&rows))
        h2 { "Tree by path" }
        div.tree { ul { (tree(&t.tree)) } }
    }
}

/// `GET /sessions/{id}`.
pub(crate) async fn one(
    State(state): State<Dash>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    match state
        .api
        .analytics
        .session_tree(&viewer.org_id, &id)
        .await?
    {
        Some(t) => {
            Ok(layout::page(&viewer, "/sessions", "Session", session_page(&t)).into_response())
        }
        None => Err(PageError::new(
            StatusCode::NOT_FOUND,
            format!("No session with id {id} in this organization."),
        )),
    }
}
