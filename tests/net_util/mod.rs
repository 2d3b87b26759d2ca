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

/// Open fds of this process (entries of /proc/self/fd, without the one
/// the listing itself uses).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
        .saturating_sub(1)
}

/// Resident set size of this process in KiB (VmRSS of /proc/self/status).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .expect("/proc/self/status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// Raises this process's soft RLIMIT_NOFILE to its hard limit and returns
/// the new soft limit.
pub fn raise_nofile() -> u64 {
    set_nofile(None)
}

/// Sets this process's soft RLIMIT_NOFILE to `soft` (the hard limit when
/// `None`) and returns it.
pub fn set_nofile(soft: Option<u64>) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we pass.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_cur = soft.unwrap_or(lim.rlim_max).min(lim.rlim_max);
    // SAFETY: setrlimit reads the fully initialised struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    lim.rlim_cur
}

/// Environment variable naming the `#[ignore]`d child entry point a
/// re-executed test binary should run (see [`child_command`]).
pub const CHILD_ENV: &str = "CORIO_TEST_CHILD";

/// Whether this process is a child started by [`child_command`] for
/// `entry`; child entry points return at once when it is not.
pub fn is_child(entry: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|v| v == entry)
}

/// A command that re-executes this test binary running only the ignored
/// test `entry` (which checks [`is_child`]); output is piped.
pub fn child_command(entry: &str) -> std::process::Command {
    let exe = std::env::current_exe().expect("path of the test binary");
    let mut cmd = std::process::Command::new(exe);
    cmd.args([entry, "--exact", "--nocapture", "--include-ignored"])
        .args(["--test-threads", "1"])
        .env(CHILD_ENV, entry)
        .env("RUST_BACKTRACE", "0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

/// Kills and reaps a child process when dropped (also when the test
/// fails), so no child outlives its test.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Forbids core dumps in this process, so a child that aborts on purpose
/// leaves no core file.
pub fn no_core_dumps() {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit with a fully initialised struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) }, 0);
}

/// SO_LINGER with a zero timeout: closing the socket sends RST.
pub fn linger_zero(s: &impl std::os::fd::AsRawFd) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `l` is a valid linger struct of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
}

/// Writes `msg` and reads back exactly as many bytes, which must equal it.
pub fn exchange(s: &mut (impl Read + Write), msg: &[u8]) -> std::io::Result<()> {
    s.write_all(msg)?;
    let mut back = vec![0; msg.len()];
    s.read_exact(&mut back)?;
    assert_eq!(back, msg);
    Ok(())
}
