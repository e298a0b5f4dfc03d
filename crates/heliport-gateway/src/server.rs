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

/// What the listener serves: heliport's own routes, and the proxy that
/// everything else goes to.
///
/// A proxied request skips the router: it would only fall through every
/// route to the proxy fallback, and the router's matching, boxed services and
/// path parameters cost about 7,000 instructions a request (bench/PROFILE.md,
/// section 17). The router still has the proxy as its fallback, so a path
/// [`App::answer`] sends to it is proxied as before.
#[derive(Clone)]
pub struct App {
    router: Router,
    state: Arc<GatewayState>,
    dashboard: Option<Dashboard>,
}

/// Paths outside heliport's reserved namespace that the router answers
/// itself; every other route of [`router_with_dashboard`] is under a reserved
/// prefix (`namespace::routed_as_reserved`).
const OWN_PATHS: [&str; 4] = ["/healthcheck", "/healthz", "/readyz", "/metrics"];

impl App {
    /// Answers one request: heliport's own paths through the router (by
    /// their canonical spelling, so `/v1//request/query` reaches the same
    /// endpoint as `/v1/request/query`), every other path through the proxy.
    pub async fn answer(&self, req: Request) -> Response<Body> {
        let path = req.uri().path();
        if OWN_PATHS.contains(&path) || heliport_core::namespace::routed_as_reserved(path) {
            let req = canonical_rest_path(req);
            return match tower::ServiceExt::oneshot(self.router.clone(), req).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            };
        }
        let method = req.method().clone();
        let mut resp = proxy_unreserved(self.state.clone(), self.dashboard.clone(), req).await;
        finish_as_router(&method, &mut resp);
        resp
    }
}

/// What axum's router does to each response it gives (`RouteFuture` in
/// axum's `routing/route.rs`), done here for the proxied ones that skip it:
/// hyper's HTTP/2 server neither sets `Content-Length` once the listener has
/// wrapped the body nor empties the body of an answer to `HEAD`.
fn finish_as_router(method: &http::Method, resp: &mut Response<Body>) {
    use http_body::Body as _;
    if *method == http::Method::CONNECT && resp.status().is_success() {
        // RFC 9110: no body and no length in a successful answer to CONNECT.
        if resp.headers().contains_key(header::CONTENT_LENGTH)
            || resp.headers().contains_key(header::TRANSFER_ENCODING)
            || resp.body().size_hint().lower() != 0
        {
            *resp.body_mut() = Body::empty();
        }
        return;
    }
    if !resp.headers().contains_key(header::CONTENT_LENGTH) {
        if let Some(size) = resp.body().size_hint().exact() {
            resp.headers_mut()
                .insert(header::CONTENT_LENGTH, http::HeaderValue::from(size));
        }
    }
    if *method == http::Method::HEAD {
        *resp.body_mut() = Body::empty();
    }
}

/// `req` with its path in heliport's namespace rewritten to the canonical
/// spelling the routes are written in.
fn canonical_rest_path(mut req: Request) -> Request {
    let Some(canonical) = heliport_core::namespace::reserved_path(req.uri().path()) else {
        return req;
    };
    if canonical == req.uri().path() {
        return req;
    }
    let pq = match req.uri().query() {
        Some(q) => format!("{canonical}?{q}"),
        None => canonical,
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = pq.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// The whole application: `api` (heliport's own REST routes) is matched
/// before the proxy.
pub fn router(state: Arc<GatewayState>, api: Router, metrics: MetricsRender) -> App {
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
) -> App {
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
    let fallback_dashboard = dashboard.clone();
    let proxy_fallback: Router = Router::new()
        .fallback(move |s: State<Arc<GatewayState>>, req: Request| {
            proxy(s, fallback_dashboard.clone(), req)
        })
        .with_state(state.clone());
    let router = Router::new()
        .merge(health)
        .merge(metrics_route)
        .merge(api)
        .merge(async_logs)
        .merge(proxy_fallback);
    App {
        router,
        state,
        dashboard,
    }
}

async fn proxy(
    State(state): State<Arc<GatewayState>>,
    dashboard: Option<Dashboard>,
    req: Request,
) -> Response<Body> {
    if heliport_core::namespace::is_reserved(req.uri().path()) {
        return rest_not_found(req.uri().path());
    }
    proxy_unreserved(state, dashboard, req).await
}

/// The proxy, for a path outside heliport's namespace: the dashboard's pages
/// that the proxy does not route, the pipeline for everything else.
async fn proxy_unreserved(
    state: Arc<GatewayState>,
    dashboard: Option<Dashboard>,
    req: Request,
) -> Response<Body> {
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
