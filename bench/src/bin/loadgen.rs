//! Echo load generator: measures an echo server's throughput (messages per
//! second), round-trip latency (p50/p99 from a log-bucketed histogram) and,
//! with `--server-pid`, the server's CPU time per message (in total and in
//! user space alone).
//!
//! Each connection keeps exactly one message outstanding (ping-pong): it
//! writes `--size` bytes, waits until all of them came back, checks every
//! byte, and sends the next one. Connections are spread over `--threads`
//! client threads, each running its own edge-triggered epoll loop on
//! non-blocking sockets (raw `libc`, no framework, so the client costs two
//! syscalls per message plus a share of one `epoll_wait`). After `--warmup`
//! seconds a window of `--secs` seconds is measured; then it stops by itself.
//! Connects only to loopback addresses.
//!
//! Output: two lines per server on stdout,
//! `RESULT server=.. conns=.. size=.. threads=.. secs=.. msgs=.. msgs_per_sec=..
//! p50_us=.. p90_us=.. p99_us=.. p999_us=.. max_us=.. errors=.. mismatches=..
//! server_cpu_ns_per_msg=.. client_cpu_ns_per_msg=.. other_cpus=..
//! server_user_ns_per_msg=..` (`NA` where unknown), then
//! `HIST server=.. MAX;INDEX:COUNT,...`, the round-trip histogram itself
//! (`Histogram::to_sparse`), so that runs can be pooled. `server_cpu_ns_per_msg`
//! is the server's user plus system time over the window (its process
//! CPU-time clock, exact to the nanosecond) divided by the messages,
//! `server_user_ns_per_msg` its `utime` alone over the same window (the
//! server's own code, without the kernel's TCP work), from clock ticks of
//! `/proc/PID/stat`; `client_cpu_ns_per_msg` is `loadgen`'s own user plus
//! system time. `other_cpus` is the CPU time, in CPUs, that the machine spent on
//! anything but the server and the client during the window: a value well
//! above 0 means the figures are disturbed.
//! The exit status is non-zero if any byte differed, any connection failed,
//! or no message completed.
//!
//! **Interleaved servers.** `--addr` and `--server-pid` take comma-separated
//! lists: `loadgen` then opens `--conns` connections to every server and
//! loads one server at a time, taking turns in slices of `--slice-ms`
//! milliseconds (the connections of the others stay open and idle: each
//! finishes the message it has in flight and sends no next one until its
//! server's turn comes again). It prints one `RESULT` (and `HIST`) line
//! per server (`server=` its place in the list), each server's CPU time
//! over the whole window divided by its own messages: an idle server costs
//! no CPU. A
//! comparison of servers run this way shares the machine's slower and
//! faster spells slice by slice, where separate runs seconds apart do not.
//! Use a window that is a whole number of turns (`--secs` a multiple of
//! the servers times `--slice-ms`), so every server gets as many slices.
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

usage: loadgen [--addr 127.0.0.1:7000[,ADDR...]] [--conns 100] [--size 64] [--secs 5]
               [--warmup 1] [--threads 1] [--server-pid PID[,PID...]] [--slice-ms 100]
several addresses: --conns connections to each, one server loaded at a time
in turns of --slice-ms, one RESULT and one HIST (histogram) line per server";

/// Distinct message starts: message `k` of connection `c` is the slice of
/// the thread's pattern at offset `(7c + k) % PATTERN_SHIFTS`, so a lost,
/// repeated or reordered chunk shows up as a mismatch.
const PATTERN_SHIFTS: usize = 251;

/// Every connection's epoll interest: readable, edge-triggered. A reply is
/// read to its end, to what was written so far, or to EAGAIN, and the
/// server sends nothing unasked, so no data is left behind without a new
/// edge to come (bytes beyond a reply are read with the next one and show
/// as a mismatch). Level-triggered, each
/// reported socket was polled once more by the next `epoll_wait`, found not
/// ready and dropped: kernel work per message on the client, which is as
/// busy as the server at 1000 connections.
const INTEREST: u32 = (libc::EPOLLIN | libc::EPOLLET) as u32;

