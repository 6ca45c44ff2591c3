package serving

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/serving/servingtest"
)

// latencies collects per-request latencies from parallel benchmark goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d...)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B, start time.Time) {
	slices.Sort(l.d)
	if len(l.d) == 0 {
		return
	}
	b.ReportMetric(float64(l.d[len(l.d)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(l.d[len(l.d)*99/100].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(len(l.d))/time.Since(start).Seconds(), "req/s")
}

// benchServer serves "m" (the given model at champion) with the given batching.
func benchServer(b *testing.B, m ml.Model, batch BatchConfig, mutate func(*Config, *ModelConfig)) *Server {
	b.Helper()
	ctx := context.Background()
	reg, err := servingtest.OpenRegistry(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := servingtest.Register(ctx, reg, "m", m, registry.Champion); err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	mc := DefaultModelConfig("m")
	mc.Batch, mc.SLA, mc.FallbackReserve = batch, time.Second, 0
	if mutate != nil {
		mutate(&cfg, &mc)
	}
	cfg.Models = []ModelConfig{mc}
	s, err := New(ctx, reg, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	return s
}

// BenchmarkBatching compares unbatched and dynamically batched serving of a boosted tree
// ensemble (100 trees, depth 6) under the same closed-loop load: 64 concurrent callers,
// one row each, through Server.Infer (everything but HTTP).
func BenchmarkBatching(b *testing.B) {
	ctx := context.Background()
	data := servingtest.Data(20000, 30, 3)
	m, err := servingtest.GBDT(ctx, data.Dataset, 100, 6)
	if err != nil {
		b.Fatal(err)
	}
	remote := func(m ml.Model) ml.Model { return perCallCost{Model: m, cost: 50 * time.Microsecond} }
	for _, tc := range []struct {
		name  string
		wrap  func(ml.Model) ml.Model
		batch BatchConfig
	}{
		{"in-process/unbatched", nil, BatchConfig{MaxBatch: 1, QueueSize: 4096, Workers: 2}},
		{"in-process/batched-64", nil, BatchConfig{MaxBatch: 64, QueueSize: 4096, Workers: 2}},
		{"in-process/batched-64-delay-100us", nil, BatchConfig{MaxBatch: 64, MaxQueueDelay: 100 * time.Microsecond, QueueSize: 4096, Workers: 2}},
		{"50us-per-call/unbatched", remote, BatchConfig{MaxBatch: 1, QueueSize: 4096, Workers: 2}},
		{"50us-per-call/batched-64", remote, BatchConfig{MaxBatch: 64, QueueSize: 4096, Workers: 2}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := benchServer(b, m, tc.batch, func(_ *Config, mc *ModelConfig) { mc.Wrap = tc.wrap })
			var lat latencies
			b.SetParallelism(32)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var ds []time.Duration
				i := 0
				for pb.Next() {
					x := data.X[(i%20000)*30 : (i%20000+1)*30]
					i += 7
					t0 := time.Now()
					res, err := s.Infer(ctx, Request{Model: "m", Decoded: Decoded{Rows: 1, X: x}})
					if err != nil || res.Path != PathPrimary {
						b.Errorf("Infer = %v, %v", res.Path, err)
						return
					}
					ds = append(ds, time.Since(t0))
				}
				lat.add(ds)
			})
			lat.report(b, start)
		})
	}
}

// perCallCost adds a fixed wait to every Predict call, like a model behind an RPC or an
// accelerator kernel launch: the per-call cost that batching amortizes.
type perCallCost struct {
	ml.Model
	cost time.Duration
}

func (p perCallCost) Predict(b ml.Batch, out []float64) error {
	time.Sleep(p.cost)
	return p.Model.Predict(b, out)
}

// BenchmarkOverhead compares one logistic-regression row predicted directly, through
// Server.Infer, and through the HTTP API on loopback (sequential: latency, not throughput).
func BenchmarkOverhead(b *testing.B) {
	ctx := context.Background()
	data := servingtest.Data(5000, 15, 4)
	m, err := servingtest.LogReg(ctx, data.Dataset)
	if err != nil {
		b.Fatal(err)
	}
	row := func(i int) []float64 { return data.X[(i%5000)*15 : (i%5000+1)*15] }
	b.Run("direct-predict", func(b *testing.B) {
		out := make([]float64, 1)
		var lat latencies
		ds := make([]time.Duration, 0, b.N)
		start := time.Now()
		for i := range b.N {
			t0 := time.Now()
			_ = m.Predict(ml.Batch{Schema: m.Schema(), X: row(i)}, out)
			ds = append(ds, time.Since(t0))
		}
		lat.add(ds)
		lat.report(b, start)
	})
	s := benchServer(b, m, DefaultBatchConfig(), nil)
	b.Run("server-infer", func(b *testing.B) {
		var lat latencies
		ds := make([]time.Duration, 0, b.N)
		start := time.Now()
		for i := range b.N {
			t0 := time.Now()
			if _, err := s.Infer(ctx, Request{Model: "m", Decoded: Decoded{Rows: 1, X: row(i)}}); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(t0))
		}
		lat.add(ds)
		lat.report(b, start)
	})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	bodies := make([][]byte, 256)
	for i := range bodies {
		bodies[i] = servingtest.Body(row(i), 15)
	}
	b.Run("http-loopback", func(b *testing.B) {
		client := ts.Client()
		var lat latencies
		ds := make([]time.Duration, 0, b.N)
		start := time.Now()
		for i := range b.N {
			t0 := time.Now()
			resp, err := client.Post(ts.URL+"/v2/models/m/infer", "application/json", bytes.NewReader(bodies[i%256]))
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("post: %v %v", err, resp)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			ds = append(ds, time.Since(t0))
		}
		lat.add(ds)
		lat.report(b, start)
	})
}

