//! Stack overflow: a coroutine that overflows hits its guard page, and the
//! process prints `coroutine '<name or id>' has overflowed its stack
//! (<size> KiB)` and dies of SIGABRT. Other faults keep their usual
//! behaviour. Every crash happens in a child process: the parent re-executes
//! this test binary filtered to one ignored entry point (see `util`).

mod util;

use std::hint::black_box;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::Output;
use std::ptr;

use corio_coro::{Builder, Coroutine, Yielder};

const SIGABRT: i32 = libc::SIGABRT;
const SIGSEGV: i32 = libc::SIGSEGV;

/// Recurses until the stack runs out (the condition is never true, but the
/// compiler cannot know that).
#[inline(never)]
fn recurse_forever(depth: u64) -> u64 {
    let frame = black_box([depth; 32]);
    if black_box(depth) == u64::MAX {
        return 0;
    }
    recurse_forever(depth + 1).wrapping_add(frame[(depth % 32) as usize])
}

/// Runs child entry point `test` and checks that it died of `signal`.
fn expect_death(test: &str, signal: i32) -> (String, String) {
    let out: Output = util::run_child(test);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.signal(),
        Some(signal),
        "child {test} should die of signal {signal}; status {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(stdout.contains("CHILD-RAN"), "child did not run:\n{stdout}");
    (stdout, stderr)
}

/// Prints the marker the parent looks for, before the child crashes.
fn child_ran(extra: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "CHILD-RAN {extra}").unwrap();
    out.flush().unwrap();
}

#[test]
fn overflow_in_a_named_coroutine_is_reported_and_aborts() {
    let (_, stderr) = expect_death("child_overflow_named", SIGABRT);
    assert!(
        stderr.contains("coroutine 'deep-diver' has overflowed its stack (128 KiB)"),
        "{stderr}"
    );
}

#[test]
#[ignore = "child process of overflow_in_a_named_coroutine_is_reported_and_aborts"]
fn child_overflow_named() {
    if !util::is_child("child_overflow_named") {
        return;
    }
    util::no_core_dumps();
    let mut co = Builder::new()
        .name("deep-diver")
        .build(|_: &Yielder<(), ()>, ()| {
            child_ran("");
            black_box(recurse_forever(0));
        })
        .unwrap();
    co.resume(());
    unreachable!("the overflow must abort");
}

#[test]
fn overflow_in_an_unnamed_coroutine_reports_its_id_and_size() {
    let (stdout, stderr) = expect_death("child_overflow_unnamed", SIGABRT);
    let id = stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("id="))
        .expect("child printed its coroutine id");
    assert!(
        stderr.contains(&format!(
            "coroutine '{id}' has overflowed its stack (48 KiB)"
        )),
        "{stderr}"
    );
}

#[test]
#[ignore = "child process of overflow_in_an_unnamed_coroutine_reports_its_id_and_size"]
fn child_overflow_unnamed() {
    if !util::is_child("child_overflow_unnamed") {
        return;
    }
    util::no_core_dumps();
    let mut co = Builder::new()
        .stack_size(48 * 1024)
        .build(|_: &Yielder<(), ()>, ()| {
            child_ran(&format!("id={}", corio_coro::current_id().unwrap()));
            black_box(recurse_forever(0));
        })
        .unwrap();
    co.resume(());
    unreachable!("the overflow must abort");
}

#[test]
fn overflow_is_reported_on_a_thread_without_an_alternate_signal_stack() {
    let (_, stderr) = expect_death("child_overflow_no_altstack", SIGABRT);
    assert!(
        stderr.contains("coroutine 'bare' has overflowed its stack (128 KiB)"),
        "{stderr}"
    );
}

/// The handler must run on an alternate stack (the faulting one is full);
/// threads Rust did not give one get one from corio-coro.
#[test]
#[ignore = "child process of overflow_is_reported_on_a_thread_without_an_alternate_signal_stack"]
fn child_overflow_no_altstack() {
    if !util::is_child("child_overflow_no_altstack") {
        return;
    }
    util::no_core_dumps();
    std::thread::spawn(|| {
        let disable = libc::stack_t {
            ss_sp: ptr::null_mut(),
            ss_flags: libc::SS_DISABLE,
            ss_size: 0,
        };
        // SAFETY: disabling this thread's alternate signal stack; the thread
        // never returns, so std's own cleanup of it never runs.
        assert_eq!(unsafe { libc::sigaltstack(&disable, ptr::null_mut()) }, 0);
        let mut co = Builder::new()
            .name("bare")
            .build(|_: &Yielder<(), ()>, ()| {
                child_ran("");
                black_box(recurse_forever(0));
            })
            .unwrap();
        co.resume(());
        unreachable!("the overflow must abort");
    })
    .join()
    .unwrap();
}

