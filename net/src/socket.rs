//! `Socket`: an owned socket fd with every blocking operation the public
//! types share, each one attempt of a real syscall run through the
//! readiness loop ([`crate::readiness`]).
//!
//! Inside a coroutine the operations park (whatever the hooks switch
//! says); outside they block the thread like std's sockets.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::fdtable::{self, RCVTIMEO, SNDTIMEO, SOCKET, SYS_NONBLOCK, TRACKED, USER_NONBLOCK};
use crate::readiness::{self, Dir, Op};
use crate::sys::{self, SockAddr, socket as raw};

/// An owned socket; closing it (drop) wakes waiters with EBADF first.
#[derive(Debug)]
pub(crate) struct Socket {
    /// The open socket fd, tracked in the fd table, owned by this value.
    fd: RawFd,
}

fn coop() -> bool {
    corio_sched::park::in_coroutine()
}

impl Socket {
    /// A new close-on-exec socket.
    pub(crate) fn new(domain: libc::c_int, ty: libc::c_int) -> io::Result<Socket> {
        let fd = raw::socket(domain, ty)?;
        fdtable::track(fd, SOCKET);
        Ok(Socket { fd })
    }

    /// A connected pair of close-on-exec sockets.
    pub(crate) fn pair(domain: libc::c_int, ty: libc::c_int) -> io::Result<(Socket, Socket)> {
        let (a, b) = raw::socketpair(domain, ty)?;
        fdtable::track(a, SOCKET);
        fdtable::track(b, SOCKET);
        Ok((Socket { fd: a }, Socket { fd: b }))
    }

    /// Takes ownership of an open socket fd, tracking it if corio has not
    /// seen it created (then a set O_NONBLOCK counts as the user's choice).
    pub(crate) fn from_fd(fd: RawFd) -> Socket {
        if fdtable::get(fd) & TRACKED == 0 {
            let nonblock = sys::get_fl(fd).is_ok_and(|fl| fl & libc::O_NONBLOCK != 0);
            fdtable::track(fd, SOCKET | if nonblock { USER_NONBLOCK } else { 0 });
        } else {
            fdtable::set_bits(fd, SOCKET);
        }
        Socket { fd }
    }

    /// Gives up ownership without closing.
    pub(crate) fn into_fd(self) -> RawFd {
        let fd = self.fd;
        std::mem::forget(self);
        fd
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.fd
    }

    #[inline]
    fn op(&self, dir: Dir) -> Op {
        Op::new(self.fd, dir, coop())
    }

    pub(crate) fn bind(&self, addr: &SockAddr) -> io::Result<()> {
        raw::bind(self.fd, addr)
    }

    pub(crate) fn listen(&self) -> io::Result<()> {
        // -1: the kernel's maximum (net.core.somaxconn), as std does on Linux.
        raw::listen(self.fd, -1)
    }

