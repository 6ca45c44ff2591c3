#!/usr/bin/env bash
# End-to-end load on the fraud case study: `fraud stream` (the scorer, with the serving layer
# in process) consumes what loadgen publishes at a constant open-loop rate; loadgen times
# each transaction from its intended send time to its decision event (coordinated-omission
# corrected). Both processes share this machine.
#
#   fraud/scripts/bench-e2e.sh [embedded|containers] [RATES] [DURATION] [WORKERS]
#     embedded    (default) NATS embedded in the scorer's process, the memory online store
#     containers  NATS (casebook/nats:local) and Redis (casebook/redis:local) in Docker on
#                 the host network (make images builds them)
#     RATES       one rate or several, comma-separated (default 20000; e.g. 5000,10000,20000)
#
# For each rate the script first runs the floor, `fraud stream --noop` (the same process,
# event log and loadgen, but every transaction gets a fixed decision without features or
# model), then the fraud system, each on a fresh process (and fresh containers), and prints
# for both: p50/p99, the stream process's CPU time per decision (user + sys from
# /proc/PID/stat over the load, scorer and embedded NATS together, divided by the decisions
# it published) and the generator's own CPU per request (loadgen's report), then a summary
# with the fraud system as a ratio to its floor. FLOOR=0 skips the floor runs.
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
# simulated time 100,000 times faster (RATE then only names the files); GCTRACE=1 adds
# GODEBUG=gctrace=1 to the stream process (its log then has one line per collection).
# The exit status is loadgen's SLO verdict on the fraud system's runs (not the floor's).
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-embedded}
rates=${2:-20000}
duration=${3:-30s}
workers=${4:-2000}
out=${OUT:-/tmp/fraud-e2e}
case $mode in embedded | containers) ;; *)
	echo "usage: $0 [embedded|containers] [RATES] [DURATION] [WORKERS]" >&2
	exit 2
	;;
esac
mkdir -p "$out"
go build -o "$out/fraud" ./fraud/cmd/fraud
go build -o "$out/loadgen" ./loadgen/cmd/loadgen

pids=() containers=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
	pids=() containers=()
}
trap cleanup EXIT

