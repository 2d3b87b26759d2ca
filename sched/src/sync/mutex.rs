//! [`Mutex`]: mutual exclusion that parks coroutines, not threads.
//!
//! `state` is 0 while unlocked, else the id of the thread whose coroutine
//! (or plain code) holds the lock. Uncontended, `lock` is one
//! compare-and-swap and `unlock` a plain release store followed by a load
//! of `waiters`: the store-load ordering that must keep an unlock from
//! missing a waiter comes from an asymmetric fence ([`super::fence`]): the
//! locker that is about to park behind a holder on another thread issues
//! the heavy side (a `membarrier` syscall); one that parks behind a holder
//! on its own thread needs none (the holder is a suspended coroutine of
//! that thread, so its unlock comes later in program order). Without
//! membarrier the unlock uses a sequentially consistent swap instead.
//!
//! Protocol: a locker that must wait counts itself in `waiters` (kept until
//! it leaves `lock`), fences, then under the queue lock re-checks `state`
//! and queues. An unlock that sees `waiters != 0` goes the slow way: under
//! the queue lock it wakes the oldest waiter, handing it the lock directly
//! if that waiter is starving.
//!
//! Fairness: a woken waiter competes for the lock again (so short critical
//! sections on a busy thread are not slowed by a switch per unlock); if it
//! loses it goes back to the *front* of the queue marked starving, and the
//! next unlock hands the lock to it: nobody is bypassed more than once
//! (save for a locker that slips in during the few instructions between an
//! unlock's store and its check of `waiters`).

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering, compiler_fence};
use std::time::{Duration, Instant};

use super::fence;
use super::spin::SpinLock;
use super::wait::{Outcome, Queue, WaitList, Wakeups, deadline_after, lock, wait};

thread_local! {
    /// This thread's id for `Mutex::state` (0: not assigned yet).
    static THREAD_ID: Cell<usize> = const { Cell::new(0) };
}

/// A non-zero id of the calling thread, unique among live threads.
#[inline]
fn thread_id() -> usize {
    THREAD_ID.with(|id| match id.get() {
        0 => {
            static NEXT: AtomicUsize = AtomicUsize::new(1);
            let new = NEXT.fetch_add(1, Ordering::Relaxed);
            id.set(new);
            new
        }
        known => known,
    })
}

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
    /// 0 when unlocked, else the id of the holder's thread.
    state: AtomicUsize,
    /// Lockers inside the slow path of `lock` (queued or about to be);
    /// while non-zero, unlock takes its slow path.
    waiters: AtomicUsize,
    /// Parked lockers, oldest first.
    queue: SpinLock<WaitList<Waiter>>,
    /// The protected value; accessed only by the holder of `LOCKED`.
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands `&mut T` to one holder at a time (`state`),
// which may live on any thread, so `T: Send` suffices for both.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// A parked locker.
#[derive(Default)]
pub(crate) struct Waiter {
    /// The waiter's thread id, stored in `state` on a hand-off.
    thread: usize,
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
            state: AtomicUsize::new(0),
            waiters: AtomicUsize::new(0),
            queue: SpinLock::new(WaitList::new()),
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
        let me = thread_id();
        if self
            .state
            .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow(me, None)?;
        }
        Ok(MutexGuard::new(self))
    }

    /// Locks the mutex if it is free right now.
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.state
            .compare_exchange(0, thread_id(), Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| MutexGuard::new(self))
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
                self.lock_slow(thread_id(), deadline)?;
                Ok(MutexGuard::new(self))
            }
        }
    }

    /// Whether the mutex is held right now (a hint: it may change at once).
    pub fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) != 0
    }

    /// A mutable reference to the value; no locking is needed, the borrow
    /// proves exclusive access.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    #[cold]
    fn lock_slow(&self, me: usize, deadline: Option<Instant>) -> io::Result<()> {
        // Counted until we leave, also when unwinding.
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let _counted = Counted(&self.waiters);
        let mut fenced = false;
        let mut starving = false;
        loop {
            let holder = self.state.load(Ordering::Relaxed);
            if holder == 0 {
                if self
                    .state
                    .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return Ok(());
                }
                continue;
            }
            if holder != me && !fenced {
                // The holder runs on another thread and may be unlocking
                // right now with the light fence: after this, either its
                // release is visible to us or it sees `waiters`.
                fence::heavy();
                fenced = true;
            }
            let queue = lock(&self.queue);
            if self.state.load(Ordering::SeqCst) == 0 {
                continue;
            }
            let waiter = Waiter {
                thread: me,
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
        if self.waiters.load(Ordering::Relaxed) != 0 {
            // Someone waits: hand over under the queue lock.
            return self.unlock_slow();
        }
        if fence::light_is_enough() {
            self.state.store(0, Ordering::Release);
            // Pairs with `fence::heavy` in `lock_slow`.
            compiler_fence(Ordering::SeqCst);
        } else {
            self.state.swap(0, Ordering::SeqCst);
        }
        if self.waiters.load(Ordering::SeqCst) != 0 {
            self.wake_after_release();
        }
    }

    /// Unlock with waiters, still holding the lock.
    #[cold]
    fn unlock_slow(&self) {
        let mut wake = Wakeups::default();
        let mut queue = lock(&self.queue);
        self.release_queued(&mut queue, &mut wake);
        drop(queue);
        wake.wake();
    }

    /// A waiter appeared just as an unlock released the lock: wake the
    /// oldest, handing it the lock if it is starving and the lock is still
    /// free.
    #[cold]
    fn wake_after_release(&self) {
        let mut wake = Wakeups::default();
        let mut queue = lock(&self.queue);
        if let Some(front) = queue.front() {
            let handoff = front.starving
                && self
                    .state
                    .compare_exchange(0, front.thread, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok();
            let (waiter, waker) = queue.choose().expect("a front waiter");
            waiter.handoff = handoff;
            wake.push(waker);
        }
        drop(queue);
        wake.wake();
    }

    /// Releases the lock held by the caller, with the queue locked: wakes
    /// the oldest waiter, handing it the lock if it is starving.
    fn release_queued(&self, queue: &mut WaitList<Waiter>, wake: &mut Wakeups) {
        let Some((waiter, waker)) = queue.choose() else {
            // Counted waiters not queued yet re-check `state` under the
            // queue lock, after this store.
            self.state.store(0, Ordering::Release);
            return;
        };
        waiter.handoff = waiter.starving;
        let next = if waiter.handoff { waiter.thread } else { 0 };
        self.state.store(next, Ordering::Release);
        wake.push(waker);
    }
}

/// Decrements a waiter count when dropped.
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<T: ?Sized> Queue for Mutex<T> {
    type State = WaitList<Waiter>;
    type Data = Waiter;

    fn state(&self) -> &SpinLock<WaitList<Waiter>> {
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
        } else if chosen && self.state.load(Ordering::SeqCst) == 0 {
            // We were woken to compete for a free lock and leave: wake the
            // next waiter instead, or nobody might.
            if let Some((next, waker)) = queue.choose() {
                next.handoff = false;
                wake.push(waker);
            }
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
