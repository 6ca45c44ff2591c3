#!/usr/bin/env bash
# End-to-end serving benchmark with the load generator on the same machine:
#   bench-loadgen.sh [RATE] [DURATION] [MODEL] [extra mlp serve flags...]
# Builds mlp and loadgen, starts `mlp serve --demo` on a fresh registry in a temporary
# directory, and drives POST /v2/models/MODEL/infer with Open Inference Protocol requests
# of 15 FP32 features at RATE requests per second. Prints the load average beside the
# numbers. Defaults: 5000 req/s, 10s, demo-lr (logistic regression).
set -euo pipefail
rate=${1:-5000}
duration=${2:-10s}
model=${3:-demo-lr}
shift $(( $# < 3 ? $# : 3 ))
root=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d)
trap 'kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; rm -rf "$work"' EXIT
(cd "$root/platform" && go build -o "$work/mlp" ./cmd/mlp)
(cd "$root/loadgen" && go build -o "$work/loadgen" ./cmd/loadgen)
port=$(( 20000 + RANDOM % 20000 ))
"$work/mlp" serve --demo --dir "$work/registry" --addr "127.0.0.1:$port" --sla 100ms "$@" >"$work/serve.log" 2>&1 &
srv=$!
for _ in $(seq 1 200); do
  curl -fs "http://127.0.0.1:$port/v2/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
cat "$work/serve.log"
echo "load before: $(uptime)"
"$work/loadgen" run --target "http://127.0.0.1:$port/v2/models/$model/infer" --workload oip:15 \
  --rate "$rate" --duration "$duration" --slo 'p99<2ms' --progress 0 || true
echo "load after: $(uptime)"
curl -fs "http://127.0.0.1:$port/metrics" | grep -E '^casebook_serving_requests_total|^casebook_serving_batch_rows_(sum|count)' || true
