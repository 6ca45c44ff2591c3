package stream

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/cputime"

	"github.com/casebook-ml/casebook/fraud/events"
	"github.com/casebook-ml/casebook/fraud/internal/decision"
	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/features/memory"
)

// BenchmarkRetryCheck is the scorer's CPU per decision (its process: scorer, serving in
// process, the embedded NATS server storing the decisions) with the check for retries
// after the duplicates window (eventlog.FirstSeen and the late test, late.go; no event here
// is late, as none is in a steady stream) and without it, over the same batches of
// 20 transactions (a batch at a steady 20,000/s). cpu-ns/decision is process CPU time
// (getrusage) over the decisions, which a busy machine distorts less than ns/op.
func BenchmarkRetryCheck(b *testing.B) {
	f := setup(b)
	ctx := context.Background()
	log, err := eventlog.Open(ctx, eventlog.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { log.Close() })
	for _, sc := range events.Streams() {
		if _, err := log.EnsureStream(ctx, sc); err != nil {
			b.Fatal(err)
		}
	}
	evs, err := events.Replay(f.txs, 3*24*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		horizon time.Duration
	}{{"check=off", -1}, {"check=on", 0}} {
		b.Run(c.name, func(b *testing.B) {
			var cpu, decisions int64
			for n := range b.N {
				b.StopTimer()
				s, err := NewScorer(ctx, ScorerConfig{Log: log, Features: f.reg, Store: memory.New(f.reg), Model: Served{Server: f.server, Name: "fraud"},
					Thresholds: f.th, Rules: decision.DefaultRules(), Stats: &Stats{}, RetryHorizon: c.horizon})
				if err != nil {
					b.Fatal(err)
				}
				// Fresh event ids each round, so every decision is a new one in the log.
				msgs := make([]*eventlog.Message, len(evs))
				now := time.Now()
				for i, ev := range evs {
					ev.ID = strconv.Itoa(n) + "-" + c.name + "-" + ev.ID
					msgs[i] = &eventlog.Message{Event: ev, Stream: TxStream, Sequence: uint64(i + 1), Stored: now}
				}
				b.StartTimer()
				cpu0 := cputime.Process().Nanoseconds()
				for lo := 0; lo < len(msgs); lo += 20 {
					if _, err := s.handleBatch(ctx, msgs[lo:min(lo+20, len(msgs))]); err != nil {
						b.Fatal(err)
					}
				}
				cpu += cputime.Process().Nanoseconds() - cpu0
				decisions += s.stats.Published.Load()
			}
			b.ReportMetric(float64(cpu)/float64(decisions), "cpu-ns/decision")
		})
	}
}
