//! The spool: an append-only file of records the store could not take,
//! written back first when the store answers again (and on restart).
//!
//! One JSON record per line. Replay renames the file aside first, so a crash
//! mid-replay loses nothing (records carry a unique `uid`; inserts ignore
//! ones already stored).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use heliport_core::record::RequestRecord;

#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    replay_path: PathBuf,
    /// Records waiting in the spool files.
    pending: u64,
}

impl Spool {
    /// Open the spool at `path`, counting what an earlier run left.
    pub fn open(path: impl Into<PathBuf>) -> std::io::Result<Spool> {
        let path = path.into();
        let mut replay = path.clone().into_os_string();
        replay.push(".replay");
        let replay_path = PathBuf::from(replay);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let pending = count_lines(&path)? + count_lines(&replay_path)?;
        Ok(Spool {
            path,
            replay_path,
            pending,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Append records and sync them to disk.
    pub fn append(&mut self, records: &[RequestRecord]) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(records.len() * 512);
        for r in records {
            serde_json::to_writer(&mut buf, r)?;
            buf.push(b'\n');
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(&buf)?;
        f.sync_data()?;
        self.pending += records.len() as u64;
        Ok(())
    }

    /// Move the spool aside for replay and read it. Returns the records and
    /// how many lines could not be read back (corrupt, e.g. a torn last line).
    /// Call [`Spool::replayed`] once they are stored.
    pub fn take(&mut self) -> std::io::Result<(Vec<RequestRecord>, u64)> {
        // A replay file left by a crash is replayed before the newer spool.
        if !self.replay_path.exists() {
            if !self.path.exists() {
                return Ok((Vec::new(), 0));
            }
            std::fs::rename(&self.path, &self.replay_path)?;
        }
        let f = std::fs::File::open(&self.replay_path)?;
        let mut records = Vec::new();
        let mut corrupt = 0;
        for line in std::io::BufReader::new(f).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<RequestRecord>(&line) {
                Ok(r) => records.push(r),
                Err(_) => corrupt += 1,
            }
        }
        Ok((records, corrupt))
    }

    /// The records from [`Spool::take`] are stored: delete the replay file.
    pub fn replayed(&mut self) -> std::io::Result<()> {
        if self.replay_path.exists() {
            std::fs::remove_file(&self.replay_path)?;
        }
        self.pending = count_lines(&self.path)?;
        Ok(())
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

    #[test]
    fn append_take_replay() {
        let dir = std::env::temp_dir().join(format!("heliport-spool-{}", uuid::Uuid::new_v4()));
        let path = dir.join("records.spool");
        let mut s = Spool::open(&path).unwrap();
        let r = RequestRecord {
            uid: uuid::Uuid::new_v4(),
            org_id: "o".into(),
            ..Default::default()
        };
        s.append(&[r.clone(), r.clone()]).unwrap();
        assert_eq!(s.pending(), 2);
        // a torn write
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"uid\":")
            .unwrap();
        let mut s = Spool::open(&path).unwrap();
        assert_eq!(s.pending(), 3);
        let (recs, corrupt) = s.take().unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(corrupt, 1);
        assert_eq!(recs[0], r);
        s.append(std::slice::from_ref(&r)).unwrap();
        s.replayed().unwrap();
        assert_eq!(s.pending(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
