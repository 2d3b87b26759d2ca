//! Peer echo server without a framework: the reference the others are
//! measured against. One thread runs a level-triggered epoll loop over
//! non-blocking sockets; each connection owns a `--buf`-byte buffer.
//!
//! Per message it costs a share of one `epoll_wait`, one `read` and one
//! `write`: the fd stays registered for `EPOLLIN` from accept to close, and
//! `epoll_ctl` is called only when a write is partial (switch to `EPOLLOUT`
//! and stop reading until the rest is written, so a slow reader gets
//! backpressure instead of an unbounded queue) and when it is drained again.
//!
//! `--threads N` (N > 1) runs N such loops, each with its own listener on the
//! same port (`SO_REUSEPORT`; the kernel spreads connections).
//!
//! Run: `cargo run --release -p corio-bench --bin peer_epoll -- --addr
//! 127.0.0.1:7000 [--threads 1] [--buf 16384]`; it serves until killed.

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::net::TcpStream;
use std::os::fd::AsRawFd;

use corio_bench::echo::ServerOpts;
use corio_bench::echo::args::Args;
use corio_bench::echo::sys::{EMPTY_EVENT, Epoll, listen, raise_nofile_limit};

const USAGE: &str = "\
peer_epoll: echo server, hand-written level-triggered epoll loop per thread

usage: peer_epoll [--addr 127.0.0.1:7000] [--threads 1] [--buf 16384]";

/// Token of the listening socket (connections use their fd as token).
const LISTENER: u64 = u64::MAX;

/// One accepted connection.
struct Conn {
    /// The socket, non-blocking, registered in the loop's epoll; closing it
    /// (drop) also removes it from the epoll set.
    stream: TcpStream,
    /// Read buffer, `--buf` bytes.
    buf: Box<[u8]>,
    /// `buf[start..end]` was read but not yet written back; while it is
    /// non-empty the fd waits for `EPOLLOUT` and nothing more is read.
    start: usize,
    /// See `start`; `start <= end <= buf.len()`.
    end: usize,
}

/// What the loop does with a connection after handling its event.
enum Next {
    Keep,
    Close,
}

fn main() {
    let mut args = Args::from_env(USAGE);
    let opts = ServerOpts::parse(&mut args);
    args.finish();
    if let Err(e) = raise_nofile_limit() {
        eprintln!("peer_epoll: cannot raise RLIMIT_NOFILE: {e}");
    }
    let listeners: Vec<TcpListener> = (0..opts.threads)
        .map(|_| listen(opts.addr, opts.threads > 1, true))
        .collect::<io::Result<_>>()
        .unwrap_or_else(|e| {
            eprintln!("peer_epoll: listen on {}: {e}", opts.addr);
            std::process::exit(1)
        });
    // Loops 2..N on their own threads, the first on this one; all are
    // equal and end only on an epoll error.
    let mut listeners = listeners.into_iter();
    let first = listeners.next().expect("at least one thread");
    for l in listeners {
        std::thread::Builder::new()
            .name("epoll-loop".into())
            .spawn(move || {
                if let Err(e) = serve(&l, opts.buf) {
                    eprintln!("peer_epoll: {e}");
                    std::process::exit(1);
                }
            })
            .expect("spawn loop thread");
    }
    if let Err(e) = serve(&first, opts.buf) {
        eprintln!("peer_epoll: {e}");
        std::process::exit(1);
    }
}

/// Runs one event loop on `listener` forever (returns only on epoll errors).
fn serve(listener: &TcpListener, buf_size: usize) -> io::Result<()> {
    let epoll = Epoll::new()?;
    epoll.add(listener.as_raw_fd(), libc::EPOLLIN as u32, LISTENER)?;
    // Indexed by fd: fds are small and unique among open sockets.
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut events = vec![EMPTY_EVENT; 1024];
    loop {
        let n = epoll.wait(&mut events, -1)?;
        for ev in &events[..n] {
            if ev.u64 == LISTENER {
                accept_all(listener, &epoll, &mut conns, buf_size);
                continue;
            }
            let fd = ev.u64 as usize;
            let next = match conns.get_mut(fd).and_then(Option::as_mut) {
                Some(c) => handle(c, &epoll),
                None => Next::Keep,
            };
            if let Next::Close = next {
                conns[fd] = None;
            }
        }
    }
}

/// Accepts every pending connection and registers it for `EPOLLIN`.
fn accept_all(
    listener: &TcpListener,
    epoll: &Epoll,
    conns: &mut Vec<Option<Conn>>,
    buf_size: usize,
) {
    loop {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // EMFILE and friends: report, leave the rest in the backlog.
                eprintln!("peer_epoll: accept: {e}");
                return;
            }
        };
        let fd = stream.as_raw_fd();
        let setup = stream
            .set_nonblocking(true)
            .and_then(|()| stream.set_nodelay(true))
            .and_then(|()| epoll.add(fd, libc::EPOLLIN as u32, fd as u64));
        if let Err(e) = setup {
            eprintln!("peer_epoll: setting up a connection: {e}");
            continue;
        }
        let fd = fd as usize;
        if conns.len() <= fd {
            conns.resize_with(fd + 1, || None);
        }
        conns[fd] = Some(Conn {
            stream,
            buf: vec![0; buf_size].into_boxed_slice(),
            start: 0,
            end: 0,
        });
    }
}

/// Handles readiness of connection `c`: it is registered for exactly one
/// of `EPOLLIN` (nothing pending) or `EPOLLOUT` (a write pending), and
/// errors and hang-ups surface in the `read` or `write` that follows.
#[inline]
fn handle(c: &mut Conn, epoll: &Epoll) -> Next {
    let fd = c.stream.as_raw_fd();
    if c.start < c.end {
        return match flush(c) {
            Ok(true) => match epoll.modify(fd, libc::EPOLLIN as u32, fd as u64) {
                Ok(()) => Next::Keep,
                Err(_) => Next::Close,
            },
            Ok(false) => Next::Keep,
            Err(_) => Next::Close,
        };
    }
    let n = match c.stream.read(&mut c.buf) {
        Ok(0) => return Next::Close,
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return Next::Keep,
        Err(_) => return Next::Close,
    };
    c.start = 0;
    c.end = n;
    match flush(c) {
        Ok(true) => Next::Keep,
        Ok(false) => slow_writer(epoll, fd),
        Err(_) => Next::Close,
    }
}

/// A write was partial: wait for `EPOLLOUT` instead of `EPOLLIN`.
#[cold]
fn slow_writer(epoll: &Epoll, fd: i32) -> Next {
    match epoll.modify(fd, libc::EPOLLOUT as u32, fd as u64) {
        Ok(()) => Next::Keep,
        Err(_) => Next::Close,
    }
}

/// Writes `buf[start..end]` until done (`true`) or the socket is full
/// (`false`).
#[inline]
fn flush(c: &mut Conn) -> io::Result<bool> {
    while c.start < c.end {
        match c.stream.write(&c.buf[c.start..c.end]) {
            Ok(n) => c.start += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    c.start = 0;
    c.end = 0;
    Ok(true)
}
