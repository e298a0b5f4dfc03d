//! The overview (`/`): totals for a range, charts over time, and
//! breakdowns by model, provider, user and a chosen property, all from the
//! rollups (through [`AnalyticsStore::metrics`]).
//!
//! [`AnalyticsStore::metrics`]: heliport_store::AnalyticsStore::metrics

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use heliport_core::analytics::{
    Bucket, Dimension, MetricsQuery, Page, PropertyQuery, PropertySort,
};
use heliport_core::filter::{FilterNode, SortDirection};
use heliport_store::model::{BreakdownRow, Metrics};
use maud::{html, Markup};
use serde::Deserialize;

use super::auth::Viewer;
use super::chart::{self, BarPoint};
use super::format::{self, query};
use super::range::RangeParams;
use super::{layout, Dash, PageError};

/// `/?range=..&from=..&to=..&property=..`.
#[derive(Deserialize, Default)]
pub(crate) struct OverviewParams {
    #[serde(flatten)]
    range: RangeParams,
    #[serde(default)]
    property: String,
}

fn metrics_query(range: heliport_core::analytics::TimeRange) -> MetricsQuery {
    MetricsQuery {
        range,
        filter: FilterNode::All,
        series: None,
        breakdown: None,
        breakdown_limit: 10,
        tz_offset_minutes: 0,
    }
}

/// `GET /`.
pub(crate) async fn page(
    State(state): State<Dash>,
    viewer: Viewer,
    Query(p): Query<OverviewParams>,
) -> Result<Response, PageError> {
    let resolved = match p.range.resolve(Utc::now(), "24h") {
        Ok(r) => r,
        Err(e) => {
            return Ok((
                axum::http::StatusCode::BAD_REQUEST,
                layout::page(
                    &viewer,
                    "/",
                    "Overview",
                    html! { h1 { "Overview" } (form(&p, &[])) p.error { (e) } },
                ),
            )
                .into_response())
        }
    };
    let org = viewer.org_id.as_str();
    let a = &state.api.analytics;
    let props_q = PropertyQuery {
        range: resolved.range,
        search: None,
        sort: (PropertySort::Requests, SortDirection::Desc),
        page: Page {
            offset: 0,
            limit: 100,
        },
    };
    let props = a.property_names(org, &props_q).await?;
    let property = if p.property.is_empty() {
        props.first().map(|s| s.property.clone())
    } else {
        Some(p.property.to_lowercase())
    };
    let main_q = MetricsQuery {
        series: Some(resolved.bucket),
        ..metrics_query(resolved.range)
    };
    let by = |d: Dimension| MetricsQuery {
        breakdown: Some(d),
        ..metrics_query(resolved.range)
    };
    let (model_q, provider_q) = (by(Dimension::Model), by(Dimension::Provider));
    let (main, models, providers) = tokio::join!(
        a.metrics(org, &main_q),
        a.metrics(org, &model_q),
        a.metrics(org, &provider_q),
    );
    let (main, models, providers) = (main?, models?, providers?);
    let prop_names: Vec<String> = props.iter().map(|s| s.property.clone()).collect();
    let link = |extra: Vec<(&str, String)>| requests_link(&p.range, extra);
    // The breakdowns by user and by property read the per-user and
    // per-value rollups, the slowest of the overview's reads: their panels
    // load on their own (the script fetches them), so the page does not
    // wait for them.
    let panel = |by: &str| {
        let mut pairs = p.range.pairs();
        pairs.push(("by", by));
        if let Some(name) = &property {
            pairs.push(("property", name.as_str()));
        }
        format!("/overview/breakdown{}", query(pairs))
    };
    let body = html! {
        h1 { "Overview" }
        (form(&p, &prop_names))
        (cards(&main))
        (charts(&main, resolved.bucket))
        div.grid2 {
            (breakdown("By model", "Model", &models, &|k| link(vec![("model", k.to_string())])))
            (breakdown("By provider", "Provider", &providers, &|k| link(vec![("provider", k.to_string())])))
            (lazy_panel("By user", "by-user", &panel("user")))
            @if let Some(name) = &property {
                (lazy_panel(&format!("By property {name}"), "by-property", &panel("property")))
            } @else {
                section { h2 { "By property" } p.muted { "No request in this range carries a custom property (Helicone-Property-*)." } }
            }
        }
    };
    Ok(layout::page(&viewer, "/", "Overview", body).into_response())
}

