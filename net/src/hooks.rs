//! Switching the libc hooks on and off.
//!
//! Inside a coroutine, corio's definitions of `read`, `connect`, `poll`,
//! `sleep`, ... park the coroutine instead of blocking the thread (see the
//! crate docs). That is on by default. [`set_enabled`]`(false)` turns it off
//! for the calling coroutine, or, called outside any coroutine, for every
//! coroutine of the calling thread; hooked calls then block the thread
//! exactly as plain libc would. corio's own socket types stay cooperative
//! either way.
//!
//! ```
//! corio_sched::run(|| {
//!     assert!(corio_net::hooks::enabled());
//!     corio_net::hooks::set_enabled(false);
//!     // This sleep blocks the thread, as in a program without corio.
//!     std::thread::sleep(std::time::Duration::from_millis(1));
//!     corio_net::hooks::set_enabled(true);
//! });
//! ```

use std::cell::Cell;

thread_local! {
    /// The thread-wide switch: false turns the hooks off for every
    /// coroutine of this thread.
    static THREAD_ENABLED: Cell<bool> = const { Cell::new(true) };
    /// Number of live coroutines on this thread that turned their hooks
    /// off; while zero the per-coroutine flag need not be looked up.
    static DISABLED_COROUTINES: Cell<usize> = const { Cell::new(0) };
}

/// A coroutine's own switch. Dropped when the coroutine ends, which keeps
/// `DISABLED_COROUTINES` exact.
#[derive(Default)]
struct CoroutineFlag {
    disabled: Cell<bool>,
}

impl Drop for CoroutineFlag {
    fn drop(&mut self) {
        if self.disabled.get() {
            let _ = DISABLED_COROUTINES.try_with(|n| n.set(n.get() - 1));
        }
    }
}

corio_coro::coroutine_local! {
    static COROUTINE_FLAG: CoroutineFlag = CoroutineFlag::default();
}

/// Turns the hooks on or off for the calling coroutine; called outside a
/// coroutine, for all coroutines of the calling thread.
pub fn set_enabled(enabled: bool) {
    if corio_sched::park::in_coroutine() {
        COROUTINE_FLAG.with(|flag| {
            if flag.disabled.replace(!enabled) == enabled {
                DISABLED_COROUTINES.with(|n| {
                    n.set(if enabled { n.get() - 1 } else { n.get() + 1 });
                });
            }
        });
    } else {
        THREAD_ENABLED.with(|t| t.set(enabled));
    }
}

/// Whether a hooked call made here would take the cooperative path: the
/// caller runs inside a coroutine, and neither the coroutine nor its thread
/// turned the hooks off.
#[inline]
pub fn enabled() -> bool {
    corio_sched::park::in_coroutine() && switches_on()
}

/// The switches alone (the caller already knows it is in a coroutine).
#[inline]
fn switches_on() -> bool {
    let (thread, disabled) = match (
        THREAD_ENABLED.try_with(Cell::get),
        DISABLED_COROUTINES.try_with(Cell::get),
    ) {
        (Ok(t), Ok(d)) => (t, d),
        _ => return false,
    };
    thread && (disabled == 0 || !COROUTINE_FLAG.with(|f| f.disabled.get()))
}

/// Runs `f` with the hooks turned off for the calling coroutine (or thread),
/// restoring the previous setting afterwards, also on panic.
pub fn without<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            set_enabled(self.0);
        }
    }
    let was = if corio_sched::park::in_coroutine() {
        !COROUTINE_FLAG.with(|f| f.disabled.get())
    } else {
        THREAD_ENABLED.with(Cell::get)
    };
    set_enabled(false);
    let _restore = Restore(was);
    f()
}
