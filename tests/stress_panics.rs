//! Panics and overflow under load: 1,000 coroutines with connections open,
//! every tenth panicking mid-exchange, while an echo server on the same
//! thread keeps serving a probe; and a stack overflow inside `corio::run`
//! that aborts with the named message (in a child process).
//!
//! Panic capture itself (payloads, unjoined panics reported once) is in
//! `sched/tests/panics.rs`; overflow of bare coroutines, nested ones and
//! threads without an alternate signal stack in `coro/tests/overflow.rs`.

mod net_util;

use std::cell::Cell;
use std::hint::black_box;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::rc::Rc;
use std::time::Duration;

use corio::net::{TcpListener, TcpStream};
use net_util::{exchange, watchdog};

const WORKERS: usize = 1000;

/// An echo server in coroutines of this scheduler; returns its address and
/// the count of live handlers.
fn echo_server() -> (SocketAddr, Rc<Cell<usize>>, corio::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let live = Rc::new(Cell::new(0usize));
    let l = live.clone();
    let acceptor = corio::spawn(move || {
        while let Ok((mut conn, _)) = listener.accept() {
            l.set(l.get() + 1);
            let l = l.clone();
            corio::spawn(move || {
                let mut buf = [0; 4096];
                while let Ok(n @ 1..) = conn.read(&mut buf) {
                    if conn.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                l.set(l.get() - 1);
            });
        }
    });
    (addr, live, acceptor)
}

#[test]
fn a_thousand_coroutines_every_tenth_panicking_leave_the_rest_and_the_server_running() {
    let _w = watchdog(
        "a_thousand_coroutines_every_tenth_panicking_leave_the_rest_and_the_server_running",
        120,
    );
    corio::run(|| {
        let (addr, live, acceptor) = echo_server();
        let base = corio::stats().alive;
        // A probe keeps talking to the server the whole time.
        let stop = Rc::new(Cell::new(false));
        let s = stop.clone();
        let probe = corio::spawn(move || {
            let mut rounds = 0u32;
            let mut conn = TcpStream::connect(addr).unwrap();
            while !s.get() {
                exchange(&mut conn, format!("probe {rounds}").as_bytes()).unwrap();
                rounds += 1;
                corio::sleep(Duration::from_millis(1));
            }
            rounds
        });
        let workers: Vec<_> = (0..WORKERS)
            .map(|i| {
                corio::spawn(move || {
                    let mut conn = TcpStream::connect(addr).unwrap();
                    exchange(&mut conn, format!("worker {i} hello").as_bytes()).unwrap();
                    corio::sleep(Duration::from_millis(i as u64 % 7 * 5));
                    if i % 10 == 9 {
                        // Mid-exchange: a message in flight, its echo unread.
                        conn.write_all(b"never read back").unwrap();
                        panic!("worker {i} gives up");
                    }
                    exchange(&mut conn, format!("worker {i} bye").as_bytes()).unwrap();
                    i * 3
                })
            })
            .collect();
        let t0 = std::time::Instant::now();
        let mut panicked = Vec::new();
        for (i, h) in workers.into_iter().enumerate() {
            match h.join() {
                Ok(v) => assert_eq!(v, i * 3),
                Err(payload) => {
                    let msg = payload
                        .downcast_ref::<String>()
                        .cloned()
                        .unwrap_or_default();
                    assert_eq!(msg, format!("worker {i} gives up"));
                    panicked.push(i);
                }
            }
        }
        assert_eq!(panicked.len(), WORKERS / 10);
        assert!(panicked.iter().all(|i| i % 10 == 9));
        let took = t0.elapsed();
        stop.set(true);
        let probe_rounds = probe.join().unwrap();
        assert!(probe_rounds >= 2, "the server stopped serving the probe");
        // The server still serves a new connection, and every handler of
        // the workers (panicked or not) ended when its connection did.
        let mut conn = TcpStream::connect(addr).unwrap();
        exchange(&mut conn, b"still there?").unwrap();
        drop(conn);
        for _ in 0..500 {
            if live.get() == 0 {
                break;
            }
            corio::sleep(Duration::from_millis(2));
        }
        assert_eq!(live.get(), 0, "handlers left behind");
        assert_eq!(corio::stats().alive, base, "coroutines left behind");
        eprintln!(
            "panics: {} of {WORKERS} workers panicked, {} finished in {took:.1?}; the probe made \
             {probe_rounds} exchanges meanwhile",
            panicked.len(),
            WORKERS - panicked.len()
        );
        acceptor.cancel();
    });
}

/// Recurses until the stack runs out.
#[inline(never)]
fn recurse_forever(depth: u64) -> u64 {
    let frame = black_box([depth; 32]);
    if black_box(depth) == u64::MAX {
        return 0;
    }
    recurse_forever(depth + 1).wrapping_add(frame[(depth % 32) as usize])
}

#[test]
fn stack_overflow_in_a_served_coroutine_aborts_with_its_name() {
    let out = net_util::child_command("child_overflow_in_run")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "status {:?}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("CHILD-RAN"), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("coroutine 'conn-handler' has overflowed its stack (64 KiB)"),
        "{stderr}"
    );
}

/// Child: a server coroutine named `conn-handler` with a 64 KiB stack
/// recurses without bound while another coroutine is parked in I/O.
#[test]
#[ignore = "child process of stack_overflow_in_a_served_coroutine_aborts_with_its_name"]
fn child_overflow_in_run() {
    if !net_util::is_child("child_overflow_in_run") {
        return;
    }
    net_util::no_core_dumps();
    corio::run(|| {
        let (addr, _, _) = echo_server();
        let _conn = TcpStream::connect(addr).unwrap();
        let h = corio::Builder::new()
            .name("conn-handler")
            .stack_size(64 * 1024)
            .spawn(|| {
                println!("CHILD-RAN");
                black_box(recurse_forever(0))
            })
            .unwrap();
        let _ = h.join();
        unreachable!("the overflow must abort");
    });
}
