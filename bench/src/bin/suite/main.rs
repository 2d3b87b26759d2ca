//! The benchmark suite of issue 8: corio's echo server side by side with
//! the peers (a hand-written epoll loop, tokio current-thread and
//! multi-thread, may, Go when `peer_go` is built, std
//! thread-per-connection), written to
//! `BENCHMARKS.md` with an SVG chart (`bench/echo.svg`).
//!
//! For each configuration (1/100/1000 connections × 64 B/4 KiB messages,
//! one server thread; plus 100 × 64 B with two server threads) it runs
//! every server in turn (A B C …, the order rotated each repeat, so drift
//! of the machine hits all alike), `--repeats` times. Each run starts a
//! fresh server pinned with `taskset` to the server CPUs, drives it with
//! `loadgen` pinned to the client CPUs for `--warmup` + `--secs` seconds,
//! and records msgs/s, the server's CPU time per message (in total and in
//! user space) and p50/p99 latency. Then `idle` measures memory per idle connection of every
//! server, and the micro-benchmark binaries (`coro_micro`, `sched_micro`,
//! `sync_micro`) that exist are run to refresh their sections.
//!
//! The target verdicts come from rounds after the sweep in which corio and
//! the peers its targets name serve one `loadgen` run together, loaded one
//! at a time in short turns (`loadgen --slice-ms`), so that the machine's
//! slower and faster spells fall on all of them alike.
//!
//! It builds nothing: it runs the binaries next to its own executable and
//! corio's `echo` example (`target/release/examples/echo`); the Go peer
//! (`bench/go`, built into `peer_go` there by `bench/run.sh` when `go` is on
//! PATH) takes part when it exists. Build first, or
//! use `bench/run.sh`, which builds and then runs this:
//! `bench/run.sh [--quick]` or, after a build,
//! `cargo run --release -p corio-bench --bin suite -- [--quick]`.

mod model;
mod report;
mod run;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use corio_bench::echo::args::Args;
use corio_bench::fmt_ns;

use model::{
    Config, Opts, RunResult, Runs, Server, config_index, servers_for, target_configs, target_window,
};
use report::{Report, write_outputs};
use run::{run_idle, run_servers, taskset_works, wait_quiet};

/// A run during which other work took more CPUs than this is disturbed.
pub(crate) const DISTURBED: f64 = 0.3;
/// Tries of a run disturbed by other work before its result is kept anyway.
pub(crate) const TRIES: usize = 3;

const USAGE: &str = "\
suite: echo servers side by side, written to BENCHMARKS.md (builds nothing)

usage: suite [--quick] [--repeats 5] [--secs 3] [--warmup 1]
             [--target-rounds 40] [--target-secs 2.4]
             [--idle-conns 10000] [--no-idle] [--no-micro]
             [--servers corio,epoll,tokio-ct,tokio-mt,may,go,std]
             [--server-cpus 0] [--client-cpus 1] [--no-pin] [--quiet-wait 5]
             [--corio target/release/examples/echo] [--out BENCHMARKS.md]
