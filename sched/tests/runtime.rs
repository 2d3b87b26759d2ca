//! Multi-thread runtime, cross-thread handles and the blocking pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corio_sched::{Handle, Runtime, spawn, try_sleep, unblock};

mod util;

#[test]
fn handles_spawn_onto_their_own_threads() {
    let rt = Runtime::builder()
        .threads(3)
        .thread_name("rt-test")
        .build()
        .unwrap();
    assert_eq!(rt.threads(), 3);
    let workers = rt.handles();
    assert_eq!(workers.len(), 2);
    let names = rt.block_on(move || {
        let here = std::thread::current().id();
        let mut names = Vec::new();
        for h in &workers {
            let (name, id) = h
                .spawn(|| {
                    let t = std::thread::current();
                    (t.name().map(String::from), t.id())
                })
                .join()
                .unwrap();
            assert_ne!(id, here, "remote spawn ran on the caller's thread");
            names.push(name.unwrap());
        }
        // Handle::current() spawns locally.
        let local = Handle::current().spawn(|| std::thread::current().id());
        assert_eq!(local.join().unwrap(), here);
        names
    });
    assert_eq!(names, ["rt-test-1", "rt-test-2"]);
}

#[test]
fn many_cross_thread_spawns_round_robin() {
    let rt = Runtime::builder().threads(3).build().unwrap();
    let workers = rt.handles();
    let total = rt.block_on(move || {
        let handles: Vec<_> = (0..1000u64)
            .map(|i| workers[(i % 2) as usize].spawn(move || i * 2))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(total, 999 * 1000);
}

#[test]
fn idle_worker_wakes_for_each_spawn() {
    // The worker sleeps in epoll_wait with no timers between spawns; each
    // spawn must wake it through the eventfd (no lost wakeup, no polling).
    let rt = Runtime::builder().threads(2).build().unwrap();
    let worker = rt.handles().remove(0);
    let start = Instant::now();
    rt.block_on(move || {
        for i in 0..50 {
            corio_sched::sleep(Duration::from_millis(2));
            assert_eq!(worker.spawn(move || i + 1).join().unwrap(), i + 1);
        }
    });
    // 50 × 2 ms of sleeps; a lost wakeup would hang forever.
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn plain_thread_spawns_and_joins_on_a_worker() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let worker = rt.handles().remove(0);
    let from_thread = std::thread::spawn(move || {
        worker
            .spawn(|| {
                corio_sched::sleep(Duration::from_millis(20));
                corio_sched::current().map(|c| c.id())
            })
            .join()
            .unwrap()
    })
    .join()
    .unwrap();
    assert!(from_thread.is_some(), "the closure ran inside a coroutine");
    drop(rt);
}

#[test]
fn remote_cancel_interrupts_a_sleeping_coroutine() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let worker = rt.handles().remove(0);
    let kind = rt.block_on(move || {
        let h = worker.spawn(|| try_sleep(Duration::from_secs(30)).map_err(|e| e.kind()));
        corio_sched::sleep(Duration::from_millis(20));
        h.cancel();
        h.join().unwrap()
    });
    assert_eq!(kind, Err(std::io::ErrorKind::Interrupted));
}

#[test]
fn worker_coroutines_are_unwound_at_shutdown() {
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let rt = Runtime::builder().threads(2).build().unwrap();
    let worker = rt.handles().remove(0);
    rt.block_on(move || {
        let started = Arc::new(AtomicBool::new(false));
        let s = started.clone();
        let _detached = worker.spawn(move || {
            let _guard = SetOnDrop(flag);
            s.store(true, Ordering::SeqCst);
            corio_sched::sleep(Duration::from_secs(3600));
        });
        while !started.load(Ordering::SeqCst) {
            corio_sched::sleep(Duration::from_millis(1));
        }
    });
    assert!(
        dropped.load(Ordering::SeqCst),
        "destructor on the worker ran"
    );
}

/// A coroutine spawned through a `Handle` whose scheduler shut down before
/// it ever ran: its join gets an error instead of waiting forever.
#[test]
fn a_remote_spawn_that_never_ran_joins_with_an_error() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = Runtime::builder().threads(2).build().unwrap();
        let worker = rt.handles().remove(0);
        let stop_sent = Arc::new(AtomicBool::new(false));
        let seen = stop_sent.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let late = rt.block_on(move || {
            // On the worker: more always-ready coroutines than the loop
            // runs between two polls of its inbox; then the spawning
            // coroutine holds the thread until the shutdown message is
            // surely queued as well.
            let _setup = worker.spawn(move || {
                for _ in 0..2 * corio_sched_budget() {
                    spawn(|| {
                        loop {
                            corio_sched::yield_now();
                        }
                    });
                }
                ready_tx.send(()).unwrap();
                while !seen.load(Ordering::SeqCst) {
                    std::hint::spin_loop();
                }
                let until = Instant::now() + Duration::from_millis(50);
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
            });
            ready_rx.recv().unwrap();
            // Taken in the same poll of the inbox as the stop, queued
            // behind all of them: spawned, never resumed, dropped at
            // shutdown.
            let late = worker.spawn(|| 42);
            stop_sent.store(true, Ordering::SeqCst);
            late
        });
        let _ = tx.send(late.join());
    });
    let result = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the join of a never-run coroutine hangs");
    let payload = result.expect_err("the coroutine cannot have run");
    let err = util::io_error(&*payload);
    assert_eq!(err.kind(), std::io::ErrorKind::Interrupted);
    assert!(err.to_string().contains("before it ran"), "{err}");
}

