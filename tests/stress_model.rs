//! A randomized model test of the scheduler: random scripts of spawn,
//! spawn-and-join-at-once, yield, sleep, channel send/recv (unbounded,
//! bounded and rendezvous, with timeouts), cancel (of a child or of any
//! top-level actor, itself included), join and panic, run by coroutines
//! on one scheduler, then checked against a simple model:
//!
//! - every message sent successfully is received exactly once (during the
//!   run, or drained afterwards), in per-sender order; a send that failed
//!   handed its own message back and it never arrives;
//! - every coroutine spawned reports one outcome: it finished with its
//!   own value (then its script had no panic), panicked with its own
//!   message (then its script had one), or stopped at an interrupted call
//!   (then someone cancelled it);
//! - every join result is the outcome the coroutine reported;
//! - sleeps and timeouts never end early;
//! - afterwards no coroutine is alive but main.
//!
//! A small seeded PRNG drives it (no dependency): `CORIO_MODEL_SEEDS`
//! seeds (default 400), starting at `CORIO_MODEL_SEED` (default 1). A
//! failure names its seed; rerun just that one with
//! `CORIO_MODEL_SEED=<seed> CORIO_MODEL_SEEDS=1`.

mod net_util;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::JoinHandle;
use corio::sync::mpsc;
use net_util::watchdog;

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Yield,
    Sleep(u64),
    Send(usize, u64),
    Recv(usize, u64),
    Spawn(usize),
    SpawnJoin(usize),
    CancelChild(usize),
    JoinChild(usize),
    CancelActor(usize),
    Panic,
}

#[derive(Debug)]
struct Script {
    /// Model id: top-level actors are 0..actors, then children.
    id: u64,
    ops: Vec<Op>,
    /// Scripts of the children `Spawn(i)`/`SpawnJoin(i)` start.
    children: Vec<Rc<Script>>,
}

impl Script {
    fn has_panic(&self) -> bool {
        self.ops.iter().any(|op| matches!(op, Op::Panic))
    }

    /// The value a script that ran to its end returns.
    fn value(&self) -> u64 {
        self.id * 1000 + self.ops.len() as u64
    }
}

/// What a coroutine reports (and returns) when it ends without panicking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Done(u64),
    Cancelled(usize),
    Panicked,
}

/// A message: (sender's model id, that sender's sequence number on the
/// channel).
type Msg = (u64, u32);

enum Tx {
    Unbounded(mpsc::Sender<Msg>),
    Bounded(mpsc::SyncSender<Msg>),
}

struct World {
    seed: u64,
    txs: Vec<Tx>,
    /// Kept here, not by their owners, so nothing buffered is dropped.
    rxs: Vec<mpsc::Receiver<Msg>>,
    /// The top-level actor that receives on each channel.
    owner: Vec<u64>,
    /// Next sequence number per (sender, channel).
    next_seq: RefCell<HashMap<(u64, usize), u32>>,
    /// Messages sent successfully, per channel.
    sent: RefCell<Vec<Vec<Msg>>>,
    /// Messages received, per channel, in receive order.
    received: RefCell<Vec<Vec<Msg>>>,
    outcomes: RefCell<HashMap<u64, Outcome>>,
    cancelled: RefCell<HashSet<u64>>,
    spawned: Cell<usize>,
    actors: RefCell<Vec<Rc<JoinHandle<Outcome>>>>,
    violations: RefCell<Vec<String>>,
}

impl World {
    fn violation(&self, what: String) {
        self.violations.borrow_mut().push(what);
    }
}

/// Records `Panicked` for its coroutine if dropped during a panic.
struct Reporter {
    id: u64,
    world: Rc<World>,
}

impl Drop for Reporter {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.world
                .outcomes
                .borrow_mut()
                .insert(self.id, Outcome::Panicked);
        }
    }
}

fn gen_script(rng: &mut Rng, next_id: &mut u64, depth: u32, actors: usize, chans: usize) -> Script {
    let id = *next_id;
    *next_id += 1;
    let len = if depth == 0 {
        4 + rng.below(20)
    } else {
        1 + rng.below(8)
    };
    let mut ops = Vec::with_capacity(len);
    let mut children = Vec::new();
    for _ in 0..len {
        let op = match rng.below(100) {
            0..=14 => Op::Yield,
            15..=24 => Op::Sleep(rng.below(3) as u64),
            25..=49 => Op::Send(rng.below(chans), 1 + rng.below(3) as u64),
            50..=64 if depth == 0 => Op::Recv(rng.below(chans), rng.below(4) as u64),
            65..=72 if depth < 2 => {
                children.push(Rc::new(gen_script(rng, next_id, depth + 1, actors, chans)));
                Op::Spawn(children.len() - 1)
            }
            73..=78 if depth < 2 => {
                children.push(Rc::new(gen_script(rng, next_id, depth + 1, actors, chans)));
                Op::SpawnJoin(children.len() - 1)
            }
            79..=84 => Op::CancelChild(rng.below(8)),
            85..=91 => Op::JoinChild(rng.below(8)),
            92..=95 => Op::CancelActor(rng.below(actors)),
            96 if depth > 0 => Op::Panic,
            _ => Op::Yield,
        };
        ops.push(op);
    }
    Script { id, ops, children }
}

