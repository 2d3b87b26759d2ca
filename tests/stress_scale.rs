//! Scale: 15,000 concurrent connections to an echo server of corio
//! coroutines on ONE scheduler thread, every connection verified byte for
//! byte, then all closed and the server's fd count back to its baseline.
//!
//! The clients run in a child process (this test binary re-executed), so
//! neither process needs more than the 20,000 open files the CI machine
//! allows. Both sides raise their soft RLIMIT_NOFILE to the hard limit.
//! Each side holds one coroutine per connection on a 32 KiB stack: two
//! memory maps each, 30,000 of the default `vm.max_map_count` of 65,530.
//!
//! `CORIO_SCALE_CONNS` overrides the number of connections.

mod net_util;

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::net::{TcpListener, TcpStream};
use net_util::{open_fds, raise_nofile, rss_kib, watchdog};

/// Coroutine stack size on both sides.
const STACK: usize = 32 * 1024;

fn conns() -> usize {
    std::env::var("CORIO_SCALE_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15_000)
}

/// The message connection `conn` sends in `round`: its length and every
/// byte depend on both, so a crossed or truncated echo cannot match.
fn message(conn: usize, round: usize) -> Vec<u8> {
    let len = 16 + (conn * 31 + round * 101) % 240;
    (0..len)
        .map(|j| (conn as u32 ^ (round as u32) << 7 ^ (j as u32).wrapping_mul(2_654_435_761)) as u8)
        .map(|b| b.wrapping_add((conn >> 8) as u8))
        .collect()
}

fn maps() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().count())
        .unwrap_or(0)
}

/// Counts live connection handlers.
struct Active(Rc<Cell<usize>>);

impl Active {
    fn new(c: &Rc<Cell<usize>>) -> Active {
        c.set(c.get() + 1);
        Active(c.clone())
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

#[test]
fn fifteen_thousand_connections_on_one_thread_echo_byte_for_byte() {
    let n = conns();
    let _w = watchdog(
        "fifteen_thousand_connections_on_one_thread_echo_byte_for_byte",
        300,
    );
    let limit = raise_nofile();
    assert!(
        limit as usize > n + 100,
        "RLIMIT_NOFILE {limit} too low for {n} connections"
    );
    corio::run(move || {
        let start = Instant::now();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let active = Rc::new(Cell::new(0usize));
        let (errors, echoed) = (Rc::new(Cell::new(0usize)), Rc::new(Cell::new(0u64)));
        let (a, e, b) = (active.clone(), errors.clone(), echoed.clone());
        let acceptor = corio::spawn(move || {
            loop {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let guard = Active::new(&a);
                        let (e, b) = (e.clone(), b.clone());
                        corio::Builder::new()
                            .stack_size(STACK)
                            .spawn(move || {
                                let _guard = guard;
                                let mut conn = conn;
                                let mut buf = [0; 1024];
                                loop {
                                    match conn.read(&mut buf) {
                                        Ok(0) => return,
                                        Ok(k) => {
                                            if conn.write_all(&buf[..k]).is_err() {
                                                e.set(e.get() + 1);
                                                return;
                                            }
                                            b.set(b.get() + k as u64);
                                        }
                                        Err(_) => {
                                            e.set(e.get() + 1);
                                            return;
                                        }
                                    }
                                }
                            })
                            .expect("spawn a connection handler");
                    }
                    Err(err) if err.kind() == std::io::ErrorKind::Interrupted => return,
                    Err(err) => {
                        eprintln!("server: accept failed: {err}; retrying");
                        corio::sleep(Duration::from_millis(10));
                    }
                }
            }
        });

        let mut child = net_util::child_command("child_scale_clients")
            .env("CORIO_SCALE_ADDR", addr.to_string())
            .env("CORIO_SCALE_CONNS", n.to_string())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        // Read the child's lines in this coroutine: the pipe read parks
        // (hooked), so the server coroutines keep running.
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stdin = child.stdin.take().unwrap();
        let child = net_util::KillOnDrop(child);
        let base_fds = open_fds();
        let base_alive = corio::stats().alive;
        let base_rss = rss_kib();
        let mut expect = |prefix: &str| loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("client child exited before '{prefix}'"))
                .unwrap();
            // libtest may print "test <name> ... " on the same line.
            if let Some(at) = line.find(prefix) {
                return line[at..].to_string();
            }
        };

