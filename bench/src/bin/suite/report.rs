//! Writing the results: the suite's blocks of `BENCHMARKS.md` (header,
//! echo tables, targets, idle memory, notes), the refreshed micro-benchmark
//! sections, and the SVG chart.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use corio_bench::echo::hist::Histogram;
use corio_bench::echo::splice::{Block, has_heading};
use corio_bench::echo::svg::{self, Panel};
use corio_bench::{Sample, fmt_ns, fmt_ratio, machine, markdown_table};

use crate::model::{
    Config, IdleResult, Metric, Opts, RunResult, Runs, Server, Summary, TARGETS, Target,
    servers_for,
};
use crate::run::{BUF, IDLE_BUF, output_within};
use crate::{DISTURBED, TRIES};

/// The micro-benchmark binaries and the headings of their sections.
pub(crate) const MICROS: [(&str, &str); 4] = [
    ("coro_micro", "## Coroutine core (issue 2)"),
    ("sched_micro", "## Scheduler (issue 3)"),
    ("sync_micro", "## Sync primitives (issue 4)"),
    ("handle_micro", "## Sync primitives (issue 4)"),
];

/// The blocks of BENCHMARKS.md this program owns: the header on top and
/// the echo section.
pub(crate) const HEADER: Block<'static> = Block {
    name: "suite:header",
};
/// See [`HEADER`].
pub(crate) const ECHO: Block<'static> = Block { name: "suite" };

/// Everything the report is made of.
pub(crate) struct Report<'a> {
    /// How the suite ran.
    pub(crate) opts: &'a Opts,
    /// Every server that took part, corio first.
    pub(crate) servers: &'a [Server],
    /// The configurations, in report order.
    pub(crate) configs: &'a [Config],
    /// Runs by (index into `configs`, server key).
    pub(crate) results: &'a HashMap<(usize, &'static str), Runs>,
    /// Runs of the target rounds (corio and its targets' peers only), by
    /// the same key; empty when there were none.
    pub(crate) target_results: &'a HashMap<(usize, &'static str), Runs>,
    /// Idle-memory result of each server.
    pub(crate) idle: &'a [(Server, Result<IdleResult, String>)],
    /// Notes about servers that could not take part.
    pub(crate) missing: &'a [String],
    /// The workspace root (for Cargo.lock and git).
    pub(crate) root: &'a Path,
    /// Runs that started although the machine was not idle.
    pub(crate) busy_starts: usize,
    /// Runs done again because other work disturbed them.
    pub(crate) retried: usize,
}

impl Report<'_> {
    /// Medians of server `key` in configuration `ci`, if any run succeeded.
    pub(crate) fn summary(&self, ci: usize, key: &str) -> Option<Summary> {
        self.results.get(&(ci, key)).and_then(Runs::summary)
    }

    /// Index of the configuration with these parameters.
    pub(crate) fn config_index(&self, conns: usize, size: usize, threads: usize) -> Option<usize> {
        crate::model::config_index(self.configs, conns, size, threads)
    }
}

