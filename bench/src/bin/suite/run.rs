//! Running the measured programs: a server pinned with `taskset`, `loadgen`
//! or `idle` against it, with time limits, and parsing their summary lines.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio_bench::echo::hist::Histogram;
use corio_bench::echo::procfs;

use crate::model::{Config, IdleResult, Opts, RunResult, Server, TARGET_SLICE};

/// Buffer per connection of every server in the throughput runs.
pub(crate) const BUF: usize = 16 * 1024;
/// Buffer per connection in the idle-memory runs (the framework's own cost
/// shows, not the user's buffer).
pub(crate) const IDLE_BUF: usize = 1024;

/// Whether `taskset` runs here and accepts a CPU list.
pub(crate) fn taskset_works() -> bool {
    Command::new("taskset")
        .args(["-c", "0", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `program`, started through `taskset -c cpus` when pinning.
pub(crate) fn pinned(cpus: Option<&str>, program: &Path) -> Command {
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
pub(crate) fn cpu_sets(opts: &Opts, cfg: &Config) -> (Option<String>, Option<String>) {
    match &opts.cpus {
        None => (None, None),
        Some((s, c)) if cfg.threads > 1 => {
            let both = format!("{s},{c}");
            (Some(both.clone()), Some(both))
        }
        Some((s, c)) => (Some(s.clone()), Some(c.clone())),
    }
}

/// Fresh servers, one `loadgen` run against them: `window.0` seconds of
/// warm-up, then `window.1` measured seconds. One server is loaded all the
/// time; several take turns (`loadgen --slice-ms`, [`TARGET_SLICE`]), in
/// the order given. Returns each server's figures, in that order: a server
/// whose connections failed, or that completed no message, is an error of
/// its own and the others keep their figures; an error of the whole run
/// (a server that did not start, `loadgen` stuck or failing for no server's
/// reason) is the outer one.
pub(crate) fn run_servers(
    opts: &Opts,
    servers: &[&Server],
    cfg: &Config,
    loadgen: &Path,
    (warmup, secs): (f64, f64),
) -> Result<Vec<Result<RunResult, String>>, String> {
    let (server_cpus, client_cpus) = cpu_sets(opts, cfg);
    let mut children: Vec<(Child, SocketAddr)> = Vec::new();
    let result = (|| {
        for server in servers {
            let addr = free_addr().map_err(|e| format!("no free port: {e}"))?;
            let child = pinned(server_cpus.as_deref(), &server.path)
                .args(&server.args)
                .args(["--addr", &addr.to_string()])
                .args(["--threads", &cfg.threads.to_string()])
                .args(["--buf", &BUF.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .map_err(|e| format!("starting {}: {e}", server.path.display()))?;
            children.push((child, addr));
            let (child, addr) = children.last_mut().expect("just pushed");
            wait_listening(*addr, child)?;
        }
        let list = |f: &dyn Fn(&(Child, SocketAddr)) -> String| {
            children.iter().map(f).collect::<Vec<_>>().join(",")
        };
        let mut cmd = pinned(client_cpus.as_deref(), loadgen);
        cmd.args(["--addr", &list(&|(_, a)| a.to_string())])
            .args(["--conns", &cfg.conns.to_string()])
            .args(["--size", &cfg.size.to_string()])
            .args(["--secs", &secs.to_string()])
            .args(["--warmup", &warmup.to_string()])
            .args(["--threads", &cfg.threads.to_string()])
            .args(["--server-pid", &list(&|(c, _)| c.id().to_string())])
            .args(["--slice-ms", &(TARGET_SLICE * 1000.0).to_string()]);
        let limit = Duration::from_secs_f64(warmup + secs + 60.0);
        let (status, out) = status_within(cmd, limit)?;
        results_of(&out, servers.len(), status)
    })();
    for (mut child, _) in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    result
}

/// Each of `servers` servers' figures from the stdout of one `loadgen` run
/// that exited with `status`: its own `RESULT server=i` line, parsed. A
/// failed exit that no server's line explains fails the whole run.
fn results_of(
    out: &str,
    servers: usize,
    status: ExitStatus,
) -> Result<Vec<Result<RunResult, String>>, String> {
    let results: Vec<Result<RunResult, String>> = (0..servers)
        .map(|i| {
            let key = format!("server={i}");
            let line = |kind: &str| {
                out.lines().find(|l| {
                    let mut w = l.split_whitespace();
                    w.next() == Some(kind) && w.next() == Some(key.as_str())
                })
            };
            let result = line("RESULT")
                .ok_or_else(|| format!("loadgen printed no RESULT for {key}: {:?}", brief(out)))?;
            let mut r = parse_result(result)?;
            r.hist = line("HIST").and_then(|l| {
                let h = l.split_whitespace().nth(2).and_then(Histogram::from_sparse);
                if h.is_none() {
                    eprintln!("suite: a malformed HIST line for {key}: left out of pooled p99s");
                }
                h.map(Rc::new)
            });
            Ok(r)
        })
        .collect();
    let explained = results.iter().any(Result::is_err) && out.contains("RESULT ");
    if !status.success() && !explained {
        return Err(format!(
            "loadgen exited with {status}; stdout: {:?}",
            brief(out)
        ));
    }
    Ok(results)
}

/// The figures of a `loadgen` RESULT line (`NA` or an absent key: `None`
/// for the optional ones); an error if it counted errors or mismatches, or
/// no message.
pub(crate) fn parse_result(line: &str) -> Result<RunResult, String> {
    let kv = key_values(line);
    let num = |k: &str| kv.get(k).and_then(|v| v.parse::<f64>().ok());
    if num("errors") != Some(0.0) || num("mismatches") != Some(0.0) {
        return Err(format!("loadgen saw errors: {line}"));
    }
    if num("msgs") == Some(0.0) {
        return Err(format!("loadgen completed no message: {line}"));
    }
    Ok(RunResult {
        msgs_per_sec: num("msgs_per_sec").ok_or("no msgs_per_sec")?,
        server_cpu_ns: num("server_cpu_ns_per_msg"),
        server_user_ns: num("server_user_ns_per_msg"),
        client_cpu_ns: num("client_cpu_ns_per_msg"),
        p50_us: num("p50_us").ok_or("no p50_us")?,
        p99_us: num("p99_us").ok_or("no p99_us")?,
        other_cpus: num("other_cpus"),
        hist: None,
    })
}

/// Waits up to `max` for the machine to be nearly idle (under a quarter of
/// a CPU busy over 250 ms); returns whether it became so.
pub(crate) fn wait_quiet(max: Duration) -> bool {
    let deadline = Instant::now() + max;
    loop {
        let t = Instant::now();
        let Ok(before) = procfs::machine_busy_ns() else {
            return true;
        };
        std::thread::sleep(Duration::from_millis(250));
        let Ok(after) = procfs::machine_busy_ns() else {
            return true;
        };
        let busy = after.saturating_sub(before) as f64 / t.elapsed().as_nanos() as f64;
        if busy < 0.25 {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
    }
}

/// Runs `cmd` with stdout captured; kills it after `limit`; fails on a
/// non-zero exit. Returns stdout.
pub(crate) fn output_within(cmd: Command, limit: Duration) -> Result<String, String> {
    let what = format!("{cmd:?}");
    let (status, out) = status_within(cmd, limit)?;
    if !status.success() {
        return Err(format!("{what} exited with {status}; stdout: {out:?}"));
    }
    Ok(out)
}

/// Runs `cmd` with stdout captured; kills it after `limit`. Returns its exit
/// status and stdout. Stdout is read while it runs (loadgen's histograms
/// can be more than a pipe holds, and a full pipe would stall it).
fn status_within(mut cmd: Command, limit: Duration) -> Result<(ExitStatus, String), String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {cmd:?}: {e}"))?;
    let reader = child.stdout.take().map(|mut so| {
        std::thread::spawn(move || {
            let mut out = String::new();
            let _ = io::Read::read_to_string(&mut so, &mut out);
            out
        })
    });
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
    let out = reader
        .map(|r| r.join().unwrap_or_default())
        .unwrap_or_default();
    Ok((status, out))
}

/// `out` without its `HIST` lines (tens of KB of bucket counts), for
/// error messages.
fn brief(out: &str) -> String {
    out.lines()
        .filter(|l| !l.starts_with("HIST "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `key=value` pairs of a summary line.
pub(crate) fn key_values(line: &str) -> HashMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

/// A loopback address whose port was free a moment ago.
pub(crate) fn free_addr() -> io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// Polls until `addr` accepts (10 s at most, and only while `child` lives).
pub(crate) fn wait_listening(addr: SocketAddr, child: &mut Child) -> Result<(), String> {
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
pub(crate) fn run_idle(
    opts: &Opts,
    server: &Server,
    conns: u64,
    idle: &Path,
) -> Result<IdleResult, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_result_line() {
        let line = "RESULT conns=100 size=64 threads=1 secs=2.00 msgs=200000 \
                    msgs_per_sec=100000 p50_us=950.0 p90_us=1100.0 p99_us=1500.5 \
                    p999_us=2000.0 max_us=3000.0 errors=0 mismatches=0 \
                    server_cpu_ns_per_msg=9500 client_cpu_ns_per_msg=9900 other_cpus=0.02 \
                    server_user_ns_per_msg=550";
        let r = parse_result(line).unwrap();
        assert_eq!(r.msgs_per_sec, 100_000.0);
        assert_eq!(r.server_cpu_ns, Some(9500.0));
        assert_eq!(r.server_user_ns, Some(550.0));
        assert_eq!(r.client_cpu_ns, Some(9900.0));
        assert_eq!((r.p50_us, r.p99_us), (950.0, 1500.5));
        assert_eq!(r.other_cpus, Some(0.02));
    }

    #[test]
    fn unknown_figures_are_none_and_errors_fail() {
        // A loadgen without --server-pid, and one from before the user key.
        let na = "RESULT msgs_per_sec=5 p50_us=1 p99_us=2 errors=0 mismatches=0 \
                  server_cpu_ns_per_msg=NA other_cpus=NA server_user_ns_per_msg=NA";
        let r = parse_result(na).unwrap();
        assert_eq!(
            (r.server_cpu_ns, r.server_user_ns, r.other_cpus),
            (None, None, None)
        );
        let old = "RESULT msgs_per_sec=5 p50_us=1 p99_us=2 errors=0 mismatches=0 \
                   server_cpu_ns_per_msg=700";
        assert_eq!(parse_result(old).unwrap().server_user_ns, None);
        let bad = "RESULT msgs_per_sec=5 p50_us=1 p99_us=2 errors=1 mismatches=0";
        assert!(parse_result(bad).is_err());
        let none = "RESULT msgs=0 msgs_per_sec=0 p50_us=0 p99_us=0 errors=0 mismatches=0";
        assert!(parse_result(none).unwrap_err().contains("no message"));
    }

    /// In a run of several servers, a server's failure is its own: the
    /// others keep their figures. A failed exit no line explains, or a
    /// missing line, is not taken for a good run.
    #[test]
    fn a_failing_server_fails_alone() {
        use std::os::unix::process::ExitStatusExt;
        let line = |i: usize, errors: u32| {
            format!(
                "RESULT server={i} msgs=10 msgs_per_sec={} p50_us=1 p99_us=2 errors={errors} \
                 mismatches=0\n",
                100 + i
            )
        };
        let (ok, failed) = (ExitStatus::from_raw(0), ExitStatus::from_raw(1 << 8));
        let out = line(0, 0) + &line(1, 2);
        let r = results_of(&out, 2, failed).unwrap();
        assert_eq!(r[0].as_ref().unwrap().msgs_per_sec, 100.0);
        assert!(r[1].as_ref().unwrap_err().contains("errors=2"));
        let out = line(0, 0) + &line(1, 0);
        assert!(results_of(&out, 2, failed).is_err());
        assert!(results_of(&out, 2, ok).unwrap().iter().all(Result::is_ok));
        let r = results_of(&line(1, 0), 2, ok).unwrap();
        assert!(
            r[0].as_ref()
                .unwrap_err()
                .contains("no RESULT for server=0")
        );
        assert!(r[1].is_ok());
        // A HIST line gives the run its histogram.
        let mut sent = Histogram::new();
        for v in [4000, 4000, 5000] {
            sent.record(v);
        }
        let hist = format!("HIST server=0 {}\n", sent.to_sparse());
        let out = line(0, 0) + &hist + &line(1, 0);
        let r = results_of(&out, 2, ok).unwrap();
        let h = r[0].as_ref().unwrap().hist.as_ref().unwrap();
        assert_eq!((h.len(), h.max()), (3, 5000));
        assert!(r[1].as_ref().unwrap().hist.is_none());
        // It failed before printing anything (say, while connecting).
        assert!(
            results_of("", 2, failed)
                .unwrap_err()
                .contains("exited with")
        );
    }
}
