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
//! number the kernel hands out again always starts from a clean entry. In
//! between, the entry holds only [`CLOSING`], which reads as untracked
//! except to a blocking operation: one on the number that starts while
//! another thread closes it waits the few microseconds until the close is
//! done ([`settled`], called by `readiness::Op`), then sees EBADF or the
//! number's next owner, instead of taking the forgotten fd for one corio
//! never knew (which would block a blocking socket in the kernel, and the
//! scheduler thread with it, or return a surprise EAGAIN).
//! O_NONBLOCK really belongs to the open file description, which `dup`ed fds
//! share; the dup hooks copy the entry, and later changes through one fd are
//! not mirrored to its duplicates (the rare case of mixing cooperative and
//! non-blocking use on duplicates of one socket).

use std::os::fd::RawFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

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
/// A thread is closing the fd right now (between [`begin_close`] and
/// [`end_close`]). Set alone; bits that a racing call sets on the old fd
/// meanwhile (`set_bits`) go away with it at [`end_close`].
pub(crate) const CLOSING: u32 = 1 << 7;

/// How long [`settled`] waits for a close in progress before it gives up and
/// calls the fd untracked (a close that blocks, e.g. with SO_LINGER, or a
/// signal handler of the closing thread itself).
const CLOSING_PATIENCE: Duration = Duration::from_millis(500);

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

/// The flags of `fd`; 0 for fds corio does not track, [`CLOSING`] (which
/// has no [`TRACKED`]) while another thread closes it.
#[inline]
pub(crate) fn get(fd: RawFd) -> u32 {
    match slot(fd) {
        Some(s) => s.load(Ordering::Acquire),
        None => 0,
    }
}

/// Whether `fd` is tracked or being closed: the fast check of a hook. Either
/// way the hook builds an `Op`, which waits for the close ([`settled`]) and
/// then goes by what the number names.
#[inline]
pub(crate) fn tracked_or_closing(fd: RawFd) -> bool {
    match slot(fd) {
        Some(s) => s.load(Ordering::Acquire) & (TRACKED | CLOSING) != 0,
        None => false,
    }
}

/// The flags of `fd` once no close of it is in progress (0 if one takes
/// longer than [`CLOSING_PATIENCE`]).
#[cold]
#[inline(never)]
pub(crate) fn settled(fd: RawFd) -> u32 {
    let Some(s) = slot(fd) else {
        return 0;
    };
    let start = Instant::now();
    let mut spins = 0u32;
    loop {
        match s.load(Ordering::Acquire) {
            flags if flags & CLOSING != 0 => {}
            flags => return flags,
        }
        if spins < 64 {
            spins += 1;
            std::hint::spin_loop();
        } else if start.elapsed() < CLOSING_PATIENCE {
            std::thread::yield_now();
        } else {
            return 0;
        }
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

/// Forgets `fd` before the real close, marking it [`CLOSING`] until
/// [`end_close`].
#[inline]
pub(crate) fn begin_close(fd: RawFd) {
    if let Some(s) = slot(fd) {
        s.store(CLOSING, Ordering::Release);
    }
}

/// After the real close: the entry becomes untracked, unless a new fd
/// with the number was tracked meanwhile (on another thread, or by the
/// dup that closed it), whose entry stays.
#[inline]
pub(crate) fn end_close(fd: RawFd) {
    if let Some(s) = slot(fd) {
        let _ = s.fetch_update(Ordering::AcqRel, Ordering::Acquire, |flags| {
            (flags & CLOSING != 0).then_some(0)
        });
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
