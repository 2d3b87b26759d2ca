//! The scheduler's record of one coroutine.
//!
//! A `Task` is shared (`Rc`) between the scheduler's task table, the run
//! queue, timers, fd waiter lists and `JoinHandle`s, all on one thread. Its
//! fields are `Cell`s so that any of them can update it without a borrow.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use corio_coro::{Coroutine, Yielder};

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// In the run queue.
    Ready,
    /// Being resumed by the scheduler right now.
    Running,
    /// Suspended until a waker, a timer, an fd or a cancel wakes it.
    Parked,
    /// Returned or panicked; its coroutine is gone.
    Done,
}

/// Why a parked task was woken; read by the parking call when it resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Its waker fired (or its fd became ready).
    Notified,
    /// Its deadline passed.
    TimedOut,
    /// `JoinHandle::cancel` was called.
    Cancelled,
    /// The fd it waited on was closed.
    Closed,
    /// Its scheduler is shutting down and the task sits under frames that
    /// cannot unwind: the call fails (ECANCELED) so the task can finish.
    Shutdown,
}

/// What a parked task waits for, shown by `dump()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitKind {
    /// Not waiting.
    Nothing,
    /// Readiness of an fd (read and/or write).
    Io {
        /// The file descriptor.
        fd: i32,
        /// Waiting for readability.
        read: bool,
        /// Waiting for writability.
        write: bool,
    },
    /// A sleep or timer.
    Sleep,
    /// Another coroutine to finish.
    Join(u64),
    /// A synchronisation primitive (the name says which).
    Sync(&'static str),
}

/// The layout is `repr(C)` and ordered by use: what every park, local
/// wake and resume touches comes first, so with the `Rc` counts in front
/// it is the first 192 bytes of the allocation ([`HOT_END`]; three or,
/// since `Rc` allocations are 16-byte aligned, four cache lines), which
/// the scheduler prefetches before resuming the task (on x86-64). With
/// thousands of coroutines their records are cold in cache, and each
/// further line touched per message is a miss: the default field order
/// spread the hot fields over six lines. (`id` is read by cross-thread
/// wakes and when a waker is made, which are rarer.)
#[repr(C)]
pub(crate) struct Task {
    // Hot: read or written by every park, wake and resume.
    pub(crate) state: Cell<State>,
    /// Set by whoever woke the task, read when its park call returns.
    pub(crate) wake: Cell<Wake>,
    /// A cancel that has not been delivered to a blocking call yet.
    pub(crate) cancel_pending: Cell<bool>,
    /// Incremented at every park; a wake names the park it is for, so a late
    /// wake (timer, fd event, cross-thread message) never hits a later park.
    pub(crate) seq: Cell<u32>,
    /// Depth of `park::no_unwind` scopes the task is in: while non-zero its
    /// stack holds frames that cannot unwind (the net layer's `extern "C"`
    /// hooks), so teardown leaks the coroutine instead of unwinding it.
    pub(crate) no_unwind: Cell<u32>,
    /// An address near the top of the coroutine's stack when it last
    /// suspended: the run loop prefetches it before resuming the task (with
    /// thousands of coroutines, their stacks are cold in cache and TLB).
    pub(crate) sp_hint: Cell<usize>,
    /// The coroutine's yielder, valid from its first resume until it ends.
    pub(crate) yielder: Cell<*const Yielder<(), ()>>,
    /// Key of the timer armed for the current park, if any.
    pub(crate) timer: Cell<Option<usize>>,
    /// What the current park waits for (diagnostics).
    pub(crate) waiting: Cell<WaitKind>,
    /// Loop time at which the current park began (diagnostics).
    pub(crate) since: Cell<Option<Instant>>,
    /// Earliest deadline of the `with_deadline` scopes the task is inside.
    pub(crate) scope_deadline: Cell<Option<Instant>>,
    /// Key in the scheduler's task table while not `Done`.
    pub(crate) key: Cell<usize>,
    /// The coroutine; `None` once finished (its stack is back in the pool).
    /// Its borrow flag and corosensei's stack pointer lead it.
    pub(crate) coro: RefCell<Option<Coroutine<(), (), ()>>>,
    // Cold: spawn, join, panics and diagnostics.
    /// Process-unique id (the coroutine's id).
    pub(crate) id: u64,
    /// Optional user-given name.
    pub(crate) name: Option<Arc<str>>,
    /// Panic payload, when the coroutine panicked and nobody joined yet.
    pub(crate) panic: RefCell<Option<Box<dyn Any + Send>>>,
    /// The coroutine's return value (a `Box<T>` of its `JoinHandle<T>`),
    /// once it returned and until joined. Boxing `()` allocates nothing.
    pub(crate) value: RefCell<Option<Box<dyn Any>>>,
    /// Its `JoinHandle` was dropped: nobody can take the value or the
    /// panic payload, so they are dropped as soon as they exist (the value
    /// inside the coroutine, as it returns). They are user data, and the
    /// record itself can outlive the handle for a while (a stale fd waiter
    /// or timer entry still names it), to be dropped wherever that
    /// reference goes, possibly under the reactor's borrow: a socket
    /// closed there would deregister its fd from that very reactor.
    pub(crate) detached: Cell<bool>,
    /// The first task parked in `JoinHandle::join`/`wait` on this one, with
    /// its park seq; woken when it finishes. Most tasks have at most one
    /// joiner, so it is kept inline: a join allocates nothing.
    pub(crate) joiner: RefCell<Option<(Rc<Task>, u32)>>,
    /// Further joiners, woken after `joiner`.
    pub(crate) more_joiners: RefCell<Vec<(Rc<Task>, u32)>>,
}

