package ann

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
)

// lossy is an Index that drops a fixed share of each answer, to check Recall's arithmetic.
type lossy struct {
	Index
	keep int
}

func (l lossy) Search(q []float32, k int, dst []Result) []Result {
	got := l.Index.Search(q, k, nil)
	return append(dst, got[:min(l.keep, len(got))]...)
}

func TestRecall(t *testing.T) {
	data, err := Uniform(500, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := NewExact(8)
	if err != nil {
		t.Fatal(err)
	}
	mustAddAll(t, ex, data)
	queries := data[:20]
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		idx  Index
		k    int
		want float64
	}{
		{"exact against itself", ex, 10, 1},
		{"seven of ten", lossy{ex, 7}, 10, 0.7},
		{"none", lossy{ex, 0}, 5, 0},
		{"k above Len", ex, 1000, 1},
	} {
		got, err := Recall(ctx, tc.idx, ex, queries, tc.k)
		if err != nil || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: Recall(k %d) = %v, %v, want %v", tc.name, tc.k, got, err, tc.want)
		}
	}

	empty, err := NewExact(8)
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		truth   *Exact
		queries [][]float32
		k       int
		want    error
	}{
		{"k 0", ctx, ex, queries, 0, ErrInvalidArgument},
		{"no queries", ctx, ex, nil, 10, ErrInvalidArgument},
		{"nil truth", ctx, nil, queries, 10, ErrInvalidArgument},
		{"empty truth", ctx, empty, queries, 10, ErrInvalidArgument},
		{"query of wrong width", ctx, ex, [][]float32{{1, 2}}, 10, ErrDimMismatch},
		{"zero query", ctx, ex, [][]float32{make([]float32, 8)}, 10, ErrInvalidVector},
		{"cancelled", cancelled, ex, queries, 10, context.Canceled},
	} {
		if _, err := Recall(tc.ctx, ex, tc.truth, tc.queries, tc.k); !errors.Is(err, tc.want) {
			t.Errorf("%s: Recall = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestGenerators(t *testing.T) {
	for _, tc := range []struct {
		name string
		gen  func(seed uint64) ([][]float32, error)
	}{
		{"uniform", func(seed uint64) ([][]float32, error) { return Uniform(300, 12, seed) }},
		{"clustered", func(seed uint64) ([][]float32, error) { return Clustered(300, 12, 0, 0, seed) }},
		{"clustered 3 tight", func(seed uint64) ([][]float32, error) { return Clustered(300, 12, 3, 0.01, seed) }},
	} {
		a, errA := tc.gen(1)
		b, errB := tc.gen(1)
		c, errC := tc.gen(2)
		if errA != nil || errB != nil || errC != nil {
			t.Fatalf("%s: errors %v, %v, %v", tc.name, errA, errB, errC)
		}
		if len(a) != 300 || len(a[0]) != 12 {
			t.Errorf("%s: shape %d × %d, want 300 × 12", tc.name, len(a), len(a[0]))
		}
		if !slices.EqualFunc(a, b, slices.Equal) {
			t.Errorf("%s: the same seed gave different vectors", tc.name)
		}
		if slices.EqualFunc(a, c, slices.Equal) {
			t.Errorf("%s: seeds 1 and 2 gave the same vectors", tc.name)
		}
	}

	// Three tight clusters: every vector's nearest neighbours are in its own cluster, so
	// the mean similarity to the nearest is near 1.
	tight, err := Clustered(300, 12, 3, 0.01, 1)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := NewExact(12)
	if err != nil {
		t.Fatal(err)
	}
	mustAddAll(t, ex, tight)
	if got := ex.Search(tight[0], 2, nil); len(got) != 2 || got[1].Score < 0.99 {
		t.Errorf("tight clusters: nearest other vector = %v, want similarity ≥ 0.99", got)
	}

	for _, tc := range []struct {
		name string
		err  error
	}{
		{"uniform dim 0", func() error { _, err := Uniform(5, 0, 1); return err }()},
		{"uniform negative n", func() error { _, err := Uniform(-1, 4, 1); return err }()},
		{"clustered dim 0", func() error { _, err := Clustered(5, 0, 2, 0.1, 1); return err }()},
	} {
		if !errors.Is(tc.err, ErrInvalidArgument) {
			t.Errorf("%s: error %v, want ErrInvalidArgument", tc.name, tc.err)
		}
	}
}
