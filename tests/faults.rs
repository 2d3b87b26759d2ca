//! Faults on the wire and on fds, each with the coroutine that meets it
//! already parked: peer resets mid-read and mid-write, half-close, shutdown
//! while another coroutine waits, a slow reader, a client that never sends,
//! fd numbers reused after a close on another thread, hang-up and error
//! events, and SIGPIPE.
//!
//! Close by one coroutine while another waits on the fd, and fd reuse right
//! after a close on the same thread, are in `hooks_close.rs`; a half-close
//! by the client and a reset with unread data in `net_types.rs`.

mod net_util;

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::net::{TcpListener, TcpStream, UnixStream};
use net_util::{linger_zero, watchdog};

/// Tests that depend on which fd numbers the kernel hands out run one at a
/// time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connected loopback pair `(client, server)` of corio streams.
fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

/// `len` pseudo-random bytes from `seed` (xorshift).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// FNV-1a over `bytes`, continuing from `h`.
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// Waits until `h` is parked (it has run and not finished), yielding.
fn until_parked<T: 'static>(h: &corio::JoinHandle<T>) {
    for _ in 0..3 {
        corio::yield_now();
    }
    corio::sleep(Duration::from_millis(20));
    assert!(!h.is_finished(), "the coroutine should be parked by now");
}

#[test]
fn peer_reset_mid_read_wakes_the_parked_reader_with_connection_reset() {
    let _w = watchdog(
        "peer_reset_mid_read_wakes_the_parked_reader_with_connection_reset",
        30,
    );
    corio::run(|| {
        // corio's own stream, and a std stream through the hooks.
        for hooked in [false, true] {
            let (mut client, server) = tcp_pair();
            let reader = corio::spawn(move || {
                let mut buf = [0; 1000];
                if hooked {
                    let mut s: std::net::TcpStream = server.into();
                    (
                        s.read_exact(&mut buf),
                        s.read(&mut buf).map_err(|e| e.kind()),
                    )
                } else {
                    let mut s = server;
                    (
                        s.read_exact(&mut buf),
                        s.read(&mut buf).map_err(|e| e.kind()),
                    )
                }
            });
            // Half the message, then the reader is parked waiting for more.
            client.write_all(&[7; 500]).unwrap();
            until_parked(&reader);
            linger_zero(&client);
            let start = Instant::now();
            drop(client);
            let (first, after) = reader.join().unwrap();
            assert_eq!(first.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
            // After the reset the socket reads as closed, without parking.
            assert_eq!(after, Ok(0), "hooked: {hooked}");
            assert!(start.elapsed() < Duration::from_secs(1));
        }
        assert_eq!(corio::stats().alive, 1);
    });
}

#[test]
fn peer_reset_mid_write_wakes_the_parked_writer_with_an_error() {
    let _w = watchdog(
        "peer_reset_mid_write_wakes_the_parked_writer_with_an_error",
        30,
    );
    corio::run(|| {
        for hooked in [false, true] {
            let (mut client, server) = tcp_pair();
            let data = Rc::new(vec![0x5a; 32 << 20]);
            let d = data.clone();
            let writer = corio::spawn(move || {
                if hooked {
                    let mut s: std::net::TcpStream = server.into();
                    s.write_all(&d)
                } else {
                    let mut s = server;
                    s.write_all(&d)
                }
            });
            // The peer reads a little, so the writer is mid-stream, parked
            // on a full socket buffer.
            let mut buf = vec![0; 64 * 1024];
            client.read_exact(&mut buf).unwrap();
            until_parked(&writer);
            assert!(corio::stats().waiting_io >= 1);
            linger_zero(&client);
            let start = Instant::now();
            drop(client);
            let err = writer.join().unwrap().unwrap_err();
            assert!(
                matches!(
                    err.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                ),
                "hooked: {hooked}: {err:?}"
            );
            assert!(start.elapsed() < Duration::from_secs(1));
        }
    });
}

#[test]
fn half_close_by_the_server_wakes_the_parked_client_reader_which_can_still_send() {
    let _w = watchdog("half_close_by_the_server_wakes_the_parked_client", 30);
    corio::run(|| {
        let (client, mut server) = tcp_pair();
        let client = corio::spawn(move || {
            let mut client = client;
            let mut got = Vec::new();
            client.read_to_end(&mut got).unwrap(); // parks, ends at EOF
            // Our direction is still open.
            client.write_all(b"ack after EOF").unwrap();
            client.shutdown(Shutdown::Write).unwrap();
            got
        });
        until_parked(&client);
        server.write_all(b"last words").unwrap();
        server.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        server.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"ack after EOF");
        assert_eq!(client.join().unwrap(), b"last words");
        // Writing after our own shutdown is EPIPE, not a signal.
        let err = server.write(b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    });
}

#[test]
fn shutdown_by_one_coroutine_wakes_another_parked_on_the_socket() {
    let _w = watchdog("shutdown_by_one_coroutine_wakes_another_parked", 30);
    corio::run(|| {
        // A reader parked on a socket another coroutine shuts for reading.
        let (_client, server) = tcp_pair();
        let other = server.try_clone().unwrap();
        let reader = corio::spawn(move || (&server).read(&mut [0; 16]).map_err(|e| e.kind()));
        until_parked(&reader);
        other.shutdown(Shutdown::Read).unwrap();
        assert_eq!(reader.join().unwrap(), Ok(0));

        // A writer parked on a full socket another coroutine shuts for
        // writing: EPIPE.
        let (_client, server) = tcp_pair();
        let other = server.try_clone().unwrap();
        let writer = corio::spawn(move || (&server).write_all(&vec![1; 32 << 20]));
        until_parked(&writer);
        other.shutdown(Shutdown::Write).unwrap();
        let err = writer.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);

        // Unix sockets alike.
        let (a, _b) = UnixStream::pair().unwrap();
        let other = a.try_clone().unwrap();
        let reader = corio::spawn(move || (&a).read(&mut [0; 16]).map_err(|e| e.kind()));
        until_parked(&reader);
        other.shutdown(Shutdown::Both).unwrap();
        assert_eq!(reader.join().unwrap(), Ok(0));
    });
}

