package monitoring

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
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
