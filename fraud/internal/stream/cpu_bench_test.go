package stream

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/cputime"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features/memory"
)

// BenchmarkScorerCPU measures the process CPU time (user + system, getrusage) per decision
// of the streaming pipeline in one process, as `fraud stream` runs it: an embedded NATS
// server with the case study's streams, the ordered consumer in batches of 32 (about what a
// batch holds at 20,000/s), the scorer (features, serving in process, decision events). The
// transactions are published before the clock starts, so the figure is the consumer side
// only: what the scorer and the server spend per decision. The noop sub-benchmark is the
// floor (NewNoop: same log, consumer and decision events, no features or model).
//
//	go test ./fraud/internal/stream -run '^$' -bench ScorerCPU -benchtime 1x -cpu 2
//
// CPU time survives a busy machine much better than wall time; allocs/decision is the
// garbage the process's collector pays for.
func BenchmarkScorerCPU(b *testing.B) {
	for _, kind := range []string{"noop", "fraud"} {
		b.Run(kind, func(b *testing.B) {
			f := setup(b)
			ctx := context.Background()
			n := len(f.txs)
			evs, err := events.Replay(f.txs, 3*24*time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			var cpu time.Duration
			var allocs uint64
			for range b.N {
				log, err := eventlog.Open(ctx, eventlog.DefaultConfig())
				if err != nil {
					b.Fatal(err)
				}
				for _, sc := range events.Streams() {
					if _, err := log.EnsureStream(ctx, sc); err != nil {
						b.Fatal(err)
					}
				}
				for lo := 0; lo < len(evs); lo += 4096 {
					if _, err := log.PublishBatch(ctx, evs[lo:min(lo+4096, len(evs))]); err != nil {
						b.Fatal(err)
					}
				}
				s := NewNoop(log, &Stats{}, nil)
				if kind == "fraud" {
					if s, err = NewScorer(ctx, ScorerConfig{Log: log, Features: f.reg, Store: memory.New(f.reg), Model: Served{Server: f.server, Name: "fraud"},
						Thresholds: f.th, Stats: &Stats{}}); err != nil {
						b.Fatal(err)
					}
				}
				cc := eventlog.DefaultConsumerConfig()
				cc.BatchSize, cc.MaxAckPending = 32, 64
				c0, a0 := cputime.Process(), mallocs()
				runToEnd(b, log, s, cc)
				cpu += cputime.Process() - c0
				allocs += mallocs() - a0
				log.Close()
			}
			dec := float64(n * b.N)
			b.ReportMetric(cpu.Seconds()*1e6/dec, "cpu-µs/decision")
			b.ReportMetric(float64(allocs)/dec, "allocs/decision")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func mallocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}
