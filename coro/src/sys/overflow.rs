//! Stack-overflow reports for coroutines.
//!
//! A coroutine that overflows its stack touches the guard page below it and
//! the kernel raises SIGSEGV (or SIGBUS). The handler installed here runs on
//! an alternate signal stack (the faulting stack is unusable), checks whether
//! the fault address lies in the guard page of the coroutine running on this
//! thread, and if so writes
//! `coroutine '<name or id>' has overflowed its stack (<size> KiB)` to stderr
//! and aborts, the way Rust reports a thread overflow. Any other fault is
//! passed to the handler that was installed before ours (Rust's own overflow
//! handler, a sanitizer's) or, if there was none, gets the default action.
//!
//! Interface: [`ensure_installed`], called before every coroutine is created
//! (a thread-local flag check after the first call on a thread).

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::Once;

use crate::coroutine::{Meta, current_meta_ptr};

/// Previous actions for SIGSEGV and SIGBUS, written once under `INSTALL`
/// before our handler can run, read-only afterwards.
static mut PREV_SEGV: MaybeUninit<libc::sigaction> = MaybeUninit::uninit();
static mut PREV_BUS: MaybeUninit<libc::sigaction> = MaybeUninit::uninit();
static INSTALL: Once = Once::new();

/// Size of the alternate signal stack we map for threads that have none.
const ALT_STACK_SIZE: usize = 64 * 1024;

/// An alternate signal stack this crate mapped for the current thread;
/// disabled and unmapped when the thread exits.
struct AltStack {
    /// Start of the mapping, or null when the thread already had one.
    base: *mut libc::c_void,
}

impl Drop for AltStack {
    fn drop(&mut self) {
        if self.base.is_null() {
            return;
        }
        let disable = libc::stack_t {
            ss_sp: ptr::null_mut(),
            ss_flags: libc::SS_DISABLE,
            ss_size: ALT_STACK_SIZE,
        };
        // SAFETY: disabling the alternate stack of this thread, then unmapping
        // the memory we mapped for it in `ensure_alt_stack`.
        unsafe {
            libc::sigaltstack(&disable, ptr::null_mut());
            libc::munmap(self.base, ALT_STACK_SIZE);
        }
    }
}

thread_local! {
    static ALT_STACK_CHECKED: Cell<bool> = const { Cell::new(false) };
    static ALT_STACK: std::cell::RefCell<Option<AltStack>> = const { std::cell::RefCell::new(None) };
}

/// Installs the process-wide handler once and makes sure this thread has an
/// alternate signal stack.
#[inline]
pub(crate) fn ensure_installed() {
    if ALT_STACK_CHECKED.with(|c| c.get()) {
        return;
    }
    install_slow();
}

#[cold]
fn install_slow() {
    INSTALL.call_once(|| {
        // SAFETY: sigaction with a zeroed, fully initialised struct; the
        // previous actions are stored before the new handler is live for
        // the other signal, and never written again.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let prev_segv = &raw mut PREV_SEGV;
            let prev_bus = &raw mut PREV_BUS;
            libc::sigaction(libc::SIGSEGV, &action, (*prev_segv).as_mut_ptr());
            libc::sigaction(libc::SIGBUS, &action, (*prev_bus).as_mut_ptr());
        }
    });
    ensure_alt_stack();
    ALT_STACK_CHECKED.with(|c| c.set(true));
}

fn ensure_alt_stack() {
    // SAFETY: querying the current alternate stack into a zeroed struct.
    let mut current: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: see above; a null new-stack pointer only queries.
    unsafe { libc::sigaltstack(ptr::null(), &mut current) };
    if current.ss_flags & libc::SS_DISABLE == 0 {
        return; // Rust's runtime (or the user) already set one up.
    }
    // SAFETY: a fresh anonymous private mapping; checked for failure.
    let base = unsafe {
        libc::mmap(
            ptr::null_mut(),
            ALT_STACK_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return; // Overflow reports degrade to a plain SIGSEGV.
    }
    let stack = libc::stack_t {
        ss_sp: base,
        ss_flags: 0,
        ss_size: ALT_STACK_SIZE,
    };
    // SAFETY: `base` is a live mapping of ALT_STACK_SIZE bytes owned by the
    // AltStack stored below, which disables it before unmapping.
    unsafe { libc::sigaltstack(&stack, ptr::null_mut()) };
    ALT_STACK.with(|s| *s.borrow_mut() = Some(AltStack { base }));
}

/// Appends `bytes` to `buf` at `*len`, truncating at the buffer's end.
fn push(buf: &mut [u8], len: &mut usize, bytes: &[u8]) {
    let n = bytes.len().min(buf.len() - *len);
    buf[*len..*len + n].copy_from_slice(&bytes[..n]);
    *len += n;
}

/// Formats `n` in decimal into `out`, returning the used tail.
fn decimal(mut n: u64, out: &mut [u8; 20]) -> &[u8] {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &out[i..];
        }
    }
}

/// Writes the overflow report without allocating (we are in a signal handler
/// on a small alternate stack).
fn report(meta: &Meta) {
    let mut buf = [0u8; 512];
    let mut len = 0;
    let mut digits = [0u8; 20];
    push(&mut buf, &mut len, b"\ncoroutine '");
    match &meta.name {
        Some(name) => push(&mut buf, &mut len, name.as_bytes()),
        None => push(&mut buf, &mut len, decimal(meta.id, &mut digits)),
    }
    push(&mut buf, &mut len, b"' has overflowed its stack (");
    push(
        &mut buf,
        &mut len,
        decimal((meta.stack_size / 1024) as u64, &mut digits),
    );
    push(
        &mut buf,
        &mut len,
        b" KiB)\nfatal runtime error: stack overflow, aborting\n",
    );
    // SAFETY: writing an initialised buffer to stderr; errors are ignored.
    unsafe { libc::write(2, buf.as_ptr().cast(), len) };
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let meta = current_meta_ptr();
    // SAFETY: a non-null current pointer refers to the Meta of the coroutine
    // running on this thread, which is alive while it runs.
    if let Some(meta) = unsafe { meta.as_ref() } {
        if addr >= meta.guard.0 && addr < meta.guard.1 {
            report(meta);
            // SAFETY: abort is async-signal-safe.
            unsafe { libc::abort() };
        }
    }
    // Not ours: hand the fault to whoever handled it before us.
    let prev = if sig == libc::SIGBUS {
        &raw const PREV_BUS
    } else {
        &raw const PREV_SEGV
    };
    // SAFETY: PREV_* were initialised before this handler was installed and
    // are never written again.
    let prev = unsafe { (*prev).assume_init_ref() };
    let prev_handler = prev.sa_sigaction;
    if prev_handler == libc::SIG_DFL || prev_handler == libc::SIG_IGN {
        // Restore the default action and return: the faulting instruction
        // runs again and the process dies of the signal as usual.
        // SAFETY: resetting a signal to its default action.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was registered as a three-argument
        // sigaction handler.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(prev_handler) };
        f(sig, info, ctx);
    } else {
        // SAFETY: the previous handler was registered as a one-argument
        // handler.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(prev_handler) };
        f(sig);
    }
}
