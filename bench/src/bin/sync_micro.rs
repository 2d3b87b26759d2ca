//! Micro-benchmarks of the sync primitives (issue 4), against may (and std
//! for reference) in the same run:
//!
//! - same-thread channel send + recv of one message (unbounded channel, one
//!   coroutine sends then receives; nobody parks) — target: corio >= 3x
//!   faster than may;
//! - uncontended `Mutex` lock + unlock in one coroutine — target: >= 3x;
//! - cross-thread channel ping-pong round trip (two unbounded channels, each
//!   side parks in `recv` until the other answers) — target: no slower than
//!   may. Two pairings: scheduler ↔ scheduler (corio: two threads each
//!   running `corio::run`; may: two coroutines on a 2-worker scheduler) and
//!   coroutine ↔ plain thread (both: one coroutine, one `std::thread`).
//!
//! may runs with two workers (`may::config().set_workers(2)`); the
//! same-thread benchmarks run inside one may coroutine, as corio's run
//! inside one corio coroutine, so neither side schedules anything per
//! operation.
//!
//! Run: `cargo run --release -p corio-bench --bin sync_micro`. Progress goes
//! to stderr, the markdown report to stdout.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use corio_bench::{Bench, Sample, fmt_speedup, machine, markdown_table, run};

/// Set when may ran its two ping-pong coroutines on the same worker thread
/// (it moves a woken coroutine to the waker's worker), so its "cross-thread"
/// round trip never crossed threads.
static MAY_COLOCATED: AtomicBool = AtomicBool::new(false);

/// Timed repeats per benchmark; the median is reported.
const REPEATS: usize = 9;
/// Messages per timed run, same thread.
const MESSAGES: u64 = 5_000_000;
/// Lock + unlock pairs per timed run.
const LOCKS: u64 = 20_000_000;
/// Round trips per timed run, cross thread.
const ROUND_TRIPS: u64 = 20_000;

