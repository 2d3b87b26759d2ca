//! Regression tests, each named after what broke.

mod util;

use std::os::fd::{AsRawFd, IntoRawFd};
use std::time::{Duration, Instant};

use corio_sched::{Interest, spawn, wait_fd};
use util::socketpair;

/// A scheduler registered an fd, another thread deregistered and closed it
/// (as the close hook does on a plain thread or another scheduler), and the
/// number came back for a new socket: the first scheduler still believed the
/// fd was in its epoll set, never re-added it, and a wait on the new socket
/// never woke.
#[test]
fn fd_closed_on_another_thread_then_reused_is_registered_again() {
    corio_sched::run(|| {
        let (a, b) = socketpair();
        let fd = a.as_raw_fd();
        // Register `a` here: wait for readability once.
        let waiter = spawn(move || wait_fd(fd, Interest::READABLE, None));
        corio_sched::sleep(Duration::from_millis(5));
        util::write(&b, b"x").unwrap();
        waiter.join().unwrap().unwrap();
        // Another thread closes it the way the close hook does.
        let raw = a.into_raw_fd();
        std::thread::spawn(move || {
            corio_sched::deregister_fd(raw);
            // SAFETY: `raw` was released by `into_raw_fd` and is ours.
            unsafe { libc::close(raw) };
        })
        .join()
        .unwrap();
        // The lowest free number is `fd` again (this test runs alone in
        // its thread's fd allocation window: other tests of this binary
        // might race, so look for the reused number among a few pairs).
        let mut pairs = Vec::new();
        let (mine, other) = loop {
            let (c, d) = socketpair();
            if c.as_raw_fd() == fd {
                break (c, d);
            }
            if d.as_raw_fd() == fd {
                break (d, c);
            }
            pairs.push((c, d));
            assert!(pairs.len() < 64, "fd {fd} was not reused");
        };
        let writer = spawn(move || {
            corio_sched::sleep(Duration::from_millis(20));
            util::write(&other, b"y").unwrap();
            other
        });
        let start = Instant::now();
        let deadline = start + Duration::from_secs(2);
        wait_fd(mine.as_raw_fd(), Interest::READABLE, Some(deadline))
            .expect("the wait on the reused fd number must wake");
        assert!(start.elapsed() < Duration::from_secs(1));
        writer.join().unwrap();
    });
}
