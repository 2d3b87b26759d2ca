//! The coroutine type: a corosensei coroutine on a pooled stack, with an id,
//! an optional name, coroutine-local storage and panic capture.
//!
//! This module owns the thread's "current coroutine" pointer, which every
//! `resume` sets for the duration of the run and restores afterwards, so
//! nested coroutines (a generator resumed inside a coroutine) see their own
//! identity.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use corosensei::{CoroutineResult, Yielder};

use crate::stack::{self, PooledStack};

/// Per-coroutine data that outlives individual resumes. Stored inline in
/// the [`Coroutine`]; [`CURRENT`] points at it only while the coroutine runs
/// (inside `resume`, or `drop`'s forced unwind), when it cannot move.
pub(crate) struct Meta {
    /// Process-unique id, never 0.
    pub(crate) id: u64,
    /// Optional user-given name.
    pub(crate) name: Option<Arc<str>>,
    /// Usable stack size in bytes.
    pub(crate) stack_size: usize,
    /// Guard page `[start, end)` of this coroutine's stack.
    pub(crate) guard: (usize, usize),
    /// Coroutine-local values, indexed by `LocalKey` slot; emptied when the
    /// coroutine ends.
    pub(crate) locals: RefCell<Vec<Option<Box<dyn Any>>>>,
    /// Set while `Drop` force-unwinds the coroutine, so the root
    /// `catch_unwind` lets the unwinding payload through.
    unwinding: Cell<bool>,
    /// The coroutine that was current when this one was last entered,
    /// restored when it switches back. Kept here rather than on the
    /// resumer's stack, where it would be spilled around the switch.
    prev: Cell<*const Meta>,
}

thread_local! {
    /// The innermost coroutine running on this thread, or null.
    static CURRENT: Cell<*const Meta> = const { Cell::new(ptr::null()) };
    /// Block of ids reserved by this thread: `(next, end)`.
    static IDS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Ids are handed to threads in blocks so that creating a coroutine needs no
/// atomic operation in the common case.
const ID_BLOCK: u64 = 1024;
static NEXT_ID_BLOCK: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    IDS.with(|ids| {
        let (mut next, mut end) = ids.get();
        if next == end {
            next = NEXT_ID_BLOCK.fetch_add(ID_BLOCK, Ordering::Relaxed);
            end = next + ID_BLOCK;
        }
        ids.set((next + 1, end));
        next
    })
}

/// Runs `f` with the current coroutine's metadata, or `None` outside any
/// coroutine.
pub(crate) fn with_current_meta<R>(f: impl FnOnce(Option<&Meta>) -> R) -> R {
    let ptr = CURRENT.with(|c| c.get());
    // SAFETY: CURRENT is non-null only while `resume` of the coroutine owning
    // this boxed Meta is on the call stack, so the Meta is alive.
    f(unsafe { ptr.as_ref() })
}

/// Makes a coroutine the current one until dropped, then restores the
/// previous one, also when a panic unwinds through the guard (resuming a
/// finished coroutine, a panicking destructor); otherwise `CURRENT` would be
/// left pointing at a `Meta` that may be freed.
struct Leave<'a> {
    /// The entered coroutine; its `prev` is restored on drop.
    meta: &'a Meta,
}

impl<'a> Leave<'a> {
    /// Makes `meta` current until the returned guard drops.
    #[inline]
    fn enter(meta: &'a Meta) -> Self {
        meta.prev.set(CURRENT.with(|c| c.replace(meta)));
        Leave { meta }
    }
}

impl Drop for Leave<'_> {
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.meta.prev.get()));
    }
}

/// Like [`Leave`] for a coroutine entered from outside any coroutine: it
/// restores null and so keeps nothing alive across the switch (a value kept
/// there is spilled to the stack around it, measurably so per round trip).
struct LeaveToTop;

impl Drop for LeaveToTop {
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(ptr::null()));
    }
}

/// Raw pointer to the current coroutine's metadata, for the overflow signal
/// handler (which must not touch thread-local destructors or locks).
#[allow(dead_code)]
pub(crate) fn current_meta_ptr() -> *const Meta {
    CURRENT.try_with(|c| c.get()).unwrap_or(ptr::null())
}

/// The id of the coroutine running on this thread, or `None` outside any
/// coroutine.
pub fn current_id() -> Option<u64> {
    with_current_meta(|m| m.map(|m| m.id))
}

/// The name of the coroutine running on this thread, if it has one.
pub fn current_name() -> Option<Arc<str>> {
    with_current_meta(|m| m.and_then(|m| m.name.clone()))
}

/// Configures and creates a [`Coroutine`], like `std::thread::Builder`.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    name: Option<Arc<str>>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with the default stack size and no name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the coroutine (shown in diagnostics and overflow reports).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the usable stack size in bytes (rounded up to pages; at least
    /// [`stack::MIN_STACK_SIZE`]).
    pub fn stack_size(mut self, size: usize) -> Self {
        self.stack_size = Some(size);
        self
    }

    /// Creates the coroutine; it does not run until the first
    /// [`Coroutine::resume`].
    ///
    /// # Errors
    /// `InvalidInput` for a bad stack size; an error naming
    /// `vm.max_map_count` when no stack can be mapped.
    pub fn build<I, Y, R, F>(self, f: F) -> io::Result<Coroutine<I, Y, R>>
    where
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'static,
        I: 'static,
        Y: 'static,
        R: 'static,
    {
        let size = stack::checked_stack_size(self.stack_size.unwrap_or(stack::DEFAULT_STACK_SIZE))?;
        Coroutine::with_checked_size(self.name, size, f)
    }
}

