//! Hooks of the calls that move data or connections: accept, connect, the
//! read/write and recv/send families, and the fortified `__*_chk` forms.
//!
//! Every one runs the shared readiness loop ([`crate::readiness::Op`]).
//! Blocking sends (and `MSG_WAITALL` receives) go on after a partial
//! transfer until done, as a blocking socket or pipe does; a timeout or
//! cancel after some progress returns the partial count, as libc does.

use std::io as stdio;

use libc::{c_int, c_void, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};

use super::{finish_int, finish_size};
use crate::fdtable;
use crate::readiness::{Dir, Op};
use crate::sys::{self, cvt, cvt_size, real};

/// Whether corio tracks `fd` at all (the fast-path check of every hook),
/// or another thread is closing it (the hook's `Op` then waits for the
/// close to end, and treats the fd as what it is after it).
#[inline]
fn tracked(fd: c_int) -> bool {
    fdtable::tracked_or_closing(fd)
}

/// Runs a send-like operation to completion for blocking callers:
/// `attempt(done)` sends from offset `done`.
fn send_all(
    op: &mut Op,
    len: usize,
    mut attempt: impl FnMut(usize) -> stdio::Result<usize>,
) -> stdio::Result<usize> {
    let mut done = 0;
    loop {
        match op.run_len(len - done, || attempt(done)) {
            Ok(n) => {
                done += n;
                if n == 0 || done >= len || !op.blocking() {
                    return Ok(done);
                }
            }
            Err(e) if done > 0 => {
                let _ = e;
                return Ok(done);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Like [`send_all`] for `MSG_WAITALL` receives (stops at EOF). `flags`
/// are the caller's recv flags.
fn recv_all(
    op: &mut Op,
    len: usize,
    flags: c_int,
    mut attempt: impl FnMut(usize) -> stdio::Result<usize>,
) -> stdio::Result<usize> {
    if flags & libc::MSG_PEEK != 0 {
        // A peek leaves the data queued: a short peek says nothing about
        // the buffer being drained.
        return op.run(|| attempt(0));
    }
    if flags & libc::MSG_WAITALL == 0 {
        return op.run_len(len, || attempt(0));
    }
    send_all(op, len, attempt)
}

/// The rest of `iov` after its first `skip` bytes.
fn advance(iov: &[iovec], mut skip: usize) -> Vec<iovec> {
    let mut out = Vec::with_capacity(iov.len());
    for v in iov {
        if skip >= v.iov_len {
            skip -= v.iov_len;
            continue;
        }
        out.push(iovec {
            iov_base: v.iov_base.cast::<u8>().wrapping_add(skip).cast(),
            iov_len: v.iov_len - skip,
        });
        skip = 0;
    }
    out
}

/// The caller's iovec array as a slice.
///
/// # Safety
/// `iov` must point to `cnt` valid iovecs when `cnt > 0`.
unsafe fn iov_slice<'a>(iov: *const iovec, cnt: c_int) -> &'a [iovec] {
    if iov.is_null() || cnt <= 0 {
        return &[];
    }
    // SAFETY: the caller guarantees `cnt` valid entries.
    unsafe { std::slice::from_raw_parts(iov, cnt as usize) }
}

fn iov_total(iov: &[iovec]) -> usize {
    iov.iter().map(|v| v.iov_len).fold(0, usize::saturating_add)
}

/// Hook of `read(2)`.
///
/// # Safety
/// The contract of `read(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t {
    if !tracked(fd) {
        // SAFETY: the caller's contract.
        return unsafe { real::read(fd, buf, count) };
    }
    let saved = sys::errno();
    let mut op = Op::hook(fd, Dir::Read);
    // SAFETY: the caller's contract.
    let r = op.run_len(count, || cvt_size(unsafe { real::read(fd, buf, count) }));
    finish_size(r, saved)
}

/// Hook of `readv(2)`.
///
/// # Safety
/// The contract of `readv(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    if !tracked(fd) {
        // SAFETY: the caller's contract.
        return unsafe { real::readv(fd, iov, iovcnt) };
    }
    let saved = sys::errno();
    let mut op = Op::hook(fd, Dir::Read);
    // SAFETY: the caller's contract: `iov` holds `iovcnt` valid iovecs.
    let total = iov_total(unsafe { iov_slice(iov, iovcnt) });
    // SAFETY: the caller's contract.
    let r = op.run_len(total, || cvt_size(unsafe { real::readv(fd, iov, iovcnt) }));
    finish_size(r, saved)
}

/// Hook of `recv(2)`.
///
/// # Safety
/// The contract of `recv(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t {
    if !tracked(fd) || flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's contract.
        return unsafe { real::recv(fd, buf, len, flags) };
    }
    let saved = sys::errno();
    let mut op = Op::hook(fd, Dir::Read);
    let r = recv_all(&mut op, len, flags, |done| {
        let at = buf.cast::<u8>().wrapping_add(done).cast();
        // SAFETY: `at..buf+len` lies inside the caller's buffer.
        cvt_size(unsafe { real::recv(fd, at, len - done, flags) })
    });
    finish_size(r, saved)
}

