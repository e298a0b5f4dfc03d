//! The list pages: users, properties (names, then one property's values),
//! prompts (versions side by side with a diff) and keys (create, list,
//! revoke; write permission only).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::Utc;
use heliport_core::analytics::{
    Page, PromptQuery, PropertyQuery, PropertySort, UserQuery, UserSort,
};
use heliport_core::filter::SortDirection;
use heliport_store::keys::Permissions;
use heliport_store::model::{PromptVersion, PropertyStats};
use maud::{html, Markup};
use serde::Deserialize;

use super::auth::Viewer;
use super::diff::{self, Line};
use super::format::{self, query};
use super::range::{RangeParams, Resolved};
use super::{layout, Dash, PageError};

/// The users and sessions lists' range unless told.
pub(crate) const USERS_DEFAULT: &str = "7d";

/// Rows of a list page.
pub(crate) const PAGE: u64 = 50;

/// A list page's parameters: range, search, sort and page.
#[derive(Deserialize, Default)]
pub(crate) struct ListParams {
    #[serde(flatten)]
    range: RangeParams,
    #[serde(default)]
    search: String,
    /// The sort's key (each page lists its own).
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    offset: u64,
}

impl ListParams {
    /// The range (`default` unless told).
    pub fn resolve(&self, default: &'static str) -> Result<Resolved, PageError> {
        self.range
            .resolve(Utc::now(), default)
            .map_err(|e| PageError::new(StatusCode::BAD_REQUEST, e))
    }

    /// The search text, if any.
    pub fn search(&self) -> Option<String> {
        Some(self.search.trim().to_string()).filter(|s| !s.is_empty())
    }

    /// The page asked for, one row longer to tell whether another follows.
    pub fn page(&self) -> Page {
        Page {
            offset: self.offset,
            limit: PAGE + 1,
        }
    }

    /// Links to the previous and next pages.
    pub fn pager(&self, path: &str, shown: usize, more: bool) -> Markup {
        let mut pairs = self.range.pairs();
        pairs.extend([
            ("search", self.search.as_str()),
            ("sort", self.sort.as_str()),
        ]);
        let link = |offset: u64| {
            let o = offset.to_string();
            let mut q = pairs.clone();
            q.push(("offset", o.as_str()));
            format!("{path}{}", query(q))
        };
        html! {
            nav.pager aria-label="Pages" {
                @if self.offset > 0 { a href=(link(self.offset.saturating_sub(PAGE))) rel="prev" { "← Previous" } }
                span.muted { "Rows " (self.offset + 1) "–" (self.offset + shown as u64) }
                @if more { a href=(link(self.offset + PAGE)) rel="next" { "Next →" } }
            }
        }
    }

    /// The range, search and sort form.
    pub fn form(
        &self,
        action: &str,
        default: &'static str,
        search_label: &str,
        sorts: &[(&str, &str)],
    ) -> Markup {
        html! {
            form.filters method="get" action=(action) {
                (self.range.fields(default))
                label { (search_label) input name="search" value=(self.search); }
                label { "Sort by" select name="sort" {
                    @for (k, label) in sorts { option value=(k) selected[*k == self.sort] { (label) } }
                } }
                button type="submit" { "Show" }
            }
        }
    }
}

