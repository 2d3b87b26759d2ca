//! [`WaitGroup`]: wait until a group of coroutines (or threads) is done,
//! crossbeam-style: every clone is one member; dropping it marks it done.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::spin::SpinLock;
use super::wait::{Outcome, Queue, WaitList, Wakeups, deadline_after, lock, wait};

/// Waits for a set of coroutines or threads to finish, like
/// `crossbeam_utils::sync::WaitGroup` (not Go's `Add`/`Done`: membership
/// is a value, so it cannot be forgotten or done twice).
///
/// Each member holds a clone; dropping a clone marks that member done.
/// [`WaitGroup::wait`] gives up the caller's own membership and parks until
/// every other clone is dropped. Several clones may wait at once.
///
/// ```
/// use std::time::Duration;
/// use corio_sched::sync::WaitGroup;
///
/// corio_sched::run(|| {
///     let wg = WaitGroup::new();
///     for i in 0..100 {
///         let member = wg.clone();
///         corio_sched::spawn(move || {
///             corio_sched::sleep(Duration::from_millis(i % 10));
///             drop(member);
///         });
///     }
///     wg.wait().unwrap(); // all 100 are done
/// });
/// ```
pub struct WaitGroup {
    inner: Arc<SpinLock<State>>,
}

/// Members and waiters.
pub(crate) struct State {
    /// Live `WaitGroup` values.
    count: usize,
    /// Parked `wait` calls, all woken when `count` reaches zero.
    waiters: WaitList<()>,
}

impl WaitGroup {
    /// A group with one member: the returned value.
    pub fn new() -> WaitGroup {
        WaitGroup {
            inner: Arc::new(SpinLock::new(State {
                count: 1,
                waiters: WaitList::new(),
            })),
        }
    }

    /// Drops this member and parks until all other members are dropped.
    ///
    /// # Errors
    /// Inside a coroutine: `Interrupted` when it is cancelled, `TimedOut`
    /// when its deadline scope passes. The caller's membership is given up
    /// either way.
    pub fn wait(self) -> io::Result<()> {
        self.wait_until(None)
    }

    /// [`WaitGroup::wait`], waiting at most `timeout` (then `TimedOut`).
    pub fn wait_timeout(self, timeout: Duration) -> io::Result<()> {
        self.wait_until(deadline_after(timeout))
    }

    fn wait_until(self, deadline: Option<Instant>) -> io::Result<()> {
        let group = Group(self.inner.clone());
        drop(self);
        let s = lock(&group.0);
        if s.count == 0 {
            return Ok(());
        }
        match wait(&group, s, (), false, "WaitGroup", deadline, || {}) {
            Outcome::Chosen(()) => Ok(()),
            Outcome::Aborted((), e) => Err(e),
        }
    }

    /// Members alive right now (including this one).
    pub fn count(&self) -> usize {
        lock(&self.inner).count
    }
}

/// The shared state seen as a wait queue (it has no `WaitGroup` count of
/// its own, so waiting on it does not keep the group alive).
struct Group(Arc<SpinLock<State>>);

impl Queue for Group {
    type State = State;
    type Data = ();

    fn state(&self) -> &SpinLock<State> {
        &self.0
    }

    fn list(state: &mut State) -> &mut WaitList<()> {
        &mut state.waiters
    }

    fn abandon(&self, _: &mut State, _: &mut (), _: bool, _: &mut Wakeups) {
        // A broadcast needs no hand-on: every waiter was woken.
    }
}

impl Default for WaitGroup {
    fn default() -> WaitGroup {
        WaitGroup::new()
    }
}

impl Clone for WaitGroup {
    /// Adds a member.
    fn clone(&self) -> WaitGroup {
        lock(&self.inner).count += 1;
        WaitGroup {
            inner: self.inner.clone(),
        }
    }
}

impl Drop for WaitGroup {
    /// Marks this member done; the last one wakes every waiter.
    fn drop(&mut self) {
        let mut wake = Wakeups::default();
        let mut s = lock(&self.inner);
        s.count -= 1;
        if s.count == 0 {
            while let Some(((), w)) = s.waiters.choose() {
                wake.push(w);
            }
        }
        drop(s);
        wake.wake();
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup")
            .field("count", &self.count())
            .finish()
    }
}
