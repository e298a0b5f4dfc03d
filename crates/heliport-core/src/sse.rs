//! Incremental Server-Sent-Events parsing (WHATWG `text/event-stream`).
//!
//! The gateway streams provider bytes to the client untouched and feeds the
//! same chunks here to observe usage, so this runs once per response chunk.
//! Events that lie wholly inside one chunk are handed out as slices of that
//! chunk; only the unfinished tail of a chunk is copied, and never more than
//! `max_event_bytes` of it.

use memchr::{memchr, memchr2};

/// A UTF-8 byte order mark, which the spec strips from the start of a stream.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// One dispatched event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event:` type, `None` for the default (`message`) type or when it is not UTF-8.
    pub event: Option<&'a str>,
    /// The `data:` lines of the event joined with `\n` (no trailing newline).
    pub data: &'a [u8],
}

/// What is kept of a line whose end has not arrived yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Partial {
    None,
    /// Bytes are in `SseParser::line`.
    Keep,
    /// A comment, or part of an oversized event: only its existence matters
    /// (it makes the line non-blank), so its bytes are not kept.
    Drop,
}

/// Event fields that still point into the chunk being parsed.
///
/// Invariant: `data` is `Some` only while the event has exactly one data line
/// and nothing was copied into `SseParser::data` for it yet.
#[derive(Default)]
struct Borrowed<'c> {
    data: Option<&'c [u8]>,
    event: Option<&'c [u8]>,
}

/// Incremental SSE parser: bytes arrive in arbitrary chunks.
#[derive(Debug, Clone)]
pub struct SseParser {
    max_event_bytes: usize,
    line: Vec<u8>,
    partial: Partial,
    /// The previous chunk ended in `\r`: a leading `\n` belongs to that line end.
    pending_cr: bool,
    /// Bytes of the leading BOM matched so far; `BOM.len() + 1` once the check is over.
    bom_matched: usize,
    data: Vec<u8>,
    has_data: bool,
    event: Vec<u8>,
    has_event: bool,
    /// Bytes of the current event's non-comment lines, to bound buffering.
    event_bytes: usize,
    skipping: bool,
    skipped: u64,
}

const BOM_DONE: usize = BOM.len() + 1;

impl SseParser {
    /// A parser that skips (and counts) any event whose lines exceed
    /// `max_event_bytes` in total, so a hostile or broken upstream cannot make
    /// it buffer without bound.
    pub fn new(max_event_bytes: usize) -> Self {
        SseParser {
            max_event_bytes,
            line: Vec::new(),
            partial: Partial::None,
            pending_cr: false,
            bom_matched: 0,
            data: Vec::new(),
            has_data: false,
            event: Vec::new(),
            has_event: false,
            event_bytes: 0,
            skipping: false,
            skipped: 0,
        }
    }

    /// Number of events skipped so far because they exceeded `max_event_bytes`.
    pub fn skipped_events(&self) -> u64 {
        self.skipped
    }

