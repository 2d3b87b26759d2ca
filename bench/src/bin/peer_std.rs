//! Peer echo server with one OS thread per connection (std::net, blocking
//! calls, default thread stacks), each with its own `--buf`-byte buffer and
//! TCP_NODELAY: what corio's code looks like, run the classic way.
//! `--threads` is accepted for a uniform command line and ignored (there is
//! one thread per connection plus the accepting one).
//!
//! Run: `cargo run --release -p corio-bench --bin peer_std -- --addr
//! 127.0.0.1:7000 [--buf 16384]`; it serves until killed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use corio_bench::echo::ServerOpts;
use corio_bench::echo::args::Args;
use corio_bench::echo::sys::raise_nofile_limit;

const USAGE: &str = "\
peer_std: echo server, one OS thread per connection

usage: peer_std [--addr 127.0.0.1:7000] [--threads N (ignored)] [--buf 16384]";

fn main() {
    let mut args = Args::from_env(USAGE);
    let opts = ServerOpts::parse(&mut args);
    args.finish();
    if let Err(e) = raise_nofile_limit() {
        eprintln!("peer_std: cannot raise RLIMIT_NOFILE: {e}");
    }
    let listener = TcpListener::bind(opts.addr).unwrap_or_else(|e| {
        eprintln!("peer_std: bind {}: {e}", opts.addr);
        std::process::exit(1)
    });
    for stream in listener.incoming() {
        match stream {
            Ok(s) => {
                let buf = opts.buf;
                if let Err(e) = std::thread::Builder::new().spawn(move || echo(s, buf)) {
                    eprintln!("peer_std: spawn: {e}");
                }
            }
            Err(e) => eprintln!("peer_std: accept: {e}"),
        }
    }
}

fn echo(mut stream: TcpStream, buf_size: usize) {
    if stream.set_nodelay(true).is_err() {
        return;
    }
    let mut buf = vec![0u8; buf_size];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}
