//! Sliding-window arithmetic shared by both limiters. The Redis script
//! (`redis_backend.rs`) does the same sums in Lua; the unit tests here pin
//! the rules both follow.
//!
//! Time is in integer milliseconds. A window of `w` ms is counted in
//! sub-buckets of `sub = max(1, w / 60)` ms (floor, so never coarser than
//! w/60); usage at time `t` lands in sub-bucket `t / sub`. At time `now` the
//! trailing window is the `w` milliseconds `now - w + 1 ..= now`, and every
//! sub-bucket that overlaps it is counted whole. Counting the partly covered
//! oldest sub-bucket whole errs towards refusing: usage admitted at any
//! instant stays counted for at least `w`, so no trailing window of `w` ever
//! holds more than the quota admitted.

use std::collections::VecDeque;
use std::time::Duration;

/// The largest amount a counter takes: Redis counts in `i64` and Lua sums in
/// doubles, which are exact up to 2^53. 2^53 nano-USD is about 9 million USD,
/// far beyond any one policy.
pub(crate) const MAX_AMOUNT: u64 = 1 << 53;

/// A window length in whole milliseconds (at least 1).
pub(crate) fn window_ms(window: Duration) -> u64 {
    u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// The sub-bucket length for a window: `max(1 ms, window / 60)`.
pub(crate) fn sub_ms(window_ms: u64) -> u64 {
    (window_ms / 60).max(1)
}

/// The oldest sub-bucket still counted at `now`: the one holding the first
/// millisecond of the trailing window.
pub(crate) fn oldest_counted(now_ms: u64, window_ms: u64, sub_ms: u64) -> u64 {
    (now_ms + 1).saturating_sub(window_ms) / sub_ms.max(1)
}

/// The instant sub-bucket `index` stops being counted: when the trailing
/// window's first millisecond is past the sub-bucket's last one.
pub(crate) fn leaves_at(index: u64, window_ms: u64, sub_ms: u64) -> u64 {
    index
        .saturating_add(1)
        .saturating_mul(sub_ms)
        .saturating_add(window_ms)
        .saturating_sub(1)
}

/// Clamp an amount to what both stores count exactly.
pub(crate) fn clamp_amount(amount: u64) -> u64 {
    amount.min(MAX_AMOUNT)
}

/// One bucket's counted sub-buckets, oldest first: `(index, amount)`.
#[derive(Debug)]
pub(crate) struct Ring {
    window_ms: u64,
    sub_ms: u64,
    counts: VecDeque<(u64, u64)>,
}

/// What [`Ring::admit`] decided, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub admitted: bool,
    pub used: u64,
    /// Set when refused: milliseconds until `used < quota` again (with no
    /// new usage in between), at least 1.
    pub retry_after_ms: Option<u64>,
}

impl Ring {
    /// An empty bucket for windows of `window_ms`.
    pub(crate) fn new(window_ms: u64) -> Self {
        let window_ms = window_ms.max(1);
        Ring {
            window_ms,
            sub_ms: sub_ms(window_ms),
            counts: VecDeque::new(),
        }
    }

    /// The most sub-buckets a ring ever holds after pruning: the window's
    /// whole ones, a partial one at each end, and one for a clock that stepped
    /// back (see [`Ring::add`]). Bounds the in-process limiter's byte weight.
    pub(crate) fn max_len(window_ms: u64) -> u64 {
        window_ms.max(1) / sub_ms(window_ms) + 3
    }

    /// Forget sub-buckets that left the window and sum the rest.
    fn prune_and_sum(&mut self, now_ms: u64) -> u64 {
        let oldest = oldest_counted(now_ms, self.window_ms, self.sub_ms);
        while self.counts.front().is_some_and(|&(i, _)| i < oldest) {
            self.counts.pop_front();
        }
        self.counts
            .iter()
            .fold(0u64, |sum, &(_, n)| sum.saturating_add(n))
    }

    /// Usage in the trailing window at `now_ms`.
    pub(crate) fn used(&mut self, now_ms: u64) -> u64 {
        self.prune_and_sum(now_ms)
    }

    /// Count `amount` at `now_ms`.
    pub(crate) fn add(&mut self, now_ms: u64, amount: u64) {
        let amount = clamp_amount(amount);
        if amount == 0 {
            return;
        }
        let index = now_ms / self.sub_ms;
        match self.counts.back_mut() {
            // A clock that stepped back (or a caller racing on `now`) counts
            // into the newest sub-bucket: keeping the ring ordered matters
            // more than which sub-bucket a millisecond of skew lands in.
            Some((last, n)) if *last >= index => *n = n.saturating_add(amount),
            _ => self.counts.push_back((index, amount)),
        }
    }

    /// Admit while `used < quota`, counting `add` when admitted.
    pub(crate) fn admit(&mut self, now_ms: u64, quota: u64, add: u64) -> Decision {
        let used = self.prune_and_sum(now_ms);
        if used < quota {
            self.add(now_ms, add);
            return Decision {
                admitted: true,
                used: used.saturating_add(clamp_amount(add)),
                retry_after_ms: None,
            };
        }
        // Refused: walk the sub-buckets oldest first until enough usage has
        // left for `used < quota` to hold again.
        let mut remaining = used;
        let mut retry_at = None;
        for &(index, n) in &self.counts {
            remaining = remaining.saturating_sub(n);
            if remaining < quota {
                retry_at = Some(leaves_at(index, self.window_ms, self.sub_ms));
                break;
            }
        }
        // Quota 0 never admits: ask again after a whole window.
        let retry_after_ms = retry_at.map_or(self.window_ms, |at| at.saturating_sub(now_ms));
        Decision {
            admitted: false,
            used,
            retry_after_ms: Some(retry_after_ms.max(1)),
        }
    }

