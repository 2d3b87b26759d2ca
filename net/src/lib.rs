//! Coroutine sockets and the libc hooks of corio (not written yet).
//!
//! This crate will own `TcpListener`, `TcpStream`, `UdpSocket`,
//! `UnixListener`, `UnixStream` and the `#[no_mangle]` definitions of the
//! blocking libc functions (read, write, accept, connect, poll, sleep, ...)
//! that park the current coroutine instead of blocking the thread. Today it
//! provides nothing.
