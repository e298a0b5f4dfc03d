//! The time range a page covers: last hour, day, week, month, or a custom
//! from–to (UTC), with the bucket width its chart uses.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use heliport_core::analytics::{Bucket, TimeRange};
use maud::{html, Markup};
use serde::Deserialize;

/// `?range=1h|24h|7d|30d|all|custom&from=...&to=...` (from/to as
/// `YYYY-MM-DDTHH:MM`, UTC, as a datetime-local input sends them).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct RangeParams {
    #[serde(default)]
    pub range: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
}

/// A resolved range.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Resolved {
    /// The range (closed on both sides).
    pub range: TimeRange,
    /// The chart's bucket width.
    pub bucket: Bucket,
}

const CHOICES: &[(&str, &str)] = &[
    ("1h", "Last hour"),
    ("24h", "Last day"),
    ("7d", "Last week"),
    ("30d", "Last month"),
    ("custom", "Custom"),
];

fn parse_local(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc())
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
}

impl RangeParams {
    /// The key of the chosen range (`24h` unless told).
    pub fn key(&self, default: &'static str) -> &str {
        match self.range.as_str() {
            "1h" | "24h" | "7d" | "30d" | "custom" | "all" => &self.range,
            _ => default,
        }
    }

    /// The range ending now (or the custom one), or a message on a bad
    /// custom range.
    pub fn resolve(&self, now: DateTime<Utc>, default: &'static str) -> Result<Resolved, String> {
        let (start, end) = match self.key(default) {
            "1h" => (now - Duration::hours(1), now),
            "7d" => (now - Duration::days(7), now),
            "30d" => (now - Duration::days(30), now),
            "custom" => {
                let start = parse_local(&self.from).ok_or_else(|| {
                    "From: give a time such as 2026-01-31T09:00 (UTC)".to_string()
                })?;
                let end = if self.to.trim().is_empty() {
                    now
                } else {
                    parse_local(&self.to).ok_or_else(|| {
                        "To: give a time such as 2026-01-31T18:00 (UTC)".to_string()
                    })?
                };
                if start >= end {
                    return Err("From must be before To".into());
                }
                if end - start > Duration::days(3660) {
                    return Err("A custom range covers at most ten years".into());
                }
                (start, end)
            }
            _ => (now - Duration::days(1), now),
        };
        let span = end - start;
        let bucket = if span <= Duration::hours(6) {
            Bucket::Minute
        } else if span <= Duration::days(8) {
            Bucket::Hour
        } else if span <= Duration::days(400) {
            Bucket::Day
        } else {
            Bucket::Week
        };
        Ok(Resolved {
            range: TimeRange {
                start: Some(start),
                end: Some(end),
            },
            bucket,
        })
    }

    /// The query-string pairs that carry this range to another page.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("range", self.range.as_str()),
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
        ]
    }

    /// The range's fields for a filter form.
    pub fn fields(&self, default: &'static str) -> Markup {
        let key = self.key(default);
        html! {
            label { "Range"
                select name="range" {
                    @for (k, label) in CHOICES {
                        option value=(k) selected[*k == key] { (label) }
                    }
                }
            }
            label { "From (UTC)" input type="datetime-local" name="from" value=(self.from); }
            label { "To (UTC)" input type="datetime-local" name="to" value=(self.to); }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve() {
        let now = Utc::now();
        let p = RangeParams::default();
        let r = p.resolve(now, "24h").unwrap();
        assert_eq!(r.range.end, Some(now));
        assert_eq!(r.bucket, Bucket::Hour);
        let p = RangeParams {
            range: "1h".into(),
            ..Default::default()
        };
        assert_eq!(p.resolve(now, "24h").unwrap().bucket, Bucket::Minute);
        let p = RangeParams {
            range: "custom".into(),
            from: "2026-01-01T00:00".into(),
            to: "2026-03-01".into(),
        };
        let r = p.resolve(now, "24h").unwrap();
        assert_eq!(r.bucket, Bucket::Day);
        let bad = RangeParams {
            range: "custom".into(),
            from: "yesterday".into(),
            to: String::new(),
        };
        assert!(bad.resolve(now, "24h").unwrap_err().contains("From"));
    }
}
