package monitoring

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// WindowConfig bounds a live window by count, by age, or both.
type WindowConfig struct {
	// Size is the most values the window holds; the oldest leaves when a new one arrives.
	Size int
	// Span, if positive, also drops values whose event time is older than the newest
	// event time minus Span.
	Span time.Duration
}

// DefaultWindowConfig keeps the last 5,000 values, without an age bound.
func DefaultWindowConfig() WindowConfig { return WindowConfig{Size: 5000} }

// Validate reports a window that could hold nothing.
func (c WindowConfig) Validate() error {
	if c.Size <= 0 || c.Span < 0 {
		return fmt.Errorf("%w: window Size = %d (want > 0), Span = %v (want ≥ 0)", ErrInvalidConfig, c.Size, c.Span)
	}
	return nil
}

// Window is a sliding live window over one feature, counted into a reference's bins as
// values arrive. Add is O(1) (a bin lookup over a fixed handful of edges, a ring-buffer
// write and two counter updates), so the binned methods cost O(bins) per check whatever
// the traffic. It is not safe for concurrent use; Monitor serialises access.
type Window struct {
	ref    *Reference
	span   int64
	vals   []float64
	bins   []int32
	times  []int64
	head   int // index of the oldest value
	n      int
	counts []float64
	newest int64
}

// NewWindow returns an empty window over ref's bins.
func NewWindow(ref *Reference, cfg WindowConfig) (*Window, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Window{ref: ref, span: int64(cfg.Span), vals: make([]float64, cfg.Size), bins: make([]int32, cfg.Size),
		times: make([]int64, cfg.Size), counts: make([]float64, ref.Bins())}, nil
}

// Add puts a value with its event time into the window and reports whether it was kept;
// NaN (a missing value) is not.
func (w *Window) Add(t time.Time, v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	ts := t.UnixNano()
	if w.n == len(w.vals) {
		w.evict()
	}
	i := (w.head + w.n) % len(w.vals)
	b := w.ref.Bin(v)
	w.vals[i], w.bins[i], w.times[i] = v, int32(b), ts
	w.counts[b]++
	w.n++
	if ts > w.newest {
		w.newest = ts
	}
	if w.span > 0 {
		for w.n > 0 && w.times[w.head] < w.newest-w.span {
			w.evict()
		}
	}
	return true
}

func (w *Window) evict() {
	w.counts[w.bins[w.head]]--
	w.head = (w.head + 1) % len(w.vals)
	w.n--
}

// Len is the number of values in the window.
func (w *Window) Len() int { return w.n }

// Counts is the window's count per reference bin (shared; do not modify).
func (w *Window) Counts() []float64 { return w.counts }

// Sorted returns the window's values in ascending order, in a new slice.
func (w *Window) Sorted() []float64 {
	out := make([]float64, 0, w.n)
	for k := 0; k < w.n; k++ {
		out = append(out, w.vals[(w.head+k)%len(w.vals)])
	}
	slices.Sort(out)
	return out
}

// Mean is the mean of the window's values (NaN when empty).
func (w *Window) Mean() float64 {
	var s float64
	for k := 0; k < w.n; k++ {
		s += w.vals[(w.head+k)%len(w.vals)]
	}
	return s / float64(w.n)
}

// Compare runs one method between the reference and the window. For the tests, value is
// the statistic (KS's D, the chi-squared statistic) and p its p-value; for the distances p
// is NaN.
func Compare(ref *Reference, w *Window, m Method, eps float64) (value, p float64, err error) {
	if w.n == 0 {
		return 0, math.NaN(), ErrEmptySample
	}
	p = math.NaN()
	switch m {
	case PSI:
		value, err = PSIOf(ref.Counts, w.counts, eps)
	case KL:
		value, err = KLOf(ref.Counts, w.counts, eps)
	case JS:
		value, err = JSOf(ref.Counts, w.counts)
	case KS:
		if ref.Kind != Numeric {
			return 0, p, fmt.Errorf("%s on a categorical feature: %w", m, ErrKindMismatch)
		}
		value, p, err = KSOf(ref.Sorted, ref.N, w.Sorted())
	case ChiSquared:
		if ref.Kind != Categorical {
			return 0, p, fmt.Errorf("%s on a numeric feature: %w", m, ErrKindMismatch)
		}
		value, p, _, err = ChiSquaredOf(ref.Counts, w.counts)
	default:
		return 0, p, fmt.Errorf("%w: unknown method %q", ErrInvalidConfig, m)
	}
	return value, p, err
}
