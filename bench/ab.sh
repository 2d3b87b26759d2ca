#!/usr/bin/env bash
# Focused A/B of corio's echo example against one peer server at one
# configuration (64-byte messages, one server thread), the way the suite's
# target rounds measure: each round starts both servers and runs one
# `loadgen` against both, which loads one at a time in turns of 100 ms
# (`loadgen --slice-ms`), so a slow or fast spell of the machine falls on
# both alike; the order alternates round by round. Prints each round's
# figures and ratios (corio / peer), then the medians of the ratios.
# Complements bench/run.sh when a verdict sits inside the noise.
#
# usage: bench/ab.sh [CONNS=1000] [ROUNDS=6] [SECS=2.4] [PEER=tokio-ct|epoll|may|go]
# SECS is each round's measured window (both servers' turns together; give
# a multiple of 0.2 s, one 100 ms turn of each server), after 0.4 s of
# warm-up (two turns each).
# Needs the release binaries (bench/run.sh builds them, or
# `cargo build --release -p corio-bench --bins && cargo build --release --example echo`;
# the Go peer needs bench/run.sh's `go build`).
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-1000}
rounds=${2:-6}
secs=${3:-2.4}
peer=${4:-tokio-ct}
t=target/release
out=$(mktemp)
pids=()
cleanup() {
    [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true
    rm -f "$out"
}
trap cleanup EXIT
# Ports below Linux's ephemeral range (32768+), which loadgen's own
# connections use.
port=$((10000 + RANDOM % 20000))

# shellcheck source=bench/servers.sh
. bench/servers.sh
server_built corio || exit 2
server_built "$peer" || exit 2

start() {
    local c
    c=$(server_cmd "$1") || exit 2
    # shellcheck disable=SC2086 # $c is a command and its arguments
    exec taskset -c 0 $c --addr "127.0.0.1:$2"
}

# Waits until 127.0.0.1:$1 accepts (5 s at most).
listening() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "ab.sh: nothing listens on port $1" >&2
    return 1
}

# Figure $2 of server $1 (its place in loadgen's list) in result $3.
field() { echo "$3" | grep "server=$1 " | grep -o "$2=[0-9.]*" | cut -d= -f2; }

echo "round: corio msgs/s, CPU ns/msg, p99 µs | $peer the same | ratios corio/$peer"
for r in $(seq 1 "$rounds"); do
    if [ $((r % 2)) = 1 ]; then order=(corio "$peer"); else order=("$peer" corio); fi
    addrs=() pids=()
    for s in "${order[@]}"; do
        port=$((port + 1))
        start "$s" "$port" >/dev/null 2>&1 &
        pids+=($!)
        addrs+=("127.0.0.1:$port")
        listening "$port"
    done
    res=$(taskset -c 1 "$t/loadgen" --addr "${addrs[0]},${addrs[1]}" \
        --server-pid "${pids[0]},${pids[1]}" --conns "$conns" --size 64 \
        --secs "$secs" --warmup 0.4 --slice-ms 100)
    kill "${pids[@]}"
    wait "${pids[@]}" 2>/dev/null || true
    pids=()
    if [ "${order[0]}" = corio ]; then c=0 p=1; else c=1 p=0; fi
    line=""
    for i in $c $p; do
        for k in msgs_per_sec server_cpu_ns_per_msg p99_us; do
            line="$line $(field "$i" "$k" "$res")"
        done
    done
    echo "$line" >>"$out"
    echo "$r:$line" | awk '{printf "%s %s %s %s | %s %s %s | msgs/s %.3f CPU %.3f p99 %.3f\n",
        $1, $2, $3, $4, $5, $6, $7, $2 / $5, $3 / $6, $4 / $7}'
done

median() { sort -g | awk '{a[NR] = $1} END {print (a[int((NR + 1) / 2)] + a[int(NR / 2) + 1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" '{printf "%.4f\n", $a / $b}' "$out" | median; }
echo "medians of $rounds rounds' ratios corio/$peer ($conns conns x 64 B, ${secs} s):" \
    "msgs/s $(ratio 1 4), server CPU/msg $(ratio 2 5), p99 $(ratio 3 6)"
