//! Shared helpers of corio's benchmarks: timed loops repeated several times
//! and reduced to a median, number formatting, markdown tables, and a
//! description of the machine for BENCHMARKS.md.
//!
//! A benchmark is a closure that performs `iters` operations; [`run`] times
//! it `repeats` times (after one warm-up run) and reports nanoseconds per
//! operation. Several benchmarks given to one [`run`] are interleaved
//! repeat by repeat, so a slow phase of the machine (frequency change, a
//! noisy neighbour) affects all of them alike instead of skewing one.

use std::time::Instant;

/// Nanoseconds per operation over the repeats of one benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Median of the repeats.
    pub median: f64,
    /// Fastest repeat.
    pub min: f64,
    /// Slowest repeat.
    pub max: f64,
    /// Every repeat, in the order they ran.
    pub runs: Vec<f64>,
}

impl Sample {
    /// Summarises per-operation times of individual repeats.
    ///
    /// # Panics
    /// Panics if `runs` is empty.
    pub fn from_runs(runs: Vec<f64>) -> Self {
        assert!(!runs.is_empty(), "a sample needs at least one run");
        let mut sorted = runs.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Sample {
            median,
            min: sorted[0],
            max: sorted[n - 1],
            runs,
        }
    }

    /// `median (min–max)` in the median's unit, e.g. `4.10 ns (4.00–4.60 ns)`.
    pub fn summary(&self) -> String {
        let (divisor, unit) = unit_for(self.median);
        format!(
            "{} {unit} ({}–{} {unit})",
            digits(self.median / divisor),
            digits(self.min / divisor),
            digits(self.max / divisor)
        )
    }
}

/// One benchmark: a name, how many operations each timed run performs, and
/// the closure that performs them (it receives the operation count).
pub struct Bench<'a> {
    /// Shown in progress output.
    pub name: &'a str,
    /// Operations per timed run.
    pub iters: u64,
    /// Performs `iters` operations.
    pub f: Box<dyn FnMut(u64) + 'a>,
}

impl<'a> Bench<'a> {
    /// A benchmark of `iters` operations per run.
    pub fn new(name: &'a str, iters: u64, f: impl FnMut(u64) + 'a) -> Self {
        Bench {
            name,
            iters,
            f: Box::new(f),
        }
    }
}

/// Times every benchmark `repeats` times, interleaved, after one untimed
/// warm-up run of each, and returns their samples in the given order.
///
/// # Panics
/// Panics if `repeats` is zero.
pub fn run(repeats: usize, benches: &mut [Bench<'_>]) -> Vec<Sample> {
    assert!(repeats > 0, "at least one repeat");
    for b in benches.iter_mut() {
        (b.f)(b.iters);
    }
    let mut runs = vec![Vec::with_capacity(repeats); benches.len()];
    for _ in 0..repeats {
        for (b, runs) in benches.iter_mut().zip(&mut runs) {
            let start = Instant::now();
            (b.f)(b.iters);
            let elapsed = start.elapsed();
            runs.push(elapsed.as_nanos() as f64 / b.iters as f64);
        }
    }
    for (b, r) in benches.iter().zip(&runs) {
        eprintln!(
            "  {:<44} {}",
            b.name,
            Sample::from_runs(r.clone()).summary()
        );
    }
    runs.into_iter().map(Sample::from_runs).collect()
}

/// Formats nanoseconds with a unit: `3.42 ns`, `61.0 ns`, `5.31 µs`, `2.10 ms`.
pub fn fmt_ns(ns: f64) -> String {
    let (divisor, unit) = unit_for(ns);
    format!("{} {unit}", digits(ns / divisor))
}

/// The divisor from nanoseconds and the unit's name for a value of `ns`.
fn unit_for(ns: f64) -> (f64, &'static str) {
    if ns >= 1e6 {
        (1e6, "ms")
    } else if ns >= 1e3 {
        (1e3, "µs")
    } else {
        (1.0, "ns")
    }
}

/// Three significant digits for values below 100, whole numbers above.
fn digits(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Formats a ratio as `1.17x`.
pub fn fmt_ratio(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}x")
    } else {
        format!("{r:.2}x")
    }
}

/// "N.NNx faster" for a speed-up `r` (baseline time over ours) of at least
/// 1, else "N.NNx slower" with the inverse.
pub fn fmt_speedup(r: f64) -> String {
    if r >= 1.0 {
        format!("{} faster", fmt_ratio(r))
    } else {
        format!("{} slower", fmt_ratio(1.0 / r))
    }
}

/// Renders a markdown table.
///
/// # Panics
/// Panics if a row's length differs from the header's.
pub fn markdown_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    out.push_str(&format!(
        "|{}\n",
        header.iter().map(|_| " --- |").collect::<String>()
    ));
    for row in rows {
        assert_eq!(row.len(), header.len(), "row width");
        out.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    out
}

/// The machine: CPU model (from `/proc/cpuinfo`), online CPUs, kernel.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_string();
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{model}, {cpus} CPUs (nproc), Linux {}", kernel.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        let s = Sample::from_runs(vec![5.0, 1.0, 3.0, 9.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (3.0, 1.0, 9.0));
        let even = Sample::from_runs(vec![4.0, 1.0, 3.0, 2.0]);
        assert_eq!(even.median, 2.5);
    }

    #[test]
    fn formatting() {
        assert_eq!(fmt_ns(3.4171), "3.42 ns");
        assert_eq!(fmt_ns(61.04), "61.0 ns");
        assert_eq!(fmt_ns(5312.0), "5.31 µs");
        assert_eq!(fmt_ns(2_100_000.0), "2.10 ms");
        assert_eq!(fmt_ratio(1.1749), "1.17x");
        assert_eq!(fmt_ratio(153.4), "153x");
        assert_eq!(fmt_speedup(4.0), "4.00x faster");
        assert_eq!(fmt_speedup(0.5), "2.00x slower");
        let s = Sample::from_runs(vec![5000.0, 5300.0, 6100.0]);
        assert_eq!(s.summary(), "5.30 µs (5.00–6.10 µs)");
    }

    #[test]
    fn table() {
        let t = markdown_table(&["a", "b"], &[vec!["1".into(), "2".into()]]);
        assert_eq!(t, "| a | b |\n| --- | --- |\n| 1 | 2 |\n");
    }

    #[test]
    fn runs_every_bench_the_right_number_of_times() {
        let mut calls = 0;
        let samples = run(3, &mut [Bench::new("count", 10, |n| calls += n)]);
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].runs.len(), 3);
        assert_eq!(calls, 40); // warm-up + 3 repeats
    }
}

pub mod echo;
