//! The spool: an append-only file of records the store could not take,
//! written back first when the store answers again (and on restart).
//!
//! Each record is an entry: a marker byte, the lengths of its two bodies, the
//! record without them as a JSON line, then the bodies as they are. A body
//! escaped into the JSON line cost about three instructions a byte to write
//! and to read back; spools written before hold one JSON record per line, and
//! are read as such. Replay renames the file aside first and reads it back in
//! batches, so a crash mid-replay loses nothing (records carry a unique `uid`;
//! inserts ignore ones already stored) and a large spool never sits in
//! memory. The file has a disk budget; records past it are refused.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use heliport_core::record::RequestRecord;

/// Records the spool could not take: its disk budget is spent.
#[derive(Debug, thiserror::Error)]
#[error("the spool is full ({used} of {max} bytes): {records} records not kept")]
pub struct SpoolFull {
    /// Bytes the spool holds.
    pub used: u64,
    /// Bytes it may hold.
    pub max: u64,
    /// Records that did not fit.
    pub records: usize,
}

/// Why records could not be spooled.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The disk budget is spent.
    #[error(transparent)]
    Full(#[from] SpoolFull),
    /// The file could not be read or written.
    #[error("spool file: {0}")]
    Io(#[from] std::io::Error),
}

/// An append-only file of records the store could not take, replayed in order.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    replay_path: PathBuf,
    /// Records waiting in the spool files.
    pending: u64,
    /// Bytes in both files, against `max_bytes`.
    bytes: u64,
    max_bytes: u64,
    /// The replay file being read, batch by batch.
    reader: Option<BufReader<File>>,
    /// Bytes of the replay file not read yet: a garbled length past them is
    /// not read into memory.
    replay_left: u64,
    /// Whether this spool has looked for an entry torn by a crash at the end
    /// of the file it appends to (and cut it off), before its first append.
    tail_checked: bool,
}

/// Marks an entry with its bodies after its JSON (see the module's doc).
const FRAMED: u8 = 0x1e;

impl Spool {
    /// Open the spool at `path`, counting what an earlier run left; it may
    /// hold at most `max_bytes` on disk.
    pub fn open(path: impl Into<PathBuf>, max_bytes: u64) -> std::io::Result<Spool> {
        let path = path.into();
        let mut replay = path.clone().into_os_string();
        replay.push(".replay");
        let replay_path = PathBuf::from(replay);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let pending = count_entries(&path)?.0 + count_entries(&replay_path)?.0;
        let bytes = file_len(&path)? + file_len(&replay_path)?;
        Ok(Spool {
            path,
            replay_path,
            pending,
            bytes,
            max_bytes,
            reader: None,
            replay_left: 0,
            tail_checked: false,
        })
    }

