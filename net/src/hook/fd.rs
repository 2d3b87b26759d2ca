//! Hooks that create, duplicate, close and configure fds: socket,
//! socketpair, pipe, pipe2, close, dup, dup2, dup3, fcntl (F_GETFL,
//! F_SETFL, F_DUPFD*), ioctl (FIONBIO), setsockopt/getsockopt.
//!
//! Creation records the fd in the table (and whether the user asked for
//! non-blocking); nothing about the fd changes until a coroutine first
//! blocks on it. The O_NONBLOCK that corio sets is hidden: F_GETFL and
//! FIONBIO report and keep what the user asked for.

use libc::{c_int, c_ulong, c_void, socklen_t};

use crate::fdtable::{self, RCVTIMEO, SNDTIMEO, SOCKET, SYS_NONBLOCK, TRACKED, USER_NONBLOCK};
use crate::readiness::close_with;
use crate::sys::real;

/// `SO_RCVTIMEO_NEW` / `SO_SNDTIMEO_NEW` (64-bit time on every ABI).
const SO_RCVTIMEO_NEW: c_int = 66;
const SO_SNDTIMEO_NEW: c_int = 67;

fn nonblock_bit(on: bool) -> u32 {
    if on { USER_NONBLOCK } else { 0 }
}

/// Hook of `socket(2)`.
///
/// # Safety
/// None beyond `socket(2)`'s (no pointers).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    // SAFETY: no memory arguments.
    let fd = unsafe { real::socket(domain, ty, protocol) };
    if fd >= 0 {
        fdtable::track(fd, SOCKET | nonblock_bit(ty & libc::SOCK_NONBLOCK != 0));
    }
    fd
}

/// Hook of `socketpair(2)`.
///
/// # Safety
/// `sv` must point to two writable ints.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn socketpair(
    domain: c_int,
    ty: c_int,
    protocol: c_int,
    sv: *mut c_int,
) -> c_int {
    // SAFETY: the caller's contract.
    let r = unsafe { real::socketpair(domain, ty, protocol, sv) };
    if r == 0 {
        let flags = SOCKET | nonblock_bit(ty & libc::SOCK_NONBLOCK != 0);
        // SAFETY: on success the kernel wrote both fds.
        let (a, b) = unsafe { (*sv, *sv.add(1)) };
        fdtable::track(a, flags);
        fdtable::track(b, flags);
    }
    r
}

/// Records both ends of a new pipe.
///
/// # Safety
/// `fds` points to the two fds a successful pipe call wrote.
unsafe fn track_pipe(fds: *const c_int, flags: c_int) {
    let bits = nonblock_bit(flags & libc::O_NONBLOCK != 0);
    // SAFETY: the caller's contract.
    let (a, b) = unsafe { (*fds, *fds.add(1)) };
    fdtable::track(a, bits);
    fdtable::track(b, bits);
}

/// Hook of `pipe(2)`.
///
/// # Safety
/// `fds` must point to two writable ints.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pipe(fds: *mut c_int) -> c_int {
    // SAFETY: the caller's contract.
    let r = unsafe { real::pipe(fds) };
    if r == 0 {
        // SAFETY: the pipe call succeeded.
        unsafe { track_pipe(fds, 0) };
    }
    r
}

/// Hook of `pipe2(2)`.
///
/// # Safety
/// `fds` must point to two writable ints.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pipe2(fds: *mut c_int, flags: c_int) -> c_int {
    // SAFETY: the caller's contract.
    let r = unsafe { real::pipe2(fds, flags) };
    if r == 0 {
        // SAFETY: the pipe call succeeded.
        unsafe { track_pipe(fds, flags) };
    }
    r
}

/// Hook of `close(2)`: coroutines of this thread waiting on `fd` wake with
/// EBADF, and corio forgets the fd, before the real close frees the number;
/// after it, coroutines of other scheduler threads waiting on `fd` are
/// told, and wake with EBADF too.
///
/// # Safety
/// The contract of `close(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    // SAFETY: the caller's contract.
    close_with(fd, || unsafe { real::close(fd) })
}

/// Hook of `dup(2)`: the copy shares the original's entry.
///
/// # Safety
/// None beyond `dup(2)`'s.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    // SAFETY: no memory arguments.
    let new = unsafe { real::dup(fd) };
    if new >= 0 {
        fdtable::copy(fd, new);
    }
    new
}

/// The shared body of `dup2`/`dup3`: `new` is closed implicitly, so it is
/// forgotten first, then given `old`'s entry (or its own back if the call
/// fails) before the close ends.
fn dup_onto(old: c_int, new: c_int, call: impl FnOnce() -> c_int) -> c_int {
    if old == new || new < 0 {
        return call();
    }
    let before = fdtable::get(new);
    close_with(new, || {
        let r = call();
        if r >= 0 {
            fdtable::copy(old, new);
        } else if before & TRACKED != 0 {
            fdtable::track(new, before);
        }
        r
    })
}

/// Hook of `dup2(2)`.
///
/// # Safety
/// None beyond `dup2(2)`'s.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    // SAFETY: no memory arguments.
    dup_onto(old, new, || unsafe { real::dup2(old, new) })
}

/// Hook of `dup3(2)`.
///
/// # Safety
/// None beyond `dup3(2)`'s.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    // SAFETY: no memory arguments.
    dup_onto(old, new, || unsafe { real::dup3(old, new, flags) })
}

