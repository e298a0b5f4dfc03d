//! The recording pipeline: a bounded queue the hot path drops exchanges into
//! without waiting, and one writer task that finalizes them into records and
//! writes them in batches. When the store fails, batches go to the spool,
//! which is written back first whenever the store answers again. When the
//! writer falls behind and the queue is full, records go to the spool too,
//! through a queue of their own ([`crate::spill`]).

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use heliport_core::options::PosthogOptions;
use heliport_core::pricing::PriceTable;
use heliport_core::record::{Exchange, RequestRecord};
use tokio::sync::{mpsc, watch};

use crate::budget::ByteBudget;
use crate::error::StoreError;
use crate::spill::{Overflow, Spiller};
use crate::spool::{Spool, SpoolError};
use crate::sqlite::sink::PromptVersionCache;

/// Where finalized records go: [`crate::sqlite::sink::SqliteRecordSink`]; tests use failing ones.
pub trait RecordSink: Send + Sync + 'static {
    /// Stores records (idempotent by `uid`) with their rollups; returns how many were new.
    fn insert_records(
        &self,
        records: &mut [RequestRecord],
        versions: &mut PromptVersionCache,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// How the writer batches, queues and spools.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Bytes of exchanges (bodies included) waiting for the writer, or being
    /// written, before new ones are dropped (and counted).
    pub queue_max_bytes: usize,
    /// Bytes the spool file may grow to while the store is down; records past
    /// it are dropped (and counted).
    pub spool_max_bytes: u64,
    /// Records written per transaction at most.
    pub batch_size: usize,
    /// The spool file.
    pub spool_path: PathBuf,
    /// How often to retry writing the spool back while the store is down.
    /// While it is up, what the spool holds (records past a full queue) is
    /// written back at once, a batch at a time between the queue's batches.
    pub spool_retry: Duration,
    /// How long a batch waits for more records before it is written.
    pub linger: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            queue_max_bytes: 64 << 20,
            spool_max_bytes: 1 << 30,
            batch_size: 512,
            spool_path: PathBuf::from("heliport.spool"),
            spool_retry: Duration::from_secs(5),
            linger: Duration::from_millis(20),
        }
    }
}

/// An exchange with the bytes it holds, counted against the queue budget
/// until it is written.
pub(crate) struct Queued {
    /// Boxed: the queue, the spool queue and the hot path's futures move a
    /// pointer, not the exchange's 1.4 KB.
    pub(crate) exchange: Box<Exchange>,
    pub(crate) weight: usize,
}

/// The hot path's handle: hands an exchange to the writer, never waits.
#[derive(Clone, Debug)]
pub struct Recorder {
    tx: mpsc::UnboundedSender<Queued>,
    budget: Arc<ByteBudget>,
    overflow: Overflow,
    spool: Arc<Mutex<Spool>>,
    /// The spool's size when last read: it is busy (appending, replaying)
    /// exactly while it matters.
    spool_bytes: Arc<AtomicU64>,
    /// `heliport_records_queued_total`, registered once: `counter!` looks its
    /// key up in the registry on every call, and this one counts every request.
    queued: metrics::Counter,
}

impl Recorder {
    /// Bytes of records waiting for (or being written by) the writer.
    pub fn queued_bytes(&self) -> usize {
        self.budget.used()
    }

    /// Bytes of records not stored yet, wherever they wait: the queue, the
    /// spool queue and the spool file (which the writer reads back in
    /// batches). While the spool is busy its size is the one last read.
    pub fn backlog_bytes(&self) -> usize {
        let spooled = match self.spool.try_lock() {
            Ok(s) => {
                self.spool_bytes.store(s.bytes(), Ordering::Relaxed);
                s.bytes()
            }
            Err(_) => self.spool_bytes.load(Ordering::Relaxed),
        };
        self.budget.used() + self.overflow.used() + usize::try_from(spooled).unwrap_or(usize::MAX)
    }

