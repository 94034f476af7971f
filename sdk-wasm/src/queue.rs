//! The bounded event queue: when full, the oldest event is dropped and counted.
//! A `Vec` rather than a `VecDeque`: the queue is small (1000 by default),
//! dropping from the front is rare, and the beacon's size matters more.

use alloc::vec::Vec;

/// A FIFO of at most `capacity` items.
#[derive(Debug)]
pub struct BoundedQueue<T> {
    items: Vec<T>,
    capacity: usize,
    dropped: u64,
}

impl<T> BoundedQueue<T> {
    /// An empty queue holding at most `capacity` items (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            items: Vec::new(),
            capacity: capacity.max(1),
            dropped: 0,
        }
    }

    /// Adds an item; drops the oldest when full.
    pub fn push(&mut self, item: T) {
        if self.items.len() == self.capacity {
            self.items.remove(0);
            self.dropped += 1;
        }
        self.items.push(item);
    }

    /// Puts a batch that could not be sent back in front, keeping the bound
    /// (what does not fit is dropped and counted: the oldest go first).
    pub fn requeue(&mut self, mut batch: Vec<T>) {
        let room = self.capacity - self.items.len();
        if batch.len() > room {
            // The oldest of the batch go first.
            let over = batch.len() - room;
            batch.drain(..over);
            self.dropped += over as u64;
        }
        batch.append(&mut self.items);
        self.items = batch;
    }

    /// Takes up to `n` of the oldest items.
    pub fn take(&mut self, n: usize) -> Vec<T> {
        let n = n.min(self.items.len());
        self.items.drain(..n).collect()
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Nothing waiting.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Items dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Counts `n` items dropped for another reason (the collector refused them).
    pub fn count_dropped(&mut self, n: usize) {
        self.dropped += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_the_oldest_when_full() {
        let mut q = BoundedQueue::new(3);
        for i in 0..5 {
            q.push(i);
        }
        assert_eq!(q.len(), 3);
        assert_eq!(q.dropped(), 2);
        assert_eq!(q.take(10), [2, 3, 4]);
        assert!(q.is_empty());
    }

    #[test]
    fn requeue_keeps_order_and_bound() {
        let mut q = BoundedQueue::new(4);
        for i in 0..4 {
            q.push(i);
        }
        let batch = q.take(2);
        q.push(4);
        q.requeue(batch);
        assert_eq!(q.dropped(), 1, "one of the requeued could not fit");
        assert_eq!(q.take(10), [1, 2, 3, 4]);
    }
}
