//! Per-request behaviour switches carried in `x-mock-*` request headers.

use std::borrow::Cow;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, StatusCode};

use crate::text::numbered_words;

/// Reply used when neither `x-mock-reply` nor `x-mock-words` is given.
pub const DEFAULT_REPLY: &str = "Hello from the heliport mock.";

/// Upper bound for `x-mock-words`; streams are pre-built in memory.
const MAX_WORDS: usize = 100_000;

/// Parsed `x-mock-*` headers of one request.
#[derive(Debug)]
pub struct Controls {
    pub reply: Cow<'static, str>,
    pub usage: bool,
    pub status: Option<StatusCode>,
    pub retry_after: Option<HeaderValue>,
    pub fail: Option<Fail>,
    pub delay: Option<Duration>,
    pub chunk_delay: Option<Duration>,
    pub break_after: Option<usize>,
    /// How long the body stays open after its last event (real providers end
    /// the body a moment after `[DONE]`: an HTTP/2 END_STREAM or the last empty chunk).
    pub end_delay: Option<Duration>,
    /// Re-cut the stream into frames of this many bytes, splitting events anywhere.
    pub chunk_bytes: Option<usize>,
    pub model: Option<String>,
    pub cache_read: u64,
    pub cache_write: u64,
    /// A JSON object sent verbatim as the answer's usage.
    pub usage_json: Option<String>,
    pub service_tier: Option<String>,
}

/// `x-mock-fail-count` / `x-mock-fail-id` / `x-mock-fail-status`.
#[derive(Debug)]
pub struct Fail {
    pub id: String,
    pub count: u64,
    pub status: StatusCode,
}

impl Controls {
    /// Parse the controls in `headers`.
    ///
    /// A malformed value or an unknown `x-mock-*` name is an error rather than
    /// being ignored: a typo in a test header would otherwise make the test
    /// silently exercise the default behaviour.
    pub fn parse(headers: &HeaderMap) -> Result<Self, String> {
        let mut c = Controls {
            reply: Cow::Borrowed(DEFAULT_REPLY),
            usage: true,
            status: None,
            retry_after: None,
            fail: None,
            delay: None,
            chunk_delay: None,
            break_after: None,
            end_delay: None,
            chunk_bytes: None,
            model: None,
            cache_read: 0,
            cache_write: 0,
            usage_json: None,
            service_tier: None,
        };
        let mut reply: Option<String> = None;
        let mut words: Option<usize> = None;
        let mut fail_count: Option<u64> = None;
        let mut fail_id = String::new();
        let mut fail_status = StatusCode::SERVICE_UNAVAILABLE;

        // One pass over the headers with a cheap prefix test keeps requests
        // without controls (the benchmark) from doing a dozen map lookups.
        for (name, value) in headers {
            let Some(key) = name.as_str().strip_prefix("x-mock-") else {
                continue;
            };
            let text = || String::from_utf8_lossy(value.as_bytes()).into_owned();
            match key {
                "reply" => reply = Some(text()),
                "words" => words = Some(number::<usize>(name.as_str(), value)?.min(MAX_WORDS)),
                "usage" => c.usage = boolean(name.as_str(), value)?,
                "status" => c.status = Some(status(name.as_str(), value)?),
                "retry-after" => c.retry_after = Some(value.clone()),
                "fail-count" => fail_count = Some(number(name.as_str(), value)?),
                "fail-id" => fail_id = text(),
                "fail-status" => fail_status = status(name.as_str(), value)?,
                "delay-ms" => c.delay = Some(millis(name.as_str(), value)?),
                "chunk-delay-ms" => c.chunk_delay = Some(millis(name.as_str(), value)?),
                "break-after" => c.break_after = Some(number(name.as_str(), value)?),
                "end-delay-ms" => c.end_delay = Some(millis(name.as_str(), value)?),
                "chunk-bytes" => {
                    c.chunk_bytes = Some(number::<usize>(name.as_str(), value)?.max(1))
                }
                "model" => c.model = Some(text()),
                "cache-read" => c.cache_read = number(name.as_str(), value)?,
                "cache-write" => c.cache_write = number(name.as_str(), value)?,
                "usage-json" => c.usage_json = Some(json_object(name.as_str(), value)?),
                "service-tier" => c.service_tier = Some(text()),
                _ => return Err(format!("unknown mock control header `{name}`")),
            }
        }
        if let Some(r) = reply {
            c.reply = Cow::Owned(r);
        } else if let Some(n) = words {
            c.reply = Cow::Owned(numbered_words(n));
        }
        if let Some(count) = fail_count {
            c.fail = Some(Fail {
                id: fail_id,
                count,
                status: fail_status,
            });
        }
        Ok(c)
    }
}

