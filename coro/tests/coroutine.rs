//! The coroutine type: resume/suspend ordering, values both ways, suspension
//! from any depth, completion, panic capture, identity, and destructors when
//! a suspended coroutine is dropped.

mod util;

use std::cell::RefCell;
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use corio_coro::{Builder, Coroutine, CoroutineResult, Yielder, current_id, current_name};
use util::{drop_counter, panic_message, returned, yielded};

type Log = Rc<RefCell<Vec<&'static str>>>;

#[test]
fn resume_and_suspend_interleave_in_order() {
    let log: Log = Rc::default();
    let l = log.clone();
    let mut co = Coroutine::new(move |y: &Yielder<(), ()>, ()| {
        l.borrow_mut().push("co: start");
        y.suspend(());
        l.borrow_mut().push("co: after first suspend");
        y.suspend(());
        l.borrow_mut().push("co: end");
    })
    .unwrap();

    log.borrow_mut().push("main: created");
    yielded(co.resume(()));
    log.borrow_mut().push("main: first suspend seen");
    yielded(co.resume(()));
    log.borrow_mut().push("main: second suspend seen");
    returned(co.resume(()));
    log.borrow_mut().push("main: returned");

    assert_eq!(
        *log.borrow(),
        [
            "main: created",
            "co: start",
            "main: first suspend seen",
            "co: after first suspend",
            "main: second suspend seen",
            "co: end",
            "main: returned",
        ]
    );
}

#[test]
fn coroutine_does_not_run_before_first_resume() {
    let log: Log = Rc::default();
    let l = log.clone();
    let co = Coroutine::<(), (), ()>::new(move |_, ()| l.borrow_mut().push("ran")).unwrap();
    assert!(!co.started());
    drop(co);
    assert!(log.borrow().is_empty(), "a never-resumed coroutine ran");
}

#[test]
fn values_pass_both_ways() {
    // Input: the first resume's value is the closure argument, later ones are
    // what `suspend` returns. Yield: what `suspend` is given. Return: the
    // closure's result.
    let mut co = Coroutine::new(|y: &Yielder<String, usize>, first: String| {
        let mut seen = vec![first];
        loop {
            let next = y.suspend(seen.last().unwrap().len());
            if next == "stop" {
                return seen;
            }
            seen.push(next);
        }
    })
    .unwrap();

    assert_eq!(yielded(co.resume("a".into())), 1);
    assert_eq!(yielded(co.resume("bcd".into())), 3);
    assert_eq!(yielded(co.resume("".into())), 0);
    assert_eq!(returned(co.resume("stop".into())), ["a", "bcd", ""]);
}

#[inline(never)]
fn descend(y: &Yielder<u32, u32>, depth: u32, max: u32) -> u32 {
    // Suspend on the way down and on the way back up.
    let got = y.suspend(depth);
    assert_eq!(got, depth * 100, "wrong input at depth {depth}");
    if depth == max {
        return depth;
    }
    let below = descend(y, depth + 1, max);
    y.suspend(1000 + depth);
    below + depth
}

#[test]
fn suspends_from_nested_call_depth() {
    const MAX: u32 = 20;
    let mut co = Coroutine::new(|y: &Yielder<u32, u32>, _| descend(y, 0, MAX)).unwrap();
    let mut input = 0;
    for depth in 0..=MAX {
        assert_eq!(yielded(co.resume(input)), depth);
        input = (depth) * 100;
    }
    // Back up: depth MAX returns first, then each frame suspends on its way out.
    for depth in (0..MAX).rev() {
        assert_eq!(yielded(co.resume(input)), 1000 + depth);
        input = 0;
    }
    assert_eq!(returned(co.resume(0)), (0..=MAX).sum::<u32>());
}

