//! Socket addresses in their C form (`sockaddr_storage` + length), with
//! conversions to and from `std::net::SocketAddr` and Unix paths.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A socket address as the kernel sees it.
#[derive(Clone, Copy)]
pub(crate) struct SockAddr {
    /// Big enough for every address family; only `len` bytes are
    /// meaningful.
    storage: libc::sockaddr_storage,
    /// Number of meaningful bytes of `storage`.
    len: libc::socklen_t,
}

impl SockAddr {
    /// An empty address with room for any family, to be filled by the
    /// kernel (`accept`, `recvfrom`, `getsockname`).
    pub(crate) fn empty() -> SockAddr {
        SockAddr {
            // SAFETY: all-zero bytes are a valid sockaddr_storage.
            storage: unsafe { mem::zeroed() },
            len: mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    /// The C form of an IP socket address.
    pub(crate) fn from_std(addr: &SocketAddr) -> SockAddr {
        let mut out = SockAddr::empty();
        match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than and aligned for
                // sockaddr_in.
                unsafe {
                    (&raw mut out.storage)
                        .cast::<libc::sockaddr_in>()
                        .write(sin)
                };
                out.len = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: sockaddr_storage is larger than and aligned for
                // sockaddr_in6.
                unsafe {
                    (&raw mut out.storage)
                        .cast::<libc::sockaddr_in6>()
                        .write(sin6)
                };
                out.len = mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            }
        }
        out
    }

    /// The C form of a Unix socket path.
    ///
    /// # Errors
    /// `InvalidInput` if the path contains a NUL byte or does not fit
    /// `sun_path`.
    pub(crate) fn from_path(path: &Path) -> io::Result<SockAddr> {
        let bytes = path.as_os_str().as_bytes();
        let mut sun = libc::sockaddr_un {
            sun_family: libc::AF_UNIX as libc::sa_family_t,
            sun_path: [0; 108],
        };
        if bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "paths must not contain interior null bytes",
            ));
        }
        if bytes.len() >= sun.sun_path.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "path must be shorter than SUN_LEN",
            ));
        }
        for (dst, &src) in sun.sun_path.iter_mut().zip(bytes) {
            *dst = src as libc::c_char;
        }
        let mut out = SockAddr::empty();
        // SAFETY: sockaddr_storage is larger than and aligned for
        // sockaddr_un.
        unsafe {
            (&raw mut out.storage)
                .cast::<libc::sockaddr_un>()
                .write(sun)
        };
        let base = mem::offset_of!(libc::sockaddr_un, sun_path);
        out.len = (base + bytes.len() + 1) as libc::socklen_t;
        Ok(out)
    }

    /// The address family.
    pub(crate) fn family(&self) -> libc::c_int {
        libc::c_int::from(self.storage.ss_family)
    }

    /// The IP socket address.
    ///
    /// # Errors
    /// `InvalidInput` for families other than AF_INET / AF_INET6.
    pub(crate) fn to_std(self) -> io::Result<SocketAddr> {
        match self.family() {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in.
                let sin = unsafe { (&raw const self.storage).cast::<libc::sockaddr_in>().read() };
                Ok(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says the storage holds a sockaddr_in6.
                let sin6 = unsafe {
                    (&raw const self.storage)
                        .cast::<libc::sockaddr_in6>()
                        .read()
                };
                Ok(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "invalid socket address family",
            )),
        }
    }

    /// Pointer for calls that read the address.
    pub(crate) fn as_ptr(&self) -> *const libc::sockaddr {
        (&raw const self.storage).cast()
    }

    /// Pointer for calls that fill the address.
    pub(crate) fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        (&raw mut self.storage).cast()
    }

    /// The meaningful length.
    pub(crate) fn len(&self) -> libc::socklen_t {
        self.len
    }

    /// The length slot for calls that fill the address.
    pub(crate) fn len_mut(&mut self) -> &mut libc::socklen_t {
        &mut self.len
    }
}
