//! Timers: many concurrent sleeps, never firing early, and the edge
//! durations `ZERO` and `MAX`.

mod util;

use std::cell::Cell;
use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio_sched::{
    Interest, sleep, sleep_until, spawn, try_sleep, wait_fd, with_deadline, with_timeout,
};
use util::{Rng, socketpair};

#[test]
fn ten_thousand_coroutines_sleep_100ms_concurrently_on_one_thread() {
    const N: usize = 10_000;
    let start = Instant::now();
    let thread = std::thread::current().id();
    let done = corio_sched::run(move || {
        let done = Rc::new(Cell::new(0usize));
        let handles: Vec<_> = (0..N)
            .map(|_| {
                let done = done.clone();
                spawn(move || {
                    let t = Instant::now();
                    sleep(Duration::from_millis(100));
                    assert!(t.elapsed() >= Duration::from_millis(100));
                    assert_eq!(std::thread::current().id(), thread);
                    done.set(done.get() + 1);
                })
            })
            .collect();
        let peak = corio_sched::stats();
        assert_eq!(peak.alive, N + 1);
        for h in handles {
            h.join().unwrap();
        }
        done.get()
    });
    let elapsed = start.elapsed();
    assert_eq!(done, N);
    assert!(elapsed >= Duration::from_millis(100));
    assert!(
        elapsed < Duration::from_millis(1500),
        "10,000 concurrent 100 ms sleeps took {elapsed:?}"
    );
}

#[test]
fn timers_never_fire_early() {
    const SLEEPS: usize = 1000;
    let early = corio_sched::run(|| {
        let early = Rc::new(Cell::new(0usize));
        let mut rng = Rng::new(0x5eed);
        let mut handles = Vec::with_capacity(SLEEPS);
        for i in 0..SLEEPS {
            // 0..3 ms with microsecond resolution, so deadlines fall between
            // the milliseconds epoll_wait counts in.
            let dur = Duration::from_micros(rng.below(3000));
            let early = early.clone();
            handles.push(spawn(move || {
                let deadline = Instant::now() + dur;
                if i % 2 == 0 {
                    sleep(dur);
                } else {
                    sleep_until(deadline);
                }
                if Instant::now() < deadline {
                    early.set(early.get() + 1);
                }
            }));
            if i % 100 == 99 {
                // Stagger the batches so their deadlines interleave with
                // loop turns.
                sleep(Duration::from_micros(rng.below(1500)));
            }
        }
        for h in handles {
            h.join().unwrap();
        }
        early.get()
    });
    assert_eq!(
        early, 0,
        "{early} of {SLEEPS} sleeps returned before their deadline"
    );
}

#[test]
fn wait_deadlines_never_fire_early() {
    corio_sched::run(|| {
        let (a, _b) = socketpair();
        let fd = a.as_raw_fd();
        let mut rng = Rng::new(42);
        let handles: Vec<_> = (0..200)
            .map(|_| {
                let dur = Duration::from_micros(rng.below(5000));
                spawn(move || {
                    let deadline = Instant::now() + dur;
                    let err = wait_fd(fd, Interest::READABLE, Some(deadline)).unwrap_err();
                    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
                    assert!(Instant::now() >= deadline, "wait_fd timed out early");
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        drop(a);
    });
}

#[test]
fn sleep_of_zero_returns_promptly() {
    corio_sched::run(|| {
        let start = Instant::now();
        for _ in 0..1000 {
            try_sleep(Duration::ZERO).unwrap();
            sleep(Duration::ZERO);
        }
        sleep_until(Instant::now());
        sleep_until(Instant::now() - Duration::from_millis(1));
        assert!(start.elapsed() < Duration::from_millis(500));
    });
}

#[test]
fn sleep_of_zero_lets_others_run() {
    corio_sched::run(|| {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        spawn(move || r.set(true));
        sleep(Duration::ZERO);
        assert!(ran.get());
    });
}

#[test]
fn timeout_of_zero_times_out_promptly() {
    corio_sched::run(|| {
        let start = Instant::now();
        let err = with_timeout(Duration::ZERO, || try_sleep(Duration::from_secs(10))).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let (a, _b) = socketpair();
        let err = with_timeout(Duration::ZERO, || {
            wait_fd(a.as_raw_fd(), Interest::READABLE, None)
        })
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() < Duration::from_millis(500));
    });
}

#[test]
fn sleep_of_max_ends_at_the_scope_deadline() {
    corio_sched::run(|| {
        let deadline = Instant::now() + Duration::from_millis(50);
        let err = with_deadline(deadline, || try_sleep(Duration::MAX)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(Instant::now() >= deadline);
        assert!(deadline.elapsed() < Duration::from_secs(1));
    });
}

#[test]
fn timeout_of_max_means_no_deadline() {
    corio_sched::run(|| {
        let (a, b) = socketpair();
        spawn(move || {
            sleep(Duration::from_millis(30));
            util::write(&b, b"x").unwrap();
            b
        });
        with_timeout(Duration::MAX, || {
            assert_eq!(corio_sched::current_deadline(), None);
            try_sleep(Duration::from_millis(10)).unwrap();
            wait_fd(a.as_raw_fd(), Interest::READABLE, None).unwrap();
        });
    });
}

#[test]
fn a_far_deadline_does_not_overflow_the_epoll_timeout() {
    corio_sched::run(|| {
        // ~68 years: far beyond what epoll_wait's i32 milliseconds can say.
        let far = Instant::now() + Duration::from_secs(u32::MAX as u64 / 2);
        let sleeper = spawn(move || sleep_until(far));
        let (a, b) = socketpair();
        spawn(move || {
            sleep(Duration::from_millis(20));
            util::write(&b, b"x").unwrap();
            b
        });
        wait_fd(a.as_raw_fd(), Interest::READABLE, Some(far)).unwrap();
        sleeper.cancel();
        sleeper.join().unwrap();
    });
}

#[test]
fn sleep_outside_a_coroutine_sleeps_the_thread() {
    let start = Instant::now();
    sleep(Duration::from_millis(20));
    assert!(start.elapsed() >= Duration::from_millis(20));
    try_sleep(Duration::from_millis(5)).unwrap();
}
