//! The benchmark suite of issue 8: corio's echo server side by side with
//! the peers (a hand-written epoll loop, tokio current-thread and
//! multi-thread, may, std thread-per-connection), written to
//! `BENCHMARKS.md` with an SVG chart (`bench/echo.svg`).
//!
//! For each configuration (1/100/1000 connections × 64 B/4 KiB messages,
//! one server thread; plus 100 × 64 B with two server threads) it runs
//! every server in turn (A B C …, the order rotated each repeat, so drift
//! of the machine hits all alike), `--repeats` times. Each run starts a
//! fresh server pinned with `taskset` to the server CPUs, drives it with
//! `loadgen` pinned to the client CPUs for `--warmup` + `--secs` seconds,
//! and records msgs/s, the server's CPU time per message and p50/p99
//! latency. Then `idle` measures memory per idle connection of every
//! server, and the micro-benchmark binaries (`coro_micro`, `sched_micro`,
//! `sync_micro`) that exist are run to refresh their sections.
//!
//! It builds nothing: it runs the binaries next to its own executable and
//! corio's `echo` example (`target/release/examples/echo`). Build first, or
//! use `bench/run.sh`, which builds and then runs this:
//! `bench/run.sh [--quick]` or, after a build,
//! `cargo run --release -p corio-bench --bin suite -- [--quick]`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use corio_bench::echo::args::Args;
use corio_bench::echo::splice::{Block, has_heading};
use corio_bench::echo::svg::{self, Panel};
use corio_bench::{Sample, fmt_ns, fmt_ratio, machine, markdown_table};

const USAGE: &str = "\
suite: echo servers side by side, written to BENCHMARKS.md (builds nothing)

usage: suite [--quick] [--repeats 5] [--secs 3] [--warmup 1]
             [--idle-conns 10000] [--no-idle] [--no-micro]
             [--servers corio,epoll,tokio-ct,tokio-mt,may,std]
             [--server-cpus 0] [--client-cpus 1] [--no-pin]
             [--corio target/release/examples/echo] [--out BENCHMARKS.md]
--quick: 5 repeats of 1 s after 0.25 s warm-up (about 4 minutes on 2 CPUs).
The two-thread configuration runs server and client on the union of both
CPU sets.";

/// Buffer per connection of every server in the throughput runs.
const BUF: usize = 16 * 1024;
/// Buffer per connection in the idle-memory runs (the framework's own cost
/// shows, not the user's buffer).
const IDLE_BUF: usize = 1024;

/// The micro-benchmark binaries and the headings of their sections.
const MICROS: [(&str, &str); 3] = [
    ("coro_micro", "## Coroutine core (issue 2)"),
    ("sched_micro", "## Scheduler (issue 3)"),
    ("sync_micro", "## Sync primitives (issue 4)"),
];

/// The blocks of BENCHMARKS.md this program owns.
const HEADER: Block<'static> = Block {
    name: "suite:header",
};
const ECHO: Block<'static> = Block { name: "suite" };

/// One echo server.
#[derive(Clone)]
struct Server {
    /// Short name, used in `--servers`, progress and the chart legend.
    key: &'static str,
    /// Name in the tables.
    label: &'static str,
    /// Executable.
    path: PathBuf,
    /// Arguments before the common `--addr --threads --buf`.
    args: Vec<String>,
}

/// One load configuration.
#[derive(Clone, Copy, PartialEq)]
struct Config {
    conns: usize,
    size: usize,
    /// Server threads (and client threads).
    threads: usize,
}

impl Config {
    fn label(&self) -> String {
        let size = if self.size >= 1024 {
            format!("{} KiB", self.size / 1024)
        } else {
            format!("{} B", self.size)
        };
        let mut l = format!("{} conns × {size}", self.conns);
        if self.threads > 1 {
            let _ = write!(l, ", {} threads", self.threads);
        }
        l
    }

    fn short(&self) -> String {
        let size = if self.size >= 1024 {
            format!("{}K", self.size / 1024)
        } else {
            format!("{}B", self.size)
        };
        let mut l = format!("{}×{size}", self.conns);
        if self.threads > 1 {
            let _ = write!(l, " {}thr", self.threads);
        }
        l
    }

