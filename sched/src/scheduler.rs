//! The per-thread scheduler: task table, run queue, the run loop, and the
//! park/wake protocol everything else is built on.
//!
//! Loop: resume up to [`BUDGET`] ready tasks in FIFO order; then poll epoll
//! (timeout 0 if tasks are still ready, else until the nearest timer, or
//! forever); wake the tasks whose fds or timers fired and handle cross-thread
//! messages; repeat until the main task is done.
//!
//! Park protocol: a task that must wait calls [`Scheduler::park`], which bumps
//! its park sequence number, lets the caller register wakers tagged with that
//! number, arms a timer for the effective deadline, and suspends. Any wake
//! names `(task, seq)`; a wake for an older park is ignored, so timers, fd
//! events and cross-thread messages can never wake the wrong wait.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corio_coro::CoroutineResult;
use slab::Slab;

use crate::reactor::{Prepared, Reactor, Waiter};
use crate::remote::{Msg, Remote, spin_limit};
use crate::task::{State, Task, WaitKind, Wake};
use crate::timer::Timers;

/// The scheduler running on this thread (set for the duration of
/// [`CurrentScheduler::set`]).
pub(crate) static SCHED: CurrentScheduler = CurrentScheduler;

thread_local! {
    /// Pointer behind [`SCHED`]; null when no scheduler runs on this thread.
    static CURRENT_SCHED: Cell<*const Scheduler> = const { Cell::new(std::ptr::null()) };
}

/// A scoped thread-local reference to this thread's scheduler, like
/// `scoped_tls`, but `get` is one `%fs`-relative load even when inlined
/// into another crate (the inlined `yield_now` fast path). `scoped_tls`
/// reaches its slot through a `&'static LocalKey` that another crate loads
/// from the GOT and calls indirectly, twice per `is_set` + `with`: ~2.5 ns
/// of a 15 ns switch.
pub(crate) struct CurrentScheduler;

impl CurrentScheduler {
    /// Makes `sched` this thread's scheduler while `f` runs, then restores
    /// the previous one (also when `f` unwinds).
    pub(crate) fn set<R>(&'static self, sched: &Scheduler, f: impl FnOnce() -> R) -> R {
        struct Restore(*const Scheduler);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT_SCHED.with(|c| c.set(self.0));
            }
        }
        let _restore = Restore(CURRENT_SCHED.with(|c| c.replace(sched)));
        f()
    }

    /// This thread's scheduler, or null. A non-null pointer stays valid for
    /// as long as the caller runs: it is set only inside [`Self::set`],
    /// whose scheduler outlives that scope, and every caller that found it
    /// set (the run loop, its coroutines and their teardown) returns before
    /// the scope does.
    #[inline(always)]
    pub(crate) fn get(&'static self) -> *const Scheduler {
        CURRENT_SCHED.with(Cell::get)
    }

    /// Whether a scheduler runs on this thread.
    #[inline]
    pub(crate) fn is_set(&'static self) -> bool {
        !self.get().is_null()
    }

    /// Runs `f` with this thread's scheduler.
    ///
    /// # Panics
    /// Panics if no scheduler runs on this thread.
    #[inline]
    pub(crate) fn with<R>(&'static self, f: impl FnOnce(&Scheduler) -> R) -> R {
        // SAFETY: see `get`.
        let sched = unsafe { self.get().as_ref() };
        f(sched.expect("no corio scheduler runs on this thread"))
    }
}

/// Ready tasks resumed before the loop polls I/O and timers again, so a
/// coroutine that never blocks cannot starve I/O. Large enough that the
/// `epoll_wait(0)` it costs is noise per switch, small enough to keep I/O
/// latency in the microseconds.
pub(crate) const BUDGET: usize = 256;

/// How long an idle scheduler that looks deadlocked waits for any event
/// before it checks the process's thread count and reports the deadlock.
const DEADLOCK_GRACE_MS: i32 = 100;

/// At shutdown, how many times a coroutine parked under frames that cannot
/// unwind is resumed (each of its blocking calls failing) to let it finish
/// before it is leaked; bounds a coroutine that retries failed calls.
const DRAIN_ROUNDS: usize = 16;

/// Epoll token of the scheduler's own eventfd (no fd has this number).
const REMOTE_TOKEN: u64 = u64::MAX;

/// Events fetched per `epoll_wait`.
const EVENTS: usize = 1024;

/// Number of blocking-pool threads alive in the process; they are ours and
/// cannot wake a coroutine except through `Remote::pending` jobs, so the
/// deadlock check does not count them as "someone else who could wake us".
pub(crate) static POOL_THREADS: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// Scheduler-wide counters.
#[derive(Default)]
struct Counters {
    switches: Cell<u64>,
    epoll_waits: Cell<u64>,
    idle_spins: Cell<u64>,
    spin_wakeups: Cell<u64>,
    /// Tasks currently parked on an fd.
    io_waiters: Cell<usize>,
}

