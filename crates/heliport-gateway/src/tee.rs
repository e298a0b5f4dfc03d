//! The tee: forwards a response body, untouched, while keeping a size-capped
//! copy and reading usage from SSE events as they pass. It works over any
//! body: an upstream's, or a cached answer replayed.
//!
//! Frames that are already waiting are sent to the client together: the
//! HTTP client hands over one chunk of a chunked body at a time, so a burst
//! of small SSE events would otherwise cost one write (and one wake-up of
//! the client) per event. After each frame the tee yields to let the
//! upstream connection decode the next one; whatever it found is joined, and
//! nothing waits on the network for it.
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

/// Frames waiting together are joined up to this many bytes; a frame this
/// big goes out as it is, uncopied.
const COALESCE_BYTES: usize = 16 << 10;

/// Passes through the scheduler before bytes held for joining are sent. The
/// upstream connection's task usually runs only on the second (measured:
/// with one, no burst of events was ever joined; with two, all were).
const YIELDS_BEFORE_SENDING: u8 = 2;

/// Sends in a row whose yields joined nothing before the tee stops
/// yielding: the upstream paces its events (a provider streaming tokens),
/// and each yield only polled the client connection once more for nothing.
const PACED_AFTER: u8 = 2;

/// A paced stream yields again on this send, in case its events now come
/// in bursts; a burst found makes it yield on every send again.
const PROBE_EVERY: u8 = 16;

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
    /// Boxed: the futures and bodies that hold a pending record move a
    /// pointer, not the exchange (1.4 KB).
    exchange: Option<Box<Exchange>>,
    recorder: Recorder,
    started: Instant,
    hooks: Vec<Box<dyn CompletionHook>>,
    prices: Option<Arc<PriceTable>>,
}