nats_port=${NATS_PORT:-14222}
metrics=127.0.0.1:${METRICS_PORT:-19464}
hz=$(getconf CLK_TCK)
if [ "$mode" = containers ]; then
	# On real engines `fraud stream` needs a PII key; loadgen must tokenize under the same one.
	CASEBOOK_PII_KEY=${CASEBOOK_PII_KEY:-v1:$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')}
	export CASEBOOK_PII_KEY
fi

# cpu_ticks PID: user + system time of a process so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# decisions: the decision events the stream has published (new ones, as the log stored them).
decisions() { curl -s "http://$metrics/metrics" | awk '/^casebook_fraud_decision_events_total\{outcome="new"\}/ {print $2}'; }

summary=()
status=0
# run KIND RATE: one fresh stream process (KIND fraud or noop) under one loadgen run.
run() {
	local kind=$1 rate=$2 stream_args=() extra=()
	case $mode in
	embedded) stream_args=(--nats embedded --port "$nats_port" --store memory) ;;
	containers)
		local redis_port=${REDIS_PORT:-16379} n r
		n=$(docker run -d --rm --network host casebook/nats:local -js -p "$nats_port" -sd /tmp/js)
		r=$(docker run -d --rm --network host casebook/redis:local --port "$redis_port" --save "" --appendonly no)
		containers+=("$n" "$r")
		for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && (echo >"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break; sleep 0.1; done
		stream_args=(--nats "nats://127.0.0.1:$nats_port" --store "redis://127.0.0.1:$redis_port")
		;;
	esac
	[ "$kind" = noop ] && extra=(--noop)
	local log="$out/stream-$mode-$kind-$rate.log" env=()
	[ "${GCTRACE:-0}" = 1 ] && env=(GODEBUG=gctrace=1)
	# shellcheck disable=SC2086
	env "${env[@]}" "$out/fraud" stream "${stream_args[@]}" "${extra[@]}" --metrics "$metrics" ${STREAM_FLAGS:-} >"$log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	for _ in $(seq $((${READY_TIMEOUT:-900} * 2))); do grep -q "^ready" "$log" && break; sleep 0.5; done
	grep -q '^ready' "$log" || { echo "fraud stream did not become ready:" >&2; cat "$log" >&2; exit 1; }
	cat "$log"
	echo "=== $mode, $kind: $rate tx/s for $duration (schedule ${SCHEDULE:-constant}), $workers workers; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
	local c0 d0 c1 d1 rc=0 load0 json="$out/e2e-$mode-$kind-$rate.json"
	load0=$(cut -d' ' -f1 /proc/loadavg)
	c0=$(cpu_ticks "$pid") d0=$(decisions)
	"$out/loadgen" run --target "nats://127.0.0.1:$nats_port" --workload "${WORKLOAD:-fraud}" --rate "$rate" --schedule "${SCHEDULE:-constant}" --duration "$duration" \
		--workers "$workers" --tick "${TICK:-1ms}" --progress 10s --json "$json" --html "$out/e2e-$mode-$kind-$rate.html" \
		--slo "p99<${SLO_P99:-25ms}" --slo 'rate>=99%' --slo 'errors<0.1%' || rc=$?
	c1=$(cpu_ticks "$pid") d1=$(decisions)
	curl -s "http://$metrics/metrics" | grep -E '^casebook_fraud_(decisions_total|decision_events_total|feature_store_errors_total|decision_lag_seconds_(sum|count))' || true
	local line
	line=$(jq -r --arg kind "$kind" --argjson ticks "$((c1 - c0))" --argjson hz "$hz" --argjson dec "$((${d1%.*} - ${d0%.*}))" --arg load "$load0 → $(cut -d' ' -f1 /proc/loadavg)" '
		[$kind, (.achieved_rate | round), .corrected.p50_ms, .corrected.p99_ms, ($ticks / $hz), $dec,
		 (if $dec > 0 then ($ticks / $hz * 1e6 / $dec) else 0 end), ($ticks / $hz / .elapsed_s),
		 (.generator_cpu_s // 0), (if .sent > 0 then ((.generator_cpu_s // 0) * 1e6 / .sent) else 0 end), $load]
		| "\(.[0]) \(.[1]) \(.[2]*100|round/100) \(.[3]*100|round/100) \(.[4]) \(.[5]) \(.[6]*10|round/10) \(.[7]*100|round/100) \(.[8]*100|round/100) \(.[9]*10|round/10) \(.[10])"' "$json")
	echo "cpu: stream $(awk -v t=$((c1 - c0)) -v h="$hz" 'BEGIN{print t/h}') s for $((${d1%.*} - ${d0%.*})) decisions; summary fields: $line"
	summary+=("$rate $line")
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	cleanup
	[ "$kind" = fraud ] && [ "$rc" -ne 0 ] && status=$rc
	return 0
}

for rate in ${rates//,/ }; do
	[ "${FLOOR:-1}" = 1 ] && run noop "$rate"
	run fraud "$rate"
done

echo
echo "=== summary ($mode, $duration, schedule ${SCHEDULE:-constant}); stream CPU = scorer + event log server when embedded"
printf '%-7s %-6s %-9s %-9s %-9s %-13s %-11s %-13s %-11s %-14s %s\n' rate run achieved p50_ms p99_ms stream_cpu_s decisions us_per_decision stream_cores loadgen_us_req load
for s in "${summary[@]}"; do
	read -r rate kind ach p50 p99 cpu dec us cores gcpu gus load <<<"$s"
	printf '%-7s %-6s %-9s %-9s %-9s %-13s %-11s %-13s %-11s %-14s %s\n' "$rate" "$kind" "$ach" "$p50" "$p99" "$cpu" "$dec" "$us" "$cores" "$gus" "$load"
done
# The fraud system as a ratio to the floor of the same rate.
declare -A fp99 fus
for s in "${summary[@]}"; do
	read -r rate kind _ _ p99 _ _ us _ _ _ <<<"$s"
	[ "$kind" = noop ] && { fp99[$rate]=$p99; fus[$rate]=$us; continue; }
	if [ -n "${fus[$rate]:-}" ]; then
		awk -v r="$rate" -v p="$p99" -v fp="${fp99[$rate]}" -v u="$us" -v fu="${fus[$rate]}" \
			'BEGIN{printf "%s/s: fraud over floor: CPU per decision %.1f / %.1f µs = %.2f×, p99 %.2f / %.2f ms = %.2f×\n", r, u, fu, (fu>0?u/fu:0), p, fp, (fp>0?p/fp:0)}'
	fi
done
exit $status
