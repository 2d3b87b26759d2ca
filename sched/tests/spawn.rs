//! Spawning and joining: `JoinHandle`, `Builder` (name, stack size),
//! `current()`, and joining oneself.

mod util;

use std::cell::{Cell, RefCell};
use std::hint::black_box;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use corio_sched::{Builder, JoinHandle, current, sleep, spawn, yield_now};

#[test]
fn join_returns_the_value_and_works_in_any_order() {
    corio_sched::run(|| {
        let fast = spawn(|| 1);
        let slow = spawn(|| {
            sleep(Duration::from_millis(20));
            2
        });
        assert!(!fast.is_finished());
        assert_eq!(slow.join().unwrap(), 2);
        assert!(fast.is_finished());
        assert_eq!(fast.join().unwrap(), 1);
    });
}

#[test]
fn closures_need_not_be_send() {
    corio_sched::run(|| {
        let shared = Rc::new(Cell::new(0));
        let s = shared.clone();
        let h = spawn(move || {
            s.set(s.get() + 1);
            Rc::new(s.get())
        });
        assert_eq!(*h.join().unwrap(), 1);
        assert_eq!(shared.get(), 1);
    });
}

#[test]
fn several_joiners_wait_for_one_coroutine() {
    corio_sched::run(|| {
        let target = Rc::new(spawn(|| sleep(Duration::from_millis(20))));
        let joiners: Vec<_> = (0..5)
            .map(|_| {
                let t = target.clone();
                spawn(move || t.wait())
            })
            .collect();
        for j in joiners {
            j.join().unwrap().unwrap();
        }
        assert!(target.is_finished());
    });
}

#[test]
fn dropping_a_handle_detaches_the_coroutine() {
    corio_sched::run(|| {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        drop(spawn(move || {
            sleep(Duration::from_millis(10));
            r.set(true);
        }));
        sleep(Duration::from_millis(50));
        assert!(ran.get());
    });
}

#[test]
fn builder_sets_name_and_stack_size() {
    corio_sched::run(|| {
        let h = Builder::new()
            .name("worker-7")
            .stack_size((4 << 20) + 123)
            .spawn(|| {
                let me = current().unwrap();
                // Use well over the default 128 KiB of stack.
                let big = black_box([1u8; 512 << 10]);
                let sum: u64 = big.iter().map(|&b| u64::from(b)).sum();
                (me.name().map(str::to_owned), me.id(), sum)
            })
            .unwrap();
        assert_eq!(h.name(), Some("worker-7"));
        let id = h.id();
        let (name, seen_id, sum) = h.join().unwrap();
        assert_eq!(name.as_deref(), Some("worker-7"));
        assert_eq!(seen_id, id);
        assert_eq!(sum, 512 << 10);
    });
}

#[test]
fn invalid_stack_sizes_are_invalid_input() {
    corio_sched::run(|| {
        for size in [0, 1, 4096, usize::MAX] {
            let err = Builder::new().stack_size(size).spawn(|| ()).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "size {size}");
        }
        // Nothing was spawned.
        assert_eq!(corio_sched::stats().alive, 1);
    });
}

#[test]
fn current_gives_id_and_name_inside_coroutines() {
    corio_sched::run(|| {
        let main = current().unwrap();
        assert_eq!(main.name(), Some("main"));
        let anon = spawn(|| current().unwrap());
        let named = Builder::new()
            .name("named")
            .spawn(|| current().unwrap())
            .unwrap();
        let (anon_id, named_id) = (anon.id(), named.id());
        let anon = anon.join().unwrap();
        let named = named.join().unwrap();
        assert_eq!(anon.id(), anon_id);
        assert_eq!(anon.name(), None);
        assert_eq!(named.id(), named_id);
        assert_eq!(named.name(), Some("named"));
        let mut ids = [main.id(), anon_id, named_id];
        ids.sort_unstable();
        ids.windows(2).for_each(|w| assert_ne!(w[0], w[1]));
        // Still the main coroutine after switching back.
        assert_eq!(current().unwrap(), main);
    });
    assert_eq!(current(), None);
}

