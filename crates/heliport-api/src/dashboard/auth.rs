//! Signing in and out, and who is looking: the [`Viewer`] extractor finds
//! the browser's session and re-checks its key on every page, so a revoked
//! key or a signed-out session sees the sign-in page again.

use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;

use super::session::{same_secret, set_cookie, token_from_cookies};
use super::{layout, Dash, PageError};

/// The signed-in browser: its organization and what its key may do.
#[derive(Clone)]
pub(crate) struct Viewer {
    /// The organization every page is scoped to.
    pub org_id: String,
    /// Whether the key may write (the keys page).
    pub can_write: bool,
    /// The session's CSRF token, for forms.
    pub csrf: String,
    /// The key's shown prefix.
    pub key_prefix: String,
    /// The key's name.
    pub key_name: String,
    token: String,
}

impl Viewer {
    /// Refuses a POST that came from another site or lacks this session's
    /// CSRF token.
    pub fn check_post(&self, headers: &HeaderMap, csrf: &str) -> Result<(), PageError> {
        if !same_origin(headers) || !same_secret(csrf, &self.csrf) {
            return Err(PageError::new(
                StatusCode::FORBIDDEN,
                "This form was not sent from this dashboard page (cross-site request refused). Reload the page and try again.",
            ));
        }
        Ok(())
    }
}

/// Whether a POST comes from a page of this site: browsers say so in
/// `Sec-Fetch-Site`, or in `Origin`, which must name the host it was sent
/// to. A client sending neither is not a browser a cross-site page can
/// drive, and still needs the session's CSRF token.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.to_str(), Ok("same-origin") | Ok("none"));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

impl FromRequestParts<Dash> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Dash) -> Result<Viewer, Response> {
        let to_signin = || {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let target = if next == "/" {
                "/signin".to_string()
            } else {
                format!("/signin{}", super::format::query([("next", next)]))
            };
            Redirect::to(&target).into_response()
        };
        let Some(token) = token_from_cookies(&parts.headers) else {
            return Err(to_signin());
        };
        let Some(session) = state.sessions.get(&token) else {
            return Err(to_signin());
        };
        let grant = match state.api.keys.authenticate(&session.key).await {
            Some(g) if g.permissions.read => g,
            _ => {
                state.sessions.remove(&token);
                return Err(to_signin());
            }
        };
        Ok(Viewer {
            org_id: grant.org_id,
            can_write: grant.permissions.write,
            csrf: session.csrf,
            key_prefix: session.key_prefix,
            key_name: session.key_name,
            token,
        })
    }
}

/// `?next=` of the sign-in page.
#[derive(Deserialize, Default)]
pub(crate) struct NextParam {
    #[serde(default)]
    next: String,
}

/// Where to go after signing in: a path of this site only.
fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") {
        next
    } else {
        "/"
    }
}

fn signin_form(next: &str, error: Option<&str>) -> maud::Markup {
    layout::bare(
        "Sign in",
        html! {
            main.narrow.signin {
                h1 { "heliport" }
                p.muted { "Sign in with an API key that has read permission (r or rw)." }
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form method="post" action="/signin" {
                    input type="hidden" name="next" value=(safe_next(next));
                    label for="key" { "API key" }
                    input #key type="password" name="key" autocomplete="current-password" required autofocus;
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

/// `GET /signin`.
pub(crate) async fn signin_page(Query(q): Query<NextParam>) -> Response {
    signin_form(&q.next, None).into_response()
}

/// The sign-in form.
#[derive(Deserialize)]
pub(crate) struct SigninForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    next: String,
}

/// `POST /signin`: checks the key like the REST API does, then starts a
/// session.
pub(crate) async fn signin(
    State(state): State<Dash>,
    headers: HeaderMap,
    Form(form): Form<SigninForm>,
) -> Response {
    if !same_origin(&headers) {
        return PageError::new(StatusCode::FORBIDDEN, "cross-site sign-in refused").into_response();
    }
    let key = form.key.trim();
    let grant = match state.api.keys.authenticate(key).await {
        Some(g) => g,
        None => {
            let page = signin_form(&form.next, Some("That key is unknown or revoked."));
            return (StatusCode::UNAUTHORIZED, page).into_response();
        }
    };
    if !grant.permissions.read {
        let page = signin_form(
            &form.next,
            Some("That key cannot read: use a key with r or rw permission."),
        );
        return (StatusCode::FORBIDDEN, page).into_response();
    }
    let (prefix, name) = match state.api.meta.list_keys().await {
        Ok(keys) => keys
            .into_iter()
            .find(|k| k.id == grant.key_id)
            .map(|k| (k.prefix, k.name))
            .unwrap_or_default(),
        Err(e) => return PageError::from(e).into_response(),
    };
    let token = state.sessions.create(key.to_string(), prefix, name);
    let cookie = set_cookie(
        Some(&token),
        state.cfg.secure_cookies,
        state.cfg.session_idle,
    );
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to(safe_next(&form.next)),
    )
        .into_response()
}

/// A form that carries only the CSRF token.
#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// `POST /signout`: ends the session on the server and clears the cookie.
pub(crate) async fn signout(
    State(state): State<Dash>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    viewer.check_post(&headers, &form.csrf)?;
    state.sessions.remove(&viewer.token);
    let cookie = set_cookie(None, state.cfg.secure_cookies, state.cfg.session_idle);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/signin")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_next() {
        let mut h = HeaderMap::new();
        assert!(same_origin(&h));
        h.insert(header::HOST, "localhost:8787".parse().unwrap());
        h.insert(header::ORIGIN, "http://localhost:8787".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(!same_origin(&h));
        h.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert!(same_origin(&h));
        assert_eq!(safe_next("//evil.example"), "/");
        assert_eq!(safe_next("https://evil"), "/");
        assert_eq!(safe_next("/requests?x=1"), "/requests?x=1");
    }
}