    /// Queues an exchange for recording. When the queue is full it goes to
    /// the spool instead; only when that queue is full too is it dropped
    /// (and counted).
    pub fn record(&self, exchange: impl Into<Box<Exchange>>) {
        let exchange = exchange.into();
        let weight = exchange.weight();
        if !self.budget.try_take(weight) {
            let Some(exchange) = self.overflow.take(exchange, weight) else {
                return;
            };
            metrics::counter!("heliport_records_dropped_total").increment(1);
            if drop_log_due() {
                tracing::error!(request_id = %exchange.request_id, queued_bytes = self.budget.used(), "record queue and spool queue full: records are being dropped (see heliport_records_dropped_total; recording.queue_max_bytes)");
            }
            return;
        }
        match self.tx.send(Queued { exchange, weight }) {
            Ok(()) => {
                self.queued.increment(1);
            }
            Err(mpsc::error::SendError(q)) => {
                self.budget.give_back(q.weight);
                metrics::gauge!("heliport_record_queue_bytes").set(self.budget.used() as f64);
                metrics::counter!("heliport_records_dropped_total").increment(1);
                if drop_log_due() {
                    tracing::error!(request_id = %q.exchange.request_id, "recorder stopped: records are being dropped");
                }
            }
        }
    }
}

/// At most one drop message a second: under overload, logging every drop would
/// only add to the load.
pub(crate) fn drop_log_due() -> bool {
    static LAST: AtomicU64 = AtomicU64::new(0);
    once_per(&LAST, 1)
}

/// Whether `secs` seconds of the clock have turned since `last` was taken;
/// takes it if so (one caller wins).
pub(crate) fn once_per(last: &AtomicU64, secs: u64) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / secs.max(1))
        .unwrap_or(0);
    let seen = last.load(Ordering::Relaxed);
    now != seen
        && last
            .compare_exchange(seen, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// Controls the writer task.
pub struct WriterHandle {
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    spiller: Spiller,
}

impl WriterHandle {
    /// Stop after writing everything already queued.
    pub async fn shutdown(self) {
        // What waits to be spooled is spooled first: the writer's last
        // replay then stores it.
        let spiller = self.spiller;
        if tokio::task::spawn_blocking(move || spiller.stop())
            .await
            .is_err()
        {
            tracing::error!("the spool queue's thread ended abnormally");
        }
        let _ = self.shutdown.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "record writer ended abnormally");
        }
    }
}

/// What was just recorded (stored, or spooled to be stored), handed on from
/// the writer's thread, e.g. to the exporters.
pub trait AfterRecording: Send + Sync + 'static {
    /// `posthog[i]` is where `records[i]`'s PostHog event goes, if anywhere.
    /// Runs on the writer's thread: it must hand the work on, never wait.
    fn recorded(&self, records: Vec<RequestRecord>, posthog: Vec<Option<PosthogOptions>>);
}

/// Start the writer. The spool left by an earlier run is written first.
pub fn start<S: RecordSink>(
    sink: S,
    prices: Arc<PriceTable>,
    cfg: WriterConfig,
) -> std::io::Result<(Recorder, WriterHandle)> {
    start_with(sink, prices, cfg, None)
}

/// [`start`], handing every recorded batch to `after`.
pub fn start_with<S: RecordSink>(
    sink: S,
    prices: Arc<PriceTable>,
    cfg: WriterConfig,
    after: Option<Arc<dyn AfterRecording>>,
) -> std::io::Result<(Recorder, WriterHandle)> {
    let spool = Arc::new(Mutex::new(Spool::open(
        &cfg.spool_path,
        cfg.spool_max_bytes,
    )?));
    // Exported from the start, so a dashboard shows 0 rather than nothing.
    for name in [
        "heliport_records_queued_total",
        "heliport_records_written_total",
        "heliport_records_spooled_total",
        "heliport_records_dropped_total",
    ] {
        metrics::counter!(name).increment(0);
    }
    metrics::gauge!("heliport_spool_pending").set(pending(&spool) as f64);
    metrics::gauge!("heliport_record_queue_bytes").set(0.0);
    let (tx, rx) = mpsc::unbounded_channel();
    let budget = Arc::new(ByteBudget::new(cfg.queue_max_bytes));
    let (overflow, spiller) = crate::spill::start(
        cfg.queue_max_bytes,
        spool.clone(),
        prices.clone(),
        after.clone(),
        cfg.spool_path.clone(),
    )?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let writer = Writer {
        after,
        budget: budget.clone(),
        sink,
        prices,
        spool: spool.clone(),
        versions: PromptVersionCache::default(),
        cfg,
        last_replay_attempt: None,
        store_up: true,
        replaying: true,
    };
    let task = tokio::spawn(writer.run(rx, shutdown_rx));
    Ok((
        Recorder {
            tx,
            budget,
            overflow,
            spool,
            spool_bytes: Arc::default(),
            queued: metrics::counter!("heliport_records_queued_total"),
        },
        WriterHandle {
            shutdown,
            task,
            spiller,
        },
    ))
}

