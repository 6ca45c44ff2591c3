package features_test

import (
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/featurestest"
)

// BenchmarkAggregator is the streaming execution on one goroutine (one core): the fraud
// customer view (count and mean over 1, 7 and 30 days, 10 minutes of allowed lateness),
// transform included, 5,000 customers, events a few seconds apart in event time, in hourly
// buckets and in one-second buckets (where the watermark enters a new bucket at almost
// every event, so expiry runs at almost every event).
//
//	go test ./features -run '^$' -bench 'Aggregator$' -benchtime 2000000x
func BenchmarkAggregator(b *testing.B) {
	for _, tc := range []struct {
		name   string
		bucket time.Duration
	}{{"bucket=1h", time.Hour}, {"bucket=1s", time.Second}} {
		b.Run(tc.name, func(b *testing.B) {
			v := featurestest.CustomerSpending()
			v.Bucket = tc.bucket
			benchStream(b, []features.FeatureView{v}, 400_000, 8*time.Second)
		})
	}
}

// BenchmarkAggregatorFraud is the fraud case study's online path without the store: every
// transaction goes through both views, the customer view (count and mean over 1, 7 and 30
// days) and the terminal view (count and fraud rate over 1, 7 and 30 days delayed by 7
// days), with no allowed lateness, 5,000 customers, 10,000 terminals and a transaction
// every 9 s of event time. One-second buckets make the windows the handbook's exactly.
// The last case lets the terminal view accept events 8 days late, as the live fraud
// service does for labels (none is late here, but 8 days of event ids are kept).
// events/s counts transactions, each applied to both views.
//
//	go test ./features -run '^$' -bench AggregatorFraud -benchtime 1000000x
func BenchmarkAggregatorFraud(b *testing.B) {
	for _, tc := range []struct {
		name          string
		bucket, label time.Duration
	}{
		{"bucket=1h", time.Hour, 0},
		{"bucket=1s", time.Second, 0},
		{"bucket=1s,label-lateness=8d", time.Second, 8 * 24 * time.Hour},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c, t := featurestest.CustomerSpending(), featurestest.TerminalRisk()
			c.Bucket, t.Bucket = tc.bucket, tc.bucket
			c.AllowedLateness, t.AllowedLateness = 0, tc.label
			benchStream(b, []features.FeatureView{c, t}, 360_000, 9*time.Second) // 37 days first
		})
	}
}

// benchStream applies warm events to one aggregator per view, so the longest windows are
// full, then times b.N more.
func benchStream(b *testing.B, views []features.FeatureView, warm int, every time.Duration) {
	aggs := make([]*features.Aggregator, len(views))
	for i, v := range views {
		var err error
		if aggs[i], err = features.NewAggregator(register(b, v)); err != nil {
			b.Fatal(err)
		}
	}
	txs := featurestest.Transactions(1, warm+b.N, 5000, 10000, t0, time.Duration(warm+b.N)*every)
	evs := eventsOf(txs)
	apply := func(ev features.Event) {
		for _, agg := range aggs {
			if _, _, err := agg.Apply(ev); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, ev := range evs[:warm] {
		apply(ev)
	}
	lat := make(featurestest.Latencies, 0, b.N)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		s := time.Now()
		apply(evs[warm+i])
		lat = append(lat, time.Since(s))
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	lat.Report(b, "")
	items := 0
	for _, agg := range aggs {
		_, buckets, raw, _ := agg.StateSize()
		items += buckets + raw
	}
	b.ReportMetric(float64(items), "state-items")
}
