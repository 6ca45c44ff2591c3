package ann

import (
	"slices"
	"testing"
)

// SearchEfExcept never returns an excluded id, still returns k results, and with a beam
// as wide as the index (an exhaustive search) returns exactly the k nearest of the others.
func TestHNSWSearchExcept(t *testing.T) {
	data, queries := split(t, func(n int) ([][]float32, error) { return Clustered(n, 16, 10, 0.3, 5) }, 1500, 20)
	cfg := DefaultHNSWConfig()
	cfg.EfConstruction = 100
	f := mustFixture(t, data, queries, cfg)
	const k = 20
	for qi, q := range queries {
		// Exclude the 30 nearest but every third (so results and exclusions interleave)
		// and a few far ones.
		near := f.exact.Search(q, 60, nil)
		var except []int64
		for j, r := range near {
			if j < 45 && j%3 != 0 {
				except = append(except, r.ID)
			}
		}
		except = append(except, 1, 2, 3)
		slices.Sort(except)
		except = slices.Compact(except)
		var want []int64
		for _, r := range f.exact.Search(q, len(data), nil) {
			if _, ok := slices.BinarySearch(except, r.ID); !ok && len(want) < k {
				want = append(want, r.ID)
			}
		}
		for _, ef := range []int{k, 64, len(data)} {
			got := f.hnsw.SearchEfExcept(q, k, ef, except, nil)
			if len(got) != k {
				t.Fatalf("query %d, ef %d: %d results, want %d", qi, ef, len(got), k)
			}
			for _, r := range got {
				if _, ok := slices.BinarySearch(except, r.ID); ok {
					t.Fatalf("query %d, ef %d: returned excluded id %d", qi, ef, r.ID)
				}
			}
			if ef == len(data) {
				ids := make([]int64, len(got))
				for i, r := range got {
					ids[i] = r.ID
				}
				if !slices.Equal(ids, want) {
					t.Fatalf("query %d, exhaustive: %v, want %v", qi, ids, want)
				}
			}
		}
		// Without exclusions it is SearchEf.
		if a, b := f.hnsw.SearchEfExcept(q, k, 64, nil, nil), f.hnsw.SearchEf(q, k, 64, nil); !slices.Equal(a, b) {
			t.Fatalf("query %d: SearchEfExcept(nil) = %v, SearchEf = %v", qi, a, b)
		}
	}
}
