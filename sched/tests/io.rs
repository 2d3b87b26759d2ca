//! `wait_fd`: readiness wakeups, several waiters per fd, hang-up and error,
//! regular files, deadlines and deregistration.

mod util;

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio_sched::{Interest, deregister_fd, sleep, spawn, wait_fd};
use util::{drain, fill, pipe, read, socketpair, write};

#[test]
fn wait_fd_wakes_exactly_when_the_peer_writes() {
    corio_sched::run(|| {
        let (a, b) = socketpair();
        let written_at: Rc<Cell<Option<Instant>>> = Rc::default();
        let start = Instant::now();
        let peer = {
            let written_at = written_at.clone();
            spawn(move || {
                sleep(Duration::from_millis(50));
                written_at.set(Some(Instant::now()));
                assert_eq!(write(&b, b"ping").unwrap(), 4);
                b
            })
        };
        // Nothing to read yet.
        let mut buf = [0u8; 16];
        assert_eq!(
            read(&a, &mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        wait_fd(a.as_raw_fd(), Interest::READABLE, None).unwrap();
        let woke_at = Instant::now();
        let written_at = written_at.get().expect("woke before the peer wrote");
        assert!(woke_at >= written_at);
        assert!(woke_at - start >= Duration::from_millis(50));
        assert!(
            woke_at - written_at < Duration::from_millis(500),
            "woke {:?} after the write",
            woke_at - written_at
        );
        assert_eq!(read(&a, &mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"ping");
        drop(peer.join().unwrap());
    });
}

#[test]
fn a_reader_and_a_writer_wait_on_one_fd_and_each_wakes_for_its_own_event() {
    corio_sched::run(|| {
        let (a, b) = socketpair();
        let a = Rc::new(a);
        // Fill a -> b so that `a` is not writable; nothing flows b -> a, so
        // it is not readable either.
        let filled = fill(&*a);
        assert!(filled > 0);
        let log: Rc<RefCell<Vec<&'static str>>> = Rc::default();

        let reader = {
            let (a, log) = (a.clone(), log.clone());
            spawn(move || {
                wait_fd(a.as_raw_fd(), Interest::READABLE, None).unwrap();
                log.borrow_mut().push("reader woke");
                let mut buf = [0u8; 8];
                assert_eq!(read(&*a, &mut buf).unwrap(), 3);
                assert_eq!(&buf[..3], b"abc");
            })
        };
        let writer = {
            let (a, log) = (a.clone(), log.clone());
            spawn(move || {
                wait_fd(a.as_raw_fd(), Interest::WRITABLE, None).unwrap();
                log.borrow_mut().push("writer woke");
                assert!(write(&*a, b"x").unwrap() > 0);
            })
        };

        sleep(Duration::from_millis(30));
        assert!(
            log.borrow().is_empty(),
            "spurious wakeup: {:?}",
            log.borrow()
        );
        log.borrow_mut().push("peer writes");
        assert_eq!(write(&b, b"abc").unwrap(), 3);
        sleep(Duration::from_millis(30));
        // The write made `a` readable, not writable: only the reader woke.
        assert_eq!(*log.borrow(), ["peer writes", "reader woke"]);
        assert!(reader.is_finished());
        assert!(!writer.is_finished());

        log.borrow_mut().push("peer drains");
        assert_eq!(drain(&b), filled);
        writer.join().unwrap();
        reader.join().unwrap();
        assert_eq!(
            *log.borrow(),
            ["peer writes", "reader woke", "peer drains", "writer woke"]
        );
    });
}

#[test]
fn many_waiters_on_one_fd_all_wake() {
    const WAITERS: usize = 50;
    corio_sched::run(|| {
        let (a, b) = socketpair();
        let a = Rc::new(a);
        let woke = Rc::new(Cell::new(0));
        let handles: Vec<_> = (0..WAITERS)
            .map(|_| {
                let (a, woke) = (a.clone(), woke.clone());
                spawn(move || {
                    wait_fd(a.as_raw_fd(), Interest::READABLE, None).unwrap();
                    woke.set(woke.get() + 1);
                })
            })
            .collect();
        sleep(Duration::from_millis(20));
        assert_eq!(woke.get(), 0);
        assert_eq!(corio_sched::stats().waiting_io, WAITERS);
        write(&b, b"!").unwrap();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(woke.get(), WAITERS);
        assert_eq!(corio_sched::stats().waiting_io, 0);
    });
}

/// The reactor keeps an fd's first reader inline and later ones in an
/// overflow list: a first waiter that timed out must neither be woken nor
/// hide the waiters behind it, and the waiters wake first come, first
/// served. (A lost wake fails the test through the 10 s deadline instead
/// of hanging it.)
#[test]
fn a_timed_out_first_waiter_does_not_hide_the_later_ones() {
    corio_sched::run(|| {
        let (a, b) = socketpair();
        let fd = a.as_raw_fd();
        let log = Rc::new(RefCell::new(Vec::new()));
        let first = {
            let log = log.clone();
            spawn(move || {
                let deadline = Instant::now() + Duration::from_millis(30);
                let err = wait_fd(fd, Interest::READABLE, Some(deadline)).unwrap_err();
                log.borrow_mut().push("first timed out");
                assert_eq!(err.kind(), io::ErrorKind::TimedOut);
            })
        };
        let waiter = |name: &'static str| {
            let log = log.clone();
            spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(10);
                wait_fd(fd, Interest::READABLE, Some(deadline))
                    .unwrap_or_else(|e| panic!("{name} was not woken: {e}"));
                log.borrow_mut().push(name);
            })
        };
        let mut later = vec![waiter("second"), waiter("third")];
        first.join().unwrap();
        assert_eq!(corio_sched::stats().waiting_io, 2);
        // The first waiter's stale inline slot goes to the oldest live one.
        later.push(waiter("fourth"));
        sleep(Duration::from_millis(10));
        assert_eq!(corio_sched::stats().waiting_io, 3);
        write(&b, b"!").unwrap();
        sleep(Duration::from_millis(20));
        assert_eq!(
            *log.borrow(),
            ["first timed out", "second", "third", "fourth"]
        );
        assert_eq!(corio_sched::stats().waiting_io, 0);
        for h in later {
            h.join().unwrap();
        }
    });
}

