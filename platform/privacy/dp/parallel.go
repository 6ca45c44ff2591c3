package dp

import (
	"fmt"
	"math"
)

// Counts releases one count per partition of a dataset whose partitions are disjoint:
// every record falls in exactly one (one day, one (day, path) cell). Adding or removing a
// record moves one count by 1, so the whole vector has L1 and L2 sensitivity 1 and, by
// parallel composition, is charged to the ledger once, as one query of q's cost. The
// disjointness is the caller's promise: a record counted in two partitions breaks it.
func (r *Releaser) Counts(name string, ns []int, q Query) ([]Release, error) {
	if err := q.validate(); err != nil {
		return nil, err
	}
	for i, n := range ns {
		if n < 0 {
			return nil, fmt.Errorf("%w: count %d of partition %d < 0", ErrInvalid, n, i)
		}
	}
	s, err := q.scale(1)
	if err != nil {
		return nil, err
	}
	if err := r.ledger.SpendNoise(name, q.Mechanism, Budget{q.Epsilon, q.Delta}, s); err != nil {
		return nil, err
	}
	out := make([]Release, len(ns))
	for i, n := range ns {
		out[i] = Release{Value: float64(n) + r.draw(q, s), Mechanism: q.Mechanism, Epsilon: q.Epsilon, Delta: q.Delta, Sensitivity: 1, Scale: s}
	}
	return out, nil
}

// Sums releases Σ clamp(x, lo, hi) of each of disjoint partitions (groups[i] holds the
// values of partition i), charged once by parallel composition as in Counts: one record
// moves one partition's sum by at most max(|lo|, |hi|).
func (r *Releaser) Sums(name string, groups [][]float64, lo, hi float64, q Query) ([]Release, error) {
	if err := q.validate(); err != nil {
		return nil, err
	}
	if err := checkBounds(lo, hi); err != nil {
		return nil, err
	}
	sens := math.Max(math.Abs(lo), math.Abs(hi))
	s, err := q.scale(sens)
	if err != nil {
		return nil, err
	}
	if err := r.ledger.SpendNoise(name, q.Mechanism, Budget{q.Epsilon, q.Delta}, s/sens); err != nil {
		return nil, err
	}
	out := make([]Release, len(groups))
	for i, xs := range groups {
		sum, clamped := Clamp(xs, lo, hi)
		out[i] = Release{Value: sum + r.draw(q, s), Mechanism: q.Mechanism, Epsilon: q.Epsilon, Delta: q.Delta, Sensitivity: sens, Scale: s, Clamped: clamped}
	}
	return out, nil
}