/// Records waiting in the spool.
fn pending(spool: &Mutex<Spool>) -> u64 {
    spool
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pending()
}

/// Finalize exchanges into records, each with where its PostHog event goes.
/// A parser bug on one odd answer drops that record (counted), not the batch.
///
/// The exchanges stay boxed until finalized and each record is pushed where
/// it is kept: an `Exchange` is 1.4 KB and a record 0.9 KB, and copying them
/// through every step took 4 % of the writer's time (bench/PROFILE.md, 15).
pub(crate) fn finalize_all(
    batch: impl ExactSizeIterator<Item = Box<Exchange>>,
    prices: &PriceTable,
) -> (Vec<RequestRecord>, Vec<Option<PosthogOptions>>) {
    let mut records = Vec::with_capacity(batch.len());
    let mut posthog = Vec::with_capacity(batch.len());
    for mut ex in batch {
        let id = ex.request_id;
        let destination = ex.posthog.take();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ex.finalize(prices))) {
            Ok(r) => {
                records.push(r);
                posthog.push(destination);
            }
            Err(_) => {
                metrics::counter!("heliport_records_dropped_total").increment(1);
                tracing::error!(request_id = %id, "finalizing a record panicked: record dropped");
            }
        }
    }
    (records, posthog)
}

struct Writer<S> {
    after: Option<Arc<dyn AfterRecording>>,
    budget: Arc<ByteBudget>,
    sink: S,
    prices: Arc<PriceTable>,
    /// Shared with the spool queue's thread, which appends to it.
    spool: Arc<Mutex<Spool>>,
    versions: PromptVersionCache,
    cfg: WriterConfig,
    last_replay_attempt: Option<Instant>,
    /// Whether the store took the last batch offered to it. While it does,
    /// the queue's records are stored at once, whatever waits in the spool.
    store_up: bool,
    /// Whether the last step of writing the spool back went well: while it
    /// did (and the store is up), the spool is written back whenever the
    /// queue is empty rather than every `spool_retry`.
    replaying: bool,
}

/// Moves what is queued into `batch`, up to `max`; whether the batch is full
/// (or the queue closed, so nothing more will come).
fn fill(rx: &mut mpsc::UnboundedReceiver<Queued>, batch: &mut Vec<Queued>, max: usize) -> bool {
    while batch.len() < max {
        match rx.try_recv() {
            Ok(q) => batch.push(q),
            Err(mpsc::error::TryRecvError::Empty) => return false,
            Err(mpsc::error::TryRecvError::Disconnected) => return true,
        }
    }
    true
}

