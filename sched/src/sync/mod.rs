//! Synchronisation primitives that park coroutines, not threads: channels
//! ([`mpsc`]), [`Mutex`], [`RwLock`], [`Condvar`], [`Semaphore`] and
//! [`WaitGroup`].
//!
//! ```
//! use std::thread;
//! use corio_sched::sync::mpsc;
//!
//! // A plain thread and a coroutine talk over a channel, both ways.
//! let (to_coro, from_thread) = mpsc::channel();
//! let (to_thread, from_coro) = mpsc::channel();
//! let t = thread::spawn(move || {
//!     to_coro.send(20).unwrap();
//!     from_coro.recv().unwrap()
//! });
//! corio_sched::run(move || {
//!     let n: i32 = from_thread.recv().unwrap();
//!     to_thread.send(n + 22).unwrap();
//! });
//! assert_eq!(t.join().unwrap(), 42);
//! ```
//!
//! # Where they work
//! Every primitive is `Send + Sync` (for `Send` contents) and works in three
//! situations alike:
//! - between coroutines of one thread: a waiter parks, the thread runs
//!   other coroutines; no syscall is made (each primitive's state sits
//!   behind a tiny internal spin lock, never contended there; `Mutex` is
//!   one compare-and-swap to lock and a plain store to unlock);
//! - between coroutines of different scheduler threads: the waker wakes the
//!   waiter's scheduler through its eventfd;
//! - from plain OS threads outside any scheduler: they block the thread.
//!
//! # Cancellation and deadlines
//! A coroutine parked in any primitive is woken when it is cancelled
//! (`JoinHandle::cancel`) or its deadline scope (`with_deadline`) passes,
//! and the call reports it: `ErrorKind::Interrupted` / `TimedOut` for the
//! calls that return `io::Result` (`Mutex::lock`, `RwLock::read`/`write`,
//! `Condvar::wait*`, `Semaphore::acquire`, `WaitGroup::wait`), and the
//! channel error types' `Interrupted` / `Timeout` variants (see [`mpsc`]).
//! The waiter leaves the queue, and anything it had been granted in the
//! same instant (a lock hand-off, a permit, a notification, a message) is
//! passed on, so no wakeup is ever lost. When a grant and the caller's own
//! timeout race, the grant wins (the call succeeds); when a grant and a
//! cancellation race, the cancellation wins and the grant is passed on.
//! Plain threads have no cancellation or deadline scope: their untimed
//! waits never fail.
//!
//! That is why the locking calls return `io::Result` where std returns a
//! poison `LockResult`: std-style `m.lock().unwrap()` reads the same.
//!
//! # Poisoning
//! None, as in parking_lot: a panic while holding a guard releases the lock
//! and leaves the data as the panicking code left it.
//!
//! # Fairness
//! Waiters queue in FIFO order. `RwLock`, `Semaphore` and bounded channel
//! senders hand the resource straight to the oldest waiter, so nobody can
//! barge ahead of it. `Mutex` lets a woken waiter compete once (cheaper
//! when critical sections are short) and hands the lock to it directly if
//! it loses, so no waiter is bypassed more than once.

pub mod mpsc;

mod condvar;
mod fence;
mod mutex;
mod rwlock;
mod semaphore;
mod spin;
mod wait;
mod wait_group;

pub use condvar::{Condvar, WaitTimeoutResult};
pub use mutex::{Mutex, MutexGuard};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{Semaphore, SemaphorePermit};
pub use wait_group::WaitGroup;