/// Spawns `script` as a coroutine that reports its outcome.
fn start(world: &Rc<World>, script: Rc<Script>) -> JoinHandle<Outcome> {
    world.spawned.set(world.spawned.get() + 1);
    let w = world.clone();
    corio::spawn(move || {
        let _reporter = Reporter {
            id: script.id,
            world: w.clone(),
        };
        let out = run_script(&w, &script);
        w.outcomes.borrow_mut().insert(script.id, out);
        out
    })
}

/// Checks a join result against the outcome its coroutine reported.
fn check_join(world: &World, id: u64, result: std::thread::Result<Outcome>) {
    let reported = world.outcomes.borrow().get(&id).copied();
    match result {
        Ok(out) if Some(out) == reported => {}
        Ok(out) => world.violation(format!(
            "join of {id} gave {out:?}, it reported {reported:?}"
        )),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_default();
            if msg != format!("model panic in {id}") || reported != Some(Outcome::Panicked) {
                world.violation(format!(
                    "join of {id} gave panic {msg:?}, it reported {reported:?}"
                ));
            }
        }
    }
}

fn run_script(world: &Rc<World>, script: &Script) -> Outcome {
    let id = script.id;
    let mut children: Vec<(u64, JoinHandle<Outcome>)> = Vec::new();
    for (step, &op) in script.ops.iter().enumerate() {
        match op {
            Op::Yield => corio::yield_now(),
            Op::Sleep(ms) => {
                let want = Duration::from_millis(ms);
                let start = Instant::now();
                match corio::try_sleep(want) {
                    Ok(()) if start.elapsed() < want => {
                        world.violation(format!("{id}: sleep of {want:?} ended early"))
                    }
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                        return Outcome::Cancelled(step);
                    }
                    Err(e) => world.violation(format!("{id}: sleep failed: {e}")),
                }
            }
            Op::Send(ch, ms) => {
                let seq = *world.next_seq.borrow().get(&(id, ch)).unwrap_or(&0);
                let msg = (id, seq);
                let sent = match &world.txs[ch] {
                    Tx::Unbounded(tx) => match tx.send(msg) {
                        Ok(()) => true,
                        Err(e) => {
                            world.violation(format!("{id}: unbounded send: {e:?}"));
                            false
                        }
                    },
                    Tx::Bounded(tx) => match tx.send_timeout(msg, Duration::from_millis(ms)) {
                        Ok(()) => true,
                        Err(mpsc::SendTimeoutError::Timeout(back)) => {
                            if back != msg {
                                world.violation(format!("{id}: timeout gave back {back:?}"));
                            }
                            false
                        }
                        Err(mpsc::SendTimeoutError::Interrupted(back)) => {
                            if back != msg {
                                world.violation(format!("{id}: cancel gave back {back:?}"));
                            }
                            return Outcome::Cancelled(step);
                        }
                        Err(e) => {
                            world.violation(format!("{id}: bounded send: {e:?}"));
                            false
                        }
                    },
                };
                if sent {
                    world.sent.borrow_mut()[ch].push(msg);
                    world.next_seq.borrow_mut().insert((id, ch), seq + 1);
                }
            }
            Op::Recv(ch, ms) => {
                if world.owner[ch] != id {
                    continue;
                }
                let want = Duration::from_millis(ms);
                let start = Instant::now();
                match world.rxs[ch].recv_timeout(want) {
                    Ok(msg) => world.received.borrow_mut()[ch].push(msg),
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if start.elapsed() < want {
                            world.violation(format!("{id}: recv timeout {want:?} early"));
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Interrupted) => return Outcome::Cancelled(step),
                    Err(e) => world.violation(format!("{id}: recv: {e:?}")),
                }
            }
            Op::Spawn(i) => {
                let child = script.children[i].clone();
                let cid = child.id;
                children.push((cid, start(world, child)));
            }
            Op::SpawnJoin(i) => {
                let child = script.children[i].clone();
                let cid = child.id;
                let h = start(world, child);
                // Joined before it ever ran: the direct-resume path.
                if h.wait().is_err() {
                    children.push((cid, h));
                    return Outcome::Cancelled(step);
                }
                check_join(world, cid, h.join());
            }
            Op::CancelChild(k) => {
                if !children.is_empty() {
                    let (cid, h) = &children[k % children.len()];
                    world.cancelled.borrow_mut().insert(*cid);
                    h.cancel();
                }
            }
            Op::JoinChild(k) => {
                if !children.is_empty() {
                    let idx = k % children.len();
                    if children[idx].1.wait().is_err() {
                        return Outcome::Cancelled(step);
                    }
                    let (cid, h) = children.swap_remove(idx);
                    check_join(world, cid, h.join());
                }
            }
            Op::CancelActor(a) => {
                let target = world.actors.borrow().get(a).cloned();
                if let Some(h) = target {
                    world.cancelled.borrow_mut().insert(a as u64);
                    h.cancel();
                }
            }
            Op::Panic => panic!("model panic in {id}"),
        }
    }
    Outcome::Done(script.value())
}

