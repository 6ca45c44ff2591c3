package monitoring

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Method names a way of comparing the live window with the reference.
type Method string

// The methods. PSI, KL and JS compare binned distributions and apply to both kinds of
// feature; KS applies to numeric features and chi-squared to categorical ones. For the two
// tests the thresholds are p-values, and drift is a p-value below them.
const (
	PSI        Method = "psi"
	KL         Method = "kl"
	JS         Method = "js"
	KS         Method = "ks"
	ChiSquared Method = "chi2"
)

// IsTest reports whether the method is a hypothesis test, thresholded on its p-value.
func (m Method) IsTest() bool { return m == KS || m == ChiSquared }

// DefaultEpsilon is the floor put under an empty bin's share before taking a logarithm,
// so that a bin the reference never filled gives a large but finite PSI.
const DefaultEpsilon = 1e-4

// shares turns counts into proportions, each floored at eps (eps = 0: no floor).
func shares(counts []float64, eps float64) []float64 {
	var n float64
	for _, c := range counts {
		n += c
	}
	out := make([]float64, len(counts))
	for i, c := range counts {
		out[i] = max(c/n, eps)
	}
	return out
}

func checkPair(ref, live []float64) error {
	if len(ref) != len(live) || len(ref) == 0 {
		return fmt.Errorf("%w: histograms of %d and %d bins", ErrInvalidConfig, len(ref), len(live))
	}
	var a, b float64
	for i := range ref {
		a, b = a+ref[i], b+live[i]
	}
	if a == 0 || b == 0 {
		return ErrEmptySample
	}
	return nil
}

// PSIOf is the population stability index of two histograms over the same bins:
// Σ (live − ref) · ln(live / ref) over bin shares, empty bins floored at eps. It is the
// symmetrised KL divergence, KL(live‖ref) + KL(ref‖live).
func PSIOf(ref, live []float64, eps float64) (float64, error) {
	if err := checkPair(ref, live); err != nil {
		return 0, err
	}
	p, q := shares(ref, eps), shares(live, eps)
	var s float64
	for i := range p {
		s += (q[i] - p[i]) * math.Log(q[i]/p[i])
	}
	return s, nil
}

// KLOf is the Kullback-Leibler divergence KL(live ‖ ref) in nats, empty bins floored at
// eps: how surprised a model that believes the reference is by the live data.
func KLOf(ref, live []float64, eps float64) (float64, error) {
	if err := checkPair(ref, live); err != nil {
		return 0, err
	}
	p, q := shares(ref, eps), shares(live, eps)
	var s float64
	for i := range p {
		s += q[i] * math.Log(q[i]/p[i])
	}
	return s, nil
}

// JSOf is the Jensen-Shannon distance (the square root of the divergence, base 2), in
// [0, 1]. It needs no smoothing: the mixture is never empty where either side is not.
func JSOf(ref, live []float64) (float64, error) {
	if err := checkPair(ref, live); err != nil {
		return 0, err
	}
	p, q := shares(ref, 0), shares(live, 0)
	var s float64
	for i := range p {
		m := (p[i] + q[i]) / 2
		if p[i] > 0 {
			s += p[i] * math.Log2(p[i]/m) / 2
		}
		if q[i] > 0 {
			s += q[i] * math.Log2(q[i]/m) / 2
		}
	}
	return math.Sqrt(max(s, 0)), nil
}

// KSOf is the two-sample Kolmogorov-Smirnov test on sorted samples a (n values, possibly a
// sketch of a larger sample of na) and b: the largest gap between their empirical CDFs and
// its asymptotic p-value.
func KSOf(a []float64, na int, b []float64) (d, p float64, err error) {
	if len(a) == 0 || len(b) == 0 {
		return 0, 1, ErrEmptySample
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		x := min(a[i], b[j])
		for i < len(a) && a[i] <= x {
			i++
		}
		for j < len(b) && b[j] <= x {
			j++
		}
		d = max(d, math.Abs(float64(i)/float64(len(a))-float64(j)/float64(len(b))))
	}
	n, m := float64(max(na, len(a))), float64(len(b))
	en := math.Sqrt(n * m / (n + m))
	return d, kolmogorovQ((en + 0.12 + 0.11/en) * d), nil
}

// kolmogorovQ is the Kolmogorov distribution's survival function,
// Q(λ) = 2 Σ_{j≥1} (−1)^{j−1} exp(−2 j² λ²) (Stephens' small-sample correction is applied
// by the caller).
func kolmogorovQ(lambda float64) float64 {
	if lambda < 0.2 {
		return 1
	}
	var s, sign float64 = 0, 1
	for j := 1; j <= 100; j++ {
		t := sign * math.Exp(-2*float64(j*j)*lambda*lambda)
		s += t
		if math.Abs(t) < 1e-12 {
			break
		}
		sign = -sign
	}
	return min(max(2*s, 0), 1)
}

// ChiSquaredOf is the chi-squared test of homogeneity of two histograms (reference and
// live counts per category): the statistic, its p-value and the degrees of freedom. Bins
// empty on both sides do not count.
func ChiSquaredOf(ref, live []float64) (stat, p float64, df int, err error) {
	if err := checkPair(ref, live); err != nil {
		return 0, 1, 0, err
	}
	var na, nb float64
	for i := range ref {
		na, nb = na+ref[i], nb+live[i]
	}
	n := na + nb
	cells := 0
	for i := range ref {
		tot := ref[i] + live[i]
		if tot == 0 {
			continue
		}
		cells++
		ea, eb := tot*na/n, tot*nb/n
		stat += (ref[i]-ea)*(ref[i]-ea)/ea + (live[i]-eb)*(live[i]-eb)/eb
	}
	df = cells - 1
	if df < 1 {
		return 0, 1, 0, nil
	}
	return stat, distuv.ChiSquared{K: float64(df)}.Survival(stat), df, nil
}