/// Writes the chart, refreshes the micro sections and the suite's blocks.
pub(crate) fn write_outputs(r: &Report<'_>) -> io::Result<()> {
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
pub(crate) fn refresh_micros(r: &Report<'_>, mut doc: String) -> String {
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
pub(crate) fn header() -> String {
    "# corio benchmarks

One command regenerates this file, from the repository root:

```sh
bench/run.sh            # full run: 5 repeats × 3 s per server and configuration, 40 target rounds (~25 min)
bench/run.sh --quick    # short run: 5 repeats × 1 s, 10 target rounds (~9 min)
```

`bench/run.sh` builds in release (`cargo build --release -p corio-bench --bins` and
`cargo build --release --example echo`, and the Go peer `bench/go` with `go build` when `go`
is on PATH), then runs the suite
(`cargo run --release -p corio-bench --bin suite -- ARGS`; `--help` lists its options).
The suite itself builds nothing.

How this file is kept: the suite owns the blocks between `<!-- suite:… -->` markers (this
header and the echo section) and rewrites them on every run. It also runs the micro-benchmark
binaries of issues 2–4 (`coro_micro`, `sched_micro`, `sync_micro`, `handle_micro`) that are built and puts
their output between `<!-- bench:NAME:begin -->` / `<!-- bench:NAME:end -->` markers in their
sections (adding the section if it is absent; a section written without markers is left as it
is). Every other line — findings, profiles, notes — is kept byte for byte."
        .to_string()
}

/// `142k`, `12.2k`, `1.05M` messages per second.
pub(crate) fn fmt_rate(v: f64) -> String {
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

pub(crate) fn rate_summary(s: &Sample) -> String {
    format!(
        "{} ({}–{})",
        fmt_rate(s.median),
        fmt_rate(s.min),
        fmt_rate(s.max)
    )
}

pub(crate) fn verdict(met: bool) -> String {
    if met {
        "met".into()
    } else {
        "**not met**".into()
    }
}

pub(crate) fn echo_section(r: &Report<'_>, svg_rel: &str) -> String {
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
         the order rotated each repeat and reversed every other pass), {} repeats each; tables \
         give the median with min–max. \
         *Server CPU / msg* is the server's user plus system time over the measured window (its \
         process CPU-time clock, `clock_getcpuclockid`: exact to the nanosecond) divided by the \
         messages: the fair metric when the client saturates first. \
         *Server user CPU / msg* is utime alone over the same window (`/proc/PID/stat`, in \
         10 ms clock ticks): the framework's own cost, since the kernel's TCP work (most of the \
         CPU and most of the run-to-run noise) is the same for every server. \
         Ratios are of medians: for msgs/s higher is better, for CPU lower is better.\n",
        o.warmup, o.secs, o.repeats
    );
    let _ = writeln!(
        s,
        "- Run: {}{}; machine: {}.\n- Versions: {}.\n",
        today(),
        if o.quick { ", `--quick`" } else { "" },
        machine(),
        versions(
            r.root,
            r.servers
                .iter()
                .find(|s| s.key == "go")
                .map(|s| s.path.as_path())
        )
    );
    for m in r.missing {
        let _ = writeln!(s, "- **Missing:** {m}");
    }
    if !r.missing.is_empty() {
        s.push('\n');
    }

    let _ = writeln!(s, "### Targets (issue 8)\n");
    let _ = writeln!(
        s,
        "Each repeat is a round in which every server runs once, back to back. The machine \
         drifts between slower and faster spells that last longer than a run, so a round's \
         ratio (corio's figure over the peer's in the same round) is the paired comparison; \
         the ratio of the medians is shown beside it.\n"
    );
    if r.opts.target_rounds > 0 && !r.target_results.is_empty() {
        let _ = writeln!(
            s,
            "The spells are often shorter than a round of every server, so after the sweep the \
             suite runs {rounds} more rounds in each target configuration with only corio and \
             the peers its targets name, and in these the servers share one run: all of them \
             are started, `loadgen` opens the configuration's connections to each, and loads \
             one server at a time in turns of {slice:.0} ms (the others' connections stay open \
             and idle), two turns each to warm up, then at least {secs} s in whole turns \
             (`loadgen --slice-ms`; the order rotated each round and reversed every other \
             pass). Each server's CPU time over the window is divided by its own messages (an idle server costs nothing), and its \
             msgs/s is its messages over its share of the window. A spell of the machine now \
             falls on every server's turns alike, so a round's ratio carries little of the \
             drift. The verdict uses the median of those rounds' ratios; the quartiles show how \
             far single rounds scatter, and the median's 95 % interval (from the ranks of the \
             rounds' ratios, no assumption about their distribution) how far the median itself \
             could be off: where it holds the bound, the verdict says \"within noise\" and more \
             rounds could as well give the other one. For p99 the verdict uses the p99 over \
             every message of the rounds both servers completed, each server's histograms merged \
             (a round's own p99 is set by its slowest 1 %, often one spell of the machine in one \
             server's turn), and says \"within noise\" when the 95 % interval from resampling \
             those rounds (paired bootstrap, {RESAMPLES} draws) holds the bound.\n",
            rounds = r.opts.target_rounds,
            slice = crate::model::TARGET_SLICE * 1000.0,
            secs = r.opts.target_secs,
        );
    } else {
        let _ = writeln!(
            s,
            "The verdict uses the median of the sweep's per-round ratios (no target rounds ran).\n"
        );
    }
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
        let user_of = |x: &Option<Summary>| {
            x.as_ref()
                .and_then(|x| x.user_cpu.as_ref())
                .map(|c| c.median)
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
                    "–".into(),
                    "–".into(),
                    "–".into(),
                ]);
                continue;
            };
            let cpu = sm.cpu.as_ref().map(|c| c.median);
            let user = sm.user_cpu.as_ref().map(|c| c.median);
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
                user.map_or("NA".into(), fmt_ns),
                ratio(user, user_of(&epoll)),
                ratio(user, user_of(&tokio)),
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
        let h_user_e = "user ÷ epoll";
        let h_user_t = format!("user ÷ {tname}");
        s.push_str(&markdown_table(
            &[
                "server",
                "msgs/s",
                h_msgs_e,
                &h_msgs_t,
                "server CPU / msg",
                h_cpu_e,
                &h_cpu_t,
                "server user CPU / msg",
                h_user_e,
                &h_user_t,
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
    if let Some((msgs, cpu)) = spreads(r) {
        let _ = writeln!(
            s,
            "- Noise: the spread (max − min, over the median) of one server's repeats in one \
             configuration is typically {msgs:.0} % for msgs/s and {cpu:.0} % for server CPU / \
             msg in this run (median over all cells). A ratio closer to its target than that is \
             within run-to-run noise; the full run (`bench/run.sh`, 3 s windows) narrows it."
        );
    }
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
        .flat_map(|runs| runs.ok.iter().filter_map(|(_, x)| x.other_cpus))
        .collect();
    if !others.is_empty() {
        let o = Sample::from_runs(others.clone());
        let busy = others.iter().filter(|&&x| x > DISTURBED).count();
        let _ = writeln!(
            s,
            "- Interference: during the measured windows the machine spent a median of {:.2} \
             CPUs (max {:.2}) on anything but the server and `loadgen` (other programs, and \
             kernel time charged to neither). Each run first waits up to {:?} for an idle \
             machine ({} started busy anyway), and a run that other work disturbed by more \
             than {DISTURBED} CPUs is done again (one with a failure is kept as it is), {TRIES} tries \
             at most: {} runs were redone, and \
             {busy} of the {} kept runs are still disturbed.",
            o.median,
            o.max,
            r.opts.quiet_wait,
            r.busy_starts,
            r.retried,
            others.len()
        );
    }
    let _ = writeln!(
        s,
        "- Total CPU time is exact (the process CPU-time clock). User time comes from clock \
         ticks (10 ms; one tick is {:.1} % of a fully loaded CPU over a {} s window), and the \
         kernel decides user or system at each of its own ticks, so it carries sampling noise \
         of several ticks: treat small differences in user CPU as noise. \
         The 1-connection rows are latency-bound: the server sleeps and is woken for every \
         message, and that cost is in its CPU per message.",
        100.0 / (o.secs * 100.0),
        o.secs
    );
    s
}

/// Median relative spread, in percent, of msgs/s and of server CPU / msg
/// over every (configuration, server) cell.
fn spreads(r: &Report<'_>) -> Option<(f64, f64)> {
    let rel = |x: &Sample| (x.max - x.min) / x.median * 100.0;
    let mut msgs = Vec::new();
    let mut cpu = Vec::new();
    for ci in 0..r.configs.len() {
        for s in r.servers {
            if let Some(sm) = r.summary(ci, s.key) {
                msgs.push(rel(&sm.msgs));
                if let Some(c) = &sm.cpu {
                    cpu.push(rel(c));
                }
            }
        }
    }
    if msgs.is_empty() || cpu.is_empty() {
        return None;
    }
    Some((
        Sample::from_runs(msgs).median,
        Sample::from_runs(cpu).median,
    ))
}

/// Median over the rounds of corio's value divided by `peer`'s in the same
/// round (the suite runs every server once per round, back to back, so a
/// round's ratio is free of the machine's drift between rounds), over the
/// rounds both completed; `None` if there is none.
fn paired_ratio(
    results: &HashMap<(usize, &'static str), Runs>,
    ci: usize,
    peer: &str,
    value: fn(&RunResult) -> Option<f64>,
) -> Option<Sample> {
    let corio = &results.get(&(ci, "corio"))?.ok;
    let other = &results.get(&(ci, peer))?.ok;
    round_ratios(corio, other, value)
}

/// `value(x) / value(y)` of every round that has a run `x` in `a` and `y`
/// in `b` (runs are `(round, figures)`; a round that failed on either side
/// is left out); `None` if no round has both, or a paired run lacks the
/// value.
fn round_ratios(
    a: &[(usize, RunResult)],
    b: &[(usize, RunResult)],
    value: fn(&RunResult) -> Option<f64>,
) -> Option<Sample> {
    let ratios = by_round(a, b)
        .map(|(x, y)| Some(value(x)? / value(y)?))
        .collect::<Option<Vec<f64>>>()?;
    if ratios.is_empty() {
        return None;
    }
    Some(Sample::from_runs(ratios))
}

/// The runs of `a` and `b` of every round both have, as pairs, in `a`'s
/// order (runs are `(round, figures)`).
fn by_round<'a>(
    a: &'a [(usize, RunResult)],
    b: &'a [(usize, RunResult)],
) -> impl Iterator<Item = (&'a RunResult, &'a RunResult)> {
    a.iter()
        .filter_map(|(round, x)| Some((x, &b.iter().find(|(r, _)| r == round)?.1)))
}

/// corio's p99 over every message of the target rounds that both it and
/// `peer` completed with a histogram (each side's histograms merged),
/// divided by the peer's, with a 95 % interval from a paired bootstrap over
/// those rounds ([`RESAMPLES`] draws, fixed seed: the same rounds give the
/// same interval). A round's own p99 is set by the slowest 1 % of its
/// messages, often one spell of the machine inside one server's turn;
/// pooled, a spell is one of many. `None` with fewer than
/// [`POOLED_MIN_ROUNDS`] such rounds (a bootstrap of so few is far too
/// narrow), or a peer p99 of 0: the per-round median decides then.
fn pooled_p99(
    results: &HashMap<(usize, &'static str), Runs>,
    ci: usize,
    peer: &str,
) -> Option<Pooled> {
    let corio = &results.get(&(ci, "corio"))?.ok;
    let other = &results.get(&(ci, peer))?.ok;
    let pairs: Vec<(&Histogram, &Histogram)> = by_round(corio, other)
        .filter_map(|(x, y)| Some((x.hist.as_deref()?, y.hist.as_deref()?)))
        .collect();
    let ratio = |picks: &mut dyn Iterator<Item = usize>| {
        let (mut a, mut b) = (Histogram::new(), Histogram::new());
        for k in picks {
            a.merge(pairs[k].0);
            b.merge(pairs[k].1);
        }
        let (pa, pb) = (a.quantile(0.99), b.quantile(0.99));
        (pb > 0).then(|| pa as f64 / pb as f64)
    };
    if pairs.len() < POOLED_MIN_ROUNDS {
        return None;
    }
    let n = pairs.len();
    let all = ratio(&mut (0..n))?;
    let mut rng: u64 = 0x2545_F491_4F6C_DD1D;
    let mut draws: Vec<f64> = (0..RESAMPLES)
        .filter_map(|_| {
            ratio(&mut (0..n).map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                (rng % n as u64) as usize
            }))
        })
        .collect();
    if draws.is_empty() {
        return None;
    }
    draws.sort_by(f64::total_cmp);
    let at = |q: f64| draws[((draws.len() - 1) as f64 * q).round() as usize];
    Some(Pooled {
        ratio: all,
        lo: at(0.025),
        hi: at(0.975),
        rounds: n,
    })
}

/// Bootstrap draws of [`pooled_p99`].
const RESAMPLES: usize = 1000;

/// Fewest rounds [`pooled_p99`] pools (as [`median_interval`] needs 6).
const POOLED_MIN_ROUNDS: usize = 6;

/// A ratio of pooled p99s with its bootstrap interval.
struct Pooled {
    ratio: f64,
    lo: f64,
    hi: f64,
    rounds: usize,
}

/// The first and third quartile of `runs` (linear interpolation).
fn quartiles(runs: &[f64]) -> (f64, f64) {
    let mut v = runs.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let pos = q * (v.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
    };
    (at(0.25), at(0.75))
}

/// A distribution-free interval for the median of the population `runs`
/// were drawn from: the `k`-th smallest and `k`-th largest run, `k` the
/// largest rank whose interval covers the median with probability ≥ 95 %
/// (the number of runs below the median is binomial, n and 1/2). Returns
/// the two ends and the exact coverage, or `None` for fewer than 6 runs
/// (no such interval exists: with 5 even min–max covers only 93.75 %).
fn median_interval(runs: &[f64]) -> Option<(f64, f64, f64)> {
    let n = runs.len();
    if n < 6 {
        return None;
    }
    let mut v = runs.to_vec();
    v.sort_by(f64::total_cmp);
    // tail = P(X <= k - 1) for X ~ Bin(n, 1/2); the interval [x(k), x(n+1-k)]
    // misses the median with probability 2 * tail.
    let mut term = 0.5f64.powi(i32::try_from(n).ok()?);
    let mut tail = term;
    let mut k = 1;
    while k < n / 2 {
        term *= (n - k + 1) as f64 / k as f64; // C(n, k) from C(n, k - 1)
        if 2.0 * (tail + term) > 0.05 {
            break;
        }
        tail += term;
        k += 1;
    }
    Some((v[k - 1], v[n - k], 1.0 - 2.0 * tail))
}

/// A paired ratio with its quartiles, the 95 % interval of its median
/// (from 6 rounds) and round count, e.g.
/// `0.97x (quartiles 0.91–1.02x; median within 0.93–1.00x; 40 rounds)`.
fn fmt_paired(s: &Sample) -> String {
    let (q1, q3) = quartiles(&s.runs);
    let interval = median_interval(&s.runs).map_or(String::new(), |(lo, hi, _)| {
        format!("; median within {lo:.2}–{}", fmt_ratio(hi))
    });
    format!(
        "{} (quartiles {:.2}–{}{interval}; {} rounds)",
        fmt_ratio(s.median),
        q1,
        fmt_ratio(q3),
        s.runs.len()
    )
}

/// The verdict of `t` on the paired ratios `s`: its median against the
/// bound, and "within noise" when the median's 95 % interval holds the
/// bound, so that more rounds could as well give the other verdict.
fn paired_verdict(t: &Target, s: &Sample) -> String {
    let mut v = verdict(t.met(s.median));
    if let Some((lo, hi, _)) = median_interval(&s.runs)
        && t.met(lo) != t.met(hi)
    {
        v.push_str(" (within noise: the median's 95 % interval holds the bound)");
    }
    v
}

/// The verdict of `t` on a pooled p99 ratio `p`, "within noise" when its
/// bootstrap interval holds the bound (or, quantiles being steps, the
/// ratio falls outside its interval on the other side of the bound).
fn pooled_verdict(t: &Target, p: &Pooled) -> String {
    let met = t.met(p.ratio);
    let mut v = verdict(met);
    if t.met(p.lo) != met || t.met(p.hi) != met {
        v.push_str(" (within noise: the pooled ratio's 95 % interval holds the bound)");
    }
    v
}

/// The target checks of issue 8. The verdict uses the median of the
/// per-round ratios of the target rounds (for p99: their pooled ratio,
/// [`pooled_p99`]), else of the sweep's rounds (the rounds both servers
/// completed), else the ratio of the medians; all are shown.
pub(crate) fn targets(r: &Report<'_>) -> String {
    let mut rows = Vec::new();
    let have_corio = r.servers.iter().any(|s| s.key == "corio");
    let unmeasured = |rows: &mut Vec<Vec<String>>, what: String| {
        rows.push(vec![
            what,
            "not measured".into(),
            "–".into(),
            "–".into(),
            "–".into(),
        ]);
    };
    // One target row: the sweep's ratio of the medians `a / b` and paired
    // ratio, the target rounds' paired ratio, and the verdict of `t` on the
    // target rounds' pooled p99 ratio (p99 targets) or paired ratio (else
    // of the sweep's paired one, else of `a / b`).
    let row = |what: String,
               a: f64,
               b: f64,
               paired: Option<Sample>,
               target: Option<Sample>,
               pooled: Option<Pooled>,
               fmt: fn(f64) -> String,
               t: &Target| {
        let verdict = match (&pooled, target.as_ref().or(paired.as_ref())) {
            (Some(p), _) => pooled_verdict(t, p),
            (None, Some(s)) => paired_verdict(t, s),
            (None, None) => verdict(t.met(a / b)),
        };
        let mut rounds = target.as_ref().map_or("–".into(), fmt_paired);
        if let Some(p) = &pooled {
            rounds = format!(
                "pooled over {} rounds {} (bootstrap 95 % interval {:.2}–{}); per round {rounds}",
                p.rounds,
                fmt_ratio(p.ratio),
                p.lo,
                fmt_ratio(p.hi)
            );
        }
        vec![
            what,
            format!("{} (corio {}, peer {})", fmt_ratio(a / b), fmt(a), fmt(b)),
            paired.map_or("–".into(), |p| fmt_ratio(p.median)),
            rounds,
            verdict,
        ]
    };
    for t in &TARGETS {
        let what = t.describe();
        let Some(ci) = r.config_index(t.conns, t.size, t.threads) else {
            continue;
        };
        let fmt = match t.metric {
            Metric::Msgs => fmt_rate,
            Metric::Cpu | Metric::P99 => fmt_ns,
        };
        let median = |s: Summary| t.metric.median(&s);
        let value = t.metric.of_run();
        let a = r.summary(ci, "corio").and_then(median);
        let b = r.summary(ci, t.peer).and_then(median);
        match (a, b) {
            (Some(a), Some(b)) if have_corio && b > 0.0 => {
                let paired = paired_ratio(r.results, ci, t.peer, value);
                let target = paired_ratio(r.target_results, ci, t.peer, value);
                let pooled = match t.metric {
                    Metric::P99 => pooled_p99(r.target_results, ci, t.peer),
                    Metric::Msgs | Metric::Cpu => None,
                };
                rows.push(row(what, a, b, paired, target, pooled, fmt, t));
            }
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
            "–".into(),
            "–".into(),
            verdict(i.bytes_per_conn <= 6000.0 && i.still_echo == i.conns),
        ]),
        _ => unmeasured(&mut rows, what),
    }
    markdown_table(
        &[
            "target",
            "sweep: ratio of medians",
            "sweep: median of per-round ratios",
            "target rounds: median of per-round ratios (quartiles; 95 % interval of the median); p99: pooled ratio first",
            "verdict",
        ],
        &rows,
    )
}

