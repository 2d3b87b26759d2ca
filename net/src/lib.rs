//! Coroutine sockets and the libc hooks of corio.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::time::{Duration, Instant};
//!
//! let start = Instant::now();
//! corio_sched::run(|| {
//!     // corio's own types ...
//!     let listener = corio_net::TcpListener::bind("127.0.0.1:0").unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     corio_sched::spawn(move || {
//!         for conn in listener.incoming() {
//!             let mut conn = conn.unwrap();
//!             corio_sched::spawn(move || {
//!                 let mut buf = [0; 64];
//!                 while let Ok(n @ 1..) = conn.read(&mut buf) {
//!                     // ... and unmodified blocking code: this std sleep
//!                     // parks the coroutine, not the thread.
//!                     std::thread::sleep(Duration::from_millis(100));
//!                     conn.write_all(&buf[..n]).unwrap();
//!                 }
//!             });
//!         }
//!     });
//!     // Ten plain std::net clients, each in its own coroutine, one thread.
//!     let clients: Vec<_> = (0..10)
//!         .map(|i| corio_sched::spawn(move || {
//!             let mut s = std::net::TcpStream::connect(addr).unwrap();
//!             s.write_all(format!("client {i}").as_bytes()).unwrap();
//!             let mut buf = [0; 64];
//!             let n = s.read(&mut buf).unwrap();
//!             assert_eq!(&buf[..n], format!("client {i}").as_bytes());
//!         }))
//!         .collect();
//!     for c in clients {
//!         c.join().unwrap();
//!     }
//! });
//! // The ten 100 ms sleeps overlapped.
//! assert!(start.elapsed() < Duration::from_millis(900));
//! ```
//!
//! This crate owns the socket types and the `#[no_mangle]` definitions of
//! the blocking libc functions. It builds on `corio_sched::wait_fd` and
//! knows nothing of scheduling itself; it must never block a scheduler
//! thread from inside a coroutine, and must never change an fd it did not
//! create or that no coroutine waits on.
//!
//! # Coroutine sockets
//! [`TcpListener`], [`TcpStream`], [`UdpSocket`], [`UnixListener`] and
//! [`UnixStream`] mirror std's types. Every operation tries the real
//! syscall on a non-blocking fd and, on `EAGAIN`, parks in `wait_fd` until
//! the fd is ready, its timeout passes (`WouldBlock`, as std), the
//! coroutine's deadline scope ends (`TimedOut`) or it is cancelled
//! (`Interrupted`); then it tries again. Outside coroutines they block the
//! thread like std's. [`lookup_host`] resolves names on the blocking pool.
//!
//! # Hooks
//! corio defines `socket`, `accept`, `connect`, `read`, `write`, `recv`,
//! `send` (and their vectored, `*from`/`*to`, `*msg` and fortified
//! `__*_chk` forms), `poll`, `select`, `close`, `dup*`, `fcntl`, `ioctl`,
//! `setsockopt`/`getsockopt`, `pipe*`, `sleep`, `usleep`, `nanosleep`,
//! `clock_nanosleep` and `getaddrinfo`. Calls from std, sync crates and
//! linked C code reach them first, so blocking code written for threads
//! parks the coroutine instead. The cooperative path is taken only inside a
//! coroutine with hooks enabled ([`hooks`]) and, for fd calls, on fds the
//! process created as sockets or pipes; everything else is the real libc
//! call. The O_NONBLOCK corio needs is set lazily and hidden: users see
//! exactly the blocking or non-blocking behaviour they asked for,
//! SO_RCVTIMEO/SO_SNDTIMEO are honoured, `close` wakes waiters with EBADF,
//! and errno is what libc would leave.
//!
//! The hooks are linked into every program that depends on `corio` (which
//! names this crate): an rlib's definitions take precedence over the shared
//! libc's, with no build script, link flag or `LD_PRELOAD`.

#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
compile_error!("corio-net supports 64-bit Linux only");

mod addr;
mod fdtable;
mod hook;
pub mod hooks;
mod readiness;
mod socket;
mod sys;
mod tcp;
mod udp;
mod unix;

pub use addr::lookup_host;
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{Incoming as UnixIncoming, UnixListener, UnixStream};
