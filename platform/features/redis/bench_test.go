package redis_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/featurestest"
)

// wideView is a plain view of n float features, like a serving request's feature vector.
func wideView(name string, n int) features.FeatureView {
	v := features.FeatureView{Name: name, Entity: featurestest.Customer, TTL: 24 * time.Hour}
	for i := range n {
		v.Features = append(v.Features, features.Feature{Name: fmt.Sprintf("f%02d", i), Kind: features.KindFloat})
	}
	return v
}

func wideRows(entities, feats int, at time.Time, rng *rand.Rand) []features.Row {
	rows := make([]features.Row, entities)
	for e := range rows {
		vals := make([]features.Value, feats)
		for j := range vals {
			vals[j] = features.Float(rng.Float64())
		}
		rows[e] = features.Row{Entity: fmt.Sprint("e", e), Time: at, Seq: 1, Values: vals}
	}
	return rows
}

// BenchmarkRead reads 50 float features for 1 and for 100 entities through the store and,
// alternating in the same loop, through raw go-redis pipelining of the same HMGETs without
// decoding. p50-ns/p99-ns are the store's, raw-p50-ns/raw-p99-ns the raw client's, and
// overhead-% is the store's p50 over the raw p50.
//
//	go test ./features/redis -run '^$' -bench Read -benchtime 20000x
func BenchmarkRead(b *testing.B) {
	ctx := context.Background()
	reg := features.NewRegistry()
	if err := reg.RegisterView(wideView("wide", 50)); err != nil {
		b.Fatal(err)
	}
	s := newStore(b, env.RedisAddr(b), reg)
	const population = 10_000
	now := time.Now()
	rng := rand.New(rand.NewPCG(1, 1))
	if _, err := s.Write(ctx, "wide", wideRows(population, 50, now.Add(-time.Minute), rng)); err != nil {
		b.Fatal(err)
	}
	v, _ := reg.View("wide")
	fields := append([]string{"_v"}, v.FeatureNames()...)
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("entities=%d", n), func(b *testing.B) {
			ents := make([]string, n)
			store := make(featurestest.Latencies, 0, b.N)
			raw := make(featurestest.Latencies, 0, b.N)
			for b.Loop() {
				for i := range ents {
					ents[i] = fmt.Sprint("e", rng.IntN(population))
				}
				t0 := time.Now()
				res, err := s.Read(ctx, features.ReadRequest{At: now, Views: []features.ViewRequest{{View: "wide", Entities: ents}}})
				if err != nil {
					b.Fatal(err)
				}
				store = append(store, time.Since(t0))
				if res.Views[0].Get(n-1, 49).Status != features.Present {
					b.Fatal("value not present")
				}
				t1 := time.Now()
				pipe := s.Client().Pipeline()
				for _, e := range ents {
					pipe.HMGet(ctx, s.Key("wide", e), fields...)
				}
				if _, err := pipe.Exec(ctx); err != nil {
					b.Fatal(err)
				}
				raw = append(raw, time.Since(t1))
			}
			store.Report(b, "")
			raw.Report(b, "raw-")
			p50, rp50 := store.Quantile(0.5), raw.Quantile(0.5)
			b.ReportMetric(100*float64(p50-rp50)/float64(rp50), "overhead-%")
		})
	}
}

// BenchmarkMaterialize copies 100,000 rows of 15 float features (20,000 entities, 5
// versions each) from the offline store to Redis and reports feature values written per
// second. Each iteration writes under a fresh key prefix so every value is applied.
//
//	go test ./features/redis -run '^$' -bench Materialize -benchtime 3x
func BenchmarkMaterialize(b *testing.B) {
	ctx := context.Background()
	reg := features.NewRegistry()
	if err := reg.RegisterView(wideView("wide15", 15)); err != nil {
		b.Fatal(err)
	}
	cfg := features.DefaultOfflineConfig()
	cfg.Dir = b.TempDir()
	off, err := features.OpenOffline(cfg, reg)
	if err != nil {
		b.Fatal(err)
	}
	day := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(2, 2))
	for k := range 5 {
		if err := off.Append(ctx, "wide15", wideRows(20_000, 15, day.Add(time.Duration(k+1)*time.Hour), rng)); err != nil {
			b.Fatal(err)
		}
	}
	addr := env.RedisAddr(b)
	var values int
	var elapsed time.Duration
	for b.Loop() {
		s := newStore(b, addr, reg)
		m, err := features.NewMaterializer(off, s, nil, features.DefaultMaterializeConfig())
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		st, err := m.Range(ctx, "wide15", day, day.Add(24*time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		values += st.Values
		if st.Applied != 20_000 {
			b.Fatalf("applied %d rows, want 20000", st.Applied)
		}
	}
	b.ReportMetric(float64(values)/elapsed.Seconds(), "values/s")
}
