//! Peer echo server on may (stackful coroutines, Rust): one coroutine per
//! connection, each with its own `--buf`-byte buffer, blocking-style
//! `read` then `write_all`, TCP_NODELAY. `--threads` sets may's worker
//! count; may's own core pinning is switched off so that `taskset` decides
//! where the server runs. Coroutine stacks are may's default size.
//!
//! Run: `cargo run --release -p corio-bench --bin peer_may -- --addr
//! 127.0.0.1:7000 [--threads 1] [--buf 16384]`; it serves until killed.

use std::io::{Read, Write};

use corio_bench::echo::ServerOpts;
use corio_bench::echo::args::Args;
use corio_bench::echo::sys::raise_nofile_limit;
use may::net::{TcpListener, TcpStream};

const USAGE: &str = "\
peer_may: echo server on may, a coroutine per connection

usage: peer_may [--addr 127.0.0.1:7000] [--threads 1] [--buf 16384]";

fn main() {
    let mut args = Args::from_env(USAGE);
    let opts = ServerOpts::parse(&mut args);
    args.finish();
    if let Err(e) = raise_nofile_limit() {
        eprintln!("peer_may: cannot raise RLIMIT_NOFILE: {e}");
    }
    may::config().set_workers(opts.threads);
    may::config().set_worker_pin(false);
    let buf = opts.buf;
    let addr = opts.addr;
    // SAFETY: may's spawn is unsafe because a coroutine may migrate between
    // worker threads, which breaks code holding thread-local references
    // across a blocking call; these closures use no thread-locals.
    let acceptor = unsafe {
        may::coroutine::spawn(move || {
            let listener = TcpListener::bind(addr).unwrap_or_else(|e| {
                eprintln!("peer_may: bind {addr}: {e}");
                std::process::exit(1)
            });
            for stream in listener.incoming() {
                match stream {
                    // SAFETY: as above, `echo` uses no thread-locals.
                    Ok(s) => drop(may::coroutine::spawn(move || echo(s, buf))),
                    Err(e) => eprintln!("peer_may: accept: {e}"),
                }
            }
        })
    };
    acceptor.join().expect("acceptor coroutine panicked");
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
