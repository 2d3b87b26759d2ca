//! Micro-benchmarks of the coroutine core (issue 2), against raw corosensei:
//!
//! - resume + suspend round trip through `corio::coro::Coroutine` vs a raw
//!   `corosensei::Coroutine` on a `DefaultStack` (target: within 1.3x);
//! - create + run to completion + drop of a coroutine on a pooled stack vs a
//!   corosensei coroutine on a `DefaultStack::new` each time (target: at
//!   least 100x cheaper).
//!
//! Run: `cargo run --release -p corio-bench --bin coro_micro`. Progress goes
//! to stderr, the markdown report to stdout.

use std::hint::black_box;

use corio::coro::{Coroutine, CoroutineResult, Yielder, stack};
use corio_bench::{Bench, Sample, fmt_ratio, machine, markdown_table, run};
use corosensei::stack::DefaultStack;

/// Timed repeats per benchmark; the median is reported.
const REPEATS: usize = 15;
/// Round trips per timed run.
const ROUND_TRIPS: u64 = 10_000_000;
/// Spawns per timed run on a pooled stack.
const POOLED_SPAWNS: u64 = 1_000_000;
/// Spawns per timed run that map a fresh stack (far slower).
const FRESH_SPAWNS: u64 = 5_000;
/// Stack size for every coroutine here: corio's default.
const STACK: usize = stack::DEFAULT_STACK_SIZE;

fn main() {
    eprintln!("round trips ({REPEATS} repeats, medians):");
    let round_trip = bench_round_trip();
    eprintln!("create + run + drop ({REPEATS} repeats, medians):");
    let spawn = bench_spawn();

    let rt_ratio = round_trip[0].median / round_trip[1].median;
    let spawn_speedup = spawn[1].median / spawn[0].median;
    let unpooled_ratio = spawn[2].median / spawn[0].median;

    let rows = vec![
        vec![
            "resume + suspend round trip".into(),
            format!("corio `Coroutine`: {}", round_trip[0].summary()),
            format!("corosensei, `DefaultStack`: {}", round_trip[1].summary()),
            format!("corio takes {} the time", fmt_ratio(rt_ratio)),
            verdict(rt_ratio <= 1.3, "≤ 1.3x"),
        ],
        vec![
            "create + run + drop".into(),
            format!("corio, pooled stack: {}", spawn[0].summary()),
            format!(
                "corosensei, `DefaultStack::new` each time: {}",
                spawn[1].summary()
            ),
            format!("corio is {} cheaper", fmt_ratio(spawn_speedup)),
            verdict(spawn_speedup >= 100.0, "≥ 100x"),
        ],
        vec![
            "create + run + drop, pool off".into(),
            format!("corio, pool capacity 0: {}", spawn[2].summary()),
            "(context: what the pool saves)".into(),
            format!("{} the pooled time", fmt_ratio(unpooled_ratio)),
            "–".into(),
        ],
    ];
    println!(
        "{}",
        markdown_table(
            &["benchmark", "corio", "baseline", "ratio", "target"],
            &rows
        )
    );
    println!(
        "Medians of {REPEATS} timed runs (min–max in brackets) of {ROUND_TRIPS} round trips, \
         {POOLED_SPAWNS} pooled spawns or {FRESH_SPAWNS} fresh-stack spawns each, after one \
         warm-up run; {} KiB stacks; ns per operation.",
        STACK / 1024
    );
    println!("Machine: {}.", machine());
}

fn verdict(met: bool, target: &str) -> String {
    format!("{target}: {}", if met { "met" } else { "**missed**" })
}

/// Resume + suspend round trips: the coroutine adds one to what it is given
/// and suspends with it.
fn bench_round_trip() -> Vec<Sample> {
    let mut corio = Coroutine::<u64, u64, ()>::new(|y: &Yielder<u64, u64>, mut x| {
        loop {
            x = y.suspend(x.wrapping_add(1));
        }
    })
    .expect("corio coroutine");
    let mut raw = corosensei::Coroutine::<u64, u64, (), DefaultStack>::with_stack(
        DefaultStack::new(STACK).expect("corosensei stack"),
        |y: &corosensei::Yielder<u64, u64>, mut x| loop {
            x = y.suspend(x.wrapping_add(1));
        },
    );
    run(
        REPEATS,
        &mut [
            Bench::new("round trip: corio Coroutine", ROUND_TRIPS, |n| {
                for i in 0..n {
                    match corio.resume(black_box(i)) {
                        CoroutineResult::Yield(v) => {
                            black_box(v);
                        }
                        CoroutineResult::Return(_) => unreachable!(),
                    }
                }
            }),
            Bench::new("round trip: raw corosensei", ROUND_TRIPS, |n| {
                for i in 0..n {
                    match raw.resume(black_box(i)) {
                        CoroutineResult::Yield(v) => {
                            black_box(v);
                        }
                        CoroutineResult::Return(()) => unreachable!(),
                    }
                }
            }),
        ],
    )
}

/// Create a coroutine, run it to completion (it returns its input plus
/// one), drop it.
fn bench_spawn() -> Vec<Sample> {
    fn corio_spawns(n: u64) {
        for i in 0..n {
            let mut co =
                Coroutine::<u64, (), u64>::new(|_, x| x.wrapping_add(1)).expect("corio coroutine");
            match co.resume(black_box(i)) {
                CoroutineResult::Return(Ok(v)) => {
                    black_box(v);
                }
                _ => unreachable!(),
            }
            drop(black_box(co));
        }
    }

    let mut benches = [
        Bench::new("spawn: corio, pooled stack", POOLED_SPAWNS, corio_spawns),
        Bench::new("spawn: corosensei, DefaultStack::new", FRESH_SPAWNS, |n| {
            for i in 0..n {
                let stack = DefaultStack::new(STACK).expect("corosensei stack");
                let mut co = corosensei::Coroutine::<u64, (), u64, _>::with_stack(
                    stack,
                    |_: &corosensei::Yielder<u64, ()>, x: u64| x.wrapping_add(1),
                );
                match co.resume(black_box(i)) {
                    CoroutineResult::Return(v) => {
                        black_box(v);
                    }
                    CoroutineResult::Yield(()) => unreachable!(),
                }
                drop(black_box(co));
            }
        }),
        Bench::new("spawn: corio, pool capacity 0", FRESH_SPAWNS, |n| {
            let keep = stack::pool_capacity();
            stack::set_pool_capacity(0);
            corio_spawns(n);
            stack::set_pool_capacity(keep);
        }),
    ];
    let samples = run(REPEATS, &mut benches);
    drop(benches);
    let stats = stack::pool_stats();
    eprintln!(
        "  pool: {} mapped, {} unmapped, {} reused",
        stats.mapped, stats.unmapped, stats.reused
    );
    samples
}