pub(crate) struct Scheduler {
    /// Tasks not yet finished, by key (`Task::key`).
    pub(crate) tasks: RefCell<Slab<Rc<Task>>>,
    /// Ready tasks, FIFO.
    runq: RefCell<VecDeque<Ready>>,
    /// The task being resumed, or null; its `Rc` is held by the run loop.
    current: Cell<*const Task>,
    pub(crate) timers: RefCell<Timers>,
    pub(crate) reactor: RefCell<Reactor>,
    pub(crate) remote: Arc<Remote>,
    /// Reusable buffers (no allocation per loop turn).
    events: RefCell<Vec<libc::epoll_event>>,
    wake_buf: RefCell<Vec<Waiter>>,
    msg_buf: RefCell<Vec<Msg>>,
    /// Time at the last loop turn; a cheap clock for diagnostics.
    pub(crate) now: Cell<Instant>,
    /// Set while the scheduler unwinds leftover coroutines: parks fail at
    /// once with `Cancelled` instead of suspending.
    shutting_down: Cell<bool>,
    /// Set while shutdown resumes coroutines that cannot be unwound
    /// ([`Scheduler::drain_stuck`]): their parks and yields go back to the
    /// teardown loop once before they fail.
    draining: Cell<bool>,
    /// Default stack size for spawns (already checked and rounded).
    pub(crate) stack_size: usize,
    /// Whether the deadlock check may run (single-thread `run`).
    detect_deadlock: bool,
    /// The last turn found nothing that could wake any task and then
    /// waited [`DEADLOCK_GRACE_MS`] without a single event.
    deadlock_suspect: Cell<bool>,
    /// Set by a stop message: the loop of a worker thread ends.
    stop: Cell<bool>,
    /// When the last cross-thread message was taken (see [`spin_limit`]).
    last_remote: Cell<Option<Instant>>,
    counters: Counters,
}

impl Scheduler {
    pub(crate) fn new(stack_size: usize, detect_deadlock: bool) -> io::Result<Scheduler> {
        let reactor = Reactor::new()?;
        let remote = Arc::new(Remote::new()?);
        reactor.epoll.add(
            std::os::fd::AsRawFd::as_raw_fd(&remote.eventfd),
            REMOTE_TOKEN,
        )?;
        Ok(Scheduler {
            tasks: RefCell::new(Slab::new()),
            runq: RefCell::new(VecDeque::new()),
            current: Cell::new(std::ptr::null()),
            timers: RefCell::new(Timers::default()),
            reactor: RefCell::new(reactor),
            remote,
            events: RefCell::new(Vec::with_capacity(EVENTS)),
            wake_buf: RefCell::new(Vec::new()),
            msg_buf: RefCell::new(Vec::new()),
            now: Cell::new(Instant::now()),
            shutting_down: Cell::new(false),
            draining: Cell::new(false),
            stack_size: corio_coro::stack::checked_stack_size(stack_size)?,
            detect_deadlock,
            stop: Cell::new(false),
            deadlock_suspect: Cell::new(false),
            last_remote: Cell::new(None),
            counters: Counters::default(),
        })
    }

    /// Runs `f` with the scheduler of this thread, if one is running.
    ///
    /// `f` runs in the caller's frame (no closure of a thread-local
    /// accessor in between), so a context switch inside it is inlined into
    /// the caller; see `yield_current`.
    #[inline(always)]
    pub(crate) fn with<R>(f: impl FnOnce(Option<&Scheduler>) -> R) -> R {
        // SAFETY: the scheduler outlives this call (`CurrentScheduler::get`).
        f(unsafe { SCHED.get().as_ref() })
    }

    /// The task being resumed, if the caller runs inside a coroutine of this
    /// scheduler.
    #[inline]
    pub(crate) fn current(&self) -> Option<&Task> {
        // SAFETY: `current` is non-null only while the run loop (or teardown)
        // holds an `Rc` of that task and resumes it.
        unsafe { self.current.get().as_ref() }
    }

    /// A new strong reference to the current task.
    #[inline(always)]
    pub(crate) fn current_rc(&self) -> Option<Rc<Task>> {
        let ptr = self.current.get();
        if ptr.is_null() {
            return None;
        }
        // SAFETY: `ptr` came from `Rc::as_ptr` of an `Rc` the run loop keeps
        // alive while the task runs; adding a strong count before
        // `from_raw` yields a second, independent `Rc`.
        unsafe {
            Rc::increment_strong_count(ptr);
            Some(Rc::from_raw(ptr))
        }
    }

