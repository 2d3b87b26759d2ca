//! `close` of an fd other coroutines wait on: they wake with EBADF, and the
//! fd number reused right after never delivers to the old waiters.

mod net_util;

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

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

// Closes on another thread (issue #5): the waiter's scheduler gets no epoll
// event for a closed fd, so the closing thread must tell it. These tests
// move their fds to high numbers (`F_DUPFD` from a base of their own) so
// that the number under test is not one that anything else in this binary
// hands out meanwhile.

/// How long a woken waiter may take, an order of magnitude above what it
/// needs (microseconds): the test fails instead of hanging, and never on a
/// slow machine.
const WAKE_BOUND: Duration = Duration::from_secs(2);

/// Duplicates `fd` onto the lowest free number >= `min` (through the hooked
/// fcntl, so corio tracks it like the original) and closes the original.
fn move_fd_up(fd: impl IntoRawFd, min: i32) -> i32 {
    let fd = fd.into_raw_fd();
    // SAFETY: `fd` is open and ours; F_DUPFD_CLOEXEC takes an int.
    let high = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) };
    assert!(
        high >= min,
        "F_DUPFD_CLOEXEC: {}",
        io::Error::last_os_error()
    );
    // SAFETY: the original is ours and no longer used.
    assert_eq!(unsafe { libc::close(fd) }, 0);
    high
}

/// A connected TCP pair made with std::net (through the hooks): the
/// client moved to a number >= `min`, raw (the caller closes it), and the
/// server end.
fn std_tcp_pair(min: i32) -> (i32, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (move_fd_up(client, min), server)
}

/// Reads from `fd` as a std TcpStream (hooked recv); the errno on failure.
fn std_read(fd: i32) -> Result<usize, Option<i32>> {
    // SAFETY: borrows the fd for this read only; whoever closes it is not
    // Rust, and the ManuallyDrop never closes it again.
    let s = std::mem::ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(fd) });
    (&*s).read(&mut [0; 16]).map_err(|e| e.raw_os_error())
}

/// Closes `fd` with the (hooked) libc close.
fn close_raw(fd: i32) -> i32 {
    // SAFETY: the callers own `fd` (taken with into_raw_fd) and close it
    // once; nothing uses it afterwards.
    unsafe { libc::close(fd) }
}

/// Waits, in the calling coroutine, at most [`WAKE_BOUND`] for `h`, so a
/// lost wakeup fails the test instead of hanging it.
fn join_bounded<T: 'static>(h: corio::JoinHandle<T>, what: &str) -> T {
    corio::with_timeout(WAKE_BOUND, || h.wait())
        .unwrap_or_else(|e| panic!("{what} was not woken within {WAKE_BOUND:?}: {e}"));
    h.join().unwrap()
}

/// Spawns a coroutine parked in a hooked std read of `fd` and checks that
/// it is parked.
fn parked_std_reader(fd: i32) -> corio::JoinHandle<Result<usize, Option<i32>>> {
    let reader = corio::spawn(move || std_read(fd));
    for _ in 0..3 {
        corio::yield_now();
    }
    corio::sleep(Duration::from_millis(20));
    assert!(!reader.is_finished(), "the reader should be parked");
    reader
}

#[test]
fn a_close_on_another_scheduler_thread_wakes_a_parked_std_read_with_ebadf() {
    let _s = serial();
    let _w = watchdog("a_close_on_another_scheduler_thread_wakes", 30);
    let rt = corio::Runtime::builder().threads(2).build().unwrap();
    let other = rt.handles().pop().unwrap();
    rt.block_on(move || {
        let (fd, _server) = std_tcp_pair(900);
        // A hooked poll(2) waits on the same fd (the multi-fd wait path).
        let poller = corio::spawn(move || {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut p, 1, -1) };
            (n, p.revents)
        });
        let reader = parked_std_reader(fd);
        assert!(!poller.is_finished(), "the poller should be parked");
        let start = Instant::now();
        let closer = other.spawn(move || {
            assert!(corio::Handle::try_current().is_some());
            close_raw(fd)
        });
        assert_eq!(closer.join().unwrap(), 0);
        let r = join_bounded(reader, "a reader whose fd another scheduler closed");
        assert_eq!(r, Err(Some(libc::EBADF)));
        // poll(2) reports a closed fd as POLLNVAL.
        let (n, revents) = join_bounded(poller, "a poller whose fd another scheduler closed");
        assert_eq!((n, revents), (1, libc::POLLNVAL));
        assert!(start.elapsed() < WAKE_BOUND);
    });
}

#[test]
fn a_close_on_a_plain_thread_wakes_a_parked_std_read_with_ebadf() {
    let _s = serial();
    let _w = watchdog("a_close_on_a_plain_thread_wakes", 30);
    corio::run(|| {
        let (fd, _server) = std_tcp_pair(920);
        let reader = parked_std_reader(fd);
        let start = Instant::now();
        let closer = std::thread::spawn(move || close_raw(fd));
        let r = join_bounded(reader, "a reader whose fd a plain thread closed");
        assert_eq!(r, Err(Some(libc::EBADF)));
        assert!(start.elapsed() < WAKE_BOUND);
        assert_eq!(closer.join().unwrap(), 0);
    });
}

