//! The process's allocators: jemalloc for the Rust heap, glibc (tuned) for
//! the C code's own allocations (SQLite); both give memory back after bursts.

use std::time::{Duration, Instant};

/// jemalloc holds the Rust heap. A proxied request's buffers, strings and
/// exchange are made on a request thread and most are freed on the record
/// writer's thread: with glibc every such free went to the request thread's
/// arena under its lock, the request threads' per-thread caches stayed
/// empty for those sizes, and malloc and free took 11 % of heliport's CPU
/// at 32 connections (`perf`). jemalloc's thread caches take the writer's
/// frees back to their arenas a batch at a time. Measured side by side at
/// c32 (bench/PROFILE.md, section 21): CPU per request -16 %, RSS after the
/// load lower (35 against 45 MiB); a burst of 100 KB prompts peaks higher
/// (freed pages wait up to a second), and is back as low four seconds on.
/// mimalloc gave -10 % but kept 63-71 MiB after the load unless it purged on
/// every free, which cost the gain.
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once when it starts: a background thread gives
/// pages unused for a second back to the system (`dirty_decay_ms`) at once
/// rather than in a second stage (`muzzy_decay_ms`), so a burst's memory
/// returns without waiting for the thread that freed it to allocate again.
// Linux only: jemalloc's background thread is pthread-only (it refuses to
// start with it on macOS), and on Windows its own definition is not weak.
#[cfg(target_os = "linux")]
#[expect(unsafe_code, reason = "jemalloc reads its options from this symbol")]
// SAFETY: jemalloc reads `malloc_conf` (prefixed `_rjem_` by
// tikv-jemalloc-sys) as a `const char *` to a NUL-terminated string: a
// reference to a byte array is one pointer to its bytes.
#[export_name = "_rjem_malloc_conf"]
static JEMALLOC_OPTIONS: &[u8; 60] =
    b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// Allocations from this size up get their own mapping, given back when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 4 << 20;
/// Free memory at the end of an arena beyond this goes back to the system as
/// it is freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: i32 = 2 << 20;

