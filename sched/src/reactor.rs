//! The reactor: which fds are registered with this scheduler's epoll, and
//! which tasks wait on each.
//!
//! An fd is registered once, lazily, the first time a task waits on it
//! (edge-triggered, read + write + rdhup), and stays registered until
//! [`Reactor::deregister`] (called by the net layer's `close` hook). The
//! table is indexed by fd number. Every registration gets a fresh generation,
//! carried in the epoll token, so an event for an older registration of a
//! reused fd number is ignored. A close on another thread cannot reach this
//! table; the fd's close epoch ([`crate::epoch`]) tells a wait that the
//! registration went stale, and the fd is registered afresh, and the
//! closing thread's message ([`crate::closing`]) makes the scheduler check
//! the registration with the kernel ([`Reactor::registration_gone`]) and
//! wake the waiters.

use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;

use crate::closing::Registration;
use crate::epoch;
use crate::sys::{EV_ERROR, EV_READ, EV_WRITE, Epoll};
use crate::task::{State, Task};

/// A task waiting on an fd, with the park it belongs to.
pub(crate) type Waiter = (Rc<Task>, u32);

/// Index of the readers in [`FdEntry::first`] and [`MoreWaiters::lists`].
const READERS: usize = 0;
/// Index of the writers.
const WRITERS: usize = 1;

/// One fd's registration and waiters: one cache line (the reactor touches
/// an fd's entry at every wait and every event, for thousands of fds).
#[derive(Default)]
#[repr(align(64))]
struct FdEntry {
    /// The oldest live task waiting for readability ([`READERS`]) and for
    /// writability ([`WRITERS`]): nearly always the only one, inline, so
    /// the common wait allocates and touches nothing more.
    first: [Option<Waiter>; 2],
    /// Further waiters (several coroutines accepting on one listener, or
    /// reading and writing one fd in more than one coroutine each);
    /// allocated at the first such wait and kept.
    more: Option<Box<MoreWaiters>>,
    /// Bumped at every deregistration; the high 32 bits of epoll tokens.
    generation: u32,
    /// The fd's close epoch ([`crate::epoch`]) when it was registered; a
    /// different current epoch means another thread closed it since.
    epoch: u32,
    // Whether the fd is in the epoll set under `generation` is
    // `READY_KNOWN` in `Reactor::ready`: one bit, kept in one place.
}

const _: () = assert!(std::mem::size_of::<FdEntry>() == 64);

/// Waiters of one fd beyond the inline first reader and writer, oldest
/// first, indexed like [`FdEntry::first`]. Entries whose task already woke
/// for another reason (stale seq) are pruned on the next push or event.
#[derive(Default)]
struct MoreWaiters {
    lists: [Vec<Waiter>; 2],
}

impl FdEntry {
    /// Adds a waiter to side `side` ([`READERS`] or [`WRITERS`]), behind
    /// the live ones (first come, first woken). The inline slot holds the
    /// oldest live waiter: a stale one there is replaced by the oldest
    /// live overflow waiter if there is one, else by the newcomer.
    #[inline]
    fn push(&mut self, side: usize, waiter: Waiter) {
        // The common case inline: no overflow list, no live first waiter.
        if self.more.is_none() && !self.first[side].as_ref().is_some_and(is_live) {
            self.first[side] = Some(waiter);
            return;
        }
        self.push_slow(side, waiter);
    }

    /// [`FdEntry::push`] with an overflow list or a live first waiter.
    #[cold]
    #[inline(never)]
    fn push_slow(&mut self, side: usize, waiter: Waiter) {
        if let Some(more) = &mut self.more {
            more.lists[side].retain(is_live);
        }
        let first_live = self.first[side].as_ref().is_some_and(is_live);
        let queued = self
            .more
            .as_ref()
            .is_some_and(|m| !m.lists[side].is_empty());
        if !first_live && !queued {
            self.first[side] = Some(waiter);
            return;
        }
        let list = &mut self.more.get_or_insert_with(Box::default).lists[side];
        list.push(waiter);
        if !first_live {
            self.first[side] = Some(list.remove(0));
        }
    }

    /// Hands every waiter of side `side` to `f`, oldest first, and empties
    /// the side. Waiters whose park is over are handed out too: waking
    /// checks the park anyway (`Scheduler::make_ready`), and drops them.
    #[inline(always)]
    fn take(&mut self, side: usize, mut f: impl FnMut(Waiter)) {
        if let Some(w) = self.first[side].take() {
            f(w);
        }
        if self.more.is_some() {
            self.take_more(side, f);
        }
    }

    /// [`FdEntry::take`]'s overflow list.
    #[cold]
    #[inline(never)]
    fn take_more(&mut self, side: usize, f: impl FnMut(Waiter)) {
        if let Some(more) = &mut self.more {
            more.lists[side].drain(..).for_each(f);
        }
    }
}

