//! An HTTP/1.1 server written with **std::net only**: the only corio calls
//! are `corio::run` and `corio::spawn`. Every blocking std call (accept,
//! read, write, `std::thread::sleep`) goes through corio's libc hooks and
//! parks the connection's coroutine, so one thread serves every client.
//!
//! Routes: `GET /` answers "hello from corio"; `GET /sleep?ms=N` sleeps N ms
//! with `std::thread::sleep` (at most 60 s) and then answers, proving the
//! thread keeps serving others meanwhile. Keep-alive is the HTTP/1.1
//! default; `Connection: close` (or HTTP/1.0 without keep-alive) closes.
//! Malformed requests get `400 Bad Request` and the connection is closed;
//! headers larger than 16 KiB get `431`.
//!
//! Run: `cargo run --release --example http -- [--addr 127.0.0.1:8080]`
//! Try: `curl -v http://127.0.0.1:8080/` and
//! `time (for i in $(seq 20); do curl -s 127.0.0.1:8080/sleep?ms=500 & done; wait)`
//! (twenty half-second requests finish in about half a second).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

/// Largest request head (request line + headers) accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Largest request body read (and discarded).
const MAX_BODY: u64 = 1024 * 1024;
/// Longest `/sleep` accepted.
const MAX_SLEEP_MS: u64 = 60_000;