/// Totals over the seeds, to show what the run exercised.
#[derive(Debug, Default)]
struct Tally {
    coroutines: usize,
    messages: usize,
    done: usize,
    cancelled: usize,
    panicked: usize,
}

/// Runs one seed; returns its tally or the violations.
fn run_seed(seed: u64) -> Result<Tally, Vec<String>> {
    let mut rng = Rng(seed);
    let actors = 2 + rng.below(5);
    let chans = 1 + rng.below(3);
    let mut next_id = 0u64;
    // Top-level scripts take ids 0..actors, children the ids after.
    let mut top: Vec<Script> = (0..actors)
        .map(|_| {
            let s = Script {
                id: next_id,
                ops: Vec::new(),
                children: Vec::new(),
            };
            next_id += 1;
            s
        })
        .collect();
    for s in &mut top {
        let mut g = gen_script(&mut rng, &mut next_id, 0, actors, chans);
        g.id = s.id;
        *s = g;
    }
    let mut txs = Vec::new();
    let mut rxs = Vec::new();
    for _ in 0..chans {
        match rng.below(3) {
            0 => {
                let (tx, rx) = mpsc::channel();
                txs.push(Tx::Unbounded(tx));
                rxs.push(rx);
            }
            _ => {
                let (tx, rx) = mpsc::sync_channel(rng.below(3));
                txs.push(Tx::Bounded(tx));
                rxs.push(rx);
            }
        }
    }
    let owner = (0..chans).map(|_| rng.below(actors) as u64).collect();
    let world = Rc::new(World {
        seed,
        txs,
        rxs,
        owner,
        next_seq: RefCell::default(),
        sent: RefCell::new(vec![Vec::new(); chans]),
        received: RefCell::new(vec![Vec::new(); chans]),
        outcomes: RefCell::default(),
        cancelled: RefCell::default(),
        spawned: Cell::new(0),
        actors: RefCell::default(),
        violations: RefCell::default(),
    });
    let scripts: HashMap<u64, Rc<Script>> = {
        fn collect(s: &Rc<Script>, out: &mut HashMap<u64, Rc<Script>>) {
            out.insert(s.id, s.clone());
            for c in &s.children {
                collect(c, out);
            }
        }
        let mut out = HashMap::new();
        for s in top {
            collect(&Rc::new(s), &mut out);
        }
        out
    };
    let w = world.clone();
    corio::run(move || {
        let world = w;
        for a in 0..actors as u64 {
            let h = start(&world, scripts[&a].clone());
            world.actors.borrow_mut().push(Rc::new(h));
        }
        let handles: Vec<_> = world.actors.borrow().clone();
        for (a, h) in handles.into_iter().enumerate() {
            if let Err(e) = h.wait() {
                world.violation(format!("main: wait for actor {a}: {e}"));
            }
        }
        // Every actor is done: take the handles back and join them.
        let handles: Vec<_> = world.actors.borrow_mut().drain(..).collect();
        for (a, h) in handles.into_iter().enumerate() {
            match Rc::try_unwrap(h) {
                Ok(h) => check_join(&world, a as u64, h.join()),
                Err(_) => world.violation(format!("actor {a}'s handle still shared")),
            }
        }
        // Detached children finish on their own.
        let start = Instant::now();
        while world.outcomes.borrow().len() < world.spawned.get()
            && start.elapsed() < Duration::from_secs(5)
        {
            corio::sleep(Duration::from_millis(1));
        }
        if corio::stats().alive != 1 {
            world.violation(format!(
                "{} coroutines alive at the end:\n{}",
                corio::stats().alive,
                corio::dump()
            ));
        }
        // Messages still buffered.
        for (ch, rx) in world.rxs.iter().enumerate() {
            while let Ok(msg) = rx.try_recv() {
                world.received.borrow_mut()[ch].push(msg);
            }
        }
        check(&world, &scripts);
    });
    let violations = world.violations.take();
    if violations.is_empty() {
        let outcomes = world.outcomes.borrow();
        let count = |f: fn(&Outcome) -> bool| outcomes.values().filter(|o| f(o)).count();
        Ok(Tally {
            coroutines: world.spawned.get(),
            messages: world.sent.borrow().iter().map(Vec::len).sum(),
            done: count(|o| matches!(o, Outcome::Done(_))),
            cancelled: count(|o| matches!(o, Outcome::Cancelled(_))),
            panicked: count(|o| matches!(o, Outcome::Panicked)),
        })
    } else {
        Err(violations)
    }
}

