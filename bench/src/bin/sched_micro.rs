//! Micro-benchmarks of the scheduler (issue 3), against may in the same run:
//!
//! - `yield_now` ping-pong between two coroutines, ns per switch (target:
//!   <= 15 ns);
//! - spawn + join of an empty coroutine on a pooled stack (target:
//!   <= 100 ns).
//!
//! may runs with one worker thread (`may::config().set_workers(1)`), so both
//! sides schedule on one thread; may's own spawns and joins happen inside a
//! may coroutine, as corio's happen inside the main coroutine, so neither
//! side pays a cross-thread wakeup per operation.
//!
//! Run: `cargo run --release -p corio-bench --bin sched_micro`. Progress goes
//! to stderr, the markdown report to stdout.

use corio_bench::{Bench, Sample, fmt_ratio, machine, markdown_table, run};

/// Timed repeats per benchmark; the median is reported.
const REPEATS: usize = 15;
/// `yield_now` calls per coroutine per timed run (two coroutines).
const YIELDS: u64 = 2_500_000;
/// Spawn + join pairs per timed run.
const SPAWNS: u64 = 500_000;

fn main() {
    // `sched_micro <op> [count]` runs one corio operation untimed, for a
    // profiler: `pingpong` (switches) or `spawn` (spawn + join pairs).
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(op) = args.first() {
        let n = args
            .get(1)
            .map_or(20_000_000, |c| c.parse().expect("count"));
        match op.as_str() {
            "pingpong" => corio_pingpong(n / 2),
            "spawn" => corio_spawn_join(n),
            other => panic!("unknown operation {other:?} (pingpong, spawn)"),
        }
        return;
    }
    may::config().set_workers(1);

    eprintln!("yield_now ping-pong ({REPEATS} repeats, medians):");
    let pingpong = run(
        REPEATS,
        &mut [
            // Two coroutines yield `n` times each: 2n switches per run.
            Bench::new("ping-pong: corio", 2 * YIELDS, |switches| {
                corio_pingpong(switches / 2)
            }),
            Bench::new("ping-pong: may, 1 worker", 2 * YIELDS, |switches| {
                may_pingpong(switches / 2)
            }),
        ],
    );
    eprintln!("spawn + join of an empty coroutine ({REPEATS} repeats, medians):");
    let spawn = run(
        REPEATS,
        &mut [
            Bench::new("spawn + join: corio", SPAWNS, corio_spawn_join),
            Bench::new("spawn + join: may, 1 worker", SPAWNS, may_spawn_join),
        ],
    );

    let row = |what: &str, s: &[Sample], target_ns: f64| {
        let (corio, may) = (&s[0], &s[1]);
        vec![
            what.to_string(),
            corio.summary(),
            may.summary(),
            format!("corio is {} faster", fmt_ratio(may.median / corio.median)),
            format!(
                "≤ {target_ns} ns: {}",
                if corio.median <= target_ns {
                    "met"
                } else {
                    "**missed**"
                }
            ),
        ]
    };
    let rows = vec![
        row("`yield_now` ping-pong, per switch", &pingpong, 15.0),
        row("spawn + join of an empty coroutine", &spawn, 100.0),
    ];
    println!(
        "{}",
        markdown_table(
            &[
                "benchmark",
                "corio",
                "may 0.3 (1 worker)",
                "ratio",
                "target"
            ],
            &rows
        )
    );
    println!(
        "Medians of {REPEATS} timed runs (min–max in brackets), after one warm-up run: \
         {} switches or {SPAWNS} spawn+join pairs per run; ns per operation. corio: \
         {} KiB pooled stacks; may: its defaults (coroutine pool, {} KiB stacks).",
        2 * YIELDS,
        corio::coro::stack::DEFAULT_STACK_SIZE / 1024,
        may::config().get_stack_size() * std::mem::size_of::<usize>() / 1024,
    );
    println!("Machine: {}.", machine());
}

/// Two corio coroutines call `yield_now` `n` times each; the main coroutine
/// waits in `join`, so the run queue holds just the two.
fn corio_pingpong(n: u64) {
    corio::run(move || {
        let a = corio::spawn(move || {
            for _ in 0..n {
                corio::yield_now();
            }
        });
        let b = corio::spawn(move || {
            for _ in 0..n {
                corio::yield_now();
            }
        });
        a.join().unwrap();
        b.join().unwrap();
    });
}

/// Spawns `f` on may's scheduler.
fn may_go<F, T>(f: F) -> may::coroutine::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // SAFETY: may's spawn is unsafe because a coroutine may move between
    // worker threads (thread-locals) and has a fixed-size stack; these
    // closures touch no thread-locals of their own and use a few bytes of
    // stack, and there is one worker.
    unsafe { may::coroutine::spawn(f) }
}

/// The same ping-pong in may.
fn may_pingpong(n: u64) {
    let a = may_go(move || {
        for _ in 0..n {
            may::coroutine::yield_now();
        }
    });
    let b = may_go(move || {
        for _ in 0..n {
            may::coroutine::yield_now();
        }
    });
    a.join().unwrap();
    b.join().unwrap();
}

/// `n` times: spawn an empty coroutine and join it, from the main coroutine.
fn corio_spawn_join(n: u64) {
    corio::run(move || {
        for _ in 0..n {
            let h = corio::spawn(|| {});
            h.join().unwrap();
        }
    });
}

/// The same in may, from inside a may coroutine.
fn may_spawn_join(n: u64) {
    may_go(move || {
        for _ in 0..n {
            let h = may_go(|| {});
            h.join().unwrap();
        }
    })
    .join()
    .unwrap();
}
