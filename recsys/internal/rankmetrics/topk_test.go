package rankmetrics

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

func TestTopK(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name    string
		scores  []float64
		exclude func(int) bool
		k       int
		want    []int
	}{
		{"basic", []float64{0.1, 0.9, 0.5, 0.7}, nil, 2, []int{1, 3}},
		{"ties go to the lower index", []float64{1, 2, 2, 1, 2}, nil, 3, []int{1, 2, 4}},
		{"exclusion", []float64{0.1, 0.9, 0.5, 0.7}, func(i int) bool { return i == 1 }, 2, []int{3, 2}},
		{"k beyond n", []float64{0.3, 0.2}, nil, 5, []int{0, 1}},
		{"k zero", []float64{0.3}, nil, 0, nil},
		{"NaN last", []float64{nan, -1, nan, 0}, nil, 4, []int{3, 1, 0, 2}},
		{"all excluded", []float64{1, 2}, func(int) bool { return true }, 2, []int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := TopK(tc.scores, tc.exclude, tc.k); !slices.Equal(got, tc.want) {
				t.Errorf("TopK(%v, k=%d) = %v, want %v", tc.scores, tc.k, got, tc.want)
			}
		})
	}
}

// TopK agrees with a full stable sort, on float32 scores with many ties.
func TestTopKMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	scores := make([]float32, 5000)
	for i := range scores {
		scores[i] = float32(rng.IntN(300))
	}
	excl := func(i int) bool { return i%7 == 0 }
	var idx []int
	for i := range scores {
		if !excl(i) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	for _, k := range []int{1, 10, 100, 4999} {
		want := idx[:min(k, len(idx))]
		if got := TopK(scores, excl, k); !slices.Equal(got, want) {
			t.Errorf("TopK(k=%d) differs from a stable sort", k)
		}
	}
}

func BenchmarkTopK(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	scores := make([]float32, 100000)
	for i := range scores {
		scores[i] = rng.Float32()
	}
	for b.Loop() {
		TopK(scores, nil, 10)
	}
}