/// The SVG chart: msgs/s, server CPU per message, idle memory.
pub(crate) fn chart(r: &Report<'_>) -> String {
    let series: Vec<&Server> = r.servers.iter().collect();
    let names: Vec<(&str, &str)> = series.iter().map(|s| (s.key, color(s.key))).collect();
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

/// The fill colour of a server in the chart, the same in every run.
pub(crate) fn color(key: &str) -> &'static str {
    match key {
        "corio" => "#d62728",
        "epoll" => "#7f7f7f",
        "tokio-ct" => "#1f77b4",
        "tokio-mt" => "#17becf",
        "may" => "#2ca02c",
        "go" => "#9467bd",
        _ => "#ff7f0e",
    }
}

/// rustc, tokio and may versions, the Go toolchain that built `go_peer`
/// (when the Go peer takes part) and the corio commit.
pub(crate) fn versions(root: &Path, go_peer: Option<&Path>) -> String {
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
    // `go version BINARY` prints `BINARY: go1.19.8`.
    let go = go_peer.map_or(String::new(), |bin| {
        let v = cmd("go", &["version", &bin.to_string_lossy()])
            .and_then(|out| out.rsplit(": ").next().map(str::to_string))
            .unwrap_or_else(|| "? (`go` not on PATH)".into());
        format!("; Go peer built with {v}")
    });
    format!(
        "{}; tokio {}; may {}{go}; corio at commit {rev} (plus uncommitted work, if any)",
        cmd("rustc", &["--version"]).unwrap_or_else(|| "rustc ?".into()),
        locked("tokio"),
        locked("may"),
    )
}

