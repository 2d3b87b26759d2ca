//! Coroutine-local storage: isolation between coroutines and from the
//! thread, lazy initialisation, and values dropped when their coroutine ends
//! (returns, panics, or is dropped while suspended).

mod util;

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU32, Ordering};

use corio_coro::{Coroutine, CoroutineResult, Yielder, coroutine_local};
use util::{DropCounter, drop_counter, returned, yielded};

coroutine_local! {
    static NUMBER: Cell<u32> = Cell::new(0);
    static NAME: RefCell<String> = RefCell::new(String::from("unset"));
    /// Holds a drop counter the test puts there.
    static HELD: RefCell<Option<DropCounter>> = const { RefCell::new(None) };
}

#[test]
fn values_are_isolated_between_interleaved_coroutines() {
    fn body(y: &Yielder<u32, (u32, String)>, mine: u32) -> (u32, String) {
        NUMBER.with(|n| n.set(mine));
        NAME.with(|s| *s.borrow_mut() = format!("co-{mine}"));
        // Let the other coroutine write its values, then read ours back.
        let more = y.suspend((NUMBER.with(Cell::get), NAME.with(|s| s.borrow().clone())));
        NUMBER.with(|n| n.set(n.get() + more));
        y.suspend((NUMBER.with(Cell::get), NAME.with(|s| s.borrow().clone())));
        (NUMBER.with(Cell::get), NAME.with(|s| s.borrow().clone()))
    }

    NUMBER.with(|n| n.set(99));
    let mut a = Coroutine::new(body).unwrap();
    let mut b = Coroutine::new(body).unwrap();

    assert_eq!(yielded(a.resume(1)), (1, "co-1".into()));
    assert_eq!(yielded(b.resume(2)), (2, "co-2".into()));
    assert_eq!(yielded(a.resume(10)), (11, "co-1".into()));
    assert_eq!(yielded(b.resume(20)), (22, "co-2".into()));
    assert_eq!(returned(b.resume(0)), (22, "co-2".into()));
    assert_eq!(returned(a.resume(0)), (11, "co-1".into()));

    // Code outside any coroutine has the thread's own values.
    assert_eq!(NUMBER.with(Cell::get), 99);
    assert_eq!(NAME.with(|s| s.borrow().clone()), "unset");
}

#[test]
fn nested_coroutine_has_its_own_values() {
    let mut outer = Coroutine::<(), (), (u32, u32)>::new(|_, ()| {
        NUMBER.with(|n| n.set(5));
        let mut inner = Coroutine::<(), (), u32>::new(|_, ()| {
            NUMBER.with(|n| n.set(n.get() + 1));
            NUMBER.with(Cell::get)
        })
        .unwrap();
        let inner_value = returned(inner.resume(()));
        (NUMBER.with(Cell::get), inner_value)
    })
    .unwrap();
    assert_eq!(returned(outer.resume(())), (5, 1));
}

#[test]
fn initialiser_runs_lazily_once_per_coroutine() {
    static INITS: AtomicU32 = AtomicU32::new(0);
    coroutine_local! {
        static COUNTED: u32 = INITS.fetch_add(1, Ordering::Relaxed);
    }

    let mut untouched = Coroutine::<(), (), ()>::new(|_, ()| {}).unwrap();
    returned(untouched.resume(()));
    assert_eq!(
        INITS.load(Ordering::Relaxed),
        0,
        "initialised without access"
    );

    let mut co = Coroutine::<(), (), ()>::new(|y, ()| {
        COUNTED.with(|_| ());
        y.suspend(());
        COUNTED.with(|_| ());
        COUNTED.with(|_| ());
    })
    .unwrap();
    yielded(co.resume(()));
    returned(co.resume(()));
    assert_eq!(INITS.load(Ordering::Relaxed), 1);

    let mut other = Coroutine::<(), (), ()>::new(|_, ()| COUNTED.with(|_| ())).unwrap();
    returned(other.resume(()));
    assert_eq!(INITS.load(Ordering::Relaxed), 2);
}

#[test]
fn values_are_dropped_when_the_coroutine_returns() {
    let (drops, counter) = drop_counter();
    let mut co = Coroutine::<(), (), ()>::new(move |y, ()| {
        HELD.with(|h| *h.borrow_mut() = Some(counter()));
        y.suspend(());
    })
    .unwrap();
    yielded(co.resume(()));
    assert_eq!(drops.get(), 0, "dropped while the coroutine is alive");
    returned(co.resume(()));
    // Dropped by the resume that saw the coroutine finish, not later.
    assert_eq!(drops.get(), 1);
    drop(co);
    assert_eq!(drops.get(), 1, "dropped twice");
    HELD.with(|h| assert!(h.borrow().is_none(), "leaked into the thread"));
}

#[test]
fn values_are_dropped_when_the_coroutine_panics() {
    let (drops, counter) = drop_counter();
    let mut co = Coroutine::<(), (), ()>::new(move |_, ()| {
        HELD.with(|h| *h.borrow_mut() = Some(counter()));
        panic!("fails while holding a coroutine-local");
    })
    .unwrap();
    assert!(matches!(co.resume(()), CoroutineResult::Return(Err(_))));
    assert_eq!(drops.get(), 1);
}