fn number<T: std::str::FromStr>(name: &str, value: &HeaderValue) -> Result<T, String> {
    value
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| format!("`{name}` must be a non-negative integer"))
}

fn json_object(name: &str, value: &HeaderValue) -> Result<String, String> {
    value
        .to_str()
        .ok()
        .filter(|s| matches!(serde_json::from_str(s), Ok(serde_json::Value::Object(_))))
        .map(|s| s.trim().to_owned())
        .ok_or_else(|| format!("`{name}` must be a JSON object"))
}

fn millis(name: &str, value: &HeaderValue) -> Result<Duration, String> {
    number(name, value).map(Duration::from_millis)
}

fn status(name: &str, value: &HeaderValue) -> Result<StatusCode, String> {
    let code: u16 = number(name, value)?;
    StatusCode::from_u16(code).map_err(|_| format!("`{name}` must be an HTTP status code"))
}

fn boolean(name: &str, value: &HeaderValue) -> Result<bool, String> {
    match value
        .to_str()
        .map(|s| s.trim().to_ascii_lowercase())
        .as_deref()
    {
        Ok("true" | "1" | "yes" | "on") => Ok(true),
        Ok("false" | "0" | "no" | "off") => Ok(false),
        _ => Err(format!("`{name}` must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn defaults_without_controls() {
        let c = Controls::parse(&headers(&[("content-type", "application/json")])).unwrap();
        assert_eq!(c.reply, DEFAULT_REPLY);
        assert!(c.usage);
        assert!(c.status.is_none() && c.fail.is_none() && c.break_after.is_none());
    }

    #[test]
    fn parses_every_control() {
        let c = Controls::parse(&headers(&[
            ("x-mock-words", "3"),
            ("x-mock-usage", "false"),
            ("x-mock-status", "429"),
            ("x-mock-retry-after", "7"),
            ("x-mock-fail-count", "2"),
            ("x-mock-fail-id", "abc"),
            ("x-mock-fail-status", "500"),
            ("x-mock-delay-ms", "5"),
            ("x-mock-chunk-delay-ms", "6"),
            ("x-mock-break-after", "4"),
            ("x-mock-end-delay-ms", "250"),
            ("x-mock-chunk-bytes", "3"),
            ("x-mock-model", "m"),
            ("x-mock-cache-read", "8"),
            ("x-mock-cache-write", "9"),
            ("x-mock-usage-json", r#"{"prompt_tokens": 1}"#),
            ("x-mock-service-tier", "flex"),
        ]))
        .unwrap();
        assert_eq!(c.reply, "word1 word2 word3");
        assert!(!c.usage);
        assert_eq!(c.status, Some(StatusCode::TOO_MANY_REQUESTS));
        assert_eq!(c.retry_after.unwrap(), "7");
        let fail = c.fail.unwrap();
        assert_eq!(
            (fail.id.as_str(), fail.count, fail.status.as_u16()),
            ("abc", 2, 500)
        );
        assert_eq!(c.delay, Some(Duration::from_millis(5)));
        assert_eq!(c.chunk_delay, Some(Duration::from_millis(6)));
        assert_eq!(c.break_after, Some(4));
        assert_eq!(c.end_delay, Some(Duration::from_millis(250)));
        assert_eq!(c.chunk_bytes, Some(3));
        assert_eq!(c.model.as_deref(), Some("m"));
        assert_eq!((c.cache_read, c.cache_write), (8, 9));
        assert_eq!(c.usage_json.as_deref(), Some(r#"{"prompt_tokens": 1}"#));
        assert_eq!(c.service_tier.as_deref(), Some("flex"));
    }

    #[test]
    fn reply_wins_over_words() {
        let c =
            Controls::parse(&headers(&[("x-mock-words", "3"), ("x-mock-reply", "hi")])).unwrap();
        assert_eq!(c.reply, "hi");
    }

    #[test]
    fn rejects_bad_values_and_unknown_controls() {
        assert!(Controls::parse(&headers(&[("x-mock-status", "abc")])).is_err());
        assert!(Controls::parse(&headers(&[("x-mock-usage", "maybe")])).is_err());
        assert!(Controls::parse(&headers(&[("x-mock-delay", "5")])).is_err());
        assert!(Controls::parse(&headers(&[("x-mock-usage-json", "[1]")])).is_err());
        assert!(Controls::parse(&headers(&[("x-mock-usage-json", "{")])).is_err());
    }
}
