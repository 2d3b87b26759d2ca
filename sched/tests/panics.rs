//! Panics in coroutines: caught at the coroutine's boundary, handed to
//! `join` as `Err(payload)`, reported once when nobody joins, and never
//! fatal to the scheduler or the other coroutines.

mod util;

use std::cell::RefCell;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use corio_sched::{sleep, spawn, yield_now};
use util::panic_message;

#[test]
fn a_panicking_child_gives_err_to_join_with_the_payload() {
    corio_sched::run(|| {
        let h = spawn(|| -> u32 { panic!("child failed: {}", 42) });
        let payload = h.join().unwrap_err();
        assert_eq!(panic_message(&*payload), "child failed: 42");

        let h = spawn(|| std::panic::panic_any(7_i32));
        let payload = h.join().unwrap_err();
        assert_eq!(payload.downcast_ref::<i32>(), Some(&7));
    });
}

#[test]
fn the_scheduler_keeps_running_the_others_after_a_panic() {
    let log = corio_sched::run(|| {
        let log: Rc<RefCell<Vec<String>>> = Rc::default();
        let workers: Vec<_> = (0..4)
            .map(|i| {
                let log = log.clone();
                spawn(move || {
                    for step in 0..3 {
                        if i == 1 && step == 1 {
                            panic!("worker 1 gives up");
                        }
                        log.borrow_mut().push(format!("{i}.{step}"));
                        sleep(Duration::from_millis(5));
                    }
                    i
                })
            })
            .collect();
        let results: Vec<_> = workers.into_iter().map(|h| h.join()).collect();
        assert!(results[1].is_err());
        for (i, r) in results.iter().enumerate().filter(|(i, _)| *i != 1) {
            assert_eq!(*r.as_ref().unwrap(), i);
        }
        // A new coroutine still runs.
        assert_eq!(spawn(|| "alive").join().unwrap(), "alive");
        log.borrow().clone()
    });
    assert_eq!(log.len(), 3 * 3 + 1);
    assert!(log.contains(&"1.0".to_string()));
    assert!(!log.contains(&"1.1".to_string()));
}

#[test]
fn an_unjoined_panic_does_not_stop_the_scheduler() {
    let v = corio_sched::run(|| {
        drop(spawn(|| panic!("nobody joins this")));
        yield_now();
        sleep(Duration::from_millis(5));
        spawn(|| 5).join().unwrap()
    });
    assert_eq!(v, 5);
}

const CHILD_ENV: &str = "CORIO_SCHED_TEST_CHILD";

#[test]
fn an_unjoined_panic_is_reported_once() {
    const MESSAGE: &str = "unjoined coroutine panicked here";
    if std::env::var_os(CHILD_ENV).is_some() {
        // Child: a detached coroutine panics; nobody ever joins it.
        corio_sched::run(|| {
            drop(spawn(|| panic!("{MESSAGE}")));
            sleep(Duration::from_millis(10));
        });
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "an_unjoined_panic_is_reported_once",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stderr}");
    assert_eq!(
        stderr.matches(MESSAGE).count(),
        1,
        "the panic should be reported exactly once:\n{stderr}"
    );
}
