package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/casebook-ml/casebook/platform/cputime"

	"github.com/casebook-ml/casebook/recsys/internal/ann"
)

type config struct {
	Data       string
	N, Dim     int
	Queries, K int
	Seed       uint64
	Clusters   int
	Spread     float64
	Efs        []int
	HNSW       ann.HNSWConfig
	Out        string
	Procs      int
	Exact      bool
	Coder      bool
	MinTime    time.Duration
	CPUProfile string
}

// result is one JSON line.
type result struct {
	Impl           string  `json:"impl"`
	Data           string  `json:"data"`
	N              int     `json:"n"`
	Dim            int     `json:"dim"`
	Ef             int     `json:"ef,omitempty"`
	Recall         float64 `json:"recall"`
	QPS            float64 `json:"qps"`
	CPUQPS         float64 `json:"cpu_qps"`
	BuildSeconds   float64 `json:"build_s,omitempty"`
	BuildCPU       float64 `json:"build_cpu_s,omitempty"`
	BytesPerVector float64 `json:"bytes_per_vector,omitempty"`
	Procs          int     `json:"procs"`
}

func run(ctx context.Context, cfg config, stdout io.Writer) error {
	all, err := generate(cfg)
	if err != nil {
		return err
	}
	data, queries := all[:cfg.N], all[cfg.N:]
	enc := json.NewEncoder(stdout)

	exact, err := ann.NewExact(cfg.Dim)
	if err != nil {
		return err
	}
	for i, v := range data {
		if err := exact.Add(int64(i), v); err != nil {
			return err
		}
	}
	truth, err := ann.GroundTruth(ctx, exact, queries, cfg.K)
	if err != nil {
		return err
	}
	if cfg.Out != "" {
		if err := writeFiles(cfg.Out, data, queries, truth, cfg.K); err != nil {
			return err
		}
	}
	base := result{Data: cfg.Data, N: cfg.N, Dim: cfg.Dim, Procs: cfg.Procs}
	if cfg.Exact {
		r := base
		r.Impl = "exact"
		r.BytesPerVector = float64(exact.MemoryBytes()) / float64(exact.Len())
		if r.Recall, r.QPS, r.CPUQPS, err = measure(ctx, exact, truth, queries, cfg); err != nil {
			return err
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
	}

	h, err := ann.NewHNSW(cfg.Dim, cfg.HNSW)
	if err != nil {
		return err
	}
	wall, cpu := time.Now(), cputime.Process()
	for i, v := range data {
		if err := h.Add(int64(i), v); err != nil {
			return err
		}
		if i%10000 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	build, buildCPU := time.Since(wall), cputime.Process()-cpu
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	for _, ef := range cfg.Efs {
		r := base
		r.Impl, r.Ef = "ours", ef
		r.BuildSeconds, r.BuildCPU = build.Seconds(), buildCPU.Seconds()
		r.BytesPerVector = float64(h.MemoryBytes()) / float64(h.Len())
		if r.Recall, r.QPS, r.CPUQPS, err = measure(ctx, efSearcher{h, ef}, truth, queries, cfg); err != nil {
			return err
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
	}

	if cfg.Coder {
		c, err := ann.NewCoder(cfg.Dim, ann.DefaultCoderConfig())
		if err != nil {
			return err
		}
		wall, cpu := time.Now(), cputime.Process()
		for i, v := range data {
			if err := c.Add(int64(i), v); err != nil {
				return err
			}
		}
		r := base
		r.Impl = "coder"
		r.BuildSeconds, r.BuildCPU = time.Since(wall).Seconds(), (cputime.Process() - cpu).Seconds()
		if r.Recall, r.QPS, r.CPUQPS, err = measure(ctx, c, truth, queries, cfg); err != nil {
			return err
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

func generate(cfg config) ([][]float32, error) {
	switch cfg.Data {
	case "clustered":
		return ann.Clustered(cfg.N+cfg.Queries, cfg.Dim, cfg.Clusters, cfg.Spread, cfg.Seed)
	case "uniform":
		return ann.Uniform(cfg.N+cfg.Queries, cfg.Dim, cfg.Seed)
	}
	return nil, fmt.Errorf("-data %q: want clustered or uniform", cfg.Data)
}

// efSearcher searches an HNSW at a fixed ef.
type efSearcher struct {
	*ann.HNSW
	ef int
}

func (e efSearcher) Search(q []float32, k int, dst []ann.Result) []ann.Result {
	return e.SearchEf(q, k, e.ef, dst)
}

// rounds is how many times each setting is timed; the best round is reported, since on a
// shared machine other work only ever slows a round down.
const rounds = 5

// measure is recall@k over the queries, then queries per second, by wall clock and by CPU
// time: the best of rounds rounds, each of whole passes over the queries lasting at least
// cfg.MinTime/rounds.
func measure(ctx context.Context, idx ann.Index, truth [][]ann.Result, queries [][]float32, cfg config) (recall, qps, cpuQPS float64, err error) {
	recall, err = ann.RecallAgainst(ctx, idx, truth, queries, cfg.K)
	if err != nil {
		return 0, 0, 0, err
	}
	dst := make([]ann.Result, 0, cfg.K)
	for range rounds {
		done := 0
		wall, cpu := time.Now(), cputime.Process()
		for time.Since(wall) < cfg.MinTime/rounds {
			if err := ctx.Err(); err != nil {
				return 0, 0, 0, err
			}
			for _, q := range queries {
				dst = idx.Search(q, cfg.K, dst[:0])
			}
			done += len(queries)
		}
		el, cel := time.Since(wall), cputime.Process()-cpu
		qps = max(qps, float64(done)/el.Seconds())
		if cel > 0 {
			cpuQPS = max(cpuQPS, float64(done)/cel.Seconds())
		}
	}
	return recall, qps, cpuQPS, nil
}

func writeFiles(dir string, data, queries [][]float32, truth [][]ann.Result, k int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeVectors(filepath.Join(dir, "base.f32"), data); err != nil {
		return err
	}
	if err := writeVectors(filepath.Join(dir, "queries.f32"), queries); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "truth.i32"), func(w *bufio.Writer) error {
		hdr := binary.LittleEndian.AppendUint32([]byte("CBGT"), uint32(len(truth)))
		hdr = binary.LittleEndian.AppendUint32(hdr, uint32(k))
		w.Write(hdr)
		var b [4]byte
		for i, row := range truth {
			if len(row) != k {
				return fmt.Errorf("query %d has %d exact neighbours, want %d", i, len(row), k)
			}
			for _, r := range row {
				binary.LittleEndian.PutUint32(b[:], uint32(r.ID))
				w.Write(b[:])
			}
		}
		return nil
	})
}

func writeVectors(path string, rows [][]float32) error {
	return writeFile(path, func(w *bufio.Writer) error {
		hdr := binary.LittleEndian.AppendUint32([]byte("CBVF"), uint32(len(rows)))
		hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(rows[0])))
		w.Write(hdr)
		var b [4]byte
		for _, v := range rows {
			for _, f := range v {
				binary.LittleEndian.PutUint32(b[:], math.Float32bits(f))
				w.Write(b[:])
			}
		}
		return nil
	})
}

// writeFile writes path through a buffer; bufio keeps the first write error, returned by
// Flush.
func writeFile(path string, fill func(*bufio.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := fill(w); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