/// A stackful coroutine: runs `f` on its own stack, can suspend from any depth
/// of its call stack with [`Yielder::suspend`], and passes values both ways.
///
/// A coroutine never leaves the thread that created it:
///
/// ```compile_fail
/// let co = corio_coro::Coroutine::<(), (), ()>::new(|_, ()| {}).unwrap();
/// std::thread::spawn(move || drop(co));
/// ```
///
/// ```
/// use corio_coro::{Coroutine, CoroutineResult};
///
/// let mut co = Coroutine::new(|y, first: i32| {
///     let second = y.suspend(first * 2);
///     first + second
/// })
/// .unwrap();
/// assert!(matches!(co.resume(5), CoroutineResult::Yield(10)));
/// match co.resume(7) {
///     CoroutineResult::Return(Ok(v)) => assert_eq!(v, 12),
///     _ => unreachable!(),
/// }
/// ```
// `repr(C)`, corosensei's part first: that is what every resume touches,
// and a scheduler that keeps coroutines in its own records lays them out
// so that this part shares cache lines with its other hot fields.
#[repr(C)]
pub struct Coroutine<I: 'static, Y: 'static, R: 'static> {
    /// The corosensei coroutine; its body catches panics at the root and
    /// returns them as `Err`.
    inner: corosensei::Coroutine<I, Y, std::thread::Result<R>, PooledStack>,
    /// Identity and locals. `CURRENT` points at it only while `resume` or
    /// `drop` holds `&mut self`, so the coroutine cannot move meanwhile.
    meta: Meta,
}

/// Bytes at the start of a [`Coroutine`] that `resume` reads and writes
/// (corosensei's stack pointers and stack bounds; the identity and locals
/// after them are touched only at creation, exit and in nested resumes).
/// A scheduler that embeds coroutines in its own records uses it to lay
/// out and prefetch their hot part.
#[doc(hidden)]
pub const RESUME_BYTES: usize = std::mem::offset_of!(Coroutine<(), (), ()>, meta);

impl<I: 'static, Y: 'static, R: 'static> Coroutine<I, Y, R> {
    /// Creates a coroutine with the default stack size and no name.
    ///
    /// # Errors
    /// An error naming `vm.max_map_count` when no stack can be mapped.
    pub fn new<F>(f: F) -> io::Result<Self>
    where
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'static,
    {
        Self::with_checked_size(None, stack::DEFAULT_STACK_SIZE, f)
    }

    /// Creates a coroutine; `size` must come from
    /// [`stack::checked_stack_size`]. This is the fast path used by schedulers
    /// that validated their configuration once.
    #[doc(hidden)]
    pub fn with_checked_size<F>(name: Option<Arc<str>>, size: usize, f: F) -> io::Result<Self>
    where
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'static,
    {
        crate::sys::overflow::ensure_installed();
        let stack = PooledStack::take(size)?;
        let guard = stack.guard_range();
        let meta = Meta {
            id: next_id(),
            name,
            stack_size: size,
            guard,
            locals: RefCell::new(Vec::new()),
            unwinding: Cell::new(false),
            prev: Cell::new(ptr::null()),
        };
        let inner = corosensei::Coroutine::with_stack(stack, move |y: &Yielder<I, Y>, input: I| {
            let result = panic::catch_unwind(AssertUnwindSafe(|| f(y, input)));
            let result = pass_forced_unwind(result);
            // The coroutine-locals go here, on the coroutine's own stack
            // and with it current, so their destructors may do what the
            // body may (a scheduler's blocking calls suspend it). A panic
            // in one is the coroutine's panic if it had none.
            match pass_forced_unwind(panic::catch_unwind(drop_locals)) {
                Err(payload) if result.is_ok() => Err(payload),
                _ => result,
            }
        });
        Ok(Coroutine { inner, meta })
    }

    /// Runs the coroutine until it suspends or returns.
    ///
    /// Returns `Yield(y)` when it called `suspend(y)`, and `Return(Ok(r))` or
    /// `Return(Err(panic payload))` when it finished. The thread and any other
    /// coroutine are unaffected by a panic inside it.
    ///
    /// # Panics
    /// Panics if the coroutine has already finished.
    #[inline]
    pub fn resume(&mut self, input: I) -> CoroutineResult<Y, std::thread::Result<R>> {
        let prev = CURRENT.with(|c| c.replace(&self.meta));
        let result = if prev.is_null() {
            // Resumed from outside any coroutine (a scheduler's loop): the
            // pointer to restore is known, so nothing is kept across the
            // switch.
            let _leave = LeaveToTop;
            self.inner.resume(input)
        } else {
            // Nested: the resumer is itself a coroutine.
            self.meta.prev.set(prev);
            let _leave = Leave { meta: &self.meta };
            self.inner.resume(input)
        };
        match result {
            CoroutineResult::Yield(y) => CoroutineResult::Yield(y),
            CoroutineResult::Return(r) => self.finished(r),
        }
    }

    /// The rare end of [`resume`](Self::resume): the coroutine returned
    /// (its body dropped its coroutine-locals). Kept out of line so the
    /// yield path stays short.
    #[cold]
    #[inline(never)]
    fn finished(
        &mut self,
        result: std::thread::Result<R>,
    ) -> CoroutineResult<Y, std::thread::Result<R>> {
        CoroutineResult::Return(result)
    }

    /// Whether the coroutine has finished (returned or panicked).
    pub fn done(&self) -> bool {
        self.inner.done()
    }

    /// Whether the coroutine has been resumed at least once.
    pub fn started(&self) -> bool {
        self.inner.started()
    }

    /// The coroutine's process-unique id.
    pub fn id(&self) -> u64 {
        self.meta.id
    }

    /// The coroutine's name, if it was given one.
    pub fn name(&self) -> Option<&Arc<str>> {
        self.meta.name.as_ref()
    }

    /// Usable stack size in bytes.
    pub fn stack_size(&self) -> usize {
        self.meta.stack_size
    }

    /// Base (highest address) of the coroutine's stack; with
    /// [`stack::pool_stats`] this shows stack reuse.
    pub fn stack_base(&self) -> usize {
        // The usable range starts right above the guard page.
        self.meta.guard.1 + self.meta.stack_size
    }

    /// Drops every coroutine-local value left after a forced unwind, from
    /// outside the coroutine (see [`drop_locals`] for the normal end).
    #[inline]
    fn clear_locals(&self) {
        // The common case: no coroutine-local was touched.
        if !self.meta.locals.borrow().is_empty() {
            self.clear_locals_slow();
        }
    }

    #[cold]
    fn clear_locals_slow(&self) {
        // With this coroutine current, as inside it (destructors see their
        // coroutine's other locals).
        let _enter = Leave::enter(&self.meta);
        drop_locals();
    }
}

