//! corio: stackful coroutines for Rust on Linux. Code written in the plain
//! blocking style runs inside coroutines, and every call that would block
//! parks the coroutine instead, so one thread serves many thousands of
//! connections with code that reads like thread-per-connection code.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! let start = Instant::now();
//! let total = corio::run(|| {
//!     let workers: Vec<_> = (0..1000u64)
//!         .map(|i| {
//!             corio::spawn(move || {
//!                 corio::sleep(Duration::from_millis(50));
//!                 i
//!             })
//!         })
//!         .collect();
//!     workers.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
//! });
//! assert_eq!(total, 499_500);
//! // 1000 sleeps of 50 ms ran concurrently on one thread.
//! assert!(start.elapsed() < Duration::from_secs(2));
//! ```
//!
//! # Crates
//! - [`coro`]: coroutines and their pooled, guarded stacks.
//! - [`sched`]: the per-thread epoll scheduler: spawn, join, timers,
//!   `wait_fd`, cancellation, deadlines, diagnostics.
//! - [`net`]: coroutine sockets and the libc hooks (switched per coroutine
//!   or thread with [`hooks::set_enabled`]).
//!
//! The everyday API is re-exported here: [`run`], [`spawn`], [`Builder`],
//! [`JoinHandle`], [`sleep`], [`yield_now`], [`with_deadline`], [`wait_fd`].

#![deny(unsafe_op_in_unsafe_fn)]

pub use corio_coro as coro;
pub use corio_net as net;
pub use corio_sched as sched;
pub use corio_sched::sync;

pub use corio_coro::coroutine_local;
pub use corio_net::hooks;
pub use corio_sched::{
    Builder, ClosingFd, CoroutineInfo, Handle, Interest, JoinHandle, RemoteJoinHandle, Runtime,
    RuntimeBuilder, Stats, current, current_deadline, deregister_fd, dump, run, sleep, sleep_until,
    spawn, start_close, stats, try_sleep, unblock, wait_fd, with_deadline, with_timeout, yield_now,
};
