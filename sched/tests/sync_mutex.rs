//! `sync::Mutex`: exclusion across coroutines, scheduler threads and plain
//! threads; fairness; timeouts; cancellation and deadline scopes; no stuck
//! lock when a waiter is torn down.

use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use corio_sched::sync::Mutex;
use corio_sched::{spawn, with_timeout, yield_now};

const LONG: Duration = Duration::from_secs(3600);

#[test]
fn a_thousand_coroutines_on_two_threads_count_exactly() {
    const PER_THREAD: usize = 500;
    const ROUNDS: u64 = 1000;
    let counter = Arc::new(Mutex::new(0u64));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let counter = counter.clone();
            thread::spawn(move || {
                corio_sched::run(move || {
                    let hs: Vec<_> = (0..PER_THREAD)
                        .map(|i| {
                            let counter = counter.clone();
                            spawn(move || {
                                for r in 0..ROUNDS {
                                    let mut g = counter.lock().unwrap();
                                    let v = *g;
                                    if (r + i as u64) % 64 == 0 {
                                        // Hold the lock across a switch so
                                        // coroutines of this thread queue up.
                                        yield_now();
                                    }
                                    *g = v + 1;
                                }
                            })
                        })
                        .collect();
                    hs.into_iter().for_each(|h| h.join().unwrap());
                })
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(*counter.lock().unwrap(), 2 * PER_THREAD as u64 * ROUNDS);
    assert!(!counter.is_locked());
}

#[test]
fn plain_threads_and_coroutines_share_a_mutex() {
    let counter = Arc::new(Mutex::new(0u64));
    let mut threads = Vec::new();
    for _ in 0..3 {
        let counter = counter.clone();
        threads.push(thread::spawn(move || {
            for _ in 0..20_000 {
                *counter.lock().unwrap() += 1;
            }
        }));
    }
    let c = counter.clone();
    threads.push(thread::spawn(move || {
        corio_sched::run(move || {
            let hs: Vec<_> = (0..20)
                .map(|_| {
                    let c = c.clone();
                    spawn(move || {
                        for _ in 0..1000 {
                            let mut g = c.lock().unwrap();
                            *g += 1;
                        }
                    })
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
        })
    }));
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(Arc::try_unwrap(counter).ok().unwrap().into_inner(), 80_000);
}

#[test]
fn waiters_get_the_lock_in_arrival_order() {
    corio_sched::run(|| {
        let m = Rc::new(Mutex::new(Vec::new()));
        let g = m.lock().unwrap();
        let hs: Vec<_> = (0..5)
            .map(|i| {
                let m = m.clone();
                spawn(move || m.lock().unwrap().push(i))
            })
            .collect();
        yield_now(); // all five park, in order
        drop(g);
        hs.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(*m.lock().unwrap(), [0, 1, 2, 3, 4]);
    });
}

#[test]
fn a_greedy_thread_cannot_starve_a_waiter() {
    let m = Arc::new(Mutex::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let (m2, stop2) = (m.clone(), stop.clone());
    let greedy = thread::spawn(move || {
        while !stop2.load(Ordering::Relaxed) {
            let mut g = m2.lock().unwrap();
            *g += 1;
            // A critical section long enough that a waiter always finds
            // the lock taken when it wakes.
            let until = Instant::now() + Duration::from_micros(20);
            while Instant::now() < until {}
        }
    });
    let start = Instant::now();
    let got = thread::spawn({
        let m = m.clone();
        move || {
            corio_sched::run(move || {
                for _ in 0..200 {
                    drop(m.lock().unwrap());
                }
            })
        }
    });
    got.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    greedy.join().unwrap();
    // 200 acquisitions, each waiting at most a couple of critical sections.
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn try_lock_get_mut_into_inner() {
    let mut m = Mutex::new(String::from("a"));
    m.get_mut().push('b');
    {
        let g = m.try_lock().expect("free");
        assert!(m.try_lock().is_none());
        assert!(m.is_locked());
        assert_eq!(*g, "ab");
    }
    assert!(!m.is_locked());
    assert_eq!(format!("{m:?}"), "Mutex { data: \"ab\", .. }");
    assert_eq!(m.into_inner(), "ab");
}

#[test]
fn lock_timeout_gives_up_and_never_early() {
    let m = Arc::new(Mutex::new(()));
    let g = m.lock().unwrap();
    let m2 = m.clone();
    // Plain thread.
    let t = thread::spawn(move || {
        let start = Instant::now();
        let err = m2.lock_timeout(Duration::from_millis(30)).unwrap_err();
        (err.kind(), start.elapsed())
    });
    let (kind, took) = t.join().unwrap();
    assert_eq!(kind, io::ErrorKind::TimedOut);
    assert!(took >= Duration::from_millis(30));
    // Coroutine.
    let m3 = m.clone();
    let (kind, took) = thread::spawn(move || {
        corio_sched::run(move || {
            let start = Instant::now();
            let err = m3.lock_timeout(Duration::from_millis(30)).unwrap_err();
            (err.kind(), start.elapsed())
        })
    })
    .join()
    .unwrap();
    assert_eq!(kind, io::ErrorKind::TimedOut);
    assert!(took >= Duration::from_millis(30));
    drop(g);
    // The timed-out waiters left the queue: the fast path works again.
    assert!(m.try_lock().is_some());
    assert!(m.lock_timeout(Duration::from_millis(1)).is_ok());
}

#[test]
fn cancel_wakes_a_parked_lock_with_interrupted() {
    corio_sched::run(|| {
        let m = Rc::new(Mutex::new(0));
        let g = m.lock().unwrap();
        let m2 = m.clone();
        let h = spawn(move || m2.lock().map(|_| ()).map_err(|e| e.kind()));
        yield_now();
        assert!(!h.is_finished());
        h.cancel();
        assert_eq!(h.join().unwrap(), Err(io::ErrorKind::Interrupted));
        drop(g);
        // Nobody is left waiting; the lock is free and uncontended.
        assert!(!m.is_locked());
        *m.try_lock().unwrap() += 1;
    });
}

#[test]
fn deadline_scope_wakes_a_parked_lock_with_timed_out() {
    corio_sched::run(|| {
        let m = Rc::new(Mutex::new(0));
        let g = m.lock().unwrap();
        let m2 = m.clone();
        let h = spawn(move || {
            let start = Instant::now();
            let r = with_timeout(Duration::from_millis(20), || m2.lock().map(|_| ()));
            (r.map_err(|e| e.kind()), start.elapsed())
        });
        let (r, took) = h.join().unwrap();
        assert_eq!(r, Err(io::ErrorKind::TimedOut));
        assert!(took >= Duration::from_millis(20));
        drop(g);
        assert!(m.try_lock().is_some());
    });
}

#[test]
fn a_waiter_torn_down_after_a_hand_off_releases_the_lock() {
    let m = Rc::new(Mutex::new(0));
    let m2 = m.clone();
    corio_sched::run(move || {
        let mut g = m2.lock().unwrap();
        let m3 = m2.clone();
        spawn(move || {
            *m3.lock().unwrap() += 1;
            corio_sched::sleep(LONG);
        });
        yield_now(); // the waiter parks
        drop(g); // wakes it to compete...
        g = m2.lock().unwrap(); // ...but we take the lock back first
        yield_now(); // it loses and queues again, starving
        // Fill the run queue so that the scheduler's batch ends (its budget
        // is far below 1000) before the waiter's turn comes.
        for _ in 0..1000 {
            spawn(|| {
                loop {
                    yield_now();
                }
            });
        }
        drop(g); // the lock is handed to the waiter; it is ready, not running
        assert!(m2.is_locked());
        // `run` returns: the waiter is torn down before it ran.
    });
    assert!(!m.is_locked(), "the handed-off lock was released on unwind");
    assert_eq!(*m.try_lock().unwrap(), 0);
}

#[test]
fn waiters_torn_down_while_queued_leave_the_mutex_usable() {
    let m = Arc::new(Mutex::new(0));
    let g = m.lock().unwrap(); // held by this plain thread
    let m2 = m.clone();
    let held = Arc::new(AtomicUsize::new(0));
    let held2 = held.clone();
    thread::spawn(move || {
        corio_sched::run(move || {
            for _ in 0..10 {
                let m = m2.clone();
                let held = held2.clone();
                spawn(move || {
                    let _g = m.lock().unwrap();
                    held.fetch_add(1, Ordering::Relaxed);
                });
            }
            yield_now(); // all ten park; `run` returns and unwinds them
        })
    })
    .join()
    .unwrap();
    assert_eq!(held.load(Ordering::Relaxed), 0);
    drop(g);
    assert!(!m.is_locked(), "no dead waiter was handed the lock");
    *m.lock_timeout(Duration::from_millis(100)).unwrap() += 1;
    assert_eq!(*m.try_lock().unwrap(), 1);
}
