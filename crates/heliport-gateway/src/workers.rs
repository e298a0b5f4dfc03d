//! Request threads: each runs a single-threaded runtime and serves the client
//! connections handed to it, so a connection, the tasks of its requests and
//! the upstream connections they use are all polled on one thread.
//!
//! On tokio's work-stealing runtime a streamed answer passed between the
//! upstream connection's task and the client connection's task once per
//! event, and the wake-ups often crossed threads: at one connection a stream
//! cost 122 µs of CPU against 75 µs on one thread (bench/PROFILE.md section
//! 10). Each thread keeps its own upstream pools ([`worker_index`] picks them),
//! and a new connection goes to the thread serving the fewest.

use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

thread_local! {
    static WORKER_INDEX: Cell<usize> = const { Cell::new(0) };
}

/// Which request thread this is: 1 to n on [`Workers`]' threads, 0 on any
/// other thread (the main runtime, tests serving on their own runtime).
pub fn worker_index() -> usize {
    WORKER_INDEX.with(Cell::get)
}

/// How long a stopping thread waits for blocking work (prompt screening) its
/// runtime started.
const BLOCKING_GRACE: Duration = Duration::from_secs(1);

/// The longest a request thread's timer wheel is ever empty.
const TIMER_ANCHOR: Duration = Duration::from_secs(1);

/// Keeps a timer due within [`TIMER_ANCHOR`] at all times. tokio wakes its
/// driver with a write to an eventfd whenever a timer is set earlier than
/// the driver's next planned wake-up, and with no timer at all there is
/// none planned: at one connection, every request's header-read and upstream
/// timeouts each cost that write and an extra pass through `epoll_wait`
/// (bench/PROFILE.md section 16). Due within a second, the anchor makes every
/// longer timeout one the driver already wakes in time for.
async fn keep_timer_armed() {
    let mut tick = tokio::time::interval(TIMER_ANCHOR);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}

struct Worker {
    handle: Handle,
    /// Connections this thread serves now.
    load: Arc<AtomicUsize>,
}

/// The request threads. [`Workers::stop`] ends them; whatever they still run
/// is dropped then (an unfinished request records itself as cancelled).
pub struct Workers {
    workers: Vec<Worker>,
    stops: Mutex<Vec<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("threads", &self.workers.len())
            .finish()
    }
}

/// A connection's claim on its thread's count, given back when it ends.
pub struct Claim(Arc<AtomicUsize>);

impl Drop for Claim {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Workers {
    /// Start `n` request threads (at least one).
    pub fn start(n: usize) -> std::io::Result<Workers> {
        let n = n.max(1);
        let mut workers = Vec::with_capacity(n);
        let mut stops = Vec::with_capacity(n);
        for i in 1..=n {
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let (stop_tx, stop_rx) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("heliport-req-{i}"))
                .spawn(move || {
                    WORKER_INDEX.with(|w| w.set(i));
                    let rt = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(rt.handle().clone()));
                    rt.block_on(async {
                        tokio::select! {
                            _ = stop_rx => {}
                            () = keep_timer_armed() => {}
                        }
                    });
                    rt.shutdown_timeout(BLOCKING_GRACE);
                })?;
            let handle = ready_rx
                .recv()
                .map_err(|_| std::io::Error::other("a request thread did not start"))??;
            workers.push(Worker {
                handle,
                load: Arc::new(AtomicUsize::new(0)),
            });
            stops.push((stop_tx, thread));
        }
        Ok(Workers {
            workers,
            stops: Mutex::new(stops),
        })
    }

    /// How many request threads there are.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Whether there are none (never, once started).
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// Run the connection `conn` makes on the thread serving the fewest
    /// connections; it is given the claim to hold until it ends. The future
    /// is first polled on that thread, so a socket it makes there registers
    /// with that thread's reactor.
    pub fn spawn<Fut>(&self, conn: impl FnOnce(Claim) -> Fut)
    where
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(w) = self
            .workers
            .iter()
            .min_by_key(|w| w.load.load(Ordering::Relaxed))
        else {
            return;
        };
        w.load.fetch_add(1, Ordering::Relaxed);
        w.handle.spawn(conn(Claim(w.load.clone())));
    }

    /// Stop every thread: what they still run is dropped. Waits for them.
    pub fn stop(&self) {
        let stops = std::mem::take(&mut *self.stops.lock().unwrap_or_else(PoisonError::into_inner));
        // All at once: each may wait for its blocking work (DNS lookups,
        // screening) up to the grace.
        let threads: Vec<JoinHandle<()>> = stops
            .into_iter()
            .map(|(stop, thread)| {
                let _ = stop.send(());
                thread
            })
            .collect();
        for thread in threads {
            if thread.join().is_err() {
                tracing::error!("a request thread panicked");
            }
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_go_to_the_least_busy_thread_and_stop_drops_what_runs() {
        let workers = Workers::start(2).unwrap();
        assert_eq!(workers.len(), 2);
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        let (dropped_tx, dropped_rx) = std::sync::mpsc::channel::<usize>();
        struct OnDrop(std::sync::mpsc::Sender<usize>, usize);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                let _ = self.0.send(self.1);
            }
        }
        for i in 0..4 {
            let seen = seen_tx.clone();
            let dropped = dropped_tx.clone();
            workers.spawn(move |claim| async move {
                let _held = (claim, OnDrop(dropped, i));
                let _ = seen.send(worker_index());
                std::future::pending::<()>().await;
            });
        }
        let mut threads: Vec<usize> = (0..4).map(|_| seen_rx.recv().unwrap()).collect();
        threads.sort_unstable();
        assert_eq!(threads, vec![1, 1, 2, 2]);
        assert_eq!(worker_index(), 0);
        workers.stop();
        let mut dropped: Vec<usize> = dropped_rx.try_iter().collect();
        dropped.sort_unstable();
        assert_eq!(dropped, vec![0, 1, 2, 3]);
        assert!(workers
            .workers
            .iter()
            .all(|w| w.load.load(Ordering::Relaxed) == 0));
    }
}
