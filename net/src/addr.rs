//! Name resolution on the blocking pool, and trying each resolved address
//! in turn as std does.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Resolves `host` (`"name:port"`, `"[v6]:port"` or `"a.b.c.d:port"`) to
/// socket addresses, running `getaddrinfo` on corio's blocking pool while
/// the coroutine parks (outside a coroutine: on the calling thread).
///
/// ```
/// corio_sched::run(|| {
///     let addrs: Vec<_> = corio_net::lookup_host("localhost:80").unwrap().collect();
///     assert!(addrs.iter().all(|a| a.port() == 80 && a.ip().is_loopback()));
/// });
/// ```
///
/// # Errors
/// The resolver's error, like `ToSocketAddrs`.
pub fn lookup_host(host: &str) -> io::Result<std::vec::IntoIter<SocketAddr>> {
    let host = host.to_owned();
    let addrs =
        corio_sched::unblock(move || host.to_socket_addrs().map(Iterator::collect::<Vec<_>>))?;
    Ok(addrs.into_iter())
}

/// Calls `f` with each address of `addr` until one succeeds, like std:
/// the last error otherwise. Names resolve through the `getaddrinfo` hook,
/// so on the blocking pool inside coroutines.
pub(crate) fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match f(&a) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}
