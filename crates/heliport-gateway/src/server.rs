//! The one listener's routes: health, metrics, the REST API (mounted by the
//! caller) and, for everything else, the proxy.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use heliport_core::error::{ErrorCode, ErrorStyle, GatewayError};
use heliport_core::redact::redact_query;
use http::{header, StatusCode};

use crate::state::GatewayState;

/// Renders the Prometheus exposition for `/metrics`.
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

/// The whole application: `api` (heliport's own REST routes) is matched
/// before the proxy fallback.
pub fn router(state: Arc<GatewayState>, api: Router, metrics: MetricsRender) -> Router {
    router_with_dashboard(state, api, None, metrics)
}

/// The web dashboard, answered only for what the proxy does not route.
#[derive(Clone)]
pub struct Dashboard {
    /// Its routes.
    pub router: Router,
    /// Whether a path is one of its pages.
    pub owns: fn(&str) -> bool,
}

/// [`router`] with the dashboard: a request the proxy routes (a routing
/// Host, `Helicone-Target-URL`, `/v1/*`, a provider prefix) always goes to
/// the proxy, so no dashboard page ever shadows a proxied path; the rest of
/// the dashboard's paths are its own.
pub fn router_with_dashboard(
    state: Arc<GatewayState>,
    api: Router,
    dashboard: Option<Dashboard>,
    metrics: MetricsRender,
) -> Router {
    let health = Router::new()
        .route("/healthcheck", get(healthcheck))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state.clone());
    let metrics_route = Router::new().route(
        "/metrics",
        get(move || {
            let m = metrics.clone();
            async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], m()) }
        }),
    );
    use crate::async_log::{self, Endpoint};
    let log = |endpoint: Endpoint| {
        post(move |s: State<Arc<GatewayState>>, req: Request| async_log::log(s, endpoint, req))
            .fallback(async_log::not_post)
    };
    let async_logs = Router::new()
        .route("/custom/v1/log", log(Endpoint::Custom))
        .route("/oai/v1/log", log(Endpoint::OpenAi))
        .route("/anthropic/v1/log", log(Endpoint::Anthropic))
        .with_state(state.clone());
    let proxy_fallback: Router = Router::new()
        .fallback(move |s: State<Arc<GatewayState>>, req: Request| proxy(s, dashboard.clone(), req))
        .with_state(state);
    Router::new()
        .merge(health)
        .merge(metrics_route)
        .merge(api)
        .merge(async_logs)
        .merge(proxy_fallback)
}

async fn proxy(
    State(state): State<Arc<GatewayState>>,
    dashboard: Option<Dashboard>,
    req: Request,
) -> Response<Body> {
    if heliport_core::namespace::is_reserved(req.uri().path()) {
        return rest_not_found(req.uri().path());
    }
    if let Some(d) = dashboard {
        if (d.owns)(req.uri().path()) && !proxied(&state, &req) {
            return match tower::ServiceExt::oneshot(d.router, req).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            };
        }
    }
    crate::pipeline::handle(state, req).await
}

/// Whether the proxy routes `req` (SPEC §1), by the same rules the
/// pipeline picks its upstream with.
fn proxied(state: &GatewayState, req: &Request) -> bool {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host());
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    heliport_core::provider::is_proxied(
        host,
        path,
        req.headers().contains_key("helicone-target-url"),
        &state.providers,
    )
}

/// A path in heliport's own namespace that no REST route matched: never
/// proxied, so a heliport key cannot reach a provider this way (SPEC §1).
fn rest_not_found(path: &str) -> Response<Body> {
    let e = GatewayError::new(
        ErrorCode::NotFound,
        format!(
            "{} is in heliport's REST namespace but names no endpoint",
            redact_query(path)
        ),
    );
    crate::pipeline::error_response(&e, ErrorStyle::Rest)
}

async fn healthcheck() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "healthy"}))
}

async fn healthz() -> impl IntoResponse {
    "ok"
}

async fn readyz(State(state): State<Arc<GatewayState>>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}")).into_response()
        }
    }
}