--quick: 5 repeats of 1 s after 0.25 s warm-up, 10 target rounds (about 9
minutes on 2 CPUs; the full run about 25). After the sweep, --target-rounds rounds of corio and the
peers of its targets only give the paired ratios the target verdicts use (0
leaves the verdicts to the sweep's rounds): in each, all of them serve one
loadgen run, taking turns of 100 ms, for at least --target-secs seconds
after two turns each of warm-up.
The two-thread configuration runs server and client on the union of both
CPU sets. Before each run the suite waits up to --quiet-wait seconds for the
machine to be idle (0: do not wait); a run during which other programs took
more than 0.3 CPUs is done again (3 tries at most; a run with a failure is
kept as it is).";

fn main() {
    let mut args = Args::from_env(USAGE);
    let quick = args.flag("quick");
    let (repeats, secs, warmup) = if quick { (5, 1.0, 0.25) } else { (5, 3.0, 1.0) };
    let repeats: usize = args.get("repeats", repeats);
    let secs: f64 = args.get("secs", secs);
    let warmup: f64 = args.get("warmup", warmup);
    let target_rounds: usize = args.get("target-rounds", if quick { 10 } else { 40 });
    let target_secs: f64 = args.get("target-secs", 2.4);
    let no_idle = args.flag("no-idle");
    let idle_conns: u64 = args.get("idle-conns", 10_000);
    let micro = !args.flag("no-micro");
    let no_pin = args.flag("no-pin");
    let server_cpus: String = args.get("server-cpus", "0".to_string());
    let client_cpus: String = args.get("client-cpus", "1".to_string());
    let only: Option<String> = args.opt("servers");
    let quiet_wait: f64 = args.get("quiet-wait", 5.0);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf();
    let corio: PathBuf = args.get("corio", root.join("target/release/examples/echo"));
    let out: PathBuf = args.get("out", root.join("BENCHMARKS.md"));
    args.finish();
    if repeats == 0 || secs <= 0.0 || warmup < 0.0 || target_secs <= 0.0 {
        eprintln!("suite: --repeats, --secs and --target-secs must be positive");
        std::process::exit(2);
    }
    let bin_dir = std::env::current_exe()
        .expect("current_exe")
        .parent()
        .expect("exe dir")
        .to_path_buf();
    let cpus = if no_pin {
        None
    } else if !taskset_works() {
        eprintln!(
            "suite: WARNING: `taskset` is missing or fails: server and client are NOT pinned"
        );
        None
    } else {
        Some((server_cpus, client_cpus))
    };
    let opts = Opts {
        quick,
        repeats,
        secs,
        warmup,
        target_rounds,
        target_secs,
        idle_conns: (!no_idle).then_some(idle_conns),
        micro,
        cpus,
        quiet_wait: Duration::from_secs_f64(quiet_wait.max(0.0)),
        out,
        bin_dir,
    };

    let mut missing = Vec::new();
    let mut servers = peers(&opts.bin_dir, &corio, &mut missing);
    if let Some(only) = &only {
        let keep: Vec<&str> = only.split(',').collect();
        servers.retain(|s| keep.contains(&s.key));
    }
    for s in &servers {
        if !s.path.exists() {
            eprintln!(
                "suite: {} not found: build first (bench/run.sh does)",
                s.path.display()
            );
            std::process::exit(1);
        }
    }
    let loadgen = opts.bin_dir.join("loadgen");
    let idle = opts.bin_dir.join("idle");
    for b in [&loadgen, &idle] {
        if !b.exists() {
            eprintln!(
                "suite: {} not found: build first (bench/run.sh does)",
                b.display()
            );
            std::process::exit(1);
        }
    }

    let configs = configs();
    let runs_total: usize = configs
        .iter()
        .map(|c| servers_for(&servers, c).len() * opts.repeats)
        .sum();
    eprintln!(
        "suite: {runs_total} runs of {:.2} s + start-up (about {:.0} s), then idle memory and micro-benchmarks",
        opts.warmup + opts.secs,
        runs_total as f64 * (opts.warmup + opts.secs + 0.3)
    );
    let started = Instant::now();
    let mut results: HashMap<(usize, &'static str), Runs> = HashMap::new();
    let mut m = Measurer {
        opts: &opts,
        loadgen: &loadgen,
        done: 0,
        total: runs_total,
        busy_starts: 0,
        retried: 0,
    };
    for (ci, cfg) in configs.iter().enumerate() {
        let list = servers_for(&servers, cfg);
        m.rounds(
            ci,
            cfg,
            &list,
            opts.repeats,
            (opts.warmup, opts.secs),
            false,
            "",
            &mut results,
        );
    }
    eprintln!("suite: echo runs took {:.0?}", started.elapsed());

    // Target rounds: corio and the peers of its targets only, many short
    // rounds, so that the paired ratios the verdicts use are many.
    let mut target_results: HashMap<(usize, &'static str), Runs> = HashMap::new();
    let targets: Vec<(usize, Vec<Server>)> = target_configs()
        .into_iter()
        .filter_map(|((conns, size, threads), peers)| {
            let ci = config_index(&configs, conns, size, threads)?;
            let list: Vec<Server> = servers
                .iter()
                .filter(|s| s.key == "corio" || peers.contains(&s.key))
                .cloned()
                .collect();
            (list.len() > 1 && list[0].key == "corio").then_some((ci, list))
        })
        .collect();
    if opts.target_rounds > 0 && !targets.is_empty() {
        let started = Instant::now();
        m.done = 0;
        m.total = targets.iter().map(|(_, l)| l.len()).sum::<usize>() * opts.target_rounds;
        eprintln!(
            "suite: target rounds: {} runs, each of corio and its peers taking turns",
            opts.target_rounds * targets.len(),
        );
        for (ci, list) in &targets {
            m.rounds(
                *ci,
                &configs[*ci],
                list,
                opts.target_rounds,
                target_window(list.len(), opts.target_secs),
                true,
                "target ",
                &mut target_results,
            );
        }
        eprintln!("suite: target rounds took {:.0?}", started.elapsed());
    }
    let (busy_starts, retried) = (m.busy_starts, m.retried);

    let mut idle_results = Vec::new();
    if let Some(n) = opts.idle_conns {
        for s in servers.iter().filter(|s| s.key != "tokio-mt") {
            eprintln!("suite: idle memory of {} ({n} connections)", s.key);
            let r = run_idle(&opts, s, n, &idle);
            if let Err(e) = &r {
                eprintln!("suite: idle {}: {e}", s.key);
            }
            idle_results.push((s.clone(), r));
        }
    }

    let report = Report {
        opts: &opts,
        servers: &servers,
        configs: &configs,
        results: &results,
        target_results: &target_results,
        idle: &idle_results,
        missing: &missing,
        root: &root,
        busy_starts,
        retried,
    };
    if let Err(e) = write_outputs(&report) {
        eprintln!("suite: writing {}: {e}", opts.out.display());
        std::process::exit(1);
    }
    eprintln!(
        "suite: wrote {} in {:.0?}",
        opts.out.display(),
        started.elapsed()
    );
}

/// The servers, corio first; `missing` gets a note for corio and the Go
/// peer when they are not built (the Rust peers are: `bench/run.sh` builds
/// them with the suite).
fn peers(bin: &Path, corio: &Path, missing: &mut Vec<String>) -> Vec<Server> {
    let peer = |key, label, name: &str, args: &[&str]| Server {
        key,
        label,
        path: bin.join(name),
        args: args.iter().map(|a| a.to_string()).collect(),
    };
    let mut v = Vec::new();
    if corio.exists() {
        v.push(Server {
            key: "corio",
            label: "corio (`echo` example)",
            path: corio.to_path_buf(),
            args: Vec::new(),
        });
    } else {
        eprintln!(
            "suite: WARNING: corio's echo example ({}) is not built: corio is left out of this run",
            corio.display()
        );
        missing.push(format!(
            "corio's `echo` example (`{}`) was not built when this ran, so corio has no figures \
             and its targets are unmeasured.",
            corio.display()
        ));
    }
    v.push(peer("epoll", "epoll loop (reference)", "peer_epoll", &[]));
    v.push(peer(
        "tokio-ct",
        "tokio current-thread",
        "peer_tokio",
        &["--flavor", "current"],
    ));
    v.push(peer(
        "tokio-mt",
        "tokio multi-thread",
        "peer_tokio",
        &["--flavor", "multi"],
    ));
    v.push(peer("may", "may", "peer_may", &[]));
    let go = peer("go", "Go (goroutine per connection)", "peer_go", &[]);
    if go.path.exists() {
        v.push(go);
    } else {
        eprintln!(
            "suite: note: the Go peer ({}) is not built: Go is left out of this run",
            go.path.display()
        );
        missing.push(format!(
            "the Go peer (`{}`, from `bench/go`) was not built when this ran (`bench/run.sh` \
             builds it when `go` is on PATH), so Go has no figures.",
            go.path.display()
        ));
    }
    v.push(peer("std", "std thread per connection", "peer_std", &[]));
    v
}

/// The load configurations, in report order.
fn configs() -> Vec<Config> {
    let mut v = Vec::new();
    for conns in [1, 100, 1000] {
        for size in [64, 4096] {
            v.push(Config {
                conns,
                size,
                threads: 1,
            });
        }
    }
    v.push(Config {
        conns: 100,
        size: 64,
        threads: 2,
    });
    v
}

/// Runs servers and keeps count: the retry rule for disturbed runs and the
/// progress lines.
struct Measurer<'a> {
    opts: &'a Opts,
    loadgen: &'a Path,
    /// Runs done and planned in this phase (progress lines).
    done: usize,
    total: usize,
    /// Runs that started although the machine was not idle.
    busy_starts: usize,
    /// Runs done again because other work disturbed them.
    retried: usize,
}

impl Measurer<'_> {
    /// `rounds` rounds of every server in `list` (the order rotated each
    /// round, reversed every other pass) in configuration `ci`, into
    /// `results`: each server in a run of its own, or, `together`, all of
    /// them in one run, taking turns.
    #[allow(clippy::too_many_arguments)]
    fn rounds(
        &mut self,
        ci: usize,
        cfg: &Config,
        list: &[Server],
        rounds: usize,
        window: (f64, f64),
        together: bool,
        phase: &str,
        results: &mut HashMap<(usize, &'static str), Runs>,
    ) {
        for rep in 0..rounds {
            // Every order over rounds: rotated each round, and reversed
            // every other pass of rotations (with three servers taking
            // turns, who follows whom matters, not only who starts).
            let mut order: Vec<&Server> = list.iter().collect();
            let n = order.len().max(1);
            if (rep / n) % 2 == 1 {
                order.reverse();
            }
            order.rotate_left(rep % n);
            let groups: Vec<&[&Server]> = if together {
                vec![&order[..]]
            } else {
                order.chunks(1).collect()
            };
            for group in groups {
                self.done += group.len();
                let r = self.measure(group, cfg, window);
                for (i, server) in group.iter().enumerate() {
                    let r = match &r {
                        Ok(v) => v[i].clone(),
                        Err(e) => Err(e.clone()),
                    };
                    let at = format!(
                        "[{phase}{}/{}] {} {} #{}",
                        self.done + 1 + i - group.len(),
                        self.total,
                        cfg.short(),
                        server.key,
                        rep + 1
                    );
                    match &r {
                        Ok(r) => eprintln!(
                            "{at}: {:.0} msgs/s, server {}/msg (user {}), p99 {}",
                            r.msgs_per_sec,
                            r.server_cpu_ns.map_or("NA".into(), fmt_ns),
                            r.server_user_ns.map_or("NA".into(), fmt_ns),
                            fmt_ns(r.p99_us * 1e3)
                        ),
                        Err(e) => eprintln!("{at}: FAILED: {e}"),
                    }
                    let entry = results.entry((ci, server.key)).or_default();
                    match r {
                        Ok(r) => entry.ok.push((rep, r)),
                        Err(e) => entry.failures.push(e),
                    }
                }
            }
        }
    }

    /// One run of `servers`, done again (up to [`TRIES`] times) while other
    /// work disturbed it.
    fn measure(
        &mut self,
        servers: &[&Server],
        cfg: &Config,
        window: (f64, f64),
    ) -> Result<Vec<Result<RunResult, String>>, String> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            if !self.opts.quiet_wait.is_zero() && !wait_quiet(self.opts.quiet_wait) {
                self.busy_starts += 1;
                eprintln!("suite: the machine is busy; running anyway");
            }
            let r = run_servers(self.opts, servers, cfg, self.loadgen, window);
            // Every line of one run reports the same other work.
            let other = r
                .as_ref()
                .ok()
                .and_then(|v| v.iter().find_map(|x| x.as_ref().ok()?.other_cpus))
                .unwrap_or(0.0);
            // A failure is kept, not measured away.
            let failed = r.as_ref().map_or(true, |v| v.iter().any(Result::is_err));
            if other > DISTURBED && attempt < TRIES && !failed {
                self.retried += 1;
                eprintln!("suite: other work took {other:.2} CPUs during the run: again");
            } else {
                return r;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_go_peer_comes_after_may_when_built_else_a_note() {
        let dir = std::env::temp_dir().join(format!("corio-suite-peers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let corio = dir.join("echo");
        std::fs::write(&corio, "").unwrap();
        let keys = |v: &[Server]| v.iter().map(|s| s.key).collect::<Vec<_>>();

        let mut missing = Vec::new();
        let without = peers(&dir, &corio, &mut missing);
        assert_eq!(
            keys(&without),
            ["corio", "epoll", "tokio-ct", "tokio-mt", "may", "std"]
        );
        assert_eq!(missing.len(), 1);
        assert!(missing[0].contains("Go peer"), "{missing:?}");

        std::fs::write(dir.join("peer_go"), "").unwrap();
        let mut missing = Vec::new();
        let with = peers(&dir, &corio, &mut missing);
        assert_eq!(
            keys(&with),
            ["corio", "epoll", "tokio-ct", "tokio-mt", "may", "go", "std"]
        );
        assert!(missing.is_empty(), "{missing:?}");
        let go = &with[5];
        assert_eq!(go.label, "Go (goroutine per connection)");
        assert_eq!(go.path, dir.join("peer_go"));
        assert!(go.args.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