fn main() {
    let addr = parse_addr();
    corio::run(move || {
        let listener = TcpListener::bind(&addr).unwrap_or_else(|e| {
            eprintln!("http: cannot listen on {addr}: {e}");
            std::process::exit(1);
        });
        let local = listener.local_addr().expect("local addr");
        println!("http: listening on http://{local}/ (try: curl http://{local}/sleep?ms=200)");
        for stream in listener.incoming() {
            match stream {
                Ok(stream) => {
                    corio::spawn(move || {
                        // Errors are per connection: a vanished client
                        // must not disturb the others.
                        let _ = serve(stream);
                    });
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    eprintln!("http: accept: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    });
}

fn parse_addr() -> String {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:8080".to_string();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            other => {
                eprintln!("usage: http [--addr HOST:PORT] (unknown argument {other})");
                std::process::exit(2);
            }
        }
    }
    addr
}

/// One parsed request head.
struct Request {
    method: String,
    target: String,
    keep_alive: bool,
    content_length: u64,
}

/// Why a request could not be parsed.
enum Bad {
    /// Not HTTP: answer 400 and close.
    Malformed,
    /// Head over `MAX_HEAD`: answer 431 and close.
    TooLarge,
}

fn serve(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    // `&TcpStream` is both `Read` and `Write`: one socket, no clone.
    let mut reader = BufReader::new(&stream);
    loop {
        let req = match read_head(&mut reader)? {
            None => return Ok(()), // clean EOF between requests
            Some(Ok(req)) => req,
            Some(Err(Bad::Malformed)) => {
                return reject(&stream, "400 Bad Request", "bad request\n");
            }
            Some(Err(Bad::TooLarge)) => {
                let status = "431 Request Header Fields Too Large";
                return reject(&stream, status, "headers too large\n");
            }
        };
        if req.content_length > MAX_BODY {
            return reject(&stream, "413 Content Too Large", "body too large\n");
        }
        // Discard any body so the next request starts at the right byte.
        io::copy(&mut (&mut reader).take(req.content_length), &mut io::sink())?;
        let (status, body) = route(&req);
        if req.method == "HEAD" {
            // Same headers as GET, no body.
            write_response(&stream, status, &body, req.keep_alive, false)?;
        } else {
            respond(&stream, status, &body, req.keep_alive)?;
        }
        if !req.keep_alive {
            return Ok(());
        }
    }
}

/// Answers a request that cannot be served and closes the connection.
/// Closing a socket that still has unread input sends a reset, which can
/// destroy the answer on its way; so half-close first, then read and drop
/// what the client still sends (for a moment) before the close.
fn reject(stream: &TcpStream, status: &str, body: &str) -> io::Result<()> {
    respond(stream, status, body, false)?;
    stream.shutdown(Shutdown::Write)?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    let _ = io::copy(&mut stream.take(MAX_BODY), &mut io::sink());
    Ok(())
}

fn route(req: &Request) -> (&'static str, String) {
    if req.method != "GET" && req.method != "HEAD" {
        return ("405 Method Not Allowed", "only GET\n".into());
    }
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    match path {
        "/" => ("200 OK", "hello from corio\n".into()),
        "/sleep" => {
            let ms = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("ms="))
                .and_then(|v| v.parse::<u64>().ok());
            match ms {
                Some(ms) if ms <= MAX_SLEEP_MS => {
                    // Plain std: the hook parks only this coroutine.
                    std::thread::sleep(Duration::from_millis(ms));
                    ("200 OK", format!("slept {ms} ms\n"))
                }
                _ => (
                    "400 Bad Request",
                    "use /sleep?ms=N with N <= 60000\n".into(),
                ),
            }
        }
        _ => ("404 Not Found", "not found\n".into()),
    }
}

/// Reads one request head. `Ok(None)` on EOF before any byte.
fn read_head(reader: &mut BufReader<&TcpStream>) -> io::Result<Option<Result<Request, Bad>>> {
    let mut total = 0;
    let mut line = Vec::new();
    // Request line (tolerate empty lines before it, as RFC 9112 allows).
    let request_line = loop {
        line.clear();
        let n = read_line(reader, &mut line, MAX_HEAD - total)?;
        if n == 0 {
            return Ok(if total == 0 {
                None
            } else {
                Some(Err(Bad::Malformed))
            });
        }
        total += n;
        if total >= MAX_HEAD {
            return Ok(Some(Err(Bad::TooLarge)));
        }
        let text = trim_eol(&line);
        if !text.is_empty() {
            break String::from_utf8_lossy(text).into_owned();
        }
    };
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Ok(Some(Err(Bad::Malformed)));
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Ok(Some(Err(Bad::Malformed))),
    };
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphabetic());
    if !token(method) || !target.starts_with('/') {
        return Ok(Some(Err(Bad::Malformed)));
    }
    let mut req = Request {
        method: method.to_string(),
        target: target.to_string(),
        keep_alive: http11,
        content_length: 0,
    };
    loop {
        line.clear();
        let n = read_line(reader, &mut line, MAX_HEAD - total)?;
        if n == 0 {
            return Ok(Some(Err(Bad::Malformed)));
        }
        total += n;
        if total >= MAX_HEAD {
            return Ok(Some(Err(Bad::TooLarge)));
        }
        let text = trim_eol(&line);
        if text.is_empty() {
            return Ok(Some(Ok(req)));
        }
        let Ok(text) = std::str::from_utf8(text) else {
            return Ok(Some(Err(Bad::Malformed)));
        };
        let Some((name, value)) = text.split_once(':') else {
            return Ok(Some(Err(Bad::Malformed)));
        };
        if name.is_empty() || name.contains(|c: char| c.is_whitespace()) {
            return Ok(Some(Err(Bad::Malformed)));
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            // Digits only: `parse` would also take a leading `+`.
            match value.parse() {
                Ok(n) if value.bytes().all(|b| b.is_ascii_digit()) => req.content_length = n,
                _ => return Ok(Some(Err(Bad::Malformed))),
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked bodies are not supported by this small server.
            return Ok(Some(Err(Bad::Malformed)));
        } else if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.contains("close") {
                req.keep_alive = false;
            } else if v.contains("keep-alive") {
                req.keep_alive = true;
            }
        }
    }
}

/// Reads up to and including `\n`, at most `limit` bytes; returns the
/// number of bytes read (0 at EOF).
fn read_line(
    reader: &mut BufReader<&TcpStream>,
    out: &mut Vec<u8>,
    limit: usize,
) -> io::Result<usize> {
    let mut limited = reader.take(limit as u64 + 1);
    limited.read_until(b'\n', out)
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn respond(w: &TcpStream, status: &str, body: &str, keep_alive: bool) -> io::Result<()> {
    write_response(w, status, body, keep_alive, true)
}

fn write_response(
    mut w: &TcpStream,
    status: &str,
    body: &str,
    keep_alive: bool,
    with_body: bool,
) -> io::Result<()> {
    let conn = if keep_alive { "keep-alive" } else { "close" };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {conn}\r\n\r\n",
        body.len()
    );
    let mut msg = head.into_bytes();
    if with_body {
        msg.extend_from_slice(body.as_bytes());
    }
    w.write_all(&msg)?;
    w.flush()
}
