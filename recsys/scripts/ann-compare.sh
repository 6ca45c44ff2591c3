#!/usr/bin/env bash
# ann-compare.sh: compare the recommender's HNSW (recsys/internal/ann) with hnswlib, the
# reference C++ implementation, on identical vectors, one core each.
#
#   recsys/scripts/ann-compare.sh            # 100k x 64, clustered and uniform
#   N=20000 DATASETS=clustered recsys/scripts/ann-compare.sh   # a quicker look
#
# For each data set, annbench (recsys/internal/ann/cmd/annbench) generates the vectors and
# 1,000 queries, computes the exact top 10, writes all three as raw little-endian files,
# builds our HNSW (M 16, EfConstruction 200) and times it at each ef with GOMAXPROCS=1;
# then ann_hnswlib.py builds hnswlib on the same files (M 16, ef_construction 200,
# set_num_threads(1)) and times it at each ef. The table at the end gives recall@10, QPS by
# wall clock and by process CPU time, and our QPS as a ratio of hnswlib's at the same
# recall. The runs are sequential, never side by side, so the two never share the cores;
# on a machine that others are using, read the CPU-time columns.
#
# Needs Go and Debian's python3-hnswlib and python3-numpy
# (apt-get update && apt-get install -y python3-hnswlib python3-numpy).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
module=$(cd "$here/.." && pwd)
py=${PYTHON:-/usr/bin/python3}
n=${N:-100000}
dim=${DIM:-64}
queries=${QUERIES:-1000}
datasets=${DATASETS:-clustered uniform}
efs_ours=${EFS_OURS:-16,24,32,48,64,100,128,256,400}
efs_ref=${EFS_REF:-10,16,20,32,50,64,100,128,200,256,400,600}
min_time=${MIN_TIME:-2}
out=${OUT:-$(mktemp -d /tmp/ann-compare.XXXXXX)}

if ! "$py" -c 'import hnswlib, numpy' 2>/dev/null; then
	echo "ann-compare: $py cannot import hnswlib and numpy;" \
		"run: apt-get update && apt-get install -y python3-hnswlib python3-numpy" >&2
	exit 1
fi

mkdir -p "$out"
(cd "$module" && go build -o "$out/annbench" ./internal/ann/cmd/annbench)
echo "ann-compare: results in $out; load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

for data in $datasets; do
	coder=false
	[ "$data" = clustered ] && coder=${CODER:-true}
	echo "ann-compare: $data: ours (annbench, GOMAXPROCS=1)" >&2
	"$out/annbench" -data "$data" -n "$n" -dim "$dim" -queries "$queries" \
		-ef "$efs_ours" -min-time "${min_time}s" -out "$out/$data" -coder="$coder" \
		-procs 1 >"$out/ours-$data.jsonl"
	echo "ann-compare: $data: hnswlib (1 thread)" >&2
	"$py" "$here/ann_hnswlib.py" run "$out/$data" --data "$data" --ef "$efs_ref" \
		--min-time "$min_time" >"$out/hnswlib-$data.jsonl"
	rm -f "$out/$data"/*.f32 "$out/$data"/*.i32
done

echo "ann-compare: load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$py" "$here/ann_hnswlib.py" table "$out"/ours-*.jsonl "$out"/hnswlib-*.jsonl
