//! The example programs, run as child processes and driven over loopback:
//! echo (one thread, and two threads with either accept strategy), http,
//! proxy in front of echo, chat and blocking_libs.
//!
//! Every server gets `--addr 127.0.0.1:0` (proxy: `--listen`) and the test
//! reads the address it really bound from the first line it prints, so no
//! port can be taken in between. Children are killed when their guard
//! drops, also when an assertion fails, and every socket read and child
//! wait has a time limit, so a broken example fails the test instead of
//! hanging it.
//!
//! Plain `cargo test` builds the examples first (into
//! `target/<profile>/examples/`); `cargo test --test examples` alone does
//! not, so run `cargo build --examples` before that.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Limit for every socket read/write and for a server's first line.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The built example `name`: the test runs as
/// `target/<profile>/deps/examples-<hash>`, examples live in
/// `target/<profile>/examples/`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test executable lives in target/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.is_file(),
        "example `{name}` is not built ({} is missing): run `cargo build --examples` \
         (plain `cargo test` builds them, `cargo test --test examples` does not)",
        path.display()
    );
    path
}

/// Kills and reaps the child when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running server example and the address it listens on.
struct Server {
    addr: SocketAddr,
    _child: Guard,
}

impl Server {
    /// Starts example `name` with `args` and waits for its first line,
    /// which must say `listening on <addr>`.
    fn start(name: &str, args: &[&str]) -> Server {
        let child = Command::new(example(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting example {name}: {e}"));
        let mut child = Guard(child);
        let stdout = child.0.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        // Keeps draining stdout so the child never blocks on a full pipe.
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let first = lines
            .recv_timeout(IO_TIMEOUT)
            .unwrap_or_else(|_| panic!("example {name} printed no line within {IO_TIMEOUT:?}"));
        Server {
            addr: listen_addr(&first),
            _child: child,
        }
    }
}

/// The address in `... listening on <addr> ...` (`http://<addr>/` too).
fn listen_addr(line: &str) -> SocketAddr {
    let rest = line
        .split_once("listening on ")
        .unwrap_or_else(|| panic!("no `listening on` in {line:?}"))
        .1;
    let token = rest.split_whitespace().next().unwrap_or_default();
    let token = token.trim_start_matches("http://");
    let token = token.trim_end_matches(['/', ';', ',']);
    token
        .parse()
        .unwrap_or_else(|e| panic!("bad address {token:?} in {line:?}: {e}"))
}

/// A connection with read and write time limits.
fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// Runs example `name` to completion within `limit` (killed after it).
fn run_example(name: &str, args: &[&str], limit: Duration) -> Output {
    let child = Command::new(example(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting example {name}: {e}"));
    let mut guard = Guard(child);
    let deadline = Instant::now() + limit;
    while guard.0.try_wait().expect("wait for example").is_none() {
        assert!(
            Instant::now() < deadline,
            "example {name} ran longer than {limit:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
    let mut out = Output {
        status: guard.0.wait().expect("exit status"),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    // It has exited: the pipes end.
    guard
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut out.stdout)
        .unwrap();
    guard
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut out.stderr)
        .unwrap();
    out
}

/// Byte `j` of message `round` on connection `conn`.
fn pattern(conn: usize, round: usize, j: usize) -> u8 {
    (j.wrapping_mul(31) ^ conn.wrapping_mul(7) ^ round.wrapping_mul(131)) as u8
}

/// `conns` connections to an echo service, each sending `rounds` messages
/// of varying sizes (up to 20 KB, all connections in flight at once) and
/// checking every byte that comes back.
fn echo_byte_for_byte(addr: SocketAddr, conns: usize, rounds: usize) {
    let mut streams: Vec<TcpStream> = (0..conns).map(|_| connect(addr)).collect();
    for round in 0..rounds {
        let size = |c: usize| 1 + (c * 4099 + round * 7919) % 20_000;
        for (c, s) in streams.iter_mut().enumerate() {
            let msg: Vec<u8> = (0..size(c)).map(|j| pattern(c, round, j)).collect();
            s.write_all(&msg).unwrap();
        }
        for (c, s) in streams.iter_mut().enumerate() {
            let mut back = vec![0; size(c)];
            s.read_exact(&mut back)
                .unwrap_or_else(|e| panic!("conn {c} round {round}: {e}"));
            let want = (0..size(c)).map(|j| pattern(c, round, j));
            assert!(
                back.iter().copied().eq(want),
                "conn {c} round {round}: bytes differ"
            );
        }
    }
}

#[test]
fn echo_100_connections_byte_for_byte() {
    let echo = Server::start("echo", &["--addr", "127.0.0.1:0"]);
    echo_byte_for_byte(echo.addr, 100, 5);
}

/// `--buf` picks one of several stack arrays, or a heap buffer above
/// 64 KiB: every choice, at and around its edges, echoes byte for byte
/// (messages up to 20 KB, so small buffers take many reads per message).
#[test]
fn echo_every_buffer_size_byte_for_byte() {
    for buf in [
        "1", "1024", "1025", "4096", "4097", "16384", "16385", "65536", "65537",
    ] {
        let echo = Server::start("echo", &["--addr", "127.0.0.1:0", "--buf", buf]);
        echo_byte_for_byte(echo.addr, 8, 2);
    }
}

#[test]
fn echo_two_threads_reuseport_byte_for_byte() {
    let args = [
        "--addr",
        "127.0.0.1:0",
        "--threads",
        "2",
        "--accept",
        "reuseport",
    ];
    let echo = Server::start("echo", &args);
    echo_byte_for_byte(echo.addr, 100, 5);
}

#[test]
fn echo_two_threads_handoff_byte_for_byte() {
    let args = [
        "--addr",
        "127.0.0.1:0",
        "--threads",
        "2",
        "--accept",
        "handoff",
    ];
    let echo = Server::start("echo", &args);
    echo_byte_for_byte(echo.addr, 100, 5);
}

#[test]
fn echo_survives_clients_that_vanish_mid_message() {
    let echo = Server::start("echo", &["--addr", "127.0.0.1:0", "--buf", "1024"]);
    for _ in 0..20 {
        // Send as much as fits without ever reading, then close: the
        // unread echo makes the close a reset, mid-message.
        let s = connect(echo.addr);
        s.set_nonblocking(true).unwrap();
        let chunk = [7u8; 64 * 1024];
        while (&s).write(&chunk).is_ok() {}
        drop(s);
        // And one that goes away before sending anything.
        drop(connect(echo.addr));
    }
    echo_byte_for_byte(echo.addr, 10, 2);
}

/// One HTTP/1.1 response: status line and body (by Content-Length).
fn read_response(r: &mut impl BufRead) -> (String, String) {
    let mut status = String::new();
    r.read_line(&mut status).expect("status line");
    let mut len = 0;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).expect("header line");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("header has a colon");
        if name.eq_ignore_ascii_case("content-length") {
            len = value.trim().parse().expect("numeric Content-Length");
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).expect("body");
    (
        status.trim_end().to_string(),
        String::from_utf8(body).unwrap(),
    )
}

#[test]
fn http_keeps_the_connection_alive() {
    let http = Server::start("http", &["--addr", "127.0.0.1:0"]);
    let s = connect(http.addr);
    let mut r = BufReader::new(&s);
    // Two requests one after the other, then two pipelined, all on one
    // connection.
    for _ in 0..2 {
        (&s).write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            .unwrap();
        let (status, body) = read_response(&mut r);
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(body, "hello from corio\n");
    }
    (&s).write_all(b"GET /sleep?ms=1 HTTP/1.1\r\nHost: test\r\n\r\nGET /nope HTTP/1.1\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut r).1, "slept 1 ms\n");
    assert_eq!(read_response(&mut r).0, "HTTP/1.1 404 Not Found");

    // A real client agrees.
    let agent = ureq::Agent::new_with_defaults();
    for _ in 0..3 {
        let mut resp = agent.get(format!("http://{}/", http.addr)).call().unwrap();
        assert_eq!(
            resp.body_mut().read_to_string().unwrap(),
            "hello from corio\n"
        );
    }
    match agent.get(format!("http://{}/missing", http.addr)).call() {
        Err(ureq::Error::StatusCode(404)) => {}
        other => panic!("expected 404, got {other:?}"),
    }
}

#[test]
fn http_answers_garbage_with_400_and_closes() {
    let http = Server::start("http", &["--addr", "127.0.0.1:0"]);
    for garbage in [
        &b"garbage\r\n\r\n"[..],
        b"GET /\r\n\r\n",
        b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
    ] {
        let mut s = connect(http.addr);
        s.write_all(garbage).unwrap();
        let mut answer = String::new();
        // read_to_string returns only at EOF: the server closed.
        s.read_to_string(&mut answer).expect("answer, then EOF");
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer:?}"
        );
        assert!(answer.contains("Connection: close\r\n"), "{answer:?}");
    }
}

#[test]
fn http_sleep_requests_run_concurrently() {
    let http = Server::start("http", &["--addr", "127.0.0.1:0"]);
    let url = format!("http://{}/sleep?ms=200", http.addr);
    let start = Instant::now();
    let clients: Vec<_> = (0..50)
        .map(|_| {
            let url = url.clone();
            thread::spawn(move || ureq::get(&url).call()?.body_mut().read_to_string())
        })
        .collect();
    for c in clients {
        assert_eq!(c.join().unwrap().unwrap(), "slept 200 ms\n");
    }
    let took = start.elapsed();
    // One after another: 50 x 200 ms = 10 s.
    assert!(
        took < Duration::from_millis(1500),
        "50 requests took {took:?}"
    );
}

#[test]
fn proxy_in_front_of_echo() {
    let echo = Server::start("echo", &["--addr", "127.0.0.1:0"]);
    let to = echo.addr.to_string();
    let proxy = Server::start("proxy", &["--listen", "127.0.0.1:0", "--to", &to]);
    echo_byte_for_byte(proxy.addr, 20, 4);

    // Half-close goes through: after shutdown(Write) the client still gets
    // all its data back, then EOF.
    let mut s = connect(proxy.addr);
    let data: Vec<u8> = (0..100_000).map(|j| pattern(1, 2, j)).collect();
    s.write_all(&data).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).expect("echo, then EOF");
    assert!(
        back == data,
        "got {} bytes back, sent {}",
        back.len(),
        data.len()
    );
}

/// A chat client: reads lines with a time limit.
struct ChatClient {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl ChatClient {
    /// Connects and waits for the welcome line (then the hub knows it).
    fn join(addr: SocketAddr) -> ChatClient {
        let stream = connect(addr);
        let reader = BufReader::new(stream.try_clone().unwrap());
        let mut c = ChatClient { stream, reader };
        let welcome = c.line();
        assert!(welcome.starts_with("* welcome"), "{welcome:?}");
        c
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .expect("a chat line in time");
        assert!(n > 0, "chat server closed the connection");
        line.trim_end().to_string()
    }

    fn say(&mut self, text: &str) {
        self.stream
            .write_all(format!("{text}\r\n").as_bytes())
            .unwrap();
    }

    /// Reads until a line ending in `text`; no line before it may end in
    /// `own` (the client's own words must never come back to it).
    fn expect(&mut self, text: &str, own: &str) {
        loop {
            let line = self.line();
            assert!(
                !line.ends_with(own),
                "a client got its own line back: {line:?}"
            );
            if line.ends_with(text) {
                assert!(line.starts_with("client "), "{line:?}");
                return;
            }
        }
    }
}

#[test]
fn chat_clients_see_each_others_lines_not_their_own() {
    let chat = Server::start("chat", &["--addr", "127.0.0.1:0"]);
    let mut a = ChatClient::join(chat.addr);
    let mut b = ChatClient::join(chat.addr);
    let mut c = ChatClient::join(chat.addr);
    a.say("hello from a");
    b.expect("hello from a", "from b");
    c.expect("hello from a", "from c");
    b.say("hello from b");
    a.expect("hello from b", "from a");
    c.expect("hello from b", "from c");
    c.say("hello from c");
    a.expect("hello from c", "from a");
    b.expect("hello from c", "from b");
    // A last line from a: c must not have got its own line before it.
    a.say("bye from a");
    c.expect("bye from a", "from c");
    b.expect("bye from a", "from b");

    // A client that leaves is announced, and the others go on chatting.
    drop(a);
    let left = b.line();
    assert!(
        left.starts_with("* client") && left.ends_with("left"),
        "{left:?}"
    );
    c.say("still here");
    b.expect("still here", "from b");
}

#[test]
fn blocking_libs_standalone_overlaps_requests() {
    let out = run_example(
        "blocking_libs",
        &["--requests", "50", "--ms", "200"],
        Duration::from_secs(30),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("50/50 ureq requests"), "{stdout}");
}

#[test]
fn blocking_libs_against_the_http_example() {
    let http = Server::start("http", &["--addr", "127.0.0.1:0"]);
    let addr = http.addr.to_string();
    let start = Instant::now();
    let out = run_example(
        "blocking_libs",
        &["--addr", &addr, "--requests", "100", "--ms", "200"],
        Duration::from_secs(30),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("100/100 ureq requests"), "{stdout}");
    // One after another: 100 x 200 ms = 20 s.
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
}
