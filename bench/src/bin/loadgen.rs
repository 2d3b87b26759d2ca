//! Echo load generator: measures an echo server's throughput (messages per
//! second), round-trip latency (p50/p99 from a log-bucketed histogram) and,
//! with `--server-pid`, the server's CPU time per message (in total and in
//! user space alone).
//!
//! Each connection keeps exactly one message outstanding (ping-pong): it
//! writes `--size` bytes, waits until all of them came back, checks every
//! byte, and sends the next one. Connections are spread over `--threads`
//! client threads, each running its own level-triggered epoll loop on
//! non-blocking sockets (raw `libc`, no framework, so the client costs two
//! syscalls per message plus a share of one `epoll_wait`). After `--warmup`
//! seconds a window of `--secs` seconds is measured; then it stops by itself.
//! Connects only to loopback addresses.
//!
//! Output: one line on stdout,
//! `RESULT conns=.. size=.. threads=.. secs=.. msgs=.. msgs_per_sec=..
//! p50_us=.. p90_us=.. p99_us=.. p999_us=.. max_us=.. errors=.. mismatches=..
//! server_cpu_ns_per_msg=.. client_cpu_ns_per_msg=.. other_cpus=..
//! server_user_ns_per_msg=..` (`NA` where unknown). `server_cpu_ns_per_msg`
//! is the server's `utime + stime` over the window divided by the messages,
//! `server_user_ns_per_msg` its `utime` alone over the same window (the
//! server's own code, without the kernel's TCP work), both from clock ticks
//! of `/proc/PID/stat`; `client_cpu_ns_per_msg` is `loadgen`'s `utime +
//! stime`. `other_cpus` is the CPU time, in CPUs, that the machine spent on
//! anything but the server and the client during the window: a value well
//! above 0 means the figures are disturbed.
//! The exit status is non-zero if any byte differed, any connection failed,
//! or no message completed.
//!
//! Run: `cargo run --release -p corio-bench --bin loadgen -- --addr
//! 127.0.0.1:7000 --conns 100 --size 64 --secs 5 --warmup 1 --server-pid PID`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use corio_bench::echo::args::Args;
use corio_bench::echo::hist::Histogram;
use corio_bench::echo::procfs;
use corio_bench::echo::sys::{EMPTY_EVENT, Epoll, raise_nofile_limit};

const USAGE: &str = "\
loadgen: ping-pong echo load, verified, with latency histogram

usage: loadgen [--addr 127.0.0.1:7000] [--conns 100] [--size 64] [--secs 5]
               [--warmup 1] [--threads 1] [--server-pid PID]";

/// Distinct message starts: message `k` of connection `c` is the slice of
/// the thread's pattern at offset `(7c + k) % PATTERN_SHIFTS`, so a lost,
/// repeated or reordered chunk shows up as a mismatch.
const PATTERN_SHIFTS: usize = 251;

/// What one run measures; shared read-only by the client threads.
#[derive(Clone, Copy)]
struct Plan {
    /// Bytes per message.
    size: usize,
    /// Start of the measured window (end of warm-up).
    start: Instant,
    /// End of the measured window; the run stops here.
    end: Instant,
}

/// One client connection and where it is in its current message.
struct Conn {
    /// The socket, non-blocking; closed on drop.
    stream: TcpStream,
    /// Index of this connection over all threads (picks its pattern).
    id: usize,
    /// Messages completed so far (picks the next pattern offset).
    seq: usize,
    /// Bytes of the current message written; `<= size`.
    written: usize,
    /// Bytes of the current message echoed and verified; `<= written`.
    read: usize,
    /// When the current message's first byte was written.
    sent_at: Instant,
    /// Whether `EPOLLOUT` is in the registered interest (a write is pending).
    want_out: bool,
    /// False once the connection failed; it is then ignored.
    alive: bool,
}

/// What one client thread counted inside the measured window.
#[derive(Default)]
struct Tally {
    /// Messages completed in the window.
    msgs: u64,
    /// Round-trip times of those messages, in ns.
    hist: Histogram,
    /// Connections that failed (I/O error or early EOF), at any time.
    errors: u64,
    /// Echoed bytes that differed from what was sent, at any time.
    mismatches: u64,
}

