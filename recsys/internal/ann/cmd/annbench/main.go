// Command annbench measures the ann package's HNSW (and Exact, and optionally the
// coder/hnsw adapter) on generated vectors, single core, and writes the same vectors, the
// queries and the exact top k as raw little-endian files so that another implementation
// (recsys/scripts/ann_hnswlib.py runs hnswlib) can be measured on identical data.
//
// Each result is one JSON line on stdout: recall@k against exact search, queries per
// second by the wall clock and by process CPU time (the best of five timed rounds: the
// machine may be shared, and other work only ever slows a round down), build seconds and
// bytes per vector.
//
// Files written with -out DIR: base.f32 and queries.f32 ("CBVF", uint32 rows, uint32 dim,
// then rows×dim float32) and truth.i32 ("CBGT", uint32 rows, uint32 k, then rows×k int32
// ids, nearest first; an id is the row number in base.f32).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/casebook-ml/casebook/platform/cli"
	"github.com/casebook-ml/casebook/recsys/internal/ann"
)

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		os.Exit(cli.Exit("annbench", err, os.Stdout, os.Stderr))
	}
	runtime.GOMAXPROCS(cfg.Procs)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "annbench:", err)
		if errors.Is(err, context.Canceled) {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	def := ann.DefaultHNSWConfig()
	var cfg config
	var efs string
	fs := flag.NewFlagSet("annbench", flag.ContinueOnError)
	fs.StringVar(&cfg.Data, "data", "clustered", "data set: clustered or uniform")
	fs.IntVar(&cfg.N, "n", 100000, "vectors in the index")
	fs.IntVar(&cfg.Dim, "dim", 64, "vector width")
	fs.IntVar(&cfg.Queries, "queries", 1000, "queries, drawn from the same distribution")
	fs.IntVar(&cfg.K, "k", 10, "neighbours per query (recall@k)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "data seed")
	fs.IntVar(&cfg.Clusters, "clusters", ann.DefaultClusters, "clusters (clustered data)")
	fs.Float64Var(&cfg.Spread, "spread", ann.DefaultSpread, "per-component spread around a centre (clustered data)")
	fs.StringVar(&efs, "ef", "16,32,64,128,256,400", "comma-separated search beam widths")
	fs.IntVar(&cfg.HNSW.M, "m", def.M, "HNSW M")
	fs.IntVar(&cfg.HNSW.EfConstruction, "efc", def.EfConstruction, "HNSW EfConstruction")
	fs.BoolVar(&cfg.HNSW.KeepPrunedConnections, "keep-pruned", def.KeepPrunedConnections, "HNSW KeepPrunedConnections")
	fs.Uint64Var(&cfg.HNSW.Seed, "index-seed", def.Seed, "HNSW level seed")
	fs.StringVar(&cfg.Out, "out", "", "directory to write base.f32, queries.f32 and truth.i32 into (none if empty)")
	fs.IntVar(&cfg.Procs, "procs", 1, "GOMAXPROCS")
	fs.BoolVar(&cfg.Exact, "exact", true, "also time exact search")
	fs.BoolVar(&cfg.Coder, "coder", false, "also build and time the coder/hnsw adapter")
	fs.DurationVar(&cfg.MinTime, "min-time", 2e9, "least time to spend timing each setting")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the HNSW searches here")
	if err := cli.Parse(fs, "annbench [flags]\n  measures HNSW recall and throughput on generated vectors; one JSON line per setting", args); err != nil {
		return cfg, err
	}
	for _, f := range strings.Split(efs, ",") {
		ef, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || ef < 1 {
			return cfg, cli.Usage("", "-ef %q: want positive integers", efs)
		}
		cfg.Efs = append(cfg.Efs, ef)
	}
	cfg.HNSW.EfSearch = def.EfSearch
	cfg.HNSW.InitialCapacity = cfg.N
	if cfg.Procs < 1 {
		return cfg, cli.Usage("", "-procs %d: want ≥ 1", cfg.Procs)
	}
	if err := cfg.HNSW.Validate(); err != nil {
		return cfg, cli.Usage("", "%v", err)
	}
	return cfg, nil
}
