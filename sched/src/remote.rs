//! Cross-thread entry into a scheduler: an inbox of messages and the
//! eventfd that wakes the scheduler's `epoll_wait` when the inbox fills.
//!
//! Protocol: a sender pushes under the inbox lock, then sets `notified`; only
//! the sender that flips it from false to true writes the eventfd, so a burst
//! of messages costs one syscall. The scheduler clears `notified` *before*
//! draining, so a message pushed after the drain always writes the eventfd
//! again: no wakeup is lost while the scheduler sleeps.
//!
//! An idle scheduler may spin on `notified` for a short while before it
//! sleeps ([`Remote::spin_until_message`]); meanwhile `spinning` is set and
//! senders skip the eventfd write. Both sides use the store-then-load
//! pattern on the two flags with `SeqCst` (the sender swaps `notified`, then
//! loads `spinning`; the scheduler clears `spinning`, then loads `notified`),
//! so a sender that skipped the write is always seen by the scheduler's
//! final check.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::sys::EventFd;

/// A message for a scheduler thread.
pub(crate) enum Msg {
    /// Wake the task at `key` with id `id`, if it is still in park `seq`.
    Wake { key: usize, id: u64, seq: u32 },
    /// Run a closure on the scheduler thread (outside any coroutine).
    Run(Box<dyn FnOnce() + Send>),
}

/// How long an idle scheduler, or a plain thread parked in a corio
/// primitive, spins for a cross-thread message before it sleeps, while
/// such messages are arriving (see [`SPIN_RECENT`]). Waking a thread that
/// sleeps costs tens of microseconds on an idle CPU (measured ~17 µs per
/// direction on the 2-vCPU dev box), so a ping-pong with another thread
/// that answers within this window never pays it. Go's idle workers spin
/// the same way before parking.
const SPIN: Duration = Duration::from_micros(50);

/// A waiter spins only if its last cross-thread wakeup came this recently:
/// a thread that talks to no other thread (an echo server's worker) never
/// spins, and one that stopped hearing from others stops spinning after
/// this long.
const SPIN_RECENT: Duration = Duration::from_millis(1);

/// How long to spin before sleeping for up to `wait` (`None`: no limit),
/// given when the waiter was last woken from another thread: [`SPIN`]
/// capped at `wait`, or `None` (do not spin) when that wakeup is older
/// than [`SPIN_RECENT`] or there was none.
pub(crate) fn spin_limit(last_woken: Option<Instant>, wait: Option<Duration>) -> Option<Duration> {
    let last = last_woken?;
    if last.elapsed() > SPIN_RECENT {
        return None;
    }
    Some(wait.map_or(SPIN, |w| SPIN.min(w)))
}

/// Busy-waits until `done()` or `limit` passes (the clock is read every 64
/// checks); returns whether `done()` held.
pub(crate) fn spin_until(limit: Duration, done: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            if done() {
                return true;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() >= limit {
            return false;
        }
    }
}

pub(crate) struct Remote {
    /// Messages not yet taken by the scheduler.
    inbox: Mutex<Vec<Msg>>,
    /// True while an eventfd write is pending or the scheduler is draining.
    notified: AtomicBool,
    /// True while the scheduler spins waiting for `notified`.
    spinning: AtomicBool,
    /// Readable while `notified` was set by a sender.
    pub(crate) eventfd: EventFd,
    /// False once the scheduler has shut down; later messages are dropped.
    alive: AtomicBool,
    /// Operations in flight that will send a message when done (blocking
    /// pool jobs, live `Handle`s); while non-zero, an idle scheduler is not
    /// deadlocked.
    pub(crate) pending: AtomicUsize,
}

impl Remote {
    pub(crate) fn new() -> std::io::Result<Remote> {
        Ok(Remote {
            inbox: Mutex::new(Vec::new()),
            notified: AtomicBool::new(false),
            spinning: AtomicBool::new(false),
            eventfd: EventFd::new()?,
            alive: AtomicBool::new(true),
            pending: AtomicUsize::new(0),
        })
    }

    /// Queues `msg` and wakes the scheduler. Returns false (and drops the
    /// message) if the scheduler has shut down.
    pub(crate) fn send(&self, msg: Msg) -> bool {
        {
            let mut inbox = self.inbox.lock().unwrap_or_else(|e| e.into_inner());
            if !self.alive.load(Ordering::Acquire) {
                return false;
            }
            inbox.push(msg);
        }
        if !self.notified.swap(true, Ordering::SeqCst) && !self.spinning.load(Ordering::SeqCst) {
            self.eventfd.notify();
        }
        true
    }

    /// Spins until a message is queued or `limit` passes (scheduler side).
    /// Returns whether one is queued; if so, its sender may have skipped
    /// the eventfd write, so the caller must [`take`](Self::take) the
    /// messages rather than wait for the eventfd.
    pub(crate) fn spin_until_message(&self, limit: Duration) -> bool {
        self.spinning.store(true, Ordering::SeqCst);
        spin_until(limit, || self.notified.load(Ordering::Relaxed));
        self.spinning.store(false, Ordering::SeqCst);
        self.notified.load(Ordering::SeqCst)
    }

    /// Takes every queued message (scheduler side). `drain`: the eventfd
    /// was reported readable and must be reset.
    pub(crate) fn take(&self, out: &mut Vec<Msg>, drain: bool) {
        if drain {
            self.eventfd.drain();
        }
        self.notified.store(false, Ordering::SeqCst);
        let mut inbox = self.inbox.lock().unwrap_or_else(|e| e.into_inner());
        out.append(&mut inbox);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.inbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// Marks the scheduler gone and returns what was still queued.
    pub(crate) fn close(&self) -> Vec<Msg> {
        let mut inbox = self.inbox.lock().unwrap_or_else(|e| e.into_inner());
        self.alive.store(false, Ordering::Release);
        std::mem::take(&mut *inbox)
    }
}