    /// Adds a new task to the table and the back of the run queue.
    pub(crate) fn add_task(&self, task: Rc<Task>) {
        let key = self.tasks.borrow_mut().insert(task.clone());
        task.key.set(key);
        self.runq.borrow_mut().push_back(Ready::new(task));
    }

    /// Puts the current task at the back of the run queue and switches away.
    ///
    /// During teardown it returns at once: the task is being force-unwound
    /// (a destructor yields), and suspending there would make corosensei
    /// unwind again from inside that destructor, which aborts the process.
    ///
    /// Inlined, with `suspend`, into `yield_now` and from there into its
    /// caller: a switch made from a separate frame costs two mispredicted
    /// returns per switch (after the switch, the return-stack buffer holds
    /// the other coroutine's calls), which measured ~15 ns of a 30 ns
    /// ping-pong.
    #[inline(always)]
    pub(crate) fn yield_current(&self) {
        if self.shutting_down.get() && !self.draining.get() {
            return;
        }
        let Some(task) = self.current_rc() else {
            return;
        };
        task.state.set(State::Ready);
        self.runq.borrow_mut().push_back(Ready::new(task));
        self.suspend();
    }

    /// Switches from the current task back to the run loop.
    #[inline(always)]
    fn suspend(&self) {
        let task = self.current().expect("suspend outside a coroutine");
        let yielder = task.yielder.get();
        debug_assert!(!yielder.is_null());
        task.sp_hint.set(stack_pointer());
        // SAFETY: the yielder lives on the coroutine's own stack for its
        // whole life, and we are running on that stack right now.
        unsafe { (*yielder).suspend(()) };
    }