fn main() {
    let mut args = Args::from_env(USAGE);
    let addr: SocketAddr = args.get("addr", "127.0.0.1:7000".parse().expect("literal"));
    let conns: usize = args.get("conns", 100);
    let size: usize = args.get("size", 64);
    let secs: f64 = args.get("secs", 5.0);
    let warmup: f64 = args.get("warmup", 1.0);
    let threads: usize = args.get("threads", 1);
    let server_pid: Option<u32> = args.opt("server-pid");
    if !addr.ip().is_loopback() {
        args.usage_error("loadgen only connects to loopback addresses (127.0.0.0/8, ::1)");
    }
    if conns == 0
        || size == 0
        || threads == 0
        || secs.is_nan()
        || secs <= 0.0
        || warmup.is_nan()
        || warmup < 0.0
    {
        args.usage_error("--conns, --size, --threads and --secs must be positive");
    }
    args.finish();
    let threads = threads.min(conns);
    if let Err(e) = raise_nofile_limit() {
        eprintln!("loadgen: cannot raise RLIMIT_NOFILE: {e}");
    }

    // Connect everything before the clock starts.
    let mut shares: Vec<Vec<Conn>> = (0..threads).map(|_| Vec::new()).collect();
    for id in 0..conns {
        match connect(addr, id) {
            Ok(c) => shares[id % threads].push(c),
            Err(e) => {
                eprintln!("loadgen: connection {id} to {addr}: {e}");
                std::process::exit(1);
            }
        }
    }

    let t0 = Instant::now();
    let start = t0 + Duration::from_secs_f64(warmup);
    let plan = Plan {
        size,
        start,
        end: start + Duration::from_secs_f64(secs),
    };
    let workers: Vec<_> = shares
        .into_iter()
        .map(|share| std::thread::spawn(move || client_thread(share, plan)))
        .collect();

    // Sample CPU times at the window's edges while the clients run.
    sleep_until(plan.start);
    let server_before = server_pid.and_then(server_cpu_time);
    let me = std::process::id();
    let client_before = procfs::cpu_ns(me).ok();
    let machine_before = procfs::machine_busy_ns().ok();
    sleep_until(plan.end);
    let server_after = server_pid.and_then(server_cpu_time);
    let client_after = procfs::cpu_ns(me).ok();
    let machine_after = procfs::machine_busy_ns().ok();
    let window = plan.end.duration_since(plan.start).as_secs_f64();

    let mut total = Tally::default();
    for w in workers {
        let t = w.join().expect("client thread panicked");
        total.msgs += t.msgs;
        total.hist.merge(&t.hist);
        total.errors += t.errors;
        total.mismatches += t.mismatches;
    }

    let per_msg = |before: Option<u64>, after: Option<u64>| match (before, after) {
        (Some(b), Some(a)) if total.msgs > 0 => {
            format!("{:.0}", (a - b) as f64 / total.msgs as f64)
        }
        _ => "NA".to_string(),
    };
    let total_ns = |t: Option<procfs::CpuTime>| t.map(|t| t.total_ns);
    let user_ns = |t: Option<procfs::CpuTime>| t.map(|t| t.user_ns);
    let server_cpu = per_msg(total_ns(server_before), total_ns(server_after));
    let server_user = per_msg(user_ns(server_before), user_ns(server_after));
    // CPUs' worth of time that neither the server nor this process used:
    // other programs, and kernel work not charged to either.
    let other_cpus = match (
        machine_before.zip(machine_after),
        client_before.zip(client_after),
        total_ns(server_before).zip(total_ns(server_after)),
    ) {
        (Some((mb, ma)), Some((cb, ca)), Some((sb, sa))) => {
            let other = (ma - mb) as f64 - (ca - cb) as f64 - (sa - sb) as f64;
            format!("{:.2}", (other / (window * 1e9)).max(0.0))
        }
        _ => "NA".to_string(),
    };
    let us = |q: f64| total.hist.quantile(q) as f64 / 1000.0;
    println!(
        "RESULT conns={conns} size={size} threads={threads} secs={window:.2} msgs={} \
         msgs_per_sec={:.0} p50_us={:.1} p90_us={:.1} p99_us={:.1} p999_us={:.1} max_us={:.1} \
         errors={} mismatches={} server_cpu_ns_per_msg={server_cpu} client_cpu_ns_per_msg={} \
         other_cpus={other_cpus} server_user_ns_per_msg={server_user}",
        total.msgs,
        total.msgs as f64 / window,
        us(0.5),
        us(0.9),
        us(0.99),
        us(0.999),
        total.hist.max() as f64 / 1000.0,
        total.errors,
        total.mismatches,
        per_msg(client_before, client_after),
    );
    if total.errors > 0 || total.mismatches > 0 || total.msgs == 0 {
        std::process::exit(1);
    }
}

/// Opens connection `id`: blocking connect, then non-blocking, no Nagle.
fn connect(addr: SocketAddr, id: usize) -> io::Result<Conn> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    stream.set_nodelay(true)?;
    stream.set_nonblocking(true)?;
    Ok(Conn {
        stream,
        id,
        seq: 0,
        written: 0,
        read: 0,
        sent_at: Instant::now(),
        want_out: false,
        alive: true,
    })
}

