#!/usr/bin/env bash
# User-space instructions per echoed message, counted by valgrind's callgrind:
# unlike times on a shared machine, the count repeats to within a few per
# cent from run to run, so it shows a change to the message path that timed
# runs cannot resolve. Each server runs alone under callgrind (pinned to CPU
# 0) while `loadgen` (CPU 1) drives it, twice: for SECS and for a third of
# that. The figure is the slope between the two runs, (Ir_long - Ir_short)
# / (msgs_long - msgs_short), in which the fixed cost of start-up and
# accepting cancels; the whole long run's Ir over its messages is printed
# too, but it carries that fixed cost (about 2 M instructions for corio),
# spread over however many messages valgrind's pace let through, so it
# moves with the machine. Kernel work is not counted.
#
# usage: bench/instructions.sh [CONNS=100] [SECS=6] [SERVER...]
# SERVER: corio, epoll, tokio-ct, may or go (default: corio epoll tokio-ct);
# bench/servers.sh has the commands.
# Needs valgrind (Debian: `apt-get install valgrind`) and the release
# binaries (bench/run.sh builds them, or `cargo build --release -p corio-bench
# --bins && cargo build --release --example echo`).
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-100}
secs=${2:-6}
shift $(($# < 2 ? $# : 2))
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(corio epoll tokio-ct)
command -v valgrind >/dev/null || { echo "instructions.sh: needs valgrind" >&2; exit 2; }
t=target/release
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
port=$((20000 + RANDOM % 20000))

# shellcheck source=bench/servers.sh
. bench/servers.sh
for s in "${servers[@]}"; do
    server_built "$s" || exit 2
done

# Runs server $1 under callgrind on port $3 for $2 seconds of load;
# prints "IR MSGS".
measure() {
    local c pid r msgs ir port=$3
    c=$(server_cmd "$1") || exit 2
    # shellcheck disable=SC2086 # $c is a command and its arguments
    taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$dir/$1.out" \
        $c --addr "127.0.0.1:$port" --buf 16384 >"$dir/$1.log" 2>&1 &
    pid=$!
    # Wait until the server (slowed down by valgrind) accepts.
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    # A failed run (nothing listening, errors, no message) leaves r empty
    # and the caller reports it; the server is stopped either way.
    r=$(taskset -c 1 "$t/loadgen" --addr "127.0.0.1:$port" --conns "$conns" --size 64 \
        --secs "$2" --warmup 0 | grep RESULT) || r=""
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    msgs=$(echo "$r" | grep -o 'msgs=[0-9]*' | cut -d= -f2)
    # (awk reads to the end: an early exit would fail the pipe under pipefail)
    ir=$(callgrind_annotate "$dir/$1.out" 2>/dev/null |
        awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}')
    echo "$ir $msgs"
}

short=$((secs / 3 > 0 ? secs / 3 : 1))
for s in "${servers[@]}"; do
    ir_s="" msgs_s="" ir_l="" msgs_l=""
    read -r ir_s msgs_s < <(measure "$s" "$short" $((port += 1))) || true
    read -r ir_l msgs_l < <(measure "$s" "$secs" $((port += 1))) || true
    if [ -z "$msgs_s" ] || [ -z "$msgs_l" ] || [ -z "$ir_s" ] || [ -z "$ir_l" ]; then
        echo "instructions.sh: $s: a run reported no count (its log: rerun by hand)" >&2
        exit 1
    fi
    if [ "$msgs_l" -le "$msgs_s" ]; then
        echo "instructions.sh: $s: the ${secs} s run echoed no more than the ${short} s run" >&2
        exit 1
    fi
    slope=$(((ir_l - ir_s) / (msgs_l - msgs_s)))
    echo "$s: $slope instructions per message (slope between a ${short} s and a ${secs} s run;" \
        "whole ${secs} s run $((ir_l / msgs_l)) over $msgs_l messages; $conns conns x 64 B)"
done
