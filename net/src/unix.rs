//! Unix domain stream sockets: [`UnixListener`] and [`UnixStream`], shaped
//! like `std::os::unix::net`'s.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::readiness::Dir;
use crate::socket::{Socket, fd_traits};
use crate::sys::{self, SockAddr};

/// A Unix domain socket server.
///
/// ```
/// use std::io::{Read, Write};
/// use corio_net::{UnixListener, UnixStream};
///
/// let dir = std::env::temp_dir().join(format!("corio-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("sock");
/// let _ = std::fs::remove_file(&path);
/// corio_sched::run(move || {
///     let listener = UnixListener::bind(&path).unwrap();
///     let server = corio_sched::spawn(move || {
///         let (mut conn, _) = listener.accept().unwrap();
///         conn.write_all(b"hi").unwrap();
///     });
///     let mut client = UnixStream::connect(&path).unwrap();
///     let mut buf = String::new();
///     client.read_to_string(&mut buf).unwrap();
///     assert_eq!(buf, "hi");
///     server.join().unwrap();
/// });
/// ```
#[derive(Debug)]
pub struct UnixListener(Socket);

/// An iterator over the connections of a [`UnixListener`]; never returns
/// `None`.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a UnixListener,
}

impl UnixListener {
    /// Creates a listener bound to the filesystem path `path`.
    ///
    /// # Errors
    /// `InvalidInput` for a path too long or with NUL bytes; the bind
    /// error (`AddrInUse` if the file exists).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        let addr = SockAddr::from_path(path.as_ref())?;
        let sock = Socket::new(libc::AF_UNIX, libc::SOCK_STREAM)?;
        sock.bind(&addr)?;
        sock.listen()?;
        Ok(UnixListener(sock))
    }

    /// Accepts a connection, parking until one arrives.
    ///
    /// # Errors
    /// As std; `Interrupted`, `TimedOut`, EBADF as for TCP.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (sock, _) = self.0.accept()?;
        let addr = sys::with_std(sock.fd(), std::os::unix::net::UnixStream::peer_addr)?;
        Ok((UnixStream(sock), addr))
    }

    /// An iterator of [`accept`](UnixListener::accept) results.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The local address.
    ///
    /// # Errors
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sys::with_std(self.0.fd(), std::os::unix::net::UnixListener::local_addr)
    }

    /// A second handle to the same listener.
    ///
    /// # Errors
    /// As `fcntl(F_DUPFD_CLOEXEC)`.
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        self.0.try_clone().map(UnixListener)
    }

    /// Makes [`accept`](UnixListener::accept) return `WouldBlock` instead
    /// of waiting.
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

impl Iterator for Incoming<'_> {
    type Item = io::Result<UnixStream>;

    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// A Unix domain stream connection; like `std::os::unix::net::UnixStream`,
/// parking the coroutine instead of blocking the thread.
#[derive(Debug)]
pub struct UnixStream(Socket);

impl UnixStream {
    /// Connects to the socket at `path`.
    ///
    /// # Errors
    /// `InvalidInput` for a bad path; the connect error.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let addr = SockAddr::from_path(path.as_ref())?;
        let sock = Socket::new(libc::AF_UNIX, libc::SOCK_STREAM)?;
        sock.connect(&addr, None)?;
        Ok(UnixStream(sock))
    }

    /// An unnamed pair of connected sockets.
    ///
    /// # Errors
    /// As `socketpair(2)`.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = Socket::pair(libc::AF_UNIX, libc::SOCK_STREAM)?;
        Ok((UnixStream(a), UnixStream(b)))
    }

    /// The local address.
    ///
    /// # Errors
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sys::with_std(self.0.fd(), std::os::unix::net::UnixStream::local_addr)
    }

    /// The peer's address.
    ///
    /// # Errors
    /// As `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        sys::with_std(self.0.fd(), std::os::unix::net::UnixStream::peer_addr)
    }

    /// Shuts down the read half, the write half or both.
    ///
    /// # Errors
    /// As `shutdown(2)`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.shutdown(how)
    }

    /// A second handle to the same connection.
    ///
    /// # Errors
    /// As `fcntl(F_DUPFD_CLOEXEC)`.
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        self.0.try_clone().map(UnixStream)
    }

    /// Sets the read timeout: `WouldBlock` when it passes, like std.
    ///
    /// # Errors
    /// `InvalidInput` for `Some(Duration::ZERO)`.
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.0.set_timeout(dur, Dir::Read)
    }

    /// Sets the write timeout.
    ///
    /// # Errors
    /// `InvalidInput` for `Some(Duration::ZERO)`.
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

impl Read for UnixStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Read for &UnixStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recv(buf, 0)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.0.recv_vectored(bufs)
    }
}

impl Write for UnixStream {
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

impl Write for &UnixStream {
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

fd_traits!(UnixListener, std::os::unix::net::UnixListener);
fd_traits!(UnixStream, std::os::unix::net::UnixStream);
