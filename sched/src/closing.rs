//! Closes that cross threads: a coroutine parked on an fd wakes with EBADF
//! when *any* thread closes the fd, not only its own scheduler's thread.
//!
//! The kernel drops an epoll registration silently when the file is
//! closed, so a scheduler whose coroutine waits on the fd gets no event.
//! The closing thread tells it instead:
//!
//! 1. [`start_close`], before the real close: bumps the fd's close epoch,
//!    takes and clears its owner word ([`crate::epoch`]), and wakes this
//!    thread's own waiters (the same-thread path).
//! 2. [`ClosingFd::closed`], after the real close: reads the owner word
//!    again and sends every *other* scheduler named by either read a
//!    message through its inbox ([`crate::remote`]).
//! 3. The receiving scheduler ([`on_foreign_close`]) checks its own
//!    registration of the number with the kernel: if it is gone (or its
//!    epoch is stale), it deregisters the fd and wakes the waiters with
//!    EBADF, exactly as a close on its own thread would. If the number
//!    already names a new file that this scheduler registered since, the
//!    registration is alive and nobody is woken.
//!
//! Schedulers get a small id, resolvable to their inbox through a
//! registry, the first time they register an fd. Nothing here runs on the
//! readiness fast path: a scheduler touches the owner word once per
//! registration, a close touches the registry only when another scheduler
//! owns the fd.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use slab::Slab;

use crate::epoch::{self, NO_OWNER, SHARED};
use crate::remote::{Msg, Remote};
use crate::scheduler::Scheduler;

/// Inboxes of the schedulers that have registered an fd, by id − 1.
static REGISTRY: Mutex<Slab<Arc<Remote>>> = Mutex::new(Slab::new());

/// The process that registered a scheduler last. A child forked from a
/// threaded parent must not lock [`REGISTRY`] (another parent thread may
/// have held it at the fork) nor send to the parent's schedulers.
static REGISTRY_PID: AtomicU32 = AtomicU32::new(0);

/// A scheduler's entry in the registry, removed when dropped (with the
/// scheduler's reactor). An id may be reused afterwards; a stale owner
/// word naming it costs a spurious message, answered by a kernel check.
pub(crate) struct Registration {
    /// The owner-word value of this scheduler: never [`NO_OWNER`] nor
    /// [`SHARED`].
    id: u32,
}

impl Registration {
    /// Enters the scheduler running on this thread.
    ///
    /// # Panics
    /// Outside a running scheduler, or if about four billion schedulers are
    /// alive at once.
    pub(crate) fn of_current() -> Registration {
        Scheduler::with(|s| {
            let s = s.expect("corio: an fd registered outside its scheduler");
            Registration::new(&s.remote)
        })
    }

    /// Enters the scheduler whose inbox is `remote`.
    ///
    /// # Panics
    /// If about four billion schedulers are alive at once.
    fn new(remote: &Arc<Remote>) -> Registration {
        let key = lock().insert(remote.clone());
        REGISTRY_PID.store(std::process::id(), Ordering::Release);
        let id = u32::try_from(key + 1)
            .ok()
            .filter(|&id| id != SHARED)
            .expect("corio: too many schedulers alive");
        Registration { id }
    }

    /// This scheduler's owner-word value.
    pub(crate) fn id(&self) -> u32 {
        self.id
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock().try_remove(self.id as usize - 1);
    }
}

fn lock() -> std::sync::MutexGuard<'static, Slab<Arc<Remote>>> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// An fd between [`start_close`] and the real close: call
/// [`ClosingFd::closed`] once the close has happened, so that coroutines
/// of other scheduler threads parked on the fd wake with EBADF. Dropping it
/// instead leaves them parked (as [`crate::deregister_fd`] does).
#[derive(Debug)]
#[must_use = "call `closed()` after closing the fd, or waiters on other threads stay parked"]
pub struct ClosingFd {
    fd: RawFd,
    /// The owner word [`start_close`] cleared.
    owner: u32,
}

/// Prepares `fd` for closing on this thread, whichever thread that is
/// (a scheduler thread or a plain one): wakes this scheduler's coroutines
/// waiting on it with `EBADF`, removes it from this scheduler's epoll and
/// marks other schedulers' registrations stale, all before the number can
/// be reused. Close the fd, then call [`ClosingFd::closed`], which wakes
/// the waiters of other scheduler threads.
///
/// corio's sockets and the `close`/`dup2`/`dup3` hooks do this for you.
///
/// ```
/// use std::os::fd::IntoRawFd;
/// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
/// let fd = a.into_raw_fd();
/// let closing = corio_sched::start_close(fd);
/// // SAFETY: `fd` is ours (taken with `into_raw_fd`) and closed once.
/// assert_eq!(unsafe { libc::close(fd) }, 0);
/// closing.closed();
/// ```
pub fn start_close(fd: RawFd) -> ClosingFd {
    let owner = epoch::begin_close(fd);
    Scheduler::with(|s| {
        if let Some(s) = s {
            s.deregister_fd(fd);
        }
    });
    ClosingFd { fd, owner }
}

impl ClosingFd {
    /// Call after the fd is closed: sends every other scheduler that
    /// registered it a message that wakes its waiters with `EBADF`. When no
    /// other scheduler did, it costs a fence and an atomic load (and a look
    /// at this thread's scheduler if that one registered the fd).
    pub fn closed(self) {
        let after = epoch::owner_after_close(self.fd);
        if self.owner == NO_OWNER && after == NO_OWNER {
            return;
        }
        // If the reactor is busy (cannot happen today), count as a plain
        // thread: at worst this scheduler sends itself a harmless message.
        let me = Scheduler::with(|s| {
            s.and_then(|s| s.reactor.try_borrow().ok().and_then(|r| r.owner_id()))
        });
        let me = me.unwrap_or(NO_OWNER);
        if foreign(self.owner, me) || foreign(after, me) {
            notify(self.fd, self.owner, after, me);
        }
    }
}

/// Whether owner word `o` names a scheduler other than `me`.
fn foreign(o: u32, me: u32) -> bool {
    o != NO_OWNER && o != me
}

/// Sends the schedulers named by the owner words `a` and `b` (all of them
/// for [`SHARED`]), except `me`, the message that makes them check `fd`.
#[cold]
fn notify(fd: RawFd, a: u32, b: u32, me: u32) {
    if REGISTRY_PID.load(Ordering::Acquire) != std::process::id() {
        return; // a forked child: the schedulers live in the parent
    }
    let targets: Vec<Arc<Remote>> = {
        let registry = lock();
        if a == SHARED || b == SHARED {
            registry
                .iter()
                .filter(|&(key, _)| foreign(key as u32 + 1, me))
                .map(|(_, r)| r.clone())
                .collect()
        } else {
            let b = if b == a { NO_OWNER } else { b };
            [a, b]
                .into_iter()
                .filter(|&o| foreign(o, me))
                .filter_map(|o| registry.get(o as usize - 1).cloned())
                .collect()
        }
    };
    for remote in targets {
        remote.send(Msg::Run(Box::new(move || on_foreign_close(fd))));
    }
}

/// Runs on a scheduler thread that another thread told about a close of
/// `fd`: if this scheduler's registration of the number died with the
/// close, wakes its waiters with `EBADF` and forgets the fd.
fn on_foreign_close(fd: RawFd) {
    Scheduler::with(|s| {
        if let Some(s) = s {
            let gone = s.reactor.borrow().registration_gone(fd);
            if gone {
                s.deregister_fd(fd);
            }
        }
    });
}
