//! One attempt of each socket syscall the coroutine types use, through the
//! real libc functions. No waiting here: the readiness loop above retries.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem;
use std::os::fd::RawFd;
use std::time::Duration;

use super::{SockAddr, cvt, cvt_size, real};

/// `socket(domain, ty | SOCK_CLOEXEC, 0)`.
pub(crate) fn socket(domain: libc::c_int, ty: libc::c_int) -> io::Result<RawFd> {
    // SAFETY: no memory arguments.
    cvt(unsafe { real::socket(domain, ty | libc::SOCK_CLOEXEC, 0) })
}

/// `socketpair(domain, ty | SOCK_CLOEXEC, 0)`.
pub(crate) fn socketpair(domain: libc::c_int, ty: libc::c_int) -> io::Result<(RawFd, RawFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    cvt(unsafe { real::socketpair(domain, ty | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) })?;
    Ok((fds[0], fds[1]))
}

/// `bind(fd, addr)`.
pub(crate) fn bind(fd: RawFd, addr: &SockAddr) -> io::Result<()> {
    // SAFETY: `addr` points to `addr.len()` valid bytes.
    cvt(unsafe { libc::bind(fd, addr.as_ptr(), addr.len()) }).map(drop)
}

/// `listen(fd, backlog)`.
pub(crate) fn listen(fd: RawFd, backlog: libc::c_int) -> io::Result<()> {
    // SAFETY: no memory arguments.
    cvt(unsafe { libc::listen(fd, backlog) }).map(drop)
}

/// One `connect` attempt.
pub(crate) fn connect(fd: RawFd, addr: &SockAddr) -> io::Result<()> {
    // SAFETY: `addr` points to `addr.len()` valid bytes.
    cvt(unsafe { real::connect(fd, addr.as_ptr(), addr.len()) }).map(drop)
}

/// One `accept4(.., SOCK_CLOEXEC)` attempt.
pub(crate) fn accept(fd: RawFd) -> io::Result<(RawFd, SockAddr)> {
    let mut addr = SockAddr::empty();
    // SAFETY: `addr` has room for any address and its length slot says so.
    let new =
        cvt(unsafe { real::accept4(fd, addr.as_mut_ptr(), addr.len_mut(), libc::SOCK_CLOEXEC) })?;
    Ok((new, addr))
}

