//! The multi-thread runtime and cross-thread handles.
//!
//! A [`Runtime`] with `n` threads runs one scheduler on the thread that
//! calls [`Runtime::block_on`] (thread 0) and one on each of `n - 1` worker
//! threads (thread-per-core). Coroutines never migrate; work crosses threads
//! only through a [`Handle`] (`Handle::spawn` needs `Send`) and the sync
//! primitives. A handle reaches its scheduler through that scheduler's
//! inbox and eventfd, so a sleeping scheduler wakes at once and nothing
//! polls while idle.
//!
//! Waking a sleeping thread costs tens of microseconds on an idle CPU, so a
//! scheduler that has received a cross-thread message within the last
//! millisecond spins for up to 50 µs for the next one before it sleeps (and
//! senders skip the eventfd write meanwhile); a scheduler that hears from no
//! other thread never spins. [`stats`](crate::stats) counts these spins.

use std::io;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle as ThreadHandle;

use corio_coro::stack;

use crate::park::{self, Waker};
use crate::remote::{Msg, Remote};
use crate::scheduler::{SCHED, Scheduler};
use crate::spawn::{run_with, spawn_in};

/// Configures a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeBuilder {
    threads: usize,
    stack_size: usize,
    thread_name: String,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        RuntimeBuilder {
            threads: 1,
            stack_size: stack::DEFAULT_STACK_SIZE,
            thread_name: "corio-worker".into(),
        }
    }
}

impl RuntimeBuilder {
    /// Number of scheduler threads, including the one that calls
    /// `block_on` (default 1).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n;
        self
    }

    /// Default coroutine stack size on every thread (default 128 KiB).
    pub fn stack_size(mut self, size: usize) -> Self {
        self.stack_size = size;
        self
    }

    /// Name prefix of worker threads (`<name>-1`, `<name>-2`, ...).
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// Starts the worker threads.
    ///
    /// # Errors
    /// `InvalidInput` for zero threads or a bad stack size; the OS error if
    /// a thread or its scheduler cannot be created (threads already started
    /// are stopped again).
    pub fn build(self) -> io::Result<Runtime> {
        if self.threads == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a corio runtime needs at least one thread",
            ));
        }
        let stack_size = stack::checked_stack_size(self.stack_size)?;
        let mut rt = Runtime {
            workers: Vec::new(),
            handles: Vec::new(),
            stack_size,
            threads: self.threads,
        };
        for i in 1..self.threads {
            let (tx, rx) = mpsc::channel();
            let thread = std::thread::Builder::new()
                .name(format!("{}-{i}", self.thread_name))
                .spawn(move || worker_main(stack_size, tx))?;
            match rx.recv() {
                Ok(Ok(handle)) => {
                    rt.handles.push(handle);
                    rt.workers.push(thread);
                }
                Ok(Err(e)) => {
                    let _ = thread.join();
                    return Err(e); // `rt` drops: started workers stop
                }
                Err(_) => {
                    let _ = thread.join();
                    return Err(io::Error::other("corio worker thread died while starting"));
                }
            }
        }
        Ok(rt)
    }
}

fn worker_main(stack_size: usize, ready: mpsc::Sender<io::Result<Handle>>) {
    let sched = match Scheduler::new(stack_size, false) {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(Handle::from_remote(sched.remote.clone())));
    SCHED.set(&sched, || {
        sched.run_until(None);
        sched.teardown();
    });
}

/// A set of scheduler threads. See the module docs.
///
/// ```
/// let rt = corio_sched::Runtime::builder().threads(2).build().unwrap();
/// let workers = rt.handles();
/// let sum = rt.block_on(move || {
///     let h = workers[0].spawn(|| std::thread::current().name().map(String::from));
///     let name = h.join().unwrap();
///     assert_eq!(name.as_deref(), Some("corio-worker-1"));
///     40 + 2
/// });
/// assert_eq!(sum, 42);
/// ```
pub struct Runtime {
    workers: Vec<ThreadHandle<()>>,
    /// Handles of the worker threads, in thread order.
    handles: Vec<Handle>,
    stack_size: usize,
    threads: usize,
}