/// `GET /users`.
pub(crate) async fn users(
    State(state): State<Dash>,
    viewer: Viewer,
    Query(p): Query<ListParams>,
) -> Result<Response, PageError> {
    // The last week unless told: the per-user rollup of a month is the
    // slowest read of the list pages.
    let resolved = p.resolve(USERS_DEFAULT)?;
    const SORTS: &[(&str, &str, UserSort)] = &[
        ("last_active", "Last active", UserSort::LastActive),
        ("requests", "Requests", UserSort::Requests),
        ("cost", "Cost", UserSort::Cost),
        ("total_tokens", "Tokens", UserSort::TotalTokens),
        ("first_active", "First active", UserSort::FirstActive),
    ];
    let sort = SORTS
        .iter()
        .find(|(k, _, _)| *k == p.sort)
        .map_or(UserSort::LastActive, |(_, _, s)| *s);
    let q = UserQuery {
        user_ids: None,
        range: resolved.range,
        search: p.search(),
        sort: (sort, SortDirection::Desc),
        page: p.page(),
    };
    let mut users = state.api.analytics.users(&viewer.org_id, &q).await?;
    let more = users.len() as u64 > PAGE;
    users.truncate(PAGE as usize);
    let sorts: Vec<(&str, &str)> = SORTS.iter().map(|(k, l, _)| (*k, *l)).collect();
    let body = html! {
        h1 { "Users" }
        (p.form("/users", USERS_DEFAULT, "User id contains", &sorts))
        @if users.is_empty() { p.muted { "No users in this range (requests with Helicone-User-Id)." } }
        @else {
            table {
                thead { tr {
                    th { "User" } th.num { "Requests" } th.num { "Cost" } th.num { "Tokens" } th.num { "Errors" }
                    th.num { "Avg latency" } th { "First request (UTC)" } th { "Last request" }
                } }
                tbody { @for u in &users {
                    tr {
                        td.trunc { a href=(format!("/requests{}", query([("range", "all"), ("user", u.user_id.as_str())]))) { (u.user_id) } }
                        td.num { (format::int(u.sums.requests)) }
                        td.num { (format::cost(&u.sums)) }
                        td.num { (format::int(u.sums.total_tokens)) }
                        td.num { (format::pct(u.sums.errors, u.sums.requests)) }
                        td.num { (format::avg_latency(&u.sums)) }
                        td.nowrap { (format::time(u.first_active)) }
                        td.nowrap { (format::time(u.last_active)) }
                    }
                } }
            }
        }
        (p.pager("/users", users.len(), more))
    };
    Ok(layout::page(&viewer, "/users", "Users", body).into_response())
}

const PROPERTY_SORTS: &[(&str, &str, PropertySort)] = &[
    ("requests", "Requests", PropertySort::Requests),
    ("cost", "Cost", PropertySort::Cost),
    ("name", "Name", PropertySort::Name),
];

fn property_query(p: &ListParams) -> Result<PropertyQuery, PageError> {
    let resolved = p.resolve("30d")?;
    let sort = PROPERTY_SORTS
        .iter()
        .find(|(k, _, _)| *k == p.sort)
        .map_or(PropertySort::Requests, |(_, _, s)| *s);
    let dir = if sort == PropertySort::Name {
        SortDirection::Asc
    } else {
        SortDirection::Desc
    };
    Ok(PropertyQuery {
        range: resolved.range,
        search: p.search(),
        sort: (sort, dir),
        page: p.page(),
    })
}

fn property_table(
    rows: &[PropertyStats],
    head: &str,
    link: &dyn Fn(&PropertyStats) -> String,
) -> Markup {
    let total: i64 = rows.iter().map(|r| r.sums.requests).sum();
    html! {
        table {
            thead { tr { th { (head) } th.num { "Requests" } th {} th.num { "Cost" } th.num { "Tokens" } th.num { "Errors" } } }
            tbody { @for r in rows {
                tr {
                    td.trunc { a href=(link(r)) { (r.value.as_deref().unwrap_or(&r.property)) } }
                    td.num { (format::int(r.sums.requests)) }
                    td { (super::chart::share(r.sums.requests as f64, total as f64)) }
                    td.num { (format::cost(&r.sums)) }
                    td.num { (format::int(r.sums.total_tokens)) }
                    td.num { (format::pct(r.sums.errors, r.sums.requests)) }
                }
            } }
        }
    }
}

