#!/usr/bin/env bash
# Regenerates BENCHMARKS.md (and bench/echo.svg): builds corio's benchmark
# binaries and echo example in release (and the Go peer when `go` is on
# PATH), then runs the suite, which builds nothing itself. Arguments go to
# the suite, e.g. `bench/run.sh --quick`; `target/release/suite --help`
# lists them.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p corio-bench --bins
cargo build --release --example echo || echo "run.sh: corio's echo example did not build; the suite runs without corio" >&2
# The Go peer (bench/go, standard library only): built when `go` is on PATH,
# with its build cache under target/ (nothing written to $HOME, nothing
# downloaded: GOPROXY=off) and CGO_ENABLED=0 (a static binary, no C compiler).
if command -v go >/dev/null 2>&1; then
    (cd bench/go && GOCACHE="$PWD/../../target/go/cache" GOPATH="$PWD/../../target/go/path" \
        GOPROXY=off CGO_ENABLED=0 go build -trimpath -o ../../target/release/peer_go .) ||
        echo "run.sh: the Go peer (bench/go) did not build; the suite runs without it" >&2
else
    echo "run.sh: no \`go\` on PATH: the Go peer (bench/go) is not built; the suite runs without it" >&2
fi
exec target/release/suite "$@"
