#!/usr/bin/env bash
# End-to-end load on the fraud case study: `fraud stream` (the scorer, with the serving layer
# in process) consumes what loadgen publishes at a constant open-loop rate; loadgen times
# each transaction from its intended send time to its decision event (coordinated-omission
# corrected). Both processes share this machine.
#
#   fraud/scripts/bench-e2e.sh [embedded|containers] [RATE] [DURATION] [WORKERS]
#     embedded    (default) NATS embedded in the scorer's process, the memory online store
#     containers  NATS (casebook/nats:local) and Redis (casebook/redis:local) in Docker on
#                 the host network (make images builds them)
#
# Env: CASEBOOK_PII_KEY (containers: a random one for this run when unset; embedded: the
# demo key when unset); OUT (default /tmp/fraud-e2e) gets the binaries, logs and the JSON/HTML reports;
# STREAM_FLAGS are passed to `fraud stream` (e.g. --prediction-log=false); SLO_P99 sets the
# p99 threshold loadgen checks (default 25ms); TICK is loadgen's pacer tick (default 1ms:
# requests due within a millisecond leave together, which roughly halves the generator's CPU
# on this 2-core machine; the wait is counted in the corrected latency; TICK=0 paces each
# request alone); WORKLOAD is loadgen's workload (default fraud; e.g. fraud:days=365 with
# STREAM_FLAGS=--days=365 for a run longer than the default simulation's 60 s at 20,000/s);
# SCHEDULE replaces the constant RATE, e.g. SCHEDULE=replay:100000 sends each event at its
# simulated time 100,000 times faster (RATE is then ignored).
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-embedded}
rate=${2:-20000}
duration=${3:-30s}
workers=${4:-2000}
out=${OUT:-/tmp/fraud-e2e}
mkdir -p "$out"
go build -o "$out/fraud" ./fraud/cmd/fraud
go build -o "$out/loadgen" ./loadgen/cmd/loadgen

pids=() containers=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

nats_port=${NATS_PORT:-14222}
case $mode in
embedded)
	stream_args=(--nats embedded --port "$nats_port" --store memory)
	;;
containers)
	redis_port=${REDIS_PORT:-16379}
	n=$(docker run -d --rm --network host casebook/nats:local -js -p "$nats_port" -sd /tmp/js)
	r=$(docker run -d --rm --network host casebook/redis:local --port "$redis_port" --save "" --appendonly no)
	containers+=("$n" "$r")
	for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && (echo >"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break; sleep 0.1; done
	stream_args=(--nats "nats://127.0.0.1:$nats_port" --store "redis://127.0.0.1:$redis_port")
	# On real engines `fraud stream` needs a PII key; loadgen must tokenize under the same one.
	CASEBOOK_PII_KEY=${CASEBOOK_PII_KEY:-v1:$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')}
	export CASEBOOK_PII_KEY
	;;
*)
	echo "usage: $0 [embedded|containers] [RATE] [DURATION] [WORKERS]" >&2
	exit 2
	;;
esac

# shellcheck disable=SC2086
"$out/fraud" stream "${stream_args[@]}" --metrics 127.0.0.1:19464 ${STREAM_FLAGS:-} >"$out/stream-$mode.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do grep -q '^ready' "$out/stream-$mode.log" && break; sleep 0.5; done
grep -q '^ready' "$out/stream-$mode.log" || { echo "fraud stream did not become ready:" >&2; cat "$out/stream-$mode.log" >&2; exit 1; }
cat "$out/stream-$mode.log"
echo "=== $mode: $rate tx/s for $duration, $workers workers; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
"$out/loadgen" run --target "nats://127.0.0.1:$nats_port" --workload "${WORKLOAD:-fraud}" --rate "$rate" --schedule "${SCHEDULE:-constant}" --duration "$duration" \
	--workers "$workers" --tick "${TICK:-1ms}" --progress 10s --json "$out/e2e-$mode-$rate.json" --html "$out/e2e-$mode-$rate.html" \
	--slo "p99<${SLO_P99:-25ms}" --slo 'rate>=99%' --slo 'errors<0.1%' || status=$?
curl -s "http://127.0.0.1:19464/metrics" | grep -E '^casebook_fraud_(decisions_total|feature_store_errors_total|decision_lag_seconds_(sum|count))' || true
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
