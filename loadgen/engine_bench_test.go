package loadgen_test

import (
	"context"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/loadgen"
	"github.com/casebook-ml/casebook/loadgen/httptarget"
	"github.com/casebook-ml/casebook/loadgen/loadgentest"
)

// BenchmarkEngineHTTP drives an in-process trivial HTTP server on loopback for b.N requests
// and reports throughput and the latency the engine measured: the floor of generator and
// server together on this machine. "open-10k" paces at 10,000 requests/s (so ns/op is just
// the schedule's 100 µs gap; read p50-ns and p99-ns); "closed-8" runs 8 closed-loop users
// flat out, so req/s is what generator and server manage together on two cores. The
// one-core, separate-process measurement is scripts/bench-onecore.sh (docs/benchmarks.md).
func BenchmarkEngineHTTP(b *testing.B) {
	srv, err := loadgentest.Start("127.0.0.1:0", loadgentest.TrivialHandler())
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	open := loadgen.DefaultConfig()
	open.Schedule = loadgen.Schedule{Profile: loadgen.Constant{PerSecond: 10000}}
	closed := loadgen.DefaultConfig()
	closed.Mode, closed.Users = loadgen.Closed, 8
	for _, bc := range []struct {
		name string
		cfg  loadgen.Config
	}{{"open-10k", open}, {"closed-8", closed}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := bc.cfg
			cfg.Duration = loadgen.MaxDuration
			cfg.MaxRequests = int64(max(b.N, 1))
			cfg.ProgressEvery = 0
			tcfg := httptarget.DefaultConfig()
			tcfg.URL = srv.URL + "/score"
			tcfg.MaxConns = max(cfg.Workers, cfg.Users)
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
			lat := rep.Corrected
			b.ReportMetric(float64(rep.Sent)/el.Seconds(), "req/s")
			b.ReportMetric(lat.P50Ms*1e6, "p50-ns")
			b.ReportMetric(lat.P99Ms*1e6, "p99-ns")
			b.ReportMetric(lat.P999Ms*1e6, "p99.9-ns")
		})
	}
}