/// Hook of `recvfrom(2)`.
///
/// # Safety
/// The contract of `recvfrom(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    if !tracked(fd) || flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's contract.
        return unsafe { real::recvfrom(fd, buf, len, flags, addr, addrlen) };
    }
    let saved = sys::errno();
    let mut op = Op::hook(fd, Dir::Read);
    let r = recv_all(&mut op, len, flags, |done| {
        let at = buf.cast::<u8>().wrapping_add(done).cast();
        // SAFETY: `at..buf+len` lies inside the caller's buffer; the
        // address arguments are the caller's.
        cvt_size(unsafe { real::recvfrom(fd, at, len - done, flags, addr, addrlen) })
    });
    finish_size(r, saved)
}

/// Hook of `recvmsg(2)`.
///
/// # Safety
/// The contract of `recvmsg(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    if !tracked(fd) || flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's contract.
        return unsafe { real::recvmsg(fd, msg, flags) };
    }
    let saved = sys::errno();
    let mut op = Op::hook(fd, Dir::Read);
    // SAFETY: the caller's contract.
    let r = op.run(|| cvt_size(unsafe { real::recvmsg(fd, msg, flags) }));
    finish_size(r, saved)
}

/// Hook of `write(2)`.
///
/// # Safety
/// The contract of `write(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t {
    if !tracked(fd) {
        // SAFETY: the caller's contract.
        return unsafe { real::write(fd, buf, count) };
    }
    let saved = sys::errno();
    let mut op = Op::hook(fd, Dir::Write);
    let r = send_all(&mut op, count, |done| {
        let at = buf.cast::<u8>().wrapping_add(done).cast();
        // SAFETY: `at..buf+count` lies inside the caller's buffer.
        cvt_size(unsafe { real::write(fd, at, count - done) })
    });
    finish_size(r, saved)
}

/// Hook of `writev(2)`.
///
/// # Safety
/// The contract of `writev(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    if !tracked(fd) {
        // SAFETY: the caller's contract.
        return unsafe { real::writev(fd, iov, iovcnt) };
    }
    let saved = sys::errno();
    let mut op = Op::hook(fd, Dir::Write);
    // SAFETY: the caller's contract: `iovcnt` valid iovecs.
    let all = unsafe { iov_slice(iov, iovcnt) };
    let total = iov_total(all);
    let r = send_all(&mut op, total, |done| {
        if done == 0 {
            // SAFETY: the caller's contract.
            return cvt_size(unsafe { real::writev(fd, iov, iovcnt) });
        }
        let rest = advance(all, done);
        // SAFETY: `rest` describes the unsent tail of the caller's buffers.
        cvt_size(unsafe { real::writev(fd, rest.as_ptr(), rest.len() as c_int) })
    });
    finish_size(r, saved)
}

/// Hook of `send(2)`.
///
/// # Safety
/// The contract of `send(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t {
    if !tracked(fd) || flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's contract.
        return unsafe { real::send(fd, buf, len, flags) };
    }
    let saved = sys::errno();
    let mut op = Op::hook(fd, Dir::Write);
    let r = send_all(&mut op, len, |done| {
        let at = buf.cast::<u8>().wrapping_add(done).cast();
        // SAFETY: `at..buf+len` lies inside the caller's buffer.
        cvt_size(unsafe { real::send(fd, at, len - done, flags) })
    });
    finish_size(r, saved)
}

/// Hook of `sendto(2)`.
///
/// # Safety
/// The contract of `sendto(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> ssize_t {
    if !tracked(fd) || flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's contract.
        return unsafe { real::sendto(fd, buf, len, flags, addr, addrlen) };
    }
    let saved = sys::errno();
    let mut op = Op::hook(fd, Dir::Write);
    let r = send_all(&mut op, len, |done| {
        let at = buf.cast::<u8>().wrapping_add(done).cast();
        // SAFETY: `at..buf+len` lies inside the caller's buffer; the address
        // is the caller's.
        cvt_size(unsafe { real::sendto(fd, at, len - done, flags, addr, addrlen) })
    });
    finish_size(r, saved)
}

/// Hook of `sendmsg(2)`.
///
/// # Safety
/// The contract of `sendmsg(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    if !tracked(fd) || flags & libc::MSG_DONTWAIT != 0 || msg.is_null() {
        // SAFETY: the caller's contract.
        return unsafe { real::sendmsg(fd, msg, flags) };
    }
    let saved = sys::errno();
    let mut op = Op::hook(fd, Dir::Write);
    // SAFETY: the caller passes a valid msghdr.
    let hdr = unsafe { *msg };
    // SAFETY: a valid msghdr describes `msg_iovlen` valid iovecs.
    let all = unsafe { iov_slice(hdr.msg_iov, hdr.msg_iovlen as c_int) };
    let total = iov_total(all);
    let r = send_all(&mut op, total, |done| {
        if done == 0 {
            // SAFETY: the caller's contract.
            return cvt_size(unsafe { real::sendmsg(fd, msg, flags) });
        }
        // The rest of the data, without the ancillary data already sent.
        let mut rest = advance(all, done);
        let mut tail = hdr;
        tail.msg_iov = rest.as_mut_ptr();
        tail.msg_iovlen = rest.len() as _;
        tail.msg_control = std::ptr::null_mut();
        tail.msg_controllen = 0;
        // SAFETY: `tail` describes the unsent tail of the caller's buffers.
        cvt_size(unsafe { real::sendmsg(fd, &tail, flags) })
    });
    finish_size(r, saved)
}

