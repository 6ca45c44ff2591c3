#!/usr/bin/env bash
# demo-busy.sh: run `make demo` on a machine made busy on purpose.
#
# It starts HOGS busy loops (default: one per core), runs `make demo` (or the command given
# as arguments), and always stops the loops it started, whatever happens to the demo. A
# newcomer's laptop is often busy with other builds; the demo's checks about correctness must
# not depend on timing, and its checks about timing are stated against floors measured in the
# same run, so the demo must pass here as it does on a quiet machine.
#
#   scripts/demo-busy.sh                 # one busy loop per core, then make demo
#   HOGS=4 scripts/demo-busy.sh          # four busy loops
#   scripts/demo-busy.sh go run ./platform/cmd/mlp scenario run serving/rollouts
#
# The exit status is the demo's. The script prints the load average before and after and the
# demo's wall time.
set -euo pipefail

cd "$(dirname "$0")/.."

cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc 2>/dev/null || echo 2)
HOGS=${HOGS:-$cores}
case $HOGS in
  ''|*[!0-9]*) echo "demo-busy: HOGS must be a number of busy loops, got '$HOGS'" >&2; exit 2 ;;
esac

if [ $# -eq 0 ]; then
  set -- make demo
fi

pids=()
stop_hogs() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  pids=()
}
trap stop_hogs EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A busy loop in the shell itself: no process of its own beyond a subshell, so the pid we
# record is the one that burns the CPU, and killing it stops it.
for _ in $(seq 1 "$HOGS"); do
  ( while :; do :; done ) &
  pids+=("$!")
done

load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime; }

echo "demo-busy: $HOGS busy loop(s) on $cores core(s) (pids ${pids[*]}); load average $(load)"
echo "demo-busy: running: $*"
start=$(date +%s)
status=0
"$@" || status=$?
end=$(date +%s)
echo
echo "demo-busy: '$*' exited $status after $((end - start)) s; load average $(load)"
exit "$status"
