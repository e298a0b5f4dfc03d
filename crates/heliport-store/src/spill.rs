//! The spool queue: records that found the writer's queue full go to the
//! spool (an fsynced file) instead of being dropped, and the writer stores
//! them when it catches up. A gateway can answer faster than its store can
//! take records (cache hits, a burst, a slow disk at a checkpoint); the spool
//! takes them at the cost of an appended entry each (the record as a JSON line,
//! its bodies as they are), several times cheaper than an indexed insert.
//!
//! The queue has a byte budget of its own, and its thread never waits on the
//! request path: the hot path only moves the exchange into a channel.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use heliport_core::pricing::PriceTable;
use heliport_core::record::Exchange;

use crate::budget::ByteBudget;
use crate::spool::{Spool, SpoolError};
use crate::writer::{drop_log_due, finalize_all, once_per, AfterRecording, Queued};

/// Records appended to the spool in one write (and one fsync).
const BATCH: usize = 512;

/// How often the thread looks for the stop signal while nothing comes.
const STOP_POLL: Duration = Duration::from_millis(100);

/// The hot path's side: where a record goes when the writer's queue is full.
#[derive(Clone, Debug)]
pub(crate) struct Overflow {
    tx: mpsc::Sender<Queued>,
    budget: Arc<ByteBudget>,
}

impl Overflow {
    /// Bytes of records waiting to be spooled.
    pub(crate) fn used(&self) -> usize {
        self.budget.used()
    }

    /// Queue `exchange` for the spool; given back when this queue is full too.
    pub(crate) fn take(&self, exchange: Box<Exchange>, weight: usize) -> Option<Box<Exchange>> {
        if !self.budget.try_take(weight) {
            return Some(exchange);
        }
        match self.tx.send(Queued { exchange, weight }) {
            Ok(()) => {
                if spill_log_due() {
                    tracing::warn!("record queue full: records go to the spool until the writer catches up (recording.queue_max_bytes)");
                }
                None
            }
            Err(mpsc::SendError(q)) => {
                self.budget.give_back(q.weight);
                Some(q.exchange)
            }
        }
    }
}

/// At most one message a minute while records go to the spool.
fn spill_log_due() -> bool {
    static LAST: AtomicU64 = AtomicU64::new(0);
    once_per(&LAST, 60)
}

/// The spool queue's thread.
pub(crate) struct Spiller {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Spiller {
    /// Spool everything queued, then end the thread. Blocks.
    pub(crate) fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("the spool queue's thread panicked");
            }
        }
    }
}

/// Start the spool queue, `max_bytes` of records at most.
pub(crate) fn start(
    max_bytes: usize,
    spool: Arc<Mutex<Spool>>,
    prices: Arc<PriceTable>,
    after: Option<Arc<dyn AfterRecording>>,
    spool_path: PathBuf,
) -> std::io::Result<(Overflow, Spiller)> {
    let (tx, rx) = mpsc::channel();
    let budget = Arc::new(ByteBudget::new(max_bytes));
    let stop = Arc::new(AtomicBool::new(false));
    let worker = Worker {
        rx,
        budget: budget.clone(),
        spool,
        prices,
        after,
        spool_path,
    };
    let stopping = stop.clone();
    let thread = std::thread::Builder::new()
        .name("heliport-spill".into())
        .spawn(move || worker.run(&stopping))?;
    Ok((
        Overflow { tx, budget },
        Spiller {
            stop,
            thread: Some(thread),
        },
    ))
}

struct Worker {
    rx: mpsc::Receiver<Queued>,
    budget: Arc<ByteBudget>,
    spool: Arc<Mutex<Spool>>,
    prices: Arc<PriceTable>,
    after: Option<Arc<dyn AfterRecording>>,
    spool_path: PathBuf,
}

impl Worker {
    fn run(self, stop: &AtomicBool) {
        loop {
            let first = match self.rx.recv_timeout(STOP_POLL) {
                Ok(q) => q,
                Err(RecvTimeoutError::Timeout) if stop.load(Ordering::SeqCst) => break,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            self.spool_batch(first);
            // Records may keep coming while stopping: what came is spooled
            // below, and the stop does not wait on a quiet moment.
            if stop.load(Ordering::SeqCst) {
                break;
            }
        }
        // Stopping: what is still queued is spooled too.
        while let Ok(first) = self.rx.try_recv() {
            self.spool_batch(first);
        }
    }

    /// Spool `first` and whatever else waits, up to a batch.
    fn spool_batch(&self, first: Queued) {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match self.rx.try_recv() {
                Ok(q) => batch.push(q),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let weight: usize = batch.iter().map(|q| q.weight).sum();
        let (mut records, posthog) =
            finalize_all(batch.into_iter().map(|q| q.exchange), &self.prices);
        let n = records.len() as u64;
        let appended = {
            let mut spool = self.spool.lock().unwrap_or_else(PoisonError::into_inner);
            let r = spool.append(&mut records);
            metrics::gauge!("heliport_spool_pending").set(spool.pending() as f64);
            r
        };
        self.budget.give_back(weight);
        match appended {
            Ok(()) => {
                metrics::counter!("heliport_records_spooled_total").increment(n);
                if let Some(after) = &self.after {
                    after.recorded(records, posthog);
                }
            }
            Err(SpoolError::Full(full)) => {
                metrics::counter!("heliport_records_dropped_total").increment(n);
                if drop_log_due() {
                    tracing::error!(path = %self.spool_path.display(), "{full}: records dropped (recording.spool_max_bytes)");
                }
            }
            Err(e) => {
                metrics::counter!("heliport_records_dropped_total").increment(n);
                tracing::error!(error = %e, path = %self.spool_path.display(), records = n, "cannot write the spool: records dropped");
            }
        }
    }
}
