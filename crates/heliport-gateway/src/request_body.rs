//! The request body: read whole (within the size limit and the read
//! timeout), then stripped of prompt-input tags.

use bytes::Bytes;
use heliport_core::error::{ErrorCode, GatewayError};
use http::header;
use http_body_util::BodyExt;

use crate::pipeline::Ctx;
use crate::state::GatewayState;

/// Bodies below this are copied out of the connection's read buffer.
const SMALL_BODY: usize = 64 << 10;

/// Read the whole request body, up to the configured limit. A client that
/// goes quiet mid-body gets a 408; one that hangs up is recorded as cancelled.
pub(crate) async fn read(
    state: &GatewayState,
    ctx: &mut Ctx,
    headers: &http::HeaderMap,
    mut body: axum::body::Body,
) -> Result<(), GatewayError> {
    let limit = state.cfg.max_body_bytes;
    let too_large = || {
        GatewayError::new(
            ErrorCode::PayloadTooLarge,
            format!("the request body is larger than the {limit} bytes heliport accepts (gateway.max_body_bytes)"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let idle = state.cfg.body_read_timeout;
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0usize;
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Ok(None) => break,
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(e))) => {
                tracing::debug!(error = %e, "the client stopped sending its request");
                return Err(GatewayError::new(
                    ErrorCode::Cancelled,
                    "the client closed the connection while sending its request",
                ));
            }
            Err(_) => {
                return Err(GatewayError::new(
                    ErrorCode::RequestTimeout,
                    format!(
                        "the request body stopped arriving: nothing for {} s (gateway.body_read_timeout_secs)",
                        idle.as_secs()
                    ),
                ))
            }
        };
        if let Ok(data) = frame.into_data() {
            len = len.saturating_add(data.len());
            if len > limit {
                return Err(too_large());
            }
            chunks.push(data);
        }
    }
    ctx.request_body = match chunks.len() {
        0 => Bytes::new(),
        // One large frame is kept as it is; a small one is copied out of the
        // connection's read buffer, which the record would otherwise pin
        // until the writer runs.
        1 if len >= SMALL_BODY => chunks.pop().unwrap_or_default(),
        _ => {
            let mut all = Vec::with_capacity(len);
            for c in &chunks {
                all.extend_from_slice(c);
            }
            Bytes::from(all)
        }
    };
    Ok(())
}

/// Strip `<helicone-prompt-input>` tags: the upstream sees plain text.
pub(crate) fn prepare_prompt(ctx: &mut Ctx) {
    if !heliport_core::prompt::has_prompt_tags(&ctx.request_body) {
        return;
    }
    if let Some(p) = heliport_core::prompt::strip_prompt_tags(&ctx.request_body) {
        let original = std::mem::replace(&mut ctx.request_body, Bytes::from(p.stripped_body));
        ctx.original_request_body = Some(original);
        ctx.prompt_inputs = Some(p.inputs);
    }
}
