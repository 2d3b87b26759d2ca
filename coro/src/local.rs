//! Coroutine-local storage: [`coroutine_local!`](crate::coroutine_local) and
//! [`LocalKey`].
//!
//! Each coroutine has its own value of every key, created lazily on first
//! access and dropped when the coroutine ends. Outside any coroutine the
//! thread itself holds one set of values (dropped when the thread exits), so
//! code that runs both inside and outside coroutines keeps working.

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::coroutine::with_current_meta;

/// Slot numbers are assigned to keys lazily, process-wide.
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);
/// Marks a key whose slot has not been assigned yet.
const UNASSIGNED: usize = usize::MAX;

thread_local! {
    /// Values of code running outside any coroutine on this thread.
    static THREAD_VALUES: RefCell<Vec<Option<Box<dyn Any>>>> = const { RefCell::new(Vec::new()) };
}

/// A key to a coroutine-local value; create it with
/// [`coroutine_local!`](crate::coroutine_local).
pub struct LocalKey<T: 'static> {
    init: fn() -> T,
    /// Index into each coroutine's value table, assigned on first use.
    slot: AtomicUsize,
}

impl<T: 'static> LocalKey<T> {
    #[doc(hidden)]
    pub const fn new(init: fn() -> T) -> Self {
        LocalKey {
            init,
            slot: AtomicUsize::new(UNASSIGNED),
        }
    }

    fn slot(&self) -> usize {
        let slot = self.slot.load(Ordering::Acquire);
        if slot != UNASSIGNED {
            return slot;
        }
        let fresh = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
        match self
            .slot
            .compare_exchange(UNASSIGNED, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => fresh,
            Err(existing) => existing,
        }
    }

    /// Calls `f` with this coroutine's value, creating it first if needed.
    ///
    /// # Panics
    /// Panics if the initialiser of this key accesses the key itself.
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        let slot = self.slot();
        with_current_meta(|meta| match meta {
            Some(meta) => self.with_in(&meta.locals, slot, f),
            None => THREAD_VALUES.with(|values| self.with_in(values, slot, f)),
        })
    }

    fn with_in<R>(
        &'static self,
        values: &RefCell<Vec<Option<Box<dyn Any>>>>,
        slot: usize,
        f: impl FnOnce(&T) -> R,
    ) -> R {
        let existing = Self::lookup(values, slot);
        let ptr = match existing {
            Some(ptr) => ptr,
            None => {
                // Run the initialiser without holding the borrow, so it may
                // use other coroutine-locals.
                let value: Box<dyn Any> = Box::new((self.init)());
                let mut table = values.borrow_mut();
                if table.len() <= slot {
                    table.resize_with(slot + 1, || None);
                }
                assert!(
                    table[slot].is_none(),
                    "coroutine_local initialiser accessed its own key"
                );
                let ptr: *const T = value.downcast_ref::<T>().expect("slot holds T");
                table[slot] = Some(value);
                ptr
            }
        };
        // SAFETY: the value is boxed, so moving the table does not move it;
        // entries are only removed when the owning coroutine ends (or the
        // thread exits), which cannot happen while this call runs inside it.
        f(unsafe { &*ptr })
    }

    fn lookup(values: &RefCell<Vec<Option<Box<dyn Any>>>>, slot: usize) -> Option<*const T> {
        let table = values.borrow();
        let value = table.get(slot)?.as_ref()?;
        Some(value.downcast_ref::<T>().expect("slot holds T") as *const T)
    }
}

impl<T: 'static> std::fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKey").finish_non_exhaustive()
    }
}

/// Declares coroutine-local statics, like `thread_local!`.
///
/// ```
/// use std::cell::Cell;
/// corio_coro::coroutine_local! {
///     static COUNTER: Cell<u32> = Cell::new(0);
/// }
/// let mut a = corio_coro::Coroutine::<(), (), u32>::new(|_, ()| {
///     COUNTER.with(|c| c.set(c.get() + 1));
///     COUNTER.with(|c| c.get())
/// })
/// .unwrap();
/// assert!(matches!(a.resume(()), corio_coro::CoroutineResult::Return(Ok(1))));
/// // The thread's own value is separate from the coroutine's.
/// assert_eq!(COUNTER.with(|c| c.get()), 0);
/// ```
#[macro_export]
macro_rules! coroutine_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
        $(#[$attr])*
        $vis static $name: $crate::LocalKey<$t> = $crate::LocalKey::new({
            fn __corio_init() -> $t {
                $init
            }
            __corio_init
        });
        $crate::coroutine_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr) => {
        $crate::coroutine_local!($(#[$attr])* $vis static $name: $t = $init;);
    };
}
