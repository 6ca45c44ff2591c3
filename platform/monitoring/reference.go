package monitoring

import (
	"fmt"
	"math"
	"slices"
)

// Kind says whether a feature's values are numbers on a line or category ids.
type Kind int

// The kinds.
const (
	Numeric Kind = iota
	Categorical
)

func (k Kind) String() string {
	if k == Categorical {
		return "categorical"
	}
	return "numeric"
}

// DefaultBins is the number of quantile bins a numeric reference uses unless told
// otherwise: ten is the credit-scoring convention PSI's thresholds were calibrated on.
const DefaultBins = 10

// maxSketch bounds the sorted reference sample kept for the Kolmogorov-Smirnov test: a
// larger reference is kept as this many evenly spaced order statistics, which moves its
// empirical CDF by at most 1/maxSketch.
const maxSketch = 10_000

// Reference is the distribution a feature (or the prediction score) had when the model
// was trained, or over a chosen period: the bins the live window is counted into, the
// reference count per bin, and for numeric features a sorted sample for the KS test.
type Reference struct {
	Kind Kind
	// Edges are a numeric feature's interior cut points, ascending and unique: bin i holds
	// values in (Edges[i-1], Edges[i]]. They are quantiles of the reference sample, so each
	// bin holds about the same share of it.
	Edges []float64
	// Categories maps a categorical value to its bin; one extra, last bin collects
	// categories the reference never saw.
	Categories map[float64]int
	// Counts is the reference count per bin.
	Counts []float64
	// N is the number of reference values (missing values excluded).
	N int
	// Min and Max bound the reference values; data quality uses them as the expected range.
	Min, Max float64
	// Sorted is the reference sample (or an even sketch of it), ascending, for KS.
	Sorted []float64
}

// NewNumericReference bins values (NaN skipped) into up to bins quantile bins. Tied
// quantiles merge, so a feature with few distinct values gets fewer bins.
func NewNumericReference(values []float64, bins int) (*Reference, error) {
	if bins < 2 {
		return nil, fmt.Errorf("%w: bins = %d, want ≥ 2", ErrInvalidConfig, bins)
	}
	s := make([]float64, 0, len(values))
	for _, v := range values {
		if !math.IsNaN(v) {
			s = append(s, v)
		}
	}
	if len(s) == 0 {
		return nil, fmt.Errorf("numeric reference: %w", ErrEmptySample)
	}
	slices.Sort(s)
	r := &Reference{Kind: Numeric, N: len(s), Min: s[0], Max: s[len(s)-1]}
	for i := 1; i < bins; i++ {
		q := s[i*len(s)/bins]
		if len(r.Edges) == 0 || q > r.Edges[len(r.Edges)-1] {
			r.Edges = append(r.Edges, q)
		}
	}
	// An edge equal to the maximum would leave the top bin empty by construction.
	for len(r.Edges) > 0 && r.Edges[len(r.Edges)-1] >= r.Max {
		r.Edges = r.Edges[:len(r.Edges)-1]
	}
	r.Counts = make([]float64, len(r.Edges)+1)
	for _, v := range s {
		r.Counts[r.Bin(v)]++
	}
	r.Sorted = sketch(s, maxSketch)
	return r, nil
}

// sketch returns at most k evenly spaced order statistics of sorted s.
func sketch(s []float64, k int) []float64 {
	if len(s) <= k {
		return s
	}
	out := make([]float64, k)
	for i := range out {
		out[i] = s[(2*i+1)*len(s)/(2*k)]
	}
	return out
}

// NewCategoricalReference counts each distinct value (NaN skipped) as a category.
func NewCategoricalReference(values []float64) (*Reference, error) {
	r := &Reference{Kind: Categorical, Categories: map[float64]int{}, Min: math.Inf(1), Max: math.Inf(-1)}
	var counts []float64
	for _, v := range values {
		if math.IsNaN(v) {
			continue
		}
		i, ok := r.Categories[v]
		if !ok {
			i = len(counts)
			r.Categories[v] = i
			counts = append(counts, 0)
		}
		counts[i]++
		r.N++
		r.Min, r.Max = min(r.Min, v), max(r.Max, v)
	}
	if r.N == 0 {
		return nil, fmt.Errorf("categorical reference: %w", ErrEmptySample)
	}
	r.Counts = append(counts, 0) // the unseen-category bin
	return r, nil
}

// Bins is the number of bins a value can fall into.
func (r *Reference) Bins() int { return len(r.Counts) }

// Bin returns v's bin: for numeric features a binary search over the edges (a handful of
// comparisons, whatever the window size), for categorical ones a map lookup, with unseen
// categories in the last bin.
func (r *Reference) Bin(v float64) int {
	if r.Kind == Categorical {
		if i, ok := r.Categories[v]; ok {
			return i
		}
		return len(r.Counts) - 1
	}
	lo, hi := 0, len(r.Edges)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r.Edges[m] < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// Histogram counts values (NaN skipped) into the reference's bins.
func (r *Reference) Histogram(values []float64) []float64 {
	h := make([]float64, r.Bins())
	for _, v := range values {
		if !math.IsNaN(v) {
			h[r.Bin(v)]++
		}
	}
	return h
}
