//! Every `Helicone-*` request header, parsed once into one typed value.
//!
//! Parsing is pure and precise: a malformed value is an [`OptionError`] naming the
//! header, what was wrong and what is accepted. Later stages never touch raw headers.

use http::HeaderMap;
use secrecy::SecretString;
use uuid::Uuid;

/// A malformed `Helicone-*` header (answered as a 400 `invalid_header`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{header}: {message}")]
pub struct OptionError {
    /// The header as users write it, e.g. `Helicone-Retry-Num`.
    pub header: String,
    pub message: String,
}

/// An error about `header`, named as users write it (`helicone-user-id` →
/// `Helicone-User-Id`), only when there is an error to report.
fn err(header: &str, message: impl Into<String>) -> OptionError {
    OptionError {
        header: display_name(header),
        message: message.into(),
    }
}

/// Session placement of a request (`Helicone-Session-*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    pub id: Option<String>,
    /// Normalised to start with `/`.
    pub path: Option<String>,
    pub name: Option<String>,
}

/// `Helicone-Cache-*` and the request's `Cache-Control`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheOptions {
    pub enabled: bool,
    pub ttl_secs: u64,
    pub bucket_max_size: u8,
    pub seed: Option<String>,
    pub ignore_keys: Vec<String>,
}

pub const CACHE_DEFAULT_TTL_SECS: u64 = 7 * 24 * 3600;
pub const CACHE_MAX_TTL_SECS: u64 = 365 * 24 * 3600;

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            enabled: false,
            ttl_secs: CACHE_DEFAULT_TTL_SECS,
            bucket_max_size: 1,
            seed: None,
            ignore_keys: Vec::new(),
        }
    }
}

/// `Helicone-Retry-*` (SPEC §3.1).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryOptions {
    pub enabled: bool,
    /// Retries after the first attempt.
    pub num: u32,
    pub factor: f64,
    pub min_timeout_ms: u64,
    pub max_timeout_ms: u64,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            enabled: false,
            num: 3,
            factor: 2.0,
            min_timeout_ms: 1000,
            max_timeout_ms: 10_000,
        }
    }
}

/// One `onCodes` entry of a fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeMatch {
    One(u16),
    Range(u16, u16),
}

impl CodeMatch {
    pub fn matches(&self, status: u16) -> bool {
        match *self {
            CodeMatch::One(c) => c == status,
            CodeMatch::Range(a, b) => (a..=b).contains(&status),
        }
    }
}

/// One entry of `Helicone-Fallbacks` (SPEC §3.2).
#[derive(Debug, Clone)]
pub struct FallbackEntry {
    pub target_url: String,
    /// Set over the client's headers for this entry; values often carry a
    /// provider key, so they never print.
    pub headers: Vec<(String, SecretString)>,
    pub on_codes: Vec<CodeMatch>,
    pub body_key_override: Option<serde_json::Map<String, serde_json::Value>>,
}

/// What a rate limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitUnit {
    Request,
    Cents,
}

/// Who shares one rate-limit bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateLimitSegment {
    Organization,
    User,
    Property(String),
}

/// `Helicone-RateLimit-Policy` (SPEC §3.3).
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitPolicy {
    pub quota: f64,
    pub window_secs: u64,
    pub unit: RateLimitUnit,
    pub segment: RateLimitSegment,
}

impl RateLimitPolicy {
    /// The quota as `Helicone-RateLimit-Limit` shows it.
    pub fn quota_text(&self) -> String {
        format_quota(self.quota)
    }

    /// The policy as echoed in `Helicone-RateLimit-Policy`.
    pub fn normalized(&self) -> String {
        let mut s = format!("{};w={}", format_quota(self.quota), self.window_secs);
        s.push_str(match self.unit {
            RateLimitUnit::Request => ";u=request",
            RateLimitUnit::Cents => ";u=cents",
        });
        match &self.segment {
            RateLimitSegment::Organization => {}
            RateLimitSegment::User => s.push_str(";s=user"),
            RateLimitSegment::Property(p) => {
                s.push_str(";s=");
                s.push_str(p);
            }
        }
        s
    }
}

fn format_quota(q: f64) -> String {
    if q.fract() == 0.0 && q < 1e15 {
        format!("{}", q as u64)
    } else {
        format!("{q}")
    }
}

/// `Helicone-Posthog-*`.
#[derive(Debug, Clone)]
pub struct PosthogOptions {
    /// Never stored or logged.
    pub key: SecretString,
    pub host: String,
}

