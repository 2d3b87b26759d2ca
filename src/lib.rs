//! corio: stackful coroutines for Rust on Linux.
pub use corio_coro as coro;
