//! Deadline scopes: every blocking call inside `with_deadline` gives up at
//! the deadline with `TimedOut`; scopes nest, the earliest wins, and the
//! outer scope is restored afterwards.

mod util;

use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use corio_sched::park::park;
use corio_sched::{
    Interest, current_deadline, sleep, spawn, try_sleep, wait_fd, with_deadline, with_timeout,
};
use util::socketpair;

const LONG: Duration = Duration::from_secs(3600);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn nested_scopes_time_out_nested_code_and_restore_the_outer_scope() {
    corio_sched::run(|| {
        assert_eq!(current_deadline(), None);
        let outer = Instant::now() + ms(150);
        with_deadline(outer, || {
            assert_eq!(current_deadline(), Some(outer));
            let inner = Instant::now() + ms(40);
            let err = with_deadline(inner, || {
                assert_eq!(current_deadline(), Some(inner));
                try_sleep(LONG)
            })
            .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::TimedOut);
            let now = Instant::now();
            assert!(now >= inner, "inner scope ended early");
            assert!(now < outer, "inner scope ended at the outer deadline");
            // Back in the outer scope: its deadline applies again.
            assert_eq!(current_deadline(), Some(outer));
            let err = try_sleep(LONG).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::TimedOut);
            assert!(Instant::now() >= outer);
        });
        assert_eq!(current_deadline(), None);
        try_sleep(ms(5)).unwrap();
    });
}

#[test]
fn the_earliest_deadline_wins() {
    corio_sched::run(|| {
        let outer = Instant::now() + ms(40);
        let err = with_deadline(outer, || {
            // A later inner deadline does not extend the outer one.
            with_deadline(Instant::now() + LONG, || {
                assert_eq!(current_deadline(), Some(outer));
                try_sleep(LONG)
            })
        })
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let now = Instant::now();
        assert!(now >= outer);
        assert!(now - outer < Duration::from_secs(1));
    });
}

#[test]
fn a_call_timeout_earlier_than_the_scope_is_the_calls_own_timeout() {
    corio_sched::run(|| {
        let (a, _b) = socketpair();
        with_timeout(LONG, || {
            let start = Instant::now();
            // The sleep's own end is not an error...
            try_sleep(ms(20)).unwrap();
            assert!(start.elapsed() >= ms(20));
            // ...and wait_fd's own deadline is reported as TimedOut.
            let err = wait_fd(
                a.as_raw_fd(),
                Interest::READABLE,
                Some(Instant::now() + ms(20)),
            )
            .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        });
    });
}

#[test]
fn a_scope_times_out_wait_fd_join_and_park() {
    corio_sched::run(|| {
        let (a, _b) = socketpair();
        let fd = a.as_raw_fd();

        let deadline = Instant::now() + ms(30);
        let err = with_deadline(deadline, || wait_fd(fd, Interest::READABLE, None)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(Instant::now() >= deadline);

        let sleeper = spawn(|| sleep(ms(200)));
        let deadline = Instant::now() + ms(30);
        let err = with_deadline(deadline, || sleeper.wait()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(Instant::now() >= deadline);
        assert!(!sleeper.is_finished());
        // Outside the scope the join works.
        sleeper.join().unwrap();

        let deadline = Instant::now() + ms(30);
        let err = with_deadline(deadline, || park("test gate", None, |_waker| true)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(Instant::now() >= deadline);
    });
}

#[test]
fn a_scope_reaches_into_nested_library_code() {
    /// Stands for library code with no timeout option of its own.
    fn library_call_that_blocks_forever(fd: i32) -> io::Result<()> {
        loop {
            wait_fd(fd, Interest::READABLE, None)?;
        }
    }
    corio_sched::run(|| {
        let (a, _b) = socketpair();
        let start = Instant::now();
        let err =
            with_timeout(ms(30), || library_call_that_blocks_forever(a.as_raw_fd())).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() >= ms(30));
    });
}

#[test]
fn an_expired_scope_fails_blocking_calls_at_once() {
    corio_sched::run(|| {
        let start = Instant::now();
        with_deadline(Instant::now(), || {
            for _ in 0..3 {
                assert_eq!(try_sleep(LONG).unwrap_err().kind(), io::ErrorKind::TimedOut);
            }
        });
        assert!(start.elapsed() < Duration::from_millis(500));
    });
}

#[test]
fn scopes_are_per_coroutine() {
    corio_sched::run(|| {
        let other = spawn(|| {
            assert_eq!(current_deadline(), None);
            let start = Instant::now();
            try_sleep(ms(60)).unwrap();
            start.elapsed()
        });
        let err = with_timeout(ms(20), || other.wait()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        // The other coroutine slept its full time despite our scope.
        assert!(other.join().unwrap() >= ms(60));
    });
}

#[test]
fn the_scope_is_restored_when_its_body_panics() {
    corio_sched::run(|| {
        let outer = Instant::now() + LONG;
        with_deadline(outer, || {
            let caught = std::panic::catch_unwind(|| {
                with_deadline(Instant::now() + ms(10), || panic!("inside the scope"))
            });
            assert!(caught.is_err());
            assert_eq!(current_deadline(), Some(outer));
        });
        assert_eq!(current_deadline(), None);
    });
}

#[test]
fn with_deadline_outside_a_coroutine_just_runs() {
    let v = with_deadline(Instant::now(), || {
        assert_eq!(current_deadline(), None);
        5
    });
    assert_eq!(v, 5);
}
