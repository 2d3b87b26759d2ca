//! Asymmetric memory fences (Linux `membarrier(2)`), for [`Mutex`]'s
//! unlock: its hot side (every unlock) pays only a compiler fence, its cold
//! side (a locker about to park behind a holder on another thread) pays a
//! `membarrier` syscall that makes every running thread of the process
//! execute a full fence. This is the pattern `membarrier(2)` documents and
//! Folly's `asymmetric_thread_fence_light/heavy` implements.
//!
//! Interface: [`light_is_enough`] (hot side: may it skip the hardware
//! fence?) and [`heavy`] (cold side). Where the kernel lacks private
//! expedited membarrier, `light_is_enough` stays false and the hot side
//! uses a sequentially consistent read-modify-write instead.
//!
//! [`Mutex`]: super::Mutex

use std::sync::atomic::{AtomicU8, Ordering};

const MEMBARRIER_CMD_QUERY: libc::c_int = 0;
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

const UNKNOWN: u8 = 0;
const AVAILABLE: u8 = 1;
const UNAVAILABLE: u8 = 2;

/// Whether the process is registered for private expedited membarrier.
/// Moves once from `UNKNOWN` to `AVAILABLE` or `UNAVAILABLE`, on the first
/// use of either side (one registration syscall per process).
static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Whether the hot side may use a compiler fence in place of a full fence.
#[inline]
pub(crate) fn light_is_enough() -> bool {
    match STATE.load(Ordering::Relaxed) {
        AVAILABLE => true,
        UNAVAILABLE => false,
        _ => init() == AVAILABLE,
    }
}

/// The cold side: after it returns, every thread of the process that was
/// running has executed a full memory fence (when membarrier is
/// unavailable it does nothing, and the hot side is fully fenced instead).
#[cold]
pub(crate) fn heavy() {
    let state = match STATE.load(Ordering::Acquire) {
        UNKNOWN => init(),
        known => known,
    };
    if state == AVAILABLE && membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 {
        // Registered, so this cannot fail; if it ever did, the hot side
        // would be unprotected: fail loudly rather than lose a wakeup.
        panic!(
            "corio: membarrier(PRIVATE_EXPEDITED) failed: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Registers once (racing callers all register; that is harmless) and
/// publishes the result.
#[cold]
fn init() -> u8 {
    let state = if register() { AVAILABLE } else { UNAVAILABLE };
    STATE.store(state, Ordering::Release);
    state
}

/// Registers the process for private expedited membarrier if the kernel
/// supports it (Linux 4.14+, not blocked by seccomp).
fn register() -> bool {
    let supported = membarrier(MEMBARRIER_CMD_QUERY);
    supported > 0
        && supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED != 0
        && membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0
}

fn membarrier(cmd: libc::c_int) -> libc::c_int {
    // SAFETY: membarrier takes two integers and touches no memory of ours.
    unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0 as libc::c_uint) as libc::c_int }
}
