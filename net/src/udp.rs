//! UDP: [`UdpSocket`], shaped like `std::net::UdpSocket`.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::addr::each_addr;
use crate::readiness::Dir;
use crate::socket::{Socket, fd_traits, for_addr};
use crate::sys::SockAddr;

/// A UDP socket whose receives park the coroutine until a datagram
/// arrives.
///
/// ```
/// use corio_net::UdpSocket;
///
/// corio_sched::run(|| {
///     let a = UdpSocket::bind("127.0.0.1:0").unwrap();
///     let b = UdpSocket::bind("127.0.0.1:0").unwrap();
///     a.send_to(b"ping", b.local_addr().unwrap()).unwrap();
///     let mut buf = [0; 16];
///     let (n, from) = b.recv_from(&mut buf).unwrap();
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr().unwrap()));
/// });
/// ```
#[derive(Debug)]
pub struct UdpSocket(Socket);

impl UdpSocket {
    /// Creates a socket bound to `addr`, trying each resolved address.
    ///
    /// # Errors
    /// The last bind or resolution error.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(addr, |a| {
            let sock = for_addr(a, libc::SOCK_DGRAM)?;
            sock.bind(&SockAddr::from_std(a))?;
            Ok(UdpSocket(sock))
        })
    }

    /// Receives a datagram and its sender, parking until one arrives.
    ///
    /// # Errors
    /// As std; `WouldBlock` after the read timeout.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, addr) = self.0.recv_from(buf, 0)?;
        Ok((n, addr.to_std()?))
    }

    /// Like [`recv_from`](UdpSocket::recv_from) without removing the
    /// datagram from the queue.
    ///
    /// # Errors
    /// As [`recv_from`](UdpSocket::recv_from).
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, addr) = self.0.recv_from(buf, libc::MSG_PEEK)?;
        Ok((n, addr.to_std()?))
    }

    /// Sends a datagram to the first address `addr` resolves to.
    ///
    /// # Errors
    /// As std; `WouldBlock` after the write timeout.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let Some(to) = addr.to_socket_addrs()?.next() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no addresses to send data to",
            ));
        };
        self.0.send_to(buf, &SockAddr::from_std(&to))
    }

    /// Sets the default peer for [`send`](UdpSocket::send) and the only
    /// source [`recv`](UdpSocket::recv) accepts.
    ///
    /// # Errors
    /// The last connect or resolution error.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(addr, |a| self.0.connect(&SockAddr::from_std(a), None))
    }

    /// Sends to the connected peer.
    ///
    /// # Errors
    /// As std.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.send(buf)
    }

    /// Receives from the connected peer.
    ///
    /// # Errors
    /// As std.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recv(buf, 0)
    }

    /// Like [`recv`](UdpSocket::recv) without removing the datagram.
    ///
    /// # Errors
    /// As std.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recv(buf, libc::MSG_PEEK)
    }

    /// The local address.
    ///
    /// # Errors
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    /// `NotConnected` when not connected.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }

    /// A second handle to the same socket.
    ///
    /// # Errors
    /// As `fcntl(F_DUPFD_CLOEXEC)`.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        self.0.try_clone().map(UdpSocket)
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

    /// Sets SO_BROADCAST.
    ///
    /// # Errors
    /// As `setsockopt(2)`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.0
            .set_int_opt(libc::SOL_SOCKET, libc::SO_BROADCAST, on.into())
    }

    /// Reads SO_BROADCAST.
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.0
            .int_opt(libc::SOL_SOCKET, libc::SO_BROADCAST)
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

    /// Makes receives and sends return `WouldBlock` instead of waiting.
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

fd_traits!(UdpSocket, std::net::UdpSocket);