impl Runtime {
    /// A builder with one thread and default stacks.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Handles of the `n - 1` worker threads (the calling thread's own
    /// scheduler is `Handle::current()` inside `block_on`).
    pub fn handles(&self) -> Vec<Handle> {
        self.handles.clone()
    }

    /// Number of scheduler threads including the `block_on` thread.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f` as the main coroutine on the calling thread's scheduler and
    /// returns its value; then stops and joins every worker thread, whose
    /// remaining coroutines are unwound.
    ///
    /// # Panics
    /// As [`run`](crate::run); a panic in `f` propagates after the workers
    /// are stopped.
    pub fn block_on<F, T>(mut self, f: F) -> T
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let detect = self.threads == 1;
        let result = panic::catch_unwind(AssertUnwindSafe(|| run_with(self.stack_size, detect, f)));
        self.shutdown();
        match result {
            Ok(v) => v,
            Err(payload) => panic::resume_unwind(payload),
        }
    }

    fn shutdown(&mut self) {
        for handle in self.handles.drain(..) {
            handle.remote.send(Msg::Run(Box::new(|| {
                Scheduler::with(|s| {
                    if let Some(s) = s {
                        s.request_stop();
                    }
                })
            })));
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("threads", &self.threads)
            .finish()
    }
}

/// A handle to one scheduler thread: spawn `Send` work onto it from any
/// thread. Cheap to clone.
pub struct Handle {
    remote: Arc<Remote>,
}

impl Handle {
    fn from_remote(remote: Arc<Remote>) -> Handle {
        // A live handle means another thread may send us work: the
        // scheduler is not deadlocked while one exists.
        remote.pending.fetch_add(1, Ordering::AcqRel);
        Handle { remote }
    }

    /// The handle of the scheduler running on this thread.
    ///
    /// # Panics
    /// Panics outside a running scheduler (call it inside `corio::run` or
    /// `Runtime::block_on`).
    pub fn current() -> Handle {
        Handle::try_current().expect(
            "corio::Handle::current called outside a corio runtime; call it inside corio::run",
        )
    }

    /// The handle of the scheduler running on this thread, if any.
    pub fn try_current() -> Option<Handle> {
        Scheduler::with(|s| s.map(|s| Handle::from_remote(s.remote.clone())))
    }

    /// Spawns `f` as a coroutine on this handle's scheduler thread.
    ///
    /// If the scheduler has shut down, the returned handle's `join` gives
    /// `Err` with an `io::Error` payload.
    pub fn spawn<F, T>(&self, f: F) -> RemoteJoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let shared = Arc::new(Mutex::new(Shared::<T> {
            result: None,
            waker: None,
            task: None,
            cancel: false,
        }));
        // Until the coroutine's body runs, a guard owns the result: if the
        // message is dropped unrun (the scheduler shut down after taking
        // it) or the coroutine is dropped before it ever ran, the join gets
        // an error instead of waiting forever.
        let job = Unfinished(Some(shared.clone()));
        let start = move || {
            let body_job = Unfinished(job.0.clone());
            let body = move || {
                let result = panic::catch_unwind(AssertUnwindSafe(f));
                let result = match result {
                    Err(_)
                        if Scheduler::with(|s| {
                            s.is_some_and(|s| s.is_shutting_down() && !s.is_draining())
                        }) =>
                    {
                        // A forced unwind at scheduler shutdown.
                        Err(Box::new(io::Error::new(
                            io::ErrorKind::Interrupted,
                            "coroutine cancelled: its scheduler shut down",
                        )) as Box<dyn std::any::Any + Send>)
                    }
                    other => other,
                };
                body_job.finish(result);
            };
            Scheduler::with(|s| {
                let s = s.expect("spawn message runs on a scheduler thread");
                match spawn_in(s, None, s.stack_size, body) {
                    Ok(handle) => {
                        let shared = job.disarm();
                        let mut sh = shared.lock().unwrap_or_else(|e| e.into_inner());
                        sh.task = Some((handle.task.key.get(), handle.task.id));
                        if sh.cancel {
                            s.cancel(&handle.task);
                        }
                    }
                    Err(e) => job.finish(Err(Box::new(e))),
                }
            });
        };
        let local = Scheduler::with(|s| s.is_some_and(|s| Arc::ptr_eq(&s.remote, &self.remote)));
        if local {
            start();
        } else if !self.remote.send(Msg::Run(Box::new(start))) {
            Shared::complete(
                &shared,
                Err(Box::new(io::Error::other(
                    "Handle::spawn: the target scheduler has shut down",
                ))),
            );
        }
        RemoteJoinHandle {
            shared,
            remote: self.remote.clone(),
            _marker: PhantomData,
        }
    }
}

