//! Secrets some providers accept in URLs (Gemini's `?key=`), kept out of
//! records and logs.

use std::borrow::Cow;

/// Query parameters whose values are credentials.
const SECRET_PARAMS: &[&str] = &[
    "key",
    "api_key",
    "api-key",
    "apikey",
    "access_token",
    "token",
    "sig",
    "signature",
    "subscription-key",
];

/// The URL or path with credential query values replaced by `REDACTED`, and
/// any `user:password@` dropped.
pub fn redact_query(url: &str) -> Cow<'_, str> {
    // Nearly every URL and path has neither userinfo nor a query: one byte
    // scan settles it (this runs twice a request).
    if !url.bytes().any(|b| b == b'@' || b == b'?') {
        return Cow::Borrowed(url);
    }
    match strip_userinfo(url) {
        Cow::Borrowed(u) => redact_params(u),
        Cow::Owned(u) => Cow::Owned(redact_params(&u).into_owned()),
    }
}

fn redact_params(url: &str) -> Cow<'_, str> {
    let Some((base, query)) = url.split_once('?') else {
        return Cow::Borrowed(url);
    };
    let is_secret = |pair: &str| {
        let name = pair.split('=').next().unwrap_or("");
        SECRET_PARAMS.iter().any(|s| name.eq_ignore_ascii_case(s))
    };
    if !query.split('&').any(is_secret) {
        return Cow::Borrowed(url);
    }
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| {
            if is_secret(pair) {
                let name = pair.split('=').next().unwrap_or("");
                format!("{name}=REDACTED")
            } else {
                pair.to_string()
            }
        })
        .collect();
    Cow::Owned(format!("{base}?{}", redacted.join("&")))
}

/// `scheme://user:pass@host/...` → `scheme://host/...` (`user:pass@host` → `host`).
fn strip_userinfo(url: &str) -> Cow<'_, str> {
    // A URL without a scheme (as a client may mistype it) can carry userinfo too.
    let auth_start = url.find("://").map_or(0, |i| i + 3);
    let auth_end = url[auth_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| auth_start + i);
    match url[auth_start..auth_end].rfind('@') {
        Some(at) => Cow::Owned(format!(
            "{}{}",
            &url[..auth_start],
            &url[auth_start + at + 1..]
        )),
        None => Cow::Borrowed(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_queries_are_redacted() {
        assert_eq!(
            redact_query("/v1beta/models/g:streamGenerateContent?alt=sse&key=AIzaSECRET"),
            "/v1beta/models/g:streamGenerateContent?alt=sse&key=REDACTED"
        );
        assert_eq!(
            redact_query("https://x/y?API_KEY=1&a=2"),
            "https://x/y?API_KEY=REDACTED&a=2"
        );
        assert!(matches!(
            redact_query("/v1/chat?api-version=2024"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(redact_query("/v1/chat"), Cow::Borrowed(_)));
        assert_eq!(
            redact_query("https://user:pw@proxy.example/v1?subscription-key=abc"),
            "https://proxy.example/v1?subscription-key=REDACTED"
        );
    }
}
