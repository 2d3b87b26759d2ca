//! Unmodified blocking libraries, run concurrently: 100 coroutines on one
//! thread each make an HTTP request with `ureq`, a plain synchronous
//! client that knows nothing of corio. Its blocking socket calls reach
//! corio's libc hooks and park only the calling coroutine, so the requests
//! overlap and the wall time is about one request's, not a hundred.
//!
//! The requests go to a `/sleep?ms=N` route: the `http` example's, if you
//! pass its address, or else a small std::net server this program starts
//! in a coroutine of its own (so it runs standalone).
//!
//! Run: `cargo run --release --example blocking_libs -- [--addr HOST:PORT]
//! [--requests 100] [--ms 200]`
//! Against the http example: `cargo run --release --example http` in one
//! terminal, `cargo run --release --example blocking_libs -- --addr
//! 127.0.0.1:8080` in another.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: blocking_libs [--addr HOST:PORT] [--requests 100] [--ms 200]";

fn main() {
    let addr: Option<String> = arg("--addr");
    let requests: u32 = arg("--requests").unwrap_or(100);
    let ms: u64 = arg("--ms").unwrap_or(200);
    let ok = corio::run(move || {
        let addr = addr.unwrap_or_else(|| {
            let addr = sleep_server();
            println!("blocking_libs: no --addr given: serving /sleep in-process on {addr}");
            addr.to_string()
        });
        let url = format!("http://{addr}/sleep?ms={ms}");
        let start = Instant::now();
        let clients: Vec<_> = (0..requests)
            .map(|_| {
                let url = url.clone();
                // Plain ureq, exactly as in a thread-per-request program.
                corio::spawn(move || ureq::get(&url).call()?.body_mut().read_to_string())
            })
            .collect();
        let mut ok = 0;
        for client in clients {
            match client.join().expect("request coroutine panicked") {
                Ok(_) => ok += 1,
                Err(e) => eprintln!("blocking_libs: request failed: {e}"),
            }
        }
        let took = start.elapsed();
        let serial = Duration::from_millis(ms) * requests;
        println!(
            "blocking_libs: {ok}/{requests} ureq requests to {url} from {requests} coroutines \
             on one thread took {took:.2?}; one after another they would take {serial:.1?} \
             ({:.0}x faster)",
            serial.as_secs_f64() / took.as_secs_f64()
        );
        ok
    });
    if ok != requests {
        std::process::exit(1);
    }
}

/// Starts a minimal std::net HTTP server in a coroutine: every request
/// waits the `ms=N` of its URL with `std::thread::sleep` (which parks only
/// its coroutine), then gets a short answer and the connection closes.
fn sleep_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    corio::spawn(move || {
        for conn in listener.incoming().flatten() {
            corio::spawn(move || answer(conn));
        }
    });
    addr
}

fn answer(conn: TcpStream) -> io::Result<()> {
    let mut reader = BufReader::new(&conn);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Skip the headers, up to the empty line.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let ms: u64 = request_line
        .split(['?', '&', ' '])
        .find_map(|kv| kv.strip_prefix("ms=")?.parse().ok())
        .unwrap_or(0);
    std::thread::sleep(Duration::from_millis(ms.min(60_000)));
    let body = format!("slept {ms} ms\n");
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    (&conn).write_all(response.as_bytes())
}

/// The value after `flag` on the command line, if given.
fn arg<T: std::str::FromStr>(flag: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let known = ["--addr", "--requests", "--ms"];
    if args
        .chunks(2)
        .any(|kv| kv.len() < 2 || !known.contains(&kv[0].as_str()))
    {
        eprintln!("{USAGE}");
        std::process::exit(2);
    }
    let i = args.iter().position(|a| a == flag)?;
    Some(args[i + 1].parse().unwrap_or_else(|_| {
        eprintln!("{USAGE}");
        std::process::exit(2)
    }))
}
