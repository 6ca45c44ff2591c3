package monitoring

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/cputime"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/predlog"
)

// BenchmarkPSI1M is the performance bar: PSI of a million live values against a
// reference, counting them into the reference's bins included.
func BenchmarkPSI1M(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	ref, err := NewNumericReference(normals(rng, 100_000, 0), DefaultBins)
	if err != nil {
		b.Fatal(err)
	}
	live := normals(rng, 1_000_000, 0.2)
	b.ResetTimer()
	for b.Loop() {
		if _, err := PSIOf(ref.Counts, ref.Histogram(live), DefaultEpsilon); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/psi")
}

// BenchmarkNewReference1M builds a 10-bin reference from a million values (one sort).
func BenchmarkNewReference1M(b *testing.B) {
	x := normals(rand.New(rand.NewPCG(2, 2)), 1_000_000, 0)
	for b.Loop() {
		if _, err := NewNumericReference(x, DefaultBins); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWindowAdd shows the live-window update is O(1): the same cost per value
// whatever the window size.
func BenchmarkWindowAdd(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	ref, _ := NewNumericReference(normals(rng, 10_000, 0), DefaultBins)
	vals := normals(rng, 1<<16, 0.5)
	for _, size := range []int{1_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("window=%d", size), func(b *testing.B) {
			w, _ := NewWindow(ref, WindowConfig{Size: size, Span: time.Hour})
			t := time.Unix(0, 0)
			i := 0
			for b.Loop() {
				w.Add(t.Add(time.Duration(i)*time.Millisecond), vals[i&(1<<16-1)])
				i++
			}
		})
	}
}

// BenchmarkMonitorObserve is the per-prediction cost of monitoring a 3-feature model
// (float, categorical, bool): quality checks and window updates for every feature and the
// score.
func BenchmarkMonitorObserve(b *testing.B) {
	rng := rand.New(rand.NewPCG(4, 4))
	d, scores := refData(rng, 10_000)
	cfg := DefaultConfig()
	cfg.Model = "bench"
	mon, err := NewMonitor(cfg, d, scores, nil)
	if err != nil {
		b.Fatal(err)
	}
	row := d.Row(0)
	for b.Loop() {
		if err := mon.Observe(t0, row, 0.3); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheck is a full drift check: 4 methods on 3 features and the score, 5,000-value
// windows (KS sorts each window).
func BenchmarkCheck(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 5))
	d, scores := refData(rng, 10_000)
	cfg := DefaultConfig()
	cfg.Model = "bench"
	mon, _ := NewMonitor(cfg, d, scores, nil)
	live, ls := refData(rng, 5000)
	for i := range 5000 {
		mon.Observe(t0, live.Row(i), ls[i])
	}
	for b.Loop() {
		mon.Check(t0)
	}
}

// BenchmarkJoinerFraudShaped is the online quality's cost per prediction record as the
// fraud system runs it: messages of 256 records of 14 features read from the log
// (decoded), each record added to a join with a 7-day window of whole days, one outcome
// per 256 records (a third of the fraud rate), and the window's quality recomputed once per
// 20,480 records (about once a second at 20,000 decisions a second). Records are 8.64 s
// apart in event time (10,000 a day), so the window holds about 70,000 once full. Run it
// with -benchtime 600x (the messages are made beforehand, 600 at most: 18 simulated days).
// It reports the process CPU time per record (getrusage), which a busy machine inflates
// far less than the wall time.
func BenchmarkJoinerFraudShaped(b *testing.B) {
	names := make([]string, 14)
	for i := range names {
		names[i] = fmt.Sprintf("FEATURE_%02d", i)
	}
	enc := predlog.NewEncoder(names)
	cfg := JoinConfig{Model: "fraud", Horizon: 8 * 24 * time.Hour, ImplicitNegative: true, Window: 1, K: 100, ActionThreshold: 0.5,
		Period: 24 * time.Hour, Periods: 7, OutcomeClock: true}
	j, err := NewJoiner(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	h := j.Handler()
	rng := rand.New(rand.NewPCG(5, 5))
	x := make([]float64, len(names))
	const step = 8640 * time.Millisecond
	const maxMsgs = 600
	var msgs []*eventlog.Message
	var rec []byte
	for n := 0; len(msgs) < maxMsgs; {
		var pm predlog.PredictionMessages
		for range 256 {
			for i := range x {
				x[i] = rng.Float64()
			}
			at := t0.Add(time.Duration(n) * step)
			rec, _ = enc.AppendRecord(rec[:0], strconv.Itoa(n), "fraud", 1, "champion", at, x, rng.Float64(), "primary")
			pm.Add(predlog.PredictionSubject("fraud"), strconv.Itoa(n), at, rec)
			n++
		}
		msgs = append(msgs, &eventlog.Message{Event: pm.Events()[0]})
	}
	cpu0 := cputime.Process()
	records := 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i >= maxMsgs {
			b.Fatalf("run it with -benchtime %dx or less", maxMsgs)
		}
		if err := h(context.Background(), msgs[i]); err != nil {
			b.Fatal(err)
		}
		records += 256
		at := t0.Add(time.Duration(records) * step)
		j.AddOutcome(predlog.Outcome{ID: strconv.Itoa(records - 200), Model: "fraud", Label: 1, Time: at, Kind: "chargeback"})
		if records%20480 == 0 {
			j.Advance(j.Clock())
			j.Quality(1)
		}
	}
	b.StopTimer()
	cpu := cputime.Process() - cpu0
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(records), "cpu-ns/record")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
}
