//! The tee: forwards the upstream body frame by frame, untouched, while
//! keeping a size-capped copy and reading usage from SSE events as they pass.
//! The record is completed when the stream ends, fails, or the client goes
//! away (then: cancelled), so every request gets exactly one record.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use heliport_core::extract::{ApiFlavor, StreamAccumulator};
use heliport_core::record::Exchange;
use heliport_core::sse::SseParser;
use heliport_store::writer::Recorder;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

/// Largest single SSE event the usage reader buffers; bigger ones are skipped
/// (the bytes still reach the client).
const MAX_EVENT_BYTES: usize = 4 << 20;

/// An exchange waiting for its outcome. Dropped unfinished, it records itself
/// as cancelled: the client went away.
pub struct PendingRecord {
    exchange: Option<Exchange>,
    recorder: Recorder,
    started: Instant,
}

impl PendingRecord {
    pub fn new(exchange: Exchange, recorder: Recorder, started: Instant) -> Self {
        PendingRecord {
            exchange: Some(exchange),
            recorder,
            started,
        }
    }

    pub fn exchange_mut(&mut self) -> Option<&mut Exchange> {
        self.exchange.as_mut()
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    /// Record now, with the given failure (None = completed).
    pub fn finish(&mut self, failure: Option<&str>) {
        if let Some(mut ex) = self.exchange.take() {
            if ex.failure.is_none() {
                ex.failure = failure.map(str::to_string);
            }
            ex.latency_ms = Some(self.started.elapsed().as_millis() as u64);
            if ex.response_created_at.is_none() && ex.status.is_some() {
                ex.response_created_at = Some(Utc::now());
            }
            self.recorder.record(ex);
        }
    }
}

impl Drop for PendingRecord {
    fn drop(&mut self) {
        self.finish(Some("cancelled"));
    }
}

struct SseState {
    parser: SseParser,
    acc: StreamAccumulator,
}

/// The upstream went quiet mid-stream for longer than the idle timeout.
#[derive(Debug)]
pub struct StreamIdle(Duration);

impl std::fmt::Display for StreamIdle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the upstream sent nothing for {} s", self.0.as_secs())
    }
}

impl std::error::Error for StreamIdle {}

/// The response body sent to the client.
pub struct TeeBody {
    inner: Incoming,
    pending: PendingRecord,
    sse: Option<SseState>,
    cap: usize,
    first_byte_seen: bool,
    idle: Duration,
    last_frame: Instant,
    /// Armed only while the upstream is pending, re-armed lazily so a busy
    /// stream costs a clock read per frame, not a timer update.
    idle_timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl TeeBody {
    pub fn new(
        inner: Incoming,
        mut pending: PendingRecord,
        is_sse: bool,
        flavor: ApiFlavor,
        cap: usize,
        idle: Duration,
    ) -> Self {
        if let Some(ex) = pending.exchange_mut() {
            ex.response_is_sse = is_sse;
        }
        TeeBody {
            inner,
            pending,
            sse: is_sse.then(|| SseState {
                parser: SseParser::new(MAX_EVENT_BYTES),
                acc: StreamAccumulator::new(flavor),
            }),
            cap,
            first_byte_seen: false,
            idle,
            last_frame: Instant::now(),
            idle_timer: None,
        }
    }

    /// Whether the upstream has been silent past the idle timeout. The timer is
    /// not moved on every frame: when it fires early (frames came since it was
    /// set), it is re-armed for the real deadline then.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let deadline = self.last_frame + self.idle;
        let timer = self
            .idle_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
        while timer.as_mut().poll(cx).is_ready() {
            if Instant::now() >= deadline {
                return true;
            }
            timer.as_mut().reset(deadline.into());
        }
        false
    }

    fn on_data(&mut self, data: &Bytes) {
        if !self.first_byte_seen && !data.is_empty() {
            self.first_byte_seen = true;
            let ttft = self.pending.started().elapsed().as_millis() as u64;
            if let Some(ex) = self.pending.exchange_mut() {
                ex.time_to_first_token_ms = Some(ttft);
            }
        }
        if let Some(ex) = self.pending.exchange_mut() {
            ex.response_body.push(data, self.cap);
        }
        if let Some(s) = self.sse.as_mut() {
            let acc = &mut s.acc;
            s.parser.push(data, |ev| acc.on_event(ev));
        }
    }

    /// The stream's terminal event has passed: the answer is whole, whatever
    /// the connection does next (SDKs hang up at `[DONE]`).
    fn answer_complete(&self) -> bool {
        self.inner.is_end_stream() || self.sse.as_ref().is_some_and(|s| s.acc.is_complete())
    }

    fn complete(&mut self, failure: Option<&str>) {
        if let Some(mut s) = self.sse.take() {
            let acc = &mut s.acc;
            s.parser.finish(|ev| acc.on_event(ev));
            let extracted = s.acc.finish();
            if let Some(ex) = self.pending.exchange_mut() {
                ex.stream_extracted = Some(extracted);
            }
        }
        self.pending.finish(failure);
    }
}

impl Body for TeeBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.last_frame = Instant::now();
                if let Some(data) = frame.data_ref() {
                    this.on_data(data);
                }
                if this.inner.is_end_stream() {
                    this.complete(None);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                if this.answer_complete() {
                    // Broken after the last event: nothing the client needed was lost.
                    tracing::debug!(error = %e, "upstream connection closed after the stream's end");
                    this.complete(None);
                } else {
                    tracing::warn!(error = %e, "upstream stream broke");
                    this.complete(Some("stream_error"));
                }
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Ready(None) => {
                this.complete(None);
                Poll::Ready(None)
            }
            Poll::Pending if this.idle_expired(cx) => {
                if this.answer_complete() {
                    // The upstream kept the body open after its last event: end it here.
                    this.complete(None);
                    return Poll::Ready(None);
                }
                tracing::warn!(idle_secs = this.idle.as_secs(), "upstream stream went idle");
                this.complete(Some("upstream_timeout"));
                Poll::Ready(Some(Err(Box::new(StreamIdle(this.idle)))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for TeeBody {
    fn drop(&mut self) {
        // Unfinished: the client went away, unless the answer was already whole.
        if self.answer_complete() {
            self.complete(None);
        } else if self.pending.exchange_mut().is_some() {
            self.complete(Some("cancelled"));
        }
    }
}
