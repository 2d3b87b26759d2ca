//! Hooks of `poll(2)`, `select(2)` and `__poll_chk`.
//!
//! Inside a coroutine with hooks enabled, a zero-timeout real call checks
//! readiness first; if nothing is ready the coroutine parks on all the fds
//! at once (`corio_sched::wait_fds`) until one may be ready, the timeout,
//! the deadline scope (both: return 0) or a cancel (EINTR), then checks
//! again. Any fd epoll can watch works, not only corio's sockets: waiting
//! changes nothing about the fd. Elsewhere these are the real calls.

use std::io as stdio;
use std::time::{Duration, Instant};

use corio_sched::Interest;
use libc::{c_int, fd_set, nfds_t, pollfd, timeval};

use crate::sys::{self, real};

/// The readiness a pollfd's `events` asks for (errors wake readers).
fn interest(events: i16) -> Interest {
    let read = events & (libc::POLLIN | libc::POLLPRI | libc::POLLRDNORM | libc::POLLRDHUP) != 0;
    let write = events & (libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND) != 0;
    match (read, write) {
        (true, true) => Interest::READABLE | Interest::WRITABLE,
        (false, true) => Interest::WRITABLE,
        _ => Interest::READABLE,
    }
}

/// What a failed park means for poll/select.
enum Parked {
    /// Woken (perhaps spuriously) or an fd was closed: check again.
    Recheck,
    /// The timeout or deadline scope passed.
    TimedOut,
    /// Cancelled or another error: fail with this errno.
    Fail(c_int),
}

fn parked(r: stdio::Result<()>) -> Parked {
    match r {
        Ok(()) => Parked::Recheck,
        Err(e) if e.raw_os_error() == Some(libc::EBADF) => Parked::Recheck,
        Err(e) if e.kind() == stdio::ErrorKind::TimedOut => Parked::TimedOut,
        Err(e) => Parked::Fail(super::errno_of(&e, libc::EINTR)),
    }
}

/// Hook of `poll(2)`.
///
/// # Safety
/// The contract of `poll(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    if timeout == 0 || !crate::hooks::enabled() {
        // SAFETY: the caller's contract.
        return unsafe { real::poll(fds, nfds, timeout) };
    }
    let saved = sys::errno();
    let deadline = if timeout > 0 {
        Instant::now().checked_add(Duration::from_millis(timeout as u64))
    } else {
        None
    };
    loop {
        // SAFETY: the caller's contract.
        let n = unsafe { real::poll(fds, nfds, 0) };
        if n != 0 {
            return n;
        }
        // Borrowed only until the park ends, while nothing writes to it.
        let list: &[pollfd] = if nfds == 0 || fds.is_null() {
            &[]
        } else {
            // SAFETY: the caller passes `nfds` valid pollfds.
            unsafe { std::slice::from_raw_parts(fds, nfds as usize) }
        };
        let watch = list
            .iter()
            .filter(|p| p.fd >= 0)
            .map(|p| (p.fd, interest(p.events)));
        match parked(corio_sched::park::no_unwind(|| {
            corio_sched::wait_fds(watch, deadline)
        })) {
            Parked::Recheck => {}
            Parked::TimedOut => {
                sys::set_errno(saved);
                return 0;
            }
            Parked::Fail(code) => {
                sys::set_errno(code);
                return -1;
            }
        }
    }
}

/// Fortified `poll`.
///
/// # Safety
/// The contract of `poll(2)`, with `fdslen` the real size in bytes of `fds`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __poll_chk(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: c_int,
    fdslen: libc::size_t,
) -> c_int {
    if fdslen / std::mem::size_of::<pollfd>() < nfds as usize {
        super::io::chk_fail();
    }
    // SAFETY: the caller's contract; the size check passed.
    unsafe { poll(fds, nfds, timeout) }
}

/// Whether `fd` is in the set (null sets are empty).
///
/// # Safety
/// `set` is null or a valid fd_set; `0 <= fd < FD_SETSIZE`.
unsafe fn in_set(set: *const fd_set, fd: c_int) -> bool {
    // SAFETY: the caller's contract.
    !set.is_null() && unsafe { libc::FD_ISSET(fd, set) }
}