#[test]
fn slow_reader_parks_the_writer_and_every_byte_arrives() {
    let _w = watchdog("slow_reader_parks_the_writer_and_every_byte_arrives", 60);
    const TOTAL: usize = 8 << 20;
    corio::run(|| {
        let (mut client, server) = tcp_pair();
        let data = noise(0x5eed, TOTAL);
        let sent_hash = fnv(FNV_START, &data);
        let writer = corio::spawn(move || {
            let mut s = server;
            // Alternate plain and vectored writes of uneven pieces.
            let mut off = 0;
            let mut i = 0;
            while off < data.len() {
                let len = (37_000 + i * 7919 % 100_000).min(data.len() - off);
                let piece = &data[off..off + len];
                if i % 2 == 0 {
                    s.write_all(piece).unwrap();
                } else {
                    let mut done = 0;
                    while done < len {
                        let (a, b) = piece[done..].split_at((len - done) / 2);
                        done += s
                            .write_vectored(&[IoSlice::new(a), IoSlice::new(b)])
                            .unwrap();
                    }
                }
                off += len;
                i += 1;
            }
            s.shutdown(Shutdown::Write).unwrap();
            off
        });
        // Read slowly: small reads with pauses, so the writer keeps
        // finding the socket buffer full.
        let mut buf = vec![0; 16 * 1024];
        let (mut got, mut hash, mut writer_parked) = (0, FNV_START, 0);
        let mut reads = 0u32;
        loop {
            let n = client.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got += n;
            hash = fnv(hash, &buf[..n]);
            reads += 1;
            if reads % 4 == 0 {
                if !writer.is_finished() && corio::stats().waiting_io >= 1 {
                    writer_parked += 1;
                }
                corio::sleep(Duration::from_millis(1));
            }
        }
        assert_eq!(writer.join().unwrap(), TOTAL);
        assert_eq!(got, TOTAL, "bytes lost or duplicated");
        assert_eq!(hash, sent_hash, "bytes corrupted or reordered");
        assert!(
            writer_parked > 10,
            "the writer parked only {writer_parked} times"
        );
    });
}

#[test]
fn a_client_that_never_sends_is_freed_by_a_deadline_scope_or_a_read_timeout() {
    let _w = watchdog("a_client_that_never_sends_is_freed", 30);
    corio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let base = corio::stats().alive;
        // Three silent clients, each served by a handler that gives up in
        // its own way; the handler drops its stream when it gives up.
        let clients: Vec<_> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let mut handlers = Vec::new();
        for way in 0..3 {
            let (conn, _) = listener.accept().unwrap();
            handlers.push(corio::spawn(move || {
                let start = Instant::now();
                let mut buf = [0; 64];
                let err = match way {
                    0 => corio::with_timeout(Duration::from_millis(100), || {
                        (&conn).read(&mut buf).unwrap_err()
                    }),
                    1 => {
                        conn.set_read_timeout(Some(Duration::from_millis(100)))
                            .unwrap();
                        (&conn).read(&mut buf).unwrap_err()
                    }
                    _ => {
                        let mut s: std::net::TcpStream = conn.into();
                        s.set_read_timeout(Some(Duration::from_millis(100)))
                            .unwrap();
                        s.read(&mut buf).unwrap_err()
                    }
                };
                assert!(start.elapsed() >= Duration::from_millis(100));
                err.kind()
            }));
        }
        assert_eq!(corio::stats().alive, base + 3);
        let kinds: Vec<_> = handlers.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                io::ErrorKind::TimedOut,
                io::ErrorKind::WouldBlock,
                io::ErrorKind::WouldBlock
            ]
        );
        assert_eq!(corio::stats().alive, base, "a handler coroutine leaked");
        // Each client sees its connection closed.
        for mut c in clients {
            assert_eq!(c.read(&mut [0; 8]).unwrap(), 0);
        }
    });
}

