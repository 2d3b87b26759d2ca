//! Unmodified std::net and std::thread::sleep inside `corio::run` on one
//! thread: the hooks make them park coroutines instead of the thread.

mod net_util;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use net_util::watchdog;

const CLIENTS: usize = 200;
const EXCHANGES: usize = 100;

#[test]
fn std_server_and_200_std_clients_x_100_exchanges_on_one_thread() {
    let _w = watchdog("std_server_and_200_std_clients", 120);
    let total = corio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        corio::spawn(move || {
            for conn in listener.incoming().take(CLIENTS) {
                let mut conn = conn.unwrap();
                corio::spawn(move || {
                    let mut buf = [0; 8];
                    while conn.read_exact(&mut buf).is_ok() {
                        let v = u64::from_le_bytes(buf) * 2;
                        conn.write_all(&v.to_le_bytes()).unwrap();
                    }
                });
            }
        });
        // Every client first connects, then all wait for each other, so
        // the exchanges really overlap: a call that blocked the thread
        // would stall all of them forever (the watchdog fires).
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                corio::spawn(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    let mut sum = 0u64;
                    for i in 0..EXCHANGES {
                        let v = (c * EXCHANGES + i) as u64;
                        s.write_all(&v.to_le_bytes()).unwrap();
                        let mut buf = [0; 8];
                        s.read_exact(&mut buf).unwrap();
                        assert_eq!(u64::from_le_bytes(buf), v * 2);
                        sum += 1;
                    }
                    sum
                })
            })
            .collect();
        clients.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(total, (CLIENTS * EXCHANGES) as u64);
}

#[test]
fn hundred_std_sleeps_of_200ms_overlap() {
    let _w = watchdog("hundred_std_sleeps_of_200ms_overlap", 60);
    let start = Instant::now();
    corio::run(|| {
        let hs: Vec<_> = (0..100)
            .map(|_| corio::spawn(|| std::thread::sleep(Duration::from_millis(200))))
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(200), "woke early: {took:?}");
    assert!(took < Duration::from_millis(1000), "took {took:?}");
}

#[test]
fn std_read_timeout_is_would_block_without_blocking_others() {
    let _w = watchdog("std_read_timeout_is_would_block", 60);
    corio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = corio::spawn(move || listener.accept().unwrap().0);
        let mut s = TcpStream::connect(addr).unwrap();
        let _peer = server.join().unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        assert_eq!(s.read_timeout().unwrap(), Some(Duration::from_millis(200)));
        // Ten other coroutines sleep 50 ms each in sequence meanwhile.
        let other = corio::spawn(|| {
            let start = Instant::now();
            for _ in 0..3 {
                std::thread::sleep(Duration::from_millis(50));
            }
            start.elapsed()
        });
        let start = Instant::now();
        let err = s.read(&mut [0; 8]).unwrap_err();
        let took = start.elapsed();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(took >= Duration::from_millis(200), "early: {took:?}");
        assert!(took < Duration::from_secs(2), "took {took:?}");
        let other_took = other.join().unwrap();
        assert!(
            other_took < Duration::from_millis(190),
            "others were blocked: {other_took:?}"
        );
    });
}

#[test]
fn std_nonblocking_gets_would_block_immediately() {
    let _w = watchdog("std_nonblocking_gets_would_block_immediately", 30);
    corio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let start = Instant::now();
        assert_eq!(
            listener.accept().unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_nonblocking(true).unwrap();
        assert_eq!(
            s.read(&mut [0; 8]).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        assert!(start.elapsed() < Duration::from_millis(100));
        // Back to blocking: the read parks until data comes.
        s.set_nonblocking(false).unwrap();
        let (mut peer, _) = loop {
            match listener.accept() {
                Ok(c) => break c,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => corio::yield_now(),
                Err(e) => panic!("{e}"),
            }
        };
        let writer = corio::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            peer.write_all(b"x").unwrap();
            peer
        });
        let mut b = [0; 1];
        s.read_exact(&mut b).unwrap();
        writer.join().unwrap();
    });
}

