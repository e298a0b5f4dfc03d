//! Checks on URLs a client supplies, so an open target header cannot reach
//! heliport's own network (server-side request forgery).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Parse an absolute `http`/`https` URL with a host; `Err` explains what is accepted.
pub fn parse_http_url(url: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = url
        .trim()
        .parse()
        .map_err(|_| format!("'{}' is not a valid absolute URL", shorten(url)))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        Some(other) => {
            return Err(format!(
                "only http and https URLs are accepted, got scheme '{other}'"
            ))
        }
        None => {
            return Err(format!(
                "'{}' is not an absolute URL: start it with https://",
                shorten(url)
            ))
        }
    }
    match uri.host() {
        Some(h) if !h.is_empty() => Ok(uri),
        _ => Err(format!("'{}' has no host", shorten(url))),
    }
}

/// A client's URL as it may appear in an error: credentials redacted, cut short.
fn shorten(s: &str) -> String {
    crate::redact::redact_query(s).chars().take(100).collect()
}

/// The host of a URL as an IP address, when it is a literal one.
pub fn literal_ip(host: &str) -> Option<IpAddr> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.parse().ok()
}

/// Whether an address is loopback, private, link-local, metadata or otherwise
/// not a public internet address, which client-supplied targets must not reach.
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, cloud metadata 169.254.169.254 included
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64/10 shared space (Alibaba metadata 100.100.100.200)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0/24 IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18/15 benchmarking
        || o[0] >= 240 // reserved
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_forbidden_v4(v4);
    }
    let s = ip.segments();
    let v4_at =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    // Forms that carry an IPv4 address inside: judged by that address.
    let embedded = if s[0] == 0x64 && s[1] == 0xff9b {
        // NAT64: well-known 64:ff9b::/96 and local-use 64:ff9b:1::/48
        Some(v4_at(s[6], s[7]))
    } else if s[0] == 0x2002 {
        // 6to4
        Some(v4_at(s[1], s[2]))
    } else if s[0..6] == [0, 0, 0, 0, 0, 0] || s[0..6] == [0, 0, 0, 0, 0xffff, 0] {
        // IPv4-compatible ::a.b.c.d and IPv4-translated ::ffff:0:a.b.c.d
        Some(v4_at(s[6], s[7]))
    } else {
        None
    };
    if embedded.is_some_and(is_forbidden_v4) {
        return true;
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7 (AWS metadata fd00:ec2::254)
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // deprecated site-local
        || (s[0] == 0x100 && s[1..4] == [0, 0, 0]) // discard-only 100::/64
}

/// Operator-allowed URL prefixes that skip the address check (`gateway.allowed_targets`).
#[derive(Debug, Clone, Default)]
pub struct AllowedTargets {
    prefixes: Vec<String>,
}

impl AllowedTargets {
    pub fn new(prefixes: impl IntoIterator<Item = String>) -> Self {
        AllowedTargets {
            prefixes: prefixes
                .into_iter()
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
        }
    }

    /// Whether `url` is under an allowed prefix: the same scheme, host and
    /// port, and a path under the prefix's path by whole segments. A URL with
    /// dot segments (`..`, also percent-encoded) is never allowed, since the
    /// upstream would resolve it outside the prefix.
    pub fn allows(&self, url: &str) -> bool {
        if self.prefixes.is_empty() || has_dot_segment(url) {
            return false;
        }
        let Ok(u) = url.parse::<http::Uri>() else {
            return false;
        };
        self.prefixes.iter().any(|p| {
            let Ok(p) = p.parse::<http::Uri>() else {
                return false;
            };
            let same_origin = u.scheme_str().map(str::to_ascii_lowercase)
                == p.scheme_str().map(str::to_ascii_lowercase)
                && u.host().map(str::to_ascii_lowercase) == p.host().map(str::to_ascii_lowercase)
                && u.port_u16() == p.port_u16();
            let prefix_path = p.path().trim_end_matches('/');
            let path = u.path();
            same_origin
                && (prefix_path.is_empty()
                    || path == prefix_path
                    || path
                        .strip_prefix(prefix_path)
                        .is_some_and(|rest| rest.starts_with('/')))
        })
    }
}

fn has_dot_segment(url: &str) -> bool {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let lower = path
        .to_ascii_lowercase()
        .replace("%2e", ".")
        .replace("%2f", "/");
    lower.split('/').any(|seg| seg == ".." || seg == ".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(s: &str) -> bool {
        is_forbidden_ip(s.parse().unwrap())
    }

    #[test]
    fn private_and_special_ranges_are_forbidden() {
        for a in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.5.4",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.100.100.200",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "::ffff:0:7f00:1",
            "100::1",
            "::127.0.0.1",
        ] {
            assert!(forbidden(a), "{a} should be forbidden");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!forbidden(a), "{a} should be allowed");
        }
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(parse_http_url("https://api.openai.com/v1").is_ok());
        assert!(parse_http_url("http://[::1]:8080").is_ok());
        assert!(
            parse_http_url("file:///etc/passwd")
                .unwrap_err()
                .contains("scheme")
                || parse_http_url("file:///etc/passwd").is_err()
        );
        assert!(parse_http_url("gopher://x").unwrap_err().contains("gopher"));
        assert!(parse_http_url("api.openai.com").is_err());
        let e = parse_http_url("htp://user:hunter2@host/x?key=sekret").unwrap_err();
        assert!(!e.contains("hunter2") && !e.contains("sekret"), "{e}");
        let e = parse_http_url("user:hunter2@host:99999/x?api-key=sekret").unwrap_err();
        assert!(!e.contains("hunter2") && !e.contains("sekret"), "{e}");
        assert!(parse_http_url("").is_err());
    }

    #[test]
    fn literal_ips() {
        assert_eq!(literal_ip("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(literal_ip("10.0.0.1"), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(literal_ip("example.com"), None);
    }

    #[test]
    fn allowed_prefixes_respect_host_boundaries() {
        let a = AllowedTargets::new([
            "http://10.0.0.1".to_string(),
            "http://127.0.0.1:9000/v1/".to_string(),
        ]);
        assert!(a.allows("http://10.0.0.1"));
        assert!(a.allows("http://10.0.0.1/v1/chat"));
        assert!(!a.allows("http://10.0.0.10/v1/chat"));
        assert!(a.allows("http://127.0.0.1:9000/v1/chat"));
        assert!(!a.allows("http://127.0.0.1:9000/admin"));
    }
}
