//! What the suite measures and collects: servers, load configurations,
//! the results of runs, and the options of one suite run.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use corio_bench::Sample;
use corio_bench::echo::hist::Histogram;

/// One echo server.
#[derive(Clone)]
pub(crate) struct Server {
    /// Short name, used in `--servers`, progress and the chart legend.
    pub(crate) key: &'static str,
    /// Name in the tables.
    pub(crate) label: &'static str,
    /// Executable.
    pub(crate) path: PathBuf,
    /// Arguments before the common `--addr --threads --buf`.
    pub(crate) args: Vec<String>,
}

/// One load configuration.
#[derive(Clone, Copy, PartialEq)]
pub(crate) struct Config {
    /// Client connections, each with one message in flight.
    pub(crate) conns: usize,
    /// Bytes per message.
    pub(crate) size: usize,
    /// Server threads (and client threads).
    pub(crate) threads: usize,
}

impl Config {
    /// Heading in the report, e.g. `100 conns × 4 KiB, 2 threads`.
    pub(crate) fn label(&self) -> String {
        let size = if self.size >= 1024 {
            format!("{} KiB", self.size / 1024)
        } else {
            format!("{} B", self.size)
        };
        let noun = if self.conns == 1 { "conn" } else { "conns" };
        let mut l = format!("{} {noun} × {size}", self.conns);
        if self.threads > 1 {
            let _ = write!(l, ", {} threads", self.threads);
        }
        l
    }

    /// Label in progress output and the chart, e.g. `100×4K 2thr`.
    pub(crate) fn short(&self) -> String {
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
    pub(crate) fn tokio_key(&self) -> &'static str {
        if self.threads > 1 {
            "tokio-mt"
        } else {
            "tokio-ct"
        }
    }
}

/// What one loadgen run reported.
#[derive(Clone, Debug)]
pub(crate) struct RunResult {
    /// Messages per second over the measured window.
    pub(crate) msgs_per_sec: f64,
    /// Server CPU time per message, ns (`None` if /proc was unreadable).
    pub(crate) server_cpu_ns: Option<f64>,
    /// The user-space part of it (utime alone), ns.
    pub(crate) server_user_ns: Option<f64>,
    /// `loadgen`'s own CPU time per message, ns.
    pub(crate) client_cpu_ns: Option<f64>,
    /// Median round trip, µs.
    pub(crate) p50_us: f64,
    /// 99th percentile round trip, µs.
    pub(crate) p99_us: f64,
    /// CPUs' worth of time used by anything else during the window.
    pub(crate) other_cpus: Option<f64>,
    /// Every round trip of the window (`None` from a loadgen that does not
    /// print it), for p99s pooled over rounds.
    pub(crate) hist: Option<Rc<Histogram>>,
}

/// Every run of one server in one configuration.
#[derive(Default)]
pub(crate) struct Runs {
    /// Runs that completed with every byte verified, each with the number
    /// of its round (a failed run leaves a gap: the pairs of corio and a
    /// peer go by round, not by place).
    pub(crate) ok: Vec<(usize, RunResult)>,
    /// Why the other runs failed.
    pub(crate) failures: Vec<String>,
}

/// Medians (with spread) of one server in one configuration.
pub(crate) struct Summary {
    /// msgs/s.
    pub(crate) msgs: Sample,
    /// Server CPU ns per message, if every run had it.
    pub(crate) cpu: Option<Sample>,
    /// Server user-space CPU ns per message, if every run had it.
    pub(crate) user_cpu: Option<Sample>,
    /// `loadgen` CPU ns per message, if every run had it.
    pub(crate) client_cpu: Option<Sample>,
    /// p50 latency, µs.
    pub(crate) p50: Sample,
    /// p99 latency, µs.
    pub(crate) p99: Sample,
}