#[test]
fn hangup_wakes_every_waiter_of_the_fd() {
    corio_sched::run(|| {
        let (a, b) = socketpair();
        let a = Rc::new(a);
        fill(&*a);
        let woke = Rc::new(Cell::new(0));
        let mut handles = Vec::new();
        for interest in [
            Interest::READABLE,
            Interest::READABLE,
            Interest::WRITABLE,
            Interest::WRITABLE,
            Interest::READABLE | Interest::WRITABLE,
        ] {
            let (a, woke) = (a.clone(), woke.clone());
            handles.push(spawn(move || {
                wait_fd(a.as_raw_fd(), interest, None).unwrap();
                woke.set(woke.get() + 1);
            }));
        }
        sleep(Duration::from_millis(20));
        assert_eq!(woke.get(), 0);
        drop(b); // EPOLLHUP on `a`
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(woke.get(), 5);
    });
}

#[test]
fn error_on_a_pipe_write_end_wakes_readers_and_writers() {
    corio_sched::run(|| {
        let (r, w) = pipe();
        let w = Rc::new(w);
        fill(&*w);
        let woke = Rc::new(Cell::new(0));
        let handles: Vec<_> = [Interest::WRITABLE, Interest::WRITABLE, Interest::READABLE]
            .into_iter()
            .map(|interest| {
                let (w, woke) = (w.clone(), woke.clone());
                spawn(move || {
                    wait_fd(w.as_raw_fd(), interest, None).unwrap();
                    woke.set(woke.get() + 1);
                })
            })
            .collect();
        sleep(Duration::from_millis(20));
        assert_eq!(woke.get(), 0);
        drop(r); // EPOLLERR on the write end
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(woke.get(), 3);
        assert_eq!(
            write(&*w, b"x").unwrap_err().raw_os_error(),
            Some(libc::EPIPE)
        );
    });
}

