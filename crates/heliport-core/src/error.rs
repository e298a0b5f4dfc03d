//! Errors heliport answers itself, with stable codes and provider-shaped bodies.

use http::StatusCode;

/// How an error body is shaped, so each provider's official SDK shows the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStyle {
    /// `{"error":{"message","type","code"}}`
    OpenAi,
    /// `{"type":"error","error":{"type","message"}}`
    Anthropic,
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
            ErrorCode::UpstreamUnreachable => "upstream_unreachable",
            ErrorCode::UpstreamTimeout => "upstream_timeout",
            ErrorCode::Internal => "internal_error",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::MissingAuth | ErrorCode::InvalidAuth => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden | ErrorCode::TargetNotAllowed => StatusCode::FORBIDDEN,
            ErrorCode::InvalidHeader | ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
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
}

impl GatewayError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        GatewayError {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// The JSON body in the route's provider shape.
    pub fn body(&self, style: ErrorStyle) -> Vec<u8> {
        let type_name = self.code.type_name(style);
        let value = match style {
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
    fn anthropic_shape() {
        let e = GatewayError::new(ErrorCode::InvalidHeader, "bad");
        let v: serde_json::Value = serde_json::from_slice(&e.body(ErrorStyle::Anthropic)).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["message"], "bad");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }
}
