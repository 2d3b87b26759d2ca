//! Shared helpers of the net and hook tests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Aborts the whole test process if the guard is still alive after
/// `secs`: a hook that blocks the thread shows up as a named failure, not
/// a hung test run.
pub struct Watchdog(Arc<AtomicBool>);

pub fn watchdog(name: &'static str, secs: u64) -> Watchdog {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < end {
            if flag.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "watchdog: test '{name}' still running after {secs} s (a call blocked the thread?)"
        );
        std::process::abort();
    });
    Watchdog(done)
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Starts, in a coroutine of the current scheduler, a server that answers
/// every connection after `delay`: it reads until `terminator`, sleeps
/// (parking), writes `reply(request)` and closes. Runs until the
/// scheduler ends.
pub fn delaying_server(
    delay: Duration,
    terminator: &'static [u8],
    reply: fn(&[u8]) -> Vec<u8>,
) -> SocketAddr {
    let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    corio::spawn(move || {
        for conn in listener.incoming() {
            let mut conn = conn.unwrap();
            corio::spawn(move || {
                let mut req = Vec::new();
                let mut buf = [0; 1024];
                while !req.windows(terminator.len()).any(|w| w == terminator) {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                corio::sleep(delay);
                let _ = conn.write_all(&reply(&req));
            });
        }
    });
    addr
}

/// A minimal HTTP/1.1 response with `body`.
pub fn http_ok(body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}