    /// The spool file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records waiting to be written back.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Bytes the spool holds on disk.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Append records and sync them to disk; refused whole when they would
    /// take the spool past its budget. The records are lent, not changed:
    /// their bodies are set aside while the rest is written as JSON.
    pub fn append(&mut self, records: &mut [RequestRecord]) -> Result<(), SpoolError> {
        let mut buf = Vec::with_capacity(records.iter().map(entry_size_hint).sum());
        for r in records.iter_mut() {
            write_entry(&mut buf, r)?;
        }
        let grown = self.bytes.saturating_add(buf.len() as u64);
        if grown > self.max_bytes {
            return Err(SpoolFull {
                used: self.bytes,
                max: self.max_bytes,
                records: records.len(),
            }
            .into());
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        if !self.tail_checked {
            // An entry a crash tore at the end would swallow the next ones.
            let (entries, good) = count_entries(&self.path)?;
            let len = f.metadata()?.len();
            if good < len {
                f.set_len(good)?;
                self.bytes = self.bytes.saturating_sub(len - good);
                let torn = entries - count_entries(&self.path)?.0;
                self.pending = self.pending.saturating_sub(torn);
                metrics::counter!("heliport_records_dropped_total").increment(torn);
                tracing::error!(path = %self.path.display(), records = torn, "a spool entry torn by a crash was cut off: record dropped");
            }
            self.tail_checked = true;
        }
        let before = f.metadata()?.len();
        if let Err(e) = f.write_all(&buf).and_then(|()| f.sync_data()) {
            // Half an entry would swallow the next ones: cut it off, or have
            // the next append look again.
            if f.set_len(before).is_err() {
                self.tail_checked = false;
            }
            return Err(e.into());
        }
        self.pending += records.len() as u64;
        self.bytes = self.bytes.saturating_add(buf.len() as u64);
        Ok(())
    }

    /// The next batch of at most `max_records` records (and about
    /// `max_bytes` of them) to write back, read from disk as needed: a spool
    /// of any size is replayed in bounded memory. Returns the records and how
    /// many entries could not be read back (corrupt, or torn by a crash);
    /// an empty batch means the replay file is done: call
    /// [`Spool::replayed`] once everything read was stored.
    pub fn next_batch(
        &mut self,
        max_records: usize,
        max_bytes: usize,
    ) -> std::io::Result<(Vec<RequestRecord>, u64)> {
        if self.reader.is_none() {
            // A replay file left by a crash is replayed before the newer spool.
            if !self.replay_path.exists() {
                if !self.path.exists() {
                    return Ok((Vec::new(), 0));
                }
                std::fs::rename(&self.path, &self.replay_path)?;
            }
            let f = File::open(&self.replay_path)?;
            self.replay_left = f.metadata()?.len();
            self.reader = Some(BufReader::new(f));
        }
        let batch = self.read_batch(max_records, max_bytes);
        if batch.is_err() {
            // Half through an entry, the next read would start mid-entry:
            // the next replay starts the file over (inserts ignore records
            // already stored).
            self.reader = None;
        }
        batch
    }

    fn read_batch(
        &mut self,
        max_records: usize,
        max_bytes: usize,
    ) -> std::io::Result<(Vec<RequestRecord>, u64)> {
        let Some(reader) = self.reader.as_mut() else {
            return Ok((Vec::new(), 0));
        };
        let mut records = Vec::new();
        let mut corrupt = 0;
        let mut read = 0usize;
        while records.len() < max_records.max(1) && read < max_bytes {
            let before = read;
            let entry = read_entry(reader, &mut read, self.replay_left)?;
            self.replay_left = self.replay_left.saturating_sub((read - before) as u64);
            match entry {
                Entry::Record(r) => records.push(*r),
                Entry::Blank => {}
                Entry::Corrupt => corrupt += 1,
                Entry::Torn => {
                    // Nothing after a torn entry is where it should be; an
                    // append cuts such an entry off, so it can only be the
                    // last (a crash while appending).
                    corrupt += 1;
                    std::io::copy(reader, &mut std::io::sink())?;
                    break;
                }
                Entry::End => break,
            }
        }
        Ok((records, corrupt))
    }

    /// Everything read from the replay file is stored: delete it.
    pub fn replayed(&mut self) -> std::io::Result<()> {
        self.reader = None;
        if self.replay_path.exists() {
            std::fs::remove_file(&self.replay_path)?;
        }
        self.pending = count_entries(&self.path)?.0;
        self.bytes = file_len(&self.path)?;
        Ok(())
    }

    /// Writing back failed: the next replay starts the replay file over
    /// (inserts ignore records already stored).
    pub fn rewind(&mut self) {
        self.reader = None;
    }
}

fn file_len(path: &Path) -> std::io::Result<u64> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

/// Room for a record's entry: its bodies and about 1 KB of the rest.
fn entry_size_hint(r: &RequestRecord) -> usize {
    let body = |b: &Option<String>| b.as_ref().map_or(0, String::len);
    1024 + body(&r.request_body) + body(&r.response_body)
}

/// One record's entry: `FRAMED`, the two bodies' lengths (`-` for none), the
/// record without its bodies as a JSON line, the bodies, a newline.
fn write_entry(buf: &mut Vec<u8>, r: &mut RequestRecord) -> std::io::Result<()> {
    let request = r.request_body.take();
    let response = r.response_body.take();
    let len = |b: &Option<String>| {
        b.as_ref()
            .map_or_else(|| "-".into(), |b| b.len().to_string())
    };
    buf.push(FRAMED);
    buf.extend_from_slice(format!("{} {}\n", len(&request), len(&response)).as_bytes());
    let json = serde_json::to_writer(&mut *buf, &*r);
    r.request_body = request;
    r.response_body = response;
    json.map_err(std::io::Error::from)?;
    buf.push(b'\n');
    for body in [&r.request_body, &r.response_body].into_iter().flatten() {
        buf.extend_from_slice(body.as_bytes());
    }
    buf.push(b'\n');
    Ok(())
}

/// What [`read_entry`] found.
enum Entry {
    /// A record (boxed: the other kinds are empty).
    Record(Box<RequestRecord>),
    /// A blank line.
    Blank,
    /// A whole entry that does not read as a record.
    Corrupt,
    /// A framed entry cut short, or with lengths that do not add up.
    Torn,
    /// The end of the file.
    End,
}

/// Reads the entry at the reader's position, `left` bytes before the end of
/// the file, adding the bytes it took to `read`.
fn read_entry(reader: &mut impl BufRead, read: &mut usize, left: u64) -> std::io::Result<Entry> {
    let Some(&first) = reader.fill_buf()?.first() else {
        return Ok(Entry::End);
    };
    let mut line = Vec::new();
    if first != FRAMED {
        // A record per JSON line: a spool written before the framing.
        *read += reader.read_until(b'\n', &mut line)?;
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(Entry::Blank);
        }
        return Ok(match serde_json::from_slice::<RequestRecord>(&line) {
            Ok(r) => Entry::Record(Box::new(r)),
            Err(_) => Entry::Corrupt,
        });
    }
    let Some((request_len, response_len)) = read_head(reader, read)? else {
        return Ok(Entry::Torn);
    };
    let bodies = request_len
        .unwrap_or(0)
        .saturating_add(response_len.unwrap_or(0));
    if bodies > left {
        return Ok(Entry::Torn); // cut short, or a garbled length
    }
    *read += reader.read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Ok(Entry::Torn);
    }
    let mut body = |len: Option<u64>| -> std::io::Result<Option<Option<String>>> {
        let Some(len) = len else {
            return Ok(Some(None));
        };
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        let got = reader.by_ref().take(len).read_to_end(&mut bytes)?;
        *read += got;
        if (got as u64) < len {
            return Ok(None);
        }
        Ok(Some(Some(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })))
    };
    let (Some(request), Some(response)) = (body(request_len)?, body(response_len)?) else {
        return Ok(Entry::Torn);
    };
    if !closing_newline(reader)? {
        return Ok(Entry::Torn);
    }
    *read += 1;
    Ok(match serde_json::from_slice::<RequestRecord>(&line) {
        Ok(mut r) => {
            r.request_body = request;
            r.response_body = response;
            Entry::Record(Box::new(r))
        }
        Err(_) => Entry::Corrupt,
    })
}