impl<S: RecordSink> Writer<S> {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Queued>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        self.replay_spool().await;
        let mut batch: Vec<Queued> = Vec::with_capacity(self.cfg.batch_size);
        loop {
            let replay_now = self.replays_freely() && !*shutdown.borrow();
            let first = if replay_now && pending(&self.spool) > 0 {
                // Records past a full queue wait in the spool and the store is
                // up: write them back while the queue is empty, a batch at a
                // time, so the queue's records never wait behind the spool.
                match rx.try_recv() {
                    Ok(q) => Some(q),
                    Err(mpsc::error::TryRecvError::Empty) => {
                        let _ = self.replay_batch().await;
                        continue;
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                }
            } else {
                tokio::select! {
                    m = rx.recv() => m,
                    _ = shutdown.changed() => None,
                    _ = tokio::time::sleep(self.cfg.spool_retry) => {
                        self.maybe_replay().await;
                        continue;
                    }
                }
            };
            let Some(first) = first else { break };
            batch.push(first);
            // Linger briefly for company: a transaction per record would cost
            // more CPU than the proxying itself at low request rates. The
            // linger is a plain sleep, not a wait on the queue: waiting on it
            // would wake this thread (a system call and a context switch on
            // the request path's side) for every record.
            let linger_until = tokio::time::Instant::now() + self.cfg.linger;
            if !fill(&mut rx, &mut batch, self.cfg.batch_size) {
                tokio::time::sleep_until(linger_until).await;
                fill(&mut rx, &mut batch, self.cfg.batch_size);
            }
            self.write(std::mem::take(&mut batch)).await;
            self.maybe_replay().await;
        }
        // The queue may close (every recorder dropped) while the spool queue
        // still appends what it took: the last replay waits for the signal
        // that comes once it is done (or for the handle to be dropped).
        let _ = shutdown.wait_for(|stop| *stop).await;
        // Shutting down: everything already queued is written before we stop.
        rx.close();
        while let Some(ex) = rx.recv().await {
            batch.push(ex);
            if batch.len() >= self.cfg.batch_size {
                self.write(std::mem::take(&mut batch)).await;
            }
        }
        if !batch.is_empty() {
            self.write(batch).await;
        }
        self.replay_spool().await;
    }

    async fn write(&mut self, batch: Vec<Queued>) {
        metrics::gauge!("heliport_record_batch_size").set(batch.len() as f64);
        let weight: usize = batch.iter().map(|q| q.weight).sum();
        self.write_exchanges(batch.into_iter().map(|q| q.exchange))
            .await;
        // Records are stored or spooled now: their bytes leave the budget.
        self.budget.give_back(weight);
        metrics::gauge!("heliport_record_queue_bytes").set(self.budget.used() as f64);
    }

    async fn write_exchanges(&mut self, batch: impl ExactSizeIterator<Item = Box<Exchange>>) {
        let (mut records, posthog) = finalize_all(batch, &self.prices);
        // While the store is down, records join the spool without trying it
        // (the spool's timed replay finds out when it is back). While it is
        // up they are stored at once, even with older records still in the
        // spool: every query orders records by their time, not by when they
        // were stored, and overflow from a burst must not send everything
        // after it through the spool.
        let mut stored = false;
        if self.store_up || pending(&self.spool) == 0 {
            match self
                .sink
                .insert_records(&mut records, &mut self.versions)
                .await
            {
                Ok(n) => {
                    metrics::counter!("heliport_records_written_total").increment(n);
                    self.store_up = true;
                    stored = true;
                }
                Err(e) => {
                    self.versions.clear();
                    self.store_up = false;
                    self.last_replay_attempt = Some(Instant::now());
                    tracing::warn!(error = %e, records = records.len(), "store unavailable: spooling records");
                }
            }
        }
        if !stored {
            match self.spool_records(records).await {
                Some(kept) => records = kept,
                None => return,
            }
        }
        if let Some(after) = &self.after {
            after.recorded(records, posthog);
        }
    }

