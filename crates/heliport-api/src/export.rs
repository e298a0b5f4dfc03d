//! `POST /v1/request/export`: every request matching a filter, streamed as
//! CSV or JSON lines. Rows are read a page at a time (each page a short
//! indexed read under the statement timeout) and written to the client as
//! they come, so memory holds one page however large the export.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use heliport_core::filter::{parse_filter, parse_query, FilterNode, SortDirection, SortField};
use heliport_store::model::{ExportOrder, ExportPage};
use heliport_store::RecordStore;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::{bad_request, json_body, org_for, Access, ApiError, ApiState};

/// Rows read per page.
const PAGE_ROWS: u32 = 200;
/// Bytes gathered before they are sent on as one chunk.
const CHUNK_BYTES: usize = 64 << 10;

/// The columns of a CSV export, in order: every field of a request row.
pub(crate) const COLUMNS: &[&str] = &[
    "request_id",
    "request_created_at",
    "request_path",
    "request_model",
    "response_model",
    "model",
    "model_override",
    "provider",
    "target_url",
    "method",
    "response_status",
    "failure",
    "cancelled",
    "request_user_id",
    "session_id",
    "session_path",
    "session_name",
    "delay_ms",
    "time_to_first_token",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "prompt_cache_read_tokens",
    "prompt_cache_write_tokens",
    "reasoning_tokens",
    "usage_estimated",
    "cost",
    "cost_nano_usd",
    "cached",
    "cache_enabled",
    "cache_reference_id",
    "cache_bucket_idx",
    "cache_saved_nano_usd",
    "attempts",
    "fallback_index",
    "parent_request_id",
    "prompt_id",
    "prompt_version",
    "prompt_inputs",
    "request_properties",
    "scores",
    "feedback_rating",
    "threat",
    "flagged",
    "stream",
    "api_key_id",
    "response_created_at",
    "request_body",
    "response_body",
    "request_body_truncated",
    "response_body_truncated",
    "body_cap_bytes",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    JsonLines,
}

impl Format {
    fn parse(s: &str) -> Result<Format, ApiError> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "jsonl" | "ndjson" | "json" => Ok(Format::JsonLines),
            other => Err(bad_request(format!(
                "`format` must be csv or jsonl, got '{other}'"
            ))),
        }
    }
}

/// `?format=csv` on the URL (for links); the body's `format` wins.
#[derive(Debug)]
pub(crate) struct ExportParams {
    format: Option<String>,
}

impl ExportParams {
    fn from_uri(uri: &axum::http::Uri) -> ExportParams {
        ExportParams {
            format: uri.query().and_then(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("format="))
                    .map(str::to_string)
            }),
        }
    }
}

/// What an export body asks for.
struct ExportRequest {
    filter: FilterNode,
    order: ExportOrder,
    limit: Option<u64>,
    format: Format,
    /// Streamed answers as their raw events.
    raw_bodies: bool,
}

fn parse(body: &Value, params: &ExportParams) -> Result<ExportRequest, ApiError> {
    let obj = body
        .as_object()
        .ok_or_else(|| bad_request(format!("the export body must be a JSON object, got {body}")))?;
    let filter = match obj.get("filter") {
        None | Some(Value::Null) => FilterNode::All,
        Some(f) => parse_filter(f)?,
    };
    // The sort is checked by the request query's own parser.
    let sort =
        parse_query(&json!({ "sort": obj.get("sort").cloned().unwrap_or(Value::Null) }))?.sort;
    if sort.field != SortField::CreatedAt {
        return Err(bad_request(format!(
            "an export walks the records by time: sort by created_at (asc or desc), not `{}`",
            sort.field.as_str()
        )));
    }
    if obj
        .get("offset")
        .is_some_and(|o| !o.is_null() && o != &json!(0))
    {
        return Err(bad_request(
            "an export has no `offset`: narrow it with a request_created_at filter",
        ));
    }
    let limit = match obj.get("limit") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            bad_request(format!(
                "`limit` must be a non-negative integer (no upper bound for exports), got {v}"
            ))
        })?),
    };
    let format = match (obj.get("format"), &params.format) {
        (Some(Value::String(f)), _) => Format::parse(f)?,
        (Some(other), _) if !other.is_null() => {
            return Err(bad_request(format!(
                "`format` must be csv or jsonl, got {other}"
            )))
        }
        (_, Some(f)) => Format::parse(f)?,
        _ => Format::JsonLines,
    };
    let raw_bodies = match obj.get("raw_bodies") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(bad_request(format!(
                "`raw_bodies` must be true or false, got {other}"
            )))
        }
    };
    Ok(ExportRequest {
        filter,
        order: match sort.direction {
            SortDirection::Asc => ExportOrder::Asc,
            SortDirection::Desc => ExportOrder::Desc,
        },
        limit,
        format,
        raw_bodies,
    })
}

pub(crate) async fn export(
    State(state): State<ApiState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let org = org_for(&state, &headers, Access::Read).await?;
    let req = parse(&json_body(&body)?, &ExportParams::from_uri(&uri))?;
    // The first page is read before answering, so a store failure or a
    // timeout is still a proper error status.
    let first_size = page_size(req.limit, 0);
    let first = if first_size == 0 {
        ExportPage {
            rows: Vec::new(),
            next: None,
        }
    } else {
        state
            .records
            .export_page(
                &org,
                &req.filter,
                req.order,
                None,
                first_size,
                req.raw_bodies,
            )
            .await?
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let format = req.format;
    tokio::spawn(stream_rows(state.records.clone(), org, req, first, tx));
    let (content_type, file) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "heliport-requests.csv"),
        Format::JsonLines => ("application/x-ndjson", "heliport-requests.jsonl"),
    };
    let mut resp = Body::new(ChannelBody { rx }).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// Rows to ask for next, given the limit and how many were sent.