/// One `recv` attempt.
pub(crate) fn recv(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` writable bytes.
    cvt_size(unsafe { real::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) })
}

/// One `readv` attempt.
pub(crate) fn readv(fd: RawFd, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
    let n = bufs.len().min(libc::c_int::MAX as usize) as libc::c_int;
    // SAFETY: IoSliceMut is ABI-compatible with iovec; `n` entries are valid.
    cvt_size(unsafe { real::readv(fd, bufs.as_ptr().cast(), n) })
}

/// One `recvfrom` attempt.
pub(crate) fn recv_from(
    fd: RawFd,
    buf: &mut [u8],
    flags: libc::c_int,
) -> io::Result<(usize, SockAddr)> {
    let mut addr = SockAddr::empty();
    // SAFETY: `buf` is writable for its length; `addr` has room for any
    // address and its length slot says so.
    let n = cvt_size(unsafe {
        real::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            flags,
            addr.as_mut_ptr(),
            addr.len_mut(),
        )
    })?;
    Ok((n, addr))
}

/// One `send` attempt (with MSG_NOSIGNAL, like std).
pub(crate) fn send(fd: RawFd, buf: &[u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes.
    cvt_size(unsafe {
        real::send(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            flags | libc::MSG_NOSIGNAL,
        )
    })
}

/// One vectored send attempt: `sendmsg` with MSG_NOSIGNAL, so a write to
/// a closed peer is EPIPE even where SIGPIPE is not ignored (`writev` has
/// no flags and would raise it).
pub(crate) fn send_vectored(fd: RawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: an all-zero msghdr is valid (no address, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = bufs.as_ptr().cast_mut().cast();
    msg.msg_iovlen = bufs.len().min(libc::c_int::MAX as usize) as _;
    // SAFETY: IoSlice is ABI-compatible with iovec; `msg_iovlen` entries
    // are valid for reads and sendmsg does not write through them.
    cvt_size(unsafe { real::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) })
}

/// One `sendto` attempt (with MSG_NOSIGNAL).
pub(crate) fn send_to(fd: RawFd, buf: &[u8], addr: &SockAddr) -> io::Result<usize> {
    // SAFETY: `buf` and `addr` are valid for their lengths.
    cvt_size(unsafe {
        real::sendto(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL,
            addr.as_ptr(),
            addr.len(),
        )
    })
}

/// `shutdown(fd, how)`.
pub(crate) fn shutdown(fd: RawFd, how: libc::c_int) -> io::Result<()> {
    // SAFETY: no memory arguments.
    cvt(unsafe { libc::shutdown(fd, how) }).map(drop)
}

/// `getsockname`.
pub(crate) fn local_addr(fd: RawFd) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    // SAFETY: `addr` has room for any address and its length slot says so.
    cvt(unsafe { libc::getsockname(fd, addr.as_mut_ptr(), addr.len_mut()) })?;
    Ok(addr)
}

/// `getpeername`.
pub(crate) fn peer_addr(fd: RawFd) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    // SAFETY: as in `local_addr`.
    cvt(unsafe { libc::getpeername(fd, addr.as_mut_ptr(), addr.len_mut()) })?;
    Ok(addr)
}

/// `setsockopt` of a plain-data value.
pub(crate) fn setsockopt<T: Copy>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: T,
) -> io::Result<()> {
    // SAFETY: `value` is valid for `size_of::<T>()` bytes.
    cvt(unsafe {
        real::setsockopt(
            fd,
            level,
            name,
            (&raw const value).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// `getsockopt` of a plain-data value (`T` must be valid for any bytes).
pub(crate) fn getsockopt<T: Copy + Default>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<T> {
    let mut value = T::default();
    let mut len = mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` is writable for `len` bytes; the option types used
    // here (c_int, linger) accept any bit pattern.
    cvt(unsafe { real::getsockopt(fd, level, name, (&raw mut value).cast(), &mut len) })?;
    Ok(value)
}

/// Reads SO_RCVTIMEO or SO_SNDTIMEO; `None` when unset (zero).
pub(crate) fn timeout(fd: RawFd, name: libc::c_int) -> io::Result<Option<Duration>> {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = mem::size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: `tv` is writable for `len` bytes.
    cvt(unsafe { real::getsockopt(fd, libc::SOL_SOCKET, name, (&raw mut tv).cast(), &mut len) })?;
    Ok(timeval_to_duration(&tv))
}

/// A socket timeout as a Duration; zero means none.
pub(crate) fn timeval_to_duration(tv: &libc::timeval) -> Option<Duration> {
    if tv.tv_sec <= 0 && tv.tv_usec <= 0 {
        return None;
    }
    Some(
        Duration::new(tv.tv_sec.max(0) as u64, 0) + Duration::from_micros(tv.tv_usec.max(0) as u64),
    )
}

/// Sets SO_RCVTIMEO or SO_SNDTIMEO like std: `None` clears it, a zero
/// duration is `InvalidInput`, a sub-microsecond one rounds up to 1 µs.
pub(crate) fn set_timeout(fd: RawFd, name: libc::c_int, dur: Option<Duration>) -> io::Result<()> {
    let tv = match dur {
        Some(d) if d.is_zero() => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        Some(d) => {
            let secs = d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t;
            let mut tv = libc::timeval {
                tv_sec: secs,
                tv_usec: d.subsec_micros() as libc::suseconds_t,
            };
            if tv.tv_sec == 0 && tv.tv_usec == 0 {
                tv.tv_usec = 1;
            }
            tv
        }
        None => libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
    };
    setsockopt(fd, libc::SOL_SOCKET, name, tv)
}
