//! Which headers cross heliport, in each direction.

use http::header::{self, HeaderMap, HeaderName};

/// Hop-by-hop headers (RFC 9110 §7.6.1) never forwarded in either direction.
const HOP_BY_HOP: &[HeaderName] = &[
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Hop-by-hop too, without a constant in `http`.
const HOP_BY_HOP_UNNAMED: [HeaderName; 2] = [
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
];

fn is_hop_by_hop(name: &HeaderName, connection_listed: &[String]) -> bool {
    HOP_BY_HOP.contains(name)
        || HOP_BY_HOP_UNNAMED.contains(name)
        || connection_listed.iter().any(|c| c == name.as_str())
}

fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Whether a header set by the client (or by a fallback entry) may travel
/// upstream: never `Helicone-*`, hop-by-hop, `Host`, `Content-Length` (set
/// from the body sent) or `Accept-Encoding`.
pub fn forwardable(name: &HeaderName) -> bool {
    !(name.as_str().starts_with("helicone-")
        || is_hop_by_hop(name, &[])
        || name == header::HOST
        || name == header::CONTENT_LENGTH
        || name == header::ACCEPT_ENCODING)
}

/// Headers sent upstream: the client's, minus every `Helicone-*` header,
/// hop-by-hop headers, `Host` and `Content-Length` (set from the body sent) and
/// `Accept-Encoding` (heliport reads the answer for usage, so it asks for it
/// uncompressed; the client then receives it uncompressed too).
pub fn upstream_request_headers(incoming: &HeaderMap) -> HeaderMap {
    let listed = connection_listed(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len());
    for (name, value) in incoming {
        if !forwardable(name) || is_hop_by_hop(name, &listed) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// Headers returned to the client: the upstream's, minus hop-by-hop ones.
/// The upstream's map is kept and stripped in place: an answer seldom carries
/// a hop-by-hop header besides `Transfer-Encoding`, and a copy would clone
/// every name and value of every answer.
pub fn client_response_headers(mut upstream: HeaderMap) -> HeaderMap {
    // Read before `Connection` itself goes.
    for listed in connection_listed(&upstream) {
        upstream.remove(listed.as_str());
    }
    for name in HOP_BY_HOP.iter().chain(&HOP_BY_HOP_UNNAMED) {
        upstream.remove(name);
    }
    upstream
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn helicone_and_hop_by_hop_headers_are_stripped() {
        let mut h = HeaderMap::new();
        h.insert("helicone-auth", HeaderValue::from_static("Bearer k"));
        h.insert("helicone-property-x", HeaderValue::from_static("1"));
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer sk-provider"),
        );
        h.insert("x-api-key", HeaderValue::from_static("anthropic-key"));
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-custom-hop"),
        );
        h.insert("x-custom-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("host", HeaderValue::from_static("localhost"));
        h.insert("content-length", HeaderValue::from_static("10"));
        h.insert("accept-encoding", HeaderValue::from_static("gzip"));
        h.insert("content-type", HeaderValue::from_static("application/json"));
        let out = upstream_request_headers(&h);
        let names: Vec<_> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(out.contains_key("authorization"));
        assert!(out.contains_key("x-api-key"));
        assert!(out.contains_key("content-type"));
    }

    #[test]
    fn response_headers_pass_through() {
        let mut h = HeaderMap::new();
        h.insert("x-request-id", HeaderValue::from_static("abc"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert(
            "content-type",
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert("connection", HeaderValue::from_static("keep-alive, x-hop"));
        h.insert("x-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        let out = client_response_headers(h);
        let names: Vec<_> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-request-id", "content-type"]);
    }
}
