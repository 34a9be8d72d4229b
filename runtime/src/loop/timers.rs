//! The timer heap: libuv's ordering (due time, then start order) over the loop's millisecond clock.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::HandleId;

/// One scheduled expiry. `seq` breaks ties so timers due together fire in start order, and lets a
/// restarted timer invalidate its older entry (lazy deletion).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    due: u64,
    seq: u64,
    id: HandleId,
}

/// Entries beyond twice the live ones after the last compaction, plus this many, trigger the
/// next (each compaction is paid for by as many pushes as it keeps entries: O(1) amortized).
const SLACK: usize = 1024;

#[derive(Default)]
pub struct TimerHeap {
    heap: BinaryHeap<Reverse<Entry>>,
    next_seq: u64,
    /// How many entries the last compaction kept.
    kept: usize,
}

impl TimerHeap {
    /// Schedules `id` at `due`; returns the sequence number that identifies this arming.
    pub fn push(&mut self, id: HandleId, due: u64) -> u64 {
        self.next_seq += 1;
        let seq = self.next_seq;
        self.heap.push(Reverse(Entry { due, seq, id }));
        seq
    }

    /// Whether enough entries may be stale to make [`TimerHeap::compact`] worth it. Entries go
    /// stale when a timer is stopped, restarted or closed before it is due, and lazily
    /// deleted they stayed until their due time: a timer restarted on every request with an
    /// hour's timeout kept every old arming for that hour (2M start/stop pairs held 46 MB).
    pub fn needs_compaction(&self) -> bool {
        self.heap.len() > 2 * self.kept + SLACK
    }

    /// Drops every entry that is not `live`.
    pub fn compact(&mut self, live: impl Fn(HandleId, u64) -> bool) {
        let mut entries = std::mem::take(&mut self.heap).into_vec();
        entries.retain(|Reverse(e)| live(e.id, e.seq));
        self.heap = BinaryHeap::from(entries);
        self.heap.shrink_to(2 * self.heap.len() + SLACK);
        self.kept = self.heap.len();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// The earliest due time whose entry is still `live`, dropping stale entries on the way.
    pub fn next_due(&mut self, live: impl Fn(HandleId, u64) -> bool) -> Option<u64> {
        while let Some(Reverse(e)) = self.heap.peek() {
            if live(e.id, e.seq) {
                return Some(e.due);
            }
            self.heap.pop();
        }
        None
    }

    /// Pops the next entry due at or before `now`, returning `(id, seq)`.
    pub fn pop_due(&mut self, now: u64) -> Option<(HandleId, u64)> {
        match self.heap.peek() {
            Some(Reverse(e)) if e.due <= now => {
                let e = *e;
                self.heap.pop();
                Some((e.id, e.seq))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compaction_keeps_the_live_entries_in_order_and_bounds_the_stale_ones() {
        let mut h = TimerHeap::default();
        // one timer restarted 10,000 times: only its last arming is live
        let mut last = 0;
        for i in 0..10_000u64 {
            last = h.push(7, 1_000_000 + i);
            if h.needs_compaction() {
                h.compact(|id, seq| id == 7 && seq == last);
            }
        }
        // one live entry: at most twice it, plus the slack, plus the push after the check
        assert!(h.len() <= 2 + SLACK + 1, "{} entries kept", h.len());
        let a = h.push(1, 50);
        let b = h.push(2, 10);
        h.compact(|id, seq| (id, seq) == (7, last) || (id, seq) == (1, a) || (id, seq) == (2, b));
        assert_eq!(h.len(), 3);
        assert_eq!(h.pop_due(u64::MAX), Some((2, b)));
        assert_eq!(h.pop_due(u64::MAX), Some((1, a)));
        assert_eq!(h.pop_due(u64::MAX), Some((7, last)));
    }
}