    /// Parks the current task until woken, the deadline (or the task's
    /// deadline scope) passes, or it is cancelled.
    ///
    /// `arm(task, seq)` registers whatever will wake it (tagged with `seq`)
    /// and returns `Ok(false)` if the wait turned out unnecessary.
    ///
    /// Always inlined (each caller passes its own closure, so there is one
    /// copy per caller either way): a parked coroutine's stack holds one
    /// frame fewer, which its resume reads back from memory.
    #[inline(always)]
    pub(crate) fn park(
        &self,
        deadline: Option<Instant>,
        kind: WaitKind,
        arm: impl FnOnce(&Rc<Task>, u32) -> io::Result<bool>,
    ) -> Result<(), ParkError> {
        let task = self
            .current_rc()
            .expect("corio: a blocking call parked outside a coroutine");
        if self.shutting_down.get() {
            drop(task);
            return Err(self.park_while_shutting_down());
        }
        if task.cancel_pending.replace(false) {
            return Err(ParkError::Cancelled);
        }
        let scope = task.scope_deadline.get();
        let (effective, from_scope) = match (deadline, scope) {
            (Some(d), Some(s)) if s < d => (Some(s), true),
            (Some(d), _) => (Some(d), false),
            (None, s) => (s, s.is_some()),
        };
        if let Some(d) = effective {
            if d <= Instant::now() {
                return Err(if from_scope {
                    ParkError::Deadline
                } else {
                    ParkError::TimedOut
                });
            }
        }
        let seq = task.seq.get().wrapping_add(1);
        task.seq.set(seq);
        match arm(&task, seq) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => return Err(ParkError::Io(e)),
        }
        task.state.set(State::Parked);
        task.waiting.set(kind);
        task.since.set(Some(self.now.get()));
        if let WaitKind::Io { .. } = kind {
            self.counters
                .io_waiters
                .set(self.counters.io_waiters.get() + 1);
        }
        if let Some(d) = effective {
            let key = self.timers.borrow_mut().insert(d, task.clone(), seq);
            task.timer.set(Some(key));
        }
        drop(task);
        self.suspend();
        let task = self.current().expect("resumed task is current");
        match task.wake.get() {
            Wake::Notified => Ok(()),
            Wake::TimedOut if from_scope => Err(ParkError::Deadline),
            Wake::TimedOut => Err(ParkError::TimedOut),
            Wake::Cancelled => Err(ParkError::Cancelled),
            Wake::Closed => Err(ParkError::Closed),
            Wake::Shutdown => Err(ParkError::Shutdown),
        }
    }

    /// A park while the scheduler shuts down fails. While stuck coroutines
    /// are drained it first goes back to the teardown loop, which bounds
    /// how often a coroutine that keeps retrying is resumed.
    #[cold]
    fn park_while_shutting_down(&self) -> ParkError {
        if !self.draining.get() {
            return ParkError::Cancelled;
        }
        self.yield_current();
        ParkError::Shutdown
    }

    /// Makes `task` ready if it is still in park `seq`; otherwise does
    /// nothing (the wake is stale).
    pub(crate) fn wake(&self, task: &Rc<Task>, seq: u32, why: Wake) {
        if self.make_ready(task, seq, why) {
            self.runq.borrow_mut().push_back(Ready::new(task.clone()));
        }
    }

    /// [`Scheduler::wake`] for an fd event, taking the reactor's reference
    /// (no count up and down). The run loop prefetches the task
    /// [`PREFETCH_AHEAD`] places back in the queue before it resumes one; a
    /// task queued nearer the front than that is prefetched here.
    #[inline(always)]
    fn wake_event(&self, task: Rc<Task>, seq: u32) {
        if self.make_ready(&task, seq, Wake::Notified) {
            let mut runq = self.runq.borrow_mut();
            if runq.len() < PREFETCH_AHEAD {
                prefetch_task(&task, task.sp_hint.get());
            }
            runq.push_back(Ready::new(task));
        }
    }

    /// Marks `task` ready if it is still in park `seq`, and says whether it
    /// is (the caller queues it).
    #[inline(always)]
    fn make_ready(&self, task: &Task, seq: u32, why: Wake) -> bool {
        if task.state.get() != State::Parked || task.seq.get() != seq {
            return false;
        }
        task.state.set(State::Ready);
        task.wake.set(why);
        if let Some(key) = task.timer.take() {
            self.timers.borrow_mut().remove(key);
        }
        if let WaitKind::Io { .. } = task.waiting.replace(WaitKind::Nothing) {
            self.counters
                .io_waiters
                .set(self.counters.io_waiters.get() - 1);
        }
        true
    }

    /// Wakes the task at `key` if it is the task `id` and still in park
    /// `seq` (cross-thread wakes and `Waker`s name tasks this way).
    pub(crate) fn wake_key(&self, key: usize, id: u64, seq: u32, why: Wake) {
        let task = match self.tasks.borrow().get(key) {
            Some(t) if t.id == id => t.clone(),
            _ => return,
        };
        self.wake(&task, seq, why);
    }

    /// Requests cancellation of `task` (see `JoinHandle::cancel`).
    pub(crate) fn cancel(&self, task: &Rc<Task>) {
        match task.state.get() {
            State::Done => {}
            State::Parked => self.wake(task, task.seq.get(), Wake::Cancelled),
            State::Ready | State::Running => task.cancel_pending.set(true),
        }
    }

    /// Forgets `fd` in the reactor and wakes its waiters with `Closed`.
    pub(crate) fn deregister_fd(&self, fd: i32) {
        let mut buf = std::mem::take(&mut *self.wake_buf.borrow_mut());
        self.reactor.borrow_mut().deregister(fd, &mut buf);
        for (task, seq) in buf.drain(..) {
            self.wake(&task, seq, Wake::Closed);
        }
        *self.wake_buf.borrow_mut() = buf;
    }

    /// Registers `(task, seq)` as a waiter on `fd` (see
    /// [`Reactor::prepare`]); `Ok(false)` when epoll cannot watch `fd`, which
    /// is always ready. A registration gone stale (the fd was closed on
    /// another thread since) is deregistered first, waking its waiters
    /// with `Closed`.
    #[inline]
    pub(crate) fn watch_fd(
        &self,
        fd: i32,
        read: bool,
        write: bool,
        task: &Rc<Task>,
        seq: u32,
    ) -> io::Result<bool> {
        loop {
            let prepared = self
                .reactor
                .borrow_mut()
                .prepare(fd, read, write, task, seq)?;
            match prepared {
                Prepared::Wait => return Ok(true),
                Prepared::AlwaysReady => return Ok(false),
                Prepared::Stale => self.forget_stale(fd),
            }
        }
    }

    #[cold]
    fn forget_stale(&self, fd: i32) {
        self.deregister_fd(fd);
    }

    /// Resumes one ready task until it parks, yields or finishes.
    fn resume(&self, task: Rc<Task>) {
        task.state.set(State::Running);
        self.current.set(Rc::as_ptr(&task));
        let result = {
            let mut coro = task.coro.borrow_mut();
            coro.as_mut()
                .expect("a ready task has a coroutine")
                .resume(())
        };
        self.current.set(std::ptr::null());
        self.counters.switches.set(self.counters.switches.get() + 1);
        if let CoroutineResult::Return(result) = result {
            self.finish(&task, result);
        }
    }

    fn finish(&self, task: &Rc<Task>, result: std::thread::Result<()>) {
        task.state.set(State::Done);
        // The coroutine stored its value or panic itself; a panic here
        // escaped that (a coroutine-local's destructor panicked).
        if let Err(payload) = result {
            if task.detached.get() {
                drop(payload); // nobody can take it (see `Task::detached`)
            } else {
                *task.panic.borrow_mut() = Some(payload);
            }
        }
        // Drop the coroutine now: its stack goes back to the pool.
        let coro = task.coro.borrow_mut().take();
        drop(coro);
        self.tasks.borrow_mut().try_remove(task.key.get());
        if let Some((joiner, seq)) = task.joiner.take() {
            self.wake(&joiner, seq, Wake::Notified);
        }
        if !task.more_joiners.borrow().is_empty() {
            for (joiner, seq) in task.take_joiners() {
                self.wake(&joiner, seq, Wake::Notified);
            }
        }
    }

    /// Runs the loop until `main` is done, or, without a main task, until
    /// [`Scheduler::request_stop`] (runtime worker threads).
    /// Join fast path: if `target` was just spawned and never ran (it is
    /// the last task in the run queue), the current coroutine resumes it
    /// directly, nested, instead of parking and going through the loop: a
    /// spawn + join costs two context switches instead of four. If the
    /// target parks or yields, control comes back here and the scheduler
    /// resumes it later as usual. Returns whether the target ran.
    pub(crate) fn run_fresh_inline(&self, target: &Rc<Task>) -> bool {
        let me = self.current.get();
        if me.is_null() || self.shutting_down.get() || target.state.get() != State::Ready {
            return false;
        }
        {
            let mut runq = self.runq.borrow_mut();
            match runq.back() {
                Some(last) if Rc::ptr_eq(&last.task, target) => {}
                _ => return false,
            }
            let fresh = target.coro.borrow().as_ref().is_some_and(|c| !c.started());
            if !fresh {
                return false;
            }
            runq.pop_back();
        }
        target.state.set(State::Running);
        self.current.set(Rc::as_ptr(target));
        let result = {
            let mut coro = target.coro.borrow_mut();
            coro.as_mut()
                .expect("a fresh task has a coroutine")
                .resume(())
        };
        self.current.set(me);
        self.counters.switches.set(self.counters.switches.get() + 1);
        if let CoroutineResult::Return(result) = result {
            self.finish(target, result);
        }
        true
    }

    pub(crate) fn run_until(&self, main: Option<&Rc<Task>>) {
        loop {
            for _ in 0..BUDGET {
                let next = {
                    let mut runq = self.runq.borrow_mut();
                    let next = runq.pop_front();
                    // The task PREFETCH_AHEAD places back will run after
                    // that many others: its lines arrive in time. A short
                    // queue's tasks are hot in cache (two coroutines
                    // ping-ponging) and get no prefetch; the first ones an
                    // I/O turn wakes were prefetched by `turn`.
                    if let Some(ahead) = runq.get(PREFETCH_AHEAD - 1) {
                        ahead.prefetch();
                    }
                    next
                };
                match next {
                    Some(ready) => self.resume(ready.task),
                    None => break,
                }
            }
            let main_done = main.is_some_and(|m| m.state.get() == State::Done);
            if main_done || self.stop.get() {
                return;
            }
            self.turn();
        }
    }

    /// One turn of I/O and timers: poll epoll, dispatch events, messages and
    /// expired timers.
    fn turn(&self) {
        let mut timeout = if !self.runq.borrow().is_empty() {
            0
        } else {
            match self.timers.borrow().next_deadline() {
                Some(d) => ms_until_ceil(d, Instant::now()),
                None => -1,
            }
        };
        // Deadlock check, in two steps so the idle path stays cheap: when
        // nothing local can wake anyone, first wait a grace period; if it
        // passes with no event at all, count the process's threads (a
        // syscall) and report the deadlock if nobody else could wake us.
        let suspect = timeout < 0 && self.nothing_local_can_wake();
        if suspect {
            if self.deadlock_suspect.get() && self.no_other_threads() {
                panic!(
                    "corio: deadlock: every coroutine is parked and nothing can wake any of them \
                     (no ready coroutine, no timer, no fd wait, no cross-thread wakeup pending)\n{}",
                    crate::diag::dump_of(self)
                );
            }
            timeout = DEADLOCK_GRACE_MS;
        }
        // A message found by spinning may come without an eventfd write:
        // take it whether or not epoll reports the eventfd.
        let spin = if timeout != 0 {
            self.spin_for_message(timeout)
        } else {
            None
        };
        let spun = spin == Some(true);
        if spun {
            timeout = 0;
        } else if spin.is_some() && timeout > 0 {
            // The spin used part of the wait: a timer must not fire late.
            let deadline = self.timers.borrow().next_deadline();
            if let Some(d) = deadline {
                timeout = timeout.min(ms_until_ceil(d, Instant::now()));
            }
        }
        let mut events = self.events.borrow_mut();
        if let Err(e) = self.reactor.borrow().epoll.wait(&mut events, timeout) {
            panic!("corio: epoll_wait failed: {e}");
        }
        self.counters
            .epoll_waits
            .set(self.counters.epoll_waits.get() + 1);
        // A message found by spinning is an event even without an eventfd one.
        self.deadlock_suspect
            .set(suspect && !spun && events.is_empty());
        let mut drain = false;
        {
            // Waiters are woken as their events are read: their tasks only
            // go to the run queue (and leave the timer wheel), which the
            // reactor's borrow does not cover.
            let mut reactor = self.reactor.borrow_mut();
            // The records of the tasks the first events wake are cold
            // (at 1000 connections, every one): prefetch them all before
            // waking any, so their misses overlap instead of each wake
            // waiting for its own. As many as the run queue will not
            // prefetch itself (see `wake_event`).
            let room = PREFETCH_AHEAD.saturating_sub(self.runq.borrow().len());
            for ev in events.iter().take(room) {
                if let Some(task) = reactor.first_waiter(ev.u64, ev.events) {
                    prefetch_record(task);
                }
            }
            for ev in events.iter() {
                let (token, bits) = (ev.u64, ev.events);
                if token == REMOTE_TOKEN {
                    drain = true;
                } else {
                    reactor.dispatch(token, bits, |(task, seq)| self.wake_event(task, seq));
                }
            }
        }
        drop(events);
        let now = Instant::now();
        if spun || drain {
            self.handle_messages(drain);
            self.last_remote.set(Some(now));
        }
        self.now.set(now);
        if self.timers.borrow().len() > 0 {
            loop {
                let expired = self.timers.borrow_mut().pop_expired(now);
                let Some((task, seq)) = expired else { break };
                task.timer.set(None);
                self.wake(&task, seq, Wake::TimedOut);
            }
        }
    }

    /// Before an idle scheduler sleeps for up to `timeout_ms` (-1: no
    /// limit): spins for a cross-thread message as [`spin_limit`] allows.
    /// Returns whether one is pending, or `None` if it did not spin.
    fn spin_for_message(&self, timeout_ms: i32) -> Option<bool> {
        let wait = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        let limit = spin_limit(self.last_remote.get(), wait)?;
        let found = self.remote.spin_until_message(limit);
        let c = &self.counters;
        c.idle_spins.set(c.idle_spins.get() + 1);
        c.spin_wakeups.set(c.spin_wakeups.get() + u64::from(found));
        Some(found)
    }

    fn handle_messages(&self, drain: bool) {
        let mut msgs = std::mem::take(&mut *self.msg_buf.borrow_mut());
        self.remote.take(&mut msgs, drain);
        for msg in msgs.drain(..) {
            match msg {
                Msg::Wake { key, id, seq } => self.wake_key(key, id, seq, Wake::Notified),
                Msg::Run(f) => f(),
            }
        }
        *self.msg_buf.borrow_mut() = msgs;
    }

    /// True when no I/O wait, pending cross-thread work or queued message
    /// could wake a task (the caller knows there is no timer and no ready
    /// task), so only another thread of the process could.
    fn nothing_local_can_wake(&self) -> bool {
        self.detect_deadlock
            && self.counters.io_waiters.get() == 0
            && self
                .remote
                .pending
                .load(std::sync::atomic::Ordering::Acquire)
                == 0
            && self.remote.is_empty()
    }

    /// Whether this is the only thread of the process that could wake a
    /// coroutine here (blocking-pool threads only run submitted jobs).
    #[cold]
    fn no_other_threads(&self) -> bool {
        let pool = POOL_THREADS.load(std::sync::atomic::Ordering::Acquire);
        matches!(crate::sys::process_threads(), Some(n) if n <= 1 + pool)
    }

    /// Unwinds every coroutine still alive (destructors run), then drops all
    /// timers and waiters. Parks fail with `Cancelled` meanwhile. Coroutines
    /// that cannot be unwound are first run to their end if they can
    /// ([`Scheduler::drain_stuck`]).
    pub(crate) fn teardown(&self) {
        self.shutting_down.set(true);
        self.drain_stuck();
        loop {
            let tasks: Vec<Rc<Task>> = self.tasks.borrow_mut().drain().collect();
            self.runq.borrow_mut().clear();
            if tasks.is_empty() {
                break;
            }
            for task in &tasks {
                task.state.set(State::Done);
                self.current.set(Rc::as_ptr(task));
                let coro = task.coro.borrow_mut().take();
                if task.no_unwind.get() > 0 {
                    // Parked under frames that cannot unwind (a libc hook
                    // called from std or C): unwinding would abort the
                    // process, so leak the stack and what lives on it.
                    std::mem::forget(coro);
                } else {
                    drop(coro);
                }
                self.current.set(std::ptr::null());
                task.take_joiners().for_each(drop);
            }
        }
        self.timers.borrow_mut().clear();
        self.reactor.borrow_mut().clear_waiters();
        drop(self.remote.close());
    }

    /// Coroutines parked inside a hooked libc call (a `no_unwind` region:
    /// std or C frames above the hook) cannot be unwound. Instead, their
    /// pending call fails with ECANCELED and they run, with every later
    /// blocking call failing the same way, for up to [`DRAIN_ROUNDS`]
    /// resumes each: most return (their destructors run and their fds
    /// close). Others are left to `teardown`, which leaks those still under
    /// such a frame and unwinds the rest.
    fn drain_stuck(&self) {
        if std::thread::panicking() {
            // Teardown on the way out of a panic (a deadlock report, a
            // panicking main): running user code now would poison its
            // locks; leave such coroutines to be leaked.
            return;
        }
        let stuck: Vec<Rc<Task>> = self
            .tasks
            .borrow()
            .iter()
            .map(|(_, t)| t)
            .filter(|t| {
                t.no_unwind.get() > 0 && matches!(t.state.get(), State::Parked | State::Ready)
            })
            .cloned()
            .collect();
        if stuck.is_empty() {
            return;
        }
        let ids: std::collections::HashSet<u64> = stuck.iter().map(|t| t.id).collect();
        self.draining.set(true);
        // Ready ones (woken, or yielding inside a hooked call) keep their
        // place in the queue; everything else queued is left to be unwound.
        self.runq.borrow_mut().retain(|r| ids.contains(&r.task.id));
        for task in &stuck {
            if task.state.get() == State::Parked {
                self.wake(task, task.seq.get(), Wake::Shutdown);
            }
        }
        drop(stuck);
        for _ in 0..DRAIN_ROUNDS {
            // Only the stuck tasks run; anything else that became ready
            // (woken by them, or spawned) is unwound by `teardown`.
            let batch: Vec<Rc<Task>> = self
                .runq
                .borrow_mut()
                .drain(..)
                .map(|r| r.task)
                .filter(|t| ids.contains(&t.id))
                .collect();
            if batch.is_empty() {
                break;
            }
            for task in batch {
                self.resume(task);
            }
        }
        self.runq.borrow_mut().clear();
        self.draining.set(false);
    }

    /// Whether shutdown is running coroutines that cannot be unwound (their
    /// panics are real panics, not forced unwinds).
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.get()
    }

    /// Whether leftover coroutines are being unwound.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.get()
    }

    /// Makes `run_until` return after the current turn.
    pub(crate) fn request_stop(&self) {
        self.stop.set(true);
    }

    pub(crate) fn switches(&self) -> u64 {
        self.counters.switches.get()
    }

    pub(crate) fn epoll_waits(&self) -> u64 {
        self.counters.epoll_waits.get()
    }

    pub(crate) fn idle_spins(&self) -> u64 {
        self.counters.idle_spins.get()
    }

    pub(crate) fn spin_wakeups(&self) -> u64 {
        self.counters.spin_wakeups.get()
    }
}

