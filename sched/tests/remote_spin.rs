//! Cross-thread wakeups of an idle scheduler: the short spin before it
//! sleeps (senders then skip the eventfd write) must never lose a message,
//! must catch a fast peer's messages, and must stop once the peer goes
//! quiet.

use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use corio_sched::sync::mpsc;
use corio_sched::{Runtime, sleep, stats};

/// Busy-waits `us` microseconds (a thread::sleep this short oversleeps).
fn busy_wait(us: u64) {
    let until = Instant::now() + Duration::from_micros(us);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// Gaps between messages, in microseconds: inside the spin window (50 µs),
/// around its end, past it, and past the 1 ms after which a scheduler stops
/// spinning at all, so each path of the protocol is crossed many times.
const GAPS: [u64; 8] = [0, 5, 30, 48, 52, 90, 400, 1_500];

/// Fails the test instead of hanging when a message is lost.
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std_mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(v) => v,
        Err(std_mpsc::RecvTimeoutError::Timeout) => {
            panic!("a cross-thread message was lost: the receiver never woke")
        }
        Err(std_mpsc::RecvTimeoutError::Disconnected) => panic!("the test panicked (see above)"),
    }
}

#[test]
fn no_message_is_lost_from_a_plain_thread_to_a_spinning_scheduler() {
    within(30, || {
        let rt = Runtime::builder().threads(1).build().unwrap();
        let (tx, rx) = mpsc::channel::<u64>();
        let sender = std::thread::spawn(move || {
            for i in 0..2_000u64 {
                busy_wait(GAPS[i as usize % GAPS.len()]);
                tx.send(i).unwrap();
            }
        });
        let received = rt.block_on(move || rx.iter().collect::<Vec<_>>());
        sender.join().unwrap();
        assert_eq!(received, (0..2_000).collect::<Vec<_>>());
    });
}

#[test]
fn no_message_is_lost_between_schedulers_or_to_a_spinning_thread() {
    within(30, || {
        let rt = Runtime::builder().threads(2).build().unwrap();
        let worker = rt.handles().remove(0);
        let (to_worker, worker_rx) = mpsc::channel::<u64>();
        let (to_main, main_rx) = mpsc::channel::<u64>();
        let (to_thread, thread_rx) = mpsc::channel::<u64>();
        // A plain thread at the end of the chain: it parks (and spins) in
        // corio's channel outside any scheduler.
        let tail = std::thread::spawn(move || thread_rx.iter().collect::<Vec<_>>());
        let echo = worker.spawn(move || {
            for v in worker_rx.iter() {
                busy_wait(GAPS[(v as usize + 3) % GAPS.len()]);
                to_main.send(v).unwrap();
                to_thread.send(v).unwrap();
            }
        });
        let echoed = rt.block_on(move || {
            let mut echoed = Vec::new();
            for i in 0..2_000u64 {
                busy_wait(GAPS[i as usize % GAPS.len()]);
                to_worker.send(i).unwrap();
                if i % 4 == 3 {
                    // Wait for the echo now and then, so both sides go idle
                    // (and spin) with the other one busy.
                    while echoed.len() as u64 <= i {
                        echoed.push(main_rx.recv().unwrap());
                    }
                }
            }
            drop(to_worker);
            echoed.extend(main_rx.iter());
            echoed
        });
        echo.join().unwrap();
        let expected: Vec<u64> = (0..2_000).collect();
        assert_eq!(echoed, expected);
        assert_eq!(tail.join().unwrap(), expected);
    });
}

#[test]
fn an_idle_scheduler_spins_for_a_fast_peer_and_stops_when_it_goes_quiet() {
    within(30, || {
        let rt = Runtime::builder().threads(1).build().unwrap();
        let (ping_tx, ping_rx) = mpsc::channel::<u32>();
        let (pong_tx, pong_rx) = mpsc::channel::<u32>();
        // The peer is a plain thread that answers at once.
        let peer = std::thread::spawn(move || {
            for v in ping_rx.iter() {
                pong_tx.send(v).unwrap();
            }
        });
        const ROUNDS: u32 = 2_000;
        let (during, after) = rt.block_on(move || {
            let before = stats();
            for i in 0..ROUNDS {
                ping_tx.send(i).unwrap();
                assert_eq!(pong_rx.recv().unwrap(), i);
            }
            let during = stats();
            drop(ping_tx);
            // Quiet: no cross-thread message for 50 loop turns of 5 ms each.
            for _ in 0..50 {
                sleep(Duration::from_millis(5));
            }
            let after = stats();
            (
                (
                    during.idle_spins - before.idle_spins,
                    during.spin_wakeups - before.spin_wakeups,
                ),
                after.idle_spins - during.idle_spins,
            )
        });
        peer.join().unwrap();
        let (spins, caught) = during;
        // How many replies a spin catches depends on whether the peer
        // thread gets a CPU within the spin (BENCHMARKS.md has the
        // figures); on a loaded 2-CPU machine it can be a few percent. A
        // spin that never sees a message catches none.
        assert!(spins >= u64::from(ROUNDS) / 2, "only {spins} idle spins");
        assert!(caught > 0, "none of {spins} spins caught a reply");
        // After the last message, at most the turns within the next
        // millisecond spin; a scheduler that kept spinning would count ~50.
        assert!(
            after <= 3,
            "the scheduler spun {after} times with nobody sending"
        );
    });
}