/// Whether the next byte is an entry's closing newline (not the end of the
/// file, nor anything else).
fn closing_newline(reader: &mut impl Read) -> std::io::Result<bool> {
    let mut end = [0u8; 1];
    match reader.read_exact(&mut end) {
        Ok(()) => Ok(end[0] == b'\n'),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// A framed entry's two body lengths; `None` for a body the record lacks.
type BodyLengths = (Option<u64>, Option<u64>);

/// A framed entry's marker and head line: its two bodies' lengths; `None`
/// when cut short or garbled.
fn read_head(reader: &mut impl BufRead, read: &mut usize) -> std::io::Result<Option<BodyLengths>> {
    // Two lengths: a longer line is garbled, and is not read whole.
    let mut head = Vec::new();
    *read += reader.by_ref().take(48).read_until(b'\n', &mut head)?;
    let Some(text) = head
        .strip_prefix(&[FRAMED])
        .and_then(|h| h.strip_suffix(b"\n"))
        .and_then(|h| std::str::from_utf8(h).ok())
    else {
        return Ok(None);
    };
    let len = |t: &str| match t {
        "-" => Some(None),
        t => t.parse::<u64>().ok().map(Some),
    };
    Ok(text
        .split_once(' ')
        .and_then(|(a, b)| Some((len(a)?, len(b)?))))
}

/// The entries in a spool file (a torn last one included, as it will be
/// counted when read), and how many bytes the whole ones take from its start.
fn count_entries(path: &Path) -> std::io::Result<(u64, u64)> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(f);
    let (mut entries, mut good) = (0u64, 0u64);
    let mut line = Vec::new();
    loop {
        let Some(&first) = reader.fill_buf()?.first() else {
            return Ok((entries, good));
        };
        let mut read = 0usize;
        line.clear();
        let len = if first == FRAMED {
            entries += 1;
            let head = read_head(&mut reader, &mut read)?;
            read += reader.read_until(b'\n', &mut line)?;
            let (Some((a, b)), Some(b'\n')) = (head, line.last()) else {
                return Ok((entries, good));
            };
            // The bodies, skipped unread (past the end if it was cut short:
            // then no closing newline is read), and the closing newline.
            let bodies = a.unwrap_or(0).saturating_add(b.unwrap_or(0));
            let Ok(skip) = i64::try_from(bodies) else {
                return Ok((entries, good));
            };
            reader.seek_relative(skip)?;
            if !closing_newline(&mut reader)? {
                return Ok((entries, good));
            }
            read as u64 + bodies + 1
        } else {
            read += reader.read_until(b'\n', &mut line)?;
            if !line.iter().all(u8::is_ascii_whitespace) {
                entries += 1;
            }
            if line.last() != Some(&b'\n') {
                return Ok((entries, good));
            }
            read as u64
        };
        good += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> RequestRecord {
        RequestRecord {
            uid: uuid::Uuid::new_v4(),
            org_id: "o".into(),
            ..Default::default()
        }
    }

    #[test]
    fn append_and_replay_in_batches() {
        let dir = std::env::temp_dir().join(format!("heliport-spool-{}", uuid::Uuid::new_v4()));
        let path = dir.join("records.spool");
        let mut s = Spool::open(&path, 1 << 20).unwrap();
        let r = record();
        s.append(&mut [r.clone(), r.clone(), r.clone()]).unwrap();
        assert_eq!(s.pending(), 3);
        // a torn write
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"uid\":")
            .unwrap();
        let mut s = Spool::open(&path, 1 << 20).unwrap();
        assert_eq!(s.pending(), 4);
        let (first, corrupt) = s.next_batch(2, usize::MAX).unwrap();
        assert_eq!((first.len(), corrupt), (2, 0));
        assert_eq!(first[0], r);
        let (rest, corrupt) = s.next_batch(2, usize::MAX).unwrap();
        assert_eq!((rest.len(), corrupt), (1, 1));
        // Spooled during the replay: kept for the next one.
        s.append(&mut [r.clone()]).unwrap();
        assert_eq!(s.next_batch(2, usize::MAX).unwrap().0.len(), 0);
        s.replayed().unwrap();
        assert_eq!(s.pending(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_disk_budget_refuses_records_past_it() {
        let dir = std::env::temp_dir().join(format!("heliport-spool-{}", uuid::Uuid::new_v4()));
        let path = dir.join("records.spool");
        let mut entry = Vec::new();
        write_entry(&mut entry, &mut record()).unwrap();
        let one = entry.len() as u64;
        let mut s = Spool::open(&path, one * 2 + one / 2).unwrap();
        s.append(&mut [record(), record()]).unwrap();
        match s.append(&mut [record()]) {
            Err(SpoolError::Full(f)) => assert_eq!(f.records, 1),
            other => panic!("expected a full spool, got {other:?}"),
        }
        assert_eq!(s.pending(), 2);
        // Replaying frees the budget.
        let _ = s.next_batch(10, usize::MAX).unwrap();
        s.replayed().unwrap();
        assert_eq!(s.bytes(), 0);
        s.append(&mut [record()]).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn with_bodies(request: Option<&str>, response: Option<&str>) -> RequestRecord {
        RequestRecord {
            request_body: request.map(str::to_string),
            response_body: response.map(str::to_string),
            ..record()
        }
    }

    #[test]
    fn bodies_are_kept_as_they_are_beside_older_json_lines() {
        let dir = std::env::temp_dir().join(format!("heliport-spool-{}", uuid::Uuid::new_v4()));
        let path = dir.join("records.spool");
        std::fs::create_dir_all(&dir).unwrap();
        // A spool an earlier heliport left: one JSON record per line.
        let old = with_bodies(Some("{\"messages\":[]}"), Some("data: {}\n\n"));
        let mut line = serde_json::to_vec(&old).unwrap();
        line.push(b'\n');
        std::fs::write(&path, &line).unwrap();
        let mut new = vec![
            // Newlines, the entry marker, quotes and any Unicode, as sent.
            with_bodies(Some("a\nb\u{1e}\n\"c\" ü 渡辺 📅"), Some("")),
            with_bodies(None, Some("x".repeat(100_000).as_str())),
            with_bodies(None, None),
        ];
        let mut s = Spool::open(&path, 1 << 30).unwrap();
        assert_eq!(s.pending(), 1);
        s.append(&mut new).unwrap();
        assert_eq!(s.pending(), 4);
        assert_eq!(Spool::open(&path, 1 << 30).unwrap().pending(), 4);
        let mut got = Vec::new();
        loop {
            let (batch, corrupt) = s.next_batch(2, usize::MAX).unwrap();
            assert_eq!(corrupt, 0);
            if batch.is_empty() {
                break;
            }
            got.extend(batch);
        }
        let mut want = vec![old];
        want.extend(new);
        assert_eq!(got, want);
        s.replayed().unwrap();
        assert_eq!((s.pending(), s.bytes()), (0, 0));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_entry_torn_by_a_crash_is_cut_off_before_the_next_append() {
        let dir = std::env::temp_dir().join(format!("heliport-spool-{}", uuid::Uuid::new_v4()));
        let path = dir.join("records.spool");
        let mut first = vec![
            with_bodies(Some("kept"), None),
            with_bodies(Some("torn"), Some("y".repeat(1000).as_str())),
        ];
        Spool::open(&path, 1 << 20)
            .unwrap()
            .append(&mut first)
            .unwrap();
        // The crash: the second entry's last bytes never reached the disk.
        let len = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 10)
            .unwrap();
        let mut s = Spool::open(&path, 1 << 20).unwrap();
        assert_eq!(s.pending(), 2, "the torn entry counts until it is read");
        let mut next = vec![with_bodies(Some("after"), Some("the crash"))];
        s.append(&mut next).unwrap();
        let (got, corrupt) = s.next_batch(10, usize::MAX).unwrap();
        assert_eq!(corrupt, 0);
        assert_eq!(got, vec![first[0].clone(), next[0].clone()]);
        // Read torn, an entry ends the file: what follows it is not trusted.
        let mut torn = Vec::new();
        write_entry(&mut torn, &mut first[1]).unwrap();
        torn.truncate(torn.len() - 3);
        let mut reader = std::io::BufReader::new(&torn[..]);
        assert!(matches!(
            read_entry(&mut reader, &mut 0, torn.len() as u64).unwrap(),
            Entry::Torn
        ));
        // A garbled length past the end of the file is not read into memory.
        let mut garbled = vec![FRAMED];
        garbled.extend_from_slice(b"99999999999 -\n{}\nshort\n");
        let mut reader = std::io::BufReader::new(&garbled[..]);
        let mut read = 0;
        let entry = read_entry(&mut reader, &mut read, garbled.len() as u64).unwrap();
        assert!(matches!(entry, Entry::Torn));
        assert!(read < garbled.len(), "{read}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
