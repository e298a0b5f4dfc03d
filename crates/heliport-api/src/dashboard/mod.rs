//! The web dashboard (served under `/`): sign-in with an API key, an
//! overview with charts, requests (table, detail, live tail), users,
//! sessions, properties, prompts and keys. Pages are rendered on the server
//! with maud (escaped by default: no text from a record is ever markup),
//! charts are SVG drawn here, and the only script is one small file served
//! from the binary.
//!
//! Every page reads through the same store traits as the REST API, scoped to
//! the organization of the key the browser signed in with.

mod assets;
mod auth;
mod chart;
mod chat;
mod diff;
mod format;
mod layout;
mod overview;
mod pages;
mod range;
mod request_detail;
mod requests_page;
mod session;
mod sessions_page;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::ApiState;

/// The sign-in sessions (bounded in bytes).
pub use session::SessionStore;

/// How the dashboard is set up.
#[derive(Debug, Clone)]
pub struct DashboardConfig {
    /// Mark the session cookie `Secure` (the listener serves TLS).
    pub secure_cookies: bool,
    /// Most bytes the sign-in sessions may take in memory.
    pub session_budget_bytes: usize,
    /// A session ends after this long without a page view.
    pub session_idle: Duration,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            secure_cookies: false,
            session_budget_bytes: 4 << 20,
            session_idle: Duration::from_secs(12 * 3600),
        }
    }
}

/// What the dashboard's handlers share.
#[derive(Clone)]
pub(crate) struct Dash {
    pub api: ApiState,
    pub sessions: Arc<SessionStore>,
    pub cfg: Arc<DashboardConfig>,
}

/// The first path segments the dashboard answers; everything else (and
/// anything the proxy routes, which the server checks first) is not its.
const SEGMENTS: &[&str] = &[
    "overview",
    "signin",
    "signout",
    "requests",
    "live",
    "users",
    "sessions",
    "properties",
    "prompts",
    "keys",
    "assets",
];

/// Whether `path` is one of the dashboard's. The server asks this only for
/// requests the proxy does not route (no routing Host, no
/// `Helicone-Target-URL`, not `/v1/*` or a provider prefix), so the
/// dashboard never shadows a proxied path.
pub fn owns_path(path: &str) -> bool {
    if path == "/" {
        return true;
    }
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let first = rest.split('/').next().unwrap_or_default();
    SEGMENTS.contains(&first)
}

/// The dashboard's routes.
pub fn router(api: ApiState, cfg: DashboardConfig) -> Router {
    let state = Dash {
        api,
        sessions: Arc::new(SessionStore::new(
            cfg.session_budget_bytes,
            cfg.session_idle,
        )),
        cfg: Arc::new(cfg),
    };
    Router::new()
        .route("/", get(overview::page))
        .route("/overview/breakdown", get(overview::breakdown_panel))
        .route("/signin", get(auth::signin_page).post(auth::signin))
        .route("/signout", post(auth::signout))
        .route("/requests", get(requests_page::page))
        .route("/requests/{id}", get(request_detail::page))
        .route("/live", get(requests_page::live))
        .route("/live/rows", get(requests_page::live_rows))
        .route("/users", get(pages::users))
        .route("/sessions", get(sessions_page::list))
        .route("/sessions/{id}", get(sessions_page::one))
        .route("/properties", get(pages::properties))
        .route("/properties/{name}", get(pages::property_values))
        .route("/prompts", get(pages::prompts))
        .route("/prompts/{id}", get(pages::prompt))
        .route("/keys", get(pages::keys))
        .route("/keys/create", post(pages::create_key))
        .route("/keys/revoke", post(pages::revoke_key))
        .route("/assets/{file}", get(assets::serve))
        .fallback(not_found)
        .with_state(state)
        .layer(axum::middleware::map_response(security_headers))
}

async fn not_found() -> Response {
    PageError::new(StatusCode::NOT_FOUND, "No such page.").into_response()
}

/// The Content-Security-Policy of every dashboard answer: scripts and
/// styles from heliport only, no inline script or style, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        // Pages hold an organization's data: never kept by a shared cache.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// A page that could not be shown: a status and a message, as HTML.
#[derive(Debug)]
pub(crate) struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    /// A page answering `status` with `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> PageError {
        PageError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = layout::bare(
            "Error",
            maud::html! {
                main.narrow {
                    h1 { (self.status.as_u16()) " " (self.status.canonical_reason().unwrap_or("")) }
                    p.error { (self.message) }
                    p { a href="/" { "Back to the overview" } }
                }
            },
        );
        (self.status, body).into_response()
    }
}

/// A store failure as a page: the client's mistakes in full, a slow store
/// as 503, anything else as a 500 whose details go to the log only.
impl From<heliport_store::StoreError> for PageError {
    fn from(e: heliport_store::StoreError) -> PageError {
        let api = crate::ApiError::from(e);
        PageError::new(api.0, api.1)
    }
}