    /// Run a spool file operation on the blocking pool (file I/O and fsync
    /// must not stall the runtime's workers).
    async fn with_spool<T: Send + 'static>(
        &mut self,
        op: impl FnOnce(&mut Spool) -> T + Send + 'static,
    ) -> Option<T> {
        let spool = self.spool.clone();
        match tokio::task::spawn_blocking(move || {
            let mut spool = spool.lock().unwrap_or_else(PoisonError::into_inner);
            let r = op(&mut spool);
            metrics::gauge!("heliport_spool_pending").set(spool.pending() as f64);
            r
        })
        .await
        {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!(error = %e, "spool task failed");
                None
            }
        }
    }

    /// Spool records; they come back when they were kept.
    async fn spool_records(&mut self, records: Vec<RequestRecord>) -> Option<Vec<RequestRecord>> {
        let n = records.len() as u64;
        let appended = self
            .with_spool(move |s| {
                let mut records = records;
                let r = s.append(&mut records);
                (r, records)
            })
            .await;
        let (result, records) = match appended {
            Some((r, records)) => (Some(r), Some(records)),
            None => (None, None),
        };
        match result {
            Some(Ok(())) => {
                metrics::counter!("heliport_records_spooled_total").increment(n);
                return records;
            }
            Some(Err(SpoolError::Full(full))) => {
                metrics::counter!("heliport_records_dropped_total").increment(n);
                if drop_log_due() {
                    tracing::error!(path = %self.cfg.spool_path.display(), "{full}: records dropped (recording.spool_max_bytes)");
                }
            }
            Some(Err(e)) => {
                metrics::counter!("heliport_records_dropped_total").increment(n);
                tracing::error!(error = %e, path = %self.cfg.spool_path.display(), records = n, "cannot write the spool: records dropped");
            }
            None => {
                metrics::counter!("heliport_records_dropped_total").increment(n);
            }
        }
        None
    }

    /// Whether the spool is written back whenever there is room for it: the
    /// store is up and the last step of writing it back went well.
    fn replays_freely(&self) -> bool {
        self.store_up && self.replaying
    }

    /// One batch of the spool written back: between two of the queue's
    /// batches while the store is up, and every `spool_retry` while it is
    /// down (the first batch it takes marks it up again) or the spool fails.
    async fn maybe_replay(&mut self) {
        let pending = pending(&self.spool) > 0;
        let due = self.replays_freely()
            || self
                .last_replay_attempt
                .is_none_or(|t| t.elapsed() >= self.cfg.spool_retry);
        if pending && due {
            let _ = self.replay_batch().await;
        }
    }

    /// Write back the spool's next batch; at the end of the replay file, the
    /// file is cleared. False when the store or the spool failed: the next
    /// try waits `spool_retry`.
    async fn replay_batch(&mut self) -> bool {
        self.last_replay_attempt = Some(Instant::now());
        self.replaying = false;
        let batch = self.cfg.batch_size.max(1);
        let read = self
            .with_spool(move |s| s.next_batch(batch, REPLAY_BATCH_BYTES))
            .await;
        let (mut records, corrupt) = match read {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                tracing::error!(error = %e, "cannot read the spool");
                return false;
            }
            None => return false,
        };
        if records.is_empty() && corrupt == 0 {
            match self.with_spool(Spool::replayed).await {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    tracing::error!(error = %e, "cannot clear the replayed spool");
                    return false;
                }
                None => return false,
            }
        } else if let Err(e) = self
            .sink
            .insert_records(&mut records, &mut self.versions)
            .await
        {
            self.versions.clear();
            self.with_spool(Spool::rewind).await;
            self.store_up = false;
            tracing::warn!(error = %e, "store still unavailable: spool kept");
            return false;
        } else {
            if !self.store_up {
                tracing::info!("store available again: writing the spool back");
            }
            self.store_up = true;
            metrics::counter!("heliport_records_written_total").increment(records.len() as u64);
            if corrupt > 0 {
                metrics::counter!("heliport_records_dropped_total").increment(corrupt);
                tracing::error!(lines = corrupt, "unreadable spool lines skipped");
            }
        }
        self.replaying = true;
        true
    }

    /// Write the whole spool back to the store (at start and at shutdown);
    /// on failure it stays for the next try.
    async fn replay_spool(&mut self) {
        let waiting = pending(&self.spool);
        if waiting > 0 {
            tracing::info!(records = waiting, "writing the spool back to the store");
        }
        while pending(&self.spool) > 0 {
            if !self.replay_batch().await {
                return;
            }
        }
    }
}