impl Runs {
    /// Medians of the successful runs; `None` if there were none.
    pub(crate) fn summary(&self) -> Option<Summary> {
        if self.ok.is_empty() {
            return None;
        }
        let sample = |f: &dyn Fn(&RunResult) -> Option<f64>| {
            let v: Option<Vec<f64>> = self.ok.iter().map(|(_, r)| f(r)).collect();
            v.map(Sample::from_runs)
        };
        Some(Summary {
            msgs: sample(&|r| Some(r.msgs_per_sec))?,
            cpu: sample(&|r| r.server_cpu_ns),
            user_cpu: sample(&|r| r.server_user_ns),
            client_cpu: sample(&|r| r.client_cpu_ns),
            p50: sample(&|r| Some(r.p50_us))?,
            p99: sample(&|r| Some(r.p99_us))?,
        })
    }
}

/// What `idle` reported for one server.
pub(crate) struct IdleResult {
    /// Idle connections opened.
    pub(crate) conns: u64,
    /// Growth of the server's VmRSS divided by `conns`.
    pub(crate) bytes_per_conn: f64,
    /// Server threads with every connection open.
    pub(crate) threads: u64,
    /// Server fds with every connection open.
    pub(crate) fds: u64,
    /// Connections that still echoed after all were open.
    pub(crate) still_echo: u64,
}

/// Options of this run.
pub(crate) struct Opts {
    /// `--quick` was given (shown in the report).
    pub(crate) quick: bool,
    /// Runs per server and configuration.
    pub(crate) repeats: usize,
    /// Measured seconds per run.
    pub(crate) secs: f64,
    /// Unmeasured seconds before them.
    pub(crate) warmup: f64,
    /// Extra rounds, after the sweep, of corio and the peers its targets
    /// compare with, in each target configuration (0: none; the verdicts
    /// then use the sweep's rounds).
    pub(crate) target_rounds: usize,
    /// Measured seconds per run of those rounds.
    pub(crate) target_secs: f64,
    /// Connections of the idle-memory runs; `None` skips them.
    pub(crate) idle_conns: Option<u64>,
    /// Whether to run the micro-benchmark binaries.
    pub(crate) micro: bool,
    /// CPU lists (server, client) for `taskset`; `None`: no pinning.
    pub(crate) cpus: Option<(String, String)>,
    /// Longest wait for an idle machine before each run.
    pub(crate) quiet_wait: Duration,
    /// The markdown file to update (the chart goes to `bench/echo.svg` beside it).
    pub(crate) out: PathBuf,
    /// Where the benchmark binaries are (this executable's directory).
    pub(crate) bin_dir: PathBuf,
}

/// The servers that run in `cfg`: tokio's current-thread flavour with one
/// thread, its multi-thread flavour with more.
pub(crate) fn servers_for(servers: &[Server], cfg: &Config) -> Vec<Server> {
    let skip = if cfg.threads > 1 {
        "tokio-ct"
    } else {
        "tokio-mt"
    };
    servers.iter().filter(|s| s.key != skip).cloned().collect()
}

/// Index in `configs` of the configuration with these parameters.
pub(crate) fn config_index(
    configs: &[Config],
    conns: usize,
    size: usize,
    threads: usize,
) -> Option<usize> {
    let want = Config {
        conns,
        size,
        threads,
    };
    configs.iter().position(|c| *c == want)
}

/// What an echo target compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Metric {
    /// Server CPU per message: corio's ≤ `bound` × the peer's.
    Cpu,
    /// Messages per second: corio's ≥ `bound` × the peer's.
    Msgs,
    /// p99 latency: corio's ≤ `bound` × the peer's.
    P99,
}

impl Metric {
    /// The figure of one run (p99 in µs).
    pub(crate) fn of_run(self) -> fn(&RunResult) -> Option<f64> {
        match self {
            Metric::Cpu => |x| x.server_cpu_ns,
            Metric::Msgs => |x| Some(x.msgs_per_sec),
            Metric::P99 => |x| Some(x.p99_us),
        }
    }

    /// The median of a server's runs (p99 in ns, to show as a duration).
    pub(crate) fn median(self, s: &Summary) -> Option<f64> {
        match self {
            Metric::Cpu => s.cpu.as_ref().map(|c| c.median),
            Metric::Msgs => Some(s.msgs.median),
            Metric::P99 => Some(s.p99.median * 1e3),
        }
    }
}

