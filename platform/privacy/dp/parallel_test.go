package dp

import (
	"errors"
	"math"
	"testing"
)

// TestCountsChargedOnceByParallelComposition: a vector of counts over disjoint partitions
// spends one query's ε however many partitions it has, and each count gets noise of the
// single-query scale.
func TestCountsChargedOnceByParallelComposition(t *testing.T) {
	l, err := NewLedger("days", Budget{Epsilon: 1})
	if err != nil {
		t.Fatal(err)
	}
	r := NewReleaser(l, NewSeededNoise(7))
	ns := make([]int, 400)
	for i := range ns {
		ns[i] = 1000 + i
	}
	q := Query{Mechanism: Laplace, Epsilon: 0.5}
	out, err := r.Counts("per day", ns, q)
	if err != nil {
		t.Fatalf("Counts() error %v", err)
	}
	if got := l.Spent().Epsilon; math.Abs(got-0.5) > 1e-12 || len(l.Record().Entries) != 1 {
		t.Errorf("400 disjoint counts spent ε=%v in %d entries, want 0.5 in 1", got, len(l.Record().Entries))
	}
	var abs float64
	for i, rel := range out {
		if rel.Scale != 2 {
			t.Fatalf("count %d scale %v, want b = 1/0.5 = 2", i, rel.Scale)
		}
		abs += math.Abs(rel.Value - float64(ns[i]))
	}
	// E|Laplace(b)| = b; 400 draws put the mean within ±15% of it with a wide margin.
	if m := abs / float64(len(out)); m < 0.85*2 || m > 1.15*2 {
		t.Errorf("mean absolute error %v, want about b = 2", m)
	}
	if _, err := r.Counts("again", ns, q); err != nil {
		t.Fatalf("second query within budget refused: %v", err)
	}
	if _, err := r.Counts("third", ns, q); !errors.Is(err, ErrBudgetExceeded) {
		t.Errorf("third query past ε=1 error %v, want ErrBudgetExceeded", err)
	}
	if _, err := r.Counts("neg", []int{-1}, q); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative count error %v, want ErrInvalid", err)
	}
}

func TestSumsChargedOnceAndClamped(t *testing.T) {
	l, _ := NewLedger("days", Budget{Epsilon: 1})
	r := NewReleaser(l, NewSeededNoise(3))
	groups := [][]float64{{10, 20, 500}, {5}, {}}
	out, err := r.Sums("amount per day", groups, 0, 100, Query{Mechanism: Laplace, Epsilon: 1})
	if err != nil {
		t.Fatalf("Sums() error %v", err)
	}
	if len(l.Record().Entries) != 1 || math.Abs(l.Spent().Epsilon-1) > 1e-12 {
		t.Errorf("ledger %+v, want one entry of ε=1", l.Record())
	}
	if out[0].Clamped != 1 || out[0].Scale != 100 || out[0].Sensitivity != 100 {
		t.Errorf("partition 0 release %+v, want 1 clamped, scale 100", out[0])
	}
	if _, err := r.Sums("bad", groups, 1, 1, Query{Mechanism: Laplace, Epsilon: 0.1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Sums(lo == hi) error %v, want ErrInvalid", err)
	}
}
