//! Limits, reported clearly and survived, each in a child process (this test
//! binary re-executed) so the lowered limit touches nothing else:
//!
//! - the open-file limit on accept: a server whose RLIMIT_NOFILE runs out
//!   gets EMFILE from `accept`, backs off and retries, keeps serving the
//!   connections it has, and accepts the waiting ones once fds free up;
//! - `vm.max_map_count`: spawning fails with an error naming the limit
//!   (`Builder::spawn`) or panics with it (`corio::spawn`), the scheduler
//!   keeps running, and spawning works again once stacks are released.
//!   (The same limit for bare coroutines: `coro/tests/stack.rs`.)

mod net_util;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream as StdStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::net::TcpListener;
use net_util::{exchange, watchdog};

/// Fds the EMFILE child has to spare for connections.
const SLOTS: u64 = 6;
/// Connections the parent opens: more than the child can accept.
const CONNS: usize = 10;

#[test]
fn accept_at_the_open_file_limit_backs_off_and_recovers() {
    let _w = watchdog("accept_at_the_open_file_limit_backs_off_and_recovers", 60);
    let mut child = net_util::child_command("child_emfile_server")
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let child = net_util::KillOnDrop(child);
    let mut expect = |prefix: &str| loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("server child exited before '{prefix}'"))
            .unwrap();
        if let Some(at) = line.find(prefix) {
            return line[at + prefix.len()..].trim().to_string();
        }
    };
    let addr: std::net::SocketAddr = expect("ADDR").parse().unwrap();

    // More connections than the server has fds for: the kernel completes
    // every handshake, the server accepts what it can.
    let mut conns: Vec<StdStream> = (0..CONNS)
        .map(|_| StdStream::connect(addr).unwrap())
        .collect();
    // "EMFILE after <n> accepted: <error>"
    let emfile = expect("EMFILE after");
    let slots: usize = emfile.split_whitespace().next().unwrap().parse().unwrap();
    assert!((1..CONNS).contains(&slots), "{emfile}");
    let (mut served, mut waiting) = (Vec::new(), Vec::new());
    for (i, mut c) in conns.drain(..).enumerate() {
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        match exchange(&mut c, format!("first {i}").as_bytes()) {
            Ok(()) => served.push(c),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => waiting.push(c),
            Err(e) => panic!("connection {i}: {e}"),
        }
    }
    assert_eq!(
        served.len(),
        slots,
        "served: the ones accepted before the limit"
    );
    assert_eq!(waiting.len(), CONNS - slots);
    // The server is backing off on accept, and serves what it has.
    for (i, c) in served.iter_mut().enumerate() {
        exchange(c, format!("again {i}").as_bytes()).unwrap();
    }
    // Free the server's fds: the waiting connections get accepted (they
    // already sent their first message, which comes back first).
    drop(served);
    for (i, c) in waiting.iter_mut().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let first = format!("first {}", i + slots);
        let mut back = vec![0; first.len()];
        c.read_exact(&mut back).unwrap();
        assert_eq!(back, first.as_bytes());
        exchange(c, b"served at last").unwrap();
    }
    waiting[0].write_all(b"quit").unwrap();
    let report = expect("REPORT");
    let mut child = child;
    let status = child.0.wait().unwrap();
    assert!(status.success(), "server child: {status}");
    eprintln!("emfile: first EMFILE after {emfile}; {report}");
}