/// The requests page for the overview's range and `extra` filters.
fn requests_link(range: &RangeParams, extra: Vec<(&str, String)>) -> String {
    let mut pairs: Vec<(&str, &str)> = range.pairs();
    for (k, v) in &extra {
        pairs.push((*k, v.as_str()));
    }
    format!("/requests{}", query(pairs))
}

/// A panel the script fills from `src`; without script, a link to it.
fn lazy_panel(title: &str, id: &str, src: &str) -> Markup {
    html! {
        section #(id) data-src=(src) aria-live="polite" {
            h2 { (title) }
            p.muted.loading { "Loading…" }
            noscript { p { a href=(src) { "Show " (title.to_lowercase()) } } }
        }
    }
}

/// `/overview/breakdown?by=user|property&property=..&range=..`.
#[derive(Deserialize, Default)]
pub(crate) struct PanelParams {
    #[serde(flatten)]
    range: RangeParams,
    #[serde(default)]
    by: String,
    #[serde(default)]
    property: String,
    /// Set by the script: only the panel, not a whole page.
    #[serde(default)]
    fragment: String,
}

/// `GET /overview/breakdown`: the overview's breakdown by user or by one
/// property, as a panel (for the script) or a page.
pub(crate) async fn breakdown_panel(
    State(state): State<Dash>,
    viewer: Viewer,
    Query(p): Query<PanelParams>,
) -> Result<Response, PageError> {
    let resolved = p
        .range
        .resolve(Utc::now(), "24h")
        .map_err(|e| PageError::new(axum::http::StatusCode::BAD_REQUEST, e))?;
    let name = p.property.trim().to_lowercase();
    let (dimension, title, dim) = match p.by.as_str() {
        "user" => (Dimension::User, "By user".to_string(), "User".to_string()),
        "property" if !name.is_empty() => (
            Dimension::Property(name.clone()),
            format!("By property {name}"),
            name.clone(),
        ),
        _ => {
            return Err(PageError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "by: give user, or property with a property name",
            ))
        }
    };
    let q = MetricsQuery {
        breakdown: Some(dimension),
        ..metrics_query(resolved.range)
    };
    let m = state.api.analytics.metrics(&viewer.org_id, &q).await?;
    let link = |k: &str| match p.by.as_str() {
        "user" => requests_link(&p.range, vec![("user", k.to_string())]),
        _ => requests_link(
            &p.range,
            vec![("prop_name", name.clone()), ("prop_value", k.to_string())],
        ),
    };
    let panel = breakdown(&title, &dim, &m, &link);
    if p.fragment == "1" {
        return Ok(panel.into_response());
    }
    let back = format!("/{}", query(p.range.pairs()));
    let body = html! { p { a href=(back) { "← Overview" } } (panel) };
    Ok(layout::page(&viewer, "/", &title, body).into_response())
}

fn form(p: &OverviewParams, props: &[String]) -> Markup {
    html! {
        form.filters method="get" action="/" {
            (p.range.fields("24h"))
            @if !props.is_empty() {
                label { "Property breakdown"
                    select name="property" {
                        @for name in props {
                            option value=(name) selected[*name == p.property.to_lowercase()] { (name) }
                        }
                    }
                }
            }
            button type="submit" { "Show" }
        }
    }
}

fn card(label: &str, value: String, sub: Option<String>) -> Markup {
    html! {
        div.card {
            div.label { (label) }
            div.value { (value) }
            @if let Some(s) = sub { div.sub { (s) } }
        }
    }
}

fn cards(m: &Metrics) -> Markup {
    let s = &m.overview.sums;
    let p = &m.overview.percentiles;
    let unpriced = s.requests - s.priced;
    html! {
        div.cards {
            (card("Requests", format::int(s.requests), Some(format!("{} streamed", format::int(s.streams)))))
            (card("Cost", format::cost(s), (unpriced > 0).then(|| format!("{} unpriced requests, not counted", format::int(unpriced)))))
            (card("Tokens", format::int(s.total_tokens), Some(format!("{} in · {} out", format::int(s.prompt_tokens), format::int(s.completion_tokens)))))
            (card("Latency p50 / p95", format!("{} / {}", format::ms(p.latency_p50_ms), format::ms(p.latency_p95_ms)), None))
            (card("Time to first token", format!("{} / {}", format::ms(p.ttft_p50_ms), format::ms(p.ttft_p95_ms)), Some("p50 / p95 of streams".into())))
            (card("Error rate", format::pct(s.errors, s.requests), Some(format!("{} errors · {} rate limited", format::int(s.errors), format::int(s.rate_limited)))))
            (card("Cache hit rate", format::pct(s.cache_hits, s.requests), Some(format!("{} hits", format::int(s.cache_hits)))))
            (card("Cache savings", format::usd_nano(s.cache_saved_nano_usd), None))
            (card("Unpriced requests", format::int(unpriced), Some("no price known for the model".into())))
        }
    }
}