#[test]
fn joining_oneself_is_a_deadlock_error() {
    corio_sched::run(|| {
        let me: Rc<RefCell<Option<JoinHandle<io::ErrorKind>>>> = Rc::default();
        let m = me.clone();
        let h = spawn(move || {
            let handle = m
                .borrow_mut()
                .take()
                .expect("handle stored before first run");
            let waited = handle.wait().unwrap_err().kind();
            let joined = handle.join().unwrap_err();
            assert_eq!(util::io_error(&*joined).kind(), io::ErrorKind::Deadlock);
            waited
        });
        let id = h.id();
        *me.borrow_mut() = Some(h);
        // The coroutine consumed its own handle; watch it through stats.
        for _ in 0..10 {
            yield_now();
        }
        assert!(me.borrow().is_none());
        assert_eq!(
            corio_sched::stats().alive,
            1,
            "coroutine #{id} is still alive"
        );
    });
}

#[test]
fn joining_oneself_reports_deadlock_kind() {
    corio_sched::run(|| {
        let me: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::default();
        let result: Rc<Cell<Option<io::ErrorKind>>> = Rc::default();
        let (m, r) = (me.clone(), result.clone());
        let h = spawn(move || {
            let err = m.borrow().as_ref().unwrap().wait().unwrap_err();
            r.set(Some(err.kind()));
        });
        *me.borrow_mut() = Some(h);
        while result.get().is_none() {
            yield_now();
        }
        assert_eq!(result.get(), Some(io::ErrorKind::Deadlock));
        me.borrow_mut().take().unwrap().join().unwrap();
    });
}

#[test]
fn join_of_a_coroutine_cancelled_by_the_end_of_run_gives_interrupted() {
    let handle = Rc::new(RefCell::new(None));
    let h = handle.clone();
    corio_sched::run(move || {
        *h.borrow_mut() = Some(spawn(|| sleep(Duration::from_secs(3600))));
    });
    // The coroutine was cancelled at the end of run; it never finished
    // normally, so its result is an Interrupted error.
    let h = handle.borrow_mut().take().unwrap();
    assert!(h.is_finished());
    let payload = h.join().unwrap_err();
    assert_eq!(util::io_error(&*payload).kind(), io::ErrorKind::Interrupted);
}

#[test]
fn a_new_joiner_after_a_cancelled_one_is_still_woken() {
    corio_sched::run(|| {
        let target = Rc::new(spawn(|| sleep(Duration::from_millis(30))));
        let t = target.clone();
        let first = spawn(move || t.wait());
        yield_now();
        first.cancel();
        assert_eq!(
            first.join().unwrap().unwrap_err().kind(),
            io::ErrorKind::Interrupted
        );
        let joiners: Vec<_> = (0..3)
            .map(|_| {
                let t = target.clone();
                spawn(move || t.wait())
            })
            .collect();
        for j in joiners {
            j.join().unwrap().unwrap();
        }
        assert!(target.is_finished());
    });
}

#[test]
fn a_returned_value_lives_until_joined_or_detached() {
    let drops = util::DropCounter::default();
    let d = drops.clone();
    corio_sched::run(move || {
        let kept = {
            let g = d.guard();
            spawn(move || g)
        };
        let detached = {
            let g = d.guard();
            spawn(move || g)
        };
        sleep(Duration::from_millis(5));
        assert!(kept.is_finished() && detached.is_finished());
        // Finished, but both values are held for their handles.
        assert_eq!(d.dropped(), 0);
        drop(detached);
        assert_eq!(d.dropped(), 1);
        let guard = kept.join().unwrap();
        assert_eq!(d.dropped(), 1);
        drop(guard);
        assert_eq!(d.dropped(), 2);
        // A value nobody holds a handle for is dropped when it finishes.
        let g = d.guard();
        drop(spawn(move || g));
        sleep(Duration::from_millis(5));
        assert_eq!(d.dropped(), 3);
    });
    assert_eq!(drops.dropped(), 3);
}

/// Sleeps in 2 ms steps until `done` holds, for at most about a second
/// (the caller's assertion then says what did not happen).
fn sleep_until(done: impl Fn() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        sleep(Duration::from_millis(2));
    }
}

/// Records, when dropped, which coroutine it was dropped in.
struct WhereDropped(Rc<Cell<Option<Option<u64>>>>);

impl Drop for WhereDropped {
    fn drop(&mut self) {
        self.0.set(Some(current().map(|c| c.id())));
    }
}