fn check(world: &World, scripts: &HashMap<u64, Rc<Script>>) {
    let seed = world.seed;
    // Messages: exactly once, in per-sender order.
    for (ch, (sent, got)) in world
        .sent
        .borrow()
        .iter()
        .zip(world.received.borrow().iter())
        .enumerate()
    {
        let mut per_sender: HashMap<u64, Vec<u32>> = HashMap::new();
        for &(s, seq) in got {
            per_sender.entry(s).or_default().push(seq);
        }
        let mut sent_count: HashMap<u64, u32> = HashMap::new();
        for &(s, _) in sent {
            *sent_count.entry(s).or_default() += 1;
        }
        for (s, seqs) in &per_sender {
            let n = sent_count.get(s).copied().unwrap_or(0);
            if *seqs != (0..n).collect::<Vec<_>>() {
                world.violation(format!(
                    "seed {seed} channel {ch}: sender {s} sent 0..{n}, received {seqs:?}"
                ));
            }
        }
        for (s, n) in &sent_count {
            if !per_sender.contains_key(s) {
                world.violation(format!(
                    "seed {seed} channel {ch}: {n} messages of sender {s} lost"
                ));
            }
        }
    }
    // Outcomes.
    let outcomes = world.outcomes.borrow();
    if outcomes.len() != world.spawned.get() {
        world.violation(format!(
            "seed {seed}: {} coroutines spawned, {} reported",
            world.spawned.get(),
            outcomes.len()
        ));
    }
    let cancelled = world.cancelled.borrow();
    for (id, out) in outcomes.iter() {
        let script = &scripts[id];
        let ok = match out {
            Outcome::Done(v) => *v == script.value() && !script.has_panic(),
            Outcome::Panicked => script.has_panic(),
            Outcome::Cancelled(_) => cancelled.contains(id),
        };
        if !ok {
            world.violation(format!(
                "seed {seed}: coroutine {id} ended {out:?}; cancelled: {}, script {:?}",
                cancelled.contains(id),
                script.ops
            ));
        }
    }
}

#[test]
fn random_scripts_match_the_model() {
    let _w = watchdog("random_scripts_match_the_model", 300);
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let first = env("CORIO_MODEL_SEED", 1);
    let seeds = env("CORIO_MODEL_SEEDS", 400);
    // The scripts' own panics are expected: keep their messages quiet.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info.payload().downcast_ref::<String>();
        if !msg.is_some_and(|m| m.starts_with("model panic in ")) {
            default_hook(info);
        }
    }));
    let start = Instant::now();
    let mut total = Tally::default();
    for seed in first..first + seeds {
        match run_seed(seed) {
            Ok(t) => {
                total.coroutines += t.coroutines;
                total.messages += t.messages;
                total.done += t.done;
                total.cancelled += t.cancelled;
                total.panicked += t.panicked;
            }
            Err(v) => panic!(
                "seed {seed} broke the model (rerun: CORIO_MODEL_SEED={seed} \
                 CORIO_MODEL_SEEDS=1):\n{}",
                v.join("\n")
            ),
        }
    }
    let _ = std::panic::take_hook();
    eprintln!(
        "model: {seeds} seeds, {} coroutines ({} finished, {} cancelled, {} panicked), {} \
         messages, all as the model says, in {:.1?}",
        total.coroutines,
        total.done,
        total.cancelled,
        total.panicked,
        total.messages,
        start.elapsed()
    );
}
