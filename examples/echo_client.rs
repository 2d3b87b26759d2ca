//! A load client for the echo server: `--conns` coroutines on one thread,
//! each with its own connection, play ping-pong: send a `--size`-byte
//! message, wait until all of it came back, check every byte, send the
//! next. After `--secs` seconds it prints messages per second and the p50 /
//! p99 round-trip latency. The exit status is non-zero if any byte differed
//! or any connection failed. A message is written whole before its echo is
//! read, so `--size` is capped at 1 MiB: far larger ones could fill the
//! socket buffers both ways and stall.
//!
//! Run (with `cargo run --release --example echo` in another terminal):
//! `cargo run --release --example echo_client -- [--addr 127.0.0.1:7878]
//! [--conns 100] [--size 64] [--secs 5]`

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use corio::net::TcpStream;

/// Largest `--size`.
const MAX_SIZE: usize = 1 << 20;

const USAGE: &str = "usage: echo_client [--addr 127.0.0.1:7878] [--conns 100] [--size 64 (at most 1 MiB)] [--secs 5]";

fn main() {
    let addr: String = arg("--addr", "127.0.0.1:7878".into());
    let conns: usize = arg("--conns", 100);
    let size: usize = arg("--size", 64);
    let secs: f64 = arg("--secs", 5.0);
    if conns == 0 || size == 0 || size > MAX_SIZE || secs.is_nan() || secs <= 0.0 {
        usage();
    }
    let (mut latencies, failed, took) = corio::run(move || {
        let streams: Vec<TcpStream> = (0..conns)
            .map(|_| {
                TcpStream::connect(&addr).unwrap_or_else(|e| {
                    eprintln!(
                        "echo_client: cannot connect to {addr}: {e} (is the echo example running?)"
                    );
                    std::process::exit(1)
                })
            })
            .collect();
        let start = Instant::now();
        let end = start + Duration::from_secs_f64(secs);
        let clients: Vec<_> = streams
            .into_iter()
            .enumerate()
            .map(|(id, conn)| corio::spawn(move || ping_pong(conn, id, size, end)))
            .collect();
        let mut latencies = Vec::new();
        let mut failed = 0;
        for client in clients {
            match client.join().expect("client coroutine panicked") {
                Ok(l) => latencies.extend(l),
                Err(e) => {
                    eprintln!("echo_client: {e}");
                    failed += 1;
                }
            }
        }
        (latencies, failed, start.elapsed())
    });
    latencies.sort_unstable();
    let pct = |p: usize| match latencies.len() {
        0 => Duration::ZERO,
        n => latencies[(n - 1) * p / 100],
    };
    println!(
        "echo_client: {conns} conns x {size} B for {took:.1?}: {:.0} msgs/s, p50 {:.1?}, p99 {:.1?}, {}",
        latencies.len() as f64 / took.as_secs_f64(),
        pct(50),
        pct(99),
        if failed == 0 {
            "every byte verified".to_string()
        } else {
            format!("{failed} connection(s) FAILED")
        },
    );
    if failed > 0 || latencies.is_empty() {
        std::process::exit(1);
    }
}

/// One connection's ping-pong until `end`; the round-trip times.
fn ping_pong(
    mut conn: TcpStream,
    id: usize,
    size: usize,
    end: Instant,
) -> io::Result<Vec<Duration>> {
    conn.set_nodelay(true)?;
    // A server that stops answering fails the run instead of hanging it.
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let (mut sent, mut back) = (vec![0; size], vec![0; size]);
    let mut latencies = Vec::new();
    for k in 0.. {
        if Instant::now() >= end {
            break;
        }
        // Every message differs, so a lost or repeated chunk shows.
        for (j, b) in sent.iter_mut().enumerate() {
            *b = (j + 7 * id + 13 * k) as u8;
        }
        let t = Instant::now();
        conn.write_all(&sent)?;
        conn.read_exact(&mut back)?;
        latencies.push(t.elapsed());
        if back != sent {
            let at = back
                .iter()
                .zip(&sent)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("connection {id}: message {k} differs at byte {at}"),
            ));
        }
    }
    Ok(latencies)
}

/// The value after `flag` on the command line, or `default`.
fn arg<T: std::str::FromStr>(flag: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let known = ["--addr", "--conns", "--size", "--secs"];
    if args
        .chunks(2)
        .any(|kv| kv.len() < 2 || !known.contains(&kv[0].as_str()))
    {
        usage();
    }
    match args.iter().position(|a| a == flag) {
        None => default,
        Some(i) => args[i + 1].parse().unwrap_or_else(|_| usage()),
    }
}

fn usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(2)
}
