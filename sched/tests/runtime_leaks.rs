//! Shutdown leaks no threads and no fds. Runs without the test harness so
//! that no other test's threads or fds are counted.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Guards dropped so far, by the coroutines left parked on the workers.
static DROPPED: AtomicUsize = AtomicUsize::new(0);

/// Counts its drop: held by a coroutine that shutdown unwinds.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

/// Entries of `dir` (the thread list) once they are back to `want`, or
/// after 5 s whatever they are. A joined thread can still be listed in /proc/self/task for a
/// moment: `pthread_join` returns when the kernel clears the thread's tid,
/// which it does before it drops the thread's memory map and unhashes the
/// task (so not even the `VmRSS` line of its status tells it apart at once).
/// What this catches is a thread still running 5 s after shutdown, i.e. a
/// worker that was never stopped; one stopped but not joined is caught by
/// the guards instead (its teardown still runs when `block_on` returns).
fn settled_count(dir: &str, want: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n = count(dir);
        if n == want || Instant::now() >= deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn main() {
    let threads_before = count("/proc/self/task");
    let fds_before = count("/proc/self/fd");
    for round in 1..=3 {
        let rt = corio_sched::Runtime::builder().threads(4).build().unwrap();
        let workers = rt.handles();
        let sum = rt.block_on(move || {
            let hs: Vec<_> = workers
                .iter()
                .map(|w| {
                    w.spawn(|| {
                        corio_sched::sleep(Duration::from_millis(5));
                        1
                    })
                })
                .collect();
            // Leave some coroutines parked on the workers: they are unwound.
            for w in &workers {
                let guard = Guard;
                drop(w.spawn(move || {
                    let _guard = guard;
                    corio_sched::sleep(Duration::from_secs(3600))
                }));
            }
            hs.into_iter().map(|h| h.join().unwrap()).sum::<i32>()
        });
        assert_eq!(sum, 3);
        // Shutdown joined the workers: their parked coroutines were unwound
        // (or, never started, dropped) before `block_on` returned.
        assert_eq!(
            DROPPED.load(Ordering::SeqCst),
            3 * round,
            "block_on returned before every worker had torn down"
        );
    }
    let threads_after = settled_count("/proc/self/task", threads_before);
    let fds_after = count("/proc/self/fd");
    assert_eq!(threads_after, threads_before, "threads leaked");
    assert_eq!(fds_after, fds_before, "fds leaked");
    println!(
        "runtime_leaks: threads {threads_before} -> {threads_after}, fds {fds_before} -> {fds_after}"
    );
    println!("test result: ok. 1 passed; 0 failed; 0 ignored");
}
