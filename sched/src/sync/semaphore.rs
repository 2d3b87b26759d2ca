//! [`Semaphore`]: a counter of permits; acquiring parks while none is left.
//!
//! FIFO with hand-off: a released permit goes straight to the oldest waiter,
//! and a new acquirer queues behind existing waiters, so nobody starves.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use super::spin::SpinLock;
use super::wait::{Outcome, Queue, WaitList, Wakeups, deadline_after, lock, wait};

/// A counting semaphore whose `acquire` parks the calling coroutine (or
/// blocks the calling plain thread) until a permit is free.
///
/// Permits are RAII: [`Semaphore::acquire`] returns a [`SemaphorePermit`]
/// that gives its permit back when dropped ([`SemaphorePermit::forget`]
/// keeps it taken). [`Semaphore::add_permits`] adds new ones.
///
/// ```
/// use std::rc::Rc;
/// use std::time::Duration;
/// use corio_sched::sync::Semaphore;
///
/// corio_sched::run(|| {
///     let sem = Rc::new(Semaphore::new(2)); // at most two at a time
///     let hs: Vec<_> = (0..6)
///         .map(|_| {
///             let sem = sem.clone();
///             corio_sched::spawn(move || {
///                 let _permit = sem.acquire().unwrap();
///                 corio_sched::sleep(Duration::from_millis(10));
///             })
///         })
///         .collect();
///     hs.into_iter().for_each(|h| h.join().unwrap());
///     assert_eq!(sem.available_permits(), 2);
/// });
/// ```
pub struct Semaphore {
    /// Free permits and waiters.
    state: SpinLock<State>,
}

/// The semaphore's bookkeeping.
pub(crate) struct State {
    /// Free permits; zero whenever `queue` is non-empty.
    permits: usize,
    /// Waiters, oldest first.
    queue: WaitList<()>,
}

impl State {
    /// Hands free permits to the oldest waiters.
    fn grant(&mut self, wake: &mut Wakeups) {
        while self.permits > 0 {
            let Some(((), waker)) = self.queue.choose() else {
                return;
            };
            self.permits -= 1;
            wake.push(waker);
        }
    }
}

impl Semaphore {
    /// A semaphore with `permits` free permits.
    pub const fn new(permits: usize) -> Semaphore {
        Semaphore {
            state: SpinLock::new(State {
                permits,
                queue: WaitList::new(),
            }),
        }
    }

    /// Takes a permit, parking until one is free.
    ///
    /// # Errors
    /// Inside a coroutine: `Interrupted` when it is cancelled, `TimedOut`
    /// when its deadline scope passes; no permit is taken then.
    pub fn acquire(&self) -> io::Result<SemaphorePermit<'_>> {
        self.acquire_until(None)
    }

    /// Takes a permit, waiting at most `timeout` (then `TimedOut`).
    pub fn acquire_timeout(&self, timeout: Duration) -> io::Result<SemaphorePermit<'_>> {
        self.acquire_until(deadline_after(timeout))
    }

    /// Takes a permit, waiting until `deadline` at the latest (then
    /// `TimedOut`).
    pub fn acquire_deadline(&self, deadline: Instant) -> io::Result<SemaphorePermit<'_>> {
        self.acquire_until(Some(deadline))
    }

    /// Takes a permit if one is free and nobody waits for one.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        let mut s = lock(&self.state);
        if s.permits == 0 {
            return None;
        }
        s.permits -= 1;
        Some(SemaphorePermit { sem: self })
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> io::Result<SemaphorePermit<'_>> {
        let mut s = lock(&self.state);
        if s.permits > 0 {
            s.permits -= 1;
            return Ok(SemaphorePermit { sem: self });
        }
        match wait(self, s, (), false, "Semaphore", deadline, || {}) {
            Outcome::Chosen(()) => Ok(SemaphorePermit { sem: self }),
            Outcome::Aborted((), e) => Err(e),
        }
    }

    /// Adds `n` permits, waking waiters that can now take one.
    pub fn add_permits(&self, n: usize) {
        let mut wake = Wakeups::default();
        let mut s = lock(&self.state);
        s.permits = s
            .permits
            .checked_add(n)
            .expect("Semaphore::add_permits overflowed the permit count");
        s.grant(&mut wake);
        drop(s);
        wake.wake();
    }

    /// Permits free right now.
    pub fn available_permits(&self) -> usize {
        lock(&self.state).permits
    }
}

impl Queue for Semaphore {
    type State = State;
    type Data = ();

    fn state(&self) -> &SpinLock<State> {
        &self.state
    }

    fn list(state: &mut State) -> &mut WaitList<()> {
        &mut state.queue
    }

    fn abandon(&self, s: &mut State, _: &mut (), chosen: bool, wake: &mut Wakeups) {
        if chosen {
            // We were handed a permit but leave: pass it on.
            s.permits += 1;
            s.grant(wake);
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = lock(&self.state);
        f.debug_struct("Semaphore")
            .field("permits", &s.permits)
            .field("waiters", &s.queue.len())
            .finish()
    }
}

/// One permit of a [`Semaphore`], given back when dropped.
#[must_use = "the permit is released at once if unused"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken for good (the semaphore has one permit less).
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.add_permits(1);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphorePermit")
    }
}
