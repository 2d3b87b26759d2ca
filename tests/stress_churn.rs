//! Churn: connect / exchange / close in a loop from several client
//! coroutines against an echo server, all on one scheduler thread, for
//! `CORIO_CHURN_SECS` seconds (default 10). Clients alternate corio's
//! streams and std's (through the hooks), message sizes from 1 byte to
//! 256 KiB, and four ways to end a connection: a graceful close, a
//! half-close then EOF, a reset after the exchange, and a reset in the
//! middle of a message.
//!
//! Afterwards: no fd leak (`/proc/self/fd` back to its count before the
//! churn), no coroutine leak (`stats().alive` back to its baseline), and
//! RSS within 16 MiB of its value after the first second of warm-up.

mod net_util;

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::net::{TcpListener, TcpStream};
use net_util::{linger_zero, open_fds, rss_kib, watchdog};

/// Client coroutines.
const CLIENTS: usize = 8;
/// Allowed RSS growth after warm-up.
const RSS_SLACK_KIB: u64 = 16 * 1024;

fn churn_secs() -> f64 {
    std::env::var("CORIO_CHURN_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10.0)
}

/// A small xorshift PRNG.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// How a client ends its connection.
#[derive(Clone, Copy, Debug)]
enum End {
    /// Exchange, then close.
    Close,
    /// Send, shut down writing, read the echo to EOF, close.
    HalfClose,
    /// Exchange, then reset.
    Reset,
    /// Send part of the message, then reset without reading.
    ResetMidMessage,
}

/// Totals of the clients.
#[derive(Default)]
struct Totals {
    connections: Cell<u64>,
    bytes: Cell<u64>,
    resets: Cell<u64>,
}

/// One connection of the churn; returns the bytes verified.
fn one_connection<S: Read + Write + AsRawFd>(
    mut s: S,
    shutdown: impl Fn(&S),
    rng: &mut Rng,
    end: End,
) -> u64 {
    let len = match rng.below(10) {
        0 => 1 + rng.below(256 * 1024),
        _ => 1 + rng.below(8 * 1024),
    } as usize;
    let seed = rng.next();
    let msg: Vec<u8> = (0..len)
        .map(|i| (seed >> (i % 8 * 8)) as u8 ^ i as u8)
        .collect();
    match end {
        End::ResetMidMessage => {
            s.write_all(&msg[..len / 2]).unwrap();
            linger_zero(&s);
            return 0;
        }
        End::HalfClose => {
            s.write_all(&msg).unwrap();
            shutdown(&s);
            let mut back = Vec::with_capacity(len);
            s.read_to_end(&mut back).unwrap();
            assert!(back == msg, "half-close echo differs ({len} bytes)");
        }
        End::Close | End::Reset => {
            // Write and read in turns of at most 64 KiB, so neither side's
            // buffers fill while the other is writing too.
            let mut back = vec![0; len];
            for (out, inn) in msg.chunks(64 * 1024).zip(back.chunks_mut(64 * 1024)) {
                s.write_all(out).unwrap();
                s.read_exact(inn).unwrap();
            }
            assert!(back == msg, "echo differs ({len} bytes)");
            if let End::Reset = end {
                linger_zero(&s);
            }
        }
    }
    len as u64
}

fn client(id: usize, addr: SocketAddr, until: Instant, totals: Rc<Totals>) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((id as u64 + 1) * 0x1234_5678_9abc));
    while Instant::now() < until {
        let end = match rng.below(8) {
            0 => End::HalfClose,
            1 => End::Reset,
            2 => End::ResetMidMessage,
            _ => End::Close,
        };
        let bytes = if id % 2 == 0 {
            let s = TcpStream::connect(addr).unwrap();
            one_connection(s, |s| s.shutdown(Shutdown::Write).unwrap(), &mut rng, end)
        } else {
            let s = std::net::TcpStream::connect(addr).unwrap();
            one_connection(s, |s| s.shutdown(Shutdown::Write).unwrap(), &mut rng, end)
        };
        totals.connections.set(totals.connections.get() + 1);
        totals.bytes.set(totals.bytes.get() + bytes);
        if matches!(end, End::Reset | End::ResetMidMessage) {
            totals.resets.set(totals.resets.get() + 1);
        }
    }
}

#[test]
fn churn_of_connections_leaks_no_fd_coroutine_or_memory() {
    let secs = churn_secs();
    let _w = watchdog(
        "churn_of_connections_leaks_no_fd_coroutine_or_memory",
        secs as u64 + 120,
    );
    corio::run(move || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handlers = Rc::new(Cell::new(0usize));
        let h = handlers.clone();
        let acceptor = corio::spawn(move || {
            loop {
                let conn = match listener.accept() {
                    Ok((conn, _)) => conn,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => return,
                    Err(e) => panic!("accept: {e}"),
                };
                h.set(h.get() + 1);
                let h = h.clone();
                corio::spawn(move || {
                    let mut conn = conn;
                    let mut buf = vec![0; 16 * 1024];
                    // Echo until EOF or an error (the resets).
                    while let Ok(n @ 1..) = conn.read(&mut buf) {
                        if conn.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    h.set(h.get() - 1);
                });
            }
        });
        corio::yield_now();
        let base_fds = open_fds();
        let base_alive = corio::stats().alive;

        let start = Instant::now();
        let until = start + Duration::from_secs_f64(secs);
        let totals = Rc::new(Totals::default());
        let clients: Vec<_> = (0..CLIENTS)
            .map(|id| {
                let totals = totals.clone();
                corio::spawn(move || client(id, addr, until, totals))
            })
            .collect();
        // Warm-up: pools, buffers and the allocator reach their working size.
        corio::sleep(Duration::from_secs_f64((secs / 10.0).min(1.0)));
        let warm_rss = rss_kib();
        let mut peak_rss = warm_rss;
        while clients.iter().any(|c| !c.is_finished()) {
            corio::sleep(Duration::from_millis(100));
            peak_rss = peak_rss.max(rss_kib());
        }
        for c in clients {
            c.join().unwrap();
        }
        let elapsed = start.elapsed();
        // The last handlers see their clients' EOFs and resets.
        let wait = Instant::now();
        while handlers.get() > 0 && wait.elapsed() < Duration::from_secs(10) {
            corio::sleep(Duration::from_millis(5));
        }
        let end_rss = rss_kib();
        let (n, bytes) = (totals.connections.get(), totals.bytes.get());
        eprintln!(
            "churn: {n} connections ({} reset) in {elapsed:.1?} ({:.0}/s), {} MiB verified; \
             fds {base_fds} -> {}; alive {base_alive} -> {}; RSS after warm-up {warm_rss} KiB, \
             peak {peak_rss} KiB, end {end_rss} KiB",
            totals.resets.get(),
            n as f64 / elapsed.as_secs_f64(),
            bytes >> 20,
            open_fds(),
            corio::stats().alive,
        );
        assert!(n > 100, "only {n} connections");
        assert_eq!(handlers.get(), 0, "handlers still running");
        assert_eq!(open_fds(), base_fds, "fd leak");
        assert_eq!(corio::stats().alive, base_alive, "coroutine leak");
        assert!(
            end_rss <= warm_rss + RSS_SLACK_KIB,
            "RSS grew from {warm_rss} KiB to {end_rss} KiB"
        );
        acceptor.cancel();
    });
}
