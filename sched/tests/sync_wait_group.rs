//! `sync::WaitGroup`: waiting for many coroutines, for other schedulers and
//! plain threads; cancellation and deadline scopes.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use corio_sched::sync::WaitGroup;
use corio_sched::{sleep, spawn, with_timeout, yield_now};

#[test]
fn waits_for_ten_thousand_coroutines() {
    corio_sched::run(|| {
        let done = Rc::new(Cell::new(0));
        let wg = WaitGroup::new();
        for i in 0..10_000u64 {
            let member = wg.clone();
            let done = done.clone();
            spawn(move || {
                sleep(Duration::from_millis(i % 20));
                done.set(done.get() + 1);
                drop(member);
            });
        }
        assert_eq!(wg.count(), 10_001);
        wg.wait().unwrap();
        assert_eq!(done.get(), 10_000);
    });
}

#[test]
fn waits_for_other_schedulers_and_plain_threads() {
    let wg = WaitGroup::new();
    let done = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for t in 0..3 {
        let member = wg.clone();
        let done = done.clone();
        threads.push(thread::spawn(move || {
            if t == 0 {
                thread::sleep(Duration::from_millis(20));
                done.fetch_add(1, Ordering::SeqCst);
                drop(member);
            } else {
                corio_sched::run(move || {
                    for _ in 0..100 {
                        let m = member.clone();
                        let done = done.clone();
                        spawn(move || {
                            sleep(Duration::from_millis(10));
                            done.fetch_add(1, Ordering::SeqCst);
                            drop(m);
                        });
                    }
                    drop(member);
                    // Returning from `run` would cancel the workers: wait.
                    while corio_sched::stats().alive > 1 {
                        sleep(Duration::from_millis(1));
                    }
                });
            }
        }));
    }
    // Two waiters: a coroutine on its own scheduler and this plain thread.
    let w = wg.clone();
    let d = done.clone();
    let coro_waiter = thread::spawn(move || {
        corio_sched::run(move || {
            w.wait().unwrap();
            d.load(Ordering::SeqCst)
        })
    });
    wg.wait().unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 201);
    assert_eq!(coro_waiter.join().unwrap(), 201);
    threads.into_iter().for_each(|t| t.join().unwrap());
}

#[test]
fn a_lone_group_does_not_wait() {
    WaitGroup::new().wait().unwrap();
    corio_sched::run(|| WaitGroup::new().wait().unwrap());
}

#[test]
fn cancel_deadline_and_timeout_wake_a_waiter() {
    corio_sched::run(|| {
        let wg = WaitGroup::new();
        let w = wg.clone();
        let h = spawn(move || w.wait().map_err(|e| e.kind()));
        yield_now();
        h.cancel();
        assert_eq!(h.join().unwrap(), Err(io::ErrorKind::Interrupted));
        assert_eq!(wg.count(), 1, "the cancelled waiter gave up its membership");
        let w = wg.clone();
        let r = with_timeout(Duration::from_millis(10), || w.wait());
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::TimedOut);
        let w = wg.clone();
        let r = w.wait_timeout(Duration::from_millis(5));
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert_eq!(wg.count(), 1);
        let member = wg.clone();
        spawn(move || {
            sleep(Duration::from_millis(5));
            drop(member);
        });
        wg.wait_timeout(Duration::from_secs(5)).unwrap();
    });
}