/// One echo target of issue 8: corio's figure over the peer's in one
/// configuration, against a bound.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target {
    pub(crate) conns: usize,
    pub(crate) size: usize,
    pub(crate) threads: usize,
    /// The peer's server key.
    pub(crate) peer: &'static str,
    /// The peer as the target's sentence names it.
    pub(crate) peer_name: &'static str,
    pub(crate) metric: Metric,
    pub(crate) bound: f64,
}

impl Target {
    const fn new(
        (conns, size, threads): (usize, usize, usize),
        (peer, peer_name): (&'static str, &'static str),
        metric: Metric,
        bound: f64,
    ) -> Target {
        Target {
            conns,
            size,
            threads,
            peer,
            peer_name,
            metric,
            bound,
        }
    }

    /// Whether corio's figure over the peer's meets the bound.
    pub(crate) fn met(&self, ratio: f64) -> bool {
        match self.metric {
            Metric::Cpu | Metric::P99 => ratio <= self.bound,
            Metric::Msgs => ratio >= self.bound,
        }
    }

    /// The target as a sentence, e.g. `100 conns × 64 B, 1 thread: corio
    /// server CPU/msg ≤ 1.05× epoll loop`.
    pub(crate) fn describe(&self) -> String {
        let threads = match self.threads {
            1 => "1 thread".to_string(),
            t => format!("{t} threads (server and client on the same {t} CPUs)"),
        };
        let bound = if self.bound == 1.0 {
            String::new()
        } else {
            format!("{:.2}× ", self.bound)
        };
        let claim = match self.metric {
            Metric::Cpu => format!("server CPU/msg ≤ {:.2}× {}", self.bound, self.peer_name),
            Metric::Msgs => format!("msgs/s ≥ {bound}{}", self.peer_name),
            Metric::P99 => format!("p99 ≤ {bound}{} p99", self.peer_name),
        };
        format!(
            "{} conns × {} B, {threads}: corio {claim}",
            self.conns, self.size
        )
    }
}

const TOKIO_CT: (&str, &str) = ("tokio-ct", "tokio current-thread");
const EPOLL: (&str, &str) = ("epoll", "epoll loop");
const TOKIO_MT: (&str, &str) = ("tokio-mt", "tokio multi-thread");

/// The echo targets of issue 8, in the order of the targets table.
pub(crate) const TARGETS: [Target; 8] = [
    Target::new((100, 64, 1), TOKIO_CT, Metric::Cpu, 1.0),
    Target::new((100, 64, 1), EPOLL, Metric::Cpu, 1.05),
    Target::new((100, 64, 1), TOKIO_CT, Metric::Msgs, 1.0),
    Target::new((1000, 64, 1), TOKIO_CT, Metric::Cpu, 1.0),
    Target::new((1000, 64, 1), EPOLL, Metric::Cpu, 1.05),
    Target::new((1000, 64, 1), TOKIO_CT, Metric::Msgs, 1.0),
    Target::new((1000, 64, 1), TOKIO_CT, Metric::P99, 1.0),
    Target::new((100, 64, 2), TOKIO_MT, Metric::Msgs, 1.0),
];

