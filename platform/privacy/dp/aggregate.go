package dp

import (
	"fmt"
	"math"
)

// Mechanism names a noise distribution.
type Mechanism string

const (
	// Laplace gives pure ε-DP; Query.Delta must be 0.
	Laplace Mechanism = "laplace"
	// Gaussian is the analytic Gaussian mechanism; Query.Delta must be in (0, 1).
	Gaussian Mechanism = "gaussian"
)

// Query is the mechanism and the (ε, δ) one release spends.
type Query struct {
	Mechanism Mechanism
	Epsilon   float64
	Delta     float64
}

func (q Query) validate() error {
	if err := checkEps(q.Epsilon); err != nil {
		return err
	}
	switch q.Mechanism {
	case Laplace:
		if q.Delta != 0 {
			return fmt.Errorf("%w: Laplace is pure ε-DP, δ = %v, want 0", ErrInvalid, q.Delta)
		}
	case Gaussian:
		if !(q.Delta > 0 && q.Delta < 1) {
			return fmt.Errorf("%w: Gaussian needs δ in (0, 1), got %v", ErrInvalid, q.Delta)
		}
	default:
		return fmt.Errorf("%w: unknown mechanism %q", ErrInvalid, q.Mechanism)
	}
	return nil
}

// scale is b for Laplace and σ for Gaussian. For a scalar query the L1 and L2
// sensitivities are equal.
func (q Query) scale(sensitivity float64) (float64, error) {
	if q.Mechanism == Laplace {
		return LaplaceScale(q.Epsilon, sensitivity)
	}
	return GaussianSigma(q.Epsilon, q.Delta, sensitivity)
}

// Release is one noisy answer.
type Release struct {
	Value       float64
	Mechanism   Mechanism
	Epsilon     float64
	Delta       float64
	Sensitivity float64
	// Scale is the Laplace b or the Gaussian σ of the noise added.
	Scale float64
	// Clamped counts the values moved into [lo, hi] (Sum and Mean only).
	Clamped int
}

// Releaser answers aggregate queries over one dataset, each charged to its ledger before
// any noise is drawn.
type Releaser struct {
	ledger *Ledger
	noise  *Noise
}

// NewReleaser releases through ledger with noise.
func NewReleaser(ledger *Ledger, noise *Noise) *Releaser {
	return &Releaser{ledger: ledger, noise: noise}
}

// Ledger is the releaser's ledger.
func (r *Releaser) Ledger() *Ledger { return r.ledger }

func (r *Releaser) draw(q Query, scale float64) float64 {
	if q.Mechanism == Laplace {
		return r.noise.Laplace(scale)
	}
	return r.noise.Gaussian(scale)
}

// Count releases n, the number of records, whose sensitivity is 1.
func (r *Releaser) Count(name string, n int, q Query) (Release, error) {
	if err := q.validate(); err != nil {
		return Release{}, err
	}
	if n < 0 {
		return Release{}, fmt.Errorf("%w: count %d < 0", ErrInvalid, n)
	}
	s, err := q.scale(1)
	if err != nil {
		return Release{}, err
	}
	if err := r.ledger.SpendNoise(name, q.Mechanism, Budget{q.Epsilon, q.Delta}, s); err != nil {
		return Release{}, err
	}
	return Release{Value: float64(n) + r.draw(q, s), Mechanism: q.Mechanism, Epsilon: q.Epsilon, Delta: q.Delta, Sensitivity: 1, Scale: s}, nil
}

// Clamp moves each value into [lo, hi] and counts how many moved. The bounds must be
// public (chosen without looking at the data), or they leak.
func Clamp(xs []float64, lo, hi float64) (sum float64, clamped int) {
	for _, x := range xs {
		switch {
		case x < lo || math.IsNaN(x):
			x = lo
			clamped++
		case x > hi:
			x = hi
			clamped++
		}
		sum += x
	}
	return sum, clamped
}

func checkBounds(lo, hi float64) error {
	if !(lo <= hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) || lo == hi {
		return fmt.Errorf("%w: clamping bounds [%v, %v], want finite lo < hi", ErrInvalid, lo, hi)
	}
	return nil
}

// Sum releases Σ clamp(x, lo, hi). Adding or removing one record moves the sum by at most
// max(|lo|, |hi|), the sensitivity.
func (r *Releaser) Sum(name string, xs []float64, lo, hi float64, q Query) (Release, error) {
	if err := q.validate(); err != nil {
		return Release{}, err
	}
	if err := checkBounds(lo, hi); err != nil {
		return Release{}, err
	}
	sens := math.Max(math.Abs(lo), math.Abs(hi))
	s, err := q.scale(sens)
	if err != nil {
		return Release{}, err
	}
	if err := r.ledger.SpendNoise(name, q.Mechanism, Budget{q.Epsilon, q.Delta}, s/sens); err != nil {
		return Release{}, err
	}
	sum, clamped := Clamp(xs, lo, hi)
	return Release{Value: sum + r.draw(q, s), Mechanism: q.Mechanism, Epsilon: q.Epsilon, Delta: q.Delta, Sensitivity: sens, Scale: s, Clamped: clamped}, nil
}

// Mean releases a noisy sum over a noisy count, each with half of q's ε and δ, charged
// to the ledger as one query of q's cost; the result is clamped to [lo, hi]. Scale is that
// of the sum's noise.
func (r *Releaser) Mean(name string, xs []float64, lo, hi float64, q Query) (Release, error) {
	if err := q.validate(); err != nil {
		return Release{}, err
	}
	if err := checkBounds(lo, hi); err != nil {
		return Release{}, err
	}
	half := Query{Mechanism: q.Mechanism, Epsilon: q.Epsilon / 2, Delta: q.Delta / 2}
	sens := math.Max(math.Abs(lo), math.Abs(hi))
	ss, err := half.scale(sens)
	if err != nil {
		return Release{}, err
	}
	cs, err := half.scale(1)
	if err != nil {
		return Release{}, err
	}
	// The sum's noise over its sensitivity equals the count's noise (both are calibrated to
	// the same half budget), so the ledger records one multiplier applied twice.
	if err := r.ledger.charge(Entry{Query: name, Mechanism: string(q.Mechanism), Epsilon: q.Epsilon, Delta: q.Delta,
		NoiseMultiplier: cs, Releases: 2}); err != nil {
		return Release{}, err
	}
	sum, clamped := Clamp(xs, lo, hi)
	ns := sum + r.draw(half, ss)
	nc := float64(len(xs)) + r.draw(half, cs)
	m := ns / math.Max(nc, 1)
	m = math.Min(hi, math.Max(lo, m))
	return Release{Value: m, Mechanism: q.Mechanism, Epsilon: q.Epsilon, Delta: q.Delta, Sensitivity: sens, Scale: ss, Clamped: clamped}, nil
}