#[test]
fn overflow_in_a_nested_coroutine_names_the_inner_one() {
    let (_, stderr) = expect_death("child_overflow_nested", SIGABRT);
    assert!(
        stderr.contains("coroutine 'inner' has overflowed its stack (32 KiB)"),
        "{stderr}"
    );
    assert!(!stderr.contains("'outer'"), "{stderr}");
}

#[test]
#[ignore = "child process of overflow_in_a_nested_coroutine_names_the_inner_one"]
fn child_overflow_nested() {
    if !util::is_child("child_overflow_nested") {
        return;
    }
    util::no_core_dumps();
    let mut outer = Builder::new()
        .name("outer")
        .build(|_: &Yielder<(), ()>, ()| {
            let mut inner = Builder::new()
                .name("inner")
                .stack_size(32 * 1024)
                .build(|_: &Yielder<(), ()>, ()| {
                    child_ran("");
                    black_box(recurse_forever(0));
                })
                .unwrap();
            inner.resume(());
        })
        .unwrap();
    outer.resume(());
    unreachable!("the overflow must abort");
}

/// Reads one byte of a fresh PROT_NONE page: a segfault that is nobody's
/// stack overflow.
fn touch_inaccessible_page() -> u8 {
    // SAFETY: a fresh anonymous mapping, checked for failure.
    let page = unsafe {
        libc::mmap(
            ptr::null_mut(),
            4096,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(page, libc::MAP_FAILED);
    // SAFETY: the pointer is valid, aligned and non-null; the read faults
    // because the page is PROT_NONE, which is the point of this helper.
    unsafe { ptr::read_volatile(page.cast::<u8>()) }
}

#[test]
fn segfault_outside_coroutines_keeps_its_default_behaviour() {
    let (_, stderr) = expect_death("child_segfault_outside", SIGSEGV);
    assert!(!stderr.contains("overflowed"), "{stderr}");
}

#[test]
#[ignore = "child process of segfault_outside_coroutines_keeps_its_default_behaviour"]
fn child_segfault_outside() {
    if !util::is_child("child_segfault_outside") {
        return;
    }
    util::no_core_dumps();
    // Creating a coroutine installs the handler.
    let mut co = Coroutine::<(), (), ()>::new(|_, ()| {}).unwrap();
    co.resume(());
    child_ran("");
    black_box(touch_inaccessible_page());
    unreachable!("the fault must kill the process");
}

#[test]
fn segfault_inside_a_coroutine_but_off_its_guard_page_is_not_an_overflow() {
    let (_, stderr) = expect_death("child_segfault_inside", SIGSEGV);
    assert!(!stderr.contains("overflowed"), "{stderr}");
}

#[test]
#[ignore = "child process of segfault_inside_a_coroutine_but_off_its_guard_page_is_not_an_overflow"]
fn child_segfault_inside() {
    if !util::is_child("child_segfault_inside") {
        return;
    }
    util::no_core_dumps();
    let mut co = Builder::new()
        .name("careless")
        .build(|_: &Yielder<(), ()>, ()| {
            child_ran("");
            black_box(touch_inaccessible_page());
        })
        .unwrap();
    co.resume(());
    unreachable!("the fault must kill the process");
}

#[test]
fn thread_overflow_still_reaches_rusts_own_handler() {
    let (_, stderr) = expect_death("child_thread_overflow", SIGABRT);
    // Rust prints "thread 'plain-thread' (<tid>) has overflowed its stack"
    // (older versions without the tid).
    let line = stderr
        .lines()
        .find(|l| l.starts_with("thread 'plain-thread'"))
        .unwrap_or_else(|| panic!("no report from Rust's handler:\n{stderr}"));
    assert!(line.ends_with("has overflowed its stack"), "{stderr}");
    assert!(!stderr.contains("coroutine '"), "{stderr}");
}

/// Our handler, installed after Rust's, must hand a thread's overflow to
/// Rust's handler, which reports it as usual.
#[test]
#[ignore = "child process of thread_overflow_still_reaches_rusts_own_handler"]
fn child_thread_overflow() {
    if !util::is_child("child_thread_overflow") {
        return;
    }
    util::no_core_dumps();
    let mut co = Coroutine::<(), (), ()>::new(|_, ()| {}).unwrap();
    co.resume(());
    std::thread::Builder::new()
        .name("plain-thread".into())
        .stack_size(256 * 1024)
        .spawn(|| {
            child_ran("");
            black_box(recurse_forever(0));
        })
        .unwrap()
        .join()
        .unwrap();
    unreachable!("the overflow must abort");
}
