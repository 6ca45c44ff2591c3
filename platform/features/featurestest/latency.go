package featurestest

import (
	"slices"
	"testing"
	"time"
)

// Latencies collects per-operation durations for a benchmark's p50/p99.
type Latencies []time.Duration

// Quantile returns the q-quantile (0..1) of the samples.
func (l Latencies) Quantile(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// Report adds p50-ns and p99-ns (with a prefix, e.g. "raw-") to the benchmark.
func (l Latencies) Report(b *testing.B, prefix string) {
	b.ReportMetric(float64(l.Quantile(0.50).Nanoseconds()), prefix+"p50-ns")
	b.ReportMetric(float64(l.Quantile(0.99).Nanoseconds()), prefix+"p99-ns")
}
