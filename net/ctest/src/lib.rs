//! Test support for corio's hooks: safe wrappers around C code that does
//! plain blocking socket I/O (built with `_FORTIFY_SOURCE`, so it calls the
//! fortified `__recv_chk`/`__read_chk`/`__poll_chk`). Not published.

use std::io;

unsafe extern "C" {
    fn corio_ctest_exchange(
        port: u16,
        msg: *const libc::c_char,
        len: libc::size_t,
        out: *mut libc::c_char,
        cap: libc::size_t,
    ) -> libc::c_long;
    fn corio_ctest_nanosleep_ms(ms: libc::c_long) -> libc::c_int;
}

/// Connects to `127.0.0.1:port` from C with blocking calls, sends `msg`,
/// and returns the reply read until the peer closes (at most `cap` bytes).
///
/// # Errors
/// The errno of the failing C call.
pub fn exchange(port: u16, msg: &[u8], cap: usize) -> io::Result<Vec<u8>> {
    let mut out = vec![0u8; cap];
    // SAFETY: `msg` and `out` are valid for the lengths passed.
    let n = unsafe {
        corio_ctest_exchange(
            port,
            msg.as_ptr().cast(),
            msg.len(),
            out.as_mut_ptr().cast(),
            out.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::from_raw_os_error(-n as i32));
    }
    out.truncate(n as usize);
    Ok(out)
}

/// Sleeps `ms` milliseconds with C's `nanosleep(2)`.
///
/// # Errors
/// The errno of a failed nanosleep.
pub fn nanosleep_ms(ms: u32) -> io::Result<()> {
    // SAFETY: no pointers cross the boundary.
    match unsafe { corio_ctest_nanosleep_ms(ms.into()) } {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(-e)),
    }
}
