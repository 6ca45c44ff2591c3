#!/usr/bin/env bash
# Measures the load generator on one core: `loadgen serve-trivial` runs as its own process
# pinned to CPU 1, the generator runs with GOMAXPROCS=1 pinned to CPU 0, open loop over
# HTTP on loopback. Prints one text report per rate; JSON reports land in $OUT.
#
#   loadgen/scripts/bench-onecore.sh [DURATION] [RATE...]     (defaults: 10s 1000 20000)
#   HTTP_CLIENT=std loadgen/scripts/bench-onecore.sh ...        (Go's net/http instead of the lean client)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10s}
shift || true
rates=("${@:-1000 20000}")
out=${OUT:-/tmp/loadgen-bench}
mkdir -p "$out"
go build -o "$out/loadgen" ./cmd/loadgen

# taskset execs the program, so $! below is the server itself.
pin0=() pin1=()
if command -v taskset >/dev/null; then pin0=(taskset -c 0) pin1=(taskset -c 1); fi

port=${PORT:-18090}
"${pin1[@]}" "$out/loadgen" serve-trivial --addr "127.0.0.1:$port" --for 30m >"$out/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q serving "$out/serve.log" 2>/dev/null && break; sleep 0.1; done

for rate in ${rates[*]}; do
	echo "=== rate $rate/s for $duration, generator on one core"
	GOMAXPROCS=1 "${pin0[@]}" "$out/loadgen" run --target "http://127.0.0.1:$port/score" --body '{"amount":12.5}' \
		--rate "$rate" --duration "$duration" --progress 0 --json "$out/rate-$rate.json" --http-client "${HTTP_CLIENT:-lean}" \
		--slo 'rate>=99%' --slo 'errors<0.1%' || true
done