/// The sched regression behind it: `fd_closed_on_another_thread_then_
/// reused_is_registered_again` (sched/tests/regressions.rs).
#[test]
fn fd_reused_after_a_close_on_another_thread_is_watched_again() {
    let _s = serial();
    let _w = watchdog(
        "fd_reused_after_a_close_on_another_thread_is_watched_again",
        30,
    );
    corio::run(|| {
        let (a, mut b) = UnixStream::pair().unwrap();
        // A coroutine parks on `a`: this scheduler's epoll now watches it.
        let reader = corio::spawn(move || {
            let mut a = a;
            let mut buf = [0; 1];
            a.read_exact(&mut buf).unwrap();
            a
        });
        until_parked(&reader);
        b.write_all(b"x").unwrap();
        let a = reader.join().unwrap();
        let fd = a.as_raw_fd();
        // A plain thread closes it (through the close hook, which cannot
        // reach this thread's scheduler).
        std::thread::spawn(move || drop(a)).join().unwrap();
        // The lowest free number is `fd` again.
        let (c, d) = UnixStream::pair().unwrap();
        let (mut mine, mut other) = if c.as_raw_fd() == fd { (c, d) } else { (d, c) };
        assert_eq!(mine.as_raw_fd(), fd, "the number was not reused");
        let writer = corio::spawn(move || {
            corio::sleep(Duration::from_millis(20));
            other.write_all(b"y").unwrap();
            other
        });
        let r = corio::with_timeout(Duration::from_secs(2), || {
            let mut buf = [0; 1];
            mine.read_exact(&mut buf).map(|()| buf)
        });
        assert_eq!(r.unwrap(), *b"y", "a wait on the reused number never woke");
        writer.join().unwrap();
        drop(b);
    });
}

/// The realistic shape of the same bug: a connection read on one scheduler
/// thread, handed to another which closes it, and the number reused by the
/// next connection the first thread accepts.
#[test]
fn a_connection_closed_on_another_scheduler_leaves_its_number_usable() {
    let _s = serial();
    let _w = watchdog(
        "a_connection_closed_on_another_scheduler_leaves_its_number_usable",
        30,
    );
    let rt = corio::Runtime::builder().threads(2).build().unwrap();
    let other = rt.handles().pop().unwrap();
    rt.block_on(move || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut numbers = Vec::new();
        for round in 0..20u8 {
            let client = corio::spawn(move || {
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                c.write_all(&[round]).unwrap();
                let mut b = [0; 1];
                c.read_exact(&mut b).unwrap();
                b[0]
            });
            let (mut conn, _) = listener.accept().unwrap();
            numbers.push(conn.as_raw_fd());
            // Read here (registering the fd with this thread's epoll) ...
            let mut b = [0; 1];
            let r = corio::with_timeout(Duration::from_secs(2), || conn.read_exact(&mut b));
            r.unwrap_or_else(|e| panic!("round {round}: read on a reused fd: {e}"));
            // ... answer and close on the other scheduler thread.
            other
                .spawn(move || {
                    conn.write_all(&[b[0] + 1]).unwrap();
                })
                .join()
                .unwrap();
            assert_eq!(client.join().unwrap(), round + 1);
        }
        numbers.sort_unstable();
        numbers.dedup();
        assert!(numbers.len() < 20, "no fd number was reused: {numbers:?}");
    });
}

