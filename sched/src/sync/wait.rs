//! The wait queue every primitive of `sync` parks on, and the one parking
//! routine they share.
//!
//! A primitive keeps its state behind a [`SpinLock`] (held for a few
//! instructions, never across a park) together with one or more
//! [`WaitList`]s. To wait, it checks its condition under that lock and, if it
//! must wait, hands the guard to [`wait`], which queues a node (inside
//! [`park`], so the waker belongs to this very park), releases the lock and
//! parks. A waking side *chooses* a waiter: it unlinks the node
//! ([`WaitList::pop_front`]), may leave something in its data (a lock
//! hand-off, a message), takes its waker and wakes it after releasing the
//! lock. The node itself stays in the slab until its own waiter removes it,
//! so a key is never reused under a waiter's feet.
//!
//! Every way a wait can end goes through here, so no wakeup is lost:
//! - woken: the waiter removes its node and gets its data back;
//! - error (timeout, deadline scope, cancel) while still queued: the node is
//!   removed and [`Queue::abandon`] repairs the primitive's state;
//! - error after being chosen (a race): a timeout yields to the grant (the
//!   wait succeeded just at its deadline); a cancel wins, and
//!   [`Queue::abandon`] hands the grant on (unlock, re-post a permit, pass a
//!   notification, put a message back);
//! - unwinding (the scheduler tears the coroutine down while it is parked):
//!   a drop guard does the same as an error.

use std::io;
use std::time::{Duration, Instant};

use slab::Slab;

use super::spin::{SpinGuard, SpinLock};
use crate::park::{Waker, park};

/// Marks the absence of a neighbour in the intrusive list.
const NIL: usize = usize::MAX;

/// One waiter.
pub(crate) struct Node<D> {
    /// Previous linked node, or `NIL`; meaningless when unlinked.
    prev: usize,
    /// Next linked node, or `NIL`; meaningless when unlinked.
    next: usize,
    /// True while the node is in the FIFO; false once a waking side chose it.
    linked: bool,
    /// Wakes the waiter; taken by whoever chooses the node.
    waker: Option<Waker>,
    /// What the primitive keeps per waiter (request kind, hand-off result).
    pub(crate) data: D,
}

/// A FIFO of waiters with O(1) push, pop and removal of any node, stored in
/// a slab so that steady-state waiting allocates nothing.
pub(crate) struct WaitList<D> {
    /// Linked and chosen-but-not-yet-removed nodes.
    nodes: Slab<Node<D>>,
    /// Oldest linked node, or `NIL`.
    head: usize,
    /// Newest linked node, or `NIL`.
    tail: usize,
    /// Number of linked nodes.
    linked: usize,
}

impl<D> Default for WaitList<D> {
    fn default() -> Self {
        WaitList::new()
    }
}

impl<D> WaitList<D> {
    /// An empty list; allocates nothing until the first waiter.
    pub(crate) const fn new() -> Self {
        WaitList {
            nodes: Slab::new(),
            head: NIL,
            tail: NIL,
            linked: 0,
        }
    }

    /// Whether no waiter is queued (chosen ones do not count).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.linked == 0
    }

    /// Number of queued waiters.
    pub(crate) fn len(&self) -> usize {
        self.linked
    }

    fn push(&mut self, data: D, waker: Waker, front: bool) -> usize {
        let key = self.nodes.insert(Node {
            prev: NIL,
            next: NIL,
            linked: true,
            waker: Some(waker),
            data,
        });
        if self.head == NIL {
            self.head = key;
            self.tail = key;
        } else if front {
            self.nodes[key].next = self.head;
            self.nodes[self.head].prev = key;
            self.head = key;
        } else {
            self.nodes[key].prev = self.tail;
            self.nodes[self.tail].next = key;
            self.tail = key;
        }
        self.linked += 1;
        key
    }

    /// The oldest queued waiter's data.
    pub(crate) fn front(&self) -> Option<&D> {
        (self.head != NIL).then(|| &self.nodes[self.head].data)
    }

    /// Chooses the oldest queued waiter: unlinks it and returns its key. The
    /// caller sets its data, then wakes it with [`WaitList::take_waker`].
    pub(crate) fn pop_front(&mut self) -> Option<usize> {
        let key = self.head;
        if key == NIL {
            return None;
        }
        self.unlink(key);
        Some(key)
    }

    /// Chooses the oldest queued waiter, and returns its data and waker.
    pub(crate) fn choose(&mut self) -> Option<(&mut D, Option<Waker>)> {
        let key = self.pop_front()?;
        let node = &mut self.nodes[key];
        Some((&mut node.data, node.waker.take()))
    }

    fn unlink(&mut self, key: usize) {
        let (prev, next) = {
            let node = &mut self.nodes[key];
            debug_assert!(node.linked, "unlinking a node twice");
            node.linked = false;
            (node.prev, node.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
        self.linked -= 1;
    }

    /// Removes a node (unlinking it if still queued) and returns its data.
    fn remove(&mut self, key: usize) -> D {
        if self.nodes[key].linked {
            self.unlink(key);
        }
        self.nodes.remove(key).data
    }

    fn is_linked(&self, key: usize) -> bool {
        self.nodes[key].linked
    }
}

/// Wakers collected under a primitive's lock, woken after it is released
/// (waking can take another lock and make a syscall).
#[derive(Default)]
pub(crate) struct Wakeups {
    /// The common case: one waker, no allocation.
    first: Option<Waker>,
    /// Any further ones (broadcasts, disconnection).
    rest: Vec<Waker>,
}

impl Wakeups {
    /// Adds a waker (none: the waiter was already woken).
    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        let Some(waker) = waker else { return };
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.rest.push(waker);
        }
    }

    /// Wakes everything collected.
    pub(crate) fn wake(self) {
        if let Some(w) = self.first {
            w.wake();
        }
        for w in self.rest {
            w.wake();
        }
    }
}

