//! The tee: forwards a response body frame by frame, untouched, while
//! keeping a size-capped copy and reading usage from SSE events as they pass.
//! It works over any body: an upstream's, or a cached answer replayed.
//!
//! The record is completed when the stream ends, fails, or the client goes
//! away (then: cancelled), so every request gets exactly one record; at that
//! moment the completion hooks (settling a `u=cents` limit, saving a cache
//! entry) receive the answer's outcome.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use chrono::Utc;
use heliport_core::extract::{ApiFlavor, StreamAccumulator};
use heliport_core::pricing::PriceTable;
use heliport_core::record::{Exchange, Outcome};
use heliport_core::sse::SseParser;
use heliport_store::writer::Recorder;
use http_body::{Body, Frame, SizeHint};

/// Largest single SSE event the usage reader buffers; bigger ones are skipped
/// (the bytes still reach the client).
const MAX_EVENT_BYTES: usize = 4 << 20;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Work done once an answer has ended, with what it reported and cost.
pub trait CompletionHook: Send {
    /// Called once, on the request path: anything slow must be spawned.
    fn on_complete(self: Box<Self>, outcome: &Outcome, exchange: &Exchange);
}

/// Run a completion hook's work: polled once at once, so an in-process store
/// is done before the client can send its next request; whatever still
/// waits (a Redis round trip) finishes on a task of its own.
pub(crate) fn run_soon(work: impl Future<Output = ()> + Send + 'static) {
    let mut work = Box::pin(work);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    if work.as_mut().poll(&mut cx).is_ready() {
        return;
    }
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(work);
    }
}

/// An exchange waiting for its outcome. Dropped unfinished, it records itself
/// as cancelled: the client went away.
pub struct PendingRecord {
    exchange: Option<Exchange>,
    recorder: Recorder,
    started: Instant,
    hooks: Vec<Box<dyn CompletionHook>>,
    prices: Option<Arc<PriceTable>>,
}

impl PendingRecord {
    pub fn new(exchange: Exchange, recorder: Recorder, started: Instant) -> Self {
        PendingRecord {
            exchange: Some(exchange),
            recorder,
            started,
            hooks: Vec::new(),
            prices: None,
        }
    }

    /// Run `hook` when the answer ends; `prices` price its outcome.
    pub fn on_complete(&mut self, hook: Box<dyn CompletionHook>, prices: &Arc<PriceTable>) {
        self.hooks.push(hook);
        self.prices.get_or_insert_with(|| prices.clone());
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
            if let Some(prices) = self.prices.take() {
                let outcome = ex.outcome(&prices);
                for hook in self.hooks.drain(..) {
                    hook.on_complete(&outcome, &ex);
                }
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
pub struct TeeBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    inner: B,
    pending: PendingRecord,
    sse: Option<SseState>,
    cap: usize,
    first_byte_seen: bool,
    idle: Duration,
    last_frame: Instant,
    /// Armed only while the upstream is pending, re-armed lazily so a busy
    /// stream costs a clock read per frame, not a timer update.
    idle_timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// `Helicone-Stream-Force-Format`: bytes of an event not yet whole; the
    /// client gets whole events only (the record keeps the upstream's bytes).
    reframe: Option<BytesMut>,
}

impl<B> TeeBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    pub fn new(
        inner: B,
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
            reframe: None,
        }
    }

    /// Send the client whole SSE events only, however the upstream split them.
    pub fn reframe_events(mut self, on: bool) -> Self {
        self.reframe = on.then(BytesMut::new);
        self
    }

    /// What may go to the client of the events gathered so far: the whole
    /// events, or at the end everything, the last event terminated.
    fn take_whole(&mut self, end: bool) -> Option<Bytes> {
        let buf = self.reframe.as_mut()?;
        let n = if end {
            buf.len()
        } else {
            heliport_core::sse::split_complete(buf)
        };
        if n == 0 {
            return None;
        }
        let mut out = buf.split_to(n);
        if end {
            // The stream ended without the last event's blank line: add it,
            // so the client dispatches that event too.
            if !(out.ends_with(b"\n\n") || out.ends_with(b"\r\n\r\n")) {
                out.extend_from_slice(if out.ends_with(b"\n") { b"\n" } else { b"\n\n" });
            }
        }
        Some(out.freeze())
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
            let mut extracted = s.acc.finish();
            if let Some(ex) = self.pending.exchange_mut() {
                // Read once here with the provider's conventions, as the
                // writer would (see `Exchange::outcome`).
                if let Some(p) = ex.price_provider.as_deref() {
                    extracted.adjust_for_provider(p);
                }
                ex.extracted = Some(extracted);
            }
        }
        self.pending.finish(failure);
    }
}

impl<B> Body for TeeBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        loop {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    this.last_frame = Instant::now();
                    let end = this.inner.is_end_stream();
                    let data = match frame.into_data() {
                        Ok(data) => data,
                        Err(other) => {
                            if end {
                                this.complete(None);
                            }
                            return Poll::Ready(Some(Ok(other)));
                        }
                    };
                    this.on_data(&data);
                    if end {
                        this.complete(None);
                    }
                    if this.reframe.is_none() {
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    if let Some(buf) = this.reframe.as_mut() {
                        buf.extend_from_slice(&data);
                    }
                    if let Some(whole) = this.take_whole(end) {
                        return Poll::Ready(Some(Ok(Frame::data(whole))));
                    }
                    // Not a whole event yet: read on.
                }
                Poll::Ready(Some(Err(e))) => {
                    let e: BoxError = e.into();
                    if this.answer_complete() {
                        // Broken after the last event: nothing the client needed was lost.
                        tracing::debug!(error = %e, "upstream connection closed after the stream's end");
                        this.complete(None);
                    } else {
                        tracing::warn!(error = %e, "upstream stream broke");
                        this.complete(Some("stream_error"));
                    }
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    this.complete(None);
                    return Poll::Ready(this.take_whole(true).map(|b| Ok(Frame::data(b))));
                }
                Poll::Pending if this.idle_expired(cx) => {
                    if this.answer_complete() {
                        // The upstream kept the body open after its last event: end it here.
                        this.complete(None);
                        return Poll::Ready(this.take_whole(true).map(|b| Ok(Frame::data(b))));
                    }
                    tracing::warn!(idle_secs = this.idle.as_secs(), "upstream stream went idle");
                    this.complete(Some("upstream_timeout"));
                    return Poll::Ready(Some(Err(Box::new(StreamIdle(this.idle)))));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream() && self.reframe.as_ref().is_none_or(|b| b.is_empty())
    }

    fn size_hint(&self) -> SizeHint {
        // Re-framing may add a missing blank line at the end.
        if self.reframe.is_some() {
            return SizeHint::default();
        }
        self.inner.size_hint()
    }
}

impl<B> Drop for TeeBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    fn drop(&mut self) {
        // Unfinished: the client went away, unless the answer was already whole.
        if self.answer_complete() {
            self.complete(None);
        } else if self.pending.exchange_mut().is_some() {
            self.complete(Some("cancelled"));
        }
    }
}