#[test]
fn values_are_dropped_when_a_suspended_coroutine_is_dropped() {
    let (drops, counter) = drop_counter();
    let mut co = Coroutine::<(), (), ()>::new(move |y, ()| {
        HELD.with(|h| *h.borrow_mut() = Some(counter()));
        y.suspend(());
    })
    .unwrap();
    yielded(co.resume(()));
    drop(co);
    assert_eq!(drops.get(), 1);
}

#[test]
fn destructors_during_unwind_still_see_their_coroutine_locals() {
    struct ReadsLocal(std::rc::Rc<Cell<u32>>);
    impl Drop for ReadsLocal {
        fn drop(&mut self) {
            self.0.set(NUMBER.with(Cell::get));
        }
    }

    let seen = std::rc::Rc::new(Cell::new(0));
    let s = seen.clone();
    let mut co = Coroutine::<(), (), ()>::new(move |y, ()| {
        NUMBER.with(|n| n.set(17));
        let _r = ReadsLocal(s);
        y.suspend(());
    })
    .unwrap();
    yielded(co.resume(()));
    drop(co);
    assert_eq!(seen.get(), 17);
}

#[test]
fn values_created_by_local_destructors_are_dropped_too() {
    // The destructor of one coroutine-local touches another key, creating a
    // value while the coroutine's locals are being cleared.
    struct TouchesHeld(DropCounter);
    impl Drop for TouchesHeld {
        fn drop(&mut self) {
            let late = DropCounter(self.0.0.clone());
            HELD.with(|h| *h.borrow_mut() = Some(late));
        }
    }
    coroutine_local! {
        static TOUCHER: RefCell<Option<TouchesHeld>> = const { RefCell::new(None) };
    }

    let (drops, counter) = drop_counter();
    let mut co = Coroutine::<(), (), ()>::new(move |_, ()| {
        TOUCHER.with(|t| *t.borrow_mut() = Some(TouchesHeld(counter())));
    })
    .unwrap();
    returned(co.resume(()));
    // The toucher's own counter and the late value it created.
    assert_eq!(drops.get(), 2);
    HELD.with(|h| assert!(h.borrow().is_none(), "late value landed in the thread"));
}

#[test]
fn destructor_touching_its_own_key_does_not_hang() {
    // Before the fix this looped forever when the coroutine ended.
    struct Reenter;
    impl Drop for Reenter {
        fn drop(&mut self) {
            SELF_TOUCH.with(|_| {});
        }
    }
    corio_coro::coroutine_local! {
        static SELF_TOUCH: Reenter = Reenter;
    }
    let mut co = corio_coro::Coroutine::<(), (), ()>::new(|_, ()| {
        SELF_TOUCH.with(|_| {});
    })
    .unwrap();
    assert!(matches!(
        co.resume(()),
        corio_coro::CoroutineResult::Return(Ok(()))
    ));
    assert!(co.done());
}

/// Records, when dropped, the coroutine it was dropped in; panics after
/// that if asked to.
struct Witness {
    seen: Seen,
    panic: bool,
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.seen.set(Some(corio_coro::current_id()));
        if self.panic {
            panic!("a coroutine-local destructor panicked");
        }
    }
}

coroutine_local! {
    static WITNESS: RefCell<Option<Witness>> = const { RefCell::new(None) };
}

/// Where a [`Witness`] was dropped: `Some(current_id())` once it was.
type Seen = std::rc::Rc<Cell<Option<Option<u64>>>>;

/// A coroutine that puts a [`Witness`] in its local and returns 5, and
/// where the witness reports.
fn witnessed(panic: bool) -> (Coroutine<(), (), u32>, Seen) {
    let seen = std::rc::Rc::new(Cell::new(None));
    let s = seen.clone();
    let co = Coroutine::new(move |_, ()| {
        WITNESS.with(|w| *w.borrow_mut() = Some(Witness { seen: s, panic }));
        5
    })
    .unwrap();
    (co, seen)
}

#[test]
fn values_are_dropped_inside_the_coroutine_as_it_returns() {
    // On its own stack and as the current coroutine: whatever a scheduler
    // lets the body do there (block, yield), a destructor may do too.
    let (mut co, seen) = witnessed(false);
    let id = co.id();
    assert_eq!(returned(co.resume(())), 5);
    assert_eq!(seen.get(), Some(Some(id)));
}

#[test]
fn a_panicking_local_destructor_is_the_coroutines_panic() {
    let (mut co, seen) = witnessed(true);
    match co.resume(()) {
        CoroutineResult::Return(Err(p)) => {
            assert_eq!(
                p.downcast_ref::<&str>(),
                Some(&"a coroutine-local destructor panicked")
            );
        }
        _ => panic!("expected the destructor's panic as the coroutine's result"),
    }
    assert!(seen.get().is_some());
}
