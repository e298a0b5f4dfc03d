//! Errors heliport answers itself, with stable codes and provider-shaped bodies.

use http::StatusCode;

/// How an error body is shaped, so each provider's official SDK shows the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStyle {
    /// `{"error":{"message","type","code"}}`
    OpenAi,
    /// `{"type":"error","error":{"type","message"}}`
    Anthropic,
    /// Google's `{"error":{"code":401,"message","status":"UNAUTHENTICATED"}}`
    Gemini,
    /// heliport's REST envelope `{"data":null,"error":"message"}`
    Rest,
}

impl ErrorStyle {
    /// The shape for a path before its route is known: the provider prefix
    /// names it, heliport's own namespace answers in the REST envelope.
    pub fn for_path(path: &str) -> ErrorStyle {
        if crate::namespace::is_reserved(path.split('?').next().unwrap_or_default()) {
            ErrorStyle::Rest
        } else {
            ErrorStyle::for_proxied_path(path)
        }
    }

    /// [`ErrorStyle::for_path`] for a path known to be outside heliport's
    /// namespace (the proxy's), without checking that again.
    pub fn for_proxied_path(path: &str) -> ErrorStyle {
        let first = path
            .trim_start_matches('/')
            .split(['/', '?'])
            .next()
            .unwrap_or_default();
        if first.eq_ignore_ascii_case("anthropic") {
            ErrorStyle::Anthropic
        } else if first.eq_ignore_ascii_case("gemini") {
            ErrorStyle::Gemini
        } else {
            ErrorStyle::OpenAi
        }
    }
}

/// The stable error codes of SPEC §6 (plus `not_found` and `forbidden`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    MissingAuth,
    InvalidAuth,
    Forbidden,
    InvalidHeader,
    InvalidRequest,
    TargetNotAllowed,
    RateLimited,
    NotFound,
    PayloadTooLarge,
    /// The client stopped sending its request body (408).
    RequestTimeout,
    /// More request headers than heliport accepts (431).
    HeadersTooLarge,
    /// The client went away before its request was read (nginx's 499; no
    /// one reads the answer, the record says `cancelled`).
    Cancelled,
    /// The moderation endpoint flagged the prompt (SPEC §3.5).
    PromptFlagged,
    /// The prompt-injection screen found a threat (SPEC §3.6).
    PromptThreat,
    UpstreamUnreachable,
    UpstreamTimeout,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MissingAuth => "missing_auth",
            ErrorCode::InvalidAuth => "invalid_auth",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::InvalidHeader => "invalid_header",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::TargetNotAllowed => "target_not_allowed",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::NotFound => "not_found",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::HeadersTooLarge => "headers_too_large",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::PromptFlagged => "PROMPT_FLAGGED_FOR_MODERATION",
            ErrorCode::PromptThreat => "PROMPT_THREAT_DETECTED",
            ErrorCode::UpstreamUnreachable => "upstream_unreachable",
            ErrorCode::UpstreamTimeout => "upstream_timeout",
            ErrorCode::Internal => "internal_error",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::MissingAuth | ErrorCode::InvalidAuth => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden | ErrorCode::TargetNotAllowed => StatusCode::FORBIDDEN,
            ErrorCode::InvalidHeader
            | ErrorCode::InvalidRequest
            | ErrorCode::PromptFlagged
            | ErrorCode::PromptThreat => StatusCode::BAD_REQUEST,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            ErrorCode::UpstreamUnreachable => StatusCode::BAD_GATEWAY,
            ErrorCode::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error `type` each provider's SDK maps to an exception class.
    fn type_name(self, style: ErrorStyle) -> &'static str {
        match (self, style) {
            (ErrorCode::MissingAuth | ErrorCode::InvalidAuth, _) => "authentication_error",
            (ErrorCode::Forbidden | ErrorCode::TargetNotAllowed, _) => "permission_error",
            (ErrorCode::RateLimited, ErrorStyle::OpenAi) => "rate_limit_error",
            (ErrorCode::RateLimited, ErrorStyle::Anthropic) => "rate_limit_error",
            (ErrorCode::NotFound, ErrorStyle::Anthropic) => "not_found_error",
            (ErrorCode::PayloadTooLarge, ErrorStyle::Anthropic) => "request_too_large",
            (ErrorCode::RequestTimeout, _) => "timeout_error",
            (
                ErrorCode::UpstreamUnreachable | ErrorCode::UpstreamTimeout | ErrorCode::Internal,
                _,
            ) => "api_error",
            _ => "invalid_request_error",
        }
    }
}