/// glibc's tuning, for what C code allocates (SQLite's page cache and
/// statements, mostly on the writer's and sqlx's threads); it held the Rust
/// heap too before jemalloc did, which is what the measurements below were
/// made on. glibc gives threads that allocate at the same time arenas of
/// their own and seldom hands their freed memory back: under load
/// heliport's request workers, record writer and SQLite threads held 90 MiB
/// where 30 MiB were in use with glibc's default (eight arenas a core). Too few arenas cost CPU instead: with
/// two, the two runtime workers of a 2-core machine shared one arena in about
/// half the starts and queued on its lock (1.5 futex calls a request against
/// 0.4), and a proxied request cost 71-96 µs of CPU depending on the start.
/// One arena per runtime worker, one for the main thread and one shared by the
/// writer and SQLite threads measured 67-76 µs in every start, RSS after load
/// 40-42 MiB (bench/PROFILE.md, section 6). Requests now run on request
/// threads (one per core, started before the store's threads), beside a
/// one-worker runtime for background work: one arena each for the main thread,
/// that worker and every request thread, and one more for the rest.
///
/// The end of a thread's arena is given back only when a large free merges
/// into it; `malloc_trim` does not cut it, and small blocks freed into glibc's
/// fast bins reach it only when they are merged later, without that check.
/// Left to glibc, the trim threshold also rises with the largest block freed
/// (to 64 MiB). After a burst of 2,000 connections, one start in three kept
/// 24-28 MiB free at the end of one arena for good (bench/PROFILE.md,
/// section 8). Fixed thresholds and no fast bins (the per-thread cache in
/// front of them stays) give that memory back as it is freed, and measured
/// 60-63 µs a request at c32 against 66-68 with glibc's defaults.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "mallopt is the only way to tune glibc's arenas")]
pub fn limit_malloc_arenas() {
    let arenas = i32::try_from(cores().saturating_add(3)).unwrap_or(i32::MAX);
    // SAFETY: mallopt only tunes glibc's allocator and takes its lock; it
    // runs first thing in main, before the process's own threads start
    // (jemalloc's background thread, started with the first Rust
    // allocation, does not allocate from glibc).
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        libc::mallopt(libc::M_MXFAST, 0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_malloc_arenas() {}

/// Arenas for `request_threads` request threads when the configuration asks
/// for another number than one per core; call before they start.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "mallopt is the only way to tune glibc's arenas")]
pub fn arenas_for(request_threads: usize) {
    let arenas = i32::try_from(request_threads.saturating_add(3)).unwrap_or(i32::MAX);
    // SAFETY: mallopt takes glibc's own lock; the limit applies to arenas
    // made from now on.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn arenas_for(_request_threads: usize) {}

/// CPU cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

/// Connections closed since the last trim that make a trim worth its cost.
const TRIM_AFTER_CLOSED: usize = 256;
/// Record backlog bytes worked off since the last trim that make one worth it.
const TRIM_AFTER_DRAINED: usize = 16 << 20;
/// Resident bytes above the lowest seen after a trim (or at start) that make
/// one worth it, at most every [`GROWTH_TRIM_EVERY`]...
const TRIM_AFTER_GROWTH: usize = 16 << 20;
/// ... as under load the memory a trim gives back is soon faulted in again.
const GROWTH_TRIM_EVERY: Duration = Duration::from_secs(5);

/// After a burst, hand glibc's freed pages back. The Rust heap's go back by
/// themselves (jemalloc's background thread, a second after they are
/// freed); this trims what C code left in glibc's arenas, and measured the
/// whole heap when glibc held it too: glibc keeps freed memory that
/// sits between live allocations, so 10,000 idle connections that came and
/// went, or a record backlog the writer has caught up with (queued, or
/// spooled and read back), would otherwise leave RSS 100 MiB higher for good
/// (a spooled burst of cache hits: 82 MiB after the replay, 35 after a
/// trim). Traffic with large bodies leaves as much behind without either
/// sign (100 KB prompts or 2,000-event streams at 4 connections: 100-170 MiB
/// after the run), so a resident size 16 MiB above the lowest seen after a
/// trim triggers one too, at most every 5 s. A trim walks the heap
/// (milliseconds), so it runs only then, on a blocking thread.
pub fn spawn_trimmer(
    open_connections: fn() -> usize,
    peak_connections_since_last: fn() -> usize,
    backlog_bytes: impl Fn() -> usize + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let (mut peak_conns, mut peak_queued) = (0usize, 0usize);
        let mut floor = resident_bytes();
        let mut last_trim = Instant::now();
        loop {
            tick.tick().await;
            // The peak since the last tick, not a sample: connections that
            // came and went between two ticks left their memory behind too.
            peak_conns = peak_conns.max(peak_connections_since_last());
            let (open, queued) = (open_connections(), backlog_bytes());
            peak_queued = peak_queued.max(queued);
            let grown = last_trim.elapsed() >= GROWTH_TRIM_EVERY
                && resident_bytes()
                    .zip(floor)
                    .is_some_and(|(now, low)| now >= low.saturating_add(TRIM_AFTER_GROWTH));
            if peak_conns >= open + TRIM_AFTER_CLOSED
                || peak_queued >= queued + TRIM_AFTER_DRAINED
                || grown
            {
                (peak_conns, peak_queued) = (open, queued);
                let _ = tokio::task::spawn_blocking(trim).await;
                last_trim = Instant::now();
                floor = match (floor, resident_bytes()) {
                    (Some(low), Some(now)) => Some(low.min(now)),
                    (low, now) => low.or(now),
                };
            }
        }
    })
}

/// This process's resident set size (`VmRSS`), where `/proc` tells it.
fn resident_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<usize>()
        .ok()?;
    kib.checked_mul(1024)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "malloc_trim has no safe wrapper")]
fn trim() {
    // SAFETY: malloc_trim only releases free memory; glibc locks each arena
    // while it walks it, so it is safe to call while other threads allocate.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
