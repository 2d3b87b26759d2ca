//! Deadlock detection: when every coroutine is parked and nothing can wake
//! any of them, `run` panics with a "deadlock" message and the dump.
//!
//! Detection only fires in a process with exactly one thread (another
//! thread could always wake a primitive), and libtest runs tests on worker
//! threads, so this target has `harness = false`: `main` re-runs this
//! executable once per scenario with `CORIO_DEADLOCK_SCENARIO` set, and the
//! child runs the scenario on its only thread.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio_sched::park::park;
use corio_sched::{Builder, JoinHandle};

const SCENARIO_ENV: &str = "CORIO_DEADLOCK_SCENARIO";

/// Main joins "joiner", which joins "stuck", which parks on a primitive
/// whose waker was dropped: nothing can ever wake it.
fn join_of_a_parked_coroutine() {
    corio_sched::run(|| {
        let stuck = Builder::new()
            .name("stuck")
            .spawn(|| {
                park("lost-waker gate", None, |waker| {
                    drop(waker);
                    true
                })
            })
            .unwrap();
        let joiner = Builder::new()
            .name("joiner")
            .spawn(move || stuck.join())
            .unwrap();
        let _ = joiner.join();
        unreachable!("the deadlock must be reported, not returned from");
    });
}

/// Two coroutines join each other; main joins one of them.
fn join_cycle() {
    corio_sched::run(|| {
        let slot: Rc<std::cell::RefCell<Option<JoinHandle<()>>>> = Rc::default();
        let s = slot.clone();
        let ping = Builder::new()
            .name("ping")
            .spawn(move || {
                let pong = s.borrow_mut().take().unwrap();
                let _ = pong.join();
            })
            .unwrap();
        let ping = Rc::new(ping);
        let p = ping.clone();
        let pong = Builder::new()
            .name("pong")
            .spawn(move || {
                let _ = p.wait();
            })
            .unwrap();
        *slot.borrow_mut() = Some(pong);
        let _ = ping.wait();
        unreachable!("the deadlock must be reported, not returned from");
    });
}

/// Not a deadlock: main joins a coroutine that sleeps, so a timer can
/// still wake it. Must finish normally.
fn sleeping_is_not_a_deadlock() {
    let v = corio_sched::run(|| {
        let sleeper = Builder::new()
            .name("sleeper")
            .spawn(|| {
                corio_sched::sleep(Duration::from_millis(50));
                7
            })
            .unwrap();
        sleeper.join().unwrap()
    });
    assert_eq!(v, 7);
}

/// Not a deadlock: main parks on a primitive that an I/O waiter will open.
fn io_wait_is_not_a_deadlock() {
    use std::os::fd::AsRawFd;
    corio_sched::run(|| {
        let (r, w) = {
            let mut fds = [0; 2];
            // SAFETY: `fds` has room for the two descriptors pipe2 writes.
            let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
            assert_eq!(rc, 0);
            // SAFETY: fresh descriptors owned by nobody else.
            unsafe {
                use std::os::fd::FromRawFd;
                (
                    std::os::fd::OwnedFd::from_raw_fd(fds[0]),
                    std::os::fd::OwnedFd::from_raw_fd(fds[1]),
                )
            }
        };
        let rfd = r.as_raw_fd();
        let reader = Builder::new()
            .name("reader")
            .spawn(move || corio_sched::wait_fd(rfd, corio_sched::Interest::READABLE, None))
            .unwrap();
        let writer = Builder::new()
            .name("writer")
            .spawn(move || {
                corio_sched::sleep(Duration::from_millis(30));
                // SAFETY: writing one byte from a live buffer.
                unsafe { libc::write(w.as_raw_fd(), b"x".as_ptr().cast(), 1) };
                w
            })
            .unwrap();
        reader.join().unwrap().unwrap();
        drop(writer.join().unwrap());
        drop(r);
    });
}

