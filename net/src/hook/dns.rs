//! Hook of `getaddrinfo(3)`: inside a coroutine with hooks enabled the real
//! lookup (files, DNS, NSS: all blocking, and all inside glibc where no hook
//! reaches) runs on corio's blocking pool while the coroutine parks.

use std::ffi::{CStr, CString};

use libc::{addrinfo, c_char, c_int};

use crate::sys::{self, real};

/// The result list crossing back from the pool thread.
struct List(*mut addrinfo);

// SAFETY: the list is plain heap memory from glibc's malloc, owned by
// whoever holds the pointer; the pool thread hands it over and keeps no
// reference.
unsafe impl Send for List {}

/// Hook of `getaddrinfo(3)`.
///
/// # Safety
/// The contract of `getaddrinfo(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    if res.is_null() || !crate::hooks::enabled() {
        // SAFETY: the caller's contract.
        return unsafe { real::getaddrinfo(node, service, hints, res) };
    }
    let saved = sys::errno();
    // SAFETY: non-null strings are NUL-terminated (the caller's contract).
    let copy = |s: *const c_char| (!s.is_null()).then(|| unsafe { CStr::from_ptr(s) }.to_owned());
    let (node, service) = (copy(node), copy(service));
    // Only the four input fields of hints are meaningful (POSIX).
    let hints = (!hints.is_null()).then(|| {
        // SAFETY: a non-null hints is a valid addrinfo.
        let h = unsafe { &*hints };
        (h.ai_flags, h.ai_family, h.ai_socktype, h.ai_protocol)
    });
    let (ret, list, errno) = corio_sched::park::no_unwind(|| {
        corio_sched::unblock(move || {
            let ptr = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
            // SAFETY: all-zero is a valid addrinfo (null pointers).
            let mut h: addrinfo = unsafe { std::mem::zeroed() };
            if let Some((flags, family, socktype, protocol)) = hints {
                h.ai_flags = flags;
                h.ai_family = family;
                h.ai_socktype = socktype;
                h.ai_protocol = protocol;
            }
            let hp = if hints.is_some() {
                &h as *const addrinfo
            } else {
                std::ptr::null()
            };
            let mut out = std::ptr::null_mut();
            // SAFETY: valid C strings or null, a valid hints or null, and a
            // writable result slot.
            let ret = unsafe { real::getaddrinfo(ptr(&node), ptr(&service), hp, &mut out) };
            (ret, List(out), sys::errno())
        })
    });
    if ret == 0 {
        // SAFETY: `res` is writable (the caller's contract).
        unsafe { *res = list.0 };
        sys::set_errno(saved);
    } else {
        sys::set_errno(errno);
    }
    ret
}
