package features_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/featurestest"
)

var benchN = 1_750_000

// BenchmarkTrainingSet builds the fraud case study's training set: 1.75 million label
// rows (transactions over 183 days, 5,000 customers, 10,000 terminals) joined point in
// time to 15 features from three views (two aggregation views with a row per transaction
// and a daily customer profile). Writing the Parquet partitions is setup, not timed.
//
//	go test ./features -run '^$' -bench TrainingSet -benchtime 1x
func BenchmarkTrainingSet(b *testing.B) {
	n, customers, terminals, days := benchN, 5000, 10000, 183
	ctx := context.Background()
	reg, err := featurestest.Registry()
	if err != nil {
		b.Fatal(err)
	}
	profile := features.FeatureView{
		Name: "customer_profile", Entity: featurestest.Customer, TTL: 2 * 24 * time.Hour,
		Features: []features.Feature{{Name: "mean_amount", Kind: features.KindFloat}, {Name: "std_amount", Kind: features.KindFloat}, {Name: "tx_per_day", Kind: features.KindFloat}},
	}
	if err := reg.RegisterView(profile); err != nil {
		b.Fatal(err)
	}
	cfg := features.DefaultOfflineConfig()
	cfg.Dir = b.TempDir()
	o, err := features.OpenOffline(cfg, reg)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2018, 4, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	labels := features.Labels{Time: make([]time.Time, n), Keys: map[string][]string{"customer_id": make([]string, n), "terminal_id": make([]string, n)}}
	cust := make([]string, customers)
	for i := range cust {
		cust[i] = fmt.Sprint("c", i)
	}
	term := make([]string, terminals)
	for i := range term {
		term[i] = fmt.Sprint("t", i)
	}
	span := time.Duration(days) * 24 * time.Hour
	var spend, risk []features.Row
	for i := 0; i < n; i++ {
		t := start.Add(time.Duration(float64(span) * float64(i) / float64(n)))
		c, tm := cust[rng.IntN(customers)], term[rng.IntN(terminals)]
		labels.Time[i], labels.Keys["customer_id"][i], labels.Keys["terminal_id"][i] = t, c, tm
		x := rng.Float64() * 100
		spend = append(spend, features.Row{Entity: c, Time: t, Seq: uint64(i), Values: []features.Value{
			features.Int(int64(rng.IntN(5))), features.Float(x), features.Int(int64(rng.IntN(30))), features.Float(x * 1.1), features.Int(int64(rng.IntN(120))), features.Float(x * 0.9)}})
		risk = append(risk, features.Row{Entity: tm, Time: t, Seq: uint64(i), Values: []features.Value{
			features.Int(int64(rng.IntN(5))), features.Float(rng.Float64()), features.Int(int64(rng.IntN(30))), features.Float(rng.Float64()), features.Int(int64(rng.IntN(120))), features.Float(rng.Float64())}})
		if len(spend) == 250_000 || i == n-1 {
			if err := o.Append(ctx, "customer_spending", spend); err != nil {
				b.Fatal(err)
			}
			if err := o.Append(ctx, "terminal_risk", risk); err != nil {
				b.Fatal(err)
			}
			spend, risk = spend[:0], risk[:0]
		}
	}
	var prof []features.Row
	for d := 0; d < days; d++ {
		for _, c := range cust {
			prof = append(prof, features.Row{Entity: c, Time: start.Add(time.Duration(d) * 24 * time.Hour), Seq: 1, Values: []features.Value{
				features.Float(rng.Float64() * 50), features.Float(rng.Float64() * 10), features.Float(rng.Float64() * 4)}})
		}
	}
	if err := o.Append(ctx, "customer_profile", prof); err != nil {
		b.Fatal(err)
	}
	prof = nil
	refs := []string{
		"customer_spending:tx_count_1d", "customer_spending:amount_mean_1d", "customer_spending:tx_count_7d",
		"customer_spending:amount_mean_7d", "customer_spending:tx_count_30d", "customer_spending:amount_mean_30d",
		"terminal_risk:tx_count_1d_delay7d", "terminal_risk:fraud_rate_1d_delay7d", "terminal_risk:tx_count_7d_delay7d",
		"terminal_risk:fraud_rate_7d_delay7d", "terminal_risk:tx_count_30d_delay7d", "terminal_risk:fraud_rate_30d_delay7d",
		"customer_profile:mean_amount", "customer_profile:std_amount", "customer_profile:tx_per_day",
	}
	runtime.GC()
	b.ResetTimer()
	for b.Loop() {
		ts, err := o.TrainingSet(ctx, labels, refs)
		if err != nil {
			b.Fatal(err)
		}
		if ts.Columns[0].Status[n-1] != features.Present || ts.Columns[14].Status[n-1] != features.Present {
			b.Fatalf("last row not joined: %v %v", ts.Columns[0].Status[n-1], ts.Columns[14].Status[n-1])
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/build")
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "labels/s")
}
