//! [`Mutex`]: mutual exclusion that parks coroutines, not threads.
//!
//! One atomic word holds the lock: `LOCKED`, and `PARKED` while the wait
//! queue is non-empty. Uncontended `lock` is one compare-and-swap and
//! `unlock` another; the queue (a `std::sync::Mutex` around a
//! [`WaitList`]) is touched only when someone waits.
//!
//! Fairness: an unlock with waiters wakes the oldest, which competes for
//! the lock again (so a short critical section on a busy thread is not
//! slowed by a switch per unlock). A waiter that loses that race goes back
//! to the *front* of the queue marked starving, and the next unlock hands
//! the lock to it directly: nobody is bypassed more than once.
//!
//! Invariants: `PARKED` changes only under the queue lock, where it is set
//! before a waiter is queued and cleared when the queue empties; `LOCKED` is
//! cleared only by the holder, which is also the only one who may set the
//! whole word with a plain store (while it holds the queue lock).

use std::cell::UnsafeCell;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use super::wait::{Outcome, Queue, WaitList, Wakeups, deadline_after, lock, wait};

const LOCKED: u8 = 1;
const PARKED: u8 = 2;

/// A mutual-exclusion lock whose `lock` parks the calling coroutine (or
/// blocks the calling plain thread) while another holds it.
///
/// Shaped like `std::sync::Mutex`, with three differences:
/// - **No poisoning** (like parking_lot): a panic while holding the guard
///   unlocks the mutex and leaves the data as it was.
/// - `lock` returns `io::Result`, not a poison `LockResult`, so std-style
///   `m.lock().unwrap()` reads the same: a coroutine parked in `lock` is
///   woken with `ErrorKind::Interrupted` when cancelled and `TimedOut` when
///   its deadline scope (`with_deadline`) passes. A plain thread's `lock`
///   never fails.
/// - `try_lock` returns an `Option`.
///
/// Fair: see the module docs; no waiter is bypassed more than once.
///
/// ```
/// use std::rc::Rc;
/// use corio_sched::sync::Mutex;
///
/// let total = corio_sched::run(|| {
///     let m = Rc::new(Mutex::new(0));
///     let hs: Vec<_> = (0..10)
///         .map(|_| {
///             let m = m.clone();
///             corio_sched::spawn(move || {
///                 for _ in 0..100 {
///                     let mut g = m.lock().unwrap();
///                     let v = *g;
///                     corio_sched::yield_now(); // others run, but cannot enter
///                     *g = v + 1;
///                 }
///             })
///         })
///         .collect();
///     hs.into_iter().for_each(|h| h.join().unwrap());
///     *m.lock().unwrap()
/// });
/// assert_eq!(total, 1000);
/// ```
pub struct Mutex<T: ?Sized> {
    /// `LOCKED` | `PARKED` (see the module docs).
    state: AtomicU8,
    /// Parked lockers, oldest first.
    queue: StdMutex<WaitList<Waiter>>,
    /// The protected value; accessed only by the holder of `LOCKED`.
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands `&mut T` to one holder at a time (the `LOCKED`
// bit), which may live on any thread, so `T: Send` suffices for both.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// A parked locker.
#[derive(Default)]
pub(crate) struct Waiter {
    /// It lost a race after being woken: the next unlock hands it the lock.
    starving: bool,
    /// Set by the unlock that chose it: it owns the lock now (otherwise it
    /// was woken to compete).
    handoff: bool,
}

impl<T> Mutex<T> {
    /// A new, unlocked mutex.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            state: AtomicU8::new(0),
            queue: StdMutex::new(WaitList::new()),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex and returns the value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, parking until it is free.
    ///
    /// # Errors
    /// Only inside a coroutine: `Interrupted` if it is cancelled and
    /// `TimedOut` if its deadline scope passes while it waits. It then does
    /// not hold the lock.
    #[inline]
    pub fn lock(&self) -> io::Result<MutexGuard<'_, T>> {
        if self
            .state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow(None)?;
        }
        Ok(MutexGuard::new(self))
    }