#[test]
fn wait_fd_on_a_regular_file_returns_at_once() {
    corio_sched::run(|| {
        let file = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
        let start = Instant::now();
        for _ in 0..3 {
            wait_fd(file.as_raw_fd(), Interest::READABLE, None).unwrap();
            wait_fd(
                file.as_raw_fd(),
                Interest::READABLE | Interest::WRITABLE,
                Some(Instant::now() + Duration::from_secs(10)),
            )
            .unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(corio_sched::stats().waiting_io, 0);
    });
}

#[test]
fn wait_fd_with_a_deadline_times_out() {
    corio_sched::run(|| {
        let (a, _b) = socketpair();
        let deadline = Instant::now() + Duration::from_millis(40);
        let err = wait_fd(a.as_raw_fd(), Interest::READABLE, Some(deadline)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(Instant::now() >= deadline);
        assert!(deadline.elapsed() < Duration::from_secs(1));
        // The fd is still usable for a later wait.
        assert_eq!(corio_sched::stats().waiting_io, 0);
    });
}

#[test]
fn wait_fd_with_an_expired_deadline_times_out_promptly() {
    corio_sched::run(|| {
        let (a, _b) = socketpair();
        let start = Instant::now();
        let err = wait_fd(a.as_raw_fd(), Interest::READABLE, Some(Instant::now())).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() < Duration::from_millis(100));
    });
}

#[test]
fn woken_io_wait_leaves_no_timer_behind() {
    corio_sched::run(|| {
        let (a, b) = socketpair();
        spawn(move || {
            sleep(Duration::from_millis(10));
            write(&b, b"x").unwrap();
            sleep(Duration::from_millis(500));
            drop(b);
        });
        // Woken by the write long before its 60 ms deadline...
        wait_fd(
            a.as_raw_fd(),
            Interest::READABLE,
            Some(Instant::now() + Duration::from_millis(60)),
        )
        .unwrap();
        // ...so that deadline must not cut the next park short.
        let start = Instant::now();
        corio_sched::try_sleep(Duration::from_millis(150)).unwrap();
        assert!(start.elapsed() >= Duration::from_millis(150));
        let start = Instant::now();
        let mut buf = [0u8; 4];
        assert_eq!(read(&a, &mut buf).unwrap(), 1);
        let err = wait_fd(
            a.as_raw_fd(),
            Interest::READABLE,
            Some(Instant::now() + Duration::from_millis(100)),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(100));
    });
}

#[test]
fn deregister_fd_wakes_its_waiters_with_ebadf() {
    corio_sched::run(|| {
        let (a, _b) = socketpair();
        let fd = a.as_raw_fd();
        let waiters: Vec<_> = [Interest::READABLE, Interest::WRITABLE, Interest::READABLE]
            .into_iter()
            .map(|interest| {
                spawn(move || {
                    if interest.is_writable() {
                        // A fresh socket is writable: consume the edge that
                        // the first registration reports.
                        let _ = wait_fd(fd, interest, None);
                    }
                    wait_fd(fd, interest, None)
                })
            })
            .collect();
        sleep(Duration::from_millis(20));
        assert_eq!(corio_sched::stats().waiting_io, 3);
        deregister_fd(fd);
        for w in waiters {
            let err = w.join().unwrap().unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        }
        drop(a);
        assert_eq!(corio_sched::stats().waiting_io, 0);
    });
}

/// A close on another thread, told to corio with `start_close` and
/// `closed`, wakes the waiter: its scheduler gets no epoll event for a
/// closed fd, so the closing thread sends it a message.
#[test]
fn start_close_on_another_thread_wakes_the_waiters_with_ebadf() {
    corio_sched::run(|| {
        let (a, _b) = socketpair();
        let fd = std::os::fd::IntoRawFd::into_raw_fd(a);
        let waiter = spawn(move || wait_fd(fd, Interest::READABLE, None));
        sleep(Duration::from_millis(20));
        assert_eq!(corio_sched::stats().waiting_io, 1);
        std::thread::spawn(move || {
            let closing = corio_sched::start_close(fd);
            // SAFETY: `fd` came from `into_raw_fd` and is closed once.
            assert_eq!(unsafe { libc::close(fd) }, 0);
            closing.closed();
        })
        .join()
        .unwrap();
        let r = corio_sched::with_timeout(Duration::from_secs(2), || waiter.join());
        let err = r.expect("woken within 2 s").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        assert_eq!(corio_sched::stats().waiting_io, 0);
    });
}

#[test]
fn fd_is_usable_again_after_deregister() {
    corio_sched::run(|| {
        let (a, b) = socketpair();
        deregister_fd(a.as_raw_fd()); // never registered: a no-op
        let fd = a.as_raw_fd();
        let w = spawn(move || wait_fd(fd, Interest::READABLE, None));
        sleep(Duration::from_millis(10));
        deregister_fd(fd);
        assert_eq!(
            w.join().unwrap().unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
        // Registered again lazily on the next wait.
        spawn(move || {
            sleep(Duration::from_millis(10));
            write(&b, b"y").unwrap();
            b
        });
        wait_fd(fd, Interest::READABLE, None).unwrap();
    });
}

#[test]
fn negative_fd_is_ebadf() {
    corio_sched::run(|| {
        let err = wait_fd(-1, Interest::READABLE, None).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    });
    let err = wait_fd(-1, Interest::READABLE, None).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF));
}

#[test]
fn wait_fd_outside_a_coroutine_blocks_the_thread() {
    let (a, b) = socketpair();
    let deadline = Instant::now() + Duration::from_millis(30);
    let err = wait_fd(a.as_raw_fd(), Interest::READABLE, Some(deadline)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(Instant::now() >= deadline);
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        write(&b, b"z").unwrap();
        b
    });
    wait_fd(a.as_raw_fd(), Interest::READABLE, None).unwrap();
    drop(writer.join().unwrap());
}
