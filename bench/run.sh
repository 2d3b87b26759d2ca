#!/usr/bin/env bash
# Regenerates BENCHMARKS.md (and bench/echo.svg): builds corio's benchmark
# binaries and echo example in release, then runs the suite, which builds
# nothing itself. Arguments go to the suite, e.g. `bench/run.sh --quick`;
# `target/release/suite --help` lists them.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p corio-bench --bins
cargo build --release --example echo || echo "run.sh: corio's echo example did not build; the suite runs without corio" >&2
exec target/release/suite "$@"