/// Rounds of coroutine-local destruction before leftovers are leaked.
const LOCAL_DESTRUCTOR_ROUNDS: usize = 4;

/// Lets the panic of a forced unwind (`Drop` of a suspended coroutine)
/// through to corosensei; any other result is returned. A body that
/// catches panics itself passes its `catch_unwind` result through this,
/// or the drop cannot finish.
#[doc(hidden)]
pub fn pass_forced_unwind<T>(result: std::thread::Result<T>) -> std::thread::Result<T> {
    if let Err(payload) = result {
        if force_unwinding() {
            panic::resume_unwind(payload);
        }
        return Err(payload);
    }
    result
}

/// Whether the current coroutine is being unwound by the `Drop` of its
/// `Coroutine` (it was dropped while suspended).
fn force_unwinding() -> bool {
    // While the body runs, CURRENT is this coroutine's Meta (set by
    // `resume`, or by `Drop` around a forced unwind).
    with_current_meta(|m| m.is_some_and(|m| m.unwinding.get()))
}

/// Drops the current coroutine's coroutine-local values now, from inside
/// it; nothing outside a coroutine. A coroutine's body does this as it
/// returns; a scheduler calls it earlier when what the destructors do must
/// happen before its own bookkeeping of the coroutine's end.
///
/// Like pthread's PTHREAD_DESTRUCTOR_ITERATIONS: a destructor that keeps
/// re-creating values (e.g. by touching its own key) cannot loop forever;
/// what is left after the last round is leaked. A destructor may suspend
/// the coroutine: no reference to its metadata is held across one (the
/// `Coroutine` may move while suspended).
#[doc(hidden)]
pub fn drop_locals() {
    for _ in 0..LOCAL_DESTRUCTOR_ROUNDS {
        let taken = with_current_meta(|m| m.map(|m| std::mem::take(&mut *m.locals.borrow_mut())));
        match taken {
            Some(taken) if !taken.iter().all(Option::is_none) => drop(taken),
            _ => return,
        }
    }
    let left = with_current_meta(|m| m.map(|m| std::mem::take(&mut *m.locals.borrow_mut())));
    std::mem::forget(left);
}

impl<I: 'static, Y: 'static, R: 'static> Drop for Coroutine<I, Y, R> {
    fn drop(&mut self) {
        if self.inner.started() && !self.inner.done() {
            // Unwind the suspended stack so its destructors run, with this
            // coroutine as the current one (coroutine-locals stay reachable).
            self.meta.unwinding.set(true);
            let _enter = Leave::enter(&self.meta);
            self.inner.force_unwind();
        }
        self.clear_locals();
    }
}

impl<I: 'static, Y: 'static, R: 'static> std::fmt::Debug for Coroutine<I, Y, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coroutine")
            .field("id", &self.meta.id)
            .field("name", &self.meta.name)
            .field("started", &self.inner.started())
            .field("done", &self.inner.done())
            .finish()
    }
}
