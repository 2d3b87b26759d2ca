//! Close epochs: a process-wide counter per fd number, bumped by
//! [`crate::deregister_fd`] on whichever thread closes the fd.
//!
//! Each scheduler's reactor registers an fd with its own epoll and keeps
//! the registration until that fd is deregistered *on its thread*. When
//! another thread closes the fd (a socket handed to a plain thread or to
//! another scheduler), the kernel drops the epoll registration silently and
//! may hand the number out again; without a way to notice, the first
//! reactor would keep believing the new fd is registered and its waiters
//! would never wake. The reactor records the epoch when it registers an
//! fd; a different epoch at the next wait means the registration is stale.
//!
//! Layout as in corio-net's fd table: a fixed array of lazily allocated
//! chunks of `AtomicU32`, never freed. A chunk is allocated when a reactor
//! first registers one of its fds; a bump of an fd whose chunk does not
//! exist is a no-op (no reactor can hold a registration to invalidate).

use std::os::fd::RawFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// Fds per chunk: 4096 × 4 bytes = one 16 KiB allocation.
const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;
/// 1024 chunks cover 4 Mi fds, four times Linux's default `fs.nr_open`;
/// larger fds share epoch 0 and are never reported stale.
const CHUNKS: usize = 1024;

/// The chunks; one is allocated the first time one of its fds is
/// registered and lives until the process exits.
static TABLE: [OnceLock<Box<[AtomicU32]>>; CHUNKS] = [const { OnceLock::new() }; CHUNKS];

fn slot(fd: RawFd, alloc: bool) -> Option<&'static AtomicU32> {
    let idx = usize::try_from(fd).ok()?;
    let cell = TABLE.get(idx >> CHUNK_BITS)?;
    let chunk = if alloc {
        cell.get_or_init(|| (0..CHUNK).map(|_| AtomicU32::new(0)).collect())
    } else {
        cell.get()?
    };
    Some(&chunk[idx & (CHUNK - 1)])
}

/// The current epoch of `fd`, allocating its chunk: call when registering.
pub(crate) fn observe(fd: RawFd) -> u32 {
    slot(fd, true).map_or(0, |s| s.load(Ordering::Acquire))
}

/// The current epoch of `fd` (0 when its chunk does not exist).
#[inline]
pub(crate) fn current(fd: RawFd) -> u32 {
    slot(fd, false).map_or(0, |s| s.load(Ordering::Acquire))
}

/// Marks every registration of `fd` made so far, on any thread, as stale.
pub(crate) fn bump(fd: RawFd) {
    if let Some(s) = slot(fd, false) {
        s.fetch_add(1, Ordering::AcqRel);
    }
}
