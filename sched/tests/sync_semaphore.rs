//! `sync::Semaphore`: the number of permits bounds concurrency, across
//! schedulers and threads; FIFO; cancellation and deadline scopes.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use corio_sched::sync::Semaphore;
use corio_sched::{sleep, spawn, with_timeout, yield_now};

#[test]
fn permits_bound_concurrency_across_threads() {
    const PERMITS: usize = 4;
    let sem = Arc::new(Semaphore::new(PERMITS));
    let now = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for _ in 0..2 {
        let (sem, now, max) = (sem.clone(), now.clone(), max.clone());
        threads.push(thread::spawn(move || {
            corio_sched::run(move || {
                let hs: Vec<_> = (0..50)
                    .map(|_| {
                        let (sem, now, max) = (sem.clone(), now.clone(), max.clone());
                        spawn(move || {
                            for _ in 0..5 {
                                let _p = sem.acquire().unwrap();
                                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                                max.fetch_max(n, Ordering::SeqCst);
                                sleep(Duration::from_micros(200));
                                now.fetch_sub(1, Ordering::SeqCst);
                            }
                        })
                    })
                    .collect();
                hs.into_iter().for_each(|h| h.join().unwrap());
            })
        }));
    }
    // A plain thread competes too.
    let (s, n, m) = (sem.clone(), now.clone(), max.clone());
    threads.push(thread::spawn(move || {
        for _ in 0..50 {
            let _p = s.acquire().unwrap();
            let c = n.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(c, Ordering::SeqCst);
            thread::sleep(Duration::from_micros(200));
            n.fetch_sub(1, Ordering::SeqCst);
        }
    }));
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(max.load(Ordering::SeqCst), PERMITS);
    assert_eq!(sem.available_permits(), PERMITS);
}

#[test]
fn waiters_are_served_in_order() {
    corio_sched::run(|| {
        let sem = Rc::new(Semaphore::new(1));
        let log = Rc::new(RefCell::new(Vec::new()));
        let p = sem.acquire().unwrap();
        let hs: Vec<_> = (0..5)
            .map(|i| {
                let (sem, log) = (sem.clone(), log.clone());
                spawn(move || {
                    let _p = sem.acquire().unwrap();
                    log.borrow_mut().push(i);
                    yield_now();
                })
            })
            .collect();
        yield_now();
        assert!(sem.try_acquire().is_none());
        drop(p);
        hs.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(*log.borrow(), [0, 1, 2, 3, 4]);
    });
}

#[test]
fn try_acquire_forget_and_add_permits() {
    let sem = Semaphore::new(2);
    let a = sem.try_acquire().unwrap();
    let b = sem.try_acquire().unwrap();
    assert!(sem.try_acquire().is_none());
    drop(a);
    assert_eq!(sem.available_permits(), 1);
    b.forget();
    assert_eq!(sem.available_permits(), 1);
    sem.add_permits(3);
    assert_eq!(sem.available_permits(), 4);
}

#[test]
fn acquire_timeout_gives_up_never_early() {
    let sem = Arc::new(Semaphore::new(0));
    let start = Instant::now();
    let e = sem.acquire_timeout(Duration::from_millis(20)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    assert!(start.elapsed() >= Duration::from_millis(20));
    let s = sem.clone();
    corio_sched::run(move || {
        let start = Instant::now();
        let e = s.acquire_timeout(Duration::from_millis(20)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(20));
        let s2 = s.clone();
        spawn(move || {
            sleep(Duration::from_millis(5));
            s2.add_permits(1);
        });
        s.acquire_timeout(Duration::from_secs(5)).unwrap().forget();
    });
    assert_eq!(sem.available_permits(), 0);
}

#[test]
fn cancel_and_deadline_wake_a_parked_acquire() {
    corio_sched::run(|| {
        let sem = Rc::new(Semaphore::new(0));
        let s = sem.clone();
        let h = spawn(move || s.acquire().map(|_| ()).map_err(|e| e.kind()));
        yield_now();
        h.cancel();
        assert_eq!(h.join().unwrap(), Err(io::ErrorKind::Interrupted));
        let r = with_timeout(Duration::from_millis(10), || sem.acquire().map(|_| ()));
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::TimedOut);
        // The abandoned waiters left the queue: a new permit is free.
        sem.add_permits(1);
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn a_permit_handed_to_a_torn_down_waiter_is_not_lost() {
    let sem = Arc::new(Semaphore::new(0));
    let s = sem.clone();
    thread::spawn(move || {
        corio_sched::run(move || {
            let s2 = s.clone();
            spawn(move || {
                let _p = s2.acquire();
                unreachable!("torn down before it runs");
            });
            yield_now();
            for _ in 0..1000 {
                spawn(|| {
                    loop {
                        yield_now();
                    }
                });
            }
            s.add_permits(1); // handed to the parked waiter
            assert_eq!(s.available_permits(), 0);
        })
    })
    .join()
    .unwrap();
    assert_eq!(sem.available_permits(), 1);
}
