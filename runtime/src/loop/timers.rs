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

#[derive(Default)]
pub struct TimerHeap {
    heap: BinaryHeap<Reverse<Entry>>,
    next_seq: u64,
}

impl TimerHeap {
    /// Schedules `id` at `due`; returns the sequence number that identifies this arming.
    pub fn push(&mut self, id: HandleId, due: u64) -> u64 {
        self.next_seq += 1;
        let seq = self.next_seq;
        self.heap.push(Reverse(Entry { due, seq, id }));
        seq
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
