//! The exporters' queues: unbounded channels whose contents are bounded by
//! a byte budget, so a producer never waits and memory never grows past it.

use std::sync::Arc;

use heliport_store::budget::ByteBudget;
use tokio::sync::mpsc;

/// The sending side; cheap to clone.
pub(super) struct ByteQueue<T> {
    tx: mpsc::UnboundedSender<(T, usize)>,
    budget: Arc<ByteBudget>,
}

impl<T> Clone for ByteQueue<T> {
    fn clone(&self) -> Self {
        ByteQueue {
            tx: self.tx.clone(),
            budget: self.budget.clone(),
        }
    }
}

/// The receiving side.
pub(super) struct Receiver<T> {
    rx: mpsc::UnboundedReceiver<(T, usize)>,
    budget: Arc<ByteBudget>,
}

/// A queue holding at most `max_bytes` (as weighed by the producers).
pub(super) fn channel<T>(max_bytes: usize) -> (ByteQueue<T>, Receiver<T>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let budget = Arc::new(ByteBudget::new(max_bytes));
    (
        ByteQueue {
            tx,
            budget: budget.clone(),
        },
        Receiver { rx, budget },
    )
}

impl<T> ByteQueue<T> {
    /// Queue `item` if its `weight` fits; false (dropped) otherwise.
    pub(super) fn push(&self, item: T, weight: usize) -> bool {
        if !self.budget.try_take(weight) {
            return false;
        }
        match self.tx.send((item, weight)) {
            Ok(()) => true,
            Err(_) => {
                self.budget.give_back(weight);
                false
            }
        }
    }
}

impl<T> Receiver<T> {
    /// The next item, its bytes returned to the budget.
    pub(super) async fn recv(&mut self) -> Option<T> {
        let (item, weight) = self.rx.recv().await?;
        self.budget.give_back(weight);
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn holds_at_most_its_bytes() {
        let (q, mut rx) = channel::<u32>(10);
        assert!(q.push(1, 6));
        assert!(!q.push(2, 6), "over the budget");
        assert!(q.push(3, 4));
        assert_eq!(rx.recv().await, Some(1));
        assert!(q.push(4, 6), "room again once taken out");
        assert_eq!(rx.recv().await, Some(3));
        assert_eq!(rx.recv().await, Some(4));
    }
}
