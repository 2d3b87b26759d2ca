//! [`SpinLock`]: the short internal lock around each primitive's state.
//!
//! Every critical section under it is a handful of instructions (queue and
//! counter updates; no user code, no drop of user values, no park), so a
//! spin lock beats `std::sync::Mutex` here: locking is one atomic
//! read-modify-write and unlocking a plain release store (std's unlock is a
//! second read-modify-write, because it must look for sleepers). Coroutines
//! of one thread never find it taken: none of them parks while holding it.
//! Between threads, a waiter spins briefly and then yields its thread, so a
//! holder that was preempted gets the CPU back.

use std::cell::UnsafeCell;
use std::hint::spin_loop;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

/// Busy-wait iterations before a waiter starts yielding its thread.
const SPINS: u32 = 64;

/// A test-and-test-and-set lock for tiny critical sections.
pub(crate) struct SpinLock<T> {
    /// True while a [`SpinGuard`] exists.
    locked: AtomicBool,
    /// Accessed only through the guard.
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands `&mut T` to one guard at a time, on any thread.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub(crate) const fn new(value: T) -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock, spinning (then yielding) while another thread has
    /// it.
    #[inline]
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        if self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        SpinGuard { lock: self }
    }

    #[cold]
    fn lock_contended(&self) {
        let mut spins = 0;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                if spins < SPINS {
                    spins += 1;
                    spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }
}

/// Access to a [`SpinLock`]'s value; unlocks when dropped.
pub(crate) struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while `locked` is held by it.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only access.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}
