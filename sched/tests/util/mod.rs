//! Helpers shared by the scheduler's integration tests: non-blocking fd
//! pairs, filling and draining them, panic payload text, a tiny PRNG and a
//! drop counter.

#![allow(dead_code)]

use std::any::Any;
use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;

/// Turns a `-1` libc return into the thread's errno.
pub fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Sets O_NONBLOCK on `fd`.
pub fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on an fd the caller owns; no memory is passed.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) }).expect("F_GETFL");
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) }).expect("F_SETFL");
}

/// A connected AF_UNIX stream socket pair, both ends non-blocking.
pub fn socketpair() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })
    .expect("socketpair");
    set_nonblocking(fds[0]);
    set_nonblocking(fds[1]);
    // SAFETY: both descriptors are fresh and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// A pipe `(read end, write end)`, both ends non-blocking.
pub fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })
        .expect("pipe2");
    // SAFETY: both descriptors are fresh and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Writes `buf` once; `Err(WouldBlock)` when the fd is full.
pub fn write(fd: &impl AsRawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes.
    let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Reads once into `buf`; `Err(WouldBlock)` when nothing is there.
pub fn read(fd: &impl AsRawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Writes until the fd would block; returns the bytes written.
pub fn fill(fd: &impl AsRawFd) -> usize {
    let chunk = [0x5a_u8; 64 * 1024];
    let mut total = 0;
    loop {
        match write(fd, &chunk) {
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return total,
            Err(e) => panic!("fill: {e}"),
        }
    }
}

/// Reads until the fd would block (or EOF); returns the bytes read.
pub fn drain(fd: &impl AsRawFd) -> usize {
    let mut buf = [0_u8; 64 * 1024];
    let mut total = 0;
    loop {
        match read(fd, &mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return total,
            Err(e) => panic!("drain: {e}"),
        }
    }
}

/// The text of a panic payload (`&str`, `String` or `io::Error`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(e) = payload.downcast_ref::<io::Error>() {
        e.to_string()
    } else {
        "<non-string panic payload>".to_string()
    }
}

/// The `io::Error` carried by a `join` error payload.
pub fn io_error(payload: &(dyn Any + Send)) -> &io::Error {
    payload
        .downcast_ref::<io::Error>()
        .unwrap_or_else(|| panic!("payload is not an io::Error: {}", panic_message(payload)))
}

/// xorshift64*: deterministic pseudo-random numbers without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Counts how many of its guards were dropped.
#[derive(Clone, Default)]
pub struct DropCounter(Rc<Cell<usize>>);

impl DropCounter {
    pub fn guard(&self) -> DropGuard {
        DropGuard(self.0.clone())
    }

    pub fn dropped(&self) -> usize {
        self.0.get()
    }
}

/// Bumps its counter when dropped.
pub struct DropGuard(Rc<Cell<usize>>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}
