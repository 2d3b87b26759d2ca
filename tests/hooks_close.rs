//! `close` of an fd other coroutines wait on: they wake with EBADF, and the
//! fd number reused right after never delivers to the old waiters.

mod net_util;

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use net_util::watchdog;

/// The tests of this file check fd-number reuse, which needs no other
/// thread of the process opening fds meanwhile: they run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// recv(2) through the hook; the errno on failure.
fn recv(fd: i32, buf: &mut [u8]) -> Result<usize, i32> {
    // SAFETY: `buf` is valid for its length.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        Err(io::Error::last_os_error().raw_os_error().unwrap())
    } else {
        Ok(n as usize)
    }
}

#[test]
fn close_wakes_waiters_with_ebadf_and_reuse_does_not_confuse_them() {
    let _s = serial();
    let _w = watchdog("close_wakes_waiters_with_ebadf", 30);
    corio::run(|| {
        let (a, peer) = UnixStream::pair().unwrap();
        let fd = a.into_raw_fd();
        // Two coroutines wait on `fd`: a reader and a poller.
        let reader = corio::spawn(move || recv(fd, &mut [0; 16]));
        let poller = corio::spawn(move || {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut p, 1, 5000) };
            (n, p.revents)
        });
        corio::sleep(Duration::from_millis(20));
        let woke = Rc::new(Cell::new(false));
        // Close it, then immediately create a new socket that gets the same
        // number and make it readable.
        // SAFETY: closing the fd we own (taken with into_raw_fd above).
        assert_eq!(unsafe { libc::close(fd) }, 0);
        let (b, mut b_peer) = UnixStream::pair().unwrap();
        assert_eq!(b.as_raw_fd(), fd, "the number should be reused");
        b_peer.write_all(b"for the new owner").unwrap();
        let w = woke.clone();
        let new_owner = corio::spawn(move || {
            let mut got = String::new();
            let mut b = b;
            b.read_to_string(&mut got).unwrap();
            w.set(true);
            got
        });
        assert_eq!(reader.join().unwrap(), Err(libc::EBADF));
        // The poller re-checks after the wake; the number now names the new
        // socket, which is readable, exactly as poll(2) on a reused number
        // would report.
        let (n, revents) = poller.join().unwrap();
        assert_eq!(n, 1);
        assert_ne!(revents & libc::POLLIN, 0);
        drop(b_peer);
        assert_eq!(new_owner.join().unwrap(), "for the new owner");
        assert!(woke.get());
        drop(peer);
    });
}

#[test]
fn closing_a_corio_stream_fd_wakes_its_reader() {
    let _s = serial();
    let _w = watchdog("closing_a_corio_stream_fd_wakes_its_reader", 30);
    corio::run(|| {
        let (a, _peer) = corio::net::UnixStream::pair().unwrap();
        let fd = a.into_raw_fd();
        let reader = corio::spawn(move || {
            // SAFETY: borrowing the fd for the read only; it is closed below
            // by the other coroutine and never used again here.
            let s = std::mem::ManuallyDrop::new(unsafe { corio::net::UnixStream::from_raw_fd(fd) });
            (&*s).read(&mut [0; 8]).map_err(|e| e.raw_os_error())
        });
        corio::sleep(Duration::from_millis(10));
        // SAFETY: the fd is ours (into_raw_fd above).
        assert_eq!(unsafe { libc::close(fd) }, 0);
        assert_eq!(reader.join().unwrap(), Err(Some(libc::EBADF)));
    });
}

#[test]
fn dup2_over_a_waited_fd_wakes_the_waiter() {
    let _s = serial();
    let _w = watchdog("dup2_over_a_waited_fd_wakes_the_waiter", 30);
    corio::run(|| {
        let (a, _peer) = UnixStream::pair().unwrap();
        let (other, mut other_peer) = UnixStream::pair().unwrap();
        let fd = a.into_raw_fd();
        let reader = corio::spawn(move || recv(fd, &mut [0; 8]));
        corio::sleep(Duration::from_millis(10));
        // SAFETY: both fds are open; dup2 replaces ours.
        assert_eq!(unsafe { libc::dup2(other.as_raw_fd(), fd) }, fd);
        assert_eq!(reader.join().unwrap(), Err(libc::EBADF));
        // The duplicate works as the new socket, cooperatively.
        let r = corio::spawn(move || recv(fd, &mut [0; 8]));
        corio::sleep(Duration::from_millis(10));
        other_peer.write_all(b"dup").unwrap();
        assert_eq!(r.join().unwrap(), Ok(3));
        // SAFETY: closing the duplicate we made.
        unsafe { libc::close(fd) };
    });
}