fn main() {
    // `sync_micro <op> [count]` runs one corio operation untimed, for a
    // profiler: `chan`, `mutex`, `pingpong`.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(op) = args.first() {
        let n = args
            .get(1)
            .map_or(10_000_000, |c| c.parse().expect("count"));
        match op.as_str() {
            "chan" => corio_chan_same_thread(n),
            "mutex" => corio_mutex(n),
            "pingpong" => corio_pingpong_schedulers(n),
            other => panic!("unknown operation {other:?} (chan, mutex, pingpong)"),
        }
        return;
    }
    may::config().set_workers(2);

    eprintln!("same-thread channel send + recv ({REPEATS} repeats, medians):");
    let chan = run(
        REPEATS,
        &mut [
            Bench::new("channel: corio", MESSAGES, corio_chan_same_thread),
            Bench::new("channel: may", MESSAGES, may_chan_same_thread),
            Bench::new("channel: std", MESSAGES, std_chan_same_thread),
        ],
    );
    eprintln!("uncontended Mutex lock + unlock ({REPEATS} repeats, medians):");
    let mutex = run(
        REPEATS,
        &mut [
            Bench::new("mutex: corio", LOCKS, corio_mutex),
            Bench::new("mutex: may", LOCKS, may_mutex),
            Bench::new("mutex: std", LOCKS, std_mutex),
        ],
    );
    eprintln!("cross-thread channel ping-pong round trip ({REPEATS} repeats, medians):");
    let pingpong = run(
        REPEATS,
        &mut [
            Bench::new(
                "sched <-> sched: corio",
                ROUND_TRIPS,
                corio_pingpong_schedulers,
            ),
            Bench::new("sched <-> sched: may", ROUND_TRIPS, may_pingpong_coroutines),
            Bench::new(
                "coroutine <-> thread: corio",
                ROUND_TRIPS,
                corio_pingpong_thread,
            ),
            Bench::new(
                "coroutine <-> thread: may",
                ROUND_TRIPS,
                may_pingpong_thread,
            ),
            Bench::new("thread <-> thread: std", ROUND_TRIPS, std_pingpong_threads),
        ],
    );

    let row = |what: &str, corio: &Sample, may: &Sample, std: &Sample, target: f64| {
        let ratio = may.median / corio.median;
        vec![
            what.to_string(),
            corio.summary(),
            may.summary(),
            std.summary(),
            fmt_speedup(ratio),
            format!(
                "≥ {target}x: {}",
                if ratio >= target { "met" } else { "**missed**" }
            ),
        ]
    };
    let rows = vec![
        row(
            "channel send + recv, same thread, per message",
            &chan[0],
            &chan[1],
            &chan[2],
            3.0,
        ),
        row(
            "`Mutex` lock + unlock, uncontended",
            &mutex[0],
            &mutex[1],
            &mutex[2],
            3.0,
        ),
        {
            let mut r = row(
                "channel ping-pong round trip, scheduler ↔ scheduler",
                &pingpong[0],
                &pingpong[1],
                &pingpong[4],
                1.0,
            );
            if MAY_COLOCATED.load(Ordering::Relaxed) {
                r[5] = "n/a: may ran both coroutines on one worker".into();
            }
            r
        },
        row(
            "channel ping-pong round trip, coroutine ↔ plain thread",
            &pingpong[2],
            &pingpong[3],
            &pingpong[4],
            1.0,
        ),
    ];
    println!(
        "{}",
        markdown_table(
            &[
                "benchmark",
                "corio",
                "may 0.3",
                "std (reference)",
                "corio vs may",
                "target"
            ],
            &rows
        )
    );
    println!(
        "Medians of {REPEATS} timed runs (min–max in brackets), after one warm-up run: \
         {MESSAGES} messages, {LOCKS} lock/unlock pairs or {ROUND_TRIPS} round trips per run. \
         may: 2 worker threads; it decides where its coroutines run and moves a woken \
         coroutine to its waker's worker, so its scheduler ↔ scheduler pair ends up on one \
         thread; corio: a 2-thread `Runtime`, echo coroutine spawned on the worker (corio \
         never moves coroutines, so its pair really crosses threads: an idle corio scheduler, \
         or a plain thread parked in a corio primitive, spins up to 50 µs for the answer \
         while cross-thread messages keep arriving, instead of paying a sleep and a wakeup). \
         The std column is `std::sync::mpsc` / `std::sync::Mutex` on plain threads \
         (for the round trips: two plain threads)."
    );
    println!("Machine: {}.", machine());
}

/// Spawns `f` on may's scheduler.
fn may_go<F, T>(f: F) -> may::coroutine::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // SAFETY: may's spawn is unsafe because a coroutine may move between
    // worker threads (thread-locals) and has a fixed-size stack; these
    // closures touch no thread-locals of their own and use little stack.
    unsafe { may::coroutine::spawn(f) }
}

/// One corio coroutine sends then receives `n` messages.
fn corio_chan_same_thread(n: u64) {
    corio::run(move || {
        let (tx, rx) = corio::sync::mpsc::channel();
        for i in 0..n {
            tx.send(i).unwrap();
            black_box(rx.recv().unwrap());
        }
    });
}

/// The same inside one may coroutine.
fn may_chan_same_thread(n: u64) {
    may_go(move || {
        let (tx, rx) = may::sync::mpsc::channel();
        for i in 0..n {
            tx.send(i).unwrap();
            black_box(rx.recv().unwrap());
        }
    })
    .join()
    .unwrap();
}

/// The same with std's channel on this thread.
fn std_chan_same_thread(n: u64) {
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..n {
        tx.send(i).unwrap();
        black_box(rx.recv().unwrap());
    }
}

/// One corio coroutine locks and unlocks `n` times.
fn corio_mutex(n: u64) {
    corio::run(move || {
        let m = corio::sync::Mutex::new(0u64);
        for _ in 0..n {
            *black_box(&m).lock().unwrap() += 1;
        }
        assert_eq!(m.into_inner(), n);
    });
}

