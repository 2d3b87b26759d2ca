//! [`RwLock`]: many readers or one writer, parking coroutines, not threads.
//!
//! The whole state (reader count, writer flag, queue) sits behind one
//! internal spin lock, held for a few instructions per call. Fairness is
//! strict FIFO with hand-off: a new reader queues behind a waiting writer
//! (writers cannot starve), and a release grants the lock to the oldest
//! waiter, or to the run of readers at the head of the queue, before they
//! even run, so nobody can barge in between.

use std::cell::UnsafeCell;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use super::spin::SpinLock;
use super::wait::{Outcome, Queue, WaitList, Wakeups, deadline_after, lock, wait};

/// A reader-writer lock whose waits park the calling coroutine (or block
/// the calling plain thread), shaped like `std::sync::RwLock`.
///
/// As with [`Mutex`](super::Mutex): no poisoning; `read`/`write` return
/// `io::Result` (`Interrupted` on cancellation, `TimedOut` when the deadline
/// scope passes; a plain thread never gets an error); `try_*` return
/// `Option`. Fair: FIFO hand-off, so neither readers nor writers starve.
///
/// ```
/// use corio_sched::sync::RwLock;
///
/// let lock = RwLock::new(5);
/// {
///     let r1 = lock.read().unwrap();
///     let r2 = lock.read().unwrap();
///     assert_eq!(*r1 + *r2, 10);
///     assert!(lock.try_write().is_none());
/// }
/// *lock.write().unwrap() += 1;
/// assert_eq!(*lock.read().unwrap(), 6);
/// ```
pub struct RwLock<T: ?Sized> {
    /// Who holds the lock and who waits.
    state: SpinLock<State>,
    /// The protected value: shared while `readers > 0`, exclusive while
    /// `writer`.
    data: UnsafeCell<T>,
}

// SAFETY: a writer gets `&mut T` on some thread (needs `T: Send`); readers
// on several threads share `&T` (needs `T: Sync`).
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

/// The lock's bookkeeping.
pub(crate) struct State {
    /// Read guards alive (granted, including to readers not yet running).
    readers: usize,
    /// A write guard is alive (or granted to a writer not yet running).
    writer: bool,
    /// Waiters, oldest first; non-empty implies the head cannot be granted.
    queue: WaitList<Want>,
}

/// What a waiter wants.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    Read,
    Write,
}

impl State {
    /// Grants the lock to the head of the queue while possible.
    fn grant(&mut self, wake: &mut Wakeups) {
        while let Some(&want) = self.queue.front() {
            match want {
                Want::Write if !self.writer && self.readers == 0 => {
                    self.writer = true;
                    wake.push(self.queue.choose().and_then(|(_, w)| w));
                    return;
                }
                Want::Read if !self.writer => {
                    self.readers += 1;
                    wake.push(self.queue.choose().and_then(|(_, w)| w));
                }
                _ => return,
            }
        }
    }
}

impl<T> RwLock<T> {
    /// A new, unlocked lock.
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            state: SpinLock::new(State {
                readers: 0,
                writer: false,
                queue: WaitList::new(),
            }),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Locks for reading, parking while a writer holds or waits for the
    /// lock.
    ///
    /// # Errors
    /// Inside a coroutine: `Interrupted` when cancelled, `TimedOut` when
    /// its deadline scope passes.
    pub fn read(&self) -> io::Result<RwLockReadGuard<'_, T>> {
        self.acquire(Want::Read, None)?;
        Ok(RwLockReadGuard::new(self))
    }

    /// Locks for writing, parking while anyone holds the lock or waits
    /// ahead. Errors as [`RwLock::read`].
    pub fn write(&self) -> io::Result<RwLockWriteGuard<'_, T>> {
        self.acquire(Want::Write, None)?;
        Ok(RwLockWriteGuard::new(self))
    }

    /// [`RwLock::read`] waiting at most `timeout` (then `TimedOut`).
    pub fn read_timeout(&self, timeout: Duration) -> io::Result<RwLockReadGuard<'_, T>> {
        self.acquire(Want::Read, deadline_after(timeout))?;
        Ok(RwLockReadGuard::new(self))
    }

    /// [`RwLock::write`] waiting at most `timeout` (then `TimedOut`).
    pub fn write_timeout(&self, timeout: Duration) -> io::Result<RwLockWriteGuard<'_, T>> {
        self.acquire(Want::Write, deadline_after(timeout))?;
        Ok(RwLockWriteGuard::new(self))
    }

    /// Locks for reading if that is possible without waiting.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        let mut s = lock(&self.state);
        if s.writer || !s.queue.is_empty() {
            return None;
        }
        s.readers += 1;
        Some(RwLockReadGuard::new(self))
    }

    /// Locks for writing if that is possible without waiting.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        let mut s = lock(&self.state);
        if s.writer || s.readers > 0 || !s.queue.is_empty() {
            return None;
        }
        s.writer = true;
        Some(RwLockWriteGuard::new(self))
    }

    /// A mutable reference to the value; the borrow proves exclusive access.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    fn acquire(&self, want: Want, deadline: Option<Instant>) -> io::Result<()> {
        let mut s = lock(&self.state);
        let free = match want {
            Want::Read => !s.writer,
            Want::Write => !s.writer && s.readers == 0,
        };
        if free && s.queue.is_empty() {
            match want {
                Want::Read => s.readers += 1,
                Want::Write => s.writer = true,
            }
            return Ok(());
        }
        let what = match want {
            Want::Read => "RwLock (read)",
            Want::Write => "RwLock (write)",
        };
        match wait(self, s, want, false, what, deadline, || {}) {
            // Granted by the releaser: the count or flag is already ours.
            Outcome::Chosen(_) => Ok(()),
            Outcome::Aborted(_, e) => Err(e),
        }
    }

    fn release(&self, want: Want) {
        let mut wake = Wakeups::default();
        let mut s = lock(&self.state);
        match want {
            Want::Read => s.readers -= 1,
            Want::Write => s.writer = false,
        }
        s.grant(&mut wake);
        drop(s);
        wake.wake();
    }
}

impl<T: ?Sized> Queue for RwLock<T> {
    type State = State;
    type Data = Want;

    fn state(&self) -> &SpinLock<State> {
        &self.state
    }

    fn list(state: &mut State) -> &mut WaitList<Want> {
        &mut state.queue
    }

    fn abandon(&self, s: &mut State, want: &mut Want, chosen: bool, wake: &mut Wakeups) {
        if chosen {
            // Granted but leaving: give it back.
            match want {
                Want::Read => s.readers -= 1,
                Want::Write => s.writer = false,
            }
        }
        // A writer that left the head may unblock the readers behind it.
        s.grant(wake);
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> RwLock<T> {
        RwLock::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// Shared access to an [`RwLock`]'s value; releases it when dropped.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    /// Not `Send`, like std's guard.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing the guard shares `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}

impl<'a, T: ?Sized> RwLockReadGuard<'a, T> {
    fn new(lock: &'a RwLock<T>) -> Self {
        RwLockReadGuard {
            lock,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: while a read guard lives `readers > 0`, so no writer
        // exists; readers only ever create shared references.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.release(Want::Read);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to an [`RwLock`]'s value; releases it when dropped.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    /// Not `Send`, like std's guard.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing the guard shares `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    fn new(lock: &'a RwLock<T>) -> Self {
        RwLockWriteGuard {
            lock,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: while the write guard lives `writer` is set: no other
        // guard exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only access.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.release(Want::Write);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
