//! Diagnostics: counts of coroutines by state and a dump of every coroutine.

use std::fmt::Write as _;

use crate::scheduler::Scheduler;
use crate::task::{State, WaitKind};

/// Counts of this thread's coroutines and scheduler activity, from
/// [`stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Coroutines not yet finished (including the running one).
    pub alive: usize,
    /// Coroutines in the run queue.
    pub ready: usize,
    /// Parked on an fd.
    pub waiting_io: usize,
    /// Parked in a sleep.
    pub waiting_timer: usize,
    /// Parked on anything else (join, sync primitives).
    pub waiting_other: usize,
    /// Coroutine resumes since the scheduler started.
    pub switches: u64,
    /// `epoll_wait` calls since the scheduler started.
    pub epoll_waits: u64,
    /// Times the idle scheduler spun for a cross-thread message before
    /// sleeping (it does so only while such messages arrive).
    pub idle_spins: u64,
    /// Spins that ended with a message, so the scheduler never slept.
    pub spin_wakeups: u64,
}

/// Counts of this thread's coroutines by state; all zero outside a running
/// scheduler.
pub fn stats() -> Stats {
    Scheduler::with(|s| {
        let Some(s) = s else {
            return Stats::default();
        };
        let mut st = Stats {
            switches: s.switches(),
            epoll_waits: s.epoll_waits(),
            idle_spins: s.idle_spins(),
            spin_wakeups: s.spin_wakeups(),
            ..Stats::default()
        };
        for (_, task) in s.tasks.borrow().iter() {
            st.alive += 1;
            match (task.state.get(), task.waiting.get()) {
                (State::Ready, _) => st.ready += 1,
                (State::Parked, WaitKind::Io { .. }) => st.waiting_io += 1,
                (State::Parked, WaitKind::Sleep) => st.waiting_timer += 1,
                (State::Parked, _) => st.waiting_other += 1,
                _ => {}
            }
        }
        st
    })
}

/// A printable list of every coroutine on this thread: id, name, state, what
/// it waits for and for how long. Empty outside a running scheduler.
pub fn dump() -> String {
    Scheduler::with(|s| s.map(dump_of).unwrap_or_default())
}

pub(crate) fn dump_of(s: &Scheduler) -> String {
    let now = std::time::Instant::now();
    let tasks = s.tasks.borrow();
    let mut out = format!("corio: {} coroutine(s) on this thread:\n", tasks.len());
    for (_, task) in tasks.iter() {
        let name = task.name.as_deref().unwrap_or("-");
        let _ = write!(
            out,
            "  #{:<6} {:<16} {:<8?}",
            task.id,
            name,
            task.state.get()
        );
        if task.state.get() == State::Parked {
            let what = match task.waiting.get() {
                WaitKind::Nothing => "nothing".to_string(),
                WaitKind::Io { fd, read, write } => format!(
                    "fd {fd} ({}{})",
                    if read { "read" } else { "" },
                    if write {
                        if read { "+write" } else { "write" }
                    } else {
                        ""
                    }
                ),
                WaitKind::Sleep => "timer".to_string(),
                WaitKind::Join(id) => format!("join of #{id}"),
                WaitKind::Sync(what) => what.to_string(),
            };
            let since = task
                .since
                .get()
                .map(|t| format!(" for {:?}", now.saturating_duration_since(t)))
                .unwrap_or_default();
            let _ = write!(out, " waiting on {what}{since}");
        }
        out.push('\n');
    }
    out
}