#[test]
fn a_detached_coroutine_drops_its_value_itself_as_it_returns() {
    corio_sched::run(|| {
        let seen = Rc::new(Cell::new(None));
        let s = seen.clone();
        let h = spawn(move || {
            sleep(Duration::from_millis(5));
            WhereDropped(s)
        });
        let id = h.id();
        drop(h); // detached before it returns
        sleep_until(|| seen.get().is_some());
        // Inside the coroutine, where a destructor may block like any
        // other code, not on the scheduler's stack afterwards.
        assert_eq!(seen.get(), Some(Some(id)));
    });
}

/// A panic payload that records, when dropped, the id of the coroutine
/// it was dropped in (0: outside any), after a sleep.
struct PayloadWitness(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Drop for PayloadWitness {
    fn drop(&mut self) {
        sleep(Duration::from_millis(1)); // may block: it is in the coroutine
        let id = current().map_or(0, |c| c.id());
        self.0.store(id, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn a_detached_coroutine_drops_its_panic_payload_itself() {
    use std::sync::atomic::{AtomicU64, Ordering};
    corio_sched::run(|| {
        let seen = std::sync::Arc::new(AtomicU64::new(u64::MAX));
        let s = seen.clone();
        let h = spawn(move || {
            sleep(Duration::from_millis(5));
            std::panic::panic_any(PayloadWitness(s))
        });
        let id = h.id();
        drop(h);
        sleep_until(|| seen.load(Ordering::Relaxed) != u64::MAX);
        assert_eq!(seen.load(Ordering::Relaxed), id);
    });
}

/// Sleeps and yields in its destructor, then records that it got through.
struct BlocksOnDrop(Rc<Cell<u32>>);

impl Drop for BlocksOnDrop {
    fn drop(&mut self) {
        sleep(Duration::from_millis(2));
        yield_now();
        self.0.set(self.0.get() + 1);
    }
}

corio_coro::coroutine_local! {
    static BLOCKER: RefCell<Option<BlocksOnDrop>> = RefCell::new(None);
}

#[test]
fn coroutine_local_destructors_may_block() {
    // They run inside the coroutine as it ends: a sleep or yield there
    // suspends it like any other (it used to run on the scheduler's stack,
    // with the finished coroutine's yielder: undefined behaviour).
    corio_sched::run(|| {
        let done = Rc::new(Cell::new(0));
        let mut handles = Vec::new();
        for _ in 0..3 {
            let d = done.clone();
            handles.push(spawn(move || {
                BLOCKER.with(|b| *b.borrow_mut() = Some(BlocksOnDrop(d)));
                7
            }));
        }
        // A fresh spawn joined at once runs inline on the joiner's stack;
        // the join returns once its locals are gone too.
        let inline_done = Rc::new(Cell::new(0));
        let d = inline_done.clone();
        let inline = spawn(move || BLOCKER.with(|b| *b.borrow_mut() = Some(BlocksOnDrop(d))));
        inline.join().unwrap();
        assert_eq!(inline_done.get(), 1);
        for h in handles {
            assert_eq!(h.join().unwrap(), 7);
        }
        assert_eq!(done.get(), 3);
    });
}

#[test]
fn a_coroutine_local_destructor_may_detach_its_own_coroutine() {
    // The handle lives in the coroutine's own local: its destructor
    // detaches the coroutine as it ends, and the value is then dropped
    // inside it, like any detached coroutine's.
    corio_coro::coroutine_local! {
        static OWN: RefCell<Option<JoinHandle<WhereDropped>>> = RefCell::new(None);
    }
    corio_sched::run(|| {
        let seen = Rc::new(Cell::new(None));
        let slot: Rc<RefCell<Option<JoinHandle<WhereDropped>>>> = Rc::default();
        let (s, v) = (slot.clone(), seen.clone());
        let h = spawn(move || {
            let own = s.borrow_mut().take().expect("handed over before it runs");
            OWN.with(|o| *o.borrow_mut() = Some(own));
            WhereDropped(v)
        });
        let id = h.id();
        *slot.borrow_mut() = Some(h);
        sleep_until(|| seen.get().is_some());
        assert_eq!(seen.get(), Some(Some(id)));
    });
}