/// Bytes of spool lines read into memory at once during a replay.
const REPLAY_BATCH_BYTES: usize = 8 << 20;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    /// A store that can be switched off.
    #[derive(Clone, Default)]
    struct FlakySink {
        down: Arc<AtomicBool>,
        stored: Arc<Mutex<Vec<RequestRecord>>>,
    }

    impl RecordSink for FlakySink {
        async fn insert_records(
            &self,
            records: &mut [RequestRecord],
            _versions: &mut PromptVersionCache,
        ) -> Result<u64, StoreError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::Invalid("down".into()));
            }
            let mut s = self.stored.lock().unwrap();
            for r in records.iter() {
                if !s.iter().any(|x| x.uid == r.uid) {
                    s.push(r.clone());
                }
            }
            Ok(records.len() as u64)
        }
    }

    fn exchange(n: u32) -> Exchange {
        Exchange {
            uid: uuid::Uuid::new_v4(),
            request_id: uuid::Uuid::new_v4(),
            org_id: "org".into(),
            path: format!("/v1/chat/completions?n={n}"),
            upstream_path: "/v1/chat/completions".into(),
            status: Some(200),
            body_cap_bytes: 1024,
            ..Default::default()
        }
    }

    fn cfg(dir: &std::path::Path) -> WriterConfig {
        WriterConfig {
            queue_max_bytes: 1 << 20,
            spool_max_bytes: 1 << 20,
            batch_size: 8,
            spool_path: dir.join("test.spool"),
            spool_retry: Duration::from_millis(50),
            linger: Duration::from_millis(5),
        }
    }

    #[tokio::test]
    async fn records_survive_an_outage_and_a_restart() {
        let dir = std::env::temp_dir().join(format!("heliport-writer-{}", uuid::Uuid::new_v4()));
        let prices = Arc::new(PriceTable::builtin().unwrap());
        let sink = FlakySink::default();
        sink.down.store(true, Ordering::SeqCst);
        let (rec, handle) = start(sink.clone(), prices.clone(), cfg(&dir)).unwrap();
        for i in 0..20 {
            rec.record(exchange(i));
        }
        drop(rec);
        handle.shutdown().await;
        assert!(sink.stored.lock().unwrap().is_empty());
        assert_eq!(
            Spool::open(dir.join("test.spool"), u64::MAX)
                .unwrap()
                .pending(),
            20
        );

        // Restart with the store back: the spool is written first.
        sink.down.store(false, Ordering::SeqCst);
        let (rec, handle) = start(sink.clone(), prices.clone(), cfg(&dir)).unwrap();
        rec.record(exchange(99));
        drop(rec);
        handle.shutdown().await;
        let stored = sink.stored.lock().unwrap().clone();
        assert_eq!(stored.len(), 21);
        assert!(
            stored[20].path.ends_with("n=99"),
            "new records come after the spool"
        );
        assert_eq!(
            Spool::open(dir.join("test.spool"), u64::MAX)
                .unwrap()
                .pending(),
            0
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A store that holds every write until it is let go.
    #[derive(Clone)]
    struct GatedSink {
        gate: Arc<tokio::sync::Semaphore>,
        stored: Arc<Mutex<Vec<RequestRecord>>>,
    }

    impl GatedSink {
        /// Shut: it takes nothing until permits are added.
        fn shut() -> GatedSink {
            GatedSink {
                gate: Arc::new(tokio::sync::Semaphore::new(0)),
                stored: Arc::default(),
            }
        }
    }

    impl RecordSink for GatedSink {
        async fn insert_records(
            &self,
            records: &mut [RequestRecord],
            _versions: &mut PromptVersionCache,
        ) -> Result<u64, StoreError> {
            let _permit = self.gate.acquire().await;
            self.stored.lock().unwrap().extend(records.iter().cloned());
            Ok(records.len() as u64)
        }
    }

    /// Waits (at most 10 s) until the spool in `dir` holds `n` records.
    async fn wait_spooled(dir: &std::path::Path, n: u64) {
        let path = dir.join("test.spool");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Spool::open(&path, u64::MAX).map_or(0, |s| s.pending()) < n {
            assert!(Instant::now() < deadline, "nothing reached the spool");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn the_queue_is_bounded_in_bytes() {
        let dir = std::env::temp_dir().join(format!("heliport-writer-{}", uuid::Uuid::new_v4()));
        let prices = Arc::new(PriceTable::builtin().unwrap());
        let sink = GatedSink::shut();
        let mut c = cfg(&dir);
        c.queue_max_bytes = 1 << 20;
        // The spool refuses them all: what is stored is what the queue held.
        c.spool_max_bytes = 1 << 10;
        let (rec, handle) = start(sink.clone(), prices, c).unwrap();
        let body = bytes::Bytes::from(vec![b'x'; 300 << 10]);
        for i in 0..10 {
            let mut ex = exchange(i);
            ex.body_cap_bytes = 1 << 20;
            ex.admit_request_body(&body, None);
            rec.record(ex);
        }
        // 300 KiB each against 1 MiB: three fit in the queue; the rest go to
        // the spool queue, or are dropped, and the spool has no room.
        sink.gate.add_permits(100);
        drop(rec);
        handle.shutdown().await;
        assert_eq!(sink.stored.lock().unwrap().len(), 3);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn records_the_queue_cannot_hold_go_to_the_spool_and_are_all_stored() {
        let dir = std::env::temp_dir().join(format!("heliport-writer-{}", uuid::Uuid::new_v4()));
        let prices = Arc::new(PriceTable::builtin().unwrap());
        // The store takes nothing until let go: a writer stuck on a slow disk.
        let sink = GatedSink::shut();
        let mut c = cfg(&dir);
        c.queue_max_bytes = 64 << 10;
        c.spool_max_bytes = 64 << 20;
        let (rec, handle) = start(sink.clone(), prices, c).unwrap();
        let body = bytes::Bytes::from(vec![b'x'; 4 << 10]);
        let mut ids = Vec::new();
        for i in 0..200 {
            let mut ex = exchange(i);
            ex.admit_request_body(&body, None);
            ids.push(ex.uid);
            rec.record(ex);
            // Requests arrive at a rate: the spool queue (as small as the
            // queue here) is emptied as they come.
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        // Most went to the spool, fsynced, while the store was stuck.
        wait_spooled(&dir, 100).await;
        // The store recovers: every record is stored, none twice, and
        // nothing is left waiting anywhere.
        assert!(rec.backlog_bytes() > 0);
        let watcher = rec.clone();
        sink.gate.add_permits(10_000);
        drop(rec);
        handle.shutdown().await;
        assert_eq!(watcher.backlog_bytes(), 0);
        let stored = sink.stored.lock().unwrap();
        let mut got: Vec<_> = stored.iter().map(|r| r.uid).collect();
        got.sort_unstable();
        got.dedup();
        ids.sort_unstable();
        assert_eq!(got, ids);
        drop(stored);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn after_a_burst_the_spool_is_written_back_without_waiting_for_a_retry() {
        let dir = std::env::temp_dir().join(format!("heliport-writer-{}", uuid::Uuid::new_v4()));
        let prices = Arc::new(PriceTable::builtin().unwrap());
        // A slow store, not a failed one: it holds its first batch a while.
        let sink = GatedSink::shut();
        let mut c = cfg(&dir);
        c.queue_max_bytes = 64 << 10;
        c.spool_max_bytes = 64 << 20;
        // Only a store that failed waits for the retry: none comes here.
        c.spool_retry = Duration::from_secs(3600);
        let (rec, handle) = start(sink.clone(), prices, c).unwrap();
        let body = bytes::Bytes::from(vec![b'x'; 4 << 10]);
        let mut ids = Vec::new();
        let mut record = |i| {
            let mut ex = exchange(i);
            ex.admit_request_body(&body, None);
            ids.push(ex.uid);
            rec.record(ex);
        };
        for i in 0..100 {
            record(i);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        wait_spooled(&dir, 20).await;
        // The store catches up and requests keep coming: everything is
        // stored while running, the burst's spool included.
        sink.gate.add_permits(100_000);
        for i in 100..150 {
            record(i);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let stored = || {
            let mut got: Vec<_> = sink.stored.lock().unwrap().iter().map(|r| r.uid).collect();
            got.sort_unstable();
            got.dedup();
            got
        };
        while stored().len() < ids.len() || rec.backlog_bytes() > 0 {
            assert!(
                Instant::now() < deadline,
                "{} of {} stored, {} bytes waiting",
                stored().len(),
                ids.len(),
                rec.backlog_bytes()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        ids.sort_unstable();
        assert_eq!(stored(), ids);
        drop(rec);
        handle.shutdown().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn the_spool_keeps_to_its_disk_budget() {
        let dir = std::env::temp_dir().join(format!("heliport-writer-{}", uuid::Uuid::new_v4()));
        let prices = Arc::new(PriceTable::builtin().unwrap());
        let sink = FlakySink::default();
        sink.down.store(true, Ordering::SeqCst);
        let mut c = cfg(&dir);
        c.batch_size = 1;
        c.spool_max_bytes = 4 << 10;
        let (rec, handle) = start(sink.clone(), prices.clone(), c.clone()).unwrap();
        for i in 0..50 {
            rec.record(exchange(i));
        }
        drop(rec);
        handle.shutdown().await;
        let spool = Spool::open(dir.join("test.spool"), u64::MAX).unwrap();
        assert!(spool.bytes() <= 4 << 10, "{}", spool.bytes());
        let kept = spool.pending() as usize;
        assert!(kept > 0 && kept < 50, "{kept}");
        sink.down.store(false, Ordering::SeqCst);
        let (rec, handle) = start(sink.clone(), prices, c).unwrap();
        drop(rec);
        handle.shutdown().await;
        assert_eq!(sink.stored.lock().unwrap().len(), kept);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn spool_is_written_back_while_running() {
        let dir = std::env::temp_dir().join(format!("heliport-writer-{}", uuid::Uuid::new_v4()));
        let prices = Arc::new(PriceTable::builtin().unwrap());
        let sink = FlakySink::default();
        sink.down.store(true, Ordering::SeqCst);
        let (rec, handle) = start(sink.clone(), prices, cfg(&dir)).unwrap();
        for i in 0..5 {
            rec.record(exchange(i));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        sink.down.store(false, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(5);
        while sink.stored.lock().unwrap().len() < 5 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(sink.stored.lock().unwrap().len(), 5);
        drop(rec);
        handle.shutdown().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_failing_sqlite_store_spools_and_catches_up() {
        let dir = std::env::temp_dir().join(format!("heliport-writer-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/w.db", dir.display());
        let store = crate::SqliteStore::open(&url).await.unwrap();
        let sink = crate::sqlite::sink::SqliteRecordSink::open(&url).unwrap();
        let prices = Arc::new(PriceTable::builtin().unwrap());
        let (rec, handle) = start(sink, prices, cfg(&dir)).unwrap();
        // Break the store under the writer: its inserts now fail. One
        // connection drops and rebuilds the schema, so the rebuild never runs
        // against a pool connection that has not seen the drop yet.
        let mut conn = store.pool().acquire().await.unwrap();
        sqlx::raw_sql("DROP TABLE request_properties; DROP TABLE requests;")
            .execute(&mut *conn)
            .await
            .unwrap();
        for i in 0..10 {
            rec.record(exchange(i));
        }
        let spool_path = dir.join("test.spool");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Spool::open(&spool_path, u64::MAX).unwrap().pending() < 10
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(Spool::open(&spool_path, u64::MAX).unwrap().pending(), 10);
        // The store comes back: the spool is written back without a restart.
        for m in crate::sqlite::MIGRATIONS {
            sqlx::raw_sql(m).execute(&mut *conn).await.unwrap();
        }
        drop(conn);
        let count = || async {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM requests")
                .fetch_one(store.pool())
                .await
                .unwrap()
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while count().await < 10 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(count().await, 10);
        drop(rec);
        handle.shutdown().await;
        assert_eq!(Spool::open(&spool_path, u64::MAX).unwrap().pending(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
