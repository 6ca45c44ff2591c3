#!/usr/bin/env bash
# Replays a transaction CSV in the handbook's layout (the published dataset, or one written by
# `fraud simulate`) through the streaming system at its event times, SPEEDUP times faster,
# then prints the streaming decisions' quality beside the batch protocol's on the same test
# transactions:
#
#   fraud/scripts/replay-csv.sh FILE [SPEEDUP] [START]
#
# `fraud stream --csv FILE --start START` trains on the file's days before START - 7 and warms
# its features with every day before START; `loadgen run --workload
# fraud:csv=FILE,start=START,speedup=SPEEDUP` publishes the transactions from day START on
# at their TX_DATETIME / SPEEDUP, and each fraud's chargeback (from TX_FRAUD) 7 days later,
# and waits for every decision; `fraud compare` runs the batch protocol (`fraud eval`'s) on
# the file and measures the stream's model scores and each batch model's on the protocol's
# test days (after known-card removal), on the transactions the stream decided by its model.
# The stream's own online quality (/metrics, casebook_monitoring_online_quality) is printed too.
#
# Defaults: SPEEDUP 100000 (a simulated day in under a second), START 60. Env: OUT (default
# /tmp/fraud-replay) gets the binaries and logs; NATS_PORT (14223), METRICS (127.0.0.1:19465).
set -euo pipefail
cd "$(dirname "$0")/../.."
csv=${1:?usage: $0 FILE [SPEEDUP] [START]}
speedup=${2:-100000}
start=${3:-60}
out=${OUT:-/tmp/fraud-replay}
nats_port=${NATS_PORT:-14223}
metrics=${METRICS:-127.0.0.1:19465}
mkdir -p "$out"
go build -o "$out/fraud" ./fraud/cmd/fraud
go build -o "$out/loadgen" ./loadgen/cmd/loadgen

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

"$out/fraud" stream --csv "$csv" --start "$start" --nats embedded --port "$nats_port" --metrics "$metrics" --progress 10s >"$out/stream.log" 2>&1 &
pids+=($!)
for _ in $(seq 1200); do grep -q '^ready' "$out/stream.log" && break; kill -0 "${pids[0]}" 2>/dev/null || break; sleep 0.5; done
grep -q '^ready' "$out/stream.log" || { echo "fraud stream did not become ready:" >&2; cat "$out/stream.log" >&2; exit 1; }
cat "$out/stream.log"

# The replay takes the live span (the last transaction plus the 7-day label delay) / SPEEDUP.
# The send window is twice that and 30 s more: on a machine that cannot keep up, requests
# queue in the generator, and only those still queued when the window closes go unsent
# (the report's "not sent"; compare then counts their transactions as not decided).
duration=$(awk -F, -v start="$start" -v speedup="$speedup" '
	NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "TX_TIME_SECONDS") s = i; if ($i == "TX_TIME_DAYS") d = i }; next }
	$d >= start { if (lo == "" || $s < lo) lo = $s; if ($s > hi) hi = $s }
	END { if (lo == "") { print "0"; exit }; printf "%ds", 2 * int((hi - lo + 7 * 86400) / speedup) + 30 }' "$csv")
[ "$duration" != 0 ] || { echo "$csv has no transactions from day $start on" >&2; exit 1; }
echo "=== replaying $csv from day $start at ${speedup}x for $duration; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$out/loadgen" run --target "nats://127.0.0.1:$nats_port" --workload "fraud:csv=$csv,start=$start,speedup=$speedup" --duration "$duration" \
	--workers 2000 --progress 10s --timeout 30s --json "$out/replay.json"
sleep 2 # one export period of the online quality
echo "=== the stream's own online quality (/metrics)"
curl -s "http://$metrics/metrics" | grep -E '^casebook_monitoring_online_quality\{' || true
echo "=== the stream's decisions beside the batch protocol, same transactions"
"$out/fraud" compare --csv "$csv" --nats "nats://127.0.0.1:$nats_port"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
