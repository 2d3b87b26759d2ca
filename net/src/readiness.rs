//! The one readiness retry loop every blocking socket operation goes
//! through, for corio's types and for the hooks alike.
//!
//! An operation is one attempt of a syscall on a (possibly) non-blocking
//! fd. [`Op::run`] picks how to block:
//!
//! - **cooperative** (inside a coroutine; for hooks, with hooks enabled):
//!   make the fd non-blocking once (lazily, remembered in the fd table),
//!   then try; on `EAGAIN` park in `corio_sched::wait_fd` until ready, the
//!   socket timeout (SO_RCVTIMEO/SO_SNDTIMEO) or the deadline scope; retry.
//! - **emulated** (a plain thread, or hooks off, on an fd corio made
//!   non-blocking behind the user's back): the same loop waiting in the
//!   real `poll(2)`, so nobody outside coroutines sees a surprise `EAGAIN`.
//! - **plain**: one attempt; the kernel blocks (or the user asked for
//!   non-blocking and gets `EAGAIN`).
//!
//! Timeouts end in `WouldBlock` (EAGAIN) like libc and std; the deadline
//! scope ends in `TimedOut`; cancellation in `Interrupted`; a close of the
//! fd meanwhile in `EBADF`.

use std::io;
use std::os::fd::RawFd;
use std::time::Instant;

use corio_sched::Interest;

use crate::fdtable::{
    self, CLOSING, RCVTIMEO, SNDTIMEO, SOCKET, STREAM, SYS_NONBLOCK, TRACKED, USER_NONBLOCK,
};
use crate::sys;

/// Which readiness an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// Readable (recv, accept, ...); SO_RCVTIMEO applies.
    Read,
    /// Writable (send, connect, ...); SO_SNDTIMEO applies.
    Write,
}

/// How an operation blocks; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Park the coroutine in `wait_fd`.
    Coop,
    /// Block the thread in the real poll(2).
    Emulate,
    /// One attempt; the kernel decides.
    Plain,
}

/// One blocking operation on one fd, possibly made of several attempts
/// (a send that completes in pieces shares one timeout).
pub(crate) struct Op {
    fd: RawFd,
    dir: Dir,
    pub(crate) mode: Mode,
    /// The fd-table flags when the operation began.
    flags: u32,
    /// The socket-timeout deadline, computed at the first wait.
    timeout: Option<Option<Instant>>,
    /// Called from a libc hook: parks happen under `extern "C"` frames,
    /// which must not be unwound (`corio_sched::park::no_unwind`).
    in_hook: bool,
}

/// Whether an error is EAGAIN/EWOULDBLOCK.
#[inline]
pub(crate) fn is_would_block(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EAGAIN)
}

/// Sets O_NONBLOCK on `fd` (fd-table `flags`) the first time a coroutine
/// uses it; returns the operation's mode (`mode`, or `Plain` if the fd
/// cannot be made non-blocking by corio) and flags from then on.
#[cold]
fn make_nonblocking(fd: RawFd, mode: Mode, flags: u32) -> (Mode, u32) {
    match sys::get_fl(fd) {
        Ok(fl) if fl & libc::O_NONBLOCK != 0 => {
            // Non-blocking already, set behind our back (raw syscall,
            // inherited): that is the user's choice.
            fdtable::set_bits(fd, USER_NONBLOCK);
            (Mode::Plain, flags)
        }
        Ok(fl) => {
            if sys::set_fl(fd, fl | libc::O_NONBLOCK).is_ok() {
                let stream = flags & SOCKET == 0
                    || sys::socket::getsockopt::<libc::c_int>(fd, libc::SOL_SOCKET, libc::SO_TYPE)
                        .is_ok_and(|ty| ty == libc::SOCK_STREAM);
                let bits = SYS_NONBLOCK | if stream { STREAM } else { 0 };
                fdtable::set_bits(fd, bits);
                (mode, flags | bits)
            } else {
                (Mode::Plain, flags)
            }
        }
        // A bad fd: let the attempt report it.
        Err(_) => (Mode::Plain, flags),
    }
}

impl Op {
    /// Prepares an operation. `coop` says whether the caller may park
    /// (inside a coroutine, and for hooks: hooks enabled).
    ///
    /// An fd that another thread is closing right now is taken for what the
    /// number names once the close is done (nothing: the attempt fails with
    /// EBADF; a new fd: that one): taking it for an untracked fd at once
    /// would call the real, blocking syscall on a socket corio forgot,
    /// which the close does not interrupt.
    #[inline]
    pub(crate) fn new(fd: RawFd, dir: Dir, coop: bool) -> Op {
        Op::build(fd, dir, coop, false)
    }