/// An error heliport answers itself (never one the upstream sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayError {
    pub code: ErrorCode,
    pub message: String,
    /// Extra fields of the error object (e.g. the flagged moderation categories).
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

impl GatewayError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        GatewayError {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// The same error with extra fields in its error object.
    pub fn with_details(mut self, details: serde_json::Map<String, serde_json::Value>) -> Self {
        self.details = Some(details);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// Google's canonical status name for the HTTP status, which Gemini
    /// clients read beside the code.
    fn google_status(&self) -> &'static str {
        match self.status().as_u16() {
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            408 | 504 => "DEADLINE_EXCEEDED",
            429 => "RESOURCE_EXHAUSTED",
            502 | 503 => "UNAVAILABLE",
            500 => "INTERNAL",
            _ => "INVALID_ARGUMENT",
        }
    }

    /// The JSON body in the route's provider shape.
    pub fn body(&self, style: ErrorStyle) -> Vec<u8> {
        let type_name = self.code.type_name(style);
        let value = match style {
            ErrorStyle::Gemini => serde_json::json!({
                "error": {
                    "code": self.status().as_u16(),
                    "message": self.message,
                    "status": self.google_status(),
                    "details": [{
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": self.code.as_str(),
                        "domain": "heliport",
                    }],
                }
            }),
            ErrorStyle::Rest => serde_json::json!({
                "data": null,
                "error": format!("{}: {}", self.code.as_str(), self.message),
            }),
            ErrorStyle::OpenAi => serde_json::json!({
                "error": {
                    "message": self.message,
                    "type": type_name,
                    "code": self.code.as_str(),
                }
            }),
            ErrorStyle::Anthropic => serde_json::json!({
                "type": "error",
                "error": {
                    "type": type_name,
                    "message": self.message,
                    "code": self.code.as_str(),
                }
            }),
        };
        let mut value = value;
        if let Some(details) = &self.details {
            let target = match style {
                ErrorStyle::Rest => None,
                _ => value.get_mut("error").and_then(|e| e.as_object_mut()),
            };
            if let Some(obj) = target {
                for (k, v) in details {
                    obj.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        value.to_string().into_bytes()
    }
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for GatewayError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_shape_names_code_and_message() {
        let e = GatewayError::new(ErrorCode::MissingAuth, "Helicone-Auth header is missing");
        let v: serde_json::Value = serde_json::from_slice(&e.body(ErrorStyle::OpenAi)).unwrap();
        assert_eq!(v["error"]["code"], "missing_auth");
        assert_eq!(v["error"]["type"], "authentication_error");
        assert_eq!(v["error"]["message"], "Helicone-Auth header is missing");
        assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn gemini_and_rest_shapes() {
        let e = GatewayError::new(ErrorCode::InvalidAuth, "the key is unknown");
        let v: serde_json::Value = serde_json::from_slice(&e.body(ErrorStyle::Gemini)).unwrap();
        assert_eq!(v["error"]["code"], 401);
        assert_eq!(v["error"]["status"], "UNAUTHENTICATED");
        assert_eq!(v["error"]["message"], "the key is unknown");
        let v: serde_json::Value = serde_json::from_slice(&e.body(ErrorStyle::Rest)).unwrap();
        assert_eq!(v["data"], serde_json::Value::Null);
        assert_eq!(v["error"], "invalid_auth: the key is unknown");
    }

    #[test]
    fn styles_by_path() {
        for (path, style) in [
            ("/anthropic/v1/messages", ErrorStyle::Anthropic),
            (
                "/gemini/v1beta/models/x:generateContent",
                ErrorStyle::Gemini,
            ),
            ("/v1//request/query?x", ErrorStyle::Rest),
            ("/v1/chat/completions", ErrorStyle::OpenAi),
        ] {
            assert_eq!(ErrorStyle::for_path(path), style, "{path}");
        }
        for (path, style) in [
            (
                "/Gemini/v1beta/models/x:generateContent?key=k",
                ErrorStyle::Gemini,
            ),
            ("/anthropic?x", ErrorStyle::Anthropic),
        ] {
            assert_eq!(ErrorStyle::for_proxied_path(path), style, "{path}");
        }
    }

    #[test]
    fn anthropic_shape() {
        let e = GatewayError::new(ErrorCode::InvalidHeader, "bad");
        let v: serde_json::Value = serde_json::from_slice(&e.body(ErrorStyle::Anthropic)).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["message"], "bad");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }
}
