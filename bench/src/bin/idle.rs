//! Memory per idle connection of an echo server.
//!
//! Starts the server given after `--` as a child process (appending
//! `--addr A --threads 1 --buf B` to its arguments), then opens `--conns`
//! connections one by one; each does one verified echo of `--size` bytes and
//! then stays open and idle. Reports the growth of the server's `VmRSS`
//! (from `/proc/<pid>/status`) divided by the connections, its thread count
//! and fd count; then checks that every idle connection still echoes, and
//! kills the server.
//!
//! Both processes need one fd per connection: the soft `RLIMIT_NOFILE` is
//! raised to the hard limit (the child inherits it), and `--conns` is
//! clamped to what that limit allows.
//!
//! Output: one line on stdout, `IDLE conns=.. rss_base_kib=.. rss_kib=..
//! bytes_per_conn=.. threads=.. fds=.. still_echo=.. errors=..`; the exit
//! status is non-zero if any echo failed.
//!
//! Run: `cargo run --release -p corio-bench --bin idle -- --conns 10000
//! --buf 1024 -- target/release/peer_tokio --flavor current`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use corio_bench::echo::args::Args;
use corio_bench::echo::procfs;
use corio_bench::echo::sys::raise_nofile_limit;

const USAGE: &str = "\
idle: server memory per idle connection

usage: idle [--conns 10000] [--buf 1024] [--size 64] [--addr 127.0.0.1:PORT]
            -- SERVER [ARGS...]
The server gets `--addr A --threads 1 --buf B` appended to its arguments.";

/// Fds kept free for everything but the connections (std streams, epoll,
/// listener, runtime internals).
const FD_RESERVE: u64 = 64;

fn main() {
    let mut args = Args::from_env(USAGE);
    let mut conns: u64 = args.get("conns", 10_000);
    let buf: usize = args.get("buf", 1024);
    let size: usize = args.get("size", 64);
    let addr: Option<SocketAddr> = args.opt("addr");
    let server = args.finish();
    if server.is_empty() {
        eprintln!("idle: no server command after `--`\n\n{USAGE}");
        std::process::exit(2);
    }
    let limit = raise_nofile_limit().unwrap_or_else(|e| {
        eprintln!("idle: RLIMIT_NOFILE: {e}");
        std::process::exit(1)
    });
    if conns + FD_RESERVE > limit {
        let allowed = limit.saturating_sub(FD_RESERVE);
        eprintln!("idle: RLIMIT_NOFILE is {limit}: clamping --conns {conns} to {allowed}");
        conns = allowed;
    }
    let addr = addr.unwrap_or_else(free_loopback_addr);
    if !addr.ip().is_loopback() {
        eprintln!("idle: only loopback addresses");
        std::process::exit(2);
    }

    let mut child = start(&server, addr, buf);
    let pid = child.id();
    let code = match measure(pid, addr, conns, size) {
        Ok(ok) => i32::from(!ok),
        Err(e) => {
            eprintln!("idle: {e}");
            1
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    std::process::exit(code);
}

/// Opens the connections, measures, checks; `Ok(false)` if an echo failed.
fn measure(pid: u32, addr: SocketAddr, conns: u64, size: usize) -> io::Result<bool> {
    wait_until_listening(addr, pid)?;
    std::thread::sleep(Duration::from_millis(300));
    let base = procfs::status(pid)?;

    let mut streams = Vec::with_capacity(conns as usize);
    let mut msg = vec![0u8; size];
    let mut back = vec![0u8; size];
    let started = Instant::now();
    for i in 0..conns {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .map_err(|e| io::Error::new(e.kind(), format!("connection {i}: {e}")))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        fill(&mut msg, i);
        echo(&mut s, &msg, &mut back)
            .map_err(|e| io::Error::new(e.kind(), format!("first echo on connection {i}: {e}")))?;
        streams.push(s);
        if (i + 1) % 2000 == 0 {
            eprintln!("idle: {} connections ({:.1?})", i + 1, started.elapsed());
        }
    }
    // Let the server finish whatever follows an echo, then measure.
    std::thread::sleep(Duration::from_millis(500));
    let after = procfs::status(pid)?;
    let fds = procfs::fd_count(pid)?;

    let mut errors = 0u64;
    for (i, s) in streams.iter_mut().enumerate() {
        fill(&mut msg, i as u64 + conns);
        if let Err(e) = echo(s, &msg, &mut back) {
            if errors < 5 {
                eprintln!("idle: connection {i} no longer echoes: {e}");
            }
            errors += 1;
        }
    }
    let growth_bytes = after.rss_kib.saturating_sub(base.rss_kib) * 1024;
    println!(
        "IDLE conns={conns} rss_base_kib={} rss_kib={} bytes_per_conn={:.0} threads={} fds={fds} \
         still_echo={} errors={errors}",
        base.rss_kib,
        after.rss_kib,
        growth_bytes as f64 / conns as f64,
        after.threads,
        conns - errors,
    );
    Ok(errors == 0)
}

/// One verified round trip of `msg` on `s`.
fn echo(s: &mut TcpStream, msg: &[u8], back: &mut [u8]) -> io::Result<()> {
    s.write_all(msg)?;
    s.read_exact(back)?;
    if back != msg {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "echo differs"));
    }
    Ok(())
}

/// Fills `msg` with bytes that depend on `seed`.
fn fill(msg: &mut [u8], seed: u64) {
    for (j, b) in msg.iter_mut().enumerate() {
        *b = (seed.wrapping_mul(31).wrapping_add(j as u64 * 7) % 251) as u8;
    }
}

/// Starts `server` with `--addr --threads 1 --buf` appended.
fn start(server: &[String], addr: SocketAddr, buf: usize) -> Child {
    Command::new(&server[0])
        .args(&server[1..])
        .args([
            "--addr",
            &addr.to_string(),
            "--threads",
            "1",
            "--buf",
            &buf.to_string(),
        ])
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            eprintln!("idle: starting {:?}: {e}", server[0]);
            std::process::exit(1)
        })
}

/// Polls until `addr` accepts a connection (the probe is closed at once),
/// failing if the server process is gone or 10 s pass.
fn wait_until_listening(addr: SocketAddr, pid: u32) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        if procfs::status(pid).is_err() || Instant::now() > deadline {
            return Err(io::Error::other(format!("server never listened on {addr}")));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A loopback address with a port that was free a moment ago.
fn free_loopback_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
}
