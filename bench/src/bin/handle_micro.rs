//! Cross-thread spawn + join (issue 4): a plain thread starts an empty
//! coroutine on a scheduler thread and waits for it, in corio
//! (`Handle::spawn` onto a `Runtime` worker, `RemoteJoinHandle::join`) and
//! in may (`may::coroutine::spawn` onto its worker, `JoinHandle::join`).
//! Both cross threads twice per operation (start, then the join wakeup).
//!
//! Run: `cargo run --release -p corio-bench --bin handle_micro`
//! (prints a markdown table for BENCHMARKS.md).

use corio_bench::{Bench, fmt_speedup, run};

const REPEATS: usize = 9;
const SPAWNS: u64 = 20_000;

fn main() {
    may::config().set_workers(1);
    let rt = corio::Runtime::builder()
        .threads(2)
        .build()
        .expect("runtime");
    let worker = rt.handles().remove(0);
    eprintln!("cross-thread spawn + join ({REPEATS} repeats, medians):");
    let samples = run(
        REPEATS,
        &mut [
            Bench::new("Handle::spawn + join: corio", SPAWNS, |n| {
                for i in 0..n {
                    let h = worker.spawn(move || std::hint::black_box(i));
                    assert_eq!(h.join().unwrap(), i);
                }
            }),
            Bench::new("spawn + join: may, 1 worker", SPAWNS, |n| {
                for i in 0..n {
                    // SAFETY: may's spawn is unsafe because its coroutines
                    // may move between threads and must not use TLS; this
                    // closure touches neither.
                    let h = unsafe { may::coroutine::spawn(move || std::hint::black_box(i)) };
                    assert_eq!(h.join().unwrap(), i);
                }
            }),
        ],
    );
    drop(rt);
    let (corio, may) = (&samples[0], &samples[1]);
    println!("| benchmark | corio | may 0.3 (1 worker) | ratio |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| cross-thread spawn + join from a plain thread | {} | {} | corio is {} |",
        corio.summary(),
        may.summary(),
        fmt_speedup(may.median / corio.median),
    );
    println!();
    println!(
        "Medians of {REPEATS} timed runs (min–max in brackets) of {SPAWNS} spawn + join pairs \
         each, after one warm-up run. corio: a 2-thread `Runtime`, spawned onto its worker; \
         may: 1 worker. The spread is wide: when both threads stay hot (corio's idle worker and \
         the joining thread spin briefly for each other) a pair takes ~1 µs; when either \
         sleeps, each crossing pays a wakeup of tens of µs."
    );
    println!("Machine: {}.", corio_bench::machine());
}
