//! `sync::mpsc`: ordering across schedulers, plain threads in both
//! directions, backpressure, rendezvous, disconnection, timeouts,
//! cancellation and deadline scopes.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use corio_sched::sync::mpsc::{
    self, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
use corio_sched::{sleep, spawn, with_timeout, yield_now};

const LONG: Duration = Duration::from_secs(3600);

#[test]
fn ping_pong_of_100k_messages_between_two_schedulers_in_order() {
    const N: u64 = 100_000;
    let rt = corio_sched::Runtime::builder().threads(2).build().unwrap();
    let worker = rt.handles().pop().unwrap();
    let echoed = rt.block_on(move || {
        let (ping_tx, ping_rx) = mpsc::channel::<u64>();
        let (pong_tx, pong_rx) = mpsc::channel::<u64>();
        let echo = worker.spawn(move || {
            let mut expect = 0;
            for msg in ping_rx.iter() {
                assert_eq!(msg, expect, "ping out of order");
                expect += 1;
                pong_tx.send(msg).unwrap();
            }
            expect
        });
        for i in 0..N {
            ping_tx.send(i).unwrap();
            assert_eq!(pong_rx.recv().unwrap(), i, "pong out of order");
        }
        drop(ping_tx);
        echo.join().unwrap()
    });
    assert_eq!(echoed, N);
}

#[test]
fn ping_pong_between_two_run_threads() {
    const N: u64 = 10_000;
    let (ping_tx, ping_rx) = mpsc::channel::<u64>();
    let (pong_tx, pong_rx) = mpsc::channel::<u64>();
    let echo = thread::spawn(move || {
        corio_sched::run(move || {
            for msg in ping_rx.iter() {
                pong_tx.send(msg).unwrap();
            }
        })
    });
    corio_sched::run(move || {
        for i in 0..N {
            ping_tx.send(i).unwrap();
            assert_eq!(pong_rx.recv().unwrap(), i);
        }
    });
    echo.join().unwrap();
}

#[test]
fn streams_between_two_schedulers_keep_order_under_backpressure() {
    const N: u64 = 50_000;
    let (tx, rx) = mpsc::sync_channel::<u64>(16);
    let producers = thread::spawn(move || {
        corio_sched::run(move || {
            let hs: Vec<_> = (0..4u64)
                .map(|p| {
                    let tx = tx.clone();
                    spawn(move || {
                        for i in 0..N {
                            tx.send(p << 32 | i).unwrap();
                        }
                    })
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
        })
    });
    let consumer = thread::spawn(move || {
        corio_sched::run(move || {
            let mut next = [0u64; 4];
            for msg in rx {
                let (p, i) = ((msg >> 32) as usize, msg & 0xffff_ffff);
                assert_eq!(i, next[p], "producer {p} out of order");
                next[p] += 1;
            }
            next
        })
    });
    producers.join().unwrap();
    assert_eq!(consumer.join().unwrap(), [N; 4]);
}

#[test]
fn plain_thread_to_coroutine_and_back() {
    let (to_coro, from_thread) = mpsc::channel::<u32>();
    let (to_thread, from_coro) = mpsc::sync_channel::<u32>(1);
    let t = thread::spawn(move || {
        let mut sum = 0;
        for i in 0..1000 {
            to_coro.send(i).unwrap();
            sum += from_coro.recv().unwrap();
        }
        drop(to_coro);
        assert_eq!(from_coro.recv(), Err(RecvError::Disconnected));
        sum
    });
    corio_sched::run(move || {
        // Several coroutines share the receiver; each reply goes back.
        let rx = Rc::new(from_thread);
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let rx = rx.clone();
                let tx = to_thread.clone();
                spawn(move || {
                    while let Ok(v) = rx.recv() {
                        tx.send(v * 2).unwrap();
                    }
                })
            })
            .collect();
        drop(to_thread);
        hs.into_iter().for_each(|h| h.join().unwrap());
    });
    assert_eq!(t.join().unwrap(), 2 * (0..1000).sum::<u32>());
}

#[test]
fn bounded_sender_parks_while_full() {
    corio_sched::run(|| {
        let log = Rc::new(RefCell::new(Vec::new()));
        let (tx, rx) = mpsc::sync_channel(2);
        let l = log.clone();
        let sender = spawn(move || {
            for i in 0..6 {
                tx.send(i).unwrap();
                l.borrow_mut().push(format!("sent {i}"));
            }
        });
        yield_now(); // the sender fills the buffer and parks
        assert_eq!(*log.borrow(), ["sent 0", "sent 1"]);
        assert!(!sender.is_finished());
        for i in 0..6 {
            assert_eq!(rx.recv().unwrap(), i);
            log.borrow_mut().push(format!("recv {i}"));
            yield_now();
        }
        sender.join().unwrap();
        let log = log.borrow();
        let at = |s: String| log.iter().position(|e| *e == s).unwrap();
        for i in 2..6 {
            // Message i could only be sent once i - 2 had been received.
            assert!(
                at(format!("recv {}", i - 2)) < at(format!("sent {i}")),
                "{log:?}"
            );
        }
    });
}