    /// Locks the mutex if it is free right now.
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & LOCKED == 0 {
            match self.state.compare_exchange_weak(
                s,
                s | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(MutexGuard::new(self)),
                Err(now) => s = now,
            }
        }
        None
    }

    /// Locks the mutex, waiting at most `timeout`.
    ///
    /// # Errors
    /// `TimedOut` when the timeout (or the coroutine's deadline scope)
    /// passes first, `Interrupted` when the coroutine is cancelled.
    pub fn lock_timeout(&self, timeout: Duration) -> io::Result<MutexGuard<'_, T>> {
        self.lock_until(deadline_after(timeout))
    }

    /// Locks the mutex, waiting until `deadline` at the latest; errors as
    /// [`Mutex::lock_timeout`].
    pub fn lock_deadline(&self, deadline: Instant) -> io::Result<MutexGuard<'_, T>> {
        self.lock_until(Some(deadline))
    }

    fn lock_until(&self, deadline: Option<Instant>) -> io::Result<MutexGuard<'_, T>> {
        match self.try_lock() {
            Some(g) => Ok(g),
            None => {
                self.lock_slow(deadline)?;
                Ok(MutexGuard::new(self))
            }
        }
    }

    /// Whether the mutex is held right now (a hint: it may change at once).
    pub fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }

    /// A mutable reference to the value; no locking is needed, the borrow
    /// proves exclusive access.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    #[cold]
    fn lock_slow(&self, deadline: Option<Instant>) -> io::Result<()> {
        let mut starving = false;
        loop {
            let s = self.state.load(Ordering::Relaxed);
            if s & LOCKED == 0 {
                if self
                    .state
                    .compare_exchange_weak(s, s | LOCKED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return Ok(());
                }
                continue;
            }
            let queue = lock(&self.queue);
            // Announce the waiter before queueing it; if the lock was freed
            // meanwhile, try again instead.
            let s = self.state.load(Ordering::Relaxed);
            if s & LOCKED == 0
                || (s & PARKED == 0
                    && self
                        .state
                        .compare_exchange(s, s | PARKED, Ordering::Relaxed, Ordering::Relaxed)
                        .is_err())
            {
                continue;
            }
            let waiter = Waiter {
                starving,
                handoff: false,
            };
            match wait(self, queue, waiter, starving, "Mutex", deadline, || {}) {
                Outcome::Chosen(w) if w.handoff => return Ok(()),
                Outcome::Chosen(_) => starving = true,
                Outcome::Aborted(_, e) => return Err(e),
            }
        }
    }

    /// Releases the lock. Called by the guard.
    #[inline]
    fn unlock(&self) {
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow();
        }
    }

    #[cold]
    fn unlock_slow(&self) {
        let mut wake = Wakeups::default();
        let mut queue = lock(&self.queue);
        self.release_queued(&mut queue, &mut wake);
        drop(queue);
        wake.wake();
    }

    /// Releases the lock held by the caller, with the queue locked: wakes
    /// the oldest waiter, handing it the lock if it is starving.
    fn release_queued(&self, queue: &mut WaitList<Waiter>, wake: &mut Wakeups) {
        let Some((waiter, waker)) = queue.choose() else {
            self.state.store(0, Ordering::Release);
            return;
        };
        waiter.handoff = waiter.starving;
        let handoff = waiter.handoff;
        let parked = if queue.is_empty() { 0 } else { PARKED };
        let locked = if handoff { LOCKED } else { 0 };
        self.state.store(locked | parked, Ordering::Release);
        wake.push(waker);
    }
}

impl<T: ?Sized> Queue for Mutex<T> {
    type State = WaitList<Waiter>;
    type Data = Waiter;

    fn state(&self) -> &StdMutex<WaitList<Waiter>> {
        &self.queue
    }

    fn list(state: &mut WaitList<Waiter>) -> &mut WaitList<Waiter> {
        state
    }

    fn abandon(
        &self,
        queue: &mut WaitList<Waiter>,
        waiter: &mut Waiter,
        chosen: bool,
        wake: &mut Wakeups,
    ) {
        if chosen && waiter.handoff {
            // We own the lock: pass it on.
            self.release_queued(queue, wake);
            return;
        }
        if queue.is_empty() {
            self.state.fetch_and(!PARKED, Ordering::Relaxed);
        } else if chosen && self.state.load(Ordering::Relaxed) & LOCKED == 0 {
            // We were woken to compete for a free lock and leave: wake the
            // next waiter instead, or nobody would.
            let (next, waker) = queue.choose().expect("queue is not empty");
            next.handoff = false;
            if queue.is_empty() {
                self.state.fetch_and(!PARKED, Ordering::Relaxed);
            }
            wake.push(waker);
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// Holds a [`Mutex`] locked; unlocks it when dropped. Dereferences to the
/// protected value.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    /// Not `Send`, like std's guard: it stays with the coroutine (or thread)
    /// that locked.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing the guard shares `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    fn new(mutex: &'a Mutex<T>) -> Self {
        MutexGuard {
            mutex,
            _not_send: PhantomData,
        }
    }

    /// The mutex this guard holds (for [`super::Condvar`]).
    pub(crate) fn mutex(guard: &Self) -> &'a Mutex<T> {
        guard.mutex
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while its holder owns `LOCKED`.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only access.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
