//! [`Condvar`]: wait for a condition guarded by a [`Mutex`](super::Mutex).
//!
//! Waiters queue FIFO; `notify_one` wakes the oldest. A waiter queues itself
//! before it releases the mutex, so a notification sent after the mutex is
//! released always finds it. A notified waiter that is cancelled before it
//! runs passes its notification to the next waiter.

use std::io;
use std::time::{Duration, Instant};

use super::mutex::MutexGuard;
use super::spin::SpinLock;
use super::wait::{Outcome, Queue, WaitList, Wakeups, deadline_after, lock, wait};

/// A condition variable whose waits park the calling coroutine (or block
/// the calling plain thread), shaped like `std::sync::Condvar` for use with
/// [`Mutex`](super::Mutex).
///
/// Waits return `io::Result` instead of a poison `LockResult`: a coroutine
/// waiting here is woken with `Interrupted` when cancelled and `TimedOut`
/// when its deadline scope passes, and then returns *without* the mutex
/// (the guard was released when it started waiting). Spurious wakeups are
/// possible, as with std: check the condition in a loop or use
/// [`Condvar::wait_while`].
///
/// ```
/// use std::rc::Rc;
/// use corio_sched::sync::{Condvar, Mutex};
///
/// corio_sched::run(|| {
///     let pair = Rc::new((Mutex::new(false), Condvar::new()));
///     let p = pair.clone();
///     corio_sched::spawn(move || {
///         *p.0.lock().unwrap() = true;
///         p.1.notify_one();
///     });
///     let (m, cv) = &*pair;
///     let ready = cv.wait_while(m.lock().unwrap(), |ready| !*ready).unwrap();
///     assert!(*ready);
/// });
/// ```
pub struct Condvar {
    /// Waiting coroutines and threads, oldest first.
    waiters: SpinLock<WaitList<()>>,
}

/// Whether a timed condvar wait returned because its timeout passed, like
/// `std::sync::WaitTimeoutResult`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True if the wait ended because the timeout passed (for the `_while`
    /// forms: and the condition still held).
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

impl Condvar {
    /// A condition variable with no waiters.
    pub const fn new() -> Condvar {
        Condvar {
            waiters: SpinLock::new(WaitList::new()),
        }
    }

    /// Releases `guard`'s mutex, waits for a notification, then locks the
    /// mutex again and returns its guard.
    ///
    /// # Errors
    /// Inside a coroutine: `Interrupted` when it is cancelled, `TimedOut`
    /// when its deadline scope passes (while waiting or while locking the
    /// mutex again); the mutex is not held then.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> io::Result<MutexGuard<'a, T>> {
        let mutex = MutexGuard::mutex(&guard);
        self.park(guard, None)?;
        mutex.lock()
    }

    /// Waits until `condition` returns false, re-checking it after every
    /// wakeup; returns the guard with the condition false. Errors as
    /// [`Condvar::wait`].
    pub fn wait_while<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> io::Result<MutexGuard<'a, T>> {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Like [`Condvar::wait`], but gives up after `timeout`: then it locks
    /// the mutex again and returns a result whose `timed_out()` is true.
    ///
    /// # Errors
    /// `Interrupted` when the coroutine is cancelled; `TimedOut` when its
    /// deadline scope (not `timeout`) passes first.
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> io::Result<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        self.wait_until(guard, deadline_after(timeout))
    }

    /// [`Condvar::wait_while`] with a timeout: returns when the condition is
    /// false (`timed_out()` false) or the timeout passed with it still true.
    /// Errors as [`Condvar::wait_timeout`].
    pub fn wait_timeout_while<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> io::Result<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let deadline = deadline_after(timeout);
        loop {
            if !condition(&mut *guard) {
                return Ok((guard, WaitTimeoutResult(false)));
            }
            let (g, r) = self.wait_until(guard, deadline)?;
            guard = g;
            if r.timed_out() {
                let still = condition(&mut *guard);
                return Ok((guard, WaitTimeoutResult(still)));
            }
        }
    }

    fn wait_until<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> io::Result<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        // A `TimedOut` is ours only if our deadline comes first; the scope's
        // is an error (waiting again would fail at once, forever).
        let scope_first = match (crate::current_deadline(), deadline) {
            (Some(scope), Some(own)) => scope < own,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let mutex = MutexGuard::mutex(&guard);
        let timed_out = match self.park(guard, deadline) {
            Ok(()) => false,
            Err(e) if e.kind() == io::ErrorKind::TimedOut && !scope_first => true,
            Err(e) => return Err(e),
        };
        Ok((mutex.lock()?, WaitTimeoutResult(timed_out)))
    }

    /// Queues the caller, releases the mutex, parks.
    fn park<T: ?Sized>(
        &self,
        guard: MutexGuard<'_, T>,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        let list = lock(&self.waiters);
        match wait(self, list, (), false, "Condvar", deadline, move || {
            drop(guard)
        }) {
            Outcome::Chosen(()) => Ok(()),
            Outcome::Aborted((), e) => Err(e),
        }
    }

    /// Wakes the oldest waiter, if any.
    pub fn notify_one(&self) {
        let mut list = lock(&self.waiters);
        let waker = list.choose().and_then(|((), w)| w);
        drop(list);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        let mut wake = Wakeups::default();
        let mut list = lock(&self.waiters);
        while let Some(((), w)) = list.choose() {
            wake.push(w);
        }
        drop(list);
        wake.wake();
    }
}

impl Queue for Condvar {
    type State = WaitList<()>;
    type Data = ();

    fn state(&self) -> &SpinLock<WaitList<()>> {
        &self.waiters
    }

    fn list(state: &mut WaitList<()>) -> &mut WaitList<()> {
        state
    }

    fn abandon(&self, list: &mut WaitList<()>, _: &mut (), chosen: bool, wake: &mut Wakeups) {
        if chosen {
            // Hand the notification we were given to the next waiter.
            if let Some(((), w)) = list.choose() {
                wake.push(w);
            }
        }
    }
}

impl Default for Condvar {
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl std::fmt::Debug for Condvar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Condvar")
            .field("waiters", &lock(&self.waiters).len())
            .finish()
    }
}