/// CPU time of the server, or `None` (reported) if `/proc` says nothing.
fn server_cpu_time(pid: u32) -> Option<procfs::CpuTime> {
    procfs::cpu_time(pid)
        .map_err(|e| eprintln!("loadgen: reading the server's CPU time: {e}"))
        .ok()
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// Drives `conns` until the end of the window and returns what it counted.
fn client_thread(mut conns: Vec<Conn>, plan: Plan) -> Tally {
    let mut tally = Tally::default();
    let pattern = make_pattern(plan.size + PATTERN_SHIFTS);
    let mut scratch = vec![0u8; plan.size];
    let epoll = Epoll::new().expect("epoll_create1");
    let mut events = vec![EMPTY_EVENT; 256];
    for (i, c) in conns.iter_mut().enumerate() {
        epoll
            .add(c.stream.as_raw_fd(), libc::EPOLLIN as u32, i as u64)
            .expect("epoll_ctl ADD");
        c.sent_at = Instant::now();
        if let Err(e) = send(c, &epoll, i, &pattern, plan.size) {
            fail(c, &mut tally, &e);
        }
    }
    loop {
        let now = Instant::now();
        if now >= plan.end {
            break;
        }
        let timeout_ms = ((plan.end - now).as_millis() as i32).clamp(1, 100);
        let n = epoll.wait(&mut events, timeout_ms).expect("epoll_wait");
        for ev in &events[..n] {
            let i = ev.u64 as usize;
            let flags = ev.events;
            let c = &mut conns[i];
            if !c.alive {
                continue;
            }
            if let Err(e) = on_event(
                c,
                flags,
                &epoll,
                i,
                &pattern,
                &mut scratch,
                plan,
                &mut tally,
            ) {
                fail(c, &mut tally, &e);
            }
        }
    }
    tally
}

/// Marks `c` failed: counted once, deregistered, then ignored.
#[cold]
fn fail(c: &mut Conn, tally: &mut Tally, e: &io::Error) {
    if e.kind() == io::ErrorKind::InvalidData {
        tally.mismatches += 1;
    } else {
        tally.errors += 1;
    }
    eprintln!("loadgen: connection {}: {e}", c.id);
    c.alive = false;
    let _ = c.stream.shutdown(std::net::Shutdown::Both);
}

/// Handles readiness of connection `c` (token `i`).
#[allow(clippy::too_many_arguments)]
#[inline]
fn on_event(
    c: &mut Conn,
    flags: u32,
    epoll: &Epoll,
    i: usize,
    pattern: &[u8],
    scratch: &mut [u8],
    plan: Plan,
    tally: &mut Tally,
) -> io::Result<()> {
    let size = plan.size;
    if flags & libc::EPOLLOUT as u32 != 0 && c.written < size {
        send(c, epoll, i, pattern, size)?;
    }
    // Read whatever of the echo is there, up to what was written: never
    // more, so a server that echoes extra bytes shows as a mismatch.
    while c.read < c.written {
        let want = c.written - c.read;
        match c.stream.read(&mut scratch[..want]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed the connection",
                ));
            }
            Ok(n) => {
                let off = offset(c) + c.read;
                if scratch[..n] != pattern[off..off + n] {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("echoed bytes differ in message {}", c.seq),
                    ));
                }
                c.read += n;
                if c.read == size {
                    let now = Instant::now();
                    if now >= plan.start && now < plan.end {
                        tally.msgs += 1;
                        tally.hist.record((now - c.sent_at).as_nanos() as u64);
                    }
                    c.seq += 1;
                    c.written = 0;
                    c.read = 0;
                    c.sent_at = now;
                    // The reply to this one cannot be there yet: back to epoll.
                    return send(c, epoll, i, pattern, size);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes as much of the current message as the socket takes; asks for
/// `EPOLLOUT` while some remains, drops it once all is written.
fn send(c: &mut Conn, epoll: &Epoll, i: usize, pattern: &[u8], size: usize) -> io::Result<()> {
    let off = offset(c);
    while c.written < size {
        match c.stream.write(&pattern[off + c.written..off + size]) {
            Ok(n) => c.written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let want_out = c.written < size;
    if want_out != c.want_out {
        let mut events = libc::EPOLLIN as u32;
        if want_out {
            events |= libc::EPOLLOUT as u32;
        }
        epoll.modify(c.stream.as_raw_fd(), events, i as u64)?;
        c.want_out = want_out;
    }
    Ok(())
}

/// Where the current message of `c` starts in the pattern.
#[inline]
fn offset(c: &Conn) -> usize {
    (c.id * 7 + c.seq) % PATTERN_SHIFTS
}

/// `len` pseudo-random bytes (xorshift64), the same in every thread.
fn make_pattern(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