/// Why a park ended without a wake.
#[derive(Debug)]
pub(crate) enum ParkError {
    /// The call's own timeout passed.
    TimedOut,
    /// The enclosing `with_deadline` scope's deadline passed.
    Deadline,
    /// The task was cancelled (or the scheduler is shutting down).
    Cancelled,
    /// The fd waited on was closed.
    Closed,
    /// The scheduler is shutting down (the task could not be unwound).
    Shutdown,
    /// Registering the wait failed.
    Io(io::Error),
}

impl From<ParkError> for io::Error {
    fn from(e: ParkError) -> io::Error {
        match e {
            ParkError::TimedOut => io::Error::new(io::ErrorKind::TimedOut, "operation timed out"),
            ParkError::Deadline => io::Error::new(
                io::ErrorKind::TimedOut,
                "deadline of the enclosing scope passed",
            ),
            ParkError::Cancelled => {
                io::Error::new(io::ErrorKind::Interrupted, "coroutine cancelled")
            }
            ParkError::Closed => io::Error::from_raw_os_error(libc::EBADF),
            ParkError::Shutdown => io::Error::from_raw_os_error(libc::ECANCELED),
            ParkError::Io(e) => e,
        }
    }
}

/// The current stack pointer (0 where not implemented): a prefetch hint.
#[inline(always)]
fn stack_pointer() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let sp: usize;
        // SAFETY: reads a register; no memory access, no side effects.
        unsafe {
            std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
        };
        sp
    }
    #[cfg(not(target_arch = "x86_64"))]
    0
}

