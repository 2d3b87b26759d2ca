//! The spawn-then-join fast path: joining a coroutine that never ran
//! resumes it directly from the joiner. It must behave exactly like the
//! slow path (park, let the loop run the child, wake).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use corio_sched::{run, spawn, yield_now};

#[test]
fn fresh_child_that_parks_is_finished_by_the_loop() {
    let v = run(|| {
        let h = spawn(|| {
            corio_sched::sleep(Duration::from_millis(20));
            5
        });
        h.join().unwrap()
    });
    assert_eq!(v, 5);
}

#[test]
fn fresh_child_that_yields_lets_others_run_in_order() {
    let log = run(|| {
        let log = Rc::new(RefCell::new(Vec::new()));
        let l = log.clone();
        let other = spawn(move || {
            for i in 0..3 {
                l.borrow_mut().push(format!("other{i}"));
                yield_now();
            }
        });
        let l = log.clone();
        let child = spawn(move || {
            for i in 0..3 {
                l.borrow_mut().push(format!("child{i}"));
                yield_now();
            }
            7
        });
        assert_eq!(child.join().unwrap(), 7);
        other.join().unwrap();
        Rc::try_unwrap(log).unwrap().into_inner()
    });
    // The child starts at once (the joiner hands it its turn), then the two
    // alternate round robin.
    assert_eq!(
        log,
        ["child0", "other0", "child1", "other1", "child2", "other2"]
    );
}

#[test]
fn fresh_child_panic_is_returned_to_the_joiner() {
    let msg = run(|| {
        let h = spawn(|| -> u8 { panic!("inline boom") });
        let p = h.join().unwrap_err();
        p.downcast_ref::<&str>().map(|s| s.to_string())
    });
    assert_eq!(msg.as_deref(), Some("inline boom"));
}

#[test]
fn deep_spawn_join_chain() {
    fn chain(depth: u32) -> u32 {
        if depth == 0 {
            return 0;
        }
        spawn(move || chain(depth - 1)).join().unwrap() + 1
    }
    // Each level runs nested on its own stack; no stack grows with depth.
    assert_eq!(run(|| chain(2000)), 2000);
}

#[test]
fn pending_cancel_wins_over_the_fast_path() {
    let (kind, ran) = run(|| {
        let ran = Rc::new(RefCell::new(false));
        let r = ran.clone();
        let joiner = spawn(move || {
            let child = spawn(move || *r.borrow_mut() = true);
            // The cancel arrives before the join: join reports it instead
            // of running the child.
            let kind = child.wait().unwrap_err().kind();
            child.join().unwrap();
            kind
        });
        joiner.cancel();
        let kind = joiner.join().unwrap();
        (kind, *ran.borrow())
    });
    assert_eq!(kind, std::io::ErrorKind::Interrupted);
    assert!(ran, "the child still ran afterwards");
}
