//! Waiting for fd readiness: the primitive every socket operation is built
//! on.

use std::io;
use std::os::fd::RawFd;
use std::time::Instant;

use crate::reactor::{READY_READ, READY_WRITE};
use crate::scheduler::Scheduler;
use crate::sys;
use crate::task::WaitKind;

/// Readiness a coroutine waits for; combine with `|`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interest(u8);

impl Interest {
    /// The fd has data to read (or EOF, or an error).
    pub const READABLE: Interest = Interest(1);
    /// The fd can accept writes (or has an error).
    pub const WRITABLE: Interest = Interest(2);

    /// Whether readability is part of this interest.
    pub fn is_readable(self) -> bool {
        self.0 & 1 != 0
    }

    /// Whether writability is part of this interest.
    pub fn is_writable(self) -> bool {
        self.0 & 2 != 0
    }
}

impl std::ops::BitOr for Interest {
    type Output = Interest;
    fn bitor(self, rhs: Interest) -> Interest {
        Interest(self.0 | rhs.0)
    }
}

/// Parks the calling coroutine until `fd` is ready for `interest`, the
/// deadline passes, or the coroutine is cancelled.
///
/// Readiness is edge-triggered: call it after an operation on a
/// non-blocking fd returned `WouldBlock`, then retry the operation. The fd is
/// registered with the scheduler's epoll at its first wait and stays so until
/// [`deregister_fd`] (the net layer's `close` hook calls it). Files epoll
/// cannot watch (regular files) are reported ready at once.
///
/// Outside a coroutine it blocks the thread in `poll(2)`.
///
/// # Errors
/// `TimedOut` at the deadline (or the enclosing scope's), `Interrupted` when
/// cancelled, `EBADF` when the fd is closed meanwhile, on any thread, through
/// [`start_close`](crate::start_close) (or is negative), other errors from
/// `epoll_ctl`.
// An inline hint: the net layer's (cold) wait takes it in (two copies, one
// under `no_unwind` for the hooks), so a coroutine parked in `read` has one
// frame from there to the switch instead of three.
#[inline]
pub fn wait_fd(fd: RawFd, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    let (read, write) = (interest.is_readable(), interest.is_writable());
    Scheduler::with(|s| match s {
        Some(s) if s.current().is_some() => s
            .park(deadline, WaitKind::Io { fd, read, write }, |task, seq| {
                s.watch_fd(fd, read, write, task, seq)
            })
            .map_err(io::Error::from),
        _ => wait_fd_blocking(fd, read, write, deadline),
    })
}

/// Parks the calling coroutine until any of `fds` is ready for its
/// interest, the deadline passes, or the coroutine is cancelled: the
/// multi-fd form of [`wait_fd`], for `poll(2)`/`select(2)` emulation.
///
/// One park covers every fd (each is registered like in [`wait_fd`]); the
/// caller learns which fd is ready by re-checking, e.g. with a zero-timeout
/// `poll(2)`. A wake may be spurious. An fd epoll cannot watch (a regular
/// file) counts as ready at once. An empty set just sleeps until the
/// deadline (or forever, until cancelled).
///
/// Outside a coroutine it blocks the thread in `poll(2)`.
///
/// # Errors
/// As [`wait_fd`]: `TimedOut`, `Interrupted`, `EBADF` when one of the fds is
/// closed meanwhile (or is negative), other errors from `epoll_ctl`.
pub fn wait_fds(
    fds: impl IntoIterator<Item = (RawFd, Interest)> + Clone,
    deadline: Option<Instant>,
) -> io::Result<()> {
    if fds.clone().into_iter().any(|(fd, _)| fd < 0) {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    let in_coroutine = Scheduler::with(|s| s.is_some_and(|s| s.current().is_some()));
    if !in_coroutine {
        return wait_fds_blocking(fds, deadline);
    }
    let first = fds.clone().into_iter().next();
    let kind = match first {
        Some((fd, i)) => WaitKind::Io {
            fd,
            read: i.is_readable(),
            write: i.is_writable(),
        },
        None => WaitKind::Sleep,
    };
    Scheduler::with(|s| {
        let s = s.expect("checked above");
        s.park(deadline, kind, |task, seq| {
            for (fd, i) in fds {
                if !s.watch_fd(fd, i.is_readable(), i.is_writable(), task, seq)? {
                    return Ok(false);
                }
            }
            Ok(true)
        })
        .map_err(io::Error::from)
    })
}

fn wait_fds_blocking(
    fds: impl IntoIterator<Item = (RawFd, Interest)>,
    deadline: Option<Instant>,
) -> io::Result<()> {
    let mut pfds: Vec<libc::pollfd> = fds
        .into_iter()
        .map(|(fd, i)| libc::pollfd {
            fd,
            events: if i.is_readable() { libc::POLLIN } else { 0 }
                | if i.is_writable() { libc::POLLOUT } else { 0 },
            revents: 0,
        })
        .collect();
    let timeout = match deadline {
        Some(d) => crate::scheduler::ms_until_ceil(d, Instant::now()),
        None => -1,
    };
    if sys::poll_fds(&mut pfds, timeout)? {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "operation timed out",
        ))
    }
}

