#!/usr/bin/env bash
# Open-loop load on the recommender over HTTP: `recsys serve` (trained on the simulation,
# index and ranker from its registry) answers GET /v1/users/{id}/recommendations, loadgen
# sends the recsys workload (Zipf-skewed users) at each rate and reports coordinated-omission
# corrected latency. Then the same rates against `recsys serve --noop`: the same HTTP path
# (gorilla/mux, JSON, metrics) with no recommendation work, the floor measured in the same
# run. Both processes share this machine; the server's CPU time per request is read from
# /proc before and after each rate.
#
#   recsys/scripts/bench-serve.sh [SIZE] [RATES] [DURATION]
#     SIZE      default (943 users × 1,682 items) or large (50,000 users × 100,000 items)
#     RATES     comma-separated requests per second (default 500,1000,2000)
#     DURATION  per rate (default 30s)
#
# Env: OUT (default /tmp/recsys-bench) gets binaries, logs and JSON reports; TICK is
# loadgen's pacer tick (default 1ms); SERVE_FLAGS are passed to `recsys serve`.
set -euo pipefail
cd "$(dirname "$0")/../.."
size=${1:-default}
rates=${2:-500,1000,2000}
duration=${3:-30s}
out=${OUT:-/tmp/recsys-bench}
tick=${TICK:-1ms}
mkdir -p "$out"
go build -o "$out/recsys" ./recsys/cmd/recsys
go build -o "$out/loadgen" ./loadgen/cmd/loadgen
users=943
[[ $size == large ]] && users=50000
port=${PORT:-18091}

pid=""
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null || true; }
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start() { # start [--noop]: starts recsys serve, waits until it listens
	local tag=${1:-}
	# shellcheck disable=SC2086
	"$out/recsys" serve --size "$size" --addr "127.0.0.1:$port" ${SERVE_FLAGS:-} "$@" >"$out/serve$tag.log" 2>&1 &
	pid=$!
	for _ in $(seq 1800); do
		grep -q "listening on" "$out/serve$tag.log" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || { cat "$out/serve$tag.log" >&2; exit 1; }
		sleep 1
	done
	echo "recsys serve did not start in 30 minutes" >&2
	exit 1
}

run_rates() { # run_rates LABEL
	local hz; hz=$(getconf CLK_TCK)
	IFS=, read -ra rs <<<"$rates"
	for r in "${rs[@]}"; do
		local c0 c1 n
		c0=$(cpu_ticks "$pid")
		"$out/loadgen" run --target "http://127.0.0.1:$port" --workload "recsys:users=$users" --rate "$r" --duration "$duration" \
			--tick "$tick" --progress 0 --json "$out/$1-$r.json" >"$out/$1-$r.txt" 2>&1 || true
		c1=$(cpu_ticks "$pid")
		n=$(grep -oE 'ok [0-9]+' "$out/$1-$r.txt" | head -1 | awk '{print $2}')
		local cpu_us=$(((c1 - c0) * 1000000 / hz / (n > 0 ? n : 1)))
		local lat; lat=$(grep -E '^  corrected' "$out/$1-$r.txt" | awk '{print "p50 " $2 "  p99 " $4 "  p99.9 " $5}')
		local ach; ach=$(grep -E '^  rate' "$out/$1-$r.txt" | awk '{print $3}')
		printf '%-9s %6s/s  achieved %8s  %s  server CPU %d µs/request\n' "$1" "$r" "$ach" "$lat" "$cpu_us"
	done
}

echo "== recsys serve --size $size (training first; the large size takes minutes)"
start
grep -E "trained and published" "$out/serve.log" || true
run_rates recsys
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
echo "== recsys serve --noop (the floor: same HTTP path, no recommendation work)"
start --noop
run_rates noop
