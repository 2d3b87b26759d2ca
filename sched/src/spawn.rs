//! Starting coroutines: `run`, `spawn`, `Builder`, and `JoinHandle`.

use std::any::Any;
use std::io;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;

use corio_coro::{Coroutine, Yielder, stack};

use crate::scheduler::{SCHED, Scheduler};
use crate::task::{State, Task, WaitKind};

/// Runs `f` as the main coroutine of a new scheduler on the current thread
/// and returns its value when it returns.
///
/// Coroutines still alive when `f` returns are cancelled: their stacks are
/// unwound and their destructors run before `run` returns. A panic in `f` is
/// propagated to the caller of `run`.
///
/// # Panics
/// Panics if called inside a coroutine (or anywhere a scheduler already runs
/// on this thread), if the scheduler cannot be created (no epoll), and with a
/// "deadlock" message and a dump of every coroutine if all coroutines park
/// with nothing left that could wake them.
///
/// ```
/// let n = corio_sched::run(|| {
///     let h = corio_sched::spawn(|| 20);
///     h.join().unwrap() + 22
/// });
/// assert_eq!(n, 42);
/// ```
pub fn run<F, T>(f: F) -> T
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    run_with(stack::DEFAULT_STACK_SIZE, true, f)
}

/// `run` with a default stack size and deadlock detection switch (the
/// multi-thread runtime turns detection off: other schedulers may wake us).
#[doc(hidden)]
pub fn run_with<F, T>(stack_size: usize, detect_deadlock: bool, f: F) -> T
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    assert!(
        !SCHED.is_set(),
        "corio::run called inside a running corio scheduler (nested runtimes would deadlock); \
         use corio::spawn to start more coroutines instead"
    );
    let sched = Scheduler::new(stack_size, detect_deadlock)
        .unwrap_or_else(|e| panic!("corio::run: cannot create the scheduler: {e}"));
    SCHED.set(&sched, || {
        let main = spawn_in(&sched, Some(Arc::from("main")), sched.stack_size, f)
            .unwrap_or_else(|e| panic!("corio::run: cannot start the main coroutine: {e}"));
        struct Teardown<'a>(&'a Scheduler);
        impl Drop for Teardown<'_> {
            fn drop(&mut self) {
                self.0.teardown();
            }
        }
        let teardown = Teardown(&sched);
        sched.run_until(Some(&main.task));
        drop(teardown);
        match main.take_result() {
            Ok(v) => v,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    })
}

/// Spawns a coroutine on the current thread's scheduler.
///
/// The closure need not be `Send`: coroutines never leave their thread.
///
/// # Panics
/// Panics if called outside a running scheduler ("call it inside
/// `corio::run`"), or if no stack can be mapped (see [`Builder::spawn`] for
/// the fallible form).
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    match Builder::new().spawn(f) {
        Ok(handle) => handle,
        Err(e) => panic!("corio::spawn: {e}"),
    }
}

/// Configures a coroutine before spawning it, like `std::thread::Builder`.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    name: Option<Arc<str>>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with the scheduler's default stack size and no name.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the coroutine (shown by `dump()` and in overflow reports).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(Arc::from(name.into()));
        self
    }

    /// Sets the stack size in bytes (rounded up to pages).
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// Spawns the coroutine on the current thread's scheduler.
    ///
    /// # Errors
    /// `InvalidInput` for a stack size outside 16 KiB..=1 GiB; an error
    /// naming `vm.max_map_count` when no stack can be mapped; `Other` when
    /// called outside a running scheduler.
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        Scheduler::with(|s| {
            let Some(s) = s else {
                return Err(io::Error::other(
                    "spawn called outside a corio runtime; call it inside corio::run",
                ));
            };
            let size = match self.stack_size {
                Some(size) => stack::checked_stack_size(size)?,
                None => s.stack_size,
            };
            spawn_in(s, self.name, size, f)
        })
    }
}

pub(crate) fn spawn_in<F, T>(
    sched: &Scheduler,
    name: Option<Arc<str>>,
    size: usize,
    f: F,
) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    let coro = Coroutine::with_checked_size(name, size, move |y: &Yielder<(), ()>, ()| {
        SCHED.with(|s| {
            let task = s.current().expect("a starting coroutine is current");
            task.yielder.set(y);
        });
        // Teardown's unwinding of the coroutine is let through.
        let result = corio_coro::pass_forced_unwind(panic::catch_unwind(AssertUnwindSafe(f)));
        // Its coroutine-locals first, here: their destructors may block,
        // and one may drop this coroutine's own handle (detaching it).
        corio_coro::drop_locals();
        let unclaimed = SCHED.with(|s| {
            let task = s.current().expect("a returning coroutine is current");
            if task.detached.get() {
                return Some(result);
            }
            match result {
                Ok(value) => *task.value.borrow_mut() = Some(Box::new(value) as Box<dyn Any>),
                Err(payload) => *task.panic.borrow_mut() = Some(payload),
            }
            None
        });
        // Nobody can join: drop the value or panic payload here, in the
        // coroutine, where a destructor may block like any other code (see
        // `Task::detached`).
        drop(unclaimed);
    })?;
    let task = Rc::new(Task::new(coro));
    sched.add_task(task.clone());
    Ok(JoinHandle {
        task,
        _result: PhantomData,
        _not_send: PhantomData,
    })
}