#[test]
fn hang_up_and_error_events_wake_parked_readers_and_writers() {
    let _w = watchdog("hang_up_and_error_events_wake_parked", 30);
    corio::run(|| {
        // EPOLLHUP: the write end of a pipe goes away under a parked reader.
        let (mut r, w) = std::io::pipe().unwrap();
        let reader = corio::spawn(move || r.read(&mut [0; 8]).map_err(|e| e.kind()));
        until_parked(&reader);
        drop(w);
        assert_eq!(reader.join().unwrap(), Ok(0));

        // EPOLLERR: the read end goes away under a writer parked on a full
        // pipe: EPIPE (the Rust runtime ignores SIGPIPE; see the
        // SIG_DFL child below for corio's own sockets).
        let (r, mut w) = std::io::pipe().unwrap();
        let writer = corio::spawn(move || w.write_all(&vec![3; 1 << 20]).map_err(|e| e.kind()));
        until_parked(&writer);
        drop(r);
        assert_eq!(writer.join().unwrap(), Err(io::ErrorKind::BrokenPipe));

        // EPOLLERR|EPOLLHUP on a socket with a reader and a writer parked
        // on it at once: a reset wakes both.
        let (client, server) = tcp_pair();
        let server = Rc::new(server);
        let s = server.clone();
        let reader = corio::spawn(move || (&*s).read(&mut [0; 8]).map_err(|e| e.kind()));
        let s = server.clone();
        let writer =
            corio::spawn(move || (&*s).write_all(&vec![5; 32 << 20]).map_err(|e| e.kind()));
        until_parked(&reader);
        until_parked(&writer);
        linger_zero(&client);
        drop(client);
        let r = reader.join().unwrap();
        let w = writer.join().unwrap();
        assert!(
            matches!(r, Err(io::ErrorKind::ConnectionReset) | Ok(0)),
            "reader: {r:?}"
        );
        assert!(
            matches!(
                w,
                Err(io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe)
            ),
            "writer: {w:?}"
        );
    });
}

#[test]
fn writes_to_a_closed_peer_are_broken_pipe_not_a_signal() {
    let _w = watchdog("writes_to_a_closed_peer_are_broken_pipe", 30);
    corio::run(|| {
        // The Rust runtime ignores SIGPIPE, so here any path would survive;
        // the child below takes that away. Here: every hooked write form.
        let (client, server) = tcp_pair();
        drop(server);
        let fd = client.as_raw_fd();
        corio::sleep(Duration::from_millis(20));
        let mut std_client: std::net::TcpStream = client.into();
        // The first write may still succeed (the RST comes back for it).
        let _ = std_client.write(b"x");
        corio::sleep(Duration::from_millis(20));
        let err = std_client.write(b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        // SAFETY: a valid buffer for write(2) on an fd we own.
        let n = unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) };
        assert_eq!(n, -1);
        assert_eq!(io::Error::last_os_error().raw_os_error(), Some(libc::EPIPE));
    });
}

#[test]
fn write_vectored_to_a_closed_peer_never_raises_sigpipe() {
    let out = net_util::child_command("child_sigpipe_default")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "killed by SIGPIPE:\n{stdout}\n{stderr}"
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("CHILD-OK"), "{stdout}\n{stderr}");
}

/// Child: restores SIGPIPE's default action (death), as a C host program or
/// `-Zon-broken-pipe=kill` would leave it, then writes to closed peers
/// through every write form of corio's sockets.
#[test]
#[ignore = "child process of write_vectored_to_a_closed_peer_never_raises_sigpipe"]
fn child_sigpipe_default() {
    if !net_util::is_child("child_sigpipe_default") {
        return;
    }
    // SAFETY: setting a signal's disposition to its default.
    let old = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(old, libc::SIG_ERR);
    corio::run(|| {
        // Writes after our own shutdown(Write) are EPIPE at once.
        let broken_tcp = || {
            let (client, _server) = tcp_pair();
            client.shutdown(Shutdown::Write).unwrap();
            client
        };
        let broken_unix = || {
            let (a, b) = UnixStream::pair().unwrap();
            drop(b);
            a
        };
        let bufs = [IoSlice::new(b"a"), IoSlice::new(b"b")];
        type Attempt<'a> = Box<dyn Fn() -> io::Result<usize> + 'a>;
        let attempts: [(&str, Attempt<'_>); 4] = [
            ("tcp write", Box::new(|| broken_tcp().write(b"x"))),
            (
                "tcp write_vectored",
                Box::new(|| broken_tcp().write_vectored(&bufs)),
            ),
            ("unix write", Box::new(|| broken_unix().write(b"x"))),
            (
                "unix write_vectored",
                Box::new(|| broken_unix().write_vectored(&bufs)),
            ),
        ];
        for (what, attempt) in attempts {
            println!("{what} ...");
            let kind = attempt().map_err(|e| e.kind());
            println!("{what}: {kind:?}");
            assert!(
                matches!(
                    kind,
                    Err(io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset)
                ),
                "{what}: {kind:?}"
            );
        }
    });
    println!("CHILD-OK");
}