/// Child: an echo server on one scheduler thread with fds for only
/// `SLOTS` connections; its acceptor backs off on EMFILE like
/// `examples/echo.rs`.
#[test]
#[ignore = "child process of accept_at_the_open_file_limit_backs_off_and_recovers"]
fn child_emfile_server() {
    if !net_util::is_child("child_emfile_server") {
        return;
    }
    corio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // From here on no fd is opened but the accepted connections.
        let used = net_util::open_fds() as u64;
        let limit = net_util::set_nofile(Some(used + SLOTS));
        println!("ADDR {}", listener.local_addr().unwrap());
        let quit = Rc::new(std::cell::Cell::new(false));
        let (mut accepted, mut emfile, mut first_emfile) = (0, 0, None);
        while !quit.get() {
            let conn = match corio::with_timeout(Duration::from_millis(50), || listener.accept()) {
                Ok((conn, _)) => conn,
                Err(e) if e.raw_os_error() == Some(libc::EMFILE) => {
                    if emfile == 0 {
                        println!("EMFILE after {accepted} accepted: {e}");
                        first_emfile = Some(Instant::now());
                    }
                    emfile += 1;
                    corio::sleep(Duration::from_millis(20));
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => continue,
                Err(e) => panic!("accept: {e}"),
            };
            accepted += 1;
            let quit = quit.clone();
            corio::spawn(move || {
                let mut conn = conn;
                let mut buf = [0; 256];
                while let Ok(n @ 1..) = conn.read(&mut buf) {
                    if &buf[..n] == b"quit" {
                        quit.set(true);
                        return;
                    }
                    conn.write_all(&buf[..n]).unwrap();
                }
            });
        }
        let backed_off = first_emfile.map(|t| t.elapsed()).unwrap_or_default();
        println!(
            "REPORT RLIMIT_NOFILE lowered to {limit}; accepted {accepted} connections; accept failed with \
             EMFILE {emfile} times (backing off 20 ms each) over {backed_off:.1?}"
        );
        assert!(emfile > 0);
        assert_eq!(accepted, CONNS);
    });
}

#[test]
fn spawn_at_the_map_limit_fails_clearly_and_the_scheduler_survives() {
    let _w = watchdog(
        "spawn_at_the_map_limit_fails_clearly_and_the_scheduler_survives",
        120,
    );
    let out = net_util::child_command("child_map_limit").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    let report = stdout
        .lines()
        .find_map(|l| l.find("REPORT").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("no report:\n{stdout}\n{stderr}"));
    eprintln!("maps: {report}");
}

/// Child: spawns coroutines (16 KiB stacks, two maps each) until
/// `vm.max_map_count` runs out. Skipped where the limit is so high that
/// this would cost too much.
#[test]
#[ignore = "child process of spawn_at_the_map_limit_fails_clearly_and_the_scheduler_survives"]
fn child_map_limit() {
    if !net_util::is_child("child_map_limit") {
        return;
    }
    let max: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(usize::MAX);
    if max > 300_000 {
        println!("REPORT skipped: vm.max_map_count = {max}");
        return;
    }
    corio::run(move || {
        // Reserve up front: once maps run out, a large allocation (which
        // malloc serves with mmap) could fail too.
        let mut live = Vec::with_capacity(max);
        let err = loop {
            match corio::Builder::new()
                .stack_size(16 * 1024)
                .spawn(corio::yield_now)
            {
                Ok(h) => live.push(h),
                Err(e) => break e,
            }
            assert!(live.len() <= max, "vm.max_map_count was not enforced");
        };
        let msg = err.to_string();
        assert_eq!(err.kind(), io::ErrorKind::OutOfMemory, "{msg}");
        assert!(msg.contains(&format!("vm.max_map_count = {max}")), "{msg}");
        assert!(msg.contains("sysctl -w vm.max_map_count="), "{msg}");
        // The panicking form says the same.
        let payload = std::panic::catch_unwind(|| corio::spawn(|| ())).unwrap_err();
        let panic_msg = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(
            panic_msg.starts_with("corio::spawn: ") && panic_msg.contains("vm.max_map_count"),
            "{panic_msg}"
        );
        // The scheduler runs every coroutine it did create, to the end.
        let created = live.len();
        let alive = corio::stats().alive;
        assert_eq!(alive, created + 1);
        for h in live {
            h.join().unwrap();
        }
        assert_eq!(corio::stats().alive, 1);
        // Their stacks are released (or pooled): spawning works again.
        let again: Vec<_> = (0..1000).map(|i| corio::spawn(move || i)).collect();
        let sum: usize = again.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 499_500);
        println!(
            "REPORT {created} coroutines alive at vm.max_map_count = {max}, then: {msg}; \
             all ran to the end and spawning works again"
        );
    });
}
