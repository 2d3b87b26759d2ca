//! Close epochs and owners: per fd number, a process-wide close counter
//! and which scheduler watches the open file behind the number.
//!
//! Each scheduler's reactor registers an fd with its own epoll and keeps
//! the registration until that fd is deregistered *on its thread*. When
//! another thread closes the fd (a socket handed to a plain thread or to
//! another scheduler), the kernel drops the epoll registration silently and
//! may hand the number out again. Two things follow, one per word:
//!
//! - **epoch**: without a way to notice, the first reactor would keep
//!   believing the new fd is registered and its waiters would never wake.
//!   The reactor records the epoch when it registers an fd; a different
//!   epoch at the next wait means the registration is stale.
//! - **owner**: a coroutine already parked on the old registration gets no
//!   event either. The registering scheduler records its id
//!   ([`crate::closing`]) here; the closing thread reads it after the real
//!   close and sends that scheduler a message that wakes the waiters.
//!
//! Layout as in corio-net's fd table: a fixed array of lazily allocated
//! chunks of slots, never freed. A chunk is allocated when a reactor first
//! registers one of its fds; a close of an fd whose chunk does not exist
//! finds nothing to do (no reactor can hold a registration to invalidate).
//!
//! Ordering of the owner word, which is what makes a close racing with a
//! registration safe: the registering thread claims the owner word before
//! `epoll_ctl(ADD)`, and the closing thread clears it before the real
//! close and reads it again after. The kernel's fd lookup in `epoll_ctl`
//! and the release in `close` are fully ordered atomic operations on the
//! file's reference count, so a registration that reached the old file
//! (the only kind the close drops) claimed the word before the closer's
//! second read: the closer sees it in the first read or in the second.

use std::os::fd::RawFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering, fence};

/// Fds per chunk: 4096 × 8 bytes = one 32 KiB allocation.
const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;
/// 1024 chunks cover 4 Mi fds, four times Linux's default `fs.nr_open`;
/// larger fds share epoch 0 and are never reported stale.
const CHUNKS: usize = 1024;

/// Owner word: no scheduler registered the file behind the number.
pub(crate) const NO_OWNER: u32 = 0;
/// Owner word: several schedulers did; a close tells every scheduler.
pub(crate) const SHARED: u32 = u32::MAX;

/// The two words of one fd number, side by side in one cache line.
#[derive(Default)]
struct Slot {
    /// Bumped by every close of the number, before the real close.
    epoch: AtomicU32,
    /// [`NO_OWNER`], the id of the one scheduler that registered the file
    /// now behind the number, or [`SHARED`]. Reset to [`NO_OWNER`] by each
    /// close (every registration of the old file dies with it).
    owner: AtomicU32,
}

/// The chunks; one is allocated the first time one of its fds is
/// registered and lives until the process exits.
static TABLE: [OnceLock<Box<[Slot]>>; CHUNKS] = [const { OnceLock::new() }; CHUNKS];

fn slot(fd: RawFd, alloc: bool) -> Option<&'static Slot> {
    if !alloc {
        return existing_slot(fd);
    }
    let idx = usize::try_from(fd).ok()?;
    let cell = TABLE.get(idx >> CHUNK_BITS)?;
    let chunk = cell.get_or_init(|| (0..CHUNK).map(|_| Slot::default()).collect());
    Some(&chunk[idx & (CHUNK - 1)])
}

/// `fd`'s slot if its chunk exists. Inlined: every wait reads its fd's
/// epoch through it.
#[inline]
fn existing_slot(fd: RawFd) -> Option<&'static Slot> {
    let idx = usize::try_from(fd).ok()?;
    let chunk = TABLE.get(idx >> CHUNK_BITS)?.get()?;
    chunk.get(idx & (CHUNK - 1))
}

/// Call when scheduler `me` (a [`crate::closing`] id) is about to add `fd`
/// to its epoll: claims the owner word (allocating the chunk), then returns
/// the current epoch to record with the registration.
pub(crate) fn observe(fd: RawFd, me: u32) -> u32 {
    let Some(s) = slot(fd, true) else {
        return 0;
    };
    let mut cur = s.owner.load(Ordering::SeqCst);
    while cur != me && cur != SHARED {
        let new = if cur == NO_OWNER { me } else { SHARED };
        match s
            .owner
            .compare_exchange_weak(cur, new, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => break,
            Err(seen) => cur = seen,
        }
    }
    s.epoch.load(Ordering::Acquire)
}

/// The current epoch of `fd` (0 when its chunk does not exist).
#[inline]
pub(crate) fn current(fd: RawFd) -> u32 {
    existing_slot(fd).map_or(0, |s| s.epoch.load(Ordering::Acquire))
}

/// Call before `fd` is closed: marks every registration of `fd` made so
/// far, on any thread, as stale, and returns the owner word it clears.
pub(crate) fn begin_close(fd: RawFd) -> u32 {
    let Some(s) = slot(fd, false) else {
        return NO_OWNER;
    };
    s.epoch.fetch_add(1, Ordering::AcqRel);
    // Most closes find no owner: skip the write. A claim made after this
    // load is seen by `owner_after_close`.
    match s.owner.load(Ordering::SeqCst) {
        NO_OWNER => NO_OWNER,
        _ => s.owner.swap(NO_OWNER, Ordering::SeqCst),
    }
}

/// Call after `fd` was closed: the owner word now, which names every
/// scheduler that registered the old file after [`begin_close`] (and
/// perhaps one that registered a new file with the number since).
pub(crate) fn owner_after_close(fd: RawFd) -> u32 {
    let Some(s) = slot(fd, false) else {
        return NO_OWNER;
    };
    fence(Ordering::SeqCst);
    s.owner.load(Ordering::SeqCst)
}
