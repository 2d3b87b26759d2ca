//! Timers: an indexed binary min-heap of deadlines.
//!
//! Insert and cancel are O(log n); cancel needs no scan because every entry
//! records its heap position. A cancelled timer is gone at once, so a woken
//! I/O wait never leaves a timer behind that could fire into a later park
//! (and the park sequence number guards against that too).

use std::rc::Rc;
use std::time::Instant;

use slab::Slab;

use crate::task::Task;

struct Entry {
    /// Index of this entry in `Timers::heap` (kept in sync by every move).
    pos: usize,
    /// The task to wake, and the park it belongs to.
    task: Rc<Task>,
    seq: u32,
}

#[derive(Default)]
pub(crate) struct Timers {
    /// Min-heap on deadline; each node names its entry.
    heap: Vec<(Instant, usize)>,
    entries: Slab<Entry>,
}

impl Timers {
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    pub(crate) fn insert(&mut self, deadline: Instant, task: Rc<Task>, seq: u32) -> usize {
        let pos = self.heap.len();
        let key = self.entries.insert(Entry { pos, task, seq });
        self.heap.push((deadline, key));
        self.sift_up(pos);
        self.debug_check();
        key
    }

    pub(crate) fn remove(&mut self, key: usize) {
        let Some(entry) = self.entries.try_remove(key) else {
            return;
        };
        let pos = entry.pos;
        let last = self.heap.len() - 1;
        self.heap.swap(pos, last);
        self.heap.pop();
        if pos < self.heap.len() {
            self.entries[self.heap[pos].1].pos = pos;
            self.sift_down(pos);
            self.sift_up(pos);
        }
        self.debug_check();
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.first().map(|&(d, _)| d)
    }

    /// Removes and returns the earliest timer if its deadline is `<= now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<(Rc<Task>, u32)> {
        let &(deadline, key) = self.heap.first()?;
        if deadline > now {
            return None;
        }
        let entry = self
            .entries
            .try_remove(key)
            .expect("heap names a live entry");
        let last = self.heap.len() - 1;
        self.heap.swap(0, last);
        self.heap.pop();
        if !self.heap.is_empty() {
            self.entries[self.heap[0].1].pos = 0;
            self.sift_down(0);
        }
        self.debug_check();
        Some((entry.task, entry.seq))
    }

    /// Drops every timer (scheduler teardown).
    pub(crate) fn clear(&mut self) {
        self.heap.clear();
        self.entries.clear();
    }

    fn sift_up(&mut self, mut pos: usize) {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if self.heap[parent].0 <= self.heap[pos].0 {
                break;
            }
            self.swap(pos, parent);
            pos = parent;
        }
    }

    fn sift_down(&mut self, mut pos: usize) {
        loop {
            let left = 2 * pos + 1;
            if left >= self.heap.len() {
                break;
            }
            let right = left + 1;
            let child = if right < self.heap.len() && self.heap[right].0 < self.heap[left].0 {
                right
            } else {
                left
            };
            if self.heap[pos].0 <= self.heap[child].0 {
                break;
            }
            self.swap(pos, child);
            pos = child;
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.entries[self.heap[a].1].pos = a;
        self.entries[self.heap[b].1].pos = b;
    }

    #[inline]
    fn debug_check(&self) {
        debug_assert_eq!(self.heap.len(), self.entries.len());
        #[cfg(debug_assertions)]
        if self.heap.len() <= 64 {
            for (i, &(d, key)) in self.heap.iter().enumerate() {
                debug_assert_eq!(self.entries[key].pos, i);
                if i > 0 {
                    debug_assert!(self.heap[(i - 1) / 2].0 <= d);
                }
            }
        }
    }
}
