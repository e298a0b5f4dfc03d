//! How numbers, costs, times and query strings are written on the pages.

use chrono::{DateTime, Utc};
use heliport_store::rollup::Sums;

/// An integer with thin separators between thousands.
pub fn int(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// USD from nano-USD, with enough decimals for cents of a cent.
pub fn usd_nano(nano: i64) -> String {
    let usd = nano as f64 / 1e9;
    if usd == 0.0 {
        "$0".into()
    } else if usd.abs() >= 100.0 {
        format!("${usd:.2}")
    } else if usd.abs() >= 0.01 {
        format!("${usd:.4}")
    } else {
        format!("${usd:.6}")
    }
}

/// The cost of a group: priced requests' total, and how many were unpriced
/// (an unpriced request is never shown as $0).
pub fn cost(sums: &Sums) -> String {
    let unpriced = sums.requests - sums.priced;
    match (sums.priced, unpriced) {
        (0, 0) => "—".into(),
        (0, u) => format!("unpriced ({})", int(u)),
        (_, 0) => usd_nano(sums.cost_nano_usd),
        (_, u) => format!("{} + {} unpriced", usd_nano(sums.cost_nano_usd), int(u)),
    }
}

/// A row's cost in USD (None: unpriced).
pub fn row_cost(cost: Option<f64>) -> String {
    match cost {
        Some(c) => usd_nano((c * 1e9).round() as i64),
        None => "unpriced".into(),
    }
}

/// Milliseconds, as ms or s.
pub fn ms(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v >= 10_000.0 => format!("{:.1} s", v / 1000.0),
        // Chart axes divide small values: keep a decimal below 10 ms.
        Some(v) if v < 10.0 && v.fract() != 0.0 => format!("{v:.1} ms"),
        Some(v) => format!("{} ms", v.round() as i64),
    }
}

/// The average latency of a group's requests.
pub fn avg_latency(sums: &Sums) -> String {
    ms((sums.latency_count > 0).then(|| sums.latency_ms_sum as f64 / sums.latency_count as f64))
}

/// A ratio as a percentage.
pub fn pct(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return "—".into();
    }
    let p = part as f64 * 100.0 / whole as f64;
    if p > 0.0 && p < 0.1 {
        "<0.1%".into()
    } else {
        format!("{p:.1}%")
    }
}

/// A time in UTC, to the second.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// An RFC 3339 time from a record, shown as [`time`] (as given when it
/// does not parse).
pub fn time_str(s: &str) -> String {
    DateTime::parse_from_rfc3339(s)
        .map(|t| time(t.with_timezone(&Utc)))
        .unwrap_or_else(|_| s.to_string())
}

/// Percent-encodes a query-string component.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A query string from pairs, leaving out empty values.
pub fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let parts: Vec<String> = pairs
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_costs_and_urls() {
        assert_eq!(int(1234567), "1,234,567");
        assert_eq!(int(-1000), "-1,000");
        assert_eq!(int(12), "12");
        let mut s = Sums {
            requests: 3,
            ..Sums::default()
        };
        assert_eq!(cost(&s), "unpriced (3)");
        s.priced = 2;
        s.cost_nano_usd = 1_500_000_000;
        assert_eq!(cost(&s), "$1.5000 + 1 unpriced");
        assert_eq!(row_cost(None), "unpriced");
        assert_eq!(pct(1, 4), "25.0%");
        assert_eq!(ms(Some(12.4)), "12 ms");
        assert_eq!(url_encode("a b&<c>"), "a%20b%26%3Cc%3E");
        assert_eq!(query([("a", "1"), ("b", ""), ("c", "x y")]), "?a=1&c=x%20y");
    }
}