/// The user sees the O_NONBLOCK they asked for, not the one corio sets.
#[test]
fn the_nonblocking_flag_corio_sets_is_hidden() {
    let _w = watchdog("the_nonblocking_flag_corio_sets_is_hidden", 30);
    corio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let fd = listener.as_raw_fd();
        // SAFETY: F_GETFL on an fd we own.
        let getfl = || unsafe { libc::fcntl(fd, libc::F_GETFL) };
        assert_eq!(getfl() & libc::O_NONBLOCK, 0);
        // A parked accept makes corio set O_NONBLOCK on the fd ...
        let r = corio::with_timeout(Duration::from_millis(10), || listener.accept());
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::WouldBlock);
        // ... but F_GETFL still reports blocking, as the user asked.
        assert_eq!(getfl() & libc::O_NONBLOCK, 0);
        listener.set_nonblocking(true).unwrap();
        assert_ne!(getfl() & libc::O_NONBLOCK, 0);
        listener.set_nonblocking(false).unwrap();
        assert_eq!(getfl() & libc::O_NONBLOCK, 0);
        let flags = getfl() | libc::O_NONBLOCK;
        // SAFETY: F_SETFL with the flags just read.
        let set = unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
        assert_eq!(set, 0);
        assert_eq!(
            listener.accept().unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
    });
}

#[test]
fn deadline_scope_and_cancel_reach_std_calls() {
    let _w = watchdog("deadline_scope_and_cancel_reach_std_calls", 30);
    corio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = corio::spawn(move || listener.accept().unwrap().0);
        let s = TcpStream::connect(addr).unwrap();
        let _peer = server.join().unwrap();
        // A deadline scope around library code with no timeout option:
        // the hooked recv gives up with EAGAIN, which std reports as
        // WouldBlock.
        let start = Instant::now();
        let err = corio::with_timeout(Duration::from_millis(50), || {
            (&s).read(&mut [0; 8]).unwrap_err()
        });
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(start.elapsed() >= Duration::from_millis(50));
        // A cancel makes the hooked call fail with EINTR.
        let reader = s.try_clone().unwrap();
        let h = corio::spawn(move || (&reader).read(&mut [0; 8]).map_err(|e| e.kind()));
        corio::sleep(Duration::from_millis(10));
        h.cancel();
        assert_eq!(h.join().unwrap(), Err(io::ErrorKind::Interrupted));
    });
}

#[test]
fn names_resolve_on_the_blocking_pool() {
    let _w = watchdog("names_resolve_on_the_blocking_pool", 60);
    corio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = corio::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            c.write_all(b"resolved").unwrap();
        });
        // getaddrinfo("localhost") through the hook, while another
        // coroutine keeps running.
        let ticks = corio::spawn(|| {
            for _ in 0..5 {
                corio::sleep(Duration::from_millis(1));
            }
        });
        let mut s = TcpStream::connect(("localhost", port))
            .or_else(|_| TcpStream::connect(("127.0.0.1", port)))
            .unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).unwrap();
        assert_eq!(got, "resolved");
        server.join().unwrap();
        ticks.join().unwrap();
        let addrs: Vec<_> = corio::net::lookup_host("localhost:80").unwrap().collect();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.port() == 80 && a.ip().is_loopback()));
    });
}