#[test]
fn a_close_on_another_thread_wakes_a_parked_corio_accept_with_ebadf() {
    let _s = serial();
    let _w = watchdog("a_close_on_another_thread_wakes_a_parked_corio_accept", 30);
    let rt = corio::Runtime::builder().threads(2).build().unwrap();
    let other = rt.handles().pop().unwrap();
    rt.block_on(move || {
        let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let fd = move_fd_up(listener, 940);
        let acceptor = corio::spawn(move || {
            // SAFETY: borrowed for the accept only; closed by the other
            // thread, never by this ManuallyDrop.
            let l =
                std::mem::ManuallyDrop::new(unsafe { corio::net::TcpListener::from_raw_fd(fd) });
            l.accept().map(drop).map_err(|e| e.raw_os_error())
        });
        corio::sleep(Duration::from_millis(20));
        assert!(!acceptor.is_finished(), "the acceptor should be parked");
        assert_eq!(other.spawn(move || close_raw(fd)).join().unwrap(), 0);
        let r = join_bounded(acceptor, "an acceptor whose listener another thread closed");
        assert_eq!(r, Err(Some(libc::EBADF)));
    });
}

#[test]
fn after_a_cross_thread_close_the_reused_number_works_for_a_new_waiter() {
    let _s = serial();
    let _w = watchdog("after_a_cross_thread_close_the_reused_number_works", 30);
    let rt = corio::Runtime::builder().threads(2).build().unwrap();
    let other = rt.handles().pop().unwrap();
    rt.block_on(move || {
        let (fd, _server) = std_tcp_pair(960);
        let reader = parked_std_reader(fd);
        std::thread::spawn(move || close_raw(fd)).join().unwrap();
        let r = join_bounded(reader, "the first reader");
        assert_eq!(r, Err(Some(libc::EBADF)));

        // The number comes back for a new connection. A waiter on it here
        // (whose scheduler held the old registration) and on the other
        // scheduler thread get their data: no spurious EBADF, no missed
        // readiness.
        for round in 0..2u8 {
            let (fd2, mut server) = std_tcp_pair(960);
            assert_eq!(fd2, fd, "the number should be reused");
            let reader = parked_std_reader(fd2);
            corio::sleep(Duration::from_millis(20));
            server.write_all(&[round; 3]).unwrap();
            let r = join_bounded(reader, "a reader of the reused number");
            assert_eq!(r, Ok(3), "round {round}");
            let remote = other.spawn(move || std_read(fd2));
            corio::sleep(Duration::from_millis(20));
            assert!(!remote.is_finished(), "the remote reader should be parked");
            server.write_all(&[round; 5]).unwrap();
            let r = corio::with_timeout(WAKE_BOUND, || remote.join());
            assert_eq!(r.unwrap(), Ok(5), "round {round}");
            // Both schedulers now registered the new file: a close from
            // this thread wakes a reader parked on the other one.
            let remote = other.spawn(move || std_read(fd2));
            corio::sleep(Duration::from_millis(20));
            assert!(!remote.is_finished(), "the remote reader should be parked");
            assert_eq!(close_raw(fd2), 0);
            let r = corio::with_timeout(WAKE_BOUND, || remote.join());
            assert_eq!(r.unwrap(), Err(Some(libc::EBADF)), "round {round}");
        }
    });
}

/// The close lands anywhere around the reader's park: before its first
/// attempt, while the hook looks the fd up, between EAGAIN and the
/// registration, mid-registration, or after it parked. Both sides start
/// together and each spins a random while first, so the close sweeps
/// across the reader's park. Every reader must end with EBADF (nothing is
/// ever sent), within the bound.
///
/// Two bugs it caught while being written: without the owner read after
/// the real close, a registration made between the closer's bookkeeping
/// and its close was never told (lost wakeup); and a hook that started
/// while the closer had already reset the fd's table entry took the fd for
/// an untracked one and blocked the scheduler thread in the kernel's
/// recv(2) (now the hook waits for the close to finish).
#[test]
fn closes_racing_with_parks_on_other_threads_never_lose_the_wakeup() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let _s = serial();
    let _w = watchdog("closes_racing_with_parks_on_other_threads", 60);
    let rt = corio::Runtime::builder().threads(2).build().unwrap();
    let other = rt.handles().pop().unwrap();
    fn spin(n: u64) {
        for _ in 0..n {
            std::hint::spin_loop();
        }
    }
    rt.block_on(move || {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for i in 0..400u32 {
            let (a, _b) = UnixStream::pair().unwrap();
            let fd = move_fd_up(a, 980);
            let (reader_spins, closer_spins) = (next() % 3000, next() % 3000);
            let plain = next() % 2 == 0;
            let go = Arc::new(AtomicBool::new(false));
            let ready = go.clone();
            let close = move || {
                while !ready.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                spin(closer_spins);
                close_raw(fd)
            };
            let closer = if plain {
                Ok(std::thread::spawn(close))
            } else {
                Err(other.spawn(close))
            };
            // Give the closer time to start spinning on `go`.
            corio::sleep(Duration::from_millis(1));
            let reader = corio::spawn(move || {
                go.store(true, Ordering::Release);
                spin(reader_spins);
                recv(fd, &mut [0; 8])
            });
            let r = join_bounded(reader, "a reader racing with a close");
            let closed = match closer {
                Ok(t) => t.join().unwrap(),
                Err(h) => h.join().unwrap(),
            };
            assert_eq!(closed, 0);
            assert_eq!(
                r,
                Err(libc::EBADF),
                "iteration {i} (spins: reader {reader_spins}, closer {closer_spins})"
            );
        }
    });
}