/// An owned permission to join a coroutine (wait for it and take its
/// result). Dropping it detaches the coroutine, which keeps running; its
/// return value is dropped as it returns (at once, if it already has).
///
/// Like the coroutine itself, a `JoinHandle` stays on its thread.
pub struct JoinHandle<T> {
    /// The coroutine; it stores its return value, a `Box<T>`, in
    /// `Task::value`.
    pub(crate) task: Rc<Task>,
    _result: PhantomData<T>,
    _not_send: PhantomData<*mut ()>,
}

impl<T: 'static> JoinHandle<T> {
    /// The coroutine's process-unique id.
    pub fn id(&self) -> u64 {
        self.task.id
    }

    /// The coroutine's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.task.name.as_deref()
    }

    /// Whether the coroutine has finished (returned or panicked).
    pub fn is_finished(&self) -> bool {
        self.task.state.get() == State::Done
    }

    /// Requests cancellation: if the coroutine is parked in a blocking call
    /// (`sleep`, `wait_fd`, `join`, a sync primitive, a hooked libc call),
    /// that call returns `ErrorKind::Interrupted` (EINTR for hooked calls;
    /// `sleep` returns early). If it is ready or running, its next blocking
    /// call does. The request is delivered once; a coroutine that ignores it
    /// runs on normally.
    pub fn cancel(&self) {
        Scheduler::with(|s| {
            if let Some(s) = s {
                s.cancel(&self.task);
            }
        });
    }

    /// Waits until the coroutine finishes, without taking its result.
    ///
    /// Joining a coroutine that was just spawned and has not run yet hands
    /// it the joiner's turn: it starts at once, before other ready
    /// coroutines (two context switches instead of four).
    ///
    /// # Errors
    /// `Interrupted` if the waiting coroutine is cancelled, `TimedOut` if its
    /// deadline scope passes, `WouldBlock` when called outside a coroutine of
    /// this scheduler while the coroutine is unfinished, `Deadlock` when a
    /// coroutine waits for itself.
    pub fn wait(&self) -> io::Result<()> {
        if self.is_finished() {
            return Ok(());
        }
        Scheduler::with(|s| {
            let Some(s) = s.filter(|s| s.current().is_some()) else {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "JoinHandle::join of an unfinished coroutine called outside a coroutine",
                ));
            };
            if s.current().map(|t| t.id) == Some(self.task.id) {
                return Err(io::Error::new(
                    io::ErrorKind::Deadlock,
                    "a coroutine cannot join itself",
                ));
            }
            let target = &self.task;
            let me = s.current().expect("checked above");
            if !me.cancel_pending.get() && me.scope_deadline.get().is_none() {
                // Spawn-then-join: run the child right here if it never ran.
                s.run_fresh_inline(target);
                if target.state.get() == State::Done {
                    return Ok(());
                }
            }
            s.park(None, WaitKind::Join(target.id), |me, seq| {
                if target.state.get() == State::Done {
                    return Ok(false);
                }
                target.add_joiner(me.clone(), seq);
                Ok(true)
            })
            .map_err(io::Error::from)
        })
    }

    /// Waits for the coroutine to finish and returns its result: `Ok(value)`,
    /// or `Err(payload)` if it panicked (like `std::thread::JoinHandle`).
    ///
    /// If the joining coroutine is cancelled or its deadline scope passes
    /// while waiting, the result is `Err` with an `io::Error` payload of kind
    /// `Interrupted` / `TimedOut` (use [`JoinHandle::wait`] to tell these
    /// apart without consuming the handle).
    pub fn join(self) -> std::thread::Result<T> {
        if let Err(e) = self.wait() {
            return Err(Box::new(e));
        }
        self.take_result()
    }

    fn take_result(&self) -> std::thread::Result<T> {
        if let Some(v) = self.task.value.borrow_mut().take() {
            let v = v
                .downcast::<T>()
                .expect("a coroutine's value has its JoinHandle's type");
            return Ok(*v);
        }
        match self.task.panic.borrow_mut().take() {
            Some(payload) => Err(payload),
            None => Err(Box::new(io::Error::new(
                io::ErrorKind::Interrupted,
                "coroutine was cancelled before it returned a value",
            ))),
        }
    }
}

/// Detaches the coroutine: its result, if it already finished, is dropped
/// now, else as soon as it finishes.
impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.task.detached.set(true);
        if self.task.state.get() == State::Done {
            let value = self.task.value.borrow_mut().take();
            let panic = self.task.panic.borrow_mut().take();
            drop((value, panic));
        }
    }
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.task.id)
            .field("name", &self.task.name)
            .field("state", &self.task.state.get())
            .finish()
    }
}
