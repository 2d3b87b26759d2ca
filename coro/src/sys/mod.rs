//! Platform code of corio-coro: page size, stack-mapping errors, and the
//! stack-overflow signal handler.
//!
//! Interface the rest of the crate relies on:
//! - [`page_size`]: the system page size.
//! - [`explain_map_error`]: turns an `mmap`/`mprotect` failure into an error
//!   that names `vm.max_map_count` and how to raise it when the process ran
//!   out of maps, or blames memory/address space when it did not.

use std::io;

pub(crate) mod overflow;

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

/// Counts this process's memory maps (lines of `/proc/self/maps`) through a
/// fixed buffer: when maps are exhausted, a large allocation (served by
/// `mmap`) could fail too.
fn map_count() -> Option<u64> {
    use std::io::Read;
    let mut file = std::fs::File::open("/proc/self/maps").ok()?;
    let mut buf = [0u8; 4096];
    let mut lines = 0;
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Some(lines),
            Ok(n) => lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// A process this close to `vm.max_map_count` counts as out of maps (a
/// failed stack mapping is undone before the maps are counted, and other
/// threads may map or unmap meanwhile).
const MAP_SLACK: u64 = 64;

/// Wraps a failure to map a stack of `size` usable bytes. On ENOMEM the
/// message says whether the process ran out of memory maps (every stack
/// costs two; the limit is `vm.max_map_count`) and how to raise the limit,
/// or, if it is far from that limit, that memory or address space ran out.
#[cold]
pub(crate) fn explain_map_error(err: io::Error, size: usize) -> io::Error {
    if err.raw_os_error() != Some(libc::ENOMEM) {
        return err;
    }
    let msg = map_error_message(&err, size, map_count(), max_map_count());
    io::Error::new(io::ErrorKind::OutOfMemory, msg)
}

/// The text of [`explain_map_error`], given the process's map count and the
/// limit (either may be unknown).
fn map_error_message(err: &io::Error, size: usize, used: Option<u64>, max: Option<u64>) -> String {
    let limit = max.map_or_else(|| "unknown".to_string(), |n| n.to_string());
    match (used, max) {
        (Some(used), Some(max)) if used + MAP_SLACK < max => format!(
            "cannot map a {} KiB coroutine stack: out of memory or address space \
             (the process uses {used} of vm.max_map_count = {limit} memory maps, so that \
             limit is not the cause; check `ulimit -v` and free memory) ({err})",
            size / 1024
        ),
        _ => format!(
            "cannot map a coroutine stack: out of memory maps (vm.max_map_count = {limit}; \
             each coroutine stack uses 2 maps). Raise the limit with \
             `sysctl -w vm.max_map_count=<N>` or run fewer coroutines at once ({err})"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enomem() -> io::Error {
        io::Error::from_raw_os_error(libc::ENOMEM)
    }

    #[test]
    fn exhausted_maps_name_the_limit_and_the_fix() {
        for used in [Some(65_529), Some(65_530), None] {
            let msg = map_error_message(&enomem(), 128 * 1024, used, Some(65_530));
            assert!(msg.contains("vm.max_map_count = 65530"), "{msg}");
            assert!(msg.contains("sysctl -w vm.max_map_count=<N>"), "{msg}");
            assert!(msg.contains("2 maps"), "{msg}");
        }
        let msg = map_error_message(&enomem(), 128 * 1024, Some(10), None);
        assert!(msg.contains("vm.max_map_count = unknown"), "{msg}");
        assert!(msg.contains("sysctl"), "{msg}");
    }

    #[test]
    fn enomem_far_from_the_map_limit_blames_memory() {
        let msg = map_error_message(&enomem(), 512 << 20, Some(300), Some(65_530));
        assert!(msg.contains("524288 KiB"), "{msg}");
        assert!(msg.contains("300 of vm.max_map_count = 65530"), "{msg}");
        assert!(msg.contains("not the cause"), "{msg}");
        assert!(msg.contains("ulimit -v"), "{msg}");
    }

    #[test]
    fn explain_map_error_wraps_only_enomem() {
        let err = explain_map_error(enomem(), 128 * 1024);
        assert_eq!(err.kind(), io::ErrorKind::OutOfMemory);
        // This test process is far from the limit.
        assert!(err.to_string().contains("vm.max_map_count"), "{err}");
        assert!(err.to_string().contains("os error 12"), "{err}");

        let other = explain_map_error(io::Error::from_raw_os_error(libc::EINVAL), 4096);
        assert_eq!(other.raw_os_error(), Some(libc::EINVAL));
    }

    #[test]
    fn this_process_has_some_maps() {
        let n = map_count().expect("/proc/self/maps readable");
        assert!(n > 5, "{n}");
    }
}