/// A primitive's view of one of its wait lists, for [`wait`].
pub(crate) trait Queue {
    /// The state behind the primitive's lock.
    type State;
    /// Per-waiter data.
    type Data;

    /// The primitive's lock.
    fn state(&self) -> &SpinLock<Self::State>;

    /// The wait list inside the state.
    fn list(state: &mut Self::State) -> &mut WaitList<Self::Data>;

    /// A waiter leaves without completing (error or unwinding); its node is
    /// already removed. `chosen` says whether a waking side had chosen it,
    /// in which case whatever it was granted must be handed on. With
    /// `chosen == false` the primitive repairs state that assumed the
    /// waiter was queued. Wakers go to `wake`, woken after unlocking.
    fn abandon(
        &self,
        state: &mut Self::State,
        data: &mut Self::Data,
        chosen: bool,
        wake: &mut Wakeups,
    );
}

/// Locks a primitive's state.
#[inline]
pub(crate) fn lock<S>(m: &SpinLock<S>) -> SpinGuard<'_, S> {
    m.lock()
}

/// How a [`wait`] ended.
pub(crate) enum Outcome<D> {
    /// A waking side chose this waiter; here is its data.
    Chosen(D),
    /// The wait ended with an error (`TimedOut` or `Interrupted`) first;
    /// [`Queue::abandon`] has run.
    Aborted(D, io::Error),
}

/// Queues `data` on `q`'s list (at the front if `front`), releases `state`
/// (the caller checked its condition under it), runs `after_queued` (the
/// condvar releases its mutex there), and parks until the node is chosen or
/// the park fails (`deadline`, deadline scope, cancellation).
///
/// If the park fails before the node is queued (a cancel was already
/// pending, the deadline already passed), `after_queued` is dropped unrun
/// and the outcome is `Aborted` after `abandon(chosen = false)`.
pub(crate) fn wait<'a, Q: Queue + ?Sized>(
    q: &'a Q,
    state: SpinGuard<'a, Q::State>,
    data: Q::Data,
    front: bool,
    what: &'static str,
    deadline: Option<Instant>,
    after_queued: impl FnOnce(),
) -> Outcome<Q::Data> {
    let mut reg = Registration { q, key: None };
    let mut pending = Some((state, data, after_queued));
    let mut result = park(what, deadline, |waker| {
        let (mut state, data, after_queued) = pending.take().expect("registered once");
        reg.key = Some(Q::list(&mut state).push(data, waker, front));
        drop(state);
        after_queued();
        true
    });
    if let Some((mut state, mut data, after_queued)) = pending.take() {
        let e = result.expect_err("park returns early only with an error");
        let mut wake = Wakeups::default();
        q.abandon(&mut state, &mut data, false, &mut wake);
        drop(state);
        // After the spin lock: it may unlock the condvar's mutex, which can
        // wake a waiter on another thread (a syscall).
        drop(after_queued);
        wake.wake();
        return Outcome::Aborted(data, e);
    }
    let key = reg.key.expect("registered");
    loop {
        let mut state = lock(q.state());
        let list = Q::list(&mut state);
        let linked = list.is_linked(key);
        match result {
            Ok(()) if linked => {
                // Spurious wakeup: park again with a fresh waker.
                result = park(what, deadline, move |waker| {
                    Q::list(&mut state).nodes[key].waker = Some(waker);
                    true
                });
                continue;
            }
            Ok(()) => {
                reg.key = None;
                return Outcome::Chosen(list.remove(key));
            }
            Err(e) if !linked && e.kind() == io::ErrorKind::TimedOut => {
                // Chosen just as the deadline passed: the grant wins.
                reg.key = None;
                return Outcome::Chosen(list.remove(key));
            }
            Err(e) => {
                reg.key = None;
                let mut data = list.remove(key);
                let mut wake = Wakeups::default();
                q.abandon(&mut state, &mut data, !linked, &mut wake);
                drop(state);
                wake.wake();
                return Outcome::Aborted(data, e);
            }
        }
    }
}

/// Removes a waiter's node if its coroutine unwinds while parked (the
/// scheduler tears it down), so the primitive never waits on a dead waiter.
struct Registration<'a, Q: Queue + ?Sized> {
    q: &'a Q,
    /// The queued node, until [`wait`] removes it itself.
    key: Option<usize>,
}

impl<Q: Queue + ?Sized> Drop for Registration<'_, Q> {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut wake = Wakeups::default();
        let data = {
            let mut state = lock(self.q.state());
            let list = Q::list(&mut state);
            let chosen = !list.is_linked(key);
            let mut data = list.remove(key);
            self.q.abandon(&mut state, &mut data, chosen, &mut wake);
            data
        };
        wake.wake();
        drop(data);
    }
}

/// The deadline `timeout` from now; `None` (wait forever) if it overflows.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}