#[test]
fn bounded_sender_on_a_plain_thread_blocks_while_full() {
    let (tx, rx) = mpsc::sync_channel(3);
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let t = thread::spawn(move || {
        for i in 0..4 {
            tx.send(i).unwrap();
        }
        d.store(true, Ordering::SeqCst);
    });
    corio_sched::run(move || {
        sleep(Duration::from_millis(50));
        assert!(!done.load(Ordering::SeqCst), "the fourth send must block");
        assert_eq!(rx.recv().unwrap(), 0);
        assert_eq!(rx.iter().collect::<Vec<_>>(), [1, 2, 3]);
        assert!(done.load(Ordering::SeqCst));
    });
    t.join().unwrap();
}

#[test]
fn rendezvous_send_waits_for_the_receiver() {
    corio_sched::run(|| {
        let log = Rc::new(RefCell::new(Vec::new()));
        let (tx, rx) = mpsc::sync_channel(0);
        assert!(matches!(tx.try_send(1), Err(TrySendError::Full(1))));
        let l = log.clone();
        let tx2 = tx.clone();
        let sender = spawn(move || {
            for i in 0..3 {
                tx2.send(i).unwrap();
                l.borrow_mut().push(format!("sent {i}"));
            }
        });
        for i in 0..3 {
            sleep(Duration::from_millis(5));
            log.borrow_mut()
                .push(format!("recv {}", rx.recv().unwrap()));
            assert_eq!(log.borrow().last().unwrap(), &format!("recv {i}"));
        }
        sender.join().unwrap();
        assert_eq!(
            *log.borrow(),
            ["recv 0", "sent 0", "recv 1", "sent 1", "recv 2", "sent 2"]
        );
        // With a receiver parked, try_send hands the message over.
        let h = spawn(move || rx.recv().unwrap());
        yield_now();
        tx.try_send(7).unwrap();
        assert_eq!(h.join().unwrap(), 7);
    });
}

#[test]
fn rendezvous_between_a_thread_and_a_coroutine() {
    let (tx, rx) = mpsc::sync_channel::<u32>(0);
    let t = thread::spawn(move || {
        for i in 0..100 {
            tx.send(i).unwrap();
        }
    });
    let got = corio_sched::run(move || rx.iter().collect::<Vec<_>>());
    t.join().unwrap();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
}

#[test]
fn disconnection_errors() {
    // All senders gone: buffered messages first, then Disconnected.
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    tx.send(1).unwrap();
    tx2.send(2).unwrap();
    drop((tx, tx2));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.recv(), Ok(2));
    assert_eq!(rx.recv(), Err(RecvError::Disconnected));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(1)),
        Err(RecvTimeoutError::Disconnected)
    );

    // Receiver gone: sends fail and give the message back.
    let (tx, rx) = mpsc::channel();
    drop(rx);
    assert_eq!(tx.send(5), Err(SendError(5)));
    let (tx, rx) = mpsc::sync_channel(1);
    drop(rx);
    assert!(matches!(tx.try_send(5), Err(TrySendError::Disconnected(5))));
    assert_eq!(tx.send(6), Err(SendError(6)));
    assert!(matches!(
        tx.send_timeout(7, Duration::from_secs(1)),
        Err(SendTimeoutError::Disconnected(7))
    ));
}

#[test]
fn disconnection_wakes_parked_waiters() {
    corio_sched::run(|| {
        // A parked receiver wakes when the last sender drops.
        let (tx, rx) = mpsc::channel::<u8>();
        let h = spawn(move || rx.recv());
        yield_now();
        let tx2 = tx.clone();
        drop(tx);
        yield_now();
        assert!(!h.is_finished(), "one sender is left");
        drop(tx2);
        assert_eq!(h.join().unwrap(), Err(RecvError::Disconnected));

        // A parked sender gets its message back when the receiver drops.
        let (tx, rx) = mpsc::sync_channel(1);
        tx.send(String::from("buffered")).unwrap();
        let h = spawn(move || tx.send(String::from("parked")));
        yield_now();
        drop(rx);
        assert_eq!(h.join().unwrap(), Err(SendError(String::from("parked"))));
    });

    // And a plain thread blocked in recv wakes too.
    let (tx, rx) = mpsc::channel::<u8>();
    let t = thread::spawn(move || rx.recv());
    corio_sched::run(move || {
        sleep(Duration::from_millis(20));
        drop(tx);
    });
    assert_eq!(t.join().unwrap(), Err(RecvError::Disconnected));
}

#[test]
fn receiver_drop_drops_buffered_messages() {
    let marker = Arc::new(());
    let (tx, rx) = mpsc::channel();
    tx.send(marker.clone()).unwrap();
    tx.send(marker.clone()).unwrap();
    assert_eq!(Arc::strong_count(&marker), 3);
    drop(rx);
    assert_eq!(Arc::strong_count(&marker), 1);
}

