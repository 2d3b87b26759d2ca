//! Platform code of corio-net: the real libc functions and thin, safe
//! wrappers over the socket syscalls the coroutine types need.
//!
//! Interface the rest of the crate relies on:
//! - [`real`]: every hooked libc function, resolved with
//!   `dlsym(RTLD_NEXT)`, for the hooks and for this module (calling
//!   `libc::read` from inside corio-net would re-enter the hook).
//! - [`errno`], [`set_errno`], [`cvt`], [`cvt_size`]: errno plumbing in the
//!   `cvt` style (`-1` becomes `io::Error::last_os_error()`).
//! - [`poll_one`]: a real, thread-blocking `poll(2)` of one fd (for plain
//!   threads on fds corio made non-blocking).
//! - [`SockAddr`] and the socket calls in [`socket`]: `socket`, `bind`,
//!   `listen`, `accept`, `connect`, `recv*`/`send*`, socket options.

pub(crate) mod addr;
pub(crate) mod real;
pub(crate) mod socket;

use std::io;
use std::os::fd::RawFd;

pub(crate) use addr::SockAddr;

/// The calling thread's errno.
#[inline]
pub(crate) fn errno() -> libc::c_int {
    // SAFETY: __errno_location always returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's errno.
#[inline]
pub(crate) fn set_errno(value: libc::c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = value };
}

/// Converts an `int` return: `-1` becomes the thread's errno.
#[inline]
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Converts an `ssize_t` return: `-1` becomes the thread's errno.
#[inline]
pub(crate) fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// Blocks the thread in the real `poll(2)` until `fd` has one of `events`
/// or `timeout_ms` (< 0: forever) passes; returns whether it became ready.
/// EINTR is retried.
pub(crate) fn poll_one(fd: RawFd, events: libc::c_short, timeout_ms: i32) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        let n = unsafe { real::poll(&mut pfd, 1, timeout_ms) };
        if n >= 0 {
            return Ok(n > 0);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// `fcntl(fd, F_GETFL)` through the real fcntl.
pub(crate) fn get_fl(fd: RawFd) -> io::Result<libc::c_int> {
    // SAFETY: F_GETFL takes no argument.
    cvt(unsafe { real::fcntl(fd, libc::F_GETFL, 0) })
}

/// `fcntl(fd, F_SETFL, flags)` through the real fcntl.
pub(crate) fn set_fl(fd: RawFd, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: F_SETFL takes an int flag word.
    cvt(unsafe { real::fcntl(fd, libc::F_SETFL, flags as libc::c_ulong) }).map(drop)
}

/// Closes `fd` with the real close.
pub(crate) fn close(fd: RawFd) -> io::Result<()> {
    // SAFETY: the caller owns `fd` and never uses the number again.
    cvt(unsafe { real::close(fd) }).map(drop)
}

/// Duplicates `fd` (close-on-exec) with the real fcntl.
pub(crate) fn dup_cloexec(fd: RawFd) -> io::Result<RawFd> {
    // SAFETY: F_DUPFD_CLOEXEC takes the lowest acceptable new fd number.
    cvt(unsafe { real::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) })
}

/// Runs `f` on a std socket object viewing `fd`, without taking ownership
/// (for queries std already implements, such as Unix socket addresses).
pub(crate) fn with_std<T, R>(fd: RawFd, f: impl FnOnce(&T) -> R) -> R
where
    T: std::os::fd::FromRawFd,
{
    // SAFETY: the caller keeps `fd` open during the call, and ManuallyDrop
    // guarantees the view never closes it.
    let view = std::mem::ManuallyDrop::new(unsafe { T::from_raw_fd(fd) });
    f(&view)
}

/// Borrows the fd owned by `owner` for as long as `owner` lives.
pub(crate) fn borrow_fd<T: ?Sized>(fd: RawFd, _owner: &T) -> std::os::fd::BorrowedFd<'_> {
    // SAFETY: `owner` owns `fd` and keeps it open while borrowed.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

/// Hands an owned fd to a std type.
pub(crate) fn into_std<T: std::os::fd::FromRawFd>(fd: RawFd) -> T {
    // SAFETY: the caller gives up ownership of the open fd `fd`.
    unsafe { T::from_raw_fd(fd) }
}
