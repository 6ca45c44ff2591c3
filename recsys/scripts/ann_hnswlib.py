#!/usr/bin/python3
"""Measure hnswlib (the reference C++ HNSW, Debian's python3-hnswlib) on the vectors that
recsys/internal/ann/cmd/annbench wrote, and print a comparison table.

  ann_hnswlib.py run DIR --data NAME --ef 16,32,... [--m 16 --efc 200 --min-time 2]
      builds an hnswlib index (cosine, one thread) over DIR/base.f32, searches
      DIR/queries.f32 at each ef and prints one JSON line per ef (same fields as annbench):
      recall@k against DIR/truth.i32 (exact top k from the Go program), queries per second
      by wall clock and by process CPU time.
  ann_hnswlib.py table FILE...
      reads JSON lines from annbench and from `run` and prints, per data set and ef, recall
      and QPS for both, and our QPS as a ratio of hnswlib's at the same recall
      (hnswlib's QPS interpolated along its recall/QPS Pareto frontier).

QPS is the best of five timed rounds (by wall clock, and separately by process CPU time).

File formats (little-endian): vectors "CBVF", uint32 rows, uint32 dim, rows*dim float32;
truth "CBGT", uint32 rows, uint32 k, rows*k int32 ids.
"""

import argparse
import json
import math
import sys
import time


ROUNDS = 5


def read_matrix(path, magic, dtype):
    import numpy as np

    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) != 12 or head[:4] != magic:
            sys.exit(f"{path}: not a {magic.decode()} file")
        rows, cols = np.frombuffer(head[4:], dtype="<u4")
        body = np.fromfile(f, dtype=dtype)
    if body.size != rows * cols:
        sys.exit(f"{path}: {body.size} values, header says {rows}x{cols}")
    return body.reshape(int(rows), int(cols))


def run(args):
    import hnswlib
    import numpy as np

    base = read_matrix(f"{args.dir}/base.f32", b"CBVF", "<f4")
    queries = read_matrix(f"{args.dir}/queries.f32", b"CBVF", "<f4")
    truth = read_matrix(f"{args.dir}/truth.i32", b"CBGT", "<i4")
    n, dim = base.shape
    k = truth.shape[1]

    index = hnswlib.Index(space="cosine", dim=dim)
    index.init_index(max_elements=n, ef_construction=args.efc, M=args.m, random_seed=100)
    index.set_num_threads(1)
    wall, cpu = time.perf_counter(), time.process_time()
    index.add_items(base, np.arange(n), num_threads=1)
    build, build_cpu = time.perf_counter() - wall, time.process_time() - cpu

    for ef in [int(e) for e in args.ef.split(",")]:
        index.set_ef(ef)
        labels, _ = index.knn_query(queries, k=k, num_threads=1)
        hits = sum(len(set(labels[i]) & set(truth[i])) for i in range(len(queries)))
        recall = hits / (len(queries) * k)
        # Best of ROUNDS rounds, as annbench does: on a shared machine other work only
        # ever slows a round down.
        qps = cpu_qps = 0.0
        for _ in range(ROUNDS):
            done = 0
            wall, cpu = time.perf_counter(), time.process_time()
            while time.perf_counter() - wall < args.min_time / ROUNDS:
                index.knn_query(queries, k=k, num_threads=1)
                done += len(queries)
            el, cel = time.perf_counter() - wall, time.process_time() - cpu
            qps = max(qps, done / el)
            cpu_qps = max(cpu_qps, done / cel) if cel > 0 else cpu_qps
        print(json.dumps({
            "impl": "hnswlib", "data": args.data, "n": n, "dim": dim, "ef": ef,
            "recall": recall, "qps": qps, "cpu_qps": cpu_qps,
            "build_s": build, "build_cpu_s": build_cpu, "procs": 1,
        }), flush=True)


def at_recall(curve, r):
    """hnswlib's QPS at recall r: along its Pareto frontier (points that no other point
    beats on both recall and QPS), interpolating log(QPS) linearly in recall. None when r
    lies outside the recalls the frontier spans."""
    pts = [(c["recall"], c["qps"]) for c in curve]
    front = sorted({p for p in pts if not any(o != p and o[0] >= p[0] and o[1] >= p[1] for o in pts)})
    for rr, q in front:
        if abs(rr - r) < 1e-9:
            return q
    for (r0, q0), (r1, q1) in zip(front, front[1:]):
        if r0 < r < r1:
            t = (r - r0) / (r1 - r0)
            return math.exp(math.log(q0) + t * (math.log(q1) - math.log(q0)))
    return None


def table(args):
    rows = []
    for path in args.files:
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.startswith("{")]
    for data in sorted({r["data"] for r in rows}):
        sel = [r for r in rows if r["data"] == data]
        ours = sorted((r for r in sel if r["impl"] == "ours"), key=lambda r: r["ef"])
        ref = sorted((r for r in sel if r["impl"] == "hnswlib"), key=lambda r: r["ef"])
        exact = [r for r in sel if r["impl"] == "exact"]
        coder = [r for r in sel if r["impl"] == "coder"]
        n, dim = sel[0]["n"], sel[0]["dim"]
        print(f"\n## {data}: {n} x {dim}, cosine, recall@10 on the Go program's exact top 10, one core")
        if exact:
            e = exact[0]
            print(f"exact search: {e['qps']:.0f} QPS (CPU-time {e['cpu_qps']:.0f})")
        for r in ours[:1] + ref[:1]:
            print(f"{r['impl']} build: {r['build_s']:.1f} s wall, {r['build_cpu_s']:.1f} s CPU"
                  + (f", {r['bytes_per_vector']:.0f} B/vector" if "bytes_per_vector" in r else ""))
        for c in coder:
            print(f"coder/hnsw: recall {c['recall']:.3f}, {c['qps']:.0f} QPS, build {c['build_s']:.1f} s")
        print()
        print("| who | ef | recall@10 | QPS | CPU-time QPS | hnswlib QPS at that recall | ratio (wall) | ratio (CPU) | x exact |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in ref:
            xe = f"{r['qps'] / exact[0]['qps']:.1f}" if exact else ""
            print(f"| hnswlib | {r['ef']} | {r['recall']:.4f} | {r['qps']:.0f} | {r['cpu_qps']:.0f} | | | | {xe} |")
        for r in ours:
            q = at_recall(ref, r["recall"])
            qc = at_recall([dict(recall=x["recall"], qps=x["cpu_qps"]) for x in ref], r["recall"])
            ratio = f"{r['qps'] / q:.2f}" if q else "n/a"
            ratio_c = f"{r['cpu_qps'] / qc:.2f}" if qc else "n/a"
            qs = f"{q:.0f}" if q else "outside its range"
            xe = f"{r['qps'] / exact[0]['qps']:.1f}" if exact else ""
            print(f"| ours | {r['ef']} | {r['recall']:.4f} | {r['qps']:.0f} | {r['cpu_qps']:.0f} | {qs} | {ratio} | {ratio_c} | {xe} |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("dir")
    r.add_argument("--data", required=True)
    r.add_argument("--ef", default="10,16,20,32,50,64,100,128,200,256,400,600")
    r.add_argument("--m", type=int, default=16)
    r.add_argument("--efc", type=int, default=200)
    r.add_argument("--min-time", type=float, default=2.0)
    t = sub.add_parser("table")
    t.add_argument("files", nargs="+")
    args = p.parse_args()
    run(args) if args.cmd == "run" else table(args)


if __name__ == "__main__":
    main()
