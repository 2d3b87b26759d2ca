//! Platform code of corio-coro: page size, stack-mapping errors, and the
//! stack-overflow signal handler.
//!
//! Interface the rest of the crate relies on:
//! - [`page_size`]: the system page size.
//! - [`explain_map_error`]: turns an `mmap`/`mprotect` failure into an error
//!   that names `vm.max_map_count` when the kernel ran out of maps.

use std::io;

/// The system page size in bytes.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    assert!(page > 0, "sysconf(_SC_PAGESIZE) failed");
    page as usize
}

/// Reads `vm.max_map_count`, if the kernel exposes it.
pub(crate) fn max_map_count() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Wraps a stack-mapping error. ENOMEM from `mmap`/`mprotect` almost always
/// means the process hit `vm.max_map_count` (every stack costs two maps), so
/// the message says so and how to raise the limit.
#[cold]
pub(crate) fn explain_map_error(err: io::Error) -> io::Error {
    if err.raw_os_error() != Some(libc::ENOMEM) {
        return err;
    }
    let limit = max_map_count()
        .map(|n| n.to_string())
        .unwrap_or_else(|| "unknown".into());
    io::Error::new(
        io::ErrorKind::OutOfMemory,
        format!(
            "cannot map a coroutine stack: out of memory maps (vm.max_map_count = {limit}; \
             each coroutine stack uses 2 maps). Raise the limit with \
             `sysctl -w vm.max_map_count=<N>` or run fewer coroutines at once ({err})"
        ),
    )
}

pub(crate) mod overflow;
