//! `JoinHandle::cancel`: a blocked call returns `Interrupted`; a cancel
//! before the coroutine blocks hits its next blocking call, once.

mod util;

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio_sched::park::park;
use corio_sched::{Interest, JoinHandle, sleep, spawn, try_sleep, wait_fd, yield_now};
use util::socketpair;

const LONG: Duration = Duration::from_secs(3600);

/// Cancels `h` once it has parked, and returns what its blocking call gave.
fn cancel_parked<T: 'static>(h: JoinHandle<T>) -> T {
    yield_now();
    assert!(!h.is_finished());
    let start = Instant::now();
    h.cancel();
    let out = h.join().unwrap();
    assert!(start.elapsed() < Duration::from_secs(1));
    out
}

#[test]
fn cancel_of_a_sleeping_coroutine_interrupts_the_sleep() {
    corio_sched::run(|| {
        let h = spawn(|| try_sleep(LONG));
        let err = cancel_parked(h).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
    });
}

#[test]
fn cancel_ends_a_plain_sleep_early() {
    corio_sched::run(|| {
        let h = spawn(|| {
            let start = Instant::now();
            sleep(LONG);
            start.elapsed()
        });
        assert!(cancel_parked(h) < Duration::from_secs(1));
    });
}

#[test]
fn cancel_of_a_coroutine_waiting_on_an_fd_interrupts_wait_fd() {
    corio_sched::run(|| {
        let (a, b) = socketpair();
        let fd = a.as_raw_fd();
        let h = spawn(move || wait_fd(fd, Interest::READABLE, None));
        let err = cancel_parked(h).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
        assert_eq!(corio_sched::stats().waiting_io, 0);
        // A later readiness event must not wake anything stale.
        util::write(&b, b"x").unwrap();
        sleep(Duration::from_millis(10));
        drop((a, b));
    });
}

#[test]
fn cancel_of_a_coroutine_with_a_deadline_interrupts_before_the_deadline() {
    corio_sched::run(|| {
        let (a, _b) = socketpair();
        let fd = a.as_raw_fd();
        let h = spawn(move || wait_fd(fd, Interest::READABLE, Some(Instant::now() + LONG)));
        let err = cancel_parked(h).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
    });
}

#[test]
fn cancel_of_a_joining_coroutine_interrupts_the_join() {
    corio_sched::run(|| {
        let sleeper = spawn(|| sleep(Duration::from_millis(100)));
        let sleeper = Rc::new(sleeper);
        let s = sleeper.clone();
        let joiner = spawn(move || s.wait());
        let err = cancel_parked(joiner).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
        // The target itself is unaffected and finishes normally.
        assert!(!sleeper.is_finished());
        Rc::try_unwrap(sleeper).unwrap().join().unwrap();
    });
}

#[test]
fn cancel_of_a_joining_coroutine_gives_join_an_interrupted_payload() {
    corio_sched::run(|| {
        let sleeper = spawn(|| sleep(Duration::from_millis(50)));
        let joiner = spawn(move || sleeper.join());
        let payload = cancel_parked(joiner).unwrap_err();
        assert_eq!(util::io_error(&*payload).kind(), io::ErrorKind::Interrupted);
    });
}

#[test]
fn cancel_of_a_coroutine_parked_on_a_primitive_interrupts_park() {
    corio_sched::run(|| {
        let kept = Rc::new(RefCell::new(None));
        let k = kept.clone();
        let h = spawn(move || {
            park("test primitive", None, |w| {
                *k.borrow_mut() = Some(w);
                true
            })
        });
        let err = cancel_parked(h).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
        // Waking the stale waker afterwards is harmless.
        kept.borrow_mut().take().unwrap().wake();
        yield_now();
    });
}

#[test]
fn cancel_before_the_coroutine_blocks_hits_its_next_blocking_call_once() {
    corio_sched::run(|| {
        let steps = Rc::new(Cell::new(0));
        let s = steps.clone();
        let h = spawn(move || {
            s.set(1);
            yield_now(); // not a blocking call: the cancel stays pending
            s.set(2);
            let first = try_sleep(LONG);
            s.set(3);
            let start = Instant::now();
            let second = try_sleep(Duration::from_millis(20));
            (first, second, start.elapsed())
        });
        // Still ready: it has not run at all.
        h.cancel();
        assert_eq!(steps.get(), 0);
        let (first, second, slept) = h.join().unwrap();
        assert_eq!(steps.get(), 3);
        assert_eq!(first.unwrap_err().kind(), io::ErrorKind::Interrupted);
        second.unwrap();
        assert!(slept >= Duration::from_millis(20));
    });
}

#[test]
fn cancel_of_a_running_coroutine_hits_its_next_blocking_call() {
    corio_sched::run(|| {
        let me: Rc<RefCell<Option<JoinHandle<io::Result<()>>>>> = Rc::default();
        let m = me.clone();
        let h = spawn(move || {
            // Cancel ourselves while running.
            m.borrow().as_ref().unwrap().cancel();
            let (a, _b) = socketpair();
            wait_fd(a.as_raw_fd(), Interest::READABLE, None)
        });
        *me.borrow_mut() = Some(h);
        while !me.borrow().as_ref().unwrap().is_finished() {
            yield_now();
        }
        let h = me.borrow_mut().take().unwrap();
        let err = h.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
    });
}

#[test]
fn a_coroutine_that_ignores_cancellation_finishes_normally() {
    corio_sched::run(|| {
        let h = spawn(|| {
            let mut interrupted = 0;
            for _ in 0..3 {
                if try_sleep(Duration::from_millis(10)).is_err() {
                    interrupted += 1;
                }
            }
            (interrupted, "done")
        });
        yield_now();
        h.cancel();
        assert_eq!(h.join().unwrap(), (1, "done"));
    });
}

#[test]
fn cancel_of_a_finished_coroutine_is_a_no_op() {
    corio_sched::run(|| {
        let h = spawn(|| 7);
        yield_now();
        assert!(h.is_finished());
        h.cancel();
        assert_eq!(h.join().unwrap(), 7);
    });
}
