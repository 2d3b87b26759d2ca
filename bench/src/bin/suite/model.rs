//! What the suite measures and collects: servers, load configurations,
//! the results of runs, and the options of one suite run.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use corio_bench::Sample;

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
#[derive(Clone, Copy)]
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
}

/// Every run of one server in one configuration.
#[derive(Default)]
pub(crate) struct Runs {
    /// Runs that completed with every byte verified.
    pub(crate) ok: Vec<RunResult>,
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
            let v: Option<Vec<f64>> = self.ok.iter().map(f).collect();
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

/// The target configurations of issue 8 and the peers corio is compared
/// with in each: `(conns, size, threads, peers)`.
pub(crate) const TARGET_CONFIGS: [(usize, usize, usize, &[&str]); 3] = [
    (100, 64, 1, &["epoll", "tokio-ct"]),
    (1000, 64, 1, &["epoll", "tokio-ct"]),
    (100, 64, 2, &["tokio-mt"]),
];

/// Warm-up of a run in the target rounds (as `--quick`'s).
pub(crate) const TARGET_WARMUP: f64 = 0.25;
