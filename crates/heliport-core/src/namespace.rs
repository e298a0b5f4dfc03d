//! heliport's own paths (SPEC §1): the REST API under `/v1/` and the async
//! log API. They are matched before the proxy, by prefix, on the normalised
//! path, so no spelling of them (`/v1//request/query`, `/v1/Request/query`,
//! `/v1/./request/x`, percent-encoded letters) ever reaches a provider with
//! the caller's heliport key.

use std::borrow::Cow;

/// Prefixes that belong to heliport, lowercase, matched by whole segments.
const RESERVED: &[&str] = &[
    "/v1/request",
    "/v1/user",
    "/v1/session",
    "/v1/property",
    "/v1/prompt",
    "/v1/feedback",
    "/custom/v1/log",
    "/oai/v1/log",
    "/anthropic/v1/log",
];

/// If `path` (without query) names heliport's own namespace, the canonical
/// spelling to route it by: percent-decoded, repeated slashes collapsed, dot
/// segments resolved and the reserved prefix lowercased. `None` for every
/// other path, which is proxied as it came.
pub fn reserved_path(path: &str) -> Option<String> {
    // Every proxied path passes here: a plain one (no escapes, no empty or
    // dot segments) is matched in place, allocating only when it matches.
    if is_plain(path) {
        let prefix = matched_prefix(path)?;
        let rest = path.get(prefix.len()..).unwrap_or_default();
        return Some(format!("{prefix}{}", rest.trim_end_matches('/')));
    }
    let normalized = normalize(path);
    let prefix = matched_prefix(&normalized)?;
    let rest = normalized.get(prefix.len()..).unwrap_or_default();
    Some(format!("{prefix}{rest}"))
}

/// Whether `path` (without query) names heliport's own namespace: what
/// `reserved_path` decides, without building the canonical spelling.
pub fn is_reserved(path: &str) -> bool {
    if is_plain(path) {
        return matched_prefix(path).is_some();
    }
    matched_prefix(&normalize(path)).is_some()
}

/// Whether heliport's own routes may answer `path` (without query): it is
/// reserved ([`is_reserved`]), or it starts with a reserved prefix as
/// written. `/v1/request/..` normalises out of the namespace, yet a route
/// such as `/v1/request/{id}` matches it as written, so the router decides
/// such a path, not the proxy.
pub fn routed_as_reserved(path: &str) -> bool {
    if is_plain(path) {
        return matched_prefix(path).is_some();
    }
    matched_prefix(path).is_some() || matched_prefix(&normalize(path)).is_some()
}

/// A path that normalising would not change (beyond a trailing slash): no
/// escapes, no empty segment but a trailing one, no dot segments. One pass
/// over the bytes, as every proxied path comes here.
fn is_plain(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let mut segment_start = 0;
    for (i, &c) in rest.as_bytes().iter().enumerate() {
        match c {
            b'%' => return false,
            b'/' => {
                let segment = rest.as_bytes().get(segment_start..i).unwrap_or_default();
                if matches!(segment, b"" | b"." | b"..") {
                    return false;
                }
                segment_start = i + 1;
            }
            _ => {}
        }
    }
    !matches!(rest.as_bytes().get(segment_start..), Some(b"." | b".."))
}

/// The reserved prefix `path` starts with, compared case-insensitively and by
/// whole segments.
fn matched_prefix(path: &str) -> Option<&'static str> {
    RESERVED.iter().copied().find(|p| {
        path.get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
            && matches!(path.as_bytes().get(p.len()), None | Some(b'/'))
    })
}

/// Decodes percent-escapes, collapses `//`, and resolves `.` and `..`
/// segments (never above the root), as a server that normalises would.
fn normalize(path: &str) -> String {
    let decoded: Cow<'_, str> = if path.contains('%') {
        Cow::Owned(percent_decode(path))
    } else {
        Cow::Borrowed(path)
    };
    let mut segments: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex);
            let lo = bytes.get(i + 2).copied().and_then(hex);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_written_under_a_reserved_prefix_are_routed_as_reserved() {
        for path in [
            "/v1/request/query",
            "/v1/request/..",
            "/V1/Request/../score",
            "/v1/prompt/%2e%2e",
            "/v1//request/query",
            "/custom/v1/log",
        ] {
            assert!(routed_as_reserved(path), "{path}");
        }
        assert!(!is_reserved("/v1/request/.."));
        for path in [
            "/v1/chat/completions",
            "/v1/requests",
            "/",
            "/healthz",
            "/v1/x/../y",
        ] {
            assert!(!routed_as_reserved(path), "{path}");
        }
    }

    #[test]
    fn every_spelling_of_the_rest_namespace_is_reserved() {
        for (path, canonical) in [
            ("/v1/request/query", "/v1/request/query"),
            ("/v1/request/query/", "/v1/request/query"),
            ("/v1/request", "/v1/request"),
            ("/v1/feedback/x", "/v1/feedback/x"),
            ("/v1/user/", "/v1/user"),
            ("/v1//request/query", "/v1/request/query"),
            ("//v1/request/query", "/v1/request/query"),
            ("/v1/Request/query", "/v1/request/query"),
            ("/V1/REQUEST/Query", "/v1/request/Query"),
            ("/v1/./request/query", "/v1/request/query"),
            ("/v1/x/../request/query", "/v1/request/query"),
            ("/v1/%72equest/query", "/v1/request/query"),
            ("/v1%2frequest/query", "/v1/request/query"),
            ("/custom/v1/log", "/custom/v1/log"),
            ("/anthropic/v1/log", "/anthropic/v1/log"),
            ("/oai/v1/log", "/oai/v1/log"),
            ("/v1/session/abc/../x", "/v1/session/x"),
            ("/v1/request/query/.", "/v1/request/query"),
            ("/x/../v1/user", "/v1/user"),
        ] {
            assert_eq!(reserved_path(path).as_deref(), Some(canonical), "{path}");
            assert!(is_reserved(path), "{path}");
        }
    }

    #[test]
    fn provider_paths_are_not_reserved() {
        for path in [
            "/v1/chat/completions",
            "/v1/requests",
            "/v1/users",
            "/v1/responses",
            "/anthropic/v1/messages",
            "/anthropic/v1/logs",
            "/v1/prompts",
            "/",
            "",
            "/v1/request-x",
            "/v1/chat/../../x",
            "/v1/request/..",
            "/v1/chat/completions/",
        ] {
            assert_eq!(reserved_path(path), None, "{path}");
            assert!(!is_reserved(path), "{path}");
        }
    }
}