/// `GET /properties`: property names with the totals of their requests.
pub(crate) async fn properties(
    State(state): State<Dash>,
    viewer: Viewer,
    Query(p): Query<ListParams>,
) -> Result<Response, PageError> {
    let q = property_query(&p)?;
    let mut rows = state
        .api
        .analytics
        .property_names(&viewer.org_id, &q)
        .await?;
    let more = rows.len() as u64 > PAGE;
    rows.truncate(PAGE as usize);
    let sorts: Vec<(&str, &str)> = PROPERTY_SORTS.iter().map(|(k, l, _)| (*k, *l)).collect();
    let range = p.range.pairs();
    let body = html! {
        h1 { "Properties" }
        (p.form("/properties", "30d", "Name contains", &sorts))
        @if rows.is_empty() { p.muted { "No custom properties in this range (Helicone-Property-* headers)." } }
        @else {
            (property_table(&rows, "Property", &|r| format!("/properties/{}{}", format::url_encode(&r.property), query(range.clone()))))
        }
        (p.pager("/properties", rows.len(), more))
    };
    Ok(layout::page(&viewer, "/properties", "Properties", body).into_response())
}

/// `GET /properties/{name}`: one property's values.
pub(crate) async fn property_values(
    State(state): State<Dash>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(p): Query<ListParams>,
) -> Result<Response, PageError> {
    let q = property_query(&p)?;
    let name = name.to_lowercase();
    let mut rows = state
        .api
        .analytics
        .property_values(&viewer.org_id, &name, &q)
        .await?;
    let more = rows.len() as u64 > PAGE;
    rows.truncate(PAGE as usize);
    let sorts: Vec<(&str, &str)> = PROPERTY_SORTS.iter().map(|(k, l, _)| (*k, *l)).collect();
    let range = p.range.pairs();
    let path = format!("/properties/{}", format::url_encode(&name));
    let body = html! {
        h1 { "Property " code { (name) } }
        p { a href="/properties" { "← All properties" } }
        (p.form(&path, "30d", "Value contains", &sorts))
        @if rows.is_empty() { p.muted { "No values in this range." } }
        @else {
            (property_table(&rows, "Value", &|r| {
                let mut pairs = range.clone();
                pairs.push(("prop_name", name.as_str()));
                pairs.push(("prop_value", r.value.as_deref().unwrap_or_default()));
                format!("/requests{}", query(pairs))
            }))
        }
        (p.pager(&path, rows.len(), more))
    };
    Ok(layout::page(&viewer, "/properties", "Property", body).into_response())
}

/// `GET /prompts`.
pub(crate) async fn prompts(
    State(state): State<Dash>,
    viewer: Viewer,
    Query(p): Query<ListParams>,
) -> Result<Response, PageError> {
    let q = PromptQuery {
        search: p.search(),
        page: p.page(),
    };
    let mut rows = state.api.meta.prompts(&viewer.org_id, &q).await?;
    let more = rows.len() as u64 > PAGE;
    rows.truncate(PAGE as usize);
    let body = html! {
        h1 { "Prompts" }
        form.filters method="get" action="/prompts" {
            label { "Prompt id contains" input name="search" value=(p.search); }
            button type="submit" { "Show" }
        }
        @if rows.is_empty() { p.muted { "No prompts yet (requests with Helicone-Prompt-Id)." } }
        @else {
            table {
                thead { tr { th { "Prompt" } th.num { "Versions" } th.num { "Latest" } th { "First seen (UTC)" } th { "Last new version" } } }
                tbody { @for r in &rows {
                    tr {
                        td { a href=(format!("/prompts/{}", format::url_encode(&r.prompt_id))) { (r.prompt_id) } }
                        td.num { (r.versions) }
                        td.num { "v" (r.latest_version) }
                        td.nowrap { (format::time(r.created_at)) }
                        td.nowrap { (format::time(r.updated_at)) }
                    }
                } }
            }
        }
        (p.pager("/prompts", rows.len(), more))
    };
    Ok(layout::page(&viewer, "/prompts", "Prompts", body).into_response())
}

/// `/prompts/{id}?a=<version>&b=<version>`.
#[derive(Deserialize, Default)]
pub(crate) struct VersionPair {
    #[serde(default)]
    a: Option<i64>,
    #[serde(default)]
    b: Option<i64>,
}

