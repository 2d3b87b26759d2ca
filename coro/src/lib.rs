//! Stackful coroutines on pooled, guarded stacks: the core of corio.
//!
//! ```
//! use corio_coro::{Coroutine, CoroutineResult};
//!
//! // A generator: suspend from any depth, pass values both ways.
//! let mut fib = Coroutine::new(|y, ()| {
//!     let (mut a, mut b) = (0u64, 1u64);
//!     loop {
//!         y.suspend(a);
//!         (a, b) = (b, a + b);
//!     }
//! })
//! .unwrap();
//! let first: Vec<u64> = (0..8)
//!     .map(|_| match fib.resume(()) {
//!         CoroutineResult::Yield(v) => v,
//!         CoroutineResult::Return(_) => unreachable!(),
//!     })
//!     .collect();
//! assert_eq!(first, [0, 1, 1, 2, 3, 5, 8, 13]);
//! ```
//!
//! This crate owns coroutines and their stacks, and nothing else: it knows no
//! scheduler, no I/O and no clock. `corio-sched` builds the scheduler on it.
//!
//! # Coroutines
//! [`Coroutine`] runs a closure on its own stack. [`Yielder::suspend`] returns
//! control to whoever called [`Coroutine::resume`], from any depth of the
//! coroutine's call stack. A coroutine is `!Send`: it stays on its thread.
//!
//! # Stacks
//! Stacks come from a per-thread pool ([`stack`]): a finished coroutine's
//! stack is reused by the next one of the same size with no system call.
//! Default size 128 KiB, a guard page below every stack.
//!
//! # Identity and coroutine-local storage
//! Every coroutine has a process-unique id and an optional name, readable
//! from inside with [`current_id`] / [`current_name`]. [`coroutine_local!`]
//! declares values that are per coroutine and dropped when it ends.
//!
//! # Panics, drops and overflow
//! A panic inside a coroutine is caught at its root and returned as
//! `Err(payload)` by `resume`. Dropping a suspended coroutine unwinds its
//! stack, running destructors. Overflowing the stack hits the guard page: the
//! process prints `coroutine '<name>' has overflowed its stack (<n> KiB)` and
//! aborts, like Rust does for threads.

#![deny(unsafe_op_in_unsafe_fn)]

mod coroutine;
mod local;
pub mod stack;
mod sys;

pub use coroutine::{
    Builder, Coroutine, CoroutineResult, RESUME_BYTES, Yielder, current_id, current_name,
    drop_locals, pass_forced_unwind,
};
pub use local::LocalKey;