    /// Prepares an operation of a libc hook: cooperative when hooks are
    /// enabled here, and its parks marked as not unwindable.
    #[inline]
    pub(crate) fn hook(fd: RawFd, dir: Dir) -> Op {
        Op::build(fd, dir, crate::hooks::enabled(), true)
    }

    #[inline(always)]
    fn build(fd: RawFd, dir: Dir, coop: bool, in_hook: bool) -> Op {
        let mut flags = fdtable::get(fd);
        if flags & CLOSING != 0 {
            flags = fdtable::settled(fd);
        }
        let mode = if flags & TRACKED == 0 || flags & USER_NONBLOCK != 0 {
            Mode::Plain
        } else if coop {
            Mode::Coop
        } else if flags & SYS_NONBLOCK != 0 {
            Mode::Emulate
        } else {
            Mode::Plain
        };
        // Built once, as the tail expression: a value made first and then
        // returned was copied field by field (18 instructions per call).
        let (mode, flags) = if mode == Mode::Coop && flags & SYS_NONBLOCK == 0 {
            make_nonblocking(fd, mode, flags)
        } else {
            (mode, flags)
        };
        Op {
            fd,
            dir,
            mode,
            flags,
            timeout: None,
            in_hook,
        }
    }

    /// Whether the caller asked for blocking semantics that corio provides
    /// (so a partial send should go on until done).
    pub(crate) fn blocking(&self) -> bool {
        self.mode != Mode::Plain
    }

    /// The readiness this operation needs.
    #[inline]
    fn interest(&self) -> Interest {
        match self.dir {
            Dir::Read => Interest::READABLE,
            Dir::Write => Interest::WRITABLE,
        }
    }

    /// Runs `attempt` until it does not fail with EAGAIN, waiting for
    /// readiness in between according to the mode.
    ///
    /// Cooperative operations skip an attempt the scheduler already knows
    /// would only return EAGAIN (see `corio_sched::fd_ready`), and report
    /// EAGAIN back to it, so a ping-pong costs no EAGAIN syscall.
    #[inline]
    pub(crate) fn run<T>(&mut self, mut attempt: impl FnMut() -> io::Result<T>) -> io::Result<T> {
        if self.mode == Mode::Coop && !corio_sched::fd_ready(self.fd, self.interest()) {
            self.wait()?;
        }
        loop {
            match attempt() {
                Err(e) if self.mode != Mode::Plain && is_would_block(&e) => {
                    if self.mode == Mode::Coop {
                        corio_sched::clear_fd_ready(self.fd, self.interest());
                    }
                    self.wait()?
                }
                r => return r,
            }
        }
    }

    /// [`Op::run`] for a transfer of up to `len` bytes: on a byte stream, a
    /// short transfer means the kernel buffer is now empty (read) or full
    /// (write), which the scheduler records so the next call parks at once
    /// instead of trying a syscall that would return EAGAIN. (Edge-triggered
    /// epoll reports every later arrival, so nothing is missed.)
    #[inline]
    pub(crate) fn run_len(
        &mut self,
        len: usize,
        attempt: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<usize> {
        let r = self.run(attempt);
        if let Ok(n) = r {
            if n < len && n > 0 && self.mode == Mode::Coop && self.flags & STREAM != 0 {
                corio_sched::clear_fd_ready(self.fd, self.interest());
            }
        }
        r
    }

    /// Waits until the fd is ready for this operation.
    ///
    /// # Errors
    /// EAGAIN (`WouldBlock`) when the socket timeout passes, `TimedOut` at
    /// the deadline scope, `Interrupted` when cancelled, EBADF when closed.
    #[cold]
    pub(crate) fn wait(&mut self) -> io::Result<()> {
        let timeout = match self.timeout {
            Some(t) => t,
            None => {
                let t = self.socket_timeout();
                self.timeout = Some(t);
                t
            }
        };
        let (interest, events) = match self.dir {
            Dir::Read => (Interest::READABLE, libc::POLLIN),
            Dir::Write => (Interest::WRITABLE, libc::POLLOUT),
        };
        match self.mode {
            Mode::Coop => match self.park(interest, timeout) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => match timeout {
                    Some(d) if Instant::now() >= d => {
                        Err(io::Error::from_raw_os_error(libc::EAGAIN))
                    }
                    _ => Err(e),
                },
                Err(e) => Err(e),
            },
            Mode::Emulate => {
                let ms = match timeout {
                    Some(d) => ms_until_ceil(d),
                    None => -1,
                };
                if sys::poll_one(self.fd, events, ms)? {
                    Ok(())
                } else {
                    Err(io::Error::from_raw_os_error(libc::EAGAIN))
                }
            }
            Mode::Plain => Ok(()),
        }
    }

