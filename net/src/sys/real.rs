//! The real libc functions behind corio's hooks, found once with
//! `dlsym(RTLD_NEXT, name)`.
//!
//! corio defines `read`, `connect`, `poll`, ... itself (see `crate::hook`),
//! so calling `libc::read` from this crate would call the hook again. Every
//! function here instead calls the next definition after ours in the symbol
//! search order: glibc's. The address is resolved on first use and cached in
//! an atomic (a benign race: every thread resolves the same address).
//!
//! All functions are `unsafe fn` with exactly the contract of the libc
//! function of the same name.

use std::ffi::{CStr, c_void};
use std::sync::atomic::{AtomicPtr, Ordering};

use libc::{
    addrinfo, c_char, c_int, c_uint, c_ulong, clockid_t, fd_set, iovec, msghdr, nfds_t, pollfd,
    size_t, sockaddr, socklen_t, ssize_t, timespec, timeval, useconds_t,
};

/// Resolves `name` in the objects after ours, aborting if libc lacks it (no
/// hook can work without its real function).
#[cold]
fn resolve(cache: &AtomicPtr<c_void>, name: &CStr) -> *mut c_void {
    // SAFETY: `name` is NUL-terminated; RTLD_NEXT is a valid pseudo-handle.
    let ptr = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    if ptr.is_null() {
        let msg = b"corio: dlsym(RTLD_NEXT) cannot find a libc function corio hooks\n";
        // SAFETY: writes a static buffer to stderr with the raw syscall (no
        // hook involved), then aborts.
        unsafe {
            libc::syscall(libc::SYS_write, 2, msg.as_ptr(), msg.len());
            libc::abort();
        }
    }
    cache.store(ptr, Ordering::Relaxed);
    ptr
}

macro_rules! real {
    ($( $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty; )*) => {$(
        #[doc = concat!("The real `", stringify!($name), "`.")]
        ///
        /// # Safety
        /// The contract of the libc function of the same name.
        #[inline]
        pub(crate) unsafe fn $name($($arg: $ty),*) -> $ret {
            static CACHE: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
            let mut ptr = CACHE.load(Ordering::Relaxed);
            if ptr.is_null() {
                ptr = resolve(
                    &CACHE,
                    // SAFETY: the literal ends with exactly one NUL.
                    unsafe {
                        CStr::from_bytes_with_nul_unchecked(
                            concat!(stringify!($name), "\0").as_bytes(),
                        )
                    },
                );
            }
            // SAFETY: `ptr` is libc's definition of this very function, whose
            // C signature the type spells out.
            let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { std::mem::transmute(ptr) };
            // SAFETY: the caller upholds the function's contract.
            unsafe { f($($arg),*) }
        }
    )*};
}

real! {
    socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int;
    socketpair(domain: c_int, ty: c_int, protocol: c_int, sv: *mut c_int) -> c_int;
    accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int;
    connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t;
    readv(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t;
    write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t;
    writev(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t;
    recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t;
    recvfrom(
        fd: c_int,
        buf: *mut c_void,
        len: size_t,
        flags: c_int,
        addr: *mut sockaddr,
        addrlen: *mut socklen_t
    ) -> ssize_t;
    recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t;
    send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t;
    sendto(
        fd: c_int,
        buf: *const c_void,
        len: size_t,
        flags: c_int,
        addr: *const sockaddr,
        addrlen: socklen_t
    ) -> ssize_t;
    sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t;
    poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int;
    select(
        nfds: c_int,
        readfds: *mut fd_set,
        writefds: *mut fd_set,
        exceptfds: *mut fd_set,
        timeout: *mut timeval
    ) -> c_int;
    close(fd: c_int) -> c_int;
    dup(fd: c_int) -> c_int;
    dup2(old: c_int, new: c_int) -> c_int;
    dup3(old: c_int, new: c_int, flags: c_int) -> c_int;
    fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int;
    fcntl64(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int;
    ioctl(fd: c_int, request: c_ulong, arg: *mut c_void) -> c_int;
    setsockopt(
        fd: c_int,
        level: c_int,
        name: c_int,
        value: *const c_void,
        len: socklen_t
    ) -> c_int;
    getsockopt(
        fd: c_int,
        level: c_int,
        name: c_int,
        value: *mut c_void,
        len: *mut socklen_t
    ) -> c_int;
    sleep(secs: c_uint) -> c_uint;
    usleep(usecs: useconds_t) -> c_int;
    nanosleep(req: *const timespec, rem: *mut timespec) -> c_int;
    clock_nanosleep(clock: clockid_t, flags: c_int, req: *const timespec, rem: *mut timespec) -> c_int;
    getaddrinfo(
        node: *const c_char,
        service: *const c_char,
        hints: *const addrinfo,
        res: *mut *mut addrinfo
    ) -> c_int;
    pipe(fds: *mut c_int) -> c_int;
    pipe2(fds: *mut c_int, flags: c_int) -> c_int;
    __chk_fail() -> ();
}