fn template_text(v: &PromptVersion) -> String {
    match &v.template {
        serde_json::Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

/// `GET /prompts/{id}`: versions with their use, two of them side by side.
pub(crate) async fn prompt(
    State(state): State<Dash>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(pair): Query<VersionPair>,
) -> Result<Response, PageError> {
    let (versions, stats) = tokio::join!(
        state.api.meta.prompt_versions(&viewer.org_id, &id, None),
        state.api.analytics.prompt_stats(&viewer.org_id, &id)
    );
    let (mut versions, stats) = (versions?, stats?);
    if versions.is_empty() {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            format!("No prompt with id {id} in this organization."),
        ));
    }
    versions.sort_by_key(|v| v.version);
    let latest = versions.last().map_or(1, |v| v.version);
    let b = pair.b.unwrap_or(latest);
    let a = pair.a.unwrap_or_else(|| (b - 1).max(1));
    let find = |n: i64| versions.iter().find(|v| v.version == n);
    let (va, vb) = (find(a), find(b));
    let (ta, tb) = (
        va.map(template_text).unwrap_or_default(),
        vb.map(template_text).unwrap_or_default(),
    );
    let lines = diff::lines(&ta, &tb);
    let body = html! {
        h1 { "Prompt " code { (id) } }
        p { a href="/prompts" { "← All prompts" } }
        h2 { "Versions" }
        table {
            thead { tr { th { "Version" } th { "First seen (UTC)" } th.num { "Requests" } th.num { "Cost" } th { "Last used" } } }
            tbody { @for v in versions.iter().rev() {
                @let s = stats.iter().find(|s| s.version == v.version);
                tr {
                    td { "v" (v.version) }
                    td.nowrap { (format::time(v.created_at)) }
                    td.num { (s.map_or(0, |s| s.sums.requests)) }
                    td.num { (s.map(|s| format::cost(&s.sums)).unwrap_or_else(|| "—".into())) }
                    td.nowrap { (s.and_then(|s| s.last_used).map(format::time).unwrap_or_default()) }
                }
            } }
        }
        h2 { "Compare" }
        form.filters method="get" action=(format!("/prompts/{}", format::url_encode(&id))) {
            label { "Old" select name="a" { @for v in &versions { option value=(v.version) selected[v.version == a] { "v" (v.version) } } } }
            label { "New" select name="b" { @for v in &versions { option value=(v.version) selected[v.version == b] { "v" (v.version) } } } }
            button type="submit" { "Compare" }
        }
        div.split {
            section { h3 { "v" (a) } pre { (ta) } }
            section { h3 { "v" (b) } pre { (tb) } }
        }
        h3 { "Diff v" (a) " → v" (b) }
        table.diff aria-label="Line diff" {
            tbody { @for l in &lines {
                @match l {
                    Line::Same(t) => tr { td { " " } td { (t) } },
                    Line::Removed(t) => tr.del { td { "−" } td { (t) } },
                    Line::Added(t) => tr.add { td { "+" } td { (t) } },
                }
            } }
        }
    };
    Ok(layout::page(&viewer, "/prompts", "Prompt", body).into_response())
}

fn require_write(viewer: &Viewer) -> Result<(), PageError> {
    if viewer.can_write {
        Ok(())
    } else {
        Err(PageError::new(
            StatusCode::FORBIDDEN,
            "The keys page needs a key with write permission (w or rw); sign in with one.",
        ))
    }
}