/// Hook of `select(2)`.
///
/// # Safety
/// The contract of `select(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn select(
    nfds: c_int,
    readfds: *mut fd_set,
    writefds: *mut fd_set,
    exceptfds: *mut fd_set,
    timeout: *mut timeval,
) -> c_int {
    // SAFETY: a non-null timeout is a valid timeval.
    let limit = (!timeout.is_null()).then(|| unsafe { *timeout });
    let zero_or_bad = limit
        .is_some_and(|tv| (tv.tv_sec == 0 && tv.tv_usec == 0) || tv.tv_sec < 0 || tv.tv_usec < 0);
    if zero_or_bad || !(0..=libc::FD_SETSIZE as c_int).contains(&nfds) || !crate::hooks::enabled() {
        // SAFETY: the caller's contract.
        return unsafe { real::select(nfds, readfds, writefds, exceptfds, timeout) };
    }
    let saved = sys::errno();
    let deadline = limit.and_then(|tv| {
        let dur = Duration::new(tv.tv_sec as u64, 0) + Duration::from_micros(tv.tv_usec as u64);
        Instant::now().checked_add(dur)
    });
    // SAFETY: non-null sets are valid fd_sets the caller lets us read.
    let (inr, inw, ine) = unsafe {
        (
            (!readfds.is_null()).then(|| *readfds),
            (!writefds.is_null()).then(|| *writefds),
            (!exceptfds.is_null()).then(|| *exceptfds),
        )
    };
    let ptr = |s: &mut Option<fd_set>| s.as_mut().map_or(std::ptr::null_mut(), |s| s as *mut _);
    loop {
        let (mut r, mut w, mut e) = (inr, inw, ine);
        let mut zero = timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        // SAFETY: copies of the caller's sets and a zero timeout.
        let n = unsafe { real::select(nfds, ptr(&mut r), ptr(&mut w), ptr(&mut e), &mut zero) };
        if n != 0 {
            if n > 0 {
                // SAFETY: the caller's sets are writable.
                unsafe {
                    if let Some(r) = r {
                        *readfds = r;
                    }
                    if let Some(w) = w {
                        *writefds = w;
                    }
                    if let Some(e) = e {
                        *exceptfds = e;
                    }
                    if let Some(d) = deadline {
                        let left = d.saturating_duration_since(Instant::now());
                        *timeout = timeval {
                            tv_sec: left.as_secs() as libc::time_t,
                            tv_usec: left.subsec_micros() as libc::suseconds_t,
                        };
                    }
                }
            }
            return n;
        }
        let (pr, pw, pe) = (
            inr.as_ref()
                .map_or(std::ptr::null(), |s| s as *const fd_set),
            inw.as_ref()
                .map_or(std::ptr::null(), |s| s as *const fd_set),
            ine.as_ref()
                .map_or(std::ptr::null(), |s| s as *const fd_set),
        );
        let watch = (0..nfds).filter_map(|fd| {
            // SAFETY: the sets are valid copies and `fd < nfds <= FD_SETSIZE`.
            let (rd, wr, ex) = unsafe { (in_set(pr, fd), in_set(pw, fd), in_set(pe, fd)) };
            match (rd || ex, wr) {
                (true, true) => Some((fd, Interest::READABLE | Interest::WRITABLE)),
                (true, false) => Some((fd, Interest::READABLE)),
                (false, true) => Some((fd, Interest::WRITABLE)),
                (false, false) => None,
            }
        });
        match parked(corio_sched::park::no_unwind(|| {
            corio_sched::wait_fds(watch, deadline)
        })) {
            Parked::Recheck => {}
            Parked::TimedOut => {
                // SAFETY: the caller's sets and timeout are writable.
                unsafe {
                    for set in [readfds, writefds, exceptfds] {
                        if !set.is_null() {
                            libc::FD_ZERO(set);
                        }
                    }
                    if !timeout.is_null() {
                        *timeout = timeval {
                            tv_sec: 0,
                            tv_usec: 0,
                        };
                    }
                }
                sys::set_errno(saved);
                return 0;
            }
            Parked::Fail(code) => {
                sys::set_errno(code);
                return -1;
            }
        }
    }
}