    fn park(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
        if self.in_hook {
            corio_sched::park::no_unwind(|| corio_sched::wait_fd(self.fd, interest, deadline))
        } else {
            corio_sched::wait_fd(self.fd, interest, deadline)
        }
    }

    /// The deadline of SO_RCVTIMEO/SO_SNDTIMEO from now, if one is set.
    fn socket_timeout(&self) -> Option<Instant> {
        if self.flags & SOCKET == 0 {
            return None;
        }
        let (bit, name) = match self.dir {
            Dir::Read => (RCVTIMEO, libc::SO_RCVTIMEO),
            Dir::Write => (SNDTIMEO, libc::SO_SNDTIMEO),
        };
        if self.flags & bit == 0 {
            return None;
        }
        let dur = sys::socket::timeout(self.fd, name).ok()??;
        Instant::now().checked_add(dur)
    }
}

/// Milliseconds until `deadline`, rounded up (never early), capped.
pub(crate) fn ms_until_ceil(deadline: Instant) -> i32 {
    let left = deadline.saturating_duration_since(Instant::now());
    left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
}

impl Op {
    /// Makes the fd non-blocking even outside a coroutine (for
    /// `connect_timeout`), so this operation can wait with a timeout; a
    /// plain thread then waits in the real poll(2). Later plain-thread
    /// calls on the fd keep blocking semantics (emulated mode).
    pub(crate) fn force_nonblocking(&mut self) {
        if self.mode == Mode::Plain && self.flags & TRACKED != 0 && self.flags & USER_NONBLOCK == 0
        {
            self.mode = Mode::Emulate;
            if self.flags & SYS_NONBLOCK == 0 {
                (self.mode, self.flags) = make_nonblocking(self.fd, self.mode, self.flags);
            }
        }
    }

    /// Overrides the socket timeout with an explicit deadline
    /// (`connect_timeout`).
    pub(crate) fn set_deadline(&mut self, deadline: Instant) {
        self.timeout = Some(Some(deadline));
    }
}

/// A blocking connect: one attempt; on EINPROGRESS wait for writability and
/// read SO_ERROR. EAGAIN (a full Unix-socket backlog) waits and retries.
///
/// # Errors
/// The connect error; EAGAIN when the timeout passes (the caller maps it:
/// EINPROGRESS for the hook, `TimedOut` for `connect_timeout`); `TimedOut`,
/// `Interrupted`, EBADF as in [`Op::wait`].
pub(crate) fn connect(op: &mut Op, mut attempt: impl FnMut() -> io::Result<()>) -> io::Result<()> {
    loop {
        match attempt() {
            Ok(()) => return Ok(()),
            Err(e) if op.mode == Mode::Plain => return Err(e),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => break,
            Err(e) if is_would_block(&e) => op.wait()?,
            Err(e) => return Err(e),
        }
    }
    loop {
        op.wait()?;
        // Readiness is edge-triggered and may be stale: confirm.
        if sys::poll_one(op.fd, libc::POLLOUT, 0)? {
            break;
        }
    }
    match sys::socket::getsockopt::<libc::c_int>(op.fd, libc::SOL_SOCKET, libc::SO_ERROR)? {
        0 => Ok(()),
        err => Err(io::Error::from_raw_os_error(err)),
    }
}

/// Closes `fd` by running `close` (the real close, or a call that closes
/// `fd` implicitly, as dup2 does), with corio's bookkeeping around it.
/// Before: resets its table entry (to [`fdtable::CLOSING`] while `close`
/// runs; `close` may track the number anew), wakes this thread's
/// coroutines waiting on `fd` with EBADF and deregisters it from the
/// scheduler's epoll, before the number can be reused. After: tells the
/// other scheduler threads that registered `fd`, whose waiters then wake
/// with EBADF too. errno is what `close` left.
#[inline]
pub(crate) fn close_with<R>(fd: RawFd, close: impl FnOnce() -> R) -> R {
    if fd < 0 {
        return close();
    }
    fdtable::begin_close(fd);
    let saved = sys::errno();
    let closing = corio_sched::start_close(fd);
    sys::set_errno(saved);
    let r = close();
    let left = sys::errno();
    fdtable::end_close(fd);
    closing.closed();
    sys::set_errno(left);
    r
}
