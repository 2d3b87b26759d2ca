//! Peer echo server on tokio: one task per connection, each with its own
//! `--buf`-byte buffer, `read` then `write_all`, TCP_NODELAY.
//!
//! `--flavor current` runs tokio's current-thread runtime (one thread does
//! everything, like one corio scheduler); `--flavor multi` runs the
//! work-stealing multi-thread runtime with `--threads` workers. Without
//! `--flavor`, one thread means current-thread and more mean multi-thread.
//!
//! Run: `cargo run --release -p corio-bench --bin peer_tokio -- --addr
//! 127.0.0.1:7000 [--threads 1] [--flavor current|multi] [--buf 16384]`;
//! it serves until killed.

use std::io;

use corio_bench::echo::ServerOpts;
use corio_bench::echo::args::Args;
use corio_bench::echo::sys::raise_nofile_limit;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const USAGE: &str = "\
peer_tokio: echo server on tokio, a task per connection

usage: peer_tokio [--addr 127.0.0.1:7000] [--threads 1] [--buf 16384]
                  [--flavor current|multi]";

fn main() {
    let mut args = Args::from_env(USAGE);
    let opts = ServerOpts::parse(&mut args);
    let flavor: String = args.get(
        "flavor",
        if opts.threads == 1 {
            "current"
        } else {
            "multi"
        }
        .to_string(),
    );
    args.finish();
    if let Err(e) = raise_nofile_limit() {
        eprintln!("peer_tokio: cannot raise RLIMIT_NOFILE: {e}");
    }
    let rt = match flavor.as_str() {
        "current" => tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build(),
        "multi" => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.threads)
            .enable_io()
            .build(),
        other => {
            eprintln!("peer_tokio: unknown --flavor {other:?} (current or multi)");
            std::process::exit(2)
        }
    }
    .expect("build the tokio runtime");
    if let Err(e) = rt.block_on(serve(opts)) {
        eprintln!("peer_tokio: {e}");
        std::process::exit(1);
    }
}

async fn serve(opts: ServerOpts) -> io::Result<()> {
    let listener = TcpListener::bind(opts.addr).await?;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("peer_tokio: accept: {e}");
                continue;
            }
        };
        tokio::spawn(echo(stream, opts.buf));
    }
}

async fn echo(mut stream: TcpStream, buf_size: usize) {
    if stream.set_nodelay(true).is_err() {
        return;
    }
    let mut buf = vec![0u8; buf_size];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