/// The same inside one may coroutine.
fn may_mutex(n: u64) {
    may_go(move || {
        let m = may::sync::Mutex::new(0u64);
        for _ in 0..n {
            *black_box(&m).lock().unwrap() += 1;
        }
        assert_eq!(m.into_inner().unwrap(), n);
    })
    .join()
    .unwrap();
}

/// The same with std's mutex on this thread.
fn std_mutex(n: u64) {
    let m = std::sync::Mutex::new(0u64);
    for _ in 0..n {
        *black_box(&m).lock().unwrap() += 1;
    }
    assert_eq!(m.into_inner().unwrap(), n);
}

/// A 2-thread corio runtime: the main coroutine on thread 0 pings an echo
/// coroutine on the worker thread; `n` round trips.
fn corio_pingpong_schedulers(n: u64) {
    use corio::sync::mpsc::channel;
    let rt = corio::Runtime::builder()
        .threads(2)
        .build()
        .expect("a 2-thread runtime");
    let worker = rt.handles().pop().expect("one worker");
    rt.block_on(move || {
        let (ping_tx, ping_rx) = channel::<u64>();
        let (pong_tx, pong_rx) = channel::<u64>();
        let echo = worker.spawn(move || {
            for v in ping_rx.iter() {
                pong_tx.send(v).unwrap();
            }
        });
        for i in 0..n {
            ping_tx.send(i).unwrap();
            assert_eq!(pong_rx.recv().unwrap(), i);
        }
        drop(ping_tx);
        echo.join().unwrap();
    });
}

/// Two may coroutines on may's 2-worker scheduler; `n` round trips.
fn may_pingpong_coroutines(n: u64) {
    use may::sync::mpsc::channel;
    let (ping_tx, ping_rx) = channel::<u64>();
    let (pong_tx, pong_rx) = channel::<u64>();
    let echo = may_go(move || {
        for v in ping_rx.iter() {
            pong_tx.send(v).unwrap();
        }
        thread::current().id()
    });
    let client = may_go(move || {
        for i in 0..n {
            ping_tx.send(i).unwrap();
            assert_eq!(pong_rx.recv().unwrap(), i);
        }
        thread::current().id()
    })
    .join()
    .unwrap();
    if echo.join().unwrap() == client {
        MAY_COLOCATED.store(true, Ordering::Relaxed);
    }
}

/// A corio coroutine pings a plain thread; `n` round trips.
fn corio_pingpong_thread(n: u64) {
    use corio::sync::mpsc::channel;
    let (ping_tx, ping_rx) = channel::<u64>();
    let (pong_tx, pong_rx) = channel::<u64>();
    let echo = thread::spawn(move || {
        for v in ping_rx.iter() {
            pong_tx.send(v).unwrap();
        }
    });
    corio::run(move || {
        for i in 0..n {
            ping_tx.send(i).unwrap();
            assert_eq!(pong_rx.recv().unwrap(), i);
        }
    });
    echo.join().unwrap();
}

/// A may coroutine pings a plain thread; `n` round trips.
fn may_pingpong_thread(n: u64) {
    use may::sync::mpsc::channel;
    let (ping_tx, ping_rx) = channel::<u64>();
    let (pong_tx, pong_rx) = channel::<u64>();
    let echo = thread::spawn(move || {
        for v in ping_rx.iter() {
            pong_tx.send(v).unwrap();
        }
    });
    may_go(move || {
        for i in 0..n {
            ping_tx.send(i).unwrap();
            assert_eq!(pong_rx.recv().unwrap(), i);
        }
    })
    .join()
    .unwrap();
    echo.join().unwrap();
}

/// Two plain threads with std's channels; `n` round trips.
fn std_pingpong_threads(n: u64) {
    use std::sync::mpsc::channel;
    let (ping_tx, ping_rx) = channel::<u64>();
    let (pong_tx, pong_rx) = channel::<u64>();
    let echo = thread::spawn(move || {
        for v in ping_rx.iter() {
            pong_tx.send(v).unwrap();
        }
    });
    for i in 0..n {
        ping_tx.send(i).unwrap();
        assert_eq!(pong_rx.recv().unwrap(), i);
    }
    drop(ping_tx);
    echo.join().unwrap();
}
