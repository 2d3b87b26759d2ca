//! `sync::RwLock`: concurrent readers, exclusive writers, FIFO fairness,
//! cancellation and deadline scopes.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use corio_sched::sync::RwLock;
use corio_sched::{sleep, spawn, with_timeout, yield_now};

/// Tracks how many holders are inside at once.
#[derive(Default)]
struct Inside {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Inside {
    fn enter(&self) -> usize {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        n
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn many_readers_hold_the_lock_at_once() {
    corio_sched::run(|| {
        let lock = Rc::new(RwLock::new(7));
        let inside = Rc::new(Inside::default());
        let start = Instant::now();
        let hs: Vec<_> = (0..20)
            .map(|_| {
                let (lock, inside) = (lock.clone(), inside.clone());
                spawn(move || {
                    let g = lock.read().unwrap();
                    inside.enter();
                    sleep(Duration::from_millis(50));
                    inside.leave();
                    *g
                })
            })
            .collect();
        let sum: i32 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 140);
        assert_eq!(inside.max.load(Ordering::SeqCst), 20);
        assert!(start.elapsed() < Duration::from_millis(1000));
    });
}

#[test]
fn writers_are_exclusive_across_threads() {
    let lock = Arc::new(RwLock::new(0u64));
    let readers = Arc::new(AtomicUsize::new(0));
    let writers = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let (lock, readers, writers) = (lock.clone(), readers.clone(), writers.clone());
            thread::spawn(move || {
                corio_sched::run(move || {
                    let hs: Vec<_> = (0..50)
                        .map(|i| {
                            let (lock, readers, writers) =
                                (lock.clone(), readers.clone(), writers.clone());
                            spawn(move || {
                                for r in 0..200 {
                                    if (i + r + t) % 5 == 0 {
                                        let mut g = lock.write().unwrap();
                                        assert_eq!(writers.fetch_add(1, Ordering::SeqCst), 0);
                                        assert_eq!(readers.load(Ordering::SeqCst), 0);
                                        *g += 1;
                                        if r % 7 == 0 {
                                            yield_now();
                                        }
                                        writers.fetch_sub(1, Ordering::SeqCst);
                                    } else {
                                        let g = lock.read().unwrap();
                                        readers.fetch_add(1, Ordering::SeqCst);
                                        assert_eq!(writers.load(Ordering::SeqCst), 0);
                                        let _ = *g;
                                        if r % 3 == 0 {
                                            yield_now();
                                        }
                                        readers.fetch_sub(1, Ordering::SeqCst);
                                    }
                                }
                            })
                        })
                        .collect();
                    hs.into_iter().for_each(|h| h.join().unwrap());
                })
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    // Writes happen for (i + r + t) % 5 == 0: exactly a fifth of them.
    assert_eq!(*lock.read().unwrap(), 2 * 50 * 200 / 5);
}

#[test]
fn a_waiting_writer_blocks_new_readers_fifo() {
    corio_sched::run(|| {
        let lock = Rc::new(RwLock::new(()));
        let log = Rc::new(RefCell::new(Vec::new()));
        let first = lock.read().unwrap();
        let (l, g) = (lock.clone(), log.clone());
        let writer = spawn(move || {
            let _w = l.write().unwrap();
            g.borrow_mut().push("writer");
        });
        yield_now(); // the writer queues behind our read lock
        assert!(
            lock.try_read().is_none(),
            "a reader may not overtake a writer"
        );
        let (l, g) = (lock.clone(), log.clone());
        let reader = spawn(move || {
            let _r = l.read().unwrap();
            g.borrow_mut().push("reader");
        });
        yield_now();
        drop(first);
        writer.join().unwrap();
        reader.join().unwrap();
        assert_eq!(*log.borrow(), ["writer", "reader"]);
    });
}

#[test]
fn try_variants_and_accessors() {
    let mut lock = RwLock::new(vec![1]);
    lock.get_mut().push(2);
    {
        let r = lock.try_read().unwrap();
        assert!(lock.try_write().is_none());
        assert_eq!(*r, [1, 2]);
    }
    {
        let mut w = lock.try_write().unwrap();
        w.push(3);
        assert!(lock.try_read().is_none());
    }
    assert_eq!(lock.into_inner(), [1, 2, 3]);
}

#[test]
fn cancel_and_deadline_wake_parked_readers_and_writers() {
    corio_sched::run(|| {
        let lock = Rc::new(RwLock::new(0));
        let w = lock.write().unwrap();
        let l = lock.clone();
        let reader = spawn(move || l.read().map(|_| ()).map_err(|e| e.kind()));
        let l = lock.clone();
        let writer = spawn(move || l.write().map(|_| ()).map_err(|e| e.kind()));
        yield_now();
        reader.cancel();
        writer.cancel();
        assert_eq!(reader.join().unwrap(), Err(io::ErrorKind::Interrupted));
        assert_eq!(writer.join().unwrap(), Err(io::ErrorKind::Interrupted));
        let start = Instant::now();
        let r = with_timeout(Duration::from_millis(10), || lock.read().map(|_| ()));
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(10));
        let r = lock.write_timeout(Duration::from_millis(5)).map(|_| ());
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::TimedOut);
        drop(w);
        // Nobody is left queued: both fast paths work.
        drop(lock.try_read().unwrap());
        drop(lock.try_write().unwrap());
    });
}

#[test]
fn a_writer_leaving_the_head_lets_the_readers_behind_it_in() {
    corio_sched::run(|| {
        let lock = Rc::new(RwLock::new(()));
        let r = lock.read().unwrap();
        let l = lock.clone();
        let writer = spawn(move || l.write().map(|_| ()).map_err(|e| e.kind()));
        yield_now();
        let l = lock.clone();
        let reader = spawn(move || l.read().map(|_| ()).is_ok());
        yield_now(); // the reader queues behind the writer
        writer.cancel();
        assert_eq!(writer.join().unwrap(), Err(io::ErrorKind::Interrupted));
        // With the writer gone the reader joins our read lock at once.
        assert!(reader.join().unwrap());
        drop(r);
    });
}