/// Today's date (UTC), from `date`.
pub(crate) fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown date".into())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn run(msgs: f64, cpu: Option<f64>) -> RunResult {
        RunResult {
            msgs_per_sec: msgs,
            server_cpu_ns: cpu,
            server_user_ns: cpu.map(|c| c / 10.0),
            client_cpu_ns: None,
            p50_us: 1.0,
            p99_us: 2.0,
            other_cpus: None,
            hist: None,
        }
    }

    /// A server named `key` (never started by these tests).
    fn server(key: &'static str) -> Server {
        Server {
            key,
            label: key,
            path: PathBuf::from(key),
            args: Vec::new(),
        }
    }

    fn opts() -> Opts {
        Opts {
            quick: true,
            repeats: 2,
            secs: 1.0,
            warmup: 0.25,
            target_rounds: 0,
            target_secs: 1.0,
            idle_conns: None,
            micro: false,
            cpus: None,
            quiet_wait: Duration::ZERO,
            out: PathBuf::from("BENCHMARKS.md"),
            bin_dir: PathBuf::from("."),
        }
    }

    /// The interval's ranks follow the binomial table: 6 runs give min–max
    /// (96.9 %), 20 runs the 6th smallest to the 6th largest (95.9 %),
    /// 100 runs the 40th to the 61st (96.5 %); fewer than 6 give none.
    #[test]
    fn median_interval_uses_binomial_ranks() {
        let runs = |n: usize| (1..=n).rev().map(|i| i as f64).collect::<Vec<_>>();
        assert_eq!(median_interval(&runs(5)), None);
        let (lo, hi, p) = median_interval(&runs(6)).unwrap();
        assert_eq!((lo, hi), (1.0, 6.0));
        assert!((p - 0.96875).abs() < 1e-9, "{p}");
        let (lo, hi, p) = median_interval(&runs(20)).unwrap();
        assert_eq!((lo, hi), (6.0, 15.0));
        assert!((p - 0.958611).abs() < 1e-6, "{p}");
        let (lo, hi, p) = median_interval(&runs(100)).unwrap();
        assert_eq!((lo, hi), (40.0, 61.0));
        assert!((p - 0.964800).abs() < 1e-5, "{p}");
    }

    /// The verdict follows the median; "within noise" is added exactly
    /// when the median's interval reaches across the bound.
    #[test]
    fn paired_verdict_says_when_the_bound_is_within_noise() {
        let msgs = TARGETS
            .iter()
            .find(|t| t.metric == Metric::Msgs && t.bound == 1.0)
            .expect("a msgs/s target against a peer");
        let sample = |r: &[f64]| Sample::from_runs(r.to_vec());
        // Clearly ahead in every round.
        let ahead = sample(&[1.10, 1.12, 1.08, 1.11, 1.09, 1.13, 1.10, 1.07]);
        assert_eq!(paired_verdict(msgs, &ahead), "met");
        // Clearly behind.
        let behind = sample(&[0.90, 0.92, 0.88, 0.91, 0.89, 0.93, 0.90, 0.87]);
        assert_eq!(paired_verdict(msgs, &behind), "**not met**");
        // A tie either way of the bound.
        let tie_below = sample(&[0.95, 1.04, 0.97, 1.02, 0.99, 0.96, 1.03, 0.98]);
        let v = paired_verdict(msgs, &tie_below);
        assert!(v.starts_with("**not met** (within noise"), "{v}");
        let tie_above = sample(&[1.05, 0.96, 1.03, 0.98, 1.01, 1.04, 0.97, 1.02]);
        let v = paired_verdict(msgs, &tie_above);
        assert!(v.starts_with("met (within noise"), "{v}");
        // For CPU lower is better: the same ratios the other way round.
        let cpu = TARGETS
            .iter()
            .find(|t| t.metric == Metric::Cpu && t.bound == 1.0)
            .expect("a CPU target against a peer");
        assert_eq!(paired_verdict(cpu, &behind), "met");
        assert_eq!(paired_verdict(cpu, &ahead), "**not met**");
    }

    #[test]
    fn quartiles_interpolate_between_runs() {
        assert_eq!(quartiles(&[3.0, 1.0, 2.0, 4.0, 5.0]), (2.0, 4.0));
        assert_eq!(quartiles(&[1.0, 2.0]), (1.25, 1.75));
        assert_eq!(quartiles(&[7.0]), (7.0, 7.0));
    }

    /// With target rounds, their paired ratio decides; the sweep's is only
    /// shown. Here the sweep says corio needs 1.2x tokio's CPU, the target
    /// rounds 0.9x: met.
    #[test]
    fn target_rounds_decide_the_verdict() {
        let configs = [Config {
            conns: 1000,
            size: 64,
            threads: 1,
        }];
        let servers = [server("corio"), server("epoll"), server("tokio-ct")];
        let mut results = HashMap::new();
        let mut target_results = HashMap::new();
        for (key, sweep_cpu, target_cpu) in [
            ("corio", 1200.0, 900.0),
            ("epoll", 1000.0, 1000.0),
            ("tokio-ct", 1000.0, 1000.0),
        ] {
            let runs = |cpu| Runs {
                ok: (0..3).map(|i| (i, run(1000.0, Some(cpu)))).collect(),
                failures: Vec::new(),
            };
            results.insert((0, key), runs(sweep_cpu));
            target_results.insert((0, key), runs(target_cpu));
        }
        let mut o = opts();
        o.target_rounds = 3;
        let mut report = Report {
            opts: &o,
            servers: &servers,
            configs: &configs,
            results: &results,
            target_results: &target_results,
            idle: &[],
            missing: &[],
            root: Path::new("."),
            busy_starts: 0,
            retried: 0,
        };
        let text = targets(&report);
        let cpu_row = text
            .lines()
            .find(|l| l.contains("CPU/msg ≤ 1.00× tokio"))
            .expect("the CPU target row");
        assert!(cpu_row.contains("| 1.20x (corio"), "{cpu_row}");
        assert!(
            cpu_row.contains("| 0.90x (quartiles 0.90–0.90x; 3 rounds) | met |"),
            "{cpu_row}"
        );
        // Without target rounds the sweep's paired ratio decides.
        let empty = HashMap::new();
        report.target_results = &empty;
        let text = targets(&report);
        let cpu_row = text
            .lines()
            .find(|l| l.contains("CPU/msg ≤ 1.00× tokio"))
            .expect("the CPU target row");
        assert!(
            cpu_row.ends_with("| 1.20x | – | **not met** |"),
            "{cpu_row}"
        );
    }

    #[test]
    fn sweep_tables_show_user_cpu_with_ratios() {
        let servers = [
            server("corio"),
            server("epoll"),
            server("tokio-ct"),
            server("may"),
        ];
        let configs = [Config {
            conns: 100,
            size: 64,
            threads: 1,
        }];
        let mut results = HashMap::new();
        // server_user_ns is a tenth of server_cpu_ns (see `run`).
        for (key, cpu) in [("corio", 6000.0), ("epoll", 3000.0), ("tokio-ct", 8000.0)] {
            let runs = Runs {
                ok: vec![(0, run(100.0, Some(cpu))), (1, run(100.0, Some(cpu)))],
                failures: Vec::new(),
            };
            results.insert((0, key), runs);
        }
        let failed = Runs {
            ok: Vec::new(),
            failures: vec!["boom".into()],
        };
        results.insert((0, "may"), failed);
        let opts = opts();
        let report = Report {
            opts: &opts,
            servers: &servers,
            configs: &configs,
            results: &results,
            target_results: &HashMap::new(),
            idle: &[],
            missing: &[],
            root: Path::new("."),
            busy_starts: 0,
            retried: 0,
        };
        let text = echo_section(&report, "bench/echo.svg");
        let header = "| server | msgs/s | msgs/s ÷ epoll | msgs/s ÷ tokio-ct | server CPU / msg | \
                      CPU ÷ epoll | CPU ÷ tokio-ct | server user CPU / msg | user ÷ epoll | \
                      user ÷ tokio-ct | p50 | p99 |";
        assert!(text.contains(header), "{text}");
        // corio: user 600 ns, 2x the epoll loop's 300 ns, 0.75x tokio's 800 ns.
        assert!(
            text.contains("| 6.00 µs (6.00–6.00 µs) | 2.00x | 0.75x | 600 ns | 2.00x | 0.75x |"),
            "{text}"
        );
        assert!(text.contains("| may | all 1 runs failed |"), "{text}");
        assert!(text.contains("*Server user CPU / msg*"), "{text}");
    }

    #[test]
    fn every_server_has_its_own_colour() {
        let keys = ["corio", "epoll", "tokio-ct", "tokio-mt", "may", "go", "std"];
        let mut colours: Vec<&str> = keys.iter().map(|k| color(k)).collect();
        colours.sort_unstable();
        colours.dedup();
        assert_eq!(colours.len(), keys.len());
    }

    #[test]
    fn round_ratios_pair_runs_by_round() {
        // Round by round corio is 0.9x, 1.2x and 0.8x the peer, although
        // the ratio of the medians (200 / 250) is 0.8x.
        let a = [
            (0, run(90.0, None)),
            (1, run(360.0, None)),
            (2, run(200.0, None)),
        ];
        let b = [
            (0, run(100.0, None)),
            (1, run(300.0, None)),
            (2, run(250.0, None)),
        ];
        let ratio = round_ratios(&a, &b, |x| Some(x.msgs_per_sec))
            .unwrap()
            .median;
        assert!((ratio - 0.9).abs() < 1e-12, "{ratio}");
    }

    /// A run whose round trips all took `us` µs, with its histogram.
    fn run_with_hist(us: u64, count: u64) -> RunResult {
        let mut h = Histogram::new();
        for _ in 0..count {
            h.record(us * 1000);
        }
        RunResult {
            hist: Some(std::rc::Rc::new(h)),
            ..run(1.0, None)
        }
    }

    /// The pooled p99 merges the rounds both sides completed, and its
    /// interval comes from resampling them. Rounds on one side only, or
    /// without a histogram, are left out.
    #[test]
    fn pooled_p99_merges_the_rounds_both_completed() {
        let mut results = HashMap::new();
        // corio's round i: 1000 round trips of 80 + 5i µs; the peer's: of
        // 200 µs. Pooled, corio's p99 is round 7's 115 µs: 0.575x. Draws
        // without round 7 (a third of them) give 0.55x or less.
        let corio: Vec<(usize, RunResult)> = (0..8)
            .map(|i| (i, run_with_hist(80 + 5 * i as u64, 1000)))
            .chain([(9, run_with_hist(900, 1000))])
            .collect();
        let peer: Vec<(usize, RunResult)> = (0..8)
            .map(|i| (i, run_with_hist(200, 1000)))
            .chain([(8, run_with_hist(900, 1000)), (9, run(1.0, None))])
            .collect();
        for (key, ok) in [("corio", corio), ("tokio-ct", peer)] {
            let failures = Vec::new();
            results.insert((0, key), Runs { ok, failures });
        }
        let p = pooled_p99(&results, 0, "tokio-ct").unwrap();
        assert_eq!(p.rounds, 8);
        assert!((p.ratio - 0.575).abs() < 0.01, "{}", p.ratio);
        assert!((p.hi - 0.575).abs() < 0.01, "{}", p.hi);
        assert!(p.lo < 0.56 && p.lo > 0.39, "{}", p.lo);
        // Fewer than POOLED_MIN_ROUNDS rounds: no pooled figure.
        let few: HashMap<_, _> = ["corio", "tokio-ct"]
            .into_iter()
            .map(|key| {
                let ok = (0..5).map(|i| (i, run_with_hist(100, 100))).collect();
                let failures = Vec::new();
                ((0, key), Runs { ok, failures })
            })
            .collect();
        assert!(pooled_p99(&few, 0, "tokio-ct").is_none());
        assert!(pooled_p99(&results, 0, "epoll").is_none());
        let t = TARGETS.iter().find(|t| t.metric == Metric::P99).unwrap();
        let verdict_of = |ratio, lo, hi| {
            let rounds = 8;
            pooled_verdict(
                t,
                &Pooled {
                    ratio,
                    lo,
                    hi,
                    rounds,
                },
            )
        };
        assert_eq!(verdict_of(0.9, 0.8, 0.95), "met");
        assert_eq!(verdict_of(1.1, 1.05, 1.2), "**not met**");
        assert!(verdict_of(0.9, 0.8, 1.1).starts_with("met (within noise"));
        assert!(verdict_of(1.01, 0.9, 0.99).starts_with("**not met** (within noise"));
    }

    /// The p99 row of the target table is judged on the pooled p99 of the
    /// target rounds, not on the per-round median shown beside it: here
    /// every round's own p99 ties (2 µs on both sides), while the rounds'
    /// histograms put corio at 100 µs and tokio at 200 µs.
    #[test]
    fn p99_target_row_uses_the_pooled_ratio() {
        let configs = [Config {
            conns: 1000,
            size: 64,
            threads: 1,
        }];
        let servers = [server("corio"), server("tokio-ct")];
        // Sweep runs (3) and target rounds (8, round trips of `us` µs).
        let runs_of = |n: usize, us: Option<u64>| Runs {
            ok: (0..n)
                .map(|i| match us {
                    Some(us) => (i, run_with_hist(us, 1000)),
                    None => (i, run(1000.0, Some(1000.0))),
                })
                .collect(),
            failures: Vec::new(),
        };
        let results: HashMap<_, _> = ["corio", "tokio-ct"]
            .into_iter()
            .map(|key| ((0, key), runs_of(3, None)))
            .collect();
        let rounds = |corio_us| -> HashMap<_, _> {
            [("corio", corio_us), ("tokio-ct", 200)]
                .into_iter()
                .map(|(key, us)| ((0, key), runs_of(8, Some(us))))
                .collect()
        };
        let mut o = opts();
        o.target_rounds = 8;
        let p99_row = |target_results: &HashMap<_, _>| {
            let report = Report {
                opts: &o,
                servers: &servers,
                configs: &configs,
                results: &results,
                target_results,
                idle: &[],
                missing: &[],
                root: Path::new("."),
                busy_starts: 0,
                retried: 0,
            };
            targets(&report)
                .lines()
                .find(|l| l.contains("p99 ≤ tokio"))
                .expect("the p99 target row")
                .to_string()
        };
        let row = p99_row(&rounds(100));
        assert!(row.contains("| 1.00x (corio"), "{row}");
        assert!(
            row.contains("pooled over 8 rounds 0.50x (bootstrap 95 % interval 0.50–0.50x)"),
            "{row}"
        );
        assert!(row.contains("per round 1.00x"), "{row}");
        assert!(row.ends_with("| met |"), "{row}");
        // corio's round trips at 300 µs: not met, whatever the rounds' own p99.
        let row = p99_row(&rounds(300));
        assert!(row.contains("pooled over 8 rounds 1.50x"), "{row}");
        assert!(row.ends_with("| **not met** |"), "{row}");
    }

    /// A round that failed on one side is left out, and the others stay
    /// paired with their own round, not shifted onto the next.
    #[test]
    fn round_ratios_skip_rounds_that_failed_on_either_side() {
        let cpu = |x: &RunResult| x.server_cpu_ns;
        // corio failed round 1, the peer round 2.
        let a = [
            (0, run(1.0, Some(5.0))),
            (2, run(1.0, Some(7.0))),
            (3, run(1.0, Some(8.0))),
        ];
        let b = [
            (0, run(1.0, Some(5.0))),
            (1, run(1.0, Some(6.0))),
            (3, run(1.0, Some(4.0))),
        ];
        let s = round_ratios(&a, &b, cpu).unwrap();
        let mut got = s.runs.clone();
        got.sort_by(f64::total_cmp);
        assert_eq!(got, [1.0, 2.0]);
        // No round on both sides, or a paired run without the value.
        assert!(round_ratios(&a[1..2], &b[1..2], cpu).is_none());
        let b = [(0, run(1.0, Some(5.0))), (3, run(1.0, None))];
        assert!(round_ratios(&a, &b, cpu).is_none());
        assert!(round_ratios(&[], &[], cpu).is_none());
    }
}