/// The shared body of `fcntl`/`fcntl64`.
fn fcntl_common(fd: c_int, cmd: c_int, arg: c_ulong, call: impl Fn(c_ulong) -> c_int) -> c_int {
    let flags = fdtable::get(fd);
    if flags & TRACKED == 0 {
        let r = call(arg);
        if r >= 0 && (cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC) {
            fdtable::reset(r);
        }
        return r;
    }
    match cmd {
        libc::F_GETFL => {
            let r = call(arg);
            if r >= 0 && flags & SYS_NONBLOCK != 0 && flags & USER_NONBLOCK == 0 {
                r & !libc::O_NONBLOCK
            } else {
                r
            }
        }
        libc::F_SETFL => {
            let user = arg as c_int & libc::O_NONBLOCK != 0;
            let kernel = if flags & SYS_NONBLOCK != 0 {
                arg | libc::O_NONBLOCK as c_ulong
            } else {
                arg
            };
            let r = call(kernel);
            if r >= 0 {
                if user {
                    fdtable::set_bits(fd, USER_NONBLOCK);
                } else {
                    fdtable::clear_bits(fd, USER_NONBLOCK);
                }
            }
            r
        }
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
            let r = call(arg);
            if r >= 0 {
                fdtable::copy(fd, r);
            }
            r
        }
        _ => call(arg),
    }
}

/// Hook of `fcntl(2)`. C declares it variadic; on the x86-64 and AArch64
/// Linux ABIs an integer or pointer variadic argument travels exactly like
/// a named one, so a third `unsigned long` parameter receives it (and is
/// ignored by commands that take none).
///
/// # Safety
/// The contract of `fcntl(2)` for `cmd`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    // SAFETY: the caller's contract.
    fcntl_common(fd, cmd, arg, |a| unsafe { real::fcntl(fd, cmd, a) })
}

/// Hook of glibc's `fcntl64` (what C code built with 64-bit `off_t` calls);
/// see [`fcntl`].
///
/// # Safety
/// The contract of `fcntl(2)` for `cmd`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    // SAFETY: the caller's contract.
    fcntl_common(fd, cmd, arg, |a| unsafe { real::fcntl64(fd, cmd, a) })
}

/// Hook of `ioctl(2)`: FIONBIO on a tracked fd records the user's choice
/// and never clears the O_NONBLOCK corio needs; all else passes through.
/// Variadic in C; see [`fcntl`] for why a third parameter receives it.
///
/// # Safety
/// The contract of `ioctl(2)` for `request`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ioctl(fd: c_int, request: c_ulong, arg: *mut c_void) -> c_int {
    let flags = fdtable::get(fd);
    if request != libc::FIONBIO as c_ulong || flags & TRACKED == 0 || arg.is_null() {
        // SAFETY: the caller's contract.
        return unsafe { real::ioctl(fd, request, arg) };
    }
    // SAFETY: FIONBIO takes a pointer to an int.
    let on = unsafe { *arg.cast::<c_int>() } != 0;
    if !on && flags & SYS_NONBLOCK != 0 {
        // Keep the fd non-blocking for corio; the user sees blocking.
        // Validate the fd as the real call would.
        // SAFETY: F_GETFD takes no argument.
        if unsafe { real::fcntl(fd, libc::F_GETFD, 0) } < 0 {
            return -1;
        }
        fdtable::clear_bits(fd, USER_NONBLOCK);
        return 0;
    }
    // SAFETY: the caller's contract.
    let r = unsafe { real::ioctl(fd, request, arg) };
    if r == 0 {
        if on {
            fdtable::set_bits(fd, USER_NONBLOCK);
        } else {
            fdtable::clear_bits(fd, USER_NONBLOCK);
        }
    }
    r
}

/// Hook of `setsockopt(2)`: the value always reaches the kernel (so
/// getsockopt and plain blocking calls see it); for SO_RCVTIMEO and
/// SO_SNDTIMEO corio also notes that a timeout is set, so its cooperative
/// waits honour it.
///
/// # Safety
/// The contract of `setsockopt(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
) -> c_int {
    // SAFETY: the caller's contract.
    let r = unsafe { real::setsockopt(fd, level, name, value, len) };
    if r != 0 || level != libc::SOL_SOCKET || fdtable::get(fd) & TRACKED == 0 {
        return r;
    }
    let bit = match name {
        libc::SO_RCVTIMEO | SO_RCVTIMEO_NEW => RCVTIMEO,
        libc::SO_SNDTIMEO | SO_SNDTIMEO_NEW => SNDTIMEO,
        _ => return r,
    };
    // Both layouts begin with two 64-bit fields on 64-bit Linux; the kernel
    // accepted the value, so it is at least that long.
    if (len as usize) < 2 * std::mem::size_of::<i64>() || value.is_null() {
        return r;
    }
    // SAFETY: the kernel just read these 16 bytes successfully.
    let (sec, usec) = unsafe {
        let p = value.cast::<i64>();
        (p.read_unaligned(), p.add(1).read_unaligned())
    };
    if sec == 0 && usec == 0 {
        fdtable::clear_bits(fd, bit);
    } else {
        fdtable::set_bits(fd, bit);
    }
    r
}

/// Hook of `getsockopt(2)`: a pass-through. Socket timeouts live in the
/// kernel (see [`setsockopt`]), so every option reads back exactly.
///
/// # Safety
/// The contract of `getsockopt(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe { real::getsockopt(fd, level, name, value, len) }
}
