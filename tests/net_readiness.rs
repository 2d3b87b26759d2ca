//! The readiness hint that lets a read park without an EAGAIN syscall
//! after a short read (`corio_sched::fd_ready`): cases where a short
//! transfer does NOT mean "nothing more to read" must still be served.

mod net_util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use net_util::watchdog;

/// Data and FIN arrive together; a short read drains the data, and the
/// next read must see EOF at once (no further event will come).
#[test]
fn short_read_then_pending_eof_returns_eof() {
    let _w = watchdog("short_read_then_pending_eof_returns_eof", 10);
    corio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = corio::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"0123456789").unwrap();
            // Dropping closes: FIN follows the data.
        });
        let mut c = TcpStream::connect(addr).unwrap();
        // Park once on this fd so it is registered with the reactor.
        let mut first = [0u8; 1];
        c.read_exact(&mut first).unwrap();
        server.join().unwrap();
        corio::sleep(Duration::from_millis(50)); // rest + FIN are queued
        let mut buf = [0u8; 100];
        let n = c.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"123456789", "short read");
        assert_eq!(
            c.read(&mut buf).unwrap(),
            0,
            "EOF right after the short read"
        );
    });
}

/// A datagram read is always "short"; the next datagram must still be read.
#[test]
fn udp_short_reads_do_not_hide_queued_datagrams() {
    let _w = watchdog("udp_short_reads_do_not_hide_queued_datagrams", 10);
    corio::run(|| {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.connect(a.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 64];
        // Register `a` by parking on it once.
        let sender = {
            let b = b.try_clone().unwrap();
            corio::spawn(move || {
                corio::sleep(Duration::from_millis(20));
                b.send(b"first").unwrap();
            })
        };
        let (n, _) = a.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"first");
        sender.join().unwrap();
        b.send(b"one").unwrap();
        b.send(b"two").unwrap();
        corio::sleep(Duration::from_millis(20));
        let (n, _) = a.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"one");
        let (n, _) = a.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"two");
    });
}

/// A short peek leaves the data queued: the read after it gets it.
#[test]
fn short_peek_then_read_gets_the_data() {
    let _w = watchdog("short_peek_then_read_gets_the_data", 10);
    corio::run(|| {
        let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = corio::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            corio::sleep(Duration::from_millis(20));
            s.write_all(b"peekaboo").unwrap();
            corio::sleep(Duration::from_millis(200));
        });
        let c = corio::net::TcpStream::connect(addr).unwrap();
        let mut buf = [0u8; 64];
        let n = c.peek(&mut buf).unwrap(); // parks, then a short peek
        assert_eq!(&buf[..n], b"peekaboo");
        let n = (&c).read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"peekaboo");
        server.join().unwrap();
    });
}

/// Ping-pong over one connection: every read after the first is preceded
/// by a short read, so it parks without trying; all bytes still arrive.
#[test]
fn ping_pong_after_short_reads_is_byte_exact() {
    let _w = watchdog("ping_pong_after_short_reads_is_byte_exact", 20);
    corio::run(|| {
        let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = corio::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    return;
                }
                s.write_all(&buf[..n]).unwrap();
            }
        });
        let mut c = corio::net::TcpStream::connect(addr).unwrap();
        let mut buf = [0u8; 4096];
        for i in 0..2000u32 {
            let msg = format!("message {i:06}");
            c.write_all(msg.as_bytes()).unwrap();
            let mut got = 0;
            while got < msg.len() {
                got += c.read(&mut buf[got..]).unwrap();
            }
            assert_eq!(&buf[..got], msg.as_bytes());
        }
        drop(c);
        server.join().unwrap();
    });
}

/// A read that timed out leaves its waiter on the fd (woken waiters are
/// pruned lazily), holding a reference to the task. If the task then
/// finishes with the socket as its result and nobody can join it, the
/// socket must close then, not when the next event on the fd finds the
/// stale waiter: that could be never (the fd leaks and the peer waits
/// forever), and when it comes, the drop would run inside the scheduler's
/// event dispatch, whose reactor the socket's close needs. Both orders:
/// the handle dropped after the task finished, and before.
#[test]
fn a_detached_coroutine_closes_the_socket_it_returns_despite_a_stale_waiter() {
    let _w = watchdog(
        "a_detached_coroutine_closes_the_socket_it_returns_despite_a_stale_waiter",
        20,
    );
    corio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        for detach_first in [false, true] {
            let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (conn, _) = listener.accept().unwrap();
            let task = corio::spawn(move || {
                conn.set_read_timeout(Some(Duration::from_millis(20)))
                    .unwrap();
                let e = (&conn).read(&mut [0u8; 8]).unwrap_err();
                assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
                conn
            });
            if detach_first {
                drop(task);
            } else {
                while !task.is_finished() {
                    corio::sleep(Duration::from_millis(5));
                }
                drop(task);
            }
            // No write from the peer: nothing wakes the stale waiter.
            peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let n = peer.read(&mut [0u8; 1]).unwrap_or_else(|e| {
                panic!("detach_first={detach_first}: the socket was not closed: {e}")
            });
            assert_eq!(n, 0, "detach_first={detach_first}");
            // The fd number is free for reuse and the scheduler still
            // serves it: one echo over a new connection.
            let mut again = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (mut conn, _) = listener.accept().unwrap();
            again.write_all(b"ping").unwrap();
            let mut buf = [0u8; 4];
            conn.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"ping");
        }
    });
}