    /// Feed one chunk; calls `on_event` for each complete event (terminated by a blank line).
    pub fn push(&mut self, chunk: &[u8], mut on_event: impl FnMut(&SseEvent<'_>)) {
        let mut pos = 0;
        if chunk.is_empty() {
            return;
        }
        if self.pending_cr {
            self.pending_cr = false;
            if chunk.first() == Some(&b'\n') {
                pos = 1;
            }
        }
        pos = self.strip_bom(chunk, pos);

        if self.partial != Partial::None {
            let rest = chunk.get(pos..).unwrap_or_default();
            let Some(i) = memchr2(b'\n', b'\r', rest) else {
                self.extend_partial(rest);
                return;
            };
            self.extend_partial(rest.get(..i).unwrap_or_default());
            pos = self.after_line_end(chunk, pos + i);
            let partial = std::mem::replace(&mut self.partial, Partial::None);
            if partial == Partial::Keep {
                // The carried line lives in `self.line`; move it out so it can be
                // read while the event state is updated, then hand the allocation back.
                let line = std::mem::take(&mut self.line);
                let mut borrowed = Borrowed::default();
                self.process_line(&line, &mut borrowed, &mut on_event);
                self.materialize(&borrowed);
                self.line = line;
                self.line.clear();
            }
        }

        let mut borrowed = Borrowed::default();
        while let Some(i) = memchr2(b'\n', b'\r', chunk.get(pos..).unwrap_or_default()) {
            let line = chunk.get(pos..pos + i).unwrap_or_default();
            pos = self.after_line_end(chunk, pos + i);
            self.process_line(line, &mut borrowed, &mut on_event);
        }
        // Whatever still points into this chunk must be copied before it goes away.
        self.materialize(&borrowed);
        if pos < chunk.len() {
            self.start_partial(chunk.get(pos..).unwrap_or_default());
        }
    }

    /// End of stream: dispatch a final event that lacked its blank line
    /// (providers sometimes omit it), then reset for a new stream.
    pub fn finish(&mut self, mut on_event: impl FnMut(&SseEvent<'_>)) {
        if self.partial == Partial::Keep {
            let line = std::mem::take(&mut self.line);
            let mut borrowed = Borrowed::default();
            self.process_line(&line, &mut borrowed, &mut on_event);
            self.materialize(&borrowed);
            self.line = line;
        }
        let mut borrowed = Borrowed::default();
        self.process_line(&[], &mut borrowed, &mut on_event);
        self.line.clear();
        self.partial = Partial::None;
        self.pending_cr = false;
        self.bom_matched = 0;
    }

    /// Consumes a leading BOM, which may itself be split across chunks.
    fn strip_bom(&mut self, chunk: &[u8], mut pos: usize) -> usize {
        while self.bom_matched < BOM.len() && pos < chunk.len() {
            if chunk
                .get(pos)
                .is_some_and(|b| BOM.get(self.bom_matched) == Some(b))
            {
                self.bom_matched += 1;
                pos += 1;
            } else {
                // Not a BOM after all: the bytes taken for one are line content.
                let taken = self.bom_matched;
                self.bom_matched = BOM_DONE;
                if taken > 0 {
                    self.start_partial(BOM.get(..taken).unwrap_or_default());
                }
                return pos;
            }
        }
        if self.bom_matched == BOM.len() {
            self.bom_matched = BOM_DONE;
        }
        pos
    }

    /// Position after the line terminator at `end`, treating `\r\n` as one.
    fn after_line_end(&mut self, chunk: &[u8], end: usize) -> usize {
        let next = end + 1;
        if chunk.get(end) == Some(&b'\r') {
            match chunk.get(next) {
                Some(b'\n') => return next + 1,
                None => self.pending_cr = true,
                Some(_) => {}
            }
        }
        next
    }

    fn start_partial(&mut self, bytes: &[u8]) {
        if self.skipping || bytes.first() == Some(&b':') {
            self.partial = Partial::Drop;
        } else if self.event_bytes.saturating_add(bytes.len()) > self.max_event_bytes {
            self.start_skip();
            self.partial = Partial::Drop;
        } else {
            self.line.clear();
            self.line.extend_from_slice(bytes);
            self.partial = Partial::Keep;
        }
    }

    fn extend_partial(&mut self, bytes: &[u8]) {
        if self.partial != Partial::Keep || bytes.is_empty() {
            return;
        }
        let total = self
            .event_bytes
            .saturating_add(self.line.len())
            .saturating_add(bytes.len());
        if total > self.max_event_bytes {
            self.line.clear();
            self.start_skip();
            self.partial = Partial::Drop;
        } else {
            self.line.extend_from_slice(bytes);
        }
    }

    fn start_skip(&mut self) {
        self.skipping = true;
        self.skipped += 1;
        self.reset_event();
    }

    fn reset_event(&mut self) {
        self.data.clear();
        self.has_data = false;
        self.event.clear();
        self.has_event = false;
        self.event_bytes = 0;
    }

    /// Copies the fields still borrowed from a chunk into owned buffers.
    fn materialize(&mut self, borrowed: &Borrowed<'_>) {
        if let Some(d) = borrowed.data {
            self.data.clear();
            self.data.extend_from_slice(d);
            self.has_data = true;
        }
        if let Some(e) = borrowed.event {
            self.event.clear();
            self.event.extend_from_slice(e);
            self.has_event = true;
        }
    }

    fn process_line<'c, F: FnMut(&SseEvent<'_>)>(
        &mut self,
        line: &'c [u8],
        borrowed: &mut Borrowed<'c>,
        on_event: &mut F,
    ) {
        if line.is_empty() {
            if self.skipping {
                self.skipping = false;
                self.reset_event();
            } else {
                self.dispatch(borrowed, on_event);
            }
            *borrowed = Borrowed::default();
            return;
        }
        if self.skipping || line.first() == Some(&b':') {
            return;
        }
        self.event_bytes = self.event_bytes.saturating_add(line.len());
        if self.event_bytes > self.max_event_bytes {
            *borrowed = Borrowed::default();
            self.start_skip();
            return;
        }
        let (field, value) = match memchr(b':', line) {
            Some(i) => {
                let v = line.get(i + 1..).unwrap_or_default();
                (
                    line.get(..i).unwrap_or_default(),
                    v.strip_prefix(b" ").unwrap_or(v),
                )
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                if let Some(first) = borrowed.data.take() {
                    self.data.clear();
                    self.data.extend_from_slice(first);
                    self.data.push(b'\n');
                    self.data.extend_from_slice(value);
                    self.has_data = true;
                } else if self.has_data {
                    self.data.push(b'\n');
                    self.data.extend_from_slice(value);
                } else {
                    borrowed.data = Some(value);
                }
            }
            b"event" => borrowed.event = Some(value),
            _ => {}
        }
    }

    fn dispatch<F: FnMut(&SseEvent<'_>)>(&mut self, borrowed: &Borrowed<'_>, on_event: &mut F) {
        let event = match borrowed.event {
            Some(e) => Some(e),
            None if self.has_event => Some(&self.event[..]),
            None => None,
        };
        let event = event
            .filter(|e| !e.is_empty())
            .and_then(|e| std::str::from_utf8(e).ok());
        let (data, has_data) = match borrowed.data {
            Some(d) => (d, true),
            None => (&self.data[..], self.has_data),
        };
        if has_data || event.is_some() {
            on_event(&SseEvent { event, data });
        }
        self.reset_event();
    }
}

/// Length of the longest prefix of `buf` that ends exactly at an event
/// boundary (just after a blank line), assuming `buf` starts at one.
///
/// Lets the "force format" path re-frame a stream so every chunk it sends
/// holds whole events. A `\r` as the very last byte is not taken as a line
/// end, since a following `\n` would make it half of a `\r\n`.
pub fn split_complete(buf: &[u8]) -> usize {
    let mut boundary = 0;
    let mut line_start = 0;
    while let Some(i) = memchr2(b'\n', b'\r', buf.get(line_start..).unwrap_or_default()) {
        let end = line_start + i;
        let mut next = end + 1;
        if buf.get(end) == Some(&b'\r') {
            match buf.get(next) {
                Some(b'\n') => next += 1,
                Some(_) => {}
                None => break,
            }
        }
        if end == line_start {
            boundary = next;
        }
        line_start = next;
    }
    boundary
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An owned copy of a dispatched event, for comparing runs.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Owned {
        event: Option<String>,
        data: String,
    }

    fn collect_chunks(max: usize, chunks: &[&[u8]]) -> (Vec<Owned>, u64) {
        let mut p = SseParser::new(max);
        let mut out = Vec::new();
        let mut sink = |ev: &SseEvent<'_>| {
            out.push(Owned {
                event: ev.event.map(str::to_owned),
                data: String::from_utf8(ev.data.to_vec()).unwrap(),
            })
        };
        for c in chunks {
            p.push(c, &mut sink);
        }
        p.finish(&mut sink);
        (out, p.skipped_events())
    }