/// The shared body of `accept` and `accept4`.
///
/// # Safety
/// The contract of `accept4(2)`.
unsafe fn accept_common(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    let saved = sys::errno();
    let mut op = Op::hook(fd, Dir::Read);
    // SAFETY: the caller's contract.
    let r = op.run(|| cvt(unsafe { real::accept4(fd, addr, len, flags) }));
    if let Ok(new) = r {
        let nonblock = if flags & libc::SOCK_NONBLOCK != 0 {
            fdtable::USER_NONBLOCK
        } else {
            0
        };
        fdtable::track(new, fdtable::SOCKET | nonblock);
    }
    finish_int(r, saved, libc::EAGAIN)
}

/// Hook of `accept(2)`.
///
/// # Safety
/// The contract of `accept(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    if !tracked(fd) {
        // SAFETY: the caller's contract.
        let new = unsafe { real::accept(fd, addr, len) };
        if new >= 0 {
            fdtable::track(new, fdtable::SOCKET);
        }
        return new;
    }
    // SAFETY: accept is accept4 without flags.
    unsafe { accept_common(fd, addr, len, 0) }
}

/// Hook of `accept4(2)`.
///
/// # Safety
/// The contract of `accept4(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    if !tracked(fd) {
        // SAFETY: the caller's contract.
        let new = unsafe { real::accept4(fd, addr, len, flags) };
        if new >= 0 {
            let nonblock = if flags & libc::SOCK_NONBLOCK != 0 {
                fdtable::USER_NONBLOCK
            } else {
                0
            };
            fdtable::track(new, fdtable::SOCKET | nonblock);
        }
        return new;
    }
    // SAFETY: the caller's contract.
    unsafe { accept_common(fd, addr, len, flags) }
}

/// Hook of `connect(2)`: EINPROGRESS, wait for writability, then SO_ERROR.
/// A timeout (SO_SNDTIMEO) gives EINPROGRESS as in Linux, the deadline
/// scope ETIMEDOUT, a cancel EINTR.
///
/// # Safety
/// The contract of `connect(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    if !tracked(fd) {
        // SAFETY: the caller's contract.
        return unsafe { real::connect(fd, addr, len) };
    }
    let saved = sys::errno();
    let mut op = Op::hook(fd, Dir::Write);
    let r = crate::readiness::connect(&mut op, || {
        // SAFETY: the caller's contract.
        cvt(unsafe { real::connect(fd, addr, len) }).map(drop)
    });
    match r {
        Ok(()) => {
            sys::set_errno(saved);
            0
        }
        Err(e) => {
            let code = if crate::readiness::is_would_block(&e) {
                libc::EINPROGRESS
            } else {
                super::errno_of(&e, libc::ETIMEDOUT)
            };
            sys::set_errno(code);
            -1
        }
    }
}

/// Fortified `read` (`_FORTIFY_SOURCE`): checks the buffer size, then
/// [`read`].
///
/// # Safety
/// The contract of `read(2)`, with `buflen` the real size of `buf`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __read_chk(
    fd: c_int,
    buf: *mut c_void,
    nbytes: size_t,
    buflen: size_t,
) -> ssize_t {
    if nbytes > buflen {
        chk_fail();
    }
    // SAFETY: the caller's contract; the size check passed.
    unsafe { read(fd, buf, nbytes) }
}

/// Fortified `recv`.
///
/// # Safety
/// The contract of `recv(2)`, with `buflen` the real size of `buf`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __recv_chk(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    buflen: size_t,
    flags: c_int,
) -> ssize_t {
    if len > buflen {
        chk_fail();
    }
    // SAFETY: the caller's contract; the size check passed.
    unsafe { recv(fd, buf, len, flags) }
}

/// Fortified `recvfrom`.
///
/// # Safety
/// The contract of `recvfrom(2)`, with `buflen` the real size of `buf`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    buflen: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    if len > buflen {
        chk_fail();
    }
    // SAFETY: the caller's contract; the size check passed.
    unsafe { recvfrom(fd, buf, len, flags, addr, addrlen) }
}

/// Reports a buffer overflow caught by a fortified call, like glibc.
#[cold]
pub(super) fn chk_fail() -> ! {
    // SAFETY: __chk_fail takes no arguments and does not return.
    unsafe { real::__chk_fail() };
    std::process::abort()
}