#[test]
fn recv_timeout_times_out_never_early_and_delivers_in_time() {
    let (tx, rx) = mpsc::channel::<u8>();
    // Plain thread.
    let start = Instant::now();
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(30)),
        Err(RecvTimeoutError::Timeout)
    );
    assert!(start.elapsed() >= Duration::from_millis(30));
    corio_sched::run(move || {
        for _ in 0..20 {
            let start = Instant::now();
            assert_eq!(
                rx.recv_timeout(Duration::from_millis(3)),
                Err(RecvTimeoutError::Timeout)
            );
            assert!(start.elapsed() >= Duration::from_millis(3));
        }
        let tx2 = tx.clone();
        spawn(move || {
            sleep(Duration::from_millis(10));
            tx2.send(9).unwrap();
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(9));
        assert_eq!(
            rx.recv_deadline(Instant::now() + Duration::from_millis(1)),
            Err(RecvTimeoutError::Timeout)
        );
    });
}

#[test]
fn cancel_wakes_a_parked_recv_with_interrupted() {
    corio_sched::run(|| {
        let (tx, rx) = mpsc::channel::<u8>();
        let rx = Rc::new(rx);
        let r = rx.clone();
        let h = spawn(move || r.recv());
        yield_now();
        h.cancel();
        assert_eq!(h.join().unwrap(), Err(RecvError::Interrupted));
        let r = rx.clone();
        let h = spawn(move || r.recv_timeout(LONG));
        yield_now();
        h.cancel();
        assert_eq!(h.join().unwrap(), Err(RecvTimeoutError::Interrupted));
        // The channel is intact: the cancelled receivers left its queue.
        tx.send(1).unwrap();
        assert_eq!(rx.try_recv(), Ok(1));
    });
}

#[test]
fn deadline_scope_wakes_a_parked_recv() {
    corio_sched::run(|| {
        let (_tx, rx) = mpsc::channel::<u8>();
        let start = Instant::now();
        let r = with_timeout(Duration::from_millis(20), || rx.recv());
        assert_eq!(r, Err(RecvError::Timeout));
        assert!(start.elapsed() >= Duration::from_millis(20));
        let r = with_timeout(Duration::from_millis(5), || rx.recv_timeout(LONG));
        assert_eq!(r, Err(RecvTimeoutError::Timeout));
        // The error converts for `?` in io code.
        let e: std::io::Error = RecvError::Timeout.into();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    });
}

#[test]
fn cancel_and_deadline_wake_a_parked_sender_with_its_message() {
    corio_sched::run(|| {
        let (tx, rx) = mpsc::sync_channel(0);
        let t = tx.clone();
        let h = spawn(move || t.send(1));
        yield_now();
        h.cancel();
        assert_eq!(h.join().unwrap(), Err(SendError(1)));
        let t = tx.clone();
        let h = spawn(move || t.send_timeout(2, LONG));
        yield_now();
        h.cancel();
        assert!(matches!(
            h.join().unwrap(),
            Err(SendTimeoutError::Interrupted(2))
        ));
        let r = with_timeout(Duration::from_millis(5), || tx.send_timeout(3, LONG));
        assert!(matches!(r, Err(SendTimeoutError::Timeout(3))));
        assert!(matches!(
            tx.send_timeout(4, Duration::from_millis(5)),
            Err(SendTimeoutError::Timeout(4))
        ));
        // None of the abandoned messages is in the channel.
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

#[test]
fn a_message_handed_to_a_torn_down_receiver_is_not_lost() {
    let (tx, rx) = mpsc::channel::<u8>();
    let rx = Rc::new(rx);
    let r = rx.clone();
    corio_sched::run(move || {
        spawn(move || {
            let _ = r.recv();
            unreachable!("torn down before it runs");
        });
        yield_now(); // the receiver parks
        // Keep the scheduler's batch from reaching the receiver.
        for _ in 0..1000 {
            spawn(|| {
                loop {
                    yield_now();
                }
            });
        }
        tx.send(42).unwrap(); // handed to the parked receiver
    });
    assert_eq!(
        rx.try_recv(),
        Ok(42),
        "the message went back to the channel"
    );
}

#[test]
fn iterators() {
    let (tx, rx) = mpsc::channel();
    for i in 0..3 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(rx.try_iter().next(), None);
    tx.send(3).unwrap();
    drop(tx);
    assert_eq!((&rx).into_iter().collect::<Vec<_>>(), [3]);
    let (tx, rx) = mpsc::sync_channel(5);
    tx.send(1).unwrap();
    drop(tx);
    assert_eq!(rx.into_iter().collect::<Vec<_>>(), [1]);
}

#[test]
fn senders_are_send_and_sync_receiver_is_send() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<mpsc::Sender<u8>>();
    send_sync::<mpsc::SyncSender<u8>>();
    send::<mpsc::Receiver<u8>>();
}
