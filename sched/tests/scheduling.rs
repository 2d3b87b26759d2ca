//! Run-queue order and fairness: FIFO, round-robin yields, and a coroutine
//! that never blocks cannot starve timers or I/O.

mod util;

use std::cell::{Cell, RefCell};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio_sched::park::{Waker, park};
use corio_sched::{Interest, sleep, spawn, wait_fd, yield_now};
use util::{socketpair, write};

#[test]
fn yield_now_interleaves_round_robin() {
    const COROS: usize = 4;
    const ROUNDS: usize = 5;
    let log = corio_sched::run(|| {
        let log: Rc<RefCell<Vec<usize>>> = Rc::default();
        let handles: Vec<_> = (0..COROS)
            .map(|i| {
                let log = log.clone();
                spawn(move || {
                    for _ in 0..ROUNDS {
                        log.borrow_mut().push(i);
                        yield_now();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        Rc::try_unwrap(log).unwrap().into_inner()
    });
    let expected: Vec<usize> = (0..ROUNDS).flat_map(|_| 0..COROS).collect();
    assert_eq!(log, expected);
}

#[test]
fn the_main_coroutine_takes_its_turn_in_the_rotation() {
    let log = corio_sched::run(|| {
        let log: Rc<RefCell<Vec<&'static str>>> = Rc::default();
        for name in ["a", "b"] {
            let log = log.clone();
            spawn(move || {
                for _ in 0..3 {
                    log.borrow_mut().push(name);
                    yield_now();
                }
            });
        }
        for _ in 0..3 {
            log.borrow_mut().push("main");
            yield_now();
        }
        // The spawned coroutines are still alive (about to finish).
        log.borrow().clone()
    });
    assert_eq!(log, ["main", "a", "b", "main", "a", "b", "main", "a", "b"]);
}

#[test]
fn spawned_coroutines_start_in_spawn_order() {
    let order = corio_sched::run(|| {
        let order: Rc<RefCell<Vec<usize>>> = Rc::default();
        let handles: Vec<_> = (0..100)
            .map(|i| {
                let order = order.clone();
                spawn(move || order.borrow_mut().push(i))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        Rc::try_unwrap(order).unwrap().into_inner()
    });
    assert_eq!(order, (0..100).collect::<Vec<_>>());
}

#[test]
fn woken_coroutines_run_in_wake_order() {
    let order = corio_sched::run(|| {
        let order: Rc<RefCell<Vec<usize>>> = Rc::default();
        let wakers: Rc<RefCell<Vec<Option<Waker>>>> = Rc::new(RefCell::new(vec![None; 5]));
        let handles: Vec<_> = (0..5)
            .map(|i| {
                let (order, wakers) = (order.clone(), wakers.clone());
                spawn(move || {
                    park("test gate", None, |w| {
                        wakers.borrow_mut()[i] = Some(w);
                        true
                    })
                    .unwrap();
                    order.borrow_mut().push(i);
                })
            })
            .collect();
        yield_now(); // let all five park
        assert_eq!(corio_sched::stats().waiting_other, 5);
        for i in [3, 0, 4, 1, 2] {
            wakers.borrow_mut()[i].take().unwrap().wake();
        }
        for h in handles {
            h.join().unwrap();
        }
        Rc::try_unwrap(order).unwrap().into_inner()
    });
    assert_eq!(order, [3, 0, 4, 1, 2]);
}

#[test]
fn timer_wakeups_run_in_deadline_order() {
    let order = corio_sched::run(|| {
        let order: Rc<RefCell<Vec<u64>>> = Rc::default();
        let handles: Vec<_> = [50u64, 10, 40, 20, 30]
            .into_iter()
            .map(|ms| {
                let order = order.clone();
                spawn(move || {
                    sleep(Duration::from_millis(ms));
                    order.borrow_mut().push(ms);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        Rc::try_unwrap(order).unwrap().into_inner()
    });
    assert_eq!(order, [10, 20, 30, 40, 50]);
}

/// Spawns a coroutine that only ever yields until `stop` is set (or it has
/// spun for 10 s, which it reports as a failure).
fn spinner(stop: Rc<Cell<bool>>) -> corio_sched::JoinHandle<(u64, bool)> {
    spawn(move || {
        let start = Instant::now();
        let mut spins = 0u64;
        while !stop.get() {
            spins += 1;
            if start.elapsed() > Duration::from_secs(10) {
                return (spins, true);
            }
            yield_now();
        }
        (spins, false)
    })
}

#[test]
fn a_coroutine_that_never_blocks_does_not_starve_timers() {
    corio_sched::run(|| {
        let stop = Rc::new(Cell::new(false));
        let spin = spinner(stop.clone());
        let start = Instant::now();
        sleep(Duration::from_millis(20));
        let slept = start.elapsed();
        stop.set(true);
        let (spins, gave_up) = spin.join().unwrap();
        assert!(!gave_up, "the timer never fired while a coroutine spun");
        assert!(slept >= Duration::from_millis(20));
        assert!(slept < Duration::from_secs(2), "timer fired {slept:?} late");
        assert!(spins > 0);
    });
}

#[test]
fn a_coroutine_that_never_blocks_does_not_starve_io() {
    corio_sched::run(|| {
        let (a, b) = socketpair();
        let stop = Rc::new(Cell::new(false));
        let spins = (0..2).map(|_| spinner(stop.clone())).collect::<Vec<_>>();
        // The write comes from a plain thread, so only epoll can report it.
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            write(&b, b"x").unwrap();
            b
        });
        let start = Instant::now();
        wait_fd(a.as_raw_fd(), Interest::READABLE, None).unwrap();
        let waited = start.elapsed();
        stop.set(true);
        for s in spins {
            let (_, gave_up) = s.join().unwrap();
            assert!(
                !gave_up,
                "the fd wakeup never arrived while coroutines spun"
            );
        }
        assert!(waited < Duration::from_secs(2));
        drop(writer.join().unwrap());
        let stats = corio_sched::stats();
        assert!(stats.epoll_waits > 0);
    });
}