    fn parse(max: usize, whole: &[u8]) -> (Vec<Owned>, u64) {
        collect_chunks(max, &[whole])
    }

    fn ev(event: Option<&str>, data: &str) -> Owned {
        Owned {
            event: event.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    const ANTHROPIC: &[u8] = b"event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude\"}}\r\n\r\n\
: keep-alive comment\r\n\
event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"Hi\"}}\n\n\
data: line one\rdata:line two\rdata:  three\r\r\
id: 7\nretry: 100\n\n\
data\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}";

    fn anthropic_expected() -> Vec<Owned> {
        vec![
            ev(
                Some("message_start"),
                "{\"type\":\"message_start\",\"message\":{\"model\":\"claude\"}}",
            ),
            ev(Some("ping"), "{\"type\": \"ping\"}"),
            ev(
                Some("content_block_delta"),
                "{\"type\":\"content_block_delta\",\"delta\":{\"text\":\"Hi\"}}",
            ),
            ev(None, "line one\nline two\n three"),
            ev(None, ""),
            ev(Some("message_stop"), "{\"type\":\"message_stop\"}"),
        ]
    }

    #[test]
    fn parses_whole_stream() {
        let (events, skipped) = parse(1 << 20, ANTHROPIC);
        assert_eq!(events, anthropic_expected());
        assert_eq!(skipped, 0);
    }

    #[test]
    fn every_two_way_split_matches_whole() {
        let whole = parse(1 << 20, ANTHROPIC);
        for i in 0..=ANTHROPIC.len() {
            let (a, b) = ANTHROPIC.split_at(i);
            assert_eq!(collect_chunks(1 << 20, &[a, b]), whole, "split at {i}");
        }
    }

    #[test]
    fn every_three_way_split_matches_whole() {
        let whole = parse(1 << 20, ANTHROPIC);
        for i in 0..=ANTHROPIC.len() {
            for j in i..=ANTHROPIC.len() {
                let chunks = [&ANTHROPIC[..i], &ANTHROPIC[i..j], &ANTHROPIC[j..]];
                assert_eq!(collect_chunks(1 << 20, &chunks), whole, "split at {i},{j}");
            }
        }
    }

    #[test]
    fn byte_at_a_time_matches_whole() {
        let chunks: Vec<&[u8]> = ANTHROPIC.chunks(1).collect();
        assert_eq!(collect_chunks(1 << 20, &chunks), parse(1 << 20, ANTHROPIC));
    }

    #[test]
    fn openai_stream_with_done() {
        let body =
            b"data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n\
data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n\
data: [DONE]\n\n";
        let (events, _) = parse(1 << 20, body);
        assert_eq!(events.len(), 3);
        assert_eq!(events[2], ev(None, "[DONE]"));
        assert!(events.iter().all(|e| e.event.is_none()));
    }

    #[test]
    fn cr_split_from_lf_is_one_line_end() {
        // "\r" | "\n" must not produce an extra blank line (which would dispatch early).
        let (events, _) = collect_chunks(1024, &[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]);
        assert_eq!(events, vec![ev(None, "a\nb")]);
    }

    #[test]
    fn comments_and_unknown_fields_are_ignored() {
        let (events, _) = parse(1024, b": hello\n:\nfoo: bar\nid: 1\n\n: x\ndata:x\n\n");
        assert_eq!(events, vec![ev(None, "x")]);
    }

    #[test]
    fn one_leading_space_is_stripped() {
        let (events, _) = parse(1024, b"event:  spaced\ndata:  two\n\n");
        assert_eq!(events, vec![ev(Some(" spaced"), " two")]);
    }

    #[test]
    fn event_without_data_still_dispatches_but_empty_block_does_not() {
        let (events, _) = parse(1024, b"\n\n\nevent: ping\n\nevent:\n\n");
        assert_eq!(events, vec![ev(Some("ping"), "")]);
    }

    #[test]
    fn last_event_line_wins() {
        let (events, _) = collect_chunks(1024, &[b"event: a\n", b"event: b\ndata: x\n\n"]);
        assert_eq!(events, vec![ev(Some("b"), "x")]);
    }

    #[test]
    fn final_event_without_blank_line() {
        let (events, _) = collect_chunks(1024, &[b"data: {\"a\":1}\n\ndata: {\"b\"", b":2}"]);
        assert_eq!(events, vec![ev(None, "{\"a\":1}"), ev(None, "{\"b\":2}")]);
        let (events, _) = parse(1024, b"data: x\n");
        assert_eq!(events, vec![ev(None, "x")]);
    }

    #[test]
    fn leading_bom_is_stripped_even_when_split() {
        let body = b"\xEF\xBB\xBFdata: x\n\n";
        for i in 0..=body.len() {
            let (a, b) = body.split_at(i);
            assert_eq!(collect_chunks(1024, &[a, b]).0, vec![ev(None, "x")], "{i}");
        }
    }

    #[test]
    fn oversized_event_is_skipped_and_counted() {
        let big = "x".repeat(100);
        let body = format!("data: small\n\ndata: {big}\ndata: more\n\ndata: after\n\n");
        let expected = (vec![ev(None, "small"), ev(None, "after")], 1);
        assert_eq!(parse(64, body.as_bytes()), expected);
        let bytes = body.as_bytes();
        for i in 0..=bytes.len() {
            let (a, b) = bytes.split_at(i);
            assert_eq!(collect_chunks(64, &[a, b]), expected, "split at {i}");
        }
        let chunks: Vec<&[u8]> = bytes.chunks(3).collect();
        assert_eq!(collect_chunks(64, &chunks), expected);
    }

    #[test]
    fn oversized_event_is_not_buffered() {
        let mut p = SseParser::new(16);
        let mut n = 0;
        p.push(b"data: ", |_| n += 1);
        for _ in 0..1000 {
            p.push(&[b'y'; 1024], |_| n += 1);
        }
        assert!(p.line.capacity() <= 64);
        assert_eq!(p.skipped_events(), 1);
        p.push(b"\n\ndata: ok\n\n", |_| n += 1);
        assert_eq!(n, 1);
    }

    #[test]
    fn multi_line_event_limit_counts_all_lines() {
        let (events, skipped) = parse(20, b"data: 12345\ndata: 12345\n\ndata: 1\n\n");
        assert_eq!(events, vec![ev(None, "1")]);
        assert_eq!(skipped, 1);
    }

    #[test]
    fn parser_is_reusable_after_finish() {
        let mut p = SseParser::new(1024);
        let mut got = Vec::new();
        p.push(b"data: a", |e| got.push(e.data.to_vec()));
        p.finish(|e| got.push(e.data.to_vec()));
        p.push(b"data: b\n\n", |e| got.push(e.data.to_vec()));
        assert_eq!(got, vec![b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn split_complete_finds_last_boundary() {
        assert_eq!(split_complete(b""), 0);
        assert_eq!(split_complete(b"data: a\n"), 0);
        assert_eq!(split_complete(b"data: a\n\n"), 9);
        assert_eq!(split_complete(b"data: a\n\ndata: b\n"), 9);
        assert_eq!(split_complete(b"data: a\n\ndata: b\n\n"), 18);
        assert_eq!(split_complete(b"data: a\r\n\r\ndata"), 11);
        assert_eq!(split_complete(b"data: a\r\rx"), 9);
        // A trailing "\r" may be half of "\r\n": wait for more.
        assert_eq!(split_complete(b"data: a\r\r"), 0);
        assert_eq!(split_complete(b"data: a\n\r"), 0);
        assert_eq!(split_complete(b"\n"), 1);
    }

    #[test]
    fn split_complete_reframes_into_whole_events() {
        let mut buf = Vec::new();
        let mut framed = Vec::new();
        for c in ANTHROPIC.chunks(7) {
            buf.extend_from_slice(c);
            let n = split_complete(&buf);
            if n > 0 {
                let head: Vec<u8> = buf.drain(..n).collect();
                // Each re-framed chunk parses on its own into whole events.
                let (events, _) = parse(1 << 20, &head);
                framed.extend(events);
            }
        }
        framed.extend(parse(1 << 20, &buf).0);
        assert_eq!(framed, anthropic_expected());
    }
}