fn wait_fd_blocking(
    fd: RawFd,
    read: bool,
    write: bool,
    deadline: Option<Instant>,
) -> io::Result<()> {
    let mut events = 0;
    if read {
        events |= libc::POLLIN;
    }
    if write {
        events |= libc::POLLOUT;
    }
    let timeout = match deadline {
        Some(d) => crate::scheduler::ms_until_ceil(d, Instant::now()),
        None => -1,
    };
    if sys::poll_fd(fd, events, timeout)? {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "operation timed out",
        ))
    }
}

fn ready_bits(interest: Interest) -> u8 {
    let mut bits = 0;
    if interest.is_readable() {
        bits |= READY_READ;
    }
    if interest.is_writable() {
        bits |= READY_WRITE;
    }
    bits
}

/// Whether an operation on `fd` for `interest` may succeed without waiting
/// first: `false` only when this thread's scheduler knows the fd is not
/// ready (it was reported not ready with [`clear_fd_ready`] and no event
/// has arrived since). Unknown fds, and callers outside a scheduler, get
/// `true`.
///
/// With it an I/O layer skips syscalls that would only return EAGAIN: after
/// a short read of a stream socket, the next read can park at once.
#[inline]
pub fn fd_ready(fd: RawFd, interest: Interest) -> bool {
    Scheduler::with(|s| match s {
        Some(s) => match s.reactor.borrow().readiness(fd) {
            Some(bits) => bits & ready_bits(interest) != 0,
            None => true,
        },
        None => true,
    })
}

/// Records that `fd` is not ready for `interest`: an operation returned
/// EAGAIN, or a stream read/write transferred less than asked (the kernel
/// buffer was drained/filled at that moment). The next event for the fd
/// marks it ready again. No-op outside a scheduler or for unregistered fds.
#[inline]
pub fn clear_fd_ready(fd: RawFd, interest: Interest) {
    Scheduler::with(|s| {
        if let Some(s) = s {
            s.reactor.borrow_mut().clear_ready(fd, ready_bits(interest));
        }
    });
}

/// Tells this thread's scheduler that `fd` is about to be closed: it is
/// removed from epoll, and coroutines waiting on it wake with `EBADF`. Call
/// it before closing an fd you waited on with [`wait_fd`] (corio's sockets
/// and the `close` hook do this for you).
///
/// Call it on whichever thread closes the fd, also outside any scheduler:
/// other schedulers that registered the fd then notice at their next wait
/// on that number that their registration is stale, and register afresh.
/// Coroutines of *other* schedulers already parked on the fd stay parked;
/// [`start_close`](crate::start_close) wakes them too.
pub fn deregister_fd(fd: RawFd) {
    // Dropping the token is the documented "do not wake other threads".
    drop(crate::closing::start_close(fd));
}
