//! Hooks of `sleep`, `usleep`, `nanosleep` and `clock_nanosleep` (which
//! `std::thread::sleep` calls): inside a coroutine with hooks enabled they
//! park the coroutine on a timer instead of blocking the thread.
//!
//! A cancel interrupts the sleep like a signal: EINTR and the remaining
//! time, as libc reports it. The end of a deadline scope ends the sleep
//! early without an error (a sleep cannot time out in libc).

use std::io as stdio;
use std::time::{Duration, Instant};

use libc::{c_int, c_uint, clockid_t, timespec, useconds_t};

use crate::sys::{self, real};

/// Parks for `dur`; on a cancel returns the time that was left.
fn park_for(dur: Duration) -> Result<(), Duration> {
    let start = Instant::now();
    match corio_sched::park::no_unwind(|| corio_sched::try_sleep(dur)) {
        Err(e) if e.kind() == stdio::ErrorKind::Interrupted => {
            Err(dur.saturating_sub(start.elapsed()))
        }
        _ => Ok(()),
    }
}

/// A valid relative or absolute time request as a Duration.
fn to_duration(ts: &timespec) -> Option<Duration> {
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return None;
    }
    Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

fn to_timespec(d: Duration) -> timespec {
    timespec {
        tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

/// Hook of `nanosleep(2)`.
///
/// # Safety
/// The contract of `nanosleep(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int {
    if req.is_null() || !crate::hooks::enabled() {
        // SAFETY: the caller's contract.
        return unsafe { real::nanosleep(req, rem) };
    }
    // SAFETY: a non-null request is a valid timespec.
    let Some(dur) = to_duration(unsafe { &*req }) else {
        sys::set_errno(libc::EINVAL);
        return -1;
    };
    match park_for(dur) {
        Ok(()) => 0,
        Err(left) => {
            if !rem.is_null() {
                // SAFETY: a non-null `rem` is writable.
                unsafe { *rem = to_timespec(left) };
            }
            sys::set_errno(libc::EINTR);
            -1
        }
    }
}

/// Hook of `clock_nanosleep(2)` for the wall and monotonic clocks (other
/// clocks go to libc). Returns the error number, as libc does.
///
/// # Safety
/// The contract of `clock_nanosleep(2)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn clock_nanosleep(
    clock: clockid_t,
    flags: c_int,
    req: *const timespec,
    rem: *mut timespec,
) -> c_int {
    let supported = matches!(
        clock,
        libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME | libc::CLOCK_TAI
    );
    if req.is_null() || !supported || !crate::hooks::enabled() {
        // SAFETY: the caller's contract.
        return unsafe { real::clock_nanosleep(clock, flags, req, rem) };
    }
    // SAFETY: a non-null request is a valid timespec.
    let Some(want) = to_duration(unsafe { &*req }) else {
        return libc::EINVAL;
    };
    let absolute = flags & libc::TIMER_ABSTIME != 0;
    let dur = if absolute {
        let mut now = timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is writable; the clock is one of the supported ones.
        unsafe { libc::clock_gettime(clock, &mut now) };
        want.saturating_sub(to_duration(&now).unwrap_or_default())
    } else {
        want
    };
    match park_for(dur) {
        Ok(()) => 0,
        Err(left) => {
            if !absolute && !rem.is_null() {
                // SAFETY: a non-null `rem` is writable.
                unsafe { *rem = to_timespec(left) };
            }
            libc::EINTR
        }
    }
}

/// Hook of `usleep(3)`.
///
/// # Safety
/// None (the signature is that of `usleep(3)`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn usleep(usecs: useconds_t) -> c_int {
    if !crate::hooks::enabled() {
        // SAFETY: no memory arguments.
        return unsafe { real::usleep(usecs) };
    }
    match park_for(Duration::from_micros(u64::from(usecs))) {
        Ok(()) => 0,
        Err(_) => {
            sys::set_errno(libc::EINTR);
            -1
        }
    }
}

/// Hook of `sleep(3)`: returns the whole seconds left when interrupted.
///
/// # Safety
/// None (the signature is that of `sleep(3)`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sleep(secs: c_uint) -> c_uint {
    if !crate::hooks::enabled() {
        // SAFETY: no memory arguments.
        return unsafe { real::sleep(secs) };
    }
    match park_for(Duration::from_secs(u64::from(secs))) {
        Ok(()) => 0,
        Err(left) => left
            .as_nanos()
            .div_ceil(1_000_000_000)
            .min(u128::from(c_uint::MAX)) as c_uint,
    }
}
