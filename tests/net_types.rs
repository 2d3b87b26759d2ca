//! corio's own socket types: echo, timeouts, connect errors, UDP, Unix,
//! half-close and reset, cancellation and deadlines.

mod net_util;

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use net_util::watchdog;

const CONNS: usize = 100;
const MIB: usize = 1 << 20;

#[test]
fn echo_1_mib_through_100_connections_on_one_thread() {
    let _w = watchdog("echo_1_mib_through_100_connections_on_one_thread", 120);
    corio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        corio::spawn(move || {
            for conn in listener.incoming().take(CONNS) {
                let mut conn = conn.unwrap();
                corio::spawn(move || {
                    let mut buf = vec![0; 64 * 1024];
                    loop {
                        let n = conn.read(&mut buf).unwrap();
                        if n == 0 {
                            break;
                        }
                        conn.write_all(&buf[..n]).unwrap();
                    }
                });
            }
        });
        let base: Rc<Vec<u8>> = Rc::new((0..MIB).map(|i| (i * 31 % 251) as u8).collect());
        let clients: Vec<_> = (0..CONNS)
            .map(|id| {
                let base = base.clone();
                corio::spawn(move || {
                    let mut data = (*base).clone();
                    data[..8].copy_from_slice(&(id as u64).to_le_bytes());
                    let data = Rc::new(data);
                    let stream = TcpStream::connect(addr).unwrap();
                    let mut writer = stream.try_clone().unwrap();
                    let sent = data.clone();
                    let w = corio::spawn(move || {
                        for chunk in sent.chunks(16 * 1024) {
                            writer.write_all(chunk).unwrap();
                        }
                        writer.shutdown(Shutdown::Write).unwrap();
                    });
                    let mut back = Vec::with_capacity(MIB);
                    (&stream).read_to_end(&mut back).unwrap();
                    w.join().unwrap();
                    assert!(back == *data, "connection {id}: echo differs");
                    back.len()
                })
            })
            .collect();
        let total: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
        assert_eq!(total, CONNS * MIB);
    });
}

/// A coroutine that counts ticks every millisecond until told to stop:
/// proof that the thread kept running other coroutines.
fn ticker() -> (Rc<std::cell::Cell<bool>>, corio::JoinHandle<u32>) {
    let stop = Rc::new(std::cell::Cell::new(false));
    let s = stop.clone();
    let h = corio::spawn(move || {
        let mut ticks = 0;
        while !s.get() {
            corio::sleep(Duration::from_millis(1));
            ticks += 1;
        }
        ticks
    });
    (stop, h)
}

#[test]
fn read_timeout_gives_would_block_and_others_run() {
    let _w = watchdog("read_timeout_gives_would_block_and_others_run", 30);
    corio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, _) = listener.accept().unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        assert_eq!(
            client.read_timeout().unwrap(),
            Some(Duration::from_millis(200))
        );
        let (stop, ticks) = ticker();
        let start = Instant::now();
        let err = client.read(&mut [0; 16]).unwrap_err();
        let took = start.elapsed();
        stop.set(true);
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(
            took >= Duration::from_millis(200),
            "timed out early: {took:?}"
        );
        assert!(took < Duration::from_secs(2), "took {took:?}");
        assert!(ticks.join().unwrap() > 20, "the thread was blocked");
        assert!(
            client
                .set_read_timeout(Some(Duration::ZERO))
                .unwrap_err()
                .kind()
                == io::ErrorKind::InvalidInput
        );
    });
}

#[test]
fn write_timeout_gives_would_block() {
    let _w = watchdog("write_timeout_gives_would_block", 30);
    corio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, _) = listener.accept().unwrap(); // never reads
        client
            .set_write_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let (stop, ticks) = ticker();
        let chunk = vec![7u8; 1 << 16];
        let start = Instant::now();
        let err = loop {
            if let Err(e) = client.write(&chunk) {
                break e;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "never filled");
        };
        stop.set(true);
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(ticks.join().unwrap() > 10, "the thread was blocked");
    });
}

#[test]
fn connect_to_a_port_nobody_listens_on_fails_fast() {
    let _w = watchdog("connect_to_a_port_nobody_listens_on_fails_fast", 30);
    corio::run(|| {
        // Bind then drop: the port is free and nobody listens.
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let start = Instant::now();
        let err = TcpStream::connect(addr).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        let err = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        assert!(start.elapsed() < Duration::from_secs(1));
        let zero = TcpStream::connect_timeout(&addr, Duration::ZERO).unwrap_err();
        assert_eq!(zero.kind(), io::ErrorKind::InvalidInput);
    });
}

#[test]
fn connect_timeout_passes_when_the_backlog_is_full() {
    let _w = watchdog("connect_timeout_passes_when_the_backlog_is_full", 60);
    corio::run(|| {
        // A listener that never accepts, with the smallest backlog: once
        // its queue is full the kernel drops further SYNs, so a connect
        // hangs until its timeout.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: listen(2) on a socket we own.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
        let (stop, ticks) = ticker();
        let mut held = Vec::new();
        let mut timed_out = None;
        for _ in 0..16 {
            let start = Instant::now();
            match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => held.push(s),
                Err(e) => {
                    timed_out = Some((e, start.elapsed()));
                    break;
                }
            }
        }
        stop.set(true);
        let (err, took) = timed_out.expect("some connect must time out");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(took >= Duration::from_millis(300), "early: {took:?}");
        assert!(took < Duration::from_secs(3), "took {took:?}");
        assert!(ticks.join().unwrap() > 30, "the thread was blocked");
    });
}

