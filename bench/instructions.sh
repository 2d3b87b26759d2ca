#!/usr/bin/env bash
# User-space instructions per echoed message, counted by valgrind's callgrind:
# unlike times on a shared machine, the count repeats to within a few per
# cent from run to run, so it shows a change to the message path that timed
# runs cannot resolve. Each server runs alone under callgrind (pinned to CPU
# 0) while `loadgen` (CPU 1) drives it; the count is the server's whole run
# (start-up and accepting included, a few per cent of it at the default
# length) over every message loadgen echoed. Kernel work is not counted.
#
# usage: bench/instructions.sh [CONNS=100] [SECS=4] [SERVER...]
# SERVER: corio (default: corio epoll tokio-ct), epoll, tokio-ct, may.
# Needs valgrind (Debian: `apt-get install valgrind`) and the release
# binaries (bench/run.sh builds them, or `cargo build --release -p corio-bench
# --bins && cargo build --release --example echo`).
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-100}
secs=${2:-4}
shift $(($# < 2 ? $# : 2))
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(corio epoll tokio-ct)
command -v valgrind >/dev/null || { echo "instructions.sh: needs valgrind" >&2; exit 2; }
t=target/release
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
port=$((20000 + RANDOM % 20000))

cmd() {
    case $1 in
        corio) echo "$t/examples/echo" ;;
        epoll) echo "$t/peer_epoll" ;;
        tokio-ct) echo "$t/peer_tokio --flavor current" ;;
        may) echo "$t/peer_may --threads 1" ;;
        *) echo "instructions.sh: unknown server $1" >&2; exit 2 ;;
    esac
}

for s in "${servers[@]}"; do
    c=$(cmd "$s")
    port=$((port + 1))
    # shellcheck disable=SC2086 # $c is a command and its arguments
    taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$dir/$s.out" \
        $c --addr "127.0.0.1:$port" --buf 16384 >"$dir/$s.log" 2>&1 &
    pid=$!
    # Wait until the server (slowed down by valgrind) accepts.
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    r=$(taskset -c 1 "$t/loadgen" --addr "127.0.0.1:$port" --conns "$conns" --size 64 \
        --secs "$secs" --warmup 0 | grep RESULT)
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    msgs=$(echo "$r" | grep -o 'msgs=[0-9]*' | cut -d= -f2)
    # (awk reads to the end: an early exit would fail the pipe under pipefail)
    ir=$(callgrind_annotate "$dir/$s.out" 2>/dev/null |
        awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}')
    echo "$s: $((ir / msgs)) instructions per message ($ir over $msgs messages, $conns conns x 64 B)"
done