    /// True when nothing is counted (the bucket can be forgotten).
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_bucket_is_a_sixtieth_of_the_window_and_at_least_a_millisecond() {
        assert_eq!(sub_ms(60_000), 1_000);
        assert_eq!(sub_ms(1_000), 16);
        assert_eq!(sub_ms(31_536_000_000), 525_600_000);
        assert_eq!(sub_ms(59), 1);
        assert_eq!(sub_ms(1), 1);
        // Never coarser than w/60.
        for w in [1u64, 7, 59, 60, 61, 119, 1000, 1001, 86_400_000] {
            assert!(sub_ms(w) as f64 <= (w as f64 / 60.0).max(1.0));
        }
        assert_eq!(window_ms(Duration::from_micros(10)), 1);
        assert_eq!(window_ms(Duration::from_secs(60)), 60_000);
    }

    #[test]
    fn usage_is_counted_for_at_least_the_window_and_at_most_one_sub_bucket_more() {
        let (w, sub) = (60_000, 1_000);
        // Usage at t = 500 (sub-bucket 0) ...
        assert_eq!(oldest_counted(500, w, sub), 0);
        // ... is still counted at t + w - 1 (the last instant a window holds it) ...
        assert!(oldest_counted(500 + w - 1, w, sub) == 0);
        // ... and up to the end of its sub-bucket plus a window,
        assert_eq!(leaves_at(0, w, sub), 60_999);
        assert_eq!(oldest_counted(60_998, w, sub), 0);
        // then it is gone.
        assert_eq!(oldest_counted(60_999, w, sub), 1);
    }

    #[test]
    fn usage_slides_out_of_the_window() {
        let mut ring = Ring::new(60_000);
        ring.add(0, 3);
        ring.add(30_000, 2);
        assert_eq!(ring.used(30_000), 5);
        assert_eq!(ring.used(59_999), 5);
        // Sub-bucket 0 (0..1000 ms) leaves at 60 999.
        assert_eq!(ring.used(60_998), 5);
        assert_eq!(ring.used(60_999), 2);
        assert_eq!(ring.used(90_998), 2);
        assert_eq!(ring.used(90_999), 0);
        assert!(ring.is_empty());
    }

    #[test]
    fn admits_while_used_is_below_the_quota() {
        let mut ring = Ring::new(60_000);
        for i in 0..5 {
            let d = ring.admit(100 + i, 5, 1);
            assert!(d.admitted);
            assert_eq!(d.used, i + 1);
            assert_eq!(d.retry_after_ms, None);
        }
        let d = ring.admit(200, 5, 1);
        assert!(!d.admitted);
        assert_eq!(d.used, 5);
        // Everything sits in sub-bucket 0, which leaves at 60 999.
        assert_eq!(d.retry_after_ms, Some(60_999 - 200));
        assert!(!ring.admit(60_998, 5, 1).admitted);
        assert!(ring.admit(60_999, 5, 1).admitted);
    }

    #[test]
    fn the_last_admitted_request_may_overshoot_a_cents_quota() {
        let mut ring = Ring::new(1_000_000);
        let d = ring.admit(0, 10, 0);
        assert!(d.admitted);
        assert_eq!(d.used, 0);
        ring.add(5, 25); // settled cost larger than the whole quota
        let d = ring.admit(6, 10, 0);
        assert!(!d.admitted);
        assert_eq!(d.used, 25);
    }

    #[test]
    fn retry_after_waits_for_enough_usage_to_leave() {
        let mut ring = Ring::new(60_000);
        ring.add(0, 1); // sub-bucket 0, leaves at 60 999
        ring.add(10_000, 1); // sub-bucket 10, leaves at 70 999
        ring.add(20_000, 1); // sub-bucket 20, leaves at 80 999
        let d = ring.admit(30_000, 3, 1);
        assert!(!d.admitted);
        assert_eq!(d.retry_after_ms, Some(60_999 - 30_000));
        // With quota 2, two sub-buckets must leave.
        let d = ring.admit(30_000, 2, 1);
        assert_eq!(d.retry_after_ms, Some(70_999 - 30_000));
        // Quota 0 never admits; it says "a window".
        let d = ring.admit(30_000, 0, 1);
        assert!(!d.admitted);
        assert_eq!(d.retry_after_ms, Some(60_000));
    }

    #[test]
    fn retry_after_is_at_least_a_millisecond() {
        let mut ring = Ring::new(1);
        ring.add(10, 1);
        let d = ring.admit(10, 1, 1);
        assert!(!d.admitted);
        assert_eq!(d.retry_after_ms, Some(1));
        assert!(ring.admit(11, 1, 1).admitted);
    }

    #[test]
    fn a_ring_never_holds_more_than_max_len_sub_buckets() {
        for w in [1u64, 59, 60, 1_000, 60_000, 61_001] {
            let mut ring = Ring::new(w);
            for t in (0..w * 5).step_by(sub_ms(w) as usize) {
                ring.admit(t, u64::MAX, 1);
                assert!(ring.counts.len() as u64 <= Ring::max_len(w), "w={w} t={t}");
            }
        }
    }

    #[test]
    fn a_clock_that_steps_back_keeps_the_ring_ordered() {
        let mut ring = Ring::new(60_000);
        ring.add(10_000, 1);
        ring.add(5_000, 1);
        assert_eq!(ring.counts, VecDeque::from([(10, 2)]));
    }

    #[test]
    fn amounts_are_clamped_to_what_redis_counts_exactly() {
        let mut ring = Ring::new(60_000);
        let d = ring.admit(0, 1, u64::MAX);
        assert_eq!(d.used, MAX_AMOUNT);
    }
}