#[test]
fn done_and_started_report_completion() {
    let mut co = Coroutine::new(|y: &Yielder<(), u8>, ()| {
        y.suspend(1);
        7u8
    })
    .unwrap();
    assert!(!co.started() && !co.done());
    assert_eq!(yielded(co.resume(())), 1);
    assert!(co.started() && !co.done());
    assert_eq!(returned(co.resume(())), 7);
    assert!(co.started() && co.done());
}

#[test]
fn generator_runs_many_rounds() {
    let mut fib = Coroutine::new(|y: &Yielder<(), u64>, ()| {
        let (mut a, mut b) = (0u64, 1u64);
        for _ in 0..90 {
            y.suspend(a);
            (a, b) = (b, a + b);
        }
    })
    .unwrap();
    let mut got = Vec::new();
    while let CoroutineResult::Yield(v) = fib.resume(()) {
        got.push(v);
    }
    assert!(fib.done());
    assert_eq!(got.len(), 90);
    assert_eq!(got[..10], [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]);
    assert!(got.windows(3).all(|w| w[2] == w[0] + w[1]));
}

#[test]
fn panic_is_returned_as_err_with_its_payload() {
    // A bystander suspended before the panic, resumed after it.
    let mut bystander = Coroutine::new(|y: &Yielder<u32, u32>, a: u32| a + y.suspend(a)).unwrap();
    assert_eq!(yielded(bystander.resume(40)), 40);

    let (drops, counter) = drop_counter();
    let mut co = Coroutine::<(), (), ()>::new(move |y, ()| {
        let _guard = counter();
        y.suspend(());
        let n = 42;
        panic!("boom {n}");
    })
    .unwrap();
    yielded(co.resume(()));
    match co.resume(()) {
        CoroutineResult::Return(Err(payload)) => assert_eq!(panic_message(&*payload), "boom 42"),
        CoroutineResult::Return(Ok(())) => panic!("panic was not reported"),
        CoroutineResult::Yield(()) => panic!("coroutine yielded after panicking"),
    }
    assert!(co.done());
    assert_eq!(drops.get(), 1, "the panic unwound the coroutine's stack");

    // The thread and the other coroutine are unaffected.
    assert_eq!(current_id(), None);
    assert_eq!(returned(bystander.resume(2)), 42);
    let mut fresh = Coroutine::<(), (), &str>::new(|_, ()| "still fine").unwrap();
    assert_eq!(returned(fresh.resume(())), "still fine");
}

#[test]
fn panic_payloads_of_any_type_are_returned() {
    #[derive(Debug, PartialEq)]
    struct Custom(u32);

    let mut static_str = Coroutine::<(), (), ()>::new(|_, ()| panic!("plain")).unwrap();
    let CoroutineResult::Return(Err(p)) = static_str.resume(()) else {
        panic!("no panic reported");
    };
    assert_eq!(p.downcast_ref::<&str>(), Some(&"plain"));

    let mut custom = Coroutine::<(), (), ()>::new(|_, ()| panic::panic_any(Custom(9))).unwrap();
    let CoroutineResult::Return(Err(p)) = custom.resume(()) else {
        panic!("no panic reported");
    };
    assert_eq!(p.downcast_ref::<Custom>(), Some(&Custom(9)));
}

#[test]
fn panic_in_nested_coroutine_reaches_only_its_resumer() {
    let mut outer = Coroutine::<(), (), String>::new(|_, ()| {
        let mut inner = Coroutine::<(), (), ()>::new(|_, ()| panic!("inner failed")).unwrap();
        match inner.resume(()) {
            CoroutineResult::Return(Err(p)) => format!("caught: {}", panic_message(&*p)),
            _ => "not caught".into(),
        }
    })
    .unwrap();
    assert_eq!(returned(outer.resume(())), "caught: inner failed");
}