/// How many tasks ahead of the one it resumes the run loop prefetches a
/// task's record and stack top (x86-64). Far enough that the lines arrive before
/// the task runs (each task runs for a microsecond or more of syscalls),
/// near enough that the kernel work in between does not evict them again.
const PREFETCH_AHEAD: usize = 8;

/// A run-queue entry: the task, and where its stack top was when it last
/// suspended (read when it is queued, while its `Task` is warm in cache).
pub(crate) struct Ready {
    task: Rc<Task>,
    sp: usize,
}

impl Ready {
    #[inline]
    fn new(task: Rc<Task>) -> Ready {
        let sp = task.sp_hint.get();
        Ready { task, sp }
    }

    /// Prefetches the task's hot fields and the cache lines around its
    /// stack top, so that resuming it a little later does not stall on
    /// cold lines or TLB entries: with thousands of coroutines, that stall
    /// was most of the scheduler's own cost per message.
    #[inline(always)]
    fn prefetch(&self) {
        prefetch_task(&self.task, self.sp);
    }
}

/// Prefetches the hot part of `task` ([`crate::task::HOT_END`] bytes from
/// the start of its `Rc` allocation) and, if it ever suspended, the lines
/// around its stack top `sp` (the frames of its switch lie just below, the
/// frames it returns through afterwards just above). x86-64 only; a no-op
/// elsewhere (where `stack_pointer` also gives no hint).
#[inline(always)]
fn prefetch_task(task: &Rc<Task>, sp: usize) {
    prefetch_record(task);
    if sp == 0 {
        return; // never suspended yet
    }
    // The frames the task returns through lie above `sp` (in the echo
    // example about 500 bytes up to its read loop's caller), its switch
    // pushes a few registers below: from one line below `sp` up to the end
    // of `sp`'s page at most. The page above may be the next stack's guard
    // page, and a prefetch into an unmapped page costs a full page walk
    // that fails, every time. (The line below is in the page below when
    // `sp` is in its page's first line: still this stack, which is mapped.)
    let start = (sp & !63).wrapping_sub(64);
    prefetch_lines(start, (start + 16 * 64).min((sp & !4095) + 4096));
}