impl Clone for Handle {
    fn clone(&self) -> Handle {
        Handle::from_remote(self.remote.clone())
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.remote.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

/// State shared by a remotely spawned coroutine and its join handle.
struct Shared<T> {
    result: Option<std::thread::Result<T>>,
    /// The joiner parked on this result.
    waker: Option<Waker>,
    /// Task key and id on the target scheduler, once started.
    task: Option<(usize, u64)>,
    /// Cancel requested before the task started.
    cancel: bool,
}

/// Completes a remote spawn's result with an error when dropped armed:
/// the start message or the coroutine was dropped before the body ran.
struct Unfinished<T>(Option<Arc<Mutex<Shared<T>>>>);

impl<T> Unfinished<T> {
    /// Completes with `result`.
    fn finish(mut self, result: std::thread::Result<T>) {
        if let Some(shared) = self.0.take() {
            Shared::complete(&shared, result);
        }
    }

    /// Hands the shared state over without completing it.
    fn disarm(mut self) -> Arc<Mutex<Shared<T>>> {
        self.0.take().expect("an armed guard")
    }
}

impl<T> Drop for Unfinished<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            Shared::complete(
                &shared,
                Err(Box::new(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "coroutine cancelled: its scheduler shut down before it ran",
                ))),
            );
        }
    }
}

impl<T> Shared<T> {
    fn complete(shared: &Mutex<Shared<T>>, result: std::thread::Result<T>) {
        let waker = {
            let mut sh = shared.lock().unwrap_or_else(|e| e.into_inner());
            sh.result = Some(result);
            sh.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Join handle of a coroutine spawned with [`Handle::spawn`]; `Send`, so it
/// can be joined from any coroutine or plain thread.
pub struct RemoteJoinHandle<T> {
    shared: Arc<Mutex<Shared<T>>>,
    remote: Arc<Remote>,
    _marker: PhantomData<fn() -> T>,
}

impl<T: Send + 'static> RemoteJoinHandle<T> {
    /// Whether the coroutine has finished.
    pub fn is_finished(&self) -> bool {
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .result
            .is_some()
    }

    /// Waits for the coroutine (parking the calling coroutine, or blocking a
    /// plain thread) and returns its result; `Err(payload)` if it panicked.
    /// If the joining coroutine is cancelled or its deadline scope passes,
    /// `Err` carries an `io::Error` of kind `Interrupted` / `TimedOut`.
    pub fn join(self) -> std::thread::Result<T> {
        loop {
            if let Some(r) = self
                .shared
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .result
                .take()
            {
                return r;
            }
            let parked = park::park("remote join", None, |w| {
                let mut sh = self.shared.lock().unwrap_or_else(|e| e.into_inner());
                if sh.result.is_some() {
                    return false;
                }
                sh.waker = Some(w);
                true
            });
            if let Err(e) = parked {
                return Err(Box::new(e));
            }
        }
    }

    /// Requests cancellation of the coroutine, as `JoinHandle::cancel`.
    pub fn cancel(&self) {
        let task = {
            let mut sh = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            if sh.task.is_none() {
                sh.cancel = true;
            }
            sh.task
        };
        let Some((key, id)) = task else {
            return;
        };
        let cancel = move || {
            Scheduler::with(|s| {
                if let Some(s) = s {
                    let task = s.tasks.borrow().get(key).filter(|t| t.id == id).cloned();
                    if let Some(task) = task {
                        s.cancel(&task);
                    }
                }
            })
        };
        let local = Scheduler::with(|s| s.is_some_and(|s| Arc::ptr_eq(&s.remote, &self.remote)));
        if local {
            cancel();
        } else {
            self.remote.send(Msg::Run(Box::new(cancel)));
        }
    }
}

impl<T> std::fmt::Debug for RemoteJoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteJoinHandle").finish_non_exhaustive()
    }
}