/// Regression: resuming a finished coroutine panics (corosensei's
/// "attempt to resume a completed coroutine"); that panic used to leave the
/// thread's current-coroutine pointer aimed at the coroutine, so after it was
/// dropped `current_id()` read freed memory.
#[test]
fn resume_after_completion_panics_and_leaves_no_current_coroutine() {
    let mut co = Coroutine::<(), (), ()>::new(|_, ()| {}).unwrap();
    returned(co.resume(()));
    let again = panic::catch_unwind(AssertUnwindSafe(|| co.resume(())));
    assert!(again.is_err(), "resuming a finished coroutine must panic");
    assert_eq!(current_id(), None);
    drop(co);
    assert_eq!(current_id(), None);
    assert_eq!(current_name(), None);
}

#[test]
fn ids_are_unique_and_nonzero() {
    let ids: Vec<u64> = (0..5000)
        .map(|_| Coroutine::<(), (), ()>::new(|_, ()| {}).unwrap().id())
        .collect();
    let unique: HashSet<u64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len());
    assert!(!unique.contains(&0));
}

#[test]
fn ids_are_unique_across_threads() {
    // More coroutines per thread than one block of ids, so threads come back
    // for further blocks while the others do the same.
    const THREADS: usize = 4;
    const PER_THREAD: usize = 3000;
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            std::thread::spawn(|| {
                (0..PER_THREAD)
                    .map(|_| {
                        let mut co =
                            Coroutine::<(), (), u64>::new(|_, ()| current_id().unwrap()).unwrap();
                        let id = co.id();
                        assert_eq!(returned(co.resume(())), id);
                        id
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut all = HashSet::new();
    for h in handles {
        for id in h.join().unwrap() {
            assert!(id != 0);
            assert!(all.insert(id), "id {id} handed out twice");
        }
    }
    assert_eq!(all.len(), THREADS * PER_THREAD);
}

#[test]
fn current_id_and_name_inside_and_outside() {
    assert_eq!(current_id(), None);
    assert_eq!(current_name(), None);

    let mut named = Builder::new()
        .name("worker-7")
        .build(|y: &Yielder<(), (Option<u64>, Option<String>)>, ()| {
            y.suspend((current_id(), current_name().map(|n| n.to_string())));
            (current_id(), current_name().map(|n| n.to_string()))
        })
        .unwrap();
    let id = named.id();
    assert_eq!(named.name().map(|n| &**n), Some("worker-7"));
    let inside = yielded(named.resume(()));
    assert_eq!(inside, (Some(id), Some("worker-7".to_string())));
    // Suspended: the thread is outside any coroutine again.
    assert_eq!(current_id(), None);
    assert_eq!(current_name(), None);
    assert_eq!(
        returned(named.resume(())),
        (Some(id), Some("worker-7".to_string()))
    );
    assert_eq!(current_id(), None);

    let mut anon = Coroutine::<(), (), _>::new(|_, ()| (current_id(), current_name())).unwrap();
    let anon_id = anon.id();
    assert_eq!(anon.name(), None);
    assert_eq!(returned(anon.resume(())), (Some(anon_id), None));
    assert_ne!(anon_id, id);
}

#[test]
fn nested_coroutines_see_their_own_identity() {
    let mut outer = Builder::new()
        .name("outer")
        .build(|_: &Yielder<(), ()>, ()| {
            let outer_id = current_id().unwrap();
            let mut inner = Builder::new()
                .name("inner")
                .build(|y: &Yielder<(), (u64, String)>, ()| {
                    y.suspend((current_id().unwrap(), current_name().unwrap().to_string()));
                    (current_id().unwrap(), current_name().unwrap().to_string())
                })
                .unwrap();
            let inner_id = inner.id();
            assert_eq!(yielded(inner.resume(())), (inner_id, "inner".to_string()));
            // Back in the outer coroutine after the inner one suspended.
            assert_eq!(current_id(), Some(outer_id));
            assert_eq!(current_name().as_deref(), Some("outer"));
            assert_eq!(returned(inner.resume(())), (inner_id, "inner".to_string()));
            assert_eq!(current_id(), Some(outer_id));
            (outer_id, inner_id)
        })
        .unwrap();
    let (outer_id, inner_id) = returned(outer.resume(()));
    assert_eq!(outer_id, outer.id());
    assert_ne!(outer_id, inner_id);
    assert_eq!(current_id(), None);
}

#[test]
fn dropping_a_suspended_coroutine_runs_its_destructors() {
    #[inline(never)]
    fn hold_and_suspend(y: &Yielder<(), ()>, make: &dyn Fn() -> util::DropCounter, depth: u32) {
        let _held = make();
        if depth == 0 {
            y.suspend(());
            unreachable!("a dropped coroutine must not continue normally");
        }
        hold_and_suspend(y, make, depth - 1);
    }

    let (drops, counter) = drop_counter();
    let mut co = Coroutine::new(move |y: &Yielder<(), ()>, ()| {
        let _top = counter();
        hold_and_suspend(y, &counter, 4);
    })
    .unwrap();
    yielded(co.resume(()));
    assert_eq!(drops.get(), 0);
    drop(co);
    // One value at the top plus one per frame of depth 4..=0.
    assert_eq!(drops.get(), 6);
}

#[test]
fn destructors_of_a_dropped_coroutine_run_as_that_coroutine() {
    struct RecordCurrent(Rc<RefCell<Option<u64>>>);
    impl Drop for RecordCurrent {
        fn drop(&mut self) {
            *self.0.borrow_mut() = current_id();
        }
    }

    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    let mut co = Coroutine::<(), (), ()>::new(move |y, ()| {
        let _r = RecordCurrent(s);
        y.suspend(());
    })
    .unwrap();
    let id = co.id();
    yielded(co.resume(()));
    drop(co);
    assert_eq!(*seen.borrow(), Some(id));
    assert_eq!(current_id(), None);
}

#[test]
fn dropping_unstarted_or_finished_coroutines_drops_captures_once() {
    let (drops, counter) = drop_counter();

    let held = counter();
    let unstarted = Coroutine::<(), (), ()>::new(move |_, ()| drop(held)).unwrap();
    drop(unstarted);
    assert_eq!(drops.get(), 1, "captures of a never-started coroutine");

    let held = counter();
    let mut finished = Coroutine::<(), (), ()>::new(move |_, ()| drop(held)).unwrap();
    returned(finished.resume(()));
    assert_eq!(drops.get(), 2);
    drop(finished);
    assert_eq!(
        drops.get(),
        2,
        "a finished coroutine's values were dropped twice"
    );
}

#[test]
fn debug_shows_identity_and_state() {
    let co = Builder::new()
        .name("dbg")
        .build(|_: &Yielder<(), ()>, ()| {})
        .unwrap();
    let text = format!("{co:?}");
    assert!(text.contains(&format!("id: {}", co.id())), "{text}");
    assert!(text.contains("dbg"), "{text}");
    assert!(text.contains("started: false"), "{text}");
}

#[test]
fn resuming_a_finished_coroutine_panics_and_keeps_the_current_identity() {
    fn finished() -> Coroutine<(), (), ()> {
        let mut co = Coroutine::new(|_: &Yielder<(), ()>, ()| {}).unwrap();
        assert!(matches!(co.resume(()), CoroutineResult::Return(Ok(()))));
        co
    }
    // From outside any coroutine: the identity stays `None`.
    let mut done = finished();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| done.resume(())));
    assert!(caught.is_err());
    assert_eq!(current_id(), None);

    // From inside a coroutine: the resumer stays the current one.
    let mut outer = Coroutine::new(|_: &Yielder<(), ()>, ()| {
        let me = current_id();
        let mut done = finished();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| done.resume(())));
        (caught.is_err(), me == current_id())
    })
    .unwrap();
    let outer_id = outer.id();
    assert!(matches!(
        outer.resume(()),
        CoroutineResult::Return(Ok((true, true)))
    ));
    assert_eq!(current_id(), None);
    assert_ne!(outer_id, 0);
}
