#!/usr/bin/env bash
# Open-loop load on the bidder over HTTP: `adsranking serve` (default world, a click model
# trained and registered at start, PID pacing, the event log embedded) answers POST
# /openrtb2/auction; loadgen sends the ads workload (OpenRTB requests of the simulated
# world, about 1,000 eligible ads each) at each rate and reports coordinated-omission
# corrected latency. Then the same rates against `adsranking serve --noop`: the same decode,
# routing and encoding with no bidding work, the floor measured in the same run. Both
# processes share this machine; the server's CPU time per request is read from /proc.
#
#   adsranking/scripts/bench-serve.sh [RATES] [DURATION]
#     RATES     comma-separated requests per second (default 1000,2000,4000)
#     DURATION  per rate (default 30s)
#
# Env: OUT (default /tmp/ads-bench) gets binaries, logs and JSON reports; SERVE_FLAGS are
# passed to `adsranking serve` (default --budget-scale 1000, so budgets sized for the
# simulated day do not run out in the first minute and turn the run into no-bids);
# SERVER_PROCS, when set, is the server's GOMAXPROCS (1 leaves the other core to loadgen and
# saves the runtime's hand-offs between threads). Each rate prints the CPU time per request
# of the server (from /proc) and of loadgen (its user + system time), the same machine's
# two costs.
set -euo pipefail
cd "$(dirname "$0")/../.."
rates=${1:-1000,2000,4000}
duration=${2:-30s}
out=${OUT:-/tmp/ads-bench}
serve_flags=${SERVE_FLAGS:---budget-scale 1000}
mkdir -p "$out"
go build -o "$out/adsranking" ./adsranking/cmd/adsranking
go build -o "$out/loadgen" ./loadgen/cmd/loadgen
port=${PORT:-18092}

pid=""
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null || true; }
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start() { # start [--noop]
	# shellcheck disable=SC2086
	GOMAXPROCS=${SERVER_PROCS:-} "$out/adsranking" serve --addr "127.0.0.1:$port" $serve_flags "$@" >"$out/serve${1:-}.log" 2>&1 &
	pid=$!
	for _ in $(seq 600); do
		grep -q "listening on" "$out/serve${1:-}.log" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || { cat "$out/serve${1:-}.log" >&2; exit 1; }
		sleep 1
	done
	echo "adsranking serve did not start in 10 minutes" >&2
	exit 1
}

run_rates() { # run_rates LABEL
	local hz; hz=$(getconf CLK_TCK)
	IFS=, read -ra rs <<<"$rates"
	for r in "${rs[@]}"; do
		local c0 c1 n
		c0=$(cpu_ticks "$pid")
		local TIMEFORMAT='%U %S'
		{ time "$out/loadgen" run --target "http://127.0.0.1:$port" --workload ads --rate "$r" --duration "$duration" \
			--progress 0 --json "$out/$1-$r.json" >"$out/$1-$r.txt" 2>&1 || true; } 2>"$out/$1-$r.time"
		c1=$(cpu_ticks "$pid")
		n=$(grep -oE 'ok [0-9]+' "$out/$1-$r.txt" | head -1 | awk '{print $2}')
		local cpu_us=$(((c1 - c0) * 1000000 / hz / (n > 0 ? n : 1)))
		local lg_us; lg_us=$(awk -v n="${n:-0}" '{printf "%d", ($1 + $2) * 1e6 / (n > 0 ? n : 1)}' "$out/$1-$r.time")
		local lat; lat=$(grep -E '^  corrected' "$out/$1-$r.txt" | awk '{print "p50 " $2 "  p99 " $4 "  p99.9 " $5}')
		local ach; ach=$(grep -E '^  rate' "$out/$1-$r.txt" | awk '{print $3}')
		printf '%-6s %6s/s  achieved %8s  %s  server CPU %d µs/request  loadgen CPU %d µs/request\n' "$1" "$r" "$ach" "$lat" "$cpu_us" "$lg_us"
	done
}

echo "== adsranking serve $serve_flags (trains a click model first)"
start
grep -E "ready in" "$out/serve.log" || true
run_rates bidder
grep -oE 'bid [0-9]+|budgets exhausted [0-9]+|paced out [0-9]+' "$out/bidder-${rates##*,}.txt" | head -5 || true
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
echo "== adsranking serve --noop (the floor: same HTTP path, no bidding work)"
start --noop
run_rates noop