/// What a scenario's child process must do.
enum Expect {
    /// Panic (exit 101) with a "deadlock" message and a dump naming these.
    Deadlock(&'static [&'static str]),
    /// Exit successfully.
    Success,
}

impl Expect {
    fn check(&self, status: &ExitStatus, stderr: &str) -> Result<(), String> {
        let names = match self {
            Expect::Success if status.success() => return Ok(()),
            Expect::Success => return Err(format!("exit status {status}")),
            Expect::Deadlock(names) => names,
        };
        if status.success() {
            return Err("exited successfully".into());
        }
        // A panic (101), not an abort or a signal.
        if status.code() != Some(101) {
            return Err(format!("exit status {status}, expected a panic (101)"));
        }
        if !stderr.contains("deadlock") {
            return Err("stderr does not mention \"deadlock\"".into());
        }
        if !stderr.contains("coroutine(s) on this thread") {
            return Err("stderr has no dump".into());
        }
        for name in names.iter() {
            if !stderr.contains(name) {
                return Err(format!("the dump does not name {name:?}"));
            }
        }
        Ok(())
    }
}

struct Scenario {
    name: &'static str,
    body: fn(),
    expect: Expect,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "join_of_a_parked_coroutine_is_reported_as_deadlock",
        body: join_of_a_parked_coroutine,
        expect: Expect::Deadlock(&["main", "joiner", "stuck", "lost-waker gate", "join of #"]),
    },
    Scenario {
        name: "join_cycle_is_reported_as_deadlock",
        body: join_cycle,
        expect: Expect::Deadlock(&["main", "ping", "pong", "join of #"]),
    },
    Scenario {
        name: "sleeping_is_not_a_deadlock",
        body: sleeping_is_not_a_deadlock,
        expect: Expect::Success,
    },
    Scenario {
        name: "io_wait_is_not_a_deadlock",
        body: io_wait_is_not_a_deadlock,
        expect: Expect::Success,
    },
];

/// How long a scenario may run before it counts as hung.
const CHILD_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs one scenario in a child process; returns its exit status (`None`
/// if it had to be killed after [`CHILD_TIMEOUT`]) and its stderr.
fn run_child(exe: &std::path::Path, scenario: &str) -> (Option<ExitStatus>, String) {
    let mut child = Command::new(exe)
        .env(SCENARIO_ENV, scenario)
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the scenario child");
    let mut pipe = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + CHILD_TIMEOUT;
    let status = loop {
        match child.try_wait().expect("wait for the scenario child") {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    (status, reader.join().unwrap_or_default())
}

fn main() {
    let scenarios = SCENARIOS;
    if let Ok(name) = std::env::var(SCENARIO_ENV) {
        let s = scenarios
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("unknown scenario {name}"));
        (s.body)();
        return;
    }
    // Optional name filter, like libtest's.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let exe = std::env::current_exe().expect("current_exe");
    let (mut passed, mut failed, mut filtered) = (0, 0, 0);
    println!();
    for s in scenarios {
        if filter.as_deref().is_some_and(|f| !s.name.contains(f)) {
            filtered += 1;
            continue;
        }
        let start = Instant::now();
        let (status, stderr) = run_child(&exe, s.name);
        let Some(status) = status else {
            println!(
                "test {} ... FAILED: still running after {CHILD_TIMEOUT:?} (killed)\n\
                 ---- child stderr ----\n{stderr}",
                s.name
            );
            failed += 1;
            continue;
        };
        match s.expect.check(&status, &stderr) {
            Ok(()) => {
                println!("test {} ... ok ({:?})", s.name, start.elapsed());
                passed += 1;
            }
            Err(why) => {
                println!(
                    "test {} ... FAILED: {why}\n---- child stderr ----\n{stderr}",
                    s.name
                );
                failed += 1;
            }
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; 0 ignored; 0 measured; {filtered} filtered out\n",
        if failed == 0 { "ok" } else { "FAILED" }
    );
    if failed > 0 {
        std::process::exit(101);
    }
}
