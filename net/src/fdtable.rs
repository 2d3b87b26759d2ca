//! What corio knows about each fd number: whether the process created it as
//! a socket or pipe, and the O_NONBLOCK and timeout state the hooks hide or
//! honour.
//!
//! The table is indexed by fd number and read on every hooked call, so a
//! lookup is two atomic loads and no syscall: a fixed array of lazily
//! allocated chunks of `AtomicU32` flag words. Chunks are never freed, so a
//! reference to one stays valid for the life of the process. Fds at or
//! above 4 Mi (`CHUNK * CHUNKS`) are never tracked: calls on them take the plain libc
//! path.
//!
//! An entry is reset by the `close` hook *before* the real close, so a
//! number the kernel hands out again always starts from a clean entry.
//! O_NONBLOCK really belongs to the open file description, which `dup`ed fds
//! share; the dup hooks copy the entry, and later changes through one fd are
//! not mirrored to its duplicates (the rare case of mixing cooperative and
//! non-blocking use on duplicates of one socket).

use std::os::fd::RawFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The process created this fd as a socket or a pipe end (hooked `socket`,
/// `socketpair`, `accept*`, `pipe*`, `dup*` of one, or corio's own types).
pub(crate) const TRACKED: u32 = 1 << 0;
/// The fd is a socket (else a pipe end): socket timeouts apply.
pub(crate) const SOCKET: u32 = 1 << 1;
/// corio set O_NONBLOCK on the open file description; the user did not.
pub(crate) const SYS_NONBLOCK: u32 = 1 << 2;
/// The user asked for non-blocking I/O (SOCK_NONBLOCK, O_NONBLOCK, FIONBIO).
pub(crate) const USER_NONBLOCK: u32 = 1 << 3;
/// A receive timeout (SO_RCVTIMEO) is set; its value lives in the kernel.
pub(crate) const RCVTIMEO: u32 = 1 << 4;
/// A send timeout (SO_SNDTIMEO) is set; its value lives in the kernel.
pub(crate) const SNDTIMEO: u32 = 1 << 5;
/// A byte stream (stream socket or pipe), learned when corio first makes
/// the fd non-blocking: a short read or write means the kernel buffer was
/// drained or filled, so the scheduler's readiness bit can be cleared.
pub(crate) const STREAM: u32 = 1 << 6;

/// Fds per chunk: 4096 × 4 bytes = one 16 KiB allocation.
const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;
/// 1024 chunks cover 4 Mi fds, four times Linux's default `fs.nr_open`.
const CHUNKS: usize = 1024;

/// The chunks; a chunk is allocated the first time one of its fds is
/// tracked and lives until the process exits.
static TABLE: [OnceLock<Box<[AtomicU32]>>; CHUNKS] = [const { OnceLock::new() }; CHUNKS];

/// The entry of `fd` if its chunk exists.
#[inline]
fn slot(fd: RawFd) -> Option<&'static AtomicU32> {
    let idx = usize::try_from(fd).ok()?;
    let chunk = TABLE.get(idx >> CHUNK_BITS)?.get()?;
    Some(&chunk[idx & (CHUNK - 1)])
}

/// The entry of `fd`, allocating its chunk if needed.
fn slot_or_alloc(fd: RawFd) -> Option<&'static AtomicU32> {
    let idx = usize::try_from(fd).ok()?;
    let chunk = TABLE
        .get(idx >> CHUNK_BITS)?
        .get_or_init(|| (0..CHUNK).map(|_| AtomicU32::new(0)).collect());
    Some(&chunk[idx & (CHUNK - 1)])
}

/// The flags of `fd`; 0 for fds corio does not track.
#[inline]
pub(crate) fn get(fd: RawFd) -> u32 {
    match slot(fd) {
        Some(s) => s.load(Ordering::Acquire),
        None => 0,
    }
}

/// Starts tracking a fresh fd with exactly `flags` (plus [`TRACKED`]).
pub(crate) fn track(fd: RawFd, flags: u32) {
    if let Some(s) = slot_or_alloc(fd) {
        s.store(flags | TRACKED, Ordering::Release);
    }
}

/// Sets `bits` on a tracked fd.
pub(crate) fn set_bits(fd: RawFd, bits: u32) {
    if let Some(s) = slot(fd) {
        s.fetch_or(bits, Ordering::AcqRel);
    }
}

/// Clears `bits` on a tracked fd.
pub(crate) fn clear_bits(fd: RawFd, bits: u32) {
    if let Some(s) = slot(fd) {
        s.fetch_and(!bits, Ordering::AcqRel);
    }
}

/// Forgets `fd` (before its number can be reused).
#[inline]
pub(crate) fn reset(fd: RawFd) {
    if let Some(s) = slot(fd) {
        s.store(0, Ordering::Release);
    }
}

/// Gives `new` the entry of `old` (after a dup of `old` onto `new`).
pub(crate) fn copy(old: RawFd, new: RawFd) {
    let flags = get(old);
    if flags & TRACKED != 0 {
        track(new, flags);
    } else {
        reset(new);
    }
}
