//! The raw Linux calls of the echo benchmarks, each behind a small safe
//! function: [`cvt`] turns -1 into `io::Error`, [`Epoll`] owns an epoll fd,
//! [`listen`] makes a listener with a deep backlog (and `SO_REUSEPORT` on
//! request), [`set_nodelay`] and [`raise_nofile_limit`] do what they say,
//! and [`process_cpu_ns`] reads another process's CPU-time clock.
//! Everything above this module reads as plain Rust.

use std::io;
use std::mem::size_of;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Turns a libc return value of -1 into the thread's `errno` as an error.
pub fn cvt<T: PartialEq + From<i8>>(ret: T) -> io::Result<T> {
    if ret == T::from(-1) {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// An epoll instance; closed on drop.
pub struct Epoll {
    /// The epoll fd, owned.
    fd: OwnedFd,
}

impl Epoll {
    /// A new epoll instance (close-on-exec).
    pub fn new() -> io::Result<Self> {
        // SAFETY: epoll_create1 has no memory preconditions.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(Epoll {
            // SAFETY: fd was just returned by the kernel and is owned by nobody else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Registers `fd` for `events` (`libc::EPOLLIN | ...`) with `token`.
    pub fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, token)
    }

    /// Changes the events and token of a registered `fd`.
    pub fn modify(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, events, token)
    }

    /// Removes `fd` (closing the fd removes it too).
    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    fn ctl(&self, op: i32, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: ev is a valid epoll_event for the duration of the call.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev) })?;
        Ok(())
    }

    /// Waits up to `timeout_ms` (-1: forever) and fills the front of
    /// `events`; returns how many. EINTR returns 0 events.
    pub fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> io::Result<usize> {
        let max = events.len().min(i32::MAX as usize) as i32;
        // SAFETY: events is a writable buffer of `max` epoll_event entries.
        let n =
            unsafe { libc::epoll_wait(self.fd.as_raw_fd(), events.as_mut_ptr(), max, timeout_ms) };
        match cvt(n) {
            Ok(n) => Ok(n as usize),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }
}

/// An empty event, to size the buffers of [`Epoll::wait`].
pub const EMPTY_EVENT: libc::epoll_event = libc::epoll_event { events: 0, u64: 0 };

/// Sets `TCP_NODELAY` on a socket.
pub fn set_nodelay(fd: RawFd) -> io::Result<()> {
    setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)
}

fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: the option value is a live c_int of the size passed.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// A listening TCP socket on `addr`: `SO_REUSEADDR`, `SO_REUSEPORT` when
/// `reuse_port` (several listeners on one port, the kernel spreads
/// connections), backlog 4096 (the kernel caps it at `somaxconn`), and
/// non-blocking when `nonblocking`.
pub fn listen(addr: SocketAddr, reuse_port: bool, nonblocking: bool) -> io::Result<TcpListener> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let mut ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    if nonblocking {
        ty |= libc::SOCK_NONBLOCK;
    }
    // SAFETY: socket has no memory preconditions.
    let fd = cvt(unsafe { libc::socket(domain, ty, 0) })?;
    // SAFETY: fd is a fresh socket owned by nobody else; the listener closes it.
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if reuse_port {
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    let (storage, len) = sockaddr(addr);
    // SAFETY: storage holds a sockaddr of `len` bytes.
    cvt(unsafe { libc::bind(fd, (&storage as *const libc::sockaddr_storage).cast(), len) })?;
    // SAFETY: listen has no memory preconditions.
    cvt(unsafe { libc::listen(fd, 4096) })?;
    Ok(listener)
}

/// `addr` as a C socket address and its length.
fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all zeroes is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns it.
/// Children started afterwards inherit the raised limit.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid rlimit to fill.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: lim is a valid rlimit; raising soft to hard needs no privilege.
        cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) })?;
    }
    Ok(lim.rlim_cur)
}

/// Linux's largest pid (`PID_MAX_LIMIT` on 64-bit kernels).
const PID_MAX_LIMIT: u32 = 4 * 1024 * 1024;

/// CPU time of process `pid` (all its threads, live and exited), in
/// nanoseconds, from its CPU-time clock (`clock_getcpuclockid` and
/// `clock_gettime`): the scheduler's own count, exact to the nanosecond,
/// where `/proc/<pid>/stat` rounds to whole clock ticks (10 ms).
pub fn process_cpu_ns(pid: u32) -> io::Result<u64> {
    // glibc packs the pid into the clock id, so 0 (the caller itself) and
    // values past Linux's largest pid would silently name another clock.
    if pid == 0 || pid > PID_MAX_LIMIT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("pid {pid} out of range 1..={PID_MAX_LIMIT}"),
        ));
    }
    let pid = pid as libc::pid_t;
    let mut clock: libc::clockid_t = 0;
    // SAFETY: clock is a valid clockid_t to fill.
    let ret = unsafe { libc::clock_getcpuclockid(pid, &mut clock) };
    if ret != 0 {
        // It returns the error number instead of setting errno.
        return Err(io::Error::from_raw_os_error(ret));
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to fill.
    cvt(unsafe { libc::clock_gettime(clock, &mut ts) }).map_err(|e| {
        // A process that exited between the two calls: EINVAL here, where
        // the first call says ESRCH.
        if e.raw_os_error() == Some(libc::EINVAL) {
            io::Error::from_raw_os_error(libc::ESRCH)
        } else {
            e
        }
    })?;
    Ok(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}