/// What one run measures; shared read-only by the client threads.
#[derive(Clone, Copy)]
struct Plan {
    /// Bytes per message.
    size: usize,
    /// Start of the measured window (end of warm-up).
    start: Instant,
    /// End of the measured window; the run stops here.
    end: Instant,
    /// Servers taking turns (1: one server, always loaded).
    servers: usize,
    /// Start of the first turn.
    t0: Instant,
    /// Length of one server's turn.
    slice: Duration,
}

impl Plan {
    /// The number of the slice going on at `now` (0 with one server).
    #[inline]
    fn slice_at(&self, now: Instant) -> u128 {
        if self.servers == 1 {
            return 0;
        }
        now.saturating_duration_since(self.t0).as_nanos() / self.slice.as_nanos()
    }

    /// The server whose turn it is at `now`.
    #[inline]
    fn turn(&self, now: Instant) -> usize {
        (self.slice_at(now) % self.servers as u128) as usize
    }

    /// When the turn going on at `now` ends (several servers).
    fn turn_end(&self, now: Instant) -> Instant {
        let nanos = (self.slice_at(now) + 1) * self.slice.as_nanos();
        self.t0 + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// One client connection and where it is in its current message.
struct Conn {
    /// The socket, non-blocking; closed on drop.
    stream: TcpStream,
    /// Index of this connection over all threads (picks its pattern).
    id: usize,
    /// Which server (place in `--addr`) it is connected to.
    server: usize,
    /// True while no message is in flight (its server's turn is over).
    idle: bool,
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

/// What one client thread counted inside the measured window, for one
/// server.
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
    let addrs: String = args.get("addr", "127.0.0.1:7000".to_string());
    let conns: usize = args.get("conns", 100);
    let size: usize = args.get("size", 64);
    let secs: f64 = args.get("secs", 5.0);
    let warmup: f64 = args.get("warmup", 1.0);
    let threads: usize = args.get("threads", 1);
    let pids: Option<String> = args.opt("server-pid");
    let slice_ms: f64 = args.get("slice-ms", 100.0);
    let Ok(addrs) = addrs
        .split(',')
        .map(str::parse::<SocketAddr>)
        .collect::<Result<Vec<_>, _>>()
    else {
        args.usage_error("--addr: a comma-separated list of IP:PORT")
    };
    if addrs.iter().any(|a| !a.ip().is_loopback()) {
        args.usage_error("loadgen only connects to loopback addresses (127.0.0.0/8, ::1)");
    }
    let pids: Vec<Option<u32>> = match pids {
        None => vec![None; addrs.len()],
        Some(list) => match list
            .split(',')
            .map(str::parse)
            .collect::<Result<Vec<u32>, _>>()
        {
            Ok(p) if p.len() == addrs.len() => p.into_iter().map(Some).collect(),
            _ => args.usage_error("--server-pid: one PID per address of --addr"),
        },
    };
    if slice_ms.is_nan() || slice_ms < 1.0 {
        args.usage_error("--slice-ms must be at least 1");
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
    for (server, &addr) in addrs.iter().enumerate() {
        for id in 0..conns {
            match connect(addr, id, server) {
                Ok(c) => shares[id % threads].push(c),
                Err(e) => {
                    eprintln!("loadgen: connection {id} to {addr}: {e}");
                    std::process::exit(1);
                }
            }
        }
    }

    let t0 = Instant::now();
    let start = t0 + Duration::from_secs_f64(warmup);
    let plan = Plan {
        size,
        start,
        end: start + Duration::from_secs_f64(secs),
        servers: addrs.len(),
        t0,
        slice: Duration::from_secs_f64(slice_ms / 1000.0),
    };
    let workers: Vec<_> = shares
        .into_iter()
        .map(|share| std::thread::spawn(move || client_thread(share, plan)))
        .collect();

    // Sample CPU times at the window's edges while the clients run.
    sleep_until(plan.start);
    let servers_before: Vec<_> = pids.iter().map(|p| p.and_then(server_cpu_time)).collect();
    let me = std::process::id();
    let client_before = procfs::cpu_ns(me).ok();
    let machine_before = procfs::machine_busy_ns().ok();
    sleep_until(plan.end);
    let servers_after: Vec<_> = pids.iter().map(|p| p.and_then(server_cpu_time)).collect();
    let client_after = procfs::cpu_ns(me).ok();
    let machine_after = procfs::machine_busy_ns().ok();
    let window = plan.end.duration_since(plan.start).as_secs_f64();

    let mut totals: Vec<Tally> = addrs.iter().map(|_| Tally::default()).collect();
    for w in workers {
        let tallies = w.join().expect("client thread panicked");
        for (total, t) in totals.iter_mut().zip(tallies) {
            total.msgs += t.msgs;
            total.hist.merge(&t.hist);
            total.errors += t.errors;
            total.mismatches += t.mismatches;
        }
    }

    let all_msgs: u64 = totals.iter().map(|t| t.msgs).sum();
    let per_msg = |before: Option<u64>, after: Option<u64>, msgs: u64| match (before, after) {
        (Some(b), Some(a)) if msgs > 0 => format!("{:.0}", (a - b) as f64 / msgs as f64),
        _ => "NA".to_string(),
    };
    let total_ns = |t: Option<procfs::CpuTime>| t.map(|t| t.total_ns);
    let user_ns = |t: Option<procfs::CpuTime>| t.map(|t| t.user_ns);
    // All servers' CPU time over the window, if every one is known.
    let servers_ns = servers_before
        .iter()
        .zip(&servers_after)
        .map(|(&b, &a)| Some(total_ns(a)? - total_ns(b)?))
        .sum::<Option<u64>>();
    // CPUs' worth of time that neither the servers nor this process used:
    // other programs, and kernel work not charged to either.
    let other_cpus = match (
        machine_before.zip(machine_after),
        client_before.zip(client_after),
        servers_ns,
    ) {
        (Some((mb, ma)), Some((cb, ca)), Some(s)) => {
            let other = (ma - mb) as f64 - (ca - cb) as f64 - s as f64;
            format!("{:.2}", (other / (window * 1e9)).max(0.0))
        }
        _ => "NA".to_string(),
    };
    // The client's CPU is shared by all servers' messages.
    let client_cpu = per_msg(client_before, client_after, all_msgs);
    let mut failed = false;
    for (i, total) in totals.iter().enumerate() {
        let (before, after) = (servers_before[i], servers_after[i]);
        let server_cpu = per_msg(total_ns(before), total_ns(after), total.msgs);
        let server_user = per_msg(user_ns(before), user_ns(after), total.msgs);
        let us = |q: f64| total.hist.quantile(q) as f64 / 1000.0;
        println!(
            "RESULT server={i} conns={conns} size={size} threads={threads} secs={window:.2} \
             msgs={} msgs_per_sec={:.0} p50_us={:.1} p90_us={:.1} p99_us={:.1} p999_us={:.1} \
             max_us={:.1} errors={} mismatches={} server_cpu_ns_per_msg={server_cpu} \
             client_cpu_ns_per_msg={client_cpu} other_cpus={other_cpus} \
             server_user_ns_per_msg={server_user}",
            total.msgs,
            total.msgs as f64 * addrs.len() as f64 / window,
            us(0.5),
            us(0.9),
            us(0.99),
            us(0.999),
            total.hist.max() as f64 / 1000.0,
            total.errors,
            total.mismatches,
        );
        println!("HIST server={i} {}", total.hist.to_sparse());
        failed |= total.errors > 0 || total.mismatches > 0 || total.msgs == 0;
    }
    if failed {
        std::process::exit(1);
    }
}

/// Opens connection `id`: blocking connect, then non-blocking, no Nagle.
fn connect(addr: SocketAddr, id: usize, server: usize) -> io::Result<Conn> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    stream.set_nodelay(true)?;
    stream.set_nonblocking(true)?;
    Ok(Conn {
        stream,
        id,
        server,
        idle: true,
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
        .map_err(|e| eprintln!("loadgen: reading the CPU time of server pid {pid}: {e}"))
        .ok()
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// Drives `conns` until the end of the window and returns what it counted,
/// per server.
fn client_thread(mut conns: Vec<Conn>, plan: Plan) -> Vec<Tally> {
    let mut tallies: Vec<Tally> = (0..plan.servers).map(|_| Tally::default()).collect();
    let pattern = make_pattern(plan.size + PATTERN_SHIFTS);
    let mut scratch = vec![0u8; plan.size];
    let epoll = Epoll::new().expect("epoll_create1");
    let mut events = vec![EMPTY_EVENT; 256];
    for (i, c) in conns.iter_mut().enumerate() {
        epoll
            .add(c.stream.as_raw_fd(), INTEREST, i as u64)
            .expect("epoll_ctl ADD");
    }
    // The slice whose server's connections were started; none yet. A new
    // slice number (not only a new server: a stall longer than a slice
    // may come back to the same one) starts its server's idle connections.
    let mut slice = None;
    loop {
        let now = Instant::now();
        if now >= plan.end {
            break;
        }
        let now_slice = plan.slice_at(now);
        if slice != Some(now_slice) {
            // The last server's connections finish their messages in
            // flight, then rest.
            slice = Some(now_slice);
            let turn = plan.turn(now);
            for (i, c) in conns.iter_mut().enumerate() {
                if c.server == turn && c.idle && c.alive {
                    c.idle = false;
                    // Each its own clock: the writes of a turn's first
                    // messages take a while one after the other.
                    c.sent_at = Instant::now();
                    if let Err(e) = send(c, &epoll, i, &pattern, plan.size) {
                        fail(c, &mut tallies[turn], &e);
                    }
                }
            }
        }
        let mut wake = plan.end;
        if plan.servers > 1 {
            wake = wake.min(plan.turn_end(now));
        }
        let timeout_ms = (wake
            .saturating_duration_since(now)
            .as_micros()
            .div_ceil(1000) as i32)
            .clamp(1, 100);
        let n = epoll.wait(&mut events, timeout_ms).expect("epoll_wait");
        for ev in &events[..n] {
            let i = ev.u64 as usize;
            let flags = ev.events;
            let c = &mut conns[i];
            if !c.alive {
                continue;
            }
            let tally = &mut tallies[c.server];
            if let Err(e) = on_event(c, flags, &epoll, i, &pattern, &mut scratch, plan, tally) {
                fail(c, tally, &e);
            }
        }
    }
    tallies
}

/// Marks `c` failed: counted once, shut down, then ignored.
#[cold]
fn fail(c: &mut Conn, tally: &mut Tally, e: &io::Error) {
    if e.kind() == io::ErrorKind::InvalidData {
        tally.mismatches += 1;
    } else {
        tally.errors += 1;
    }
    eprintln!("loadgen: connection {} to server {}: {e}", c.id, c.server);
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
                    if plan.turn(now) != c.server {
                        // Its server's turn is over: rest until the next.
                        c.idle = true;
                        return Ok(());
                    }
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
        let mut events = INTEREST;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(servers: usize) -> Plan {
        let t0 = Instant::now();
        Plan {
            size: 64,
            start: t0,
            end: t0 + Duration::from_secs(1),
            servers,
            t0,
            slice: Duration::from_millis(200),
        }
    }

    #[test]
    fn servers_take_turns_of_one_slice_in_order() {
        let p = plan(3);
        let at = |ms: u64| p.t0 + Duration::from_millis(ms);
        let turns: Vec<usize> = [0, 199, 200, 399, 400, 599, 600, 850]
            .iter()
            .map(|&ms| p.turn(at(ms)))
            .collect();
        assert_eq!(turns, [0, 0, 1, 1, 2, 2, 0, 1]);
        assert_eq!(p.turn_end(at(0)), at(200));
        assert_eq!(p.turn_end(at(250)), at(400));
        assert_eq!(p.turn_end(at(400)), at(600));
        // A stall of a whole round comes back to the same server in a
        // new slice: the slice number tells the two apart.
        assert_eq!(p.turn(at(100)), p.turn(at(700)));
        assert_ne!(p.slice_at(at(100)), p.slice_at(at(700)));
    }

    #[test]
    fn one_server_is_loaded_all_the_time() {
        let p = plan(1);
        for ms in [0, 200, 450, 10_000] {
            assert_eq!(p.turn(p.t0 + Duration::from_millis(ms)), 0);
        }
    }
}
