//! The per-thread scheduler of corio: run queue, epoll reactor, timers,
//! park/unpark, spawn/join, cancellation and deadlines.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! let start = Instant::now();
//! corio_sched::run(|| {
//!     // 100 coroutines sleep 100 ms each, concurrently, on one thread.
//!     let handles: Vec<_> = (0..100)
//!         .map(|i| corio_sched::spawn(move || {
//!             corio_sched::sleep(Duration::from_millis(100));
//!             i
//!         }))
//!         .collect();
//!     let sum: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
//!     assert_eq!(sum, 4950);
//! });
//! assert!(start.elapsed() < Duration::from_secs(2));
//! ```
//!
//! This crate owns scheduling: which coroutine runs, when it parks, and what
//! wakes it. It knows fds only as numbers to wait on ([`wait_fd`]) and to
//! be told about closes of ([`start_close`]); sockets and the libc hooks
//! live in `corio-net`. It must not block the thread except in
//! `epoll_wait`.
//!
//! # Scheduling
//! One scheduler per thread ([`run`]); coroutines never migrate, so
//! [`spawn`] takes closures that are not `Send`. Ready coroutines run FIFO;
//! after a bounded number of switches the loop polls I/O and timers, so a
//! coroutine that never blocks cannot starve I/O.
//!
//! # Timers
//! [`sleep`], [`sleep_until`] and wait deadlines share an indexed min-heap;
//! the nearest deadline is the `epoll_wait` timeout, rounded up so nothing
//! fires early.
//!
//! # Cancellation and deadlines
//! [`JoinHandle::cancel`] makes the coroutine's blocking call return
//! `Interrupted`; [`with_deadline`] makes every blocking call in a scope
//! return `TimedOut` at the deadline.
//!
//! # Threads
//! [`Runtime`] runs one scheduler per thread; [`Handle::spawn`] starts
//! `Send` work on another scheduler thread; [`unblock`] runs blocking
//! closures on a thread pool while the coroutine parks.
//!
//! # Diagnostics
//! [`stats`] and [`dump`]; when every coroutine is parked and nothing can
//! wake any, [`run`] panics with a "deadlock" message and the dump.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod blocking;
mod closing;
mod diag;
mod epoch;
mod io;
pub mod park;
mod reactor;
mod remote;
mod runtime;
mod scheduler;
mod spawn;
pub mod sync;
mod sys;
mod task;
mod time;
mod timer;

pub use blocking::unblock;
pub use closing::{ClosingFd, start_close};
pub use diag::{Stats, dump, stats};
pub use io::{Interest, clear_fd_ready, deregister_fd, fd_ready, wait_fd, wait_fds};
pub use runtime::{Handle, RemoteJoinHandle, Runtime, RuntimeBuilder};
pub use spawn::{Builder, JoinHandle, run, run_with, spawn};
pub use task::WaitKind;
pub use time::{
    CoroutineInfo, current, current_deadline, sleep, sleep_until, try_sleep, with_deadline,
    with_timeout, yield_now,
};
