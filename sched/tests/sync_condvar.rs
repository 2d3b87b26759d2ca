//! `sync::Condvar`: producer/consumer across schedulers and threads,
//! notify_all, timeouts, cancellation and deadline scopes.

use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use corio_sched::sync::{Condvar, Mutex};
use corio_sched::{spawn, with_timeout, yield_now};

const LONG: Duration = Duration::from_secs(3600);

/// A bounded queue built from a mutex and two condition variables.
struct Queue {
    items: Mutex<VecDeque<u64>>,
    not_empty: Condvar,
    not_full: Condvar,
    cap: usize,
}

impl Queue {
    fn push(&self, v: u64) {
        let mut q = self
            .not_full
            .wait_while(self.items.lock().unwrap(), |q| q.len() == self.cap)
            .unwrap();
        q.push_back(v);
        drop(q);
        self.not_empty.notify_one();
    }

    fn pop(&self) -> u64 {
        let mut q = self
            .not_empty
            .wait_while(self.items.lock().unwrap(), |q| q.is_empty())
            .unwrap();
        let v = q.pop_front().unwrap();
        drop(q);
        self.not_full.notify_one();
        v
    }
}

#[test]
fn producer_consumer_across_two_schedulers_and_a_plain_thread() {
    const PER_PRODUCER: u64 = 5_000;
    let queue = Arc::new(Queue {
        items: Mutex::new(VecDeque::new()),
        not_empty: Condvar::new(),
        not_full: Condvar::new(),
        cap: 8,
    });
    // Producers: 10 coroutines on one scheduler thread and a plain thread.
    let q = queue.clone();
    let producers = thread::spawn(move || {
        corio_sched::run(move || {
            let hs: Vec<_> = (0..10)
                .map(|_| {
                    let q = q.clone();
                    spawn(move || (1..=PER_PRODUCER).for_each(|v| q.push(v)))
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
        })
    });
    let q = queue.clone();
    let plain = thread::spawn(move || (1..=PER_PRODUCER).for_each(|v| q.push(v)));
    // Consumers: 4 coroutines on another scheduler thread.
    let q = queue.clone();
    let consumers = thread::spawn(move || {
        corio_sched::run(move || {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    let q = q.clone();
                    spawn(move || (0..11 * PER_PRODUCER / 4).map(|_| q.pop()).sum::<u64>())
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        })
    });
    producers.join().unwrap();
    plain.join().unwrap();
    let sum = consumers.join().unwrap();
    assert_eq!(sum, 11 * PER_PRODUCER * (PER_PRODUCER + 1) / 2);
    assert!(queue.items.lock().unwrap().is_empty());
}

#[test]
fn notify_all_wakes_every_waiter_and_notify_one_just_one() {
    corio_sched::run(|| {
        let pair = Rc::new((Mutex::new(0u32), Condvar::new()));
        let hs: Vec<_> = (0..5)
            .map(|_| {
                let p = pair.clone();
                spawn(move || {
                    let (m, cv) = &*p;
                    let g = m.lock().unwrap();
                    let mut g = cv.wait(g).unwrap();
                    *g += 1;
                })
            })
            .collect();
        yield_now(); // all five wait
        let (m, cv) = &*pair;
        cv.notify_one();
        yield_now();
        yield_now();
        assert_eq!(*m.lock().unwrap(), 1);
        cv.notify_all();
        hs.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(*m.lock().unwrap(), 5);
    });
}

#[test]
fn wait_timeout_reports_timed_out_after_the_timeout() {
    let m = Mutex::new(());
    let cv = Condvar::new();
    // Plain thread.
    let start = Instant::now();
    let (g, r) = cv
        .wait_timeout(m.lock().unwrap(), Duration::from_millis(20))
        .unwrap();
    assert!(r.timed_out());
    assert!(start.elapsed() >= Duration::from_millis(20));
    drop(g);
    corio_sched::run(move || {
        let start = Instant::now();
        let (g, r) = cv
            .wait_timeout(m.lock().unwrap(), Duration::from_millis(20))
            .unwrap();
        assert!(r.timed_out());
        assert!(start.elapsed() >= Duration::from_millis(20));
        drop(g);
        let (g, r) = cv
            .wait_timeout_while(m.lock().unwrap(), Duration::from_millis(5), |_| true)
            .unwrap();
        assert!(r.timed_out());
        drop(g);
        let (_g, r) = cv
            .wait_timeout_while(m.lock().unwrap(), LONG, |_| false)
            .unwrap();
        assert!(!r.timed_out());
    });
}

#[test]
fn wait_timeout_is_woken_by_a_notification_from_a_plain_thread() {
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let p = pair.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        *p.0.lock().unwrap() = true;
        p.1.notify_all();
    });
    corio_sched::run(move || {
        let (m, cv) = &*pair;
        let (g, r) = cv
            .wait_timeout_while(m.lock().unwrap(), LONG, |ready| !*ready)
            .unwrap();
        assert!(*g && !r.timed_out());
    });
    t.join().unwrap();
}

