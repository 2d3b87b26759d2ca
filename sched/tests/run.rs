//! `run`: its value, its end (live coroutines are unwound and their
//! destructors run before it returns), and misuse (nested `run`, `spawn`
//! outside `run`).

mod util;

use std::cell::{Cell, RefCell};
use std::os::fd::AsRawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio_sched::park::park;
use corio_sched::{Builder, Interest, sleep, spawn, wait_fd, yield_now};
use util::{DropCounter, panic_message, socketpair};

const LONG: Duration = Duration::from_secs(3600);

#[test]
fn run_returns_the_value_of_main() {
    assert_eq!(corio_sched::run(|| 42), 42);
    let s = corio_sched::run(|| spawn(|| String::from("hi")).join().unwrap());
    assert_eq!(s, "hi");
}

#[test]
fn run_can_be_called_again_on_the_same_thread() {
    for i in 0..3 {
        assert_eq!(
            corio_sched::run(move || spawn(move || i).join().unwrap()),
            i
        );
    }
}

#[test]
fn live_coroutines_are_unwound_and_their_destructors_run_before_run_returns() {
    let drops = DropCounter::default();
    let reached = Rc::new(Cell::new(0));
    let start = Instant::now();
    let (d, r) = (drops.clone(), reached.clone());
    corio_sched::run(move || {
        let (a, _b) = socketpair();
        let a = Rc::new(a);
        // Sleeping.
        for _ in 0..3 {
            let (g, r) = (d.guard(), r.clone());
            spawn(move || {
                let _g = g;
                sleep(LONG);
                r.set(r.get() + 1);
            });
        }
        // Waiting on an fd.
        {
            let (g, r, a) = (d.guard(), r.clone(), a.clone());
            spawn(move || {
                let _g = g;
                let _ = wait_fd(a.as_raw_fd(), Interest::READABLE, None);
                r.set(r.get() + 1);
            });
        }
        // Parked on a primitive whose waker is dropped.
        {
            let (g, r) = (d.guard(), r.clone());
            spawn(move || {
                let _g = g;
                let _ = park("test gate", None, |_w| true);
                r.set(r.get() + 1);
            });
        }
        // Joining a coroutine that sleeps forever; the guard lives in a
        // deeper frame.
        {
            let (g, g2, r) = (d.guard(), d.guard(), r.clone());
            let target = spawn(move || {
                let _g = g2;
                sleep(LONG)
            });
            spawn(move || {
                fn deeper(g: util::DropGuard, target: corio_sched::JoinHandle<()>) {
                    let _g = g;
                    let _ = target.join();
                }
                deeper(g, target);
                r.set(r.get() + 1);
            });
        }
        // Let everything park.
        yield_now();
        assert_eq!(d.dropped(), 0);
        let stats = corio_sched::stats();
        assert_eq!((stats.alive, stats.ready), (8, 0));
        // Never started: its closure (and the guard it owns) is dropped.
        let g = d.guard();
        spawn(move || drop(g));
        assert_eq!(corio_sched::stats().ready, 1);
    });
    assert_eq!(drops.dropped(), 8);
    assert_eq!(reached.get(), 0, "a cancelled wait returned into user code");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn destructors_that_block_yield_or_spawn_during_teardown_do_not_hang() {
    struct Nasty(Rc<RefCell<Vec<&'static str>>>);
    impl Drop for Nasty {
        fn drop(&mut self) {
            // Every blocking call fails at once while the runtime shuts down.
            let slept = corio_sched::try_sleep(LONG);
            assert_eq!(slept.unwrap_err().kind(), std::io::ErrorKind::Interrupted);
            yield_now();
            let log = self.0.clone();
            // A coroutine spawned now never runs; its closure is dropped.
            spawn(move || log.borrow_mut().push("spawned during teardown ran"));
            self.0.borrow_mut().push("nasty dropped");
        }
    }
    let log: Rc<RefCell<Vec<&'static str>>> = Rc::default();
    let l = log.clone();
    let start = Instant::now();
    corio_sched::run(move || {
        let n = Nasty(l);
        spawn(move || {
            let _n = n;
            sleep(LONG);
        });
        yield_now();
    });
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(*log.borrow(), ["nasty dropped"]);
}

#[test]
fn a_panic_in_main_propagates_out_of_run_after_teardown() {
    let drops = DropCounter::default();
    let d = drops.clone();
    let result = catch_unwind(AssertUnwindSafe(move || {
        corio_sched::run(move || {
            let g = d.guard();
            spawn(move || {
                let _g = g;
                sleep(LONG);
            });
            yield_now();
            panic!("main failed");
        })
    }));
    let payload = result.unwrap_err();
    assert_eq!(panic_message(&*payload), "main failed");
    assert_eq!(drops.dropped(), 1);
}

#[test]
fn run_inside_a_coroutine_panics_with_a_clear_message() {
    corio_sched::run(|| {
        let h = spawn(|| corio_sched::run(|| 1));
        let payload = h.join().unwrap_err();
        let msg = panic_message(&*payload);
        assert!(
            msg.contains("corio::run called inside a running corio scheduler"),
            "unexpected message: {msg}"
        );
        // The outer scheduler is unharmed.
        assert_eq!(spawn(|| 2).join().unwrap(), 2);
    });
}

#[test]
fn spawn_outside_run_panics_and_mentions_corio_run() {
    let payload = catch_unwind(|| spawn(|| ())).unwrap_err();
    let msg = panic_message(&*payload);
    assert!(msg.contains("corio::run"), "unexpected message: {msg}");
    let err = Builder::new().spawn(|| ()).unwrap_err();
    assert!(err.to_string().contains("corio::run"), "{err}");
}

#[test]
fn current_is_none_outside_run() {
    assert!(corio_sched::current().is_none());
    corio_sched::run(|| assert!(corio_sched::current().is_some()));
    assert!(corio_sched::current().is_none());
}