/// Readiness bit: an event said readable (or error/hang-up).
pub(crate) const READY_READ: u8 = 1;
/// Readiness bit: an event said writable (or error/hang-up).
pub(crate) const READY_WRITE: u8 = 2;
/// Sticky bit: the peer closed its write side (or the fd errored); reads
/// return EOF/an error from now on without any further event, so a short
/// read must not make the next read park.
const READY_READ_CLOSED: u8 = 4;
/// Sticky bit: hang-up or error; writes fail from now on without any
/// further event.
const READY_WRITE_CLOSED: u8 = 8;
/// The fd is in the epoll set under its entry's generation: the other bits
/// mean something.
const READY_KNOWN: u8 = 16;

pub(crate) struct Reactor {
    pub(crate) epoll: Epoll,
    /// Indexed by fd number; grows on demand.
    fds: Vec<FdEntry>,
    /// Readiness of each fd, indexed like `fds`: [`READY_KNOWN`] while it
    /// is registered, then the readiness seen since the last "not ready"
    /// report ([`READY_READ`] / [`READY_WRITE`], set by events, cleared by
    /// the I/O layer when an operation returns EAGAIN or a stream
    /// read/write comes back short, so it can skip a syscall that would
    /// only say EAGAIN) and the sticky closed bits. One byte per fd, apart
    /// from the 64-byte entries: every read and write checks it, and a
    /// dense array stays in cache across the kernel's work of a syscall
    /// where thousands of entries' lines do not.
    ready: Vec<u8>,
    /// This scheduler's id in the fd owner words ([`crate::closing`]),
    /// taken at its first fd registration and kept until the reactor is
    /// dropped; `None` while it never registered an fd.
    owner: Option<Registration>,
}

/// Outcome of preparing a wait.
pub(crate) enum Prepared {
    /// The task is on the fd's waiter list; park it.
    Wait,
    /// epoll cannot watch this fd (a regular file): it is always ready.
    AlwaysReady,
    /// Nothing done: `fd` is registered here but was closed (on any thread)
    /// since, so the kernel dropped the registration and the number may
    /// now name another file. Deregister it (`Scheduler::deregister_fd`,
    /// which wakes its waiters) and prepare again.
    Stale,
}