/// End of the hot part of a [`Task`], counted from the start of its `Rc`
/// allocation (the strong and weak counts, then the task): the fields
/// before `coro`, the coroutine's borrow flag (where `RefCell` keeps it
/// today), and the part of the coroutine that a resume touches. Only a
/// prefetch length: a wrong guess costs speed, never correctness. The
/// test `task_hot_part_fits_three_lines` keeps it at 192 bytes; the
/// scheduler prefetches at most [`HOT_PREFETCH_MAX`] bytes whatever
/// corosensei's private layout (a feature of it can grow it).
pub(crate) const HOT_END: usize = 2 * std::mem::size_of::<usize>()
    + std::mem::offset_of!(Task, coro)
    + std::mem::size_of::<isize>()
    + corio_coro::RESUME_BYTES;

/// Upper bound of the task prefetch, in bytes from the `Rc` start.
pub(crate) const HOT_PREFETCH_MAX: usize = 4 * 64;

// Corio's own hot fields end before the second line of the allocation
// is over, leaving the rest of the third for the coroutine's part.
const _: () = assert!(
    2 * std::mem::size_of::<usize>() + std::mem::offset_of!(Task, coro) <= 128,
    "Task's own hot fields outgrew two cache lines"
);

impl Task {
    pub(crate) fn new(coro: Coroutine<(), (), ()>) -> Task {
        Task {
            id: coro.id(),
            name: coro.name().cloned(),
            key: Cell::new(usize::MAX),
            coro: RefCell::new(Some(coro)),
            yielder: Cell::new(std::ptr::null()),
            state: Cell::new(State::Ready),
            seq: Cell::new(0),
            wake: Cell::new(Wake::Notified),
            cancel_pending: Cell::new(false),
            scope_deadline: Cell::new(None),
            timer: Cell::new(None),
            waiting: Cell::new(WaitKind::Nothing),
            since: Cell::new(None),
            sp_hint: Cell::new(0),
            panic: RefCell::new(None),
            no_unwind: Cell::new(0),
            value: RefCell::new(None),
            detached: Cell::new(false),
            joiner: RefCell::new(None),
            more_joiners: RefCell::new(Vec::new()),
        }
    }

    /// Registers `joiner` (parked with `seq`) to be woken when this task
    /// finishes. A stale inline entry (that joiner already woke for another
    /// reason) is replaced rather than kept.
    pub(crate) fn add_joiner(&self, joiner: Rc<Task>, seq: u32) {
        let mut first = self.joiner.borrow_mut();
        match &*first {
            Some((t, s)) if t.state.get() == State::Parked && t.seq.get() == *s => {
                self.more_joiners.borrow_mut().push((joiner, seq));
            }
            _ => *first = Some((joiner, seq)),
        }
    }

    /// Takes every registered joiner (the inline one first).
    pub(crate) fn take_joiners(&self) -> impl Iterator<Item = (Rc<Task>, u32)> {
        let first = self.joiner.take();
        let more = std::mem::take(&mut *self.more_joiners.borrow_mut());
        first.into_iter().chain(more)
    }
}

#[cfg(test)]
mod tests {
    /// A field added to the hot part, or a larger corosensei, shows here
    /// (the layout is a prefetch matter only, so this is a test, not a
    /// build failure for users).
    #[test]
    #[allow(clippy::assertions_on_constants)] // on purpose: see above
    fn task_hot_part_fits_three_lines() {
        assert!(
            super::HOT_END <= 3 * 64,
            "Task's hot part is {} bytes, more than three cache lines",
            super::HOT_END
        );
    }
}
