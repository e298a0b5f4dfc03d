//! The response body: either one pre-serialised buffer or a paced sequence of
//! pre-built stream events.
//!
//! A hand-written `Body` (rather than a channel fed by a task) keeps streaming
//! free of extra tasks and allocations, and lets `x-mock-break-after` fail the
//! body at an exact event so hyper aborts the connection mid-stream.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// How a streamed body is cut and paced (from the `x-mock-*` controls).
#[derive(Debug, Clone, Copy, Default)]
pub struct Pacing {
    pub chunk_delay: Option<Duration>,
    pub break_after: Option<usize>,
    pub end_delay: Option<Duration>,
    pub chunk_bytes: Option<usize>,
}

/// Body of every mock response.
pub struct MockBody {
    inner: Inner,
}

enum Inner {
    Full(Option<Bytes>),
    Events(Box<Events>),
}

struct Events {
    queue: VecDeque<Bytes>,
    /// Counts this body if it is dropped before its last event.
    cut: Option<Arc<AtomicU64>>,
    chunk_delay: Option<Duration>,
    sleep: Option<Pin<Box<Sleep>>>,
    break_after: Option<usize>,
    end_delay: Option<Duration>,
    sent: usize,
    yielded_before_break: bool,
}

impl MockBody {
    /// A complete body; hyper sends it with a `content-length`.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Self {
            inner: Inner::Full(Some(bytes.into())),
        }
    }

    /// A chunked body sending `events` one frame each (or re-cut into frames
    /// of `pacing.chunk_bytes`), waiting `chunk_delay` between frames, failing
    /// after `break_after` frames and holding the body open `end_delay` after
    /// the last frame.
    pub fn events(events: Vec<Bytes>, pacing: Pacing) -> Self {
        let queue: VecDeque<Bytes> = match pacing.chunk_bytes {
            Some(n) => {
                let all: Vec<u8> = events.concat();
                all.chunks(n.max(1)).map(Bytes::copy_from_slice).collect()
            }
            None => events.into(),
        };
        Self {
            inner: Inner::Events(Box::new(Events {
                queue,
                chunk_delay: pacing.chunk_delay.filter(|d| !d.is_zero()),
                sleep: None,
                break_after: pacing.break_after,
                end_delay: pacing.end_delay.filter(|d| !d.is_zero()),
                sent: 0,
                yielded_before_break: false,
                cut: None,
            })),
        }
    }
}

impl MockBody {
    /// Count this body in `counter` if it is dropped before its end.
    pub fn count_cut_in(&mut self, counter: &Arc<AtomicU64>) {
        if let Inner::Events(e) = &mut self.inner {
            e.cut = Some(Arc::clone(counter));
        }
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        if let Some(c) = &self.cut {
            if !self.queue.is_empty() && self.break_after.is_none() {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Events {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        if let Some(sleep) = self.sleep.as_mut() {
            ready!(sleep.as_mut().poll(cx));
            self.sleep = None;
        }
        if self.break_after.is_some_and(|n| self.sent >= n) && !self.queue.is_empty() {
            // hyper only flushes once the body stops being ready; failing in
            // the same poll would discard the head and the events before the
            // break, so yield once to let them reach the client first.
            if !self.yielded_before_break {
                self.yielded_before_break = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "x-mock-break-after: aborting the stream",
            ))));
        }
        let Some(event) = self.queue.pop_front() else {
            return Poll::Ready(None);
        };
        self.sent += 1;
        let pause = if self.queue.is_empty() {
            self.end_delay.take()
        } else {
            self.chunk_delay
        };
        if let Some(delay) = pause {
            self.sleep = Some(Box::pin(tokio::time::sleep(delay)));
        }
        Poll::Ready(Some(Ok(Frame::data(event))))
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match &mut self.get_mut().inner {
            Inner::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Inner::Events(events) => events.poll_next(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Full(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
            Inner::Events(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Inner::Events(_) => SizeHint::default(),
        }
    }
}