fn is_live((task, seq): &Waiter) -> bool {
    task.state.get() == State::Parked && task.seq.get() == *seq
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Reactor> {
        Ok(Reactor {
            epoll: Epoll::new()?,
            fds: Vec::new(),
            ready: Vec::new(),
            owner: None,
        })
    }

    /// Registers `fd` if needed and adds `(task, seq)` to its read and/or
    /// write list, unless the registration is stale (see
    /// [`Prepared::Stale`]). Call on the thread of the scheduler that owns
    /// this reactor, while it runs (its inbox is entered in the owner
    /// registry at the first registration).
    #[inline]
    pub(crate) fn prepare(
        &mut self,
        fd: RawFd,
        read: bool,
        write: bool,
        task: &Rc<Task>,
        seq: u32,
    ) -> io::Result<Prepared> {
        let idx = usize::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        if idx >= self.fds.len() {
            self.fds.resize_with(idx + 1, FdEntry::default);
            self.ready.resize(idx + 1, 0);
        }
        if self.ready[idx] & READY_KNOWN != 0 {
            if self.fds[idx].epoch != epoch::current(fd) {
                return Ok(Prepared::Stale);
            }
        } else if !self.register(fd, idx)? {
            return Ok(Prepared::AlwaysReady);
        }
        let entry = &mut self.fds[idx];
        if read && write {
            entry.push(READERS, (task.clone(), seq));
            entry.push(WRITERS, (task.clone(), seq));
        } else {
            entry.push(if write { WRITERS } else { READERS }, (task.clone(), seq));
        }
        Ok(Prepared::Wait)
    }

    /// Adds `fd` (at `idx`, not registered) to epoll; `false` if epoll
    /// cannot watch it. Once per fd: kept off [`Reactor::prepare`]'s path.
    #[cold]
    #[inline(never)]
    fn register(&mut self, fd: RawFd, idx: usize) -> io::Result<bool> {
        // Claimed before the epoll add: see `crate::epoch` on ordering.
        let me = self.owner.get_or_insert_with(Registration::of_current).id();
        let entry = &mut self.fds[idx];
        entry.epoch = epoch::observe(fd, me);
        let token = u64::from(entry.generation) << 32 | idx as u64;
        match self.epoll.add(fd, token) {
            Ok(()) => {
                // The caller just saw EAGAIN; the kernel reports the
                // current state of the fd right after EPOLL_CTL_ADD.
                self.ready[idx] = READY_KNOWN;
                Ok(true)
            }
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Hands the waiters one epoll event wakes to `wake` (each with the
    /// park it waited in, which may be over).
    #[inline]
    pub(crate) fn dispatch(&mut self, token: u64, events: u32, mut wake: impl FnMut(Waiter)) {
        let idx = (token & 0xffff_ffff) as usize;
        let generation = (token >> 32) as u32;
        let Some(entry) = self.fds.get_mut(idx) else {
            return;
        };
        let mut ready = self.ready[idx];
        if ready & READY_KNOWN == 0 || entry.generation != generation {
            return;
        }
        if events & (libc::EPOLLRDHUP as u32 | EV_ERROR) != 0 {
            ready |= READY_READ_CLOSED;
        }
        if events & EV_ERROR != 0 {
            ready |= READY_WRITE_CLOSED;
        }
        if events & (EV_READ | EV_ERROR) != 0 {
            ready |= READY_READ;
            entry.take(READERS, &mut wake);
        }
        if events & (EV_WRITE | EV_ERROR) != 0 {
            ready |= READY_WRITE;
            entry.take(WRITERS, &mut wake);
        }
        self.ready[idx] = ready;
    }

    /// The task an event `events` for `token` would wake first, if any,
    /// for prefetching before [`Reactor::dispatch`]. Checks nothing else:
    /// it may be stale, or of a registration since replaced.
    #[inline]
    pub(crate) fn first_waiter(&self, token: u64, events: u32) -> Option<&Rc<Task>> {
        let entry = self.fds.get((token & 0xffff_ffff) as usize)?;
        let side = if events & (EV_READ | EV_ERROR) != 0 {
            READERS
        } else {
            WRITERS
        };
        entry.first[side].as_ref().map(|(task, _)| task)
    }

    /// Readiness bits of `fd` ([`READY_READ`] / [`READY_WRITE`], each also
    /// set while the matching side is closed), or `None` when it is not
    /// registered here (nothing is known: try the operation).
    #[inline]
    pub(crate) fn readiness(&self, fd: RawFd) -> Option<u8> {
        let ready = *self.ready.get(usize::try_from(fd).ok()?)?;
        if ready & READY_KNOWN == 0 {
            return None;
        }
        let mut bits = ready & (READY_READ | READY_WRITE);
        if ready & READY_READ_CLOSED != 0 {
            bits |= READY_READ;
        }
        if ready & READY_WRITE_CLOSED != 0 {
            bits |= READY_WRITE;
        }
        Some(bits)
    }

    /// Whether `fd` is registered here but that registration died: the
    /// fd was closed since, on any thread (its epoch moved on, or the
    /// kernel no longer knows the registration: `EPOLL_CTL_MOD` fails with
    /// ENOENT when the number names a new file, EBADF when it names none).
    /// A live registration is re-armed, which at worst reports a spurious
    /// event. Costs a syscall: only for a close on another thread.
    pub(crate) fn registration_gone(&self, fd: RawFd) -> bool {
        let Some(idx) = usize::try_from(fd).ok() else {
            return false;
        };
        let Some(entry) = self.fds.get(idx) else {
            return false;
        };
        if self.ready[idx] & READY_KNOWN == 0 {
            return false;
        }
        if entry.epoch != epoch::current(fd) {
            return true;
        }
        let token = u64::from(entry.generation) << 32 | idx as u64;
        self.epoll.rearm(fd, token).is_err()
    }

    /// This scheduler's owner id, if it ever registered an fd.
    pub(crate) fn owner_id(&self) -> Option<u32> {
        self.owner.as_ref().map(Registration::id)
    }

    /// Clears readiness bits of `fd` (an operation found it not ready); the
    /// sticky closed bits stay.
    #[inline]
    pub(crate) fn clear_ready(&mut self, fd: RawFd, bits: u8) {
        if let Some(ready) = usize::try_from(fd).ok().and_then(|i| self.ready.get_mut(i)) {
            // Only readiness: the registered and sticky closed bits stay.
            *ready &= !(bits & (READY_READ | READY_WRITE));
        }
    }

    /// Forgets `fd`: removes it from epoll and returns its waiters, which
    /// the caller wakes with `Closed`. Call before the fd is closed.
    pub(crate) fn deregister(&mut self, fd: RawFd, out: &mut Vec<Waiter>) {
        let Some(idx) = usize::try_from(fd).ok().filter(|&i| i < self.fds.len()) else {
            return;
        };
        if self.ready[idx] & READY_KNOWN != 0 {
            self.epoll.delete(fd);
            self.ready[idx] = 0;
        }
        let entry = &mut self.fds[idx];
        entry.generation = entry.generation.wrapping_add(1);
        entry.take(READERS, |w| out.push(w));
        entry.take(WRITERS, |w| out.push(w));
    }

    /// Drops every waiter (scheduler teardown).
    pub(crate) fn clear_waiters(&mut self) {
        for entry in &mut self.fds {
            entry.first = [None, None];
            entry.more = None;
        }
    }
}