/// Ready tasks the scheduler resumes between two polls of its inbox
/// (`BUDGET` in sched/src/scheduler.rs).
fn corio_sched_budget() -> usize {
    256
}

#[test]
fn zero_threads_is_invalid_input() {
    let err = Runtime::builder().threads(0).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let err = Runtime::builder().stack_size(1024).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn unblock_parks_only_the_caller() {
    let start = Instant::now();
    let ticks = Arc::new(AtomicUsize::new(0));
    let t = ticks.clone();
    let (results, ticks_during) = corio_sched::run(move || {
        let ticker = {
            let t = t.clone();
            spawn(move || {
                for _ in 0..15 {
                    corio_sched::sleep(Duration::from_millis(10));
                    t.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        let handles: Vec<_> = (0..20u64)
            .map(|i| {
                spawn(move || {
                    unblock(move || {
                        std::thread::sleep(Duration::from_millis(200));
                        i
                    })
                })
            })
            .collect();
        let results: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let during = t.load(Ordering::SeqCst);
        ticker.join().unwrap();
        (results, during)
    });
    assert_eq!(results, (0..20).collect::<Vec<_>>());
    // 20 × 200 ms serially would be 4 s.
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(
        ticks_during >= 5,
        "other coroutines ran meanwhile: {ticks_during} ticks"
    );
    assert_eq!(ticks.load(Ordering::SeqCst), 15);
}

#[test]
fn unblock_propagates_panics() {
    let msg = corio_sched::run(|| {
        let h = spawn(|| unblock(|| -> u32 { panic!("boom in the pool") }));
        let payload = h.join().unwrap_err();
        payload.downcast_ref::<&str>().map(|s| s.to_string())
    });
    assert_eq!(msg.as_deref(), Some("boom in the pool"));
}

#[test]
fn unblock_outside_a_coroutine_runs_inline() {
    let here = std::thread::current().id();
    assert_eq!(unblock(move || std::thread::current().id()), here);
}

#[test]
fn unblock_delivers_a_cancel_afterwards() {
    let kinds = corio_sched::run(|| {
        let h = spawn(|| {
            let v = unblock(|| {
                std::thread::sleep(Duration::from_millis(100));
                7
            });
            // The cancel that arrived during unblock hits this call.
            let after = try_sleep(Duration::from_secs(30)).map_err(|e| e.kind());
            (v, after)
        });
        corio_sched::sleep(Duration::from_millis(20));
        h.cancel();
        h.join().unwrap()
    });
    assert_eq!(kinds, (7, Err(std::io::ErrorKind::Interrupted)));
}