    /// A blocking connect; with `timeout`, `TimedOut` when it passes (also
    /// outside coroutines, like std's `connect_timeout`).
    pub(crate) fn connect(&self, addr: &SockAddr, timeout: Option<Duration>) -> io::Result<()> {
        let mut op = self.op(Dir::Write);
        if let Some(t) = timeout {
            if t.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "cannot set a 0 duration timeout",
                ));
            }
            op.force_nonblocking();
            if let Some(d) = Instant::now().checked_add(t) {
                op.set_deadline(d);
            }
        }
        match readiness::connect(&mut op, || raw::connect(self.fd, addr)) {
            Err(e) if timeout.is_some() && readiness::is_would_block(&e) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection timed out",
            )),
            r => r,
        }
    }

    pub(crate) fn accept(&self) -> io::Result<(Socket, SockAddr)> {
        let (fd, addr) = self.op(Dir::Read).run(|| raw::accept(self.fd))?;
        fdtable::track(fd, SOCKET);
        Ok((Socket { fd }, addr))
    }

    pub(crate) fn recv(&self, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
        let mut op = self.op(Dir::Read);
        if flags & libc::MSG_PEEK != 0 {
            // A short peek leaves the data queued: no readiness hint.
            return op.run(|| raw::recv(self.fd, buf, flags));
        }
        let len = buf.len();
        op.run_len(len, || raw::recv(self.fd, buf, flags))
    }

    pub(crate) fn recv_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.op(Dir::Read).run(|| raw::readv(self.fd, bufs))
    }

    pub(crate) fn recv_from(
        &self,
        buf: &mut [u8],
        flags: libc::c_int,
    ) -> io::Result<(usize, SockAddr)> {
        self.op(Dir::Read)
            .run(|| raw::recv_from(self.fd, buf, flags))
    }

    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.op(Dir::Write)
            .run_len(buf.len(), || raw::send(self.fd, buf, 0))
    }

    pub(crate) fn send_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.op(Dir::Write)
            .run(|| raw::send_vectored(self.fd, bufs))
    }

    pub(crate) fn send_to(&self, buf: &[u8], addr: &SockAddr) -> io::Result<usize> {
        self.op(Dir::Write).run(|| raw::send_to(self.fd, buf, addr))
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let how = match how {
            Shutdown::Read => libc::SHUT_RD,
            Shutdown::Write => libc::SHUT_WR,
            Shutdown::Both => libc::SHUT_RDWR,
        };
        raw::shutdown(self.fd, how)
    }

    /// A duplicate sharing the same socket (and corio's view of it).
    pub(crate) fn try_clone(&self) -> io::Result<Socket> {
        let fd = sys::dup_cloexec(self.fd)?;
        fdtable::copy(self.fd, fd);
        Ok(Socket { fd })
    }

    pub(crate) fn set_timeout(&self, dur: Option<Duration>, dir: Dir) -> io::Result<()> {
        let (name, bit) = match dir {
            Dir::Read => (libc::SO_RCVTIMEO, RCVTIMEO),
            Dir::Write => (libc::SO_SNDTIMEO, SNDTIMEO),
        };
        raw::set_timeout(self.fd, name, dur)?;
        if dur.is_some() {
            fdtable::set_bits(self.fd, bit);
        } else {
            fdtable::clear_bits(self.fd, bit);
        }
        Ok(())
    }

    pub(crate) fn timeout(&self, dir: Dir) -> io::Result<Option<Duration>> {
        let name = match dir {
            Dir::Read => libc::SO_RCVTIMEO,
            Dir::Write => libc::SO_SNDTIMEO,
        };
        raw::timeout(self.fd, name)
    }

    /// Records the user's choice; the kernel flag follows it unless corio
    /// needs the fd non-blocking for its coroutines.
    pub(crate) fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        let flags = fdtable::get(self.fd);
        let fl = sys::get_fl(self.fd)?;
        if on {
            sys::set_fl(self.fd, fl | libc::O_NONBLOCK)?;
            fdtable::set_bits(self.fd, USER_NONBLOCK);
        } else {
            if flags & SYS_NONBLOCK == 0 {
                sys::set_fl(self.fd, fl & !libc::O_NONBLOCK)?;
            }
            fdtable::clear_bits(self.fd, USER_NONBLOCK);
        }
        Ok(())
    }

    pub(crate) fn set_int_opt(
        &self,
        level: libc::c_int,
        name: libc::c_int,
        value: libc::c_int,
    ) -> io::Result<()> {
        raw::setsockopt(self.fd, level, name, value)
    }

    pub(crate) fn int_opt(&self, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
        raw::getsockopt(self.fd, level, name)
    }

    /// SO_ERROR, cleared by reading, like std's `take_error`.
    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        let err = self.int_opt(libc::SOL_SOCKET, libc::SO_ERROR)?;
        Ok((err != 0).then(|| io::Error::from_raw_os_error(err)))
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        raw::local_addr(self.fd)?.to_std()
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        raw::peer_addr(self.fd)?.to_std()
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let _ = readiness::close_with(self.fd, || sys::close(self.fd));
    }
}

/// A new socket of the right family for `addr`.
pub(crate) fn for_addr(addr: &SocketAddr, ty: libc::c_int) -> io::Result<Socket> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    Socket::new(domain, ty)
}

/// Implements the fd traits and the std conversions for a socket type
/// `$ty(Socket)` whose std counterpart is `$std`.
macro_rules! fd_traits {
    ($ty:ident, $std:ty) => {
        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.0.fd()
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                crate::sys::borrow_fd(self.0.fd(), self)
            }
        }

        impl std::os::fd::IntoRawFd for $ty {
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                self.0.into_fd()
            }
        }

        impl std::os::fd::FromRawFd for $ty {
            /// Takes ownership of an open socket fd of the right kind.
            unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> $ty {
                $ty(crate::socket::Socket::from_fd(fd))
            }
        }

        impl From<std::os::fd::OwnedFd> for $ty {
            fn from(fd: std::os::fd::OwnedFd) -> $ty {
                $ty(crate::socket::Socket::from_fd(
                    std::os::fd::IntoRawFd::into_raw_fd(fd),
                ))
            }
        }

        impl From<$ty> for std::os::fd::OwnedFd {
            fn from(s: $ty) -> std::os::fd::OwnedFd {
                crate::sys::into_std(s.0.into_fd())
            }
        }

        impl From<$std> for $ty {
            /// Wraps a std socket; it keeps its blocking mode and timeouts.
            fn from(s: $std) -> $ty {
                $ty(crate::socket::Socket::from_fd(
                    std::os::fd::IntoRawFd::into_raw_fd(s),
                ))
            }
        }

        impl From<$ty> for $std {
            /// Unwraps into the std type. If corio made the fd non-blocking
            /// for its coroutines, the hooks keep std's blocking behaviour.
            fn from(s: $ty) -> $std {
                crate::sys::into_std(s.0.into_fd())
            }
        }
    };
}
pub(crate) use fd_traits;
