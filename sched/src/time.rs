//! Yielding, sleeping, identity and deadline scopes of the running
//! coroutine.

use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::scheduler::{SCHED, Scheduler};
use crate::task::{Task, WaitKind};

/// Lets the other ready coroutines of this thread run, then continues (FIFO:
/// the caller goes to the back of the run queue). Outside a coroutine it
/// yields the OS thread.
#[inline(always)]
pub fn yield_now() {
    // No closure here: the context switch must be inlined into the caller
    // (see `Scheduler::yield_current`).
    // SAFETY: the scheduler outlives this call (`CurrentScheduler::get`).
    match unsafe { SCHED.get().as_ref() } {
        Some(s) if s.current().is_some() => s.yield_current(),
        _ => std::thread::yield_now(),
    }
}

/// Parks the coroutine for at least `dur`; other coroutines run meanwhile.
///
/// Ends early if the coroutine is cancelled or its deadline scope passes
/// (use [`try_sleep`] to learn which). `Duration::ZERO` just yields. Outside
/// a coroutine it is `std::thread::sleep`.
pub fn sleep(dur: Duration) {
    let _ = try_sleep(dur);
}

/// Like [`sleep`], but reports an early end: `Interrupted` when cancelled,
/// `TimedOut` when the enclosing deadline scope passed first.
pub fn try_sleep(dur: Duration) -> io::Result<()> {
    match Instant::now().checked_add(dur) {
        Some(deadline) if !dur.is_zero() => try_sleep_until(Some(deadline)),
        Some(_) => {
            yield_now();
            Ok(())
        }
        // Too far to represent: sleep until woken by cancel or a scope.
        None => try_sleep_until(None),
    }
}

/// Parks the coroutine until `deadline`; see [`sleep`].
pub fn sleep_until(deadline: Instant) {
    let _ = try_sleep_until(Some(deadline));
}

fn try_sleep_until(deadline: Option<Instant>) -> io::Result<()> {
    Scheduler::with(|s| match s {
        Some(s) if s.current().is_some() => {
            match s.park(deadline, WaitKind::Sleep, |_, _| Ok(true)) {
                Ok(()) | Err(crate::scheduler::ParkError::TimedOut) => Ok(()),
                Err(e) => Err(io::Error::from(e)),
            }
        }
        _ => {
            match deadline {
                Some(d) => std::thread::sleep(d.saturating_duration_since(Instant::now())),
                None => loop {
                    std::thread::park();
                },
            }
            Ok(())
        }
    })
}

/// Identity of a running coroutine, from [`current`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoroutineInfo {
    id: u64,
    name: Option<Arc<str>>,
}

impl CoroutineInfo {
    /// The process-unique id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The name given at spawn, if any (the main coroutine is `"main"`).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

/// The coroutine running on this thread's scheduler, or `None` outside any.
pub fn current() -> Option<CoroutineInfo> {
    Scheduler::with(|s| {
        let task = s?.current()?;
        Some(CoroutineInfo {
            id: task.id,
            name: task.name.clone(),
        })
    })
}

/// Restores a task's previous deadline scope when a scope ends (also on
/// panic).
struct ScopeGuard {
    task: Rc<Task>,
    prev: Option<Instant>,
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        self.task.scope_deadline.set(self.prev);
    }
}

/// Runs `f` with a deadline: every blocking call inside it (`wait_fd`,
/// `sleep`, `join`, sync primitives, hooked libc calls, also inside
/// unmodified library code) gives up at `deadline` with
/// `ErrorKind::TimedOut` (hooked calls: `EAGAIN`/`ETIMEDOUT` as libc would).
/// Scopes nest; the earliest deadline wins. Outside a coroutine `f` simply
/// runs.
pub fn with_deadline<R>(deadline: Instant, f: impl FnOnce() -> R) -> R {
    let task = Scheduler::with(|s| s.and_then(|s| s.current_rc()));
    let Some(task) = task else {
        return f();
    };
    let prev = task.scope_deadline.get();
    let effective = match prev {
        Some(p) if p < deadline => p,
        _ => deadline,
    };
    task.scope_deadline.set(Some(effective));
    let _guard = ScopeGuard { task, prev };
    f()
}

/// [`with_deadline`] `timeout` from now (no deadline if it overflows).
pub fn with_timeout<R>(timeout: Duration, f: impl FnOnce() -> R) -> R {
    match Instant::now().checked_add(timeout) {
        Some(deadline) => with_deadline(deadline, f),
        None => f(),
    }
}

/// The deadline of the innermost scope around the running coroutine.
pub fn current_deadline() -> Option<Instant> {
    Scheduler::with(|s| s?.current()?.scope_deadline.get())
}