fn page_size(limit: Option<u64>, sent: u64) -> u32 {
    match limit {
        None => PAGE_ROWS,
        Some(l) => u32::try_from(l.saturating_sub(sent).min(u64::from(PAGE_ROWS))).unwrap_or(0),
    }
}

async fn stream_rows(
    records: Arc<dyn RecordStore>,
    org: String,
    req: ExportRequest,
    first: ExportPage,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let format = req.format;
    let mut buf = Vec::with_capacity(CHUNK_BYTES + 4096);
    if format == Format::Csv {
        csv_line(
            &mut buf,
            COLUMNS.iter().map(|c| Value::String((*c).to_string())),
        );
    }
    let mut sent = 0u64;
    let mut page = first;
    loop {
        for row in &page.rows {
            match format {
                Format::Csv => csv_line(
                    &mut buf,
                    COLUMNS
                        .iter()
                        .map(|c| row.get(*c).cloned().unwrap_or(Value::Null)),
                ),
                Format::JsonLines => {
                    if serde_json::to_writer(&mut buf, row).is_err() {
                        continue;
                    }
                    buf.push(b'\n');
                }
            }
            if buf.len() >= CHUNK_BYTES
                && tx
                    .send(Ok(Bytes::from(std::mem::take(&mut buf))))
                    .await
                    .is_err()
            {
                // The client went away.
                return;
            }
        }
        sent += page.rows.len() as u64;
        let size = page_size(req.limit, sent);
        let Some(after) = page.next.filter(|_| size > 0) else {
            break;
        };
        let next = records
            .export_page(
                &org,
                &req.filter,
                req.order,
                Some(after),
                size,
                req.raw_bodies,
            )
            .await;
        page = match next {
            Ok(p) => p,
            Err(e) => {
                // Past the headers the only honest signal is a broken body.
                tracing::warn!(error = %e, rows = sent, "an export stopped");
                let _ = tx.send(Ok(Bytes::from(std::mem::take(&mut buf)))).await;
                let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                return;
            }
        };
    }
    if !buf.is_empty() {
        let _ = tx.send(Ok(Bytes::from(buf))).await;
    }
}

/// One CSV line (RFC 4180): text as is, numbers and booleans as JSON, null
/// empty, objects and arrays as JSON text. A text cell a spreadsheet would
/// run as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a leading `'`.
fn csv_line(out: &mut Vec<u8>, cells: impl Iterator<Item = Value>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let text = match cell {
            Value::Null => continue,
            Value::String(s) => {
                if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                    format!("'{s}")
                } else {
                    s
                }
            }
            other => other.to_string(),
        };
        if text.contains([',', '"', '\n', '\r']) {
            out.push(b'"');
            out.extend_from_slice(text.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        } else {
            out.extend_from_slice(text.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// A response body fed by the export task; an `Err` aborts the response.
struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|r| r.map(http_body::Frame::data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(cells: Vec<Value>) -> String {
        let mut out = Vec::new();
        csv_line(&mut out, cells.into_iter());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(
            line(vec![
                json!("a"),
                json!(1),
                Value::Null,
                json!(true),
                json!(0.5)
            ]),
            "a,1,,true,0.5\r\n"
        );
        assert_eq!(
            line(vec![json!("x,y"), json!("say \"hi\"\nthere")]),
            "\"x,y\",\"say \"\"hi\"\"\nthere\"\r\n"
        );
        assert_eq!(line(vec![json!("=1+1"), json!("-2")]), "'=1+1,'-2\r\n");
        assert_eq!(
            line(vec![json!({"a": "b,c"})]),
            "\"{\"\"a\"\":\"\"b,c\"\"}\"\r\n"
        );
    }

    #[test]
    fn export_bodies() {
        let p = ExportParams { format: None };
        let r = parse(&json!({}), &p).unwrap();
        assert_eq!(
            (r.order, r.limit, r.format),
            (ExportOrder::Desc, None, Format::JsonLines)
        );
        let r = parse(
            &json!({"sort": {"created_at": "asc"}, "limit": 5000, "format": "csv"}),
            &p,
        )
        .unwrap();
        assert_eq!(
            (r.order, r.limit, r.format),
            (ExportOrder::Asc, Some(5000), Format::Csv)
        );
        let q = ExportParams {
            format: Some("CSV".into()),
        };
        assert_eq!(parse(&json!({}), &q).unwrap().format, Format::Csv);
        let e = |v: Value| parse(&v, &p).err().unwrap().1;
        assert!(e(json!({"sort": {"cost": "asc"}})).contains("created_at"));
        assert!(e(json!({"sort": {"nope": "asc"}})).contains("`nope`"));
        assert!(e(json!({"format": "xml"})).contains("csv or jsonl"));
        assert!(e(json!({"offset": 5})).contains("offset"));
        assert!(e(json!({"limit": -1})).contains("`limit`"));
        assert!(e(json!({"filter": {"request_response_rmt": {"x": {}}}})).contains("`x`"));
        assert_eq!(page_size(Some(250), 200), 50);
        assert_eq!(page_size(Some(200), 200), 0);
        assert_eq!(page_size(None, 1_000_000), PAGE_ROWS);
    }
}
