//! Coroutine stacks and the per-thread stack pool.
//!
//! Every stack is one anonymous mapping with a guard page at its low end
//! (corosensei's `DefaultStack`, which also registers the stack with valgrind):
//!
//! ```text
//!  high addresses
//!  +----------------------+ <- base()   (the stack grows down from here)
//!  |                      |
//!  |   usable stack       |   `size` bytes, pages touched on demand
//!  |                      |
//!  +----------------------+ <- limit() + page
//!  |   guard page         |   PROT_NONE: an overflow faults here
//!  +----------------------+ <- limit()
//!  low addresses
//! ```
//!
//! Finished coroutines give their stack back to a pool owned by the thread
//! that created it; the next coroutine of the same size takes it again, so a
//! spawn costs no `mmap`/`munmap` in steady state. The pool keeps at most
//! [`pool_capacity`] idle stacks; the rest are unmapped.

use std::cell::{Cell, RefCell};
use std::io;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;

use corosensei::stack::{DefaultStack, Stack, StackPointer};

/// Default usable stack size: 128 KiB (pages are only committed when touched).
pub const DEFAULT_STACK_SIZE: usize = 128 * 1024;

/// Smallest accepted stack size. Below this, ordinary std code (formatting,
/// panicking) can overflow, so smaller requests are rejected.
pub const MIN_STACK_SIZE: usize = 16 * 1024;

/// Largest accepted stack size (1 GiB); larger requests are almost certainly
/// a unit mistake and would exhaust address space quickly.
pub const MAX_STACK_SIZE: usize = 1 << 30;

/// Default number of idle stacks a thread keeps for reuse.
pub const DEFAULT_POOL_CAPACITY: usize = 1024;

/// Counters of one thread's stack pool, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Stacks mapped with `mmap` since the thread started.
    pub mapped: u64,
    /// Stacks unmapped with `munmap` (pool full, or pool trimmed).
    pub unmapped: u64,
    /// Stack requests served from the pool with no syscall.
    pub reused: u64,
    /// Idle stacks currently held by the pool.
    pub idle: usize,
}

struct Pool {
    /// Idle stacks, grouped by usable size; each class holds stacks whose
    /// usable size is exactly its key. Few classes exist in practice, so a
    /// linear scan beats hashing.
    classes: RefCell<Vec<(usize, Vec<DefaultStack>)>>,
    /// Upper bound on the total number of idle stacks over all classes.
    capacity: Cell<usize>,
    /// Total number of idle stacks over all classes (kept equal to the sum).
    idle: Cell<usize>,
    mapped: Cell<u64>,
    unmapped: Cell<u64>,
    reused: Cell<u64>,
}

thread_local! {
    static POOL: Pool = const {
        Pool {
            classes: RefCell::new(Vec::new()),
            capacity: Cell::new(DEFAULT_POOL_CAPACITY),
            idle: Cell::new(0),
            mapped: Cell::new(0),
            unmapped: Cell::new(0),
            reused: Cell::new(0),
        }
    };
}

fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(crate::sys::page_size)
}

/// Checks a requested stack size and rounds it up to whole pages.
///
/// Sizes below [`MIN_STACK_SIZE`] or above [`MAX_STACK_SIZE`] are an
/// `InvalidInput` error.
pub fn checked_stack_size(size: usize) -> io::Result<usize> {
    if size < MIN_STACK_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "coroutine stack size {size} bytes is below the minimum of {} KiB",
                MIN_STACK_SIZE / 1024
            ),
        ));
    }
    if size > MAX_STACK_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "coroutine stack size {size} bytes is above the maximum of {} MiB",
                MAX_STACK_SIZE >> 20
            ),
        ));
    }
    let page = page_size();
    Ok((size + page - 1) & !(page - 1))
}

/// Sets how many idle stacks this thread's pool keeps; extra idle stacks are
/// unmapped at once.
pub fn set_pool_capacity(capacity: usize) {
    POOL.with(|p| {
        p.capacity.set(capacity);
        trim(p, capacity);
    });
}