async fn keys_page(
    state: &Dash,
    viewer: &Viewer,
    new_key: Option<(String, String)>,
    message: Option<String>,
) -> Result<Response, PageError> {
    let mut keys = state.api.meta.list_keys().await?;
    keys.retain(|k| k.org_id == viewer.org_id);
    let body = html! {
        h1 { "API keys" }
        @if let Some((name, key)) = &new_key {
            div.newkey role="status" {
                p { strong { "New key " (name) ":" } " copy it now; it is not shown again." }
                div.actions { code #newkey { (key) } button type="button" data-copy="newkey" hidden { "Copy" } }
            }
        }
        @if let Some(m) = &message { p.error role="alert" { (m) } }
        h2 { "Create a key" }
        form.filters method="post" action="/keys/create" {
            input type="hidden" name="csrf" value=(viewer.csrf);
            label { "Name" input name="name" required maxlength="100"; }
            label { "Permissions" select name="permissions" {
                option value="rw" { "rw: proxy, read and write" }
                option value="r" { "r: read (REST, dashboard)" }
                option value="w" { "w: proxy and REST writes" }
            } }
            button type="submit" { "Create" }
        }
        h2 { "Keys" }
        table {
            thead { tr { th { "Name" } th { "Prefix" } th { "Permissions" } th { "Created (UTC)" } th { "Last used" } th { "State" } th {} } }
            tbody { @for k in &keys {
                tr {
                    td { (k.name) }
                    td { code { (k.prefix) "…" } }
                    td { (k.permissions.as_str()) }
                    td.nowrap { (format::time(k.created_at)) }
                    td.nowrap { (k.last_used_at.map(format::time).unwrap_or_else(|| "never".into())) }
                    td { @if let Some(t) = k.revoked_at { span.badge.bad { "revoked " (format::time(t)) } } @else { span.badge.good { "active" } } }
                    td {
                        @if k.revoked_at.is_none() {
                            form method="post" action="/keys/revoke" {
                                input type="hidden" name="csrf" value=(viewer.csrf);
                                input type="hidden" name="id" value=(k.id);
                                button.danger type="submit" aria-label=(format!("Revoke key {}", k.name)) { "Revoke" }
                            }
                        }
                    }
                }
            } }
        }
    };
    let status = if message.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((status, layout::page(viewer, "/keys", "Keys", body)).into_response())
}

/// `GET /keys`.
pub(crate) async fn keys(State(state): State<Dash>, viewer: Viewer) -> Result<Response, PageError> {
    require_write(&viewer)?;
    keys_page(&state, &viewer, None, None).await
}

/// The create-key form.
#[derive(Deserialize)]
pub(crate) struct CreateKey {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    permissions: String,
}

/// `POST /keys/create`: the new key is shown once, in this answer.
pub(crate) async fn create_key(
    State(state): State<Dash>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(f): Form<CreateKey>,
) -> Result<Response, PageError> {
    require_write(&viewer)?;
    viewer.check_post(&headers, &f.csrf)?;
    let name = f.name.trim();
    if name.is_empty() || name.len() > 100 {
        return keys_page(
            &state,
            &viewer,
            None,
            Some("Give the key a name of at most 100 characters.".into()),
        )
        .await;
    }
    let perms = match Permissions::parse(&f.permissions) {
        Ok(p) => p,
        Err(e) => return keys_page(&state, &viewer, None, Some(e.to_string())).await,
    };
    let (info, key) = state
        .api
        .meta
        .create_key(&viewer.org_id, name, perms)
        .await?;
    keys_page(&state, &viewer, Some((info.name, key)), None).await
}

/// The revoke form.
#[derive(Deserialize)]
pub(crate) struct RevokeKey {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
}

/// `POST /keys/revoke`: only a key of the viewer's organization.
pub(crate) async fn revoke_key(
    State(state): State<Dash>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(f): Form<RevokeKey>,
) -> Result<Response, PageError> {
    require_write(&viewer)?;
    viewer.check_post(&headers, &f.csrf)?;
    let keys = state.api.meta.list_keys().await?;
    let Some(key) = keys
        .iter()
        .find(|k| k.id == f.id && k.org_id == viewer.org_id && k.revoked_at.is_none())
    else {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            "No such active key in this organization.",
        ));
    };
    state.api.meta.revoke_key(&key.id).await?;
    // The revocation takes effect now, not at the next periodic reload.
    if let Err(e) = state.api.keys.refresh().await {
        tracing::warn!(error = %e, "cannot reload keys after a revocation");
    }
    Ok(Redirect::to("/keys").into_response())
}
