package loadgen_test

import (
	"context"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/loadgen"
	"github.com/casebook-ml/casebook/loadgen/httptarget"
	"github.com/casebook-ml/casebook/loadgen/loadgentest"
)

// BenchmarkEngineHTTP drives an in-process trivial HTTP server open-loop at 10,000
// requests/s for b.N requests and reports the generator's throughput and the corrected
// latency percentiles it measured: the floor of this machine, generator and server together.
// For the one-core, separate-process measurement see docs/benchmarks.md.
func BenchmarkEngineHTTP(b *testing.B) {
	srv, err := loadgentest.Start("127.0.0.1:0", loadgentest.TrivialHandler())
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	const rate = 10000
	cfg := loadgen.DefaultConfig()
	cfg.Schedule = loadgen.Schedule{Profile: loadgen.Constant{PerSecond: rate}}
	cfg.Duration = loadgen.MaxDuration
	cfg.MaxRequests = int64(max(b.N, 1))
	tcfg := httptarget.DefaultConfig()
	tcfg.URL = srv.URL + "/score"
	tcfg.MaxConns = cfg.Workers
	tg, err := httptarget.New(context.Background(), tcfg)
	if err != nil {
		b.Fatal(err)
	}
	defer tg.Close()
	e, err := loadgen.New(cfg, tg, loadgen.Fixed{Body: []byte(`{"amount":12.5}`)}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	rep, err := e.Run(context.Background())
	el := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if rep.Failed+rep.NotSent > 0 {
		b.Fatalf("failed %d, not sent %d: %v", rep.Failed, rep.NotSent, rep.Errors)
	}
	b.ReportMetric(float64(rep.Sent)/el.Seconds(), "req/s")
	b.ReportMetric(rep.Corrected.P50Ms*1e6, "p50-ns")
	b.ReportMetric(rep.Corrected.P99Ms*1e6, "p99-ns")
	b.ReportMetric(rep.Uncorrected.P99Ms*1e6, "uncorrected-p99-ns")
}