/// How many idle stacks this thread's pool keeps at most.
pub fn pool_capacity() -> usize {
    POOL.with(|p| p.capacity.get())
}

/// This thread's pool counters.
pub fn pool_stats() -> PoolStats {
    POOL.with(|p| PoolStats {
        mapped: p.mapped.get(),
        unmapped: p.unmapped.get(),
        reused: p.reused.get(),
        idle: p.idle.get(),
    })
}

fn trim(p: &Pool, keep: usize) {
    let mut classes = p.classes.borrow_mut();
    for (_, stacks) in classes.iter_mut() {
        while p.idle.get() > keep {
            match stacks.pop() {
                Some(s) => {
                    drop(s);
                    p.idle.set(p.idle.get() - 1);
                    p.unmapped.set(p.unmapped.get() + 1);
                }
                None => break,
            }
        }
    }
    classes.retain(|(_, s)| !s.is_empty());
}

/// A coroutine stack that goes back to its thread's pool when dropped.
///
/// `!Send`: it must be dropped on the thread whose pool it belongs to.
pub struct PooledStack {
    /// The mapping; taken out only by `Drop`, which hands it back to the
    /// pool (not an `Option`, so the per-resume `base()` has no branch).
    stack: ManuallyDrop<DefaultStack>,
    /// Usable size (excluding the guard page); the pool class it returns to.
    size: usize,
    _not_send: PhantomData<*mut ()>,
}

impl PooledStack {
    /// Takes a stack of `size` usable bytes (already checked and rounded by
    /// [`checked_stack_size`]) from the pool, or maps a new one.
    pub(crate) fn take(size: usize) -> io::Result<Self> {
        let pooled = POOL.with(|p| {
            let mut classes = p.classes.borrow_mut();
            let class = classes.iter_mut().find(|(s, _)| *s == size)?;
            let stack = class.1.pop()?;
            p.idle.set(p.idle.get() - 1);
            p.reused.set(p.reused.get() + 1);
            Some(stack)
        });
        let stack = match pooled {
            Some(stack) => stack,
            None => Self::map(size)?,
        };
        Ok(PooledStack {
            stack: ManuallyDrop::new(stack),
            size,
            _not_send: PhantomData,
        })
    }

    #[cold]
    fn map(size: usize) -> io::Result<DefaultStack> {
        let stack = DefaultStack::new(size).map_err(|e| crate::sys::explain_map_error(e, size))?;
        // Counters are best effort during thread teardown.
        let _ = POOL.try_with(|p| p.mapped.set(p.mapped.get() + 1));
        Ok(stack)
    }

    /// Usable size in bytes, excluding the guard page.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The guard page's address range `[start, end)`.
    pub fn guard_range(&self) -> (usize, usize) {
        let lo = self.limit().get();
        (lo, lo + page_size())
    }
}

impl Drop for PooledStack {
    fn drop(&mut self) {
        // SAFETY: `drop` runs once and nothing uses `self.stack` after it.
        let stack = unsafe { ManuallyDrop::take(&mut self.stack) };
        let size = self.size;
        // During thread teardown the pool may be gone; then the stack is
        // simply unmapped by its own destructor.
        let _ = POOL.try_with(move |p| {
            if p.idle.get() >= p.capacity.get() {
                drop(stack);
                p.unmapped.set(p.unmapped.get() + 1);
                return;
            }
            let mut classes = p.classes.borrow_mut();
            match classes.iter_mut().find(|(s, _)| *s == size) {
                Some(class) => class.1.push(stack),
                None => classes.push((size, vec![stack])),
            }
            p.idle.set(p.idle.get() + 1);
        });
    }
}

// SAFETY: every accessor forwards to the `DefaultStack`, which has a guard
// page and at least MIN_STACK_SIZE usable bytes; `stack` is only taken out
// inside `drop`, after which no accessor runs.
unsafe impl Stack for PooledStack {
    #[inline]
    fn base(&self) -> StackPointer {
        self.stack.base()
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        self.stack.limit()
    }
}
