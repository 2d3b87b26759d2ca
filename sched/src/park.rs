//! Parking and waking, for synchronisation primitives: the same call parks a
//! coroutine (the thread keeps running others) or, outside coroutines,
//! blocks the OS thread.
//!
//! A primitive calls [`park`] with a closure that stores the given [`Waker`]
//! in its wait queue (under the primitive's own lock) and says whether to
//! park at all. Whoever later makes progress possible calls
//! [`Waker::wake`]. A waker is `Send`: it can wake a coroutine of another
//! scheduler thread (through that thread's eventfd) or a plain thread.

use std::cell::Cell;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::remote::{Msg, Remote, spin_limit, spin_until};
use crate::scheduler::{ParkError, Scheduler};
use crate::task::{WaitKind, Wake};

/// Wakes one parked coroutine or thread. Waking a waker whose park already
/// ended (timed out, cancelled, woken) does nothing.
#[derive(Clone)]
pub struct Waker {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    /// A coroutine, named by its scheduler, task-table key, id and park
    /// sequence number.
    Task {
        remote: Arc<Remote>,
        key: usize,
        id: u64,
        seq: u32,
    },
    /// A plain thread blocked in [`park`].
    Thread(Arc<ThreadParker>),
}

struct ThreadParker {
    thread: std::thread::Thread,
    notified: AtomicBool,
}

impl Waker {
    /// Wakes the parked coroutine or thread.
    pub fn wake(self) {
        self.wake_by_ref();
    }

    /// Wakes without consuming the waker.
    pub fn wake_by_ref(&self) {
        match &self.inner {
            Inner::Task {
                remote,
                key,
                id,
                seq,
            } => {
                let local = Scheduler::with(|s| match s {
                    Some(s) if Arc::ptr_eq(&s.remote, remote) => {
                        s.wake_key(*key, *id, *seq, Wake::Notified);
                        true
                    }
                    _ => false,
                });
                if !local {
                    remote.send(Msg::Wake {
                        key: *key,
                        id: *id,
                        seq: *seq,
                    });
                }
            }
            Inner::Thread(p) => {
                p.notified.store(true, Ordering::Release);
                p.thread.unpark();
            }
        }
    }

    /// Whether both wakers wake the same park of the same coroutine/thread.
    pub fn will_wake(&self, other: &Waker) -> bool {
        match (&self.inner, &other.inner) {
            (
                Inner::Task {
                    remote: r1,
                    key: k1,
                    id: i1,
                    seq: s1,
                },
                Inner::Task {
                    remote: r2,
                    key: k2,
                    id: i2,
                    seq: s2,
                },
            ) => Arc::ptr_eq(r1, r2) && k1 == k2 && i1 == i2 && s1 == s2,
            (Inner::Thread(a), Inner::Thread(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Inner::Task { id, seq, .. } => write!(f, "Waker(coroutine #{id}, park {seq})"),
            Inner::Thread(p) => write!(f, "Waker(thread {:?})", p.thread.id()),
        }
    }
}

/// Parks the caller until its waker is woken, `deadline` passes, or (for a
/// coroutine) it is cancelled.
///
/// `register` receives the waker and stores it where the waking side will
/// find it; it returns `false` to skip parking (the awaited condition already
/// holds). `what` names the primitive in `dump()`.
///
/// Wakeups may be spurious for threads and for coroutines woken by a waker
/// clone: callers re-check their condition in a loop, and on an error must
/// remove their waker from the queue or pass a consumed wakeup on.
///
/// # Errors
/// `TimedOut` when the deadline (or the coroutine's deadline scope) passes,
/// `Interrupted` when the coroutine is cancelled.
pub fn park(
    what: &'static str,
    deadline: Option<Instant>,
    register: impl FnOnce(Waker) -> bool,
) -> io::Result<()> {
    let mut register = Some(register);
    let coroutine = Scheduler::with(|s| match s {
        Some(s) if s.current().is_some() => {
            let register = register.take().expect("register used once");
            Some(s.park(deadline, WaitKind::Sync(what), |task, seq| {
                Ok(register(Waker {
                    inner: Inner::Task {
                        remote: s.remote.clone(),
                        key: task.key.get(),
                        id: task.id,
                        seq,
                    },
                }))
            }))
        }
        _ => None,
    });
    match coroutine {
        Some(result) => result.map_err(io::Error::from),
        None => park_thread(deadline, register.take().expect("register used once")),
    }
}

thread_local! {
    /// When a [`park`] of this (plain) thread last ended by a wakeup.
    static LAST_WOKEN: Cell<Option<Instant>> = const { Cell::new(None) };
}

fn park_thread(deadline: Option<Instant>, register: impl FnOnce(Waker) -> bool) -> io::Result<()> {
    let parker = Arc::new(ThreadParker {
        thread: std::thread::current(),
        notified: AtomicBool::new(false),
    });
    if !register(Waker {
        inner: Inner::Thread(parker.clone()),
    }) {
        return Ok(());
    }
    // Like an idle scheduler: a thread that was woken recently is likely
    // talking to another thread that answers fast, so spin a little before
    // paying for a sleep and a wakeup.
    let wait = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    if let Some(limit) = spin_limit(LAST_WOKEN.with(Cell::get), wait) {
        spin_until(limit, || parker.notified.load(Ordering::Acquire));
    }
    loop {
        if parker.notified.load(Ordering::Acquire) {
            LAST_WOKEN.with(|w| w.set(Some(Instant::now())));
            return Ok(());
        }
        match deadline {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return Err(ParkError::TimedOut.into());
                }
                std::thread::park_timeout(d - now);
            }
            None => std::thread::park(),
        }
    }
}

/// Whether the caller runs inside a coroutine (so [`park`] parks a
/// coroutine rather than the thread).
#[inline]
pub fn in_coroutine() -> bool {
    Scheduler::with(|s| s.is_some_and(|s| s.current().is_some()))
}

/// Runs `f`, which may park the calling coroutine, marked as a region whose
/// frames cannot unwind (for example an `extern "C"` function that std or C
/// code called: corio's libc hooks wrap their waits in it).
///
/// A coroutine is normally unwound (destructors run) when its scheduler
/// shuts down while it is parked; unwinding through a frame that cannot
/// unwind would abort the process. A coroutine parked inside `f` at that
/// moment is instead resumed with its blocking call failing (`ECANCELED`),
/// and every later blocking call failing the same way, for a bounded number
/// of resumes: if it returns, its destructors have run; if it is still
/// inside such a region after that, it is leaked (its stack and the values
/// on it are never freed). Cancellation is unaffected (the blocking call
/// inside `f` returns `Interrupted`). Outside a coroutine `f` simply runs.
pub fn no_unwind<R>(f: impl FnOnce() -> R) -> R {
    fn adjust(up: bool) {
        Scheduler::with(|s| {
            if let Some(task) = s.and_then(|s| s.current()) {
                let depth = task.no_unwind.get();
                task.no_unwind.set(if up {
                    depth + 1
                } else {
                    depth.saturating_sub(1)
                });
            }
        });
    }
    struct Exit;
    impl Drop for Exit {
        fn drop(&mut self) {
            adjust(false);
        }
    }
    adjust(true);
    let _exit = Exit;
    f()
}