/// Every `Helicone-*` header of one request, typed.
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// The raw `Helicone-Auth` value; the auth stage validates it.
    pub auth: Option<SecretString>,
    pub target_url: Option<String>,
    pub openai_api_base: Option<String>,
    pub request_id: Option<Uuid>,
    pub model_override: Option<String>,
    pub prompt_id: Option<String>,
    /// `(name, value)`, names lowercased, in header order.
    pub properties: Vec<(String, String)>,
    pub user_id: Option<String>,
    pub session: Session,
    pub fallbacks: Option<Vec<FallbackEntry>>,
    pub rate_limit: Option<RateLimitPolicy>,
    pub cache: CacheOptions,
    pub retry: RetryOptions,
    pub omit_request: bool,
    pub omit_response: bool,
    pub moderations_enabled: bool,
    pub llm_security_enabled: bool,
    pub stream_force_format: bool,
    pub posthog: Option<PosthogOptions>,
}

const PROPERTY_PREFIX: &str = "helicone-property-";
const MAX_RETRIES: u32 = 10;
/// Longest wait between two retries: a request must not sleep for hours.
const MAX_RETRY_TIMEOUT_MS: u64 = 600_000;
/// Entries of `Helicone-Fallbacks` (each one is an upstream attempt).
const MAX_FALLBACKS: usize = 10;
const MAX_BUCKET: u8 = 20;
const MAX_WINDOW_SECS: u64 = 31_536_000;

/// `true` in any letter case is true; anything else is false (SPEC Conventions).
fn is_true(v: &str) -> bool {
    v.trim().eq_ignore_ascii_case("true")
}

/// Header names as users write them, for messages.
fn display_name(lower: &str) -> String {
    lower
        .split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn parse_url(header: &str, v: &str) -> Result<String, OptionError> {
    let v = v.trim();
    match crate::target::parse_http_url(v) {
        Ok(_) => Ok(v.to_string()),
        Err(m) => Err(err(header, m)),
    }
}

fn parse_u64(header: &str, v: &str, what: &str) -> Result<u64, OptionError> {
    v.trim().parse::<u64>().map_err(|_| {
        err(
            header,
            format!("expected {what}, got '{}'", truncate_for_message(v)),
        )
    })
}

fn truncate_for_message(v: &str) -> String {
    const MAX: usize = 80;
    if v.len() <= MAX {
        v.to_string()
    } else {
        let mut end = MAX;
        while !v.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &v[..end])
    }
}

impl RequestOptions {
    /// Parse every `Helicone-*` header (and `Cache-Control` when caching is on).
    pub fn from_headers(headers: &HeaderMap) -> Result<RequestOptions, OptionError> {
        match RequestOptions::parse_lenient(headers) {
            (o, None) => Ok(o),
            (_, Some(e)) => Err(e),
        }
    }

    /// Parse every header that parses, and report the first that does not: a
    /// request refused for one bad header is still recorded with its
    /// properties, user and session.
    pub fn parse_lenient(headers: &HeaderMap) -> (RequestOptions, Option<OptionError>) {
        let mut p = Parser::default();
        for (name, value) in headers.iter() {
            let lname = name.as_str();
            if !lname.starts_with("helicone-") {
                continue;
            }
            // Header values are UTF-8 text (SPEC §1): properties, users and
            // sessions may hold any Unicode.
            let result = std::str::from_utf8(value.as_bytes())
                .map_err(|_| err(lname, "the value is not valid UTF-8 text"))
                .and_then(|v| p.header(lname, v));
            p.note(result);
        }
        let finished = p.finish(headers);
        p.note(finished);
        (p.o, p.first_error)
    }
}