/// Prefetches the hot part of `task`'s record: a fixed number of lines
/// from the start of its `Rc` allocation (no loop, no test), enough
/// wherever in its first line the allocation starts (it is at least
/// `usize`-aligned). Reads nothing of the task.
#[inline(always)]
fn prefetch_record(task: &Rc<Task>) {
    // The value follows the strong and weak counts.
    let rc_start = (Rc::as_ptr(task) as usize).wrapping_sub(2 * std::mem::size_of::<usize>());
    const HOT: usize = if crate::task::HOT_END < crate::task::HOT_PREFETCH_MAX {
        crate::task::HOT_END
    } else {
        crate::task::HOT_PREFETCH_MAX
    };
    const LINES: usize = (64 - std::mem::align_of::<usize>() + HOT).div_ceil(64);
    let first = rc_start & !63;
    for k in 0..LINES {
        prefetch_line(first.wrapping_add(k * 64));
    }
}

/// Prefetches the cache line holding `addr` (x86-64; elsewhere a no-op).
/// Only the address is formed, nothing is read: any value is harmless.
#[inline(always)]
fn prefetch_line(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: SSE is part of the x86_64 baseline, and a prefetch
        // never faults or changes memory, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(addr as *const i8) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// Prefetches every cache line that holds a byte of `[start, end)`. Only
/// addresses are formed, nothing is read: any range is harmless.
#[inline(always)]
fn prefetch_lines(start: usize, end: usize) {
    let mut line = start & !63;
    // Four lines per test and jump: one per line cost as much as the
    // prefetches (a resume prefetches about ten stack lines).
    while line.wrapping_add(3 * 64) < end {
        prefetch_line(line);
        prefetch_line(line + 64);
        prefetch_line(line + 2 * 64);
        prefetch_line(line + 3 * 64);
        line += 4 * 64;
    }
    while line < end {
        prefetch_line(line);
        line += 64;
    }
}

/// Milliseconds from `now` until `deadline`, rounded up so that a timer never
/// fires early; 0 if already due, capped at `i32::MAX`.
pub(crate) fn ms_until_ceil(deadline: Instant, now: Instant) -> i32 {
    let left = deadline.saturating_duration_since(now);
    let ms = left.as_nanos().div_ceil(1_000_000);
    ms.min(i32::MAX as u128) as i32
}
