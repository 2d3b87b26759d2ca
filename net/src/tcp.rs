//! TCP: [`TcpListener`] and [`TcpStream`], shaped like their std
//! counterparts, parking the coroutine instead of blocking the thread.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::addr::each_addr;
use crate::readiness::Dir;
use crate::socket::{Socket, fd_traits, for_addr};
use crate::sys::SockAddr;

/// A TCP socket server, listening for connections.
///
/// Like `std::net::TcpListener`, but [`accept`](TcpListener::accept) parks
/// the calling coroutine until a connection arrives. Outside a coroutine it
/// blocks the thread like std's.
///
/// ```
/// use std::io::{Read, Write};
/// use corio_net::{TcpListener, TcpStream};
///
/// corio_sched::run(|| {
///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = listener.local_addr().unwrap();
///     let server = corio_sched::spawn(move || {
///         let (mut conn, _) = listener.accept().unwrap();
///         let mut buf = [0; 5];
///         conn.read_exact(&mut buf).unwrap();
///         conn.write_all(&buf).unwrap();
///     });
///     let mut client = TcpStream::connect(addr).unwrap();
///     client.write_all(b"hello").unwrap();
///     let mut echo = [0; 5];
///     client.read_exact(&mut echo).unwrap();
///     assert_eq!(&echo, b"hello");
///     server.join().unwrap();
/// });
/// ```
#[derive(Debug)]
pub struct TcpListener(Socket);

/// An iterator over the connections of a [`TcpListener`]; never returns
/// `None`. Created by [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl TcpListener {
    /// Creates a listener bound to `addr` (SO_REUSEADDR set, like std),
    /// trying each resolved address in turn.
    ///
    /// # Errors
    /// The last bind or resolution error.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        bind_with(addr, false)
    }

    /// Like [`bind`](TcpListener::bind), but sets SO_REUSEPORT before
    /// binding: several listeners (say one per scheduler thread) may then
    /// bind the same address, and the kernel spreads incoming connections
    /// over them. Every listener sharing the port must be created this way
    /// (by the same user). To share an ephemeral port, bind the first to
    /// port 0 and the others to its [`local_addr`](TcpListener::local_addr).
    ///
    /// ```
    /// use corio_net::TcpListener;
    ///
    /// let first = TcpListener::bind_reuseport("127.0.0.1:0").unwrap();
    /// let second = TcpListener::bind_reuseport(first.local_addr().unwrap()).unwrap();
    /// assert_eq!(first.local_addr().unwrap(), second.local_addr().unwrap());
    /// ```
    ///
    /// # Errors
    /// As [`bind`](TcpListener::bind); `AddrInUse` if a listener without
    /// SO_REUSEPORT holds the address.
    pub fn bind_reuseport<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        bind_with(addr, true)
    }

    /// Accepts a new connection, parking until one arrives.
    ///
    /// # Errors
    /// As std; also `Interrupted` when the coroutine is cancelled,
    /// `TimedOut` at its deadline scope, EBADF if the listener is closed
    /// meanwhile.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (sock, addr) = self.0.accept()?;
        Ok((TcpStream(sock), addr.to_std()?))
    }

    /// An iterator of [`accept`](TcpListener::accept) results.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The local address.
    ///
    /// # Errors
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    /// A second handle to the same listener.
    ///
    /// # Errors
    /// As `fcntl(F_DUPFD_CLOEXEC)`.
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        self.0.try_clone().map(TcpListener)
    }

    /// Makes [`accept`](TcpListener::accept) return `WouldBlock` instead of
    /// waiting.
    ///
    /// # Errors
    /// As `fcntl(2)`.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.0.set_nonblocking(nonblocking)
    }

    /// Sets IP_TTL.
    ///
    /// # Errors
    /// As `setsockopt(2)`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.0
            .set_int_opt(libc::IPPROTO_IP, libc::IP_TTL, ttl as libc::c_int)
    }

    /// Reads IP_TTL.
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.0
            .int_opt(libc::IPPROTO_IP, libc::IP_TTL)
            .map(|v| v as u32)
    }

    /// Takes the pending socket error (SO_ERROR).
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.0.take_error()
    }
}

