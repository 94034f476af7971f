//! The bounded event queue: when full, the oldest event is dropped and counted.
//! A `Vec` rather than a `VecDeque`: the queue is small (1000 by default),
//! dropping from the front is rare, and the beacon's size matters more.

use alloc::vec::Vec;

/// A FIFO of at most `capacity` items.
#[derive(Debug)]
pub(crate) struct BoundedQueue<T> {
    items: Vec<T>,
    capacity: usize,
    dropped: u64,
}

impl<T> BoundedQueue<T> {
    /// An empty queue holding at most `capacity` items (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            items: Vec::new(),
            capacity: capacity.max(1),
            dropped: 0,
        }
    }

    /// Adds an item; drops the oldest when full.
    pub(crate) fn push(&mut self, item: T) {
        if self.items.len() >= self.capacity {
            self.items = self.take_after(1);
            self.dropped += 1;
        }
        self.items.push(item);
    }

    /// The items after the first `n`, without `Vec::remove`/`drain` (their
    /// formatted panic messages would link `core::fmt` into the beacon).
    fn take_after(&mut self, n: usize) -> Vec<T> {
        core::mem::take(&mut self.items)
            .into_iter()
            .skip(n)
            .collect()
    }

    /// Puts a batch that could not be sent back in front, keeping the bound
    /// (what does not fit is dropped and counted: the oldest go first).
    pub(crate) fn requeue(&mut self, batch: Vec<T>) {
        let room = self.capacity.saturating_sub(self.items.len());
        let over = batch.len().saturating_sub(room);
        // The oldest of the batch go first.
        self.dropped += over as u64;
        let mut items: Vec<T> = batch.into_iter().skip(over).collect();
        items.append(&mut self.items);
        self.items = items;
    }

    /// Takes up to `n` of the oldest items.
    pub(crate) fn take(&mut self, n: usize) -> Vec<T> {
        if n >= self.items.len() {
            return core::mem::take(&mut self.items);
        }
        let rest = self.items.split_off(n);
        core::mem::replace(&mut self.items, rest)
    }

    /// The items, oldest first.
    pub(crate) fn iter(&self) -> core::slice::Iter<'_, T> {
        self.items.iter()
    }

    /// Items waiting.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Nothing waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Items dropped so far because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Counts `n` items dropped for another reason (the collector refused them).
    pub(crate) fn count_dropped(&mut self, n: usize) {
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
