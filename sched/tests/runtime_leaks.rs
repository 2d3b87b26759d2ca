//! Shutdown leaks no threads and no fds. Runs without the test harness so
//! that no other test's threads or fds are counted.

use std::time::{Duration, Instant};

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

/// Entries of `dir` once they are back to `want`, or after 5 s whatever
/// they are. A joined thread can still be listed in /proc/self/task for a
/// moment: `pthread_join` returns when the kernel clears the thread's tid,
/// which it does before it drops the thread's memory map and unhashes the
/// task (so not even the `VmRSS` line of its status tells it apart at once).
/// What this catches is a thread still running 5 s after shutdown, i.e. a
/// worker that was never stopped; one stopped but not joined that exits
/// within the wait goes unnoticed.
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
    for _ in 0..3 {
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
                drop(w.spawn(|| corio_sched::sleep(Duration::from_secs(3600))));
            }
            hs.into_iter().map(|h| h.join().unwrap()).sum::<i32>()
        });
        assert_eq!(sum, 3);
    }
    let threads_after = settled_count("/proc/self/task", threads_before);
    let fds_after = settled_count("/proc/self/fd", fds_before);
    assert_eq!(threads_after, threads_before, "threads leaked");
    assert_eq!(fds_after, fds_before, "fds leaked");
    println!(
        "runtime_leaks: threads {threads_before} -> {threads_after}, fds {fds_before} -> {fds_after}"
    );
    println!("test result: ok. 1 passed; 0 failed; 0 ignored");
}
