//! Helpers shared by the corio-coro integration tests.
//!
//! Tests whose expected outcome is a dead process (stack overflow, map
//! exhaustion) run in a child: the parent re-executes its own test binary
//! with [`run_child`], filtered to one `#[ignore]`d entry-point test, and that
//! entry point only acts when [`is_child`] says it was started that way.

#![allow(dead_code)] // Each test file uses a different subset.

use std::cell::Cell;
use std::env;
use std::process::{Command, Output};
use std::rc::Rc;

/// Environment variable that names the child entry point to run.
const CHILD_ENV: &str = "CORIO_CORO_TEST_CHILD";

/// Whether this process is a child started by [`run_child`] for `test`.
pub fn is_child(test: &str) -> bool {
    env::var(CHILD_ENV).is_ok_and(|v| v == test)
}

/// Re-executes this test binary, running only the ignored test `test`, and
/// returns its exit status and output.
pub fn run_child(test: &str) -> Output {
    let exe = env::current_exe().expect("path of the test binary");
    Command::new(exe)
        .args([test, "--exact", "--nocapture", "--include-ignored"])
        .args(["--test-threads", "1"])
        .env(CHILD_ENV, test)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("re-executing the test binary")
}

/// Forbids core dumps in this process, so a child that aborts on purpose
/// does not leave (or spend time writing) a core file.
pub fn no_core_dumps() {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit with a fully initialised struct.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) };
    assert_eq!(rc, 0, "setrlimit(RLIMIT_CORE)");
}

/// Increments a shared counter when dropped.
pub struct DropCounter(pub Rc<Cell<u32>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// A fresh counter and a `DropCounter` factory bound to it.
pub fn drop_counter() -> (Rc<Cell<u32>>, impl Fn() -> DropCounter) {
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    (count, move || DropCounter(c.clone()))
}

/// Runs `f` on a new thread, so it starts with an empty stack pool and fresh
/// pool counters, and returns its result (re-raising its panic).
pub fn on_fresh_thread<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    match std::thread::spawn(f).join() {
        Ok(r) => r,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// Unwraps a `Yield`.
#[track_caller]
pub fn yielded<Y, R>(r: corio_coro::CoroutineResult<Y, R>) -> Y {
    match r {
        corio_coro::CoroutineResult::Yield(y) => y,
        corio_coro::CoroutineResult::Return(_) => panic!("expected Yield, got Return"),
    }
}

/// Unwraps a `Return(Ok(_))`.
#[track_caller]
pub fn returned<Y, R>(r: corio_coro::CoroutineResult<Y, std::thread::Result<R>>) -> R {
    match r {
        corio_coro::CoroutineResult::Return(Ok(r)) => r,
        corio_coro::CoroutineResult::Return(Err(p)) => {
            panic!(
                "expected Return(Ok), coroutine panicked: {}",
                panic_message(&*p)
            )
        }
        corio_coro::CoroutineResult::Yield(_) => panic!("expected Return, got Yield"),
    }
}

/// The message of a panic payload (`&str` or `String`), or `"<non-string>"`.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string>".to_string()
    }
}
