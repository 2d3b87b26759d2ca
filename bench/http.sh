#!/usr/bin/env bash
# wrk against corio's std::net-only `http` example and a hyper (tokio
# current-thread) hello server, side by side: 100 connections, 10 s per run,
# the two servers alternating, REPEATS runs each. Writes the section between
# the `http:begin`/`http:end` markers of BENCHMARKS.md.
#
# Needs wrk (Debian: `apt-get install wrk`). Usage: bench/http.sh [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3}
command -v wrk >/dev/null || { echo "http.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release --example http -p corio
cargo build --release -p corio-bench --bin peer_hyper
pin_server=""; pin_client=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    pin_server="taskset -c 0"; pin_client="taskset -c 1"
fi

run_one() { # name binary port -> "rps errors"
    local name=$1 bin=$2 port=$3
    $pin_server "$bin" --addr "127.0.0.1:$port" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    local out
    out=$($pin_client wrk -t1 -c100 -d10s "http://127.0.0.1:$port/" 2>&1)
    kill "$pid"; wait "$pid" 2>/dev/null || true
    local rps errors
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    errors=$(awk '/Socket errors/ {gsub(",",""); s=$4+$6+$8+$10} /Non-2xx/ {s+=$5} END {print s+0}' <<<"$out")
    echo "$rps $errors"
}

declare -a corio_rps hyper_rps
corio_err=0; hyper_err=0
for i in $(seq "$repeats"); do
    read -r r e < <(run_one corio target/release/examples/http $((18300 + i)))
    corio_rps+=("$r"); corio_err=$((corio_err + e))
    read -r r e < <(run_one hyper target/release/peer_hyper $((18400 + i)))
    hyper_rps+=("$r"); hyper_err=$((hyper_err + e))
    echo "run $i: corio ${corio_rps[-1]} req/s, hyper ${hyper_rps[-1]} req/s" >&2
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
minmax() { printf '%s\n' "$@" | sort -g | awk 'NR==1 {lo=$1} {hi=$1} END {printf "%s–%s", lo, hi}'; }
cm=$(median "${corio_rps[@]}"); hm=$(median "${hyper_rps[@]}")
ratio=$(awk -v a="$cm" -v b="$hm" 'BEGIN {printf "%.2f", a/b}')

section=$(cat <<MD
<!-- http:begin -->
## HTTP: wrk against the \`http\` example (issue 6)

Command: \`bench/http.sh $repeats\` — \`wrk -t1 -c100 -d10s\` against corio's
std::net-only \`http\` example (\`GET /\`, keep-alive, one scheduler thread) and
against a hyper 1 server on tokio current-thread (\`peer_hyper\`, same body),
alternating, $repeats runs each; server on CPU 0, wrk on CPU 1.

| server | requests/s, median (min–max) | errors (socket + non-2xx, all runs) |
| --- | --- | --- |
| corio \`http\` example (std::net + hooks) | $cm ($(minmax "${corio_rps[@]}")) | $corio_err |
| hyper + tokio current-thread | $hm ($(minmax "${hyper_rps[@]}")) | $hyper_err |

corio / hyper: ${ratio}x.
<!-- http:end -->
MD
)
python3 - "$section" <<'PY'
import re, sys
section = sys.argv[1]
path = "BENCHMARKS.md"
try:
    text = open(path).read()
except FileNotFoundError:
    text = "# corio benchmarks\n"
if "<!-- http:begin -->" in text:
    text = re.sub(r"<!-- http:begin -->.*?<!-- http:end -->", lambda m: section, text, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w").write(text)
PY
echo "http.sh: corio ${cm} req/s, hyper ${hm} req/s (${ratio}x), errors ${corio_err}/${hyper_err}" >&2