/// Creates a listening socket (SO_REUSEADDR, optionally SO_REUSEPORT) on
/// the first address of `addr` that binds.
fn bind_with<A: ToSocketAddrs>(addr: A, reuse_port: bool) -> io::Result<TcpListener> {
    each_addr(addr, |a| {
        let sock = for_addr(a, libc::SOCK_STREAM)?;
        sock.set_int_opt(libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        if reuse_port {
            sock.set_int_opt(libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
        }
        sock.bind(&SockAddr::from_std(a))?;
        sock.listen()?;
        Ok(TcpListener(sock))
    })
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// A TCP connection.
///
/// Like `std::net::TcpStream`: `Read` and `Write` (also on `&TcpStream`),
/// timeouts that end in `WouldBlock`, `shutdown`, `try_clone`; every call
/// that would block parks the coroutine instead. Outside a coroutine it
/// blocks the thread like std's.
#[derive(Debug)]
pub struct TcpStream(Socket);

impl TcpStream {
    /// Connects to `addr`, trying each resolved address in turn; parks
    /// until connected.
    ///
    /// # Errors
    /// The last connect or resolution error; `Interrupted` when cancelled,
    /// `TimedOut` at the deadline scope.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(addr, |a| {
            let sock = for_addr(a, libc::SOCK_STREAM)?;
            sock.connect(&SockAddr::from_std(a), None)?;
            Ok(TcpStream(sock))
        })
    }

    /// Connects with a timeout, like std: `TimedOut` when it passes.
    ///
    /// # Errors
    /// `InvalidInput` for a zero timeout; `TimedOut`; the connect error.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        let sock = for_addr(addr, libc::SOCK_STREAM)?;
        sock.connect(&SockAddr::from_std(addr), Some(timeout))?;
        Ok(TcpStream(sock))
    }

    /// The remote address.
    ///
    /// # Errors
    /// As `getpeername(2)` (`NotConnected`).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    /// Shuts down the read half, the write half (the peer reads EOF) or
    /// both.
    ///
    /// # Errors
    /// As `shutdown(2)`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.shutdown(how)
    }

    /// A second handle to the same connection (one coroutine may read
    /// while another writes).
    ///
    /// # Errors
    /// As `fcntl(F_DUPFD_CLOEXEC)`.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        self.0.try_clone().map(TcpStream)
    }

    /// Sets the read timeout (SO_RCVTIMEO): a read that waits longer fails
    /// with `WouldBlock`, like std. `None` waits forever.
    ///
    /// # Errors
    /// `InvalidInput` for `Some(Duration::ZERO)`, like std.
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.0.set_timeout(dur, Dir::Read)
    }

    /// Sets the write timeout (SO_SNDTIMEO); see
    /// [`set_read_timeout`](TcpStream::set_read_timeout).
    ///
    /// # Errors
    /// `InvalidInput` for `Some(Duration::ZERO)`, like std.
    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.0.set_timeout(dur, Dir::Write)
    }

    /// The read timeout.
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.0.timeout(Dir::Read)
    }

    /// The write timeout.
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.0.timeout(Dir::Write)
    }

    /// Reads without consuming (MSG_PEEK).
    ///
    /// # Errors
    /// As [`Read::read`].
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recv(buf, libc::MSG_PEEK)
    }

    /// Sets TCP_NODELAY.
    ///
    /// # Errors
    /// As `setsockopt(2)`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.0
            .set_int_opt(libc::IPPROTO_TCP, libc::TCP_NODELAY, nodelay.into())
    }

    /// Reads TCP_NODELAY.
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.0
            .int_opt(libc::IPPROTO_TCP, libc::TCP_NODELAY)
            .map(|v| v != 0)
    }

    /// Sets IP_TTL.
    ///
    /// # Errors
    /// As `setsockopt(2)`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.0
            .set_int_opt(libc::IPPROTO_IP, libc::IP_TTL, ttl as libc::c_int)
    }

    /// Reads IP_TTL.
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.0
            .int_opt(libc::IPPROTO_IP, libc::IP_TTL)
            .map(|v| v as u32)
    }

    /// Makes reads and writes return `WouldBlock` instead of waiting.
    ///
    /// # Errors
    /// As `fcntl(2)`.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.0.set_nonblocking(nonblocking)
    }

    /// Takes the pending socket error (SO_ERROR).
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.0.take_error()
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recv(buf, 0)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.0.recv_vectored(bufs)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.send_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fd_traits!(TcpListener, std::net::TcpListener);
fd_traits!(TcpStream, std::net::TcpStream);