        let line = expect("CONNECTED");
        let connected_after = start.elapsed();
        // Every connection is accepted by now (the client saw each echo).
        assert_eq!(active.get(), n, "{line}");
        assert_eq!(corio::stats().alive, base_alive + n);
        let held_fds = open_fds();
        assert_eq!(held_fds, base_fds + n, "server fds while holding {n}");
        let (peak_rss, peak_maps) = (rss_kib(), maps());
        assert_eq!(errors.get(), 0);
        // Second round on every connection while all are open.
        writeln!(stdin, "GO").unwrap();
        let line = expect("DONE");
        assert_eq!(line, format!("DONE {n} verified"), "client: {line}");

        // The client closed everything: every handler ends, every fd goes.
        let wait = Instant::now();
        while (active.get() > 0 || open_fds() > base_fds)
            && wait.elapsed() < Duration::from_secs(60)
        {
            corio::sleep(Duration::from_millis(10));
        }
        assert_eq!(active.get(), 0, "handlers still alive");
        assert_eq!(open_fds(), base_fds, "server fd count back to baseline");
        assert_eq!(corio::stats().alive, base_alive, "coroutine leak");
        assert_eq!(errors.get(), 0, "server-side I/O errors");
        let total: u64 = (0..n)
            .map(|c| (message(c, 0).len() + message(c, 1).len()) as u64)
            .sum();
        assert_eq!(echoed.get(), total, "bytes echoed");
        let mut child = child;
        let status = child.0.wait().unwrap();
        assert!(status.success(), "client child: {status}");
        acceptor.cancel();
        eprintln!(
            "scale: {n} connections held on one thread; all connected and echoed after {:.1?}, \
             done after {:.1?}; server fds {base_fds} -> {held_fds} -> {}; \
             RSS {base_rss} -> {peak_rss} KiB; maps {peak_maps}; {total} bytes echoed",
            connected_after,
            start.elapsed(),
            open_fds(),
        );
    });
}

/// Child: `CORIO_SCALE_CONNS` client coroutines on one thread. Each
/// connects, sends its first message and checks the echo, then waits for
/// "GO" on stdin (all connections open at once), sends its second
/// message, checks it, and closes.
#[test]
#[ignore = "child process of fifteen_thousand_connections_on_one_thread_echo_byte_for_byte"]
fn child_scale_clients() {
    if !net_util::is_child("child_scale_clients") {
        return;
    }
    raise_nofile();
    let addr: SocketAddr = std::env::var("CORIO_SCALE_ADDR").unwrap().parse().unwrap();
    let n = conns();
    corio::run(move || {
        // At most this many connects in flight: the listen backlog stays
        // far from full, so no SYN is dropped and retried a second later.
        let connecting = Rc::new(corio::sync::Semaphore::new(256));
        let go = Rc::new(corio::sync::Semaphore::new(0));
        let connected = Rc::new(Cell::new(0usize));
        let clients: Vec<_> = (0..n)
            .map(|c| {
                let (connecting, go, connected) =
                    (connecting.clone(), go.clone(), connected.clone());
                corio::Builder::new()
                    .stack_size(STACK)
                    .spawn(move || {
                        let permit = connecting.acquire().unwrap();
                        let mut s = TcpStream::connect(addr)
                            .unwrap_or_else(|e| panic!("connection {c}: connect: {e}"));
                        let check = |s: &mut TcpStream, round| {
                            let msg = message(c, round);
                            s.write_all(&msg).unwrap();
                            let mut back = vec![0; msg.len()];
                            s.read_exact(&mut back)
                                .unwrap_or_else(|e| panic!("connection {c} round {round}: {e}"));
                            assert!(back == msg, "connection {c} round {round}: echo differs");
                        };
                        check(&mut s, 0);
                        drop(permit);
                        connected.set(connected.get() + 1);
                        go.acquire().unwrap().forget();
                        check(&mut s, 1);
                    })
                    .expect("spawn a client")
            })
            .collect();
        while connected.get() < n {
            corio::sleep(Duration::from_millis(5));
        }
        println!("CONNECTED {n}");
        // stdin is inherited, not created here: a plain blocking read.
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "GO");
        go.add_permits(n);
        let mut failed = 0;
        for h in clients {
            failed += h.join().is_err() as usize;
        }
        assert_eq!(failed, 0, "{failed} connections failed");
        println!("DONE {n} verified");
    });
}
