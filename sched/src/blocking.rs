//! The blocking pool: runs closures that would block the thread (regular
//! file I/O, DNS, CPU-heavy or foreign blocking calls) on a shared pool of
//! OS threads while the calling coroutine parks.
//!
//! The pool grows on demand up to [`max_threads`] and idle threads exit
//! after [`IDLE_TIMEOUT`]. Jobs queue FIFO when every thread is busy.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use crate::park::{self, Waker};
use crate::scheduler::{POOL_THREADS, Scheduler};

/// How long an idle pool thread waits for work before it exits.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Default cap on pool threads.
pub const DEFAULT_MAX_THREADS: usize = 512;

static MAX_THREADS: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_THREADS);

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    state: Mutex<PoolState>,
    /// Signalled when a job is queued.
    work: Condvar,
}

struct PoolState {
    queue: VecDeque<Job>,
    /// Threads alive (busy + idle).
    threads: usize,
    /// Threads waiting for work.
    idle: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(PoolState {
            queue: VecDeque::new(),
            threads: 0,
            idle: 0,
        }),
        work: Condvar::new(),
    })
}

/// Sets the cap on blocking-pool threads (at least 1). Threads above a
/// lowered cap exit once idle.
pub fn set_max_threads(n: usize) {
    MAX_THREADS.store(n.max(1), Ordering::Relaxed);
}

/// The cap on blocking-pool threads.
pub fn max_threads() -> usize {
    MAX_THREADS.load(Ordering::Relaxed)
}

/// Threads the pool has right now (busy + idle).
pub fn pool_threads() -> usize {
    pool()
        .state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .threads
}

fn submit(job: Job) {
    let pool = pool();
    let mut st = pool.state.lock().unwrap_or_else(|e| e.into_inner());
    st.queue.push_back(job);
    if st.idle > 0 {
        pool.work.notify_one();
        return;
    }
    if st.threads >= max_threads() {
        return; // queued; a busy thread takes it when done
    }
    st.threads += 1;
    POOL_THREADS.fetch_add(1, Ordering::AcqRel);
    drop(st);
    let spawned = std::thread::Builder::new()
        .name("corio-blocking".into())
        .spawn(worker);
    if let Err(e) = spawned {
        let mut st = pool.state.lock().unwrap_or_else(|e| e.into_inner());
        st.threads -= 1;
        POOL_THREADS.fetch_sub(1, Ordering::AcqRel);
        if st.threads == 0 {
            // No thread will ever run the queue: run it here rather than
            // leave callers parked forever.
            let jobs: Vec<Job> = st.queue.drain(..).collect();
            drop(st);
            eprintln!("corio: cannot start a blocking-pool thread ({e}); running the job inline");
            jobs.into_iter().for_each(|job| job());
        }
    }
}

fn worker() {
    let pool = pool();
    let mut st = pool.state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(job) = st.queue.pop_front() {
            drop(st);
            job();
            st = pool.state.lock().unwrap_or_else(|e| e.into_inner());
            continue;
        }
        if st.threads > max_threads() {
            break;
        }
        st.idle += 1;
        let (guard, timeout) = pool
            .work
            .wait_timeout(st, IDLE_TIMEOUT)
            .unwrap_or_else(|e| e.into_inner());
        st = guard;
        st.idle -= 1;
        if timeout.timed_out() && st.queue.is_empty() {
            break;
        }
    }
    st.threads -= 1;
    POOL_THREADS.fetch_sub(1, Ordering::AcqRel);
}

/// Result slot shared between a job and the coroutine waiting for it.
struct Slot<T> {
    result: Option<std::thread::Result<T>>,
    waker: Option<Waker>,
}

/// Runs `f` on the blocking pool while the calling coroutine parks (other
/// coroutines keep running), and returns its result. A panic in `f` is
/// propagated to the caller.
///
/// The wait is not cut short by cancellation or a deadline scope (the job
/// cannot be stopped, and its result is owed to the caller); a cancel that
/// arrives meanwhile is delivered to the coroutine's next blocking call.
/// Outside a coroutine, `f` simply runs on the calling thread.
///
/// ```
/// let len = corio_sched::run(|| {
///     corio_sched::unblock(|| std::fs::read("/proc/self/stat").map(|b| b.len()))
/// });
/// assert!(len.unwrap() > 0);
/// ```
pub fn unblock<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let task = Scheduler::with(|s| s.and_then(|s| s.current_rc().map(|t| (t, s.remote.clone()))));
    let Some((task, remote)) = task else {
        return f();
    };
    let slot = Arc::new(Mutex::new(Slot {
        result: None,
        waker: None,
    }));
    let job_slot = slot.clone();
    remote.pending.fetch_add(1, Ordering::AcqRel);
    let job_remote = remote.clone();
    submit(Box::new(move || {
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        let waker = {
            let mut s = job_slot.lock().unwrap_or_else(|e| e.into_inner());
            s.result = Some(result);
            s.waker.take()
        };
        job_remote.pending.fetch_sub(1, Ordering::AcqRel);
        if let Some(w) = waker {
            w.wake();
        }
    }));
    // Wait without the deadline scope; remember a cancel for later.
    let scope = task.scope_deadline.take();
    let mut cancelled = false;
    let result = loop {
        if let Some(r) = slot.lock().unwrap_or_else(|e| e.into_inner()).result.take() {
            break r;
        }
        let parked = park::park("unblock", None, |w| {
            let mut s = slot.lock().unwrap_or_else(|e| e.into_inner());
            if s.result.is_some() {
                return false;
            }
            s.waker = Some(w);
            true
        });
        if let Err(e) = parked {
            if e.kind() == std::io::ErrorKind::Interrupted {
                cancelled = true;
            }
        }
    };
    task.scope_deadline.set(scope);
    if cancelled {
        task.cancel_pending.set(true);
    }
    match result {
        Ok(v) => v,
        Err(payload) => panic::resume_unwind(payload),
    }
}
