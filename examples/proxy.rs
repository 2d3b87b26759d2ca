//! A TCP proxy: every accepted connection is forwarded to `--to`. Two
//! coroutines per connection copy each direction with plain
//! `std::io::copy`; when one side finishes sending, the proxy half-closes
//! the other side (`shutdown(Write)`), so protocols that rely on half-close
//! keep working. All on one thread, with std::net types only.
//!
//! Run: `cargo run --release --example proxy -- --listen 127.0.0.1:9000 --to 127.0.0.1:7878`
//! Try (with the echo example on 7878): `nc 127.0.0.1 9000`

use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

fn main() {
    let (listen, to) = parse_args();
    corio::run(move || {
        let listener = TcpListener::bind(&listen).unwrap_or_else(|e| {
            eprintln!("proxy: cannot listen on {listen}: {e}");
            std::process::exit(1);
        });
        println!(
            "proxy: listening on {}, forwarding to {to}",
            listener.local_addr().expect("local addr")
        );
        for client in listener.incoming() {
            match client {
                Ok(client) => {
                    let to = to.clone();
                    corio::spawn(move || {
                        if let Err(e) = forward(client, &to) {
                            eprintln!("proxy: {e}");
                        }
                    });
                }
                Err(e) => {
                    eprintln!("proxy: accept: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    });
}

fn parse_args() -> (String, String) {
    let mut listen = "127.0.0.1:9000".to_string();
    let mut to = "127.0.0.1:7878".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().expect("--listen needs a value"),
            "--to" => to = args.next().expect("--to needs a value"),
            other => {
                eprintln!("usage: proxy [--listen HOST:PORT] [--to HOST:PORT] (unknown {other})");
                std::process::exit(2);
            }
        }
    }
    (listen, to)
}

/// Copies both directions until both are done.
fn forward(client: TcpStream, to: &str) -> io::Result<()> {
    let upstream = TcpStream::connect(to)?;
    client.set_nodelay(true)?;
    upstream.set_nodelay(true)?;
    let up = {
        let (from, to) = (client.try_clone()?, upstream.try_clone()?);
        corio::spawn(move || pipe(from, to))
    };
    let down = pipe(upstream, client);
    let up = up
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("copy panicked")));
    down.and(up)
}

/// Copies `from` into `to`, then half-closes `to` so the far side sees EOF.
fn pipe(mut from: TcpStream, mut to: TcpStream) -> io::Result<()> {
    let copied = io::copy(&mut from, &mut to);
    // Propagate EOF (or the failure) as a half-close; ignore "not
    // connected" if the peer is already gone.
    let _ = to.shutdown(Shutdown::Write);
    if copied.is_err() {
        let _ = from.shutdown(Shutdown::Read);
    }
    copied.map(drop)
}