    /// The tokio flavour this configuration compares with.
    fn tokio_key(&self) -> &'static str {
        if self.threads > 1 {
            "tokio-mt"
        } else {
            "tokio-ct"
        }
    }
}

/// What one loadgen run reported.
#[derive(Clone, Copy)]
struct RunResult {
    msgs_per_sec: f64,
    server_cpu_ns: Option<f64>,
    client_cpu_ns: Option<f64>,
    p50_us: f64,
    p99_us: f64,
    /// CPUs' worth of time used by anything else during the window.
    other_cpus: Option<f64>,
}

/// Every run of one server in one configuration.
#[derive(Default)]
struct Runs {
    ok: Vec<RunResult>,
    failures: Vec<String>,
}

/// Medians (with spread) of one server in one configuration.
struct Summary {
    msgs: Sample,
    cpu: Option<Sample>,
    client_cpu: Option<Sample>,
    p50: Sample,
    p99: Sample,
}

impl Runs {
    fn summary(&self) -> Option<Summary> {
        if self.ok.is_empty() {
            return None;
        }
        let sample = |f: &dyn Fn(&RunResult) -> Option<f64>| {
            let v: Option<Vec<f64>> = self.ok.iter().map(f).collect();
            v.map(Sample::from_runs)
        };
        Some(Summary {
            msgs: sample(&|r| Some(r.msgs_per_sec))?,
            cpu: sample(&|r| r.server_cpu_ns),
            client_cpu: sample(&|r| r.client_cpu_ns),
            p50: sample(&|r| Some(r.p50_us))?,
            p99: sample(&|r| Some(r.p99_us))?,
        })
    }
}

/// What `idle` reported for one server.
struct IdleResult {
    conns: u64,
    bytes_per_conn: f64,
    threads: u64,
    fds: u64,
    still_echo: u64,
}

/// Options of this run.
struct Opts {
    quick: bool,
    repeats: usize,
    secs: f64,
    warmup: f64,
    idle_conns: Option<u64>,
    micro: bool,
    /// `None`: no pinning.
    cpus: Option<(String, String)>,
    out: PathBuf,
    bin_dir: PathBuf,
}