fn bucket_label(t: chrono::DateTime<Utc>, bucket: Bucket) -> String {
    match bucket {
        Bucket::Minute | Bucket::Hour => t.format("%m-%d %H:%M").to_string(),
        Bucket::Day | Bucket::Week => t.format("%Y-%m-%d").to_string(),
    }
}

fn charts(m: &Metrics, bucket: Bucket) -> Markup {
    let series = m.series.as_deref().unwrap_or(&[]);
    let labels: Vec<String> = series
        .iter()
        .map(|p| bucket_label(p.start, bucket))
        .collect();
    let requests: Vec<BarPoint> = series
        .iter()
        .zip(&labels)
        .map(|(p, l)| BarPoint {
            label: l.clone(),
            value: p.sums.requests as f64,
            part: p.sums.errors as f64,
        })
        .collect();
    let cost: Vec<BarPoint> = series
        .iter()
        .zip(&labels)
        .map(|(p, l)| BarPoint {
            label: l.clone(),
            value: p.sums.cost_nano_usd as f64 / 1e9,
            part: 0.0,
        })
        .collect();
    let tokens: Vec<BarPoint> = series
        .iter()
        .zip(&labels)
        .map(|(p, l)| BarPoint {
            label: l.clone(),
            value: p.sums.total_tokens as f64,
            part: 0.0,
        })
        .collect();
    let p50: Vec<Option<f64>> = series
        .iter()
        .map(|p| p.percentiles.latency_p50_ms)
        .collect();
    let p95: Vec<Option<f64>> = series
        .iter()
        .map(|p| p.percentiles.latency_p95_ms)
        .collect();
    // Axis steps of a small count are halves (2.5): shown as they are.
    let count = |v: f64| {
        if v.fract() == 0.0 {
            format::int(v as i64)
        } else {
            format!("{v:.1}")
        }
    };
    let usd = |v: f64| format::usd_nano((v * 1e9).round() as i64);
    let ms = |v: f64| format::ms(Some(v));
    html! {
        div.grid2 {
            section {
                h2 { "Requests" }
                (chart::legend(&[("k1", "requests"), ("k3", "errors")]))
                (chart::bars("Requests over time", &requests, &count))
            }
            section {
                h2 { "Cost" }
                p.legend { "priced requests only" }
                (chart::bars("Cost over time", &cost, &usd))
            }
            section {
                h2 { "Latency" }
                (chart::legend(&[("k1", "p50"), ("k2", "p95")]))
                (chart::lines("Latency p50 and p95 over time", &labels, &[("", p50), ("alt", p95)], &ms))
            }
            section {
                h2 { "Tokens" }
                p.legend { "prompt + completion" }
                (chart::bars("Tokens over time", &tokens, &count))
            }
        }
    }
}

/// A breakdown table; `link` gives the requests page for a group.
pub(crate) fn breakdown(
    title: &str,
    dim: &str,
    m: &Metrics,
    link: &dyn Fn(&str) -> String,
) -> Markup {
    let rows: &[BreakdownRow] = m.breakdown.as_deref().unwrap_or(&[]);
    let total = m.overview.sums.requests as f64;
    let with_p = rows.iter().any(|r| r.percentiles.is_some());
    html! {
        section {
            h2 { (title) }
            @if rows.is_empty() {
                p.muted { "No requests in this range." }
            } @else {
                table {
                    thead { tr {
                        th { (dim) } th.num { "Requests" } th {} th.num { "Cost" } th.num { "Tokens" } th.num { "Errors" }
                        @if with_p { th.num { "p50" } th.num { "p95" } }
                    } }
                    tbody {
                        @for r in rows {
                            tr {
                                td.trunc {
                                    @match &r.key {
                                        Some(k) => a href=(link(k)) { (k) },
                                        None => span.muted { "(none)" },
                                    }
                                }
                                td.num { (format::int(r.sums.requests)) }
                                td { (chart::share(r.sums.requests as f64, total)) }
                                td.num { (format::cost(&r.sums)) }
                                td.num { (format::int(r.sums.total_tokens)) }
                                td.num { (format::pct(r.sums.errors, r.sums.requests)) }
                                @if with_p {
                                    td.num { (format::ms(r.percentiles.and_then(|p| p.latency_p50_ms))) }
                                    td.num { (format::ms(r.percentiles.and_then(|p| p.latency_p95_ms))) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