// BenchmarkShadow measures the caller's latency with and without a shadow version being
// mirrored every request (sequential callers, so queueing does not blur the comparison).
func BenchmarkShadow(b *testing.B) {
	ctx := context.Background()
	data := servingtest.Data(20000, 30, 5)
	m1, err := servingtest.LogReg(ctx, data.Dataset)
	if err != nil {
		b.Fatal(err)
	}
	m2, err := servingtest.GBDT(ctx, data.Dataset, 100, 6)
	if err != nil {
		b.Fatal(err)
	}
	for _, shadow := range []bool{false, true} {
		b.Run(fmt.Sprintf("shadow=%v", shadow), func(b *testing.B) {
			reg, err := servingtest.OpenRegistry(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			_, _ = servingtest.Register(ctx, reg, "m", m1, registry.Champion)
			_, _ = servingtest.Register(ctx, reg, "m", m2, registry.Shadow)
			cfg := DefaultConfig()
			mc := DefaultModelConfig("m")
			mc.SLA, mc.FallbackReserve = time.Second, 0
			if shadow {
				mc.ShadowAlias = registry.Shadow
			}
			cfg.Models = []ModelConfig{mc}
			s, err := New(ctx, reg, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			rows := 16
			var lat latencies
			ds := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				off := (i * rows) % (20000 - rows)
				t0 := time.Now()
				if _, err := s.Infer(ctx, Request{Model: "m", Decoded: Decoded{Rows: rows, X: data.X[off*30 : (off+rows)*30]}}); err != nil {
					b.Fatal(err)
				}
				ds = append(ds, time.Since(t0))
			}
			lat.add(ds)
			lat.report(b, start)
			if shadow {
				r, _ := s.Shadow("m")
				b.ReportMetric(r.Agreement, "shadow-agreement")
				b.ReportMetric(float64(r.Dropped), "shadow-dropped")
			}
		})
	}
}

// BenchmarkMultiTenant: 100 models in 3 classes on one server; while 256 callers flood the
// 60 low-class models with 256-row requests, one high-class caller sends b.N one-row
// requests. Reported: the high class's p50/p99 and how many flood requests admission
// refused, with priorities and admission on, and off (the FIFO baseline).
func BenchmarkMultiTenant(b *testing.B) {
	ctx := context.Background()
	data := servingtest.Data(10000, 20, 5)
	m, err := servingtest.GBDT(ctx, data.Dataset, 100, 6)
	if err != nil {
		b.Fatal(err)
	}
	reg, err := servingtest.OpenRegistry(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	classes := []struct {
		prefix string
		n, p   int
		sla    time.Duration
	}{{"high", 10, 0, 10 * time.Millisecond}, {"med", 30, 1, 25 * time.Millisecond}, {"low", 60, 2, 30 * time.Millisecond}}
	for _, c := range classes {
		for i := range c.n {
			if _, err := servingtest.Register(ctx, reg, fmt.Sprintf("%s-%02d", c.prefix, i), m, registry.Champion); err != nil {
				b.Fatal(err)
			}
		}
	}
	row := func(i, n int) []float64 { i %= 10000 - n; return data.X[i*20 : (i+n)*20] }
	for _, baseline := range []bool{true, false} {
		name := "priority+admission"
		if baseline {
			name = "fifo-no-admission"
		}
		b.Run(name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.DisablePriority, cfg.DisableAdmission = baseline, baseline
			for _, c := range classes {
				for i := range c.n {
					mc := DefaultModelConfig(fmt.Sprintf("%s-%02d", c.prefix, i))
					mc.Priority, mc.SLA, mc.FallbackReserve = c.p, c.sla, 0
					mc.Batch.QueueSize = 256
					cfg.Models = append(cfg.Models, mc)
				}
			}
			s, err := New(ctx, reg, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var refused, late atomic.Int64
			for g := range 256 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := g; ; j += 256 {
						select {
						case <-stop:
							return
						default:
						}
						res, err := s.Infer(ctx, Request{Model: fmt.Sprintf("low-%02d", j%60), Decoded: Decoded{Rows: 256, X: row(j*256, 256)}})
						switch {
						case err != nil:
							refused.Add(1)
							time.Sleep(2 * time.Millisecond)
						case res.Path != PathPrimary:
							late.Add(1)
						}
					}
				}()
			}
			time.Sleep(200 * time.Millisecond) // let the flood build its queues
			var lat latencies
			ds := make([]time.Duration, 0, b.N)
			missed := 0
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				t0 := time.Now()
				res, err := s.Infer(ctx, Request{Model: fmt.Sprintf("high-%02d", i%10), Decoded: Decoded{Rows: 1, X: row(i, 1)}})
				ds = append(ds, time.Since(t0))
				if err != nil || res.Path != PathPrimary {
					missed++
				}
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
			lat.add(ds)
			lat.report(b, start)
			b.ReportMetric(float64(missed)/float64(b.N), "high-missed/op")
			b.ReportMetric(float64(refused.Load()), "low-refused")
			b.ReportMetric(float64(late.Load()), "low-late")
		})
	}
}
