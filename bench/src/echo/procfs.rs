//! What Linux tells about a process (by pid): CPU time spent (its CPU-time
//! clock and `/proc`), resident memory, threads, open fds. Read-only; any
//! pid the caller may inspect.

use std::io;

/// User plus system CPU time of the whole process (all its threads, live
/// and exited), in nanoseconds, from the process's CPU-time clock: exact
/// to the nanosecond (see [`cpu_time`]).
pub fn cpu_ns(pid: u32) -> io::Result<u64> {
    super::sys::process_cpu_ns(pid)
}

/// CPU time of a whole process, in nanoseconds (see [`cpu_time`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTime {
    /// User plus system time: everything the scheduler ran the process for,
    /// system calls and the TCP work they do included (softirq time left
    /// out where the kernel accounts IRQ time apart). Exact, from the
    /// process's CPU-time clock.
    pub total_ns: u64,
    /// `utime` alone: the process's own code (for an echo server, the
    /// framework and its event loop, without the kernel's TCP work). In
    /// steps of a clock tick (`_SC_CLK_TCK`, usually 100 per second, so
    /// 10 ms), and the kernel decides user or system at each of its own
    /// ticks, so it carries sampling noise of several ticks per window.
    pub user_ns: u64,
}

/// User and total CPU time of `pid` (all its threads, live and exited).
/// The total comes from the process's CPU-time clock, which counts every
/// nanosecond the scheduler ran it; `/proc/<pid>/stat`'s `utime + stime`
/// is the same time with each part rounded down to whole ticks: a
/// window's difference could be off by two ticks, about 2 % of a 1.2 s
/// share of a target round. The user part is `utime` of
/// `/proc/<pid>/stat`, at most the total (see [`CpuTime::user_ns`]).
pub fn cpu_time(pid: u32) -> io::Result<CpuTime> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks = parse_stat_ticks(&stat).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected /proc/{pid}/stat: {stat}"),
        )
    })?;
    let ns = |t: u64| t.saturating_mul(1_000_000_000) / clock_ticks_per_sec();
    let total_ns = cpu_ns(pid)?;
    Ok(CpuTime {
        total_ns,
        user_ns: ns(ticks.utime).min(total_ns),
    })
}

/// The CPU-time fields of a `/proc/<pid>/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StatTicks {
    /// Field 14, time in user mode.
    utime: u64,
    /// Field 15, time in kernel mode.
    stime: u64,
}

/// `utime` and `stime` in ticks from the text of a `/proc/<pid>/stat`.
fn parse_stat_ticks(stat: &str) -> Option<StatTicks> {
    // The command name (field 2) is in parentheses and may hold spaces;
    // fields after the last ')' start at field 3 (state).
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?; // field 14
    let stime: u64 = fields.next()?.parse().ok()?; // field 15
    Some(StatTicks { utime, stime })
}

/// Clock ticks per second of `/proc/<pid>/stat` times.
fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// CPU time the whole machine spent busy (user, nice, system, irq,
/// softirq, steal over all CPUs; not idle or iowait), in nanoseconds, from
/// the first line of `/proc/stat`. Minus the time of the processes under
/// test over the same window, it shows how much else ran meanwhile.
pub fn machine_busy_ns() -> io::Result<u64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let ticks = parse_machine_busy(&stat)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/stat"))?;
    Ok(ticks.saturating_mul(1_000_000_000) / clock_ticks_per_sec())
}

/// Busy ticks from the `cpu` line of `/proc/stat`.
fn parse_machine_busy(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]:
    // guest time is already part of user.
    let get = |i: usize| v.get(i).copied().unwrap_or(0);
    Some(get(0) + get(1) + get(2) + get(5) + get(6) + get(7))
}

/// Memory and thread count of a process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Resident set size (`VmRSS`), in KiB.
    pub rss_kib: u64,
    /// Number of threads (`Threads`).
    pub threads: u64,
}

/// Reads `VmRSS` and `Threads` of `pid`.
pub fn status(pid: u32) -> io::Result<Status> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_status(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no VmRSS/Threads in /proc/{pid}/status"),
        )
    })
}

/// `VmRSS` and `Threads` from the text of a `/proc/<pid>/status`.
fn parse_status(text: &str) -> Option<Status> {
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find_map(|l| l.strip_prefix(name))?;
        line.trim_start_matches(':')
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some(Status {
        rss_kib: field("VmRSS")?,
        threads: field("Threads")?,
    })
}

/// Number of open file descriptors of `pid` (entries of `/proc/<pid>/fd`).
pub fn fd_count(pid: u32) -> io::Result<u64> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_name() {
        let stat = "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 5 0";
        assert_eq!(
            parse_stat_ticks(stat),
            Some(StatTicks { utime: 7, stime: 3 })
        );
        assert_eq!(parse_stat_ticks("42 (x) S 1 2"), None);
    }

    #[test]
    fn parses_machine_busy() {
        let stat = "cpu  10 1 5 1000 7 2 3 4 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\n";
        assert_eq!(parse_machine_busy(stat), Some(25));
        assert!(machine_busy_ns().is_ok());
    }

    #[test]
    fn parses_status() {
        let text = "Name:\tx\nVmRSS:\t    1234 kB\nThreads:\t3\n";
        assert_eq!(
            parse_status(text),
            Some(Status {
                rss_kib: 1234,
                threads: 3
            })
        );
    }

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        assert!(status(me).unwrap().rss_kib > 0);
        assert!(fd_count(me).unwrap() >= 3);
        let t = cpu_time(me).unwrap();
        assert!(t.user_ns <= t.total_ns);
    }

    #[test]
    fn cpu_clock_counts_work_below_a_tick() {
        let me = std::process::id();
        let before = cpu_ns(me).unwrap();
        // About a millisecond of work: less than one 10 ms tick.
        let t0 = std::time::Instant::now();
        let mut x = 0u64;
        while t0.elapsed() < std::time::Duration::from_millis(1) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let after = cpu_ns(me).unwrap();
        assert!(after > before, "{before} -> {after}");
        // Another process's clock too (the parent, which is alive).
        assert!(cpu_ns(std::os::unix::process::parent_id()).is_ok());
        // Pids glibc would turn into another clock are refused.
        for pid in [0, i32::MAX as u32, u32::MAX] {
            let err = cpu_ns(pid).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{pid}");
        }
    }
}
