//! A tour of the coroutine core and the scheduler, no network needed:
//! a generator, a caught panic, stack reuse, and 10,000 concurrent sleeps.
//!
//! Run: `cargo run --release --example coroutines`

use std::time::{Duration, Instant};

use corio::coro::{Coroutine, CoroutineResult, stack};

fn main() {
    // 1. A generator: suspend from inside a loop, values flow out.
    let mut squares = Coroutine::new(|y, limit: u32| {
        for i in 1..=limit {
            y.suspend(i * i);
        }
        "done"
    })
    .expect("coroutine");
    let mut out = Vec::new();
    let mut next = squares.resume(5);
    while let CoroutineResult::Yield(v) = next {
        out.push(v);
        next = squares.resume(0);
    }
    println!(
        "generator yielded {out:?}, then returned {:?}",
        next.as_return().map(|r| r.ok())
    );

    // 2. A panic inside a coroutine is caught at its boundary.
    let mut bad =
        Coroutine::<(), (), ()>::new(|_, ()| panic!("oops (this panic is expected)")).unwrap();
    match bad.resume(()) {
        CoroutineResult::Return(Err(payload)) => {
            println!("caught panic: {:?}", payload.downcast_ref::<&str>())
        }
        _ => unreachable!(),
    }

    // 3. Stacks are pooled: the second coroutine reuses the first one's stack.
    let before = stack::pool_stats();
    for _ in 0..1000 {
        let mut c = Coroutine::<(), (), ()>::new(|_, ()| {}).unwrap();
        let _ = c.resume(());
    }
    let after = stack::pool_stats();
    println!(
        "1000 coroutines: {} stacks mapped, {} reused from the pool",
        after.mapped - before.mapped,
        after.reused - before.reused
    );

    // 4. The scheduler: 10,000 coroutines sleep 100 ms each, on one thread.
    let start = Instant::now();
    let n = corio::run(|| {
        let hs: Vec<_> = (0..10_000)
            .map(|_| corio::spawn(|| corio::sleep(Duration::from_millis(100))))
            .collect();
        let n = hs.len();
        hs.into_iter().for_each(|h| h.join().unwrap());
        n
    });
    println!(
        "{n} coroutines slept 100 ms each in {:?} on one thread",
        start.elapsed()
    );
}