#[test]
fn cancel_wakes_a_waiting_coroutine_without_the_mutex() {
    corio_sched::run(|| {
        let pair = Rc::new((Mutex::new(()), Condvar::new()));
        let p = pair.clone();
        let h = spawn(move || {
            let g = p.0.lock().unwrap();
            p.1.wait(g).map(drop).map_err(|e| e.kind())
        });
        yield_now();
        h.cancel();
        assert_eq!(h.join().unwrap(), Err(io::ErrorKind::Interrupted));
        assert!(
            !pair.0.is_locked(),
            "the cancelled waiter does not hold the mutex"
        );
    });
}

#[test]
fn deadline_scope_is_an_error_not_a_timeout_result() {
    corio_sched::run(|| {
        let m = Mutex::new(());
        let cv = Condvar::new();
        let r = with_timeout(Duration::from_millis(10), || {
            cv.wait_timeout(m.lock().unwrap(), LONG).map(|(_, r)| r)
        });
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::TimedOut);
        let r = with_timeout(Duration::from_millis(10), || {
            cv.wait(m.lock().unwrap()).map(drop)
        });
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::TimedOut);
        // The call's own, shorter timeout is a normal timed-out result.
        let r = with_timeout(LONG, || {
            cv.wait_timeout(m.lock().unwrap(), Duration::from_millis(5))
                .map(|(_, r)| r.timed_out())
        });
        assert!(r.unwrap());
        assert!(!m.is_locked());
    });
}

#[test]
fn a_notified_waiter_that_is_cancelled_while_ready_keeps_its_notification() {
    corio_sched::run(|| {
        let pair = Rc::new((Mutex::new(0), Condvar::new()));
        let waiter = |p: Rc<(Mutex<i32>, Condvar)>| {
            move || {
                let g = p.0.lock().unwrap();
                p.1.wait(g).map(|mut g| *g += 1).map_err(|e| e.kind())
            }
        };
        let first = spawn(waiter(pair.clone()));
        let second = spawn(waiter(pair.clone()));
        yield_now(); // both wait, `first` ahead
        pair.1.notify_one();
        // `first` was woken already: the cancel waits for its next
        // blocking call, and the notification is not lost.
        first.cancel();
        assert_eq!(first.join().unwrap(), Ok(()));
        second.cancel();
        assert_eq!(second.join().unwrap(), Err(io::ErrorKind::Interrupted));
        assert_eq!(*pair.0.lock().unwrap(), 1);
    });
}

#[test]
fn a_notified_waiter_torn_down_before_it_runs_passes_the_notification_on() {
    let pair = Arc::new((Mutex::new(()), Condvar::new()));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (finish_tx, finish_rx) = std::sync::mpsc::channel::<()>();
    // Thread A: the first waiter, then a scheduler that ends without
    // running it again.
    let p = pair.clone();
    let ready = ready_tx.clone();
    let a = thread::spawn(move || {
        corio_sched::run(move || {
            let p2 = p.clone();
            spawn(move || {
                let g = p2.0.lock().unwrap();
                let _ = p2.1.wait(g);
                unreachable!("torn down before it runs");
            });
            yield_now();
            ready.send(()).unwrap();
            // Block this whole thread until the notification went to the
            // waiter above; then return, tearing it down.
            finish_rx.recv().unwrap();
        })
    });
    ready_rx.recv().unwrap();
    // Thread B: the second waiter.
    let p = pair.clone();
    let b = thread::spawn(move || {
        corio_sched::run(move || {
            let g = p.0.lock().unwrap();
            let h = {
                let p = p.clone();
                spawn(move || {
                    let g = p.0.lock().unwrap();
                    let (_g, r) = p.1.wait_timeout(g, Duration::from_secs(10)).unwrap();
                    r.timed_out()
                })
            };
            drop(g);
            yield_now();
            ready_tx.send(()).unwrap();
            h.join().unwrap()
        })
    });
    ready_rx.recv().unwrap();
    let start = Instant::now();
    pair.1.notify_one(); // chooses thread A's waiter
    finish_tx.send(()).unwrap();
    a.join().unwrap();
    assert!(
        !b.join().unwrap(),
        "the second waiter was notified, not timed out"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn waits_that_end_before_queuing_give_the_mutex_back() {
    // The park fails before the waiter is queued (the timeout is already
    // over; a cancel is already pending): the mutex is released all the
    // same, and relocked for a timeout.
    corio_sched::run(|| {
        let pair = Rc::new((Mutex::new(5), Condvar::new()));
        let g = pair.0.lock().unwrap();
        let (g, r) = pair.1.wait_timeout(g, Duration::ZERO).unwrap();
        assert!(r.timed_out());
        assert_eq!(*g, 5);
        drop(g);
        assert!(!pair.0.is_locked());

        let p = pair.clone();
        let h = spawn(move || {
            let g = p.0.lock().unwrap();
            p.1.wait(g).map(drop).map_err(|e| e.kind())
        });
        h.cancel(); // before it runs: pending when it parks
        assert_eq!(h.join().unwrap(), Err(io::ErrorKind::Interrupted));
        assert!(!pair.0.is_locked(), "the cancelled waiter kept the mutex");
    });
}
