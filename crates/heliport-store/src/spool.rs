//! The spool: an append-only file of records the store could not take,
//! written back first when the store answers again (and on restart).
//!
//! One JSON record per line. Replay renames the file aside first and reads it
//! back in batches, so a crash mid-replay loses nothing (records carry a
//! unique `uid`; inserts ignore ones already stored) and a large spool never
//! sits in memory. The file has a disk budget; records past it are refused.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
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
}

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
        let pending = count_lines(&path)? + count_lines(&replay_path)?;
        let bytes = file_len(&path)? + file_len(&replay_path)?;
        Ok(Spool {
            path,
            replay_path,
            pending,
            bytes,
            max_bytes,
            reader: None,
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
    /// take the spool past its budget.
    pub fn append(&mut self, records: &[RequestRecord]) -> Result<(), SpoolError> {
        let mut buf = Vec::with_capacity(records.len() * 512);
        for r in records {
            serde_json::to_writer(&mut buf, r).map_err(std::io::Error::from)?;
            buf.push(b'\n');
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
        f.write_all(&buf)?;
        f.sync_data()?;
        self.pending += records.len() as u64;
        self.bytes = grown;
        Ok(())
    }

    /// The next batch of at most `max_records` records (and about
    /// `max_bytes` of them) to write back, read from disk as needed: a spool
    /// of any size is replayed in bounded memory. Returns the records and how
    /// many lines could not be read back (corrupt, e.g. a torn last line);
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
            self.reader = Some(BufReader::new(File::open(&self.replay_path)?));
        }
        let Some(reader) = self.reader.as_mut() else {
            return Ok((Vec::new(), 0));
        };
        let mut records = Vec::new();
        let mut corrupt = 0;
        let mut read = 0usize;
        let mut line = Vec::new();
        while records.len() < max_records.max(1) && read < max_bytes {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            read += n;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<RequestRecord>(&line) {
                Ok(r) => records.push(r),
                Err(_) => corrupt += 1,
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
        self.pending = count_lines(&self.path)?;
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

fn count_lines(path: &Path) -> std::io::Result<u64> {
    match std::fs::File::open(path) {
        Ok(f) => {
            let mut n = 0;
            for line in std::io::BufReader::new(f).split(b'\n') {
                if !line?.is_empty() {
                    n += 1;
                }
            }
            Ok(n)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
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
        s.append(&[r.clone(), r.clone(), r.clone()]).unwrap();
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
        s.append(std::slice::from_ref(&r)).unwrap();
        assert_eq!(s.next_batch(2, usize::MAX).unwrap().0.len(), 0);
        s.replayed().unwrap();
        assert_eq!(s.pending(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_disk_budget_refuses_records_past_it() {
        let dir = std::env::temp_dir().join(format!("heliport-spool-{}", uuid::Uuid::new_v4()));
        let path = dir.join("records.spool");
        let one = serde_json::to_vec(&record()).unwrap().len() as u64 + 1;
        let mut s = Spool::open(&path, one * 2 + one / 2).unwrap();
        s.append(&[record(), record()]).unwrap();
        match s.append(&[record()]) {
            Err(SpoolError::Full(f)) => assert_eq!(f.records, 1),
            other => panic!("expected a full spool, got {other:?}"),
        }
        assert_eq!(s.pending(), 2);
        // Replaying frees the budget.
        let _ = s.next_batch(10, usize::MAX).unwrap();
        s.replayed().unwrap();
        assert_eq!(s.bytes(), 0);
        s.append(&[record()]).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
