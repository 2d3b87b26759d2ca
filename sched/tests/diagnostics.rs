//! Diagnostics: `stats()` counts coroutines by state, `dump()` lists every
//! coroutine with its name, state and what it waits for.

mod util;

use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use corio_sched::park::park;
use corio_sched::{Builder, Interest, Stats, spawn, wait_fd, yield_now};
use util::socketpair;

const LONG: Duration = Duration::from_secs(3600);

/// Spawns one coroutine of each waiting kind (named after it), lets them
/// park, and returns the fd pair the I/O waiter uses.
fn spawn_one_of_each() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    let (a, b) = socketpair();
    let fd = a.as_raw_fd();
    Builder::new()
        .name("sleeper-1")
        .spawn(|| corio_sched::sleep(LONG))
        .unwrap();
    Builder::new()
        .name("sleeper-2")
        .spawn(|| corio_sched::sleep(LONG))
        .unwrap();
    Builder::new()
        .name("reader")
        .spawn(move || wait_fd(fd, Interest::READABLE, None))
        .unwrap();
    Builder::new()
        .name("gatekeeper")
        .spawn(|| park("test gate", None, |_waker| true))
        .unwrap();
    let target = Rc::new(
        Builder::new()
            .name("target")
            .spawn(|| corio_sched::sleep(LONG))
            .unwrap(),
    );
    Builder::new()
        .name("joiner")
        .spawn(move || target.wait())
        .unwrap();
    yield_now();
    (a, b)
}

#[test]
fn stats_counts_coroutines_by_state() {
    corio_sched::run(|| {
        let before = corio_sched::stats();
        assert_eq!((before.alive, before.ready, before.waiting_io), (1, 0, 0));
        let _fds = spawn_one_of_each();
        // Two more, spawned but not yet run.
        spawn(|| ());
        spawn(|| ());
        let s = corio_sched::stats();
        assert_eq!(s.alive, 1 + 6 + 2, "{s:?}");
        assert_eq!(s.ready, 2, "{s:?}");
        assert_eq!(s.waiting_io, 1, "{s:?}");
        assert_eq!(s.waiting_timer, 3, "{s:?}");
        assert_eq!(s.waiting_other, 2, "{s:?}");
        assert!(s.switches > before.switches + 6, "{s:?}");

        corio_sched::sleep(Duration::from_millis(1));
        let after = corio_sched::stats();
        assert_eq!((after.alive, after.ready), (7, 0));
        assert!(after.epoll_waits > s.epoll_waits, "{after:?}");
    });
}

#[test]
fn stats_is_zero_outside_a_scheduler() {
    assert_eq!(corio_sched::stats(), Stats::default());
}

#[test]
fn dump_lists_names_states_and_what_each_waits_for() {
    corio_sched::run(|| {
        let (a, _b) = spawn_one_of_each();
        let fd = a.as_raw_fd();
        let fresh = Builder::new().name("fresh").spawn(|| ()).unwrap();
        let dump = corio_sched::dump();
        println!("{dump}");
        assert!(dump.contains("8 coroutine(s)"), "{dump}");
        let line = |name: &str| {
            dump.lines()
                .find(|l| l.contains(name))
                .unwrap_or_else(|| panic!("no line for {name} in:\n{dump}"))
                .to_string()
        };
        assert!(line("sleeper-1").contains("waiting on timer"));
        assert!(line("sleeper-2").contains("waiting on timer"));
        assert!(line("reader").contains(&format!("waiting on fd {fd} (read)")));
        assert!(line("gatekeeper").contains("waiting on test gate"));
        let target_id = {
            let l = line("target");
            assert!(l.contains("waiting on timer"));
            l.split_whitespace()
                .next()
                .unwrap()
                .trim_start_matches('#')
                .to_string()
        };
        assert!(line("joiner").contains(&format!("waiting on join of #{target_id}")));
        assert!(line("main").contains("Running"));
        assert!(line("fresh").contains("Ready"));
        assert!(line(&format!("#{}", fresh.id())).contains("fresh"));
        // Waiting lines say for how long.
        assert!(line("gatekeeper").contains(" for "));
    });
}

#[test]
fn dump_is_empty_outside_a_scheduler() {
    assert_eq!(corio_sched::dump(), "");
}