/// The state of one parse: values that depend on several headers are
/// collected first and checked together at the end.
#[derive(Default)]
struct Parser<'h> {
    o: RequestOptions,
    retry_fields: Vec<(&'h str, String)>,
    cache_fields: Vec<(&'h str, String)>,
    posthog_host: Option<String>,
    posthog_key: Option<SecretString>,
    first_error: Option<OptionError>,
}

impl<'h> Parser<'h> {
    fn note(&mut self, r: Result<(), OptionError>) {
        if let Err(e) = r {
            self.first_error.get_or_insert(e);
        }
    }

    fn header(&mut self, lname: &'h str, v: &str) -> Result<(), OptionError> {
        let shown = lname;
        let o = &mut self.o;
        if let Some(prop) = lname.strip_prefix(PROPERTY_PREFIX) {
            if prop.is_empty() {
                return Err(err(
                    shown,
                    "a property header needs a name: Helicone-Property-<Name>",
                ));
            }
            // A property sent twice keeps its last value, as the record's
            // JSON does; a header map yields one name's values one after
            // another, so the last pair is the only one to look at.
            match o.properties.last_mut() {
                Some((name, value)) if name == prop => *value = v.trim().to_string(),
                _ => o.properties.push((prop.to_string(), v.trim().to_string())),
            }
            return Ok(());
        }
        match lname {
            "helicone-auth" => o.auth = Some(SecretString::from(v)),
            "helicone-target-url" => o.target_url = Some(parse_url(shown, v)?),
            "helicone-openai-api-base" => o.openai_api_base = Some(parse_url(shown, v)?),
            "helicone-request-id" => {
                let id = Uuid::parse_str(v.trim()).map_err(|_| {
                    err(
                        shown,
                        format!(
                            "expected a UUID such as 123e4567-e89b-12d3-a456-426614174000, got '{}'",
                            truncate_for_message(v)
                        ),
                    )
                })?;
                o.request_id = Some(id);
            }
            "helicone-model-override" => o.model_override = non_empty(v),
            "helicone-prompt-id" => o.prompt_id = non_empty(v),
            "helicone-user-id" => o.user_id = non_empty(v),
            "helicone-session-id" => o.session.id = non_empty(v),
            "helicone-session-name" => o.session.name = non_empty(v),
            "helicone-session-path" => {
                o.session.path = non_empty(v).map(|p| {
                    if p.starts_with('/') {
                        p
                    } else {
                        format!("/{p}")
                    }
                })
            }
            "helicone-fallbacks" => o.fallbacks = Some(parse_fallbacks(shown, v)?),
            "helicone-ratelimit-policy" => o.rate_limit = Some(parse_rate_limit(shown, v)?),
            "helicone-cache-enabled" => o.cache.enabled = is_true(v),
            "helicone-cache-bucket-max-size"
            | "helicone-cache-seed"
            | "helicone-cache-ignore-keys" => self.cache_fields.push((lname, v.to_string())),
            "helicone-retry-enabled" => o.retry.enabled = is_true(v),
            "helicone-retry-num"
            | "helicone-retry-factor"
            | "helicone-retry-min-timeout"
            | "helicone-retry-max-timeout" => self.retry_fields.push((lname, v.to_string())),
            "helicone-omit-request" => o.omit_request = is_true(v),
            "helicone-omit-response" => o.omit_response = is_true(v),
            "helicone-moderations-enabled" => o.moderations_enabled = is_true(v),
            "helicone-llm-security-enabled" | "helicone-prompt-security-enabled" => {
                o.llm_security_enabled = is_true(v)
            }
            "helicone-stream-force-format" => o.stream_force_format = is_true(v),
            "helicone-posthog-key" => self.posthog_key = non_empty(v).map(SecretString::from),
            "helicone-posthog-host" => self.posthog_host = Some(parse_url(shown, v)?),
            // Unknown Helicone-* headers are stripped before forwarding and otherwise ignored,
            // so clients written for newer Helicone features keep working.
            _ => {}
        }
        Ok(())
    }

    /// The checks that need several headers at once.
    fn finish(&mut self, headers: &HeaderMap) -> Result<(), OptionError> {
        let o = &mut self.o;
        for (name, v) in std::mem::take(&mut self.retry_fields) {
            let shown = name;
            match name {
                "helicone-retry-num" => {
                    let n = parse_u64(shown, &v, "a whole number of retries from 0 to 10")?;
                    if n > u64::from(MAX_RETRIES) {
                        return Err(err(
                            shown,
                            format!("at most {MAX_RETRIES} retries are allowed, got {n}"),
                        ));
                    }
                    o.retry.num = n as u32;
                }
                "helicone-retry-factor" => {
                    let f = v
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite() && *f >= 1.0);
                    o.retry.factor = f.ok_or_else(|| {
                        err(
                            shown,
                            format!(
                                "expected a number of at least 1 (the backoff multiplier), got '{}'",
                                truncate_for_message(&v)
                            ),
                        )
                    })?;
                }
                "helicone-retry-min-timeout" => {
                    o.retry.min_timeout_ms = parse_u64(shown, &v, "a whole number of milliseconds")?
                }
                _ => {
                    o.retry.max_timeout_ms = parse_u64(shown, &v, "a whole number of milliseconds")?
                }
            }
        }
        for (header, ms) in [
            ("Helicone-Retry-Min-Timeout", o.retry.min_timeout_ms),
            ("Helicone-Retry-Max-Timeout", o.retry.max_timeout_ms),
        ] {
            if ms > MAX_RETRY_TIMEOUT_MS {
                return Err(err(
                    header,
                    format!(
                        "at most {MAX_RETRY_TIMEOUT_MS} ms (10 minutes) between retries, got {ms}"
                    ),
                ));
            }
        }
        if o.retry.min_timeout_ms > o.retry.max_timeout_ms {
            return Err(err(
                "Helicone-Retry-Min-Timeout",
                format!(
                    "the minimum delay ({} ms) is above the maximum ({} ms)",
                    o.retry.min_timeout_ms, o.retry.max_timeout_ms
                ),
            ));
        }

        for (name, v) in std::mem::take(&mut self.cache_fields) {
            let shown = name;
            match name {
                "helicone-cache-bucket-max-size" => {
                    let n = parse_u64(shown, &v, "a whole number from 1 to 20")?;
                    if n == 0 || n > u64::from(MAX_BUCKET) {
                        return Err(err(
                            shown,
                            format!("expected a whole number from 1 to 20, got {n}"),
                        ));
                    }
                    o.cache.bucket_max_size = n as u8;
                }
                "helicone-cache-seed" => o.cache.seed = non_empty(&v),
                _ => {
                    o.cache.ignore_keys = v
                        .split(',')
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(str::to_string)
                        .collect()
                }
            }
        }
        if o.cache.enabled {
            if let Some(cc) = headers.get(http::header::CACHE_CONTROL) {
                let cc = cc
                    .to_str()
                    .map_err(|_| err("Cache-Control", "the value is not valid text"))?;
                if let Some(ttl) = parse_cache_control(cc)? {
                    o.cache.ttl_secs = ttl.min(CACHE_MAX_TTL_SECS);
                }
            }
        }

        match (self.posthog_key.take(), self.posthog_host.take()) {
            (Some(key), host) => {
                o.posthog = Some(PosthogOptions {
                    key,
                    host: host.unwrap_or_else(|| "https://app.posthog.com".to_string()),
                })
            }
            (None, Some(_)) => {
                return Err(err(
                    "Helicone-Posthog-Host",
                    "set Helicone-Posthog-Key too: the host alone sends nothing",
                ))
            }
            (None, None) => {}
        }

        if let Some(policy) = &o.rate_limit {
            match &policy.segment {
                RateLimitSegment::User if o.user_id.is_none() => {
                    return Err(err(
                        "Helicone-RateLimit-Policy",
                        "the policy is segmented by user (s=user) but Helicone-User-Id is missing",
                    ))
                }
                RateLimitSegment::Property(p) if !o.properties.iter().any(|(k, _)| k == p) => {
                    return Err(err(
                        "Helicone-RateLimit-Policy",
                        format!(
                            "the policy is segmented by property '{p}' (s={p}) but Helicone-Property-{p} is missing"
                        ),
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn non_empty(v: &str) -> Option<String> {
    let t = v.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// `s-maxage`, else `max-age`, in seconds; `None` when neither is present.
fn parse_cache_control(cc: &str) -> Result<Option<u64>, OptionError> {
    let mut max_age = None;
    let mut s_maxage = None;
    for directive in cc.split(',') {
        let directive = directive.trim();
        let (k, v) = match directive.split_once('=') {
            Some((k, v)) => (
                k.trim().to_ascii_lowercase(),
                Some(v.trim().trim_matches('"')),
            ),
            None => (directive.to_ascii_lowercase(), None),
        };
        let slot = match k.as_str() {
            "max-age" => &mut max_age,
            "s-maxage" => &mut s_maxage,
            _ => continue,
        };
        let v = v.unwrap_or("");
        let n = v.parse::<u64>().map_err(|_| {
            err(
                "Cache-Control",
                format!(
                    "{k} must be a whole number of seconds, got '{}'",
                    truncate_for_message(v)
                ),
            )
        })?;
        *slot = Some(n);
    }
    Ok(s_maxage.or(max_age))
}

fn parse_rate_limit(header: &str, v: &str) -> Result<RateLimitPolicy, OptionError> {
    const FORMAT: &str =
        "expected <quota>;w=<seconds>[;u=request|cents][;s=user|<property>], e.g. 10;w=1000;u=cents;s=user";
    let mut parts = v.split(';').map(str::trim);
    let quota_s = parts.next().unwrap_or("");
    let quota = quota_s
        .parse::<f64>()
        .ok()
        .filter(|q| q.is_finite() && *q > 0.0)
        .ok_or_else(|| {
            err(
                header,
                format!(
                    "the quota must be a number above 0, got '{}'; {FORMAT}",
                    truncate_for_message(quota_s)
                ),
            )
        })?;
    let mut window = None;
    let mut unit = RateLimitUnit::Request;
    let mut segment = RateLimitSegment::Organization;
    for part in parts {
        if part.is_empty() {
            continue;
        }
        let (k, val) = part
            .split_once('=')
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim()))
            .ok_or_else(|| {
                err(
                    header,
                    format!(
                        "'{}' is not key=value; {FORMAT}",
                        truncate_for_message(part)
                    ),
                )
            })?;
        match k.as_str() {
            "w" => {
                let w = val
                    .parse::<u64>()
                    .ok()
                    .filter(|w| (1..=MAX_WINDOW_SECS).contains(w));
                window = Some(w.ok_or_else(|| {
                    err(
                        header,
                        format!("w must be a whole number of seconds from 1 to {MAX_WINDOW_SECS}, got '{}'", truncate_for_message(val)),
                    )
                })?);
            }
            "u" => {
                unit = match val.to_ascii_lowercase().as_str() {
                    "request" | "requests" => RateLimitUnit::Request,
                    "cents" => RateLimitUnit::Cents,
                    _ => {
                        return Err(err(
                            header,
                            format!(
                                "u must be 'request' or 'cents', got '{}'",
                                truncate_for_message(val)
                            ),
                        ))
                    }
                }
            }
            "s" => {
                let s = val.to_ascii_lowercase();
                segment = match s.as_str() {
                    "" => return Err(err(header, "s needs a value: 'user' or a property name")),
                    "user" => RateLimitSegment::User,
                    _ => RateLimitSegment::Property(s),
                }
            }
            _ => return Err(err(header, format!("unknown parameter '{k}'; {FORMAT}"))),
        }
    }
    let window_secs =
        window.ok_or_else(|| err(header, format!("the window w is missing; {FORMAT}")))?;
    Ok(RateLimitPolicy {
        quota,
        window_secs,
        unit,
        segment,
    })
}

fn parse_fallbacks(header: &str, v: &str) -> Result<Vec<FallbackEntry>, OptionError> {
    let json: serde_json::Value = serde_json::from_str(v).map_err(|e| {
        err(
            header,
            format!("expected a JSON array of fallback entries: {e}"),
        )
    })?;
    let arr = json.as_array().ok_or_else(|| {
        err(
            header,
            "expected a JSON array of {\"target-url\", \"headers\", \"onCodes\"} entries",
        )
    })?;
    if arr.is_empty() {
        return Err(err(header, "the array is empty: give at least one entry"));
    }
    if arr.len() > MAX_FALLBACKS {
        return Err(err(
            header,
            format!(
                "{} entries is too many: each is an upstream attempt, at most {MAX_FALLBACKS} are allowed",
                arr.len()
            ),
        ));
    }
    arr.iter()
        .enumerate()
        .map(|(i, e)| parse_fallback_entry(header, i, e))
        .collect()
}

fn parse_fallback_entry(
    header: &str,
    i: usize,
    e: &serde_json::Value,
) -> Result<FallbackEntry, OptionError> {
    let obj = e
        .as_object()
        .ok_or_else(|| err(header, format!("entry {i} is not an object")))?;
    let target_url = obj
        .get("target-url")
        .and_then(|t| t.as_str())
        .ok_or_else(|| {
            err(
                header,
                format!("entry {i} needs \"target-url\" (a URL string)"),
            )
        })?;
    let target_url = crate::target::parse_http_url(target_url)
        .map(|_| target_url.trim().to_string())
        .map_err(|m| err(header, format!("entry {i}: {m}")))?;
    let mut headers = Vec::new();
    if let Some(h) = obj.get("headers") {
        let h = h.as_object().ok_or_else(|| {
            err(
                header,
                format!("entry {i}: \"headers\" must be an object of strings"),
            )
        })?;
        for (k, v) in h {
            let v = v.as_str().ok_or_else(|| {
                err(
                    header,
                    format!("entry {i}: header '{k}' must have a string value"),
                )
            })?;
            if http::HeaderName::from_bytes(k.as_bytes()).is_err()
                || http::HeaderValue::from_str(v).is_err()
            {
                return Err(err(
                    header,
                    format!("entry {i}: '{k}' is not a valid header"),
                ));
            }
            headers.push((k.to_ascii_lowercase(), SecretString::from(v)));
        }
    }
    let mut on_codes = Vec::new();
    if let Some(c) = obj.get("onCodes") {
        let c = c.as_array().ok_or_else(|| {
            err(header, format!("entry {i}: \"onCodes\" must be an array of codes or {{\"from\",\"to\"}} ranges"))
        })?;
        for code in c {
            on_codes.push(parse_code(header, i, code)?);
        }
    }
    let body_key_override = match obj.get("bodyKeyOverride") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Object(m)) => Some(m.clone()),
        Some(_) => {
            return Err(err(
                header,
                format!("entry {i}: \"bodyKeyOverride\" must be an object"),
            ))
        }
    };
    Ok(FallbackEntry {
        target_url,
        headers,
        on_codes,
        body_key_override,
    })
}

fn parse_code(header: &str, i: usize, code: &serde_json::Value) -> Result<CodeMatch, OptionError> {
    let status = |v: Option<&serde_json::Value>| {
        v.and_then(|v| v.as_u64())
            .filter(|c| (100..=599).contains(c))
            .map(|c| c as u16)
    };
    if let Some(c) = status(Some(code)) {
        return Ok(CodeMatch::One(c));
    }
    if let Some(o) = code.as_object() {
        if let (Some(a), Some(b)) = (status(o.get("from")), status(o.get("to"))) {
            if a <= b {
                return Ok(CodeMatch::Range(a, b));
            }
        }
    }
    Err(err(
        header,
        format!("entry {i}: onCodes entries must be HTTP statuses (100-599) or {{\"from\": a, \"to\": b}} with a <= b, got {code}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use secrecy::ExposeSecret;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<RequestOptions, OptionError> {
        RequestOptions::from_headers(&headers(pairs))
    }

    #[test]
    fn values_may_be_any_unicode() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("helicone-property-city", "Zürich"),
            ("helicone-user-id", "渡辺"),
            ("helicone-session-name", "Планы 📅"),
        ] {
            h.append(k, HeaderValue::from_bytes(v.as_bytes()).unwrap());
        }
        let o = RequestOptions::from_headers(&h).unwrap();
        assert_eq!(
            o.properties,
            vec![("city".to_string(), "Zürich".to_string())]
        );
        assert_eq!(o.user_id.as_deref(), Some("渡辺"));
        assert_eq!(o.session.name.as_deref(), Some("Планы 📅"));
        h.append(
            "helicone-user-id",
            HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        );
        let e = RequestOptions::from_headers(&h).unwrap_err();
        assert_eq!(e.header, "Helicone-User-Id");
    }

    #[test]
    fn a_bad_header_does_not_lose_the_others() {
        let (o, e) = RequestOptions::parse_lenient(&headers(&[
            ("helicone-property-team", "search"),
            ("helicone-retry-num", "many"),
            ("helicone-user-id", "alice"),
            ("helicone-session-id", "s-1"),
            ("helicone-request-id", "not-a-uuid"),
        ]));
        // Headers are checked one by one first, combinations after.
        assert_eq!(e.unwrap().header, "Helicone-Request-Id");
        assert_eq!(
            o.properties,
            vec![("team".to_string(), "search".to_string())]
        );
        assert_eq!(o.user_id.as_deref(), Some("alice"));
        assert_eq!(o.session.id.as_deref(), Some("s-1"));
    }

    #[test]
    fn empty_headers_give_defaults() {
        let o = parse(&[("content-type", "application/json")]).unwrap();
        // Secrets do not compare, so compare what prints (secrets redacted).
        assert_eq!(format!("{o:?}"), format!("{:?}", RequestOptions::default()));
    }

    #[test]
    fn properties_are_lowercased_and_kept_in_order() {
        let o = parse(&[
            ("Helicone-Property-Environment", "prod"),
            ("helicone-property-App", "Mobile App"),
        ])
        .unwrap();
        assert_eq!(
            o.properties,
            vec![
                ("environment".to_string(), "prod".to_string()),
                ("app".to_string(), "Mobile App".to_string())
            ]
        );
    }

    #[test]
    fn a_property_sent_twice_keeps_its_last_value() {
        let o = parse(&[
            ("Helicone-Property-Team", "a"),
            ("helicone-property-env", "prod"),
            ("helicone-property-team", "b"),
        ])
        .unwrap();
        assert_eq!(
            o.properties,
            vec![
                ("team".to_string(), "b".to_string()),
                ("env".to_string(), "prod".to_string())
            ]
        );
    }

    #[test]
    fn request_id_accepts_any_uuid_version() {
        let v7 = "01932c07-209c-7f5c-b2a9-1b2c3d4e5f60";
        let o = parse(&[("Helicone-Request-Id", v7)]).unwrap();
        assert_eq!(o.request_id.unwrap().to_string(), v7);
        let v4 = "123e4567-e89b-42d3-a456-426614174000";
        assert!(parse(&[("helicone-request-id", v4)]).is_ok());
        let e = parse(&[("helicone-request-id", "not-a-uuid")]).unwrap_err();
        assert_eq!(e.header, "Helicone-Request-Id");
        assert!(e.message.contains("not-a-uuid"));
    }

    #[test]
    fn booleans_are_true_in_any_case_only() {
        let o = parse(&[
            ("helicone-omit-request", "TRUE"),
            ("helicone-omit-response", "yes"),
            ("helicone-cache-enabled", "True"),
        ])
        .unwrap();
        assert!(o.omit_request);
        assert!(!o.omit_response);
        assert!(o.cache.enabled);
    }

    #[test]
    fn session_path_is_normalised() {
        let o = parse(&[
            ("helicone-session-id", "s1"),
            ("helicone-session-path", "parent/child"),
            ("helicone-session-name", "Course Plan"),
        ])
        .unwrap();
        assert_eq!(o.session.path.as_deref(), Some("/parent/child"));
        assert_eq!(o.session.name.as_deref(), Some("Course Plan"));
    }

    #[test]
    fn target_urls_must_be_http() {
        let e = parse(&[("helicone-target-url", "ftp://example.com")]).unwrap_err();
        assert_eq!(e.header, "Helicone-Target-Url");
        let e = parse(&[("helicone-openai-api-base", "not a url")]).unwrap_err();
        assert_eq!(e.header, "Helicone-Openai-Api-Base");
        let o = parse(&[("helicone-target-url", "https://api.example.com/")]).unwrap();
        assert_eq!(o.target_url.as_deref(), Some("https://api.example.com/"));
    }

    #[test]
    fn retry_options_parse_and_validate() {
        let o = parse(&[
            ("helicone-retry-enabled", "true"),
            ("helicone-retry-num", "5"),
            ("helicone-retry-factor", "1.5"),
            ("helicone-retry-min-timeout", "100"),
            ("helicone-retry-max-timeout", "2000"),
        ])
        .unwrap();
        assert!(o.retry.enabled);
        assert_eq!(o.retry.num, 5);
        assert_eq!(o.retry.factor, 1.5);
        assert_eq!(
            (o.retry.min_timeout_ms, o.retry.max_timeout_ms),
            (100, 2000)
        );
        assert!(parse(&[("helicone-retry-num", "11")]).is_err());
        assert!(parse(&[("helicone-retry-num", "three")]).is_err());
        assert!(parse(&[("helicone-retry-factor", "0")]).is_err());
        let e = parse(&[
            ("helicone-retry-min-timeout", "1"),
            ("helicone-retry-max-timeout", "86400000"),
        ])
        .unwrap_err();
        assert!(e.message.contains("10 minutes"), "{e}");
        let e = parse(&[("helicone-retry-min-timeout", "20000")]).unwrap_err();
        assert!(e.message.contains("above the maximum"));
    }

    #[test]
    fn cache_options() {
        let o = parse(&[
            ("helicone-cache-enabled", "true"),
            ("cache-control", "max-age=60, s-maxage=120"),
            ("helicone-cache-bucket-max-size", "3"),
            ("helicone-cache-seed", "user-1"),
            ("helicone-cache-ignore-keys", "user, temperature"),
        ])
        .unwrap();
        assert_eq!(o.cache.ttl_secs, 120);
        assert_eq!(o.cache.bucket_max_size, 3);
        assert_eq!(o.cache.seed.as_deref(), Some("user-1"));
        assert_eq!(o.cache.ignore_keys, vec!["user", "temperature"]);
        let o = parse(&[
            ("helicone-cache-enabled", "true"),
            ("cache-control", "max-age=999999999"),
        ])
        .unwrap();
        assert_eq!(o.cache.ttl_secs, CACHE_MAX_TTL_SECS);
        assert!(parse(&[("helicone-cache-bucket-max-size", "21")]).is_err());
        assert!(parse(&[("helicone-cache-bucket-max-size", "0")]).is_err());
        assert!(parse(&[
            ("helicone-cache-enabled", "true"),
            ("cache-control", "max-age=abc")
        ])
        .is_err());
        // Cache-Control is the client's business when heliport's cache is off.
        assert!(parse(&[("cache-control", "max-age=abc")]).is_ok());
    }

    #[test]
    fn rate_limit_policy() {
        let o = parse(&[
            ("helicone-ratelimit-policy", "10;w=1000;u=cents;s=user"),
            ("helicone-user-id", "alice"),
        ])
        .unwrap();
        let p = o.rate_limit.unwrap();
        assert_eq!(p.quota, 10.0);
        assert_eq!(p.window_secs, 1000);
        assert_eq!(p.unit, RateLimitUnit::Cents);
        assert_eq!(p.segment, RateLimitSegment::User);
        assert_eq!(p.normalized(), "10;w=1000;u=cents;s=user");
        let o = parse(&[("helicone-ratelimit-policy", "2.5;w=60")]).unwrap();
        assert_eq!(o.rate_limit.unwrap().normalized(), "2.5;w=60;u=request");
        for bad in [
            "0;w=10",
            "abc;w=10",
            "10",
            "10;w=0",
            "10;w=31536001",
            "10;w=10;u=dollars",
            "10;w=10;x=1",
        ] {
            assert!(
                parse(&[("helicone-ratelimit-policy", bad)]).is_err(),
                "{bad}"
            );
        }
        let e = parse(&[("helicone-ratelimit-policy", "10;w=60;s=user")]).unwrap_err();
        assert!(e.message.contains("Helicone-User-Id"));
        let e = parse(&[("helicone-ratelimit-policy", "10;w=60;s=team")]).unwrap_err();
        assert!(e.message.contains("Helicone-Property-team"));
        assert!(parse(&[
            ("helicone-ratelimit-policy", "10;w=60;s=team"),
            ("helicone-property-team", "a")
        ])
        .is_ok());
    }

    #[test]
    fn fallbacks() {
        let o = parse(&[(
            "helicone-fallbacks",
            r#"[{"target-url":"https://api.openai.com","headers":{"Authorization":"Bearer x"},"onCodes":[429,{"from":500,"to":599}]}, {"target-url":"https://api.example.com","bodyKeyOverride":{"model":"m2"}}]"#,
        )])
        .unwrap();
        let f = o.fallbacks.unwrap();
        assert_eq!(f.len(), 2);
        let (name, value) = &f[0].headers[0];
        assert_eq!(
            (name.as_str(), value.expose_secret()),
            ("authorization", "Bearer x")
        );
        // Entry headers often carry provider keys: they never print.
        assert!(!format!("{f:?}").contains("Bearer x"));
        assert!(f[0].on_codes.iter().any(|c| c.matches(503)));
        assert!(!f[0].on_codes.iter().any(|c| c.matches(404)));
        assert!(f[1].body_key_override.is_some());
        for bad in [
            "{}",
            "[]",
            "[1]",
            "not json",
            r#"[{"headers":{}}]"#,
            r#"[{"target-url":"x://y"}]"#,
            r#"[{"target-url":"https://a","onCodes":[1000]}]"#,
        ] {
            let e = parse(&[("helicone-fallbacks", bad)]).unwrap_err();
            assert_eq!(e.header, "Helicone-Fallbacks", "{bad}");
        }
    }

    #[test]
    fn posthog_needs_a_key() {
        let o = parse(&[("helicone-posthog-key", "phc_1")]).unwrap();
        let posthog = o.posthog.unwrap();
        assert_eq!(posthog.host, "https://app.posthog.com");
        assert!(!format!("{posthog:?}").contains(posthog.key.expose_secret()));
        assert!(parse(&[("helicone-posthog-host", "https://eu.posthog.com")]).is_err());
    }

    #[test]
    fn empty_property_name_is_an_error() {
        let e = parse(&[("helicone-property-", "x")]).unwrap_err();
        assert!(e.message.contains("Helicone-Property-<Name>"));
    }
}