impl PendingRecord {
    pub fn new(exchange: impl Into<Box<Exchange>>, recorder: Recorder, started: Instant) -> Self {
        PendingRecord {
            exchange: Some(exchange.into()),
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

    /// The exchange to be recorded; `None` once it has been.
    pub fn exchange(&self) -> Option<&Exchange> {
        self.exchange.as_deref()
    }

    /// The exchange to be recorded, to fill in; `None` once it has been.
    pub fn exchange_mut(&mut self) -> Option<&mut Exchange> {
        self.exchange.as_deref_mut()
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
    /// When the upstream was last found silent after sending something: the
    /// idle timeout counts from there. Read from the clock once per silence,
    /// not once per frame.
    last_frame: Instant,
    /// Frames arrived since `last_frame` was taken.
    frames_since: bool,
    /// Armed only while the upstream is pending, re-armed lazily so a busy
    /// stream costs no timer update per frame.
    idle_timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// `Helicone-Stream-Force-Format`: bytes of an event not yet whole; the
    /// client gets whole events only (the record keeps the upstream's bytes).
    reframe: Option<BytesMut>,
    /// Bytes received and not yet handed to the client.
    out: Outgoing,
    /// Times the tee has yielded since the last frame arrived.
    yielded: u8,
    /// Sends in a row that went out alone (see [`PACED_AFTER`]).
    unjoined: u8,
    /// What comes after `out` is sent: a trailers frame or an error.
    deferred: Option<Result<Frame<Bytes>, BoxError>>,
    /// The upstream body has ended (nothing more to poll).
    finished: bool,
}

/// Room made for a stream's body before it arrives (it announces no
/// length). Counted in the record's weight on the queue as allocated.
const STREAM_BODY_RESERVE: usize = 4 << 10;

/// Bytes waiting for the client: one frame kept as it is, copied into a
/// buffer only once a second joins it.
#[derive(Default)]
struct Outgoing {
    held: Option<Bytes>,
    joined: BytesMut,
}

impl Outgoing {
    fn push(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        if self.held.is_none() && self.joined.is_empty() {
            self.held = Some(data);
            return;
        }
        if let Some(first) = self.held.take() {
            self.joined.reserve(first.len() + data.len());
            self.joined.extend_from_slice(&first);
        }
        self.joined.extend_from_slice(&data);
    }

    fn len(&self) -> usize {
        self.held.as_ref().map_or(self.joined.len(), Bytes::len)
    }

    fn take(&mut self) -> Option<Bytes> {
        if let Some(b) = self.held.take() {
            return Some(b);
        }
        (!self.joined.is_empty()).then(|| self.joined.split().freeze())
    }
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
            // A body of announced length starts in an allocation of about
            // its size, not in a chain of ever larger copies; so does a
            // stream, in a few kilobytes, where growing from its first event
            // took four copies for a short chat stream.
            let len = match inner.size_hint().exact() {
                Some(len) => Some(usize::try_from(len).unwrap_or(usize::MAX)),
                None => is_sse.then_some(STREAM_BODY_RESERVE),
            };
            if let Some(len) = len {
                ex.response_body.reserve(len, cap);
            }
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
            frames_since: false,
            idle_timer: None,
            reframe: None,
            out: Outgoing::default(),
            yielded: 0,
            unjoined: 0,
            deferred: None,
            finished: false,
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

    /// Passes through the scheduler held bytes wait for more to join them.
    /// After the stream's terminal event, the body's end is what comes next,
    /// however paced the events were: waiting for it lets the last event and
    /// the end of the body leave in one write.
    fn yields_allowed(&self) -> u8 {
        let ending = self.sse.as_ref().is_some_and(|s| s.acc.is_complete());
        if !ending && (PACED_AFTER..PROBE_EVERY).contains(&self.unjoined) {
            0
        } else {
            YIELDS_BEFORE_SENDING
        }
    }

    /// Whether the upstream has been silent past the idle timeout. The timer is
    /// not moved on every frame: when it fires early (frames came since it was
    /// set), it is re-armed for the real deadline then.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        if std::mem::take(&mut self.frames_since) {
            self.last_frame = Instant::now();
        }
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
            if let Some(ex) = self.pending.exchange_mut() {
                // Finished where the record is made (or by a completion
                // hook that needs the usage now), not before the stream's
                // last bytes go out.
                ex.stream = Some(Box::new(s.acc));
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
            if this.out.len() == 0 {
                if let Some(next) = this.deferred.take() {
                    return Poll::Ready(Some(next));
                }
            }
            if this.finished {
                return Poll::Ready(this.out.take().map(|b| Ok(Frame::data(b))));
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    this.frames_since = true;
                    let end = this.inner.is_end_stream();
                    let data = match frame.into_data() {
                        Ok(data) => data,
                        Err(other) => {
                            if end {
                                this.complete(None);
                            }
                            // Trailers go after the bytes before them.
                            match this.out.take() {
                                Some(b) => {
                                    this.deferred = Some(Ok(other));
                                    return Poll::Ready(Some(Ok(Frame::data(b))));
                                }
                                None => return Poll::Ready(Some(Ok(other))),
                            }
                        }
                    };
                    this.on_data(&data);
                    if this.yielded > 0 {
                        // It came while bytes waited: the events come in bursts.
                        this.unjoined = 0;
                    }
                    this.yielded = 0;
                    if end {
                        this.complete(None);
                        this.finished = true;
                    }
                    match this.reframe.as_mut() {
                        None => this.out.push(data),
                        Some(buf) => {
                            buf.extend_from_slice(&data);
                            if let Some(whole) = this.take_whole(end) {
                                this.out.push(whole);
                            }
                        }
                    }
                    if end || this.out.len() >= COALESCE_BYTES {
                        if let Some(b) = this.out.take() {
                            return Poll::Ready(Some(Ok(Frame::data(b))));
                        }
                    }
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
                    this.finished = true;
                    // The client gets the bytes that came before the break.
                    match this.out.take() {
                        Some(b) => {
                            this.deferred = Some(Err(e));
                            return Poll::Ready(Some(Ok(Frame::data(b))));
                        }
                        None => return Poll::Ready(Some(Err(e))),
                    }
                }
                Poll::Ready(None) => {
                    this.complete(None);
                    this.finished = true;
                    if let Some(tail) = this.take_whole(true) {
                        this.out.push(tail);
                    }
                    return Poll::Ready(this.out.take().map(|b| Ok(Frame::data(b))));
                }
                Poll::Pending if this.out.len() > 0 => {
                    if this.yielded < this.yields_allowed() {
                        // Let the upstream connection decode what it has
                        // already read; come back at once.
                        this.yielded += 1;
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    this.unjoined = if this.unjoined >= PROBE_EVERY {
                        PACED_AFTER
                    } else {
                        this.unjoined + 1
                    };
                    this.yielded = 0;
                    if let Some(b) = this.out.take() {
                        return Poll::Ready(Some(Ok(Frame::data(b))));
                    }
                }
                Poll::Pending if this.idle_expired(cx) => {
                    this.finished = true;
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
        (self.finished || self.inner.is_end_stream())
            && self.reframe.as_ref().is_none_or(|b| b.is_empty())
            && self.out.len() == 0
            && self.deferred.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        // Re-framing may add a missing blank line at the end.
        if self.reframe.is_some() {
            return SizeHint::default();
        }
        // Bytes held for joining are still to come.
        let waiting = self.out.len() as u64;
        let inner = self.inner.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower().saturating_add(waiting));
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper.saturating_add(waiting));
        }
        hint
    }
}

/// How long a streamed answer's head waits for its first events. Providers
/// send the head and the first event together; forwarded apart, they cost
/// a write each and wake the client twice. A first event that takes longer
/// than this gets its head sent without it: the head is then this much
/// later, the event itself no later. (Waiting on a few passes through the
/// scheduler alone, without the timer, joined too few at load to matter.)
pub const HEAD_START_WAIT: Duration = Duration::from_millis(5);

/// Passes through the scheduler a stream's head waits for its first events
/// before a timer is set for the rest of [`HEAD_START_WAIT`]: the tee's own
/// yields, and the upstream connection's turn to decode what it read (each
/// pass puts this task behind the ones already queued, without polling the
/// network). With the head and all of a short stream in one read, at one
/// connection, the first event took 7 or 8 passes: with 4, every stream set
/// the timer, and the timer, earlier than any other, cost a write to wake
/// the thread's own driver (1.04 writes a stream; 0.12 with 8, 0.04 with 12).
const HEAD_START_PASSES: u8 = 12;

/// A body whose first frame was taken before the response head was sent,
/// so the head and the first events leave in one write (measured at c32:
/// 3.0 writes to 2.1 a streamed request, 20 % more streamed requests a
/// second).
pub struct HeadStart<B> {
    first: Option<Result<Frame<Bytes>, BoxError>>,
    inner: B,
    /// A first frame that is an error waits one pass: hyper sends the head
    /// when the body is not ready, and an error in the same pass would end
    /// the connection with no head at all (the client then sees an empty
    /// reply, which SDKs retry, instead of a broken stream).
    error_held: bool,
}

impl<B> HeadStart<B>
where
    B: Body<Data = Bytes, Error = BoxError> + Unpin,
{
    /// `inner`, with its first frame taken if it comes within `wait` (the
    /// events that came with it are joined by the tee).
    pub async fn new(mut inner: B, wait: Duration) -> Self {
        use http_body_util::BodyExt;
        let deadline = tokio::time::Instant::now() + wait;
        // The first events usually came in the same read as the head: the
        // upstream connection decodes them within a few passes through the
        // scheduler, and a timer (set, then cancelled, and a wake-up of the
        // driver when it is the earliest) is only armed when they did not.
        let mut passes = 0;
        let spun = std::future::poll_fn(|cx| match Pin::new(&mut inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(Some(frame)),
            Poll::Pending if passes < HEAD_START_PASSES => {
                passes += 1;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Pending => Poll::Ready(None),
        })
        .await;
        let first = match spun {
            Some(frame) => frame,
            // A timeout drops only the wait: the tee keeps what it holds.
            None => tokio::time::timeout_at(deadline, inner.frame())
                .await
                .ok()
                .flatten(),
        };
        HeadStart {
            first,
            inner,
            error_held: false,
        }
    }
}

impl<B> Body for HeadStart<B>
where
    B: Body<Data = Bytes, Error = BoxError> + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if matches!(this.first, Some(Err(_))) && !this.error_held {
            this.error_held = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        match this.first.take() {
            Some(first) => Poll::Ready(Some(first)),
            None => Pin::new(&mut this.inner).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.first {
            Some(_) => SizeHint::default(),
            None => self.inner.size_hint(),
        }
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

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::future::Future;

    use heliport_core::record::RequestRecord;
    use heliport_store::sqlite::sink::PromptVersionCache;
    use heliport_store::writer::{self, RecordSink, WriterConfig};
    use heliport_store::StoreError;
    use http_body_util::BodyExt;

    use super::*;

    struct NullSink;

    impl RecordSink for NullSink {
        fn insert_records(
            &self,
            records: &mut [RequestRecord],
            _versions: &mut PromptVersionCache,
        ) -> impl Future<Output = Result<u64, StoreError>> + Send {
            let n = records.len() as u64;
            async move { Ok(n) }
        }
    }

    /// What the upstream does on each poll.
    enum Step {
        Data(&'static [u8]),
        Big(usize),
        Trailers,
        Fail,
        /// Not ready: wakes itself, like a connection that will have more.
        Wait,
    }

    struct Scripted(VecDeque<Step>);

    impl Body for Scripted {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            match self.0.pop_front() {
                None => Poll::Ready(None),
                Some(Step::Data(b)) => Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b))))),
                Some(Step::Big(n)) => {
                    Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; n])))))
                }
                Some(Step::Trailers) => {
                    Poll::Ready(Some(Ok(Frame::trailers(http::HeaderMap::new()))))
                }
                Some(Step::Fail) => Poll::Ready(Some(Err("connection reset".into()))),
                Some(Step::Wait) => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            }
        }
    }

    /// The frames the client is sent, as text ("<trailers>", "<error>").
    async fn frames(steps: Vec<Step>) -> Vec<String> {
        frames_ending(steps)
            .await
            .into_iter()
            .map(|(f, _)| f)
            .collect()
    }

    /// Each frame the client gets, and whether the body said it was the last
    /// (hyper then writes it and the body's end at once).
    async fn frames_ending(steps: Vec<Step>) -> Vec<(String, bool)> {
        let dir = std::env::temp_dir().join(format!("heliport-tee-{}", uuid::Uuid::new_v4()));
        let cfg = WriterConfig {
            spool_path: dir.join("spool"),
            ..WriterConfig::default()
        };
        std::fs::create_dir_all(&dir).unwrap();
        let (recorder, handle) =
            writer::start(NullSink, Arc::new(PriceTable::builtin().unwrap()), cfg).unwrap();
        let pending = PendingRecord::new(Exchange::default(), recorder, Instant::now());
        let mut body = TeeBody::new(
            Scripted(steps.into()),
            pending,
            true,
            ApiFlavor::OpenAiChat,
            1 << 20,
            Duration::from_secs(60),
        );
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            let text = match frame {
                Ok(f) => match f.into_data() {
                    Ok(d) if d.len() > 64 => format!("<{} bytes>", d.len()),
                    Ok(d) => String::from_utf8_lossy(&d).into_owned(),
                    Err(_) => "<trailers>".into(),
                },
                Err(_) => "<error>".into(),
            };
            out.push((text, body.is_end_stream()));
        }
        drop(body);
        handle.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
        out
    }

    /// Never ready, and never wakes: an upstream yet to send its first event.
    struct Silent;

    impl Body for Silent {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn the_head_takes_the_first_events_with_it_or_goes_without_them() {
        use Step::*;
        // Ready after a pass: taken before the head, then the rest in order.
        let mut body = HeadStart::new(
            Scripted(vec![Wait, Data(b"a"), Data(b"b")].into()),
            HEAD_START_WAIT,
        )
        .await;
        assert!(body.first.is_some());
        let mut out = Vec::new();
        while let Some(Ok(f)) = body.frame().await {
            out.push(f.into_data().unwrap());
        }
        assert_eq!(out, ["a", "b"]);
        // A first frame that is an error lets the head go out first.
        let mut body = HeadStart::new(Scripted(vec![Fail].into()), HEAD_START_WAIT).await;
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(Pin::new(&mut body).poll_frame(&mut cx).is_pending());
        assert!(matches!(
            Pin::new(&mut body).poll_frame(&mut cx),
            Poll::Ready(Some(Err(_)))
        ));
        // Nothing yet: the head goes once the wait is over, the body intact.
        let started = Instant::now();
        let body = HeadStart::new(Silent, Duration::from_millis(20)).await;
        assert!(body.first.is_none());
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(!body.is_end_stream());
    }

    #[tokio::test]
    async fn frames_waiting_together_go_out_as_one() {
        use Step::*;
        let out = frames(vec![
            Data(b"a"),
            Data(b"b"),
            Wait,
            Data(b"c"),
            Wait,
            Wait,
            Wait,
        ])
        .await;
        assert_eq!(out, ["abc"]);
    }

    #[tokio::test]
    async fn a_frame_alone_goes_out_once_the_upstream_has_nothing_more() {
        use Step::*;
        let out = frames(vec![
            Data(b"a"),
            Wait,
            Wait,
            Wait,
            Data(b"b"),
            Wait,
            Wait,
            Wait,
        ])
        .await;
        assert_eq!(out, ["a", "b"]);
    }

    #[tokio::test]
    async fn a_paced_stream_is_sent_without_waiting_and_a_burst_is_joined_again() {
        use Step::*;
        // Two frames that waited for company in vain; from the third on,
        // each goes out at once: "c" does not wait for "d".
        let out = frames(vec![
            Data(b"a"),
            Wait,
            Wait,
            Wait,
            Data(b"b"),
            Wait,
            Wait,
            Wait,
            Data(b"c"),
            Wait,
            Data(b"d"),
            Wait,
        ])
        .await;
        assert_eq!(out, ["a", "b", "c", "d"]);
        // Every PROBE_EVERY sends a paced stream waits again: a burst then
        // found is joined, and the stream waits on every send again.
        let mut steps = Vec::new();
        for _ in 0..PROBE_EVERY {
            steps.extend([Data(b"p"), Wait, Wait, Wait]);
        }
        steps.extend([Data(b"x"), Wait, Data(b"y"), Wait, Wait, Wait]);
        steps.extend([Data(b"z"), Wait, Data(b"w")]);
        let out = frames(steps).await;
        assert_eq!(out.len(), usize::from(PROBE_EVERY) + 2, "{out:?}");
        assert_eq!(out[usize::from(PROBE_EVERY)..], ["xy", "zw"]);
    }

    #[tokio::test]
    async fn a_paced_streams_last_event_waits_for_the_end_of_the_body() {
        use Step::*;
        let mut steps = Vec::new();
        for event in [&b"data: {}\n\n"[..], b"data: {}\n\n", b"data: {}\n\n"] {
            steps.extend([Data(event), Wait, Wait, Wait]);
        }
        // Paced by now: each event goes out alone, but the terminal one
        // waits for what follows it, the end of the body.
        steps.extend([Data(b"data: [DONE]\n\n"), Wait]);
        let out = frames_ending(steps).await;
        assert_eq!(out.len(), 4, "{out:?}");
        assert_eq!(out[3], ("data: [DONE]\n\n".to_string(), true));
        assert!(out[..3].iter().all(|(_, last)| !last), "{out:?}");
    }

    #[tokio::test]
    async fn frames_reaching_the_size_limit_go_out_at_once() {
        use Step::*;
        let out = frames(vec![
            Data(b"a"),
            Big(COALESCE_BYTES),
            Big(COALESCE_BYTES + 1),
        ])
        .await;
        assert_eq!(
            out,
            [
                format!("<{} bytes>", COALESCE_BYTES + 1),
                format!("<{} bytes>", COALESCE_BYTES + 1)
            ]
        );
    }

    #[tokio::test]
    async fn bytes_before_trailers_or_a_break_reach_the_client_first() {
        use Step::*;
        assert_eq!(
            frames(vec![Data(b"a"), Data(b"b"), Trailers]).await,
            ["ab", "<trailers>"]
        );
        assert_eq!(
            frames(vec![Data(b"a"), Data(b"b"), Fail]).await,
            ["ab", "<error>"]
        );
    }
}
