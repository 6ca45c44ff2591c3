package features_test

import (
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/featurestest"
)

// BenchmarkAggregator is the streaming execution on one goroutine (one core): the fraud
// customer view (count and mean over 1, 7 and 30 days in hourly buckets), transform
// included, 5,000 customers, events a few seconds apart in event time.
//
//	go test ./features -run '^$' -bench Aggregator -benchtime 2000000x
func BenchmarkAggregator(b *testing.B) {
	v := register(b, featurestest.CustomerSpending())
	agg, err := features.NewAggregator(v)
	if err != nil {
		b.Fatal(err)
	}
	const warm = 400_000 // fill the 30-day windows first
	txs := featurestest.Transactions(1, warm+b.N, 5000, 10000, t0, time.Duration(warm+b.N)*8*time.Second)
	evs := eventsOf(txs)
	for _, ev := range evs[:warm] {
		if _, _, err := agg.Apply(ev); err != nil {
			b.Fatal(err)
		}
	}
	lat := make(featurestest.Latencies, 0, b.N)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		s := time.Now()
		if _, _, err := agg.Apply(evs[warm+i]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(s))
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	lat.Report(b, "")
	_, buckets, raw, _ := agg.StateSize()
	b.ReportMetric(float64(buckets+raw), "state-items")
}
