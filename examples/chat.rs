//! A line-based chat server. Every client has two coroutines: one reads
//! its lines and reports them to the hub, one writes what the hub sends
//! it. The hub is a coroutine that owns the client list and broadcasts
//! each line, through corio channels (`corio::sync::mpsc`), to every other
//! client. All on one thread, in blocking style, without a lock.
//!
//! Disconnects are clean: when a client leaves, its reader tells the hub,
//! the hub drops the client's outbox, and the writer ends. A client that
//! stops reading and falls `BACKLOG` lines behind is dropped the same way.
//!
//! Run: `cargo run --release --example chat -- [--addr 127.0.0.1:7879]`
//! Try: `nc 127.0.0.1 7879` (or `telnet 127.0.0.1 7879`) in two or more
//! terminals and type lines.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Duration;

use corio::net::{TcpListener, TcpStream};
use corio::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};

/// Lines a client may lag behind before it is dropped.
const BACKLOG: usize = 1024;
/// Longest line in bytes; longer ones are split.
const MAX_LINE: u64 = 4096;

/// What clients tell the hub.
enum Event {
    /// A new client and the sending end of its outbox.
    Join(u64, SyncSender<Arc<str>>),
    /// A line the client typed (without its line ending).
    Line(u64, String),
    /// The client is gone.
    Leave(u64),
}

fn main() {
    let addr = parse_addr();
    corio::run(move || {
        let listener = TcpListener::bind(&addr).unwrap_or_else(|e| {
            eprintln!("chat: cannot listen on {addr}: {e}");
            std::process::exit(1)
        });
        let local = listener.local_addr().expect("local address");
        println!(
            "chat: listening on {local}; try: nc {} {} in two terminals",
            local.ip(),
            local.port()
        );
        let (events, inbox) = mpsc::channel();
        corio::spawn(move || hub(inbox));
        let mut next_id = 1;
        loop {
            match listener.accept() {
                Ok((conn, _)) => {
                    let (id, events) = (next_id, events.clone());
                    next_id += 1;
                    corio::spawn(move || client(id, conn, events));
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    eprintln!("chat: accept failed: {e}");
                    corio::sleep(Duration::from_millis(100));
                }
            }
        }
    });
}

/// Owns the client list; turns events into lines for everyone else.
fn hub(inbox: Receiver<Event>) {
    let mut clients: HashMap<u64, SyncSender<Arc<str>>> = HashMap::new();
    for event in &inbox {
        let (from, text) = match event {
            Event::Join(id, outbox) => {
                let others = clients.len();
                let welcome = format!("* welcome, you are client {id}; {others} other(s) here\n");
                // The outbox is new and empty: this cannot fail.
                let _ = outbox.try_send(welcome.into());
                clients.insert(id, outbox);
                (id, format!("* client {id} joined\n"))
            }
            Event::Line(id, line) => (id, format!("client {id}: {line}\n")),
            Event::Leave(id) => {
                if clients.remove(&id).is_none() {
                    continue; // already dropped for being too slow
                }
                (id, format!("* client {id} left\n"))
            }
        };
        let text: Arc<str> = text.into();
        // Dropping a client's outbox ends its writer, which closes it.
        clients.retain(|&to, outbox| {
            to == from
                || match outbox.try_send(text.clone()) {
                    Ok(()) => true,
                    Err(TrySendError::Full(_)) => {
                        eprintln!("chat: client {to} fell {BACKLOG} lines behind; dropping it");
                        false
                    }
                    Err(TrySendError::Disconnected(_)) => false,
                }
        });
    }
}

/// One client: starts its writer, then reads lines until it leaves.
fn client(id: u64, conn: TcpStream, hub: Sender<Event>) {
    let (outbox, lines) = mpsc::sync_channel(BACKLOG);
    let writer = match conn.try_clone() {
        Ok(w) => corio::spawn(move || write_lines(w, lines)),
        Err(e) => return eprintln!("chat: client {id}: {e}"),
    };
    let _ = hub.send(Event::Join(id, outbox));
    let mut reader = BufReader::new(&conn);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break, // closed, reset, or shut down by the writer
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches(['\r', '\n']);
                if !text.is_empty() {
                    let _ = hub.send(Event::Line(id, text.to_string()));
                }
            }
        }
    }
    let _ = hub.send(Event::Leave(id));
    let _ = writer.join(); // the hub drops the outbox, so the writer ends
}

/// Writes the client's lines until the hub drops its outbox or the client
/// stops taking them; then closes the connection, which ends the reader.
fn write_lines(mut conn: TcpStream, lines: Receiver<Arc<str>>) {
    // A client that does not read for this long is given up on.
    let _ = conn.set_write_timeout(Some(Duration::from_secs(10)));
    for line in &lines {
        if conn.write_all(line.as_bytes()).is_err() {
            break;
        }
    }
    let _ = conn.shutdown(Shutdown::Both);
}

fn parse_addr() -> String {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next(), args.next()) {
        (None, _, _) => "127.0.0.1:7879".to_string(),
        (Some("--addr"), Some(addr), None) => addr,
        _ => {
            eprintln!("usage: chat [--addr 127.0.0.1:7879]");
            std::process::exit(2)
        }
    }
}