#[test]
fn udp_round_trip() {
    let _w = watchdog("udp_round_trip", 30);
    corio::run(|| {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let server_addr = server.local_addr().unwrap();
        let echo = corio::spawn(move || {
            let mut buf = [0; 1500];
            for _ in 0..10 {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                server.send_to(&buf[..n], from).unwrap();
            }
        });
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(server_addr).unwrap();
        assert_eq!(client.peer_addr().unwrap(), server_addr);
        for i in 0..10u8 {
            let msg = [i; 100];
            client.send(&msg).unwrap();
            let mut buf = [0; 1500];
            assert_eq!(client.peek(&mut buf).unwrap(), 100);
            let n = client.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &msg[..]);
        }
        echo.join().unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let err = client.recv(&mut [0; 8]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    });
}

#[test]
fn unix_round_trips() {
    let _w = watchdog("unix_round_trips", 30);
    let dir = std::env::temp_dir().join(format!("corio-net-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let _ = std::fs::remove_file(&path);
    corio::run(move || {
        let listener = UnixListener::bind(&path).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        corio::spawn(move || {
            for conn in listener.incoming() {
                let mut conn = conn.unwrap();
                corio::spawn(move || {
                    let mut buf = [0; 4096];
                    loop {
                        match conn.read(&mut buf).unwrap() {
                            0 => break,
                            n => conn.write_all(&buf[..n]).unwrap(),
                        }
                    }
                });
            }
        });
        let clients: Vec<_> = (0..20u8)
            .map(|i| {
                let path = path.clone();
                corio::spawn(move || {
                    let mut s = UnixStream::connect(&path).unwrap();
                    let msg = vec![i; 10_000];
                    s.write_all(&msg).unwrap();
                    let mut back = vec![0; msg.len()];
                    s.read_exact(&mut back).unwrap();
                    assert_eq!(back, msg);
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        // A pair: one side waits while the other writes later.
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let writer = corio::spawn(move || {
            corio::sleep(Duration::from_millis(20));
            b.write_all(b"late").unwrap();
        });
        let mut buf = [0; 4];
        a.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"late");
        writer.join().unwrap();
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn half_close_is_eof_and_reset_is_connection_reset() {
    let _w = watchdog("half_close_is_eof_and_reset_is_connection_reset", 30);
    corio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();

        // Half-close: the peer reads EOF and can still answer.
        let mut client = TcpStream::connect(addr).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let peer = corio::spawn(move || {
            let mut got = Vec::new();
            server.read_to_end(&mut got).unwrap(); // ends at EOF
            server.write_all(&got).unwrap();
            got.len()
        });
        client.write_all(b"half").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        client.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"half");
        assert_eq!(peer.join().unwrap(), 4);

        // Reset: the peer closes with unread data, so the kernel sends RST.
        let mut client = TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        let peer = corio::spawn(move || {
            server.peek(&mut [0; 1]).unwrap(); // the data has arrived
            drop(server);
        });
        client.write_all(b"unread").unwrap();
        peer.join().unwrap();
        let err = client.read(&mut [0; 16]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    });
}

#[test]
fn cancel_interrupts_and_deadline_times_out() {
    let _w = watchdog("cancel_interrupts_and_deadline_times_out", 30);
    corio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, _) = listener.accept().unwrap();
        let reader = client.try_clone().unwrap();
        let h = corio::spawn(move || (&reader).read(&mut [0; 8]).map_err(|e| e.kind()));
        corio::sleep(Duration::from_millis(20));
        h.cancel();
        assert_eq!(h.join().unwrap(), Err(io::ErrorKind::Interrupted));

        let start = Instant::now();
        let err = corio::with_timeout(Duration::from_millis(50), || {
            (&client).read(&mut [0; 8]).unwrap_err()
        });
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(50));
        let err = corio::with_timeout(Duration::from_millis(50), || listener.accept().unwrap_err());
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    });
}

#[test]
fn conversions_nonblocking_and_outside_coroutines() {
    let _w = watchdog("conversions_nonblocking_and_outside_coroutines", 30);
    // Outside any coroutine the types block the thread like std's.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(b"from a thread").unwrap();
    });
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    assert!(s.nodelay().unwrap());
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    assert_eq!(got, "from a thread");
    t.join().unwrap();

    corio::run(|| {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let listener = TcpListener::from(std_listener);
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        assert_eq!(
            listener.accept().unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        listener.set_nonblocking(false).unwrap();
        let c = corio::spawn(move || std::net::TcpStream::connect(addr).unwrap());
        let (server, peer) = listener.accept().unwrap();
        let client = TcpStream::from(c.join().unwrap());
        assert_eq!(client.local_addr().unwrap(), peer);
        assert_eq!(client.peer_addr().unwrap(), addr);
        let back: std::net::TcpStream = server.into();
        assert_eq!(back.peer_addr().unwrap(), peer);
    });
}