/// A configuration that has targets, `(conns, size, threads)`, with the
/// peers its targets name.
pub(crate) type TargetConfig = ((usize, usize, usize), Vec<&'static str>);

/// The configurations that have targets, each with the peers its targets
/// name (in first-named order).
pub(crate) fn target_configs() -> Vec<TargetConfig> {
    let mut out: Vec<TargetConfig> = Vec::new();
    for t in &TARGETS {
        let config = (t.conns, t.size, t.threads);
        let i = match out.iter().position(|(c, _)| *c == config) {
            Some(i) => i,
            None => {
                out.push((config, Vec::new()));
                out.len() - 1
            }
        };
        if !out[i].1.contains(&t.peer) {
            out[i].1.push(t.peer);
        }
    }
    out
}

/// One server's turn, in seconds, in the target rounds, where `loadgen`
/// drives corio and its peers in one run, one server at a time
/// (`loadgen --slice-ms`). Rounds of two copies of the same server (A/A,
/// 1000 connections × 64 B, 16–20 rounds each, three sets per length) put
/// the quartiles of the CPU ratio 0.045–0.057 apart with 200 ms turns and
/// 0.022–0.030 with 100 ms; msgs/s 0.032–0.075 against 0.022–0.030.
pub(crate) const TARGET_SLICE: f64 = 0.1;

/// Turns of every server before a target round's window opens.
pub(crate) const TARGET_WARMUP_TURNS: f64 = 2.0;

/// Warm-up and measured seconds of a target round of `servers` servers
/// taking turns: [`TARGET_WARMUP_TURNS`] turns each to warm up, then at
/// least `secs` rounded up to whole turns of every server, so each gets as
/// many slices.
pub(crate) fn target_window(servers: usize, secs: f64) -> (f64, f64) {
    let turn = TARGET_SLICE * servers.max(1) as f64;
    let turns = (secs / turn - 1e-9).ceil().max(1.0);
    (TARGET_WARMUP_TURNS * turn, turns * turn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_windows_are_whole_turns_of_every_server() {
        let close = |(w, s): (f64, f64), (ew, es): (f64, f64)| {
            assert!((w - ew).abs() < 1e-9 && (s - es).abs() < 1e-9, "{w} {s}");
        };
        close(target_window(3, 2.4), (0.6, 2.4));
        close(target_window(2, 2.4), (0.4, 2.4));
        close(target_window(3, 2.5), (0.6, 2.7));
        close(target_window(2, 0.1), (0.4, 0.2));
    }

    /// The sentences are the targets table's first column, as issue 8
    /// words them.
    #[test]
    fn targets_read_as_the_issue_words_them() {
        let got: Vec<String> = TARGETS.iter().map(Target::describe).collect();
        assert_eq!(
            got,
            [
                "100 conns × 64 B, 1 thread: corio server CPU/msg ≤ 1.00× tokio current-thread",
                "100 conns × 64 B, 1 thread: corio server CPU/msg ≤ 1.05× epoll loop",
                "100 conns × 64 B, 1 thread: corio msgs/s ≥ tokio current-thread",
                "1000 conns × 64 B, 1 thread: corio server CPU/msg ≤ 1.00× tokio current-thread",
                "1000 conns × 64 B, 1 thread: corio server CPU/msg ≤ 1.05× epoll loop",
                "1000 conns × 64 B, 1 thread: corio msgs/s ≥ tokio current-thread",
                "1000 conns × 64 B, 1 thread: corio p99 ≤ tokio current-thread p99",
                "100 conns × 64 B, 2 threads (server and client on the same 2 CPUs): corio \
                 msgs/s ≥ tokio multi-thread",
            ]
        );
    }

    /// The target rounds run each target configuration once, with every
    /// peer its targets name.
    #[test]
    fn target_configs_gather_the_peers_of_each_configuration() {
        assert_eq!(
            target_configs(),
            [
                ((100, 64, 1), vec!["tokio-ct", "epoll"]),
                ((1000, 64, 1), vec!["tokio-ct", "epoll"]),
                ((100, 64, 2), vec!["tokio-mt"]),
            ]
        );
    }

    /// CPU and latency bounds are upper bounds, throughput bounds lower
    /// ones; a ratio equal to the bound meets it.
    #[test]
    fn bounds_point_the_right_way() {
        let find = |conns, threads, peer, metric| {
            *TARGETS
                .iter()
                .find(|t| (t.conns, t.threads, t.peer, t.metric) == (conns, threads, peer, metric))
                .expect("a target")
        };
        let cpu = find(100, 1, "tokio-ct", Metric::Cpu);
        assert!(cpu.met(1.0) && !cpu.met(1.001) && cpu.met(0.5));
        let cpu_epoll = find(1000, 1, "epoll", Metric::Cpu);
        assert!(cpu_epoll.met(1.05) && !cpu_epoll.met(1.051));
        let msgs = find(100, 1, "tokio-ct", Metric::Msgs);
        assert!(msgs.met(1.0) && !msgs.met(0.9974) && msgs.met(1.2));
        let p99 = find(1000, 1, "tokio-ct", Metric::P99);
        assert!(p99.met(0.93) && !p99.met(1.01));
        let mt = find(100, 2, "tokio-mt", Metric::Msgs);
        assert!(mt.met(1.18) && !mt.met(0.99));
    }
}