#[test]
fn poll_and_select_park() {
    let _w = watchdog("poll_and_select_park", 30);
    let start = Instant::now();
    corio::run(|| {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (fa, fb) = (a.as_raw_fd(), b.as_raw_fd());
        // Ten coroutines poll(2) for 100 ms each, concurrently.
        let pollers: Vec<_> = (0..10)
            .map(|_| {
                corio::spawn(move || {
                    let mut p = libc::pollfd {
                        fd: fa,
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: one valid pollfd.
                    unsafe { libc::poll(&mut p, 1, 100) }
                })
            })
            .collect();
        for p in pollers {
            assert_eq!(p.join().unwrap(), 0);
        }
        // select(2) wakes when the other end writes.
        let writer = corio::spawn(move || {
            corio::sleep(Duration::from_millis(30));
            (&b).write_all(b"!").unwrap();
            b
        });
        // SAFETY: an fd_set we own, cleared, with one fd below FD_SETSIZE.
        let n = unsafe {
            let mut set: libc::fd_set = std::mem::zeroed();
            libc::FD_ZERO(&mut set);
            libc::FD_SET(fa, &mut set);
            let mut tv = libc::timeval {
                tv_sec: 5,
                tv_usec: 0,
            };
            let n = libc::select(
                fa.max(fb) + 1,
                &mut set,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut tv,
            );
            assert!(libc::FD_ISSET(fa, &set));
            n
        };
        assert_eq!(n, 1);
        drop(writer.join().unwrap());
        drop(a);
    });
    assert!(start.elapsed() < Duration::from_millis(800));
}

#[test]
fn hooks_can_be_switched_off() {
    let _w = watchdog("hooks_can_be_switched_off", 30);
    corio::run(|| {
        // With hooks off, std sleeps block the thread: two 100 ms sleeps
        // in two coroutines take 200 ms.
        let start = Instant::now();
        let hs: Vec<_> = (0..2)
            .map(|_| {
                corio::spawn(|| {
                    corio::hooks::set_enabled(false);
                    assert!(!corio::hooks::enabled());
                    std::thread::sleep(Duration::from_millis(100));
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert!(start.elapsed() >= Duration::from_millis(200));
        // Other coroutines were unaffected.
        assert!(corio::hooks::enabled());
        let start = Instant::now();
        let hs: Vec<_> = (0..2)
            .map(|_| corio::spawn(|| std::thread::sleep(Duration::from_millis(100))))
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert!(start.elapsed() < Duration::from_millis(190));
        // A scope turns them off and back on.
        corio::hooks::without(|| assert!(!corio::hooks::enabled()));
        assert!(corio::hooks::enabled());
    });
}

/// Sets its flag when dropped: shows whether a coroutine's stack was
/// unwound or returned (true) or leaked (false).
struct Dropped(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn drop_flag() -> (std::sync::Arc<std::sync::atomic::AtomicBool>, Dropped) {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    (flag.clone(), Dropped(flag))
}

/// `run` returning while coroutines are parked inside hooked calls: they
/// cannot be unwound (std/C frames above the hook; this used to abort the
/// process), so their calls fail with ECANCELED and they run on to their
/// end — destructors run, fds close. One that retries forever is resumed a
/// bounded number of times and then leaked, and `run` still returns.
#[test]
fn run_returns_while_coroutines_are_parked_in_hooked_calls() {
    let _w = watchdog(
        "run_returns_while_coroutines_are_parked_in_hooked_calls",
        30,
    );
    let start = Instant::now();
    let (accepted, accept_drop) = drop_flag();
    let (slept, sleep_drop) = drop_flag();
    let (polled, poll_drop) = drop_flag();
    let (retried, retry_drop) = drop_flag();
    let (errors_tx, errors_rx) = std::sync::mpsc::channel();
    let addr = corio::run(move || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accept_errors = errors_tx.clone();
        corio::spawn(move || {
            let _held = accept_drop;
            let e = listener.accept().unwrap_err();
            accept_errors.send(("accept", e.raw_os_error())).unwrap();
            // `listener` is dropped here: its fd closes.
        });
        corio::spawn(move || {
            let _held = sleep_drop;
            std::thread::sleep(Duration::from_secs(60));
        });
        let poll_errors = errors_tx.clone();
        corio::spawn(move || {
            let _held = poll_drop;
            let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
            let mut p = libc::pollfd {
                fd: a.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut p, 1, -1) };
            poll_errors.send(("poll", (r == -1).then(errno))).unwrap();
        });
        corio::spawn(move || {
            let _held = retry_drop;
            let (mut a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
            let mut buf = [0u8; 8];
            // Ignores every error and tries again: never ends by itself.
            loop {
                let _ = a.read(&mut buf);
            }
        });
        corio::sleep(Duration::from_millis(10));
        addr
    });
    assert!(start.elapsed() < Duration::from_secs(5));
    let mut errors: Vec<_> = errors_rx.try_iter().collect();
    errors.sort();
    assert_eq!(
        errors,
        [
            ("accept", Some(libc::ECANCELED)),
            ("poll", Some(libc::ECANCELED))
        ]
    );
    use std::sync::atomic::Ordering::SeqCst;
    assert!(accepted.load(SeqCst), "the accepting coroutine was leaked");
    assert!(slept.load(SeqCst), "the sleeping coroutine was leaked");
    assert!(polled.load(SeqCst), "the polling coroutine was leaked");
    assert!(!retried.load(SeqCst), "the retrying coroutine cannot end");
    // The listener's fd was closed by its coroutine's end.
    assert_eq!(
        TcpStream::connect(addr).unwrap_err().kind(),
        io::ErrorKind::ConnectionRefused
    );
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap()
}

fn set_errno(v: i32) {
    // SAFETY: this thread's errno slot.
    unsafe { *libc::__errno_location() = v };
}

/// recv(2) through the hook.
fn raw_recv(fd: i32, buf: &mut [u8], flags: i32) -> isize {
    // SAFETY: `buf` is valid for its length.
    unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) }
}

#[test]
fn errno_is_what_libc_would_leave() {
    let _w = watchdog("errno_is_what_libc_would_leave", 30);
    corio::run(|| {
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let fd = a.as_raw_fd();
        let mut buf = [0; 8];
        // A call that parked, retried and succeeded leaves errno alone.
        let writer = corio::spawn(move || {
            corio::sleep(Duration::from_millis(20));
            b.write_all(b"x").unwrap();
            b
        });
        set_errno(1234);
        assert_eq!(raw_recv(fd, &mut buf, 0), 1);
        assert_eq!(errno(), 1234);
        let _b = writer.join().unwrap();
        // SO_RCVTIMEO: EAGAIN after the timeout.
        a.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
        let start = Instant::now();
        assert_eq!(raw_recv(fd, &mut buf, 0), -1);
        assert_eq!(errno(), libc::EAGAIN);
        assert!(start.elapsed() >= Duration::from_millis(30));
        a.set_read_timeout(None).unwrap();
        // MSG_DONTWAIT: EAGAIN at once.
        assert_eq!(raw_recv(fd, &mut buf, libc::MSG_DONTWAIT), -1);
        assert_eq!(errno(), libc::EAGAIN);
        // A bad fd: EBADF.
        assert_eq!(raw_recv(-1, &mut buf, 0), -1);
        assert_eq!(errno(), libc::EBADF);
        // A cancel: EINTR.
        let h = corio::spawn(move || {
            let r = raw_recv(fd, &mut [0; 8], 0);
            (r, errno())
        });
        corio::sleep(Duration::from_millis(10));
        h.cancel();
        assert_eq!(h.join().unwrap(), (-1, libc::EINTR));
        // A deadline scope around connect: ETIMEDOUT is not reached on
        // loopback, but a refused connect reports ECONNREFUSED.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED));
    });
}

#[test]
fn many_coroutines_accept_on_one_std_listener() {
    let _w = watchdog("many_coroutines_accept_on_one_std_listener", 30);
    corio::run(|| {
        let listener = std::rc::Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();
        let acceptors: Vec<_> = (0..10)
            .map(|_| {
                let l = listener.clone();
                corio::spawn(move || {
                    let (mut c, _) = l.accept().unwrap();
                    let mut b = [0; 1];
                    c.read_exact(&mut b).unwrap();
                    b[0]
                })
            })
            .collect();
        corio::sleep(Duration::from_millis(10));
        let clients: Vec<_> = (0..10u8)
            .map(|i| {
                corio::spawn(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    s.write_all(&[i]).unwrap();
                    s
                })
            })
            .collect();
        let mut got: Vec<u8> = acceptors.into_iter().map(|h| h.join().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, (0..10).collect::<Vec<u8>>());
        drop(clients);
    });
}

#[test]
fn std_connect_timeout_parks_in_the_poll_hook() {
    let _w = watchdog("std_connect_timeout_parks_in_the_poll_hook", 60);
    corio::run(|| {
        // A listener that never accepts, with the smallest backlog: once
        // the queue is full, connects hang until their timeout.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // SAFETY: listen(2) on a socket we own.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
        let mut held = Vec::new();
        loop {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(s) => held.push(s),
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
                    break;
                }
            }
            assert!(held.len() < 16, "the backlog never filled");
        }
        // Five std connect_timeout calls (nonblocking connect + poll) in
        // five coroutines overlap: 5 x 300 ms serially.
        let start = Instant::now();
        let hs: Vec<_> = (0..5)
            .map(|_| {
                corio::spawn(move || {
                    TcpStream::connect_timeout(&addr, Duration::from_millis(300))
                        .map(drop)
                        .map_err(|e| e.kind())
                })
            })
            .collect();
        for h in hs {
            assert_eq!(h.join().unwrap(), Err(io::ErrorKind::TimedOut));
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(300), "early: {took:?}");
        assert!(took < Duration::from_millis(1000), "took {took:?}");
    });
}

/// Timeouts round up: over many short waits, none ends early.
#[test]
fn hooked_timeouts_never_fire_early() {
    let _w = watchdog("hooked_timeouts_never_fire_early", 60);
    corio::run(|| {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let fd = a.as_raw_fd();
        for i in 0..40u64 {
            let want = Duration::from_micros(500 + i * 137);
            a.set_read_timeout(Some(want)).unwrap();
            let start = Instant::now();
            assert_eq!(raw_recv(fd, &mut [0; 1], 0), -1);
            assert!(start.elapsed() >= want, "recv timeout {want:?} fired early");

            let start = Instant::now();
            std::thread::sleep(want);
            assert!(start.elapsed() >= want, "sleep {want:?} ended early");

            let ms = 1 + (i % 3) as i32;
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            let start = Instant::now();
            // SAFETY: one valid pollfd.
            assert_eq!(unsafe { libc::poll(&mut p, 1, ms) }, 0);
            assert!(
                start.elapsed() >= Duration::from_millis(ms as u64),
                "poll fired early"
            );
        }
    });
}