fn main() {
    let mut args = Args::from_env(USAGE);
    let quick = args.flag("quick");
    let (repeats, secs, warmup) = if quick { (5, 1.0, 0.25) } else { (5, 3.0, 1.0) };
    let repeats: usize = args.get("repeats", repeats);
    let secs: f64 = args.get("secs", secs);
    let warmup: f64 = args.get("warmup", warmup);
    let no_idle = args.flag("no-idle");
    let idle_conns: u64 = args.get("idle-conns", 10_000);
    let micro = !args.flag("no-micro");
    let no_pin = args.flag("no-pin");
    let server_cpus: String = args.get("server-cpus", "0".to_string());
    let client_cpus: String = args.get("client-cpus", "1".to_string());
    let only: Option<String> = args.opt("servers");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf();
    let corio: PathBuf = args.get("corio", root.join("target/release/examples/echo"));
    let out: PathBuf = args.get("out", root.join("BENCHMARKS.md"));
    args.finish();
    if repeats == 0 || secs <= 0.0 || warmup < 0.0 {
        eprintln!("suite: --repeats and --secs must be positive");
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
        idle_conns: (!no_idle).then_some(idle_conns),
        micro,
        cpus,
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
    let mut done = 0;
    for (ci, cfg) in configs.iter().enumerate() {
        let list = servers_for(&servers, cfg);
        for rep in 0..opts.repeats {
            let mut order = list.clone();
            let n = order.len().max(1);
            order.rotate_left(rep % n);
            for server in &order {
                done += 1;
                let r = run_one(&opts, server, cfg, &loadgen);
                match &r {
                    Ok(r) => eprintln!(
                        "[{done}/{runs_total}] {} {} #{}: {:.0} msgs/s, server {}/msg, p99 {}",
                        cfg.short(),
                        server.key,
                        rep + 1,
                        r.msgs_per_sec,
                        r.server_cpu_ns.map_or("NA".into(), fmt_ns),
                        fmt_ns(r.p99_us * 1e3)
                    ),
                    Err(e) => eprintln!(
                        "[{done}/{runs_total}] {} {} #{}: FAILED: {e}",
                        cfg.short(),
                        server.key,
                        rep + 1
                    ),
                }
                let entry = results.entry((ci, server.key)).or_default();
                match r {
                    Ok(r) => entry.ok.push(r),
                    Err(e) => entry.failures.push(e),
                }
            }
        }
    }
    eprintln!("suite: echo runs took {:.0?}", started.elapsed());

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
        idle: &idle_results,
        missing: &missing,
        root: &root,
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

/// The servers, corio first; `missing` gets a note for each one not built.
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

/// The servers that run in `cfg`: tokio's current-thread flavour with one
/// thread, its multi-thread flavour with more.
fn servers_for(servers: &[Server], cfg: &Config) -> Vec<Server> {
    let skip = if cfg.threads > 1 {
        "tokio-ct"
    } else {
        "tokio-mt"
    };
    servers.iter().filter(|s| s.key != skip).cloned().collect()
}

/// Whether `taskset` runs here and accepts a CPU list.
fn taskset_works() -> bool {
    Command::new("taskset")
        .args(["-c", "0", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `program`, started through `taskset -c cpus` when pinning.
fn pinned(cpus: Option<&str>, program: &Path) -> Command {
    match cpus {
        Some(c) => {
            let mut cmd = Command::new("taskset");
            cmd.arg("-c").arg(c).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// CPU lists of server and client for `cfg` (both sets for several threads).
fn cpu_sets(opts: &Opts, cfg: &Config) -> (Option<String>, Option<String>) {
    match &opts.cpus {
        None => (None, None),
        Some((s, c)) if cfg.threads > 1 => {
            let both = format!("{s},{c}");
            (Some(both.clone()), Some(both))
        }
        Some((s, c)) => (Some(s.clone()), Some(c.clone())),
    }
}

/// One fresh server, one loadgen run against it.
fn run_one(
    opts: &Opts,
    server: &Server,
    cfg: &Config,
    loadgen: &Path,
) -> Result<RunResult, String> {
    let addr = free_addr().map_err(|e| format!("no free port: {e}"))?;
    let (server_cpus, client_cpus) = cpu_sets(opts, cfg);
    let mut child = pinned(server_cpus.as_deref(), &server.path)
        .args(&server.args)
        .args(["--addr", &addr.to_string()])
        .args(["--threads", &cfg.threads.to_string()])
        .args(["--buf", &BUF.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", server.path.display()))?;
    let result = (|| {
        wait_listening(addr, &mut child)?;
        let mut cmd = pinned(client_cpus.as_deref(), loadgen);
        cmd.args(["--addr", &addr.to_string()])
            .args(["--conns", &cfg.conns.to_string()])
            .args(["--size", &cfg.size.to_string()])
            .args(["--secs", &opts.secs.to_string()])
            .args(["--warmup", &opts.warmup.to_string()])
            .args(["--threads", &cfg.threads.to_string()])
            .args(["--server-pid", &child.id().to_string()]);
        let limit = Duration::from_secs_f64(opts.warmup + opts.secs + 60.0);
        let out = output_within(cmd, limit)?;
        let line = out
            .lines()
            .find(|l| l.starts_with("RESULT "))
            .ok_or_else(|| format!("loadgen printed no RESULT: {out:?}"))?;
        let kv = key_values(line);
        let num = |k: &str| kv.get(k).and_then(|v| v.parse::<f64>().ok());
        if num("errors") != Some(0.0) || num("mismatches") != Some(0.0) {
            return Err(format!("loadgen saw errors: {line}"));
        }
        Ok(RunResult {
            msgs_per_sec: num("msgs_per_sec").ok_or("no msgs_per_sec")?,
            server_cpu_ns: num("server_cpu_ns_per_msg"),
            client_cpu_ns: num("client_cpu_ns_per_msg"),
            p50_us: num("p50_us").ok_or("no p50_us")?,
            p99_us: num("p99_us").ok_or("no p99_us")?,
            other_cpus: num("other_cpus"),
        })
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// Runs `cmd` with stdout captured; kills it after `limit`; fails on a
/// non-zero exit. Returns stdout.
fn output_within(mut cmd: Command, limit: Duration) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {cmd:?}: {e}"))?;
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{cmd:?} did not finish within {limit:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for {cmd:?}: {e}")),
        }
    };
    let mut out = String::new();
    if let Some(mut so) = child.stdout.take() {
        let _ = io::Read::read_to_string(&mut so, &mut out);
    }
    if !status.success() {
        return Err(format!("{cmd:?} exited with {status}; stdout: {out:?}"));
    }
    Ok(out)
}

/// `key=value` pairs of a summary line.
fn key_values(line: &str) -> HashMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

/// A loopback address whose port was free a moment ago.
fn free_addr() -> io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// Polls until `addr` accepts (10 s at most, and only while `child` lives).
fn wait_listening(addr: SocketAddr, child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("server exited with {status} before listening"));
        }
        if Instant::now() > deadline {
            return Err(format!("server did not listen on {addr} within 10 s"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Memory per idle connection of `server` (pinned to the server CPUs).
fn run_idle(opts: &Opts, server: &Server, conns: u64, idle: &Path) -> Result<IdleResult, String> {
    let (server_cpus, client_cpus) = cpu_sets(
        opts,
        &Config {
            conns: 0,
            size: 0,
            threads: 1,
        },
    );
    let mut cmd = pinned(client_cpus.as_deref(), idle);
    cmd.args([
        "--conns",
        &conns.to_string(),
        "--buf",
        &IDLE_BUF.to_string(),
        "--",
    ]);
    if let Some(c) = &server_cpus {
        cmd.args(["taskset", "-c", c]);
    }
    cmd.arg(&server.path).args(&server.args);
    let out = output_within(cmd, Duration::from_secs(300))?;
    let line = out
        .lines()
        .find(|l| l.starts_with("IDLE "))
        .ok_or_else(|| format!("idle printed no IDLE line: {out:?}"))?;
    let kv = key_values(line);
    let num = |k: &str| -> Result<f64, String> {
        kv.get(k)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no {k} in {line:?}"))
    };
    Ok(IdleResult {
        conns: num("conns")? as u64,
        bytes_per_conn: num("bytes_per_conn")?,
        threads: num("threads")? as u64,
        fds: num("fds")? as u64,
        still_echo: num("still_echo")? as u64,
    })
}

/// Everything the report is made of.
struct Report<'a> {
    opts: &'a Opts,
    servers: &'a [Server],
    configs: &'a [Config],
    results: &'a HashMap<(usize, &'static str), Runs>,
    idle: &'a [(Server, Result<IdleResult, String>)],
    missing: &'a [String],
    root: &'a Path,
}

impl Report<'_> {
    fn summary(&self, ci: usize, key: &str) -> Option<Summary> {
        self.results
            .iter()
            .find(|((c, k), _)| *c == ci && *k == key)
            .and_then(|(_, r)| r.summary())
    }

    fn config_index(&self, conns: usize, size: usize, threads: usize) -> Option<usize> {
        self.configs.iter().position(|c| {
            *c == Config {
                conns,
                size,
                threads,
            }
        })
    }
}

/// Writes the chart, refreshes the micro sections and the suite's blocks.
fn write_outputs(r: &Report<'_>) -> io::Result<()> {
    let out_dir = r.opts.out.parent().unwrap_or(Path::new(".")).to_path_buf();
    let svg_rel = "bench/echo.svg";
    let svg_path = out_dir.join(svg_rel);
    if let Some(d) = svg_path.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(&svg_path, chart(r))?;

    let mut doc = std::fs::read_to_string(&r.opts.out).unwrap_or_default();
    doc = HEADER.upsert_top(&doc, &header());
    doc = ECHO.upsert_before(&doc, &echo_section(r, svg_rel), "", None);
    if r.opts.micro {
        doc = refresh_micros(r, doc);
    }
    std::fs::write(&r.opts.out, doc)
}

/// Runs each micro-benchmark binary that exists and puts its output
/// between its markers (a new section if its heading is absent; a section
/// written without markers is left as it is).
fn refresh_micros(r: &Report<'_>, mut doc: String) -> String {
    for (bin, heading) in MICROS {
        let path = r.opts.bin_dir.join(bin);
        if !path.exists() {
            eprintln!("suite: {bin} not built: its section is left as it is");
            continue;
        }
        let name = format!("bench:{bin}");
        let block = Block { name: &name };
        if !block.is_in(&doc) && has_heading(&doc, heading) {
            eprintln!(
                "suite: `{heading}` has no {} markers: left as it is",
                block.begin()
            );
            continue;
        }
        eprintln!("suite: running {bin}");
        match output_within(Command::new(&path), Duration::from_secs(600)) {
            Ok(out) => {
                doc =
                    block.upsert_before(&doc, &out, &format!("{heading}\n\n"), Some(&ECHO.begin()));
            }
            Err(e) => eprintln!("suite: {bin} failed, its section is left as it is: {e}"),
        }
    }
    doc
}

/// The file's header: how to regenerate it and who owns which part.
fn header() -> String {
    "# corio benchmarks

One command regenerates this file, from the repository root:

```sh
bench/run.sh            # full run: 5 repeats × 3 s per server and configuration (~20 min)
bench/run.sh --quick    # short run: 5 repeats × 1 s (~6 min)
```

`bench/run.sh` builds in release (`cargo build --release -p corio-bench --bins` and
`cargo build --release --example echo`), then runs the suite
(`cargo run --release -p corio-bench --bin suite -- ARGS`; `--help` lists its options).
The suite itself builds nothing.

How this file is kept: the suite owns the blocks between `<!-- suite:… -->` markers (this
header and the echo section) and rewrites them on every run. It also runs the micro-benchmark
binaries of issues 2–4 (`coro_micro`, `sched_micro`, `sync_micro`) that are built and puts
their output between `<!-- bench:NAME:begin -->` / `<!-- bench:NAME:end -->` markers in their
sections (adding the section if it is absent; a section written without markers is left as it
is). Every other line — findings, profiles, notes — is kept byte for byte."
        .to_string()
}

/// `142k`, `12.2k`, `1.05M` messages per second.
fn fmt_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e5 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn rate_summary(s: &Sample) -> String {
    format!(
        "{} ({}–{})",
        fmt_rate(s.median),
        fmt_rate(s.min),
        fmt_rate(s.max)
    )
}

fn verdict(met: bool) -> String {
    if met {
        "met".into()
    } else {
        "**not met**".into()
    }
}

fn echo_section(r: &Report<'_>, svg_rel: &str) -> String {
    let o = r.opts;
    let mut s = String::new();
    let _ = writeln!(s, "## Echo server (issue 8)\n");
    let pin = match &o.cpus {
        Some((sc, cc)) => format!(
            "server pinned to CPU {sc} and `loadgen` to CPU {cc} with `taskset` (the two-thread \
             configuration gives both processes CPUs {sc},{cc})"
        ),
        None => "no CPU pinning (`taskset` unavailable or `--no-pin`)".into(),
    };
    let _ = writeln!(
        s,
        "Ping-pong echo: every connection keeps one message in flight and `loadgen` checks every \
         echoed byte. Each run starts a fresh server (`--buf {BUF}`, TCP_NODELAY), warms up for \
         {} s and measures {} s; {pin}. Within a configuration the servers take turns (A B C …, \
         the order rotated each repeat), {} repeats each; tables give the median with min–max. \
         *Server CPU / msg* is the server's utime+stime (`/proc/PID/stat`) over the measured \
         window divided by the messages: the fair metric when the client saturates first. \
         Ratios are of medians: for msgs/s higher is better, for CPU lower is better.\n",
        o.warmup, o.secs, o.repeats
    );
    let _ = writeln!(
        s,
        "- Run: {}{}; machine: {}.\n- Versions: {}.\n",
        today(),
        if o.quick { ", `--quick`" } else { "" },
        machine(),
        versions(r.root)
    );
    for m in r.missing {
        let _ = writeln!(s, "- **Missing:** {m}");
    }
    if !r.missing.is_empty() {
        s.push('\n');
    }

    let _ = writeln!(s, "### Targets (issue 8)\n");
    s.push_str(&targets(r));

    let _ = writeln!(s, "\n### Chart\n");
    let _ = writeln!(
        s,
        "![echo benchmarks: msgs/s, server CPU per message, idle memory]({svg_rel})\n"
    );

    let _ = writeln!(s, "### Echo sweep\n");
    for (ci, cfg) in r.configs.iter().enumerate() {
        let _ = writeln!(s, "#### {}\n", cfg.label());
        let tk = cfg.tokio_key();
        let epoll = r.summary(ci, "epoll");
        let tokio = r.summary(ci, tk);
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => fmt_ratio(a / b),
            _ => "–".into(),
        };
        let mut rows = Vec::new();
        for server in servers_for(r.servers, cfg) {
            let runs = r.results.get(&(ci, server.key));
            let failed = runs.map_or(0, |x| x.failures.len());
            let Some(sm) = r.summary(ci, server.key) else {
                rows.push(vec![
                    server.label.to_string(),
                    format!("all {failed} runs failed"),
                    "–".into(),
                    "–".into(),
                    "–".into(),
                    "–".into(),
                    "–".into(),
                    "–".into(),
                    "–".into(),
                ]);
                continue;
            };
            let cpu = sm.cpu.as_ref().map(|c| c.median);
            let mut label = server.label.to_string();
            if failed > 0 {
                let _ = write!(label, " ({failed} failed runs)");
            }
            rows.push(vec![
                label,
                rate_summary(&sm.msgs),
                ratio(Some(sm.msgs.median), epoll.as_ref().map(|e| e.msgs.median)),
                ratio(Some(sm.msgs.median), tokio.as_ref().map(|t| t.msgs.median)),
                sm.cpu.as_ref().map_or("NA".into(), Sample::summary),
                ratio(
                    cpu,
                    epoll
                        .as_ref()
                        .and_then(|e| e.cpu.as_ref())
                        .map(|c| c.median),
                ),
                ratio(
                    cpu,
                    tokio
                        .as_ref()
                        .and_then(|t| t.cpu.as_ref())
                        .map(|c| c.median),
                ),
                fmt_ns(sm.p50.median * 1e3),
                fmt_ns(sm.p99.median * 1e3),
            ]);
        }
        let tname = if cfg.threads > 1 {
            "tokio-mt"
        } else {
            "tokio-ct"
        };
        let h_msgs_e = "msgs/s ÷ epoll";
        let h_msgs_t = format!("msgs/s ÷ {tname}");
        let h_cpu_e = "CPU ÷ epoll";
        let h_cpu_t = format!("CPU ÷ {tname}");
        s.push_str(&markdown_table(
            &[
                "server",
                "msgs/s",
                h_msgs_e,
                &h_msgs_t,
                "server CPU / msg",
                h_cpu_e,
                &h_cpu_t,
                "p50",
                "p99",
            ],
            &rows,
        ));
        s.push('\n');
    }

    let _ = writeln!(s, "### Idle memory (issue 8)\n");
    if r.idle.is_empty() {
        let _ = writeln!(s, "Not measured in this run (`--no-idle`).\n");
    } else {
        let _ = writeln!(
            s,
            "`idle` starts the server (one thread, `--buf {IDLE_BUF}`), opens the connections one \
             by one, each does one verified 64-byte echo and stays open; growth of the server's \
             VmRSS divided by the connections, its threads and fds at that point, and how many \
             connections still echo afterwards. One run per server.\n"
        );
        let rows: Vec<Vec<String>> = r
            .idle
            .iter()
            .map(|(srv, res)| match res {
                Ok(i) => vec![
                    srv.label.to_string(),
                    i.conns.to_string(),
                    format!("{:.0}", i.bytes_per_conn),
                    i.threads.to_string(),
                    i.fds.to_string(),
                    format!("{}/{}", i.still_echo, i.conns),
                ],
                Err(e) => vec![
                    srv.label.to_string(),
                    format!("failed: {}", e.replace('|', "/")),
                    "–".into(),
                    "–".into(),
                    "–".into(),
                    "–".into(),
                ],
            })
            .collect();
        s.push_str(&markdown_table(
            &[
                "server",
                "connections",
                "RSS bytes / connection",
                "threads",
                "fds",
                "still echo",
            ],
            &rows,
        ));
        s.push('\n');
    }

    let _ = writeln!(s, "### Notes\n");
    let epoll_100 = r
        .config_index(100, 64, 1)
        .and_then(|ci| r.summary(ci, "epoll"));
    if let Some(Summary {
        cpu: Some(sc),
        client_cpu: Some(cc),
        ..
    }) = &epoll_100
    {
        let _ = writeln!(
            s,
            "- The client is no cheaper than the server: against the epoll loop at 100 × 64 B, \
             `loadgen` spent {} of CPU per message and the server {}. With 100 or more \
             connections both CPUs are busy and msgs/s is bounded by the client as much as by \
             the server; compare *server CPU / msg* there.",
            fmt_ns(cc.median),
            fmt_ns(sc.median)
        );
    }
    let others: Vec<f64> = r
        .results
        .values()
        .flat_map(|runs| runs.ok.iter().filter_map(|x| x.other_cpus))
        .collect();
    if !others.is_empty() {
        let o = Sample::from_runs(others.clone());
        let busy = others.iter().filter(|&&x| x > 0.3).count();
        let _ = writeln!(
            s,
            "- Interference: during the measured windows the machine spent a median of {:.2} \
             CPUs (max {:.2}) on anything but the server and `loadgen` (other programs, and \
             kernel time charged to neither); {busy} of {} runs saw more than 0.3 CPUs. Runs \
             disturbed that way lose msgs/s; server CPU / msg moves much less.",
            o.median,
            o.max,
            others.len()
        );
    }
    let _ = writeln!(
        s,
        "- CPU time comes from clock ticks (10 ms), so over a {} s window it is exact to about \
         {:.1} % at full load. The 1-connection rows are latency-bound: the server sleeps and is \
         woken for every message, and that cost is in its CPU per message.",
        o.secs,
        100.0 / (o.secs * 100.0)
    );
    s
}

/// The target checks of issue 8.
fn targets(r: &Report<'_>) -> String {
    let mut rows = Vec::new();
    let have_corio = r.servers.iter().any(|s| s.key == "corio");
    let unmeasured = |rows: &mut Vec<Vec<String>>, what: String| {
        rows.push(vec![what, "not measured".into(), "–".into()]);
    };
    for conns in [100, 1000] {
        let Some(ci) = r.config_index(conns, 64, 1) else {
            continue;
        };
        let c = r.summary(ci, "corio");
        let t = r.summary(ci, "tokio-ct");
        let e = r.summary(ci, "epoll");
        let cpu = |x: &Option<Summary>| x.as_ref().and_then(|x| x.cpu.as_ref()).map(|c| c.median);
        let pre = format!("{conns} conns × 64 B, 1 thread:");
        let mut check = |what: String,
                         a: Option<f64>,
                         b: Option<f64>,
                         fmt: fn(f64) -> String,
                         ok: fn(f64) -> bool| {
            match (a, b) {
                (Some(a), Some(b)) if have_corio && b > 0.0 => rows.push(vec![
                    what,
                    format!("{} (corio {}, peer {})", fmt_ratio(a / b), fmt(a), fmt(b)),
                    verdict(ok(a / b)),
                ]),
                _ => unmeasured(&mut rows, what),
            }
        };
        check(
            format!("{pre} corio server CPU/msg ≤ 1.00× tokio current-thread"),
            cpu(&c),
            cpu(&t),
            fmt_ns,
            |x| x <= 1.0,
        );
        check(
            format!("{pre} corio server CPU/msg ≤ 1.05× epoll loop"),
            cpu(&c),
            cpu(&e),
            fmt_ns,
            |x| x <= 1.05,
        );
        check(
            format!("{pre} corio msgs/s ≥ tokio current-thread"),
            c.as_ref().map(|x| x.msgs.median),
            t.as_ref().map(|x| x.msgs.median),
            fmt_rate,
            |x| x >= 1.0,
        );
        if conns == 1000 {
            check(
                format!("{pre} corio p99 ≤ tokio current-thread p99"),
                c.as_ref().map(|x| x.p99.median * 1e3),
                t.as_ref().map(|x| x.p99.median * 1e3),
                fmt_ns,
                |x| x <= 1.0,
            );
        }
    }
    if let Some(ci) = r.config_index(100, 64, 2) {
        let what = "100 conns × 64 B, 2 threads (server and client on the same 2 CPUs): corio msgs/s ≥ tokio multi-thread".to_string();
        match (r.summary(ci, "corio"), r.summary(ci, "tokio-mt")) {
            (Some(c), Some(t)) => rows.push(vec![
                what,
                format!(
                    "{} (corio {}, tokio {})",
                    fmt_ratio(c.msgs.median / t.msgs.median),
                    fmt_rate(c.msgs.median),
                    fmt_rate(t.msgs.median)
                ),
                verdict(c.msgs.median >= t.msgs.median),
            ]),
            _ => unmeasured(&mut rows, what),
        }
    }
    let what =
        "idle: 10,000 connections, 1 KiB buffers, 1 thread: corio ≤ 6,000 bytes RSS per connection"
            .to_string();
    match r.idle.iter().find(|(s, _)| s.key == "corio") {
        Some((_, Ok(i))) => rows.push(vec![
            what,
            format!("{:.0} bytes ({} connections)", i.bytes_per_conn, i.conns),
            verdict(i.bytes_per_conn <= 6000.0 && i.still_echo == i.conns),
        ]),
        _ => unmeasured(&mut rows, what),
    }
    markdown_table(&["target", "measured (ratio of medians)", "verdict"], &rows)
}

/// The SVG chart: msgs/s, server CPU per message, idle memory.
fn chart(r: &Report<'_>) -> String {
    let series: Vec<&Server> = r.servers.iter().collect();
    let names: Vec<&str> = series.iter().map(|s| s.key).collect();
    let groups: Vec<String> = r.configs.iter().map(Config::short).collect();
    let values = |f: &dyn Fn(&Summary) -> Option<f64>| -> Vec<Vec<Option<f64>>> {
        (0..r.configs.len())
            .map(|ci| {
                series
                    .iter()
                    .map(|s| r.summary(ci, s.key).and_then(|x| f(&x)))
                    .collect()
            })
            .collect()
    };
    let mut panels = vec![
        Panel {
            title: "throughput, msgs/s (median; higher is better)".into(),
            groups: groups.clone(),
            values: values(&|x| Some(x.msgs.median)),
            label: fmt_rate,
        },
        Panel {
            title: "server CPU per message, µs (median; lower is better)".into(),
            groups,
            values: values(&|x| x.cpu.as_ref().map(|c| c.median / 1e3)),
            label: |v| format!("{v:.1}"),
        },
    ];
    if !r.idle.is_empty() {
        let row: Vec<Option<f64>> = series
            .iter()
            .map(|s| {
                r.idle
                    .iter()
                    .find(|(i, _)| i.key == s.key)
                    .and_then(|(_, x)| x.as_ref().ok())
                    .map(|x| x.bytes_per_conn)
            })
            .collect();
        panels.push(Panel {
            title: "idle memory, RSS bytes per connection (lower is better)".into(),
            groups: vec![format!(
                "{} idle connections, 1 KiB buffers",
                r.opts.idle_conns.unwrap_or(0)
            )],
            values: vec![row],
            label: |v| format!("{v:.0}"),
        });
    }
    svg::render(
        "corio echo benchmarks (conns × message size; 1 server thread unless noted)",
        &names,
        &panels,
    )
}

/// rustc, tokio and may versions and the corio commit.
fn versions(root: &Path) -> String {
    let cmd = |prog: &str, args: &[&str]| -> Option<String> {
        let out = Command::new(prog)
            .args(args)
            .current_dir(root)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let locked = |name: &str| -> String {
        let tag = format!("name = \"{name}\"\nversion = \"");
        lock.find(&tag)
            .and_then(|i| lock[i + tag.len()..].split('"').next())
            .unwrap_or("?")
            .to_string()
    };
    let rev = cmd("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "?".into());
    format!(
        "{}; tokio {}; may {}; corio at commit {rev} (plus uncommitted work, if any)",
        cmd("rustc", &["--version"]).unwrap_or_else(|| "rustc ?".into()),
        locked("tokio"),
        locked("may"),
    )
}

/// Today's date (UTC), from `date`.
fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown date".into())
}
