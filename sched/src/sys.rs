//! Platform code of corio-sched: epoll, eventfd and poll(2), as thin safe
//! wrappers.
//!
//! Interface the rest of the crate relies on:
//! - [`Epoll`]: `new`, `add` (edge-triggered read+write+rdhup), `rearm`
//!   (the same, for an fd already added), `delete`, `wait` into a reusable
//!   event buffer.
//! - [`EventFd`]: a non-blocking eventfd used to wake a sleeping scheduler
//!   from another thread.
//! - [`poll_fd`], [`poll_fds`]: blocking poll(2) of one or several fds, for
//!   callers outside coroutines.
//! - [`cvt`]: turns a `-1` return into `io::Error::last_os_error()`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Converts a libc return value: `-1` becomes the thread's errno.
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Readiness bits delivered by [`Epoll::wait`].
pub(crate) const EV_READ: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI) as u32;
pub(crate) const EV_WRITE: u32 = libc::EPOLLOUT as u32;
pub(crate) const EV_ERROR: u32 = (libc::EPOLLERR | libc::EPOLLHUP) as u32;

/// One epoll instance, owned by one scheduler.
pub(crate) struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    pub(crate) fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 has no memory preconditions.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll { fd })
    }

    /// Registers `fd` edge-triggered for read, write and peer hang-up, with
    /// `token` as the event data.
    pub(crate) fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        match self.ctl(libc::EPOLL_CTL_ADD, fd, token) {
            // Registered under an older token (the fd number was reused
            // while a duplicate kept the old file open): re-arm it.
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => self.rearm(fd, token),
            other => other,
        }
    }

    /// Re-arms the registration of the file `fd` names now with the same
    /// interest as [`Epoll::add`] and a new `token`. ENOENT when this epoll
    /// has no registration of that file (the number was closed and now
    /// names another file), EBADF when the number names no file.
    pub(crate) fn rearm(&self, fd: RawFd, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: token,
        };
        // SAFETY: `ev` is a valid event struct for the duration of the call.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev) }).map(drop)
    }

    /// Removes `fd`; errors (already closed, never added) are ignored.
    pub(crate) fn delete(&self, fd: RawFd) {
        // SAFETY: a null event pointer is allowed for EPOLL_CTL_DEL.
        unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        };
    }

    /// Waits for events; `timeout_ms` < 0 waits forever. EINTR yields an
    /// empty batch.
    pub(crate) fn wait(
        &self,
        events: &mut Vec<libc::epoll_event>,
        timeout_ms: i32,
    ) -> io::Result<()> {
        events.clear();
        // SAFETY: the buffer has `capacity()` writable slots; the kernel
        // writes at most that many and we set the length to what it wrote.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                events.as_mut_ptr(),
                events.capacity() as libc::c_int,
                timeout_ms,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return if err.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(err)
            };
        }
        // SAFETY: the kernel initialised the first `n` entries.
        unsafe { events.set_len(n as usize) };
        Ok(())
    }
}

impl AsRawFd for Epoll {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A non-blocking eventfd.
pub(crate) struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub(crate) fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd has no memory preconditions.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: `fd` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(EventFd { fd })
    }

    /// Adds one to the counter, waking an epoll that watches it.
    pub(crate) fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: writing 8 bytes from a live u64. A full counter (EAGAIN)
        // already means "readable", so errors are ignored.
        unsafe { libc::write(self.fd.as_raw_fd(), (&raw const one).cast(), 8) };
    }

    /// Resets the counter.
    pub(crate) fn drain(&self) {
        let mut buf: u64 = 0;
        // SAFETY: reading 8 bytes into a live u64; EAGAIN when already zero.
        unsafe { libc::read(self.fd.as_raw_fd(), (&raw mut buf).cast(), 8) };
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Blocks the thread in poll(2) until `fd` has one of `events` or the
/// timeout (ms, < 0 = forever) passes; returns whether it became ready.
/// EINTR is retried with the same timeout.
pub(crate) fn poll_fd(fd: RawFd, events: libc::c_short, timeout_ms: i32) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if n >= 0 {
            if pfd.revents & libc::POLLNVAL != 0 {
                return Err(io::Error::from_raw_os_error(libc::EBADF));
            }
            return Ok(n > 0);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Blocks the thread in poll(2) on several fds until one is ready or the
/// timeout (ms, < 0 = forever) passes; returns whether one became ready.
/// EINTR is retried with the same timeout.
pub(crate) fn poll_fds(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<bool> {
    loop {
        // SAFETY: `fds` is a valid, writable array of `fds.len()` pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if n >= 0 {
            return Ok(n > 0);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Number of threads of this process, from /proc/self/stat (field 20).
pub(crate) fn process_threads() -> Option<usize> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may contain spaces; skip past its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(17)?.parse().ok()
}
