//! A byte budget shared by the producers and the consumer of a queue: every
//! queue, cache and buffer in heliport is bounded by bytes, not by counts.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes in use against a limit.
#[derive(Debug)]
pub struct ByteBudget {
    used: AtomicUsize,
    max: usize,
}

impl ByteBudget {
    /// A budget of `max` bytes (at least 1).
    pub fn new(max: usize) -> Self {
        ByteBudget {
            used: AtomicUsize::new(0),
            max: max.max(1),
        }
    }

    /// Take `n` bytes if they fit; false (nothing taken) otherwise.
    pub fn try_take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                let next = used.saturating_add(n);
                (next <= self.max).then_some(next)
            })
            .is_ok()
    }

    /// Return `n` bytes taken earlier.
    pub fn give_back(&self, n: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(n))
            });
    }

    /// Bytes in use.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_only_what_fits() {
        let b = ByteBudget::new(10);
        assert!(b.try_take(6));
        assert!(!b.try_take(5));
        assert!(b.try_take(4));
        assert_eq!(b.used(), 10);
        b.give_back(6);
        assert!(b.try_take(5));
        b.give_back(100);
        assert_eq!(b.used(), 0);
    }
}
