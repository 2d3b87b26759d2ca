#!/usr/bin/env bash
# Focused A/B of corio's echo example against one peer server at one
# configuration, alternating the two servers run by run so machine drift hits
# both alike; prints each run and the medians. Complements bench/run.sh when
# a suite verdict sits inside the run-to-run noise.
#
# usage: bench/ab.sh [CONNS=1000] [PAIRS=6] [SECS=3] [PEER=tokio-ct|epoll|may|go]
# Needs the release binaries (bench/run.sh builds them, or
# `cargo build --release -p corio-bench --bins && cargo build --release --example echo`;
# the Go peer needs bench/run.sh's `go build`).
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-1000}
pairs=${2:-6}
secs=${3:-3}
peer=${4:-tokio-ct}
t=target/release
port=$((20000 + RANDOM % 20000))
out=$(mktemp)
trap 'rm -f "$out"' EXIT

start() {
    case $1 in
        corio) exec taskset -c 0 "$t/examples/echo" --addr "127.0.0.1:$2" ;;
        tokio-ct) exec taskset -c 0 "$t/peer_tokio" --addr "127.0.0.1:$2" --flavor current ;;
        epoll) exec taskset -c 0 "$t/peer_epoll" --addr "127.0.0.1:$2" ;;
        may) exec taskset -c 0 "$t/peer_may" --addr "127.0.0.1:$2" --threads 1 ;;
        go) exec taskset -c 0 "$t/peer_go" --addr "127.0.0.1:$2" --threads 1 ;;
        *) echo "ab.sh: unknown server $1" >&2; exit 2 ;;
    esac
}

field() { grep -o "$1=[0-9.]*" | cut -d= -f2; }

for _ in $(seq 1 "$pairs"); do
    for s in corio "$peer"; do
        port=$((port + 1))
        start "$s" "$port" >/dev/null 2>&1 &
        pid=$!
        sleep 0.3
        r=$(taskset -c 1 "$t/loadgen" --addr "127.0.0.1:$port" --conns "$conns" --size 64 \
            --secs "$secs" --warmup 1 --server-pid "$pid" | grep RESULT)
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        line="$s $(echo "$r" | field msgs_per_sec) $(echo "$r" | field server_cpu_ns_per_msg) $(echo "$r" | field p99_us)"
        echo "$line" | tee -a "$out"
    done
done

median() { sort -n | awk '{a[NR] = $1} END {print (a[int((NR + 1) / 2)] + a[int(NR / 2) + 1]) / 2}'; }
echo "medians over $pairs runs each ($conns conns x 64 B, ${secs} s):"
for s in corio "$peer"; do
    echo "$s: msgs/s $(grep "^$s " "$out" | cut -d' ' -f2 | median)," \
        "server CPU ns/msg $(grep "^$s " "$out" | cut -d' ' -f3 | median)," \
        "p99 µs $(grep "^$s " "$out" | cut -d' ' -f4 | median)"
done
