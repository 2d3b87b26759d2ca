//! Shared pieces of the echo benchmarks of issue 8: the load generator
//! (`loadgen`), the peer servers (`peer_*`), the idle-memory probe (`idle`)
//! and the driver that runs them side by side (`suite`).
//!
//! - [`args`]: a tiny `--flag value` parser with usage errors, shared by
//!   every binary so they all read their options the same way;
//! - [`hist`]: a log-bucketed (HDR-style) latency histogram;
//! - [`procfs`]: what `/proc` says about another process (CPU time, RSS,
//!   threads, fds);
//! - [`sys`]: the few raw socket and rlimit calls the binaries need;
//! - [`splice`]: rewrites marked blocks of `BENCHMARKS.md`, keeping the rest;
//! - [`svg`]: the hand-written SVG bar chart;
//! - [`ServerOpts`]: the options every echo server takes.
//!
//! Nothing here is timed or asserted on timings: `cargo test` stays
//! independent of the machine's speed.

pub mod args;
pub mod hist;
pub mod procfs;
pub mod splice;
pub mod svg;
pub mod sys;

use std::net::SocketAddr;

use args::Args;

/// Per-connection buffer of the peer servers when `--buf` is not given.
pub const DEFAULT_BUF: usize = 16 * 1024;

/// Options of every echo server: corio's `echo` example and the peers.
#[derive(Debug, Clone)]
pub struct ServerOpts {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// Server threads (meaning depends on the server; 1 = one event loop).
    pub threads: usize,
    /// Per-connection read buffer, in bytes (at least 1).
    pub buf: usize,
}

impl ServerOpts {
    /// Reads `--addr` (default `127.0.0.1:7000`), `--threads` (default 1)
    /// and `--buf` (default [`DEFAULT_BUF`]) from `args`.
    pub fn parse(args: &mut Args) -> Self {
        let opts = ServerOpts {
            addr: args.get("addr", "127.0.0.1:7000".parse().expect("literal address")),
            threads: args.get("threads", 1),
            buf: args.get("buf", DEFAULT_BUF),
        };
        if opts.threads == 0 || opts.buf == 0 {
            args.usage_error("--threads and --buf must be at least 1");
        }
        opts
    }
}
