package recfeatures

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
)

// BenchmarkStats reads one user's and 200 candidates' features on a memory store holding
// 100,000 items: "store" is Read (every item a store read keyed by its decimal id),
// "cache" is ReadCached (the user from the store, the items from the ItemCache).
func BenchmarkStats(b *testing.B) {
	ctx := context.Background()
	reg := features.NewRegistry()
	if err := Register(reg); err != nil {
		b.Fatal(err)
	}
	store := memory.New(reg)
	const items = 100_000
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]features.Row, items)
	for i := range rows {
		vals := make([]features.Value, len(ItemWindows))
		for w := range vals {
			vals[w] = features.Int(int64(i%97 + w))
		}
		rows[i] = features.Row{Entity: IDString(int64(i + 1)), Time: t0, Seq: uint64(i + 1), Values: vals}
	}
	if _, err := store.Write(ctx, ItemView, rows); err != nil {
		b.Fatal(err)
	}
	if _, err := store.Write(ctx, UserView, []features.Row{{Entity: "7", Time: t0, Seq: 1,
		Values: []features.Value{features.Int(1), features.Int(2), features.Int(3)}}}); err != nil {
		b.Fatal(err)
	}
	cache, err := NewItemCache(reg, store)
	if err != nil {
		b.Fatal(err)
	}
	all := make([]int64, items)
	for i := range all {
		all[i] = int64(i + 1)
	}
	if err := cache.Refresh(ctx, all); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	cands := make([]int64, 200)
	for i := range cands {
		cands[i] = int64(1 + rng.IntN(items))
	}
	at := t0.Add(time.Hour)
	b.Run("store", func(b *testing.B) {
		var s Stats
		b.ReportAllocs()
		for b.Loop() {
			if err := Read(ctx, store, 7, cands, at, &s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cache", func(b *testing.B) {
		var s Stats
		b.ReportAllocs()
		for b.Loop() {
			if err := ReadCached(ctx, store, cache, 7, cands, at, &s); err != nil {
				b.Fatal(err)
			}
		}
	})
}
