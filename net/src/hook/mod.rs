//! corio's definitions of the blocking libc functions.
//!
//! Each `#[unsafe(no_mangle)] extern "C"` function here replaces the libc
//! function of the same name for the whole program: std, sync crates and C
//! code linked in call it instead of glibc's (an rlib's definition wins
//! over the shared libc at link time). It takes the cooperative path only
//! when the caller runs inside a coroutine with hooks enabled
//! ([`crate::hooks`]) and, for fd calls, the fd is one the process created
//! as a socket or pipe ([`crate::fdtable`]); everything else goes straight
//! to the real function ([`crate::sys::real`]) after one flag check.
//!
//! errno is exactly what libc would leave: the real call's on failure, the
//! caller's own on success (even when corio retried in between).
//!
//! - [`io`]: accept, connect, read/write families, recv/send families and
//!   their fortified variants.
//! - [`fd`]: socket, socketpair, pipe, pipe2, close, dup*, fcntl, ioctl
//!   (FIONBIO), setsockopt/getsockopt (socket timeouts).
//! - [`poll`]: poll, select, `__poll_chk`.
//! - [`time`]: sleep, usleep, nanosleep, clock_nanosleep.
//! - [`dns`]: getaddrinfo on the blocking pool.

mod dns;
mod fd;
mod io;
mod poll;
mod time;

use std::io as stdio;

use crate::sys;

/// The errno a failed cooperative call reports. `timed_out` is what a
/// timeout becomes for this call (EAGAIN for reads and writes like
/// SO_RCVTIMEO, ETIMEDOUT for connect under a deadline scope).
#[cold]
fn errno_of(e: &stdio::Error, timed_out: libc::c_int) -> libc::c_int {
    if let Some(code) = e.raw_os_error() {
        return code;
    }
    match e.kind() {
        stdio::ErrorKind::TimedOut => timed_out,
        stdio::ErrorKind::Interrupted => libc::EINTR,
        stdio::ErrorKind::WouldBlock => libc::EAGAIN,
        stdio::ErrorKind::OutOfMemory => libc::ENOMEM,
        _ => libc::EIO,
    }
}

/// Ends an `ssize_t` hook: the count with the caller's errno restored, or
/// -1 with errno set.
#[inline]
fn finish_size(r: stdio::Result<usize>, saved: libc::c_int) -> libc::ssize_t {
    match r {
        Ok(n) => {
            sys::set_errno(saved);
            n as libc::ssize_t
        }
        Err(e) => {
            sys::set_errno(errno_of(&e, libc::EAGAIN));
            -1
        }
    }
}

/// Ends an `int` hook like [`finish_size`].
#[inline]
fn finish_int(
    r: stdio::Result<libc::c_int>,
    saved: libc::c_int,
    timed_out: libc::c_int,
) -> libc::c_int {
    match r {
        Ok(n) => {
            sys::set_errno(saved);
            n
        }
        Err(e) => {
            sys::set_errno(errno_of(&e, timed_out));
            -1
        }
    }
}
